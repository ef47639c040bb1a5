#pragma once
/// One running ingestion replica: the Redis store, the producer, the Processor, the consumer of
/// sop.erp.events.v1 and the sop.v1.Ingestion gRPC service, wired in that order. sop-ingestion
/// runs it under host::RunServiceMain (src/main.cpp); the integration tests run it with their
/// own gRPC server (tests/harness.hpp), so both use the same wiring.
///
/// Stop (idempotent; the destructor calls it): the consumer stops (commits), then the processor
/// (final snapshot of every owned partition), then the producer flushes. Stop gRPC before it, so
/// that in-flight Submits finish while the pipeline still decides their events.
/// Errors: Start fails (with the step named) when the producer or the consumer cannot be created
/// or started; an unreachable Redis is only logged (the processor retries on use and reports
/// unhealthy).
/// Lifetime: borrows `metrics` and `logger`.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "sop/bus/consumer.hpp"
#include "sop/bus/kafka_config.hpp"
#include "sop/bus/producer.hpp"
#include "sop/ingestion/processor.hpp"
#include "sop/ingestion/service.hpp"
#include "sop/model/error.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/redis_store.hpp"

namespace sop::ingestion {

struct ReplicaOptions {
  bus::KafkaConfig kafka;  ///< librdkafka properties of the producer and the consumer
  std::string group_id = "sop-ingestion";
  store::RedisStoreOptions redis;
  ProcessorOptions processor;  ///< instance, checkpoints, dedup window, on_health_change
  ServiceOptions service;      ///< Submit's decision timeout
};

class Replica {
 public:
  static Result<std::unique_ptr<Replica>> Start(ReplicaOptions options,
                                                runtime::MetricsRegistry& metrics,
                                                runtime::Logger& logger);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  /// See the file comment.
  void Stop();

  IngestionService& service() { return *service_; }
  Processor& processor() { return *processor_; }
  store::RedisStore& store() { return store_; }

 private:
  Replica(ReplicaOptions options, runtime::MetricsRegistry& metrics, runtime::Logger& logger);
  Result<void> Run();

  ReplicaOptions options_;
  runtime::Logger& logger_;
  store::RedisStore store_;
  IngestionProbe probe_;
  std::unique_ptr<bus::Producer> producer_;
  std::unique_ptr<Processor> processor_;
  std::unique_ptr<bus::Consumer> consumer_;
  std::unique_ptr<IngestionService> service_;
  std::once_flag stopped_;
};

}  // namespace sop::ingestion
