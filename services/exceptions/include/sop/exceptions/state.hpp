#pragma once
/// The exceptions service's partitioned state: facts and consensus forecasts of the owned
/// partitions → codec::PlanningState (the same plan mrp computes) → ExceptionBook → ExceptionDelta
/// messages for sop.exceptions.v1. No I/O: the host (sop::host) consumes, publishes and snapshots.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
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
  /// Run the full detection on a copy of the plan in the state's own worker thread, outside the
  /// caller's lock (the service does; see README "Full detection off the lock"). Off: EndBatch
  /// runs it in place (deterministic for hermetic tests).
  bool background_detection = false;
  /// Background detection: at least this long between the starts of two full detections
  /// (changes meanwhile wait for the next one; a rebuild starts one at once). Bounds the CPU the
  /// worker takes under a steady change rate; the staleness of the types only the full
  /// detection finds stays below interval + one detection. 0: back to back.
  std::chrono::milliseconds full_detection_interval{0};
  /// Incremental detection with a planning::MaterialRedetector that follows the engine between
  /// net changes (reach of unchanged planned orders reused); false: DetectItemSiteExceptions
  /// from scratch per change (the same exceptions; for benchmarks and tests).
  bool reuse_reach = true;
};

/// The service's default full_detection_interval (`exceptions.full-detection.interval`).
inline constexpr std::chrono::milliseconds kDefaultFullDetectionInterval{1000};

/// Counters for tests and metrics.
struct StateProgress {
  std::int64_t plan_version = 0;
  std::int64_t full_detections = 0;   ///< full results merged into the list
  std::int64_t stale_detections = 0;  ///< background results dropped (a rebuild overtook them)
  std::int64_t incremental_detections = 0;
  std::int64_t deltas = 0;  ///< ExceptionDelta messages produced
  std::int64_t open = 0;    ///< open exceptions
  std::int64_t facts = 0;   ///< facts held
};

/// The state of one exceptions replica.
///
/// Per message: a fact or forecast update goes to the PlanningState, which stages it. At
/// TakeImmediate (once per drained consumer batch) everything staged is planned by one net change
/// (PlanningState::CommitNetChange), the material exceptions of the re-netted item-sites are
/// re-detected and re-ranked once (ExceptionBook::Update) and their changes handed to the host.
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

  /// Background detection: called from the worker thread (no lock held) when a full result is
  /// ready; the caller then takes the state's lock and publishes TakeDetected(). Set before the
  /// first batch ends; a result that is ready when it is set is announced at once.
  void set_detection_ready(std::function<void()> callback);
  /// Merges a finished background detection (under the caller's lock, like Apply): the result,
  /// with the material exceptions of the item-sites net change re-netted meanwhile re-detected
  /// on the current plan; starts the next detection when changes arrived meanwhile and the
  /// interval has passed (else the worker announces itself again when it has). Returns the
  /// deltas to publish (empty when nothing is ready or the result was stale).
  std::vector<bus::OutgoingMessage> TakeDetected();
  /// Stops the worker (a detection under way finishes; its result is merged by the next
  /// EndBatch, which then detects in place). Call without the caller's lock. Idempotent.
  void StopBackground();
  /// Partitions the state holds facts of (for the service's wake-up of the host).
  std::vector<host::PartitionKey> partitions() const;

 private:
  struct Probe;
  struct Worker;

  // codec::PlanningListener
  void OnNetChange(const planning::NettingEngine& engine,
                   std::span<const model::ItemSiteIndex> item_sites, const sop::v1::Cause& cause,
                   std::int64_t version) override;
  void OnRebuild(const planning::NettingEngine& engine,
                 std::span<const model::ItemSiteIndex> item_sites, const sop::v1::Cause& cause,
                 bool full, std::int64_t version) override;

  std::vector<bus::OutgoingMessage> Encode(std::vector<sop::v1::ExceptionDelta> deltas);
  /// The cause a full detection's deltas carry (the first change it settles); resets it.
  sop::v1::Cause TakeDetectionCause();
  /// Starts a full detection of the current plan (background or in place); returns the deltas
  /// of an in-place one.
  std::vector<bus::OutgoingMessage> StartDetection();
  /// Background: starts the pending detection now if the interval allows (or `now_anyway`),
  /// else asks the worker to announce itself when it does.
  std::vector<bus::OutgoingMessage> StartWhenDue(bool now_anyway);
  void ObserveFull();
  /// A fact or forecast changed the plan: a full detection is due (background: the worker is
  /// asked to announce it when the interval allows).
  void NoteChange();
  /// The redetector of `engine` (made on first use), or nullptr without reuse_reach.
  planning::MaterialRedetector* RedetectorFor(const planning::NettingEngine& engine);
  void ResetRedetector();
  void NoteCause(std::string_view fact_bytes);
  void UpdateGauges();
  std::vector<bus::OutgoingMessage> EndBatchImpl();
  std::vector<bus::OutgoingMessage> TakeDetectedImpl();

  StateOptions options_;
  std::unique_ptr<Probe> probe_;
  codec::PlanningState planning_;
  ExceptionBook book_;
  std::vector<bus::OutgoingMessage> immediate_;
  bool detection_pending_ = false;  ///< a full detection is due at the end of the batch
  std::int64_t changes_since_detection_ = 0;
  std::optional<sop::v1::Cause> first_pending_cause_;  ///< oldest change not fully detected
  StateProgress progress_;
  bool gauges_stale_ = false;  ///< deltas went out since the gauges were last refreshed
  std::unique_ptr<Worker> worker_;
  std::chrono::steady_clock::time_point last_start_{};  ///< of the last background detection
  bool in_flight_ = false;                              ///< a background detection is under way
  std::int64_t generation_ = 0;                         ///< bumped by every rebuild
  std::vector<model::ItemSiteIndex> redetect_;          ///< re-netted while in flight
  /// Follows planning_.engine() through its net changes (reset by rebuilds and when the engine
  /// goes); created by the first incremental detection after a full one.
  std::unique_ptr<planning::MaterialRedetector> redetector_;
  const planning::NettingEngine* redetector_engine_ = nullptr;
  std::set<host::PartitionKey> partitions_;  ///< partitions with facts applied or restored
};

}  // namespace sop::exceptions
