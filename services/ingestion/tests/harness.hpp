#pragma once
// A complete ingestion replica (ingestion::Replica, as sop-ingestion runs it) behind a plain gRPC
// server for integration tests here and in tools/sopctl, plus client settings that suit the
// embedded broker.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "sop/bus/producer.hpp"
#include "sop/ingestion/replica.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/redis_store.hpp"
#include "sop/v1/events.pb.h"

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

// The master data a sales order of `item` at `site` needs to be accepted: the site (event id
// "s:<site>") and the item ("i:<site>:<item>").
inline std::vector<sop::v1::Envelope> SiteAndItem(const std::string& site,
                                                  const std::string& item) {
  sop::v1::Envelope site_master;
  site_master.set_event_id("s:" + site);
  site_master.set_site(site);
  site_master.mutable_site_master()->set_site_id(site);
  sop::v1::Envelope item_master;
  item_master.set_event_id("i:" + site + ":" + item);
  item_master.set_site(site);
  item_master.mutable_item()->set_site_id(site);
  item_master.mutable_item()->set_item_id(item);
  return {site_master, item_master};
}

// One ingestion replica as sop-ingestion runs it (ingestion::Replica), with a plain gRPC server
// on a free loopback port instead of the service main (no signals, no metrics exposer, no auth).
struct Instance {
  Instance(const std::string& bootstrap, store::RedisStoreOptions redis, const std::string& group,
           runtime::Logger& logger, DedupRetention dedup = {})
      : metrics(std::make_unique<runtime::MetricsRegistry>()) {
    auto started = Replica::Start(
        {.kafka = ConsumerConfig(bootstrap),
         .group_id = group,
         .redis = std::move(redis),
         .processor = {.instance = "test", .checkpoint_interval = 200ms, .dedup = dedup},
         .service = {.decision_timeout = 20s}},
        *metrics, logger);
    EXPECT_TRUE(started) << started.error().ToString();
    replica = std::move(*started);
    runtime::GrpcServerOptions grpc_options;
    grpc_options.host = "127.0.0.1";
    auto server_started = runtime::GrpcServer::Builder(grpc_options, logger, *metrics)
                              .AddService(&replica->service())
                              .Start();
    EXPECT_TRUE(server_started) << server_started.error().ToString();
    server = std::move(*server_started);
    server->SetServing(true);
    server->SetServing("sop.v1.Ingestion", true);
  }
  ~Instance() { Stop(); }
  // As sop-ingestion stops: gRPC first, then the replica (commit, final snapshot, flush).
  void Stop() {
    if (!server) return;
    server->Shutdown(1s);
    replica->Stop();
    server.reset();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(server->port()); }
  store::RedisStore& store() { return replica->store(); }
  Processor& processor() { return replica->processor(); }
  double Metric(const std::string& needle) const {
    // The sample line, not the "# HELP <name> ..." line before it.
    const std::string text = "\n" + metrics->SerializeText();
    const auto at = text.find("\n" + needle + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + 1 + needle.size() + 1));
  }

  std::unique_ptr<runtime::MetricsRegistry> metrics;
  std::unique_ptr<Replica> replica;
  std::unique_ptr<runtime::GrpcServer> server;
};

}  // namespace sop::ingestion::testing
