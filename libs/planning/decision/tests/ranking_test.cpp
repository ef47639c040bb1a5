#include "sop/planning/ranking.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
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

TEST(DecisionRanking, ACopiedRankerIsIndependentAndKeepsItsOrder) {
  Ranker ranker;
  ranker.Reset({Ex("x", 100, 3), Ex("y", 5000, 3), Ex("z", 20000, 3, 1)});
  Ranker copy = ranker;
  ranker.Remove("z");
  ranker.Upsert(Ex("x", 90000, 0, 1));
  EXPECT_EQ(Order(copy), (std::vector<std::string>{"z", "y", "x"}));
  EXPECT_EQ(Order(ranker), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(copy.RankOf("x"), 2);
  EXPECT_EQ(ranker.RankOf("x"), 0);
  Ranker moved = std::move(copy);
  EXPECT_EQ(Order(moved), (std::vector<std::string>{"z", "y", "x"}));
  copy = moved;  // assignment after a move
  moved.Upsert(Ex("y", 1, 20));
  EXPECT_EQ(Order(copy), (std::vector<std::string>{"z", "y", "x"}));
  EXPECT_EQ(Order(moved), (std::vector<std::string>{"z", "x", "y"}));
}

TEST(DecisionRanking, RandomUpsertsAndRemovesKeepTheOrderOfAFullRank) {
  // 3,000 ids (several blocks of the order, so blocks split and merge), few distinct scores (many
  // ties broken by id), 20,000 random upserts and removes; after every 1,000 operations the
  // ranker equals RankAll over what it should hold.
  std::mt19937 rng(7);
  std::map<std::string, Exception> expected;
  Ranker ranker;
  std::vector<Exception> initial;
  for (int k = 0; k < 3000; k += 2) {
    initial.push_back(Ex("e" + std::to_string(k), 100.0 * (k % 7), k % 5));
    expected[initial.back().id] = initial.back();
  }
  initial.push_back(Ex("e0", 5.0, 1));  // a duplicate id in Reset: the last value counts
  expected["e0"] = initial.back();
  ranker.Reset(initial);
  auto check = [&] {
    std::vector<Exception> full;
    for (const auto& [id, e] : expected) full.push_back(e);
    RankAll(full, RankingWeights{});
    ASSERT_EQ(ranker.size(), full.size());
    const auto top = ranker.Top(full.size());
    for (std::size_t k = 0; k < full.size(); ++k) {
      ASSERT_EQ(top[k]->id, full[k].id) << "rank " << k;
      ASSERT_EQ(top[k]->score.total, full[k].score.total) << full[k].id;
    }
    for (std::size_t k = 0; k < full.size(); k += 97) {
      EXPECT_EQ(ranker.RankOf(full[k].id), static_cast<std::ptrdiff_t>(k));
      EXPECT_EQ(ranker.Find(full[k].id)->revenue_at_risk, full[k].revenue_at_risk);
    }
  };
  check();
  std::uniform_int_distribution<int> id(0, 2999), revenue(0, 6), bucket(0, 4), action(0, 2);
  for (int op = 1; op <= 20000; ++op) {
    const std::string name = "e" + std::to_string(id(rng));
    if (action(rng) == 0) {
      EXPECT_EQ(ranker.Remove(name), expected.erase(name) == 1) << name;
    } else {
      auto e = Ex(name, 100.0 * revenue(rng), bucket(rng));
      expected[name] = e;
      ranker.Upsert(e);
    }
    if (op % 1000 == 0) check();
  }
  EXPECT_EQ(ranker.RankOf("absent"), -1);
  EXPECT_EQ(ranker.Find("absent"), nullptr);
  EXPECT_FALSE(ranker.Remove("absent"));
}

TEST(DecisionRanking, ScaledReferencesAreTheInstancesPercentileAndSpreadTheTopScores) {
  // Revenue at risk 0 (ignored), 100, 200, ..., 1000: ten positive values. The 90th percentile
  // by nearest rank is the ceil(0.9 × 10) = 9th smallest: 900. Margins 10 % of revenue: 90.
  // End demands 1..10 (plus 0 for the first): 9.
  std::vector<Exception> list;
  for (int k = 0; k <= 10; ++k) {
    auto e = Ex("e" + std::to_string(k), 100.0 * k, 2);
    e.margin_at_risk = 10.0 * k;
    e.end_demands = k;
    list.push_back(e);
  }
  auto scaled = ScaleReferences(list, RankingWeights{});
  ASSERT_TRUE(scaled.has_value()) << scaled.error().ToString();
  EXPECT_EQ(scaled->revenue_reference, 900.0);
  EXPECT_EQ(scaled->margin_reference, 90.0);
  EXPECT_EQ(scaled->breadth_reference, 9.0);
  EXPECT_EQ(scaled->revenue, RankingWeights{}.revenue);  // weights unchanged
  // The fixed reference (10,000) scores the largest 1000 / 11000 = 0.0909; scaled, 1000 / 1900.
  Exception top = list.back();
  Score(top, *scaled);
  EXPECT_DOUBLE_EQ(top.score.revenue, 1000.0 / 1900.0);
  Exception at = list[9];
  Score(at, *scaled);
  EXPECT_DOUBLE_EQ(at.score.revenue, 0.5);  // the percentile itself scores 0.5
  // Median instead: ceil(0.5 × 10) = 5th smallest = 500.
  EXPECT_EQ(ScaleReferences(list, RankingWeights{}, 0.5)->revenue_reference, 500.0);
  // Nothing positive keeps the reference; a bad percentile names itself.
  std::vector<Exception> zeros = {Ex("z", 0.0, 1)};
  EXPECT_EQ(ScaleReferences(zeros, RankingWeights{})->revenue_reference,
            RankingWeights{}.revenue_reference);
  auto bad = ScaleReferences(list, RankingWeights{}, 1.5);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("percentile"), std::string::npos);
  EXPECT_NE(bad.error().message().find("1.5"), std::string::npos);
}

}  // namespace
}  // namespace sop::planning
