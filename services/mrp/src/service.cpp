#include "sop/mrp/service.hpp"

#include <algorithm>

#include "sop/bus/topics.hpp"
#include "sop/runtime/grpc_status.hpp"

namespace sop::mrp {

using Clock = std::chrono::steady_clock;

namespace {
constexpr auto kSnapshotRetryDelay = std::chrono::seconds(1);
}  // namespace

// The only place that knows the metric names; business code calls its handles.
struct MrpService::Probe {
  explicit Probe(runtime::MetricsRegistry& metrics)
      : consumed(metrics.AddCounter(
            {"sop_mrp_consumed_total", "Messages consumed, by topic.", {"topic"}, 20})),
        duplicates(metrics
                       .AddCounter({"sop_mrp_duplicate_facts_total",
                                    "Re-delivered facts skipped (event id already applied)."})
                       .WithLabels()),
        produced(metrics.AddCounter({"sop_mrp_produced_total",
                                     "PlanDelta messages produced to sop.plan.v1, by site.",
                                     {"site"},
                                     100})),
        produce_errors(metrics
                           .AddCounter({"sop_mrp_produce_errors_total",
                                        "PlanDelta messages the broker did not acknowledge."})
                           .WithLabels()),
        dlq(metrics
                .AddCounter({"sop_mrp_dlq_total",
                             "Messages that could not be decoded, sent to sop.dlq.v1."})
                .WithLabels()),
        full_runs(metrics
                      .AddCounter(
                          {"sop_mrp_full_runs_total", "Full rebuilds with a regenerative MRP run."})
                      .WithLabels()),
        snapshot_errors(metrics
                            .AddCounter({"sop_mrp_snapshot_errors_total",
                                         "Failed snapshot writes to Redis (retried next batch)."})
                            .WithLabels()),
        processing(metrics
                       .AddHistogram({"sop_mrp_processing_seconds",
                                      "Time to apply one consumed message (incl. net change)."})
                       .WithLabels()),
        batch(metrics
                  .AddHistogram({"sop_mrp_batch_seconds",
                                 "Time to end a batch: full rebuild if needed, publish, snapshot."})
                  .WithLabels()),
        lag(metrics.AddGauge({"sop_mrp_consumer_lag",
                              "Messages behind the high watermark, by topic and partition.",
                              {"topic", "partition"},
                              200})),
        facts(metrics.AddGauge({"sop_mrp_state_facts", "Facts held for the owned partitions."})
                  .WithLabels()),
        item_sites(metrics.AddGauge({"sop_mrp_plan_item_sites", "Item-sites in the current plan."})
                       .WithLabels()),
        planned_orders(
            metrics.AddGauge({"sop_mrp_plan_planned_orders", "Planned orders in the current plan."})
                .WithLabels()) {}

  runtime::CounterFamily consumed;
  runtime::Counter duplicates;
  runtime::CounterFamily produced;
  runtime::Counter produce_errors;
  runtime::Counter dlq;
  runtime::Counter full_runs;
  runtime::Counter snapshot_errors;
  runtime::Histogram processing;
  runtime::Histogram batch;
  runtime::GaugeFamily lag;
  runtime::Gauge facts;
  runtime::Gauge item_sites;
  runtime::Gauge planned_orders;
};

// sop.v1.Mrp: decode → MrpService → encode; errors through runtime's one mapping.
class MrpService::GrpcImpl final : public sop::v1::Mrp::Service {
 public:
  explicit GrpcImpl(MrpService& service) : service_(service) {}

  grpc::Status GetPlan(grpc::ServerContext*, const sop::v1::GetPlanRequest* request,
                       sop::v1::GetPlanResponse* response) override {
    auto result = service_.GetPlan(*request);
    if (!result) return runtime::ToGrpcStatus(result.error());
    *response = std::move(*result);
    return grpc::Status::OK;
  }
  grpc::Status Replan(grpc::ServerContext*, const sop::v1::ReplanRequest* request,
                      sop::v1::ReplanResponse* response) override {
    auto result = service_.Replan(*request);
    if (!result) return runtime::ToGrpcStatus(result.error());
    *response = std::move(*result);
    return grpc::Status::OK;
  }
  grpc::Status GetSupplyPlan(grpc::ServerContext*, const sop::v1::GetSupplyPlanRequest* request,
                             sop::v1::GetSupplyPlanResponse* response) override {
    auto result = service_.GetSupplyPlan(*request);
    if (!result) return runtime::ToGrpcStatus(result.error());
    *response = std::move(*result);
    return grpc::Status::OK;
  }

 private:
  MrpService& service_;
};

MrpService::MrpService(MrpServiceOptions options, runtime::Logger& logger,
                       runtime::MetricsRegistry& metrics)
    : options_(std::move(options)),
      logger_(logger),
      probe_(std::make_unique<Probe>(metrics)),
      store_(options_.redis),
      planner_(options_.planner) {}

Result<std::unique_ptr<MrpService>> MrpService::Start(MrpServiceOptions options,
                                                      runtime::Logger& logger,
                                                      runtime::MetricsRegistry& metrics) {
  std::unique_ptr<MrpService> service(new MrpService(std::move(options), logger, metrics));
  MrpService& self = *service;

  bus::KafkaConfig producer_config = self.options_.kafka;
  // Plan records are arrays of doubles with many zeros: compression keeps full runs small.
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
  consumer_options.topics = {std::string(bus::kFactsTopic), std::string(bus::kForecastTopic)};
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
      {
        std::lock_guard lock(self.mutex_);
        const PartitionKey key{message.topic, message.partition};
        self.next_offsets_[key] = message.offset + 1;
        self.dirty_.insert(key);
        ++self.dead_lettered_;
      }
      self.changed_.notify_all();
    }
    return sent;
  };
  consumer_options.listener = &self;
  auto consumer = bus::Consumer::Create(self.options_.kafka, std::move(consumer_options));
  if (!consumer) return std::unexpected(consumer.error());
  self.consumer_ = std::move(*consumer);

  self.planner_thread_ = std::thread([&self] { self.PlannerLoop(); });
  if (auto started = self.consumer_->Start(); !started) {
    self.Stop(false);
    return std::unexpected(started.error());
  }
  return service;
}

MrpService::~MrpService() {
  Stop(true);
}

void MrpService::Stop(bool final_snapshot) {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    crashed_ = !final_snapshot;
  }
  // Intake first: the consumer finishes its message, commits and leaves (OnRevoked snapshots
  // the partitions unless this is a simulated crash).
  if (consumer_) consumer_->Stop();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (planner_thread_.joinable()) planner_thread_.join();
  if (final_snapshot) {
    std::lock_guard lock(mutex_);
    EndBatchLocked();
  }
  if (producer_) {
    if (auto flushed = producer_->Flush(std::chrono::seconds(10)); !flushed) {
      logger_.Error("producer flush at shutdown", {{"error", flushed.error().ToString()}});
    }
  }
}

grpc::Service* MrpService::grpc_service() {
  return grpc_.get();
}

std::string MrpService::SnapshotName(const PartitionKey& key) {
  return "mrp/" + key.topic + "/" + std::to_string(key.partition);
}

Status MrpService::Handle(const bus::Message& message) {
  const auto start = Clock::now();
  const PartitionKey key{message.topic, message.partition};
  std::vector<sop::v1::PlanDelta> deltas;
  {
    std::lock_guard lock(mutex_);
    if (message.topic == bus::kFactsTopic) {
      auto applied = planner_.ApplyFact(key, message.value);
      if (!applied) return std::unexpected(applied.error());  // → dead letter
      if (!*applied) probe_->duplicates.Increment();
    } else if (message.topic == bus::kForecastTopic) {
      if (auto applied = planner_.ApplyForecast(key, message.value); !applied) {
        return std::unexpected(applied.error());
      }
    }
    next_offsets_[key] = message.offset + 1;
    dirty_.insert(key);
    // Net-change deltas go out at once (latency); full rebuilds wait for the end of the batch.
    if (!planner_.rebuild_pending()) PublishLocked(planner_.Flush());
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

void MrpService::PlannerLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || batch_open_; });
    if (stopping_) return;
    // Wait for the batch to end: quiet for batch_quiet, or batch_max since it began.
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

void MrpService::EndBatchLocked() {
  const auto start = Clock::now();
  batch_open_ = false;
  const auto full_runs_before = planner_.stats().full_runs;
  PublishLocked(planner_.Flush());
  // The deltas are acknowledged before the snapshot records their facts as planned: a crash
  // in between re-plans and re-publishes (at least once), never loses a delta.
  if (auto flushed = producer_->Flush(std::chrono::seconds(10)); !flushed) {
    logger_.Error("plan deltas not acknowledged", {{"error", flushed.error().ToString()}});
  }
  std::vector<PartitionKey> keys(dirty_.begin(), dirty_.end());
  SnapshotLocked(keys);
  const PlannerStats stats = planner_.stats();
  probe_->full_runs.Increment(static_cast<double>(stats.full_runs - full_runs_before));
  probe_->facts.Set(static_cast<double>(stats.facts_applied));
  probe_->item_sites.Set(static_cast<double>(stats.item_sites));
  probe_->planned_orders.Set(static_cast<double>(stats.planned_orders));
  if (consumer_) {
    for (const bus::PartitionLag& lag : consumer_->Lag()) {
      if (lag.lag) {
        probe_->lag.WithLabels({lag.topic, std::to_string(lag.partition)})
            .Set(static_cast<double>(*lag.lag));
      }
    }
  }
  if (!dirty_.empty() && !stopping_) {
    // A snapshot write failed (Redis down or slow): try again in about a second even if no
    // message arrives, so the state does not stay unsaved while the topics are quiet.
    batch_open_ = true;
    batch_started_ = Clock::now();
    last_message_ = batch_started_ + kSnapshotRetryDelay;
  }
  probe_->batch.ObserveDuration(Clock::now() - start);
  changed_.notify_all();
}

void MrpService::PublishLocked(std::vector<sop::v1::PlanDelta> deltas) {
  for (sop::v1::PlanDelta& delta : deltas) {
    bus::OutgoingMessage message;
    message.topic = std::string(bus::kPlanTopic);
    message.key = delta.site_id();
    message.value = delta.SerializeAsString();
    auto produced = probe_->produced.WithLabels({delta.site_id()});
    producer_->Send(std::move(message), [this, produced](Result<bus::DeliveryReport> report) {
      if (report) {
        produced.Increment();
      } else {
        probe_->produce_errors.Increment();
        logger_.Error("plan delta not delivered", {{"error", report.error().ToString()}});
      }
    });
    ++deltas_published_;
  }
}

void MrpService::SnapshotLocked(const std::vector<PartitionKey>& keys) {
  // Collect the event ids first so a failed write keeps them for the next attempt.
  for (const PartitionKey& key : keys) {
    auto ids = planner_.TakeNewEventIds(key);
    auto& unsaved = unsaved_ids_[key];
    unsaved.insert(unsaved.end(), std::make_move_iterator(ids.begin()),
                   std::make_move_iterator(ids.end()));
  }
  for (const PartitionKey& key : keys) {
    const std::string state = planner_.SerializePartition(key);
    std::vector<store::ConsumedOffset> offsets;
    if (auto it = next_offsets_.find(key); it != next_offsets_.end()) {
      offsets.push_back({key.topic, key.partition, it->second});
    }
    auto& unsaved = unsaved_ids_[key];
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
        // Someone else wrote (or our earlier write's reply was lost): re-read the sequence so
        // the next attempt is fenced against what is really stored.
        if (auto stored = store_.GetSnapshot(SnapshotName(key)); stored && *stored) {
          sequences_[key] = (*stored)->sequence;
        }
      }
      continue;  // stays dirty
    }
    sequences_[key] = *written;
    unsaved.clear();
    dirty_.erase(key);
    ++snapshots_;
  }
}

void MrpService::OnAssigned(std::span<bus::AssignedPartition> partitions) {
  std::lock_guard lock(mutex_);
  for (bus::AssignedPartition& assigned : partitions) {
    const PartitionKey key{assigned.topic, assigned.partition};
    auto stored = store_.GetSnapshot(SnapshotName(key));
    if (!stored) {
      // Without the snapshot the state would silently miss facts: better to replay the whole
      // log (the applied ids are unknown, so the committed offset cannot be trusted).
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
    if (auto restored = planner_.RestorePartition(key, snapshot.state); !restored) {
      logger_.Error("snapshot not restorable; replaying the partition from the beginning",
                    {{"partition", SnapshotName(key)}, {"error", restored.error().ToString()}});
      planner_.DropPartition(key);
      sequences_[key] = snapshot.sequence;
      assigned.start_offset = 0;
      continue;
    }
    sequences_[key] = snapshot.sequence;
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
  // Restored state is planned at the end of the next batch (or at once if nothing arrives).
  if (!batch_open_) {
    batch_open_ = true;
    batch_started_ = Clock::now();
    last_message_ = batch_started_;
  }
  changed_.notify_all();
}

void MrpService::OnRevoked(std::span<const bus::TopicPartition> partitions) {
  std::lock_guard lock(mutex_);
  if (!crashed_) {
    PublishLocked(planner_.Flush());
    if (auto flushed = producer_->Flush(std::chrono::seconds(10)); !flushed) {
      logger_.Error("plan deltas not acknowledged", {{"error", flushed.error().ToString()}});
    }
    std::vector<PartitionKey> keys;
    for (const auto& tp : partitions) {
      PartitionKey key{tp.topic, tp.partition};
      if (dirty_.contains(key)) keys.push_back(key);
    }
    SnapshotLocked(keys);
  }
  for (const auto& tp : partitions) {
    const PartitionKey key{tp.topic, tp.partition};
    planner_.DropPartition(key);
    next_offsets_.erase(key);
    sequences_.erase(key);
    unsaved_ids_.erase(key);
    dirty_.erase(key);
  }
  if (!batch_open_) {
    batch_open_ = true;
    batch_started_ = Clock::now();
    last_message_ = batch_started_;
  }
  changed_.notify_all();
}

void MrpService::OnError(const Error& error) {
  logger_.Error("consumer error", {{"error", error.ToString()}});
}

Result<sop::v1::GetPlanResponse> MrpService::GetPlan(const sop::v1::GetPlanRequest& request) const {
  std::lock_guard lock(mutex_);
  auto plan = planner_.GetPlan(request.item_id(), request.site_id());
  if (!plan) return std::unexpected(plan.error());
  sop::v1::GetPlanResponse response;
  *response.mutable_plan() = std::move(*plan);
  response.set_plan_version(planner_.plan_version());
  return response;
}

Result<sop::v1::ReplanResponse> MrpService::Replan(const sop::v1::ReplanRequest& request) {
  std::lock_guard lock(mutex_);
  sop::v1::Cause cause;
  cause.set_description("replan requested by '" + request.requested_by() +
                        "': " + request.reason());
  std::vector<sop::v1::PlanDelta> deltas;
  auto summary = planner_.Replan(request.site_id(), cause, &deltas);
  if (!summary) return std::unexpected(summary.error());
  PublishLocked(std::move(deltas));
  probe_->full_runs.Increment();
  sop::v1::ReplanResponse response;
  response.set_plan_version(summary->plan_version);
  response.set_item_sites(summary->item_sites);
  response.set_planned_orders(summary->planned_orders);
  response.set_seconds(summary->seconds);
  logger_.Info("replan", {{"requested_by", request.requested_by()},
                          {"site", request.site_id()},
                          {"planned_orders", summary->planned_orders},
                          {"seconds", summary->seconds}});
  return response;
}

Result<sop::v1::GetSupplyPlanResponse> MrpService::GetSupplyPlan(
    const sop::v1::GetSupplyPlanRequest& request) const {
  std::lock_guard lock(mutex_);
  auto gaps = planner_.GetSupplyPlan(request.site_id(), request.family());
  if (!gaps) return std::unexpected(gaps.error());
  sop::v1::GetSupplyPlanResponse response;
  for (auto& gap : *gaps) *response.add_gaps() = std::move(gap);
  response.set_plan_version(planner_.plan_version());
  return response;
}

MrpProgress MrpService::ProgressLocked() const {
  MrpProgress out;
  const PlannerStats stats = planner_.stats();
  out.facts = stats.facts_applied;
  out.duplicates = stats.duplicates;
  out.plan_version = planner_.plan_version();
  out.pending = batch_open_ || planner_.rebuild_pending() || !dirty_.empty();
  out.snapshots = snapshots_;
  out.deltas_published = deltas_published_;
  out.restored_partitions = restored_partitions_;
  out.dead_lettered = dead_lettered_;
  return out;
}

MrpProgress MrpService::progress() const {
  std::lock_guard lock(mutex_);
  return ProgressLocked();
}

bool MrpService::WaitFor(const std::function<bool(const MrpProgress&)>& predicate,
                         std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return predicate(ProgressLocked()); });
}

}  // namespace sop::mrp
