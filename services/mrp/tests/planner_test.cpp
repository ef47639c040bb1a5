// Hermetic tests of MrpPlanner: generated S-scale facts fed straight into the planner (no
// broker, no Redis), compared with what libs/codec + libs/planning compute on the same events.

#include "sop/mrp/planner.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "mrp_test_support.hpp"

namespace sop::mrp {
namespace {

using namespace sop::mrp::testing;

class MrpPlannerTest : public ::testing::Test {
 protected:
  void LoadAll(MrpPlanner& planner) {
    std::int64_t sequence = 0;
    for (const auto& e : Events()) {
      auto applied = planner.ApplyFact(KeyOf(e), FactBytes(e, sequence++));
      ASSERT_TRUE(applied.has_value()) << applied.error().ToString();
      ASSERT_TRUE(*applied);
    }
  }

  // A sales-order envelope of a finished good with an open quantity.
  const sop::v1::Envelope& SomeSalesOrder() {
    for (const auto& e : Events()) {
      if (e.has_sales_order() && e.sales_order().quantity() > 0) return e;
    }
    throw std::runtime_error("no sales order generated");
  }
};

TEST_F(MrpPlannerTest, FedFactsPlanLikeTheCoreLibrariesDirectly) {
  MrpPlanner planner;
  LoadAll(planner);
  auto deltas = planner.Flush();
  ASSERT_NE(planner.engine(), nullptr);
  auto expected = Direct(Events());
  EXPECT_EQ(Mismatches(*planner.engine(), *expected), 0);
  EXPECT_EQ(planner.engine()->plan().PlannedOrderCount(), expected->plan().PlannedOrderCount());
  EXPECT_GT(expected->plan().PlannedOrderCount(), 1000u);

  // The published full run covers every item-site exactly once, in deltas of ≤ 100 records.
  std::size_t records = 0;
  for (const auto& delta : deltas) {
    EXPECT_TRUE(delta.full());
    EXPECT_LE(delta.item_sites_size(), 100);
    EXPECT_EQ(delta.horizon(), 78);
    for (const auto& record : delta.item_sites()) EXPECT_EQ(record.site_id(), delta.site_id());
    records += static_cast<std::size_t>(delta.item_sites_size());
  }
  EXPECT_EQ(records, expected->snapshot().item_site_count());
}

TEST_F(MrpPlannerTest, ChangedSalesOrderReplansByNetChangeAndMatchesAFullRun) {
  MrpPlanner planner;
  LoadAll(planner);
  planner.Flush();
  const auto version = planner.plan_version();

  sop::v1::Envelope changed = SomeSalesOrder();
  changed.set_event_id("test:so-change:1");
  changed.mutable_sales_order()->set_quantity(changed.sales_order().quantity() + 250.0);
  auto applied = planner.ApplyFact(KeyOf(changed), FactBytes(changed, 1'000'000));
  ASSERT_TRUE(applied.has_value());
  EXPECT_FALSE(planner.rebuild_pending());    // net change, not a rebuild
  EXPECT_TRUE(planner.net_change_pending());  // staged until the batch is committed
  EXPECT_EQ(planner.plan_version(), version);

  auto deltas = planner.Flush();
  EXPECT_FALSE(planner.net_change_pending());
  EXPECT_EQ(planner.plan_version(), version + 1);
  ASSERT_FALSE(deltas.empty());
  bool found_item = false;
  for (const auto& delta : deltas) {
    EXPECT_FALSE(delta.full());
    EXPECT_EQ(delta.cause().event_id(), "test:so-change:1");
    EXPECT_EQ(delta.cause().ingested_at().seconds(), 1'800'000'000 + 1'000'000);
    for (const auto& record : delta.item_sites()) {
      if (record.item_id() == changed.sales_order().item_id() &&
          record.site_id() == changed.sales_order().site_id()) {
        found_item = true;
      }
    }
  }
  EXPECT_TRUE(found_item);

  auto events = Events();
  events.push_back(changed);
  auto expected = Direct(events);
  EXPECT_EQ(Mismatches(*planner.engine(), *expected), 0);
  EXPECT_EQ(planner.engine()->plan().PlannedOrderCount(), expected->plan().PlannedOrderCount());
}

// `count` distinct open sales-order lines of the instance, quantity + 10 × (k + 1), new ids.
std::vector<sop::v1::Envelope> ChangedOrders(std::size_t count) {
  std::vector<sop::v1::Envelope> out;
  std::set<std::string> lines;
  for (const auto& e : Events()) {
    if (!e.has_sales_order() || e.sales_order().quantity() <= 0) continue;
    const std::string line =
        e.sales_order().order_id() + ":" + std::to_string(e.sales_order().line());
    if (!lines.insert(line).second) continue;
    sop::v1::Envelope changed = e;
    changed.set_event_id("test:batch:" + std::to_string(out.size()));
    changed.mutable_sales_order()->set_quantity(e.sales_order().quantity() +
                                                10.0 * static_cast<double>(out.size() + 1));
    out.push_back(std::move(changed));
    if (out.size() == count) break;
  }
  return out;
}

TEST_F(MrpPlannerTest, ABatchOfFactsIsOneNetChangeWithOneVersionAndEveryEventInTheCause) {
  MrpPlanner planner;
  LoadAll(planner);
  planner.Flush();
  const auto version = planner.plan_version();
  const auto changes = ChangedOrders(8);
  ASSERT_EQ(changes.size(), 8u);
  for (std::size_t k = 0; k < changes.size(); ++k) {
    ASSERT_TRUE(
        planner.ApplyFact(KeyOf(changes[k]), FactBytes(changes[k], 3'000'000 + k)).has_value());
  }
  EXPECT_TRUE(planner.net_change_pending());
  auto deltas = planner.CommitNetChange();
  ASSERT_FALSE(deltas.empty());
  EXPECT_EQ(planner.plan_version(), version + 1);
  EXPECT_EQ(planner.stats().net_change_commits, 1);
  std::set<std::pair<std::string, std::string>> published;
  for (const auto& delta : deltas) {
    EXPECT_FALSE(delta.full());
    EXPECT_EQ(delta.plan_version(), version + 1);
    EXPECT_EQ(delta.cause().event_id(), "test:batch:0");
    EXPECT_EQ(delta.cause().event_count(), 8);
    ASSERT_EQ(delta.cause().event_ids_size(), 8);
    for (int k = 0; k < 8; ++k)
      EXPECT_EQ(delta.cause().event_ids(k), "test:batch:" + std::to_string(k));
    EXPECT_EQ(delta.cause().ingested_at().seconds(), 1'800'000'000 + 3'000'000);
    EXPECT_NE(delta.cause().description().find("(+7 more events)"), std::string::npos);
    for (const auto& record : delta.item_sites()) {
      EXPECT_TRUE(published.emplace(record.item_id(), record.site_id()).second)
          << record.item_id() << "@" << record.site_id() << " published twice in one step";
    }
  }
  for (const auto& e : changes) {
    EXPECT_TRUE(published.contains({e.sales_order().item_id(), e.sales_order().site_id()}))
        << e.event_id();
  }
  auto events = Events();
  events.insert(events.end(), changes.begin(), changes.end());
  EXPECT_EQ(Mismatches(*planner.engine(), *Direct(events)), 0);
  EXPECT_TRUE(planner.CommitNetChange().empty());  // nothing staged any more
}

TEST_F(MrpPlannerTest, UnchangedRecordsAreLeftOutOfNetChangeDeltas) {
  for (const bool skip : {true, false}) {
    MrpPlanner planner(PlannerOptions{.skip_unchanged_records = skip});
    LoadAll(planner);
    planner.Flush();
    // +10 units, then back to the generated quantity within one batch: the plan ends where it
    // was, so every re-netted record equals the one published by the full run.
    const sop::v1::Envelope up = ChangedOrders(1).front();
    sop::v1::Envelope back = up;
    back.set_event_id("test:batch:back");
    back.mutable_sales_order()->set_quantity(up.sales_order().quantity() - 10.0);
    ASSERT_TRUE(planner.ApplyFact(KeyOf(up), FactBytes(up, 4'000'000)).has_value());
    ASSERT_TRUE(planner.ApplyFact(KeyOf(back), FactBytes(back, 4'000'001)).has_value());
    auto deltas = planner.CommitNetChange();
    const PlannerStats stats = planner.stats();
    std::size_t records = 0;
    for (const auto& delta : deltas) records += static_cast<std::size_t>(delta.item_sites_size());
    if (skip) {
      EXPECT_TRUE(deltas.empty());
      EXPECT_GE(stats.records_unchanged, 1);
    } else {
      EXPECT_GE(records, 1u);  // at least the order's own item-site, unchanged, re-published
      EXPECT_EQ(stats.records_unchanged, 0);
    }
    // A real change after it is published (only the records that moved).
    sop::v1::Envelope again = back;
    again.set_event_id("test:batch:again");
    again.mutable_sales_order()->set_quantity(back.sales_order().quantity() + 500.0);
    ASSERT_TRUE(planner.ApplyFact(KeyOf(again), FactBytes(again, 4'000'002)).has_value());
    deltas = planner.CommitNetChange();
    bool found = false;
    for (const auto& delta : deltas) {
      EXPECT_EQ(delta.cause().event_id(), "test:batch:again");
      EXPECT_EQ(delta.cause().event_count(), 1);
      for (const auto& record : delta.item_sites()) {
        found = found || (record.item_id() == again.sales_order().item_id() &&
                          record.site_id() == again.sales_order().site_id());
      }
    }
    EXPECT_TRUE(found) << "skip " << skip;
  }
}

TEST_F(MrpPlannerTest, RedeliveredFactChangesNothing) {
  MrpPlanner planner;
  LoadAll(planner);
  planner.Flush();
  const auto version = planner.plan_version();
  const auto& e = SomeSalesOrder();
  auto again = planner.ApplyFact(KeyOf(e), FactBytes(e, 0));
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
  EXPECT_EQ(planner.plan_version(), version);
  EXPECT_TRUE(planner.Flush().empty());
  EXPECT_EQ(planner.stats().duplicates, 1);
  EXPECT_EQ(planner.stats().facts_applied, static_cast<std::int64_t>(Events().size()));
}

TEST_F(MrpPlannerTest, SnapshotRoundTripRestoresTheSamePlan) {
  MrpPlanner planner;
  LoadAll(planner);
  planner.Flush();
  auto dirty = planner.TakeDirtyPartitions();
  ASSERT_FALSE(dirty.empty());

  MrpPlanner restored;
  for (const auto& key : dirty) {
    ASSERT_TRUE(restored.RestorePartition(key, planner.SerializePartition(key)).has_value());
  }
  restored.Flush();
  ASSERT_NE(restored.engine(), nullptr);
  EXPECT_EQ(Mismatches(*restored.engine(), *planner.engine()), 0);
  EXPECT_EQ(restored.stats().facts_applied, static_cast<std::int64_t>(Events().size()));
  // The restored event ids are known: a re-delivery is skipped.
  const auto& e = SomeSalesOrder();
  auto again = restored.ApplyFact(KeyOf(e), FactBytes(e, 0));
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);

  EXPECT_EQ(restored.RestorePartition({"sop.facts.v1", 0}, "garbage").error().code(),
            Errc::kDataLoss);
}

TEST_F(MrpPlannerTest, QueriesRejectBadArgumentsAndUnknownItems) {
  MrpPlanner empty;
  EXPECT_EQ(empty.GetPlan("X", "Y").error().code(), Errc::kFailedPrecondition);

  MrpPlanner planner;
  LoadAll(planner);
  planner.Flush();
  EXPECT_EQ(planner.GetPlan("NO-SUCH-ITEM", "NO-SITE").error().code(), Errc::kNotFound);
  EXPECT_EQ(planner.GetPlan("", "x").error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(planner.GetPlan("x", "").error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(planner.GetSupplyPlan("NO-SITE", "").error().code(), Errc::kNotFound);
  EXPECT_EQ(planner.ApplyFact({"sop.facts.v1", 0}, "\xff\xff").error().code(),
            Errc::kInvalidArgument);

  const auto& snapshot = planner.engine()->snapshot();
  const auto& is = snapshot.item_sites[0];
  const auto& site = snapshot.sites[static_cast<std::size_t>(is.site.value())].id;
  auto plan = planner.GetPlan(is.item_id, site);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->gross_requirements_size(), 78);
  EXPECT_EQ(plan->projected_available_size(), 78);
  EXPECT_EQ(static_cast<std::size_t>(plan->planned_orders_size()),
            planner.engine()->plan().orders[0].size());
}

TEST_F(MrpPlannerTest, SupplyPlanCountsEachShortageWhereItAppears) {
  MrpPlanner planner;
  LoadAll(planner);
  planner.Flush();
  auto gaps = planner.GetSupplyPlan("", "");
  ASSERT_TRUE(gaps.has_value());

  // Independently: the sum over item-sites of every increase of max(0, -projected available).
  const auto& plan = planner.engine()->plan();
  double expected_shortage = 0.0;
  for (std::size_t i = 0; i < plan.item_site_count; ++i) {
    auto row =
        plan.Row(plan.projected_available, model::ItemSiteIndex(static_cast<std::int32_t>(i)));
    double previous = 0.0;
    for (double v : row) {
      const double now = std::max(0.0, -v);
      if (now - previous > 1e-9) expected_shortage += now - previous;
      previous = now;
    }
  }
  double reported = 0.0;
  double revenue = 0.0;
  for (const auto& gap : *gaps) {
    reported += gap.shortage_quantity();
    revenue += gap.revenue_at_risk();
    EXPECT_GT(gap.items_size(), 0);
    EXPECT_GE(gap.revenue_at_risk(), 0.0);
  }
  EXPECT_NEAR(reported, expected_shortage, 1e-6 * std::max(1.0, expected_shortage));
  EXPECT_GT(gaps->size(), 0u);  // the generator puts 5 % of item-sites out of stock
  EXPECT_GT(revenue, 0.0);

  // The family filter keeps only that family.
  // (Components carry no family; an empty filter means every family.)
  std::string family;
  for (const auto& gap : *gaps) {
    if (!gap.family().empty()) family = gap.family();
  }
  ASSERT_FALSE(family.empty());
  auto filtered = planner.GetSupplyPlan("", family);
  ASSERT_TRUE(filtered.has_value());
  ASSERT_FALSE(filtered->empty());
  for (const auto& gap : *filtered) EXPECT_EQ(gap.family(), family);
}

TEST_F(MrpPlannerTest, ConsensusForecastReplacesTheFactForecastAndSurvivesARebuild) {
  MrpPlanner planner;
  LoadAll(planner);
  planner.Flush();
  const auto& snapshot = planner.engine()->snapshot();
  const model::ItemSite is = snapshot.item_sites[0];  // a copy: Replan replaces the snapshot
  const std::string site = snapshot.sites[static_cast<std::size_t>(is.site.value())].id;

  sop::v1::ForecastUpdate update;
  update.set_item_id(is.item_id);
  update.set_site_id(site);
  auto* period = update.add_periods();
  period->set_bucket(5);
  period->set_statistical(10.0);
  period->set_consensus(1234.0);
  update.mutable_cause()->set_event_id("test:forecast:1");
  ASSERT_TRUE(
      planner.ApplyForecast({"sop.forecast.v1", 0}, update.SerializeAsString()).has_value());
  EXPECT_FALSE(planner.rebuild_pending());
  EXPECT_DOUBLE_EQ(planner.engine()->snapshot().Forecast(model::ItemSiteIndex(0))[5], 1234.0);
  auto deltas = planner.Flush();
  ASSERT_FALSE(deltas.empty());
  EXPECT_EQ(deltas.front().cause().event_id(), "test:forecast:1");

  ASSERT_TRUE(planner.Replan("", {}, nullptr).has_value());
  auto again = planner.engine()->snapshot().FindItemSite(is.item_id, site);
  ASSERT_TRUE(again.has_value());
  EXPECT_DOUBLE_EQ(planner.engine()->snapshot().Forecast(*again)[5], 1234.0);
}

TEST_F(MrpPlannerTest, MasterDataChangeRebuildsAndPublishesOnlyTheRecordsThatChanged) {
  MrpPlanner planner;
  LoadAll(planner);
  planner.Flush();
  const auto item_sites = planner.engine()->snapshot().item_site_count();

  // Raise the safety stock of one finished good: a full rebuild, but the delta names only the
  // item-sites whose records moved (the item and what it pulls from), not the whole plan.
  sop::v1::Envelope changed;
  for (const auto& e : Events()) {
    if (e.has_item() && e.item().type() == sop::v1::ITEM_TYPE_MAKE) {
      changed = e;
      break;
    }
  }
  ASSERT_TRUE(changed.has_item());
  changed.set_event_id("test:item-change:1");
  changed.mutable_item()->set_safety_stock(changed.item().safety_stock() + 500.0);
  ASSERT_TRUE(planner.ApplyFact(KeyOf(changed), FactBytes(changed, 2'000'000)).has_value());
  EXPECT_TRUE(planner.rebuild_pending());
  auto deltas = planner.Flush();
  ASSERT_FALSE(deltas.empty());
  std::size_t records = 0;
  bool found = false;
  for (const auto& delta : deltas) {
    EXPECT_FALSE(delta.full());
    EXPECT_EQ(delta.cause().event_id(), "test:item-change:1");
    records += static_cast<std::size_t>(delta.item_sites_size());
    for (const auto& record : delta.item_sites()) {
      if (record.item_id() == changed.item().item_id() &&
          record.site_id() == changed.item().site_id()) {
        found = true;
        EXPECT_DOUBLE_EQ(record.safety_stock(), changed.item().safety_stock());
      }
    }
  }
  EXPECT_TRUE(found);
  EXPECT_LT(records, item_sites / 10);

  auto events = Events();
  events.push_back(changed);
  EXPECT_EQ(Mismatches(*planner.engine(), *Direct(events)), 0);
}

TEST_F(MrpPlannerTest, CappedPeggingKeepsTheLargestEndDemandsAndTheExactRevenueTotal) {
  PlannerOptions options;
  options.max_pegs_per_order = 3;
  MrpPlanner planner(options);
  LoadAll(planner);
  planner.Flush();
  const planning::NettingEngine& engine = *planner.engine();
  const auto& snapshot = engine.snapshot();
  int capped_orders = 0;
  for (std::size_t i = 0; i < snapshot.item_site_count() && capped_orders < 20; ++i) {
    const model::ItemSiteIndex item_site(static_cast<std::int32_t>(i));
    const auto& orders = engine.plan().orders[i];
    for (std::size_t k = 0; k < orders.size(); ++k) {
      const auto ends =
          engine.EndDemands(item_site, {planning::SupplyKind::kPlannedOrder,
                                        static_cast<std::int32_t>(k), orders[k].receipt_bucket});
      if (ends.size() <= 3) continue;
      auto record = planner.GetPlan(
          snapshot.item_sites[i].item_id,
          snapshot.sites[static_cast<std::size_t>(snapshot.item_sites[i].site.value())].id);
      ASSERT_TRUE(record.has_value());
      const auto& pegging = record->planned_orders(static_cast<int>(k)).pegging();
      ASSERT_EQ(pegging.size(), 3);
      EXPECT_EQ(pegging[2].kind(), sop::v1::END_DEMAND_KIND_UNSPECIFIED);  // the remainder
      EXPECT_GE(pegging[0].revenue(), pegging[1].revenue());
      double total_quantity = 0.0;
      double total_revenue = 0.0;
      double largest_revenue = 0.0;
      for (const auto& end : ends) {
        total_quantity += end.quantity;
        double revenue = 0.0;
        if (end.demand.kind == planning::DemandKind::kSalesOrder) {
          revenue = end.quantity *
                    snapshot.sales_orders[static_cast<std::size_t>(end.demand.index)].unit_price;
        } else if (end.demand.kind == planning::DemandKind::kForecast) {
          revenue = end.quantity *
                    snapshot.item_sites[static_cast<std::size_t>(end.demand.item_site.value())]
                        .unit_price;
        }
        total_revenue += revenue;
        largest_revenue = std::max(largest_revenue, revenue);
      }
      EXPECT_DOUBLE_EQ(pegging[0].revenue(), largest_revenue);
      double pegged_quantity = 0.0;
      double pegged_revenue = 0.0;
      for (const auto& peg : pegging) {
        pegged_quantity += peg.quantity();
        pegged_revenue += peg.revenue();
      }
      EXPECT_NEAR(pegged_quantity, total_quantity, 1e-6 * std::max(1.0, total_quantity));
      EXPECT_NEAR(pegged_revenue, total_revenue, 1e-6 * std::max(1.0, total_revenue));
      ++capped_orders;
      break;
    }
  }
  EXPECT_EQ(capped_orders, 20);  // shared components serve many end demands
}

TEST_F(MrpPlannerTest, FullRunIsPublishedInDeltasUnderTheByteBound) {
  MrpPlanner planner;
  LoadAll(planner);
  auto deltas = planner.Flush();
  std::size_t total = 0;
  for (const auto& delta : deltas) {
    total += delta.ByteSizeLong();
    // The bound is checked after each record: one record may carry a delta past it.
    EXPECT_LT(delta.ByteSizeLong(), 900'000u);
  }
  std::printf("full run: %zu deltas, %zu bytes\n", deltas.size(), total);
}

// Every published planned order's pegging (uncapped) is the engine's EndDemands of that order
// asked alone, bit for bit: the end-demand memo kept for one publication changes no number, on
// the full run of the generated S plant and on the net change after it (a memo per publication:
// one kept from the full run would answer for the old plan).
TEST_F(MrpPlannerTest, PublishedPeggingIsTheEnginesEndDemandsBitForBit) {
  PlannerOptions options;
  options.max_pegs_per_order = 1'000'000;
  MrpPlanner planner(options);
  LoadAll(planner);
  auto check = [&](const std::vector<sop::v1::PlanDelta>& deltas) {
    const planning::NettingEngine& engine = *planner.engine();
    std::size_t orders = 0;
    std::size_t multi = 0;
    for (const auto& delta : deltas) {
      for (const auto& record : delta.item_sites()) {
        const auto item_site = engine.snapshot().FindItemSite(record.item_id(), record.site_id());
        EXPECT_TRUE(item_site.has_value());
        if (!item_site) continue;
        for (int k = 0; k < record.planned_orders_size(); ++k) {
          const auto ends = engine.EndDemands(
              *item_site,
              {planning::SupplyKind::kPlannedOrder, k, record.planned_orders(k).receipt_bucket()});
          const auto& pegging = record.planned_orders(k).pegging();
          EXPECT_EQ(static_cast<std::size_t>(pegging.size()), ends.size());
          if (static_cast<std::size_t>(pegging.size()) != ends.size()) continue;
          for (std::size_t e = 0; e < ends.size(); ++e) {
            EXPECT_EQ(std::bit_cast<std::uint64_t>(pegging[static_cast<int>(e)].quantity()),
                      std::bit_cast<std::uint64_t>(ends[e].quantity))
                << record.item_id() << "@" << record.site_id() << " order " << k;
          }
          ++orders;
          if (ends.size() > 1) ++multi;
        }
      }
    }
    return std::pair(orders, multi);
  };
  const auto [orders, multi] = check(planner.Flush());
  EXPECT_GT(orders, 1000u);
  EXPECT_GT(multi, 100u);  // shared components: orders serving several end demands

  sop::v1::Envelope changed = SomeSalesOrder();
  changed.set_event_id("test:so-change:pegging");
  changed.mutable_sales_order()->set_quantity(changed.sales_order().quantity() * 3.0 + 40.0);
  ASSERT_TRUE(planner.ApplyFact(KeyOf(changed), FactBytes(changed, 2'000'000)).has_value());
  auto deltas = planner.Flush();
  ASSERT_FALSE(deltas.empty());
  EXPECT_FALSE(deltas.front().full());
  EXPECT_GT(check(deltas).first, 0u);
}

// Two replicas owning different sites (partition = site), exchanging TransferDemand facts as
// sop.facts.v1 would carry them (keyed by the supplying site): the union of what they publish is
// the one-replica plan; re-delivered transfer demand changes nothing; a DC's changed sales order
// reaches its plant's plan by net change.
class TwoPlanners {
 public:
  TwoPlanners() {
    a_sites_ = {"P1", "DC2"};  // each replica holds a DC whose plant is on the other one
    for (const auto& e : Events()) Deliver(FactBytes(e, sequence_++));
  }

  MrpPlanner& Owner(const std::string& site) { return a_sites_.contains(site) ? a_ : b_; }
  static PartitionKey Partition(const std::string& site) {
    return {"sop.facts.v1", static_cast<std::int32_t>(std::hash<std::string>{}(site) % 97)};
  }
  Result<bool> Deliver(const std::string& fact_bytes) {
    sop::v1::Fact fact;
    EXPECT_TRUE(fact.ParseFromString(fact_bytes));
    return Owner(fact.envelope().site()).ApplyFact(Partition(fact.envelope().site()), fact_bytes);
  }
  // End of batch on both, transfer demand delivered, until nothing is published; returns the
  // rounds (the last one publishes nothing).
  int Settle() {
    for (int round = 1; round <= 10; ++round) {
      std::size_t sent = 0;
      for (MrpPlanner* planner : {&a_, &b_}) {
        Collect(planner->Flush());
        for (const sop::v1::Fact& fact : planner->TakeTransferDemands()) {
          const std::string bytes = fact.SerializeAsString();
          delivered_.push_back(bytes);
          auto applied = Deliver(bytes);
          EXPECT_TRUE(applied.has_value() && *applied);
          ++sent;
        }
      }
      for (MrpPlanner* planner : {&a_, &b_}) Collect(planner->Flush());
      if (sent == 0) return round;
    }
    return -1;
  }
  void Collect(std::vector<sop::v1::PlanDelta> deltas) {
    for (auto& delta : deltas) {
      for (auto& record : *delta.mutable_item_sites()) {
        // A replica publishes records of its own sites only (never an external item-site).
        EXPECT_EQ(&Owner(record.site_id()), a_sites_.contains(delta.site_id()) ? &a_ : &b_);
        ++records_;
        latest_[{record.item_id(), record.site_id()}] = std::move(record);
      }
    }
  }
  // Item-sites of the reference whose latest published record differs (or is missing).
  int Mismatches(const planning::NettingEngine& expected) const {
    const auto& snapshot = expected.snapshot();
    int mismatches = 0;
    for (std::size_t i = 0; i < snapshot.item_site_count(); ++i) {
      const auto& is = snapshot.item_sites[i];
      auto it =
          latest_.find({is.item_id, snapshot.sites[static_cast<std::size_t>(is.site.value())].id});
      if (it == latest_.end() ||
          !RecordMatches(it->second, expected.plan(),
                         model::ItemSiteIndex(static_cast<std::int32_t>(i))) ||
          it->second.low_level_code() != expected.plan().low_level_code[i]) {
        ++mismatches;
      }
    }
    return mismatches;
  }

  MrpPlanner a_, b_;
  std::set<std::string> a_sites_;
  std::int64_t sequence_ = 0;
  std::vector<std::string> delivered_;
  std::map<std::pair<std::string, std::string>, sop::v1::ItemSitePlan> latest_;
  std::size_t records_ = 0;
};

TEST_F(MrpPlannerTest, TwoReplicasOwningDifferentSitesPublishTheOneReplicaPlan) {
  TwoPlanners two;
  const auto expected = Direct(Events());
  EXPECT_EQ(two.Settle(), 2);  // plants supply DCs: one exchange settles, the next sends nothing
  EXPECT_EQ(two.Mismatches(*expected), 0);
  EXPECT_EQ(two.latest_.size(), expected->snapshot().item_site_count());
  EXPECT_EQ(two.a_.stats().planned_orders + two.b_.stats().planned_orders,
            static_cast<std::int64_t>(expected->plan().PlannedOrderCount()));
  EXPECT_GT(two.a_.stats().transfer_demands, 0);
  EXPECT_GT(two.b_.stats().transfer_demands, 0);
  // An external item-site is not a planning answer of the replica that holds it.
  sop::v1::TransferDemand sample;
  for (const std::string& bytes : two.delivered_) {
    sop::v1::Fact fact;
    ASSERT_TRUE(fact.ParseFromString(bytes));
    const auto& demand = fact.envelope().transfer_demand();
    if (&two.Owner(demand.supplying_site_id()) != &two.Owner(demand.demanding_site_id())) {
      sample = demand;
      break;
    }
  }
  ASSERT_FALSE(sample.item_id().empty());
  auto& supplier = two.Owner(sample.supplying_site_id());
  auto external = supplier.GetPlan(sample.item_id(), sample.demanding_site_id());
  ASSERT_FALSE(external.has_value());
  EXPECT_EQ(external.error().code(), Errc::kNotFound);
  EXPECT_EQ(supplier.GetSupplyPlan(sample.demanding_site_id(), "").error().code(), Errc::kNotFound);
  EXPECT_TRUE(supplier.GetPlan(sample.item_id(), sample.supplying_site_id()).has_value());

  // Every TransferDemand delivered again: nothing applied, nothing planned, nothing published.
  const auto versions = std::pair(two.a_.plan_version(), two.b_.plan_version());
  for (const std::string& bytes : two.delivered_) {
    auto applied = two.Deliver(bytes);
    ASSERT_TRUE(applied.has_value());
    EXPECT_FALSE(*applied);
  }
  EXPECT_TRUE(two.a_.Flush().empty());
  EXPECT_TRUE(two.b_.Flush().empty());
  EXPECT_TRUE(two.a_.TakeTransferDemands().empty());
  EXPECT_TRUE(two.b_.TakeTransferDemands().empty());
  EXPECT_EQ(std::pair(two.a_.plan_version(), two.b_.plan_version()), versions);

  // A larger sales order at a DC: the DC re-plans it by net change, its plant receives one
  // changed vector and re-plans by net change too (a few records, not a rebuild).
  const sop::v1::Envelope* order = nullptr;
  for (const auto& e : Events()) {
    if (e.has_sales_order() && e.sales_order().quantity() > 0 && e.site().starts_with("DC") &&
        &two.Owner(e.site()) != &two.a_) {
      order = &e;
      break;
    }
  }
  ASSERT_NE(order, nullptr);
  sop::v1::Envelope changed = *order;
  changed.set_event_id("test:dc-so-change:1");
  changed.mutable_sales_order()->set_quantity(changed.sales_order().quantity() + 5'000.0);
  ASSERT_TRUE(two.Deliver(FactBytes(changed, 2'000'000)).value_or(false));
  const auto full_runs = two.a_.stats().full_runs + two.b_.stats().full_runs;
  const std::size_t records_before = two.records_;
  EXPECT_FALSE(two.b_.rebuild_pending());  // net change on the DC
  two.Collect(two.b_.Flush());
  auto demands = two.b_.TakeTransferDemands();
  ASSERT_EQ(demands.size(), 1u);
  EXPECT_EQ(demands[0].envelope().transfer_demand().item_id(), changed.sales_order().item_id());
  ASSERT_TRUE(two.Deliver(demands[0].SerializeAsString()).value_or(false));
  EXPECT_FALSE(two.a_.rebuild_pending());  // net change on the plant
  EXPECT_EQ(two.Settle(), 1);
  EXPECT_EQ(two.a_.stats().full_runs + two.b_.stats().full_runs, full_runs);
  EXPECT_LT(two.records_ - records_before, 200u);
  auto events = Events();
  events.push_back(changed);
  EXPECT_EQ(two.Mismatches(*Direct(events)), 0);
}

}  // namespace
}  // namespace sop::mrp
