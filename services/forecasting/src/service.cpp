#include "sop/forecasting/service.hpp"

#include "sop/bus/topics.hpp"
#include "sop/runtime/grpc_status.hpp"

namespace sop::forecasting {

namespace {

Seconds WallNow() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

PartitionKey ToForecaster(const host::PartitionKey& key) {
  return {key.topic, key.partition};
}

}  // namespace

// forecasting's own metrics; the host's (consumed, produced, dlq, snapshots, lag, ...) are
// sop_forecasting_* too, declared by libs/host.
struct ForecastingService::Probe {
  explicit Probe(runtime::MetricsRegistry& metrics)
      : duplicate_facts(metrics
                            .AddCounter({"sop_forecasting_duplicate_facts_total",
                                         "Re-delivered facts skipped (event id already applied)."})
                            .WithLabels()),
        updates(metrics.AddCounter({"sop_forecasting_updates_total",
                                    "ForecastUpdate messages handed to the producer, by site.",
                                    {"site"},
                                    100})),
        adjustments(metrics
                        .AddCounter({"sop_forecasting_adjustments_total",
                                     "Forecast adjustments recorded through AdjustForecast."})
                        .WithLabels()),
        forecast_errors(metrics
                            .AddCounter({"sop_forecasting_forecast_errors_total",
                                         "Series libs/forecast refused to forecast."})
                            .WithLabels()),
        item_sites(metrics
                       .AddGauge({"sop_forecasting_state_item_sites",
                                  "Item-sites held for the owned partitions."})
                       .WithLabels()),
        applied_ids(metrics
                        .AddGauge({"sop_forecasting_state_event_ids",
                                   "Applied event ids held in the de-duplication windows."})
                        .WithLabels()) {}

  runtime::Counter duplicate_facts;
  runtime::CounterFamily updates;
  runtime::Counter adjustments;
  runtime::Counter forecast_errors;
  runtime::Gauge item_sites;
  runtime::Gauge applied_ids;
};

// The Forecaster as the host's partitioned state: facts → history → debounced re-forecast →
// ForecastUpdate messages.
class ForecastingService::State final : public host::PartitionedState {
 public:
  State(ForecasterOptions options, Probe& probe) : forecaster_(std::move(options)), probe_(probe) {}

  Result<bool> Apply(const bus::Message& message) override {
    auto applied = forecaster_.ApplyFact({message.topic, message.partition}, message.value);
    if (applied && !*applied) probe_.duplicate_facts.Increment();
    return applied;
  }
  std::vector<bus::OutgoingMessage> EndBatch() override {
    ++batches_;
    return Reforecast();
  }
  bool BatchPending() const override { return forecaster_.HasDirty(); }
  std::string Serialize(const host::PartitionKey& key) const override {
    return forecaster_.SerializePartition(ToForecaster(key));
  }
  Status Restore(const host::PartitionKey& key, std::string_view bytes) override {
    return forecaster_.RestorePartition(ToForecaster(key), bytes);
  }
  void Drop(const host::PartitionKey& key) override {
    forecaster_.DropPartition(ToForecaster(key));
  }
  std::vector<std::string> TakeNewEventIds(const host::PartitionKey& key) override {
    return forecaster_.TakeNewEventIds(ToForecaster(key));
  }

  // Re-forecasts the dirty item-sites; the updates to publish.
  std::vector<bus::OutgoingMessage> Reforecast() {
    const auto errors_before = forecaster_.stats().forecast_errors;
    std::vector<bus::OutgoingMessage> out;
    for (const sop::v1::ForecastUpdate& update : forecaster_.Reforecast(WallNow())) {
      probe_.updates.WithLabels({update.site_id()}).Increment();
      out.push_back({.topic = std::string(bus::kForecastTopic),
                     .key = update.site_id(),
                     .value = update.SerializeAsString()});
      ++updates_published_;
    }
    const ForecasterStats stats = forecaster_.stats();
    probe_.forecast_errors.Increment(static_cast<double>(stats.forecast_errors - errors_before));
    probe_.item_sites.Set(static_cast<double>(stats.item_sites));
    probe_.applied_ids.Set(static_cast<double>(stats.applied_ids));
    return out;
  }

  Forecaster& forecaster() { return forecaster_; }
  const Forecaster& forecaster() const { return forecaster_; }
  std::int64_t updates_published() const { return updates_published_; }
  std::int64_t batches() const { return batches_; }

 private:
  Forecaster forecaster_;
  Probe& probe_;
  std::int64_t updates_published_ = 0;
  std::int64_t batches_ = 0;
};

// sop.v1.Forecasting: decode → ForecastingService → encode; errors through runtime's mapping.
class ForecastingService::GrpcImpl final : public sop::v1::Forecasting::Service {
 public:
  explicit GrpcImpl(ForecastingService& service) : service_(service) {}

  grpc::Status GetForecast(grpc::ServerContext*, const sop::v1::GetForecastRequest* request,
                           sop::v1::GetForecastResponse* response) override {
    return runtime::Reply(service_.GetForecast(*request), response);
  }
  grpc::Status AdjustForecast(grpc::ServerContext*, const sop::v1::AdjustForecastRequest* request,
                              sop::v1::AdjustForecastResponse* response) override {
    return runtime::Reply(service_.AdjustForecast(*request), response);
  }
  grpc::Status GetAccuracy(grpc::ServerContext*, const sop::v1::GetAccuracyRequest* request,
                           sop::v1::GetAccuracyResponse* response) override {
    return runtime::Reply(service_.GetAccuracy(*request), response);
  }

 private:
  ForecastingService& service_;
};

host::HostOptions ForecastingHostOptions(ForecastingServiceOptions options) {
  host::HostOptions host;
  host.service = "forecasting";
  host.kafka = std::move(options.kafka);
  host.group_id = std::move(options.group_id);
  host.redis = std::move(options.redis);
  host.instance = std::move(options.instance);
  host.batch_quiet = options.batch_quiet;
  host.batch_max = options.batch_max;
  host.on_health_change = std::move(options.on_health_change);
  return host;
}

ForecastingService::ForecastingService(ForecasterOptions forecaster, runtime::Logger& logger,
                                       runtime::MetricsRegistry& metrics)
    : logger_(logger),
      probe_(std::make_unique<Probe>(metrics)),
      state_(std::make_unique<State>(std::move(forecaster), *probe_)),
      grpc_(std::make_unique<GrpcImpl>(*this)) {}

Result<std::unique_ptr<ForecastingService>> ForecastingService::Start(
    ForecastingServiceOptions options, runtime::Logger& logger, runtime::MetricsRegistry& metrics) {
  ForecasterOptions forecaster = options.forecaster;
  return Start(ForecastingHostOptions(std::move(options)), std::move(forecaster), logger, metrics);
}

Result<std::unique_ptr<ForecastingService>> ForecastingService::Start(
    host::HostOptions host, ForecasterOptions forecaster, runtime::Logger& logger,
    runtime::MetricsRegistry& metrics) {
  std::unique_ptr<ForecastingService> service(
      new ForecastingService(std::move(forecaster), logger, metrics));
  host.service = "forecasting";
  host.topics = {std::string(bus::kFactsTopic)};
  auto started = host::PartitionedHost::Start(std::move(host), *service->state_, logger, metrics);
  if (!started) return std::unexpected(started.error());
  service->host_ = std::move(*started);
  return service;
}

ForecastingService::~ForecastingService() {
  Stop(true);
}

void ForecastingService::Stop(bool final_snapshot) {
  if (host_) host_->Stop(final_snapshot);
}

grpc::Service* ForecastingService::grpc_service() {
  return grpc_.get();
}

Result<sop::v1::GetForecastResponse> ForecastingService::GetForecast(
    const sop::v1::GetForecastRequest& request) const {
  if (request.item_id().empty()) return Fail(Errc::kInvalidArgument, "item_id: required");
  if (request.site_id().empty()) return Fail(Errc::kInvalidArgument, "site_id: required");
  return host_->WithStateConst([&] {
    return state_->forecaster().GetForecast(request.item_id(), request.site_id(),
                                            request.split_by_customer());
  });
}

Result<sop::v1::AdjustForecastResponse> ForecastingService::AdjustForecast(
    const sop::v1::AdjustForecastRequest& request) {
  const auto& adjustment = request.adjustment();
  auto answered = host_->WithState(
      [&](host::PartitionedHost::Locked& locked) -> Result<sop::v1::AdjustForecastResponse> {
        Forecaster& forecaster = state_->forecaster();
        auto recorded = forecaster.Adjust(adjustment, WallNow());
        if (!recorded) return std::unexpected(recorded.error());
        probe_->adjustments.Increment();
        // Re-forecast now (the planner waits for the answer) rather than at the end of a batch,
        // and save the partition before answering: an acknowledged adjustment survives a crash.
        locked.Publish(state_->Reforecast());
        if (auto key = forecaster.PartitionOf(adjustment.item_id(), adjustment.site_id())) {
          const host::PartitionKey partition{key->topic, key->partition};
          locked.MarkDirty(partition);
          if (auto saved = locked.SnapshotNow({&partition, 1}); !saved) {
            logger_.Warn("adjusted partition not snapshotted yet; retried",
                         {{"error", saved.error().ToString()}});
          }
        }
        sop::v1::AdjustForecastResponse response;
        *response.mutable_recorded() = std::move(*recorded);
        if (auto forecast = forecaster.GetForecast(adjustment.item_id(), adjustment.site_id())) {
          *response.mutable_forecast() = forecast->forecast();
        }
        return response;
      });
  if (answered) {
    logger_.Info("forecast adjusted", {{"item", adjustment.item_id()},
                                       {"site", adjustment.site_id()},
                                       {"owner", adjustment.owner()},
                                       {"adjustment_id", answered->recorded().adjustment_id()}});
  }
  return answered;
}

Result<sop::v1::GetAccuracyResponse> ForecastingService::GetAccuracy(
    const sop::v1::GetAccuracyRequest& request) const {
  return host_->WithStateConst([&] { return state_->forecaster().GetAccuracy(request); });
}

ForecastingProgress ForecastingService::ProgressLocked(const host::HostProgress& host) const {
  ForecastingProgress out;
  const ForecasterStats stats = state_->forecaster().stats();
  out.facts = stats.facts_applied;
  out.duplicates = stats.duplicates;
  out.item_sites = stats.item_sites;
  out.pending = host.pending;
  out.snapshots = host.snapshots;
  out.updates_published = state_->updates_published();
  out.batches = state_->batches();
  out.restored_partitions = host.restored_partitions;
  out.dead_lettered = host.dead_lettered;
  out.fenced = host.fenced;
  out.healthy = host.healthy;
  return out;
}

ForecastingProgress ForecastingService::progress() const {
  ForecastingProgress out;
  host_->WaitFor(
      [&](const host::HostProgress& host) {
        out = ProgressLocked(host);
        return true;
      },
      std::chrono::milliseconds(0));
  return out;
}

bool ForecastingService::WaitFor(const std::function<bool(const ForecastingProgress&)>& predicate,
                                 std::chrono::milliseconds timeout) const {
  return host_->WaitFor(
      [&](const host::HostProgress& host) { return predicate(ProgressLocked(host)); }, timeout);
}

}  // namespace sop::forecasting
