#pragma once
/// Exception detection: turns a netted, pegged plan, its rough-cut capacity and the recent event
/// history into the exceptions a planner reviews (issue 5). Pure functions of their inputs.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/finding.hpp"
#include "sop/model/snapshot.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/rough_cut.hpp"

namespace sop::planning {

enum class ExceptionType : std::uint8_t {
  kForecastDeviation,   ///< actuals vs forecast over the window (amber > 10 %, red > 25 %)
  kForecastBias,        ///< persistent over- or under-forecast over the window
  kShortage,            ///< projected available below zero (inside the frozen fence)
  kBelowSafetyStock,    ///< projected available in [0, SS) inside the frozen fence
  kPastDueRelease,      ///< a planned order should have been released already: expedite
  kCapacityOverload,    ///< load above capacity in one work-center bucket
  kBottleneck,          ///< a work center overloaded in several buckets
  kSharedComponent,     ///< one short component blocking several finished goods
  kOrderAtRisk,         ///< a sales order whose pegged supply is short or late
  kSupplierRisk,        ///< missed confirmed dates or lead time varying beyond a threshold
  kExcessInventory,     ///< days of supply above policy
  kObsoleteInventory,   ///< stock without any demand in the horizon
  kTimeFenceViolation,  ///< a change inside the frozen fence that needs approval
  kDataQuality,         ///< a netting / build finding about bad master data
};

std::string_view ToString(ExceptionType type) noexcept;

enum class Severity : std::uint8_t { kInfo = 0, kAmber = 1, kRed = 2 };
std::string_view ToString(Severity severity) noexcept;

/// The normalized components of a score, each in [0, 1], and the weighted total. Kept on the
/// exception so a planner sees why it ranks where it does.
struct ScoreComponents {
  double revenue = 0.0;   ///< revenue at risk, saturating: r / (r + reference)
  double margin = 0.0;    ///< margin at risk, saturating
  double priority = 0.0;  ///< best customer priority touched: 1 for priority 1, 0 for none
  double time = 0.0;      ///< time to impact: 1 in bucket 0, falling linearly to 0
  double breadth = 0.0;   ///< end demands touched, saturating
  double severity = 0.0;  ///< red 1, amber 0.5, info 0
  double total = 0.0;     ///< Σ weight × component
};

/// One exception. `id` is stable for the same type and subject ("SHORTAGE:C1@P1"), so a later
/// detection replaces the earlier one instead of adding a duplicate.
struct Exception {
  std::string id;
  ExceptionType type = ExceptionType::kDataQuality;
  Severity severity = Severity::kInfo;
  model::SiteIndex site = model::kNoSite;
  ItemSiteIndex item_site = model::kNoItemSite;
  model::WorkCenterIndex work_center = model::kNoWorkCenter;
  std::string subject;              ///< "item@site", work center, supplier or order id
  Bucket first_impact_bucket = -1;  ///< −1 = not about a bucket
  double quantity = 0.0;            ///< units (or hours for capacity, fraction for deviation)
  double reference_quantity = 0.0;  ///< what `quantity` is measured against (capacity, forecast)
  std::vector<std::int32_t> sales_orders;  ///< indices of touched sales orders, ascending
  std::vector<std::string> customers;      ///< touched customers, sorted, unique
  std::int32_t end_demands = 0;            ///< end demands touched (sales orders + forecast)
  std::int32_t best_priority = 0;          ///< best (smallest ≥ 1) customer priority; 0 = none
  double revenue_at_risk = 0.0;
  double margin_at_risk = 0.0;
  std::string explanation;  ///< plain language, for the planner
  ScoreComponents score;
};

/// Actual vs forecast of one item-site in one past bucket (bucket < 0 = weeks ago).
struct ForecastActual {
  ItemSiteIndex item_site = model::kNoItemSite;
  Bucket bucket = 0;
  std::string channel;
  double forecast = 0.0;
  double actual = 0.0;
};

/// One delivery of a supplier: confirmed vs actual receipt bucket and the lead time it took.
struct SupplierDelivery {
  std::string supplier_id;
  ItemSiteIndex item_site = model::kNoItemSite;
  Bucket confirmed_bucket = 0;
  Bucket received_bucket = 0;
  double lead_time = 0.0;  ///< buckets from order to receipt
};

/// A requested change to demand or supply (e.g. a sales-order change) in bucket `bucket`.
struct RequestedChange {
  std::string change_id;
  ItemSiteIndex item_site = model::kNoItemSite;
  Bucket bucket = 0;
  double quantity_delta = 0.0;
  std::string description;
};

/// Event history detection needs beyond the plan. Plain data.
struct DetectionHistory {
  std::vector<ForecastActual> forecast_actuals;
  std::vector<SupplierDelivery> deliveries;
  std::vector<RequestedChange> changes;
  std::vector<model::Finding> extra_findings;  ///< e.g. codec findings; reported as DATA_QUALITY
};

/// Thresholds of detection (issue 5 defaults).
struct DetectionPolicy {
  double deviation_amber = 0.10;        ///< WMAPE over the window above this: amber
  double deviation_red = 0.25;          ///< … above this: red
  double bias_threshold = 0.15;         ///< |Σ(f − y)/Σy| above this: bias
  std::int32_t history_window = 8;      ///< latest buckets of forecast-vs-actual considered
  std::int32_t bottleneck_buckets = 3;  ///< overloaded buckets making a work center a bottleneck
  std::int32_t supplier_missed_in_row = 3;  ///< last N confirmed dates missed: supplier risk
  double lead_time_cv = 0.30;               ///< lead-time coefficient of variation above this: risk
  double excess_days_of_supply = 180.0;
  double days_per_bucket = 7.0;
  bool data_quality = true;  ///< report netting findings as exceptions
  /// Largest load contributions of an overloaded cell whose end demands are counted (the rest
  /// count in hours only), so a cell with thousands of small orders stays cheap at scale L.
  std::int32_t overload_traced_contributions = 8;
};

/// Detects every exception of a pegged engine run and its capacity plan. Deterministic: the
/// output is sorted by id. Threads: pure; safe on shared const inputs. Requires pegging for the
/// end-demand fields (without it, exceptions carry no customers).
std::vector<Exception> DetectExceptions(const NettingEngine& engine, const CapacityPlan& capacity,
                                        const DetectionHistory& history,
                                        const DetectionPolicy& policy = {});

/// Re-detects only the material exceptions (shortage, below safety stock, past-due release,
/// shared component, excess, obsolete) of `item_sites`, for incremental re-ranking after net
/// change (capacity, forecast and supplier exceptions need a full detection; order-at-risk ones
/// a full detection or a MaterialRedetector following them).
/// `ids_in_scope` receives the ids those subjects could carry, so the caller can remove the ones
/// that disappeared.
std::vector<Exception> DetectItemSiteExceptions(const NettingEngine& engine,
                                                std::span<const ItemSiteIndex> item_sites,
                                                const DetectionPolicy& policy,
                                                std::vector<std::string>* ids_in_scope);

namespace detail {
class ReachIndex;
struct OrderRiskTracker;
struct CapacityTracker;
}  // namespace detail

/// DetectItemSiteExceptions for a stream of net changes of one engine: keeps the end-demand
/// reach summaries of the engine's planned orders between calls and forgets only what a change
/// reached (the touched item-sites and what they consume), so a re-detection after one event
/// costs what the event touched, not a fresh walk up every ancestor. Same results as
/// DetectItemSiteExceptions.
///
/// Usage: `MaterialRedetector redetect(engine, policy);` then after each
/// `auto touched = engine.Apply(change);` call `redetect.Redetect(*touched, &scope)`. Every
/// change applied to the engine must be passed (in order) before the next detection.
/// Threads: not synchronised (like the engine it follows). Lifetime: keeps a reference to
/// `engine`, which must outlive it.
class MaterialRedetector {
 public:
  explicit MaterialRedetector(const NettingEngine& engine, DetectionPolicy policy = {});
  ~MaterialRedetector();
  MaterialRedetector(MaterialRedetector&&) noexcept;
  MaterialRedetector& operator=(MaterialRedetector&&) noexcept;

  /// Forgets what `touched` (the result of NettingEngine::Apply) reached, then re-detects the
  /// material exceptions of `touched`; `ids_in_scope` as in DetectItemSiteExceptions. When
  /// following orders at risk, the material exceptions (and ids in scope) are those of every
  /// item-site the change reached — `touched` and everything they consume, whose revenue at risk
  /// and customers moved with the change — so they equal a full detection's (a reached item-site
  /// that was not re-netted and has no shortage, past-due order or order at risk is skipped: it
  /// has nothing that depends on reach).
  std::vector<Exception> Redetect(std::span<const ItemSiteIndex> touched,
                                  std::vector<std::string>* ids_in_scope);
  /// Computes the summary of every planned order now (about the reach part of a full detection),
  /// so the first re-detections after start do not pay for walking cold ancestors.
  void Warm();
  /// Forgets what `touched` reached without detecting (for changes whose exceptions are not
  /// wanted now). When following orders at risk, their exceptions are still rebuilt (for the
  /// next TakeOrdersAtRisk).
  void Forget(std::span<const ItemSiteIndex> touched);

  /// Starts following ORDER_AT_RISK incrementally (no-op when already following): one material
  /// pass over every item-site of the engine now (about the material part of a full detection)
  /// records what each item-site puts at risk of which sales order. From then on Redetect and
  /// Forget also re-detect that record for every item-site a change reached (the touched ones and
  /// everything they consume: their reach moves with the change) and rebuild the ORDER_AT_RISK
  /// exception of every sales order such an item-site reaches now or reached before — the
  /// scenario evaluator's rule (README "Scenario evaluation"), summed in item order, so the
  /// exceptions equal DetectExceptions's on the same plan.
  void FollowOrdersAtRisk();
  bool follows_orders_at_risk() const noexcept { return orders_ != nullptr; }
  /// The ORDER_AT_RISK exceptions rebuilt since the last call (or since following started),
  /// sorted by id; `ids_in_scope` receives the ORDER_AT_RISK ids of the sales orders rebuilt (an
  /// id in scope without an exception returned is no longer at risk). Empty when not following.
  std::vector<Exception> TakeOrdersAtRisk(std::vector<std::string>* ids_in_scope);
  /// Every ORDER_AT_RISK exception of the engine's plan now, sorted by id. Empty when not
  /// following.
  std::vector<Exception> OrdersAtRisk() const;

  /// Starts following CAPACITY_OVERLOAD and BOTTLENECK incrementally (no-op when already
  /// following): one rough-cut of the engine's plan now, kept as each item-site's (work center,
  /// bucket, hours) contributions. From then on Redetect and Forget re-sum only the cells the
  /// re-netted item-sites (and changed work orders) load, before or now, in RoughCut's order (so
  /// the loads are bit-identical to a fresh RoughCut's), and rebuild the capacity exceptions of
  /// every work center with such a cell or with an overloaded cell whose traced contributions
  /// belong to an item-site the change reached (their end demands moved): the same exceptions a
  /// full DetectExceptions on a fresh RoughCut gives. Costs per change a pass over the
  /// receipts, the touched cells' contributions and the overloaded cells.
  void FollowCapacity();
  bool follows_capacity() const noexcept { return capacity_ != nullptr; }
  /// The capacity exceptions of the work centers rebuilt since the last call (or since following
  /// started), sorted by id; `ids_in_scope` receives the ids those work centers carried before
  /// (an id in scope without an exception returned is gone). Empty when not following.
  std::vector<Exception> TakeCapacity(std::vector<std::string>* ids_in_scope);
  /// Every capacity exception of the engine's plan now, sorted by id. Empty when not following.
  std::vector<Exception> CapacityExceptions() const;

 private:
  // Re-detects the order-at-risk record of the `reached` item-sites whose exceptions can have
  // moved (the `touched` ones, and the others with a shortage, a past-due order or notes) and
  // rebuilds the orders it concerns; appends their material exceptions to `material`. Returns
  // the item-sites detected again.
  std::vector<ItemSiteIndex> FollowReached(std::span<const ItemSiteIndex> reached,
                                           std::span<const ItemSiteIndex> touched,
                                           std::vector<Exception>* material);

  const NettingEngine* engine_;
  DetectionPolicy policy_;
  std::unique_ptr<detail::ReachIndex> reach_;
  std::unique_ptr<detail::OrderRiskTracker> orders_;   ///< null until FollowOrdersAtRisk
  std::unique_ptr<detail::CapacityTracker> capacity_;  ///< null until FollowCapacity
};

/// Only the capacity exceptions (CAPACITY_OVERLOAD, BOTTLENECK) of a capacity plan, sorted by
/// id; what a capacity-only scenario re-detects (the material ones cannot change).
std::vector<Exception> DetectCapacityExceptions(const NettingEngine& engine,
                                                const CapacityPlan& capacity,
                                                const DetectionPolicy& policy = {});

/// "TYPE:subject" — the stable id of an exception.
std::string ExceptionId(ExceptionType type, std::string_view subject);

}  // namespace sop::planning
