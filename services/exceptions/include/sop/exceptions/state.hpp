#pragma once
/// The exceptions service's partitioned state: facts and consensus forecasts of the owned
/// partitions → codec::PlanningState (the same plan mrp computes) → ExceptionBook → ExceptionDelta
/// messages for sop.exceptions.v1. No I/O: the host (sop::host) consumes, publishes and snapshots.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sop/bus/message.hpp"
#include "sop/codec/planning_state.hpp"
#include "sop/exceptions/book.hpp"
#include "sop/host/partitioned_state.hpp"
#include "sop/model/error.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/v1/planning.pb.h"

namespace sop::exceptions {

/// Settings of the state.
struct StateOptions {
  BookOptions book;
  std::string facts_topic = "sop.facts.v1";
  std::string forecast_topic = "sop.forecast.v1";
  std::string exceptions_topic = "sop.exceptions.v1";
  /// Wall clock for the event-to-exception latency (tests may inject one).
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };
};

/// Counters for tests and metrics.
struct StateProgress {
  std::int64_t plan_version = 0;
  std::int64_t full_detections = 0;
  std::int64_t incremental_detections = 0;
  std::int64_t deltas = 0;  ///< ExceptionDelta messages produced
  std::int64_t open = 0;    ///< open exceptions
  std::int64_t facts = 0;   ///< facts held
};

/// The state of one exceptions replica.
///
/// Per message: a fact or forecast update goes to the PlanningState; when it is planned by net
/// change, the material exceptions of the re-netted item-sites are re-detected and re-ranked at
/// once (ExceptionBook::Update) and their changes handed to the host right away (TakeImmediate).
/// At the end of a batch with any change: the pending rebuild, then a full detection (rough-cut,
/// detection history, DetectExceptions) that also settles order-at-risk, capacity, forecast,
/// supplier, time-fence and data-quality exceptions, and its changes.
///
/// Threads: not synchronised; the host calls it with its mutex held, gRPC threads reach it
/// through PartitionedHost::WithState. Errors: undecodable messages give INVALID_ARGUMENT (the
/// host dead-letters them); a corrupt snapshot gives DATA_LOSS (the host replays the partition).
/// Lifetime: `metrics` (optional) must outlive it.
class ExceptionsState final : public host::PartitionedState, private codec::PlanningListener {
 public:
  explicit ExceptionsState(StateOptions options = {}, runtime::MetricsRegistry* metrics = nullptr);
  ~ExceptionsState() override;
  ExceptionsState(const ExceptionsState&) = delete;
  ExceptionsState& operator=(const ExceptionsState&) = delete;

  // host::PartitionedState
  Result<bool> Apply(const bus::Message& message) override;
  std::vector<bus::OutgoingMessage> TakeImmediate() override;
  std::vector<bus::OutgoingMessage> EndBatch() override;
  bool BatchPending() const override;
  std::string Serialize(const host::PartitionKey& key) const override;
  Status Restore(const host::PartitionKey& key, std::string_view bytes) override;
  void Drop(const host::PartitionKey& key) override;
  std::vector<std::string> TakeNewEventIds(const host::PartitionKey& key) override;
  std::vector<host::PartitionKey> TakeDirtyPartitions() override;

  /// Queries and acknowledgements (the gRPC layer).
  const ExceptionBook& book() const noexcept { return book_; }
  ExceptionBook& book() noexcept { return book_; }
  /// The plan the exceptions are detected on (nullptr before PlanningSettings).
  const codec::PlanningState& planning() const noexcept { return planning_; }
  StateProgress progress() const;

 private:
  struct Probe;

  // codec::PlanningListener
  void OnNetChange(const planning::NettingEngine& engine,
                   std::span<const model::ItemSiteIndex> item_sites, const sop::v1::Cause& cause,
                   std::int64_t version) override;
  void OnRebuild(const planning::NettingEngine& engine,
                 std::span<const model::ItemSiteIndex> item_sites, const sop::v1::Cause& cause,
                 bool full, std::int64_t version) override;

  std::vector<bus::OutgoingMessage> Encode(std::vector<sop::v1::ExceptionDelta> deltas);
  void NoteCause(std::string_view fact_bytes);
  void UpdateGauges();

  StateOptions options_;
  std::unique_ptr<Probe> probe_;
  codec::PlanningState planning_;
  ExceptionBook book_;
  std::vector<bus::OutgoingMessage> immediate_;
  bool detection_pending_ = false;  ///< a full detection is due at the end of the batch
  std::int64_t changes_since_detection_ = 0;
  std::optional<sop::v1::Cause> first_pending_cause_;  ///< oldest change not fully detected
  StateProgress progress_;
};

}  // namespace sop::exceptions
