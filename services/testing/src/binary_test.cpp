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

}  // namespace sop::service_testing
