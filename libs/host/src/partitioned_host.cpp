#include <algorithm>

#include "sop/bus/dead_letter.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topic_admin.hpp"
#include "sop/host/partitioned_state.hpp"

namespace sop::host {

using Clock = std::chrono::steady_clock;

// The only place that knows the host's metric names.
struct PartitionedHost::Probe {
  Probe(runtime::MetricsRegistry& metrics, const std::string& p)
      : consumed(metrics.AddCounter(
            {p + "consumed_total",
             "Messages consumed (applied, duplicate or dead-lettered), by topic.",
             {"topic"},
             20})),
        produced(metrics.AddCounter(
            {p + "produced_total", "Messages the broker acknowledged, by topic.", {"topic"}, 20})),
        produce_errors(metrics
                           .AddCounter({p + "produce_errors_total",
                                        "Messages the broker did not acknowledge."})
                           .WithLabels()),
        duplicates(metrics
                       .AddCounter({p + "duplicates_total",
                                    "Re-delivered messages skipped (event id already applied)."})
                       .WithLabels()),
        dlq(metrics
                .AddCounter({p + "dlq_total",
                             "Messages that could not be applied, sent to sop.dlq.v1 with the "
                             "reason."})
                .WithLabels()),
        snapshots(
            metrics.AddCounter({p + "snapshots_total", "Partition snapshots written to Redis."})
                .WithLabels()),
        snapshot_errors(metrics
                            .AddCounter({p + "snapshot_errors_total",
                                         "Failed partition snapshot writes (retried, or fenced "
                                         "off)."})
                            .WithLabels()),
        fenced(metrics
                   .AddCounter({p + "fenced_partitions_total",
                                "Partitions dropped because another replica wrote a newer "
                                "snapshot."})
                   .WithLabels()),
        lag(metrics.AddGauge({p + "consumer_lag",
                              "Messages behind the high watermark, by topic and partition.",
                              {"topic", "partition"},
                              200})),
        processing(metrics
                       .AddHistogram({p + "processing_seconds",
                                      "Time to apply one consumed message (incl. immediate "
                                      "output)."})
                       .WithLabels()),
        batch(metrics
                  .AddHistogram({p + "batch_seconds",
                                 "Time to end a batch: the state's work, publish, acknowledge, "
                                 "snapshot."})
                  .WithLabels()),
        partitions(metrics.AddGauge({p + "state_partitions", "Partitions owned by this replica."})
                       .WithLabels()),
        healthy(
            metrics
                .AddGauge({p + "healthy", "1 while Kafka is reachable and Redis writable, else 0."})
                .WithLabels()) {}

  runtime::CounterFamily consumed;
  runtime::CounterFamily produced;
  runtime::Counter produce_errors;
  runtime::Counter duplicates;
  runtime::Counter dlq;
  runtime::Counter snapshots;
  runtime::Counter snapshot_errors;
  runtime::Counter fenced;
  runtime::GaugeFamily lag;
  runtime::Histogram processing;
  runtime::Histogram batch;
  runtime::Gauge partitions;
  runtime::Gauge healthy;
};

// ---- Locked -------------------------------------------------------------------------------

void PartitionedHost::Locked::Publish(std::vector<bus::OutgoingMessage> messages) {
  host_.PublishLocked(std::move(messages));
}

void PartitionedHost::Locked::MarkDirty(const PartitionKey& key) {
  auto it = host_.owned_.find(key);
  if (it == host_.owned_.end()) return;
  it->second.dirty = true;
  host_.OpenBatchLocked(Clock::now());
  host_.changed_.notify_all();
}

Status PartitionedHost::Locked::SnapshotNow(std::span<const PartitionKey> keys) {
  if (auto flushed = host_.FlushLocked(); !flushed) return flushed;
  return host_.SnapshotLocked(keys);
}

bool PartitionedHost::Locked::Owns(const PartitionKey& key) const {
  return host_.owned_.contains(key);
}

// ---- lifecycle ----------------------------------------------------------------------------

PartitionedHost::PartitionedHost(HostOptions options, PartitionedState& state,
                                 runtime::Logger& logger, runtime::MetricsRegistry& metrics)
    : options_(std::move(options)),
      state_(state),
      logger_(logger),
      probe_(std::make_unique<Probe>(metrics, "sop_" + options_.service + "_")),
      store_(options_.redis) {}

Result<std::unique_ptr<PartitionedHost>> PartitionedHost::Start(HostOptions options,
                                                                PartitionedState& state,
                                                                runtime::Logger& logger,
                                                                runtime::MetricsRegistry& metrics) {
  if (options.service.empty()) {
    return InvalidField("host.service", "must name the service", options.service);
  }
  if (options.group_id.empty()) {
    return InvalidField("kafka.group.id", "must not be empty", options.group_id);
  }
  if (options.topics.empty()) return InvalidField("host.topics", "must not be empty", "");
  std::unique_ptr<PartitionedHost> host(
      new PartitionedHost(std::move(options), state, logger, metrics));
  PartitionedHost& self = *host;

  bus::KafkaConfig producer_config = self.options_.kafka;
  for (const auto& [key, value] : self.options_.producer_defaults) {
    if (producer_config.Find(key) == nullptr) producer_config.Set(key, value);
  }
  bus::ProducerOptions producer_options;
  producer_options.on_error = [&self](const Error& error) {
    self.logger_.Error("producer error", {{"error", error.ToString()}});
  };
  auto producer = bus::Producer::Create(producer_config, std::move(producer_options));
  if (!producer) return std::unexpected(producer.error());
  self.producer_ = std::move(*producer);
  self.dead_letter_ = std::make_unique<bus::DeadLetter>(*self.producer_);

  auto admin = bus::TopicAdmin::Create(self.options_.kafka);
  if (!admin) return std::unexpected(admin.error());
  self.admin_ = std::move(*admin);

  bus::ConsumerOptions consumer_options;
  consumer_options.group_id = self.options_.group_id;
  consumer_options.topics = self.options_.topics;
  consumer_options.handler = [&self](const bus::Message& message) { return self.Handle(message); };
  consumer_options.on_rejected = [&self](const bus::Message& message, const Error& error) {
    return self.Reject(message, error);
  };
  consumer_options.listener = &self;
  auto consumer = bus::Consumer::Create(self.options_.kafka, std::move(consumer_options));
  if (!consumer) return std::unexpected(consumer.error());
  self.consumer_ = std::move(*consumer);

  self.probe_->healthy.Set(1);
  self.batch_thread_ = std::thread([&self] { self.BatchLoop(); });
  self.health_thread_ = std::thread([&self] { self.HealthLoop(); });
  if (auto started = self.consumer_->Start(); !started) {
    self.Stop(false);
    return std::unexpected(started.error());
  }
  self.logger_.Info("host started", {{"service", self.options_.service},
                                     {"instance", self.options_.instance},
                                     {"group", self.options_.group_id}});
  return host;
}

PartitionedHost::~PartitionedHost() {
  Stop(true);
}

void PartitionedHost::Stop(bool final_snapshot) {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    crashed_ = !final_snapshot;
  }
  // Intake first: the consumer finishes its message, commits and leaves; OnRevoked ends the
  // batch and snapshots the partitions unless this is a simulated crash.
  if (consumer_) consumer_->Stop();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (batch_thread_.joinable()) batch_thread_.join();
  if (health_thread_.joinable()) health_thread_.join();
  if (final_snapshot) {
    std::lock_guard lock(mutex_);
    EndBatchLocked();
  }
  if (producer_) {
    if (auto flushed = producer_->Flush(options_.flush_timeout); !flushed) {
      logger_.Error("producer flush at shutdown", {{"error", flushed.error().ToString()}});
    }
  }
}

std::string PartitionedHost::SnapshotName(const PartitionKey& key) const {
  return options_.service + "/" + key.topic + "/" + std::to_string(key.partition);
}

// ---- consumer thread ----------------------------------------------------------------------

Status PartitionedHost::Handle(const bus::Message& message) {
  const auto start = Clock::now();
  const PartitionKey key{message.topic, message.partition};
  bool applied_now = false;
  {
    std::lock_guard lock(mutex_);
    auto it = owned_.find(key);
    if (it == owned_.end()) {
      // Fenced off (another replica owns it now): applying would build state on a partition
      // whose earlier messages this replica no longer holds. Skip until the group moves it.
      logger_.Debug(
          "message of a partition this replica does not own skipped",
          {{"topic", message.topic}, {"partition", message.partition}, {"offset", message.offset}});
      return {};
    }
    auto applied = state_.Apply(message);
    if (!applied) return std::unexpected(applied.error());  // → retry, or Reject (dead letter)
    applied_now = *applied;
    ++counters_.consumed;
    if (applied_now) {
      ++counters_.applied;
    } else {
      ++counters_.duplicates;
    }
    it->second.next_offset = message.offset + 1;
    it->second.dirty = true;
    PublishLocked(state_.TakeImmediate());
    OpenBatchLocked(Clock::now());
  }
  changed_.notify_all();
  if (!applied_now) probe_->duplicates.Increment();
  probe_->consumed.WithLabels({message.topic}).Increment();
  probe_->processing.ObserveDuration(Clock::now() - start);
  return {};
}

Status PartitionedHost::Reject(const bus::Message& message, const Error& error) {
  logger_.Warn("message rejected to the dead-letter topic", {{"topic", message.topic},
                                                             {"partition", message.partition},
                                                             {"offset", message.offset},
                                                             {"error", error.ToString()}});
  auto sent = dead_letter_->Send(message, error);
  if (!sent) {
    logger_.Error(
        "dead letter not delivered; retrying the message",
        {{"topic", message.topic}, {"offset", message.offset}, {"error", sent.error().ToString()}});
    return sent;
  }
  probe_->dlq.Increment();
  probe_->consumed.WithLabels({message.topic}).Increment();
  {
    // The rejected message is done with: the snapshot's offset moves past it.
    std::lock_guard lock(mutex_);
    ++counters_.consumed;
    ++counters_.dead_lettered;
    if (auto it = owned_.find({message.topic, message.partition}); it != owned_.end()) {
      it->second.next_offset = message.offset + 1;
      it->second.dirty = true;
      OpenBatchLocked(Clock::now());
    }
  }
  changed_.notify_all();
  return {};
}

void PartitionedHost::OnAssigned(std::span<bus::AssignedPartition> partitions) {
  std::lock_guard lock(mutex_);
  for (bus::AssignedPartition& assigned : partitions) {
    const PartitionKey key{assigned.topic, assigned.partition};
    const std::string name = SnapshotName(key);
    Owned owned;
    auto stored = store_.GetSnapshot(name);
    if (!stored) {
      // Without the snapshot the state would silently miss messages: replay the whole log. The
      // sequence is unknown: it is read again before the first write.
      SetRedisOk(stored.error().code() != Errc::kUnavailable);
      logger_.Error("snapshot not readable; replaying the partition from the beginning",
                    {{"partition", name}, {"error", stored.error().ToString()}});
      owned.sequence_known = false;
      owned.next_offset = 0;
      assigned.start_offset = 0;
    } else if (!*stored) {
      owned.next_offset = 0;
      assigned.start_offset = 0;  // no state yet: every message of the partition is needed
    } else {
      const store::Snapshot& snapshot = **stored;
      owned.sequence = snapshot.sequence;
      std::int64_t start = 0;
      if (auto restored = state_.Restore(key, snapshot.state); !restored) {
        logger_.Error("snapshot not restorable; replaying the partition from the beginning",
                      {{"partition", name}, {"error", restored.error().ToString()}});
        state_.Drop(key);
      } else {
        for (const store::ConsumedOffset& offset : snapshot.offsets) {
          if (offset.topic == key.topic && offset.partition == key.partition) {
            start = offset.next_offset;
          }
        }
        ++counters_.restored_partitions;
        logger_.Info("partition restored",
                     {{"partition", name},
                      {"sequence", static_cast<std::int64_t>(snapshot.sequence)},
                      {"start_offset", start}});
      }
      owned.next_offset = start;
      assigned.start_offset = start;
    }
    owned_[key] = std::move(owned);
  }
  probe_->partitions.Set(static_cast<double>(owned_.size()));
  // Restored state is finished (e.g. re-planned) at the end of the next batch.
  OpenBatchLocked(Clock::now());
  changed_.notify_all();
}

void PartitionedHost::OnRevoked(std::span<const bus::TopicPartition> partitions) {
  std::lock_guard lock(mutex_);
  if (!crashed_) {
    CollectDirtyLocked();
    PublishLocked(state_.EndBatch());
    ++counters_.batches;
    std::vector<PartitionKey> keys;
    for (const auto& tp : partitions) {
      if (auto it = owned_.find(tp); it != owned_.end() && it->second.dirty) keys.push_back(tp);
    }
    if (auto flushed = FlushLocked(); !flushed) {
      logger_.Error("revoked partitions not snapshotted: output not acknowledged",
                    {{"error", flushed.error().ToString()}});
    } else if (auto saved = SnapshotLocked(keys); !saved) {
      logger_.Error("revoked partitions not all snapshotted; the next owner replays",
                    {{"error", saved.error().ToString()}});
    }
  }
  for (const auto& tp : partitions) {
    if (owned_.erase(tp) > 0) state_.Drop(tp);
  }
  probe_->partitions.Set(static_cast<double>(owned_.size()));
  OpenBatchLocked(Clock::now());
  changed_.notify_all();
}

void PartitionedHost::OnError(const Error& error) {
  logger_.Error("consumer error", {{"error", error.ToString()}});
  if (error.code() == Errc::kUnavailable) {
    std::lock_guard lock(mutex_);
    SetKafkaOk(false);
    changed_.notify_all();
  }
}

// ---- batches ------------------------------------------------------------------------------

void PartitionedHost::OpenBatchLocked(Clock::time_point last_message) {
  if (!batch_open_) {
    batch_open_ = true;
    batch_started_ = Clock::now();
  }
  last_message_ = last_message;
}

void PartitionedHost::BatchLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || batch_open_; });
    if (stopping_) return;
    // The batch ends when quiet for batch_quiet, or batch_max after it began.
    while (!stopping_) {
      const auto until =
          std::min(last_message_ + options_.batch_quiet, batch_started_ + options_.batch_max);
      if (Clock::now() >= until) break;
      changed_.wait_until(lock, until);
    }
    if (stopping_) return;
    EndBatchLocked();
  }
}

void PartitionedHost::CollectDirtyLocked() {
  for (const PartitionKey& key : state_.TakeDirtyPartitions()) {
    if (auto it = owned_.find(key); it != owned_.end()) it->second.dirty = true;
  }
}

void PartitionedHost::EndBatchLocked() {
  const auto start = Clock::now();
  batch_open_ = false;
  CollectDirtyLocked();
  PublishLocked(state_.EndBatch());
  ++counters_.batches;
  // The output is acknowledged before the snapshot records its input as done: a crash in
  // between redoes and re-publishes (at least once), never loses output.
  bool retry = false;
  const auto now = Clock::now();
  const bool snapshot_due = stopping_ || options_.snapshot_interval.count() == 0 ||
                            now - last_snapshot_ >= options_.snapshot_interval;
  if (!snapshot_due) {
    // Not yet: the dirty partitions wait for the interval (a batch ends again by then even if
    // the topics go quiet).
    if (std::ranges::any_of(owned_, [](const auto& entry) { return entry.second.dirty; })) {
      batch_open_ = true;
      batch_started_ = now;
      last_message_ = last_snapshot_ + options_.snapshot_interval - options_.batch_quiet;
    }
  } else if (auto flushed = FlushLocked(); !flushed) {
    logger_.Error("output not acknowledged; snapshot postponed",
                  {{"error", flushed.error().ToString()}});
    retry = true;
  } else {
    std::vector<PartitionKey> keys;
    for (const auto& [key, owned] : owned_) {
      if (owned.dirty) keys.push_back(key);
    }
    (void)SnapshotLocked(keys);
    last_snapshot_ = Clock::now();
    retry = std::ranges::any_of(owned_, [](const auto& entry) { return entry.second.dirty; });
  }
  if (retry && !stopping_) {
    // Try again after snapshot_retry even if no message arrives, so the state does not stay
    // unsaved while the topics are quiet.
    batch_open_ = true;
    batch_started_ = Clock::now();
    last_message_ = batch_started_ + options_.snapshot_retry;
  }
  probe_->batch.ObserveDuration(Clock::now() - start);
  changed_.notify_all();
}

void PartitionedHost::PublishLocked(std::vector<bus::OutgoingMessage> messages) {
  for (bus::OutgoingMessage& message : messages) {
    auto produced = probe_->produced.WithLabels({message.topic});
    producer_->Send(std::move(message), [this, produced](Result<bus::DeliveryReport> report) {
      if (report) {
        produced.Increment();
        return;
      }
      produce_errors_.fetch_add(1);
      probe_->produce_errors.Increment();
      logger_.Error("message not delivered", {{"error", report.error().ToString()}});
    });
    ++counters_.published;
  }
}

Status PartitionedHost::FlushLocked() {
  auto flushed = producer_->Flush(options_.flush_timeout);
  SetKafkaOk(flushed.has_value());
  return flushed;
}

Status PartitionedHost::SnapshotLocked(std::span<const PartitionKey> keys) {
  Status first_error;
  for (const PartitionKey& key : keys) {
    auto it = owned_.find(key);
    if (it == owned_.end()) continue;
    Owned& owned = it->second;
    const std::string name = SnapshotName(key);
    // Collect the event ids first so a failed write keeps them for the next attempt.
    for (std::string& id : state_.TakeNewEventIds(key)) owned.unsaved_ids.push_back(std::move(id));

    if (!owned.sequence_known || owned.uncertain) {
      // The last write's outcome (or the stored sequence) is unknown: read what is stored.
      auto stored = store_.GetSnapshot(name);
      if (!stored) {
        SetRedisOk(stored.error().code() != Errc::kUnavailable);
        ++counters_.snapshot_errors;
        probe_->snapshot_errors.Increment();
        if (first_error) first_error = std::unexpected(stored.error());
        continue;
      }
      const std::uint64_t seq = *stored ? (*stored)->sequence : 0;
      if (!owned.sequence_known) {
        owned.sequence = seq;
        owned.sequence_known = true;
      } else if (seq == owned.sequence + 1 && *stored &&
                 (*stored)->offsets == owned.uncertain_offsets) {
        // Our write landed, only its reply was lost: adopt it; its ids are marked.
        owned.sequence = seq;
        owned.unsaved_ids.erase(
            owned.unsaved_ids.begin(),
            owned.unsaved_ids.begin() + static_cast<std::ptrdiff_t>(std::min(
                                            owned.uncertain_ids, owned.unsaved_ids.size())));
      }
      owned.uncertain = false;
    }

    const std::string bytes = state_.Serialize(key);
    std::vector<store::ConsumedOffset> offsets;
    if (owned.next_offset >= 0) offsets.push_back({key.topic, key.partition, owned.next_offset});
    store::ApplyRequest request;
    request.state = bytes;
    request.offsets = offsets;
    request.event_ids = owned.unsaved_ids;
    request.expected_sequence = owned.sequence;
    auto written = store_.Apply(name, request);
    if (!written && written.error().code() == Errc::kAlreadyExists) {
      // Some ids are already marked (a replay after a lost snapshot): keep only the others.
      if (auto marked = store_.AppliedAmong(name, owned.unsaved_ids); marked) {
        std::vector<std::string> rest;
        for (std::size_t i = 0; i < owned.unsaved_ids.size(); ++i) {
          if (!(*marked)[i]) rest.push_back(owned.unsaved_ids[i]);
        }
        owned.unsaved_ids = std::move(rest);
        request.event_ids = owned.unsaved_ids;
        written = store_.Apply(name, request);
      }
    }
    if (written) {
      redis_write_failed_ = false;
      SetRedisOk(true);
      owned.sequence = *written;
      owned.unsaved_ids.clear();
      owned.dirty = false;
      ++counters_.snapshots;
      probe_->snapshots.Increment();
      continue;
    }
    ++counters_.snapshot_errors;
    probe_->snapshot_errors.Increment();
    if (first_error) first_error = std::unexpected(written.error());
    const Errc code = written.error().code();
    if (code == Errc::kFailedPrecondition) {
      // Another replica wrote a newer sequence: it owns the partition now. Never re-read and
      // overwrite its snapshot; drop what this replica holds for the partition.
      ++counters_.fenced;
      probe_->fenced.Increment();
      logger_.Warn("partition fenced off by another replica; its state is dropped here",
                   {{"partition", name},
                    {"expected_sequence", static_cast<std::int64_t>(owned.sequence)},
                    {"error", written.error().ToString()}});
      DropLocked(key);
      continue;
    }
    if (code == Errc::kUnavailable || code == Errc::kDeadlineExceeded) {
      redis_write_failed_ = true;
      SetRedisOk(false);
      owned.uncertain = true;
      owned.uncertain_offsets = offsets;
      owned.uncertain_ids = owned.unsaved_ids.size();
    }
    logger_.Error("snapshot not written; retried",
                  {{"partition", name}, {"error", written.error().ToString()}});
  }
  probe_->partitions.Set(static_cast<double>(owned_.size()));
  return first_error;
}

void PartitionedHost::DropLocked(const PartitionKey& key) {
  if (owned_.erase(key) > 0) state_.Drop(key);
  probe_->partitions.Set(static_cast<double>(owned_.size()));
  OpenBatchLocked(Clock::now());  // the state finishes the change (e.g. re-plans) next batch
}

// ---- health -------------------------------------------------------------------------------

void PartitionedHost::SetKafkaOk(bool ok) {
  kafka_ok_ = ok;
}

void PartitionedHost::SetRedisOk(bool ok) {
  redis_ok_ = ok;
}

void PartitionedHost::HealthLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    changed_.wait_for(lock, options_.health_interval, [&] { return stopping_; });
    if (stopping_) return;
    lock.unlock();
    // Probes outside the state's lock: both are bounded by their timeouts.
    const auto timeout = std::clamp(options_.health_interval, std::chrono::milliseconds(1'000),
                                    std::chrono::milliseconds(5'000));
    const bool kafka = CheckKafka(timeout);
    const bool redis = store_.Ping().has_value();
    for (const bus::PartitionLag& lag : consumer_->Lag()) {
      if (lag.lag) {
        probe_->lag.WithLabels({lag.topic, std::to_string(lag.partition)})
            .Set(static_cast<double>(*lag.lag));
      }
    }
    lock.lock();
    kafka_ok_ = kafka;
    // A failing snapshot write keeps Redis unhealthy until a write succeeds again, even if
    // PING answers.
    redis_ok_ = redis && !redis_write_failed_;
    const bool now = kafka_ok_ && redis_ok_;
    if (now != reported_healthy_) {
      probe_->healthy.Set(now ? 1 : 0);
      logger_.Warn("health changed",
                   {{"healthy", now}, {"kafka_ok", kafka_ok_}, {"redis_ok", redis_ok_}});
      if (options_.on_health_change) {
        lock.unlock();
        options_.on_health_change(now);
        lock.lock();
      }
      // Published only after the callback: whoever sees healthy() change sees it reported.
      reported_healthy_ = now;
      changed_.notify_all();
    }
  }
}

bool PartitionedHost::CheckKafka(std::chrono::milliseconds timeout) {
  // A metadata round trip. After a failure the client is made anew: librdkafka connects to a
  // broker that was down only on demand, and an idle metadata-only client can keep waiting
  // for a broker that came back (observed with the embedded broker).
  if (!admin_) {
    auto admin = bus::TopicAdmin::Create(options_.kafka);
    if (!admin) {
      logger_.Debug("kafka health check failed", {{"error", admin.error().ToString()}});
      return false;
    }
    admin_ = std::move(*admin);
  }
  auto listed = admin_->ListTopics(timeout);
  if (listed) return true;
  logger_.Debug("kafka health check failed", {{"error", listed.error().ToString()}});
  admin_.reset();
  return false;
}

bool PartitionedHost::healthy() const {
  std::lock_guard lock(mutex_);
  return reported_healthy_;
}

// ---- progress -----------------------------------------------------------------------------

HostProgress PartitionedHost::ProgressLocked() const {
  HostProgress out = counters_;
  out.produce_errors = produce_errors_.load();
  out.partitions = static_cast<std::int64_t>(owned_.size());
  out.pending = batch_open_ || state_.BatchPending() ||
                std::ranges::any_of(owned_, [](const auto& e) { return e.second.dirty; });
  out.healthy = reported_healthy_;
  return out;
}

HostProgress PartitionedHost::progress() const {
  std::lock_guard lock(mutex_);
  return ProgressLocked();
}

bool PartitionedHost::WaitFor(const std::function<bool(const HostProgress&)>& predicate,
                              std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return predicate(ProgressLocked()); });
}

bool PartitionedHost::WaitUntil(const std::function<bool()>& predicate,
                                std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, predicate);
}

std::vector<PartitionKey> PartitionedHost::owned() const {
  std::lock_guard lock(mutex_);
  std::vector<PartitionKey> out;
  for (const auto& [key, owned] : owned_) out.push_back(key);
  return out;
}

}  // namespace sop::host
