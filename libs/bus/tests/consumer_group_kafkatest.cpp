// Consumer groups on the embedded broker: rebalances without loss or duplicates, and
// idempotent application of redelivered events.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
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

constexpr int kMessages = 10'000;
constexpr int kSites = 50;

std::unique_ptr<EmbeddedBroker> StartBroker(int brokers, int partitions) {
  auto broker = EmbeddedBroker::Start(
      {.brokers = brokers, .partitions = partitions, .topics = {std::string(kFactsTopic)}});
  EXPECT_TRUE(broker.has_value()) << broker.error().ToString();
  return std::move(*broker);
}

// Produces ids [first, last) keyed by site; values are the decimal id.
void ProduceRange(Producer& producer, int first, int last, Watched<int>& failures) {
  for (int id = first; id < last; ++id) {
    producer.Send(OutgoingMessage{.topic = std::string(kFactsTopic),
                                  .key = "site-" + std::to_string(id % kSites),
                                  .value = std::to_string(id)},
                  [&failures](Result<DeliveryReport> report) {
                    if (!report) failures.Update([](int& count) { ++count; });
                  });
  }
}

TEST(ConsumerGroup, MembersSplitPartitionsAndSurvivorTakesAllWithoutLossOrDuplicates) {
  auto broker = StartBroker(3, 6);
  auto producer = Producer::Create(ProducerConfig(broker->bootstrap_servers()));
  ASSERT_TRUE(producer.has_value()) << producer.error().ToString();

  // handled[id] counts how often the handler ran for id, across both members.
  std::vector<std::atomic<int>> handled(kMessages);
  Watched<int> total;
  std::array<std::atomic<int>, 2> per_member{};
  auto make_handler = [&](int member) {
    return [&, member](const Message& message) -> Status {
      const int id = std::stoi(message.value);
      handled[static_cast<std::size_t>(id)].fetch_add(1);
      per_member[static_cast<std::size_t>(member)].fetch_add(1);
      total.Update([](int& count) { ++count; });
      return {};
    };
  };

  std::array<RecordingListener, 2> listeners;
  std::array<std::unique_ptr<Consumer>, 2> members;
  for (int member = 0; member < 2; ++member) {
    auto consumer =
        Consumer::Create(ConsumerConfig(broker->bootstrap_servers()),
                         ConsumerOptions{.group_id = "rebalance-group",
                                         .topics = {std::string(kFactsTopic)},
                                         .handler = make_handler(member),
                                         .on_rejected = testing::Reject,
                                         .listener = &listeners[static_cast<std::size_t>(member)]});
    ASSERT_TRUE(consumer.has_value()) << consumer.error().ToString();
    members[static_cast<std::size_t>(member)] = std::move(*consumer);
  }
  ASSERT_TRUE(members[0]->Start());
  ASSERT_TRUE(listeners[0].WaitForAssignmentSize(6, 20s));
  ASSERT_TRUE(members[1]->Start());
  ASSERT_TRUE(listeners[0].WaitForAssignmentSize(3, 20s));
  ASSERT_TRUE(listeners[1].WaitForAssignmentSize(3, 20s));

  Watched<int> failures;
  ProduceRange(**producer, 0, kMessages / 2, failures);
  ASSERT_TRUE(total.WaitUntil(
      [&](int count) { return count >= 2'000 && per_member[0] > 0 && per_member[1] > 0; }, 30s));

  // Member 0 leaves while the stream is still flowing: the second half is produced while it
  // stops, and its partitions cannot be handled by member 1 before it has left.
  std::thread stopper([&] { members[0]->Stop(); });
  ProduceRange(**producer, kMessages / 2, kMessages, failures);
  stopper.join();
  const int handled_when_stopped = total.Get();
  EXPECT_LT(handled_when_stopped, kMessages);

  ASSERT_TRUE(listeners[1].WaitForAssignmentSize(6, 30s));
  ASSERT_TRUE((*producer)->Flush(30s));
  EXPECT_EQ(failures.Get(), 0);
  ASSERT_TRUE(total.WaitUntil([](int count) { return count >= kMessages; }, 60s))
      << "handled " << total.Get();

  // Lag is measured against the fetched high watermark: all caught up. The handler counts a
  // message before the consumer records its position, so the last position can trail the count
  // for a moment: wait for it (bounded), then require lag 0 everywhere.
  std::vector<PartitionLag> lags;
  const auto caught_up = [&] {
    lags = members[1]->Lag();
    return lags.size() == 6u && std::ranges::all_of(lags, [](const PartitionLag& lag) {
             return lag.lag.value_or(-1) == 0;
           });
  };
  const auto lag_deadline = std::chrono::steady_clock::now() + 10s;
  while (!caught_up() && std::chrono::steady_clock::now() < lag_deadline) {
    std::this_thread::sleep_for(10ms);  // poll interval of a deadline-bounded condition wait
  }
  ASSERT_EQ(lags.size(), 6u);
  for (const PartitionLag& lag : lags) {
    EXPECT_EQ(lag.lag.value_or(-1), 0) << "partition " << lag.partition;
  }
  members[1]->Stop();

  EXPECT_EQ(total.Get(), kMessages);
  int missing = 0;
  int duplicated = 0;
  for (const auto& count : handled) {
    if (count.load() == 0) ++missing;
    if (count.load() > 1) ++duplicated;
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(duplicated, 0);
  EXPECT_EQ(per_member[0].load() + per_member[1].load(), kMessages);
  EXPECT_GT(per_member[1].load(), kMessages / 2);
}

// State whose applied event ids are kept under the same lock as the totals they changed, so
// "applied" and "recorded as applied" can never disagree.
class SiteLedger {
 public:
  Status Apply(const Message& message) {
    const auto event_id = message.FindHeader("event_id");
    if (!event_id) return Fail(Errc::kInvalidArgument, "event_id: header missing");
    std::lock_guard lock(mutex_);
    if (!applied_ids_.insert(std::string(*event_id)).second) {
      ++skipped_;
      return {};
    }
    totals_[message.key.value_or("")] += std::stoll(message.value);
    return {};
  }
  std::map<std::string, long long> Totals() const {
    std::lock_guard lock(mutex_);
    return totals_;
  }
  std::size_t AppliedCount() const {
    std::lock_guard lock(mutex_);
    return applied_ids_.size();
  }
  int Skipped() const {
    std::lock_guard lock(mutex_);
    return skipped_;
  }

 private:
  mutable std::mutex mutex_;
  std::set<std::string> applied_ids_;
  std::map<std::string, long long> totals_;
  int skipped_ = 0;
};

TEST(ConsumerGroup, RedeliveredEventsLeaveIdempotentStateUnchanged) {
  auto broker = StartBroker(1, 3);
  auto producer = Producer::Create(ProducerConfig(broker->bootstrap_servers()));
  ASSERT_TRUE(producer.has_value());

  // 200 distinct events, and the first 100 of them sent a second time (a replayed batch).
  constexpr int kDistinct = 200;
  constexpr int kReplayed = 100;
  std::map<std::string, long long> expected;
  for (int round = 0; round < 2; ++round) {
    for (int event = 0; event < (round == 0 ? kDistinct : kReplayed); ++event) {
      const std::string site = "site-" + std::to_string(event % 5);
      const int quantity = event + 1;
      if (round == 0) expected[site] += quantity;
      auto delivered = (*producer)->Send(
          OutgoingMessage{.topic = std::string(kFactsTopic),
                          .key = site,
                          .value = std::to_string(quantity),
                          .headers = {{"event_id", "evt-" + std::to_string(event)}}});
      (void)delivered;
    }
  }
  ASSERT_TRUE((*producer)->Flush(20s));

  SiteLedger ledger;
  auto consume_all = [&](const std::string& group) {
    Watched<int> seen;
    auto consumer = Consumer::Create(ConsumerConfig(broker->bootstrap_servers()),
                                     ConsumerOptions{.group_id = group,
                                                     .topics = {std::string(kFactsTopic)},
                                                     .handler =
                                                         [&](const Message& message) {
                                                           Status status = ledger.Apply(message);
                                                           seen.Update([](int& count) { ++count; });
                                                           return status;
                                                         },
                                                     .on_rejected = testing::Reject});
    ASSERT_TRUE(consumer.has_value());
    ASSERT_TRUE((*consumer)->Start());
    ASSERT_TRUE(seen.WaitUntil([](int count) { return count >= kDistinct + kReplayed; }, 30s))
        << group << " saw " << seen.Get();
    (*consumer)->Stop();
  };

  consume_all("ledger-first");
  EXPECT_EQ(ledger.Totals(), expected);
  EXPECT_EQ(ledger.AppliedCount(), static_cast<std::size_t>(kDistinct));
  EXPECT_EQ(ledger.Skipped(), kReplayed);

  // A second group reads the whole log again into the same state: nothing changes.
  consume_all("ledger-second");
  EXPECT_EQ(ledger.Totals(), expected);
  EXPECT_EQ(ledger.AppliedCount(), static_cast<std::size_t>(kDistinct));
  EXPECT_EQ(ledger.Skipped(), kReplayed + kDistinct + kReplayed);
}

// A listener that resumes from its own snapshot: every assigned partition starts at offset 2.
class ResumeFromSnapshot : public RecordingListener {
 public:
  void OnAssigned(std::span<AssignedPartition> partitions) override {
    for (AssignedPartition& partition : partitions) partition.start_offset = 2;
    RecordingListener::OnAssigned(partitions);
  }
};

TEST(ConsumerGroup, ListenerChosenStartOffsetIsHonouredAndLagCountsWhatIsLeft) {
  auto broker = StartBroker(1, 1);
  auto producer = Producer::Create(ProducerConfig(broker->bootstrap_servers()));
  ASSERT_TRUE(producer.has_value());
  for (int index = 0; index < 10; ++index) {
    (*producer)->Send(
        OutgoingMessage{
            .topic = std::string(kFactsTopic), .key = "plant-1", .value = std::to_string(index)},
        [](Result<DeliveryReport>) {});
  }
  ASSERT_TRUE((*producer)->Flush(10s));

  Watched<bool> released;
  Watched<std::vector<std::int64_t>> offsets;
  ResumeFromSnapshot listener;
  auto consumer = Consumer::Create(
      ConsumerConfig(broker->bootstrap_servers()),
      ConsumerOptions{.group_id = "resuming",
                      .topics = {std::string(kFactsTopic)},
                      .handler = [&](const Message& message) -> Status {
                        offsets.Update([&](auto& all) { all.push_back(message.offset); });
                        // Hold the first message until the test has looked at the lag.
                        if (!released.WaitUntil([](bool open) { return open; }, 30s)) {
                          return Fail(Errc::kDeadlineExceeded, "test never released");
                        }
                        return {};
                      },
                      .on_rejected = testing::Reject,
                      .listener = &listener});
  ASSERT_TRUE(consumer.has_value());
  ASSERT_TRUE((*consumer)->Start());
  ASSERT_TRUE(offsets.WaitUntil([](const auto& all) { return !all.empty(); }, 30s));
  EXPECT_EQ(offsets.Get().front(), 2);
  const std::vector<PartitionLag> while_blocked = (*consumer)->Lag();
  ASSERT_EQ(while_blocked.size(), 1u);
  EXPECT_EQ(while_blocked[0].high_watermark, 10);
  EXPECT_EQ(while_blocked[0].position, 2);
  EXPECT_EQ(while_blocked[0].lag, 8);

  released.Update([](bool& open) { open = true; });
  ASSERT_TRUE(offsets.WaitUntil([](const auto& all) { return all.size() >= 8; }, 30s));
  (*consumer)->Stop();
  EXPECT_EQ(offsets.Get(), (std::vector<std::int64_t>{2, 3, 4, 5, 6, 7, 8, 9}));
}

// Records which partitions of which topic a member holds.
class TopicAssignment : public ConsumerListener {
 public:
  void OnAssigned(std::span<AssignedPartition> partitions) override {
    held.Update([&](auto& current) {
      for (const auto& partition : partitions)
        current.emplace(partition.topic, partition.partition);
    });
  }
  void OnRevoked(std::span<const TopicPartition> partitions) override {
    held.Update([&](auto& current) {
      for (const auto& partition : partitions)
        current.erase({partition.topic, partition.partition});
    });
  }
  // The partition numbers held of `topic`.
  static std::set<int> Of(const std::set<std::pair<std::string, int>>& held,
                          std::string_view topic) {
    std::set<int> numbers;
    for (const auto& [name, partition] : held)
      if (name == topic) numbers.insert(partition);
    return numbers;
  }
  Watched<std::set<std::pair<std::string, int>>> held;
};

TEST(ConsumerGroup, CoPartitionedMembersHoldTheSamePartitionsOfEveryTopic) {
  const std::string facts(kFactsTopic);
  const std::string forecast(kForecastTopic);
  auto broker = EmbeddedBroker::Start({.brokers = 1, .partitions = 6, .topics = {facts, forecast}});
  ASSERT_TRUE(broker.has_value()) << broker.error().ToString();
  std::array<TopicAssignment, 2> listeners;
  std::array<std::unique_ptr<Consumer>, 2> members;
  auto start = [&](int member) {
    auto consumer =
        Consumer::Create(ConsumerConfig((*broker)->bootstrap_servers()),
                         ConsumerOptions{.group_id = "co-partitioned",
                                         .topics = {facts, forecast},
                                         .handler = [](const Message&) -> Status { return {}; },
                                         .on_rejected = testing::Reject,
                                         .listener = &listeners[static_cast<std::size_t>(member)],
                                         .co_partitioned = true});
    ASSERT_TRUE(consumer.has_value()) << consumer.error().ToString();
    ASSERT_TRUE((*consumer)->Start());
    members[static_cast<std::size_t>(member)] = std::move(*consumer);
  };
  // The first member settles alone with all twelve partitions; then the second joins, which is
  // when cooperative-sticky may hand it every partition of one topic.
  start(0);
  ASSERT_TRUE(listeners[0].held.WaitUntil([](const auto& held) { return held.size() == 12; }, 30s));
  start(1);
  // Settled: both members hold partitions and every partition is held once. Each wait returns
  // as soon as its own member's assignment changes, so the loop re-checks both.
  auto settled = [&] {
    const auto first = listeners[0].held.Get();
    const auto second = listeners[1].held.Get();
    return !first.empty() && !second.empty() && first.size() + second.size() == 12;
  };
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!settled() && std::chrono::steady_clock::now() < deadline) {
    listeners[1].held.WaitUntil([](const auto& held) { return !held.empty(); }, 200ms);
    listeners[0].held.WaitUntil([](const auto& held) { return held.size() < 12; }, 200ms);
  }
  ASSERT_TRUE(settled());
  // Each member holds the same partition numbers of both topics.
  std::set<std::pair<std::string, int>> all;
  for (auto& listener : listeners) {
    const auto held = listener.held.Get();
    EXPECT_EQ(TopicAssignment::Of(held, facts), TopicAssignment::Of(held, forecast));
    EXPECT_EQ(TopicAssignment::Of(held, facts).size(), 3u);
    all.insert(held.begin(), held.end());
  }
  EXPECT_EQ(all.size(), 12u);
  for (auto& member : members) member->Stop();
}

}  // namespace
}  // namespace sop::bus
