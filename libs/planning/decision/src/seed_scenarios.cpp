#include "sop/planning/seed_scenarios.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <string>

namespace sop::planning {
namespace {

// Key of the largest value; ties go to the smallest key (std::map order), so the choice is
// deterministic.
template <class Map>
typename Map::key_type ArgMax(const Map& map) {
  return std::max_element(map.begin(), map.end(),
                          [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

std::size_t Index(std::int32_t value) { return static_cast<std::size_t>(value); }

}  // namespace

std::vector<Scenario> SeedScenarios(const NettingEngine& engine, const ScenarioOutcome& base) {
  const auto& s = engine.snapshot();
  const auto H = Index(s.H());
  std::vector<Scenario> out;

  // 1. A shift on the most overloaded work center, as long as its worst bucket needs.
  std::size_t tight = s.work_centers.size();
  if (!base.overload_by_work_center.empty()) {
    const auto worst_wc = std::max_element(base.overload_by_work_center.begin(),
                                           base.overload_by_work_center.end());
    if (*worst_wc > 0.0) {
      tight = static_cast<std::size_t>(worst_wc - base.overload_by_work_center.begin());
      double worst = 0.0;
      for (std::size_t t = 0; t < H; ++t) {
        worst = std::max(worst, base.capacity.overload_hours[tight * H + t]);
      }
      out.push_back({"shift on " + s.work_centers[tight].id,
                     {ExtraCapacity{s.work_centers[tight].id, 0, s.H(), std::ceil(worst) + 1.0,
                                    45.0, false}}});
    }
  }

  // 2. The supplier with the most near-term open purchase-order quantity, two weeks late.
  std::map<std::string, double> near_term;
  for (const auto& receipt : s.receipts) {
    if (receipt.kind == model::ReceiptKind::kPurchaseOrder && receipt.quantity > 0.0 &&
        receipt.due_bucket < 4) {
      const auto& supplier = s.item_sites[Index(receipt.item_site.value())].supplier_id;
      if (!supplier.empty()) near_term[supplier] += receipt.quantity;
    }
  }
  if (!near_term.empty()) {
    const auto supplier = ArgMax(near_term);
    out.push_back({supplier + " two weeks late", {SupplierDelay{supplier, 2, true}}});
  }

  // 3. The family with the most sales-order revenue, +20 %.
  std::map<std::string, double> revenue;
  for (const auto& order : s.sales_orders) {
    const auto& item_site = s.item_sites[Index(order.item_site.value())];
    if (!item_site.family.empty()) revenue[item_site.family] += order.quantity * order.unit_price;
  }
  if (!revenue.empty()) {
    const auto family = ArgMax(revenue);
    out.push_back({family + " +20%", {DemandMultiplier{family, "", "", 0, s.H(), 1.2}}});
  }

  // 4. Half of the most loaded family moved to the next plant, work centers mapped in order.
  std::map<std::string, double> family_load;
  std::map<std::string, std::int32_t> family_site;
  for (std::size_t c = 0; c < s.item_site_count(); ++c) {
    const auto& item_site = s.item_sites[c];
    if (item_site.family.empty() || item_site.kind != model::ItemKind::kMake) continue;
    for (const auto& order : engine.plan().orders[c]) {
      family_load[item_site.family] += order.release_quantity;
    }
    family_site[item_site.family] = item_site.site.value();
  }
  std::vector<std::int32_t> plants;
  for (std::size_t k = 0; k < s.sites.size(); ++k) {
    if (s.sites[k].kind == model::SiteKind::kPlant) plants.push_back(static_cast<std::int32_t>(k));
  }
  if (!family_load.empty() && plants.size() >= 2) {
    const auto family = ArgMax(family_load);
    const auto from = family_site[family];
    const auto position =
        static_cast<std::size_t>(std::find(plants.begin(), plants.end(), from) - plants.begin());
    const auto to = plants[(position + 1) % plants.size()];
    std::vector<std::size_t> from_wcs, to_wcs;
    for (std::size_t w = 0; w < s.work_centers.size(); ++w) {
      if (s.work_centers[w].site.value() == from) from_wcs.push_back(w);
      if (s.work_centers[w].site.value() == to) to_wcs.push_back(w);
    }
    if (!to_wcs.empty()) {
      MoveVolume move{family, s.sites[Index(from)].id, s.sites[Index(to)].id, 0.5, {}, 1.0};
      for (std::size_t k = 0; k < from_wcs.size(); ++k) {
        move.work_centers.push_back(
            {s.work_centers[from_wcs[k]].id, s.work_centers[to_wcs[k % to_wcs.size()]].id});
      }
      out.push_back({"move half of " + family, {move}});
    }
  }

  // 5. Subcontract the step of the item loading the tightest work center most.
  if (tight < s.work_centers.size()) {
    for (const auto& overload : base.capacity.overloads) {
      if (Index(overload.work_center.value()) != tight || overload.contributions.empty()) continue;
      const auto item = overload.contributions.front().item_site;
      const auto& item_site = s.item_sites[Index(item.value())];
      for (const auto& step : s.Routing(item)) {
        if (Index(step.work_center.value()) == tight) {
          out.push_back({"subcontract " + item_site.item_id,
                         {SubcontractStep{item_site.item_id, s.sites[Index(item_site.site.value())].id,
                                          step.sequence, 6.0, 1.0}}});
          break;
        }
      }
      break;
    }
  }
  return out;
}

}  // namespace sop::planning
