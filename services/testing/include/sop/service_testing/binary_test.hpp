#pragma once
/// The fixture of a service binary test: the real parts the process runs against, started
/// before each test and stopped after it: the embedded broker (librdkafka's mock cluster, real
/// sockets, every sop.* topic with `partitions` partitions), a redis-server on a free loopback
/// port, and a producer (linger 5 ms) for the test's own facts.
///
///   class MrpBinary : public service_testing::ServiceBinaryTest {};
///   TEST_F(MrpBinary, ServesThePlan) {
///     ServiceProcess mrp(SOP_MRP_BINARY, ServiceFlags(bootstrap(), redis().port()), Log("mrp"));
///     ...
///   }

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/store/redis_store.hpp"
#include "sop/store/snapshot.hpp"
#include "sop/store/testing/redis_server.hpp"

namespace sop::service_testing {

class ServiceBinaryTest : public ::testing::Test {
 protected:
  explicit ServiceBinaryTest(std::int32_t partitions = 6) : partitions_(partitions) {}

  void SetUp() override;

  std::int32_t partitions() const noexcept { return partitions_; }
  bus::EmbeddedBroker& broker() { return *broker_; }
  const std::string& bootstrap() const { return broker_->bootstrap_servers(); }
  store_testing::RedisServer& redis() { return redis_; }
  bus::Producer& producer() { return *producer_; }
  /// A client of the test's redis-server (to read the snapshots a process wrote).
  store::RedisStore Store() const { return store::RedisStore(redis_.StoreOptions()); }
  /// `<redis dir>/<name>.log`: a place for a process's log that goes away with the test.
  std::filesystem::path LogPath(const std::string& name) const;
  /// The snapshots `service` keeps of sop.facts.v1 in the test's Redis ("<service>/sop.facts.v1/
  /// <p>" for every partition p that has one); a failed read is a test failure.
  std::vector<store::Snapshot> FactSnapshots(const std::string& service) const;

 private:
  std::int32_t partitions_;
  std::unique_ptr<bus::EmbeddedBroker> broker_;
  store_testing::RedisServer redis_;
  std::unique_ptr<bus::Producer> producer_;
};

}  // namespace sop::service_testing
