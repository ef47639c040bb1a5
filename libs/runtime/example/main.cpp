// sop-runtime-example: the template every sopstream service follows.
//
// Wiring order: config -> logger -> signal watcher (before any thread) -> metrics exposer ->
// background worker -> gRPC server (intake last) -> SERVING. Shutdown runs the other way:
// NOT_SERVING, drain, then the components in reverse start order, then exit 0.

#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

#include "sop/runtime/config.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/lifecycle.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/runtime/service_settings.hpp"

namespace {

constexpr const char* kService = "sop-runtime-example";
constexpr const char* kVersion = "0.1.0";
constexpr int kConfigErrorExitCode = 64;  // EX_USAGE

// Stands in for a service's background work (a consumer loop, a planner): ticks a counter
// until stopped. Stopping wakes it at once instead of waiting out its period.
class Heartbeat {
 public:
  Heartbeat(sop::runtime::MetricsRegistry& metrics, std::chrono::milliseconds period)
      : ticks_(metrics
                   .AddCounter({"sop_example_heartbeats_total",
                                "Heartbeats of the example's background worker."})
                   .WithLabels()),
        period_(period),
        thread_([this] { Run(); }) {}

  void Stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  ~Heartbeat() { Stop(); }

 private:
  void Run() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, period_, [this] { return stopping_; })) ticks_.Increment();
  }

  sop::runtime::Counter ticks_;
  std::chrono::milliseconds period_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

int Run(const sop::runtime::Config& config) {
  using namespace sop::runtime;
  Logger logger(kService, LogLevelFromConfig(config));
  SignalWatcher signals(logger, config.GetDuration("shutdown.timeout"));

  std::string effective;
  for (const auto& [name, value] : config.Dump()) effective += name + "=" + value + " ";
  logger.Info("starting", {{"version", kVersion},
                           {"config", effective},
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

  Heartbeat heartbeat(metrics, std::chrono::milliseconds(500));
  lifecycle.Add("worker", [&] { heartbeat.Stop(); });

  // A real service adds its generated service implementations here with AddService.
  auto server = GrpcServer::Builder(GrpcOptionsFromConfig(config), logger, metrics).Start();
  if (!server) {
    logger.Error("grpc server failed", {{"error", server.error().ToString()}});
    return 1;
  }
  const auto shutdown_timeout = config.GetDuration("shutdown.timeout");
  lifecycle.Add("grpc", [&] { (*server)->Shutdown(shutdown_timeout / 2); });

  (*server)->SetServing(true);
  (*server)->SetServing("sop.runtime.Example", true);
  logger.Info("listening", {{"grpc_port", (*server)->port()},
                            {"metrics_port", (*exposer)->port()},
                            {"tls", (*server)->tls()}});

  const int signal = signals.Wait();
  logger.Info("shutting down", {{"signal", signal}});
  (*server)->SetServing(false);
  (*server)->SetServing("sop.runtime.Example", false);
  const auto drain = config.GetDuration("shutdown.drain");
  if (drain > std::chrono::nanoseconds::zero()) {
    logger.Info("draining", {{"drain_s", drain}});
    std::this_thread::sleep_for(drain);  // let load balancers see NOT_SERVING
  }
  lifecycle.StopAll();
  logger.Info("stopped", {{"exit_code", 0}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sop::runtime::ConfigSchema schema(kService);
  sop::runtime::AddServiceSettings(schema);
  try {
    const auto config = sop::runtime::LoadConfigOrThrow(schema, argc, argv);
    if (config.help_requested()) {
      std::fputs(schema.HelpText().c_str(), stdout);
      return 0;
    }
    return Run(config);
  } catch (const sop::runtime::ConfigError& error) {
    // The logger is configured from the config, so a config error is logged with defaults.
    sop::runtime::Logger(kService, sop::runtime::LogLevel::kInfo)
        .Error("invalid configuration", {{"error", error.what()}});
    return kConfigErrorExitCode;
  } catch (const std::exception& error) {
    sop::runtime::Logger(kService, sop::runtime::LogLevel::kInfo)
        .Error("fatal", {{"error", error.what()}});
    return 1;
  }
}
