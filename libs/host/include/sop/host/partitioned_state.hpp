#pragma once
/// The partitioned-state host: the Kafka/Redis glue every stateful sopstream service shares.
///
/// A service keeps its state per owned Kafka topic-partition and implements PartitionedState
/// (apply one message, serialize/restore/drop one partition, end a batch). PartitionedHost
/// does the rest:
///
/// - a consumer-group consumer (cooperative rebalancing) of the service's topics;
/// - on assignment: restore the partition's Redis snapshot and replay from the offsets stored
///   with it (no snapshot, or an unreadable one: replay the partition from the beginning);
/// - apply every message under one mutex; a decode error dead-letters the message to
///   sop.dlq.v1 with the reason, and the snapshot's offset moves past it;
/// - drains: once the consumer has nothing more ready (or drain_max_messages / _interval were
///   reached), TakeImmediate() is called once for everything applied since the last drain and
///   its messages are published, so a state can stage a burst of messages and do its work once;
/// - batches: a batch ends after `batch_quiet` without a message or `batch_max` after it began;
///   then EndBatch() runs, its messages are published and acknowledged, and every dirty
///   partition is snapshotted (state + next offsets + applied event ids, fenced by the
///   snapshot's sequence) — also on revocation and at an orderly Stop. At a batch end only
///   EndBatch() and the serialization of the dirty partitions hold the mutex; waiting for the
///   acknowledgements and the Redis writes happen outside it, on the copy taken under it, so
///   messages keep being applied while a snapshot is written;
/// - fencing: a snapshot write refused with FAILED_PRECONDITION means another replica wrote a
///   newer sequence, i.e. this replica no longer owns the partition: its state is dropped
///   (never re-read and overwritten), counted and logged;
/// - metrics `sop_<service>_*` and health that follows Kafka and Redis.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "sop/bus/consumer.hpp"
#include "sop/bus/kafka_config.hpp"
#include "sop/bus/message.hpp"
#include "sop/model/error.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/redis_store.hpp"

namespace sop::bus {
class Producer;
class DeadLetter;
class TopicAdmin;
}  // namespace sop::bus

namespace sop::host {

/// A Kafka topic-partition owned by this replica: the unit of state and of snapshots.
using PartitionKey = bus::TopicPartition;

/// What a service implements: its state, kept per owned partition, without any I/O.
///
/// Threads: every call is made with the host's mutex held (consumer thread, batch thread, or a
/// gRPC thread inside PartitionedHost::WithState), so an implementation needs no locking of
/// its own. Calls must not block on I/O.
class PartitionedState {
 public:
  virtual ~PartitionedState() = default;

  /// Applies one consumed message. true: applied; false: a duplicate (its event id was already
  /// applied; nothing changed). An error that is not retryable (typically INVALID_ARGUMENT
  /// naming the field and the value) dead-letters the message; a retryable error retries it.
  /// Nothing is published per Apply: the work may be staged until the next TakeImmediate.
  virtual Result<bool> Apply(const bus::Message& message) = 0;

  /// Messages to publish for everything applied since the last call (e.g. one net change for a
  /// burst of facts), published at once. Called when the consumer drained (nothing more ready,
  /// or HostOptions::drain_max_messages / drain_max_interval reached), and before EndBatch, a
  /// revocation and a final stop whenever messages were applied since the last call; never
  /// when nothing was. Default: none.
  virtual std::vector<bus::OutgoingMessage> TakeImmediate() { return {}; }

  /// The end of a batch (also after an assignment change and before an orderly stop): finish
  /// pending work (e.g. a full rebuild) and return what to publish. TakeImmediate has run
  /// before it if anything was applied since the last drain. The host publishes and waits
  /// for the acknowledgements before it snapshots the dirty partitions.
  virtual std::vector<bus::OutgoingMessage> EndBatch() = 0;

  /// Whether EndBatch has work to do beyond what Apply already published (progress().pending).
  virtual bool BatchPending() const { return false; }

  /// The state of one partition for its Redis snapshot.
  virtual std::string Serialize(const PartitionKey& key) const = 0;
  /// Adopts a partition's state from a snapshot (replacing what is held for it). An error
  /// (DATA_LOSS for bytes of another format) makes the host drop the partition and replay it
  /// from the beginning.
  virtual Status Restore(const PartitionKey& key, std::string_view bytes) = 0;
  /// Forgets a partition (revoked, or fenced off by another replica).
  virtual void Drop(const PartitionKey& key) = 0;

  /// Event ids applied to `key` since the last call, to mark them applied in Redis together
  /// with the snapshot. Default: none (the state de-duplicates by itself, from its snapshot).
  virtual std::vector<std::string> TakeNewEventIds(const PartitionKey& key) {
    (void)key;
    return {};
  }
  /// Partitions changed outside Apply (e.g. by a gRPC call) since the last call; the host
  /// snapshots them at the end of the batch. Default: none.
  virtual std::vector<PartitionKey> TakeDirtyPartitions() { return {}; }
};

/// Settings of one host (a service's main fills them from its config, see service_main.hpp).
struct HostOptions {
  /// Short service name: metrics `sop_<service>_*`, snapshot names `<service>/<topic>/<p>`.
  std::string service;
  bus::KafkaConfig kafka;  ///< librdkafka properties (bootstrap.servers required)
  /// Producer-only defaults applied when `kafka` does not set the key (e.g. compression.type).
  std::map<std::string, std::string> producer_defaults{{"compression.type", "lz4"}};
  std::string group_id;             ///< the consumer group
  std::vector<std::string> topics;  ///< consumed topics
  /// The topics are partitioned alike (by site) and the state joins them per partition, e.g.
  /// the facts and the forecasts of a site: partition k of every topic goes to one replica
  /// (bus::ConsumerOptions::co_partitioned, the eager range assignor; every rebalance then
  /// revokes and restores every partition from its snapshot).
  bool co_partitioned = false;
  store::RedisStoreOptions redis;
  std::string instance;  ///< this replica's name in logs
  /// A batch ends when no message arrived for `batch_quiet`, or `batch_max` after it began.
  std::chrono::milliseconds batch_quiet{100};
  std::chrono::milliseconds batch_max{2000};
  /// Bound of waiting for the broker's acknowledgements before a snapshot.
  std::chrono::milliseconds flush_timeout{10'000};
  /// A failed snapshot write is retried after this long even if no message arrives.
  std::chrono::milliseconds snapshot_retry{1'000};
  /// Snapshots at most this often (0: at the end of every batch). Under a steady stream a
  /// state that keeps large partitions (the planning picture's fact log) would otherwise rewrite
  /// them every batch; with an interval, a restart replays at most this much more from Kafka.
  /// Revocation and an orderly Stop always snapshot.
  std::chrono::milliseconds snapshot_interval{0};
  /// A batch end waits for the acknowledgements and writes its snapshots without the state's
  /// mutex (on a copy taken under it), so messages are applied meanwhile. false: under the
  /// mutex, as before (kept for comparison benchmarks).
  bool write_snapshots_unlocked = true;
  /// Bounds of one drain (bus::ConsumerOptions::drain_max_messages / drain_max_interval): at
  /// most this many messages, or this long after the first of them, are applied before
  /// TakeImmediate runs even if more messages are ready. Both > 0.
  std::size_t drain_max_messages = 500;
  std::chrono::milliseconds drain_max_interval{20};
  /// How often an idle host checks Kafka and Redis for health.
  std::chrono::milliseconds health_interval{1'000};
  /// Called (from the host's health thread) when healthy() changes.
  std::function<void(bool)> on_health_change;
};

/// Where a host stands, for tests, health and metrics. Counters are monotonic over its life.
struct HostProgress {
  std::int64_t consumed = 0;       ///< messages handled (applied, duplicate or dead-lettered)
  std::int64_t applied = 0;        ///< Apply returned true
  std::int64_t duplicates = 0;     ///< Apply returned false
  std::int64_t dead_lettered = 0;  ///< sent to sop.dlq.v1
  std::int64_t published = 0;      ///< messages handed to the producer
  std::int64_t produce_errors = 0;
  std::int64_t batches = 0;    ///< EndBatch runs
  std::int64_t drains = 0;     ///< TakeImmediate runs (one per drain with applied messages)
  std::int64_t undrained = 0;  ///< messages applied since the last TakeImmediate
  std::int64_t snapshots = 0;
  std::int64_t snapshot_errors = 0;
  std::int64_t fenced = 0;  ///< partitions dropped because another replica wrote a newer snapshot
  std::int64_t restored_partitions = 0;
  /// Consumer errors DATA_LOSS: a partition's committed/stored offset is no longer in the log
  /// (the partition stopped instead of skipping data).
  std::int64_t data_loss = 0;
  std::int64_t partitions = 0;  ///< partitions currently owned
  /// A batch is open, EndBatch has work, a partition is unsaved, or messages are applied but not
  /// yet drained (TakeImmediate).
  bool pending = false;
  bool writing = false;  ///< a batch end's snapshots are being written (outside the mutex)
  bool healthy = true;
};

/// The host of one PartitionedState (see the file comment).
///
/// Threads: the consumer thread applies messages and runs the assignment listener; one batch
/// thread ends batches; one health thread checks Kafka/Redis while idle and exports lag; gRPC
/// threads reach the state through WithState. One mutex serializes every call into the state.
/// The batch thread writes its snapshots without the mutex; one snapshot write at a time (a
/// revocation or SnapshotNow waits for a batch end's writes to finish).
/// Errors: Start fails with the producer's/consumer's creation error (INVALID_ARGUMENT for bad
/// kafka.* settings); at run time broker and Redis outages are logged, counted, reported by
/// healthy() and retried; nothing is dropped silently.
/// Lifetime: the state must outlive the host; Stop (or the destructor) stops every thread.
class PartitionedHost final : public bus::ConsumerListener {
 public:
  /// Inside WithState: what a caller holding the lock may ask of the host.
  class Locked {
   public:
    /// Publishes messages now (not waiting for the acknowledgements).
    void Publish(std::vector<bus::OutgoingMessage> messages);
    /// Marks a partition changed outside Apply: it is snapshotted at the end of the batch.
    void MarkDirty(const PartitionKey& key);
    /// Waits for the acknowledgement of everything published, then snapshots `keys` at once
    /// (e.g. before answering a gRPC call that must survive a crash). UNAVAILABLE / the store's
    /// error when a write failed (the partition stays dirty and is retried). If a batch end is
    /// writing snapshots, waits for it first, releasing the mutex meanwhile (the state may
    /// change during that wait, as between two WithState calls).
    Status SnapshotNow(std::span<const PartitionKey> keys);
    /// Whether this replica currently owns `key`.
    bool Owns(const PartitionKey& key) const;

   private:
    friend class PartitionedHost;
    Locked(PartitionedHost& host, std::unique_lock<std::mutex>& lock) : host_(host), lock_(lock) {}
    PartitionedHost& host_;
    std::unique_lock<std::mutex>& lock_;
  };

  static Result<std::unique_ptr<PartitionedHost>> Start(HostOptions options,
                                                        PartitionedState& state,
                                                        runtime::Logger& logger,
                                                        runtime::MetricsRegistry& metrics);
  ~PartitionedHost() override;
  PartitionedHost(const PartitionedHost&) = delete;
  PartitionedHost& operator=(const PartitionedHost&) = delete;

  /// Stops consuming (commits, leaves the group). With `final_snapshot` the last batch is ended,
  /// published and snapshotted; without it the state in memory is simply abandoned (what a
  /// crash leaves behind, for tests). Idempotent.
  void Stop(bool final_snapshot = true);

  /// Runs `fn(Locked&)` with the state's mutex held (gRPC reads and writes) and returns its
  /// result. `fn` must not call back into WithState/WaitFor.
  template <class Fn>
  decltype(auto) WithState(Fn&& fn) {
    std::unique_lock lock(mutex_);
    Locked locked(*this, lock);
    return std::forward<Fn>(fn)(locked);
  }
  /// Read-only form: `fn()` with the mutex held.
  template <class Fn>
  decltype(auto) WithStateConst(Fn&& fn) const {
    std::lock_guard lock(mutex_);
    return std::forward<Fn>(fn)();
  }

  HostProgress progress() const;
  /// Waits until `predicate(progress())` holds, at most `timeout`. The predicate runs with the
  /// state's mutex held (so it may also read the state) and is re-evaluated whenever the host
  /// changes something.
  bool WaitFor(const std::function<bool(const HostProgress&)>& predicate,
               std::chrono::milliseconds timeout) const;
  /// Waits until `predicate()` holds, evaluated with the state's mutex held (so it may read the
  /// state), at most `timeout`. Re-evaluated whenever the host changes something.
  bool WaitUntil(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) const;

  /// Kafka reachable and Redis writable, as last reported by the health thread (checked every
  /// `health_interval`; on_health_change has run before this changes).
  bool healthy() const;
  /// Partitions currently owned, sorted.
  std::vector<PartitionKey> owned() const;
  /// The Redis snapshot name of a partition: `<service>/<topic>/<partition>`.
  std::string SnapshotName(const PartitionKey& key) const;

  // bus::ConsumerListener (consumer thread).
  void OnAssigned(std::span<bus::AssignedPartition> partitions) override;
  void OnRevoked(std::span<const bus::TopicPartition> partitions) override;
  void OnError(const Error& error) override;

 private:
  struct Probe;
  /// What the writes of one partition's snapshots carry from one to the next. Only the one
  /// snapshot write of the partition under way reads or changes it (it is moved into the job).
  struct WriteCursor {
    std::uint64_t sequence = 0;  ///< of the snapshot this replica last read or wrote
    bool sequence_known = true;  ///< false: the snapshot could not be read on assignment
    std::vector<std::string> unsaved_ids;
    /// The last write's reply was lost (UNAVAILABLE): it may have landed with these offsets
    /// and the first `uncertain_ids` of unsaved_ids.
    bool uncertain = false;
    std::vector<store::ConsumedOffset> uncertain_offsets;
    std::size_t uncertain_ids = 0;
  };
  struct Owned {
    std::int64_t next_offset = -1;  ///< -1: nothing handled since the restore
    bool dirty = false;
    std::uint64_t epoch = 0;  ///< which assignment of the partition this is
    WriteCursor cursor;
  };
  /// One partition's snapshot, taken under the mutex and written with or without it.
  struct SnapshotJob {
    PartitionKey key;
    std::string name;
    std::uint64_t epoch = 0;
    std::string bytes;
    std::vector<store::ConsumedOffset> offsets;
    WriteCursor cursor;
    Status result;                   ///< of the write
    bool redis_ok = true;            ///< false: Redis was unavailable for a read or the write
    bool write_unavailable = false;  ///< the write itself failed for unavailability
  };

  PartitionedHost(HostOptions options, PartitionedState& state, runtime::Logger& logger,
                  runtime::MetricsRegistry& metrics);
  Status Handle(const bus::Message& message);
  Status Reject(const bus::Message& message, const Error& error);
  /// The consumer drained (bus::ConsumerOptions::on_drained): DrainLocked under the mutex.
  void OnDrained();
  /// Publishes TakeImmediate() if messages were applied since the last drain. Requires mutex_.
  void DrainLocked();
  void BatchLoop();
  void HealthLoop();
  bool CheckKafka(std::chrono::milliseconds timeout);
  void OpenBatchLocked(std::chrono::steady_clock::time_point last_message);
  /// Ends the batch; with `unlock_for_writes` (the batch thread) the acknowledgement wait and
  /// the snapshot writes run with `lock` released. Requires `lock` to hold mutex_.
  void EndBatchLocked(std::unique_lock<std::mutex>& lock, bool unlock_for_writes);
  void PublishLocked(std::vector<bus::OutgoingMessage> messages);
  Status FlushLocked();
  /// Waits (without mutex_) until every message published up to `sequence` is acknowledged
  /// or failed; DEADLINE_EXCEEDED after flush_timeout.
  Status WaitAcknowledged(std::uint64_t sequence);
  /// Waits on `lock` until no batch end is writing snapshots.
  void WaitNotWriting(std::unique_lock<std::mutex>& lock);
  /// Snapshots `keys` (owned ones) under the mutex; returns the first error. Requires mutex_
  /// and no batch end writing.
  Status SnapshotLocked(std::span<const PartitionKey> keys);
  /// Takes a partition's snapshot (state, offsets, new event ids). Requires mutex_.
  SnapshotJob PrepareLocked(const PartitionKey& key, Owned& owned);
  /// Writes a prepared snapshot (Redis I/O only; touches no member but store_).
  void Write(SnapshotJob& job);
  /// Records a written (or failed) snapshot; returns its result. Requires mutex_.
  Status FinishLocked(SnapshotJob job);
  void DropLocked(const PartitionKey& key);
  void CollectDirtyLocked();
  void SetKafkaOk(bool ok);
  void SetRedisOk(bool ok);
  HostProgress ProgressLocked() const;

  HostOptions options_;
  PartitionedState& state_;
  runtime::Logger& logger_;
  std::unique_ptr<Probe> probe_;
  std::atomic<std::int64_t> produce_errors_{0};  // delivery callbacks: outlives producer_
  // Messages handed to the producer not yet reported (acknowledged or failed), by publication
  // number: a batch end's snapshots wait for those published before they were taken.
  std::mutex ack_mutex_;
  std::condition_variable acked_;
  std::set<std::uint64_t> unacknowledged_;
  store::RedisStore store_;
  std::unique_ptr<bus::Producer> producer_;
  std::unique_ptr<bus::DeadLetter> dead_letter_;
  std::unique_ptr<bus::TopicAdmin> admin_;
  std::unique_ptr<bus::Consumer> consumer_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::map<PartitionKey, Owned> owned_;
  bool batch_open_ = false;
  std::int64_t undrained_ = 0;       ///< messages applied since the last TakeImmediate
  bool writing_ = false;             ///< a batch end writes snapshots without the mutex
  std::uint64_t published_seq_ = 0;  ///< publication number of the last message published
  std::uint64_t epochs_ = 0;         ///< assignments so far (Owned::epoch)
  std::chrono::steady_clock::time_point batch_started_{};
  std::chrono::steady_clock::time_point last_snapshot_{};  ///< end of the last batch snapshot
  std::chrono::steady_clock::time_point last_message_{};
  bool stopping_ = false;
  bool crashed_ = false;
  bool stopped_ = false;
  bool kafka_ok_ = true;
  bool redis_ok_ = true;
  bool redis_write_failed_ = false;
  bool reported_healthy_ = true;  ///< what the health thread last reported (and logged)
  HostProgress counters_;
  std::thread batch_thread_;
  std::thread health_thread_;
};

}  // namespace sop::host
