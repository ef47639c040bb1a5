// ItemSiteLists: the chunked per-item-site arena that holds pegs and uncovered demand.
#include "sop/planning/item_site_lists.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sop::planning {
namespace {

template <class Lists>
void Write(Lists& lists, std::size_t i, const std::vector<int>& values) {
  lists.Begin(values.size());
  for (int v : values) lists.Push(v);
  lists.Commit(i);
}

template <class Lists>
std::vector<int> Read(const Lists& lists, std::size_t i) {
  auto span = lists[i];
  return {span.begin(), span.end()};
}

TEST(ItemSiteLists, ListsReadBackAsWrittenInAnyWriteOrder) {
  ItemSiteLists<int> lists;
  lists.Reset(4);
  Write(lists, 2, {7, 8, 9});
  Write(lists, 0, {1});
  Write(lists, 3, {});
  EXPECT_EQ(Read(lists, 0), (std::vector<int>{1}));
  EXPECT_TRUE(lists[1].empty());
  EXPECT_EQ(Read(lists, 2), (std::vector<int>{7, 8, 9}));
  EXPECT_TRUE(lists[3].empty());
  EXPECT_EQ(lists.size(), 4u);
  EXPECT_EQ(lists.record_count(), 4u);
}

TEST(ItemSiteLists, RewritesInPlaceWhenShorterAndMovesWhenLonger) {
  ItemSiteLists<int> lists;
  lists.Reset(3);
  Write(lists, 0, {1, 2, 3});
  Write(lists, 1, {4, 5});
  const int* before = lists[0].data();
  Write(lists, 0, {10, 20});  // shorter: same place
  EXPECT_EQ(lists[0].data(), before);
  EXPECT_EQ(Read(lists, 0), (std::vector<int>{10, 20}));
  Write(lists, 0, {10, 20, 30});  // back to its first size: still fits
  EXPECT_EQ(lists[0].data(), before);
  Write(lists, 0, {1, 2, 3, 4, 5, 6, 7, 8});  // longer: moves, list 1 untouched
  EXPECT_NE(lists[0].data(), before);
  EXPECT_EQ(Read(lists, 0), (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(Read(lists, 1), (std::vector<int>{4, 5}));
  // The moved list got a spare quarter: 8 + 2 records fit without another move.
  before = lists[0].data();
  Write(lists, 0, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  EXPECT_EQ(lists[0].data(), before);
  EXPECT_EQ(lists.record_count(), 12u);
  lists.Clear(0);
  EXPECT_TRUE(lists[0].empty());
  EXPECT_EQ(lists.record_count(), 2u);
}

TEST(ItemSiteLists, GrowingListsAreCompactedWithoutChangingContents) {
  // Lists that keep outgrowing their places leave holes; compaction must keep every list.
  // Chunks of 8 records make compaction (holes > live + 8) happen many times.
  ItemSiteLists<int, 8> lists;
  constexpr std::size_t kLists = 50;
  lists.Reset(kLists);
  std::vector<std::vector<int>> expected(kLists);
  int next = 0;
  for (int round = 0; round < 200; ++round) {
    for (std::size_t i = 0; i < kLists; i += 1 + static_cast<std::size_t>(round % 3)) {
      expected[i].push_back(next++);
      for (int k = 0; k < round % 7; ++k) expected[i].push_back(next++);
      Write(lists, i, expected[i]);
      ASSERT_LE(lists.hole_count(), lists.record_count() + 8);
    }
  }
  std::size_t total = 0;
  for (std::size_t i = 0; i < kLists; ++i) {
    ASSERT_EQ(Read(lists, i), expected[i]) << "list " << i;
    total += expected[i].size();
  }
  EXPECT_EQ(lists.record_count(), total);
  // A copy compares equal list by list, and a rewritten copy differs.
  ItemSiteLists<int, 8> copy = lists;
  EXPECT_EQ(copy, lists);
  Write(copy, 3, {-1});
  EXPECT_FALSE(copy == lists);
  EXPECT_EQ(Read(lists, 3), expected[3]);
}

TEST(ItemSiteLists, ResetEmptiesEveryListAndReusesTheChunks) {
  ItemSiteLists<int> lists;
  lists.Reset(2);
  Write(lists, 0, {1, 2});
  const int* first = lists[0].data();
  lists.Reset(2);
  EXPECT_TRUE(lists[0].empty());
  EXPECT_EQ(lists.record_count(), 0u);
  Write(lists, 1, {3, 4});
  EXPECT_EQ(lists[1].data(), first);  // the same memory, no new chunk
}

}  // namespace
}  // namespace sop::planning
