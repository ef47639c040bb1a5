#pragma once
/// Offline planning of an events file: events → snapshot (sop::codec) → full netting with
/// forecast consumption and pegging → rough-cut capacity (sop::planning), and the complete result
/// as JSON. The engine of sop-plan, kept as a library so tests and benchmarks drive it in-process.

#include <iosfwd>
#include <memory>
#include <string>

#include "sop/codec/assembler.hpp"
#include "sop/model/error.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/rough_cut.hpp"

namespace sop::plan_tool {

struct PlanOptions {
  bool pegging = true;      ///< single-level pegging of every planned order
  bool end_demands = false; ///< also follow each planned order up to its end demands (slower)
};

/// One completed offline run. Owns the engine (and through it the snapshot and the plan).
struct PlanRun {
  std::unique_ptr<planning::NettingEngine> engine;
  planning::CapacityPlan capacity;
  std::vector<model::Finding> input_findings;  ///< codec + model-builder findings
  std::int64_t past_due_documents = 0;
  std::int64_t outside_horizon_documents = 0;
  std::int64_t events = 0;
  std::string plan_start;   ///< YYYY-MM-DD
  std::string bucket_kind;  ///< "week", "day" or "month"
  double convert_seconds = 0.0;
  double netting_seconds = 0.0;
  double rough_cut_seconds = 0.0;
};

/// Plans an assembler's current state. Errors: those of SnapshotAssembler::Build.
Result<PlanRun> RunPlan(const codec::SnapshotAssembler& assembler, const PlanOptions& options = {});

/// Reads a JSON-lines events file and plans it. Errors: NOT_FOUND (file), INVALID_ARGUMENT
/// (a bad line, named by number), FAILED_PRECONDITION (no PlanningSettings in the file).
Result<PlanRun> RunPlanFile(const std::string& path, const PlanOptions& options = {});

/// The complete result as one JSON object (see tools/plan/README.md for its shape).
std::string PlanToJson(const PlanRun& run, const PlanOptions& options = {});
/// The same JSON streamed to `out` in pieces (scale L is gigabytes); false if the stream failed.
bool WritePlanJson(const PlanRun& run, std::ostream& out, const PlanOptions& options = {});

/// A few lines for people: counts, findings by type, the most overloaded work centers.
std::string PlanSummary(const PlanRun& run);

}  // namespace sop::plan_tool
