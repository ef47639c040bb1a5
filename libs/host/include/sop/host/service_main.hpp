#pragma once
/// Runs a service binary: the main() every sopstream service shares.
///
/// RunServiceMain(spec, argc, argv):
///  1. declares the shared settings (runtime::AddServiceSettings, with this service's default
///     gRPC and metrics ports), the host settings below, and the service's own (spec.add_settings);
///  2. loads and validates the config: a bad or missing setting exits 64 naming the setting,
///     the value and where it came from (kafka.bootstrap.servers is required); --help prints
///     every setting and exits 0;
///  3. builds the logger, the signal watcher (before any thread), the metrics registry and the
///     exposer, then the service (spec.start, given a ServiceContext whose `host` options are
///     already filled from the config), then the gRPC server (the service's gRPC services,
///     health, reflection, RED metrics) last, and turns it SERVING (overall and per service);
///  4. health follows the service: ServiceContext::set_healthy (wired into HostOptions::
///     on_health_change) turns every health entry NOT_SERVING / SERVING;
///  5. on SIGTERM/SIGINT: NOT_SERVING, `shutdown.drain`, the service's Stop (intake stops,
///     offsets are committed, the last batch published and snapshotted), gRPC shutdown,
///     exposer stop, exit 0. A second signal or `shutdown.timeout` forces exit 2.
///     A ServiceKind::kStandalone service (ingestion) is stopped after gRPC instead: its calls
///     feed its own pipeline, so in-flight calls finish while the pipeline still runs.
///
/// Host settings (each also as SOP_<NAME> in the environment; a kStandalone service declares
/// only kafka.*, redis.host, redis.port, service.instance and auth.*):
///   kafka.bootstrap.servers  (pass-through, required)  kafka.group.id (pass-through, default
///                            the service's consumer group); every other kafka.* → librdkafka
///   redis.host      string   127.0.0.1
///   redis.port      int      6379   [1, 65535]
///   redis.timeout   duration 5s     [10ms, 60s]  bound of one Redis command
///   service.instance string  <service>-0        this replica's name in logs
///                                               (spec.default_instance when set)
///   <service>.batch.quiet  duration  (spec.batch_quiet)  [1ms, 10s]
///   <service>.batch.max    duration  (spec.batch_max)    [10ms, 5m]
///   auth.tokens-file string  ""    bearer tokens (libs/auth); every call is checked against the
///                                  platform call policy before its handler runs: missing or
///                                  unknown token UNAUTHENTICATED, wrong role PERMISSION_DENIED,
///                                  both logged and counted in sop_<service>_auth_denied_total.
///                                  Empty: dev mode, every call open (WARN line at start-up).
///                                  An unreadable or invalid file exits 64 naming the setting.
///   auth.open-reads  bool    false reads need no token (writes still need their roles)

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sop/host/partitioned_state.hpp"
#include "sop/model/error.hpp"
#include "sop/runtime/config.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"

namespace grpc {
class Service;
}  // namespace grpc

namespace sop::host {

/// Exit code of a configuration error (EX_USAGE).
inline constexpr int kConfigErrorExitCode = 64;

/// A running service as the main helper sees it.
class RunningService {
 public:
  virtual ~RunningService() = default;
  /// The gRPC services to register (they must live as long as this object).
  virtual std::vector<grpc::Service*> grpc_services() = 0;
  /// Orderly stop: intake, commit, final batch and snapshot. Idempotent.
  virtual void Stop() = 0;
};

/// What spec.start receives.
struct ServiceContext {
  const runtime::Config& config;
  runtime::Logger& logger;
  runtime::MetricsRegistry& metrics;
  /// Filled from the config: service, kafka, group_id, redis, instance, batch_quiet/max and
  /// on_health_change. The service adds its topics (and may adjust anything else).
  HostOptions host;
};

/// What a service runs on (ServiceSpec::kind).
enum class ServiceKind {
  /// A host::PartitionedHost (mrp, capacity, exceptions, forecasting, workflow): every host
  /// setting; Stop runs before gRPC stops (intake first).
  kPartitioned,
  /// Its own consumer and state (ingestion): no redis.timeout, snapshot.interval or
  /// <service>.batch.* settings; ServiceContext::host carries service, kafka, group_id,
  /// redis.host/port, instance and on_health_change (the rest keeps HostOptions' defaults and
  /// is the service's to use or not). gRPC stops first, then the service's Stop.
  kStandalone,
};

/// A service binary's description.
struct ServiceSpec {
  std::string binary;             ///< "sop-mrp": logs, --help, sop_build_info
  std::string service;            ///< "mrp": setting prefix, metrics sop_mrp_*, snapshot names
  std::string version = "0.1.0";  ///< sop_build_info
  /// Full gRPC service names for per-service health, e.g. {"sop.v1.Mrp"}.
  std::vector<std::string> grpc_service_names;
  int grpc_port = 50051;    ///< default of grpc.port (services-common.md)
  int metrics_port = 9464;  ///< default of metrics.port
  std::string group_id;     ///< default consumer group, e.g. "sop-mrp"
  ServiceKind kind = ServiceKind::kPartitioned;
  /// Default of service.instance; empty: "<service>-0".
  std::string default_instance;
  std::chrono::milliseconds batch_quiet{100};
  std::chrono::milliseconds batch_max{2000};
  /// Declares the service's own settings (names under `<service>.`).
  std::function<void(runtime::ConfigSchema&)> add_settings;
  /// Builds and starts the service. An error exits 1 (logged); an INVALID_ARGUMENT error exits
  /// 64 (a setting the schema could not check, named in the message).
  std::function<Result<std::unique_ptr<RunningService>>(ServiceContext&)> start;
};

/// Declares the shared + host settings of `spec` (and spec.add_settings) in `schema`. Exposed
/// for tests and --help; RunServiceMain calls it.
void AddHostSettings(runtime::ConfigSchema& schema, const ServiceSpec& spec);

/// HostOptions from a loaded config (INVALID_ARGUMENT naming kafka.bootstrap.servers when it is
/// missing, kafka.group.id when it is empty); for a kStandalone spec only the settings it
/// declares. Exposed for tests; RunServiceMain calls it.
Result<HostOptions> HostOptionsFromConfig(const runtime::Config& config, const ServiceSpec& spec);

/// Runs the binary described by `spec` (see the file comment); returns the exit code.
int RunServiceMain(const ServiceSpec& spec, int argc, char** argv);

}  // namespace sop::host
