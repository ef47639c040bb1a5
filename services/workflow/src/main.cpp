// sop-workflow: the S&OP cycle service. Wiring only (see libs/runtime/example/main.cpp):
// config → logger → signals → metrics → tokens → WorkflowService (Redis log, producer, ticker)
// → gRPC last → SERVING. Shutdown: NOT_SERVING, drain, gRPC shutdown (in-flight calls finish
// and are recorded), service stop (ticker, producer flush), exposer stop, exit 0.

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdio>
#include <exception>
#include <thread>

#include "sop/auth/token_authenticator.hpp"
#include "sop/runtime/config.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/lifecycle.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/runtime/service_settings.hpp"
#include "sop/workflow/service.hpp"

namespace {

constexpr const char* kService = "sop-workflow";
constexpr const char* kVersion = "0.1.0";
constexpr const char* kGrpcServiceName = "sop.v1.Workflow";
constexpr int kConfigErrorExitCode = 64;  // EX_USAGE

void AddWorkflowSettings(sop::runtime::ConfigSchema& schema) {
  using sop::runtime::SettingSpec;
  schema.Add(
      SettingSpec::String("redis.host", "Redis host (audit and event log)").Default("127.0.0.1"));
  schema.Add(SettingSpec::Int("redis.port", "Redis port").Default("6379").Min("1").Max("65535"));
  schema.Add(SettingSpec::Duration("redis.timeout", "Bound of one Redis command")
                 .Default("2s")
                 .Min("10ms")
                 .Max("60s"));
  schema.Add(SettingSpec::String("auth.tokens-file",
                                 "Tokens file: 'sha256:<hex> <principal> <role>,...' per line "
                                 "(a mounted Kubernetes Secret); empty: no principal, every call "
                                 "is refused as UNAUTHENTICATED")
                 .Default(""));
  schema.Add(SettingSpec::Int("workflow.open-working-day",
                              "A cycle opens on this working day (Mon-Fri) of its month")
                 .Default("1")
                 .Min("1")
                 .Max("20"));
  schema.Add(SettingSpec::Int("workflow.frozen-fence-days",
                              "Demand/supply changes starting within this many days need an "
                              "approved change request")
                 .Default("28")
                 .Min("1")
                 .Max("365"));
  schema.Add(
      SettingSpec::Duration("workflow.overdue-interval", "How often overdue stages are looked for")
          .Default("30s")
          .Min("10ms")
          .Max("1h"));
  for (const char* source : {"forecasting", "mrp", "capacity", "exceptions"}) {
    schema.Add(SettingSpec::String(std::string("workflow.") + source + "-address",
                                   std::string("host:port of the ") + source +
                                       " service (empty: the artifact says it is unavailable)")
                   .Default(""));
  }
  schema.Add(SettingSpec::Duration("workflow.source-deadline",
                                   "Deadline of one call to another service while assembling")
                 .Default("5s")
                 .Min("10ms")
                 .Max("5m"));
  schema.Add(SettingSpec::String("workflow.source-token",
                                 "Bearer token presented to the other services (empty: none)")
                 .Default("")
                 .Secret());
}

std::shared_ptr<grpc::Channel> Channel(const sop::runtime::Config& config, const char* source) {
  const std::string address = config.GetString(std::string("workflow.") + source + "-address");
  if (address.empty()) return nullptr;
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
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
  const std::string tokens_file = config.GetString("auth.tokens-file");
  auto tokens = tokens_file.empty() ? sop::auth::TokenAuthenticator::Parse("")
                                    : sop::auth::TokenAuthenticator::LoadFile(tokens_file);
  if (tokens_file.empty()) {
    logger.Warn("auth.tokens-file not set: no principal is known, every call will be refused");
  }
  if (!tokens) {
    logger.Error("invalid configuration", {{"error", tokens.error().ToString()}});
    return kConfigErrorExitCode;
  }
  SignalWatcher signals(logger, config.GetDuration("shutdown.timeout"));
  logger.Info("starting", {{"version", kVersion}, {"principals", tokens->size()}});

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

  sop::workflow::WorkflowServiceOptions options;
  for (const auto& [key, value] : kafka) options.kafka.Set(key, value);
  options.redis.host = config.GetString("redis.host");
  options.redis.port = static_cast<int>(config.GetInt("redis.port"));
  options.redis.command_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.GetDuration("redis.timeout"));
  options.calendar.open_working_day = static_cast<int>(config.GetInt("workflow.open-working-day"));
  options.calendar.frozen_fence_days =
      static_cast<int>(config.GetInt("workflow.frozen-fence-days"));
  options.overdue_interval = std::chrono::duration_cast<std::chrono::milliseconds>(
      config.GetDuration("workflow.overdue-interval"));
  options.sources.forecasting = Channel(config, "forecasting");
  options.sources.mrp = Channel(config, "mrp");
  options.sources.capacity = Channel(config, "capacity");
  options.sources.exceptions = Channel(config, "exceptions");
  options.sources.deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
      config.GetDuration("workflow.source-deadline"));
  options.sources.token = config.GetString("workflow.source-token");

  auto service =
      sop::workflow::WorkflowService::Start(std::move(options), *tokens, logger, metrics);
  if (!service) {
    logger.Error("workflow service failed to start", {{"error", service.error().ToString()}});
    return 1;
  }
  lifecycle.Add("workflow", [&] { (*service)->Stop(); });

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
  // Reverse start order: gRPC (in-flight calls finish, each recorded before it answers), then
  // the service (ticker, producer flush), then the exposer. Every recorded action is already in
  // Redis, so there is no final snapshot to write.
  lifecycle.StopAll();
  logger.Info("stopped", {{"exit_code", 0}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sop::runtime::ConfigSchema schema(kService);
  {
    // runtime's shared settings with this service's default ports (services-common.md).
    sop::runtime::ConfigSchema shared(kService);
    sop::runtime::AddServiceSettings(shared);
    for (sop::runtime::SettingSpec setting : shared.settings()) {
      if (setting.name == "grpc.port") setting.default_value = "50056";
      if (setting.name == "metrics.port") setting.default_value = "9466";
      schema.Add(std::move(setting));
    }
    for (const std::string& prefix : shared.passthrough_prefixes()) schema.AddPassthrough(prefix);
  }
  AddWorkflowSettings(schema);
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
