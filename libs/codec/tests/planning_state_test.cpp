// PlanningState: a generated S instance fed as facts plans like the assembled snapshot planned
// directly; duplicates change nothing; partition snapshots restore the same plan; net change
// reports what it touched; the detection history is built from facts (hand-worked numbers).

#include "sop/codec/planning_state.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <limits>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "sop/gen/generator.hpp"

namespace sop::codec {
namespace {

using std::chrono::days;
using std::chrono::sys_days;

// ---------------------------------------------------------------------------------------------
// Generated S instance
// ---------------------------------------------------------------------------------------------

const std::vector<sop::v1::Envelope>& Events() {
  static const std::vector<sop::v1::Envelope> events = [] {
    gen::GeneratorOptions options;
    options.scale = gen::Scale::kS;
    options.seed = 7;
    options.history_weeks = 0;
    auto all = gen::GenerateAll(options);
    if (!all) throw std::runtime_error(all.error().ToString());
    return std::move(*all);
  }();
  return events;
}

std::string FactBytes(const sop::v1::Envelope& envelope, std::int64_t sequence = 0) {
  sop::v1::Fact fact;
  *fact.mutable_envelope() = envelope;
  fact.mutable_ingested_at()->set_seconds(1'800'000'000 + sequence);
  return fact.SerializeAsString();
}

// Site → one of three partitions, as a keyed topic spreads them.
PartitionKey KeyOf(const sop::v1::Envelope& envelope) {
  return {"sop.facts.v1", static_cast<std::int32_t>(std::hash<std::string>{}(envelope.site()) % 3)};
}

void Feed(PlanningState& state, const std::vector<sop::v1::Envelope>& events) {
  std::int64_t sequence = 0;
  for (const auto& e : events) {
    auto applied = state.ApplyFact(KeyOf(e), FactBytes(e, sequence++));
    ASSERT_TRUE(applied.has_value()) << applied.error().ToString();
    ASSERT_TRUE(*applied) << e.event_id();
  }
}

// The reference: the assembler's snapshot (model::SnapshotBuilder) planned by one NettingEngine.
std::unique_ptr<planning::NettingEngine> Direct(const std::vector<sop::v1::Envelope>& events) {
  SnapshotAssembler assembler;
  for (const auto& e : events) assembler.Apply(e);
  auto built = assembler.Build();
  if (!built) throw std::runtime_error(built.error().ToString());
  auto engine = std::make_unique<planning::NettingEngine>(std::move(built->snapshot));
  engine->RunFull();
  return engine;
}

// Item-sites whose MRP rows or planned orders differ between the two plans (matched by ids);
// -1 when the item-site sets differ.
int Mismatches(const planning::NettingEngine& actual, const planning::NettingEngine& expected) {
  const auto& es = expected.snapshot();
  const auto& as = actual.snapshot();
  if (as.item_site_count() != es.item_site_count()) return -1;
  int mismatches = 0;
  for (std::size_t i = 0; i < es.item_site_count(); ++i) {
    const model::ItemSiteIndex ei(static_cast<std::int32_t>(i));
    const auto& is = es.item_sites[i];
    auto ai = as.FindItemSite(is.item_id, es.sites[static_cast<std::size_t>(is.site.value())].id);
    if (!ai) return -1;
    auto rows_same = [&](const std::vector<double> planning::Plan::*rows) {
      auto e = expected.plan().Row(expected.plan().*rows, ei);
      auto a = actual.plan().Row(actual.plan().*rows, *ai);
      for (std::size_t b = 0; b < e.size(); ++b) {
        if (std::abs(e[b] - a[b]) > 1e-6 * std::max(1.0, std::abs(e[b]))) return false;
      }
      return e.size() == a.size();
    };
    const bool same = expected.plan().orders[i].size() ==
                          actual.plan().orders[static_cast<std::size_t>(ai->value())].size() &&
                      rows_same(&planning::Plan::gross_requirements) &&
                      rows_same(&planning::Plan::scheduled_receipts) &&
                      rows_same(&planning::Plan::projected_available) &&
                      rows_same(&planning::Plan::net_requirements) &&
                      rows_same(&planning::Plan::planned_receipts) &&
                      rows_same(&planning::Plan::planned_releases);
    if (!same) ++mismatches;
  }
  return mismatches;
}

// A sales order of the instance with an open quantity.
const sop::v1::Envelope& SomeSalesOrder() {
  for (const auto& e : Events()) {
    if (e.has_sales_order() && e.sales_order().quantity() > 0) return e;
  }
  throw std::runtime_error("no sales order generated");
}

TEST(PlanningState, FedFactsPlanLikeTheAssembledSnapshotPlannedDirectly) {
  PlanningState state;
  EXPECT_EQ(state.engine(), nullptr);
  EXPECT_EQ(state.snapshot(), nullptr);
  Feed(state, Events());
  EXPECT_TRUE(state.rebuild_pending());
  const PlanChanges changes = state.Flush();
  ASSERT_NE(state.engine(), nullptr);
  ASSERT_NE(state.snapshot(), nullptr);
  const auto expected = Direct(Events());
  EXPECT_EQ(Mismatches(*state.engine(), *expected), 0);
  EXPECT_EQ(state.engine()->plan().PlannedOrderCount(), expected->plan().PlannedOrderCount());
  EXPECT_GT(expected->plan().PlannedOrderCount(), 1000u);

  // The first plan reports every item-site, once, ascending.
  EXPECT_TRUE(changes.rebuilt);
  EXPECT_TRUE(changes.all);
  EXPECT_EQ(changes.version, 1);
  ASSERT_EQ(changes.item_sites.size(), expected->snapshot().item_site_count());
  for (std::size_t k = 0; k < changes.item_sites.size(); ++k) {
    EXPECT_EQ(changes.item_sites[k].value(), static_cast<std::int32_t>(k));
  }
  const PlanningStats stats = state.stats();
  EXPECT_EQ(stats.facts_applied, static_cast<std::int64_t>(Events().size()));
  EXPECT_EQ(stats.full_runs, 1);
  EXPECT_EQ(stats.item_sites, static_cast<std::int64_t>(expected->snapshot().item_site_count()));

  // Nothing happened since: nothing to report.
  const PlanChanges none = state.Flush();
  EXPECT_FALSE(none.rebuilt);
  EXPECT_TRUE(none.item_sites.empty());
  EXPECT_EQ(none.version, 1);
}

TEST(PlanningState, RedeliveredFactsChangeNothing) {
  PlanningState state;
  Feed(state, Events());
  state.Flush();
  const auto orders = state.engine()->plan().PlannedOrderCount();
  const auto before = state.stats();
  state.TakeDirtyPartitions();
  for (const auto& key : state.Partitions()) state.TakeNewEventIds(key);

  std::int64_t sequence = 0;
  for (const auto& e : Events()) {
    auto applied = state.ApplyFact(KeyOf(e), FactBytes(e, 1'000'000 + sequence++));
    ASSERT_TRUE(applied.has_value());
    EXPECT_FALSE(*applied) << e.event_id();
  }
  EXPECT_FALSE(state.rebuild_pending());
  const PlanChanges changes = state.Flush();
  EXPECT_FALSE(changes.rebuilt);
  EXPECT_TRUE(changes.item_sites.empty());
  EXPECT_EQ(state.version(), 1);
  EXPECT_EQ(state.engine()->plan().PlannedOrderCount(), orders);
  const auto after = state.stats();
  EXPECT_EQ(after.facts_applied, before.facts_applied);
  EXPECT_EQ(after.duplicates, static_cast<std::int64_t>(Events().size()));
  EXPECT_TRUE(state.TakeDirtyPartitions().empty());
  for (const auto& key : state.Partitions()) EXPECT_TRUE(state.TakeNewEventIds(key).empty());
}

TEST(PlanningState, BadBytesAreRejectedNamingTheField) {
  PlanningState state;
  auto fact = state.ApplyFact({"t", 0}, "\xff\xff not a fact");
  ASSERT_FALSE(fact.has_value());
  EXPECT_EQ(fact.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(fact.error().message().find("fact"), std::string::npos);

  sop::v1::Fact no_id;
  no_id.mutable_envelope()->set_site("P1");
  auto missing = state.ApplyFact({"t", 0}, no_id.SerializeAsString());
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("fact.envelope.event_id"), std::string::npos);

  sop::v1::ForecastUpdate unnamed;
  auto forecast = state.ApplyForecast({"f", 0}, unnamed.SerializeAsString());
  ASSERT_FALSE(forecast.has_value());
  EXPECT_NE(forecast.error().message().find("forecast_update.item_id/site_id"), std::string::npos);

  auto restored = state.RestorePartition({"t", 4}, "garbage");
  ASSERT_FALSE(restored.has_value());
  EXPECT_EQ(restored.error().code(), Errc::kDataLoss);
  EXPECT_NE(restored.error().message().find("t[4]"), std::string::npos);
  EXPECT_EQ(state.stats().facts_applied, 0);
}

TEST(PlanningState, ChangedSalesOrderIsReportedByNetChangeAndMatchesAFullRun) {
  PlanningState state;
  Feed(state, Events());
  state.Flush();

  sop::v1::Envelope changed = SomeSalesOrder();
  changed.set_event_id(changed.event_id() + ":changed");
  changed.mutable_sales_order()->set_quantity(changed.sales_order().quantity() + 250.0);
  ASSERT_TRUE(state.ApplyFact(KeyOf(changed), FactBytes(changed)).value());
  EXPECT_FALSE(state.rebuild_pending());  // staged for net change
  EXPECT_TRUE(state.net_change_pending());
  EXPECT_EQ(state.version(), 1);

  const PlanChanges changes = state.Flush();  // commits the staged net change
  EXPECT_FALSE(state.net_change_pending());
  EXPECT_EQ(state.version(), 2);
  EXPECT_FALSE(changes.rebuilt);
  EXPECT_FALSE(changes.all);
  const auto item_site = state.snapshot()->FindItemSite(changed.sales_order().item_id(),
                                                        changed.sales_order().site_id());
  ASSERT_TRUE(item_site.has_value());
  EXPECT_NE(std::find(changes.item_sites.begin(), changes.item_sites.end(), *item_site),
            changes.item_sites.end());
  EXPECT_LT(changes.item_sites.size(), state.snapshot()->item_site_count());
  EXPECT_EQ(state.stats().net_changes, 1);

  std::vector<sop::v1::Envelope> all = Events();
  all.push_back(changed);
  EXPECT_EQ(Mismatches(*state.engine(), *Direct(all)), 0);
}

TEST(PlanningState, RebuildReportsNetChangesBeforeItAndOnlyTheRecordsItChanged) {
  PlanningState state;
  Feed(state, Events());
  state.Flush();
  const std::size_t item_sites = state.snapshot()->item_site_count();

  // A committed net change, then master data (a full rebuild) before the next Flush: the
  // rebuild's diff against the net-changed plan would miss the sales order's item-site, so
  // PlanChanges must carry it across the rebuild (by item and site, as indices change).
  sop::v1::Envelope order = SomeSalesOrder();
  order.set_event_id(order.event_id() + ":changed");
  order.mutable_sales_order()->set_quantity(order.sales_order().quantity() + 250.0);
  ASSERT_TRUE(state.ApplyFact(KeyOf(order), FactBytes(order)).value());
  ASSERT_TRUE(state.CommitNetChange());
  sop::v1::Envelope item;
  for (const auto& e : Events()) {
    if (e.has_item() && e.item().type() == sop::v1::ITEM_TYPE_MAKE &&
        e.item().item_id() != order.sales_order().item_id()) {
      item = e;
      break;
    }
  }
  ASSERT_TRUE(item.has_item());
  item.set_event_id("test:item-change:1");
  item.mutable_item()->set_safety_stock(item.item().safety_stock() + 500.0);
  ASSERT_TRUE(state.ApplyFact(KeyOf(item), FactBytes(item)).value());
  EXPECT_TRUE(state.rebuild_pending());

  const PlanChanges changes = state.Flush();
  EXPECT_TRUE(changes.rebuilt);
  EXPECT_FALSE(changes.all);
  EXPECT_EQ(changes.version, 3);  // first plan, net change, rebuild
  auto contains = [&](const std::string& item_id, const std::string& site_id) {
    const auto index = state.snapshot()->FindItemSite(item_id, site_id);
    return index && std::find(changes.item_sites.begin(), changes.item_sites.end(), *index) !=
                        changes.item_sites.end();
  };
  EXPECT_TRUE(contains(order.sales_order().item_id(), order.sales_order().site_id()));
  EXPECT_TRUE(contains(item.item().item_id(), item.item().site_id()));
  EXPECT_LT(changes.item_sites.size(), item_sites / 10);
  EXPECT_TRUE(std::is_sorted(changes.item_sites.begin(), changes.item_sites.end(),
                             [](auto a, auto b) { return a.value() < b.value(); }));

  std::vector<sop::v1::Envelope> all = Events();
  all.push_back(order);
  all.push_back(item);
  EXPECT_EQ(Mismatches(*state.engine(), *Direct(all)), 0);
}

TEST(PlanningState, SerializedPartitionsRestoreTheSamePlanInAFreshState) {
  PlanningState state;
  Feed(state, Events());
  state.Flush();

  PlanningState restored;
  for (const auto& key : state.Partitions()) {
    ASSERT_TRUE(restored.RestorePartition(key, state.SerializePartition(key)).has_value());
  }
  EXPECT_TRUE(restored.reassemble_pending());
  const PlanChanges changes = restored.Flush();
  EXPECT_TRUE(changes.all);
  ASSERT_NE(restored.engine(), nullptr);
  EXPECT_EQ(Mismatches(*restored.engine(), *state.engine()), 0);
  EXPECT_EQ(restored.stats().facts_applied, state.stats().facts_applied);
  // The event ids came back with the facts: a re-delivery after the restore is a duplicate.
  const auto& e = Events().back();
  EXPECT_FALSE(restored.ApplyFact(KeyOf(e), FactBytes(e)).value());

  // Dropping a partition forgets its sites.
  const PartitionKey dropped = restored.Partitions().front();
  restored.DropPartition(dropped);
  restored.Flush();
  ASSERT_NE(restored.engine(), nullptr);
  EXPECT_LT(restored.snapshot()->item_site_count(), state.snapshot()->item_site_count());
}

// ---------------------------------------------------------------------------------------------
// History, hand-worked. Plan start Monday 2026-01-05, weekly buckets: bucket −1 is the week of
// 2025-12-29, bucket −2 the week of 2025-12-22.
// ---------------------------------------------------------------------------------------------

const Seconds kPlanStart = sys_days{std::chrono::year{2026} / 1 / 5};
Seconds Week(int w, int day = 0) {
  return kPlanStart + days{7 * w + day};
}
void SetTime(google::protobuf::Timestamp* ts, Seconds t) {
  ts->set_seconds(t.time_since_epoch().count());
}

sop::v1::Envelope Event(const std::string& id) {
  sop::v1::Envelope e;
  e.set_event_id(id);
  e.set_site("P1");
  return e;
}

std::vector<sop::v1::Envelope> HistoryFacts() {
  std::vector<sop::v1::Envelope> out;
  auto settings = Event("settings");
  SetTime(settings.mutable_planning_settings()->mutable_plan_start(), kPlanStart);
  settings.mutable_planning_settings()->set_bucket_size(sop::v1::BUCKET_SIZE_WEEK);
  settings.mutable_planning_settings()->set_horizon_buckets(26);
  out.push_back(settings);
  auto site = Event("site");
  site.mutable_site_master()->set_site_id("P1");
  site.mutable_site_master()->set_type(sop::v1::SITE_TYPE_PLANT);
  out.push_back(site);
  auto item = Event("item");
  auto* m = item.mutable_item();
  m->set_item_id("FG1");
  m->set_site_id("P1");
  m->set_type(sop::v1::ITEM_TYPE_BUY);
  m->set_lead_time_days(7);
  m->set_frozen_fence_days(14);  // 2 weekly buckets
  m->set_supplier_id("S1");
  m->set_unit_price(10);
  m->set_active(true);
  out.push_back(item);
  // Forecast 100 for the week of 2025-12-29 (bucket −1) and 70 for 2025-12-22 (bucket −2).
  auto forecast = Event("forecast");
  forecast.mutable_demand_forecast()->set_item_id("FG1");
  forecast.mutable_demand_forecast()->set_site_id("P1");
  auto* q1 = forecast.mutable_demand_forecast()->add_quantities();
  SetTime(q1->mutable_period_start(), Week(-1));
  q1->set_quantity(100);
  auto* q2 = forecast.mutable_demand_forecast()->add_quantities();
  SetTime(q2->mutable_period_start(), Week(-2));
  q2->set_quantity(70);
  out.push_back(forecast);
  // Shipped 50 + 30 = 80 in bucket −1 (Wednesday and Friday), 90 in bucket −2, 5 in bucket 0
  // (the running bucket: not history yet).
  auto ship = [&](const std::string& id, Seconds at, double quantity) {
    auto e = Event(id);
    auto* s = e.mutable_shipment();
    s->set_shipment_id(id);
    s->set_item_id("FG1");
    s->set_site_id("P1");
    s->set_quantity(quantity);
    SetTime(s->mutable_shipped_at(), at);
    out.push_back(e);
  };
  ship("ship-1", Week(-1, 2), 50);
  ship("ship-2", Week(-1, 4), 30);
  ship("ship-3", Week(-2, 1), 90);
  ship("ship-4", Week(0, 1), 5);
  ship("ship-5", Week(-3, 1), 60);  // no forecast ever named bucket −3: not history
  // PO ordered 8 weeks before the plan start, due at bucket −3, confirmed for bucket −2,
  // received in bucket −1: a missed confirmed date, lead time 7 weeks + 3 days.
  auto po = Event("po");
  auto* p = po.mutable_purchase_order();
  p->set_po_id("PO-1");
  p->set_line(1);
  p->set_supplier_id("S1");
  p->set_item_id("FG1");
  p->set_site_id("P1");
  p->set_quantity(40);
  SetTime(p->mutable_order_date(), Week(-8));
  SetTime(p->mutable_due_date(), Week(-3));
  p->set_status(sop::v1::ORDER_STATUS_OPEN);
  out.push_back(po);
  auto confirmation = Event("confirmation");
  auto* c = confirmation.mutable_supplier_confirmation();
  c->set_po_id("PO-1");
  c->set_line(1);
  c->set_supplier_id("S1");
  SetTime(c->mutable_confirmed_date(), Week(-2));
  out.push_back(confirmation);
  auto receipt = Event("receipt");
  auto* r = receipt.mutable_goods_receipt();
  r->set_receipt_id("GR-1");
  r->set_po_id("PO-1");
  r->set_line(1);
  r->set_supplier_id("S1");
  r->set_item_id("FG1");
  r->set_site_id("P1");
  r->set_quantity(40);
  SetTime(r->mutable_received_at(), Week(-1, 3));
  out.push_back(receipt);
  // A sales order due in bucket 1 (inside the 2-bucket frozen fence) raised from 10 to 15, and
  // one due in bucket 5 (outside) raised from 10 to 20.
  auto order = [&](const std::string& id, const std::string& order_id, Seconds due,
                   double quantity) {
    auto e = Event(id);
    auto* so = e.mutable_sales_order();
    so->set_order_id(order_id);
    so->set_line(1);
    so->set_customer_id("C1");
    so->set_item_id("FG1");
    so->set_site_id("P1");
    so->set_quantity(quantity);
    SetTime(so->mutable_due_date(), due);
    so->set_status(sop::v1::ORDER_STATUS_OPEN);
    out.push_back(e);
  };
  order("so-1", "SO-1", Week(1, 2), 10);
  order("so-1-change", "SO-1", Week(1, 2), 15);
  order("so-2", "SO-2", Week(5, 2), 10);
  order("so-2-change", "SO-2", Week(5, 2), 20);
  return out;
}

const planning::ForecastActual* FindActual(const planning::DetectionHistory& history,
                                           model::Bucket bucket) {
  for (const auto& r : history.forecast_actuals) {
    if (r.bucket == bucket) return &r;
  }
  return nullptr;
}

void ExpectHandWorkedHistory(const PlanningState& state, double forecast_bucket_minus_2) {
  const planning::DetectionHistory history = state.BuildHistory();
  const auto fg1 = state.snapshot()->FindItemSite("FG1", "P1");
  ASSERT_TRUE(fg1.has_value());
  // Buckets −2 and −1; bucket −3 had no forecast, bucket 0 is still running.
  ASSERT_EQ(history.forecast_actuals.size(), 2u);
  const auto* last_week = FindActual(history, -1);
  ASSERT_NE(last_week, nullptr);
  EXPECT_EQ(last_week->item_site, *fg1);
  EXPECT_DOUBLE_EQ(last_week->actual, 80.0);
  EXPECT_DOUBLE_EQ(last_week->forecast, 100.0);
  const auto* week_before = FindActual(history, -2);
  ASSERT_NE(week_before, nullptr);
  EXPECT_DOUBLE_EQ(week_before->actual, 90.0);
  EXPECT_DOUBLE_EQ(week_before->forecast, forecast_bucket_minus_2);

  ASSERT_EQ(history.deliveries.size(), 1u);
  EXPECT_EQ(history.deliveries[0].supplier_id, "S1");
  EXPECT_EQ(history.deliveries[0].item_site, *fg1);
  EXPECT_EQ(history.deliveries[0].confirmed_bucket, -2);
  EXPECT_EQ(history.deliveries[0].received_bucket, -1);
  EXPECT_NEAR(history.deliveries[0].lead_time, 7.0 + 3.0 / 7.0, 1e-9);

  ASSERT_EQ(history.changes.size(), 1u);  // SO-2's change is outside the frozen fence
  EXPECT_EQ(history.changes[0].change_id, "so-1-change");
  EXPECT_EQ(history.changes[0].item_site, *fg1);
  EXPECT_EQ(history.changes[0].bucket, 1);
  EXPECT_DOUBLE_EQ(history.changes[0].quantity_delta, 5.0);
}

TEST(PlanningStateHistory, ShipmentsDeliveriesAndFenceChangesComeFromTheFacts) {
  PlanningState state;
  EXPECT_TRUE(state.BuildHistory().forecast_actuals.empty());  // no plan yet
  for (const auto& e : HistoryFacts()) ASSERT_TRUE(state.ApplyFact({"f", 0}, FactBytes(e)));
  state.Flush();
  ASSERT_NE(state.engine(), nullptr);
  ExpectHandWorkedHistory(state, 70.0);
}

TEST(PlanningStateHistory, ConsensusForecastInForceWinsAndSurvivesASnapshot) {
  PlanningState state;
  for (const auto& e : HistoryFacts()) ASSERT_TRUE(state.ApplyFact({"f", 0}, FactBytes(e)));
  state.Flush();
  // The forecasting service's consensus for the week of 2025-12-22 was 120, then a later update
  // covers only the weeks from the plan start: 120 stays the forecast in force for bucket −2.
  sop::v1::ForecastUpdate update;
  update.set_item_id("FG1");
  update.set_site_id("P1");
  auto* period = update.add_periods();
  SetTime(period->mutable_period_start(), Week(-2));
  period->set_bucket(-2);
  period->set_consensus(120);
  ASSERT_TRUE(state.ApplyForecast({"sop.forecast.v1", 1}, update.SerializeAsString()));
  update.clear_periods();
  period = update.add_periods();
  SetTime(period->mutable_period_start(), Week(0));
  period->set_bucket(0);
  period->set_consensus(60);
  ASSERT_TRUE(state.ApplyForecast({"sop.forecast.v1", 1}, update.SerializeAsString()));
  state.Flush();
  ExpectHandWorkedHistory(state, 120.0);
  // The consensus of bucket 0 replaced the (absent) fact forecast in the plan.
  const auto fg1 = *state.snapshot()->FindItemSite("FG1", "P1");
  EXPECT_DOUBLE_EQ(state.snapshot()->forecast[static_cast<std::size_t>(fg1.value()) *
                                              static_cast<std::size_t>(state.snapshot()->H())],
                   60.0);

  PlanningState restored;
  for (const auto& key : state.Partitions()) {
    ASSERT_TRUE(restored.RestorePartition(key, state.SerializePartition(key)).has_value());
  }
  restored.Flush();
  ASSERT_NE(restored.engine(), nullptr);
  ExpectHandWorkedHistory(restored, 120.0);
  EXPECT_EQ(restored.stats().forecasts, 1);
}

// ---------------------------------------------------------------------------------------------
// Cross-replica transfer demand
// ---------------------------------------------------------------------------------------------

// One partition per site (sorted site ids), as if every site hashed to its own partition.
PartitionKey SitePartition(const std::string& site) {
  return {"sop.facts.v1", site == "P1"    ? 0
                          : site == "P2"  ? 1
                          : site == "P3"  ? 2
                          : site == "DC1" ? 3
                                          : 4};
}

std::string FactOf(const sop::v1::Envelope& envelope) {
  sop::v1::Fact fact;
  *fact.mutable_envelope() = envelope;
  fact.mutable_ingested_at()->set_seconds(1'800'000'000);
  return fact.SerializeAsString();
}

// A replica planning `sites`: fed the facts of those sites only.
struct Replica {
  std::set<std::string> sites;
  PlanningState state;

  void FeedOwn(const std::vector<sop::v1::Envelope>& events) {
    for (const auto& e : events) {
      if (!sites.contains(e.site())) continue;
      auto applied = state.ApplyFact(SitePartition(e.site()), FactOf(e));
      ASSERT_TRUE(applied.has_value()) << applied.error().ToString();
    }
  }
};

// Lets the replicas exchange TransferDemand facts (each goes to the replica planning its
// supplying site, as sop.facts.v1 keyed by site does) until none is published; returns the
// rounds it took and every fact delivered.
int Exchange(std::vector<Replica*> replicas, std::vector<std::string>* delivered = nullptr) {
  for (int round = 1; round <= 10; ++round) {
    std::size_t sent = 0;
    for (Replica* from : replicas) {
      from->state.Flush();
      for (const auto& envelope : from->state.TakeTransferDemands()) {
        for (Replica* to : replicas) {
          if (!to->sites.contains(envelope.site())) continue;
          const std::string bytes = FactOf(envelope);
          auto applied = to->state.ApplyFact(SitePartition(envelope.site()), bytes);
          EXPECT_TRUE(applied.has_value()) << applied.error().ToString();
          if (delivered != nullptr) delivered->push_back(bytes);
          ++sent;
        }
      }
    }
    if (sent == 0) return round;
  }
  return -1;
}

// Compares every item-site of the reference with the replica that plans its site.
int UnionMismatches(const std::vector<Replica*>& replicas, const planning::NettingEngine& expected,
                    int* compared = nullptr) {
  const auto& es = expected.snapshot();
  int mismatches = 0;
  for (std::size_t i = 0; i < es.item_site_count(); ++i) {
    const auto& is = es.item_sites[i];
    const std::string& site = es.sites[static_cast<std::size_t>(is.site.value())].id;
    const Replica* owner = nullptr;
    for (const Replica* r : replicas) {
      if (r->sites.contains(site)) owner = r;
    }
    if (owner == nullptr || owner->state.engine() == nullptr) return -1;
    const auto& engine = *owner->state.engine();
    auto ai = engine.snapshot().FindItemSite(is.item_id, site);
    if (!ai || owner->state.IsExternal(*ai)) return -1;
    const model::ItemSiteIndex ei(static_cast<std::int32_t>(i));
    bool same = engine.plan().orders[static_cast<std::size_t>(ai->value())].size() ==
                    expected.plan().orders[i].size() &&
                engine.plan().low_level_code[static_cast<std::size_t>(ai->value())] ==
                    expected.plan().low_level_code[i];
    for (auto rows : {&planning::Plan::gross_requirements, &planning::Plan::projected_available,
                      &planning::Plan::planned_receipts, &planning::Plan::planned_releases}) {
      auto e = expected.plan().Row(expected.plan().*rows, ei);
      auto a = engine.plan().Row(engine.plan().*rows, *ai);
      for (std::size_t b = 0; b < e.size(); ++b) {
        if (std::abs(e[b] - a[b]) > 1e-9 * std::max(1.0, std::abs(e[b]))) same = false;
      }
    }
    if (!same) ++mismatches;
    if (compared != nullptr) ++*compared;
  }
  return mismatches;
}

TEST(PlanningStateTransfers, TwoReplicasSplittingTheSitesPlanLikeOne) {
  const auto expected = Direct(Events());
  // Plants supply both DCs; each replica holds one DC whose supplier sits on the other one.
  Replica a;
  a.sites = {"P1", "DC2"};
  Replica b;
  b.sites = {"P2", "P3", "DC1"};
  a.FeedOwn(Events());
  b.FeedOwn(Events());
  a.state.Flush();
  b.state.Flush();
  int compared = 0;
  EXPECT_GT(UnionMismatches({&a, &b}, *expected), 0) << "without transfer demand they differ";

  std::vector<std::string> delivered;
  const int rounds = Exchange({&a, &b}, &delivered);
  // Plants supply DCs only (a DAG of depth one): the vectors settle in the first exchange, the
  // second publishes nothing.
  EXPECT_EQ(rounds, 2);
  EXPECT_EQ(UnionMismatches({&a, &b}, *expected, &compared), 0);
  EXPECT_EQ(compared, static_cast<int>(expected->snapshot().item_site_count()));
  // Planned orders: each replica's own ones add up to the one-replica plan.
  EXPECT_EQ(a.state.stats().planned_orders + b.state.stats().planned_orders,
            static_cast<std::int64_t>(expected->plan().PlannedOrderCount()));
  EXPECT_EQ(a.state.stats().item_sites + b.state.stats().item_sites,
            static_cast<std::int64_t>(expected->snapshot().item_site_count()));
  EXPECT_GT(a.state.stats().transfer_demands, 0);
  EXPECT_GT(b.state.stats().transfer_demands, 0);

  // Every fact delivered again (a re-delivery) or an older version: nothing changes.
  const auto version_a = a.state.version();
  const auto version_b = b.state.version();
  for (const std::string& bytes : delivered) {
    sop::v1::Fact fact;
    ASSERT_TRUE(fact.ParseFromString(bytes));
    Replica& to = a.sites.contains(fact.envelope().site()) ? a : b;
    auto applied = to.state.ApplyFact(SitePartition(fact.envelope().site()), bytes);
    ASSERT_TRUE(applied.has_value());
    EXPECT_FALSE(*applied) << fact.envelope().event_id();
  }
  EXPECT_FALSE(a.state.rebuild_pending());
  EXPECT_FALSE(b.state.rebuild_pending());
  EXPECT_EQ(a.state.version(), version_a);
  EXPECT_EQ(b.state.version(), version_b);
  EXPECT_EQ(Exchange({&a, &b}), 1);
  EXPECT_EQ(UnionMismatches({&a, &b}, *expected), 0);
}

TEST(PlanningStateTransfers, OneStateOwningEverySiteIgnoresTransferDemandFacts) {
  // Capacity and exceptions run one replica: they receive mrp's TransferDemand facts and must
  // not count that demand a second time.
  const auto expected = Direct(Events());
  Replica dc;
  dc.sites = {"DC1", "DC2"};
  dc.FeedOwn(Events());
  dc.state.Flush();
  const auto demands = dc.state.TakeTransferDemands();
  ASSERT_GT(demands.size(), 100u);

  PlanningState all;
  Feed(all, Events());
  all.Flush();
  ASSERT_EQ(Mismatches(*all.engine(), *expected), 0);
  const auto version = all.version();
  for (const auto& envelope : demands) {
    auto applied = all.ApplyFact(SitePartition(envelope.site()), FactOf(envelope));
    ASSERT_TRUE(applied.has_value());
    EXPECT_TRUE(*applied);  // kept (it would count once the DC moved elsewhere), not planned
  }
  EXPECT_FALSE(all.rebuild_pending());
  EXPECT_EQ(all.version(), version);
  const PlanChanges changes = all.Flush();
  EXPECT_TRUE(changes.item_sites.empty());
  EXPECT_EQ(Mismatches(*all.engine(), *expected), 0);
  EXPECT_EQ(all.stats().transfer_demands, 0);
  // A full rebuild (e.g. after a restore) ignores them too.
  all.Rebuild({}, /*full=*/true);
  EXPECT_EQ(Mismatches(*all.engine(), *expected), 0);
  EXPECT_EQ(all.engine()->plan().PlannedOrderCount(), expected->plan().PlannedOrderCount());
}

TEST(PlanningStateTransfers, VersionOrderingBadVectorsAndSnapshots) {
  Replica dc;
  dc.sites = {"DC1"};
  dc.FeedOwn(Events());
  dc.state.set_clock([] { return std::int64_t{5'000}; });
  dc.state.Flush();
  auto first = dc.state.TakeTransferDemands();
  ASSERT_FALSE(first.empty());
  const sop::v1::Envelope sample = first.front();
  const auto& demand = sample.transfer_demand();
  EXPECT_EQ(sample.site(), demand.supplying_site_id());
  EXPECT_EQ(demand.demanding_site_id(), "DC1");
  EXPECT_EQ(demand.epoch(), 5'000);
  EXPECT_EQ(demand.sequence(), 1);
  EXPECT_EQ(sample.event_id(), "mrp:transfer-demand:" + demand.item_id() + ":" +
                                   demand.supplying_site_id() + ">DC1:5000.1");
  EXPECT_TRUE(dc.state.TakeTransferDemands().empty()) << "unchanged vectors are not repeated";

  // A restored owner publishes every vector once more, in a greater epoch (even with a clock
  // behind the previous owner's).
  PlanningState restored;
  restored.set_clock([] { return std::int64_t{1'000}; });
  ASSERT_TRUE(
      restored
          .RestorePartition(SitePartition("DC1"), dc.state.SerializePartition(SitePartition("DC1")))
          .has_value());
  restored.Flush();
  auto again = restored.TakeTransferDemands();
  EXPECT_EQ(again.size(), first.size());
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(again.front().transfer_demand().epoch(), 5'001);
  EXPECT_EQ(again.front().transfer_demand().sequence(), 1);

  // The supplier: a newer version replaces, an equal or older one changes nothing.
  const std::string supplier = demand.supplying_site_id();
  Replica plant;
  plant.sites = {supplier};
  plant.FeedOwn(Events());
  plant.state.Flush();
  auto apply = [&](const sop::v1::Envelope& e) {
    auto applied = plant.state.ApplyFact(SitePartition(supplier), FactOf(e));
    EXPECT_TRUE(applied.has_value()) << applied.error().ToString();
    return applied.value_or(false);
  };
  const sop::v1::Envelope* newer = nullptr;
  for (const auto& e : again) {
    if (e.transfer_demand().item_id() == demand.item_id() && e.site() == supplier) newer = &e;
  }
  ASSERT_NE(newer, nullptr);
  EXPECT_TRUE(apply(*newer));
  EXPECT_FALSE(apply(*newer));  // duplicate
  EXPECT_FALSE(apply(sample));  // older epoch: stale
  plant.state.Flush();
  EXPECT_EQ(plant.state.stats().transfer_demands, 1);
  const auto gross = [&] {
    const auto& engine = *plant.state.engine();
    const auto i = engine.snapshot().FindItemSite(demand.item_id(), supplier);
    auto row = engine.plan().Row(engine.plan().gross_requirements, *i);
    return std::vector<double>(row.begin(), row.end());
  };
  const auto with_demand = gross();

  // Bad vectors are rejected naming the field and the value.
  sop::v1::Envelope bad = *newer;
  bad.mutable_transfer_demand()->set_sequence(99);
  bad.mutable_transfer_demand()->set_release_quantities(0, -3.0);
  auto rejected = plant.state.ApplyFact(SitePartition(supplier), FactOf(bad));
  ASSERT_FALSE(rejected.has_value());
  EXPECT_NE(rejected.error().message().find("transfer_demand.release_quantities[0]"),
            std::string::npos);
  EXPECT_NE(rejected.error().message().find("-3"), std::string::npos);
  bad = *newer;
  bad.set_site("P9");
  rejected = plant.state.ApplyFact(SitePartition(supplier), FactOf(bad));
  ASSERT_FALSE(rejected.has_value());
  EXPECT_NE(rejected.error().message().find("transfer_demand.supplying_site_id"),
            std::string::npos);

  // The held vector survives a snapshot of the supplier's partition.
  PlanningState plant_restored;
  ASSERT_TRUE(plant_restored
                  .RestorePartition(SitePartition(supplier),
                                    plant.state.SerializePartition(SitePartition(supplier)))
                  .has_value());
  plant_restored.Flush();
  EXPECT_EQ(plant_restored.stats().transfer_demands, 1);
  {
    const auto& engine = *plant_restored.engine();
    const auto i = engine.snapshot().FindItemSite(demand.item_id(), supplier);
    auto row = engine.plan().Row(engine.plan().gross_requirements, *i);
    EXPECT_EQ(std::vector<double>(row.begin(), row.end()), with_demand);
  }

  // An emptied vector removes the demand: the supplier's gross requirements drop by it.
  sop::v1::Envelope emptied = *newer;
  emptied.mutable_transfer_demand()->set_sequence(2);
  emptied.mutable_transfer_demand()->clear_release_quantities();
  EXPECT_TRUE(apply(emptied));
  plant.state.Flush();
  EXPECT_EQ(plant.state.stats().transfer_demands, 0);
  const auto without = gross();
  double removed = 0.0;
  for (std::size_t k = 0; k < without.size(); ++k) removed += with_demand[k] - without[k];
  double vector = 0.0;
  for (double q : newer->transfer_demand().release_quantities()) vector += q;
  EXPECT_NEAR(removed, vector, 1e-6 * std::max(1.0, vector));
}

TEST(PlanningState, ShipmentHistoryIsSnapshottedCompactlyAndRestoresTheSameHistory) {
  gen::GeneratorOptions options;
  options.scale = gen::Scale::kS;
  options.seed = 7;
  options.history_weeks = 26;
  auto events = gen::GenerateAll(options);
  ASSERT_TRUE(events.has_value());
  PlanningState state;
  PlanningState without;  // the same facts but the shipments, to size their share
  std::size_t shipment_fact_bytes = 0;
  std::int64_t shipments = 0;
  for (const auto& e : *events) {
    const std::string bytes = FactOf(e);
    if (e.has_shipment()) {
      shipment_fact_bytes += bytes.size() + 5;  // what a record of the whole fact costs
      ++shipments;
    } else {
      ASSERT_TRUE(without.ApplyFact(SitePartition(e.site()), bytes).has_value());
    }
    ASSERT_TRUE(state.ApplyFact(SitePartition(e.site()), bytes).has_value());
  }
  ASSERT_GT(shipments, 10'000);
  // A consensus forecast in force for the past weeks of the shipped item-sites, so that the
  // history compares actuals against it.
  std::set<std::pair<std::string, std::string>> shipped;
  std::int64_t earliest = std::numeric_limits<std::int64_t>::max();
  for (const auto& e : *events) {
    if (!e.has_shipment()) continue;
    shipped.emplace(e.shipment().item_id(), e.shipment().site_id());
    earliest = std::min(earliest, e.shipment().shipped_at().seconds());
  }
  for (const auto& [item, site] : shipped) {
    sop::v1::ForecastUpdate update;
    update.set_item_id(item);
    update.set_site_id(site);
    for (std::int64_t week = 0; week < 30; ++week) {
      auto* period = update.add_periods();
      period->mutable_period_start()->set_seconds(earliest + week * 7 * 86'400);
      period->set_consensus(10.0);
      period->set_bucket(-1);
    }
    ASSERT_TRUE(
        state.ApplyForecast({"sop.forecast.v1", 0}, update.SerializeAsString()).has_value());
    ASSERT_TRUE(
        without.ApplyForecast({"sop.forecast.v1", 0}, update.SerializeAsString()).has_value());
  }
  state.Flush();
  const auto history = state.BuildHistory();
  ASSERT_GT(history.forecast_actuals.size(), 1'000u);

  PlanningState restored;
  std::size_t snapshot_bytes = 0;
  for (const auto& key : state.Partitions()) {
    const std::string bytes = state.SerializePartition(key);
    snapshot_bytes += bytes.size();
    ASSERT_TRUE(restored.RestorePartition(key, bytes).has_value());
  }
  std::size_t without_bytes = 0;
  for (const auto& key : without.Partitions()) {
    without_bytes += without.SerializePartition(key).size();
  }
  const std::size_t compact_bytes = snapshot_bytes - without_bytes;
  std::cout << "[ info ] S, 26 weeks of history, " << events->size() << " facts: " << shipments
            << " shipments take " << compact_bytes
            << " snapshot bytes (as fact records: " << shipment_fact_bytes << "); all partitions "
            << snapshot_bytes << " bytes\n";
  EXPECT_LT(compact_bytes, shipment_fact_bytes / 2);
  restored.Flush();
  EXPECT_EQ(restored.stats().facts_applied, state.stats().facts_applied);
  EXPECT_EQ(Mismatches(*restored.engine(), *state.engine()), 0);
  const auto again = restored.BuildHistory();
  ASSERT_EQ(again.forecast_actuals.size(), history.forecast_actuals.size());
  for (std::size_t k = 0; k < history.forecast_actuals.size(); ++k) {
    EXPECT_EQ(again.forecast_actuals[k].item_site.value(),
              history.forecast_actuals[k].item_site.value());
    EXPECT_EQ(again.forecast_actuals[k].bucket, history.forecast_actuals[k].bucket);
    EXPECT_EQ(again.forecast_actuals[k].actual, history.forecast_actuals[k].actual);
    EXPECT_EQ(again.forecast_actuals[k].forecast, history.forecast_actuals[k].forecast);
  }
  // A shipment delivered again after the restore is still recognized by its event id.
  for (const auto& e : *events) {
    if (!e.has_shipment()) continue;
    auto applied = restored.ApplyFact(SitePartition(e.site()), FactOf(e));
    ASSERT_TRUE(applied.has_value());
    EXPECT_FALSE(*applied);
    break;
  }
  // Restoring the compact form and snapshotting again gives the same bytes.
  for (const auto& key : state.Partitions()) {
    EXPECT_EQ(restored.SerializePartition(key), state.SerializePartition(key));
  }
}

// ---------------------------------------------------------------------------------------------
// Coalesced net change: facts staged, one step per CommitNetChange
// ---------------------------------------------------------------------------------------------

struct Step {
  bool rebuild = false;
  std::vector<model::ItemSiteIndex> item_sites;
  sop::v1::Cause cause;
  std::int64_t version = 0;
};

class Recorder final : public PlanningListener {
 public:
  void OnNetChange(const planning::NettingEngine&, std::span<const model::ItemSiteIndex> item_sites,
                   const sop::v1::Cause& cause, std::int64_t version) override {
    steps.push_back({false, {item_sites.begin(), item_sites.end()}, cause, version});
  }
  void OnRebuild(const planning::NettingEngine&, std::span<const model::ItemSiteIndex> item_sites,
                 const sop::v1::Cause& cause, bool, std::int64_t version) override {
    steps.push_back({true, {item_sites.begin(), item_sites.end()}, cause, version});
  }
  std::vector<Step> steps;
};

// `count` distinct open sales orders of the instance, each changed (+10 × k units, new event id).
std::vector<sop::v1::Envelope> ChangedSalesOrders(std::size_t count) {
  std::vector<sop::v1::Envelope> out;
  std::set<std::string> seen;
  for (const auto& e : Events()) {
    if (!e.has_sales_order() || e.sales_order().quantity() <= 0) continue;
    if (!seen.insert(e.sales_order().order_id() + ":" + std::to_string(e.sales_order().line()))
             .second) {
      continue;
    }
    sop::v1::Envelope changed = e;
    changed.set_event_id("test:so-change:" + std::to_string(out.size()));
    changed.mutable_sales_order()->set_quantity(e.sales_order().quantity() +
                                                10.0 * static_cast<double>(out.size() + 1));
    out.push_back(std::move(changed));
    if (out.size() == count) break;
  }
  return out;
}

TEST(PlanningStateCoalescing, NFactsThenOneCommitAreOneStepPlanningLikeOneByOne) {
  PlanningState coalesced;
  PlanningState one_by_one;
  Feed(coalesced, Events());
  Feed(one_by_one, Events());
  coalesced.Flush();
  one_by_one.Flush();
  Recorder recorder;
  coalesced.set_listener(&recorder);
  Recorder single;
  one_by_one.set_listener(&single);

  const std::vector<sop::v1::Envelope> changes = ChangedSalesOrders(12);
  ASSERT_EQ(changes.size(), 12u);
  // Ingested at 1,800,000,100 − k: the last one is the earliest.
  for (std::size_t k = 0; k < changes.size(); ++k) {
    const std::string bytes = FactBytes(changes[k], 100 - static_cast<std::int64_t>(k));
    ASSERT_TRUE(coalesced.ApplyFact(KeyOf(changes[k]), bytes).value());
    ASSERT_TRUE(one_by_one.ApplyFact(KeyOf(changes[k]), bytes).value());
    ASSERT_TRUE(one_by_one.CommitNetChange());
  }
  EXPECT_TRUE(coalesced.net_change_pending());
  EXPECT_TRUE(recorder.steps.empty());  // nothing planned until the commit
  EXPECT_EQ(coalesced.version(), 1);
  ASSERT_TRUE(coalesced.CommitNetChange());
  EXPECT_FALSE(coalesced.net_change_pending());
  EXPECT_FALSE(coalesced.CommitNetChange());  // nothing left

  ASSERT_EQ(recorder.steps.size(), 1u);
  const Step& step = recorder.steps.front();
  EXPECT_FALSE(step.rebuild);
  EXPECT_EQ(step.version, 2);
  EXPECT_EQ(coalesced.version(), 2);
  EXPECT_EQ(one_by_one.version(), 13);
  EXPECT_EQ(single.steps.size(), 12u);
  EXPECT_EQ(coalesced.stats().net_changes, 12);
  EXPECT_EQ(coalesced.stats().net_change_commits, 1);

  // The cause: the first event, the earliest ingestion, every id in applied order.
  EXPECT_EQ(step.cause.event_id(), "test:so-change:0");
  EXPECT_EQ(step.cause.event_count(), 12);
  ASSERT_EQ(step.cause.event_ids_size(), 12);
  for (int k = 0; k < 12; ++k) {
    EXPECT_EQ(step.cause.event_ids(k), "test:so-change:" + std::to_string(k));
  }
  EXPECT_EQ(step.cause.ingested_at().seconds(), 1'800'000'000 + 100 - 11);
  EXPECT_EQ(step.cause.description(),
            single.steps.front().cause.description() + " (+11 more events)");
  EXPECT_EQ(single.steps.front().cause.event_count(), 1);
  EXPECT_EQ(single.steps.front().cause.event_ids_size(), 0);

  // The step re-netted the union of what the single steps did, each item-site once.
  std::set<std::int32_t> union_single;
  for (const Step& s : single.steps) {
    for (auto i : s.item_sites) union_single.insert(i.value());
  }
  std::set<std::int32_t> coalesced_set;
  for (auto i : step.item_sites) EXPECT_TRUE(coalesced_set.insert(i.value()).second);
  for (const auto& e : changes) {
    const auto item_site =
        coalesced.snapshot()->FindItemSite(e.sales_order().item_id(), e.sales_order().site_id());
    ASSERT_TRUE(item_site.has_value());
    EXPECT_TRUE(coalesced_set.contains(item_site->value()));
  }
  EXPECT_LE(coalesced_set.size(), union_single.size());
  std::size_t total_single = 0;
  for (const Step& s : single.steps) total_single += s.item_sites.size();
  std::cout << "[ coalesce ] 12 sales-order changes: " << step.item_sites.size()
            << " item-sites re-netted in one step, " << total_single << " in 12 steps\n";

  EXPECT_EQ(Mismatches(*coalesced.engine(), *one_by_one.engine()), 0);
  std::vector<sop::v1::Envelope> all = Events();
  all.insert(all.end(), changes.begin(), changes.end());
  EXPECT_EQ(Mismatches(*coalesced.engine(), *Direct(all)), 0);
  // Flush with nothing staged: no step, nothing changed since the commit's marks are taken.
  const PlanChanges flushed = coalesced.Flush();
  EXPECT_EQ(flushed.version, 2);
  EXPECT_EQ(recorder.steps.size(), 1u);
  coalesced.set_listener(nullptr);
  one_by_one.set_listener(nullptr);
}

TEST(PlanningStateCoalescing, ACauseListsAtMost256Ids) {
  PlanningState state;
  Feed(state, Events());
  state.Flush();
  Recorder recorder;
  state.set_listener(&recorder);
  const std::vector<sop::v1::Envelope> changes = ChangedSalesOrders(300);
  ASSERT_EQ(changes.size(), 300u);
  for (std::size_t k = 0; k < changes.size(); ++k) {
    ASSERT_TRUE(state.ApplyFact(KeyOf(changes[k]), FactBytes(changes[k], 500)).value());
  }
  state.Flush();  // commits
  ASSERT_EQ(recorder.steps.size(), 1u);
  const sop::v1::Cause& cause = recorder.steps.front().cause;
  EXPECT_EQ(cause.event_count(), 300);
  ASSERT_EQ(cause.event_ids_size(), PlanningState::kMaxCauseEventIds);
  EXPECT_EQ(cause.event_ids(255), "test:so-change:255");
  EXPECT_NE(cause.description().find("(+299 more events)"), std::string::npos)
      << cause.description();
  state.set_listener(nullptr);
}

TEST(PlanningStateCoalescing, AFactForcingARebuildMidBatchFoldsTheStagedWorkIntoTheRebuild) {
  PlanningState state;
  Feed(state, Events());
  state.Flush();
  Recorder recorder;
  state.set_listener(&recorder);

  const std::vector<sop::v1::Envelope> changes = ChangedSalesOrders(3);
  ASSERT_TRUE(state.ApplyFact(KeyOf(changes[0]), FactBytes(changes[0], 1)).value());
  ASSERT_TRUE(state.ApplyFact(KeyOf(changes[1]), FactBytes(changes[1], 2)).value());
  // An on-hand change staged too: its rows must be reported by the rebuild although the old
  // engine's snapshot already holds the new balance.
  sop::v1::Envelope count;
  for (const auto& e : Events()) {
    if (e.has_inventory_snapshot()) {
      count = e;
      break;
    }
  }
  ASSERT_TRUE(count.has_inventory_snapshot());
  count.set_event_id("test:count:mid-batch");
  count.mutable_inventory_snapshot()->set_on_hand(count.inventory_snapshot().on_hand() + 1000.0);
  count.mutable_inventory_snapshot()->mutable_as_of()->set_seconds(
      count.inventory_snapshot().as_of().seconds() + 86'400);
  ASSERT_TRUE(state.ApplyFact(KeyOf(count), FactBytes(count, 2)).value());
  ASSERT_TRUE(state.net_change_pending());
  // Master data in the middle of the batch: a full rebuild becomes pending.
  sop::v1::Envelope item;
  for (const auto& e : Events()) {
    if (e.has_item() && e.item().type() == sop::v1::ITEM_TYPE_MAKE) {
      item = e;
      break;
    }
  }
  ASSERT_TRUE(item.has_item());
  item.set_event_id("test:item-change:mid-batch");
  item.mutable_item()->set_safety_stock(item.item().safety_stock() + 500.0);
  ASSERT_TRUE(state.ApplyFact(KeyOf(item), FactBytes(item, 3)).value());
  EXPECT_TRUE(state.rebuild_pending());
  // A fact after it waits for the rebuild.
  ASSERT_TRUE(state.ApplyFact(KeyOf(changes[2]), FactBytes(changes[2], 4)).value());
  EXPECT_FALSE(state.CommitNetChange());  // the rebuild takes the staged work in
  EXPECT_TRUE(recorder.steps.empty());

  const PlanChanges changed = state.Flush();
  ASSERT_EQ(recorder.steps.size(), 1u);
  EXPECT_TRUE(recorder.steps.front().rebuild);
  EXPECT_EQ(recorder.steps.front().version, 2);
  EXPECT_TRUE(changed.rebuilt);
  EXPECT_FALSE(state.net_change_pending());
  EXPECT_EQ(state.version(), 2);
  // Every changed sales order's item-site and the item is reported (against the last committed
  // plan), by the listener and in PlanChanges.
  auto reported = [&](const std::string& item_id, const std::string& site_id) {
    const auto index = state.snapshot()->FindItemSite(item_id, site_id);
    const auto& listed = recorder.steps.front().item_sites;
    return index && std::find(listed.begin(), listed.end(), *index) != listed.end() &&
           std::find(changed.item_sites.begin(), changed.item_sites.end(), *index) !=
               changed.item_sites.end();
  };
  for (const auto& e : changes) {
    EXPECT_TRUE(reported(e.sales_order().item_id(), e.sales_order().site_id())) << e.event_id();
  }
  EXPECT_TRUE(reported(item.item().item_id(), item.item().site_id()));
  EXPECT_TRUE(reported(count.inventory_snapshot().item_id(), count.inventory_snapshot().site_id()));
  std::vector<sop::v1::Envelope> all = Events();
  all.insert(all.end(), changes.begin(), changes.begin() + 2);
  all.push_back(count);
  all.push_back(item);
  all.push_back(changes[2]);
  EXPECT_EQ(Mismatches(*state.engine(), *Direct(all)), 0);
  // Rebuild() discards staged work the same way.
  const std::vector<sop::v1::Envelope> more = ChangedSalesOrders(5);
  sop::v1::Envelope again = more[4];
  again.set_event_id("test:so-change:again");
  again.mutable_sales_order()->set_quantity(again.sales_order().quantity() + 1.0);
  ASSERT_TRUE(state.ApplyFact(KeyOf(again), FactBytes(again, 5)).value());
  EXPECT_TRUE(state.net_change_pending());
  state.Rebuild(sop::v1::Cause(), /*full=*/false);
  EXPECT_FALSE(state.net_change_pending());
  EXPECT_FALSE(state.CommitNetChange());
  ASSERT_EQ(recorder.steps.size(), 2u);
  EXPECT_TRUE(recorder.steps.back().rebuild);
  all.push_back(again);
  EXPECT_EQ(Mismatches(*state.engine(), *Direct(all)), 0);
  state.set_listener(nullptr);
}

}  // namespace
}  // namespace sop::codec
