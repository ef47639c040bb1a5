#pragma once
/// The compiled planning snapshot: dense, index-addressed, flat arrays (structure of arrays and
/// CSR offsets), built and validated by SnapshotBuilder. Plain data: no I/O, no threads.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/model/id_dictionary.hpp"
#include "sop/model/ids.hpp"
#include "sop/model/records.hpp"

namespace sop::model {

/// A plant or distribution center. Plain data, as every struct in this header.
struct Site {
  std::string id;
  std::string name;
  SiteKind kind = SiteKind::kPlant;
};

/// Planning parameters of one item at one site. Values are validated by the builder (lead time
/// and fences ≥ 0, yield in (0, 1], lot parameters consistent) so the planner can trust them.
struct ItemSite {
  std::string item_id;
  SiteIndex site = kNoSite;
  std::string description;
  ItemKind kind = ItemKind::kBuy;
  double unit_cost = 0.0;
  double unit_price = 0.0;
  std::int32_t lead_time = 0;
  LotPolicy lot;
  double safety_stock = 0.0;
  double yield = 1.0;
  std::int32_t frozen_fence = 0;
  std::int32_t slushy_fence = 0;
  std::string family;
  std::string supplier_id;
  SiteIndex source_site = kNoSite;     ///< kTransfer only
  ItemSiteIndex source = kNoItemSite;  ///< the same item at source_site (kTransfer only)
  bool active = true;
  double on_hand = 0.0;
};

/// One BOM line of a parent (CSR row entry); the component is at the parent's site.
struct BomLine {
  ItemSiteIndex component = kNoItemSite;
  double quantity_per = 1.0;
  double scrap = 0.0;
  Bucket effective_from = kBeginningOfTime;  ///< inclusive
  Bucket effective_to = kEndOfTime;          ///< exclusive
  bool EffectiveIn(Bucket r) const noexcept { return effective_from <= r && r < effective_to; }
};

/// One routing operation of an item-site (CSR row entry), sorted by sequence.
struct RoutingStep {
  std::int32_t sequence = 0;
  WorkCenterIndex work_center = kNoWorkCenter;
  double setup_hours = 0.0;
  double run_hours_per_unit = 0.0;
};

/// A work center at a site; its hours per bucket live in Snapshot::available_hours.
struct WorkCenter {
  std::string id;
  SiteIndex site = kNoSite;
  std::string name;
  double efficiency = 1.0;
  std::int32_t machines = 1;
  double overtime_max_hours_per_bucket = 0.0;
  double overtime_cost_per_hour = 0.0;
  bool subcontract_allowed = false;
  double subcontract_cost_per_hour = 0.0;
  double regular_cost_per_hour = 0.0;
};

/// An open purchase order line, released work order or in-transit transfer (a scheduled
/// receipt of `item_site` in `due_bucket`).
struct ScheduledReceipt {
  std::string id;
  ReceiptKind kind = ReceiptKind::kPurchaseOrder;
  ItemSiteIndex item_site = kNoItemSite;
  Bucket due_bucket = 0;    ///< clamped to [0, H−1]
  Bucket start_bucket = 0;  ///< clamped to [0, due_bucket]
  double quantity = 0.0;    ///< 0 = closed/cancelled (kept so indices stay stable)
  SiteIndex from_site = kNoSite;
};

/// An open sales-order line: independent demand that consumes forecast.
struct SalesOrder {
  std::string id;
  std::string customer_id;
  std::string channel;
  std::int32_t priority = 0;  ///< 1 = most important; ≤ 0 = unset, ranks after every set one
  ItemSiteIndex item_site = kNoItemSite;
  Bucket due_bucket = 0;  ///< clamped to [0, H−1]
  double quantity = 0.0;  ///< 0 = cancelled/closed (kept so indices stay stable)
  double unit_price = 0.0;
};

/// The whole planning input. Per-bucket inputs are contiguous n × H arrays (row = item-site or
/// work center); BOMs and routings are CSR (offsets of size n + 1 into a flat line array).
/// Cheap to move; copying costs memory proportional to the input. Not synchronised: share it
/// read-only across threads or give each writer its own copy.
struct Snapshot {
  Horizon horizon;

  std::vector<Site> sites;
  IdDictionary site_ids;

  std::vector<ItemSite> item_sites;
  IdDictionary item_site_keys;  ///< key: ItemSiteKey(item_id, site_id)

  std::vector<std::uint32_t> bom_offsets;  ///< size n + 1
  std::vector<BomLine> bom_lines;
  std::vector<std::uint32_t> routing_offsets;  ///< size n + 1
  std::vector<RoutingStep> routing_steps;

  std::vector<WorkCenter> work_centers;
  IdDictionary work_center_ids;
  std::vector<double> available_hours;  ///< work centers × H

  std::vector<double> forecast;  ///< item-sites × H

  std::vector<ScheduledReceipt> receipts;
  IdDictionary receipt_ids;
  std::vector<SalesOrder> sales_orders;
  IdDictionary sales_order_ids;

  std::int32_t H() const noexcept { return horizon.buckets; }
  std::size_t item_site_count() const noexcept { return item_sites.size(); }

  std::span<const BomLine> Bom(ItemSiteIndex parent) const {
    auto p = static_cast<std::size_t>(parent.value());
    return {bom_lines.data() + bom_offsets[p], bom_lines.data() + bom_offsets[p + 1]};
  }
  std::span<const RoutingStep> Routing(ItemSiteIndex item_site) const {
    auto p = static_cast<std::size_t>(item_site.value());
    return {routing_steps.data() + routing_offsets[p],
            routing_steps.data() + routing_offsets[p + 1]};
  }
  std::span<const double> Forecast(ItemSiteIndex item_site) const {
    return {forecast.data() +
                static_cast<std::size_t>(item_site.value()) * static_cast<std::size_t>(H()),
            static_cast<std::size_t>(H())};
  }
  std::span<const double> AvailableHours(WorkCenterIndex wc) const {
    return {available_hours.data() +
                static_cast<std::size_t>(wc.value()) * static_cast<std::size_t>(H()),
            static_cast<std::size_t>(H())};
  }

  /// The item-site of `item_id` at `site_id`, if planned there.
  std::optional<ItemSiteIndex> FindItemSite(std::string_view item_id,
                                            std::string_view site_id) const;
  /// "item@site", for messages and output.
  std::string ItemSiteName(ItemSiteIndex item_site) const;

  /// Replaces the BOM of `parent` (rebuilds the CSR arrays; O(total lines)).
  void ReplaceBom(ItemSiteIndex parent, std::span<const BomLine> lines);
  /// Replaces the routing of `item_site` (rebuilds the CSR arrays; O(total steps)).
  void ReplaceRouting(ItemSiteIndex item_site, std::span<const RoutingStep> steps);
};

/// Checks the invariants the planner relies on (array sizes, index ranges, buckets in 0..H−1,
/// lead times and fences ≥ 0, yield in (0, 1], finite non-negative quantities). SnapshotBuilder
/// output always passes; call it on a snapshot assembled or edited by other means before
/// planning it. INVALID_ARGUMENT names the first offending entity and field.
Status CheckSnapshot(const Snapshot& snapshot);

/// Dictionary key of an item-site: item id, a unit separator, site id.
std::string ItemSiteKey(std::string_view item_id, std::string_view site_id);

}  // namespace sop::model
