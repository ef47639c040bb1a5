// sop-forecasting: the statistical forecast and its layers as a service. Wiring only (see
// libs/runtime/example/main.cpp): config → logger → signals → metrics → ForecastingService
// (consumer, forecaster, producer, Redis) → gRPC last → SERVING. Shutdown: NOT_SERVING, drain,
// consumer stop + final re-forecast/snapshot, gRPC shutdown, exposer stop, exit 0.

#include <cstdio>
#include <exception>
#include <thread>

#include "sop/forecasting/service.hpp"
#include "sop/runtime/config.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/lifecycle.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/runtime/service_settings.hpp"

namespace {

constexpr const char* kService = "sop-forecasting";
constexpr const char* kVersion = "0.1.0";
constexpr const char* kGrpcServiceName = "sop.v1.Forecasting";
constexpr int kConfigErrorExitCode = 64;  // EX_USAGE

void AddForecastingSettings(sop::runtime::ConfigSchema& schema) {
  using sop::runtime::SettingSpec;
  // kafka.* is runtime's pass-through prefix (it cannot hold declared settings), so
  // kafka.bootstrap.servers (required) and kafka.group.id (default sop-forecasting) are checked in
  // Run.
  schema.Add(
      SettingSpec::String("redis.host", "Redis host for state snapshots").Default("127.0.0.1"));
  schema.Add(SettingSpec::Int("redis.port", "Redis port").Default("6379").Min("1").Max("65535"));
  schema.Add(SettingSpec::Duration("redis.timeout",
                                   "Bound of one Redis command (a snapshot write carries the "
                                   "partition's history and layers)")
                 .Default("5s")
                 .Min("10ms")
                 .Max("60s"));
  schema.Add(SettingSpec::String("service.instance", "Name of this replica in logs")
                 .Default("forecasting-0"));
  schema.Add(SettingSpec::Duration("forecasting.batch.quiet",
                                   "Re-forecast the changed item-sites after this quiet time")
                 .Default("200ms")
                 .Min("1ms")
                 .Max("10s"));
  schema.Add(SettingSpec::Duration("forecasting.batch.max",
                                   "Re-forecast at the latest this long after the first change")
                 .Default("2s")
                 .Min("10ms")
                 .Max("5m"));
}

int Run(const sop::runtime::Config& config) {
  using namespace sop::runtime;
  Logger logger(kService, LogLevelFromConfig(config));
  const auto& kafka = config.Passthrough("kafka");
  const auto bootstrap = kafka.find("bootstrap.servers");
  if (bootstrap == kafka.end() || bootstrap->second.empty()) {
    logger.Error("invalid configuration",
                 {{"error",
                   "kafka.bootstrap.servers: required (flag --kafka.bootstrap.servers "
                   "or SOP_KAFKA_BOOTSTRAP_SERVERS)"}});
    return kConfigErrorExitCode;
  }
  SignalWatcher signals(logger, config.GetDuration("shutdown.timeout"));
  logger.Info("starting", {{"version", kVersion},
                           {"instance", config.GetString("service.instance")},
                           {"kafka_properties", config.Passthrough("kafka").size()}});

  MetricsRegistry metrics;
  metrics.AddProcessMetrics(kService, kVersion);
  Lifecycle lifecycle(logger);

  auto exposer = MetricsExposer::Start(metrics, config.GetString("metrics.host"),
                                       static_cast<int>(config.GetInt("metrics.port")));
  if (!exposer) {
    logger.Error("metrics exposer failed", {{"error", exposer.error().ToString()}});
    return 1;
  }
  lifecycle.Add("metrics", [&] { (*exposer)->Stop(); });

  sop::forecasting::ForecastingServiceOptions options;
  // group.id is the consumer's own option; every other kafka.* goes to librdkafka.
  for (const auto& [key, value] : kafka) {
    if (key != "group.id") options.kafka.Set(key, value);
  }
  if (auto group = kafka.find("group.id"); group != kafka.end()) options.group_id = group->second;
  options.redis.host = config.GetString("redis.host");
  options.redis.port = static_cast<int>(config.GetInt("redis.port"));
  options.redis.command_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.GetDuration("redis.timeout"));
  options.instance = config.GetString("service.instance");
  options.batch_quiet = std::chrono::duration_cast<std::chrono::milliseconds>(
      config.GetDuration("forecasting.batch.quiet"));
  options.batch_max = std::chrono::duration_cast<std::chrono::milliseconds>(
      config.GetDuration("forecasting.batch.max"));

  auto service = sop::forecasting::ForecastingService::Start(std::move(options), logger, metrics);
  if (!service) {
    logger.Error("forecasting service failed to start", {{"error", service.error().ToString()}});
    return 1;
  }
  lifecycle.Add("forecasting", [&] { (*service)->Stop(/*final_snapshot=*/true); });

  auto server = GrpcServer::Builder(GrpcOptionsFromConfig(config), logger, metrics)
                    .AddService((*service)->grpc_service())
                    .Start();
  if (!server) {
    logger.Error("grpc server failed", {{"error", server.error().ToString()}});
    return 1;
  }
  const auto shutdown_timeout = config.GetDuration("shutdown.timeout");
  lifecycle.Add("grpc", [&] { (*server)->Shutdown(shutdown_timeout / 2); });

  (*server)->SetServing(true);
  (*server)->SetServing(kGrpcServiceName, true);
  logger.Info("listening", {{"grpc_port", (*server)->port()},
                            {"metrics_port", (*exposer)->port()},
                            {"tls", (*server)->tls()}});

  const int signal = signals.Wait();
  logger.Info("shutting down", {{"signal", signal}});
  (*server)->SetServing(false);
  (*server)->SetServing(kGrpcServiceName, false);
  const auto drain = config.GetDuration("shutdown.drain");
  if (drain > std::chrono::nanoseconds::zero()) {
    logger.Info("draining", {{"drain_s", drain}});
    std::this_thread::sleep_for(drain);  // let load balancers see NOT_SERVING
  }
  // Intake first: the consumer stops (commits), the last batch is re-forecast and published, the
  // producer flushed and the state snapshotted; then gRPC and the exposer (reverse start order;
  // the service's second Stop is a no-op).
  (*service)->Stop(/*final_snapshot=*/true);
  lifecycle.StopAll();
  logger.Info("stopped", {{"exit_code", 0}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sop::runtime::ConfigSchema schema(kService);
  sop::runtime::AddServiceSettings(schema);
  AddForecastingSettings(schema);
  try {
    const auto config = sop::runtime::LoadConfigOrThrow(schema, argc, argv);
    if (config.help_requested()) {
      std::fputs(schema.HelpText().c_str(), stdout);
      return 0;
    }
    return Run(config);
  } catch (const sop::runtime::ConfigError& error) {
    sop::runtime::Logger(kService, sop::runtime::LogLevel::kInfo)
        .Error("invalid configuration", {{"error", error.what()}});
    return kConfigErrorExitCode;
  } catch (const std::exception& error) {
    sop::runtime::Logger(kService, sop::runtime::LogLevel::kInfo)
        .Error("fatal", {{"error", error.what()}});
    return 1;
  }
}
