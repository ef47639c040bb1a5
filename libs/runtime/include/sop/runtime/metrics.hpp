#pragma once
/// A small metrics facade over prometheus-cpp, so business code never includes prometheus
/// headers: counter, gauge and histogram families with declared label names and a bounded number
/// of label sets, an HTTP exposer on its own port, and cheap process metrics.
///
/// Naming (checked when a family is added): `sop_<component>_<what>_<unit>`, lower-case
/// [a-z0-9_]; counters end in `_total`; durations are histograms in seconds ending `_seconds`.

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"

namespace prometheus {
class Collectable;
class Counter;
class Gauge;
class Histogram;
class Registry;
}  // namespace prometheus

namespace sop::runtime {

/// Declaration of one metric family.
struct MetricOptions {
  MetricOptions(std::string metric_name, std::string help_text,
                std::vector<std::string> labels = {}, std::size_t series_bound = 200)
      : name(std::move(metric_name)),
        help(std::move(help_text)),
        label_names(std::move(labels)),
        max_series(series_bound) {}

  std::string name;                      ///< e.g. "sop_mrp_planned_orders_total"
  std::string help;                      ///< one line, required (promtool lints it)
  std::vector<std::string> label_names;  ///< fixed at declaration; values given per series
  /// Cardinality bound: label sets beyond this many are folded into one series whose labels are
  /// all "_overflow", so an unbounded value (a user id, an unknown method) cannot blow up memory.
  std::size_t max_series;
};

/// Bucket upper bounds (seconds) suitable for RPC and handler latencies: 1 ms .. 10 s.
std::vector<double> DefaultLatencyBuckets();

namespace detail {
struct FamilyState;
}  // namespace detail

/// A monotonically increasing series. Cheap to copy; valid while its registry lives.
/// Threads: every method is thread-safe (atomic inside prometheus-cpp).
class Counter {
 public:
  void Increment(double amount = 1.0) const;
  double Value() const;

 private:
  friend class CounterFamily;
  explicit Counter(prometheus::Counter* impl) : impl_(impl) {}
  prometheus::Counter* impl_;
};

/// A series that goes up and down. Cheap to copy; valid while its registry lives. Thread-safe.
class Gauge {
 public:
  void Set(double value) const;
  void Increment(double amount = 1.0) const;
  void Decrement(double amount = 1.0) const;
  double Value() const;

 private:
  friend class GaugeFamily;
  explicit Gauge(prometheus::Gauge* impl) : impl_(impl) {}
  prometheus::Gauge* impl_;
};

/// A distribution of observations. Cheap to copy; valid while its registry lives. Thread-safe.
class Histogram {
 public:
  void Observe(double value) const;
  template <class Rep, class Period>
  void ObserveDuration(std::chrono::duration<Rep, Period> duration) const {
    Observe(std::chrono::duration<double>(duration).count());
  }

 private:
  friend class HistogramFamily;
  explicit Histogram(prometheus::Histogram* impl) : impl_(impl) {}
  prometheus::Histogram* impl_;
};

/// A counter family. `WithLabels` takes one value per declared label name, in order; a wrong
/// count is a programming error (std::logic_error). Thread-safe; valid while its registry lives.
/// Look series up once and keep the handle on hot paths: each lookup takes a lock.
class CounterFamily {
 public:
  Counter WithLabels(std::initializer_list<std::string_view> values = {}) const;

 private:
  friend class MetricsRegistry;
  explicit CounterFamily(detail::FamilyState* state) : state_(state) {}
  detail::FamilyState* state_;
};

/// A gauge family; see CounterFamily.
class GaugeFamily {
 public:
  Gauge WithLabels(std::initializer_list<std::string_view> values = {}) const;

 private:
  friend class MetricsRegistry;
  explicit GaugeFamily(detail::FamilyState* state) : state_(state) {}
  detail::FamilyState* state_;
};

/// A histogram family; every series shares the family's buckets. See CounterFamily.
class HistogramFamily {
 public:
  Histogram WithLabels(std::initializer_list<std::string_view> values = {}) const;

 private:
  friend class MetricsRegistry;
  explicit HistogramFamily(detail::FamilyState* state) : state_(state) {}
  detail::FamilyState* state_;
};

/// The metrics of one process. Adding a family with a bad name or adding the same name twice
/// with a different shape throws std::logic_error (programming errors found at start-up);
/// adding the same declaration twice returns the same family.
/// Threads: all methods are thread-safe. Lifetime: outlives every family, handle and exposer.
class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  CounterFamily AddCounter(const MetricOptions& options);
  GaugeFamily AddGauge(const MetricOptions& options);
  HistogramFamily AddHistogram(const MetricOptions& options,
                               std::vector<double> buckets = DefaultLatencyBuckets());

  /// The Prometheus text exposition of everything registered (what /metrics serves).
  std::string SerializeText() const;

  /// Adds `sop_build_info{service,version} 1`, `process_start_time_seconds`, and scrape-time
  /// `process_resident_memory_bytes` and `process_cpu_seconds_total` read from /proc/self.
  void AddProcessMetrics(std::string_view service, std::string_view version);

  /// Everything to serve (the registry and the process collector), for the exposer only.
  std::vector<std::shared_ptr<prometheus::Collectable>> Collectables() const;

 private:
  detail::FamilyState& AddFamily(const MetricOptions& options, int kind,
                                 std::vector<double> buckets);

  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<detail::FamilyState>, std::less<>> families_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;  // served beside registry_
};

/// Serves a registry as Prometheus text on http://host:port/metrics, from its own threads.
/// Port 0 picks a free port; `port()` reports the bound one.
/// Errors: `Start` fails with kUnavailable when the address cannot be bound.
/// Lifetime: stop (or destroy) it before the registry.
class MetricsExposer {
 public:
  static Result<std::unique_ptr<MetricsExposer>> Start(MetricsRegistry& registry,
                                                       std::string_view host, int port);
  ~MetricsExposer();
  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;

  int port() const noexcept { return port_; }
  /// Stops serving; idempotent.
  void Stop();

 private:
  struct Impl;
  MetricsExposer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

}  // namespace sop::runtime
