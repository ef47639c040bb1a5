#include "sop/forecasting/service.hpp"

#include <algorithm>

#include "sop/bus/topics.hpp"
#include "sop/runtime/grpc_status.hpp"

namespace sop::forecasting {

using Clock = std::chrono::steady_clock;

namespace {
constexpr auto kSnapshotRetryDelay = std::chrono::seconds(1);
constexpr auto kFlushTimeout = std::chrono::seconds(10);

Seconds WallNow() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}
}  // namespace

// The only place that knows the metric names; business code calls its handles.
struct ForecastingService::Probe {
  explicit Probe(runtime::MetricsRegistry& metrics)
      : consumed(metrics.AddCounter(
            {"sop_forecasting_consumed_total", "Messages consumed, by topic.", {"topic"}, 20})),
        duplicates(metrics
                       .AddCounter({"sop_forecasting_duplicate_facts_total",
                                    "Re-delivered facts skipped (event id already applied)."})
                       .WithLabels()),
        produced(metrics.AddCounter({"sop_forecasting_produced_total",
                                     "ForecastUpdate messages acknowledged on sop.forecast.v1, "
                                     "by site.",
                                     {"site"},
                                     100})),
        produce_errors(metrics
                           .AddCounter({"sop_forecasting_produce_errors_total",
                                        "ForecastUpdate messages the broker did not acknowledge."})
                           .WithLabels()),
        dlq(metrics
                .AddCounter({"sop_forecasting_dlq_total",
                             "Messages that could not be decoded, sent to sop.dlq.v1."})
                .WithLabels()),
        adjustments(metrics
                        .AddCounter({"sop_forecasting_adjustments_total",
                                     "Forecast adjustments recorded through AdjustForecast."})
                        .WithLabels()),
        forecast_errors(metrics
                            .AddCounter({"sop_forecasting_forecast_errors_total",
                                         "Series libs/forecast refused to forecast."})
                            .WithLabels()),
        snapshot_errors(metrics
                            .AddCounter({"sop_forecasting_snapshot_errors_total",
                                         "Failed snapshot writes to Redis (retried)."})
                            .WithLabels()),
        processing(metrics
                       .AddHistogram({"sop_forecasting_processing_seconds",
                                      "Time to apply one consumed message."})
                       .WithLabels()),
        batch(metrics
                  .AddHistogram({"sop_forecasting_batch_seconds",
                                 "Time to end a batch: re-forecast, publish, snapshot."})
                  .WithLabels()),
        lag(metrics.AddGauge({"sop_forecasting_consumer_lag",
                              "Messages behind the high watermark, by topic and partition.",
                              {"topic", "partition"},
                              200})),
        item_sites(metrics
                       .AddGauge({"sop_forecasting_state_item_sites",
                                  "Item-sites held for the owned partitions."})
                       .WithLabels()) {}

  runtime::CounterFamily consumed;
  runtime::Counter duplicates;
  runtime::CounterFamily produced;
  runtime::Counter produce_errors;
  runtime::Counter dlq;
  runtime::Counter adjustments;
  runtime::Counter forecast_errors;
  runtime::Counter snapshot_errors;
  runtime::Histogram processing;
  runtime::Histogram batch;
  runtime::GaugeFamily lag;
  runtime::Gauge item_sites;
};

// sop.v1.Forecasting: decode → ForecastingService → encode; errors through runtime's mapping.
class ForecastingService::GrpcImpl final : public sop::v1::Forecasting::Service {
 public:
  explicit GrpcImpl(ForecastingService& service) : service_(service) {}

  grpc::Status GetForecast(grpc::ServerContext*, const sop::v1::GetForecastRequest* request,
                           sop::v1::GetForecastResponse* response) override {
    return Answer(service_.GetForecast(*request), response);
  }
  grpc::Status AdjustForecast(grpc::ServerContext*, const sop::v1::AdjustForecastRequest* request,
                              sop::v1::AdjustForecastResponse* response) override {
    return Answer(service_.AdjustForecast(*request), response);
  }
  grpc::Status GetAccuracy(grpc::ServerContext*, const sop::v1::GetAccuracyRequest* request,
                           sop::v1::GetAccuracyResponse* response) override {
    return Answer(service_.GetAccuracy(*request), response);
  }

 private:
  template <class T>
  static grpc::Status Answer(Result<T> result, T* response) {
    if (!result) return runtime::ToGrpcStatus(result.error());
    *response = std::move(*result);
    return grpc::Status::OK;
  }

  ForecastingService& service_;
};

ForecastingService::ForecastingService(ForecastingServiceOptions options, runtime::Logger& logger,
                                       runtime::MetricsRegistry& metrics)
    : options_(std::move(options)),
      logger_(logger),
      probe_(std::make_unique<Probe>(metrics)),
      store_(options_.redis),
      forecaster_(options_.forecaster) {}

Result<std::unique_ptr<ForecastingService>> ForecastingService::Start(
    ForecastingServiceOptions options, runtime::Logger& logger, runtime::MetricsRegistry& metrics) {
  std::unique_ptr<ForecastingService> service(
      new ForecastingService(std::move(options), logger, metrics));
  ForecastingService& self = *service;

  bus::KafkaConfig producer_config = self.options_.kafka;
  // 78 buckets × 9 doubles per update: compression keeps a full re-forecast small.
  if (producer_config.Find("compression.type") == nullptr) {
    producer_config.Set("compression.type", "lz4");
  }
  bus::ProducerOptions producer_options;
  producer_options.on_error = [&logger](const Error& error) {
    logger.Error("producer error", {{"error", error.ToString()}});
  };
  auto producer = bus::Producer::Create(producer_config, std::move(producer_options));
  if (!producer) return std::unexpected(producer.error());
  self.producer_ = std::move(*producer);
  self.dead_letter_ = std::make_unique<bus::DeadLetter>(*self.producer_);
  self.grpc_ = std::make_unique<GrpcImpl>(self);

  bus::ConsumerOptions consumer_options;
  consumer_options.group_id = self.options_.group_id;
  consumer_options.topics = {std::string(bus::kFactsTopic)};
  consumer_options.handler = [&self](const bus::Message& message) { return self.Handle(message); };
  consumer_options.on_rejected = [&self](const bus::Message& message, const Error& error) {
    self.probe_->dlq.Increment();
    self.logger_.Warn("message rejected to the dead-letter topic",
                      {{"topic", message.topic},
                       {"partition", message.partition},
                       {"offset", message.offset},
                       {"error", error.ToString()}});
    auto sent = self.dead_letter_->Send(message, error);
    if (sent) {
      // The rejected message is done with: the snapshot's offset moves past it.
      std::lock_guard lock(self.mutex_);
      const PartitionKey key{message.topic, message.partition};
      self.next_offsets_[key] = message.offset + 1;
      self.dirty_partitions_.insert(key);
    }
    return sent;
  };
  consumer_options.listener = &self;
  auto consumer = bus::Consumer::Create(self.options_.kafka, std::move(consumer_options));
  if (!consumer) return std::unexpected(consumer.error());
  self.consumer_ = std::move(*consumer);

  self.batch_thread_ = std::thread([&self] { self.BatchLoop(); });
  if (auto started = self.consumer_->Start(); !started) {
    self.Stop(false);
    return std::unexpected(started.error());
  }
  return service;
}

ForecastingService::~ForecastingService() {
  Stop(true);
}

void ForecastingService::Stop(bool final_snapshot) {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    crashed_ = !final_snapshot;
  }
  // Intake first: the consumer finishes its message, commits and leaves (OnRevoked publishes
  // and snapshots unless this is a simulated crash).
  if (consumer_) consumer_->Stop();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (batch_thread_.joinable()) batch_thread_.join();
  if (final_snapshot) {
    std::lock_guard lock(mutex_);
    EndBatchLocked();
  }
  if (producer_) {
    if (auto flushed = producer_->Flush(kFlushTimeout); !flushed) {
      logger_.Error("producer flush at shutdown", {{"error", flushed.error().ToString()}});
    }
  }
}

grpc::Service* ForecastingService::grpc_service() {
  return grpc_.get();
}

std::string ForecastingService::SnapshotName(const PartitionKey& key) {
  return "forecasting/" + key.topic + "/" + std::to_string(key.partition);
}

Status ForecastingService::Handle(const bus::Message& message) {
  const auto start = Clock::now();
  const PartitionKey key{message.topic, message.partition};
  {
    std::lock_guard lock(mutex_);
    auto applied = forecaster_.ApplyFact(key, message.value);
    if (!applied) return std::unexpected(applied.error());  // → dead letter
    if (!*applied) probe_->duplicates.Increment();
    next_offsets_[key] = message.offset + 1;
    dirty_partitions_.insert(key);
    if (!batch_open_) {
      batch_open_ = true;
      batch_started_ = Clock::now();
    }
    last_message_ = Clock::now();
  }
  changed_.notify_all();
  probe_->consumed.WithLabels({message.topic}).Increment();
  probe_->processing.ObserveDuration(Clock::now() - start);
  return {};
}

void ForecastingService::BatchLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || batch_open_; });
    if (stopping_) return;
    // Debounce: wait until quiet for batch_quiet, or batch_max since the batch began.
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

void ForecastingService::EndBatchLocked() {
  const auto start = Clock::now();
  batch_open_ = false;
  const auto errors_before = forecaster_.stats().forecast_errors;
  PublishLocked(forecaster_.Reforecast(WallNow()));
  ++batches_;
  // Updates are acknowledged before the snapshot records their facts as applied: a crash in
  // between re-forecasts and re-publishes (at least once), never loses an update.
  FlushProducerLocked();
  std::vector<PartitionKey> keys(dirty_partitions_.begin(), dirty_partitions_.end());
  SnapshotLocked(keys);
  const ForecasterStats stats = forecaster_.stats();
  probe_->forecast_errors.Increment(static_cast<double>(stats.forecast_errors - errors_before));
  probe_->item_sites.Set(static_cast<double>(stats.item_sites));
  if (consumer_) {
    for (const bus::PartitionLag& lag : consumer_->Lag()) {
      if (lag.lag) {
        probe_->lag.WithLabels({lag.topic, std::to_string(lag.partition)})
            .Set(static_cast<double>(*lag.lag));
      }
    }
  }
  if (!dirty_partitions_.empty() && !stopping_) {
    // A snapshot write failed: try again in about a second even if the topic stays quiet.
    batch_open_ = true;
    batch_started_ = Clock::now();
    last_message_ = batch_started_ + kSnapshotRetryDelay;
  }
  probe_->batch.ObserveDuration(Clock::now() - start);
  changed_.notify_all();
}

void ForecastingService::PublishLocked(std::vector<sop::v1::ForecastUpdate> updates) {
  for (sop::v1::ForecastUpdate& update : updates) {
    bus::OutgoingMessage message;
    message.topic = std::string(bus::kForecastTopic);
    message.key = update.site_id();
    message.value = update.SerializeAsString();
    auto produced = probe_->produced.WithLabels({update.site_id()});
    producer_->Send(std::move(message), [this, produced](Result<bus::DeliveryReport> report) {
      if (report) {
        produced.Increment();
      } else {
        probe_->produce_errors.Increment();
        logger_.Error("forecast update not delivered", {{"error", report.error().ToString()}});
      }
    });
    ++updates_published_;
  }
}

void ForecastingService::FlushProducerLocked() {
  if (auto flushed = producer_->Flush(kFlushTimeout); !flushed) {
    logger_.Error("forecast updates not acknowledged", {{"error", flushed.error().ToString()}});
  }
}

void ForecastingService::SnapshotLocked(const std::vector<PartitionKey>& keys) {
  // Collect the event ids first so a failed write keeps them for the next attempt.
  for (const PartitionKey& key : keys) {
    auto ids = forecaster_.TakeNewEventIds(key);
    auto& unsaved = unsaved_ids_[key];
    unsaved.insert(unsaved.end(), std::make_move_iterator(ids.begin()),
                   std::make_move_iterator(ids.end()));
  }
  for (const PartitionKey& key : keys) {
    std::vector<store::ConsumedOffset> offsets;
    if (auto it = next_offsets_.find(key); it != next_offsets_.end()) {
      offsets.push_back({key.topic, key.partition, it->second});
    }
    auto& unsaved = unsaved_ids_[key];
    // ApplyRequest holds views: the serialized state must outlive the call.
    const std::string state = forecaster_.SerializePartition(key);
    store::ApplyRequest request;
    request.state = state;
    request.offsets = offsets;
    request.event_ids = unsaved;
    request.expected_sequence = sequences_[key];
    auto written = store_.Apply(SnapshotName(key), request);
    if (!written) {
      probe_->snapshot_errors.Increment();
      logger_.Error("snapshot not written",
                    {{"partition", SnapshotName(key)}, {"error", written.error().ToString()}});
      if (written.error().code() == Errc::kFailedPrecondition) {
        // Someone else wrote (or our earlier write's reply was lost): re-read the sequence.
        if (auto stored = store_.GetSnapshot(SnapshotName(key)); stored && *stored) {
          sequences_[key] = (*stored)->sequence;
        }
      }
      continue;  // stays dirty
    }
    sequences_[key] = *written;
    unsaved.clear();
    dirty_partitions_.erase(key);
    ++snapshots_;
  }
}

void ForecastingService::OnAssigned(std::span<bus::AssignedPartition> partitions) {
  std::lock_guard lock(mutex_);
  for (bus::AssignedPartition& assigned : partitions) {
    const PartitionKey key{assigned.topic, assigned.partition};
    auto stored = store_.GetSnapshot(SnapshotName(key));
    if (!stored) {
      // Without the snapshot the history would silently miss shipments: replay the whole log.
      logger_.Error("snapshot not readable; replaying the partition from the beginning",
                    {{"partition", SnapshotName(key)}, {"error", stored.error().ToString()}});
      assigned.start_offset = 0;
      continue;
    }
    if (!*stored) {
      sequences_[key] = 0;
      assigned.start_offset = 0;  // no state yet: every fact of the partition is needed
      continue;
    }
    const store::Snapshot& snapshot = **stored;
    sequences_[key] = snapshot.sequence;
    if (auto restored = forecaster_.RestorePartition(key, snapshot.state); !restored) {
      logger_.Error("snapshot not restorable; replaying the partition from the beginning",
                    {{"partition", SnapshotName(key)}, {"error", restored.error().ToString()}});
      forecaster_.DropPartition(key);
      assigned.start_offset = 0;
      continue;
    }
    std::int64_t start = 0;
    for (const store::ConsumedOffset& offset : snapshot.offsets) {
      if (offset.topic == key.topic && offset.partition == key.partition)
        start = offset.next_offset;
    }
    assigned.start_offset = start;
    next_offsets_[key] = start;
    ++restored_partitions_;
    logger_.Info("partition restored", {{"partition", SnapshotName(key)},
                                        {"sequence", static_cast<std::int64_t>(snapshot.sequence)},
                                        {"start_offset", start}});
  }
  // Restored item-sites are re-forecast at the end of the next batch (at once if quiet).
  if (!batch_open_) {
    batch_open_ = true;
    batch_started_ = Clock::now();
    last_message_ = batch_started_;
  }
  changed_.notify_all();
}

void ForecastingService::OnRevoked(std::span<const bus::TopicPartition> partitions) {
  std::lock_guard lock(mutex_);
  if (!crashed_) {
    PublishLocked(forecaster_.Reforecast(WallNow()));
    FlushProducerLocked();
    std::vector<PartitionKey> keys;
    for (const auto& tp : partitions) {
      PartitionKey key{tp.topic, tp.partition};
      if (dirty_partitions_.contains(key)) keys.push_back(key);
    }
    SnapshotLocked(keys);
  }
  for (const auto& tp : partitions) {
    const PartitionKey key{tp.topic, tp.partition};
    forecaster_.DropPartition(key);
    next_offsets_.erase(key);
    sequences_.erase(key);
    unsaved_ids_.erase(key);
    dirty_partitions_.erase(key);
  }
  changed_.notify_all();
}

void ForecastingService::OnError(const Error& error) {
  logger_.Error("consumer error", {{"error", error.ToString()}});
}

Result<sop::v1::GetForecastResponse> ForecastingService::GetForecast(
    const sop::v1::GetForecastRequest& request) const {
  if (request.item_id().empty()) return Fail(Errc::kInvalidArgument, "item_id: required");
  if (request.site_id().empty()) return Fail(Errc::kInvalidArgument, "site_id: required");
  std::lock_guard lock(mutex_);
  return forecaster_.GetForecast(request.item_id(), request.site_id());
}

Result<sop::v1::AdjustForecastResponse> ForecastingService::AdjustForecast(
    const sop::v1::AdjustForecastRequest& request) {
  std::lock_guard lock(mutex_);
  auto recorded = forecaster_.Adjust(request.adjustment(), WallNow());
  if (!recorded) return std::unexpected(recorded.error());
  probe_->adjustments.Increment();
  logger_.Info("forecast adjusted", {{"item", request.adjustment().item_id()},
                                     {"site", request.adjustment().site_id()},
                                     {"owner", request.adjustment().owner()},
                                     {"adjustment_id", recorded->adjustment_id()}});
  // Re-forecast now (the planner waits for the answer) rather than at the end of a batch.
  PublishLocked(forecaster_.Reforecast(WallNow()));
  FlushProducerLocked();
  if (auto key =
          forecaster_.PartitionOf(request.adjustment().item_id(), request.adjustment().site_id())) {
    dirty_partitions_.insert(*key);
    SnapshotLocked({*key});
    if (dirty_partitions_.contains(*key) && !batch_open_) {
      // Not saved yet: the batch thread retries.
      batch_open_ = true;
      batch_started_ = Clock::now();
      last_message_ = batch_started_ + kSnapshotRetryDelay;
    }
  }
  changed_.notify_all();
  sop::v1::AdjustForecastResponse response;
  *response.mutable_recorded() = std::move(*recorded);
  if (auto forecast =
          forecaster_.GetForecast(request.adjustment().item_id(), request.adjustment().site_id())) {
    *response.mutable_forecast() = forecast->forecast();
  }
  return response;
}

Result<sop::v1::GetAccuracyResponse> ForecastingService::GetAccuracy(
    const sop::v1::GetAccuracyRequest& request) const {
  std::lock_guard lock(mutex_);
  return forecaster_.GetAccuracy(request);
}

ForecastingProgress ForecastingService::ProgressLocked() const {
  ForecastingProgress out;
  const ForecasterStats stats = forecaster_.stats();
  out.facts = stats.facts_applied;
  out.duplicates = stats.duplicates;
  out.item_sites = stats.item_sites;
  out.pending = batch_open_ || forecaster_.HasDirty() || !dirty_partitions_.empty();
  out.snapshots = snapshots_;
  out.updates_published = updates_published_;
  out.batches = batches_;
  out.restored_partitions = restored_partitions_;
  return out;
}

ForecastingProgress ForecastingService::progress() const {
  std::lock_guard lock(mutex_);
  return ProgressLocked();
}

bool ForecastingService::WaitFor(const std::function<bool(const ForecastingProgress&)>& predicate,
                                 std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return predicate(ProgressLocked()); });
}

}  // namespace sop::forecasting
