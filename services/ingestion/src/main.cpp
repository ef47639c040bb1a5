// sop-ingestion: sop.erp.events.v1 -> sop.facts.v1 / sop.dlq.v1, and the sop.v1.Ingestion API.
// Wiring only, on host::RunServiceMain as a standalone service (its own consumer, no
// PartitionedHost): config, logger, signals, metrics, auth and gRPC come from the service main;
// ingestion::Replica wires redis -> producer -> processor -> consumer -> the gRPC service, from
// the settings declared here. Shutdown: NOT_SERVING,
// gRPC (in-flight Submits finish against a running pipeline) -> consumer (commits) -> state
// (final snapshot) -> producer (flush) -> metrics.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "sop/host/service_main.hpp"
#include "sop/ingestion/replica.hpp"
#include "sop/runtime/config.hpp"

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

// The replica under the service main, which stops gRPC before calling Stop.
class Ingestion final : public host::RunningService {
 public:
  static Result<std::unique_ptr<host::RunningService>> Start(host::ServiceContext& context) {
    const runtime::Config& config = context.config;
    ingestion::ReplicaOptions options{
        .kafka = context.host.kafka,
        .group_id = context.host.group_id,
        .redis = {.host = context.host.redis.host, .port = context.host.redis.port},
        .processor = {.instance = context.host.instance,
                      .checkpoint_records = config.GetInt("ingestion.checkpoint.records"),
                      .checkpoint_interval =
                          Millis(config.GetDuration("ingestion.checkpoint.interval")),
                      .rejected_ring =
                          static_cast<std::size_t>(config.GetInt("ingestion.rejected.ring")),
                      .dedup = {.max_ids = static_cast<std::size_t>(
                                    config.GetInt("ingestion.dedup.max_ids")),
                                .max_age = Millis(config.GetDuration("ingestion.dedup.max_age"))},
                      // Health follows the processor (undeliverable facts, Redis down or fenced):
                      // NOT_SERVING, not dead; the service main turns the gRPC health entries.
                      .on_health_change = context.host.on_health_change},
        .service = {.decision_timeout = Millis(config.GetDuration("ingestion.submit.timeout"))}};
    auto replica = ingestion::Replica::Start(std::move(options), context.metrics, context.logger);
    if (!replica) return std::unexpected(replica.error());
    return std::unique_ptr<host::RunningService>(new Ingestion(std::move(*replica)));
  }

  std::vector<grpc::Service*> grpc_services() override { return {&replica_->service()}; }
  void Stop() override { replica_->Stop(); }

 private:
  explicit Ingestion(std::unique_ptr<ingestion::Replica> replica) : replica_(std::move(replica)) {}

  std::unique_ptr<ingestion::Replica> replica_;
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
