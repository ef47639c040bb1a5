#include "sop/model/snapshot.hpp"

namespace sop::model {

std::string ItemSiteKey(std::string_view item_id, std::string_view site_id) {
  std::string key;
  key.reserve(item_id.size() + site_id.size() + 1);
  // The unit separator cannot appear in ERP ids, so the key is unambiguous.
  key.append(item_id).push_back('\x1f');
  key.append(site_id);
  return key;
}

std::optional<ItemSiteIndex> Snapshot::FindItemSite(std::string_view item_id,
                                                    std::string_view site_id) const {
  if (auto index = item_site_keys.Find(ItemSiteKey(item_id, site_id))) return ItemSiteIndex(*index);
  return std::nullopt;
}

std::string Snapshot::ItemSiteName(ItemSiteIndex item_site) const {
  if (item_site.value() < 0 || static_cast<std::size_t>(item_site.value()) >= item_sites.size()) {
    return "?";
  }
  const ItemSite& is = item_sites[static_cast<std::size_t>(item_site.value())];
  std::string name = is.item_id;
  name.push_back('@');
  if (is.site.value() >= 0 && static_cast<std::size_t>(is.site.value()) < sites.size()) {
    name += sites[static_cast<std::size_t>(is.site.value())].id;
  }
  return name;
}

namespace {

// Rebuilds CSR arrays with row `row` replaced by `replacement`.
template <class Line>
void ReplaceRow(std::vector<std::uint32_t>& offsets, std::vector<Line>& lines, std::size_t row,
                std::span<const Line> replacement) {
  std::vector<Line> rebuilt;
  rebuilt.reserve(lines.size() - (offsets[row + 1] - offsets[row]) + replacement.size());
  rebuilt.insert(rebuilt.end(), lines.begin(), lines.begin() + offsets[row]);
  rebuilt.insert(rebuilt.end(), replacement.begin(), replacement.end());
  rebuilt.insert(rebuilt.end(), lines.begin() + offsets[row + 1], lines.end());
  auto old_size = offsets[row + 1] - offsets[row];
  auto new_size = static_cast<std::uint32_t>(replacement.size());
  for (std::size_t i = row + 1; i < offsets.size(); ++i) offsets[i] = offsets[i] - old_size + new_size;
  lines = std::move(rebuilt);
}

}  // namespace

void Snapshot::ReplaceBom(ItemSiteIndex parent, std::span<const BomLine> lines) {
  ReplaceRow(bom_offsets, bom_lines, static_cast<std::size_t>(parent.value()), lines);
}

void Snapshot::ReplaceRouting(ItemSiteIndex item_site, std::span<const RoutingStep> steps) {
  ReplaceRow(routing_offsets, routing_steps, static_cast<std::size_t>(item_site.value()), steps);
}

}  // namespace sop::model
