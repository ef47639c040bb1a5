#pragma once
/// Scenarios: the base plan plus overrides, evaluated on a copy (netting → rough-cut →
/// exceptions → KPIs) and compared side by side with the base. Pure; no I/O.

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/planning/exceptions.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/ranking.hpp"
#include "sop/planning/rough_cut.hpp"

namespace sop::planning {

namespace detail {
struct MaterialRecord;
class EnginePool;
struct PlanFigures;
class ReachIndex;
}  // namespace detail

/// Multiplies forecast and open sales-order quantities of the matching item-sites due in
/// [from, to). Empty family / item / site match everything.
struct DemandMultiplier {
  std::string family;
  std::string item_id;
  std::string site_id;
  Bucket from = 0;
  Bucket to = model::kEndOfTime;
  double factor = 1.0;
};

/// Every open purchase order of the supplier arrives `buckets` later (beyond the horizon =
/// lost); with `lead_time_too`, new orders also take that much longer.
struct SupplierDelay {
  std::string supplier_id;
  std::int32_t buckets = 0;
  bool lead_time_too = true;
};

/// Extra calendar hours (a shift, overtime) on a work center in [from, to), at a cost per hour:
/// a shift is paid in full, overtime (`pay_only_used`) only for the hours the load needs.
struct ExtraCapacity {
  std::string work_center_id;
  Bucket from = 0;
  Bucket to = model::kEndOfTime;
  double hours_per_bucket = 0.0;
  double cost_per_hour = 0.0;
  bool pay_only_used = false;
};

/// A routing step of an item given to a subcontractor for `share` of the volume: its load leaves
/// the work center, each unit costs `cost_per_unit`.
struct SubcontractStep {
  std::string item_id;
  std::string site_id;
  std::int32_t sequence = 0;
  double cost_per_unit = 0.0;
  double share = 1.0;
};

struct WorkCenterMapping {
  std::string from_work_center_id;
  std::string to_work_center_id;
};

/// Moves `share` of a family's production load from one plant to another: the steps run at the
/// mapped work centers of the receiving plant (its routing: run and setup hours × factor, at its
/// regular cost per hour). Material stays planned at the sending plant (rough-cut level move).
struct MoveVolume {
  std::string family;
  std::string from_site_id;
  std::string to_site_id;
  double share = 0.0;
  std::vector<WorkCenterMapping> work_centers;
  double hours_factor = 1.0;
};

/// Multiplies the safety stock of matching item-sites (empty fields match everything).
struct SafetyStockChange {
  std::string family;
  std::string item_id;
  std::string site_id;
  double factor = 1.0;
};

using Override = std::variant<DemandMultiplier, SupplierDelay, ExtraCapacity, SubcontractStep,
                              MoveVolume, SafetyStockChange>;

struct Scenario {
  std::string name;
  std::vector<Override> overrides;
};

/// The side-by-side figures of one evaluated plan (formulas in docs/KPIS.md, "Scenario figures").
struct ScenarioKpis {
  double sales_order_units = 0.0;
  double units_short = 0.0;  ///< sales-order units at risk (ORDER_AT_RISK quantities)
  double revenue_short = 0.0;
  double fill_rate = 1.0;  ///< 1 − units_short / sales_order_units
  std::map<std::int32_t, double> units_short_by_priority;
  std::map<std::int32_t, double> revenue_short_by_priority;
  double load_hours = 0.0;
  double overload_hours = 0.0;
  double overtime_cost = 0.0;     ///< overtime needed to absorb overloads (up to the WC max)
  double subcontract_cost = 0.0;  ///< the remaining overload subcontracted where allowed
  double unresolved_overload_hours = 0.0;
  double extra_capacity_cost = 0.0;  ///< shifts / overtime added by the scenario
  double step_subcontract_cost = 0.0;
  double move_cost = 0.0;  ///< extra (or saved, < 0) regular labour cost of moved hours
  double average_inventory_value = 0.0;
  double working_capital = 0.0;  ///< average inventory + average pipeline (WIP) value
  double revenue = 0.0;
  double cost_of_goods = 0.0;
  double gross_margin = 0.0;
  std::size_t exceptions = 0;
};

/// One evaluated scenario (or the base).
struct ScenarioOutcome {
  std::string name;
  ScenarioKpis kpis;
  std::vector<Exception> exceptions;        ///< ranked
  std::vector<std::string> appeared;        ///< ids not in the base (sorted)
  std::vector<std::string> disappeared;     ///< base ids gone here (sorted)
  std::vector<double> load_by_work_center;  ///< hours over the horizon
  std::vector<double> overload_by_work_center;
  CapacityPlan capacity;
};

/// Evaluation options.
struct ScenarioOptions {
  DetectionPolicy detection;
  /// Weights and (with `reference_percentile` = 0) the references of the ranking.
  RankingWeights ranking;
  /// The revenue, margin and breadth references are the base's `reference_percentile` of those
  /// values (ScaleReferences, nearest rank), computed once on the base run and used for the base
  /// and every scenario, so top scores spread instead of saturating at 1.00; 0 keeps the fixed
  /// references of `ranking`. Outside (0, 1] and not 0: Evaluate fails (INVALID_ARGUMENT).
  double reference_percentile = 0.9;
  int threads = 2;
  /// Demand, supplier and safety-stock overrides re-plan a copy of the base engine by net change
  /// and re-detect only the item-sites it touched and what they consume; false re-runs netting
  /// and detection in full on a copy of the snapshot. Both give the same outcome (pinned by
  /// tests); false is the reference for those tests and for `sop-bench-decision --verify`.
  bool incremental = true;
  /// EvaluateAll: how many copies of the base engine the netting scenarios (demand, supplier,
  /// safety stock) share. Each copy costs about the base engine's memory and its copy time (at L
  /// ~1.6 GiB, ~1 s); a scenario undoes its net change before the next one reuses the copy. 1
  /// runs those scenarios one after the other (least memory and CPU); more run them in parallel.
  int engine_copies = 1;
};

/// Evaluates scenarios against one base engine (run with pegging). The base is never modified:
/// overrides that change netting inputs run on a copy of the snapshot; capacity-only overrides
/// reuse the base plan and adjust the capacity plan. Results do not depend on the thread count.
///
/// Threads: EvaluateAll runs scenarios on `options.threads` threads; the evaluator is read-only
/// after construction, so concurrent calls are safe. Errors: an override naming an unknown
/// work center, site, item, supplier or family, or a bad value, is INVALID_ARGUMENT/NOT_FOUND.
/// Lifetime: keeps a reference to `base`, which must outlive the evaluator.
class ScenarioEvaluator {
 public:
  ScenarioEvaluator(const NettingEngine& base, DetectionHistory history,
                    ScenarioOptions options = {});

  /// The base plan's outcome (computed at construction).
  const ScenarioOutcome& base() const noexcept { return base_outcome_; }
  /// The weights and references outcomes are ranked with (`options.ranking` with the scaled
  /// references); rank other lists with these to compare their scores with the outcomes'.
  const RankingWeights& ranking() const noexcept { return ranking_; }
  Result<ScenarioOutcome> Evaluate(const Scenario& scenario) const;
  /// Evaluates all in parallel; outcome k belongs to scenario k.
  std::vector<Result<ScenarioOutcome>> EvaluateAll(std::span<const Scenario> scenarios) const;

 private:
  Result<ScenarioOutcome> EvaluateWith(const Scenario& scenario, bool compare,
                                       detail::MaterialRecord* record,
                                       std::unique_ptr<detail::ReachIndex>* keep_reach,
                                       detail::EnginePool* pool) const;

  const NettingEngine& base_;
  DetectionHistory history_;
  ScenarioOptions options_;
  RankingWeights ranking_;  ///< options_.ranking with the references scaled on the base
  Status ranking_error_;    ///< a bad reference_percentile
  CapacityPlan base_capacity_;
  ScenarioOutcome base_outcome_;
  std::vector<std::uint32_t> base_by_id_;  ///< positions of the base exceptions in id order
  std::shared_ptr<const detail::MaterialRecord> base_record_;  ///< per item-site base detection
  std::shared_ptr<const detail::PlanFigures> base_figures_;    ///< plan-only KPI parts of the base
  std::shared_ptr<const detail::ReachIndex> base_reach_;  ///< end-demand reach of the base plan
};

}  // namespace sop::planning
