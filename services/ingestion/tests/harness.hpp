#pragma once
// A complete ingestion replica wired like main.cpp (minus signals and the metrics exposer) for
// integration tests here and in tools/sopctl, plus client settings that suit the embedded broker.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "sop/bus/consumer.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/ingestion/processor.hpp"
#include "sop/ingestion/service.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/redis_store.hpp"

namespace sop::ingestion::testing {

using namespace std::chrono_literals;

inline bus::KafkaConfig ProducerConfig(const std::string& bootstrap) {
  return bus::KafkaConfig{{"bootstrap.servers", bootstrap},
                          {"linger.ms", "5"},
                          {"reconnect.backoff.ms", "50"},
                          {"reconnect.backoff.max.ms", "500"}};
}

// The mock waits up to the session timeout for members during a rebalance: keep it short.
inline bus::KafkaConfig ConsumerConfig(const std::string& bootstrap) {
  return bus::KafkaConfig{{"bootstrap.servers", bootstrap},   {"session.timeout.ms", "3000"},
                          {"heartbeat.interval.ms", "200"},   {"auto.commit.interval.ms", "200"},
                          {"fetch.wait.max.ms", "50"},        {"reconnect.backoff.ms", "50"},
                          {"reconnect.backoff.max.ms", "500"}};
}

// One ingestion replica wired like main.cpp (minus signals and the metrics exposer).
struct Instance {
  Instance(const std::string& bootstrap, store::RedisStoreOptions redis, const std::string& group,
           runtime::Logger& logger, DedupRetention dedup = {})
      : metrics(std::make_unique<runtime::MetricsRegistry>()),
        store(std::make_unique<store::RedisStore>(redis)) {
    producer = std::move(*bus::Producer::Create(ProducerConfig(bootstrap)));
    probe = std::make_unique<IngestionProbe>(*metrics);
    processor = std::make_unique<Processor>(
        ProcessorOptions{.instance = "test", .checkpoint_interval = 200ms, .dedup = dedup},
        *producer, *store, *probe, logger);
    auto created = bus::Consumer::Create(
        ConsumerConfig(bootstrap),
        {.group_id = group,
         .topics = {std::string(bus::kErpEventsTopic)},
         .handler = [this](const bus::Message& message) { return processor->Handle(message); },
         .on_rejected =
             [this](const bus::Message& message, const Error& error) {
               return processor->dead_letter().Send(message, error);
             },
         .listener = processor.get()});
    EXPECT_TRUE(created) << created.error().ToString();
    consumer = std::move(*created);
    EXPECT_TRUE(consumer->Start());
    processor->Start([this] { return consumer->Lag(); });
    service = std::make_unique<IngestionService>(ServiceOptions{.decision_timeout = 20s}, *producer,
                                                 *processor);
    runtime::GrpcServerOptions grpc_options;
    grpc_options.host = "127.0.0.1";
    auto started = runtime::GrpcServer::Builder(grpc_options, logger, *metrics)
                       .AddService(service.get())
                       .Start();
    EXPECT_TRUE(started) << started.error().ToString();
    server = std::move(*started);
    server->SetServing(true);
    server->SetServing("sop.v1.Ingestion", true);
  }
  ~Instance() { Stop(); }
  void Stop() {
    if (!server) return;
    server->Shutdown(1s);
    consumer->Stop();
    processor->Stop();
    (void)producer->Flush(10s);
    server.reset();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(server->port()); }
  double Metric(const std::string& needle) const {
    // The sample line, not the "# HELP <name> ..." line before it.
    const std::string text = "\n" + metrics->SerializeText();
    const auto at = text.find("\n" + needle + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + 1 + needle.size() + 1));
  }

  std::unique_ptr<runtime::MetricsRegistry> metrics;
  std::unique_ptr<store::RedisStore> store;
  std::unique_ptr<bus::Producer> producer;
  std::unique_ptr<IngestionProbe> probe;
  std::unique_ptr<Processor> processor;
  std::unique_ptr<bus::Consumer> consumer;
  std::unique_ptr<IngestionService> service;
  std::unique_ptr<runtime::GrpcServer> server;
};

}  // namespace sop::ingestion::testing
