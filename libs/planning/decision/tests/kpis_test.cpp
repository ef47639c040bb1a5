#include "sop/planning/kpis.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "fixtures.hpp"

namespace sop::planning {
namespace {

TEST(DecisionKpis, ForecastAccuracyByFamilyAndChannel) {
  std::vector<DemandRecord> records = {
      {"F1", "A", "P1", "web", 0, 100, 80}, {"F1", "A", "P1", "web", 1, 100, 120},
      {"F1", "B", "P1", "shop", 0, 50, 40}, {"F2", "C", "P2", "shop", 0, 10, 0},
  };
  auto by_family = ForecastAccuracy(records, KpiGrouping::kFamily);
  ASSERT_EQ(by_family.size(), 2u);
  EXPECT_EQ(by_family[0].key, "F1");
  // |e| = 20 + 20 + 10 = 50 over Σy = 240 → 20.833 %; MAPE = (25 + 16.667 + 25)/3 %;
  // bias Σ(f − y) = 20 − 20 + 10 = 10; relative 10/240.
  EXPECT_NEAR(by_family[0].wmape, 50.0 / 240.0 * 100.0, 1e-9);
  EXPECT_NEAR(by_family[0].mape, (25.0 + 100.0 / 6.0 + 25.0) / 3.0, 1e-9);
  EXPECT_NEAR(by_family[0].bias, 10.0, 1e-12);
  EXPECT_NEAR(by_family[0].relative_bias, 10.0 / 240.0, 1e-12);
  EXPECT_EQ(by_family[0].points, 3u);
  EXPECT_EQ(by_family[1].mape, 0.0);  // every actual zero: no MAPE
  auto by_channel = ForecastAccuracy(records, KpiGrouping::kChannel);
  ASSERT_EQ(by_channel.size(), 2u);
  EXPECT_EQ(by_channel[0].key, "shop");
  EXPECT_NEAR(by_channel[0].wmape, 20.0 / 40.0 * 100.0, 1e-9);
  EXPECT_EQ(Mape(std::vector<double>{0.0}, std::vector<double>{1.0}).error().code(), Errc::kFailedPrecondition);
}

TEST(DecisionKpis, OtifCountsLinesShippedInFullByTheDueBucket) {
  std::vector<ShipmentRecord> shipments = {
      {"L1", 3, 3, 10, 10},                     // on time in full
      {"L2", 3, 2, 10, 6}, {"L2", 3, 3, 10, 4},  // split, both on time
      {"L3", 3, 4, 10, 10},                     // late
      {"L4", 3, 3, 10, 9},                      // short
  };
  EXPECT_DOUBLE_EQ(*Otif(shipments), 0.5);
  EXPECT_FALSE(Otif({}).has_value());
}

TEST(DecisionKpis, BacklogAgingPutsLateLinesInBands) {
  std::vector<OpenOrderLine> open = {{"A", 10, 5}, {"B", 9, 7}, {"C", 7, 1}, {"D", 2, 4}, {"E", 11, 3}};
  std::vector<Bucket> edges = {2, 4};
  auto bands = BacklogAging(open, 10, edges);  // ages 0, 1, 3, 8, −1
  ASSERT_EQ(bands.size(), 3u);
  EXPECT_DOUBLE_EQ(bands[0].quantity, 7.0);
  EXPECT_EQ(bands[0].lines, 1u);
  EXPECT_DOUBLE_EQ(bands[1].quantity, 1.0);
  EXPECT_DOUBLE_EQ(bands[2].quantity, 4.0);
  EXPECT_EQ(bands[2].min_age, 4);
}

TEST(DecisionKpis, TurnsDaysOfSupplyAttainmentSupplierAndFinance) {
  EXPECT_DOUBLE_EQ(*InventoryTurns(1200.0, 300.0), 4.0);
  EXPECT_EQ(InventoryTurns(1.0, 0.0).error().code(), Errc::kFailedPrecondition);
  EXPECT_DOUBLE_EQ(*DaysOfSupply(70.0, 2.0), 35.0);

  const ItemSiteIndex a(0), b(1);
  std::vector<ProductionRecord> planned = {{a, 1, 100}, {a, 2, 100}, {b, 1, 50}};
  std::vector<ProductionRecord> done = {{a, 1, 120}, {a, 2, 60}, {b, 3, 50}};
  // min(100,120) + min(100,60) + min(50,0) = 160 of 250; b's late completion does not count.
  EXPECT_DOUBLE_EQ(*PlanAttainment(planned, done), 160.0 / 250.0);

  std::vector<SupplierDelivery> deliveries = {{"S", a, 1, 1, 2}, {"S", a, 2, 4, 4}, {"S", a, 3, 3, 3},
                                              {"S", a, 4, 5, 3}, {"T", a, 1, 1, 9}};
  EXPECT_DOUBLE_EQ(*SupplierOnTimeRate(deliveries, "S"), 0.5);
  auto lt = LeadTimeVariability(deliveries, "S");
  ASSERT_TRUE(lt.has_value());
  // lead times 2, 4, 3, 3: mean 3, sample variance 2/3.
  EXPECT_DOUBLE_EQ(lt->mean, 3.0);
  EXPECT_NEAR(lt->stddev, std::sqrt(2.0 / 3.0), 1e-12);
  EXPECT_NEAR(lt->cv, std::sqrt(2.0 / 3.0) / 3.0, 1e-12);
  EXPECT_FALSE(LeadTimeVariability(deliveries, "T").has_value());

  std::vector<PeriodFinancials> periods = {{0, 1000, 900, 300, 240}, {1, 1000, 1050, 300, 330}};
  EXPECT_DOUBLE_EQ(*RevenueAttainment(periods), 1950.0 / 2000.0);
  EXPECT_DOUBLE_EQ(*MarginAttainment(periods), 570.0 / 600.0);
  std::vector<ExpediteRecord> expedites = {{"PO-1", 10, 2.5, 100}, {"PO-2", 4, 1, 0}};
  EXPECT_DOUBLE_EQ(ExpediteCost(expedites), 129.0);
}

// On hand 30, demand 10 in buckets 1..4 of a frozen buy item (no orders): P = 30, 20, 10, 0,
// −10, −10, … so the stockout starts in bucket 4 with a 10-unit deficit.
TEST(DecisionKpis, StockoutExposureInventoryAndWorkingCapitalTrends) {
  auto b = testing::Plant(6);
  b.AddItem(testing::Item("A", model::ItemKind::kBuy, 2, 5, 1, 6));
  b.SetOnHand("A", "P1", 30);
  for (Bucket t = 1; t <= 4; ++t) b.AddSalesOrder(testing::Order("SO-" + std::to_string(t), "C", 1, "A", t, 10, 5));
  b.AddItem(testing::Item("M", model::ItemKind::kMake, 3, 9, 2));
  b.AddSalesOrder(testing::Order("SO-M", "C", 1, "M", 4, 5, 9));
  auto engine = testing::Run(b);
  auto exposure = ProjectedStockoutExposure(engine.snapshot(), engine.plan());
  EXPECT_EQ(exposure.item_sites, 1u);
  EXPECT_DOUBLE_EQ(exposure.units, 10.0);
  EXPECT_DOUBLE_EQ(exposure.revenue, 50.0);
  EXPECT_EQ(exposure.first_bucket, 4);
  auto inventory = InventoryValueTrend(engine.snapshot(), engine.plan());
  EXPECT_EQ(inventory, (std::vector<double>{60, 40, 20, 0, 0, 0}));
  // M: a planned order of 5 received in 4, released in 2: 5 × 3 = 15 in the pipeline in 2 and 3;
  // received in 4 and shipped the same bucket.
  auto capital = WorkingCapitalTrend(engine.snapshot(), engine.plan());
  EXPECT_EQ(capital, (std::vector<double>{60, 40, 35, 15, 0, 0}));
}

}  // namespace
}  // namespace sop::planning
