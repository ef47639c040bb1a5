// EndDemandCache: the memo of end demands for one read-only phase gives the same end demands,
// bit for bit, as NettingEngine::EndDemands / ShortageEndDemands asked one at a time; a
// hand-worked plant with a grandparent shared by two paths; generated plants checked against a
// plain recursive walk of the single-level pegs written here.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "sop/model/snapshot_builder.hpp"
#include "sop/planning/change.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/testing/generator.hpp"

namespace sop::planning {
namespace {

using namespace sop::model;

ItemRecord Item(std::string id) {
  ItemRecord item;
  item.item_id = std::move(id);
  item.site_id = "S";
  item.lead_time = 0;
  return item;
}

ItemSiteIndex Find(const NettingEngine& e, const std::string& item) {
  return *e.snapshot().FindItemSite(item, "S");
}

SupplyRef Order(std::int32_t ordinal) {
  return SupplyRef{SupplyKind::kPlannedOrder, ordinal, 0};
}

// Same end demand, same quantity and share bits, same order.
void ExpectIdentical(std::span<const EndDemand> a, std::span<const EndDemand> b,
                     const std::string& context) {
  ASSERT_EQ(a.size(), b.size()) << context;
  for (std::size_t k = 0; k < a.size(); ++k) {
    ASSERT_EQ(a[k].demand, b[k].demand) << context << " entry " << k;
    ASSERT_EQ(std::bit_cast<std::uint64_t>(a[k].quantity),
              std::bit_cast<std::uint64_t>(b[k].quantity))
        << context << " entry " << k << ": " << a[k].quantity << " vs " << b[k].quantity;
    ASSERT_EQ(std::bit_cast<std::uint64_t>(a[k].share), std::bit_cast<std::uint64_t>(b[k].share))
        << context << " entry " << k << ": " << a[k].share << " vs " << b[k].share;
  }
}

TEST(PlanningEndDemandCache, SharedGrandparentByHand) {
  // A (finished, LT 0, lot-for-lot): SO-1 10 due t2, SO-2 5 due t3 → orders A0 10@2, A1 5@3.
  // A = 2 B + 1 C; B = 1 D; C = 3 D. B has 5 on hand.
  // B: GR 20@2, 10@3 → on-hand 5 covers 5 of A0's element (20), order B0 15@2 the other 15,
  //    B1 10@3 all of A1's element (10).
  // C: C0 10@2 (A0's element 10), C1 5@3 (A1's element 5).
  // D: GR 15 (B0) + 30 (C0) @2 = D0 45@2; 10 (B1) + 15 (C1) @3 = D1 25@3.
  // D0 → SO-1 along two paths through A0: via B0 (15 of 45 → share 1/3) B0 is 15/20 of A0's
  //    element, A0 all of SO-1 10 → 7.5 of SO-1; via C0 (30 of 45 → 2/3) C0 is all of A0's
  //    element → 10 of SO-1. Merged: SO-1 17.5, share 1.
  // D1 → SO-2: 5 via B1 + 5 via C1 = 10, share 1.
  SnapshotBuilder b(Horizon{BucketKind::kWeek, 5, 0, 0});
  b.AddSite(SiteRecord{"S", "Plant", SiteKind::kPlant});
  for (const char* id : {"A", "B", "C", "D"}) {
    ItemRecord item = Item(id);
    if (std::string(id) != "D") item.kind = ItemKind::kMake;
    b.AddItem(item);
  }
  b.SetBom("A", "S", {{"B", 2.0, 0.0}, {"C", 1.0, 0.0}});
  b.SetBom("B", "S", {{"D", 1.0, 0.0}});
  b.SetBom("C", "S", {{"D", 3.0, 0.0}});
  b.SetOnHand("B", "S", 5);
  b.AddSalesOrder({"SO-1", "C1", "OEM", 1, "A", "S", 2, 10, 100});
  b.AddSalesOrder({"SO-2", "C2", "OEM", 1, "A", "S", 3, 5, 100});
  auto built = b.Build();
  ASSERT_TRUE(built.findings.empty()) << built.findings.front().message;
  NettingEngine engine(std::move(built.snapshot));
  engine.RunFull();

  const ItemSiteIndex d = Find(engine, "D");
  const auto& d_orders = engine.plan().orders[static_cast<std::size_t>(d.value())];
  ASSERT_EQ(d_orders.size(), 2u);
  EXPECT_DOUBLE_EQ(d_orders[0].quantity, 45.0);
  EXPECT_DOUBLE_EQ(d_orders[1].quantity, 25.0);

  EndDemandCache cache(engine);
  const auto d0_view = cache.PlannedOrderEndDemands(d, 0);
  const std::vector<EndDemand> d0(d0_view.begin(), d0_view.end());
  // D0, B0, C0 and A0 summarized: the shared A0 once.
  EXPECT_EQ(cache.orders_cached(), 4u);
  ASSERT_EQ(d0.size(), 1u);
  EXPECT_EQ(d0[0].demand.kind, DemandKind::kSalesOrder);
  EXPECT_EQ(engine.snapshot().sales_orders[static_cast<std::size_t>(d0[0].demand.index)].id,
            "SO-1");
  EXPECT_DOUBLE_EQ(d0[0].quantity, 17.5);
  EXPECT_NEAR(d0[0].share, 1.0, 1e-15);

  const auto d1 = cache.EndDemands(d, Order(1));
  EXPECT_EQ(cache.orders_cached(), 8u);  // D1, B1, C1, A1
  ASSERT_EQ(d1.size(), 1u);
  EXPECT_EQ(engine.snapshot().sales_orders[static_cast<std::size_t>(d1[0].demand.index)].id,
            "SO-2");
  EXPECT_DOUBLE_EQ(d1[0].quantity, 10.0);
  EXPECT_DOUBLE_EQ(d1[0].share, 1.0);

  // B0 alone: 15/20 of A0's element → 7.5 of SO-1, all of B0. Already summarized.
  const auto b0 = cache.EndDemands(Find(engine, "B"), Order(0));
  EXPECT_EQ(cache.orders_cached(), 8u);
  ASSERT_EQ(b0.size(), 1u);
  EXPECT_DOUBLE_EQ(b0[0].quantity, 7.5);
  EXPECT_DOUBLE_EQ(b0[0].share, 1.0);
  // B's on-hand 5: 5/20 of A0's element → 2.5 of SO-1.
  const auto on_hand = cache.EndDemands(Find(engine, "B"), SupplyRef{SupplyKind::kOnHand, -1, 0});
  ASSERT_EQ(on_hand.size(), 1u);
  EXPECT_DOUBLE_EQ(on_hand[0].quantity, 2.5);

  ExpectIdentical(d0, engine.EndDemands(d, Order(0)), "D0");
  ExpectIdentical(d1, engine.EndDemands(d, Order(1)), "D1");
  ExpectIdentical(b0, engine.EndDemands(Find(engine, "B"), Order(0)), "B0");

  // After a net change the cache is reset (it would answer for the old plan): SO-1 down to 4.
  // A0 4@2; B: GR 8@2, on-hand 5 covers 5, B0 3@2; C0 4@2; D0 = 3 + 12 = 15@2.
  // D0 → SO-1: via B0 3/8 × 4 = 1.5, via C0 4 → 5.5.
  model::SalesOrder so1 =
      engine.snapshot().sales_orders[static_cast<std::size_t>(d0[0].demand.index)];
  so1.quantity = 4;
  ASSERT_TRUE(engine.Apply(UpsertSalesOrder{so1}).has_value());
  cache.Reset(engine);
  EXPECT_EQ(cache.orders_cached(), 0u);
  const auto changed = cache.EndDemands(d, Order(0));
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_DOUBLE_EQ(changed[0].quantity, 5.5);
  EXPECT_NEAR(changed[0].share, 1.0, 1e-15);
  ExpectIdentical(changed, engine.EndDemands(d, Order(0)), "D0 after the change");
  ExpectIdentical(cache.EndDemands(d, Order(1)), engine.EndDemands(d, Order(1)),
                  "D1 after the change");

  // An order that does not exist, and a plan without pegging: nothing.
  EXPECT_TRUE(cache.EndDemands(d, Order(7)).empty());
  NettingEngine unpegged(engine.snapshot(), NettingPolicy{.pegging = false});
  unpegged.RunFull();
  EndDemandCache none(unpegged);
  EXPECT_TRUE(none.EndDemands(d, Order(0)).empty());
  EXPECT_TRUE(none.ShortageEndDemands(d, 4).empty());
}

// The definition written as a plain recursion over the single-level pegs (no memo, the
// quantities carried down the path): same end demands, same sums up to rounding.
void WalkInto(const NettingEngine& engine, const DemandRef& demand, double quantity,
              double demand_quantity, double share,
              std::map<std::tuple<int, int, int, int>, std::pair<double, double>>& out) {
  if (demand.kind != DemandKind::kDependent && demand.kind != DemandKind::kTransfer) {
    auto& entry =
        out[{static_cast<int>(demand.kind), demand.index, demand.item_site.value(), demand.bucket}];
    entry.first += quantity;
    entry.second += share;
    return;
  }
  if (demand_quantity <= 0.0) return;
  const auto& parent = demand.parent;
  const auto p = static_cast<std::size_t>(parent.item_site.value());
  const double order = engine.plan().orders[p][static_cast<std::size_t>(parent.ordinal)].quantity;
  for (const Peg& peg : engine.plan().pegs[p]) {
    if (peg.supply.kind != SupplyKind::kPlannedOrder || peg.supply.index != parent.ordinal)
      continue;
    WalkInto(engine, peg.demand, peg.quantity * quantity / demand_quantity, peg.demand_quantity,
             share * peg.quantity / order, out);
  }
}

bool Close(double a, double b) {
  return std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)});
}

TEST(PlanningEndDemandCache, GeneratedPlantsSameAsOneAtATimeAndAsThePlainWalk) {
  std::size_t orders_checked = 0;
  std::size_t multi_level = 0;
  std::size_t shortages_checked = 0;
  for (std::uint64_t seed : {3u, 11u, 29u}) {
    testing::GeneratorOptions options;
    options.seed = seed;
    options.plants = 2;
    options.distribution_centers = 1;
    options.items_per_site = 80;
    options.levels = 5;
    options.horizon = 26;
    options.sales_orders = 300;
    options.purchase_orders = 60;
    options.transfers = 20;
    auto built = testing::Generate(options);
    NettingEngine engine(std::move(built.snapshot));
    engine.RunFull();
    const Plan& plan = engine.plan();
    const std::size_t n = engine.snapshot().item_site_count();
    // One cache asked in item-site order, one in reverse: memo entries are reached from
    // different first callers.
    EndDemandCache forward(engine);
    EndDemandCache backward(engine);
    for (std::size_t r = 0; r < n; ++r) {
      const ItemSiteIndex is(static_cast<std::int32_t>(n - 1 - r));
      for (std::size_t o = 0; o < plan.orders[n - 1 - r].size(); ++o) {
        backward.EndDemands(is, Order(static_cast<std::int32_t>(o)));
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      const ItemSiteIndex is(static_cast<std::int32_t>(i));
      const std::string name = engine.snapshot().ItemSiteName(is);
      for (std::size_t o = 0; o < plan.orders[i].size(); ++o) {
        const auto ordinal = static_cast<std::int32_t>(o);
        const std::string context =
            "seed " + std::to_string(seed) + " " + name + " order " + std::to_string(o);
        const auto alone = engine.EndDemands(is, Order(ordinal));
        ExpectIdentical(alone, forward.EndDemands(is, Order(ordinal)), context + " forward");
        ExpectIdentical(alone, backward.PlannedOrderEndDemands(is, ordinal), context + " backward");
        // Against the plain walk.
        std::map<std::tuple<int, int, int, int>, std::pair<double, double>> walked;
        for (const Peg& peg : plan.pegs[i]) {
          if (peg.supply.kind != SupplyKind::kPlannedOrder || peg.supply.index != ordinal) continue;
          if (PegDemand::HasParent(peg.demand.kind)) ++multi_level;
          WalkInto(engine, peg.demand, peg.quantity, peg.demand_quantity,
                   peg.quantity / plan.orders[i][o].quantity, walked);
        }
        ASSERT_EQ(alone.size(), walked.size()) << context;
        std::size_t k = 0;
        for (const auto& [key, sums] : walked) {
          const EndDemand& end = alone[k++];
          ASSERT_EQ(key, std::make_tuple(static_cast<int>(end.demand.kind), end.demand.index,
                                         end.demand.item_site.value(), end.demand.bucket))
              << context;
          ASSERT_TRUE(Close(end.quantity, sums.first))
              << context << ": " << end.quantity << " vs " << sums.first;
          ASSERT_TRUE(Close(end.share, sums.second))
              << context << ": " << end.share << " vs " << sums.second;
        }
        ++orders_checked;
      }
      ExpectIdentical(engine.EndDemands(is, SupplyRef{SupplyKind::kOnHand, -1, 0}),
                      forward.EndDemands(is, SupplyRef{SupplyKind::kOnHand, -1, 0}),
                      name + " on hand");
      for (Bucket t = 0; t < plan.horizon; ++t) {
        if (plan.Row(plan.projected_available, is)[static_cast<std::size_t>(t)] >= 0.0) continue;
        ExpectIdentical(engine.ShortageEndDemands(is, t), forward.ShortageEndDemands(is, t),
                        name + " shortage in " + std::to_string(t));
        ++shortages_checked;
      }
    }
  }
  // The instances exercise what the memo is for: many orders, multi-level pegs, shortages.
  EXPECT_GT(orders_checked, 1000u);
  EXPECT_GT(multi_level, 1000u);
  EXPECT_GT(shortages_checked, 10u);
}

}  // namespace
}  // namespace sop::planning
