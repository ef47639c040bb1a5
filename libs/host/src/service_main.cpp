#include "sop/host/service_main.hpp"

#include <atomic>
#include <cstdio>
#include <exception>
#include <thread>

#include "sop/auth/server_auth.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/lifecycle.hpp"
#include "sop/runtime/service_settings.hpp"

namespace sop::host {

namespace {

std::chrono::milliseconds Millis(std::chrono::nanoseconds value) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(value);
}

std::string MillisText(std::chrono::milliseconds value) {
  return std::to_string(value.count()) + "ms";
}

// The settings of a host::PartitionedHost service (ServiceKind::kPartitioned).
void AddPartitionedHostSettings(runtime::ConfigSchema& schema, const ServiceSpec& spec) {
  using runtime::SettingSpec;
  schema.Add(SettingSpec::Duration("redis.timeout",
                                   "Bound of one Redis command (a snapshot write carries the "
                                   "whole partition state).")
                 .Default("5s")
                 .Min("10ms")
                 .Max("60s"));
  schema.Add(SettingSpec::Duration("snapshot.interval",
                                   "Snapshot the state at most this often (0s: at the end of "
                                   "every batch); a restart replays at most this much more.")
                 .Default("0s")
                 .Min("0s")
                 .Max("10m"));
  schema.Add(SettingSpec::Duration(spec.service + ".batch.quiet",
                                   "End a batch (finish pending work, publish, snapshot) after "
                                   "this long without a message.")
                 .Default(MillisText(spec.batch_quiet))
                 .Min("1ms")
                 .Max("10s"));
  schema.Add(SettingSpec::Duration(spec.service + ".batch.max",
                                   "End a batch at the latest after this long.")
                 .Default(MillisText(spec.batch_max))
                 .Min("10ms")
                 .Max("5m"));
  const HostOptions defaults;
  schema.Add(SettingSpec::Int(spec.service + ".drain.max-messages",
                              "Apply at most this many messages before the state's immediate "
                              "output is taken (one net change per drained burst).")
                 .Default(std::to_string(defaults.drain_max_messages))
                 .Min("1")
                 .Max("100000"));
  schema.Add(SettingSpec::Duration(spec.service + ".drain.max-interval",
                                   "Take the immediate output at the latest this long after the "
                                   "first message not yet drained.")
                 .Default(MillisText(defaults.drain_max_interval))
                 .Min("1ms")
                 .Max("10s"));
}

}  // namespace

void AddHostSettings(runtime::ConfigSchema& schema, const ServiceSpec& spec) {
  using runtime::SettingSpec;
  // runtime's shared settings, with this service's default ports (services-common.md).
  runtime::ConfigSchema shared(schema.program());
  runtime::AddServiceSettings(shared);
  for (SettingSpec setting : shared.settings()) {
    if (setting.name == "grpc.port") setting.default_value = std::to_string(spec.grpc_port);
    if (setting.name == "metrics.port") setting.default_value = std::to_string(spec.metrics_port);
    schema.Add(std::move(setting));
  }
  for (const std::string& prefix : shared.passthrough_prefixes()) schema.AddPassthrough(prefix);

  // kafka.* is a pass-through prefix (it cannot hold declared settings): bootstrap.servers
  // (required) and group.id (default spec.group_id) are checked by HostOptionsFromConfig.
  schema.Add(
      SettingSpec::String("redis.host", "Redis host for state snapshots.").Default("127.0.0.1"));
  schema.Add(SettingSpec::Int("redis.port", "Redis port.").Default("6379").Min("1").Max("65535"));
  schema.Add(
      SettingSpec::String("service.instance", "Name of this replica.")
          .Default(spec.default_instance.empty() ? spec.service + "-0" : spec.default_instance));
  auth::AddServerAuthSettings(schema);
  if (spec.kind == ServiceKind::kPartitioned) {
    AddPartitionedHostSettings(schema, spec);
  }
  if (spec.add_settings) spec.add_settings(schema);
}

Result<HostOptions> HostOptionsFromConfig(const runtime::Config& config, const ServiceSpec& spec) {
  const auto& kafka = config.Passthrough("kafka");
  const auto bootstrap = kafka.find("bootstrap.servers");
  if (bootstrap == kafka.end() || bootstrap->second.empty()) {
    return Fail(Errc::kInvalidArgument,
                "kafka.bootstrap.servers: required (flag --kafka.bootstrap.servers or "
                "SOP_KAFKA_BOOTSTRAP_SERVERS)");
  }
  HostOptions options;
  options.service = spec.service;
  // group.id is the consumer's own option; every other kafka.* goes to librdkafka.
  options.group_id = spec.group_id;
  for (const auto& [key, value] : kafka) {
    if (key == "group.id") {
      if (value.empty()) {
        return InvalidField("kafka.group.id", "must not be empty", value);
      }
      options.group_id = value;
    } else {
      options.kafka.Set(key, value);
    }
  }
  options.redis.host = config.GetString("redis.host");
  options.redis.port = static_cast<int>(config.GetInt("redis.port"));
  options.instance = config.GetString("service.instance");
  if (spec.kind == ServiceKind::kStandalone) return options;
  options.redis.command_timeout = Millis(config.GetDuration("redis.timeout"));
  options.batch_quiet = Millis(config.GetDuration(spec.service + ".batch.quiet"));
  options.batch_max = Millis(config.GetDuration(spec.service + ".batch.max"));
  options.snapshot_interval = Millis(config.GetDuration("snapshot.interval"));
  options.drain_max_messages =
      static_cast<std::size_t>(config.GetInt(spec.service + ".drain.max-messages"));
  options.drain_max_interval = Millis(config.GetDuration(spec.service + ".drain.max-interval"));
  return options;
}

namespace {

int Run(const ServiceSpec& spec, const runtime::Config& config) {
  using namespace sop::runtime;
  Logger logger(spec.binary, LogLevelFromConfig(config));
  auto host_options = HostOptionsFromConfig(config, spec);
  if (!host_options) {
    logger.Error("invalid configuration", {{"error", host_options.error().message()}});
    return kConfigErrorExitCode;
  }
  SignalWatcher signals(logger, config.GetDuration("shutdown.timeout"));
  logger.Info("starting", {{"version", spec.version},
                           {"instance", host_options->instance},
                           {"group", host_options->group_id},
                           {"kafka_properties", config.Passthrough("kafka").size()}});

  MetricsRegistry metrics;
  metrics.AddProcessMetrics(spec.binary, spec.version);
  // The platform call policy (libs/auth) on every call, before any handler; nullptr = dev mode.
  auto auth_processor = auth::ServerAuthFromConfig(config, spec.service, logger, metrics);
  if (!auth_processor) {
    logger.Error("invalid configuration", {{"error", auth_processor.error().message()}});
    return kConfigErrorExitCode;
  }
  Lifecycle lifecycle(logger);

  auto exposer = MetricsExposer::Start(metrics, config.GetString("metrics.host"),
                                       static_cast<int>(config.GetInt("metrics.port")));
  if (!exposer) {
    logger.Error("metrics exposer failed", {{"error", exposer.error().ToString()}});
    return 1;
  }
  lifecycle.Add("metrics", [&] { (*exposer)->Stop(); });

  // Health follows the host (Kafka, Redis); the server exists only after the service started,
  // so changes before that are remembered and applied when it is SERVING the first time.
  std::atomic<GrpcServer*> health_target{nullptr};
  std::atomic<bool> healthy{true};
  std::atomic<bool> shutting_down{false};
  auto apply_health = [&](GrpcServer& server, bool serving) {
    server.SetServing(serving);
    for (const std::string& name : spec.grpc_service_names) server.SetServing(name, serving);
  };
  host_options->on_health_change = [&](bool now) {
    healthy.store(now);
    GrpcServer* server = health_target.load();
    if (server != nullptr && !shutting_down.load()) apply_health(*server, now);
  };

  ServiceContext context{config, logger, metrics, std::move(*host_options)};
  auto service = spec.start(context);
  if (!service) {
    logger.Error("service failed to start", {{"error", service.error().ToString()}});
    return service.error().code() == Errc::kInvalidArgument ? kConfigErrorExitCode : 1;
  }
  RunningService& running = **service;
  lifecycle.Add(spec.service, [&] { running.Stop(); });

  GrpcServerOptions grpc_options = GrpcOptionsFromConfig(config);
  grpc_options.auth_processor = std::move(*auth_processor);
  GrpcServer::Builder builder(std::move(grpc_options), logger, metrics);
  for (grpc::Service* grpc_service : running.grpc_services()) builder.AddService(grpc_service);
  auto server = builder.Start();
  if (!server) {
    logger.Error("grpc server failed", {{"error", server.error().ToString()}});
    return 1;
  }
  const auto shutdown_timeout = config.GetDuration("shutdown.timeout");
  lifecycle.Add("grpc", [&] { (*server)->Shutdown(shutdown_timeout / 2); });

  health_target.store(server->get());
  apply_health(**server, healthy.load());
  logger.Info("listening", {{"grpc_port", (*server)->port()},
                            {"metrics_port", (*exposer)->port()},
                            {"tls", (*server)->tls()},
                            {"healthy", healthy.load()}});

  const int signal = signals.Wait();
  logger.Info("shutting down", {{"signal", signal}});
  shutting_down.store(true);
  apply_health(**server, false);
  const auto drain = config.GetDuration("shutdown.drain");
  if (drain > std::chrono::nanoseconds::zero()) {
    logger.Info("draining", {{"drain_s", drain}});
    std::this_thread::sleep_for(drain);  // let load balancers see NOT_SERVING
  }
  // Partitioned: intake first (the consumer stops and commits, the last batch is published and
  // snapshotted), then gRPC and the exposer (reverse start order; the service's second Stop is
  // a no-op). Standalone: reverse start order, gRPC first (its calls feed the service).
  if (spec.kind == ServiceKind::kPartitioned) running.Stop();
  lifecycle.StopAll();
  logger.Info("stopped", {{"exit_code", 0}});
  return 0;
}

}  // namespace

int RunServiceMain(const ServiceSpec& spec, int argc, char** argv) {
  runtime::ConfigSchema schema(spec.binary);
  AddHostSettings(schema, spec);
  try {
    const auto config = runtime::LoadConfigOrThrow(schema, argc, argv);
    if (config.help_requested()) {
      std::fputs(schema.HelpText().c_str(), stdout);
      return 0;
    }
    return Run(spec, config);
  } catch (const runtime::ConfigError& error) {
    runtime::Logger(spec.binary, runtime::LogLevel::kInfo)
        .Error("invalid configuration", {{"error", error.what()}});
    return kConfigErrorExitCode;
  } catch (const std::exception& error) {
    runtime::Logger(spec.binary, runtime::LogLevel::kInfo)
        .Error("fatal", {{"error", error.what()}});
    return 1;
  }
}

}  // namespace sop::host
