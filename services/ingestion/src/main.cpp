// sop-ingestion: sop.erp.events.v1 -> sop.facts.v1 / sop.dlq.v1, and the sop.v1.Ingestion API.
// Wiring only (see libs/runtime/example/main.cpp): config -> logger -> signals -> metrics ->
// redis -> producer -> processor -> consumer -> gRPC last -> SERVING; shutdown in reverse.

#include <atomic>
#include <cstdio>
#include <exception>
#include <thread>

#include "sop/auth/server_auth.hpp"
#include "sop/bus/consumer.hpp"
#include "sop/bus/kafka_config.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/ingestion/processor.hpp"
#include "sop/ingestion/service.hpp"
#include "sop/runtime/config.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/lifecycle.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/runtime/service_settings.hpp"
#include "sop/store/redis_store.hpp"

namespace {

constexpr const char* kService = "sop-ingestion";
constexpr const char* kVersion = "0.1.0";
constexpr const char* kGrpcService = "sop.v1.Ingestion";
constexpr int kConfigErrorExitCode = 64;

void DeclareSettings(sop::runtime::ConfigSchema& schema) {
  using sop::runtime::SettingSpec;
  sop::runtime::AddServiceSettings(schema);
  sop::auth::AddServerAuthSettings(schema);
  schema.Add(
      SettingSpec::String("redis.host", "Redis host for state snapshots.").Default("127.0.0.1"));
  schema.Add(SettingSpec::Int("redis.port", "Redis port.").Default("6379").Min("1").Max("65535"));
  schema.Add(
      SettingSpec::String("service.instance", "Name of this replica (Fact.ingestion_instance).")
          .Default("sop-ingestion"));
  schema.Add(SettingSpec::Int("ingestion.checkpoint.records",
                              "Snapshot a partition after this many handled records.")
                 .Default("50000")
                 .Min("1")
                 .Max("10000000"));
  schema.Add(
      SettingSpec::Duration("ingestion.checkpoint.interval",
                            "Snapshot a partition whose oldest unsnapshotted record is this old.")
          .Default("1s")
          .Min("10ms")
          .Max("10m"));
  schema.Add(SettingSpec::Duration("ingestion.submit.timeout",
                                   "How long Submit waits for the pipeline's decisions.")
                 .Default("30s")
                 .Min("100ms")
                 .Max("10m"));
  schema.Add(SettingSpec::Int("ingestion.dedup.max_ids",
                              "De-duplication window: event ids kept per partition.")
                 .Default("200000")
                 .Min("1")
                 .Max("100000000"));
  schema.Add(SettingSpec::Duration("ingestion.dedup.max_age",
                                   "De-duplication window: ids older than this (record time, "
                                   "behind the partition's newest record) are forgotten.")
                 .Default("168h")
                 .Min("1s")
                 .Max("87600h"));
  schema.Add(
      SettingSpec::Int("ingestion.rejected.ring", "Rejections kept in memory for ListRejected.")
          .Default("1000")
          .Min("1")
          .Max("1000000"));
}

int Run(const sop::runtime::Config& config) {
  using namespace sop;
  using namespace sop::runtime;
  Logger logger(kService, LogLevelFromConfig(config));
  SignalWatcher signals(logger, config.GetDuration("shutdown.timeout"));

  // kafka.* is a pass-through prefix, so the required bootstrap address is checked here.
  const auto& kafka_settings = config.Passthrough("kafka");
  if (!kafka_settings.contains("bootstrap.servers")) {
    logger.Error("invalid configuration",
                 {{"error",
                   "kafka.bootstrap.servers: required (flag --kafka.bootstrap.servers or "
                   "SOP_KAFKA_BOOTSTRAP_SERVERS), got nothing"}});
    return kConfigErrorExitCode;
  }
  // kafka.group.id names the consumer group (default "sop-ingestion"); the bus library sets
  // group.id itself, so it is not passed through.
  bus::KafkaConfig kafka;
  std::string group_id = "sop-ingestion";
  for (const auto& [key, value] : kafka_settings) {
    if (key == "group.id")
      group_id = value;
    else
      kafka.Set(key, value);
  }
  std::string effective;
  for (const auto& [name, value] : config.Dump()) effective += name + "=" + value + " ";
  logger.Info("starting", {{"version", kVersion}, {"config", effective}});

  MetricsRegistry metrics;
  metrics.AddProcessMetrics(kService, kVersion);
  // The platform call policy (libs/auth) on every call, before any handler; nullptr = dev mode.
  auto auth_processor = sop::auth::ServerAuthFromConfig(config, "ingestion", logger, metrics);
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

  store::RedisStore store({.host = config.GetString("redis.host"),
                           .port = static_cast<int>(config.GetInt("redis.port"))});
  if (auto ping = store.Ping(); !ping) {
    logger.Warn("redis not reachable yet; retrying on use", {{"error", ping.error().ToString()}});
  }

  auto producer =
      bus::Producer::Create(kafka, {.on_error = [&](const Error& error) {
                              logger.Error("producer error", {{"error", error.ToString()}});
                            }});
  if (!producer) {
    logger.Error("producer failed", {{"error", producer.error().ToString()}});
    return 1;
  }
  lifecycle.Add("producer", [&] { (void)(*producer)->Flush(std::chrono::seconds(10)); });

  ingestion::IngestionProbe probe(metrics);
  // Health follows the processor (undeliverable facts, Redis down or fenced): NOT_SERVING, not
  // dead. The server starts last, so the callback finds it through an atomic pointer.
  std::atomic<GrpcServer*> health_target{nullptr};
  std::atomic<bool> shutting_down{false};
  ingestion::Processor processor(
      {.instance = config.GetString("service.instance"),
       .checkpoint_records = config.GetInt("ingestion.checkpoint.records"),
       .checkpoint_interval = std::chrono::duration_cast<std::chrono::milliseconds>(
           config.GetDuration("ingestion.checkpoint.interval")),
       .rejected_ring = static_cast<std::size_t>(config.GetInt("ingestion.rejected.ring")),
       .dedup = {.max_ids = static_cast<std::size_t>(config.GetInt("ingestion.dedup.max_ids")),
                 .max_age = std::chrono::duration_cast<std::chrono::milliseconds>(
                     config.GetDuration("ingestion.dedup.max_age"))},
       .on_health_change =
           [&](bool healthy) {
             GrpcServer* target = health_target.load();
             if (target == nullptr || shutting_down.load()) return;
             target->SetServing(healthy);
             target->SetServing(kGrpcService, healthy);
           }},
      **producer, store, probe, logger);
  // Stopped after the consumer: the final snapshot covers everything the consumer handled.
  lifecycle.Add("state", [&] { processor.Stop(); });

  auto consumer = bus::Consumer::Create(
      kafka, {.group_id = group_id,
              .topics = {std::string(bus::kErpEventsTopic)},
              .handler = [&](const bus::Message& message) { return processor.Handle(message); },
              // Handle dead-letters bad records itself and fails only retryably; this is the
              // net for anything else non-retryable.
              .on_rejected =
                  [&](const bus::Message& message, const Error& error) {
                    return processor.dead_letter().Send(message, error);
                  },
              .listener = &processor});
  if (!consumer) {
    logger.Error("consumer failed", {{"error", consumer.error().ToString()}});
    return 1;
  }
  if (auto started = (*consumer)->Start(); !started) {
    logger.Error("consumer start failed", {{"error", started.error().ToString()}});
    return 1;
  }
  processor.Start([&] { return (*consumer)->Lag(); });
  lifecycle.Add("consumer", [&] { (*consumer)->Stop(); });

  ingestion::IngestionService service(
      {.decision_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
           config.GetDuration("ingestion.submit.timeout"))},
      **producer, processor);
  GrpcServerOptions grpc_options = GrpcOptionsFromConfig(config);
  grpc_options.auth_processor = std::move(*auth_processor);
  auto server =
      GrpcServer::Builder(std::move(grpc_options), logger, metrics).AddService(&service).Start();
  if (!server) {
    logger.Error("grpc server failed", {{"error", server.error().ToString()}});
    return 1;
  }
  const auto shutdown_timeout = config.GetDuration("shutdown.timeout");
  lifecycle.Add("grpc", [&] { (*server)->Shutdown(shutdown_timeout / 2); });

  (*server)->SetServing(processor.healthy());
  (*server)->SetServing(kGrpcService, processor.healthy());
  health_target.store(server->get());
  logger.Info("listening",
              {{"grpc_port", (*server)->port()}, {"metrics_port", (*exposer)->port()}});

  const int signal = signals.Wait();
  logger.Info("shutting down", {{"signal", signal}});
  shutting_down.store(true);
  (*server)->SetServing(false);
  (*server)->SetServing(kGrpcService, false);
  const auto drain = config.GetDuration("shutdown.drain");
  if (drain > std::chrono::nanoseconds::zero()) std::this_thread::sleep_for(drain);
  lifecycle.StopAll();  // grpc, consumer (commits), state (snapshot), producer (flush), metrics
  logger.Info("stopped", {{"exit_code", 0}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sop::runtime::ConfigSchema schema(kService);
  DeclareSettings(schema);
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
