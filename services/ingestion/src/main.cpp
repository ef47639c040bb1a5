// sop-ingestion: sop.erp.events.v1 -> sop.facts.v1 / sop.dlq.v1, and the sop.v1.Ingestion API.
// Wiring only, on host::RunServiceMain as a standalone service (its own consumer, no
// PartitionedHost): config, logger, signals, metrics, auth and gRPC come from the service main;
// here redis -> producer -> processor -> consumer -> the gRPC service. Shutdown: NOT_SERVING,
// gRPC (in-flight Submits finish against a running pipeline) -> consumer (commits) -> state
// (final snapshot) -> producer (flush) -> metrics.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sop/bus/consumer.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/host/service_main.hpp"
#include "sop/ingestion/processor.hpp"
#include "sop/ingestion/service.hpp"
#include "sop/runtime/config.hpp"
#include "sop/store/redis_store.hpp"

namespace {

using namespace sop;

std::chrono::milliseconds Millis(std::chrono::nanoseconds value) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(value);
}

void DeclareSettings(runtime::ConfigSchema& schema) {
  using runtime::SettingSpec;
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

// The running pipeline: Redis store, producer, processor, consumer and the gRPC service. The
// service main stops gRPC before calling Stop.
class Ingestion final : public host::RunningService {
 public:
  static Result<std::unique_ptr<host::RunningService>> Start(host::ServiceContext& context) {
    auto ingestion = std::unique_ptr<Ingestion>(new Ingestion(context));
    if (auto started = ingestion->Run(); !started) return std::unexpected(started.error());
    return std::unique_ptr<host::RunningService>(std::move(ingestion));
  }

  ~Ingestion() override { Stop(); }

  std::vector<grpc::Service*> grpc_services() override { return {service_.get()}; }

  void Stop() override {
    std::call_once(stopped_, [this] {
      if (consumer_) consumer_->Stop();  // commits
      // After the consumer: the final snapshot covers everything it handled.
      if (processor_) processor_->Stop();
      if (producer_) (void)producer_->Flush(std::chrono::seconds(10));
    });
  }

 private:
  explicit Ingestion(host::ServiceContext& context)
      : context_(context),
        store_({.host = context.host.redis.host, .port = context.host.redis.port}),
        probe_(context.metrics) {}

  Result<void> Run() {
    const runtime::Config& config = context_.config;
    runtime::Logger& logger = context_.logger;
    if (auto ping = store_.Ping(); !ping) {
      logger.Warn("redis not reachable yet; retrying on use", {{"error", ping.error().ToString()}});
    }
    auto producer =
        bus::Producer::Create(context_.host.kafka, {.on_error = [&logger](const Error& error) {
                                logger.Error("producer error", {{"error", error.ToString()}});
                              }});
    if (!producer) return Fail(producer.error().code(), "producer: " + producer.error().message());
    producer_ = std::move(*producer);

    // Health follows the processor (undeliverable facts, Redis down or fenced): NOT_SERVING,
    // not dead; the service main turns the gRPC health entries.
    processor_ = std::make_unique<ingestion::Processor>(
        ingestion::ProcessorOptions{
            .instance = context_.host.instance,
            .checkpoint_records = config.GetInt("ingestion.checkpoint.records"),
            .checkpoint_interval = Millis(config.GetDuration("ingestion.checkpoint.interval")),
            .rejected_ring = static_cast<std::size_t>(config.GetInt("ingestion.rejected.ring")),
            .dedup = {.max_ids = static_cast<std::size_t>(config.GetInt("ingestion.dedup.max_ids")),
                      .max_age = Millis(config.GetDuration("ingestion.dedup.max_age"))},
            .on_health_change = context_.host.on_health_change},
        *producer_, store_, probe_, logger);

    ingestion::Processor& processor = *processor_;
    auto consumer = bus::Consumer::Create(
        context_.host.kafka,
        {.group_id = context_.host.group_id,
         .topics = {std::string(bus::kErpEventsTopic)},
         .handler = [&processor](const bus::Message& message) { return processor.Handle(message); },
         // Handle dead-letters bad records itself and fails only retryably; this is the net for
         // anything else non-retryable.
         .on_rejected =
             [&processor](const bus::Message& message, const Error& error) {
               return processor.dead_letter().Send(message, error);
             },
         .listener = &processor});
    if (!consumer) return Fail(consumer.error().code(), "consumer: " + consumer.error().message());
    consumer_ = std::move(*consumer);
    if (auto started = consumer_->Start(); !started) {
      return Fail(started.error().code(), "consumer start: " + started.error().message());
    }
    bus::Consumer& running = *consumer_;
    processor.Start([&running] { return running.Lag(); });

    service_ = std::make_unique<ingestion::IngestionService>(
        ingestion::ServiceOptions{.decision_timeout =
                                      Millis(config.GetDuration("ingestion.submit.timeout"))},
        *producer_, processor);
    return {};
  }

  host::ServiceContext& context_;
  store::RedisStore store_;
  ingestion::IngestionProbe probe_;
  std::unique_ptr<bus::Producer> producer_;
  std::unique_ptr<ingestion::Processor> processor_;
  std::unique_ptr<bus::Consumer> consumer_;
  std::unique_ptr<ingestion::IngestionService> service_;
  std::once_flag stopped_;
};

}  // namespace

int main(int argc, char** argv) {
  host::ServiceSpec spec;
  spec.binary = "sop-ingestion";
  spec.service = "ingestion";
  spec.grpc_service_names = {"sop.v1.Ingestion"};
  spec.grpc_port = 50051;
  spec.metrics_port = 9461;
  spec.group_id = "sop-ingestion";
  spec.kind = host::ServiceKind::kStandalone;
  spec.default_instance = "sop-ingestion";  // written into Fact.ingestion_instance
  spec.add_settings = DeclareSettings;
  spec.start = Ingestion::Start;
  return host::RunServiceMain(spec, argc, argv);
}
