#include "sop/model/snapshot.hpp"

#include <cmath>

#include "sop/model/text.hpp"

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
  for (std::size_t i = row + 1; i < offsets.size(); ++i)
    offsets[i] = offsets[i] - old_size + new_size;
  lines = std::move(rebuilt);
}

}  // namespace

void Snapshot::ReplaceBom(ItemSiteIndex parent, std::span<const BomLine> lines) {
  ReplaceRow(bom_offsets, bom_lines, static_cast<std::size_t>(parent.value()), lines);
}

void Snapshot::ReplaceRouting(ItemSiteIndex item_site, std::span<const RoutingStep> steps) {
  ReplaceRow(routing_offsets, routing_steps, static_cast<std::size_t>(item_site.value()), steps);
}

Status CheckSnapshot(const Snapshot& s) {
  const auto H = s.H();
  if (H < 1) return InvalidField("horizon.buckets", "must be >= 1", std::to_string(H));
  if (H > kMaxBuckets) {
    return InvalidField("horizon.buckets", "must be <= " + std::to_string(kMaxBuckets),
                        std::to_string(H));
  }
  const std::size_t n = s.item_sites.size();
  const auto uH = static_cast<std::size_t>(H);
  const auto sites = static_cast<std::int32_t>(s.sites.size());
  const auto items = static_cast<std::int32_t>(n);
  const auto wcs = static_cast<std::int32_t>(s.work_centers.size());
  auto item_ok = [&](ItemSiteIndex i) { return i.value() >= 0 && i.value() < items; };
  auto bucket_ok = [&](Bucket b) { return b >= 0 && b < H; };
  auto qty_ok = [](double q) { return q >= 0.0 && std::isfinite(q); };
  if (s.bom_offsets.size() != n + 1 || s.bom_offsets.back() != s.bom_lines.size()) {
    return InvalidField("bom_offsets", "must have n + 1 entries ending at the line count",
                        std::to_string(s.bom_offsets.size()));
  }
  if (s.routing_offsets.size() != n + 1 || s.routing_offsets.back() != s.routing_steps.size()) {
    return InvalidField("routing_offsets", "must have n + 1 entries ending at the step count",
                        std::to_string(s.routing_offsets.size()));
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (s.bom_offsets[i] > s.bom_offsets[i + 1] ||
        s.routing_offsets[i] > s.routing_offsets[i + 1]) {
      return InvalidField("bom_offsets", "must not decrease", std::to_string(i));
    }
  }
  if (s.forecast.size() != n * uH) {
    return InvalidField("forecast", "must hold item-sites x H values",
                        std::to_string(s.forecast.size()));
  }
  if (s.available_hours.size() != s.work_centers.size() * uH) {
    return InvalidField("available_hours", "must hold work centers x H values",
                        std::to_string(s.available_hours.size()));
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto& is = s.item_sites[i];
    const std::string name = s.ItemSiteName(ItemSiteIndex(static_cast<std::int32_t>(i)));
    if (is.site.value() < 0 || is.site.value() >= sites)
      return InvalidField(name + ".site", "unknown site", std::to_string(is.site.value()));
    if (is.lead_time < 0)
      return InvalidField(name + ".lead_time", "must be >= 0", std::to_string(is.lead_time));
    if (is.frozen_fence < 0)
      return InvalidField(name + ".frozen_fence", "must be >= 0", std::to_string(is.frozen_fence));
    if (!(is.yield > 0.0 && is.yield <= 1.0))
      return InvalidField(name + ".yield", "must be in (0, 1]", std::to_string(is.yield));
    if (!qty_ok(is.safety_stock))
      return InvalidField(name + ".safety_stock", "must be >= 0", std::to_string(is.safety_stock));
    if (!std::isfinite(is.on_hand))
      return InvalidField(name + ".on_hand", "must be finite", std::to_string(is.on_hand));
    const auto& lot = is.lot;
    if (!qty_ok(lot.minimum) || !qty_ok(lot.maximum) || !qty_ok(lot.multiple) ||
        !qty_ok(lot.fixed_quantity)) {
      return InvalidField(name + ".lot", "quantities must be >= 0", "");
    }
    if (lot.rule == LotRule::kFixedOrderQuantity && lot.fixed_quantity <= 0.0) {
      return InvalidField(name + ".lot.fixed_quantity", "must be > 0 for FOQ",
                          std::to_string(lot.fixed_quantity));
    }
    if (lot.periods_of_supply < 1) {
      return InvalidField(name + ".lot.periods_of_supply", "must be >= 1",
                          std::to_string(lot.periods_of_supply));
    }
    if (is.kind == ItemKind::kTransfer && is.source != kNoItemSite && !item_ok(is.source)) {
      return InvalidField(name + ".source", "unknown item-site", std::to_string(is.source.value()));
    }
    for (std::size_t t = 0; t < uH; ++t) {
      if (!qty_ok(s.forecast[i * uH + t]))
        return InvalidField(name + ".forecast", "must be >= 0", std::to_string(t));
    }
  }
  for (const auto& line : s.bom_lines) {
    if (!item_ok(line.component))
      return InvalidField("bom_lines.component", "unknown item-site",
                          std::to_string(line.component.value()));
    if (!(line.quantity_per > 0.0) || !std::isfinite(line.quantity_per) || !qty_ok(line.scrap)) {
      return InvalidField("bom_lines.quantity_per", "must be > 0 (scrap >= 0)",
                          std::to_string(line.quantity_per));
    }
  }
  for (const auto& step : s.routing_steps) {
    if (step.work_center.value() < 0 || step.work_center.value() >= wcs) {
      return InvalidField("routing_steps.work_center", "unknown work center",
                          std::to_string(step.work_center.value()));
    }
    if (!qty_ok(step.setup_hours) || !qty_ok(step.run_hours_per_unit)) {
      return InvalidField("routing_steps.hours", "must be >= 0",
                          std::to_string(step.run_hours_per_unit));
    }
  }
  for (const auto& wc : s.work_centers) {
    if (!(wc.efficiency > 0.0) || !std::isfinite(wc.efficiency))
      return InvalidField(wc.id + ".efficiency", "must be > 0", std::to_string(wc.efficiency));
  }
  for (double h : s.available_hours) {
    if (!qty_ok(h)) return InvalidField("available_hours", "must be >= 0", std::to_string(h));
  }
  for (const auto& r : s.receipts) {
    if (!item_ok(r.item_site))
      return InvalidField("receipt " + r.id + ".item_site", "unknown item-site",
                          std::to_string(r.item_site.value()));
    if (!bucket_ok(r.due_bucket) || r.start_bucket < 0 || r.start_bucket > r.due_bucket) {
      return InvalidField("receipt " + r.id + ".due_bucket", "must satisfy 0 <= start <= due < H",
                          std::to_string(r.due_bucket));
    }
    if (!qty_ok(r.quantity))
      return InvalidField("receipt " + r.id + ".quantity", "must be >= 0",
                          std::to_string(r.quantity));
  }
  for (const auto& so : s.sales_orders) {
    if (!item_ok(so.item_site))
      return InvalidField("sales order " + so.id + ".item_site", "unknown item-site",
                          std::to_string(so.item_site.value()));
    if (!bucket_ok(so.due_bucket))
      return InvalidField("sales order " + so.id + ".due_bucket", "must be in 0..H-1",
                          std::to_string(so.due_bucket));
    if (!qty_ok(so.quantity))
      return InvalidField("sales order " + so.id + ".quantity", "must be >= 0",
                          std::to_string(so.quantity));
  }
  if (s.horizon.consumption_backward < 0 || s.horizon.consumption_forward < 0) {
    return InvalidField("horizon.consumption_window", "must be >= 0", "");
  }
  return {};
}

}  // namespace sop::model
