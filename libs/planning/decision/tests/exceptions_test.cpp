#include "sop/planning/exceptions.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fixtures.hpp"
#include "sop/planning/change.hpp"
#include "sop/planning/ranking.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/planning/scenario.hpp"

namespace sop::planning {
namespace {

using model::ItemKind;
using testing::Item;
using testing::Order;

std::vector<std::string> Ids(const std::vector<Exception>& exceptions) {
  std::vector<std::string> ids;
  for (const auto& e : exceptions) ids.push_back(e.id);
  return ids;
}

const Exception& Get(const std::vector<Exception>& exceptions, const std::string& id) {
  auto it = std::find_if(exceptions.begin(), exceptions.end(),
                         [&](const Exception& e) { return e.id == id; });
  EXPECT_NE(it, exceptions.end()) << id;
  return *it;
}

// Component C1 feeds a high-margin (HI) and a low-margin (LO) product; C2 feeds only a
// low-margin product (LO2). Both components are frozen for the whole horizon with no stock, so
// each is short 20 units from bucket 3 (the FG orders release in bucket 3 for bucket 4).
NettingEngine SharedComponentPlant() {
  auto b = testing::Plant();
  b.AddItem(Item("HI", ItemKind::kMake, 40, 100, 1));
  b.AddItem(Item("LO", ItemKind::kMake, 25, 30, 1));
  b.AddItem(Item("LO2", ItemKind::kMake, 25, 30, 1));
  b.AddItem(Item("C1", ItemKind::kBuy, 10, 0, 2, 10));
  b.AddItem(Item("C2", ItemKind::kBuy, 10, 0, 2, 10));
  b.SetBom("HI", "P1", {model::BomLineRecord{"C1", 1.0}});
  b.SetBom("LO", "P1", {model::BomLineRecord{"C1", 1.0}});
  b.SetBom("LO2", "P1", {model::BomLineRecord{"C2", 1.0}});
  b.AddSalesOrder(Order("SO-HI", "CUST-A", 2, "HI", 4, 10, 100));
  b.AddSalesOrder(Order("SO-LO", "CUST-B", 2, "LO", 4, 10, 30));
  b.AddSalesOrder(Order("SO-LO2", "CUST-C", 2, "LO2", 4, 20, 30));
  return testing::Run(b);
}

TEST(DecisionExceptions, ShortSharedComponentGivesShortageSharedComponentAndOrdersAtRisk) {
  auto engine = SharedComponentPlant();
  auto capacity = RoughCut(engine.snapshot(), engine.plan());
  auto exceptions = DetectExceptions(engine, capacity, {});
  EXPECT_EQ(Ids(exceptions),
            (std::vector<std::string>{"ORDER_AT_RISK:SO-HI", "ORDER_AT_RISK:SO-LO",
                                      "ORDER_AT_RISK:SO-LO2", "SHARED_COMPONENT:C1@P1",
                                      "SHORTAGE:C1@P1", "SHORTAGE:C2@P1"}));
  const auto& c1 = Get(exceptions, "SHORTAGE:C1@P1");
  EXPECT_EQ(c1.severity, Severity::kRed);
  EXPECT_EQ(c1.first_impact_bucket, 3);
  EXPECT_DOUBLE_EQ(c1.quantity, 20.0);
  EXPECT_EQ(c1.customers, (std::vector<std::string>{"CUST-A", "CUST-B"}));
  EXPECT_EQ(c1.end_demands, 2);
  EXPECT_EQ(c1.best_priority, 2);
  EXPECT_DOUBLE_EQ(c1.revenue_at_risk, 10 * 100.0 + 10 * 30.0);
  EXPECT_DOUBLE_EQ(c1.margin_at_risk, 10 * 60.0 + 10 * 5.0);
  const auto& c2 = Get(exceptions, "SHORTAGE:C2@P1");
  EXPECT_DOUBLE_EQ(c2.quantity, 20.0);
  EXPECT_DOUBLE_EQ(c2.revenue_at_risk, 600.0);
  EXPECT_DOUBLE_EQ(c2.margin_at_risk, 100.0);
  const auto& hi = Get(exceptions, "ORDER_AT_RISK:SO-HI");
  EXPECT_DOUBLE_EQ(hi.quantity, 10.0);
  EXPECT_EQ(hi.first_impact_bucket, 4);
  EXPECT_NE(hi.explanation.find("C1@P1"), std::string::npos) << hi.explanation;
}

TEST(DecisionExceptions, SharedHighMarginShortageRanksAboveEqualSingleLowMarginShortage) {
  auto engine = SharedComponentPlant();
  auto exceptions = DetectExceptions(engine, RoughCut(engine.snapshot(), engine.plan()), {});
  RankingWeights weights;
  RankAll(exceptions, weights);
  auto rank = [&](const std::string& id) {
    return std::find_if(exceptions.begin(), exceptions.end(),
                        [&](const Exception& e) { return e.id == id; }) -
           exceptions.begin();
  };
  EXPECT_LT(rank("SHORTAGE:C1@P1"), rank("SHORTAGE:C2@P1"));
  // The components, by hand: revenue 1300/(1300+10000), margin 650/(650+3000), priority 2 of 5
  // → 4/5, bucket 3 of 26 → 23/26, 2 end demands → 2/7, red → 1.
  const auto& s = Get(exceptions, "SHORTAGE:C1@P1").score;
  EXPECT_NEAR(s.revenue, 1300.0 / 11300.0, 1e-12);
  EXPECT_NEAR(s.margin, 650.0 / 3650.0, 1e-12);
  EXPECT_NEAR(s.priority, 0.8, 1e-12);
  EXPECT_NEAR(s.time, 23.0 / 26.0, 1e-12);
  EXPECT_NEAR(s.breadth, 2.0 / 7.0, 1e-12);
  EXPECT_NEAR(s.severity, 1.0, 1e-12);
  EXPECT_NEAR(s.total,
              0.30 * s.revenue + 0.25 * s.margin + 0.15 * s.priority + 0.15 * s.time +
                  0.05 * s.breadth + 0.10 * s.severity,
              1e-12);
  const auto& s2 = Get(exceptions, "SHORTAGE:C2@P1").score;
  EXPECT_NEAR(s2.revenue, 600.0 / 10600.0, 1e-12);
  EXPECT_NEAR(s2.margin, 100.0 / 3100.0, 1e-12);
  EXPECT_NEAR(s2.breadth, 1.0 / 6.0, 1e-12);
  EXPECT_NEAR(s.time, s2.time, 1e-12);  // equal shortages, equally soon
}

// The same plant ranked as a scenario evaluator ranks it by default: references at the base's
// 90th percentile (nearest rank over the six exceptions' positive values).
TEST(DecisionExceptions, ScenarioRankingScalesReferencesToTheBasesNinetiethPercentile) {
  auto engine = SharedComponentPlant();
  const ScenarioEvaluator evaluator(engine, {});
  // Revenue at risk: SO-HI 1000, SO-LO 300, SO-LO2 600, SHARED_COMPONENT C1 1300, SHORTAGE C1
  // 1300, SHORTAGE C2 600 → ceil(0.9 × 6) = 6th smallest = 1300. Margin: 600, 50, 100, 650, 650,
  // 100 → 650. End demands: 1, 1, 1, 2, 2, 1 → 2.
  EXPECT_EQ(evaluator.ranking().revenue_reference, 1300.0);
  EXPECT_EQ(evaluator.ranking().margin_reference, 650.0);
  EXPECT_EQ(evaluator.ranking().breadth_reference, 2.0);
  const auto& ranked = evaluator.base().exceptions;
  // Shortage of C1: revenue 1300/2600, margin 650/1300, breadth 2/4, priority 2 → 0.8, bucket 3
  // → 23/26, red. The shared-component exception has the same figures; the tie goes by id.
  const double c1 = 0.30 * 0.5 + 0.25 * 0.5 + 0.15 * 0.8 + 0.15 * 23.0 / 26.0 + 0.05 * 0.5 + 0.10;
  // Order SO-HI: revenue 1000/2300, margin 600/1250, breadth 1/3, bucket 4 → 22/26, amber.
  const double hi = 0.30 * 1000.0 / 2300.0 + 0.25 * 600.0 / 1250.0 + 0.15 * 0.8 +
                    0.15 * 22.0 / 26.0 + 0.05 / 3.0 + 0.10 * 0.5;
  // Shortage of C2: revenue 600/1900, margin 100/750, breadth 1/3, bucket 3, red.
  const double c2 = 0.30 * 600.0 / 1900.0 + 0.25 * 100.0 / 750.0 + 0.15 * 0.8 + 0.15 * 23.0 / 26.0 +
                    0.05 / 3.0 + 0.10;
  // SO-LO2: as C2's money, bucket 4, amber. SO-LO: revenue 300/1600, margin 50/700.
  const double lo2 = 0.30 * 600.0 / 1900.0 + 0.25 * 100.0 / 750.0 + 0.15 * 0.8 +
                     0.15 * 22.0 / 26.0 + 0.05 / 3.0 + 0.10 * 0.5;
  const double lo = 0.30 * 300.0 / 1600.0 + 0.25 * 50.0 / 700.0 + 0.15 * 0.8 + 0.15 * 22.0 / 26.0 +
                    0.05 / 3.0 + 0.10 * 0.5;
  // With the fixed references the red shortage of C2 (0.386) ranked above the order SO-HI
  // (0.374); scaled, SO-HI's money counts: 0.564 against 0.497.
  ASSERT_EQ(Ids(ranked), (std::vector<std::string>{"SHARED_COMPONENT:C1@P1", "SHORTAGE:C1@P1",
                                                   "ORDER_AT_RISK:SO-HI", "SHORTAGE:C2@P1",
                                                   "ORDER_AT_RISK:SO-LO2", "ORDER_AT_RISK:SO-LO"}));
  EXPECT_NEAR(ranked[0].score.total, c1, 1e-12);
  EXPECT_NEAR(ranked[1].score.total, c1, 1e-12);
  EXPECT_NEAR(ranked[1].score.revenue, 0.5, 1e-12);
  EXPECT_NEAR(ranked[1].score.breadth, 0.5, 1e-12);
  EXPECT_NEAR(ranked[2].score.total, hi, 1e-12);
  EXPECT_NEAR(ranked[3].score.total, c2, 1e-12);
  EXPECT_NEAR(ranked[4].score.total, lo2, 1e-12);
  EXPECT_NEAR(ranked[5].score.total, lo, 1e-12);

  // 0 keeps the fixed references (C2 above SO-HI); a percentile outside (0, 1] names itself.
  ScenarioOptions fixed;
  fixed.reference_percentile = 0.0;
  const ScenarioEvaluator unscaled(engine, {}, fixed);
  EXPECT_EQ(unscaled.ranking().revenue_reference, RankingWeights{}.revenue_reference);
  const auto& order = unscaled.base().exceptions;
  auto at = [&](const std::string& id) {
    return std::find_if(order.begin(), order.end(),
                        [&](const Exception& e) { return e.id == id; }) -
           order.begin();
  };
  EXPECT_LT(at("SHORTAGE:C2@P1"), at("ORDER_AT_RISK:SO-HI"));
  ScenarioOptions bad;
  bad.reference_percentile = 1.5;
  auto failed = ScenarioEvaluator(engine, {}, bad).Evaluate(Scenario{"none", {}});
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(failed.error().message().find("reference_percentile"), std::string::npos);
  EXPECT_NE(failed.error().message().find("1.5"), std::string::npos);
}

// X is bought by a priority-1 customer and misses its forecast by 28.6 % (red); Y by a
// priority-3 customer misses by 13 % (amber); Z is within 10 % (no exception).
TEST(DecisionExceptions, RedDeviationOnTopCustomerItemOutranksAmberOne) {
  auto b = testing::Plant();
  b.AddItem(Item("X", ItemKind::kBuy, 30, 50, 1));
  b.AddItem(Item("Y", ItemKind::kBuy, 30, 50, 1));
  b.AddItem(Item("Z", ItemKind::kBuy, 30, 50, 1));
  b.AddSalesOrder(Order("SO-X", "TOP", 1, "X", 5, 10, 50));
  b.AddSalesOrder(Order("SO-Y", "SMALL", 3, "Y", 5, 10, 50));
  auto engine = testing::Run(b);
  const auto& s = engine.snapshot();
  DetectionHistory history;
  for (Bucket t = -4; t < 0; ++t) {
    history.forecast_actuals.push_back({*s.FindItemSite("X", "P1"), t, "direct", 100, 140});
    history.forecast_actuals.push_back({*s.FindItemSite("Y", "P1"), t, "direct", 100, 115});
    history.forecast_actuals.push_back({*s.FindItemSite("Z", "P1"), t, "direct", 100, 105});
  }
  auto exceptions = DetectExceptions(engine, RoughCut(s, engine.plan()), history);
  EXPECT_EQ(Ids(exceptions),
            (std::vector<std::string>{"FORECAST_BIAS:X@P1", "FORECAST_DEVIATION:X@P1",
                                      "FORECAST_DEVIATION:Y@P1"}));
  const auto& x = Get(exceptions, "FORECAST_DEVIATION:X@P1");
  EXPECT_EQ(x.severity, Severity::kRed);
  EXPECT_NEAR(x.quantity, 160.0 / 560.0, 1e-12);
  EXPECT_DOUBLE_EQ(x.revenue_at_risk, 160.0 * 50);
  EXPECT_EQ(x.best_priority, 1);
  EXPECT_EQ(x.customers, std::vector<std::string>{"TOP"});
  const auto& y = Get(exceptions, "FORECAST_DEVIATION:Y@P1");
  EXPECT_EQ(y.severity, Severity::kAmber);
  EXPECT_NEAR(y.quantity, 60.0 / 460.0, 1e-12);
  EXPECT_NEAR(Get(exceptions, "FORECAST_BIAS:X@P1").quantity, -160.0 / 560.0, 1e-12);

  RankAll(exceptions, RankingWeights{});
  EXPECT_EQ(exceptions[0].id, "FORECAST_DEVIATION:X@P1");
  EXPECT_EQ(exceptions[1].id, "FORECAST_BIAS:X@P1");
  EXPECT_EQ(exceptions[2].id, "FORECAST_DEVIATION:Y@P1");
  EXPECT_NEAR(exceptions[0].score.priority, 1.0, 1e-12);
  EXPECT_NEAR(exceptions[2].score.priority, 0.6, 1e-12);
  EXPECT_NEAR(exceptions[0].score.severity - exceptions[2].score.severity, 0.5, 1e-12);
}

// One line (10 h per bucket) and a product needing 15 h in buckets 1, 2 and 3.
NettingEngine OverloadedLine() {
  auto b = testing::Plant();
  b.AddItem(Item("FG", ItemKind::kMake, 20, 50, 1));
  model::WorkCenterRecord wc;
  wc.work_center_id = "LINE-2";
  wc.site_id = "P1";
  wc.available_hours.assign(10, 10.0);
  wc.overtime_max_hours_per_bucket = 2.0;
  wc.overtime_cost_per_hour = 30.0;
  b.AddWorkCenter(wc);
  b.SetRouting("FG", "P1", {model::RoutingStepRecord{10, "LINE-2", 0.0, 1.0}});
  for (Bucket t = 2; t <= 4; ++t)
    b.AddSalesOrder(Order("SO-" + std::to_string(t), "C", 1, "FG", t, 15, 50));
  return testing::Run(b);
}

TEST(DecisionExceptions, OverloadInThreeBucketsIsThreeOverloadsAndABottleneck) {
  auto engine = OverloadedLine();
  auto capacity = RoughCut(engine.snapshot(), engine.plan());
  auto exceptions = DetectExceptions(engine, capacity, {});
  EXPECT_EQ(Ids(exceptions),
            (std::vector<std::string>{"BOTTLENECK:LINE-2", "CAPACITY_OVERLOAD:LINE-2#1",
                                      "CAPACITY_OVERLOAD:LINE-2#2", "CAPACITY_OVERLOAD:LINE-2#3"}));
  const auto& cell = Get(exceptions, "CAPACITY_OVERLOAD:LINE-2#1");
  EXPECT_DOUBLE_EQ(cell.quantity, 5.0);
  EXPECT_DOUBLE_EQ(cell.reference_quantity, 10.0);
  EXPECT_EQ(cell.severity, Severity::kRed);  // 50 % over
  // A third of the load does not fit: a third of SO-2 (15 × 50) is at risk.
  EXPECT_NEAR(cell.revenue_at_risk, 250.0, 1e-9);
  EXPECT_EQ(cell.sales_orders.size(), 1u);
  const auto& bottleneck = Get(exceptions, "BOTTLENECK:LINE-2");
  EXPECT_DOUBLE_EQ(bottleneck.quantity, 15.0);
  EXPECT_EQ(bottleneck.first_impact_bucket, 1);
  EXPECT_EQ(bottleneck.end_demands, 3);
}

TEST(DecisionExceptions, SupplierTimeFenceExcessObsoleteAndDataQuality) {
  auto b = testing::Plant();
  auto a = Item("A", ItemKind::kBuy, 5, 10, 2, 3, "", "SUP-1");
  b.AddItem(a);
  b.AddItem(Item("OLD", ItemKind::kBuy, 4, 8, 1));
  b.AddItem(Item("SLOW", ItemKind::kBuy, 2, 3, 1));
  b.SetOnHand("OLD", "P1", 50);
  b.SetOnHand("SLOW", "P1", 1000);
  b.SetOnHand("A", "P1", 100);
  b.AddSalesOrder(Order("SO-S", "C", 2, "SLOW", 5, 10, 3));
  b.AddSalesOrder(Order("SO-A", "C", 2, "A", 5, 10, 10));
  b.SetBom("A", "P1", {model::BomLineRecord{"MISSING", 1.0}});
  model::ScheduledReceiptRecord po;
  po.receipt_id = "PO-1";
  po.item_id = "A";
  po.site_id = "P1";
  po.due_bucket = 6;
  po.quantity = 40;
  b.AddScheduledReceipt(po);
  auto built = b.Build();
  NettingEngine engine(std::move(built.snapshot));
  engine.RunFull();
  const auto& s = engine.snapshot();
  const auto item_a = *s.FindItemSite("A", "P1");
  DetectionHistory history;
  history.extra_findings = built.findings;
  // Three confirmed dates in a row missed, the first delivery on time.
  history.deliveries = {{"SUP-1", item_a, 1, 1, 2},
                        {"SUP-1", item_a, 2, 3, 3},
                        {"SUP-1", item_a, 3, 5, 4},
                        {"SUP-1", item_a, 4, 5, 3}};
  history.changes = {{"CHG-1", item_a, 1, 25, "SO-A +25 in week 1"},
                     {"CHG-2", item_a, 5, 5, "outside"}};
  auto exceptions = DetectExceptions(engine, RoughCut(s, engine.plan()), history);
  EXPECT_EQ(Ids(exceptions), (std::vector<std::string>{
                                 "DATA_QUALITY:A@P1/component_item_id", "EXCESS_INVENTORY:A@P1",
                                 "EXCESS_INVENTORY:SLOW@P1", "OBSOLETE_INVENTORY:OLD@P1",
                                 "SUPPLIER_RISK:SUP-1", "TIME_FENCE_VIOLATION:CHG-1"}));
  const auto& supplier = Get(exceptions, "SUPPLIER_RISK:SUP-1");
  EXPECT_EQ(supplier.severity, Severity::kRed);
  EXPECT_DOUBLE_EQ(supplier.quantity, 40.0);
  EXPECT_EQ(supplier.first_impact_bucket, 6);
  const auto& fence = Get(exceptions, "TIME_FENCE_VIOLATION:CHG-1");
  EXPECT_DOUBLE_EQ(fence.revenue_at_risk, 250.0);
  // SLOW: 10 units over 10 buckets of 7 days = 1/7 per day; 1000 units = 7000 days; policy 180
  // days keeps 180/7 units.
  const auto& excess = Get(exceptions, "EXCESS_INVENTORY:SLOW@P1");
  EXPECT_NEAR(excess.quantity, 1000.0 - 180.0 / 7.0, 1e-9);
  EXPECT_DOUBLE_EQ(Get(exceptions, "OBSOLETE_INVENTORY:OLD@P1").margin_at_risk, 200.0);
}

TEST(DecisionExceptions, ItemSiteRedetectionMatchesFullDetectionForThatItem) {
  auto engine = SharedComponentPlant();
  auto full = DetectExceptions(engine, RoughCut(engine.snapshot(), engine.plan()), {});
  const auto c1 = *engine.snapshot().FindItemSite("C1", "P1");
  std::vector<std::string> scope;
  auto partial = DetectItemSiteExceptions(engine, std::span(&c1, 1), {}, &scope);
  EXPECT_EQ(Ids(partial), (std::vector<std::string>{"SHARED_COMPONENT:C1@P1", "SHORTAGE:C1@P1"}));
  EXPECT_EQ(scope.size(), 6u);
  EXPECT_DOUBLE_EQ(partial[1].revenue_at_risk, Get(full, "SHORTAGE:C1@P1").revenue_at_risk);
}

std::vector<Exception> OrdersAtRiskOf(const std::vector<Exception>& exceptions) {
  std::vector<Exception> out;
  for (const auto& e : exceptions) {
    if (e.type == ExceptionType::kOrderAtRisk) out.push_back(e);
  }
  return out;
}

// SO-LO 10 → 25: C1 is 35 short and puts 25 of SO-LO (revenue 25 × 30 = 750, margin 25 × 5) and
// 10 of SO-HI at risk; only the orders C1 and LO reach are rebuilt (SO-LO2 is C2's). Cancelling
// SO-LO2 then resolves its order at risk (in scope, no exception).
TEST(DecisionExceptions, FollowedOrdersAtRiskChangeWithNetChangeByHand) {
  auto engine = SharedComponentPlant();
  MaterialRedetector redetector(engine);
  redetector.FollowOrdersAtRisk();
  EXPECT_EQ(Ids(redetector.OrdersAtRisk()),
            (std::vector<std::string>{"ORDER_AT_RISK:SO-HI", "ORDER_AT_RISK:SO-LO",
                                      "ORDER_AT_RISK:SO-LO2"}));
  std::vector<std::string> scope;
  EXPECT_TRUE(redetector.TakeOrdersAtRisk(&scope).empty());  // nothing rebuilt yet
  EXPECT_TRUE(scope.empty());

  model::SalesOrder lo = engine.snapshot().sales_orders[1];
  ASSERT_EQ(lo.id, "SO-LO");
  lo.quantity = 25;
  auto touched = engine.Apply(UpsertSalesOrder{lo});
  ASSERT_TRUE(touched.has_value());
  std::vector<std::string> material_scope;
  const auto material = redetector.Redetect(*touched, &material_scope);
  EXPECT_DOUBLE_EQ(Get(material, "SHORTAGE:C1@P1").quantity, 35.0);
  auto changed = redetector.TakeOrdersAtRisk(&scope);
  EXPECT_EQ(scope, (std::vector<std::string>{"ORDER_AT_RISK:SO-HI", "ORDER_AT_RISK:SO-LO"}));
  ASSERT_EQ(Ids(changed), scope);
  EXPECT_DOUBLE_EQ(changed[0].quantity, 10.0);
  EXPECT_DOUBLE_EQ(changed[1].quantity, 25.0);
  EXPECT_DOUBLE_EQ(changed[1].reference_quantity, 25.0);
  EXPECT_DOUBLE_EQ(changed[1].revenue_at_risk, 750.0);
  EXPECT_DOUBLE_EQ(changed[1].margin_at_risk, 125.0);
  EXPECT_NE(changed[1].explanation.find("for 25 units of LO@P1"), std::string::npos)
      << changed[1].explanation;

  scope.clear();
  touched = engine.Apply(CancelSalesOrder{"SO-LO2"});
  ASSERT_TRUE(touched.has_value());
  redetector.Redetect(*touched, nullptr);
  EXPECT_TRUE(redetector.TakeOrdersAtRisk(&scope).empty());
  EXPECT_EQ(scope, (std::vector<std::string>{"ORDER_AT_RISK:SO-LO2"}));

  // What it follows is what a full detection finds, field by field.
  const auto full =
      OrdersAtRiskOf(DetectExceptions(engine, RoughCut(engine.snapshot(), engine.plan()), {}));
  const auto followed = redetector.OrdersAtRisk();
  ASSERT_EQ(Ids(followed), Ids(full));
  for (std::size_t k = 0; k < full.size(); ++k) {
    EXPECT_EQ(followed[k].quantity, full[k].quantity);
    EXPECT_EQ(followed[k].revenue_at_risk, full[k].revenue_at_risk);
    EXPECT_EQ(followed[k].explanation, full[k].explanation);
  }
}

// OverloadedLine followed by hand: 15 h against 10 h in buckets 1–3 (SO-2/3/4, 15 units each,
// one hour a unit, lead time 1).
TEST(DecisionExceptions, FollowedCapacityChangesWithNetChangeByHand) {
  auto engine = OverloadedLine();
  MaterialRedetector redetector(engine);
  redetector.FollowCapacity();
  EXPECT_EQ(Ids(redetector.CapacityExceptions()),
            (std::vector<std::string>{"BOTTLENECK:LINE-2", "CAPACITY_OVERLOAD:LINE-2#1",
                                      "CAPACITY_OVERLOAD:LINE-2#2", "CAPACITY_OVERLOAD:LINE-2#3"}));
  std::vector<std::string> scope;
  EXPECT_TRUE(redetector.TakeCapacity(&scope).empty());  // nothing rebuilt yet
  EXPECT_TRUE(scope.empty());

  // SO-3 down to 8: bucket 2 loads 8 h, fits; two overloaded buckets are no bottleneck.
  model::SalesOrder so3 = engine.snapshot().sales_orders[1];
  ASSERT_EQ(so3.id, "SO-3");
  so3.quantity = 8;
  auto touched = engine.Apply(UpsertSalesOrder{so3});
  ASSERT_TRUE(touched.has_value());
  redetector.Redetect(*touched, nullptr);
  auto changed = redetector.TakeCapacity(&scope);
  std::sort(scope.begin(), scope.end());
  EXPECT_EQ(scope,
            (std::vector<std::string>{"BOTTLENECK:LINE-2", "CAPACITY_OVERLOAD:LINE-2#1",
                                      "CAPACITY_OVERLOAD:LINE-2#2", "CAPACITY_OVERLOAD:LINE-2#3"}));
  EXPECT_EQ(Ids(changed),
            (std::vector<std::string>{"CAPACITY_OVERLOAD:LINE-2#1", "CAPACITY_OVERLOAD:LINE-2#3"}));
  EXPECT_DOUBLE_EQ(changed[0].quantity, 5.0);
  EXPECT_NEAR(changed[0].revenue_at_risk, 250.0, 1e-9);  // a third of SO-2's 15 × 50

  // SO-3 at 12: 2 h over in bucket 2 (20 % of capacity: amber), the bottleneck is back with
  // 5 + 2 + 5 = 12 h; 2 h of 12 put a sixth of SO-3 (12 × 50) at risk: 100.
  so3.quantity = 12;
  touched = engine.Apply(UpsertSalesOrder{so3});
  ASSERT_TRUE(touched.has_value());
  redetector.Forget(*touched);
  scope.clear();
  changed = redetector.TakeCapacity(&scope);
  EXPECT_EQ(Ids(changed),
            (std::vector<std::string>{"BOTTLENECK:LINE-2", "CAPACITY_OVERLOAD:LINE-2#1",
                                      "CAPACITY_OVERLOAD:LINE-2#2", "CAPACITY_OVERLOAD:LINE-2#3"}));
  EXPECT_DOUBLE_EQ(Get(changed, "CAPACITY_OVERLOAD:LINE-2#2").quantity, 2.0);
  EXPECT_EQ(Get(changed, "CAPACITY_OVERLOAD:LINE-2#2").severity, Severity::kAmber);
  EXPECT_NEAR(Get(changed, "CAPACITY_OVERLOAD:LINE-2#2").revenue_at_risk, 100.0, 1e-9);
  EXPECT_DOUBLE_EQ(Get(changed, "BOTTLENECK:LINE-2").quantity, 12.0);
  EXPECT_EQ(Get(changed, "BOTTLENECK:LINE-2").end_demands, 3);

  // A work order of 26 units from bucket 4 to 6 loads 13 h in buckets 4 and 5: 3 h over each
  // (red), pegged to nothing; the bottleneck carries 12 + 3 + 3 = 18 h.
  model::ScheduledReceipt wo;
  wo.id = "WO-1";
  wo.kind = model::ReceiptKind::kWorkOrder;
  wo.item_site = so3.item_site;
  wo.start_bucket = 4;
  wo.due_bucket = 6;
  wo.quantity = 26;
  touched = engine.Apply(UpsertReceipt{wo});
  ASSERT_TRUE(touched.has_value());
  redetector.Redetect(*touched, nullptr);
  changed = redetector.TakeCapacity(nullptr);
  const auto& cell = Get(changed, "CAPACITY_OVERLOAD:LINE-2#5");
  EXPECT_DOUBLE_EQ(cell.quantity, 3.0);
  EXPECT_EQ(cell.severity, Severity::kRed);
  EXPECT_EQ(cell.revenue_at_risk, 0.0);
  EXPECT_DOUBLE_EQ(Get(changed, "BOTTLENECK:LINE-2").quantity, 18.0);

  // What it follows is what a full detection finds, field by field.
  std::vector<Exception> full;
  for (auto& e : DetectExceptions(engine, RoughCut(engine.snapshot(), engine.plan()), {})) {
    if (e.type == ExceptionType::kCapacityOverload || e.type == ExceptionType::kBottleneck)
      full.push_back(std::move(e));
  }
  const auto followed = redetector.CapacityExceptions();
  ASSERT_EQ(Ids(followed), Ids(full));
  EXPECT_EQ(full.size(), 6u);  // five overloaded cells and the bottleneck
  for (std::size_t k = 0; k < full.size(); ++k) {
    EXPECT_EQ(followed[k].quantity, full[k].quantity);
    EXPECT_EQ(followed[k].revenue_at_risk, full[k].revenue_at_risk);
    EXPECT_EQ(followed[k].explanation, full[k].explanation);
  }
}

}  // namespace
}  // namespace sop::planning
