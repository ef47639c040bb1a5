// Textbook MRP cases worked out by hand (the arithmetic is in the comments), with full bucket
// tables asserted against NETTING.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "sop/model/snapshot_builder.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/rough_cut.hpp"

namespace sop::planning {
namespace {

using namespace sop::model;
using Row = std::vector<double>;

ItemRecord Item(std::string id, int lead_time, std::string site = "S") {
  ItemRecord item;
  item.item_id = std::move(id);
  item.site_id = std::move(site);
  item.lead_time = lead_time;
  return item;
}

SnapshotBuilder Builder(int horizon, int backward = 0, int forward = 0) {
  SnapshotBuilder b(Horizon{BucketKind::kWeek, horizon, backward, forward});
  b.AddSite(SiteRecord{"S", "Plant", SiteKind::kPlant});
  return b;
}

void Demand(SnapshotBuilder& b, const std::string& item, const Row& by_bucket,
            const std::string& site = "S") {
  for (std::size_t t = 0; t < by_bucket.size(); ++t) {
    if (by_bucket[t] != 0.0) b.SetForecast(item, site, static_cast<Bucket>(t), by_bucket[t]);
  }
}

NettingEngine NetAll(SnapshotBuilder& b) {
  auto built = b.Build();
  EXPECT_TRUE(built.findings.empty()) << built.findings.front().message;
  NettingEngine engine(std::move(built.snapshot));
  engine.RunFull();
  return engine;
}

ItemSiteIndex Find(const NettingEngine& e, const std::string& item, const std::string& site = "S") {
  return *e.snapshot().FindItemSite(item, site);
}

void ExpectRow(const NettingEngine& e, const std::vector<double>& records, ItemSiteIndex is,
               const Row& expected, const char* what) {
  auto row = e.plan().Row(records, is);
  ASSERT_EQ(row.size(), expected.size()) << what;
  for (std::size_t t = 0; t < expected.size(); ++t) {
    EXPECT_NEAR(row[t], expected[t], 1e-9)
        << what << " bucket " << t << " of " << e.snapshot().ItemSiteName(is);
  }
}

struct Table {
  Row gross, receipts, projected, net, planned_receipts, planned_releases;
};

void ExpectTable(const NettingEngine& e, ItemSiteIndex is, const Table& t) {
  const Plan& p = e.plan();
  ExpectRow(e, p.gross_requirements, is, t.gross, "GR");
  ExpectRow(e, p.scheduled_receipts, is, t.receipts, "SR");
  ExpectRow(e, p.projected_available, is, t.projected, "PAB");
  ExpectRow(e, p.net_requirements, is, t.net, "NR");
  ExpectRow(e, p.planned_receipts, is, t.planned_receipts, "PORc");
  ExpectRow(e, p.planned_releases, is, t.planned_releases, "PORl");
}

std::vector<std::pair<Bucket, double>> Orders(const NettingEngine& e, ItemSiteIndex is) {
  std::vector<std::pair<Bucket, double>> out;
  for (const auto& o : e.plan().orders[static_cast<std::size_t>(is.value())]) {
    out.emplace_back(o.receipt_bucket, o.quantity);
  }
  return out;
}

std::vector<Finding> FindingsOf(const NettingEngine& e, FindingType type) {
  std::vector<Finding> out;
  for (const auto& f : e.plan().AllFindings()) {
    if (f.type == type) out.push_back(f);
  }
  return out;
}

TEST(PlanningTextbook, LotForLotCoversEachNetRequirementExactly) {
  // OH 20, LT 2, SR 10 in bucket 1.
  // t0: 20−10=10; t1: 10+10−10=10; t2: 10−15=−5 → 5; t3: −5 → 5; t4: −20 → 20; t5: 0;
  // t6: −10 → 10; t7: −10 → 10. Releases two buckets earlier.
  auto b = Builder(8);
  b.AddItem(Item("A", 2));
  b.SetOnHand("A", "S", 20);
  b.AddScheduledReceipt({"PO-1", ReceiptKind::kPurchaseOrder, "A", "S", 1, 0, 10, ""});
  Demand(b, "A", {10, 10, 15, 5, 20, 0, 10, 10});
  auto e = NetAll(b);
  ExpectTable(e, Find(e, "A"),
              {{10, 10, 15, 5, 20, 0, 10, 10},
               {0, 10, 0, 0, 0, 0, 0, 0},
               {10, 10, 0, 0, 0, 0, 0, 0},
               {0, 0, 5, 5, 20, 0, 10, 10},
               {0, 0, 5, 5, 20, 0, 10, 10},
               {5, 5, 20, 0, 10, 10, 0, 0}});
  EXPECT_TRUE(e.plan().AllFindings().empty());
}

TEST(PlanningTextbook, FixedOrderQuantityWithSafetyStockOrdersWholeLots) {
  // OH 30, SS 10, Q 25, LT 1.
  // t0: 30−10=20; t1: 20−20=0 <10 → NR 10 → 1×25 → 25; t2: 15; t3: 15−45=−30 → NR 40 → 2×25
  // → 20; t4: 20; t5: 20−15=5 → NR 5 → 25 → 30; t6: 30−25=5 → NR 5 → 25 → 30; t7: 25.
  auto b = Builder(8);
  auto item = Item("A", 1);
  item.safety_stock = 10;
  item.lot.rule = LotRule::kFixedOrderQuantity;
  item.lot.fixed_quantity = 25;
  b.AddItem(item);
  b.SetOnHand("A", "S", 30);
  Demand(b, "A", {10, 20, 10, 45, 0, 15, 25, 5});
  auto e = NetAll(b);
  auto a = Find(e, "A");
  ExpectTable(e, a,
              {{10, 20, 10, 45, 0, 15, 25, 5},
               {0, 0, 0, 0, 0, 0, 0, 0},
               {20, 25, 15, 20, 20, 30, 30, 25},
               {0, 10, 0, 40, 0, 5, 5, 0},
               {0, 25, 0, 50, 0, 25, 25, 0},
               {25, 0, 50, 0, 25, 25, 0, 0}});
  EXPECT_EQ(Orders(e, a),
            (std::vector<std::pair<Bucket, double>>{{1, 25}, {3, 25}, {3, 25}, {5, 25}, {6, 25}}));
}

TEST(PlanningTextbook, PeriodsOfSupplyWithSafetyStockCoversThreeBuckets) {
  // OH 15, SS 5, POQ p=3, LT 0, SR 5 in t1, GR 10 each bucket.
  // t0: 5; t1: 5+5−10=0 → NR 5, q = 5−5+(10−5)+10+10 = 25 → 25; t2: 15; t3: 5;
  // t4: −5 → NR 10, q = 5−5+30 = 30 → 25; t5: 15; t6: 5; t7: −5 → NR 10, q = 5−5+10 = 10 → 5.
  auto b = Builder(8);
  auto item = Item("A", 0);
  item.safety_stock = 5;
  item.lot.rule = LotRule::kPeriodsOfSupply;
  item.lot.periods_of_supply = 3;
  b.AddItem(item);
  b.SetOnHand("A", "S", 15);
  b.AddScheduledReceipt({"PO-1", ReceiptKind::kPurchaseOrder, "A", "S", 1, 0, 5, ""});
  Demand(b, "A", {10, 10, 10, 10, 10, 10, 10, 10});
  auto e = NetAll(b);
  ExpectTable(e, Find(e, "A"),
              {{10, 10, 10, 10, 10, 10, 10, 10},
               {0, 5, 0, 0, 0, 0, 0, 0},
               {5, 25, 15, 5, 25, 15, 5, 5},
               {0, 5, 0, 0, 10, 0, 0, 10},
               {0, 25, 0, 0, 30, 0, 0, 10},
               {0, 25, 0, 0, 30, 0, 0, 10}});
}

TEST(PlanningTextbook, ThreeLevelBomWithSharedComponentAndScrap) {
  // A (LT 1): C×2, D×1.  B (LT 2, OH 5): C×1 with 25 % scrap.  C (LT 1, OH 30): E×3.
  // D (LT 2).  E (LT 1, OH 30, SR 10 in t3).
  // A: SO 10 in t3, 5 in t5 → orders 10@3 (rel 2), 5@5 (rel 4).
  // B: SO 20 in t4 → 5−20 = −15 → 15@4 (rel 2).
  // C: GR t2 = 10·2 + 15·1·1.25 = 38.75, t4 = 5·2 = 10 → t2: 30−38.75 → 8.75@2 (rel 1),
  //    t4: 10@4 (rel 3).
  // D: GR t2 = 10, t4 = 5 → 10@2 (rel 0), 5@4 (rel 2).
  // E: GR t1 = 8.75·3 = 26.25, t3 = 30 → t1: 3.75; t3: 3.75+10−30 = −16.25 → 16.25@3 (rel 2).
  auto b = Builder(6);
  auto a = Item("A", 1);
  a.kind = ItemKind::kMake;
  auto bb = Item("B", 2);
  bb.kind = ItemKind::kMake;
  auto c = Item("C", 1);
  c.kind = ItemKind::kMake;
  b.AddItem(a);
  b.AddItem(bb);
  b.AddItem(c);
  b.AddItem(Item("D", 2));
  b.AddItem(Item("E", 1));
  b.SetBom("A", "S", {{"C", 2.0, 0.0}, {"D", 1.0, 0.0}});
  b.SetBom("B", "S", {{"C", 1.0, 0.25}});
  b.SetBom("C", "S", {{"E", 3.0, 0.0}});
  b.SetOnHand("B", "S", 5);
  b.SetOnHand("C", "S", 30);
  b.SetOnHand("E", "S", 30);
  b.AddScheduledReceipt({"PO-E", ReceiptKind::kPurchaseOrder, "E", "S", 3, 0, 10, ""});
  b.AddSalesOrder({"SO-A1", "C1", "OEM", 1, "A", "S", 3, 10, 100});
  b.AddSalesOrder({"SO-A2", "C2", "OEM", 1, "A", "S", 5, 5, 100});
  b.AddSalesOrder({"SO-B1", "C1", "OEM", 1, "B", "S", 4, 20, 100});
  auto e = NetAll(b);
  const auto& llc = e.plan().low_level_code;
  auto level = [&](const char* id) { return llc[static_cast<std::size_t>(Find(e, id).value())]; };
  EXPECT_EQ(level("A"), 0);
  EXPECT_EQ(level("B"), 0);
  EXPECT_EQ(level("C"), 1);
  EXPECT_EQ(level("D"), 1);
  EXPECT_EQ(level("E"), 2);
  ExpectTable(e, Find(e, "A"),
              {{0, 0, 0, 10, 0, 5},
               {0, 0, 0, 0, 0, 0},
               {0, 0, 0, 0, 0, 0},
               {0, 0, 0, 10, 0, 5},
               {0, 0, 0, 10, 0, 5},
               {0, 0, 10, 0, 5, 0}});
  ExpectTable(e, Find(e, "B"),
              {{0, 0, 0, 0, 20, 0},
               {0, 0, 0, 0, 0, 0},
               {5, 5, 5, 5, 0, 0},
               {0, 0, 0, 0, 15, 0},
               {0, 0, 0, 0, 15, 0},
               {0, 0, 15, 0, 0, 0}});
  ExpectTable(e, Find(e, "C"),
              {{0, 0, 38.75, 0, 10, 0},
               {0, 0, 0, 0, 0, 0},
               {30, 30, 0, 0, 0, 0},
               {0, 0, 8.75, 0, 10, 0},
               {0, 0, 8.75, 0, 10, 0},
               {0, 8.75, 0, 10, 0, 0}});
  ExpectTable(e, Find(e, "D"),
              {{0, 0, 10, 0, 5, 0},
               {0, 0, 0, 0, 0, 0},
               {0, 0, 0, 0, 0, 0},
               {0, 0, 10, 0, 5, 0},
               {0, 0, 10, 0, 5, 0},
               {10, 0, 5, 0, 0, 0}});
  ExpectTable(e, Find(e, "E"),
              {{0, 26.25, 0, 30, 0, 0},
               {0, 0, 0, 10, 0, 0},
               {30, 3.75, 3.75, 0, 0, 0},
               {0, 0, 0, 16.25, 0, 0},
               {0, 0, 0, 16.25, 0, 0},
               {0, 0, 16.25, 0, 0, 0}});

  // Pegging (FIFO): E's on-hand 30 covers C-order-0's 26.25 and 3.75 of C-order-1's 30, the
  // receipt 10 more, and E's planned order the last 16.25 of it → 16.25/30 of C's order 10@4.
  // C: on-hand 30 covers A's 20 and 10 of B's 18.75 in bucket 2, order 8.75@2 the rest of B's,
  // order 10@4 all of A-order-1's 10 → A's order 5@5, which serves SO-A2 (5).
  // So E's order makes 16.25/30 × 5 = 2.7083… of SO-A2 possible, and all of it goes there.
  auto ends = e.EndDemands(Find(e, "E"), SupplyRef{SupplyKind::kPlannedOrder, 0, 3});
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].demand.kind, DemandKind::kSalesOrder);
  EXPECT_EQ(e.snapshot().sales_orders[static_cast<std::size_t>(ends[0].demand.index)].id, "SO-A2");
  EXPECT_NEAR(ends[0].quantity, 16.25 / 30.0 * 5.0, 1e-12);
  EXPECT_NEAR(ends[0].share, 1.0, 1e-12);
  // C's first order (8.75) serves B's order 15@4 (8.75 of its 18.75 element) → SO-B1 20:
  // 15 of SO-B1 come from B's order, so 8.75/18.75 × 15 = 7.
  auto c_ends = e.EndDemands(Find(e, "C"), SupplyRef{SupplyKind::kPlannedOrder, 0, 2});
  ASSERT_EQ(c_ends.size(), 1u);
  EXPECT_EQ(e.snapshot().sales_orders[static_cast<std::size_t>(c_ends[0].demand.index)].id,
            "SO-B1");
  EXPECT_NEAR(c_ends[0].quantity, 7.0, 1e-12);
}

TEST(PlanningTextbook, PlantSupplyingDistributionCenterGetsTransferDemand) {
  // DC item X (transfer from PLANT, LT 1, OH 10); forecast 0,5,5,5,5 with SO 15 in t2 consuming
  // t2's forecast: independent demand 0,5,15,5,5.
  // DC: t0 10; t1 5; t2 −10 → 10@2 (rel 1); t3 −5 → 5@3 (rel 2); t4 5@4 (rel 3).
  // PLANT X (buy, LT 2, OH 8): transfer demand 0,10,5,5,0 → t1: −2 → 2@1 (rel −1: past due,
  // released in 0); t2: 5@2 (rel 0); t3: 5@3 (rel 1).
  auto b = Builder(5);
  b.AddSite(SiteRecord{"DC", "Distribution", SiteKind::kDistributionCenter});
  auto dc = Item("X", 1, "DC");
  dc.kind = ItemKind::kTransfer;
  dc.source_site_id = "S";
  b.AddItem(dc);
  b.AddItem(Item("X", 2, "S"));
  b.SetOnHand("X", "DC", 10);
  b.SetOnHand("X", "S", 8);
  Demand(b, "X", {0, 5, 5, 5, 5}, "DC");
  b.AddSalesOrder({"SO-1", "C1", "ECOM", 1, "X", "DC", 2, 15, 50});
  auto e = NetAll(b);
  auto x_dc = Find(e, "X", "DC");
  auto x_plant = Find(e, "X", "S");
  EXPECT_EQ(e.plan().low_level_code[static_cast<std::size_t>(x_dc.value())], 0);
  EXPECT_EQ(e.plan().low_level_code[static_cast<std::size_t>(x_plant.value())], 1);
  ExpectTable(e, x_dc,
              {{0, 5, 15, 5, 5},
               {0, 0, 0, 0, 0},
               {10, 5, 0, 0, 0},
               {0, 0, 10, 5, 5},
               {0, 0, 10, 5, 5},
               {0, 10, 5, 5, 0}});
  ExpectTable(e, x_plant,
              {{0, 10, 5, 5, 0},
               {0, 0, 0, 0, 0},
               {8, 0, 0, 0, 0},
               {0, 2, 5, 5, 0},
               {0, 2, 5, 5, 0},
               {7, 5, 0, 0, 0}});
  auto past_due = FindingsOf(e, FindingType::kPastDueRelease);
  ASSERT_EQ(past_due.size(), 1u);
  EXPECT_EQ(past_due[0].item_site, x_plant);
  EXPECT_EQ(past_due[0].bucket, 1);
  EXPECT_DOUBLE_EQ(past_due[0].quantity, 2.0);
  // The plant's order for bucket 1 serves the DC's sales order (DC order 10@2 pegs SO-1 after
  // on-hand covered the forecast of t1 and 5 of SO-1).
  auto ends = e.EndDemands(x_plant, SupplyRef{SupplyKind::kPlannedOrder, 0, 1});
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].demand.kind, DemandKind::kSalesOrder);
  EXPECT_NEAR(ends[0].quantity, 2.0, 1e-9);
}

TEST(PlanningTextbook, FrozenFenceTurnsGapsIntoShortagesAndBelowSafetyStock) {
  // OH 10, SS 6, fence 2, LT 0. GR 5,10,10,5,0,5.
  // t0: 5 < 6 → BELOW_SAFETY_STOCK 1; t1: −5 → SHORTAGE 5 (no order inside the fence);
  // t2: −15 → NR 21 → 6; t3: 1 → NR 5 → 6; t4: 6; t5: 1 → NR 5 → 6.
  auto b = Builder(6);
  auto item = Item("A", 0);
  item.safety_stock = 6;
  item.frozen_fence = 2;
  b.AddItem(item);
  b.SetOnHand("A", "S", 10);
  b.AddSalesOrder({"SO-A", "C1", "OEM", 2, "A", "S", 0, 5, 10});
  b.AddSalesOrder({"SO-B", "C2", "OEM", 1, "A", "S", 1, 10, 10});
  b.AddSalesOrder({"SO-C", "C3", "OEM", 1, "A", "S", 2, 10, 10});
  Demand(b, "A", {0, 0, 0, 5, 0, 5});
  auto e = NetAll(b);
  auto a = Find(e, "A");
  ExpectTable(e, a,
              {{5, 10, 10, 5, 0, 5},
               {0, 0, 0, 0, 0, 0},
               {5, -5, 6, 6, 6, 6},
               {0, 0, 21, 5, 0, 5},
               {0, 0, 21, 5, 0, 5},
               {0, 0, 21, 5, 0, 5}});
  auto shortages = FindingsOf(e, FindingType::kShortage);
  ASSERT_EQ(shortages.size(), 1u);
  EXPECT_EQ(shortages[0].bucket, 1);
  EXPECT_DOUBLE_EQ(shortages[0].quantity, 5.0);
  auto below = FindingsOf(e, FindingType::kBelowSafetyStock);
  ASSERT_EQ(below.size(), 1u);
  EXPECT_EQ(below[0].bucket, 0);
  EXPECT_DOUBLE_EQ(below[0].quantity, 1.0);
  // On-hand 10 serves SO-A 5 and SO-B 5; the other 5 of SO-B waits for the order in t2.
  auto hit = e.ShortageEndDemands(a, 1);
  ASSERT_EQ(hit.size(), 1u);
  EXPECT_EQ(e.snapshot().sales_orders[static_cast<std::size_t>(hit[0].demand.index)].id, "SO-B");
  EXPECT_DOUBLE_EQ(hit[0].quantity, 5.0);
}

TEST(PlanningTextbook, YieldInflatesReleaseQuantityAndComponentDemand) {
  // A: LT 1, yield 0.8; GR 0,8,0,4 → orders 8@1 (release 10 in 0), 4@3 (release 5 in 2).
  // Component K×2: GR 20,0,10,0.
  auto b = Builder(4);
  auto a = Item("A", 1);
  a.kind = ItemKind::kMake;
  a.yield = 0.8;
  b.AddItem(a);
  b.AddItem(Item("K", 0));
  b.SetBom("A", "S", {{"K", 2.0, 0.0}});
  Demand(b, "A", {0, 8, 0, 4});
  auto e = NetAll(b);
  ExpectTable(
      e, Find(e, "A"),
      {{0, 8, 0, 4}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 8, 0, 4}, {0, 8, 0, 4}, {10, 0, 5, 0}});
  ExpectTable(
      e, Find(e, "K"),
      {{20, 0, 10, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {20, 0, 10, 0}, {20, 0, 10, 0}, {20, 0, 10, 0}});
}

TEST(PlanningTextbook, MinimumMaximumMultipleCombineAsSpecified) {
  // min 30, multiple 20, max 100, LT 0; GR 10,250,45,0.
  // t0: NR 10 → max(10,30)=30 → 40; P 30.  t1: NR 220 → 220 → 2×100 + rest 20 → max(20,30)=30
  // → 40; P 20.  t2: NR 25 → 30 → 40; P 15.  t3: 15.
  auto b = Builder(4);
  auto item = Item("A", 0);
  item.lot.minimum = 30;
  item.lot.multiple = 20;
  item.lot.maximum = 100;
  b.AddItem(item);
  Demand(b, "A", {10, 250, 45, 0});
  auto e = NetAll(b);
  auto a = Find(e, "A");
  ExpectTable(e, a,
              {{10, 250, 45, 0},
               {0, 0, 0, 0},
               {30, 20, 15, 15},
               {10, 220, 25, 0},
               {40, 240, 40, 0},
               {40, 240, 40, 0}});
  EXPECT_EQ(Orders(e, a), (std::vector<std::pair<Bucket, double>>{
                              {0, 40}, {1, 100}, {1, 100}, {1, 40}, {2, 40}}));
}

TEST(PlanningTextbook, ReleaseBeforeBucketZeroIsPastDueAndReleasedNow) {
  // LT 3; GR 0,5,0,7 → 5@1 (release −2 → 0, PAST_DUE_RELEASE), 7@3 (release 0, on time).
  auto b = Builder(4);
  b.AddItem(Item("A", 3));
  Demand(b, "A", {0, 5, 0, 7});
  auto e = NetAll(b);
  auto a = Find(e, "A");
  ExpectTable(
      e, a, {{0, 5, 0, 7}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 5, 0, 7}, {0, 5, 0, 7}, {12, 0, 0, 0}});
  const auto& orders = e.plan().orders[static_cast<std::size_t>(a.value())];
  ASSERT_EQ(orders.size(), 2u);
  EXPECT_TRUE(orders[0].past_due);
  EXPECT_FALSE(orders[1].past_due);
  auto past_due = FindingsOf(e, FindingType::kPastDueRelease);
  ASSERT_EQ(past_due.size(), 1u);
  EXPECT_EQ(past_due[0].bucket, 1);
  EXPECT_DOUBLE_EQ(past_due[0].quantity, 5.0);
}

TEST(PlanningTextbook, SalesOrdersConsumeForecastBackwardThenForward) {
  // b = 1, f = 1, forecast 10 everywhere. Due 2: SO-1 (prio 1) 25 takes t2 10, t1 10, t3 5;
  // SO-2 (prio 2) 4 finds t2, t1 empty, takes 4 of t3's remaining 5. SO-3 3 in t4 takes 3.
  // Remaining forecast 10,0,0,1,7,10 → ID 10,0,29,1,10,10.
  auto b = Builder(6, 1, 1);
  b.AddItem(Item("A", 0));
  Demand(b, "A", {10, 10, 10, 10, 10, 10});
  b.AddSalesOrder({"SO-2", "C2", "OEM", 2, "A", "S", 2, 4, 1});
  b.AddSalesOrder({"SO-1", "C1", "OEM", 1, "A", "S", 2, 25, 1});
  b.AddSalesOrder({"SO-3", "C1", "OEM", 1, "A", "S", 4, 3, 1});
  auto e = NetAll(b);
  ExpectRow(e, e.plan().gross_requirements, Find(e, "A"), {10, 0, 29, 1, 10, 10}, "GR");
}

TEST(PlanningTextbook, RoughCutSpreadsLoadAndAttributesOverloadToDemands) {
  // WC1: 20 h × efficiency 0.5 = 10 h per bucket.
  // M (LT 2, setup 2, run 0.5): WO 8 due 1 (start 0) → 2+4 = 6 h in bucket 0;
  //   SO-M 28 in t4 → 8 from the WO, order 20@4 released 2 → 2+10 = 12 h over t2, t3 (6 each).
  // N (LT 0, run 0.5): SO-N 16 in t3 → order 16@3 → 8 h all in t3.
  // Load 6,0,6,14,0 → overload 4 h in t3 (first overloaded bucket 3), N 8 h, M 6 h.
  auto b = Builder(5);
  WorkCenterRecord wc;
  wc.work_center_id = "WC1";
  wc.site_id = "S";
  wc.efficiency = 0.5;
  wc.available_hours = {20, 20, 20, 20, 20};
  b.AddWorkCenter(wc);
  auto m = Item("M", 2);
  m.kind = ItemKind::kMake;
  auto n = Item("N", 0);
  n.kind = ItemKind::kMake;
  b.AddItem(m);
  b.AddItem(n);
  b.SetRouting("M", "S", {{10, "WC1", 2.0, 0.5}});
  b.SetRouting("N", "S", {{10, "WC1", 0.0, 0.5}});
  b.AddScheduledReceipt({"WO-M", ReceiptKind::kWorkOrder, "M", "S", 1, 0, 8, ""});
  b.AddSalesOrder({"SO-M", "C1", "OEM", 1, "M", "S", 4, 28, 10});
  b.AddSalesOrder({"SO-N", "C2", "OEM", 1, "N", "S", 3, 16, 10});
  auto e = NetAll(b);
  auto capacity = RoughCut(e.snapshot(), e.plan());
  WorkCenterIndex wc1(0);
  auto load = capacity.Row(capacity.load_hours, wc1);
  auto expected_load = Row{6, 0, 6, 14, 0};
  for (std::size_t t = 0; t < 5; ++t) EXPECT_NEAR(load[t], expected_load[t], 1e-9) << t;
  EXPECT_NEAR(capacity.Row(capacity.capacity_hours, wc1)[3], 10.0, 1e-12);
  EXPECT_NEAR(capacity.Row(capacity.utilization, wc1)[3], 1.4, 1e-12);
  EXPECT_NEAR(capacity.Row(capacity.overload_hours, wc1)[3], 4.0, 1e-12);
  EXPECT_EQ(capacity.first_overloaded_bucket[0], 3);
  ASSERT_EQ(capacity.overloads.size(), 1u);
  const auto& overload = capacity.overloads[0];
  ASSERT_EQ(overload.contributions.size(), 2u);
  EXPECT_EQ(overload.contributions[0].item_site, Find(e, "N"));
  EXPECT_NEAR(overload.contributions[0].hours, 8.0, 1e-12);
  EXPECT_EQ(overload.contributions[1].item_site, Find(e, "M"));
  EXPECT_NEAR(overload.contributions[1].hours, 6.0, 1e-12);
  auto demands = OverloadEndDemands(e, overload);
  ASSERT_EQ(demands.size(), 2u);
  auto so_id = [&](const OverloadDemandShare& s) {
    return e.snapshot().sales_orders[static_cast<std::size_t>(s.demand.index)].id;
  };
  EXPECT_EQ(so_id(demands[0]), "SO-N");
  EXPECT_NEAR(demands[0].hours, 8.0, 1e-12);
  EXPECT_EQ(so_id(demands[1]), "SO-M");
  EXPECT_NEAR(demands[1].hours, 6.0, 1e-12);
}

TEST(PlanningTextbook, BomCycleIsADataQualityFindingAndItsItemsAreNotNetted) {
  // P → Q → R → Q: Q and R are on a cycle; P still plans, Q and R get no orders.
  auto b = Builder(4);
  for (const char* id : {"P", "Q", "R"}) {
    auto item = Item(id, 0);
    item.kind = ItemKind::kMake;
    b.AddItem(item);
  }
  b.SetBom("P", "S", {{"Q", 1.0, 0.0}});
  b.SetBom("Q", "S", {{"R", 1.0, 0.0}});
  b.SetBom("R", "S", {{"Q", 1.0, 0.0}});
  Demand(b, "P", {0, 5, 0, 0});
  auto e = NetAll(b);
  auto cycle = FindingsOf(e, FindingType::kDataQuality);
  ASSERT_EQ(cycle.size(), 2u);
  EXPECT_NE(cycle[0].message.find("Q@S"), std::string::npos);
  EXPECT_NE(cycle[0].message.find("R@S"), std::string::npos);
  EXPECT_EQ(e.plan().low_level_code[static_cast<std::size_t>(Find(e, "Q").value())], -1);
  EXPECT_TRUE(e.plan().orders[static_cast<std::size_t>(Find(e, "Q").value())].empty());
  EXPECT_EQ(Orders(e, Find(e, "P")), (std::vector<std::pair<Bucket, double>>{{1, 5}}));
}

}  // namespace
}  // namespace sop::planning
