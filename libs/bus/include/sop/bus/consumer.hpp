#pragma once
/// The consumer-group consumer with commit-after-success semantics.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sop/bus/kafka_config.hpp"
#include "sop/bus/message.hpp"
#include "sop/model/error.hpp"

namespace sop::bus {

/// A partition that was just assigned (incrementally: only the new ones) and where consumption
/// will start.
struct AssignedPartition {
  std::string topic{};
  std::int32_t partition = 0;
  /// The group's committed offset, or nullopt when the group never committed on this
  /// partition (then consumption starts at the beginning of the log). A listener may replace
  /// it, e.g. with the offset stored in its own state snapshot.
  std::optional<std::int64_t> start_offset{};
};

/// Consumer lag of one assigned partition, for metrics.
struct PartitionLag {
  std::string topic{};
  std::int32_t partition = 0;
  std::optional<std::int64_t> high_watermark{};  ///< nullopt until the first fetch answered
  std::optional<std::int64_t> position{};        ///< next offset to handle; nullopt if unknown
  std::optional<std::int64_t> lag{};             ///< high_watermark - position, when both known
};

/// Told about assignment changes and consumer errors. All calls run on the consumer thread.
///
/// OnAssigned runs before any message of the new partitions is handled; OnRevoked runs after
/// the final synchronous commit of the revoked partitions (so another member may take them
/// over right after it returns). OnError reports what the consumer cannot fix itself, in
/// particular DATA_LOSS when a committed offset is no longer in the log (the partition then
/// stops; the consumer never silently skips to the latest offset).
class ConsumerListener {
 public:
  virtual ~ConsumerListener() = default;
  virtual void OnAssigned(std::span<AssignedPartition> partitions) { (void)partitions; }
  virtual void OnRevoked(std::span<const TopicPartition> partitions) { (void)partitions; }
  virtual void OnError(const Error& error) { (void)error; }
};

/// Handles one message; success commits it (at the next drain, see ConsumerOptions::on_drained).
/// A retryable error retries the same message. The Message is valid during the call only (the
/// consumer reuses its storage for the next record): copy what must be kept.
using MessageHandler = std::function<Status(const Message&)>;
/// Decides about a message the handler rejected with a non-retryable error (typically
/// `DeadLetter::Send`). Success commits the message; an error retries handler and decision.
using RejectHandler = std::function<Status(const Message&, const Error&)>;

/// What a consumer consumes and how it reacts.
struct ConsumerOptions {
  std::string group_id{};
  std::vector<std::string> topics{};
  MessageHandler handler{};
  RejectHandler on_rejected{};
  /// Optional; must outlive the consumer.
  ConsumerListener* listener = nullptr;
  std::chrono::milliseconds retry_backoff_initial{100};
  std::chrono::milliseconds retry_backoff_max{5'000};
  /// How long one poll waits for messages; bounds how fast Stop() is noticed.
  std::chrono::milliseconds poll_timeout{100};
  /// The topics are partitioned alike (same key, same partition count; e.g. sop.facts.v1 and
  /// sop.forecast.v1 by site) and a member must hold partition k of every topic or none: the
  /// consumer then uses the eager "range" assignor instead of cooperative-sticky, which balances
  /// the partition count over all topics together and can give one member every facts partition
  /// and another every forecast partition. Costs of eager: every rebalance revokes every
  /// partition, and the revocation's commit may be refused while the group rebalances (the
  /// embedded broker does); use it only where the start offsets come from elsewhere (the
  /// listener sets them from a snapshot, as sop::host does).
  bool co_partitioned = false;
  /// Called on the consumer thread when the messages handled since the last call are
  /// "drained": nothing more is ready to be handled right now (a poll without waiting found no
  /// message), or `drain_max_messages` were handled, or `drain_max_interval` passed since the
  /// first of them was; also before a revocation's OnRevoked, before a retried message's backoff
  /// and at Stop, so no handled message is left un-drained. Lets a handler stage its work and do
  /// it once per burst (e.g. one net change for many facts). Not called when nothing was handled
  /// since the last call. It returns nothing: a handler that fails to finish its staged work
  /// deals with it itself. The handled messages' offsets are stored (to be committed) after it
  /// returned. Optional.
  std::function<void()> on_drained{};
  /// Bounds of one drain (both > 0): handled messages, and time since the first of them.
  std::size_t drain_max_messages = 500;
  std::chrono::milliseconds drain_max_interval{20};
};

/// A member of a Kafka consumer group that calls a handler for each message and commits the
/// offset only after the handler (or the reject decision) succeeded and the drain that follows
/// it (ConsumerOptions::on_drained) returned: offsets are stored per partition at each drain,
/// not per message.
///
/// Protocol: cooperative rebalancing (cooperative-sticky), or eager "range" for
/// ConsumerOptions::co_partitioned. Members keep their partitions while
/// the group rebalances; a partition that moves is first revoked from its owner, which commits
/// the handled offsets synchronously before giving it up, so the next owner starts right after
/// the last handled message: no message is handled twice by one group after a rebalance or a
/// stop, and none is skipped. (Cooperative rather than eager because an eager revocation
/// commits while the group is already rebalancing, which the embedded broker refuses.) Handled
/// offsets are also committed in the background (auto.commit.interval.ms); a crash can
/// therefore redeliver up to that interval, which handlers must tolerate (idempotent apply by
/// event id). Partitions lost without an orderly revocation (session timeout) are not
/// committed.
/// Start: a partition without a committed offset starts at the beginning; a committed offset
/// that is no longer in the log is reported as DATA_LOSS (auto.offset.reset=error).
///
/// Threads: one consumer thread (started by Start) polls, runs the handler, the reject
/// decision, on_drained and the listener. Stop() and Lag() are thread-safe; Stop() must not be
/// called from the handler, on_drained or the listener. Lag() positions move at each drain. A
/// handler that keeps failing retryably blocks its thread with backoff; beyond
/// max.poll.interval.ms the broker evicts the member (documented limit).
/// Errors: configuration errors fail Create with INVALID_ARGUMENT; runtime errors go to
/// ConsumerListener::OnError.
/// Lifetime: the destructor stops the consumer (drain, commit, leave the group).
class Consumer {
 public:
  static Result<std::unique_ptr<Consumer>> Create(const KafkaConfig& config,
                                                  ConsumerOptions options);
  virtual ~Consumer() = default;

  /// Subscribes and starts the consumer thread.
  virtual Status Start() = 0;
  /// Finishes the current message, drains (on_drained), commits, leaves the group and joins
  /// the thread. Idempotent.
  virtual void Stop() = 0;
  /// Lag of every currently assigned partition (high watermark from the latest fetch).
  virtual std::vector<PartitionLag> Lag() const = 0;
  /// Currently assigned partitions, sorted.
  virtual std::vector<TopicPartition> Assignment() const = 0;

 protected:
  Consumer() = default;
};

}  // namespace sop::bus
