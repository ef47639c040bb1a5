#pragma once
/// The result of netting: MRP bucket records per item-site, planned orders, single-level
/// pegging, findings and low-level codes. Plain data owned by a NettingEngine (or copied out of
/// it); read-only use from several threads is safe once the engine is idle.

#include <cstdint>
#include <span>
#include <vector>

#include "sop/model/finding.hpp"
#include "sop/model/ids.hpp"
#include "sop/planning/item_site_lists.hpp"

namespace sop::planning {

using model::Bucket;
using model::ItemSiteIndex;

/// A planned order: receipt of `quantity` in `receipt_bucket`, released in `release_bucket`
/// (clamped to 0 when past due) with `release_quantity` = quantity / yield.
struct PlannedOrder {
  ItemSiteIndex item_site = model::kNoItemSite;
  Bucket receipt_bucket = 0;
  Bucket release_bucket = 0;
  double quantity = 0.0;
  double release_quantity = 0.0;
  bool past_due = false;  ///< the unclamped release bucket was < 0
  friend bool operator==(const PlannedOrder&, const PlannedOrder&) = default;
};

/// A planned order named by its item-site and its position in that item-site's order list.
struct PlannedOrderRef {
  ItemSiteIndex item_site = model::kNoItemSite;
  std::int32_t ordinal = -1;
  friend bool operator==(const PlannedOrderRef&, const PlannedOrderRef&) = default;
};

enum class SupplyKind : std::uint8_t { kOnHand, kScheduledReceipt, kPlannedOrder };

/// A supply element of one item-site: on-hand, a scheduled receipt (index into
/// Snapshot::receipts) or a planned order (ordinal within the item-site).
struct SupplyRef {
  SupplyKind kind = SupplyKind::kOnHand;
  std::int32_t index = -1;  ///< receipt index or planned-order ordinal; −1 for on-hand
  Bucket bucket = 0;        ///< when it is available (on-hand: 0)
  friend bool operator==(const SupplyRef&, const SupplyRef&) = default;
};

enum class DemandKind : std::uint8_t {
  kSalesOrder,      ///< index = sales-order index (Snapshot::sales_orders)
  kForecast,        ///< unconsumed forecast of `item_site` in `bucket`
  kDependent,       ///< caused by parent planned order `parent` through a BOM line
  kTransfer,        ///< caused by planned order `parent` of the supplied site
  kNegativeOnHand,  ///< a negative opening balance (unposted issues), due in bucket 0
};

/// A demand element of one item-site. End demands are kSalesOrder and kForecast.
struct DemandRef {
  DemandKind kind = DemandKind::kSalesOrder;
  std::int32_t index = -1;                       ///< sales-order index (kSalesOrder)
  ItemSiteIndex item_site = model::kNoItemSite;  ///< kForecast: the item-site
  PlannedOrderRef parent;                        ///< kDependent, kTransfer
  Bucket bucket = 0;                             ///< due bucket
  friend bool operator==(const DemandRef&, const DemandRef&) = default;
};

/// A SupplyRef as a Peg stores it: the same fields (bucket narrowed to 16 bits, see
/// model::kMaxBuckets) in 8 bytes instead of 12. Converts to SupplyRef.
struct PegSupply {
  std::int32_t index = -1;
  std::int16_t bucket = 0;
  SupplyKind kind = SupplyKind::kOnHand;
  PegSupply() = default;
  PegSupply(const SupplyRef& ref) noexcept  // NOLINT(google-explicit-constructor)
      : index(ref.index), bucket(static_cast<std::int16_t>(ref.bucket)), kind(ref.kind) {}
  operator SupplyRef() const noexcept { return SupplyRef{kind, index, bucket}; }
  friend bool operator==(const PegSupply&, const PegSupply&) = default;
};

/// A DemandRef as a Peg stores it, in 16 bytes instead of 24: `index` is the sales-order index
/// (kSalesOrder) or the parent's order ordinal (kDependent, kTransfer); `parent_item_site` the
/// parent (kDependent, kTransfer). Converts to DemandRef, which is what readers pass around.
struct PegDemand {
  std::int32_t index = -1;
  ItemSiteIndex item_site = model::kNoItemSite;
  ItemSiteIndex parent_item_site = model::kNoItemSite;
  std::int16_t bucket = 0;
  DemandKind kind = DemandKind::kSalesOrder;
  PegDemand() = default;
  PegDemand(const DemandRef& ref) noexcept  // NOLINT(google-explicit-constructor)
      : index(HasParent(ref.kind) ? ref.parent.ordinal : ref.index),
        item_site(ref.item_site),
        parent_item_site(ref.parent.item_site),
        bucket(static_cast<std::int16_t>(ref.bucket)),
        kind(ref.kind) {}
  operator DemandRef() const noexcept {
    if (HasParent(kind)) {
      return DemandRef{kind, -1, item_site, PlannedOrderRef{parent_item_site, index}, bucket};
    }
    return DemandRef{kind, index, item_site, {}, bucket};
  }
  static constexpr bool HasParent(DemandKind k) noexcept {
    return k == DemandKind::kDependent || k == DemandKind::kTransfer;
  }
  friend bool operator==(const PegDemand&, const PegDemand&) = default;
};

/// One single-level peg: `quantity` of `supply` allocated to `demand`. A peg whose supply
/// bucket is later than the demand bucket is late (the demand is hit by a shortage).
/// 40 bytes: a full run at L writes about 13 M of them. `supply.kind`, `supply.index`,
/// `demand.bucket` read directly; `demand` converts to DemandRef.
struct Peg {
  PegSupply supply;
  PegDemand demand;
  double quantity = 0.0;
  double demand_quantity = 0.0;  ///< full size of the demand element (for proportions)
  bool late() const noexcept { return supply.bucket > demand.bucket; }
  friend bool operator==(const Peg&, const Peg&) = default;
};
static_assert(sizeof(Peg) == 40);

/// An end demand (sales order or forecast; kNegativeOnHand for an opening backlog) reached
/// from a supply or a shortage: `quantity` in the end demand's own units, `share` the fraction
/// of the supply (or shortage) quantity that goes to it.
struct EndDemand {
  DemandRef demand;
  double quantity = 0.0;
  double share = 0.0;
};

/// Demand of an item-site that no supply covers (only possible inside the frozen fence or for
/// inactive items, or with cycles).
struct UncoveredDemand {
  DemandRef demand;
  double quantity = 0.0;
  double demand_quantity = 0.0;
  friend bool operator==(const UncoveredDemand&, const UncoveredDemand&) = default;
};

/// The complete netting result. Per-bucket records are contiguous n × H arrays (row = item-site).
struct Plan {
  std::int32_t horizon = 0;
  std::size_t item_site_count = 0;

  std::vector<double> gross_requirements;
  std::vector<double> scheduled_receipts;
  std::vector<double> projected_available;
  std::vector<double> net_requirements;
  std::vector<double> planned_receipts;
  std::vector<double> planned_releases;

  std::vector<std::vector<PlannedOrder>> orders;           ///< per item-site, by receipt bucket
  std::vector<std::vector<model::Finding>> item_findings;  ///< per item-site, from netting
  std::vector<model::Finding> global_findings;             ///< build + cycle findings
  std::vector<std::int32_t> low_level_code;                ///< −1 = on a BOM/transfer cycle

  bool pegged = false;  ///< pegging computed
  /// Per item-site: `pegs[i]` is a span of item-site i's pegs, demand elements in FIFO order
  /// (by due bucket, then NETTING.md's order inside a bucket).
  ItemSiteLists<Peg> pegs;
  ItemSiteLists<UncoveredDemand> uncovered;  ///< per item-site, in the same order

  std::span<const double> Row(const std::vector<double>& records, ItemSiteIndex item_site) const {
    return {records.data() +
                static_cast<std::size_t>(item_site.value()) * static_cast<std::size_t>(horizon),
            static_cast<std::size_t>(horizon)};
  }
  /// All findings: global first, then per item-site in index order.
  std::vector<model::Finding> AllFindings() const;
  std::size_t PlannedOrderCount() const;
};

}  // namespace sop::planning
