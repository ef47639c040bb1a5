#include "sop/exceptions/state.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
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

/// The background full detection: one thread, one job at a time. The job owns an immutable copy
/// of the engine and the detection history, so the worker reads nothing the state's caller
/// mutates; the result waits in `done` until TakeDetected merges it under the caller's lock.
struct ExceptionsState::Worker {
  struct Job {
    std::unique_ptr<const planning::NettingEngine> engine;
    planning::DetectionHistory history;
    sop::v1::Cause cause;
    std::int64_t generation = 0;
  };
  struct Done {
    FullDetection result;
    sop::v1::Cause cause;
    std::int64_t generation = 0;
  };

  explicit Worker(BookOptions book_options) : options(std::move(book_options)) {
    thread = std::thread([this] { Run(); });
  }

  void Post(Job next) {
    {
      std::lock_guard lock(mutex);
      job = std::move(next);
    }
    wake.notify_all();
  }

  bool Stopped() {
    std::lock_guard lock(mutex);
    return stopping;
  }

  /// Announces itself (the ready callback) at `when`, so a deferred detection gets started.
  void WakeAt(std::chrono::steady_clock::time_point when) {
    {
      std::lock_guard lock(mutex);
      if (!wake_at || when < *wake_at) wake_at = when;
    }
    wake.notify_all();
  }

  std::optional<Done> Take() {
    std::lock_guard lock(mutex);
    return std::exchange(done, std::nullopt);
  }

  void SetReady(std::function<void()> callback) {
    bool announce = false;
    {
      std::lock_guard lock(mutex);
      ready = std::move(callback);
      announce = done.has_value() && ready;
    }
    if (announce) ready();
  }

  /// Finishes the job under way or queued, then ends the thread.
  void Stop() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    if (thread.joinable()) thread.join();
  }

  void Run() {
    std::unique_lock lock(mutex);
    while (true) {
      if (!stopping && !job && wake_at) {
        // A rate limit, not synchronisation: the deferred detection is due at `when`.
        const auto when = *wake_at;
        const bool woken = wake.wait_until(
            lock, when, [&] { return stopping || job.has_value() || !wake_at || *wake_at < when; });
        if (!woken) {
          wake_at.reset();
          Announce(lock);
        }
        continue;
      }
      wake.wait(lock, [&] { return stopping || job.has_value() || wake_at.has_value(); });
      if (job) {
        Detect(lock);
      } else if (stopping) {
        return;  // a queued job is detected first
      }
    }
  }

  /// Runs the queued job outside the mutex (held on entry and on return).
  void Detect(std::unique_lock<std::mutex>& lock) {
    Job current = std::move(*job);
    job.reset();
    lock.unlock();
    const planning::CapacityPlan capacity =
        planning::RoughCut(current.engine->snapshot(), current.engine->plan());
    Done finished{DetectFull(options, *current.engine, capacity, current.history),
                  std::move(current.cause), current.generation};
    current.engine.reset();
    lock.lock();
    done = std::move(finished);
    Announce(lock);
  }

  /// Calls the ready callback outside the mutex (unless stopping: the owner merges then).
  void Announce(std::unique_lock<std::mutex>& lock) {
    std::function<void()> callback = ready;
    if (!callback || stopping) return;
    lock.unlock();
    callback();
    lock.lock();
  }

  const BookOptions options;
  std::mutex mutex;
  std::condition_variable wake;
  std::optional<Job> job;
  std::optional<Done> done;
  std::optional<std::chrono::steady_clock::time_point> wake_at;
  std::function<void()> ready;
  bool stopping = false;
  std::thread thread;
};

ExceptionsState::ExceptionsState(StateOptions options, runtime::MetricsRegistry* metrics)
    : options_(std::move(options)),
      probe_(metrics != nullptr ? std::make_unique<Probe>(*metrics) : nullptr),
      planning_(codec::PlanningStateOptions{.pegging = true}),
      book_(options_.book) {
  planning_.set_listener(this);
  if (options_.background_detection) worker_ = std::make_unique<Worker>(options_.book);
}

ExceptionsState::~ExceptionsState() {
  StopBackground();
  planning_.set_listener(nullptr);
}

void ExceptionsState::set_detection_ready(std::function<void()> callback) {
  if (worker_) worker_->SetReady(std::move(callback));
}

void ExceptionsState::StopBackground() {
  if (worker_) worker_->Stop();
}

std::vector<host::PartitionKey> ExceptionsState::partitions() const {
  return {partitions_.begin(), partitions_.end()};
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
  if (message.topic == options_.facts_topic || message.topic == options_.forecast_topic) {
    partitions_.insert({message.topic, message.partition});
  }
  if (message.topic == options_.facts_topic) {
    auto applied = planning_.ApplyFact(key, message.value);
    if (!applied) return std::unexpected(applied.error());
    if (*applied) {
      NoteCause(message.value);
      NoteChange();
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
    NoteChange();
    return true;
  }
  return InvalidField("topic", "not consumed by the exceptions service", message.topic);
}

void ExceptionsState::NoteChange() {
  const bool first = !detection_pending_;
  detection_pending_ = true;
  ++changes_since_detection_;
  // Background: the first change after a merge gets its detection when the interval allows,
  // announced by the worker, rather than at the next batch end (up to batch.max under a steady
  // stream). While one runs, its merge starts the next.
  if (first && worker_ && !in_flight_ && progress_.full_detections > 0 && !worker_->Stopped()) {
    worker_->WakeAt(last_start_ + options_.full_detection_interval);
  }
}

void ExceptionsState::OnNetChange(const planning::NettingEngine& engine,
                                  std::span<const model::ItemSiteIndex> item_sites,
                                  const sop::v1::Cause& cause, std::int64_t version) {
  progress_.plan_version = version;
  // A background detection under way saw the plan before this change: its merge re-detects
  // these item-sites on the plan of the moment.
  if (in_flight_) redetect_.insert(redetect_.end(), item_sites.begin(), item_sites.end());
  // The published list only follows net change once a full detection established it (a
  // redetector kept meanwhile would have to be told of this change: drop it instead).
  if (progress_.full_detections == 0) {
    ResetRedetector();
    return;
  }
  auto deltas = book_.Update(engine, item_sites, cause, RedetectorFor(engine));
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
  ResetRedetector();          // a rebuilt plan: every reach summary is void
  ++generation_;              // a background result of the plan before is stale
  detection_pending_ = true;  // EndBatch runs the full detection on the rebuilt plan
}

std::vector<bus::OutgoingMessage> ExceptionsState::TakeImmediate() {
  // The facts applied since the last call (one drained consumer batch) are planned by one net
  // change; its OnNetChange re-detects and re-ranks the re-netted item-sites (book_.Update).
  planning_.CommitNetChange();
  return std::exchange(immediate_, {});
}

bool ExceptionsState::BatchPending() const {
  return detection_pending_ || in_flight_ || planning_.rebuild_pending() ||
         planning_.net_change_pending() || !immediate_.empty();
}

std::vector<bus::OutgoingMessage> ExceptionsState::EndBatch() {
  auto out = EndBatchImpl();
  if (gauges_stale_) UpdateGauges();
  return out;
}

std::vector<bus::OutgoingMessage> ExceptionsState::EndBatchImpl() {
  std::vector<bus::OutgoingMessage> out = std::exchange(immediate_, {});
  const codec::PlanChanges changes = planning_.Flush();
  progress_.plan_version = planning_.version();
  if (planning_.engine() != redetector_engine_) ResetRedetector();  // the engine went
  // A background result that is ready is merged first (it may start the next detection).
  for (auto& message : TakeDetectedImpl()) out.push_back(std::move(message));
  if (!detection_pending_ && !changes.rebuilt) return out;
  if (in_flight_) return out;  // detection_pending_ stays: the merge starts the next one
  detection_pending_ = true;
  for (auto& message : StartWhenDue(changes.rebuilt)) out.push_back(std::move(message));
  return out;
}

std::vector<bus::OutgoingMessage> ExceptionsState::StartWhenDue(bool now_anyway) {
  if (!worker_ || worker_->Stopped() || now_anyway || planning_.engine() == nullptr) {
    return StartDetection();
  }
  const auto due = last_start_ + options_.full_detection_interval;
  if (std::chrono::steady_clock::now() >= due) return StartDetection();
  worker_->WakeAt(due);  // detection_pending_ stays; TakeDetected starts it then
  return {};
}

sop::v1::Cause ExceptionsState::TakeDetectionCause() {
  sop::v1::Cause cause = first_pending_cause_.value_or(sop::v1::Cause());
  cause.set_description("full detection after " + std::to_string(changes_since_detection_) +
                        " change(s)" +
                        (cause.event_id().empty() ? std::string() : ", first " + cause.event_id()));
  first_pending_cause_.reset();
  changes_since_detection_ = 0;
  return cause;
}

void ExceptionsState::ObserveFull() {
  ++progress_.full_detections;
  if (probe_) {
    probe_->detect_full.Observe(book_.timings().detect_seconds);
    probe_->rank_full.Observe(book_.timings().rank_seconds);
  }
}

std::vector<bus::OutgoingMessage> ExceptionsState::StartDetection() {
  // A detection reads (or copies) the plan: plan what is staged first (its book update goes out
  // with the next TakeImmediate or EndBatch).
  planning_.CommitNetChange();
  detection_pending_ = false;
  sop::v1::Cause cause = TakeDetectionCause();
  const planning::NettingEngine* engine = planning_.engine();
  if (engine == nullptr) return Encode(book_.Clear(cause));  // no plan (yet, or any more)
  if (worker_ && !worker_->Stopped()) {
    // Copy the plan (immutable from now on) and the history under the lock; detect outside it.
    Worker::Job job{std::make_unique<const planning::NettingEngine>(*engine),
                    planning_.BuildHistory(), std::move(cause), generation_};
    in_flight_ = true;
    last_start_ = std::chrono::steady_clock::now();
    redetect_.clear();
    worker_->Post(std::move(job));
    return {};
  }
  const planning::CapacityPlan capacity = planning::RoughCut(engine->snapshot(), engine->plan());
  const planning::DetectionHistory history = planning_.BuildHistory();
  auto deltas = book_.Refresh(*engine, capacity, history, cause);
  ObserveFull();
  return Encode(std::move(deltas));
}

std::vector<bus::OutgoingMessage> ExceptionsState::TakeDetected() {
  auto out = TakeDetectedImpl();
  if (gauges_stale_) UpdateGauges();
  return out;
}

std::vector<bus::OutgoingMessage> ExceptionsState::TakeDetectedImpl() {
  if (!worker_) return {};
  // The merge reads the current plan: plan what is staged first (with a detection in flight its
  // item-sites join redetect_).
  planning_.CommitNetChange();
  std::vector<bus::OutgoingMessage> out;
  if (!in_flight_) {
    // A deferred detection whose interval has passed (the worker's announcement).
    if (detection_pending_ && !planning_.rebuild_pending()) out = StartWhenDue(false);
    return out;
  }
  std::optional<Worker::Done> done = worker_->Take();
  if (!done) return {};
  in_flight_ = false;
  const planning::NettingEngine* engine = planning_.engine();
  if (done->generation == generation_ && engine != nullptr) {
    std::ranges::sort(redetect_);
    const auto [first, last] = std::ranges::unique(redetect_);
    redetect_.erase(first, last);
    auto deltas = book_.Merge(std::move(done->result), engine, redetect_, done->cause,
                              redetect_.empty() ? nullptr : RedetectorFor(*engine));
    ObserveFull();
    out = Encode(std::move(deltas));
  } else {
    // A rebuild overtook it (its indices name another snapshot): detect the new plan instead.
    ++progress_.stale_detections;
    detection_pending_ = true;
    if (!first_pending_cause_) first_pending_cause_ = done->cause;
  }
  redetect_.clear();
  // Changes arrived while it ran: the next detection starts at once (unless a rebuild is due,
  // which EndBatch does first).
  if (detection_pending_ && !planning_.rebuild_pending()) {
    for (auto& message : StartWhenDue(false)) out.push_back(std::move(message));
  }
  return out;
}

planning::MaterialRedetector* ExceptionsState::RedetectorFor(
    const planning::NettingEngine& engine) {
  if (!options_.reuse_reach) return nullptr;
  if (redetector_ != nullptr && redetector_engine_ != &engine) ResetRedetector();
  if (redetector_ == nullptr) {
    redetector_ = std::make_unique<planning::MaterialRedetector>(engine, options_.book.detection);
    redetector_engine_ = &engine;
  }
  return redetector_.get();
}

void ExceptionsState::ResetRedetector() {
  redetector_.reset();
  redetector_engine_ = nullptr;
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
  // The open-exception gauges walk the whole book: refreshed at the batch end and after a merged
  // detection, not per drained batch of net changes.
  if (!out.empty()) gauges_stale_ = true;
  return out;
}

void ExceptionsState::UpdateGauges() {
  gauges_stale_ = false;
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
  partitions_.insert(key);
  ResetRedetector();  // the plan is rebuilt
  return planning_.RestorePartition(ToCodec(key), bytes);
}

void ExceptionsState::Drop(const host::PartitionKey& key) {
  partitions_.erase(key);
  ResetRedetector();  // the plan is rebuilt
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
