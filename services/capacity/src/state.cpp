#include "sop/capacity/state.hpp"

#include <chrono>
#include <map>

#include "sop/bus/topics.hpp"

namespace sop::capacity {

// The only place that knows the state's metric names (the host owns consumed/produced/DLQ/
// snapshot/lag); labels are bounded (site).
struct CapacityState::Probe {
  explicit Probe(runtime::MetricsRegistry& metrics)
      : rough_cut(metrics
                      .AddHistogram({"sop_capacity_rough_cut_seconds",
                                     "Time of one rough-cut capacity run over the owned sites."})
                      .WithLabels()),
        rebuilds(metrics
                     .AddCounter({"sop_capacity_full_runs_total",
                                  "Full rebuilds of the planning picture (regenerative runs)."})
                     .WithLabels()),
        work_centers(metrics
                         .AddGauge({"sop_capacity_work_centers",
                                    "Work centers in the current capacity plan."})
                         .WithLabels()),
        overloaded_buckets(metrics.AddGauge({"sop_capacity_overloaded_buckets",
                                             "Overloaded work-center buckets, by site.",
                                             {"site"},
                                             100})),
        overload_seconds(metrics.AddGauge({"sop_capacity_overload_seconds",
                                           "Load above capacity over the horizon, by site, in "
                                           "seconds (Prometheus base unit; hours × 3600).",
                                           {"site"},
                                           100})),
        facts(metrics.AddGauge({"sop_capacity_state_facts", "Facts held for the owned partitions."})
                  .WithLabels()) {}

  runtime::Histogram rough_cut;
  runtime::Counter rebuilds;
  runtime::Gauge work_centers;
  runtime::GaugeFamily overloaded_buckets;
  runtime::GaugeFamily overload_seconds;
  runtime::Gauge facts;
};

namespace {

codec::PartitionKey KeyOf(const host::PartitionKey& key) {
  return {key.topic, key.partition};
}

}  // namespace

CapacityState::CapacityState(CapacityStateOptions options, runtime::MetricsRegistry* metrics)
    : options_(std::move(options)),
      probe_(metrics != nullptr ? std::make_unique<Probe>(*metrics) : nullptr),
      planning_(codec::PlanningStateOptions{.pegging = true}),
      publisher_(options_.max_work_centers_per_delta) {
  planning_.set_listener(this);
}

CapacityState::~CapacityState() {
  planning_.set_listener(nullptr);
}

Result<bool> CapacityState::Apply(const bus::Message& message) {
  const codec::PartitionKey key{message.topic, message.partition};
  if (message.topic == bus::kFactsTopic) return planning_.ApplyFact(key, message.value);
  if (message.topic == bus::kForecastTopic) {
    auto applied = planning_.ApplyForecast(key, message.value);
    if (!applied) return std::unexpected(applied.error());
    return true;
  }
  return InvalidField("topic", "not consumed by the capacity service", message.topic);
}

bool CapacityState::BatchPending() const {
  // A staged net change is planned (committed) at the batch end too.
  return planning_.rebuild_pending() || planning_.net_change_pending() ||
         planning_.version() != capacity_version_;
}

std::vector<sop::v1::CapacityDelta> CapacityState::EndBatchDeltas() {
  const codec::PlanChanges changes = planning_.Flush();
  if (probe_) {
    if (changes.rebuilt) probe_->rebuilds.Increment();
    probe_->facts.Set(static_cast<double>(planning_.stats().facts_applied));
  }
  const planning::NettingEngine* engine = planning_.engine();
  if (engine == nullptr) {
    // No plan (no PlanningSettings among the owned facts): nothing to load.
    capacity_.reset();
    capacity_version_ = planning_.version();
    return {};
  }
  if (capacity_ && changes.version == capacity_version_ && !changes.all) return {};

  const auto start = std::chrono::steady_clock::now();
  capacity_ = planning::RoughCut(engine->snapshot(), engine->plan());
  ++rough_cuts_;
  if (probe_) {
    probe_->rough_cut.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  capacity_version_ = changes.version;
  // After a partition change or the first plan every site is published whole (a replica that
  // gained a partition cannot know what its predecessor published).
  const bool full = changes.all || last_full_;
  if (full) publisher_.Reset();
  last_full_ = false;
  sop::v1::Cause cause = last_cause_;
  auto deltas = publisher_.Update(engine->snapshot(), *capacity_, cause, changes.version, full);
  deltas_ += static_cast<std::int64_t>(deltas.size());

  if (probe_) {
    const model::Snapshot& snapshot = engine->snapshot();
    std::map<std::string, std::pair<double, double>> by_site;  // overloaded buckets, hours
    for (const auto& site : snapshot.sites) by_site[site.id] = {0.0, 0.0};
    for (const planning::Overload& o : capacity_->overloads) {
      const auto& center = snapshot.work_centers[static_cast<std::size_t>(o.work_center.value())];
      auto& entry = by_site[snapshot.sites[static_cast<std::size_t>(center.site.value())].id];
      entry.first += 1.0;
      entry.second += o.overload_hours;
    }
    for (const auto& [site, values] : by_site) {
      probe_->overloaded_buckets.WithLabels({site}).Set(values.first);
      probe_->overload_seconds.WithLabels({site}).Set(values.second * 3600.0);
    }
    probe_->work_centers.Set(static_cast<double>(capacity_->work_center_count));
  }
  return deltas;
}

std::vector<bus::OutgoingMessage> CapacityState::EndBatch() {
  std::vector<bus::OutgoingMessage> out;
  for (const auto& delta : EndBatchDeltas()) {
    bus::OutgoingMessage message;
    message.topic = options_.output_topic;
    message.key = delta.site_id();
    message.value = delta.SerializeAsString();
    out.push_back(std::move(message));
  }
  return out;
}

std::string CapacityState::Serialize(const host::PartitionKey& key) const {
  return planning_.SerializePartition(KeyOf(key));
}

Status CapacityState::Restore(const host::PartitionKey& key, std::string_view bytes) {
  return planning_.RestorePartition(KeyOf(key), bytes);
}

void CapacityState::Drop(const host::PartitionKey& key) {
  planning_.DropPartition(KeyOf(key));
}

std::vector<std::string> CapacityState::TakeNewEventIds(const host::PartitionKey& key) {
  // The applied event ids travel inside the partition snapshot (its facts), so no Redis marks
  // are needed; drain the list so it does not grow.
  (void)planning_.TakeNewEventIds(KeyOf(key));
  return {};
}

Result<sop::v1::GetLoadResponse> CapacityState::GetLoad(
    const sop::v1::GetLoadRequest& request) const {
  if (!capacity_ || planning_.engine() == nullptr) {
    if (request.site_id().empty()) return InvalidField("site_id", "must not be empty", "");
    return Fail(Errc::kFailedPrecondition,
                "no capacity plan yet: no PlanningSettings fact has been applied on this replica");
  }
  auto response = capacity::GetLoad(planning_.engine()->snapshot(), *capacity_, request);
  if (response) response->set_plan_version(capacity_version_);
  return response;
}

Result<std::shared_ptr<const PlanCopy>> CapacityState::CopyPlan() const {
  const planning::NettingEngine* engine = planning_.engine();
  if (engine == nullptr) {
    return Fail(Errc::kFailedPrecondition,
                "no plan yet: no PlanningSettings fact has been applied on this replica");
  }
  PlanCopy copy{*engine, planning_.BuildHistory()};
  // Facts staged since the last batch end are in the snapshot but not yet in the plan: plan them
  // on the copy (the state itself commits at the batch end).
  if (copy.engine.staged() && !copy.engine.Commit()) {
    return Fail(Errc::kInternal, "the staged net change of the plan copy failed to commit");
  }
  return std::make_shared<const PlanCopy>(std::move(copy));
}

CapacityStats CapacityState::stats() const {
  CapacityStats stats;
  stats.plan_version = capacity_ ? capacity_version_ : 0;
  stats.rough_cuts = rough_cuts_;
  stats.deltas = deltas_;
  const codec::PlanningStats planning = planning_.stats();
  stats.facts = planning.facts_applied;
  stats.duplicates = planning.duplicates;
  if (capacity_) {
    const LoadTotals totals = Totals(*capacity_);
    stats.work_centers = static_cast<std::int64_t>(capacity_->work_center_count);
    stats.overloaded_buckets = static_cast<std::int64_t>(totals.overloaded_buckets);
    stats.overload_hours = totals.overload_hours;
  }
  return stats;
}

void CapacityState::OnNetChange(const planning::NettingEngine&,
                                std::span<const model::ItemSiteIndex>, const sop::v1::Cause& cause,
                                std::int64_t) {
  last_cause_ = cause;
}

void CapacityState::OnRebuild(const planning::NettingEngine&, std::span<const model::ItemSiteIndex>,
                              const sop::v1::Cause& cause, bool full, std::int64_t) {
  last_cause_ = cause;
  last_full_ = last_full_ || full;
}

}  // namespace sop::capacity
