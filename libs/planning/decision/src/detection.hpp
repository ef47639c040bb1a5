#pragma once
// Detection that reuses a base run: what a scenario evaluation needs to re-detect only the
// item-sites whose material exceptions can differ from the base.

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "reach.hpp"
#include "sop/planning/exceptions.hpp"
#include "sop/planning/rough_cut.hpp"

namespace sop::planning::detail {

/// Per item-site results of a full material detection: its exceptions and the sales-order
/// quantities it puts at risk (in detection order), as CSR over item-site indices.
struct MaterialRecord {
  std::vector<std::uint32_t> exception_offsets;        ///< n + 1
  std::vector<Exception> exceptions;                   ///< material exceptions by item-site
  std::vector<std::uint32_t> risk_offsets;             ///< n + 1
  std::vector<std::pair<std::int32_t, double>> risks;  ///< (sales order, quantity)
  std::vector<std::int32_t> risk_orders;               ///< sales orders at risk, ascending
  std::vector<Exception> risk_exceptions;              ///< their ORDER_AT_RISK exceptions
};

/// SHORTAGE, BELOW_SAFETY_STOCK, PAST_DUE_RELEASE, SHARED_COMPONENT, EXCESS_INVENTORY,
/// OBSOLETE_INVENTORY: the types DetectMaterial produces.
bool IsMaterial(ExceptionType type) noexcept;

/// DetectExceptions, with two additions. Given `base` (the record of a full detection on a plan
/// that differs only in item-sites flagged in `affected`, size n, over `base_snapshot`), the
/// material exceptions of an unaffected item-site are the base's and only the affected ones are
/// detected, and so are the order-at-risk exceptions of the sales orders no affected item-site
/// reaches; the result is identical to a full detection. Without `base`, every item-site is
/// detected and, when `record` is given, recorded there.
/// `base_reach` (the reach index of that base detection, see `keep_reach`) answers reach
/// questions about unaffected item-sites; `keep_reach` receives this detection's reach index.
std::vector<Exception> DetectExceptionsReusing(
    const NettingEngine& engine, const CapacityPlan& capacity, const DetectionHistory& history,
    const DetectionPolicy& policy, const MaterialRecord* base, const model::Snapshot* base_snapshot,
    std::span<const char> affected, MaterialRecord* record, const ReachIndex* base_reach,
    std::unique_ptr<ReachIndex>* keep_reach);

/// DetectCapacityExceptions on the base plan, reading end-demand reach through `base_reach`.
std::vector<Exception> DetectCapacityReusing(const NettingEngine& engine,
                                             const CapacityPlan& capacity,
                                             const DetectionPolicy& policy,
                                             const ReachIndex* base_reach);

}  // namespace sop::planning::detail
