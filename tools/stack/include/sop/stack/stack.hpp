#pragma once
/// sop::stack — the whole sopstream system on one machine, as separate processes: the embedded
/// Kafka broker, a redis-server on a free loopback port and every built service binary
/// (sop-ingestion, sop-forecasting, sop-mrp, sop-capacity, sop-exceptions, sop-workflow), each
/// with its own consumer group, free gRPC/metrics ports and a log file. Used by `sop-stack up`,
/// the live `sop-demo` and the end-to-end tests (tests/e2e).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"

namespace sop::stack {

/// A service the stack knows how to run: short name "mrp" → binary "sop-mrp", consumer group
/// "sop-mrp", gRPC service "sop.v1.Mrp".
struct ServiceKind {
  std::string name{};          ///< "mrp"
  std::string binary{};        ///< "sop-mrp"
  std::string group{};         ///< "sop-mrp" (kafka.group.id)
  std::string grpc_service{};  ///< "sop.v1.Mrp" (health is checked for "" and this name)
};

/// The services in pipeline order: ingestion, forecasting, mrp, capacity, exceptions, workflow.
/// Start follows this order; stop is the reverse.
const std::vector<ServiceKind>& KnownServices();

/// What to start.
struct StackOptions {
  /// Logs (DIR/<service>.log, DIR/<service>-<replica>.log for replicas > 0,
  /// DIR/redis-<service>.log or DIR/redis.log), redis files (DIR/redis-<service>/ or DIR/redis/)
  /// and DIR/stack.json. Created if missing. Required.
  std::filesystem::path dir{};
  /// Where service binaries are looked for first; then the build tree this library was built
  /// in (services/<name>/sop-<name>), then PATH. Empty: skip the first step.
  std::filesystem::path bin_dir{};
  /// Short names to start. Empty: every known service whose binary is found (a missing one is
  /// reported in Stack::Skipped()). A service named here whose binary is missing fails Start.
  std::vector<std::string> services{};
  /// Replicas per service (default 1), e.g. {"mrp", 2}.
  std::map<std::string, int> replicas{};
  /// Partitions of every sop.* topic on the embedded broker.
  std::int32_t partitions = 6;
  /// Extra flags per service short name (e.g. {"mrp", {"--mrp.batch.quiet=50ms"}}).
  std::map<std::string, std::vector<std::string>> extra_args{};
  /// Extra environment for every service (NAME=value), after the stack's own settings. The
  /// stack configures services through SOP_* variables (unknown ones are ignored by
  /// sop::runtime), so a service that lacks a setting still starts.
  std::vector<std::string> extra_env{};
  /// Kafka client settings for fast local groups (session timeout, heartbeat, fetch wait),
  /// passed as SOP_KAFKA_* variables; set false to use librdkafka's defaults.
  bool fast_kafka = true;
  /// With fast_kafka: fetch.wait.max.ms of every service's consumers. The embedded broker
  /// (librdkafka's mock cluster) answers an empty fetch only after this whole wait, so each
  /// Kafka hop of a change can add up to this much latency; lower costs more idle fetches.
  std::int32_t fetch_wait_max_ms = 50;
  /// One redis-server per service kind (its replicas share it) instead of one for all: a
  /// service writing large snapshots then cannot stall another's checkpoints (Redis runs one
  /// command at a time).
  bool redis_per_service = true;
  /// redis-server executable: path or name on PATH; empty = $SOP_REDIS_SERVER or redis-server.
  std::string redis_executable{};
  /// Per process: how long to wait for the listening line and SERVING on grpc.health.v1.
  std::chrono::milliseconds start_timeout{60'000};
  /// Per process: how long SIGTERM may take before SIGKILL.
  std::chrono::milliseconds stop_timeout{25'000};
  /// Write DIR/stack.json after start and after every Restart (removed by Stop).
  bool write_stack_json = true;
  /// Bearer tokens file every service enforces (SOP_AUTH_TOKENS_FILE: the platform call policy
  /// of libs/auth, and the workflow service's own checks). Empty: the stack writes DIR/tokens
  /// with the local principals of LocalPrincipals() and each clear token to
  /// DIR/<principal>.token (mode 0600) for local clients — for this local stack only.
  std::filesystem::path tokens_file{};
  /// Reads need no token (SOP_AUTH_OPEN_READS; writes always need their roles). On by default
  /// for a local stack, so dashboards, tests and tools read without a token.
  bool open_reads = true;
};

/// A principal of the generated tokens file: name and roles (comma-separated).
struct LocalPrincipal {
  std::string name;
  std::string roles;
};
/// The generated principals: "demo" (every role), the S&OP cycle's people — dana (demand_lead),
/// sam (sales_lead), sue (supply_lead), fin (finance_partner), eve (executive), pat (planner) —,
/// rita (reader) and the workflow service's own principal "workflow" (role workflow: it calls
/// Forecasting.AdjustForecast when a demand change request is approved).
const std::vector<LocalPrincipal>& LocalPrincipals();

/// One running (or killed) service process.
struct ServiceEndpoint {
  std::string name{};  ///< "mrp" for replica 0, "mrp-1" for replica 1, ...
  std::string kind{};  ///< "mrp"
  int replica = 0;
  std::string grpc{};     ///< "127.0.0.1:port"
  std::string metrics{};  ///< "127.0.0.1:port" (GET /metrics)
  std::string redis{};    ///< "127.0.0.1:port" of the redis-server it uses
  pid_t pid = -1;         ///< -1 once it was killed or stopped
  std::filesystem::path log{};
};

/// Where everything listens.
struct StackEndpoints {
  std::string broker{};  ///< bootstrap.servers
  std::string redis{};   ///< "127.0.0.1:port" (the shared one, or the first service's)
  /// The clear token of the "demo" principal (DIR/demo.token); empty with options.tokens_file.
  std::filesystem::path demo_token_file{};
  /// Principal → file holding its clear token (DIR/<principal>.token); empty with
  /// options.tokens_file.
  std::map<std::string, std::filesystem::path> token_files{};
  std::vector<ServiceEndpoint> services{};  ///< start order

  /// The endpoint named `name` ("mrp", "mrp-1"); nullptr if not part of the stack.
  const ServiceEndpoint* Find(std::string_view name) const;
  /// {"broker":..,"redis":..,"services":{name:{"grpc":..,"metrics":..,"redis":..,"pid":..,
  /// "log":..}}}
  std::string ToJson() const;
};

/// How WaitSettled decides that the pipeline has caught up.
struct SettleOptions {
  /// Every service must show consumer lag 0 and unchanged consumed/produced counters for this
  /// long (longer than the services' batch quiet times, so a batch in progress is seen).
  std::chrono::milliseconds quiet{1'500};
  std::chrono::milliseconds timeout{120'000};
  /// Metrics poll interval.
  std::chrono::milliseconds poll{200};
  /// Per endpoint name: the `*_consumed_total` sum it must reach first (e.g. {"ingestion",
  /// events produced}). Lag gauges are sampled by the services from their latest fetch and read
  /// 0 before a consumer has joined its group, so a caller that knows what it sent says so here.
  std::map<std::string, double> min_consumed{};
  /// Polled every round: true ends the wait with kCancelled (e.g. Ctrl-C in the demo).
  std::function<bool()> stop_requested{};
  /// Called every round with each endpoint's `*_consumed_total` sum and what still keeps the
  /// pipeline from settling (progress display).
  std::function<void(const std::map<std::string, double>& consumed, const std::string& busy)>
      on_poll{};
};

/// What WaitSettled observed.
struct SettleReport {
  std::chrono::milliseconds waited{0};
  /// Per service endpoint name: sum of its `*_consumed_total` series when it settled.
  std::map<std::string, double> consumed{};
};

/// A running stack. Start launches broker → redis → services (pipeline order, replicas of a
/// service together) and returns once every service reports SERVING; the destructor (or Stop)
/// stops services in reverse order with SIGTERM (SIGKILL after stop_timeout), then redis, then
/// the broker.
///
/// The embedded broker runs inside this process (bus::EmbeddedBroker, real sockets on
/// 127.0.0.1); redis-server and the services are child processes that get SIGKILL if the thread
/// that started them exits (PR_SET_PDEATHSIG), so a crashed test leaves nothing behind.
/// Threads: not thread-safe; drive a Stack from one thread (the one that called Start).
/// Errors: Start fails with kInvalidArgument for bad options (naming the option and value),
/// kNotFound for a requested service whose binary is missing (naming where it looked),
/// kUnavailable when a process exits early or does not become SERVING in time (the message
/// holds the tail of its log). Everything started so far is stopped before Start returns an
/// error.
class Stack {
 public:
  static Result<std::unique_ptr<Stack>> Start(StackOptions options);
  virtual ~Stack() = default;

  /// Where everything listens (pids and ports follow Kill/Restart).
  virtual const StackEndpoints& Endpoints() const = 0;
  /// Known services not started because their binary was not found, with the reason.
  virtual const std::vector<std::string>& Skipped() const = 0;
  /// Whether a service kind ("capacity") was started.
  virtual bool Has(std::string_view kind) const = 0;

  /// Sends `signal` to the service endpoint `name` ("mrp", "mrp-1"); for SIGKILL/SIGTERM also
  /// reaps it (SIGTERM: waits up to stop_timeout). kNotFound for an unknown name,
  /// kFailedPrecondition if it is not running.
  virtual Status Kill(std::string_view name, int signal) = 0;
  /// Starts `name` again (stopping it first with SIGTERM if it runs) with the same settings and
  /// log file (appended), and waits for SERVING. Its ports change; Endpoints() and stack.json
  /// are updated.
  virtual Status Restart(std::string_view name) = 0;

  /// GET http://<metrics>/metrics of endpoint `name`.
  virtual Result<std::string> Scrape(std::string_view name) const = 0;
  /// Sum of every sample of metric `metric` (exact name, any labels) on endpoint `name`;
  /// 0 when the metric has no samples.
  virtual Result<double> MetricSum(std::string_view name, std::string_view metric) const = 0;
  /// Polls every running service's /metrics until all of them show zero consumer lag and
  /// unchanged `*_consumed_total` / `*_produced_total` sums for `quiet`. kDeadlineExceeded
  /// (naming the services still busy) after `timeout`.
  virtual Result<SettleReport> WaitSettled(const SettleOptions& options) const = 0;

  /// Stops everything (services in reverse start order, redis, broker). Idempotent. Returns the
  /// first problem (a service that needed SIGKILL or exited non-zero), having stopped the rest.
  virtual Status Stop() = 0;

 protected:
  Stack() = default;
};

/// Where the stack would start service `kind` ("mrp") from: `bin_dir`, the build tree this
/// library was built in, PATH. Empty if the binary is not built.
std::filesystem::path FindServiceBinary(std::string_view kind,
                                        const std::filesystem::path& bin_dir = {});

/// The tail (last `bytes`) of a log file, for error messages.
std::string LogTail(const std::filesystem::path& path, std::size_t bytes = 1'500);

}  // namespace sop::stack
