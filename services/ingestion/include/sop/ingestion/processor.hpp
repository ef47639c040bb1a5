#pragma once
/// The ingestion consumer's handler: decides each sop.erp.events.v1 record, publishes facts,
/// dead-letters bad records, and snapshots per-partition state with the offsets.

#include <google/protobuf/arena.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sop/bus/consumer.hpp"
#include "sop/bus/dead_letter.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/ingestion/pipeline.hpp"
#include "sop/ingestion/rejections.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/redis_store.hpp"
#include "sop/v1/planning.pb.h"

namespace sop::ingestion {

/// The metrics of ingestion (the only place that knows metric names). Thread-safe.
class IngestionProbe {
 public:
  explicit IngestionProbe(runtime::MetricsRegistry& metrics);

  /// The consumed-records counter of one partition (cache it: the label lookup takes a lock).
  runtime::Counter ConsumedCounter(std::int32_t partition) const;
  void OnDecided(Outcome outcome, const std::optional<Violation>& violation);
  void OnFactProduced() const { facts_produced_.Increment(); }
  void OnDeadLettered() const { dead_lettered_.Increment(); }
  void OnPublishFailure() const { publish_failures_.Increment(); }
  void OnCheckpoint(std::chrono::nanoseconds took) const {
    checkpoint_seconds_.ObserveDuration(took);
  }
  void OnCheckpointFailure() const { checkpoint_failures_.Increment(); }
  void ObserveProcessing(std::chrono::nanoseconds took) const {
    processing_seconds_.ObserveDuration(took);
  }
  void SetLag(std::int32_t partition, double lag);
  void SetStateIds(double ids) const { state_ids_.Set(ids); }
  void OnDedupEvicted(std::uint64_t ids) const {
    dedup_evicted_.Increment(static_cast<double>(ids));
  }
  void SetDedupWindowSeconds(double seconds) const { dedup_window_seconds_.Set(seconds); }

 private:
  runtime::CounterFamily consumed_family_;
  runtime::CounterFamily events_family_;
  runtime::CounterFamily rejected_family_;
  runtime::GaugeFamily lag_family_;
  runtime::Counter accepted_;
  runtime::Counter duplicates_;
  runtime::Counter facts_produced_;
  runtime::Counter dead_lettered_;
  runtime::Counter publish_failures_;
  runtime::Counter checkpoint_failures_;
  runtime::Histogram processing_seconds_;
  runtime::Histogram checkpoint_seconds_;
  runtime::Gauge state_ids_;
  runtime::Counter dedup_evicted_;
  runtime::Gauge dedup_window_seconds_;
};

/// Tuning of the processor.
struct ProcessorOptions {
  std::string instance = "ingestion";  ///< Fact.ingestion_instance
  /// Snapshot names are "<snapshot_prefix>/<topic>/<partition>".
  std::string snapshot_prefix = "ingestion";
  /// A partition is snapshotted after this many handled records ...
  std::int64_t checkpoint_records = 50'000;
  /// ... or when its oldest unsnapshotted record is this old (checked by a timer too).
  std::chrono::milliseconds checkpoint_interval{1'000};
  /// Above this many unacknowledged produced records the handler waits (back-pressure).
  int max_outstanding = 50'000;
  std::chrono::milliseconds flush_timeout{30'000};
  std::size_t rejected_ring = 1'000;
  /// The de-duplication window of each partition (ids by count and by record-time age).
  DedupRetention dedup{};
  /// Called on the timer thread when healthy() changes (e.g. to drive gRPC health).
  std::function<void(bool healthy)> on_health_change{};
};

/// The handler and ConsumerListener of the ingestion consumer group.
///
/// Per owned partition it keeps a PartitionState in memory. Accepted events are published as
/// sop.v1.Fact to sop.facts.v1 (key = site) without waiting; a checkpoint first flushes the
/// producer (every fact of the handled records acknowledged), then writes state + next offset
/// with RedisStore::Apply fenced by the snapshot sequence. Rejected records go to sop.dlq.v1
/// (DeadLetter::Send waits for the ack) and to the RejectionLog.
/// On assignment the snapshot is restored and consumption starts at its offset; on revocation
/// and Stop the partition is checkpointed. After a crash, records handled after the last
/// checkpoint are decided again: their facts may be published twice (at-least-once; facts carry
/// the event id), the state itself never double-counts.
///
/// Threads: Handle and the listener run on the consumer thread; a timer thread checkpoints idle
/// partitions; both take one mutex. Errors: a failed DLQ send or Redis read returns a retryable
/// error (the consumer retries the record); a failed fact delivery marks the processor
/// unhealthy and withholds checkpoints, so a restart replays from the last good snapshot.
/// Lifetime: borrows producer, store, probe, logger; Stop() before they go.
class Processor : public bus::ConsumerListener {
 public:
  Processor(ProcessorOptions options, bus::Producer& producer, store::RedisStore& store,
            IngestionProbe& probe, runtime::Logger& logger);
  ~Processor() override;

  /// The consumer's handler.
  Status Handle(const bus::Message& message);

  void OnAssigned(std::span<bus::AssignedPartition> partitions) override;
  void OnRevoked(std::span<const bus::TopicPartition> partitions) override;
  void OnError(const Error& error) override;

  /// Starts the checkpoint timer. `lag` (optional) is sampled by it for the lag gauge.
  void Start(std::function<std::vector<bus::PartitionLag>()> lag = {});
  /// Stops the timer and checkpoints every owned partition (call after the consumer stopped).
  void Stop();

  /// False after a fact or dead letter could not be delivered or Redis fenced a snapshot
  /// (both until restart), and while Redis is unreachable for snapshots.
  bool healthy() const noexcept { return healthy_.load() && redis_ok_.load(); }
  RejectionLog& rejections() noexcept { return rejections_; }
  OutcomeRegistry& outcomes() noexcept { return outcomes_; }
  bus::DeadLetter& dead_letter() noexcept { return dead_letter_; }
  /// Records a rejection decided outside the pipeline (Submit's own checks).
  void RecordRejection(const sop::v1::Rejection& rejection, ReasonClass reason_class);
  std::string SnapshotName(const std::string& topic, std::int32_t partition) const;

 private:
  struct Owned {
    PartitionState state;
    std::uint64_t sequence = 0;
    std::int64_t next_offset = -1;  ///< -1: nothing handled since assignment
    std::int64_t unsnapshotted = 0;
    std::chrono::steady_clock::time_point dirty_since{};
    std::optional<runtime::Counter> consumed{};
    std::uint64_t evicted_reported = 0;  ///< state.applied_ids.evicted() already counted
  };
  using Key = std::pair<std::string, std::int32_t>;

  Owned& OwnedFor(const bus::Message& message);  // mutex_ held
  void Reject(const bus::Message& message, const sop::v1::Envelope& envelope,
              const Violation& violation);  // mutex_ held
  void Publish(const bus::Message& message, const sop::v1::Envelope& envelope,
               bool normalized);                    // mutex_ held
  Status Checkpoint(const Key& key, Owned& owned);  // mutex_ held
  void TimerLoop();
  void UpdateStateGauge();  // mutex_ held

  ProcessorOptions options_;
  bus::Producer& producer_;
  store::RedisStore& store_;
  IngestionProbe& probe_;
  runtime::Logger& logger_;
  bus::DeadLetter dead_letter_;
  RejectionLog rejections_;
  OutcomeRegistry outcomes_;
  std::atomic<bool> healthy_{true};
  std::atomic<bool> redis_ok_{true};
  bool reported_healthy_ = true;  ///< timer thread only
  std::atomic<std::int64_t> failed_deliveries_{0};

  std::mutex mutex_;
  std::map<Key, Owned> owned_;
  google::protobuf::Arena arena_;              ///< the record being handled (Handle, mutex_ held)
  std::map<Key, Owned>::iterator last_owned_;  ///< owned_.end() when unknown
  sop::v1::Fact fact_tail_;                    ///< ingested_at + ingestion_instance of each fact
  const std::string facts_topic_{bus::kFactsTopic};

  std::function<std::vector<bus::PartitionLag>()> lag_;
  std::mutex timer_mutex_;
  std::condition_variable timer_wake_;
  bool stopping_ = false;
  std::thread timer_;
};

}  // namespace sop::ingestion
