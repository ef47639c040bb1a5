#include "sop/service_testing/binary_test.hpp"

namespace sop::service_testing {

void ServiceBinaryTest::SetUp() {
  auto broker = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = partitions_});
  ASSERT_TRUE(broker.has_value()) << broker.error().ToString();
  broker_ = std::move(*broker);
  const auto started = redis_.Start();
  ASSERT_TRUE(started.has_value()) << started.error().ToString();
  auto producer = bus::Producer::Create(
      bus::KafkaConfig{{"bootstrap.servers", broker_->bootstrap_servers()}, {"linger.ms", "5"}});
  ASSERT_TRUE(producer.has_value()) << producer.error().ToString();
  producer_ = std::move(*producer);
}

std::filesystem::path ServiceBinaryTest::LogPath(const std::string& name) const {
  return redis_.directory() / (name + ".log");
}

std::vector<store::Snapshot> ServiceBinaryTest::FactSnapshots(const std::string& service) const {
  store::RedisStore store = Store();
  std::vector<store::Snapshot> found;
  for (std::int32_t partition = 0; partition < partitions_; ++partition) {
    const std::string name = service + "/sop.facts.v1/" + std::to_string(partition);
    auto stored = store.GetSnapshot(name);
    if (!stored) {
      ADD_FAILURE() << name << ": " << stored.error().ToString();
      continue;
    }
    if (*stored) found.push_back(std::move(**stored));
  }
  return found;
}

}  // namespace sop::service_testing
