#include "sop/stack/stack.hpp"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "process.hpp"
#include "sop/auth/sha256.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/store/redis_store.hpp"

#ifndef SOP_STACK_BUILD_DIR
#define SOP_STACK_BUILD_DIR ""
#endif

namespace sop::stack {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Start-up polls (listening line, PING, health) are bounded by deadlines; the interval only
// trades CPU for latency.
constexpr auto kStartPoll = std::chrono::milliseconds(25);
constexpr int kRedisPortAttempts = 10;

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// Parses Prometheus text exposition: name → sum of its samples (any labels).
std::map<std::string, double> SumSamples(const std::string& text) {
  std::map<std::string, double> sums;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto name_end = line.find_first_of("{ ");
    if (name_end == std::string::npos) continue;
    std::size_t value_start = name_end;
    if (line[name_end] == '{') {
      const auto close = line.find('}', name_end);
      if (close == std::string::npos) continue;
      value_start = close + 1;
    }
    char* end = nullptr;
    const double value = std::strtod(line.c_str() + value_start, &end);
    if (end == line.c_str() + value_start) continue;
    sums[line.substr(0, name_end)] += value;
  }
  return sums;
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// The progress a service shows on /metrics: lag (sum of *_consumer_lag) and activity (sum of
// *_consumed_total and *_produced_total).
struct Progress {
  double lag = 0;
  double activity = 0;
  double consumed = 0;
};

Progress ProgressOf(const std::map<std::string, double>& sums) {
  Progress progress;
  for (const auto& [name, value] : sums) {
    if (!name.starts_with("sop_")) continue;
    if (EndsWith(name, "_consumer_lag")) progress.lag += value;
    if (EndsWith(name, "_consumed_total")) {
      progress.consumed += value;
      progress.activity += value;
    }
    if (EndsWith(name, "_produced_total")) progress.activity += value;
  }
  return progress;
}

std::filesystem::path FindBinary(const std::string& binary, const std::string& kind,
                                 const std::filesystem::path& bin_dir, std::string& looked) {
  std::vector<std::filesystem::path> candidates;
  if (!bin_dir.empty()) candidates.push_back(bin_dir / binary);
  const std::filesystem::path build_dir = SOP_STACK_BUILD_DIR;
  if (!build_dir.empty()) candidates.push_back(build_dir / "services" / kind / binary);
  for (const auto& candidate : candidates) {
    looked += candidate.string() + ", ";
    if (detail::IsExecutable(candidate)) return candidate;
  }
  looked += "PATH";
  return detail::FindOnPath(binary);
}

// A random bearer token (32 hex digits from /dev/urandom).
Result<std::string> RandomToken() {
  std::ifstream random("/dev/urandom", std::ios::binary);
  char bytes[16];
  if (!random.read(bytes, sizeof(bytes))) {
    return Fail(Errc::kUnavailable, "cannot read /dev/urandom");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  for (const char byte : bytes) {
    const auto value = static_cast<unsigned char>(byte);
    token += kHex[value >> 4];
    token += kHex[value & 0xf];
  }
  return token;
}

// One service process of the stack.
struct ServiceProcess {
  ServiceKind kind{};
  int replica = 0;
  std::filesystem::path binary{};
  detail::ChildProcess process{};
  ServiceEndpoint endpoint{};
};

class StackImpl final : public Stack {
 public:
  explicit StackImpl(StackOptions options) : options_(std::move(options)) {}
  ~StackImpl() override { (void)Stop(); }

  Status Launch() {
    std::error_code error;
    std::filesystem::create_directories(options_.dir, error);
    if (error) {
      return Fail(Errc::kInvalidArgument,
                  "dir: cannot create '" + options_.dir.string() + "': " + error.message());
    }
    options_.dir = std::filesystem::absolute(options_.dir);
    if (auto planned = PlanServices(); !planned) return planned;

    auto broker =
        bus::EmbeddedBroker::Start({.brokers = 1, .partitions = options_.partitions, .topics = {}});
    if (!broker) return std::unexpected(broker.error());
    broker_ = std::move(*broker);
    endpoints_.broker = broker_->bootstrap_servers();

    if (options_.redis_per_service) {
      for (const auto& service : services_) {
        const std::string& kind = service->kind.name;
        if (redis_ports_.contains(kind)) continue;
        auto port = StartRedis(kind);
        if (!port) return std::unexpected(port.error());
        redis_ports_[kind] = *port;
        if (endpoints_.redis.empty()) endpoints_.redis = "127.0.0.1:" + std::to_string(*port);
      }
    } else {
      auto port = StartRedis("");
      if (!port) return std::unexpected(port.error());
      redis_ports_[""] = *port;
      endpoints_.redis = "127.0.0.1:" + std::to_string(*port);
    }
    for (auto& service : services_) {
      service->endpoint.redis = "127.0.0.1:" + std::to_string(RedisPortOf(*service));
      SyncEndpoint(*service);
    }
    if (auto tokens = PrepareTokens(); !tokens) return tokens;

    for (auto& service : services_) {
      if (auto started = StartService(*service); !started) return started;
    }
    return WriteStackJson();
  }

  const StackEndpoints& Endpoints() const override { return endpoints_; }
  const std::vector<std::string>& Skipped() const override { return skipped_; }

  bool Has(std::string_view kind) const override {
    return std::any_of(services_.begin(), services_.end(),
                       [&](const auto& service) { return service->kind.name == kind; });
  }

  Status Kill(std::string_view name, int signal) override {
    ServiceProcess* service = FindService(name);
    if (service == nullptr) return NotFound(name);
    if (!service->process.running()) {
      return Fail(Errc::kFailedPrecondition, "service '" + std::string(name) + "' is not running");
    }
    if (auto sent = service->process.Signal(signal); !sent) return sent;
    if (signal == SIGKILL || signal == SIGTERM) {
      const auto timeout = signal == SIGKILL ? 10s : options_.stop_timeout;
      if (!service->process.Wait(std::chrono::duration_cast<std::chrono::milliseconds>(timeout))) {
        return Fail(Errc::kDeadlineExceeded, "service '" + std::string(name) + "' did not exit");
      }
      service->endpoint.pid = -1;
      SyncEndpoint(*service);
      return WriteStackJson();
    }
    return {};
  }

  Status Restart(std::string_view name) override {
    ServiceProcess* service = FindService(name);
    if (service == nullptr) return NotFound(name);
    if (service->process.running()) {
      bool forced = false;
      (void)service->process.Terminate(options_.stop_timeout, forced);
    }
    if (auto started = StartService(*service); !started) return started;
    return WriteStackJson();
  }

  Result<std::string> Scrape(std::string_view name) const override {
    const ServiceEndpoint* endpoint = endpoints_.Find(name);
    if (endpoint == nullptr) return NotFound(name);
    if (endpoint->metrics.empty()) {
      return Fail(Errc::kFailedPrecondition,
                  "service '" + std::string(name) + "' has no metrics endpoint");
    }
    return detail::HttpGet(endpoint->metrics, "/metrics", 5s);
  }

  Result<double> MetricSum(std::string_view name, std::string_view metric) const override {
    auto text = Scrape(name);
    if (!text) return std::unexpected(text.error());
    const auto sums = SumSamples(*text);
    const auto found = sums.find(std::string(metric));
    return found == sums.end() ? 0.0 : found->second;
  }

  Result<SettleReport> WaitSettled(const SettleOptions& options) const override {
    const auto start = Clock::now();
    const auto deadline = start + options.timeout;
    std::map<std::string, Progress> last;
    std::map<std::string, Clock::time_point> steady_since;
    std::string busy;
    for (;;) {
      bool all_settled = true;
      busy.clear();
      const auto now = Clock::now();
      for (const auto& service : services_) {
        if (!service->process.running()) continue;
        const std::string& name = service->endpoint.name;
        auto text = Scrape(name);
        if (!text) {
          all_settled = false;
          busy += " " + name + " (metrics: " + text.error().message() + ")";
          steady_since.erase(name);
          continue;
        }
        const Progress progress = ProgressOf(SumSamples(*text));
        const auto previous = last.find(name);
        const auto minimum = options.min_consumed.find(name);
        const bool reached =
            minimum == options.min_consumed.end() || progress.consumed >= minimum->second;
        const bool unchanged = previous != last.end() &&
                               previous->second.activity == progress.activity &&
                               progress.lag == 0 && reached;
        if (!unchanged) steady_since[name] = now;
        last[name] = progress;
        if (now - steady_since[name] < options.quiet) {
          all_settled = false;
          std::ostringstream line;
          line << " " << name << " (lag " << progress.lag << ", consumed " << progress.consumed;
          if (!reached) line << " of " << minimum->second;
          line << ")";
          busy += line.str();
        }
      }
      if (options.on_poll) {
        std::map<std::string, double> consumed;
        for (const auto& [name, progress] : last) consumed[name] = progress.consumed;
        options.on_poll(consumed, busy);
      }
      if (all_settled) {
        SettleReport report;
        report.waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - start);
        for (const auto& [name, progress] : last) report.consumed[name] = progress.consumed;
        return report;
      }
      if (options.stop_requested && options.stop_requested()) {
        return Fail(Errc::kCancelled, "stopped while waiting for the pipeline to settle");
      }
      if (Clock::now() >= deadline) {
        return Fail(Errc::kDeadlineExceeded, "pipeline not settled after " +
                                                 std::to_string(options.timeout.count()) +
                                                 " ms; still busy:" + busy);
      }
      std::this_thread::sleep_for(options.poll);
    }
  }

  Status Stop() override {
    if (stopped_) return {};
    stopped_ = true;
    Status first;
    for (auto it = services_.rbegin(); it != services_.rend(); ++it) {
      ServiceProcess& service = **it;
      if (!service.process.running()) continue;
      bool forced = false;
      const detail::ExitStatus status = service.process.Terminate(options_.stop_timeout, forced);
      service.endpoint.pid = -1;
      SyncEndpoint(service);
      if (first && (forced || !status.exited || status.code != 0)) {
        first = Fail(
            Errc::kInternal,
            "service '" + service.endpoint.name + "' " +
                (forced ? "needed SIGKILL after SIGTERM" : "stopped with " + status.ToString()) +
                "; log " + service.endpoint.log.string() + ":\n" + LogTail(service.endpoint.log));
      }
    }
    for (auto& [name, process] : redis_) {
      if (!process->running()) continue;
      bool forced = false;
      (void)process->Terminate(options_.stop_timeout, forced);
    }
    broker_.reset();
    if (options_.write_stack_json) {
      std::error_code ignored;  // stale addresses and pids would mislead clients
      std::filesystem::remove(options_.dir / "stack.json", ignored);
    }
    return first;
  }

 private:
  static std::unexpected<Error> NotFound(std::string_view name) {
    return Fail(Errc::kNotFound, "service '" + std::string(name) + "' is not part of the stack");
  }

  ServiceProcess* FindService(std::string_view name) {
    for (auto& service : services_) {
      if (service->endpoint.name == name) return service.get();
    }
    return nullptr;
  }

  void SyncEndpoint(const ServiceProcess& service) {
    for (auto& endpoint : endpoints_.services) {
      if (endpoint.name == service.endpoint.name) endpoint = service.endpoint;
    }
  }

  Status PlanServices() {
    std::set<std::string> known;
    for (const auto& kind : KnownServices()) known.insert(kind.name);
    for (const auto& name : options_.services) {
      if (!known.contains(name)) {
        return InvalidField("services",
                            "unknown service (known: ingestion, forecasting, mrp, "
                            "capacity, exceptions, workflow)",
                            name);
      }
    }
    for (const auto& [name, count] : options_.replicas) {
      if (!known.contains(name)) return InvalidField("replicas", "unknown service", name);
      if (count < 1 || count > 8) {
        return InvalidField("replicas", "must be 1..8 for '" + name + "'", std::to_string(count));
      }
    }
    if (options_.partitions < 1 || options_.partitions > 64) {
      return InvalidField("partitions", "must be 1..64", std::to_string(options_.partitions));
    }
    if (options_.fetch_wait_max_ms < 1 || options_.fetch_wait_max_ms > 10'000) {
      return InvalidField("fetch_wait_max_ms", "must be 1..10000",
                          std::to_string(options_.fetch_wait_max_ms));
    }
    const std::set<std::string> requested(options_.services.begin(), options_.services.end());
    for (const auto& kind : KnownServices()) {
      if (!requested.empty() && !requested.contains(kind.name)) continue;
      std::string looked;
      const auto binary = FindBinary(kind.binary, kind.name, options_.bin_dir, looked);
      if (binary.empty()) {
        if (!requested.empty()) {
          return Fail(Errc::kNotFound, "service '" + kind.name + "': binary " + kind.binary +
                                           " not found (looked in " + looked +
                                           "); build it first (cmake --build <dir> --target " +
                                           kind.binary + ")");
        }
        skipped_.push_back(kind.name + " (" + kind.binary + " not built)");
        continue;
      }
      const auto replicas =
          options_.replicas.contains(kind.name) ? options_.replicas[kind.name] : 1;
      for (int replica = 0; replica < replicas; ++replica) {
        auto service = std::make_unique<ServiceProcess>();
        service->kind = kind;
        service->replica = replica;
        service->binary = binary;
        service->endpoint.kind = kind.name;
        service->endpoint.replica = replica;
        service->endpoint.name =
            replica == 0 ? kind.name : kind.name + "-" + std::to_string(replica);
        service->endpoint.log = options_.dir / (service->endpoint.name + ".log");
        endpoints_.services.push_back(service->endpoint);
        services_.push_back(std::move(service));
      }
    }
    return {};
  }

  // One random token per local principal (LocalPrincipals()); only their hashes go into the
  // tokens file, the clear tokens into DIR/<principal>.token (0600).
  Status PrepareTokens() {
    if (!options_.tokens_file.empty()) {
      tokens_file_ = std::filesystem::absolute(options_.tokens_file);
      return {};
    }
    std::string lines = "# written by sop-stack for this local stack only\n";
    for (const LocalPrincipal& principal : LocalPrincipals()) {
      auto token = RandomToken();
      if (!token) return std::unexpected(token.error());
      const auto token_file = options_.dir / (principal.name + ".token");
      if (auto written = detail::WriteAtomically(token_file, *token + "\n"); !written) {
        return written;
      }
      std::error_code ignored;
      std::filesystem::permissions(
          token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
          ignored);
      lines += "sha256:" + auth::Sha256Hex(*token) + "  " + principal.name + "  " +
               principal.roles + "\n";
      endpoints_.token_files[principal.name] = token_file;
      if (principal.name == "workflow") workflow_token_ = *token;
    }
    tokens_file_ = options_.dir / "tokens";
    if (auto written = detail::WriteAtomically(tokens_file_, lines); !written) return written;
    endpoints_.demo_token_file = endpoints_.token_files.at("demo");
    return {};
  }

  // One redis-server: `name` is "" (shared) or a service kind (its own server, DIR/redis-<kind>).
  Result<int> StartRedis(const std::string& name) {
    std::filesystem::path executable = options_.redis_executable;
    if (executable.empty()) {
      const char* configured = std::getenv("SOP_REDIS_SERVER");
      executable = configured != nullptr && *configured != '\0' ? configured : "redis-server";
    }
    if (executable.string().find('/') == std::string::npos) {
      executable = detail::FindOnPath(executable.string());
    }
    if (executable.empty() || !detail::IsExecutable(executable)) {
      return Fail(Errc::kNotFound,
                  "redis-server not found (install the redis-server package, or set "
                  "SOP_REDIS_SERVER)");
    }
    const std::string base = name.empty() ? "redis" : "redis-" + name;
    const auto redis_dir = options_.dir / base;
    std::error_code ignored;
    std::filesystem::create_directories(redis_dir, ignored);
    const auto log = options_.dir / (base + ".log");
    auto& process = redis_[name];
    process = std::make_unique<detail::ChildProcess>();
    std::string problem;
    for (int attempt = 0; attempt < kRedisPortAttempts; ++attempt) {
      const int port = detail::PickFreePort();
      if (port == 0) return Fail(Errc::kUnavailable, "redis-server: no free loopback port");
      const auto config = redis_dir / "redis.conf";
      std::string text = "port " + std::to_string(port) +
                         "\nbind 127.0.0.1\ndaemonize no\nsave \"\"\nappendonly no\n"
                         "dir \"" +
                         redis_dir.string() + "\"\n";
      if (auto written = detail::WriteAtomically(config, text); !written) {
        return std::unexpected(written.error());
      }
      const auto offset = detail::FileSize(log);
      if (auto spawned = process->Spawn({executable.string(), config.string()}, {}, log);
          !spawned) {
        return std::unexpected(spawned.error());
      }
      store::RedisStoreOptions probe_options;
      probe_options.port = port;
      probe_options.connect_timeout = 100ms;
      probe_options.command_timeout = 500ms;
      const auto deadline = Clock::now() + 10s;
      for (;;) {
        if (auto status = process->Poll()) {
          problem = "redis-server on port " + std::to_string(port) + " " + status->ToString() +
                    ": " + LogTail(log);
          break;
        }
        store::RedisStore probe(probe_options);
        if (probe.Ping()) return port;
        if (Clock::now() >= deadline) {
          bool forced = false;
          (void)process->Terminate(1s, forced);
          return Fail(Errc::kUnavailable, "redis-server on port " + std::to_string(port) +
                                              " did not answer PING within 10 s: " + LogTail(log));
        }
        std::this_thread::sleep_for(kStartPoll);
      }
      // Another process took the port between the pick and the bind: try another one.
      const std::string this_launch = detail::ReadFile(log).substr(offset);
      if (this_launch.find("Address already in use") == std::string::npos) {
        return Fail(Errc::kUnavailable, problem);
      }
    }
    return Fail(Errc::kUnavailable, "redis-server: every picked port was taken: " + problem);
  }

  std::vector<std::string> ServiceEnv(const ServiceProcess& service) const {
    std::vector<std::string> env = {
        "SOP_KAFKA_BOOTSTRAP_SERVERS=" + endpoints_.broker,
        "SOP_KAFKA_GROUP_ID=" + service.kind.group,
        "SOP_REDIS_HOST=127.0.0.1",
        "SOP_REDIS_PORT=" + std::to_string(RedisPortOf(service)),
        "SOP_GRPC_HOST=127.0.0.1",
        "SOP_GRPC_PORT=0",
        "SOP_METRICS_HOST=127.0.0.1",
        "SOP_METRICS_PORT=0",
        "SOP_SERVICE_INSTANCE=" + service.kind.name + "-" + std::to_string(service.replica),
        "SOP_AUTH_TOKENS_FILE=" + tokens_file_.string(),
        std::string("SOP_AUTH_OPEN_READS=") + (options_.open_reads ? "true" : "false"),
    };
    if (service.kind.name == "workflow") {
      // The workflow service assembles its artifacts from the services started before it.
      for (const char* source : {"forecasting", "mrp", "capacity", "exceptions"}) {
        if (const ServiceEndpoint* endpoint = endpoints_.Find(source);
            endpoint != nullptr && !endpoint->grpc.empty()) {
          std::string name = source;
          std::transform(name.begin(), name.end(), name.begin(),
                         [](char c) { return static_cast<char>(std::toupper(c)); });
          env.push_back("SOP_WORKFLOW_" + name + "_ADDRESS=" + endpoint->grpc);
        }
      }
      if (!workflow_token_.empty()) env.push_back("SOP_WORKFLOW_SOURCE_TOKEN=" + workflow_token_);
    }
    if (options_.fast_kafka) {
      // A local group: members notice each other quickly, fetches answer quickly.
      env.push_back("SOP_KAFKA_SESSION_TIMEOUT_MS=6000");
      env.push_back("SOP_KAFKA_HEARTBEAT_INTERVAL_MS=300");
      env.push_back("SOP_KAFKA_FETCH_WAIT_MAX_MS=" + std::to_string(options_.fetch_wait_max_ms));
      env.push_back("SOP_KAFKA_LOG__LEVEL=3");
    }
    env.insert(env.end(), options_.extra_env.begin(), options_.extra_env.end());
    return env;
  }

  Status StartService(ServiceProcess& service) {
    std::vector<std::string> argv = {service.binary.string()};
    if (auto extra = options_.extra_args.find(service.kind.name);
        extra != options_.extra_args.end()) {
      argv.insert(argv.end(), extra->second.begin(), extra->second.end());
    }
    const auto& log = service.endpoint.log;
    const auto offset = detail::FileSize(log);
    if (auto spawned = service.process.Spawn(argv, ServiceEnv(service), log); !spawned) {
      return spawned;
    }
    service.endpoint.pid = service.process.pid();
    service.endpoint.grpc.clear();
    service.endpoint.metrics.clear();
    SyncEndpoint(service);
    const auto fail = [&](const std::string& what) -> Status {
      bool forced = false;
      if (service.process.running()) (void)service.process.Terminate(2s, forced);
      service.endpoint.pid = -1;
      SyncEndpoint(service);
      return Fail(Errc::kUnavailable, "service '" + service.endpoint.name + "' (" +
                                          service.binary.string() + ") " + what + "; log " +
                                          log.string() + ":\n" + LogTail(log));
    };

    // The listening line names the ports the service bound (it was given port 0).
    static const std::regex kGrpcPort("\"grpc_port\":([0-9]+)");
    static const std::regex kMetricsPort("\"metrics_port\":([0-9]+)");
    const auto deadline = Clock::now() + options_.start_timeout;
    int grpc_port = 0;
    int metrics_port = 0;
    while (grpc_port == 0) {
      if (auto status = service.process.Poll()) return fail("exited early: " + status->ToString());
      const std::string text = detail::ReadFile(log);
      std::istringstream lines(text.size() > offset ? text.substr(offset) : std::string());
      std::string line;
      while (std::getline(lines, line)) {
        if (line.find("\"msg\":\"listening\"") == std::string::npos) continue;
        std::smatch match;
        if (std::regex_search(line, match, kGrpcPort)) grpc_port = std::stoi(match[1]);
        if (std::regex_search(line, match, kMetricsPort)) metrics_port = std::stoi(match[1]);
      }
      if (grpc_port != 0) break;
      if (Clock::now() >= deadline) {
        return fail("did not log its \"listening\" line within " +
                    std::to_string(options_.start_timeout.count()) + " ms");
      }
      std::this_thread::sleep_for(kStartPoll);
    }
    service.endpoint.grpc = "127.0.0.1:" + std::to_string(grpc_port);
    if (metrics_port != 0) service.endpoint.metrics = "127.0.0.1:" + std::to_string(metrics_port);
    SyncEndpoint(service);

    // grpc.health.v1: overall and the service's own name must be SERVING.
    auto channel = grpc::CreateChannel(service.endpoint.grpc, grpc::InsecureChannelCredentials());
    auto health = grpc::health::v1::Health::NewStub(channel);
    std::string last_answer = "no answer";
    for (;;) {
      if (auto status = service.process.Poll()) return fail("exited early: " + status->ToString());
      bool serving = true;
      for (const std::string& name : {std::string(), service.kind.grpc_service}) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + 1s);
        grpc::health::v1::HealthCheckRequest request;
        request.set_service(name);
        grpc::health::v1::HealthCheckResponse response;
        const grpc::Status status = health->Check(&context, request, &response);
        if (!name.empty() && status.error_code() == grpc::StatusCode::NOT_FOUND) {
          continue;  // the service reports health only overall
        }
        if (!status.ok()) {
          serving = false;
          last_answer = "health '" + name + "': " + status.error_message();
          break;
        }
        if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
          serving = false;
          last_answer =
              "health '" + name +
              "': " + grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
          break;
        }
      }
      if (serving) return {};
      if (Clock::now() >= deadline) {
        return fail("not SERVING within " + std::to_string(options_.start_timeout.count()) +
                    " ms (" + last_answer + ")");
      }
      std::this_thread::sleep_for(kStartPoll);
    }
  }

  Status WriteStackJson() const {
    if (!options_.write_stack_json) return {};
    return detail::WriteAtomically(options_.dir / "stack.json", endpoints_.ToJson() + "\n");
  }

  StackOptions options_;
  std::unique_ptr<bus::EmbeddedBroker> broker_;
  int RedisPortOf(const ServiceProcess& service) const {
    const auto found = redis_ports_.find(options_.redis_per_service ? service.kind.name : "");
    return found == redis_ports_.end() ? 0 : found->second;
  }

  std::map<std::string, std::unique_ptr<detail::ChildProcess>> redis_;
  std::map<std::string, int> redis_ports_;
  std::filesystem::path tokens_file_;
  std::string workflow_token_;  ///< the generated "workflow" principal's token (sources)
  std::vector<std::unique_ptr<ServiceProcess>> services_;
  StackEndpoints endpoints_;
  std::vector<std::string> skipped_;
  bool stopped_ = false;
};

}  // namespace

const std::vector<ServiceKind>& KnownServices() {
  static const std::vector<ServiceKind> kKinds = {
      {"ingestion", "sop-ingestion", "sop-ingestion", "sop.v1.Ingestion"},
      {"forecasting", "sop-forecasting", "sop-forecasting", "sop.v1.Forecasting"},
      {"mrp", "sop-mrp", "sop-mrp", "sop.v1.Mrp"},
      {"capacity", "sop-capacity", "sop-capacity", "sop.v1.Capacity"},
      {"exceptions", "sop-exceptions", "sop-exceptions", "sop.v1.Exceptions"},
      {"workflow", "sop-workflow", "sop-workflow", "sop.v1.Workflow"},
  };
  return kKinds;
}

const std::vector<LocalPrincipal>& LocalPrincipals() {
  static const std::vector<LocalPrincipal> kPrincipals = {
      {"demo", "planner,demand_lead,sales_lead,supply_lead,finance_partner,executive,reader"},
      {"dana", "demand_lead"},
      {"sam", "sales_lead"},
      {"sue", "supply_lead"},
      {"fin", "finance_partner"},
      {"eve", "executive"},
      {"pat", "planner"},
      {"rita", "reader"},
      {"workflow", "workflow"},
  };
  return kPrincipals;
}

const ServiceEndpoint* StackEndpoints::Find(std::string_view name) const {
  for (const auto& service : services) {
    if (service.name == name) return &service;
  }
  return nullptr;
}

std::string StackEndpoints::ToJson() const {
  std::string json =
      "{\"broker\":" + JsonString(broker) + ",\"redis\":" + JsonString(redis) + ",\"services\":{";
  bool first = true;
  for (const auto& service : services) {
    if (!first) json += ",";
    first = false;
    json += JsonString(service.name) + ":{\"grpc\":" + JsonString(service.grpc) +
            ",\"metrics\":" + JsonString(service.metrics) +
            ",\"redis\":" + JsonString(service.redis) + ",\"pid\":" + std::to_string(service.pid) +
            ",\"log\":" + JsonString(service.log.string()) + "}";
  }
  return json + "}}";
}

std::filesystem::path FindServiceBinary(std::string_view kind,
                                        const std::filesystem::path& bin_dir) {
  for (const auto& known : KnownServices()) {
    if (known.name == kind) {
      std::string looked;
      return FindBinary(known.binary, known.name, bin_dir, looked);
    }
  }
  return {};
}

std::string LogTail(const std::filesystem::path& path, std::size_t bytes) {
  std::string text = detail::ReadFile(path);
  if (text.size() > bytes) text = "..." + text.substr(text.size() - bytes);
  return text.empty() ? std::string("(empty log)") : text;
}

Result<std::unique_ptr<Stack>> Stack::Start(StackOptions options) {
  if (options.dir.empty()) return InvalidField("dir", "required", "");
  auto stack = std::make_unique<StackImpl>(std::move(options));
  if (auto launched = stack->Launch(); !launched) {
    (void)stack->Stop();
    return std::unexpected(launched.error());
  }
  return std::unique_ptr<Stack>(std::move(stack));
}

}  // namespace sop::stack
