// PartitionedHost against the embedded broker (real Kafka protocol over loopback sockets) and a
// real redis-server, with a toy state: per partition, the distinct event ids seen and the sum
// of their amounts. Message i of a test carries event id "e<i>" and amount i % 7 + 1 (so 7
// consecutive messages sum to 28) and goes to partition i % 4 of sop.facts.v1.

#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "sop/bus/consumer.hpp"
#include "sop/bus/dead_letter.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/host/partitioned_state.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/redis_store.hpp"
#include "sop/store/testing/redis_server.hpp"

namespace sop::host {
namespace {

using namespace std::chrono_literals;

constexpr int kPartitions = 4;
const std::string kIn(bus::kFactsTopic);
const std::string kOut(bus::kPlanTopic);

// The toy state. Value "<event id> <amount>"; anything else is INVALID_ARGUMENT.
class Tally final : public PartitionedState {
 public:
  struct Part {
    std::map<std::string, std::int64_t> amounts;  // event id → amount
    std::vector<std::string> new_ids;
    bool changed = false;
  };

  Result<bool> Apply(const bus::Message& message) override {
    const std::string& v = message.value;
    const auto space = v.find(' ');
    std::int64_t amount = 0;
    if (space == std::string::npos || space == 0 ||
        std::from_chars(v.data() + space + 1, v.data() + v.size(), amount).ec != std::errc{}) {
      return InvalidField("value", "expected '<event id> <amount>'", v);
    }
    Part& part = parts_[{message.topic, message.partition}];
    const std::string id = v.substr(0, space);
    if (!part.amounts.emplace(id, amount).second) return false;
    part.new_ids.push_back(id);
    part.changed = true;
    ++staged_;
    return true;
  }
  // With `immediate`: one message "<n>" keyed "immediate" to sop.plan.v1 for the n messages
  // applied since the last call, and every call's n recorded in `takes`.
  std::vector<bus::OutgoingMessage> TakeImmediate() override {
    const std::int64_t n = std::exchange(staged_, 0);
    if (!immediate) return {};
    takes.push_back(n);
    if (n == 0) return {};
    return {{.topic = kOut, .key = "immediate", .value = std::to_string(n)}};
  }
  std::vector<bus::OutgoingMessage> EndBatch() override {
    std::vector<bus::OutgoingMessage> out;
    for (auto& [key, part] : parts_) {
      if (!part.changed) continue;
      part.changed = false;
      out.push_back(
          {.topic = kOut,
           .key = std::to_string(key.partition),
           .value = std::to_string(part.amounts.size()) + " " + std::to_string(Sum(part))});
    }
    return out;
  }
  std::string Serialize(const PartitionKey& key) const override {
    std::string out;
    if (auto it = parts_.find(key); it != parts_.end()) {
      for (const auto& [id, amount] : it->second.amounts) {
        out += id + " " + std::to_string(amount) + "\n";
      }
    }
    return out;
  }
  Status Restore(const PartitionKey& key, std::string_view bytes) override {
    Part part;
    std::size_t begin = 0;
    while (begin < bytes.size()) {
      const auto end = bytes.find('\n', begin);
      if (end == std::string_view::npos) return Fail(Errc::kDataLoss, "tally: truncated line");
      const std::string_view line = bytes.substr(begin, end - begin);
      const auto space = line.find(' ');
      std::int64_t amount = 0;
      if (space == std::string_view::npos ||
          std::from_chars(line.data() + space + 1, line.data() + line.size(), amount).ec !=
              std::errc{}) {
        return Fail(Errc::kDataLoss, "tally: bad line");
      }
      part.amounts.emplace(std::string(line.substr(0, space)), amount);
      begin = end + 1;
    }
    parts_[key] = std::move(part);
    return {};
  }
  void Drop(const PartitionKey& key) override { parts_.erase(key); }
  std::vector<std::string> TakeNewEventIds(const PartitionKey& key) override {
    auto it = parts_.find(key);
    if (it == parts_.end()) return {};
    return std::exchange(it->second.new_ids, {});
  }

  // Called under the host's lock (WithStateConst / WaitUntil).
  std::int64_t Count() const {
    std::int64_t n = 0;
    for (const auto& [key, part] : parts_) n += static_cast<std::int64_t>(part.amounts.size());
    return n;
  }
  std::int64_t Total() const {
    std::int64_t n = 0;
    for (const auto& [key, part] : parts_) n += Sum(part);
    return n;
  }
  bool Holds(const PartitionKey& key) const { return parts_.contains(key); }

  bool immediate = false;
  std::vector<std::int64_t> takes;

 private:
  static std::int64_t Sum(const Part& part) {
    std::int64_t sum = 0;
    for (const auto& [id, amount] : part.amounts) sum += amount;
    return sum;
  }
  std::map<PartitionKey, Part> parts_;
  std::int64_t staged_ = 0;
};

bus::KafkaConfig ClientConfig(const std::string& bootstrap) {
  // Short session and commit intervals: the mock broker waits a session timeout for members.
  return bus::KafkaConfig{{"bootstrap.servers", bootstrap},    {"session.timeout.ms", "4000"},
                          {"heartbeat.interval.ms", "200"},    {"auto.commit.interval.ms", "200"},
                          {"fetch.wait.max.ms", "50"},         {"reconnect.backoff.ms", "50"},
                          {"reconnect.backoff.max.ms", "500"}, {"log_level", "3"}};
}

// One host with its state; the state outlives the host.
struct Replica {
  Tally tally;
  std::unique_ptr<PartitionedHost> host;

  std::int64_t Count() const {
    return host->WithStateConst([&] { return tally.Count(); });
  }
  std::int64_t Total() const {
    return host->WithStateConst([&] { return tally.Total(); });
  }
  // Waits until the state holds `count` distinct ids and every partition is saved.
  bool Settle(std::int64_t count, std::chrono::milliseconds timeout = 20s) const {
    return host->WaitFor(
        [&](const HostProgress& p) { return tally.Count() == count && !p.pending; }, timeout);
  }
};

class HostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = kPartitions});
    ASSERT_TRUE(broker.has_value()) << broker.error().ToString();
    broker_ = std::move(*broker);
    ASSERT_TRUE(redis_.Start().has_value());
    auto producer = bus::Producer::Create(
        bus::KafkaConfig{{"bootstrap.servers", broker_->bootstrap_servers()}, {"linger.ms", "5"}});
    ASSERT_TRUE(producer.has_value());
    producer_ = std::move(*producer);
  }

  HostOptions Options(std::chrono::milliseconds quiet = 100ms) {
    HostOptions options;
    options.service = "tally";
    options.kafka = ClientConfig(broker_->bootstrap_servers());
    options.group_id = "sop-tally-test";
    options.topics = {kIn};
    options.redis = redis_.StoreOptions();
    options.batch_quiet = quiet;
    options.batch_max = std::max<std::chrono::milliseconds>(quiet * 4, 1s);
    options.snapshot_retry = 200ms;
    options.health_interval = 200ms;
    return options;
  }

  std::unique_ptr<Replica> Start(HostOptions options, bool immediate = false) {
    auto replica = std::make_unique<Replica>();
    replica->tally.immediate = immediate;
    auto host = PartitionedHost::Start(std::move(options), replica->tally, logger_, metrics_);
    EXPECT_TRUE(host.has_value()) << host.error().ToString();
    if (!host) return nullptr;
    replica->host = std::move(*host);
    return replica;
  }

  // Produces messages [begin, end) ("e<i> <i % 7 + 1>" to partition i % 4).
  void Produce(int begin, int end) {
    for (int i = begin; i < end; ++i) {
      ProduceRaw(i % kPartitions, "e" + std::to_string(i) + " " + std::to_string(i % 7 + 1));
    }
    ASSERT_TRUE(producer_->Flush(10s).has_value());
  }
  void ProduceRaw(int partition, std::string value) {
    bus::OutgoingMessage message;
    message.topic = kIn;
    message.partition = partition;
    message.value = std::move(value);
    producer_->Send(std::move(message), [](Result<bus::DeliveryReport> report) {
      EXPECT_TRUE(report.has_value()) << report.error().ToString();
    });
  }

  runtime::Logger logger_{"host-test", runtime::LogLevel::kWarn};
  runtime::MetricsRegistry metrics_;
  std::unique_ptr<bus::EmbeddedBroker> broker_;
  store_testing::RedisServer redis_;
  std::unique_ptr<bus::Producer> producer_;
};

// Messages 0..199: 200 ids, amounts 28 per 7 messages → 28 * 28 (0..195) + 1+2+3+4 = 794.
constexpr std::int64_t kSum200 = 794;
// Messages 200..299 (amounts start at 200 % 7 + 1 = 5): 14 * 28 + 5 + 6 = 403.
constexpr std::int64_t kSum200To300 = 403;

TEST_F(HostTest, RestartRestoresSnapshotsAndReplaysOnlyWhatCameAfter) {
  Produce(0, 200);
  {
    auto a = Start(Options());
    ASSERT_NE(a, nullptr);
    ASSERT_TRUE(a->Settle(200)) << a->Count();
    EXPECT_EQ(a->Total(), kSum200);
    const HostProgress p = a->host->progress();
    EXPECT_EQ(p.applied, 200);
    EXPECT_EQ(p.duplicates, 0);
    EXPECT_EQ(p.partitions, kPartitions);
    EXPECT_EQ(p.restored_partitions, 0);
    EXPECT_GE(p.snapshots, kPartitions);
    a->host->Stop(true);
  }
  // 100 new messages, and messages 0..49 delivered again (a producer retry upstream).
  Produce(200, 300);
  Produce(0, 50);
  auto b = Start(Options());
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->Settle(300)) << b->Count();
  EXPECT_EQ(b->Total(), kSum200 + kSum200To300);
  const HostProgress p = b->host->progress();
  EXPECT_EQ(p.restored_partitions, kPartitions);
  EXPECT_EQ(p.applied, 100);    // only what came after the snapshots' offsets
  EXPECT_EQ(p.duplicates, 50);  // the re-delivered ones changed nothing
  EXPECT_EQ(p.dead_lettered, 0);
}

TEST_F(HostTest, UndecodableMessageIsDeadLetteredWithItsReasonAndTheStreamGoesOn) {
  Produce(0, 8);
  ProduceRaw(1, "no-amount-here");
  Produce(8, 16);
  ASSERT_TRUE(producer_->Flush(10s).has_value());

  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<bus::DeadLetterRecord> dead;
  bus::ConsumerOptions reader;
  reader.group_id = "test-dlq-reader";
  reader.topics = {std::string(bus::kDeadLetterTopic)};
  reader.handler = [&](const bus::Message& message) -> Status {
    auto record = bus::DeadLetter::Decode(message);
    if (!record) return std::unexpected(record.error());
    std::lock_guard lock(mutex);
    dead.push_back(std::move(*record));
    arrived.notify_all();
    return {};
  };
  reader.on_rejected = [](const bus::Message&, const Error&) -> Status { return {}; };
  auto dlq = bus::Consumer::Create(ClientConfig(broker_->bootstrap_servers()), std::move(reader));
  ASSERT_TRUE(dlq.has_value());
  ASSERT_TRUE((*dlq)->Start().has_value());

  {
    auto a = Start(Options());
    ASSERT_NE(a, nullptr);
    ASSERT_TRUE(a->Settle(16));
    // 0..15: two cycles of 7 (56) + amounts of 14 and 15 (1 + 2).
    EXPECT_EQ(a->Total(), 59);
    EXPECT_EQ(a->host->progress().dead_lettered, 1);
    EXPECT_EQ(a->host->progress().consumed, 17);
    a->host->Stop(true);
  }
  {
    std::unique_lock lock(mutex);
    arrived.wait_for(lock, 20s, [&] { return !dead.empty(); });
  }
  (*dlq)->Stop();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].value, "no-amount-here");
  EXPECT_EQ(dead[0].code, Errc::kInvalidArgument);
  EXPECT_NE(dead[0].reason.find("value"), std::string::npos) << dead[0].reason;
  EXPECT_NE(dead[0].reason.find("no-amount-here"), std::string::npos) << dead[0].reason;
  EXPECT_EQ(dead[0].source_partition, 1);

  // The snapshot's offset moved past the bad message: a restart does not dead-letter it again.
  auto b = Start(Options());
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->Settle(16));
  EXPECT_EQ(b->host->progress().dead_lettered, 0);
  EXPECT_EQ(b->host->progress().consumed, 0);
}

TEST_F(HostTest, TwoHostsInOneGroupSplitThePartitionsAndAddUpToOne) {
  auto a = Start(Options());
  ASSERT_NE(a, nullptr);
  auto b = Start(Options());
  ASSERT_NE(b, nullptr);
  auto split = [&] {
    const auto pa = a->host->progress().partitions;
    const auto pb = b->host->progress().partitions;
    return pa > 0 && pb > 0 && pa + pb == kPartitions;
  };
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!split() && std::chrono::steady_clock::now() < deadline) {
    a->host->WaitFor([&](const HostProgress&) { return false; }, 50ms);
  }
  ASSERT_TRUE(split()) << a->host->progress().partitions << " + " << b->host->progress().partitions;
  Produce(0, 200);
  const auto settled = std::chrono::steady_clock::now() + 20s;
  while (a->Count() + b->Count() < 200 && std::chrono::steady_clock::now() < settled) {
    a->host->WaitFor([&](const HostProgress&) { return false; }, 50ms);
  }
  EXPECT_EQ(a->Count() + b->Count(), 200);
  EXPECT_EQ(a->Total() + b->Total(), kSum200);  // the same as one host (first test)
  EXPECT_GT(a->Count(), 0);
  EXPECT_GT(b->Count(), 0);
  EXPECT_EQ(a->host->progress().duplicates + b->host->progress().duplicates, 0);
}

TEST_F(HostTest, CrashWithoutSnapshotThenRestartEqualsAnUninterruptedRun) {
  Produce(0, 100);
  {
    // Long batches: the second half is applied but never snapshotted before the "crash".
    auto a = Start(Options(100ms));
    ASSERT_NE(a, nullptr);
    ASSERT_TRUE(a->Settle(100));
    const auto snapshots = a->host->progress().snapshots;
    a->host->Stop(false);  // stop as if killed after a batch: no final snapshot
    EXPECT_EQ(a->host->progress().snapshots, snapshots);
  }
  {
    auto a = Start(Options(30s));
    ASSERT_NE(a, nullptr);
    Produce(100, 200);
    ASSERT_TRUE(a->host->WaitFor(
        [&](const HostProgress& p) { return a->tally.Count() == 200 && p.applied == 100; }, 20s));
    EXPECT_EQ(a->host->progress().snapshots, 0);  // nothing saved of 100..199
    a->host->Stop(false);  // the consumer committed 200, Redis holds the state at 100
  }
  Produce(200, 300);
  auto b = Start(Options());
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->Settle(300)) << b->Count();
  EXPECT_EQ(b->Total(), kSum200 + kSum200To300);
  EXPECT_EQ(b->host->progress().applied, 200);  // 100..299 replayed from the snapshot offsets
  EXPECT_EQ(b->host->progress().duplicates, 0);
}

TEST_F(HostTest, AReplicaFencedOffByANewerSnapshotDropsThePartitionAndDoesNotOverwrite) {
  Produce(0, 40);
  auto a = Start(Options());
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->Settle(40));
  const PartitionKey p0{kIn, 0};
  // Another replica (a zombie's successor) writes partition 0's snapshot with a newer sequence.
  store::RedisStore other(redis_.StoreOptions());
  const std::string name = a->host->SnapshotName(p0);
  EXPECT_EQ(name, "tally/sop.facts.v1/0");
  const std::vector<store::ConsumedOffset> offsets{{kIn, 0, 999}};
  ASSERT_TRUE(other.PutSnapshot(name, "owned elsewhere\n", offsets).has_value());

  Produce(40, 44);  // one message per partition
  ASSERT_TRUE(
      a->host->WaitFor([](const HostProgress& p) { return p.fenced == 1 && !p.pending; }, 20s));
  auto stored = other.GetSnapshot(name);
  ASSERT_TRUE(stored.has_value() && stored->has_value());
  EXPECT_EQ((*stored)->state, "owned elsewhere\n");  // not overwritten
  EXPECT_EQ((*stored)->offsets, offsets);
  EXPECT_FALSE(a->host->WithStateConst([&] { return a->tally.Holds(p0); }));
  // The other three partitions: 10 + 10 + 10 of 0..39 and one more each of 41..43.
  EXPECT_EQ(a->Count(), 33);
  EXPECT_EQ(a->host->progress().partitions, kPartitions - 1);
}

// A snapshot write held inside Redis's Apply (the store's test seam) while more messages
// arrive: the batch end writes outside the state's lock, so they are applied meanwhile; the
// write that was held covers only what was taken before it, and the next one the rest.
TEST_F(HostTest, MessagesAreAppliedWhileASlowSnapshotIsWritten) {
  struct Gate {
    std::mutex mutex;
    std::condition_variable cv;
    bool armed = false;
    bool entered = false;
    bool released = false;
  };
  auto gate = std::make_shared<Gate>();
  HostOptions options = Options();
  options.redis.before_exec_for_testing = [gate] {
    std::unique_lock lock(gate->mutex);
    if (!gate->armed || gate->entered) return;  // hold one write only
    gate->entered = true;
    gate->cv.notify_all();
    // Bounded: a host that cannot apply while writing fails the test below, not by hanging.
    gate->cv.wait_for(lock, 15s, [&] { return gate->released; });
  };
  Produce(0, 100);
  auto a = Start(std::move(options));
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->Settle(100));
  const std::int64_t snapshots_before = a->host->progress().snapshots;
  {
    std::lock_guard lock(gate->mutex);
    gate->armed = true;
  }
  Produce(100, 200);
  {
    std::unique_lock lock(gate->mutex);
    ASSERT_TRUE(gate->cv.wait_for(lock, 20s, [&] { return gate->entered; }));
  }
  EXPECT_TRUE(a->host->progress().writing);
  // The write is held: 100 more messages are applied meanwhile.
  Produce(200, 300);
  const bool applied_while_held = a->host->WaitFor(
      [&](const HostProgress& p) { return a->tally.Count() == 300 && p.writing; }, 10s);
  bool still_held = false;
  {
    std::lock_guard lock(gate->mutex);
    still_held = !gate->released;
    gate->released = true;
  }
  gate->cv.notify_all();
  EXPECT_TRUE(applied_while_held) << a->Count();
  EXPECT_TRUE(still_held);
  ASSERT_TRUE(a->Settle(300));
  EXPECT_EQ(a->Total(), kSum200 + kSum200To300);
  const HostProgress p = a->host->progress();
  EXPECT_EQ(p.snapshot_errors, 0);
  EXPECT_GT(p.snapshots, snapshots_before);
  // A crash now loses nothing: the snapshots cover all 300 (restored, nothing re-applied).
  a->host->Stop(false);
  auto b = Start(Options());
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->Settle(300)) << b->Count();
  EXPECT_EQ(b->Total(), kSum200 + kSum200To300);
  EXPECT_EQ(b->host->progress().restored_partitions, kPartitions);
  EXPECT_EQ(b->host->progress().applied, 0);
  EXPECT_EQ(b->host->progress().duplicates, 0);
}

// Partition 0's snapshot says "continue at offset 1,000", but the log holds 10 messages (the
// broker lost what the snapshot covers). The consumer must not reset to another offset: the
// host logs the data loss, counts it (metric and progress) and the other partitions go on.
TEST_F(HostTest, AnOffsetThatIsNoLongerInTheLogIsCountedAndNotSkipped) {
  store::RedisStore other(redis_.StoreOptions());
  const std::vector<store::ConsumedOffset> offsets{{kIn, 0, 1000}};
  ASSERT_TRUE(other.PutSnapshot("tally/sop.facts.v1/0", "e9000 5\n", offsets).has_value());
  Produce(0, 40);
  auto a = Start(Options());
  ASSERT_NE(a, nullptr);
  // Partitions 1..3: 10 messages each; partition 0 holds only its restored id.
  ASSERT_TRUE(a->host->WaitFor(
      [&](const HostProgress& p) { return p.data_loss >= 1 && a->tally.Count() == 31; }, 20s))
      << a->Count() << " data_loss " << a->host->progress().data_loss;
  EXPECT_EQ(a->host->progress().applied, 30);
  const std::string text = metrics_.SerializeText();
  EXPECT_NE(text.find("sop_tally_data_loss_total "), std::string::npos) << text;
  EXPECT_EQ(text.find("sop_tally_data_loss_total 0"), std::string::npos);
  // Nothing of partition 0 was applied from another offset, and its snapshot still says 1,000.
  ASSERT_TRUE(a->Settle(31));
  auto stored = other.GetSnapshot("tally/sop.facts.v1/0");
  ASSERT_TRUE(stored.has_value() && stored->has_value());
  EXPECT_EQ((*stored)->offsets, offsets);
}

// The host hands each drained burst to the state: TakeImmediate runs once per burst, not per
// message, sees every applied message exactly once, and what it returns reaches the broker. A
// lone message at idle is drained at once: batch_quiet is 60 s, so no batch end is involved.
TEST_F(HostTest, ImmediateOutputIsTakenOncePerDrainedBurstNotPerMessage) {
  struct Seen {
    std::mutex mutex;
    std::condition_variable cv;
    std::int64_t messages = 0;
    std::int64_t sum = 0;
  } seen;
  bus::ConsumerOptions reader;
  reader.group_id = "test-immediate-reader";
  reader.topics = {kOut};
  reader.handler = [&](const bus::Message& message) -> Status {
    if (message.key != "immediate") return {};
    std::int64_t n = 0;
    std::from_chars(message.value.data(), message.value.data() + message.value.size(), n);
    {
      std::lock_guard lock(seen.mutex);
      ++seen.messages;
      seen.sum += n;
    }
    seen.cv.notify_all();
    return {};
  };
  reader.on_rejected = [](const bus::Message&, const Error&) -> Status { return {}; };
  auto out = bus::Consumer::Create(ClientConfig(broker_->bootstrap_servers()), std::move(reader));
  ASSERT_TRUE(out.has_value());
  ASSERT_TRUE((*out)->Start().has_value());
  auto seen_sum_is = [&](std::int64_t sum) {
    std::unique_lock lock(seen.mutex);
    return seen.cv.wait_for(lock, 20s, [&] { return seen.sum == sum; });
  };

  Produce(0, 1000);  // in the log before the host starts
  auto a = Start(Options(60s), /*immediate=*/true);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->host->WaitFor(
      [&](const HostProgress& p) { return a->tally.Count() == 1000 && p.undrained == 0; }, 20s))
      << a->Count();
  const auto takes = a->host->WithStateConst([&] { return a->tally.takes; });
  std::int64_t taken = 0;
  for (const std::int64_t n : takes) {
    EXPECT_GT(n, 0) << "TakeImmediate without an applied message";
    EXPECT_LE(n, 500) << "a burst above drain_max_messages";
    taken += n;
  }
  EXPECT_EQ(taken, 1000);  // every applied message seen by exactly one call
  EXPECT_GE(takes.size(), 2u);
  EXPECT_LE(takes.size(), 100u);  // not once per message
  HostProgress p = a->host->progress();
  EXPECT_EQ(p.applied, 1000);
  EXPECT_EQ(p.drains, static_cast<std::int64_t>(takes.size()));
  EXPECT_EQ(p.published, static_cast<std::int64_t>(takes.size()));
  EXPECT_EQ(p.batches, 0);
  ASSERT_TRUE(seen_sum_is(1000));
  {
    std::lock_guard lock(seen.mutex);
    EXPECT_EQ(seen.messages, static_cast<std::int64_t>(takes.size()));
  }

  Produce(1000, 1001);  // a lone message at idle
  ASSERT_TRUE(seen_sum_is(1001));
  EXPECT_EQ(a->host->WithStateConst([&] { return a->tally.takes.back(); }), 1);
  p = a->host->progress();
  EXPECT_EQ(p.drains, static_cast<std::int64_t>(takes.size()) + 1);
  EXPECT_EQ(p.batches, 0);  // published by the drain, not by a batch end
  EXPECT_EQ(p.produce_errors, 0);
  a->host->Stop(true);
  (*out)->Stop();
}

TEST_F(HostTest, HealthFollowsRedisAndTheBroker) {
  std::mutex mutex;
  std::vector<bool> changes;
  HostOptions options = Options();
  options.on_health_change = [&](bool healthy) {
    std::lock_guard lock(mutex);
    changes.push_back(healthy);
  };
  auto a = Start(std::move(options));
  ASSERT_NE(a, nullptr);
  auto healthy_is = [&](bool want) {
    return a->host->WaitFor([&](const HostProgress& p) { return p.healthy == want; }, 15s);
  };
  ASSERT_TRUE(healthy_is(true));
  ASSERT_TRUE(redis_.Stop().has_value());
  EXPECT_TRUE(healthy_is(false));
  ASSERT_TRUE(redis_.Start().has_value());
  EXPECT_TRUE(healthy_is(true));
  ASSERT_TRUE(broker_->SetBrokerDown(1).has_value());
  EXPECT_TRUE(healthy_is(false));
  ASSERT_TRUE(broker_->SetBrokerUp(1).has_value());
  EXPECT_TRUE(healthy_is(true));
  std::lock_guard lock(mutex);
  EXPECT_EQ(changes, (std::vector<bool>{false, true, false, true}));
}

}  // namespace
}  // namespace sop::host
