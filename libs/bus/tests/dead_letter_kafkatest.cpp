// Handler failures on the embedded broker: rejected messages land on sop.dlq.v1 unchanged
// with their reason; retryable failures retry the same message without skipping it.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "kafka_test_support.hpp"
#include "sop/bus/consumer.hpp"
#include "sop/bus/dead_letter.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"

namespace sop::bus {
namespace {

using namespace std::chrono_literals;
using testing::ConsumerConfig;
using testing::ProducerConfig;
using testing::Watched;

std::unique_ptr<EmbeddedBroker> StartBroker() {
  auto broker = EmbeddedBroker::Start({.brokers = 1, .partitions = 1});
  EXPECT_TRUE(broker.has_value()) << broker.error().ToString();
  return std::move(*broker);
}

TEST(DeadLetter, RejectedMessageLandsOnDlqWithOriginalBytesAndReason) {
  auto broker = StartBroker();
  auto producer = Producer::Create(ProducerConfig(broker->bootstrap_servers()));
  ASSERT_TRUE(producer.has_value());
  DeadLetter dead_letter(**producer);

  const std::string bad_value("bad\0\xff\x01quantity=-5", 17);
  for (const std::string& value : {std::string("good-1"), bad_value, std::string("good-2")}) {
    ASSERT_TRUE(
        (*producer)->SendSync(OutgoingMessage{.topic = std::string(kErpEventsTopic),
                                              .key = "plant-1",
                                              .value = value,
                                              .headers = {{"event_id", value.substr(0, 6)}}},
                              10s));
  }

  Watched<std::vector<std::string>> accepted;
  Watched<std::vector<Message>> rejected;
  const auto before = std::chrono::system_clock::now();
  auto consumer = Consumer::Create(
      ConsumerConfig(broker->bootstrap_servers()),
      ConsumerOptions{.group_id = "ingestion",
                      .topics = {std::string(kErpEventsTopic)},
                      .handler = [&](const Message& message) -> Status {
                        if (message.value.starts_with("bad")) {
                          return InvalidField("quantity", "must be >= 0", "-5");
                        }
                        accepted.Update([&](auto& all) { all.push_back(message.value); });
                        return {};
                      },
                      .on_rejected =
                          [&](const Message& message, const Error& error) {
                            rejected.Update([&](auto& all) { all.push_back(message); });
                            return dead_letter.Send(message, error);
                          }});
  ASSERT_TRUE(consumer.has_value());
  ASSERT_TRUE((*consumer)->Start());
  ASSERT_TRUE(accepted.WaitUntil([](const auto& all) { return all.size() >= 2; }, 30s));
  (*consumer)->Stop();
  const auto after = std::chrono::system_clock::now();
  EXPECT_EQ(accepted.Get(), (std::vector<std::string>{"good-1", "good-2"}));
  ASSERT_EQ(rejected.Get().size(), 1u);
  const Message original = rejected.Get().front();

  Watched<std::vector<Message>> dead_letters;
  auto reader = Consumer::Create(
      ConsumerConfig(broker->bootstrap_servers()),
      ConsumerOptions{.group_id = "dlq-reader",
                      .topics = {std::string(kDeadLetterTopic)},
                      .handler = [&](const Message& message) -> Status {
                        dead_letters.Update([&](auto& all) { all.push_back(message); });
                        return {};
                      },
                      .on_rejected = testing::Reject});
  ASSERT_TRUE(reader.has_value());
  ASSERT_TRUE((*reader)->Start());
  ASSERT_TRUE(dead_letters.WaitUntil([](const auto& all) { return !all.empty(); }, 30s));
  (*reader)->Stop();
  const std::vector<Message> all_dead_letters = dead_letters.Get();
  ASSERT_EQ(all_dead_letters.size(), 1u);
  const Message& dlq_message = all_dead_letters.front();
  EXPECT_EQ(dlq_message.key, "plant-1");
  EXPECT_EQ(dlq_message.value, bad_value);  // byte for byte, NUL and 0xff included
  auto decoded = DeadLetter::Decode(dlq_message);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->key, "plant-1");
  EXPECT_EQ(decoded->value, bad_value);
  EXPECT_EQ(decoded->original_headers, (std::vector<Header>{{"event_id", bad_value.substr(0, 6)}}));
  EXPECT_EQ(decoded->code, Errc::kInvalidArgument);
  EXPECT_EQ(decoded->reason, "quantity: must be >= 0, got '-5'");
  EXPECT_EQ(decoded->source_topic, kErpEventsTopic);
  EXPECT_EQ(decoded->source_partition, original.partition);
  EXPECT_EQ(decoded->source_offset, 1);
  EXPECT_EQ(decoded->source_offset, original.offset);
  EXPECT_GE(decoded->dead_lettered_at, std::chrono::floor<std::chrono::milliseconds>(before));
  EXPECT_LE(decoded->dead_lettered_at, after);
}

TEST(ConsumerRetry, RetryableFailureRetriesTheSameMessageBeforeTheNextOne) {
  auto broker = StartBroker();
  auto producer = Producer::Create(ProducerConfig(broker->bootstrap_servers()));
  ASSERT_TRUE(producer.has_value());
  for (const char* value : {"first", "flaky", "last"}) {
    ASSERT_TRUE((*producer)->SendSync(
        OutgoingMessage{.topic = std::string(kFactsTopic), .key = "plant-1", .value = value}, 10s));
  }

  Watched<std::vector<std::string>> attempts;
  auto consumer = Consumer::Create(
      ConsumerConfig(broker->bootstrap_servers()),
      ConsumerOptions{.group_id = "retrying",
                      .topics = {std::string(kFactsTopic)},
                      .handler = [&](const Message& message) -> Status {
                        int flaky_attempts = 0;
                        attempts.Update([&](auto& all) {
                          all.push_back(message.value);
                          flaky_attempts =
                              static_cast<int>(std::count(all.begin(), all.end(), "flaky"));
                        });
                        if (message.value == "flaky" && flaky_attempts < 3) {
                          return Fail(Errc::kUnavailable, "state store: not reachable");
                        }
                        return {};
                      },
                      .on_rejected = testing::Reject,
                      .retry_backoff_initial = 10ms,
                      .retry_backoff_max = 40ms});
  ASSERT_TRUE(consumer.has_value());
  ASSERT_TRUE((*consumer)->Start());
  ASSERT_TRUE(attempts.WaitUntil([](const auto& all) { return all.size() >= 5; }, 30s));
  (*consumer)->Stop();
  EXPECT_EQ(attempts.Get(), (std::vector<std::string>{"first", "flaky", "flaky", "flaky", "last"}));
}

}  // namespace
}  // namespace sop::bus
