#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "rdkafka_util.hpp"
#include "sop/bus/consumer.hpp"

namespace sop::bus {
namespace {

using std::chrono::milliseconds;

constexpr int kCommittedLookupTimeoutMs = 10'000;
constexpr int kCommittedLookupAttempts = 3;

class KafkaConsumer final : public Consumer {
 public:
  explicit KafkaConsumer(ConsumerOptions options) : options_(std::move(options)) {}

  ~KafkaConsumer() override {
    Stop();
    if (handle_ && !closed_) rd_kafka_consumer_close(handle_.get());
  }

  // Second construction step: the handle needs `this` as its opaque.
  Status Open(const KafkaConfig& effective) {
    auto conf = detail::BuildConf(effective);
    if (!conf) return std::unexpected(conf.error());
    rd_kafka_conf_set_rebalance_cb(conf->get(), &KafkaConsumer::OnRebalance);
    rd_kafka_conf_set_error_cb(conf->get(), &KafkaConsumer::OnClientError);
    rd_kafka_conf_set_opaque(conf->get(), this);
    auto handle = detail::NewHandle(RD_KAFKA_CONSUMER, std::move(*conf));
    if (!handle) return std::unexpected(handle.error());
    handle_ = std::move(*handle);
    // Serve rebalances, errors and messages from the one consumer queue.
    rd_kafka_poll_set_consumer(handle_.get());
    return {};
  }

  Status Start() override {
    if (started_.exchange(true))
      return Fail(Errc::kFailedPrecondition, "consumer: already started");
    detail::TopicPartitionListPtr topics(
        rd_kafka_topic_partition_list_new(static_cast<int>(options_.topics.size())));
    for (const std::string& topic : options_.topics) {
      rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
    }
    const rd_kafka_resp_err_t err = rd_kafka_subscribe(handle_.get(), topics.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected(detail::ErrorFrom(err, "consumer subscribe"));
    }
    thread_ = std::thread([this] { Run(); });
    return {};
  }

  void Stop() override {
    {
      std::lock_guard lock(stop_mutex_);
      stop_requested_ = true;
    }
    stop_cv_.notify_all();
    std::lock_guard join_lock(join_mutex_);
    if (thread_.joinable()) thread_.join();
  }

  std::vector<PartitionLag> Lag() const override {
    std::map<TopicPartition, std::optional<std::int64_t>> positions;
    {
      std::lock_guard lock(state_mutex_);
      positions = positions_;
    }
    std::vector<PartitionLag> lags;
    lags.reserve(positions.size());
    for (const auto& [partition, position] : positions) {
      PartitionLag lag{partition.topic, partition.partition, std::nullopt, position, std::nullopt};
      std::int64_t low = RD_KAFKA_OFFSET_INVALID;
      std::int64_t high = RD_KAFKA_OFFSET_INVALID;
      // The cached watermarks of the latest fetch response: no broker round trip.
      if (rd_kafka_get_watermark_offsets(handle_.get(), partition.topic.c_str(),
                                         partition.partition, &low,
                                         &high) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (high >= 0) lag.high_watermark = high;
        if (!lag.position && low >= 0) lag.position = low;  // starting from the beginning
      }
      if (lag.high_watermark && lag.position) {
        lag.lag = std::max<std::int64_t>(0, *lag.high_watermark - *lag.position);
      }
      lags.push_back(std::move(lag));
    }
    return lags;
  }

  std::vector<TopicPartition> Assignment() const override {
    std::lock_guard lock(state_mutex_);
    std::vector<TopicPartition> assignment;
    for (const auto& entry : positions_) assignment.push_back(entry.first);
    return assignment;
  }

 private:
  static void OnRebalance(rd_kafka_t* /*handle*/, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->Assign(*partitions);
    } else {
      self->Revoke(*partitions);
    }
  }

  static void OnClientError(rd_kafka_t* /*handle*/, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    self->Report(detail::ErrorFrom(static_cast<rd_kafka_resp_err_t>(err),
                                   std::string("consumer: ") + reason));
  }

  void Report(const Error& error) {
    if (options_.listener != nullptr) options_.listener->OnError(error);
  }

  // Looks up the group's committed offsets; librdkafka leaves offset < 0 where none exists.
  Status LookupCommitted(rd_kafka_topic_partition_list_t& partitions) {
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 0; attempt < kCommittedLookupAttempts; ++attempt) {
      err = rd_kafka_committed(handle_.get(), &partitions, kCommittedLookupTimeoutMs);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    }
    return std::unexpected(detail::ErrorFrom(err, "consumer: fetch committed offsets"));
  }

  void Assign(const rd_kafka_topic_partition_list_t& partitions) {
    detail::TopicPartitionListPtr list(rd_kafka_topic_partition_list_copy(&partitions));
    const Status looked_up = LookupCommitted(*list);
    if (!looked_up) Report(looked_up.error());

    std::vector<AssignedPartition> assigned;
    assigned.reserve(static_cast<std::size_t>(list->cnt));
    for (int index = 0; index < list->cnt; ++index) {
      const rd_kafka_topic_partition_t& element = list->elems[index];
      AssignedPartition partition{element.topic, element.partition, std::nullopt};
      if (looked_up && element.err == RD_KAFKA_RESP_ERR_NO_ERROR && element.offset >= 0) {
        partition.start_offset = element.offset;
      }
      assigned.push_back(std::move(partition));
    }
    if (options_.listener != nullptr) options_.listener->OnAssigned(assigned);

    {
      std::lock_guard lock(state_mutex_);
      if (!Cooperative()) positions_.clear();
      for (std::size_t index = 0; index < assigned.size(); ++index) {
        rd_kafka_topic_partition_t& element = list->elems[index];
        if (assigned[index].start_offset) {
          element.offset = *assigned[index].start_offset;
        } else if (looked_up) {
          // No committed offset: the whole log is unprocessed. auto.offset.reset=error is kept
          // for the case where a committed offset is out of range, so say "beginning" here.
          element.offset = RD_KAFKA_OFFSET_BEGINNING;
        } else {
          // The lookup failed: let librdkafka use the committed offset itself; a missing one
          // then surfaces as an error instead of a guess.
          element.offset = RD_KAFKA_OFFSET_INVALID;
        }
        positions_[TopicPartition{assigned[index].topic, assigned[index].partition}] =
            assigned[index].start_offset;
      }
    }
    if (Cooperative()) {
      ReportAndDestroy(rd_kafka_incremental_assign(handle_.get(), list.get()), "assign");
    } else {
      const rd_kafka_resp_err_t err = rd_kafka_assign(handle_.get(), list.get());
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) Report(detail::ErrorFrom(err, "consumer: assign"));
    }
  }

  bool Cooperative() const {
    const char* protocol = rd_kafka_rebalance_protocol(handle_.get());
    return protocol != nullptr && std::string_view(protocol) == "COOPERATIVE";
  }

  void ReportAndDestroy(rd_kafka_error_t* error, std::string_view what) {
    if (error == nullptr) return;
    Report(detail::ErrorFrom(rd_kafka_error_code(error), "consumer: " + std::string(what) + ": " +
                                                             rd_kafka_error_string(error)));
    rd_kafka_error_destroy(error);
  }

  void Revoke(const rd_kafka_topic_partition_list_t& partitions) {
    // Lost partitions (session timed out) may already belong to another member: committing
    // them could overwrite its progress, so only partitions given up in order are committed
    // (and their handled offsets are not even stored).
    const bool lost = rd_kafka_assignment_lost(handle_.get()) != 0;
    Drain(/*store_offsets=*/!lost);
    handled_.clear();  // nothing undrained is left; a partition assigned again starts afresh
    if (!lost) CommitSync("revocation");
    std::vector<TopicPartition> revoked;
    revoked.reserve(static_cast<std::size_t>(partitions.cnt));
    for (int index = 0; index < partitions.cnt; ++index) {
      revoked.push_back(
          TopicPartition{partitions.elems[index].topic, partitions.elems[index].partition});
    }
    if (options_.listener != nullptr) options_.listener->OnRevoked(revoked);
    {
      std::lock_guard lock(state_mutex_);
      for (const TopicPartition& partition : revoked) positions_.erase(partition);
    }
    if (Cooperative()) {
      ReportAndDestroy(rd_kafka_incremental_unassign(handle_.get(), &partitions), "unassign");
    } else {
      const rd_kafka_resp_err_t err = rd_kafka_assign(handle_.get(), nullptr);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) Report(detail::ErrorFrom(err, "consumer: unassign"));
    }
  }

  // Commits the stored (= successfully handled) offsets of the current assignment and waits.
  void CommitSync(std::string_view why) {
    const rd_kafka_resp_err_t err = rd_kafka_commit(handle_.get(), nullptr, 0);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      Report(detail::ErrorFrom(err, "consumer: commit on " + std::string(why)));
    }
  }

  bool StopRequested() {
    std::lock_guard lock(stop_mutex_);
    return stop_requested_;
  }

  // Waits for `duration` unless a stop is requested first; true when stopping.
  bool WaitForStop(milliseconds duration) {
    std::unique_lock lock(stop_mutex_);
    return stop_cv_.wait_for(lock, duration, [this] { return stop_requested_; });
  }

  void Run() {
    const int poll_ms = static_cast<int>(options_.poll_timeout.count());
    while (!StopRequested()) {
      // With handled messages not yet drained, only look whether more are ready: a burst is
      // drained once nothing more is (or at its limits), never while waiting for the next one.
      const bool undrained = undrained_count_ > 0;
      detail::MessagePtr record(rd_kafka_consumer_poll(handle_.get(), undrained ? 0 : poll_ms));
      if (!record) {
        if (undrained) Drain(/*store_offsets=*/true);
        continue;
      }
      if (record->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        HandleErrorEvent(*record);
        continue;
      }
      Process(*record);
      if (undrained_count_ >= options_.drain_max_messages ||
          (undrained_count_ > 0 &&
           std::chrono::steady_clock::now() - undrained_since_ >= options_.drain_max_interval)) {
        Drain(/*store_offsets=*/true);
      }
    }
    Drain(/*store_offsets=*/true);
    CommitSync("stop");
    // Leaves the group; the revocation callback runs from here (final commit, OnRevoked).
    rd_kafka_consumer_close(handle_.get());
    closed_ = true;
  }

  void HandleErrorEvent(const rd_kafka_message_t& record) {
    if (record.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
    std::string where = "consumer";
    if (record.rkt != nullptr) {
      where = std::string(rd_kafka_topic_name(record.rkt)) + "[" +
              std::to_string(record.partition) + "]";
    }
    if (record.err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
        record.err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
      Report(Error(Errc::kDataLoss,
                   where + ": the committed offset is no longer in the log (" +
                       rd_kafka_message_errstr(&record) +
                       "); consumption of this partition stopped instead of skipping data",
                   false));
      return;
    }
    Report(detail::ErrorFrom(record.err, where + ": " + rd_kafka_message_errstr(&record)));
  }

  void Process(const rd_kafka_message_t& record) {
    detail::CopyInto(record, message_);
    const Message& message = message_;
    milliseconds backoff = options_.retry_backoff_initial;
    for (;;) {
      Status status = options_.handler(message);
      if (!status && !status.error().retryable()) {
        Status decided = options_.on_rejected(message, status.error());
        if (decided) {
          status = {};
        } else {
          // The rejected message could not be set aside (e.g. the dead-letter topic is
          // unreachable): keep it and try again rather than lose it.
          Report(decided.error());
          status = std::unexpected(decided.error());
        }
      }
      if (status) {
        Handled(record);
        return;
      }
      // Not committed: if we stop now the next owner handles this message again. What was
      // handled before it is drained first rather than held back for the whole backoff.
      Drain(/*store_offsets=*/true);
      if (WaitForStop(backoff)) return;
      backoff = std::min(backoff * 2, options_.retry_backoff_max);
    }
  }

  // Records a successfully handled message: its partition's next offset is stored at the
  // next drain. Allocates only for a partition seen for the first time.
  void Handled(const rd_kafka_message_t& record) {
    if (undrained_count_++ == 0) undrained_since_ = std::chrono::steady_clock::now();
    for (HandledOffset& handled : handled_) {
      if (handled.topic == record.rkt && handled.partition == record.partition) {
        handled.next_offset = record.offset + 1;
        handled.undrained = true;
        return;
      }
    }
    handled_.push_back(HandledOffset{record.rkt, rd_kafka_topic_name(record.rkt), record.partition,
                                     record.offset + 1, true});
  }

  // The end of a burst: on_drained, then the handled offsets are stored (committed by the next
  // auto-commit or sync commit) and the positions for Lag() move. Without `store_offsets`
  // (lost partitions) the offsets are forgotten instead.
  void Drain(bool store_offsets) {
    if (undrained_count_ == 0) return;
    undrained_count_ = 0;
    if (options_.on_drained) options_.on_drained();
    int count = 0;
    for (const HandledOffset& handled : handled_) count += handled.undrained ? 1 : 0;
    if (count == 0) return;
    if (store_offsets) {
      detail::TopicPartitionListPtr list(rd_kafka_topic_partition_list_new(count));
      for (const HandledOffset& handled : handled_) {
        if (!handled.undrained) continue;
        rd_kafka_topic_partition_list_add(list.get(), handled.topic_name.c_str(), handled.partition)
            ->offset = handled.next_offset;
      }
      const rd_kafka_resp_err_t err = rd_kafka_offsets_store(handle_.get(), list.get());
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // The per-partition errors name what was refused (e.g. a partition no longer assigned).
        for (int index = 0; index < list->cnt; ++index) {
          const rd_kafka_topic_partition_t& element = list->elems[index];
          if (element.err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
          Report(detail::ErrorFrom(element.err, "consumer: store offset of " +
                                                    std::string(element.topic) + "[" +
                                                    std::to_string(element.partition) + "]@" +
                                                    std::to_string(element.offset - 1)));
        }
      }
      std::lock_guard lock(state_mutex_);
      for (const HandledOffset& handled : handled_) {
        if (!handled.undrained) continue;
        auto position = positions_.find(TopicPartition{handled.topic_name, handled.partition});
        if (position != positions_.end()) position->second = handled.next_offset;
      }
    }
    for (HandledOffset& handled : handled_) handled.undrained = false;
  }

  /// The last handled offset of one partition since the last drain.
  struct HandledOffset {
    const rd_kafka_topic_t* topic = nullptr;  ///< librdkafka's handle: compared, not owned
    std::string topic_name{};
    std::int32_t partition = 0;
    std::int64_t next_offset = 0;
    bool undrained = false;
  };

  ConsumerOptions options_;
  detail::HandlePtr handle_;
  std::atomic<bool> started_{false};
  bool closed_ = false;  // written by the consumer thread before it ends, read after join

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
  std::mutex join_mutex_;
  std::thread thread_;

  mutable std::mutex state_mutex_;
  std::map<TopicPartition, std::optional<std::int64_t>> positions_;

  // Consumer thread only.
  Message message_;  ///< the record being handled (storage reused from record to record)
  std::vector<HandledOffset> handled_;
  std::size_t undrained_count_ = 0;  ///< messages handled since the last drain
  std::chrono::steady_clock::time_point undrained_since_{};
};

Status RequireAbsentOr(const KafkaConfig& config, std::string_view key, std::string_view required,
                       std::string_view why) {
  if (const std::string* value = config.Find(key); value && *value != required) {
    return InvalidField("kafka config " + std::string(key), why, *value);
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Consumer>> Consumer::Create(const KafkaConfig& config,
                                                   ConsumerOptions options) {
  if (options.group_id.empty()) return InvalidField("consumer group_id", "must not be empty", "");
  if (options.topics.empty()) return InvalidField("consumer topics", "must not be empty", "");
  if (!options.handler) return InvalidField("consumer handler", "must be set", "");
  if (!options.on_rejected) {
    return InvalidField("consumer on_rejected", "must be set (nothing is dropped silently)", "");
  }
  if (options.drain_max_messages == 0) {
    return InvalidField("consumer drain_max_messages", "must be > 0", "0");
  }
  if (options.drain_max_interval.count() <= 0) {
    return InvalidField("consumer drain_max_interval", "must be > 0 ms",
                        std::to_string(options.drain_max_interval.count()));
  }
  if (options.retry_backoff_initial.count() <= 0 ||
      options.retry_backoff_max < options.retry_backoff_initial) {
    return InvalidField("consumer retry_backoff", "need 0 < initial <= max",
                        std::to_string(options.retry_backoff_initial.count()) + "/" +
                            std::to_string(options.retry_backoff_max.count()));
  }
  if (auto status = RequireAbsentOr(config, "auto.offset.reset", "error",
                                    "an out-of-range offset must be reported, must be error");
      !status) {
    return std::unexpected(status.error());
  }
  if (auto status =
          RequireAbsentOr(config, "enable.auto.offset.store", "false",
                          "offsets are stored after the handler succeeded, must be false");
      !status) {
    return std::unexpected(status.error());
  }
  const char* strategy = options.co_partitioned ? "range" : "cooperative-sticky";
  if (auto status =
          RequireAbsentOr(config, "partition.assignment.strategy", strategy,
                          options.co_partitioned ? "co-partitioned topics are assigned by range"
                                                 : "the consumer uses the cooperative protocol");
      !status) {
    return std::unexpected(status.error());
  }
  KafkaConfig effective = config;
  effective.Set("group.id", options.group_id);
  effective.Set("enable.auto.offset.store", "false");
  effective.Set("auto.offset.reset", "error");
  effective.Set("enable.partition.eof", "false");
  // Cooperative rebalancing: members keep their partitions during a rebalance, and revoked
  // partitions are committed while the group is stable (an eager revocation commits while the
  // group is already rebalancing, which brokers such as the embedded mock refuse). Co-partitioned
  // topics need "range" (partition k of every topic to the same member), which is eager.
  effective.Set("partition.assignment.strategy", strategy);

  auto consumer = std::make_unique<KafkaConsumer>(std::move(options));
  if (auto status = consumer->Open(effective); !status) return std::unexpected(status.error());
  return std::unique_ptr<Consumer>(std::move(consumer));
}

}  // namespace sop::bus
