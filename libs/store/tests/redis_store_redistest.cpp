#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sop/store/redis_store.hpp"
#include "sop/store/testing/redis_server.hpp"

namespace sop::store {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using store_testing::RedisServer;

// A bare hiredis connection for what the store deliberately cannot do: read TTLs and plant
// records of the wrong shape.
class RawRedis {
 public:
  explicit RawRedis(int port) : context_(redisConnect("127.0.0.1", port)) {}
  ~RawRedis() { redisFree(context_); }
  RawRedis(const RawRedis&) = delete;
  RawRedis& operator=(const RawRedis&) = delete;

  long long Integer(std::vector<std::string> args) {
    redisReply* reply = Run(args);
    const long long value = reply != nullptr && reply->type == REDIS_REPLY_INTEGER
                                ? reply->integer
                                : std::numeric_limits<long long>::min();
    freeReplyObject(reply);
    return value;
  }
  void Do(std::vector<std::string> args) { freeReplyObject(Run(args)); }

 private:
  redisReply* Run(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const std::string& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    return static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  }
  redisContext* context_;
};

// Polls `condition` until it holds or `timeout` passes; true if it held.
template <class Condition>
bool Eventually(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

std::string RandomBytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string bytes(size, '\0');
  for (char& byte : bytes) byte = static_cast<char>(random() & 0xff);
  return bytes;
}

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = server_.Start();
    ASSERT_TRUE(started.has_value()) << started.error().ToString();
    store_ = std::make_unique<RedisStore>(server_.StoreOptions());
  }

  RedisServer server_;
  std::unique_ptr<RedisStore> store_;
};

const std::vector<ConsumedOffset> kOffsets = {{"sop.facts.v1", 0, 1200}, {"sop.facts.v1", 1, 77}};

// ---- 1. snapshots ----------------------------------------------------------------------------

TEST_F(RedisStoreTest, SnapshotStateWithNulBytesAndOffsetsRoundTrip) {
  const std::string state("plan\0with\0nuls\r\n\xff", 18);
  const auto before = std::chrono::system_clock::now() - 1s;
  auto sequence = store_->PutSnapshot("mrp/site-a", state, kOffsets);
  ASSERT_TRUE(sequence.has_value()) << sequence.error().ToString();
  EXPECT_EQ(*sequence, 1u);

  auto snapshot = store_->GetSnapshot("mrp/site-a");
  ASSERT_TRUE(snapshot.has_value()) << snapshot.error().ToString();
  ASSERT_TRUE(snapshot->has_value());
  EXPECT_EQ((*snapshot)->state, state);
  EXPECT_EQ((*snapshot)->state.size(), 18u);
  EXPECT_EQ((*snapshot)->offsets, kOffsets);
  EXPECT_EQ((*snapshot)->sequence, 1u);
  EXPECT_GE((*snapshot)->written_at, before);
  EXPECT_LE((*snapshot)->written_at, std::chrono::system_clock::now() + 1s);
}

TEST_F(RedisStoreTest, AbsentSnapshotIsNulloptNotAnError) {
  auto snapshot = store_->GetSnapshot("never-written");
  ASSERT_TRUE(snapshot.has_value()) << snapshot.error().ToString();
  EXPECT_FALSE(snapshot->has_value());
}

TEST_F(RedisStoreTest, FiveMegabyteStateRoundTrips) {
  const std::string state = RandomBytes(5 * 1024 * 1024, 99);
  ASSERT_TRUE(store_->PutSnapshot("big", state, kOffsets));
  auto snapshot = store_->GetSnapshot("big");
  ASSERT_TRUE(snapshot.has_value()) << snapshot.error().ToString();
  ASSERT_TRUE(snapshot->has_value());
  EXPECT_EQ((*snapshot)->state.size(), state.size());
  EXPECT_TRUE((*snapshot)->state == state);
  EXPECT_EQ((*snapshot)->offsets, kOffsets);
}

TEST_F(RedisStoreTest, EachPutAdvancesTheSequenceAndReplacesStateAndOffsetsTogether) {
  ASSERT_EQ(store_->PutSnapshot("s", "one", kOffsets).value(), 1u);
  const std::vector<ConsumedOffset> later = {{"sop.facts.v1", 0, 1300}};
  ASSERT_EQ(store_->PutSnapshot("s", "two", later).value(), 2u);
  auto snapshot = store_->GetSnapshot("s").value();
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->state, "two");
  EXPECT_EQ(snapshot->offsets, later);  // the old second partition is gone, not merged
  EXPECT_EQ(snapshot->sequence, 2u);
}

TEST_F(RedisStoreTest, ReaderNeverSeesStateAndOffsetsFromDifferentWrites) {
  // The writer encodes generation n in both parts; a reader on its own connection checks that
  // they always agree while the writes race with the reads.
  constexpr int kGenerations = 300;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    RedisStore writer_store(server_.StoreOptions());
    for (int n = 1; n <= kGenerations; ++n) {
      const std::vector<ConsumedOffset> offsets = {{"t", 0, n}, {"t", 1, 2 * n}};
      EXPECT_TRUE(writer_store.PutSnapshot("race", "generation " + std::to_string(n), offsets));
    }
    done = true;
  });
  int reads = 0;
  int mismatches = 0;
  while (!done || reads == 0) {
    auto snapshot = store_->GetSnapshot("race");
    ASSERT_TRUE(snapshot.has_value()) << snapshot.error().ToString();
    if (!snapshot->has_value()) continue;
    ++reads;
    const Snapshot& seen = **snapshot;
    const std::int64_t n = seen.offsets.at(0).next_offset;
    if (seen.state != "generation " + std::to_string(n) ||
        seen.offsets.at(1).next_offset != 2 * n || seen.sequence != static_cast<std::uint64_t>(n)) {
      ++mismatches;
    }
  }
  writer.join();
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(reads, 0);
  EXPECT_EQ(store_->GetSnapshot("race").value()->sequence,
            static_cast<std::uint64_t>(kGenerations));
}

TEST_F(RedisStoreTest, InvalidOffsetsAreRejectedAndNothingIsWritten) {
  const std::vector<ConsumedOffset> bad = {{"sop facts", 0, 1}};
  auto sequence = store_->PutSnapshot("s", "state", bad);
  ASSERT_FALSE(sequence.has_value());
  EXPECT_EQ(sequence.error().code(), Errc::kInvalidArgument);
  EXPECT_FALSE(store_->GetSnapshot("s").value().has_value());
}

TEST_F(RedisStoreTest, TamperedSnapshotRecordIsDataLoss) {
  ASSERT_TRUE(store_->PutSnapshot("s", "state", kOffsets));
  RawRedis raw(server_.port());
  raw.Do({"HSET", store_->SnapshotKey("s"), "offsets", "not offsets"});
  auto snapshot = store_->GetSnapshot("s");
  ASSERT_FALSE(snapshot.has_value());
  EXPECT_EQ(snapshot.error().code(), Errc::kDataLoss);
  raw.Do({"HSET", store_->SnapshotKey("s"), "offsets", "", "format", "9"});
  EXPECT_EQ(store_->GetSnapshot("s").error().code(), Errc::kDataLoss);
}

// ---- 2. outage and recovery ------------------------------------------------------------------

TEST_F(RedisStoreTest, KilledServerMakesCallsUnavailableAndTheSameStoreRecovers) {
  ASSERT_TRUE(store_->PutSnapshot("s", "before", kOffsets));
  ASSERT_TRUE(server_.Kill());

  const auto started = Clock::now();
  auto during = store_->PutSnapshot("s", "during", kOffsets);
  const auto took = Clock::now() - started;
  ASSERT_FALSE(during.has_value());
  EXPECT_EQ(during.error().code(), Errc::kUnavailable);
  EXPECT_TRUE(during.error().retryable());
  EXPECT_LT(took, store_->options().command_timeout + 200ms);
  EXPECT_EQ(store_->GetSnapshot("s").error().code(), Errc::kUnavailable);
  EXPECT_EQ(store_->TryClaim("k", 1s).error().code(), Errc::kUnavailable);
  EXPECT_EQ(store_->Append("log", "x").error().code(), Errc::kUnavailable);

  ASSERT_TRUE(server_.Start());  // same port, empty data set
  const auto back = Clock::now();
  EXPECT_TRUE(Eventually([&] { return store_->Ping().has_value(); }, 2s));
  // Backoff max is 200 ms in the test options, so recovery must not take much longer.
  EXPECT_LT(Clock::now() - back, 1s);
  auto after = store_->PutSnapshot("s", "after", kOffsets);
  ASSERT_TRUE(after.has_value()) << after.error().ToString();
  EXPECT_EQ(store_->GetSnapshot("s").value()->state, "after");
  const RedisStoreStats stats = store_->stats();
  EXPECT_GE(stats.disconnects, 1u);
  EXPECT_GE(stats.connects, 2u);
  EXPECT_GE(stats.unavailable, 4u);
}

TEST_F(RedisStoreTest, LargeWriteToAVanishedServerIsUnavailableNotSigpipe) {
  // Writing megabytes into a socket whose peer is gone raises SIGPIPE, which would kill this
  // process unless the store blocks and swallows it.
  ASSERT_TRUE(store_->Ping());
  ASSERT_TRUE(server_.Kill());
  const std::string state = RandomBytes(8 * 1024 * 1024, 5);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto written = store_->PutSnapshot("big", state, kOffsets);
    ASSERT_FALSE(written.has_value());
    EXPECT_EQ(written.error().code(), Errc::kUnavailable);
  }
  ASSERT_TRUE(server_.Start());
  EXPECT_TRUE(
      Eventually([&] { return store_->PutSnapshot("big", state, kOffsets).has_value(); }, 3s));
  EXPECT_EQ(store_->GetSnapshot("big").value()->state.size(), state.size());
}

TEST_F(RedisStoreTest, RangeWithAHugeCountReadsToTheEnd) {
  ASSERT_TRUE(store_->Append("log", "a"));
  ASSERT_TRUE(store_->Append("log", "b"));
  EXPECT_EQ(store_->Range("log", 1, std::numeric_limits<std::size_t>::max()).value(),
            std::vector<std::string>{"b"});
}

TEST_F(RedisStoreTest, FrozenServerTimesOutWithinTheCommandTimeout) {
  ASSERT_TRUE(store_->Ping());
  ASSERT_TRUE(server_.Pause());
  const auto started = Clock::now();
  auto ping = store_->Ping();
  const auto took = Clock::now() - started;
  ASSERT_FALSE(ping.has_value());
  EXPECT_EQ(ping.error().code(), Errc::kUnavailable);
  EXPECT_NE(ping.error().message().find("no reply within 500 ms"), std::string::npos)
      << ping.error().message();
  EXPECT_GE(took, store_->options().command_timeout - 50ms);
  EXPECT_LT(took, store_->options().command_timeout + 300ms);
  ASSERT_TRUE(server_.Resume());
  EXPECT_TRUE(Eventually([&] { return store_->Ping().has_value(); }, 2s));
}

TEST_F(RedisStoreTest, DownServerIsRetriedWithBackoffNotInABusyLoop) {
  ASSERT_TRUE(store_->Ping());
  ASSERT_TRUE(server_.Kill());
  const std::uint64_t attempts_before = store_->stats().connect_attempts;
  int calls = 0;
  const auto started = Clock::now();
  while (Clock::now() - started < 300ms) {
    EXPECT_FALSE(store_->Ping().has_value());
    ++calls;
  }
  const std::uint64_t attempts = store_->stats().connect_attempts - attempts_before;
  // Backoff 10 ms doubling to 200 ms with jitter >= half: at most ~7 attempts fit in 300 ms,
  // while the calls themselves fail fast.
  EXPECT_GE(attempts, 2u);
  EXPECT_LE(attempts, 9u);
  EXPECT_GT(calls, 1000);
}

// ---- 3. idempotency claims -------------------------------------------------------------------

TEST_F(RedisStoreTest, FirstClaimWinsAndSecondLoses) {
  EXPECT_EQ(store_->TryClaim("event-1", 10s).value(), true);
  EXPECT_EQ(store_->TryClaim("event-1", 10s).value(), false);
  RedisStore other(server_.StoreOptions());
  EXPECT_EQ(other.TryClaim("event-1", 10s).value(), false);
  EXPECT_EQ(other.TryClaim("event-2", 10s).value(), true);
}

TEST_F(RedisStoreTest, ClaimCarriesItsTtlAndExpiresAfterIt) {
  RawRedis raw(server_.port());
  ASSERT_EQ(store_->TryClaim("long", 60s).value(), true);
  const long long ttl = raw.Integer({"PTTL", store_->ClaimKey("long")});
  EXPECT_GT(ttl, 55'000);
  EXPECT_LE(ttl, 60'000);

  const auto claimed = Clock::now();
  ASSERT_EQ(store_->TryClaim("short", 300ms).value(), true);
  EXPECT_TRUE(Eventually([&] { return store_->TryClaim("short", 300ms).value_or(false); }, 3s));
  EXPECT_GE(Clock::now() - claimed, 290ms);
}

TEST_F(RedisStoreTest, ClaimRejectsANonPositiveTtl) {
  auto claimed = store_->TryClaim("k", 0ms);
  ASSERT_FALSE(claimed.has_value());
  EXPECT_EQ(claimed.error().code(), Errc::kInvalidArgument);
}

// ---- 4. atomic apply -------------------------------------------------------------------------

TEST_F(RedisStoreTest, ApplyWritesSnapshotOffsetsAndAppliedMarksTogether) {
  const std::vector<std::string> ids = {"evt-1", "evt-2"};
  ApplyRequest request{.state = "after two events",
                       .offsets = kOffsets,
                       .event_ids = ids,
                       .expected_sequence = 0,
                       .applied_ttl = 3600s};
  auto sequence = store_->Apply("exceptions/site-a", request);
  ASSERT_TRUE(sequence.has_value()) << sequence.error().ToString();
  EXPECT_EQ(*sequence, 1u);
  auto snapshot = store_->GetSnapshot("exceptions/site-a").value();
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->state, "after two events");
  EXPECT_EQ(snapshot->offsets, kOffsets);
  const std::vector<std::string> query = {"evt-1", "evt-2", "evt-3"};
  EXPECT_EQ(store_->AppliedAmong("exceptions/site-a", query).value(),
            (std::vector<bool>{true, true, false}));
  // Marks are scoped to their snapshot.
  EXPECT_EQ(store_->AppliedAmong("exceptions/site-b", query).value(),
            (std::vector<bool>{false, false, false}));
  RawRedis raw(server_.port());
  const long long ttl = raw.Integer({"TTL", store_->AppliedKey("exceptions/site-a", "evt-1")});
  EXPECT_GT(ttl, 3500);
  EXPECT_LE(ttl, 3600);
}

TEST_F(RedisStoreTest, ReappliedEventIdRejectsTheWholeBatchAndLeavesStateIntact) {
  const std::vector<std::string> first = {"evt-1"};
  ASSERT_TRUE(store_->Apply("s", {.state = "v1", .offsets = kOffsets, .event_ids = first}));
  const std::vector<std::string> second = {"evt-2", "evt-1"};
  const std::vector<ConsumedOffset> later = {{"sop.facts.v1", 0, 1500}};
  auto replay = store_->Apply("s", {.state = "v2", .offsets = later, .event_ids = second});
  ASSERT_FALSE(replay.has_value());
  EXPECT_EQ(replay.error().code(), Errc::kAlreadyExists);
  EXPECT_NE(replay.error().message().find("'evt-1'"), std::string::npos);
  auto snapshot = store_->GetSnapshot("s").value();
  EXPECT_EQ(snapshot->state, "v1");
  EXPECT_EQ(snapshot->offsets, kOffsets);
  EXPECT_EQ(snapshot->sequence, 1u);
  EXPECT_EQ(store_->AppliedAmong("s", second).value(), (std::vector<bool>{false, true}));
}

TEST_F(RedisStoreTest, StaleWriterIsFencedOffByTheExpectedSequence) {
  ASSERT_EQ(store_->PutSnapshot("s", "v1", kOffsets).value(), 1u);
  RedisStore zombie(server_.StoreOptions());
  const std::vector<std::string> owner_ids = {"evt-a"};
  const std::vector<std::string> zombie_ids = {"evt-z"};
  ASSERT_EQ(store_
                ->Apply("s", {.state = "owner",
                              .offsets = kOffsets,
                              .event_ids = owner_ids,
                              .expected_sequence = 1})
                .value(),
            2u);
  auto stale = zombie.Apply(
      "s",
      {.state = "zombie", .offsets = kOffsets, .event_ids = zombie_ids, .expected_sequence = 1});
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().code(), Errc::kFailedPrecondition);
  EXPECT_FALSE(stale.error().retryable());
  EXPECT_EQ(store_->GetSnapshot("s").value()->state, "owner");
  EXPECT_EQ(store_->GetSnapshot("s").value()->sequence, 2u);
  EXPECT_EQ(store_->AppliedAmong("s", zombie_ids).value(), std::vector<bool>{false});
  // Expected sequence 0 means "no snapshot yet".
  EXPECT_EQ(zombie.Apply("s", {.state = "x", .expected_sequence = 0}).error().code(),
            Errc::kFailedPrecondition);
}

TEST_F(RedisStoreTest, WriterChangingTheSnapshotBetweenWatchAndExecAbortsTheTransaction) {
  RedisStore intruder(server_.StoreOptions());
  RedisStoreOptions options = server_.StoreOptions();
  int intrusions = 0;
  options.before_exec_for_testing = [&] {
    ++intrusions;
    ASSERT_TRUE(intruder.PutSnapshot("s", "intruder", kOffsets));
  };
  RedisStore racing(options);
  const std::vector<std::string> ids = {"evt-1", "evt-2"};
  auto raced = racing.Apply("s", {.state = "mine", .offsets = kOffsets, .event_ids = ids});
  ASSERT_EQ(intrusions, 1);
  ASSERT_FALSE(raced.has_value());
  EXPECT_EQ(raced.error().code(), Errc::kFailedPrecondition);
  auto snapshot = store_->GetSnapshot("s").value();
  EXPECT_EQ(snapshot->state, "intruder");
  EXPECT_EQ(snapshot->sequence, 1u);
  EXPECT_EQ(store_->AppliedAmong("s", ids).value(), (std::vector<bool>{false, false}));
}

TEST_F(RedisStoreTest, WriterMarkingTheSameEventConcurrentlyAbortsTheTransaction) {
  RedisStore intruder(server_.StoreOptions());
  RedisStoreOptions options = server_.StoreOptions();
  const std::vector<std::string> contested = {"evt-9"};
  options.before_exec_for_testing = [&] {
    ASSERT_TRUE(intruder.Apply("s", {.state = "other", .event_ids = contested}));
  };
  RedisStore racing(options);
  auto raced = racing.Apply("s", {.state = "mine", .event_ids = contested});
  ASSERT_FALSE(raced.has_value());
  EXPECT_EQ(raced.error().code(), Errc::kFailedPrecondition);
  EXPECT_EQ(store_->GetSnapshot("s").value()->state, "other");
}

TEST_F(RedisStoreTest, MarksOfSnapshotNamesWithColonsNeverAlias) {
  // "a:b" + "c" and "a" + "b:c" would be the same key if names were not delimited.
  const std::vector<std::string> c = {"c"};
  const std::vector<std::string> b_c = {"b:c"};
  ASSERT_TRUE(store_->Apply("a:b", {.state = "x", .event_ids = c}));
  EXPECT_EQ(store_->AppliedAmong("a", b_c).value(), std::vector<bool>{false});
  EXPECT_TRUE(store_->Apply("a", {.state = "y", .event_ids = b_c}));
}

TEST_F(RedisStoreTest, SnapshotNamesWithBracesAreRejected) {
  EXPECT_EQ(store_->PutSnapshot("a}b", "x", kOffsets).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(store_->GetSnapshot("{a").error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(store_->PutSnapshot("", "x", kOffsets).error().code(), Errc::kInvalidArgument);
}

TEST_F(RedisStoreTest, ApplyRejectsDuplicateOrEmptyEventIds) {
  const std::vector<std::string> duplicate = {"a", "a"};
  const std::vector<std::string> empty = {""};
  EXPECT_EQ(store_->Apply("s", {.state = "x", .event_ids = duplicate}).error().code(),
            Errc::kInvalidArgument);
  EXPECT_EQ(store_->Apply("s", {.state = "x", .event_ids = empty}).error().code(),
            Errc::kInvalidArgument);
  EXPECT_FALSE(store_->GetSnapshot("s").value().has_value());
}

// ---- 5. append-only logs ---------------------------------------------------------------------

TEST_F(RedisStoreTest, AppendKeepsOrderAndRangePagesThroughIt) {
  std::vector<std::string> written;
  for (int i = 0; i < 100; ++i) {
    written.push_back("record " + std::to_string(i) + std::string(1, '\0'));
    ASSERT_EQ(store_->Append("workflow/2026-11", written.back()).value(),
              static_cast<std::uint64_t>(i));
  }
  EXPECT_EQ(store_->Length("workflow/2026-11").value(), 100u);
  std::vector<std::string> read;
  for (std::uint64_t from = 0;; from += 30) {
    auto page = store_->Range("workflow/2026-11", from, 30);
    ASSERT_TRUE(page.has_value()) << page.error().ToString();
    if (page->empty()) break;
    read.insert(read.end(), page->begin(), page->end());
  }
  EXPECT_EQ(read, written);
  EXPECT_EQ(store_->Range("workflow/2026-11", 95, 10).value().size(), 5u);
  EXPECT_TRUE(store_->Range("workflow/2026-11", 100, 10).value().empty());
  EXPECT_TRUE(store_->Range("workflow/2026-11", 0, 0).value().empty());
  EXPECT_TRUE(store_->Range("missing", 0, 10).value().empty());
}

TEST_F(RedisStoreTest, PutUnderALogsNameCannotRewriteTheLog) {
  // The only write paths are Append and WriteBatch; Put lives in another key space.
  ASSERT_TRUE(store_->Append("audit", "signed by planner"));
  ASSERT_TRUE(store_->Write(WriteBatch().Put("audit", "forged")));
  EXPECT_EQ(store_->Range("audit", 0, 10).value(), std::vector<std::string>{"signed by planner"});
  EXPECT_EQ(store_->Get("audit").value(), std::optional<std::string>("forged"));
  EXPECT_NE(store_->LogKey("audit"), store_->ValueKey("audit"));
}

TEST_F(RedisStoreTest, ConcurrentAppendersKeepTheirOwnOrder) {
  constexpr int kPerWriter = 200;
  auto append = [&](const std::string& writer) {
    RedisStore own(server_.StoreOptions());
    for (int i = 0; i < kPerWriter; ++i) {
      EXPECT_TRUE(own.Append("shared", writer + ":" + std::to_string(i)));
    }
  };
  std::thread a(append, "a");
  std::thread b(append, "b");
  a.join();
  b.join();
  auto all = store_->Range("shared", 0, 2 * kPerWriter + 10).value();
  ASSERT_EQ(all.size(), static_cast<std::size_t>(2 * kPerWriter));
  int next_a = 0;
  int next_b = 0;
  for (const std::string& record : all) {
    int& next = record[0] == 'a' ? next_a : next_b;
    EXPECT_EQ(record.substr(2), std::to_string(next)) << record;
    ++next;
  }
  EXPECT_EQ(next_a, kPerWriter);
  EXPECT_EQ(next_b, kPerWriter);
}

// ---- pipelined bulk writes -------------------------------------------------------------------

TEST_F(RedisStoreTest, WriteBatchAppliesEveryPutAndAppend) {
  WriteBatch batch;
  for (int i = 0; i < 5000; ++i) {
    batch.Put("k" + std::to_string(i), "v" + std::to_string(i));
    batch.Append("bulk", std::to_string(i));
  }
  batch.Put("expiring", "x", 30s);
  ASSERT_TRUE(store_->Write(batch));
  EXPECT_EQ(store_->Get("k0").value(), std::optional<std::string>("v0"));
  EXPECT_EQ(store_->Get("k4999").value(), std::optional<std::string>("v4999"));
  EXPECT_EQ(store_->Get("k5000").value(), std::nullopt);
  EXPECT_EQ(store_->Length("bulk").value(), 5000u);
  EXPECT_EQ(store_->Range("bulk", 4998, 5).value(), (std::vector<std::string>{"4998", "4999"}));
  RawRedis raw(server_.port());
  const long long ttl = raw.Integer({"PTTL", store_->ValueKey("expiring")});
  EXPECT_GT(ttl, 25'000);
  EXPECT_LE(ttl, 30'000);
}

// Speed is a benchmark concern, not a test's: this pins that a pipelined batch writes every
// record, in order, and prints both timings for whoever looks.
TEST_F(RedisStoreTest, PipelinedBatchWritesEveryRecordInOrder) {
  constexpr int kRecords = 2000;
  const auto one_by_one_start = Clock::now();
  for (int i = 0; i < kRecords; ++i) ASSERT_TRUE(store_->Append("sequential", "record"));
  const auto one_by_one = Clock::now() - one_by_one_start;

  WriteBatch batch;
  for (int i = 0; i < kRecords; ++i) batch.Append("pipelined", "record-" + std::to_string(i));
  const auto pipelined_start = Clock::now();
  ASSERT_TRUE(store_->Write(batch));
  const auto pipelined = Clock::now() - pipelined_start;

  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  RecordProperty("one_by_one_us",
                 static_cast<int>(duration_cast<microseconds>(one_by_one).count()));
  RecordProperty("pipelined_us", static_cast<int>(duration_cast<microseconds>(pipelined).count()));
  std::printf("%d appends: one by one %lld us, pipelined %lld us\n", kRecords,
              static_cast<long long>(duration_cast<microseconds>(one_by_one).count()),
              static_cast<long long>(duration_cast<microseconds>(pipelined).count()));
  EXPECT_EQ(store_->Length("pipelined").value(), static_cast<std::uint64_t>(kRecords));
  auto tail = store_->Range("pipelined", kRecords - 2, 2);
  ASSERT_TRUE(tail.has_value());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0], "record-" + std::to_string(kRecords - 2));
  EXPECT_EQ((*tail)[1], "record-" + std::to_string(kRecords - 1));
}

TEST_F(RedisStoreTest, BatchReportsTheOperationRedisRefused) {
  RawRedis raw(server_.port());
  raw.Do({"SET", store_->LogKey("not-a-list"), "planted string"});
  auto written = store_->Write(WriteBatch().Append("ok", "1").Append("not-a-list", "2"));
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code(), Errc::kFailedPrecondition);
  EXPECT_NE(written.error().message().find("operation 1 on 'not-a-list'"), std::string::npos)
      << written.error().message();
}

// ---- threads ---------------------------------------------------------------------------------

TEST_F(RedisStoreTest, OneStoreSharedByThreadsSerializesCallsSafely) {
  constexpr int kPerThread = 300;
  auto work = [&](int thread) {
    for (int i = 0; i < kPerThread; ++i) {
      const std::string name = "t" + std::to_string(thread);
      EXPECT_TRUE(store_->PutSnapshot(name, std::to_string(i), kOffsets));
      auto snapshot = store_->GetSnapshot(name);
      ASSERT_TRUE(snapshot.has_value());
      EXPECT_EQ((*snapshot)->state, std::to_string(i));
    }
  };
  std::thread a(work, 0);
  std::thread b(work, 1);
  a.join();
  b.join();
  EXPECT_EQ(store_->GetSnapshot("t0").value()->sequence, static_cast<std::uint64_t>(kPerThread));
  EXPECT_EQ(store_->GetSnapshot("t1").value()->sequence, static_cast<std::uint64_t>(kPerThread));
}

TEST(RedisStoreOptionsTest, OutOfBoundsOptionsFailAtConstruction) {
  RedisStoreOptions options;
  options.port = 70000;
  EXPECT_THROW(RedisStore{options}, std::invalid_argument);
  options.port = 6379;
  options.command_timeout = 0ms;
  EXPECT_THROW(RedisStore{options}, std::invalid_argument);
}

}  // namespace
}  // namespace sop::store
