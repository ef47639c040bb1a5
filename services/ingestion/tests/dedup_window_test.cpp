// The bounded de-duplication window: a duplicate inside it is found, the window stays bounded by
// count and by age, its encoding round-trips, and its index agrees with a plain reference.

#include "sop/ingestion/dedup_window.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <string>
#include <unordered_set>

#include "sop/ingestion/pipeline.hpp"
#include "state_codec.hpp"

namespace sop::ingestion {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::int64_t kT0 = 1'795'000'000'000;  // ms since the epoch (Nov 2026)

std::string Id(int i) {
  return "erp-1:so:" + std::to_string(i) + ":1";
}

TEST(DedupWindow, ADuplicateInsideTheWindowChangesNothing) {
  DedupWindow window({.max_ids = 3, .max_age = seconds(60)});
  EXPECT_TRUE(window.Insert("a", kT0));
  EXPECT_TRUE(window.Insert("b", kT0 + 1));
  const DedupWindow before = window;
  EXPECT_FALSE(window.Insert("a", kT0 + 2));
  EXPECT_TRUE(window.Contains("a"));
  EXPECT_EQ(window, before);
  EXPECT_EQ(window.size(), 2u);
  EXPECT_EQ(window.evicted(), 0u);
}

TEST(DedupWindow, StaysBoundedByCountAfterTenThousandIds) {
  DedupWindow window({.max_ids = 1'000, .max_age = std::chrono::hours(24)});
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(window.Insert(Id(i), kT0 + i));
  EXPECT_EQ(window.size(), 1'000u);
  EXPECT_EQ(window.evicted(), 9'000u);
  // Exactly the newest 1,000 are held: 9,000 … 9,999.
  EXPECT_FALSE(window.Contains(Id(8'999)));
  EXPECT_TRUE(window.Contains(Id(9'000)));
  EXPECT_TRUE(window.Contains(Id(9'999)));
  int held = 0;
  for (int i = 0; i < 10'000; ++i) held += window.Contains(Id(i)) ? 1 : 0;
  EXPECT_EQ(held, 1'000);
  // An evicted id is new to the window again (beyond it, only the facts' idempotence holds).
  EXPECT_TRUE(window.Insert(Id(0), kT0 + 10'000));
  EXPECT_FALSE(window.Contains(Id(9'000)));
}

TEST(DedupWindow, ForgetsIdsOlderThanTheAgeBehindTheNewestTime) {
  DedupWindow window({.max_ids = 100, .max_age = seconds(60)});
  window.Insert("t0", kT0);
  window.Insert("t30", kT0 + 30'000);
  window.Insert("t60", kT0 + 60'000);  // exactly 60 s after t0: still inside
  EXPECT_TRUE(window.Contains("t0"));
  window.Insert("t61", kT0 + 61'000);  // t0 is now 61 s behind the newest
  EXPECT_FALSE(window.Contains("t0"));
  EXPECT_TRUE(window.Contains("t30"));
  EXPECT_EQ(window.size(), 3u);
  EXPECT_EQ(window.oldest_ms(), kT0 + 30'000);  // the span held: 31 s
  // A late record (older timestamp) does not move the horizon back.
  window.Insert("late", kT0 + 10'000);
  EXPECT_EQ(window.newest_ms(), kT0 + 61'000);
  window.Insert("t95", kT0 + 95'000);    // horizon 35 s: t30 goes, t60 stops the sweep
  EXPECT_FALSE(window.Contains("t30"));  // eviction is oldest-decided first: "late" waits
  EXPECT_TRUE(window.Contains("t60"));
  EXPECT_TRUE(window.Contains("late"));
  EXPECT_EQ(window.evicted(), 2u);
}

TEST(DedupWindow, EncodingRoundTripsTimesUnknownTimesAndASmallerRetention) {
  DedupWindow window({.max_ids = 10, .max_age = seconds(3600)});
  window.Insert("legacy", DedupWindow::kUnknownTime);
  window.Insert("b", kT0 + 5'000);
  window.Insert("a", kT0);  // out of order: a negative delta
  window.Insert("c", kT0 + 7'000);
  std::string bytes = "X";
  window.AppendTo(bytes);
  std::size_t pos = 1;
  auto decoded = DedupWindow::ReadFrom(bytes, pos, window.retention());
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(pos, bytes.size());
  EXPECT_EQ(*decoded, window);
  EXPECT_EQ(decoded->Ids(), (std::vector<std::string>{"legacy", "b", "a", "c"}));
  EXPECT_EQ(decoded->newest_ms(), kT0 + 7'000);

  pos = 1;
  auto smaller = DedupWindow::ReadFrom(bytes, pos, {.max_ids = 2, .max_age = seconds(3600)});
  ASSERT_TRUE(smaller);
  EXPECT_EQ(smaller->Ids(), (std::vector<std::string>{"a", "c"}));

  pos = 1;
  EXPECT_EQ(DedupWindow::ReadFrom(bytes.substr(0, bytes.size() - 1), pos, {}).error().code(),
            Errc::kDataLoss);
  std::string huge;
  detail::PutVarint(huge, 1'000'000);
  pos = 0;
  EXPECT_EQ(DedupWindow::ReadFrom(huge, pos, {}).error().code(), Errc::kDataLoss);
}

// Open addressing with backward-shift deletion under heavy churn (a tiny window, so almost
// every insert evicts): Contains agrees with a deque + unordered_set reference throughout.
TEST(DedupWindow, IndexAgreesWithAReferenceUnderChurn) {
  constexpr std::size_t kMax = 97;
  DedupWindow window({.max_ids = kMax, .max_age = std::chrono::hours(1)});
  std::deque<std::string> order;
  std::unordered_set<std::string> held;
  std::mt19937 random(7);
  std::uniform_int_distribution<int> pick(0, 400);
  for (int step = 0; step < 50'000; ++step) {
    const std::string id = Id(pick(random));
    const bool fresh = !held.contains(id);
    ASSERT_EQ(window.Insert(id, kT0 + step), fresh) << "step " << step;
    if (fresh) {
      order.push_back(id);
      held.insert(id);
      if (order.size() > kMax) {
        held.erase(order.front());
        order.pop_front();
      }
    }
    if (step % 97 == 0) {
      for (int i = 0; i <= 400; ++i) ASSERT_EQ(window.Contains(Id(i)), held.contains(Id(i)));
    }
  }
  EXPECT_EQ(window.size(), held.size());
}

sop::v1::Envelope SiteEvent(const std::string& event_id) {
  sop::v1::Envelope e;
  e.set_event_id(event_id);
  e.set_site("P1");
  e.mutable_site_master()->set_site_id("P1");
  return e;
}

TEST(IngestionPipeline, DuplicateInsideTheWindowIsDroppedAndTheStateStaysBounded) {
  PartitionState state;
  state.applied_ids.SetRetention({.max_ids = 500, .max_age = std::chrono::hours(1)});
  for (int i = 0; i < 5'000; ++i) {
    ASSERT_EQ(Decide(SiteEvent(Id(i)).SerializeAsString(), kT0 + i, state).outcome,
              Outcome::kAccepted);
  }
  EXPECT_EQ(state.applied_ids.size(), 500u);
  // Inside the window (the last 500): a duplicate, nothing changes.
  const PartitionState before = state;
  EXPECT_EQ(Decide(SiteEvent(Id(4'700)).SerializeAsString(), kT0 + 5'000, state).outcome,
            Outcome::kDuplicate);
  EXPECT_EQ(state, before);
  // The snapshot is bounded too: 500 ids, whatever was decided before.
  auto decoded = PartitionState::Decode(state.Encode(), state.applied_ids.retention());
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->applied_ids.size(), 500u);
  EXPECT_EQ(*decoded, state);
}

TEST(IngestionPipeline, LegacyUnboundedSnapshotIsReadIntoTheWindow) {
  // "ING1": count, ids, then the master data (empty here: 0 sites, items, centers, BOMs).
  std::string legacy = "ING1";
  detail::PutVarint(legacy, 3);
  for (const char* id : {"x", "y", "z"}) detail::PutString(legacy, id);
  for (int i = 0; i < 4; ++i) detail::PutVarint(legacy, 0);
  auto state = PartitionState::Decode(legacy, {.max_ids = 2, .max_age = seconds(1)});
  ASSERT_TRUE(state) << state.error().ToString();
  EXPECT_EQ(state->applied_ids.size(), 2u);
  EXPECT_TRUE(state->applied_ids.Contains("z"));
  // Unknown times do not age out: only count moves them.
  state->applied_ids.Insert("new", kT0);
  EXPECT_EQ(state->applied_ids.Ids(), (std::vector<std::string>{"z", "new"}));
}

}  // namespace
}  // namespace sop::ingestion
