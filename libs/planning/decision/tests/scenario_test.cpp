#include "sop/planning/scenario.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fixtures.hpp"

namespace sop::planning {
namespace {

using model::ItemKind;

// LINE-2 (10 h per bucket) at P1 runs FG (1 h/unit, 15 units due in buckets 2, 3, 4, released a
// bucket earlier); LINE-9 at P2 is idle. The base overloads LINE-2 by 5 h in buckets 1, 2, 3.
NettingEngine TwoPlants() {
  auto b = testing::Plant();
  b.AddSite(model::SiteRecord{"P2", "Plant 2", model::SiteKind::kPlant});
  b.AddItem(testing::Item("FG", ItemKind::kMake, 20, 50, 1, 0, "FAM"));
  for (const char* id : {"LINE-2", "LINE-9"}) {
    model::WorkCenterRecord wc;
    wc.work_center_id = id;
    wc.site_id = std::string(id) == "LINE-2" ? "P1" : "P2";
    wc.available_hours.assign(10, 10.0);
    wc.overtime_max_hours_per_bucket = 2.0;
    wc.overtime_cost_per_hour = 30.0;
    wc.subcontract_allowed = true;
    wc.subcontract_cost_per_hour = 100.0;
    wc.regular_cost_per_hour = std::string(id) == "LINE-2" ? 40.0 : 35.0;
    b.AddWorkCenter(wc);
  }
  b.SetRouting("FG", "P1", {model::RoutingStepRecord{10, "LINE-2", 0.0, 1.0}});
  for (Bucket t = 2; t <= 4; ++t)
    b.AddSalesOrder(testing::Order("SO-" + std::to_string(t), "C", 1, "FG", t, 15, 50));
  return testing::Run(b);
}

TEST(DecisionScenario, BaseFiguresByHand) {
  auto engine = TwoPlants();
  ScenarioEvaluator evaluator(engine, {});
  const auto& k = evaluator.base().kpis;
  EXPECT_DOUBLE_EQ(k.sales_order_units, 45.0);
  EXPECT_DOUBLE_EQ(k.revenue, 45.0 * 50);
  EXPECT_DOUBLE_EQ(k.cost_of_goods, 45.0 * 20);
  EXPECT_DOUBLE_EQ(k.fill_rate, 1.0);
  EXPECT_DOUBLE_EQ(k.load_hours, 45.0);
  EXPECT_DOUBLE_EQ(k.overload_hours, 15.0);
  // Per bucket 5 h over: 2 h overtime at 30, 3 h subcontracted at 100.
  EXPECT_DOUBLE_EQ(k.overtime_cost, 3 * 2 * 30.0);
  EXPECT_DOUBLE_EQ(k.subcontract_cost, 3 * 3 * 100.0);
  EXPECT_DOUBLE_EQ(k.gross_margin, 2250.0 - 900.0 - 180.0 - 900.0);
  // Pipeline: each 15-unit order is in process for one bucket at cost 20: 900 / 10 buckets.
  EXPECT_DOUBLE_EQ(k.working_capital - k.average_inventory_value, 90.0);
}

TEST(DecisionScenario, AShiftOnLine2RemovesItsOverloadAndAddsItsCost) {
  auto engine = TwoPlants();
  ScenarioEvaluator evaluator(engine, {});
  Scenario shift{"shift on LINE-2", {ExtraCapacity{"LINE-2", 0, 10, 8.0, 25.0, false}}};
  auto out = evaluator.Evaluate(shift);
  ASSERT_TRUE(out.has_value()) << out.error().ToString();
  EXPECT_DOUBLE_EQ(out->kpis.overload_hours, 0.0);
  EXPECT_DOUBLE_EQ(out->kpis.extra_capacity_cost, 10 * 8 * 25.0);
  EXPECT_DOUBLE_EQ(out->kpis.overtime_cost, 0.0);
  EXPECT_EQ(out->appeared, std::vector<std::string>{});
  EXPECT_EQ(out->disappeared,
            (std::vector<std::string>{"BOTTLENECK:LINE-2", "CAPACITY_OVERLOAD:LINE-2#1",
                                      "CAPACITY_OVERLOAD:LINE-2#2", "CAPACITY_OVERLOAD:LINE-2#3"}));
  // Overtime paid only when used: 5 h in each of 3 buckets.
  Scenario overtime{"overtime", {ExtraCapacity{"LINE-2", 0, 10, 8.0, 25.0, true}}};
  EXPECT_DOUBLE_EQ(evaluator.Evaluate(overtime)->kpis.extra_capacity_cost, 3 * 5 * 25.0);
}

TEST(DecisionScenario, MovingVolumeShiftsLoadBetweenPlants) {
  auto engine = TwoPlants();
  ScenarioEvaluator evaluator(engine, {});
  Scenario move{"move 40 % to P2",
                {MoveVolume{"FAM", "P1", "P2", 0.4, {{"LINE-2", "LINE-9"}}, 1.25}}};
  auto out = evaluator.Evaluate(move);
  ASSERT_TRUE(out.has_value()) << out.error().ToString();
  EXPECT_DOUBLE_EQ(out->load_by_work_center[0], 45.0 * 0.6);
  EXPECT_DOUBLE_EQ(out->load_by_work_center[1], 45.0 * 0.4 * 1.25);
  EXPECT_DOUBLE_EQ(out->kpis.overload_hours, 0.0);  // 9 h at P1, 7.5 h at P2 per bucket
  EXPECT_NEAR(out->kpis.move_cost, 18.0 * 1.25 * 35.0 - 18.0 * 40.0, 1e-9);
  EXPECT_EQ(
      evaluator
          .Evaluate(Scenario{"bad", {MoveVolume{"FAM", "P1", "P2", 0.4, {{"LINE-2", "NOPE"}}}}})
          .error()
          .code(),
      Errc::kNotFound);
}

TEST(DecisionScenario, SubcontractingTheStepRemovesItsLoadAtACostPerUnit) {
  auto engine = TwoPlants();
  ScenarioEvaluator evaluator(engine, {});
  auto out = evaluator.Evaluate(Scenario{"sub", {SubcontractStep{"FG", "P1", 10, 4.0, 0.5}}});
  ASSERT_TRUE(out.has_value());
  EXPECT_DOUBLE_EQ(out->kpis.load_hours, 22.5);
  EXPECT_DOUBLE_EQ(out->kpis.step_subcontract_cost, 22.5 * 4.0);
  EXPECT_DOUBLE_EQ(out->kpis.overload_hours, 0.0);
}

TEST(DecisionScenario, DemandPlusTwentyPercentRaisesRevenueAndLoadAndLeavesTheBaseAlone) {
  auto engine = TwoPlants();
  const auto before = engine.plan().planned_receipts;
  ScenarioEvaluator evaluator(engine, {});
  auto out =
      evaluator.Evaluate(Scenario{"FAM +20%", {DemandMultiplier{"FAM", "", "", 0, 10, 1.2}}});
  ASSERT_TRUE(out.has_value());
  EXPECT_NEAR(out->kpis.revenue, 1.2 * 2250.0, 1e-9);
  EXPECT_NEAR(out->kpis.load_hours, 1.2 * 45.0, 1e-9);
  EXPECT_NEAR(out->kpis.overload_hours, 3 * 8.0, 1e-9);
  EXPECT_EQ(engine.plan().planned_receipts, before);
}

TEST(DecisionScenario, ParallelEvaluationIsIndependentOfTheThreadCount) {
  auto engine = TwoPlants();
  std::vector<Scenario> scenarios = {
      {"a", {DemandMultiplier{"FAM", "", "", 0, 10, 1.5}}},
      {"b", {ExtraCapacity{"LINE-2", 0, 5, 3.0, 10.0, false}}},
      {"c", {SafetyStockChange{"", "FG", "P1", 2.0}}},
      {"d", {SupplierDelay{"NOBODY", 2, true}}},
  };
  ScenarioOptions one;
  one.threads = 1;
  ScenarioOptions two;
  two.threads = 2;
  ScenarioOptions copies = two;  // the two netting scenarios on their own engine copies
  copies.engine_copies = 2;
  const ScenarioEvaluator single(engine, {}, one);
  auto serial = single.EvaluateAll(scenarios);
  auto parallel = ScenarioEvaluator(engine, {}, two).EvaluateAll(scenarios);
  auto two_copies = ScenarioEvaluator(engine, {}, copies).EvaluateAll(scenarios);
  ASSERT_EQ(serial.size(), 4u);
  EXPECT_EQ(serial[3].error().code(), Errc::kNotFound);
  EXPECT_EQ(parallel[3].error().code(), Errc::kNotFound);
  for (std::size_t k = 0; k < 3; ++k) {
    auto fresh = single.Evaluate(scenarios[k]);  // its own copy of the base engine
    for (const auto* other : {&parallel[k], &two_copies[k], &fresh}) {
      ASSERT_TRUE(serial[k].has_value() && other->has_value());
      EXPECT_EQ(serial[k]->name, (*other)->name);
      EXPECT_EQ(serial[k]->kpis.gross_margin, (*other)->kpis.gross_margin);
      EXPECT_EQ(serial[k]->kpis.overload_hours, (*other)->kpis.overload_hours);
      ASSERT_EQ(serial[k]->exceptions.size(), (*other)->exceptions.size());
      for (std::size_t e = 0; e < serial[k]->exceptions.size(); ++e) {
        EXPECT_EQ(serial[k]->exceptions[e].id, (*other)->exceptions[e].id);
        EXPECT_EQ(serial[k]->exceptions[e].score.total, (*other)->exceptions[e].score.total);
      }
    }
  }
}

}  // namespace
}  // namespace sop::planning
