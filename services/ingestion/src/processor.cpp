#include "sop/ingestion/processor.hpp"

#include <google/protobuf/timestamp.pb.h>

#include <algorithm>
#include <cstdint>

#include "sop/bus/topics.hpp"
#include "sop/v1/planning.pb.h"
#include "state_codec.hpp"

namespace sop::ingestion {
namespace {

using Clock = std::chrono::steady_clock;

// Field 1 (envelope) of sop.v1.Fact, wire type 2 (length-delimited).
constexpr std::uint8_t kFactEnvelopeTag = (1 << 3) | 2;
static_assert(sop::v1::Fact::kEnvelopeFieldNumber == 1);

// The handler's arena: a 64 KiB block allocated once, kept across Reset (covers any envelope
// the generator makes; larger ones take extra blocks for that record only).
google::protobuf::ArenaOptions ArenaOptions() {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 64 * 1024;
  options.max_block_size = 1024 * 1024;
  return options;
}

void SetNow(google::protobuf::Timestamp* timestamp, std::chrono::system_clock::time_point now) {
  const auto since = now.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
  timestamp->set_seconds(seconds.count());
  timestamp->set_nanos(static_cast<std::int32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since - seconds).count()));
}

}  // namespace

IngestionProbe::IngestionProbe(runtime::MetricsRegistry& metrics)
    : consumed_family_(metrics.AddCounter({"sop_ingestion_consumed_total",
                                           "Records consumed from sop.erp.events.v1.",
                                           {"partition"}})),
      events_family_(
          metrics.AddCounter({"sop_ingestion_events_total",
                              "Events decided, by outcome (accepted, duplicate, rejected).",
                              {"outcome"}})),
      rejected_family_(metrics.AddCounter(
          {"sop_ingestion_rejected_total", "Rejected events by reason class.", {"reason"}})),
      lag_family_(metrics.AddGauge({"sop_ingestion_consumer_lag",
                                    "Records behind the high watermark, per partition.",
                                    {"partition"}})),
      accepted_(events_family_.WithLabels({"accepted"})),
      duplicates_(events_family_.WithLabels({"duplicate"})),
      facts_produced_(metrics
                          .AddCounter({"sop_ingestion_facts_produced_total",
                                       "Facts acknowledged by sop.facts.v1."})
                          .WithLabels()),
      dead_lettered_(
          metrics.AddCounter({"sop_ingestion_dlq_total", "Records dead-lettered to sop.dlq.v1."})
              .WithLabels()),
      publish_failures_(
          metrics
              .AddCounter({"sop_ingestion_publish_failures_total",
                           "Facts the broker did not acknowledge (service unhealthy)."})
              .WithLabels()),
      checkpoint_failures_(metrics
                               .AddCounter({"sop_ingestion_checkpoint_failures_total",
                                            "State snapshots that could not be written."})
                               .WithLabels()),
      processing_seconds_(metrics
                              .AddHistogram({"sop_ingestion_processing_seconds",
                                             "Time to decide and publish one record."},
                                            {1e-6, 5e-6, 2e-5, 1e-4, 5e-4, 2e-3, 1e-2, 0.1, 1})
                              .WithLabels()),
      checkpoint_seconds_(metrics
                              .AddHistogram({"sop_ingestion_checkpoint_seconds",
                                             "Time to flush facts and snapshot one partition."})
                              .WithLabels()),
      state_ids_(metrics
                     .AddGauge({"sop_ingestion_state_event_ids",
                                "Event ids held in the de-duplication windows."})
                     .WithLabels()),
      dedup_evicted_(metrics
                         .AddCounter({"sop_ingestion_dedup_evicted_total",
                                      "Event ids that left a de-duplication window (by count "
                                      "or age): beyond it a duplicate is decided again."})
                         .WithLabels()),
      dedup_window_seconds_(
          metrics
              .AddGauge({"sop_ingestion_dedup_window_seconds",
                         "Record time the smallest partition window covers (newest - oldest "
                         "id held): a duplicate sent back further may be decided again."})
              .WithLabels()) {}

runtime::Counter IngestionProbe::ConsumedCounter(std::int32_t partition) const {
  return consumed_family_.WithLabels({std::to_string(partition)});
}

void IngestionProbe::OnDecided(Outcome outcome, const std::optional<Violation>& violation) {
  switch (outcome) {
    case Outcome::kAccepted:
      accepted_.Increment();
      break;
    case Outcome::kDuplicate:
      duplicates_.Increment();
      break;
    case Outcome::kRejected:
      events_family_.WithLabels({"rejected"}).Increment();
      rejected_family_
          .WithLabels({violation ? ToString(violation->reason_class) : std::string_view("unknown")})
          .Increment();
      break;
  }
}

void IngestionProbe::SetLag(std::int32_t partition, double lag) {
  lag_family_.WithLabels({std::to_string(partition)}).Set(lag);
}

Processor::Processor(ProcessorOptions options, bus::Producer& producer, store::RedisStore& store,
                     IngestionProbe& probe, runtime::Logger& logger)
    : options_(std::move(options)),
      producer_(producer),
      store_(store),
      probe_(probe),
      logger_(logger),
      dead_letter_(producer),
      rejections_(&store, options_.rejected_ring),
      arena_(ArenaOptions()),
      last_owned_(owned_.end()) {
  fact_tail_.set_ingestion_instance(options_.instance);
}

Processor::~Processor() {
  Stop();
  (void)producer_.Flush(options_.flush_timeout);  // delivery callbacks reference this
}

std::string Processor::SnapshotName(const std::string& topic, std::int32_t partition) const {
  return options_.snapshot_prefix + "/" + topic + "/" + std::to_string(partition);
}

void Processor::RecordRejection(const sop::v1::Rejection& rejection, ReasonClass reason_class) {
  probe_.OnDecided(Outcome::kRejected,
                   Violation{reason_class, rejection.field(), rejection.reason()});
  probe_.OnDeadLettered();
  rejections_.Add(rejection);
  if (auto persisted = rejections_.Persist(); !persisted) {
    logger_.Warn("rejections not appended to redis log yet",
                 {{"error", persisted.error().ToString()}});
  }
}

Processor::Owned& Processor::OwnedFor(const bus::Message& message) {
  // Consecutive records mostly come from the same partition: skip the map lookup (and the key's
  // string copy) then. Map iterators stay valid until the entry is erased (OnRevoked resets).
  if (last_owned_ != owned_.end() && last_owned_->first.second == message.partition &&
      last_owned_->first.first == message.topic) {
    return last_owned_->second;
  }
  auto it = owned_.find(Key{message.topic, message.partition});
  if (it == owned_.end()) {
    // Assignment always precedes messages; a record without it is a broken invariant upstream.
    Owned owned;
    owned.state.applied_ids.SetRetention(options_.dedup);
    it = owned_.emplace(Key{message.topic, message.partition}, std::move(owned)).first;
  }
  last_owned_ = it;
  return it->second;
}

void Processor::Reject(const bus::Message& message, const sop::v1::Envelope& envelope,
                       const Violation& violation) {
  sop::v1::Rejection rejection;
  rejection.set_event_id(envelope.event_id());
  rejection.set_site(envelope.site().empty() && message.key ? *message.key : envelope.site());
  rejection.set_field(violation.field);
  rejection.set_reason(violation.reason);
  rejection.set_original(message.value);
  SetNow(rejection.mutable_rejected_at(), std::chrono::system_clock::now());
  rejection.set_source_topic(message.topic);
  rejection.set_source_partition(message.partition);
  rejection.set_source_offset(message.offset);
  // The dead letter is acknowledged before the checkpoint records the offset (the checkpoint
  // flushes the producer), so nothing is dropped silently and a burst of bad events does not
  // pay one broker round trip each.
  auto dead_letter = bus::DeadLetter::Build(
      message, Error(Errc::kInvalidArgument, violation.field + ": " + violation.reason),
      bus::kDeadLetterTopic, std::chrono::system_clock::now());
  producer_.Send(std::move(dead_letter),
                 [this, offset = message.offset](Result<bus::DeliveryReport> report) {
                   if (report) {
                     probe_.OnDeadLettered();
                     return;
                   }
                   failed_deliveries_.fetch_add(1);
                   healthy_.store(false);
                   probe_.OnPublishFailure();
                   logger_.Error("dead letter not delivered; checkpoints withheld until restart",
                                 {{"source_offset", offset}, {"error", report.error().ToString()}});
                 });
  probe_.OnDecided(Outcome::kRejected, violation);
  rejections_.Add(rejection);
  outcomes_.Resolve(envelope.event_id(), Outcome::kRejected, &rejection);
}

void Processor::Publish(const bus::Message& message, const sop::v1::Envelope& envelope,
                        bool normalized) {
  // Fact = envelope (field 1) + ingested_at + ingestion_instance. The fields are written in
  // order by hand around the envelope's bytes: when normalization changed nothing, the record's
  // own bytes are the envelope (no re-serialization).
  std::string value;
  const std::size_t envelope_size = normalized ? envelope.ByteSizeLong() : message.value.size();
  value.reserve(envelope_size + fact_tail_.ByteSizeLong() + 32);
  value.push_back(static_cast<char>(kFactEnvelopeTag));
  detail::PutVarint(value, envelope_size);
  if (normalized) {
    envelope.AppendToString(&value);
  } else {
    value.append(message.value);
  }
  SetNow(fact_tail_.mutable_ingested_at(), std::chrono::system_clock::now());
  fact_tail_.AppendToString(&value);
  // The callback captures only what fits std::function's inline buffer (no allocation).
  producer_.Send(
      bus::OutgoingMessage{
          .topic = facts_topic_, .key = envelope.site(), .value = std::move(value)},
      [this, offset = message.offset](Result<bus::DeliveryReport> report) {
        if (report) {
          probe_.OnFactProduced();
          return;
        }
        failed_deliveries_.fetch_add(1);
        healthy_.store(false);
        probe_.OnPublishFailure();
        logger_.Error("fact not delivered; checkpoints withheld until restart",
                      {{"source_offset", offset}, {"error", report.error().ToString()}});
      });
  probe_.OnDecided(Outcome::kAccepted, std::nullopt);
  outcomes_.Resolve(envelope.event_id(), Outcome::kAccepted, nullptr);
}

Status Processor::Handle(const bus::Message& message) {
  const auto started = Clock::now();
  std::unique_lock lock(mutex_);
  Owned& owned = OwnedFor(message);
  if (!owned.consumed) owned.consumed = probe_.ConsumedCounter(message.partition);
  owned.consumed->Increment();

  // Back-pressure: bound what the producer buffers (facts and dead letters not yet acked). Wait
  // until half of it is acknowledged rather than all of it, so the broker never runs dry.
  if (producer_.OutstandingCount() > options_.max_outstanding) {
    const auto give_up = Clock::now() + options_.flush_timeout;
    while (producer_.OutstandingCount() > options_.max_outstanding / 2 && Clock::now() < give_up) {
      (void)producer_.Flush(std::chrono::milliseconds(5));
    }
  }
  // One arena per record: the envelope's strings and sub-messages come from its block, which is
  // reused, instead of a malloc/free each.
  arena_.Reset();
  auto* envelope = google::protobuf::Arena::CreateMessage<sop::v1::Envelope>(&arena_);
  const std::int64_t at_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(message.timestamp.time_since_epoch())
          .count();
  Verdict verdict = DecideInto(message.value, at_ms, owned.state, *envelope);
  switch (verdict.outcome) {
    case Outcome::kRejected:
      Reject(message, *envelope, *verdict.violation);
      break;
    case Outcome::kAccepted:
      Publish(message, *envelope, verdict.normalized);
      break;
    case Outcome::kDuplicate:
      probe_.OnDecided(Outcome::kDuplicate, std::nullopt);
      outcomes_.Resolve(envelope->event_id(), Outcome::kDuplicate, nullptr);
      break;
  }

  Owned& current = owned;  // revocation runs on this thread: the entry is still there
  const auto now = Clock::now();
  if (current.unsnapshotted == 0) current.dirty_since = now;
  current.next_offset = message.offset + 1;
  ++current.unsnapshotted;
  probe_.ObserveProcessing(now - started);
  if (current.unsnapshotted >= options_.checkpoint_records ||
      now - current.dirty_since >= options_.checkpoint_interval) {
    if (auto done = Checkpoint(last_owned_->first, current); !done) {
      logger_.Warn("checkpoint failed", {{"error", done.error().ToString()}});
    }
  }
  return {};
}

Status Processor::Checkpoint(const Key& key, Owned& owned) {
  if (owned.unsnapshotted == 0 || owned.next_offset < 0) return {};
  const auto started = Clock::now();
  if (failed_deliveries_.load() > 0) {
    probe_.OnCheckpointFailure();
    return Fail(Errc::kFailedPrecondition, "a fact was not delivered; snapshot withheld");
  }
  // Every fact of the handled records must be acknowledged before the offset is recorded.
  if (auto flushed = producer_.Flush(options_.flush_timeout); !flushed) {
    probe_.OnCheckpointFailure();
    return flushed;
  }
  if (failed_deliveries_.load() > 0) {
    probe_.OnCheckpointFailure();
    return Fail(Errc::kFailedPrecondition, "a fact was not delivered; snapshot withheld");
  }
  const std::string state = owned.state.Encode();
  const store::ConsumedOffset offset{key.first, key.second, owned.next_offset};
  auto applied = store_.Apply(SnapshotName(key.first, key.second),
                              {.state = state,
                               .offsets = std::span<const store::ConsumedOffset>(&offset, 1),
                               .expected_sequence = owned.sequence});
  redis_ok_.store(applied.has_value() || applied.error().code() != Errc::kUnavailable);
  if (!applied) {
    probe_.OnCheckpointFailure();
    if (applied.error().code() == Errc::kFailedPrecondition) healthy_.store(false);  // fenced
    return std::unexpected(applied.error());
  }
  owned.sequence = *applied;
  owned.unsnapshotted = 0;
  if (auto persisted = rejections_.Persist(); !persisted) {
    logger_.Warn("rejections not appended to redis log yet",
                 {{"error", persisted.error().ToString()}});
  }
  probe_.OnCheckpoint(Clock::now() - started);
  UpdateStateGauge();
  return {};
}

void Processor::UpdateStateGauge() {
  std::size_t ids = 0;
  double span_seconds = -1;
  for (auto& [key, owned] : owned_) {
    const DedupWindow& window = owned.state.applied_ids;
    ids += window.size();
    if (window.evicted() > owned.evicted_reported) {
      probe_.OnDedupEvicted(window.evicted() - owned.evicted_reported);
      owned.evicted_reported = window.evicted();
    }
    if (window.oldest_ms() != DedupWindow::kUnknownTime &&
        window.newest_ms() != DedupWindow::kUnknownTime) {
      const double span = static_cast<double>(window.newest_ms() - window.oldest_ms()) / 1e3;
      if (span_seconds < 0 || span < span_seconds) span_seconds = span;
    }
  }
  probe_.SetStateIds(static_cast<double>(ids));
  probe_.SetDedupWindowSeconds(std::max(0.0, span_seconds));
}

void Processor::OnAssigned(std::span<bus::AssignedPartition> partitions) {
  for (auto& partition : partitions) {
    const std::string name = SnapshotName(partition.topic, partition.partition);
    Owned owned;
    owned.state.applied_ids.SetRetention(options_.dedup);
    // Without the snapshot the de-duplication set is unknown: keep trying (the consumer thread
    // waits; past max.poll.interval.ms the group moves the partition elsewhere).
    for (int attempt = 0;; ++attempt) {
      auto snapshot = store_.GetSnapshot(name);
      redis_ok_.store(snapshot.has_value());
      if (snapshot) {
        if (*snapshot) {
          auto state = PartitionState::Decode((*snapshot)->state, options_.dedup);
          if (!state) {
            logger_.Error("snapshot unreadable; starting empty",
                          {{"snapshot", name}, {"error", state.error().ToString()}});
          } else {
            owned.state = std::move(*state);
          }
          owned.sequence = (*snapshot)->sequence;
          for (const auto& offset : (*snapshot)->offsets) {
            if (offset.topic == partition.topic && offset.partition == partition.partition)
              partition.start_offset = offset.next_offset;
          }
        }
        break;
      }
      {
        std::unique_lock lock(timer_mutex_);
        if (stopping_) break;
        timer_wake_.wait_for(
            lock, std::chrono::milliseconds(std::min(100 << std::min(attempt, 5), 2000)));
      }
      logger_.Warn("snapshot read failed, retrying",
                   {{"snapshot", name}, {"error", snapshot.error().ToString()}});
    }
    logger_.Info("partition assigned", {{"topic", partition.topic},
                                        {"partition", partition.partition},
                                        {"start_offset", partition.start_offset.value_or(-1)},
                                        {"event_ids", owned.state.applied_ids.size()},
                                        {"sequence", owned.sequence}});
    std::lock_guard lock(mutex_);
    owned_[{partition.topic, partition.partition}] = std::move(owned);
    last_owned_ = owned_.end();
    UpdateStateGauge();
  }
}

void Processor::OnRevoked(std::span<const bus::TopicPartition> partitions) {
  std::lock_guard lock(mutex_);
  for (const auto& partition : partitions) {
    const Key key{partition.topic, partition.partition};
    const auto it = owned_.find(key);
    if (it == owned_.end()) continue;
    if (auto done = Checkpoint(key, it->second); !done) {
      logger_.Error("checkpoint on revocation failed",
                    {{"partition", partition.partition}, {"error", done.error().ToString()}});
    }
    owned_.erase(it);
    last_owned_ = owned_.end();
  }
  UpdateStateGauge();
}

void Processor::OnError(const Error& error) {
  logger_.Error("consumer error", {{"error", error.ToString()}});
}

void Processor::Start(std::function<std::vector<bus::PartitionLag>()> lag) {
  lag_ = std::move(lag);
  timer_ = std::thread([this] { TimerLoop(); });
}

void Processor::TimerLoop() {
  std::unique_lock timer_lock(timer_mutex_);
  while (!timer_wake_.wait_for(timer_lock, options_.checkpoint_interval,
                               [this] { return stopping_; })) {
    timer_lock.unlock();
    bool touched_redis = false;
    {
      std::lock_guard lock(mutex_);
      const auto now = Clock::now();
      for (auto& [key, owned] : owned_) {
        if (owned.unsnapshotted > 0 && now - owned.dirty_since >= options_.checkpoint_interval) {
          touched_redis = true;
          if (auto done = Checkpoint(key, owned); !done) {
            logger_.Warn("timed checkpoint failed", {{"error", done.error().ToString()}});
          }
        }
      }
    }
    // An idle replica still reports a lost Redis (it would need it for the next snapshot).
    if (!touched_redis) redis_ok_.store(store_.Ping().has_value());
    if (const bool now_healthy = healthy(); now_healthy != reported_healthy_) {
      reported_healthy_ = now_healthy;
      logger_.Warn("health changed", {{"healthy", now_healthy}});
      if (options_.on_health_change) options_.on_health_change(now_healthy);
    }
    if (lag_) {
      for (const auto& partition : lag_()) {
        if (partition.lag) probe_.SetLag(partition.partition, static_cast<double>(*partition.lag));
      }
    }
    timer_lock.lock();
  }
}

void Processor::Stop() {
  {
    std::lock_guard lock(timer_mutex_);
    if (stopping_ && !timer_.joinable()) {
      // Already stopped; still checkpoint below (idempotent: nothing unsnapshotted).
    }
    stopping_ = true;
  }
  timer_wake_.notify_all();
  if (timer_.joinable()) timer_.join();
  std::lock_guard lock(mutex_);
  for (auto& [key, owned] : owned_) {
    if (auto done = Checkpoint(key, owned); !done) {
      logger_.Error("final checkpoint failed",
                    {{"partition", key.second}, {"error", done.error().ToString()}});
    }
  }
}

}  // namespace sop::ingestion
