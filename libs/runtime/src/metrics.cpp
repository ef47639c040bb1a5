#include "sop/runtime/metrics.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "file_util.hpp"

namespace sop::runtime {
namespace detail {

enum Kind : int { kCounter = 0, kGauge = 1, kHistogram = 2 };

// One family: its declaration, its prometheus family and the label sets seen so far (the
// cardinality bound is enforced here, before prometheus-cpp allocates a series).
struct FamilyState {
  FamilyState(int family_kind, MetricOptions family_options)
      : kind(family_kind), options(std::move(family_options)) {}

  int kind;
  MetricOptions options;
  std::vector<double> buckets;
  prometheus::Family<prometheus::Counter>* counters = nullptr;
  prometheus::Family<prometheus::Gauge>* gauges = nullptr;
  prometheus::Family<prometheus::Histogram>* histograms = nullptr;
  std::mutex mutex;
  std::map<std::vector<std::string>, void*> series;
  void* overflow = nullptr;

  void* Lookup(std::initializer_list<std::string_view> values) {
    if (values.size() != options.label_names.size()) {
      throw std::logic_error("metric " + options.name + ": expected " +
                             std::to_string(options.label_names.size()) + " label values, got " +
                             std::to_string(values.size()));
    }
    std::vector<std::string> key(values.begin(), values.end());
    std::lock_guard lock(mutex);
    if (auto found = series.find(key); found != series.end()) return found->second;
    const bool over = series.size() >= options.max_series;
    if (over && overflow != nullptr) return overflow;
    std::map<std::string, std::string> labels;
    for (std::size_t i = 0; i < key.size(); ++i) {
      labels[options.label_names[i]] = over ? std::string("_overflow") : key[i];
    }
    void* created = nullptr;
    switch (kind) {
      case kCounter:
        created = &counters->Add(labels);
        break;
      case kGauge:
        created = &gauges->Add(labels);
        break;
      default:
        created = &histograms->Add(labels, buckets);
        break;
    }
    if (over) {
      overflow = created;
    } else {
      series.emplace(std::move(key), created);
    }
    return created;
  }
};

}  // namespace detail

namespace {

bool IsMetricChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

void CheckOptions(const MetricOptions& options, int kind) {
  auto fail = [&](std::string_view why) {
    throw std::logic_error("metric '" + options.name + "': " + std::string(why));
  };
  if (!options.name.starts_with("sop_") || options.name.size() <= 4) fail("must start with sop_");
  for (char c : options.name) {
    if (!IsMetricChar(c)) fail("only [a-z0-9_] allowed");
  }
  const bool ends_total = options.name.ends_with("_total");
  if (kind == detail::kCounter && !ends_total) fail("a counter name ends in _total");
  if (kind != detail::kCounter && ends_total) fail("only counters end in _total");
  if (options.help.empty()) fail("help text required");
  if (options.max_series == 0) fail("max_series must be > 0");
  for (const auto& label : options.label_names) {
    if (label.empty() || label.starts_with("__") || (label[0] >= '0' && label[0] <= '9')) {
      fail("bad label name '" + label + "'");
    }
    for (char c : label) {
      if (!IsMetricChar(c)) fail("bad label name '" + label + "'");
    }
  }
}

// Scrape-time process metrics from /proc/self/stat: CPU seconds and resident memory. Reading a
// small file per scrape costs microseconds, far less than a background sampler.
class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    const std::string content = detail::ReadWholeFile("/proc/self/stat").value_or("");
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const auto close = content.rfind(')');
    if (close == std::string::npos) return {};
    std::istringstream fields(content.substr(close + 2));
    std::vector<std::string> values{std::istream_iterator<std::string>(fields),
                                    std::istream_iterator<std::string>()};
    // values[0] is field 3 (state): utime is field 14, stime 15, rss 24.
    if (values.size() < 22) return {};
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double cpu_seconds = (std::stod(values[11]) + std::stod(values[12])) / ticks;
    const double rss_bytes = std::stod(values[21]) * static_cast<double>(sysconf(_SC_PAGESIZE));

    prometheus::MetricFamily cpu{"process_cpu_seconds_total",
                                 "User and system CPU time spent.",
                                 prometheus::MetricType::Counter,
                                 {}};
    prometheus::ClientMetric cpu_metric;
    cpu_metric.counter.value = cpu_seconds;
    cpu.metric.push_back(cpu_metric);
    prometheus::MetricFamily rss{"process_resident_memory_bytes",
                                 "Resident memory size.",
                                 prometheus::MetricType::Gauge,
                                 {}};
    prometheus::ClientMetric rss_metric;
    rss_metric.gauge.value = rss_bytes;
    rss.metric.push_back(rss_metric);
    return {cpu, rss};
  }
};

// Connects to host:port and hangs up at once; errors are irrelevant (it is only a wake-up).
// A wildcard or unparsable host is reached through loopback.
void PokeListener(const std::string& host, int port) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    if (IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr)) v6->sin6_addr = in6addr_loopback;
    length = sizeof(sockaddr_in6);
  } else {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1 ||
        v4->sin_addr.s_addr == htonl(INADDR_ANY)) {
      v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    length = sizeof(sockaddr_in);
  }
  const int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  (void)::connect(fd, reinterpret_cast<const sockaddr*>(&storage), length);
  ::close(fd);
}

}  // namespace

std::vector<double> DefaultLatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};
}

void Counter::Increment(double amount) const {
  impl_->Increment(amount);
}
double Counter::Value() const {
  return impl_->Value();
}

void Gauge::Set(double value) const {
  impl_->Set(value);
}
void Gauge::Increment(double amount) const {
  impl_->Increment(amount);
}
void Gauge::Decrement(double amount) const {
  impl_->Decrement(amount);
}
double Gauge::Value() const {
  return impl_->Value();
}

void Histogram::Observe(double value) const {
  impl_->Observe(value);
}

Counter CounterFamily::WithLabels(std::initializer_list<std::string_view> values) const {
  return Counter(static_cast<prometheus::Counter*>(state_->Lookup(values)));
}
Gauge GaugeFamily::WithLabels(std::initializer_list<std::string_view> values) const {
  return Gauge(static_cast<prometheus::Gauge*>(state_->Lookup(values)));
}
Histogram HistogramFamily::WithLabels(std::initializer_list<std::string_view> values) const {
  return Histogram(static_cast<prometheus::Histogram*>(state_->Lookup(values)));
}

MetricsRegistry::MetricsRegistry() : registry_(std::make_shared<prometheus::Registry>()) {}
MetricsRegistry::~MetricsRegistry() = default;

detail::FamilyState& MetricsRegistry::AddFamily(const MetricOptions& options, int kind,
                                                std::vector<double> buckets) {
  CheckOptions(options, kind);
  std::lock_guard lock(mutex_);
  if (auto found = families_.find(options.name); found != families_.end()) {
    const auto& existing = *found->second;
    if (existing.kind != kind || existing.options.label_names != options.label_names ||
        existing.options.help != options.help || existing.buckets != buckets) {
      throw std::logic_error("metric '" + options.name + "' added twice with different shapes");
    }
    return *found->second;
  }
  auto state = std::make_unique<detail::FamilyState>(kind, options);
  state->buckets = std::move(buckets);
  switch (kind) {
    case detail::kCounter:
      state->counters =
          &prometheus::BuildCounter().Name(options.name).Help(options.help).Register(*registry_);
      break;
    case detail::kGauge:
      state->gauges =
          &prometheus::BuildGauge().Name(options.name).Help(options.help).Register(*registry_);
      break;
    default:
      state->histograms =
          &prometheus::BuildHistogram().Name(options.name).Help(options.help).Register(*registry_);
      break;
  }
  auto& inserted = *families_.emplace(options.name, std::move(state)).first->second;
  return inserted;
}

CounterFamily MetricsRegistry::AddCounter(const MetricOptions& options) {
  return CounterFamily(&AddFamily(options, detail::kCounter, {}));
}

GaugeFamily MetricsRegistry::AddGauge(const MetricOptions& options) {
  return GaugeFamily(&AddFamily(options, detail::kGauge, {}));
}

HistogramFamily MetricsRegistry::AddHistogram(const MetricOptions& options,
                                              std::vector<double> buckets) {
  if (buckets.empty() || !std::is_sorted(buckets.begin(), buckets.end())) {
    throw std::logic_error("metric '" + options.name + "': buckets must be non-empty, ascending");
  }
  return HistogramFamily(&AddFamily(options, detail::kHistogram, std::move(buckets)));
}

std::vector<std::shared_ptr<prometheus::Collectable>> MetricsRegistry::Collectables() const {
  std::vector<std::shared_ptr<prometheus::Collectable>> all{registry_};
  std::lock_guard lock(mutex_);
  all.insert(all.end(), collectables_.begin(), collectables_.end());
  return all;
}

std::string MetricsRegistry::SerializeText() const {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& collectable : Collectables()) {
    auto collected = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(collected.begin()),
                    std::make_move_iterator(collected.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

void MetricsRegistry::AddProcessMetrics(std::string_view service, std::string_view version) {
  AddGauge({"sop_build_info",
            "Build of the running service; the value is always 1.",
            {"service", "version"},
            1})
      .WithLabels({service, version})
      .Set(1);
  std::lock_guard lock(mutex_);
  if (!collectables_.empty()) return;
  // Standard process_* names (not sop_*), so they bypass the sop_ naming check on purpose.
  const double start =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  prometheus::BuildGauge()
      .Name("process_start_time_seconds")
      .Help("Start time of the process since the Unix epoch in seconds.")
      .Register(*registry_)
      .Add({})
      .Set(start);
  collectables_.push_back(std::make_shared<ProcessCollector>());
}

struct MetricsExposer::Impl {
  std::unique_ptr<prometheus::Exposer> exposer;
  std::string host;
};

MetricsExposer::MetricsExposer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

MetricsExposer::~MetricsExposer() {
  Stop();
}

void MetricsExposer::Stop() {
  if (!impl_ || !impl_->exposer) return;
  // civetweb's accept loop polls with a 2 s quantum and only then sees the stop flag. A
  // connection to the port (closed at once, so no worker waits on it) wakes it immediately,
  // so the exposer, stopped last, does not add 2 s to every shutdown.
  std::mutex mutex;
  std::condition_variable stopped_cv;
  bool stopped = false;
  std::thread stopper([&] {
    impl_->exposer.reset();
    {
      std::lock_guard lock(mutex);
      stopped = true;
    }
    stopped_cv.notify_all();
  });
  std::unique_lock lock(mutex);
  while (!stopped_cv.wait_for(lock, std::chrono::milliseconds(20), [&] { return stopped; })) {
    PokeListener(impl_->host, port_);
  }
  lock.unlock();
  stopper.join();
}

Result<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(MetricsRegistry& registry,
                                                              std::string_view host, int port) {
  // Built by appending: GCC 12 at -O3 reports a false -Wrestrict on "[" + std::string(host).
  std::string address;
  const bool ipv6 = host.find(':') != std::string_view::npos;
  if (ipv6) address.push_back('[');
  address.append(host);
  if (ipv6) address.push_back(']');
  address.push_back(':');
  address.append(std::to_string(port));
  auto impl = std::make_unique<Impl>();
  impl->host = std::string(host);
  try {
    impl->exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const std::exception& error) {
    return Fail(Errc::kUnavailable,
                "metrics.port: cannot listen on " + address + ": " + error.what());
  }
  for (const auto& collectable : registry.Collectables()) {
    impl->exposer->RegisterCollectable(collectable);
  }
  const auto ports = impl->exposer->GetListeningPorts();
  if (ports.empty() || ports.front() <= 0) {
    return Fail(Errc::kUnavailable, "metrics.port: no bound port reported for " + address);
  }
  const int bound = ports.front();
  return std::unique_ptr<MetricsExposer>(new MetricsExposer(std::move(impl), bound));
}

}  // namespace sop::runtime
