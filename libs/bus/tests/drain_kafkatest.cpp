// ConsumerOptions::on_drained on the embedded broker: a backlog is handled in bursts bounded by
// drain_max_messages, a lone message at idle is drained right after it, and a message whose
// handler keeps failing is neither drained nor committed (the next member starts at it).
// One partition, so offsets are the message numbers 0, 1, 2, ...

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

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

const std::string kTopic(kFactsTopic);

// What the handler and on_drained saw, in order, on the consumer thread.
struct Trace {
  std::vector<std::int64_t> handled;       // offsets handled successfully
  std::vector<std::size_t> drained_after;  // handled.size() at each on_drained call
};

class DrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker =
        EmbeddedBroker::Start({.brokers = 1, .partitions = 1, .topics = {std::string(kTopic)}});
    ASSERT_TRUE(broker.has_value()) << broker.error().ToString();
    broker_ = std::move(*broker);
    auto producer = Producer::Create(ProducerConfig(broker_->bootstrap_servers()));
    ASSERT_TRUE(producer.has_value()) << producer.error().ToString();
    producer_ = std::move(*producer);
  }

  // Produces messages [begin, end) (value = the number) and waits for their acknowledgement.
  void Produce(int begin, int end) {
    Watched<int> failures;
    for (int i = begin; i < end; ++i) {
      producer_->Send(OutgoingMessage{.topic = kTopic, .value = std::to_string(i)},
                      [&failures](Result<DeliveryReport> report) {
                        if (!report) failures.Update([](int& count) { ++count; });
                      });
    }
    ASSERT_TRUE(producer_->Flush(20s).has_value());
    ASSERT_EQ(failures.Get(), 0);
  }

  // A consumer recording into `trace`; `fail_at` (if >= 0) fails retryably on that offset.
  std::unique_ptr<Consumer> Make(const std::string& group, Watched<Trace>& trace,
                                 RecordingListener& listener, std::size_t max_messages,
                                 std::chrono::milliseconds max_interval,
                                 std::int64_t fail_at = -1) {
    ConsumerOptions options{.group_id = group,
                            .topics = {kTopic},
                            .handler = [&trace, fail_at](const Message& message) -> Status {
                              if (message.offset == fail_at) {
                                return Fail(Errc::kUnavailable,
                                            "test: the store is down");  // retryable
                              }
                              trace.Update([&](Trace& t) { t.handled.push_back(message.offset); });
                              return {};
                            },
                            .on_rejected = testing::Reject,
                            .listener = &listener,
                            .retry_backoff_initial = 50ms,
                            .retry_backoff_max = 50ms};
    options.on_drained = [&trace] {
      trace.Update([](Trace& t) { t.drained_after.push_back(t.handled.size()); });
    };
    options.drain_max_messages = max_messages;
    options.drain_max_interval = max_interval;
    auto consumer = Consumer::Create(ConsumerConfig(broker_->bootstrap_servers()), options);
    EXPECT_TRUE(consumer.has_value()) << consumer.error().ToString();
    return consumer ? std::move(*consumer) : nullptr;
  }

  std::unique_ptr<EmbeddedBroker> broker_;
  std::unique_ptr<Producer> producer_;
};

TEST_F(DrainTest, ABacklogIsHandledInBurstsOfAtMostTheLimit) {
  Produce(0, 500);
  Watched<Trace> trace;
  RecordingListener listener;
  // No time limit within the test: only "nothing ready" and the 100-message limit drain.
  auto consumer = Make("drain-backlog", trace, listener, 100, 1h);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(consumer->Start().has_value());
  ASSERT_TRUE(trace.WaitUntil(
      [](const Trace& t) { return !t.drained_after.empty() && t.drained_after.back() == 500; },
      30s))
      << "handled " << trace.Get().handled.size();
  consumer->Stop();

  const Trace t = trace.Get();
  ASSERT_EQ(t.handled.size(), 500u);
  for (std::size_t i = 0; i < t.handled.size(); ++i) {
    ASSERT_EQ(t.handled[i], static_cast<std::int64_t>(i)) << "in partition order, each once";
  }
  // 500 / 100 = 5 full bursts at least; a few more where a fetch response ended early.
  EXPECT_GE(t.drained_after.size(), 5u);
  EXPECT_LE(t.drained_after.size(), 15u);
  std::size_t before = 0;
  for (const std::size_t after : t.drained_after) {
    EXPECT_GT(after, before) << "a drain without a handled message";
    EXPECT_LE(after - before, 100u) << "a burst above drain_max_messages";
    before = after;
  }
  EXPECT_TRUE(listener.errors.Get().empty());
}

TEST_F(DrainTest, ALoneMessageAtIdleIsDrainedRightAfterIt) {
  Watched<Trace> trace;
  RecordingListener listener;
  // Neither limit can be what drains it: only "nothing more ready".
  auto consumer = Make("drain-idle", trace, listener, 500, 1h);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(consumer->Start().has_value());
  ASSERT_TRUE(listener.WaitForAssignmentSize(1, 20s));
  Produce(0, 1);
  ASSERT_TRUE(trace.WaitUntil([](const Trace& t) { return !t.drained_after.empty(); }, 10s));
  const Trace t = trace.Get();
  EXPECT_EQ(t.handled, (std::vector<std::int64_t>{0}));
  EXPECT_EQ(t.drained_after, (std::vector<std::size_t>{1}));

  consumer->Stop();
  EXPECT_EQ(trace.Get().drained_after.size(), 1u) << "Stop drains only what is undrained";
}

TEST_F(DrainTest, AMessageThatKeepsFailingIsNotCommittedAndTheNextMemberStartsAtIt) {
  Produce(0, 10);
  Watched<Trace> first;
  RecordingListener first_listener;
  // Offset 6 fails retryably until the member stops.
  auto a = Make("drain-commit", first, first_listener, 500, 1h, /*fail_at=*/6);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->Start().has_value());
  // 0..5 are drained before the backoff of 6, not held back for the whole retry.
  ASSERT_TRUE(first.WaitUntil(
      [](const Trace& t) { return !t.drained_after.empty() && t.drained_after.back() == 6; }, 20s));
  a->Stop();
  EXPECT_EQ(first.Get().handled, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5}));

  // The group committed 6 (stored at the drain, committed at Stop): nothing skipped, nothing
  // handled twice.
  Watched<Trace> second;
  RecordingListener second_listener;
  auto b = Make("drain-commit", second, second_listener, 500, 1h);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->Start().has_value());
  ASSERT_TRUE(second.WaitUntil(
      [](const Trace& t) { return !t.drained_after.empty() && t.drained_after.back() == 4; }, 20s))
      << second.Get().handled.size();
  b->Stop();
  EXPECT_EQ(second.Get().handled, (std::vector<std::int64_t>{6, 7, 8, 9}));
  const auto assigned = second_listener.assigned_calls.Get();
  ASSERT_FALSE(assigned.empty());
  EXPECT_EQ(assigned.front().start_offset.value_or(-1), 6);
}

}  // namespace
}  // namespace sop::bus
