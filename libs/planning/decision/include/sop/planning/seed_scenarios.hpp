#pragma once
/// The seed scenarios of an S&OP supply review, chosen from the data so that they bite on any
/// manufacturer: a shift on the most overloaded work center, the supplier with the most
/// near-term open purchase quantity two weeks late, the family with the most sales-order revenue
/// +20 %, half of the most loaded family moved to the next plant, and subcontracting the step
/// that loads the tightest work center most. Pure; deterministic for a given plan.

#include <vector>

#include "sop/planning/netting.hpp"
#include "sop/planning/scenario.hpp"

namespace sop::planning {

/// Builds the seed scenarios for `engine`'s plan with its base outcome (from a
/// ScenarioEvaluator). A scenario whose subject does not exist in the data (no overload, no
/// open purchase order, a single plant) is left out, so the result may hold fewer than five.
std::vector<Scenario> SeedScenarios(const NettingEngine& engine, const ScenarioOutcome& base);

}  // namespace sop::planning
