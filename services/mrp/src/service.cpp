#include "sop/mrp/service.hpp"

#include "sop/bus/topics.hpp"
#include "sop/runtime/grpc_status.hpp"

namespace sop::mrp {

// mrp's own metrics; the host's (consumed, produced, dlq, snapshots, lag, ...) are sop_mrp_*
// too, declared by libs/host.
struct MrpService::Probe {
  explicit Probe(runtime::MetricsRegistry& metrics)
      : full_runs(metrics
                      .AddCounter(
                          {"sop_mrp_full_runs_total", "Full rebuilds with a regenerative MRP run."})
                      .WithLabels()),
        deltas(metrics.AddCounter({"sop_mrp_plan_deltas_total",
                                   "PlanDelta messages handed to the producer, by site.",
                                   {"site"},
                                   100})),
        facts(metrics.AddGauge({"sop_mrp_state_facts", "Facts held for the owned partitions."})
                  .WithLabels()),
        item_sites(metrics.AddGauge({"sop_mrp_plan_item_sites", "Item-sites in the current plan."})
                       .WithLabels()),
        planned_orders(
            metrics.AddGauge({"sop_mrp_plan_planned_orders", "Planned orders in the current plan."})
                .WithLabels()),
        transfer_demands(metrics
                             .AddGauge({"sop_mrp_external_transfer_demands",
                                        "Transfer-demand vectors of sites planned by other "
                                        "replicas, planned on this replica's suppliers."})
                             .WithLabels()),
        transfer_demands_published(
            metrics
                .AddCounter({"sop_mrp_transfer_demands_published_total",
                             "TransferDemand facts handed to the producer (sop.facts.v1)."})
                .WithLabels()),
        records_unchanged(
            metrics
                .AddCounter({"sop_mrp_unchanged_records_total",
                             "Re-netted item-site records left out of net-change deltas because "
                             "they equal the last one published."})
                .WithLabels()) {}

  runtime::Counter full_runs;
  runtime::CounterFamily deltas;
  runtime::Gauge facts;
  runtime::Gauge item_sites;
  runtime::Gauge planned_orders;
  runtime::Gauge transfer_demands;
  runtime::Counter transfer_demands_published;
  runtime::Counter records_unchanged;
};

namespace {

PartitionKey ToPlanner(const host::PartitionKey& key) {
  return {key.topic, key.partition};
}

}  // namespace

// The planner as the host's partitioned state: decode (planner) → plan → PlanDelta messages.
class MrpService::State final : public host::PartitionedState {
 public:
  State(PlannerOptions options, Probe& probe) : planner_(std::move(options)), probe_(probe) {}

  Result<bool> Apply(const bus::Message& message) override {
    const PartitionKey key{message.topic, message.partition};
    if (message.topic == bus::kForecastTopic) {
      if (auto applied = planner_.ApplyForecast(key, message.value); !applied) {
        return std::unexpected(applied.error());
      }
      return true;
    }
    return planner_.ApplyFact(key, message.value);
  }
  // The facts applied since the last call (one drained consumer batch) are planned by one net
  // change and its deltas go out at once (latency); full rebuilds wait for the end of the batch.
  std::vector<bus::OutgoingMessage> TakeImmediate() override {
    if (planner_.rebuild_pending()) return {};
    return ToMessages(planner_.CommitNetChange());
  }
  std::vector<bus::OutgoingMessage> EndBatch() override {
    const auto full_runs_before = planner_.stats().full_runs;
    auto messages = ToMessages(planner_.Flush());
    // The transfer requirements of this replica's DC item-sites, to the supplying site's
    // partition of sop.facts.v1 (once per batch: a vector changes with most facts of a site).
    for (const sop::v1::Fact& fact : planner_.TakeTransferDemands()) {
      messages.push_back({.topic = std::string(bus::kFactsTopic),
                          .key = fact.envelope().site(),
                          .value = fact.SerializeAsString()});
      probe_.transfer_demands_published.Increment();
    }
    const PlannerStats stats = planner_.stats();
    probe_.full_runs.Increment(static_cast<double>(stats.full_runs - full_runs_before));
    probe_.records_unchanged.Increment(
        static_cast<double>(stats.records_unchanged - records_unchanged_counted_));
    records_unchanged_counted_ = stats.records_unchanged;
    UpdateGauges();
    return messages;
  }
  bool BatchPending() const override {
    return planner_.rebuild_pending() || planner_.net_change_pending();
  }
  std::string Serialize(const host::PartitionKey& key) const override {
    return planner_.SerializePartition(ToPlanner(key));
  }
  Status Restore(const host::PartitionKey& key, std::string_view bytes) override {
    return planner_.RestorePartition(ToPlanner(key), bytes);
  }
  void Drop(const host::PartitionKey& key) override { planner_.DropPartition(ToPlanner(key)); }
  std::vector<std::string> TakeNewEventIds(const host::PartitionKey& key) override {
    return planner_.TakeNewEventIds(ToPlanner(key));
  }

  std::vector<bus::OutgoingMessage> ToMessages(std::vector<sop::v1::PlanDelta> deltas) {
    std::vector<bus::OutgoingMessage> out;
    out.reserve(deltas.size());
    for (const sop::v1::PlanDelta& delta : deltas) {
      probe_.deltas.WithLabels({delta.site_id()}).Increment();
      out.push_back({.topic = std::string(bus::kPlanTopic),
                     .key = delta.site_id(),
                     .value = delta.SerializeAsString()});
      ++deltas_published_;
    }
    return out;
  }
  void UpdateGauges() {
    const PlannerStats stats = planner_.stats();
    probe_.facts.Set(static_cast<double>(stats.facts_applied));
    probe_.item_sites.Set(static_cast<double>(stats.item_sites));
    probe_.planned_orders.Set(static_cast<double>(stats.planned_orders));
    probe_.transfer_demands.Set(static_cast<double>(stats.transfer_demands));
  }

  MrpPlanner& planner() { return planner_; }
  const MrpPlanner& planner() const { return planner_; }
  std::int64_t deltas_published() const { return deltas_published_; }
  /// Before a query reads the plan: plans the staged facts (their deltas are published now).
  void CommitStaged(host::PartitionedHost::Locked& locked) {
    if (!planner_.net_change_pending() || planner_.rebuild_pending()) return;
    locked.Publish(ToMessages(planner_.CommitNetChange()));
  }

 private:
  MrpPlanner planner_;
  Probe& probe_;
  std::int64_t deltas_published_ = 0;
  std::int64_t records_unchanged_counted_ = 0;
};

// sop.v1.Mrp: decode → MrpService → encode; errors through runtime's one mapping.
class MrpService::GrpcImpl final : public sop::v1::Mrp::Service {
 public:
  explicit GrpcImpl(MrpService& service) : service_(service) {}

  grpc::Status GetPlan(grpc::ServerContext*, const sop::v1::GetPlanRequest* request,
                       sop::v1::GetPlanResponse* response) override {
    return runtime::Reply(service_.GetPlan(*request), response);
  }
  grpc::Status Replan(grpc::ServerContext*, const sop::v1::ReplanRequest* request,
                      sop::v1::ReplanResponse* response) override {
    return runtime::Reply(service_.Replan(*request), response);
  }
  grpc::Status GetSupplyPlan(grpc::ServerContext*, const sop::v1::GetSupplyPlanRequest* request,
                             sop::v1::GetSupplyPlanResponse* response) override {
    return runtime::Reply(service_.GetSupplyPlan(*request), response);
  }

 private:
  MrpService& service_;
};

host::HostOptions MrpHostOptions(MrpServiceOptions options) {
  host::HostOptions host;
  host.service = "mrp";
  host.kafka = std::move(options.kafka);
  host.group_id = std::move(options.group_id);
  host.redis = std::move(options.redis);
  host.instance = std::move(options.instance);
  host.batch_quiet = options.batch_quiet;
  host.batch_max = options.batch_max;
  host.on_health_change = std::move(options.on_health_change);
  host.health_interval = options.health_interval;
  return host;
}

MrpService::MrpService(PlannerOptions planner, runtime::Logger& logger,
                       runtime::MetricsRegistry& metrics)
    : logger_(logger),
      probe_(std::make_unique<Probe>(metrics)),
      state_(std::make_unique<State>(std::move(planner), *probe_)),
      grpc_(std::make_unique<GrpcImpl>(*this)) {}

Result<std::unique_ptr<MrpService>> MrpService::Start(MrpServiceOptions options,
                                                      runtime::Logger& logger,
                                                      runtime::MetricsRegistry& metrics) {
  PlannerOptions planner = options.planner;
  return Start(MrpHostOptions(std::move(options)), std::move(planner), logger, metrics);
}

Result<std::unique_ptr<MrpService>> MrpService::Start(host::HostOptions host,
                                                      PlannerOptions planner,
                                                      runtime::Logger& logger,
                                                      runtime::MetricsRegistry& metrics) {
  std::unique_ptr<MrpService> service(new MrpService(std::move(planner), logger, metrics));
  host.service = "mrp";
  host.topics = {std::string(bus::kFactsTopic), std::string(bus::kForecastTopic)};
  host.co_partitioned = true;  // a site's facts and forecasts on the same replica
  auto started = host::PartitionedHost::Start(std::move(host), *service->state_, logger, metrics);
  if (!started) return std::unexpected(started.error());
  service->host_ = std::move(*started);
  return service;
}

MrpService::~MrpService() {
  Stop(true);
}

void MrpService::Stop(bool final_snapshot) {
  if (host_) host_->Stop(final_snapshot);
}

grpc::Service* MrpService::grpc_service() {
  return grpc_.get();
}

Result<sop::v1::GetPlanResponse> MrpService::GetPlan(const sop::v1::GetPlanRequest& request) const {
  return host_->WithState(
      [&](host::PartitionedHost::Locked& locked) -> Result<sop::v1::GetPlanResponse> {
        state_->CommitStaged(locked);
        const MrpPlanner& planner = state_->planner();
        auto plan = planner.GetPlan(request.item_id(), request.site_id());
        if (!plan) return std::unexpected(plan.error());
        sop::v1::GetPlanResponse response;
        *response.mutable_plan() = std::move(*plan);
        response.set_plan_version(planner.plan_version());
        return response;
      });
}

Result<sop::v1::ReplanResponse> MrpService::Replan(const sop::v1::ReplanRequest& request) {
  auto result = host_->WithState(
      [&](host::PartitionedHost::Locked& locked) -> Result<sop::v1::ReplanResponse> {
        sop::v1::Cause cause;
        cause.set_description("replan requested by '" + request.requested_by() +
                              "': " + request.reason());
        std::vector<sop::v1::PlanDelta> deltas;
        auto summary = state_->planner().Replan(request.site_id(), cause, &deltas);
        if (!summary) return std::unexpected(summary.error());
        locked.Publish(state_->ToMessages(std::move(deltas)));
        probe_->full_runs.Increment();
        state_->UpdateGauges();
        sop::v1::ReplanResponse response;
        response.set_plan_version(summary->plan_version);
        response.set_item_sites(summary->item_sites);
        response.set_planned_orders(summary->planned_orders);
        response.set_seconds(summary->seconds);
        return response;
      });
  if (result) {
    logger_.Info("replan", {{"requested_by", request.requested_by()},
                            {"site", request.site_id()},
                            {"planned_orders", result->planned_orders()},
                            {"seconds", result->seconds()}});
  }
  return result;
}

Result<sop::v1::GetSupplyPlanResponse> MrpService::GetSupplyPlan(
    const sop::v1::GetSupplyPlanRequest& request) const {
  return host_->WithState(
      [&](host::PartitionedHost::Locked& locked) -> Result<sop::v1::GetSupplyPlanResponse> {
        state_->CommitStaged(locked);
        const MrpPlanner& planner = state_->planner();
        auto gaps = planner.GetSupplyPlan(request.site_id(), request.family());
        if (!gaps) return std::unexpected(gaps.error());
        sop::v1::GetSupplyPlanResponse response;
        for (auto& gap : *gaps) *response.add_gaps() = std::move(gap);
        response.set_plan_version(planner.plan_version());
        return response;
      });
}

MrpProgress MrpService::ProgressLocked(const host::HostProgress& host) const {
  MrpProgress out;
  const MrpPlanner& planner = state_->planner();
  const PlannerStats stats = planner.stats();
  out.facts = stats.facts_applied;
  out.duplicates = stats.duplicates;
  out.plan_version = planner.plan_version();
  out.pending = host.pending;
  out.snapshots = host.snapshots;
  out.deltas_published = state_->deltas_published();
  out.restored_partitions = host.restored_partitions;
  out.dead_lettered = host.dead_lettered;
  out.fenced = host.fenced;
  out.partitions = host.partitions;
  out.healthy = host.healthy;
  return out;
}

MrpProgress MrpService::progress() const {
  MrpProgress out;
  host_->WaitFor(
      [&](const host::HostProgress& host) {
        out = ProgressLocked(host);
        return true;
      },
      std::chrono::milliseconds(0));
  return out;
}

bool MrpService::WaitFor(const std::function<bool(const MrpProgress&)>& predicate,
                         std::chrono::milliseconds timeout) const {
  return host_->WaitFor(
      [&](const host::HostProgress& host) { return predicate(ProgressLocked(host)); }, timeout);
}

}  // namespace sop::mrp
