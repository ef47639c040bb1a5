#pragma once
/// Rough-cut capacity per NETTING.md: load per work center per bucket from planned orders and
/// open work orders through routings, against calendar hours × efficiency.

#include <cstdint>
#include <span>
#include <vector>

#include "sop/model/snapshot.hpp"
#include "sop/planning/plan.hpp"

namespace sop::planning {

using model::WorkCenterIndex;

/// Hours of one order at one overloaded work-center bucket.
struct LoadContribution {
  ItemSiteIndex item_site = model::kNoItemSite;
  SupplyRef supply;  ///< kPlannedOrder (ordinal) or kScheduledReceipt (work order index)
  double hours = 0.0;
};

/// An overloaded work-center bucket and what loads it (largest contributions first).
struct Overload {
  WorkCenterIndex work_center = model::kNoWorkCenter;
  Bucket bucket = 0;
  double load_hours = 0.0;
  double capacity_hours = 0.0;
  double overload_hours = 0.0;
  std::vector<LoadContribution> contributions;
};

/// Rough-cut result: work centers × H arrays plus the overloads. Plain data.
struct CapacityPlan {
  std::int32_t horizon = 0;
  std::size_t work_center_count = 0;
  std::vector<double> load_hours;      ///< work centers × H
  std::vector<double> capacity_hours;  ///< calendar hours × efficiency
  std::vector<double> utilization;     ///< load / capacity; +inf when load > 0 = capacity
  std::vector<double> overload_hours;  ///< max(0, load − capacity)
  std::vector<model::Bucket> first_overloaded_bucket;  ///< per work center; −1 = none
  std::vector<Overload> overloads;                     ///< by work center, then bucket

  std::span<const double> Row(const std::vector<double>& values, WorkCenterIndex wc) const {
    return {
        values.data() + static_cast<std::size_t>(wc.value()) * static_cast<std::size_t>(horizon),
        static_cast<std::size_t>(horizon)};
  }
};

/// Computes rough-cut capacity of `plan` over `snapshot` (the engine's own snapshot).
/// Pure function; safe to call concurrently on the same inputs.
CapacityPlan RoughCut(const model::Snapshot& snapshot, const Plan& plan);

/// One order's hours in one work-center bucket, exactly as RoughCut adds them to the load.
struct CellLoad {
  std::size_t cell = 0;  ///< work center × H + bucket
  LoadContribution contribution;
};

/// The load one item-site puts on its work centers, in RoughCut's order: `planned` gets its
/// planned orders' contributions, `work_orders` those of the open work orders among `receipts`
/// (indices into snapshot.receipts, ascending; the other receipts are skipped). Each list is
/// stable-sorted by cell, so one cell's contributions keep the order RoughCut adds them in and a
/// cell re-summed over its item-sites in item order (planned orders), then over work orders in
/// receipt order, equals RoughCut's load bit for bit. Cleared first. Pure.
void ItemSiteLoad(const model::Snapshot& snapshot, const Plan& plan, ItemSiteIndex item_site,
                  std::span<const std::int32_t> receipts, std::vector<CellLoad>* planned,
                  std::vector<CellLoad>* work_orders);

class NettingEngine;

/// Overload hours attributed to one end demand.
struct OverloadDemandShare {
  DemandRef demand;
  double hours = 0.0;
};

/// Load hours of an overloaded bucket attributed to end demands (sales orders, forecast) via
/// pegging: each contribution's hours are split over the end demands of its order by their
/// share of the order quantity (the unpegged, excess part of an order is attributed to nothing).
/// Largest first. Requires pegging.
std::vector<OverloadDemandShare> OverloadEndDemands(const NettingEngine& engine,
                                                    const Overload& overload);

}  // namespace sop::planning
