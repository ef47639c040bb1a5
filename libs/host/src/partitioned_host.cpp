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
        data_loss(metrics
                      .AddCounter({p + "data_loss_total",
                                   "Partitions stopped because the offset to consume from is no "
                                   "longer in the log (never skipped silently)."})
                      .WithLabels()),
        lag(metrics.AddGauge({p + "consumer_lag",
                              "Messages behind the high watermark, by topic and partition.",
                              {"topic", "partition"},
                              200})),
        processing(metrics
                       .AddHistogram({p + "processing_seconds",
                                      "Time to apply one consumed message (its immediate output "
                                      "is taken at the drain: drain_seconds)."})
                       .WithLabels()),
        drain(metrics
                  .AddHistogram({p + "drain_seconds",
                                 "Time to take and publish the immediate output of the messages "
                                 "applied since the last drain (one burst)."})
                  .WithLabels()),
        batch(metrics
                  .AddHistogram({p + "batch_seconds",
                                 "Time to end a batch: the state's work, publish, acknowledge, "
                                 "snapshot."})
                  .WithLabels()),
        batch_locked(metrics
                         .AddHistogram({p + "batch_locked_seconds",
                                        "Time a batch end holds the state's lock (the state's "
                                        "work, publish, serialization; not the acknowledgement "
                                        "wait and the snapshot writes)."})
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
  runtime::Counter data_loss;
  runtime::GaugeFamily lag;
  runtime::Histogram processing;
  runtime::Histogram drain;
  runtime::Histogram batch;
  runtime::Histogram batch_locked;
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
  host_.WaitNotWriting(lock_);
  host_.DrainLocked();  // output of what the snapshots record as consumed goes out first
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
  consumer_options.co_partitioned = self.options_.co_partitioned;
  consumer_options.handler = [&self](const bus::Message& message) { return self.Handle(message); };
  consumer_options.on_rejected = [&self](const bus::Message& message, const Error& error) {
    return self.Reject(message, error);
  };
  consumer_options.on_drained = [&self] { self.OnDrained(); };
  consumer_options.drain_max_messages = self.options_.drain_max_messages;
  consumer_options.drain_max_interval = self.options_.drain_max_interval;
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
    std::unique_lock lock(mutex_);
    EndBatchLocked(lock, /*unlock_for_writes=*/false);
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
    ++undrained_;  // its immediate output is taken at the drain (OnDrained)
    OpenBatchLocked(Clock::now());
  }
  changed_.notify_all();
  if (!applied_now) probe_->duplicates.Increment();
  probe_->consumed.WithLabels({message.topic}).Increment();
  probe_->processing.ObserveDuration(Clock::now() - start);
  return {};
}

void PartitionedHost::OnDrained() {
  const auto start = Clock::now();
  {
    std::lock_guard lock(mutex_);
    if (undrained_ == 0) return;
    DrainLocked();
  }
  changed_.notify_all();
  probe_->drain.ObserveDuration(Clock::now() - start);
}

void PartitionedHost::DrainLocked() {
  if (undrained_ == 0) return;
  undrained_ = 0;
  // A simulated crash (Stop(false)) publishes nothing more, as a killed process would not.
  if (crashed_) return;
  ++counters_.drains;
  PublishLocked(state_.TakeImmediate());
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
  std::unique_lock lock(mutex_);
  WaitNotWriting(lock);
  for (bus::AssignedPartition& assigned : partitions) {
    const PartitionKey key{assigned.topic, assigned.partition};
    const std::string name = SnapshotName(key);
    Owned owned;
    owned.epoch = ++epochs_;
    auto stored = store_.GetSnapshot(name);
    if (!stored) {
      // Without the snapshot the state would silently miss messages: replay the whole log. The
      // sequence is unknown: it is read again before the first write.
      SetRedisOk(stored.error().code() != Errc::kUnavailable);
      logger_.Error("snapshot not readable; replaying the partition from the beginning",
                    {{"partition", name}, {"error", stored.error().ToString()}});
      owned.cursor.sequence_known = false;
      owned.next_offset = 0;
      assigned.start_offset = 0;
    } else if (!*stored) {
      owned.next_offset = 0;
      assigned.start_offset = 0;  // no state yet: every message of the partition is needed
    } else {
      const store::Snapshot& snapshot = **stored;
      owned.cursor.sequence = snapshot.sequence;
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
  std::unique_lock lock(mutex_);
  WaitNotWriting(lock);
  if (!crashed_) {
    DrainLocked();  // the consumer drained before revoking; kept for any other caller
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
  if (error.code() == Errc::kDataLoss) {
    // The offset to consume from is gone from the log (retention, a broker that lost its data,
    // a snapshot offset past the log end). The consumer stopped the partition rather than
    // reset it: the state would silently miss those messages. An operator decides.
    logger_.Error("partition stopped: its offset is no longer in the log (data loss)",
                  {{"instance", options_.instance}, {"error", error.ToString()}});
    probe_->data_loss.Increment();
    std::lock_guard lock(mutex_);
    ++counters_.data_loss;
    changed_.notify_all();
    return;
  }
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
    EndBatchLocked(lock, options_.write_snapshots_unlocked);
  }
}

void PartitionedHost::CollectDirtyLocked() {
  for (const PartitionKey& key : state_.TakeDirtyPartitions()) {
    if (auto it = owned_.find(key); it != owned_.end()) it->second.dirty = true;
  }
}

void PartitionedHost::EndBatchLocked(std::unique_lock<std::mutex>& lock, bool unlock_for_writes) {
  const auto start = Clock::now();
  batch_open_ = false;
  // What was applied but not yet drained is published before EndBatch and before the snapshot
  // records it as consumed (the consumer thread may not have reached its drain yet).
  DrainLocked();
  CollectDirtyLocked();
  PublishLocked(state_.EndBatch());
  ++counters_.batches;
  // The output is acknowledged before the snapshot records its input as done: a crash in
  // between redoes and re-publishes (at least once), never loses output.
  bool retry = false;
  const auto now = Clock::now();
  const bool snapshot_due = stopping_ || options_.snapshot_interval.count() == 0 ||
                            now - last_snapshot_ >= options_.snapshot_interval;
  auto locked_for = Clock::now() - start;
  if (!snapshot_due) {
    // Not yet: the dirty partitions wait for the interval (a batch ends again by then even if
    // the topics go quiet).
    if (std::ranges::any_of(owned_, [](const auto& entry) { return entry.second.dirty; })) {
      batch_open_ = true;
      batch_started_ = now;
      last_message_ = last_snapshot_ + options_.snapshot_interval - options_.batch_quiet;
    }
    locked_for = Clock::now() - start;
  } else if (!unlock_for_writes) {
    if (auto flushed = FlushLocked(); !flushed) {
      logger_.Error("output not acknowledged; snapshot postponed",
                    {{"error", flushed.error().ToString()}});
      retry = true;
    } else {
      std::vector<PartitionKey> keys;
      for (const auto& [key, owned] : owned_) {
        if (owned.dirty) keys.push_back(key);
      }
      if (!SnapshotLocked(keys)) retry = true;
      last_snapshot_ = Clock::now();
    }
    locked_for = Clock::now() - start;
  } else {
    // Take the snapshots now (a consistent copy: state, offsets and event ids of the same
    // moment), then wait for the output and write them without the lock, so messages keep
    // being applied meanwhile. What is applied during the write is in the next snapshot.
    std::vector<SnapshotJob> jobs;
    for (auto& [key, owned] : owned_) {
      if (owned.dirty) jobs.push_back(PrepareLocked(key, owned));
    }
    const std::uint64_t published = published_seq_;
    writing_ = true;
    locked_for = Clock::now() - start;
    lock.unlock();
    Status acknowledged = WaitAcknowledged(published);
    if (acknowledged) {
      for (SnapshotJob& job : jobs) Write(job);
    }
    lock.lock();
    writing_ = false;
    const auto relocked = Clock::now();
    SetKafkaOk(acknowledged.has_value());
    if (!acknowledged) {
      logger_.Error("output not acknowledged; snapshot postponed",
                    {{"error", acknowledged.error().ToString()}});
      for (SnapshotJob& job : jobs) {
        // Not written: the partition keeps its cursor (and the ids) for the next attempt.
        if (auto it = owned_.find(job.key); it != owned_.end() && it->second.epoch == job.epoch) {
          it->second.cursor = std::move(job.cursor);
          it->second.dirty = true;
        }
      }
      retry = true;
    } else {
      for (SnapshotJob& job : jobs) {
        if (!FinishLocked(std::move(job))) retry = true;
      }
      last_snapshot_ = Clock::now();
    }
    locked_for += Clock::now() - relocked;
  }
  if (retry && !stopping_) {
    // Try again after snapshot_retry even if no message arrives, so the state does not stay
    // unsaved while the topics are quiet.
    batch_open_ = true;
    batch_started_ = Clock::now();
    last_message_ = batch_started_ + options_.snapshot_retry;
  }
  probe_->batch.ObserveDuration(Clock::now() - start);
  probe_->batch_locked.ObserveDuration(locked_for);
  changed_.notify_all();
}

void PartitionedHost::PublishLocked(std::vector<bus::OutgoingMessage> messages) {
  for (bus::OutgoingMessage& message : messages) {
    auto produced = probe_->produced.WithLabels({message.topic});
    const std::uint64_t number = ++published_seq_;
    {
      std::lock_guard lock(ack_mutex_);
      unacknowledged_.insert(number);
    }
    producer_->Send(
        std::move(message), [this, produced, number](Result<bus::DeliveryReport> report) {
          if (report) {
            produced.Increment();
          } else {
            produce_errors_.fetch_add(1);
            probe_->produce_errors.Increment();
            logger_.Error("message not delivered", {{"error", report.error().ToString()}});
          }
          {
            std::lock_guard lock(ack_mutex_);
            unacknowledged_.erase(number);
          }
          acked_.notify_all();
        });
    ++counters_.published;
  }
}

Status PartitionedHost::WaitAcknowledged(std::uint64_t sequence) {
  // Like Flush, a failed delivery counts as reported (it is counted and logged); unlike Flush,
  // messages published after `sequence` (by Apply meanwhile) are not waited for.
  std::unique_lock lock(ack_mutex_);
  const bool done = acked_.wait_for(lock, options_.flush_timeout, [&] {
    return unacknowledged_.empty() || *unacknowledged_.begin() > sequence;
  });
  if (done) return {};
  return Fail(Errc::kDeadlineExceeded, "producer: " + std::to_string(unacknowledged_.size()) +
                                           " message(s) not acknowledged within " +
                                           std::to_string(options_.flush_timeout.count()) + " ms");
}

void PartitionedHost::WaitNotWriting(std::unique_lock<std::mutex>& lock) {
  changed_.wait(lock, [&] { return !writing_; });
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
    SnapshotJob job = PrepareLocked(key, it->second);
    Write(job);
    if (auto finished = FinishLocked(std::move(job)); !finished && first_error) {
      first_error = finished;
    }
  }
  return first_error;
}

PartitionedHost::SnapshotJob PartitionedHost::PrepareLocked(const PartitionKey& key, Owned& owned) {
  SnapshotJob job;
  job.key = key;
  job.name = SnapshotName(key);
  job.epoch = owned.epoch;
  // Collect the event ids first so a failed write keeps them for the next attempt.
  for (std::string& id : state_.TakeNewEventIds(key)) {
    owned.cursor.unsaved_ids.push_back(std::move(id));
  }
  job.bytes = state_.Serialize(key);
  if (owned.next_offset >= 0) job.offsets.push_back({key.topic, key.partition, owned.next_offset});
  job.cursor = std::move(owned.cursor);
  owned.cursor = WriteCursor{};
  owned.dirty = false;  // applies from now on make it dirty again (the next snapshot)
  return job;
}

void PartitionedHost::Write(SnapshotJob& job) {
  WriteCursor& cursor = job.cursor;
  if (!cursor.sequence_known || cursor.uncertain) {
    // The last write's outcome (or the stored sequence) is unknown: read what is stored.
    auto stored = store_.GetSnapshot(job.name);
    if (!stored) {
      job.redis_ok = stored.error().code() != Errc::kUnavailable;
      job.result = std::unexpected(stored.error());
      return;
    }
    const std::uint64_t seq = *stored ? (*stored)->sequence : 0;
    if (!cursor.sequence_known) {
      cursor.sequence = seq;
      cursor.sequence_known = true;
    } else if (seq == cursor.sequence + 1 && *stored &&
               (*stored)->offsets == cursor.uncertain_offsets) {
      // Our write landed, only its reply was lost: adopt it; its ids are marked.
      cursor.sequence = seq;
      cursor.unsaved_ids.erase(
          cursor.unsaved_ids.begin(),
          cursor.unsaved_ids.begin() + static_cast<std::ptrdiff_t>(std::min(
                                           cursor.uncertain_ids, cursor.unsaved_ids.size())));
    }
    cursor.uncertain = false;
  }

  store::ApplyRequest request;
  request.state = job.bytes;
  request.offsets = job.offsets;
  request.event_ids = cursor.unsaved_ids;
  request.expected_sequence = cursor.sequence;
  auto written = store_.Apply(job.name, request);
  if (!written && written.error().code() == Errc::kAlreadyExists) {
    // Some ids are already marked (a replay after a lost snapshot): keep only the others.
    if (auto marked = store_.AppliedAmong(job.name, cursor.unsaved_ids); marked) {
      std::vector<std::string> rest;
      for (std::size_t i = 0; i < cursor.unsaved_ids.size(); ++i) {
        if (!(*marked)[i]) rest.push_back(cursor.unsaved_ids[i]);
      }
      cursor.unsaved_ids = std::move(rest);
      request.event_ids = cursor.unsaved_ids;
      written = store_.Apply(job.name, request);
    }
  }
  if (written) {
    cursor.sequence = *written;
    cursor.unsaved_ids.clear();
    job.result = {};
    return;
  }
  const Errc code = written.error().code();
  if (code == Errc::kUnavailable || code == Errc::kDeadlineExceeded) {
    job.redis_ok = false;
    job.write_unavailable = true;
    cursor.uncertain = true;
    cursor.uncertain_offsets = job.offsets;
    cursor.uncertain_ids = cursor.unsaved_ids.size();
  }
  job.result = std::unexpected(written.error());
}

Status PartitionedHost::FinishLocked(SnapshotJob job) {
  auto it = owned_.find(job.key);
  if (it == owned_.end() || it->second.epoch != job.epoch) {
    // No longer this assignment of the partition (cannot happen while writes are serialized
    // with assignment changes; kept as a guard): nothing to record.
    return job.result;
  }
  Owned& owned = it->second;
  // Ids taken by the state while the write ran (PrepareLocked of a later snapshot has not run:
  // one write per partition at a time) stay with the state until then.
  owned.cursor = std::move(job.cursor);
  if (job.result) {
    redis_write_failed_ = false;
    SetRedisOk(true);
    ++counters_.snapshots;
    probe_->snapshots.Increment();
    return {};
  }
  const Error& error = job.result.error();
  owned.dirty = true;
  ++counters_.snapshot_errors;
  probe_->snapshot_errors.Increment();
  if (!job.redis_ok) SetRedisOk(false);
  if (job.write_unavailable) redis_write_failed_ = true;
  if (error.code() == Errc::kFailedPrecondition) {
    // Another replica wrote a newer sequence: it owns the partition now. Never re-read and
    // overwrite its snapshot; drop what this replica holds for the partition.
    ++counters_.fenced;
    probe_->fenced.Increment();
    logger_.Warn("partition fenced off by another replica; its state is dropped here",
                 {{"partition", job.name},
                  {"expected_sequence", static_cast<std::int64_t>(owned.cursor.sequence)},
                  {"error", error.ToString()}});
    DropLocked(job.key);
    return job.result;
  }
  logger_.Error("snapshot not written; retried",
                {{"partition", job.name}, {"error", error.ToString()}});
  return job.result;
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
  out.undrained = undrained_;
  out.pending = batch_open_ || writing_ || undrained_ > 0 || state_.BatchPending() ||
                std::ranges::any_of(owned_, [](const auto& e) { return e.second.dirty; });
  out.writing = writing_;
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
