#pragma once
/// The capacity service's state: the planning picture of the owned partitions (the same
/// codec::PlanningState mrp plans with), its rough-cut capacity, and what was last published
/// to sop.capacity.v1. The host::PartitionedState adapter: apply → PlanningState; end of batch
/// → planning::RoughCut → CapacityDelta messages for the work-center buckets that changed.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sop/capacity/loads.hpp"
#include "sop/codec/planning_state.hpp"
#include "sop/host/partitioned_state.hpp"
#include "sop/model/error.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/v1/capacity.pb.h"
#include "sop/v1/planning.pb.h"

namespace sop::capacity {

/// Tuning of the state.
struct CapacityStateOptions {
  /// Work centers per CapacityDelta (a site's full publication is split into several messages).
  std::size_t max_work_centers_per_delta = 50;
  /// Topic the deltas go to (sop.capacity.v1).
  std::string output_topic = "sop.capacity.v1";
};

/// Counters for metrics and tests.
struct CapacityStats {
  std::int64_t plan_version = 0;  ///< of the capacity plan last computed (0 = none)
  std::int64_t rough_cuts = 0;    ///< rough-cut runs
  std::int64_t deltas = 0;        ///< CapacityDelta messages produced
  std::int64_t facts = 0;         ///< facts held for the owned partitions
  std::int64_t duplicates = 0;    ///< re-delivered facts skipped
  std::int64_t work_centers = 0;  ///< in the current capacity plan
  std::int64_t overloaded_buckets = 0;
  double overload_hours = 0.0;
};

/// A consistent copy of the planning picture: the engine and the history detection needs
/// (indices into the engine's snapshot).
struct PlanCopy {
  planning::NettingEngine engine;
  planning::DetectionHistory history;
};

/// The capacity state of one replica (see the file comment).
///
/// Threads: not thread-safe. Under the host every call is made with the host's mutex held; the
/// queries (GetLoad, CopyPlan) must be called with that mutex held too (WithState).
/// Errors: undecodable facts/forecasts give INVALID_ARGUMENT (the host dead-letters them); a
/// message from another topic is INVALID_ARGUMENT naming the topic; GetLoad as capacity::GetLoad,
/// plus FAILED_PRECONDITION before the first plan.
/// Lifetime: plain object; owns the planning state. `metrics` (optional) must outlive it.
class CapacityState final : public host::PartitionedState, private codec::PlanningListener {
 public:
  explicit CapacityState(CapacityStateOptions options = {},
                         runtime::MetricsRegistry* metrics = nullptr);
  ~CapacityState() override;
  CapacityState(const CapacityState&) = delete;
  CapacityState& operator=(const CapacityState&) = delete;

  // host::PartitionedState
  Result<bool> Apply(const bus::Message& message) override;
  std::vector<bus::OutgoingMessage> EndBatch() override;
  bool BatchPending() const override;
  std::string Serialize(const host::PartitionKey& key) const override;
  Status Restore(const host::PartitionKey& key, std::string_view bytes) override;
  void Drop(const host::PartitionKey& key) override;
  std::vector<std::string> TakeNewEventIds(const host::PartitionKey& key) override;

  /// The CapacityDelta messages of EndBatch, decoded (for tests and tools; same content).
  std::vector<sop::v1::CapacityDelta> EndBatchDeltas();

  /// sop.v1.Capacity/GetLoad over the capacity plan of the last batch end.
  Result<sop::v1::GetLoadResponse> GetLoad(const sop::v1::GetLoadRequest& request) const;
  /// A copy of the current engine (snapshot + pegged plan) and its detection history, for
  /// scenario evaluation outside the lock; FAILED_PRECONDITION before the first plan. Cost:
  /// proportional to the plan and the stored history (S: tens of MB copied).
  Result<std::shared_ptr<const PlanCopy>> CopyPlan() const;

  /// The current capacity plan (nullptr before the first plan) and its engine.
  const planning::CapacityPlan* capacity() const noexcept {
    return capacity_ ? &*capacity_ : nullptr;
  }
  const planning::NettingEngine* engine() const noexcept { return planning_.engine(); }
  /// The planning picture's version (every net change and rebuild), which CopyPlan copies.
  std::int64_t planning_version() const noexcept { return planning_.version(); }
  CapacityStats stats() const;

 private:
  struct Probe;

  // codec::PlanningListener: remembers the cause of the latest planning step.
  void OnNetChange(const planning::NettingEngine& engine,
                   std::span<const model::ItemSiteIndex> item_sites, const sop::v1::Cause& cause,
                   std::int64_t version) override;
  void OnRebuild(const planning::NettingEngine& engine,
                 std::span<const model::ItemSiteIndex> item_sites, const sop::v1::Cause& cause,
                 bool full, std::int64_t version) override;

  CapacityStateOptions options_;
  std::unique_ptr<Probe> probe_;
  codec::PlanningState planning_;
  LoadPublisher publisher_;
  std::optional<planning::CapacityPlan> capacity_;
  std::int64_t capacity_version_ = 0;  ///< planning version the capacity plan belongs to
  sop::v1::Cause last_cause_;
  bool last_full_ = false;  ///< a full rebuild since the last EndBatch
  std::int64_t rough_cuts_ = 0;
  std::int64_t deltas_ = 0;
};

}  // namespace sop::capacity
