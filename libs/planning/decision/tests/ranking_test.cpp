#include "sop/planning/ranking.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sop::planning {
namespace {

Exception Ex(std::string id, double revenue, Bucket bucket, std::int32_t priority = 0) {
  Exception e;
  e.id = std::move(id);
  e.revenue_at_risk = revenue;
  e.first_impact_bucket = bucket;
  e.best_priority = priority;
  return e;
}

std::vector<std::string> Order(const Ranker& ranker) {
  std::vector<std::string> ids;
  for (const auto* e : ranker.Top(ranker.size())) ids.push_back(e->id);
  return ids;
}

TEST(DecisionRanking, SoonerImpactScoresHigherAndTiesBreakById) {
  std::vector<Exception> list = {Ex("b", 1000, 5), Ex("a", 1000, 5), Ex("c", 1000, 1)};
  RankAll(list, RankingWeights{});
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].id, "c");
  EXPECT_EQ(list[1].id, "a");  // equal score: id order
  EXPECT_EQ(list[2].id, "b");
  EXPECT_NEAR(list[0].score.time - list[1].score.time, 4.0 / 26.0, 1e-12);
}

TEST(DecisionRanking, UpsertReScoresOnlyTheChangedExceptionAndMatchesAFullRank) {
  Ranker ranker;
  ranker.Reset({Ex("x", 100, 3), Ex("y", 5000, 3), Ex("z", 20000, 3, 1)});
  EXPECT_EQ(Order(ranker), (std::vector<std::string>{"z", "y", "x"}));
  ranker.Upsert(Ex("x", 50000, 0, 1));  // x grows: now on top
  EXPECT_EQ(Order(ranker), (std::vector<std::string>{"x", "z", "y"}));
  EXPECT_EQ(ranker.RankOf("y"), 2);
  EXPECT_TRUE(ranker.Remove("z"));
  EXPECT_FALSE(ranker.Remove("z"));
  ranker.Upsert(Ex("w", 0, -1));
  EXPECT_EQ(Order(ranker), (std::vector<std::string>{"x", "y", "w"}));
  EXPECT_EQ(ranker.Find("w")->score.total, 0.0);

  std::vector<Exception> full = {Ex("x", 50000, 0, 1), Ex("y", 5000, 3), Ex("w", 0, -1)};
  RankAll(full, RankingWeights{});
  for (std::size_t k = 0; k < full.size(); ++k) {
    EXPECT_EQ(full[k].id, Order(ranker)[k]);
    EXPECT_DOUBLE_EQ(full[k].score.total, ranker.Find(full[k].id)->score.total);
  }
}

TEST(DecisionRanking, WeightsAreValidated) {
  RankingWeights w;
  EXPECT_TRUE(Validate(w).has_value());
  w.margin = -1;
  EXPECT_EQ(Validate(w).error().code(), Errc::kInvalidArgument);
  w = {};
  w.revenue_reference = 0;
  EXPECT_FALSE(Validate(w).has_value());
}

TEST(DecisionRanking, ZeroWeightsLeaveOnlyTheWeightedComponent) {
  RankingWeights w{};
  w.revenue = w.margin = w.priority = w.breadth = w.severity = 0.0;
  w.time = 1.0;
  auto e = Ex("e", 1e9, 13, 1);
  Score(e, w);
  EXPECT_NEAR(e.score.total, 0.5, 1e-12);
  EXPECT_GT(e.score.revenue, 0.99);  // kept for the planner even with weight 0
}

}  // namespace
}  // namespace sop::planning
