// Property tests over hundreds of seeded random instances (testing/generator): material balance,
// no avoidable negative balance, lot-size rules, pegging conservation, net change = full run,
// bad master data → findings.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "sop/planning/netting.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/planning/testing/generator.hpp"

namespace sop::planning {
namespace {

using namespace sop::model;

constexpr int kInstances = 200;

testing::GeneratorOptions Small(std::uint64_t seed) {
  testing::GeneratorOptions o;
  o.seed = seed;
  o.plants = 1 + static_cast<int>(seed % 2);
  o.distribution_centers = static_cast<int>(seed % 3);
  o.items_per_site = 12 + static_cast<int>(seed % 20);
  o.levels = 2 + static_cast<int>(seed % 4);
  o.horizon = 10 + static_cast<int>(seed % 15);
  o.sales_orders = 40;
  o.purchase_orders = 15;
  o.work_orders = 8;
  o.transfers = 6;
  o.inactive_share = seed % 5 == 0 ? 0.1 : 0.0;
  return o;
}

bool Near(double a, double b) {
  return std::abs(a - b) <= 1e-9 || std::abs(a - b) <= 1e-6 * std::max(std::abs(a), std::abs(b));
}

TEST(PlanningProperty, MaterialBalanceHoldsInEveryItemBucket) {
  for (std::uint64_t seed = 1; seed <= kInstances; ++seed) {
    auto built = testing::Generate(Small(seed));
    NettingEngine engine(std::move(built.snapshot));
    engine.RunFull();
    const auto& s = engine.snapshot();
    const auto& p = engine.plan();
    for (std::size_t c = 0; c < s.item_site_count(); ++c) {
      if (p.low_level_code[c] < 0) continue;
      ItemSiteIndex is(static_cast<std::int32_t>(c));
      auto gr = p.Row(p.gross_requirements, is), sr = p.Row(p.scheduled_receipts, is),
           pr = p.Row(p.planned_receipts, is), pab = p.Row(p.projected_available, is);
      double begin = s.item_sites[c].on_hand;
      for (std::size_t t = 0; t < gr.size(); ++t) {
        ASSERT_TRUE(Near(begin + sr[t] + pr[t] - gr[t], pab[t]))
            << "seed " << seed << " " << s.ItemSiteName(is) << " bucket " << t;
        begin = pab[t];
      }
    }
  }
}

TEST(PlanningProperty, NoBalanceBelowSafetyStockOutsideTheFrozenFence) {
  for (std::uint64_t seed = 1; seed <= kInstances; ++seed) {
    auto built = testing::Generate(Small(seed));
    NettingEngine engine(std::move(built.snapshot));
    engine.RunFull();
    const auto& s = engine.snapshot();
    const auto& p = engine.plan();
    for (std::size_t c = 0; c < s.item_site_count(); ++c) {
      const auto& item = s.item_sites[c];
      if (p.low_level_code[c] < 0 || !item.active) continue;
      auto pab = p.Row(p.projected_available, ItemSiteIndex(static_cast<std::int32_t>(c)));
      for (std::size_t t = static_cast<std::size_t>(item.frozen_fence); t < pab.size(); ++t) {
        ASSERT_GE(pab[t], item.safety_stock - 1e-6 * std::max(1.0, item.safety_stock))
            << "seed " << seed << " " << s.ItemSiteName(ItemSiteIndex(static_cast<std::int32_t>(c)))
            << " bucket " << t;
      }
    }
  }
}

TEST(PlanningProperty, EveryPlannedOrderRespectsItsLotSizeRulesAndOffsets) {
  std::size_t checked = 0;
  for (std::uint64_t seed = 1; seed <= kInstances; ++seed) {
    auto built = testing::Generate(Small(seed));
    NettingEngine engine(std::move(built.snapshot));
    engine.RunFull();
    const auto& s = engine.snapshot();
    for (std::size_t c = 0; c < s.item_site_count(); ++c) {
      const auto& item = s.item_sites[c];
      const auto& lot = item.lot;
      for (const auto& o : engine.plan().orders[c]) {
        ++checked;
        SCOPED_TRACE("seed " + std::to_string(seed) + " " + s.ItemSiteName(o.item_site));
        ASSERT_GT(o.quantity, 0.0);
        if (lot.rule == LotRule::kFixedOrderQuantity) {
          ASSERT_EQ(o.quantity, lot.fixed_quantity);
        } else {
          ASSERT_GE(o.quantity, lot.minimum - 1e-9);
          if (lot.maximum > 0.0) {
            ASSERT_LE(o.quantity, lot.maximum * (1 + 1e-9));
          }
          if (lot.multiple > 0.0) {
            double k = o.quantity / lot.multiple;
            ASSERT_NEAR(k, std::round(k), 1e-6);
          }
        }
        ASSERT_EQ(o.release_bucket, std::max(0, o.receipt_bucket - item.lead_time));
        ASSERT_EQ(o.past_due, o.receipt_bucket - item.lead_time < 0);
        ASSERT_TRUE(Near(o.release_quantity * item.yield, o.quantity));
        ASSERT_GE(o.receipt_bucket, item.active ? item.frozen_fence : s.H());
      }
    }
  }
  EXPECT_GT(checked, 1000u);
}

TEST(PlanningProperty, PeggedQuantitiesAddUpToSupplyAndDemand) {
  for (std::uint64_t seed = 1; seed <= kInstances; ++seed) {
    auto built = testing::Generate(Small(seed));
    NettingEngine engine(std::move(built.snapshot));
    engine.RunFull();
    const auto& s = engine.snapshot();
    const auto& p = engine.plan();
    ASSERT_TRUE(p.pegged);
    for (std::size_t c = 0; c < s.item_site_count(); ++c) {
      if (p.low_level_code[c] < 0) continue;
      ItemSiteIndex is(static_cast<std::int32_t>(c));
      SCOPED_TRACE("seed " + std::to_string(seed) + " " + s.ItemSiteName(is));
      // Demand side: pegs + uncovered = gross requirements (+ a negative opening balance).
      double total_gross = 0.0;
      for (double g : p.Row(p.gross_requirements, is)) total_gross += g;
      double demand = std::max(0.0, -s.item_sites[c].on_hand) + total_gross;
      double pegged = 0.0, uncovered = 0.0;
      for (const auto& peg : p.pegs[c]) pegged += peg.quantity;
      for (const auto& u : p.uncovered[c]) uncovered += u.quantity;
      ASSERT_TRUE(Near(pegged + uncovered, demand))
          << pegged << " + " << uncovered << " vs " << demand;
      // Supply side: no supply element is pegged beyond its quantity; all supply is pegged
      // before any demand stays uncovered.
      double supply = std::max(0.0, s.item_sites[c].on_hand);
      for (double r : p.Row(p.scheduled_receipts, is)) supply += r;
      std::vector<double> to_order(p.orders[c].size(), 0.0);
      for (const auto& peg : p.pegs[c]) {
        if (peg.supply.kind == SupplyKind::kPlannedOrder) {
          to_order[static_cast<std::size_t>(peg.supply.index)] += peg.quantity;
        }
      }
      for (std::size_t o = 0; o < p.orders[c].size(); ++o) {
        supply += p.orders[c][o].quantity;
        ASSERT_LE(to_order[o], p.orders[c][o].quantity * (1 + 1e-9) + 1e-9);
      }
      ASSERT_TRUE(Near(pegged, std::min(supply, demand)))
          << pegged << " vs min(" << supply << ", " << demand << ")";
      // End-demand shares of a planned order never exceed the whole order (a multi-level walk
      // per order: checked on the first 60 instances to keep the sanitizer run short).
      for (std::size_t o = 0; seed <= 60 && o < p.orders[c].size(); ++o) {
        double share = 0.0;
        for (const auto& end : engine.EndDemands(
                 is, SupplyRef{SupplyKind::kPlannedOrder, static_cast<std::int32_t>(o), 0})) {
          ASSERT_TRUE(end.demand.kind == DemandKind::kSalesOrder ||
                      end.demand.kind == DemandKind::kForecast ||
                      end.demand.kind == DemandKind::kNegativeOnHand);
          share += end.share;
        }
        ASSERT_LE(share, 1.0 + 1e-9);
      }
    }
  }
}

void ExpectSamePlan(const Plan& a, const Plan& b, const std::string& context) {
  ASSERT_EQ(a.low_level_code, b.low_level_code) << context;
  for (auto member :
       {&Plan::gross_requirements, &Plan::scheduled_receipts, &Plan::projected_available,
        &Plan::net_requirements, &Plan::planned_receipts, &Plan::planned_releases}) {
    const auto& x = a.*member;
    const auto& y = b.*member;
    ASSERT_EQ(x.size(), y.size()) << context;
    for (std::size_t i = 0; i < x.size(); ++i)
      ASSERT_TRUE(Near(x[i], y[i])) << context << " cell " << i;
  }
  ASSERT_EQ(a.orders, b.orders) << context;
  ASSERT_EQ(a.pegs, b.pegs) << context;
  ASSERT_EQ(a.uncovered, b.uncovered) << context;
  auto fa = a.AllFindings(), fb = b.AllFindings();
  ASSERT_EQ(fa.size(), fb.size()) << context;
  for (std::size_t i = 0; i < fa.size(); ++i) {
    ASSERT_EQ(fa[i].type, fb[i].type) << context;
    ASSERT_EQ(fa[i].item_site, fb[i].item_site) << context;
    ASSERT_EQ(fa[i].bucket, fb[i].bucket) << context;
    ASSERT_TRUE(Near(fa[i].quantity, fb[i].quantity)) << context;
  }
}

// A random valid change of one of the eight kinds.
Change RandomChange(const Snapshot& s, std::mt19937_64& rng, int& kind_out) {
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  auto real = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  const auto n = s.item_site_count();
  const auto H = s.H();
  ItemSiteIndex item(static_cast<std::int32_t>(pick(n)));
  int kind = static_cast<int>(pick(8));
  kind_out = kind;
  switch (kind) {
    case 0: {
      SalesOrder so;
      if (!s.sales_orders.empty() && pick(2) == 0)
        so = s.sales_orders[pick(s.sales_orders.size())];
      else
        so.id = "NEW-" + std::to_string(pick(1'000'000));
      so.item_site = item;
      so.due_bucket = static_cast<Bucket>(pick(static_cast<std::size_t>(H)));
      so.quantity = 0.5 * static_cast<double>(pick(80));
      so.priority = static_cast<std::int32_t>(pick(4));
      return UpsertSalesOrder{so};
    }
    case 1:
      if (!s.sales_orders.empty())
        return CancelSalesOrder{s.sales_orders[pick(s.sales_orders.size())].id};
      return SetOnHand{item, 3.0};
    case 2:
      return SetForecast{item, static_cast<Bucket>(pick(static_cast<std::size_t>(H))),
                         0.5 * static_cast<double>(pick(60))};
    case 3:
      return SetOnHand{item, 0.5 * static_cast<double>(pick(200)) - 10.0};
    case 4: {
      ScheduledReceipt r;
      if (!s.receipts.empty() && pick(2) == 0)
        r = s.receipts[pick(s.receipts.size())];
      else
        r.id = "NEW-R-" + std::to_string(pick(1'000'000));
      r.item_site = item;
      r.due_bucket = static_cast<Bucket>(pick(static_cast<std::size_t>(H)));
      r.start_bucket = std::max(0, r.due_bucket - 2);
      r.quantity = 0.5 * static_cast<double>(pick(100));
      return UpsertReceipt{r};
    }
    case 5:
      if (!s.receipts.empty()) return CloseReceipt{s.receipts[pick(s.receipts.size())].id};
      return SetOnHand{item, 1.0};
    case 6: {
      ItemSite p = s.item_sites[item.value()];
      p.lead_time = static_cast<std::int32_t>(pick(4));
      p.safety_stock = 0.5 * static_cast<double>(pick(20));
      p.frozen_fence = static_cast<std::int32_t>(pick(3));
      p.yield = pick(3) == 0 ? 0.9 : 1.0;
      p.active = pick(10) != 0;
      p.lot = LotPolicy{};
      switch (pick(3)) {
        case 0:
          break;
        case 1:
          p.lot.rule = LotRule::kFixedOrderQuantity;
          p.lot.fixed_quantity = 5.0 * static_cast<double>(1 + pick(10));
          break;
        default:
          p.lot.rule = LotRule::kPeriodsOfSupply;
          p.lot.periods_of_supply = static_cast<std::int32_t>(1 + pick(3));
          p.lot.minimum = 5.0 * static_cast<double>(pick(4));
          p.lot.multiple = 5.0 * static_cast<double>(pick(3));
          if (p.lot.multiple > 0.0)
            p.lot.maximum = p.lot.multiple * static_cast<double>(4 + pick(6));
      }
      if (p.kind == ItemKind::kTransfer && pick(4) == 0) p.kind = ItemKind::kBuy;
      return SetItemParameters{item, p};
    }
    default: {
      std::vector<BomLine> lines;
      const auto site = s.item_sites[item.value()].site;
      for (int k = 0, count = static_cast<int>(pick(3)); k < count; ++k) {
        ItemSiteIndex c(static_cast<std::int32_t>(pick(n)));
        if (s.item_sites[c.value()].site != site) continue;
        // Mostly downward edges (higher index at a plant is often deeper); cycles happen too.
        lines.push_back(BomLine{c, 0.5 * static_cast<double>(1 + pick(4)),
                                pick(4) == 0 ? 0.05 : 0.0, kBeginningOfTime, kEndOfTime});
      }
      (void)real;
      return SetBom{item, lines};
    }
  }
}

TEST(PlanningProperty, NetChangeEqualsAFullRunAfterRandomSingleEvents) {
  int kinds_seen[8] = {};
  for (std::uint64_t seed = 1; seed <= kInstances; ++seed) {
    auto built = testing::Generate(Small(seed));
    NettingEngine engine(std::move(built.snapshot));
    engine.RunFull();
    std::mt19937_64 rng(seed * 7919);
    for (int step = 0; step < 6; ++step) {
      int kind = -1;
      auto change = RandomChange(engine.snapshot(), rng, kind);
      auto touched = engine.Apply(change);
      ASSERT_TRUE(touched.has_value()) << touched.error().ToString();
      ++kinds_seen[kind];
      ASSERT_TRUE(CheckSnapshot(engine.snapshot()).has_value());
      NettingEngine full(engine.snapshot());
      full.RunFull();
      ExpectSamePlan(engine.plan(), full.plan(),
                     "seed " + std::to_string(seed) + " step " + std::to_string(step) + " kind " +
                         std::to_string(kind));
    }
  }
  for (int k = 0; k < 8; ++k) EXPECT_GT(kinds_seen[k], 20) << "change kind " << k;
}

TEST(PlanningProperty, ABatchOfChangesEqualsAFullRunAndAnInvalidBatchChangesNothing) {
  for (std::uint64_t seed = 1; seed <= kInstances / 4; ++seed) {
    auto built = testing::Generate(Small(seed));
    NettingEngine engine(std::move(built.snapshot));
    engine.RunFull();
    std::mt19937_64 rng(seed * 104729);
    for (int step = 0; step < 3; ++step) {
      std::vector<Change> batch;
      for (int k = 0; k < 5; ++k) {
        int kind = -1;
        batch.push_back(RandomChange(engine.snapshot(), rng, kind));
      }
      auto touched = engine.ApplyAll(batch);
      ASSERT_TRUE(touched.has_value()) << touched.error().ToString();
      NettingEngine full(engine.snapshot());
      full.RunFull();
      ExpectSamePlan(engine.plan(), full.plan(),
                     "seed " + std::to_string(seed) + " batch " + std::to_string(step));
    }
    // The last change is invalid: the valid first one must not be applied either.
    const Plan before = engine.plan();
    const auto on_hand = engine.snapshot().item_sites[0].on_hand;
    std::vector<Change> bad{SetOnHand{ItemSiteIndex(0), on_hand + 50.0},
                            SetForecast{ItemSiteIndex(0), 1, -3.0}};
    auto rejected = engine.ApplyAll(bad);
    ASSERT_FALSE(rejected.has_value());
    EXPECT_NE(rejected.error().message().find("forecast.quantity"), std::string::npos)
        << rejected.error().ToString();
    EXPECT_EQ(engine.snapshot().item_sites[0].on_hand, on_hand);
    ExpectSamePlan(engine.plan(), before, "after the rejected batch");
  }
}

TEST(PlanningProperty, NetChangeTouchesOnlyTheItemAndWhatItFeeds) {
  auto built = testing::Generate(Small(3));
  NettingEngine engine(std::move(built.snapshot));
  engine.RunFull();
  const auto& s = engine.snapshot();
  // A finished good at a plant (level 0, no consumers): a sales-order change re-plans a subset.
  ItemSiteIndex fg = s.sales_orders.front().item_site;
  SalesOrder so = s.sales_orders.front();
  so.quantity += 1000.0;
  auto touched = engine.Apply(UpsertSalesOrder{so});
  ASSERT_TRUE(touched.has_value());
  ASSERT_FALSE(touched->empty());
  EXPECT_EQ(touched->front(), fg);
  EXPECT_LT(touched->size(), s.item_site_count());
}

TEST(PlanningProperty, InvalidChangesAreRejectedAndLeaveThePlanUnchanged) {
  auto built = testing::Generate(Small(5));
  NettingEngine engine(std::move(built.snapshot));
  engine.RunFull();
  auto before = engine.plan().orders;
  auto bad_item = engine.Apply(SetOnHand{ItemSiteIndex(1'000'000), 5.0});
  ASSERT_FALSE(bad_item.has_value());
  EXPECT_EQ(bad_item.error().code(), Errc::kInvalidArgument);
  auto unknown = engine.Apply(CancelSalesOrder{"NO-SUCH-ORDER"});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), Errc::kNotFound);
  auto negative = engine.Apply(SetForecast{ItemSiteIndex(0), 1, -3.0});
  ASSERT_FALSE(negative.has_value());
  EXPECT_NE(negative.error().message().find("forecast.quantity"), std::string::npos);
  ItemSite p = engine.snapshot().item_sites[0];
  p.yield = 1.5;
  EXPECT_FALSE(engine.Apply(SetItemParameters{ItemSiteIndex(0), p}).has_value());
  EXPECT_EQ(engine.plan().orders, before);
}

TEST(PlanningProperty, BadMasterDataGivesFindingsNeverUndefinedBehaviour) {
  for (std::uint64_t seed = 1; seed <= 100; ++seed) {
    auto options = Small(seed);
    options.bad_data = true;
    auto built = testing::Generate(options);
    auto has = [&](const std::string& field) {
      return std::any_of(built.findings.begin(), built.findings.end(),
                         [&](const Finding& f) { return f.field == field; });
    };
    ASSERT_TRUE(has("component_item_id")) << seed;
    ASSERT_TRUE(has("lead_time")) << seed;
    ASSERT_TRUE(has("site_id")) << seed;
    ASSERT_TRUE(has("source_site_id")) << seed;
    auto valid = CheckSnapshot(built.snapshot);
    ASSERT_TRUE(valid.has_value()) << seed << ": " << valid.error().ToString();
    NettingEngine engine(std::move(built.snapshot));
    engine.RunFull();
    auto capacity = RoughCut(engine.snapshot(), engine.plan());
    (void)capacity;
    bool cycle = false;
    for (const auto& f : engine.plan().global_findings) {
      if (f.type == FindingType::kDataQuality && f.field == "bom") cycle = true;
    }
    // The self-referencing BOM line the generator injects is always a cycle.
    ASSERT_TRUE(cycle) << seed;
  }
}

TEST(PlanningProperty, RoughCutLoadEqualsRoutingHoursOfAllLoadingOrders) {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    auto built = testing::Generate(Small(seed));
    NettingEngine engine(std::move(built.snapshot));
    engine.RunFull();
    const auto& s = engine.snapshot();
    auto capacity = RoughCut(s, engine.plan());
    double expected = 0.0;
    for (std::size_t c = 0; c < s.item_site_count(); ++c) {
      if (s.item_sites[c].kind != ItemKind::kMake) continue;
      for (const auto& step : s.Routing(ItemSiteIndex(static_cast<std::int32_t>(c)))) {
        for (const auto& o : engine.plan().orders[c])
          expected += step.setup_hours + step.run_hours_per_unit * o.release_quantity;
      }
    }
    for (const auto& r : s.receipts) {
      if (r.kind != ReceiptKind::kWorkOrder || r.quantity <= 0.0) continue;
      if (s.item_sites[static_cast<std::size_t>(r.item_site.value())].kind != ItemKind::kMake)
        continue;
      for (const auto& step : s.Routing(r.item_site))
        expected += step.setup_hours + step.run_hours_per_unit * r.quantity;
    }
    double total = 0.0;
    for (double h : capacity.load_hours) total += h;
    ASSERT_TRUE(Near(total, expected)) << seed;
    for (const auto& overload : capacity.overloads) {
      double contributed = 0.0;
      for (const auto& c : overload.contributions) contributed += c.hours;
      ASSERT_TRUE(Near(contributed, overload.load_hours)) << seed;
    }
  }
}

}  // namespace
}  // namespace sop::planning
