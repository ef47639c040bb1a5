// The idempotent producer against the embedded broker: acknowledgements, headers, key
// partitioning, and delivery through injected broker errors and a broker outage.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
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
using testing::Watched;

std::unique_ptr<EmbeddedBroker> StartBroker(int brokers) {
  auto broker = EmbeddedBroker::Start(
      {.brokers = brokers, .partitions = 6, .topics = {std::string(kErpEventsTopic)}});
  EXPECT_TRUE(broker.has_value()) << broker.error().ToString();
  return std::move(*broker);
}

// Consumes `expected` messages of the ERP topic from the beginning with a fresh group.
std::vector<Message> ConsumeAll(const EmbeddedBroker& broker, int expected) {
  Watched<std::vector<Message>> received;
  auto consumer = Consumer::Create(
      ConsumerConfig(broker.bootstrap_servers()),
      ConsumerOptions{.group_id = "reader",
                      .topics = {std::string(kErpEventsTopic)},
                      .handler = [&](const Message& message) -> Status {
                        received.Update([&](auto& all) { all.push_back(message); });
                        return {};
                      },
                      .on_rejected = testing::Reject});
  EXPECT_TRUE(consumer.has_value());
  EXPECT_TRUE((*consumer)->Start());
  EXPECT_TRUE(received.WaitUntil(
      [&](const auto& all) { return static_cast<int>(all.size()) >= expected; }, 30s))
      << "received " << received.Get().size() << " of " << expected;
  (*consumer)->Stop();
  return received.Get();
}

TEST(Producer, AcknowledgesWithOffsetsKeepsHeadersAndMapsAKeyToOnePartition) {
  auto broker = StartBroker(1);
  auto producer = Producer::Create(ProducerConfig(broker->bootstrap_servers()));
  ASSERT_TRUE(producer.has_value()) << producer.error().ToString();

  std::set<std::int32_t> partitions_of_key;
  for (int sequence = 0; sequence < 5; ++sequence) {
    auto report = (*producer)->SendSync(
        OutgoingMessage{.topic = std::string(kErpEventsTopic),
                        .key = "plant-7",
                        .value = std::string("payload\0with-nul-", 17) + std::to_string(sequence),
                        .headers = {{"event_id", "evt-" + std::to_string(sequence)}}},
        10s);
    ASSERT_TRUE(report.has_value()) << report.error().ToString();
    EXPECT_EQ(report->topic, kErpEventsTopic);
    EXPECT_EQ(report->offset, sequence);  // one key, one partition, consecutive offsets
    partitions_of_key.insert(report->partition);
  }
  EXPECT_EQ(partitions_of_key.size(), 1u);

  const std::vector<Message> messages = ConsumeAll(*broker, 5);
  ASSERT_EQ(messages.size(), 5u);
  for (int sequence = 0; sequence < 5; ++sequence) {
    const Message& message = messages[static_cast<std::size_t>(sequence)];
    EXPECT_EQ(message.key, "plant-7");
    EXPECT_EQ(message.value, std::string("payload\0with-nul-", 17) + std::to_string(sequence));
    EXPECT_EQ(message.FindHeader("event_id"), "evt-" + std::to_string(sequence));
    EXPECT_EQ(message.partition, *partitions_of_key.begin());
  }
}

TEST(Producer, SendToAPartitionThatDoesNotExistFailsWithNotFound) {
  auto broker = StartBroker(1);
  KafkaConfig config = ProducerConfig(broker->bootstrap_servers());
  config.Set("message.timeout.ms", "1500");
  auto producer = Producer::Create(config);
  ASSERT_TRUE(producer.has_value());
  // A partition that does not exist of a topic that does.
  auto report = (*producer)->SendSync(
      OutgoingMessage{.topic = std::string(kErpEventsTopic), .value = "x", .partition = 99}, 10s);
  ASSERT_FALSE(report.has_value());
  EXPECT_EQ(report.error().code(), Errc::kNotFound) << report.error().ToString();
}

TEST(ProducerFaults, InjectedErrorsAndABrokerOutageLoseNothingAndKeepOrderPerKey) {
  auto broker = StartBroker(3);
  constexpr int kPartitions = 6;
  constexpr int kDownBroker = 2;
  // Leaders spread deterministically: broker 2 leads partitions 1 and 4.
  for (int partition = 0; partition < kPartitions; ++partition) {
    ASSERT_TRUE(broker->SetPartitionLeader(kErpEventsTopic, partition, partition % 3 + 1));
  }
  auto producer = Producer::Create(ProducerConfig(broker->bootstrap_servers()));
  ASSERT_TRUE(producer.has_value()) << producer.error().ToString();

  constexpr int kMessages = 4'000;
  constexpr int kKeys = 20;
  struct Tally {
    int delivered = 0;
    int failed = 0;
    std::string first_error;
    std::map<std::string, std::int32_t> partition_of_key;
  };
  Watched<Tally> tally;
  auto key_of = [](int id) { return "site-" + std::to_string(id % kKeys); };
  auto send_range = [&](int first, int last) {
    for (int id = first; id < last; ++id) {
      const int sequence = id / kKeys;  // per key: 0, 1, 2, ...
      std::string key = key_of(id);
      (*producer)->Send(
          OutgoingMessage{
              .topic = std::string(kErpEventsTopic), .key = key, .value = std::to_string(sequence)},
          [&tally, key](Result<DeliveryReport> report) {
            tally.Update([&](Tally& t) {
              if (report) {
                ++t.delivered;
                t.partition_of_key[key] = report->partition;
              } else if (t.failed++ == 0) {
                t.first_error = report.error().ToString();
              }
            });
          });
    }
  };

  // First half through injected leader/replica errors: librdkafka retries, idempotently.
  const std::vector<ProduceFault> faults = {
      ProduceFault::kNotLeaderForPartition, ProduceFault::kNotLeaderForPartition,
      ProduceFault::kNotEnoughReplicas, ProduceFault::kNotEnoughReplicas,
      ProduceFault::kNotLeaderForPartition};
  for (int broker_id = 1; broker_id <= 3; ++broker_id) {
    ASSERT_TRUE(broker->FailNextProduceRequestsOn(broker_id, faults));
  }
  send_range(0, kMessages / 2);
  ASSERT_TRUE((*producer)->Flush(30s));
  ASSERT_EQ(tally.Get().delivered, kMessages / 2) << tally.Get().first_error;
  for (int broker_id = 1; broker_id <= 3; ++broker_id) {
    EXPECT_EQ(broker->PendingProduceFaults(broker_id), 0u)
        << "faults of broker " << broker_id << " were not all hit";
  }

  // Broker 2 goes away mid-run (its partitions keep it as leader). Messages for the other
  // brokers' partitions get through; those for broker 2 wait.
  int held_back = 0;
  const Tally first_half = tally.Get();
  for (int id = kMessages / 2; id < kMessages; ++id) {
    if (first_half.partition_of_key.at(key_of(id)) % 3 + 1 == kDownBroker) ++held_back;
  }
  ASSERT_GT(held_back, 0) << "some keys must hash to broker 2's partitions";
  ASSERT_TRUE(broker->SetBrokerDown(kDownBroker));
  send_range(kMessages / 2, kMessages);
  ASSERT_TRUE(
      tally.WaitUntil([&](const Tally& t) { return t.delivered == kMessages - held_back; }, 30s))
      << "delivered " << tally.Get().delivered << ", expected " << kMessages - held_back;
  EXPECT_EQ((*producer)->OutstandingCount(), held_back);

  // The broker comes back, answering its first requests with errors again.
  ASSERT_TRUE(broker->FailNextProduceRequestsOn(kDownBroker, faults));
  ASSERT_TRUE(broker->SetBrokerUp(kDownBroker));
  ASSERT_TRUE((*producer)->Flush(60s));
  EXPECT_EQ(broker->PendingProduceFaults(kDownBroker), 0u);
  EXPECT_EQ(tally.Get().failed, 0) << tally.Get().first_error;
  EXPECT_EQ(tally.Get().delivered, kMessages);

  const std::vector<Message> messages = ConsumeAll(*broker, kMessages);
  std::map<std::string, std::vector<int>> sequences_by_key;
  for (const Message& message : messages) {
    sequences_by_key[message.key.value_or("")].push_back(std::stoi(message.value));
  }
  ASSERT_EQ(sequences_by_key.size(), static_cast<std::size_t>(kKeys));
  for (const auto& [key, sequences] : sequences_by_key) {
    ASSERT_EQ(sequences.size(), static_cast<std::size_t>(kMessages / kKeys)) << key;
    for (std::size_t index = 0; index < sequences.size(); ++index) {
      ASSERT_EQ(sequences[index], static_cast<int>(index)) << key << " out of order";
    }
  }
}

}  // namespace
}  // namespace sop::bus
