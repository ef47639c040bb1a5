// A committed offset that fell out of the embedded broker's log is reported as DATA_LOSS,
// never silently skipped.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "kafka_test_support.hpp"
#include "sop/bus/consumer.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"

namespace sop::bus {
namespace {

using namespace std::chrono_literals;
using testing::ConsumerConfig;
using testing::ProducerConfig;
using testing::RecordingListener;
using testing::Watched;

TEST(ConsumerDataLoss, CommittedOffsetOutOfTheLogIsReportedAsDataLoss) {
  auto broker = EmbeddedBroker::Start({.brokers = 1, .partitions = 1, .topics = {"sop.facts.v1"}});
  ASSERT_TRUE(broker.has_value());
  const std::string bootstrap = (*broker)->bootstrap_servers();
  auto producer = Producer::Create(ProducerConfig(bootstrap));
  ASSERT_TRUE(producer.has_value());

  Watched<int> handled;
  auto make_consumer = [&](RecordingListener* listener) {
    auto consumer = Consumer::Create(ConsumerConfig(bootstrap),
                                     ConsumerOptions{.group_id = "planner",
                                                     .topics = {std::string(kFactsTopic)},
                                                     .handler = [&](const Message&) -> Status {
                                                       handled.Update([](int& count) { ++count; });
                                                       return {};
                                                     },
                                                     .on_rejected = testing::Reject,
                                                     .listener = listener});
    EXPECT_TRUE(consumer.has_value());
    return std::move(*consumer);
  };

  // The group handles and commits offset 0.
  ASSERT_TRUE((*producer)->SendSync(
      OutgoingMessage{.topic = std::string(kFactsTopic), .key = "plant-1", .value = "first"}, 10s));
  RecordingListener first_listener;
  auto first = make_consumer(&first_listener);
  ASSERT_TRUE(first->Start());
  ASSERT_TRUE(handled.WaitUntil([](int count) { return count == 1; }, 30s));
  first->Stop();

  // The mock keeps about 5 MiB per partition: 8 MiB more pushes the committed offset out.
  const std::string large(100 * 1024, 'x');
  for (int index = 0; index < 80; ++index) {
    (*producer)->Send(
        OutgoingMessage{.topic = std::string(kFactsTopic), .key = "plant-1", .value = large},
        [](Result<DeliveryReport>) {});
  }
  ASSERT_TRUE((*producer)->Flush(30s));

  RecordingListener listener;
  auto second = make_consumer(&listener);
  ASSERT_TRUE(second->Start());
  ASSERT_TRUE(
      listener.assigned_calls.WaitUntil([](const auto& calls) { return !calls.empty(); }, 30s));
  EXPECT_EQ(listener.assigned_calls.Get().front().start_offset, 1);
  ASSERT_TRUE(listener.errors.WaitUntil(
      [](const std::vector<Error>& errors) {
        return std::any_of(errors.begin(), errors.end(),
                           [](const Error& error) { return error.code() == Errc::kDataLoss; });
      },
      30s));
  second->Stop();
  EXPECT_EQ(handled.Get(), 1) << "no message may be handled after an out-of-range offset";
  for (const Error& error : listener.errors.Get()) {
    if (error.code() != Errc::kDataLoss) continue;
    EXPECT_NE(error.message().find("sop.facts.v1[0]"), std::string::npos) << error.message();
    EXPECT_FALSE(error.retryable());
  }
}

}  // namespace
}  // namespace sop::bus
