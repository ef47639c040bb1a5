// Hermetic checks of the clients: settings they enforce, error mapping, and delivery errors
// without a broker (connections to 127.0.0.1:1 are refused at once).

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "rdkafka_util.hpp"
#include "sop/bus/consumer.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topic_admin.hpp"
#include "sop/bus/topics.hpp"

namespace sop::bus {
namespace {

using namespace std::chrono_literals;

constexpr const char* kNowhere = "127.0.0.1:1";

TEST(ProducerSettings, RefusesToTurnIdempotenceOff) {
  auto producer = Producer::Create(
      KafkaConfig{{"bootstrap.servers", kNowhere}, {"enable.idempotence", "false"}});
  ASSERT_FALSE(producer.has_value());
  EXPECT_EQ(producer.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(producer.error().message().find("enable.idempotence"), std::string::npos);
  EXPECT_NE(producer.error().message().find("'false'"), std::string::npos);
}

TEST(ProducerSettings, RefusesAcksOtherThanAll) {
  auto producer = Producer::Create(KafkaConfig{{"bootstrap.servers", kNowhere}, {"acks", "1"}});
  ASSERT_FALSE(producer.has_value());
  EXPECT_NE(producer.error().message().find("acks"), std::string::npos);
}

TEST(ProducerSettings, InvalidPassThroughPropertyFailsCreateNamingIt) {
  auto producer =
      Producer::Create(KafkaConfig{{"bootstrap.servers", kNowhere}, {"linger.ms", "soon"}});
  ASSERT_FALSE(producer.has_value());
  EXPECT_NE(producer.error().message().find("linger.ms=soon"), std::string::npos)
      << producer.error().message();
}

TEST(ProducerDelivery, UnreachableClusterReportsARetryableTimeout) {
  auto producer =
      Producer::Create(KafkaConfig{{"bootstrap.servers", kNowhere}, {"message.timeout.ms", "300"}});
  ASSERT_TRUE(producer.has_value()) << producer.error().ToString();
  auto delivered =
      (*producer)->Send(OutgoingMessage{.topic = std::string(kFactsTopic), .value = "x"});
  ASSERT_EQ(delivered.wait_for(10s), std::future_status::ready);
  const Result<DeliveryReport> report = delivered.get();
  ASSERT_FALSE(report.has_value());
  EXPECT_EQ(report.error().code(), Errc::kDeadlineExceeded) << report.error().ToString();
  EXPECT_TRUE(report.error().retryable());
  // The future is fulfilled inside the delivery callback; librdkafka forgets the message only
  // once that callback has returned, so the count reaches zero just after, not at once.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while ((*producer)->OutstandingCount() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ((*producer)->OutstandingCount(), 0);
}

TEST(ProducerDelivery, DestroyingTheProducerCancelsWhatItCouldNotDeliver) {
  std::future<Result<DeliveryReport>> delivered;
  {
    auto producer = Producer::Create(KafkaConfig{{"bootstrap.servers", kNowhere}},
                                     ProducerOptions{.close_timeout = 50ms});
    ASSERT_TRUE(producer.has_value());
    delivered = (*producer)->Send(OutgoingMessage{.topic = std::string(kFactsTopic), .value = "x"});
    EXPECT_FALSE((*producer)->Flush(10ms).has_value());
  }
  ASSERT_EQ(delivered.wait_for(0s), std::future_status::ready);
  const Result<DeliveryReport> report = delivered.get();
  ASSERT_FALSE(report.has_value());
  EXPECT_EQ(report.error().code(), Errc::kCancelled) << report.error().ToString();
}

ConsumerOptions ValidOptions() {
  return ConsumerOptions{.group_id = "g",
                         .topics = {std::string(kFactsTopic)},
                         .handler = [](const Message&) -> Status { return {}; },
                         .on_rejected = [](const Message&, const Error&) -> Status { return {}; }};
}

TEST(ConsumerSettings, RequiresADecisionForRejectedMessages) {
  ConsumerOptions options = ValidOptions();
  options.on_rejected = nullptr;
  auto consumer = Consumer::Create(KafkaConfig{{"bootstrap.servers", kNowhere}}, options);
  ASSERT_FALSE(consumer.has_value());
  EXPECT_NE(consumer.error().message().find("on_rejected"), std::string::npos);
}

TEST(ConsumerSettings, RefusesASilentResetToLatest) {
  auto consumer = Consumer::Create(
      KafkaConfig{{"bootstrap.servers", kNowhere}, {"auto.offset.reset", "latest"}},
      ValidOptions());
  ASSERT_FALSE(consumer.has_value());
  EXPECT_NE(consumer.error().message().find("auto.offset.reset"), std::string::npos);
  EXPECT_NE(consumer.error().message().find("'latest'"), std::string::npos);
}

TEST(ConsumerSettings, RefusesAutomaticOffsetStore) {
  auto consumer = Consumer::Create(
      KafkaConfig{{"bootstrap.servers", kNowhere}, {"enable.auto.offset.store", "true"}},
      ValidOptions());
  ASSERT_FALSE(consumer.has_value());
  EXPECT_NE(consumer.error().message().find("enable.auto.offset.store"), std::string::npos);
}

TEST(ConsumerSettings, RefusesEmptyDrainLimitsNamingTheSettingAndValue) {
  ConsumerOptions options = ValidOptions();
  options.drain_max_messages = 0;
  auto consumer = Consumer::Create(KafkaConfig{{"bootstrap.servers", kNowhere}}, options);
  ASSERT_FALSE(consumer.has_value());
  EXPECT_EQ(consumer.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(consumer.error().message().find("drain_max_messages"), std::string::npos);
  EXPECT_NE(consumer.error().message().find("'0'"), std::string::npos);

  options = ValidOptions();
  options.drain_max_interval = -5ms;
  consumer = Consumer::Create(KafkaConfig{{"bootstrap.servers", kNowhere}}, options);
  ASSERT_FALSE(consumer.has_value());
  EXPECT_NE(consumer.error().message().find("drain_max_interval"), std::string::npos);
  EXPECT_NE(consumer.error().message().find("'-5'"), std::string::npos);
}

TEST(ConsumerSettings, CreatesAndStopsWithoutEverStarting) {
  auto consumer = Consumer::Create(KafkaConfig{{"bootstrap.servers", kNowhere}}, ValidOptions());
  ASSERT_TRUE(consumer.has_value()) << consumer.error().ToString();
  (*consumer)->Stop();
  EXPECT_TRUE((*consumer)->Lag().empty());
  EXPECT_TRUE((*consumer)->Assignment().empty());
}

TEST(ErrorMapping, BrokerErrorsMapToCodesAndRetryability) {
  using detail::ErrorFrom;
  EXPECT_EQ(ErrorFrom(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, "x").code(), Errc::kUnavailable);
  EXPECT_TRUE(ErrorFrom(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, "x").retryable());
  EXPECT_EQ(ErrorFrom(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, "x").code(), Errc::kDeadlineExceeded);
  EXPECT_EQ(ErrorFrom(RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, "x").code(), Errc::kDataLoss);
  EXPECT_FALSE(ErrorFrom(RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, "x").retryable());
  EXPECT_EQ(ErrorFrom(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, "x").code(), Errc::kInvalidArgument);
  EXPECT_EQ(ErrorFrom(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, "x").code(),
            Errc::kPermissionDenied);
  EXPECT_EQ(ErrorFrom(RD_KAFKA_RESP_ERR__PURGE_QUEUE, "x").code(), Errc::kCancelled);
  const Error error = ErrorFrom(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, "produce to t");
  EXPECT_EQ(error.message().rfind("produce to t: ", 0), 0u) << error.message();
  EXPECT_NE(error.message().find("NOT_ENOUGH_REPLICAS"), std::string::npos);
}

TEST(EmbeddedBrokerOptions, RejectsImpossibleSizesNamingTheSetting) {
  auto broker = EmbeddedBroker::Start({.brokers = 0});
  ASSERT_FALSE(broker.has_value());
  EXPECT_NE(broker.error().message().find("brokers"), std::string::npos);
  broker = EmbeddedBroker::Start({.brokers = 1, .partitions = 0});
  ASSERT_FALSE(broker.has_value());
  EXPECT_NE(broker.error().message().find("partitions"), std::string::npos);
}

TEST(TopicAdmin, RejectsASpecWithoutPartitionsBeforeContactingTheCluster) {
  auto admin = TopicAdmin::Create(KafkaConfig{{"bootstrap.servers", "127.0.0.1:1"}});
  ASSERT_TRUE(admin.has_value());
  const std::vector<TopicSpec> specs = {{.name = "sop.facts.v1", .partitions = 0}};
  auto status = (*admin)->CreateTopics(specs, 1s);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(status.error().message().find("sop.facts.v1 partitions"), std::string::npos);
}

}  // namespace
}  // namespace sop::bus
