#pragma once
/// EvaluateScenarios at the edge: sop.v1 scenarios → planning::Scenario (validated against the
/// snapshot, every error naming the request field and the value), evaluation with
/// planning::ScenarioEvaluator (in parallel, on copies; the base is never touched), and the
/// outcomes → sop.v1.ScenarioKpis side by side with the base. Pure (no I/O).

#include <string>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/scenario.hpp"
#include "sop/v1/capacity.pb.h"

namespace sop::capacity {

/// One request scenario as the decision core takes it, checked against `snapshot`. `field` is
/// the scenario's position in the request ("scenarios[2]"), so errors read
/// "scenarios[2].overrides[0].extra_capacity.work_center_id: unknown work center, got 'WC9'".
/// Conventions of sop.v1 (capacity.proto): bucket `to` 0 = horizon end; extra-capacity cost 0 =
/// the work center's overtime rate; subcontract share 0 = all; move-volume mapping empty = the
/// sending plant's work centers onto the receiving plant's in id order, hours factor 0 = 1.
/// Errors: INVALID_ARGUMENT for an empty name, no overrides, an unset override, a negative or
/// non-finite number, a bad bucket window, and any id (site, item, family, supplier, work
/// center, routing step) the snapshot does not have.
Result<planning::Scenario> ToScenario(const sop::v1::Scenario& scenario,
                                      const model::Snapshot& snapshot, const std::string& field);

/// What EvaluateScenarios needs besides the request.
struct ScenarioRequestOptions {
  int threads = 2;  ///< scenarios evaluated at once
};

/// The whole call: validates every scenario first (nothing is evaluated when one is bad; names
/// must be unique), builds the evaluator on `base` (a pegged, fully run engine the caller keeps
/// unchanged for the duration), evaluates all in parallel and returns base + scenarios in
/// request order. An empty request evaluates planning::SeedScenarios. `request.site_id`, when
/// set, must be a site of `base` (the KPIs cover every site the engine plans). `history`
/// (indices into `base`'s snapshot) feeds the forecast-deviation and supplier-risk detection.
Result<sop::v1::EvaluateScenariosResponse> EvaluateScenarios(
    const planning::NettingEngine& base, const sop::v1::EvaluateScenariosRequest& request,
    const ScenarioRequestOptions& options = {}, const planning::DetectionHistory& history = {});

/// One outcome as the API shows it.
void FillKpis(const model::Snapshot& snapshot, const planning::ScenarioOutcome& outcome,
              sop::v1::ScenarioKpis& out);

/// Plain-language summary of a scenario's overrides ("+8 h/bucket on WC-P1-03 at 45/h"), used
/// as the description when the request gives none (and for the seed scenarios).
std::string Describe(const planning::Scenario& scenario);

}  // namespace sop::capacity
