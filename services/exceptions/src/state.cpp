#include "sop/exceptions/state.hpp"

#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "sop/planning/rough_cut.hpp"

namespace sop::exceptions {
namespace {

codec::PartitionKey ToCodec(const host::PartitionKey& key) {
  return {key.topic, key.partition};
}

std::vector<double> LatencyBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0};
}

}  // namespace

/// The state's metrics (only this struct knows metric names).
struct ExceptionsState::Probe {
  explicit Probe(runtime::MetricsRegistry& metrics)
      : open(metrics.AddGauge({"sop_exceptions_open",
                               "Open exceptions by type, severity and site.",
                               {"type", "severity", "site"},
                               1000})),
        detection(metrics.AddHistogram(
            {"sop_exceptions_detection_seconds",
             "Wall time of one exception detection (full: every exception of the plan; "
             "incremental: the item-sites one net change re-netted).",
             {"kind"}})),
        ranking(metrics.AddHistogram(
            {"sop_exceptions_ranking_seconds",
             "Wall time of scoring and ranking one detection's exceptions (incl. conversion).",
             {"kind"}})),
        latency(metrics
                    .AddHistogram({"sop_exceptions_event_to_exception_seconds",
                                   "From a fact's ingestion (Fact.ingested_at) to the publication "
                                   "of the exception changes it caused, per ExceptionDelta."},
                                  LatencyBuckets())
                    .WithLabels()),
        changes(metrics.AddCounter({"sop_exceptions_changes_total",
                                    "Exception changes published (upsert: appeared or changed; "
                                    "resolved: disappeared).",
                                    {"change"}})),
        detect_full(detection.WithLabels({"full"})),
        detect_incremental(detection.WithLabels({"incremental"})),
        rank_full(ranking.WithLabels({"full"})),
        rank_incremental(ranking.WithLabels({"incremental"})),
        upserts(changes.WithLabels({"upsert"})),
        resolved(changes.WithLabels({"resolved"})) {}

  runtime::GaugeFamily open;
  runtime::HistogramFamily detection;
  runtime::HistogramFamily ranking;
  runtime::Histogram latency;
  runtime::CounterFamily changes;
  runtime::Histogram detect_full, detect_incremental, rank_full, rank_incremental;
  runtime::Counter upserts, resolved;
  std::set<std::tuple<std::string, std::string, std::string>> open_series;
};

ExceptionsState::ExceptionsState(StateOptions options, runtime::MetricsRegistry* metrics)
    : options_(std::move(options)),
      probe_(metrics != nullptr ? std::make_unique<Probe>(*metrics) : nullptr),
      planning_(codec::PlanningStateOptions{.pegging = true}),
      book_(options_.book) {
  planning_.set_listener(this);
}

ExceptionsState::~ExceptionsState() {
  planning_.set_listener(nullptr);
}

void ExceptionsState::NoteCause(std::string_view fact_bytes) {
  if (first_pending_cause_) return;
  sop::v1::Fact fact;
  if (!fact.ParseFromArray(fact_bytes.data(), static_cast<int>(fact_bytes.size()))) return;
  sop::v1::Cause cause;
  cause.set_event_id(fact.envelope().event_id());
  *cause.mutable_ingested_at() = fact.ingested_at();
  first_pending_cause_ = std::move(cause);
}

Result<bool> ExceptionsState::Apply(const bus::Message& message) {
  const codec::PartitionKey key{message.topic, message.partition};
  if (message.topic == options_.facts_topic) {
    auto applied = planning_.ApplyFact(key, message.value);
    if (!applied) return std::unexpected(applied.error());
    if (*applied) {
      NoteCause(message.value);
      detection_pending_ = true;
      ++changes_since_detection_;
    }
    return *applied;
  }
  if (message.topic == options_.forecast_topic) {
    auto applied = planning_.ApplyForecast(key, message.value);
    if (!applied) return std::unexpected(applied.error());
    if (!first_pending_cause_) {
      sop::v1::ForecastUpdate update;
      if (update.ParseFromString(message.value) && update.has_cause()) {
        first_pending_cause_ = update.cause();
      }
    }
    detection_pending_ = true;
    ++changes_since_detection_;
    return true;
  }
  return InvalidField("topic", "not consumed by the exceptions service", message.topic);
}

void ExceptionsState::OnNetChange(const planning::NettingEngine& engine,
                                  std::span<const model::ItemSiteIndex> item_sites,
                                  const sop::v1::Cause& cause, std::int64_t version) {
  progress_.plan_version = version;
  // The published list only follows net change once a full detection established it.
  if (progress_.full_detections == 0) return;
  auto deltas = book_.Update(engine, item_sites, cause);
  ++progress_.incremental_detections;
  if (probe_) {
    probe_->detect_incremental.Observe(book_.timings().detect_seconds);
    probe_->rank_incremental.Observe(book_.timings().rank_seconds);
  }
  auto messages = Encode(std::move(deltas));
  for (auto& message : messages) immediate_.push_back(std::move(message));
}

void ExceptionsState::OnRebuild(const planning::NettingEngine&,
                                std::span<const model::ItemSiteIndex>, const sop::v1::Cause&, bool,
                                std::int64_t version) {
  progress_.plan_version = version;
  detection_pending_ = true;  // EndBatch runs the full detection on the rebuilt plan
}

std::vector<bus::OutgoingMessage> ExceptionsState::TakeImmediate() {
  return std::exchange(immediate_, {});
}

bool ExceptionsState::BatchPending() const {
  return detection_pending_ || planning_.rebuild_pending() || !immediate_.empty();
}

std::vector<bus::OutgoingMessage> ExceptionsState::EndBatch() {
  std::vector<bus::OutgoingMessage> out = std::exchange(immediate_, {});
  const codec::PlanChanges changes = planning_.Flush();
  progress_.plan_version = planning_.version();
  if (!detection_pending_ && !changes.rebuilt) return out;
  detection_pending_ = false;

  sop::v1::Cause cause = first_pending_cause_.value_or(sop::v1::Cause());
  cause.set_description("full detection after " + std::to_string(changes_since_detection_) +
                        " change(s)" +
                        (cause.event_id().empty() ? std::string() : ", first " + cause.event_id()));
  first_pending_cause_.reset();
  changes_since_detection_ = 0;

  std::vector<sop::v1::ExceptionDelta> deltas;
  const planning::NettingEngine* engine = planning_.engine();
  if (engine == nullptr) {
    deltas = book_.Clear(cause);  // no plan (yet, or any more)
  } else {
    const planning::CapacityPlan capacity = planning::RoughCut(engine->snapshot(), engine->plan());
    const planning::DetectionHistory history = planning_.BuildHistory();
    deltas = book_.Refresh(*engine, capacity, history, cause);
    ++progress_.full_detections;
    if (probe_) {
      probe_->detect_full.Observe(book_.timings().detect_seconds);
      probe_->rank_full.Observe(book_.timings().rank_seconds);
    }
  }
  auto messages = Encode(std::move(deltas));
  for (auto& message : messages) out.push_back(std::move(message));
  return out;
}

std::vector<bus::OutgoingMessage> ExceptionsState::Encode(
    std::vector<sop::v1::ExceptionDelta> deltas) {
  std::vector<bus::OutgoingMessage> out;
  out.reserve(deltas.size());
  const auto now = options_.now();
  for (auto& delta : deltas) {
    if (probe_) {
      probe_->upserts.Increment(static_cast<double>(delta.upserts_size()));
      probe_->resolved.Increment(static_cast<double>(delta.resolved_ids_size()));
      if (delta.cause().has_ingested_at() && delta.cause().ingested_at().seconds() > 0) {
        const auto ingested = std::chrono::system_clock::time_point(
            std::chrono::seconds(delta.cause().ingested_at().seconds()) +
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::nanoseconds(delta.cause().ingested_at().nanos())));
        probe_->latency.Observe(std::chrono::duration<double>(now - ingested).count());
      }
    }
    bus::OutgoingMessage message;
    message.topic = options_.exceptions_topic;
    message.key = delta.site_id();
    message.value = delta.SerializeAsString();
    out.push_back(std::move(message));
  }
  progress_.deltas += static_cast<std::int64_t>(out.size());
  if (!out.empty()) UpdateGauges();
  return out;
}

void ExceptionsState::UpdateGauges() {
  progress_.open = static_cast<std::int64_t>(book_.size());
  if (!probe_) return;
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  for (const auto& [labels, count] : book_.Counts()) {
    const auto& [type, severity, site] = labels;
    std::tuple<std::string, std::string, std::string> series{
        sop::v1::ExceptionType_Name(type), sop::v1::Severity_Name(severity), site};
    probe_->open.WithLabels({std::get<0>(series), std::get<1>(series), std::get<2>(series)})
        .Set(static_cast<double>(count));
    seen.insert(std::move(series));
  }
  for (const auto& series : probe_->open_series) {
    if (seen.contains(series)) continue;
    probe_->open.WithLabels({std::get<0>(series), std::get<1>(series), std::get<2>(series)}).Set(0);
  }
  probe_->open_series.insert(seen.begin(), seen.end());
}

std::string ExceptionsState::Serialize(const host::PartitionKey& key) const {
  return planning_.SerializePartition(ToCodec(key));
}

Status ExceptionsState::Restore(const host::PartitionKey& key, std::string_view bytes) {
  return planning_.RestorePartition(ToCodec(key), bytes);
}

void ExceptionsState::Drop(const host::PartitionKey& key) {
  planning_.DropPartition(ToCodec(key));
}

std::vector<std::string> ExceptionsState::TakeNewEventIds(const host::PartitionKey& key) {
  return planning_.TakeNewEventIds(ToCodec(key));
}

std::vector<host::PartitionKey> ExceptionsState::TakeDirtyPartitions() {
  std::vector<host::PartitionKey> out;
  for (const auto& key : planning_.TakeDirtyPartitions()) out.push_back({key.topic, key.partition});
  return out;
}

StateProgress ExceptionsState::progress() const {
  StateProgress progress = progress_;
  progress.open = static_cast<std::int64_t>(book_.size());
  progress.facts = planning_.stats().facts_applied;
  return progress;
}

}  // namespace sop::exceptions
