// ExceptionBook on hand-made plants: conversion, deltas, incremental updates, queries, acks.

#include "sop/exceptions/book.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "sop/model/snapshot_builder.hpp"
#include "sop/planning/change.hpp"

namespace sop::exceptions {
namespace {

model::ItemRecord Item(std::string id, model::ItemKind kind, double cost, double price,
                       std::int32_t lead_time, std::int32_t frozen_fence, std::string family) {
  model::ItemRecord item;
  item.item_id = std::move(id);
  item.site_id = "P1";
  item.kind = kind;
  item.unit_cost = cost;
  item.unit_price = price;
  item.lead_time = lead_time;
  item.frozen_fence = frozen_fence;
  item.family = std::move(family);
  return item;
}

model::SalesOrderRecord Order(std::string id, std::string customer, std::int32_t priority,
                              std::string item, model::Bucket due, double quantity, double price) {
  model::SalesOrderRecord order;
  order.order_id = std::move(id);
  order.customer_id = std::move(customer);
  order.priority = priority;
  order.item_id = std::move(item);
  order.site_id = "P1";
  order.due_bucket = due;
  order.quantity = quantity;
  order.unit_price = price;
  return order;
}

// Component C1 (frozen for the whole horizon, no stock) feeds HI (price 100, cost 40) and LO
// (price 30, cost 25); C2 feeds LO2 only. SO-HI (CUST-A, priority 1) 10 HI, SO-LO (CUST-B) 10 LO
// and SO-LO2 (CUST-C) 20 LO2 are due in bucket 4: C1 is 20 short from bucket 3, C2 20.
// `money` multiplies every cost and price (the same plant in another currency unit).
planning::NettingEngine Plant(double money = 1.0) {
  model::Horizon horizon;
  horizon.buckets = 10;
  model::SnapshotBuilder b(horizon);
  b.AddSite(model::SiteRecord{"P1", "Plant 1", model::SiteKind::kPlant});
  b.AddItem(Item("HI", model::ItemKind::kMake, 40 * money, 100 * money, 1, 0, "PUMPS"));
  b.AddItem(Item("LO", model::ItemKind::kMake, 25 * money, 30 * money, 1, 0, "PUMPS"));
  b.AddItem(Item("LO2", model::ItemKind::kMake, 25 * money, 30 * money, 1, 0, "VALVES"));
  b.AddItem(Item("C1", model::ItemKind::kBuy, 10 * money, 0, 2, 10, ""));
  b.AddItem(Item("C2", model::ItemKind::kBuy, 10 * money, 0, 2, 10, ""));
  b.SetBom("HI", "P1", {model::BomLineRecord{"C1", 1.0}});
  b.SetBom("LO", "P1", {model::BomLineRecord{"C1", 1.0}});
  b.SetBom("LO2", "P1", {model::BomLineRecord{"C2", 1.0}});
  b.AddSalesOrder(Order("SO-HI", "CUST-A", 1, "HI", 4, 10, 100 * money));
  b.AddSalesOrder(Order("SO-LO", "CUST-B", 2, "LO", 4, 10, 30 * money));
  b.AddSalesOrder(Order("SO-LO2", "CUST-C", 2, "LO2", 4, 20, 30 * money));
  auto built = b.Build();
  planning::NettingEngine engine(std::move(built.snapshot));
  engine.RunFull();
  return engine;
}

sop::v1::Cause CauseOf(std::string event_id) {
  sop::v1::Cause cause;
  cause.set_event_id(std::move(event_id));
  cause.mutable_ingested_at()->set_seconds(1'800'000'000);
  return cause;
}

std::vector<std::string> Ids(const sop::v1::ListExceptionsResponse& response) {
  std::vector<std::string> ids;
  for (const auto& e : response.exceptions()) ids.push_back(e.exception_id());
  return ids;
}

std::vector<std::string> RankerIds(const planning::Ranker& ranker) {
  std::vector<std::string> ids;
  for (const auto* e : ranker.Top(ranker.size())) ids.push_back(e->id);
  return ids;
}

struct Fixture {
  planning::NettingEngine engine = Plant();
  ExceptionBook book;
  std::vector<sop::v1::ExceptionDelta> first;
  Fixture() {
    first = book.Refresh(engine, planning::RoughCut(engine.snapshot(), engine.plan()), {},
                         CauseOf("E-1"));
  }
};

TEST(ExceptionBook, SharedComponentAndOrdersAtRiskCarryCustomersAndRevenueByHand) {
  Fixture f;
  auto all = f.book.List({});
  ASSERT_TRUE(all.has_value()) << all.error().ToString();
  EXPECT_EQ(all->total(), 6);

  auto shared = f.book.Get("SHARED_COMPONENT:C1@P1");
  ASSERT_TRUE(shared.has_value());
  EXPECT_EQ(shared->type(), sop::v1::EXCEPTION_TYPE_CONSTRAINED_COMPONENT);
  EXPECT_EQ(shared->severity(), sop::v1::SEVERITY_RED);
  EXPECT_EQ(shared->site_id(), "P1");
  EXPECT_EQ(shared->item_id(), "C1");
  EXPECT_EQ(shared->first_impact_bucket(), 3);
  EXPECT_DOUBLE_EQ(shared->quantity(), 20.0);
  // 10 HI at 100 + 10 LO at 30; margin 10 × (100 − 40) + 10 × (30 − 25).
  EXPECT_DOUBLE_EQ(shared->revenue_at_risk(), 1300.0);
  EXPECT_DOUBLE_EQ(shared->margin_at_risk(), 650.0);
  EXPECT_EQ(std::vector<std::string>(shared->customer_ids().begin(), shared->customer_ids().end()),
            (std::vector<std::string>{"CUST-A", "CUST-B"}));
  EXPECT_EQ(shared->end_demands(), 2);
  ASSERT_EQ(shared->affected_demands_size(), 2);
  EXPECT_EQ(shared->affected_demands(0).order_id(), "SO-HI");  // largest revenue first
  EXPECT_DOUBLE_EQ(shared->affected_demands(0).revenue(), 1000.0);
  EXPECT_EQ(shared->affected_demands(0).customer_priority(), 1);
  EXPECT_EQ(shared->affected_demands(1).order_id(), "SO-LO");
  EXPECT_DOUBLE_EQ(shared->affected_demands(1).revenue(), 300.0);
  EXPECT_NE(shared->explanation().find("blocks 2 finished goods"), std::string::npos)
      << shared->explanation();

  auto hi = f.book.Get("ORDER_AT_RISK:SO-HI");
  ASSERT_TRUE(hi.has_value());
  EXPECT_EQ(hi->severity(), sop::v1::SEVERITY_RED);  // priority-1 customer
  EXPECT_EQ(hi->item_id(), "HI");
  EXPECT_EQ(hi->family(), "PUMPS");
  EXPECT_DOUBLE_EQ(hi->quantity(), 10.0);
  EXPECT_DOUBLE_EQ(hi->revenue_at_risk(), 1000.0);
  EXPECT_DOUBLE_EQ(hi->margin_at_risk(), 600.0);
  EXPECT_EQ(hi->first_impact_bucket(), 4);
  // Score components by hand: revenue 1000/(1000+10000), margin 600/(600+3000), priority 1 → 1,
  // bucket 4 of 26 → 22/26, one end demand → 1/6, red → 1.
  const auto& s = hi->score_components();
  EXPECT_NEAR(s.revenue_at_risk(), 1000.0 / 11000.0, 1e-12);
  EXPECT_NEAR(s.margin_at_risk(), 600.0 / 3600.0, 1e-12);
  EXPECT_NEAR(s.customer_priority(), 1.0, 1e-12);
  EXPECT_NEAR(s.time_to_impact(), 22.0 / 26.0, 1e-12);
  EXPECT_NEAR(s.breadth(), 1.0 / 6.0, 1e-12);
  EXPECT_NEAR(s.severity(), 1.0, 1e-12);
  EXPECT_NEAR(hi->score(),
              0.30 * s.revenue_at_risk() + 0.25 * s.margin_at_risk() +
                  0.15 * s.customer_priority() + 0.15 * s.time_to_impact() + 0.05 * s.breadth() +
                  0.10 * s.severity(),
              1e-12);
  auto lo = f.book.Get("ORDER_AT_RISK:SO-LO");
  ASSERT_TRUE(lo.has_value());
  EXPECT_EQ(lo->severity(), sop::v1::SEVERITY_AMBER);
  EXPECT_DOUBLE_EQ(lo->revenue_at_risk(), 300.0);
  EXPECT_EQ(std::vector<std::string>(lo->customer_ids().begin(), lo->customer_ids().end()),
            (std::vector<std::string>{"CUST-B"}));
}

TEST(ExceptionBook, ListIsTheRankersOrderWithOneBasedRanks) {
  Fixture f;
  auto all = f.book.List({});
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(Ids(*all), RankerIds(f.book.ranker()));
  for (int k = 0; k < all->exceptions_size(); ++k) EXPECT_EQ(all->exceptions(k).rank(), k + 1);
  EXPECT_TRUE(all->next_page_token().empty());
}

TEST(ExceptionBook, FirstRefreshPublishesEverythingAndARepeatPublishesNothing) {
  Fixture f;
  ASSERT_EQ(f.first.size(), 1u);  // one site
  EXPECT_EQ(f.first[0].site_id(), "P1");
  EXPECT_EQ(f.first[0].upserts_size(), 6);
  EXPECT_EQ(f.first[0].cause().event_id(), "E-1");
  auto again = f.book.Refresh(f.engine, planning::RoughCut(f.engine.snapshot(), f.engine.plan()),
                              {}, CauseOf("E-2"));
  EXPECT_TRUE(again.empty());
}

TEST(ExceptionBook, LargeOrderReRanksIncrementallyLikeAFullDetection) {
  Fixture f;
  // A large order for LO: C1 is now 520 short; the shortage and shared-component exceptions of
  // C1 change, C2's do not.
  model::SalesOrder order;
  order.id = "SO-BIG";
  order.customer_id = "CUST-D";
  order.priority = 1;
  order.item_site = *f.engine.snapshot().FindItemSite("LO", "P1");
  order.due_bucket = 5;
  order.quantity = 500;
  order.unit_price = 30;
  auto touched = f.engine.Apply(planning::UpsertSalesOrder{order});
  ASSERT_TRUE(touched.has_value());
  auto deltas = f.book.Update(f.engine, *touched, CauseOf("E-BIG"));
  ASSERT_EQ(deltas.size(), 1u);
  std::vector<std::string> upserted;
  for (const auto& e : deltas[0].upserts()) upserted.push_back(e.exception_id());
  std::sort(upserted.begin(), upserted.end());
  EXPECT_EQ(upserted, (std::vector<std::string>{"SHARED_COMPONENT:C1@P1", "SHORTAGE:C1@P1"}));
  EXPECT_EQ(deltas[0].cause().event_id(), "E-BIG");
  auto shortage = f.book.Get("SHORTAGE:C1@P1");
  ASSERT_TRUE(shortage.has_value());
  EXPECT_DOUBLE_EQ(shortage->quantity(), 520.0);
  EXPECT_DOUBLE_EQ(shortage->revenue_at_risk(), 1000.0 + 300.0 + 500 * 30.0);

  // The material exceptions after the incremental step equal a full detection's, score and
  // order included; the full detection adds the new order at risk.
  ExceptionBook full;
  full.Refresh(f.engine, planning::RoughCut(f.engine.snapshot(), f.engine.plan()), {},
               CauseOf("E-BIG"));
  std::vector<std::string> incremental_ids = RankerIds(f.book.ranker());
  std::vector<std::string> full_material;
  for (const auto& id : RankerIds(full.ranker())) {
    if (id != "ORDER_AT_RISK:SO-BIG") full_material.push_back(id);
  }
  EXPECT_EQ(incremental_ids, full_material);
  for (const auto& id : incremental_ids) {
    EXPECT_DOUBLE_EQ(f.book.ranker().Find(id)->score.total, full.ranker().Find(id)->score.total)
        << id;
  }
  // The next full detection publishes exactly the new order at risk.
  auto reconciled = f.book.Refresh(
      f.engine, planning::RoughCut(f.engine.snapshot(), f.engine.plan()), {}, CauseOf("E-BIG"));
  ASSERT_EQ(reconciled.size(), 1u);
  ASSERT_EQ(reconciled[0].upserts_size(), 1);
  EXPECT_EQ(reconciled[0].upserts(0).exception_id(), "ORDER_AT_RISK:SO-BIG");
  EXPECT_EQ(RankerIds(f.book.ranker()), RankerIds(full.ranker()));
}

BookOptions Scaled() {
  BookOptions options;
  options.reference_percentile = kDefaultReferencePercentile;
  return options;
}

planning::CapacityPlan Capacity(const planning::NettingEngine& engine) {
  return planning::RoughCut(engine.snapshot(), engine.plan());
}

// The six exceptions of Plant() carry revenue 1300 (SHORTAGE and SHARED_COMPONENT of C1), 1000
// (SO-HI), 600 (SHORTAGE of C2, SO-LO2), 300 (SO-LO); margin 650, 650, 600, 100, 100, 50; end
// demands 2, 2, 1, 1, 1, 1. The p90 (nearest rank: the ⌈0.9 × 6⌉ = 6th smallest) references
// are 1300, 650 and 2.
TEST(ExceptionBook, ScaledReferencesAreTheP90OfAFullDetectionByHand) {
  planning::NettingEngine engine = Plant();
  ExceptionBook book(Scaled());
  book.Refresh(engine, Capacity(engine), {}, CauseOf("E-1"));
  EXPECT_DOUBLE_EQ(book.weights().revenue_reference, 1300.0);
  EXPECT_DOUBLE_EQ(book.weights().margin_reference, 650.0);
  EXPECT_DOUBLE_EQ(book.weights().breadth_reference, 2.0);

  // SHARED_COMPONENT:C1: revenue 1300/(1300+1300), margin 650/(650+650), priority 1 → 1, bucket
  // 3 of 26 → 23/26, 2 end demands → 2/(2+2), red → 1.
  auto shared = book.Get("SHARED_COMPONENT:C1@P1");
  ASSERT_TRUE(shared.has_value());
  const auto& s = shared->score_components();
  EXPECT_DOUBLE_EQ(s.revenue_at_risk(), 0.5);
  EXPECT_DOUBLE_EQ(s.margin_at_risk(), 0.5);
  EXPECT_DOUBLE_EQ(s.breadth(), 0.5);
  EXPECT_NEAR(shared->score(),
              0.30 * 0.5 + 0.25 * 0.5 + 0.15 * 1.0 + 0.15 * 23.0 / 26.0 + 0.05 * 0.5 + 0.10 * 1.0,
              1e-12);
  // SO-HI: revenue 1000/2300, margin 600/1250, one end demand 1/3.
  auto hi = book.Get("ORDER_AT_RISK:SO-HI");
  ASSERT_TRUE(hi.has_value());
  EXPECT_DOUBLE_EQ(hi->score_components().revenue_at_risk(), 1000.0 / 2300.0);
  EXPECT_DOUBLE_EQ(hi->score_components().margin_at_risk(), 600.0 / 1250.0);
  EXPECT_DOUBLE_EQ(hi->score_components().breadth(), 1.0 / 3.0);
}

// The same plant in a unit 1000 times smaller: fixed references (10,000 / 3,000) saturate the
// money components of the top exceptions (> 0.99, the top two scores within 0.01 of each other
// on revenue); the scaled ones do not move (1300000 / 650000 / 2 give the plain plant's scores).
TEST(ExceptionBook, ScaledTopScoresSpreadWhereFixedReferencesSaturate) {
  planning::NettingEngine plain = Plant();
  planning::NettingEngine large = Plant(1000.0);
  ExceptionBook fixed;
  fixed.Refresh(large, Capacity(large), {}, CauseOf("E-1"));
  ExceptionBook scaled(Scaled());
  scaled.Refresh(large, Capacity(large), {}, CauseOf("E-1"));
  ExceptionBook reference(Scaled());
  reference.Refresh(plain, Capacity(plain), {}, CauseOf("E-1"));
  EXPECT_DOUBLE_EQ(scaled.weights().revenue_reference, 1'300'000.0);
  EXPECT_DOUBLE_EQ(scaled.weights().margin_reference, 650'000.0);

  const auto* fixed_top = fixed.ranker().Top(2)[0];
  const auto* fixed_second = fixed.ranker().Top(2)[1];
  EXPECT_GT(fixed_top->score.revenue, 0.99);  // 1.3 M / (1.3 M + 10,000)
  EXPECT_GT(fixed_top->score.margin, 0.99);
  EXPECT_LT(fixed_top->score.revenue - fixed_second->score.revenue, 0.01);

  for (const auto* e : scaled.ranker().Top(scaled.size())) {
    EXPECT_LE(e->score.revenue, 0.5) << e->id;  // nothing above the p90 (1300 / 1.3 M)
    EXPECT_LT(e->score.total, 0.7) << e->id;
    EXPECT_NEAR(e->score.total, reference.ranker().Find(e->id)->score.total, 1e-12) << e->id;
  }
  EXPECT_EQ(RankerIds(scaled.ranker()), RankerIds(reference.ranker()));
  // Fixed: the six scores lie within 0.45 of each other above 0.55; scaled: they spread wider.
  const auto spread = [](const ExceptionBook& book) {
    const auto top = book.ranker().Top(book.size());
    return top.front()->score.total - top.back()->score.total;
  };
  EXPECT_GT(spread(scaled), spread(fixed));
}

// References change only when a full detection's percentile moved by more than the tolerance
// (10 %): SO-LO 10 → 11 moves the C1 revenue p90 from 1300 to 1330 (2.3 %): kept, and the
// incremental update scores with them; a 500-unit order moves it to 16,300: re-computed.
TEST(ExceptionBook, ReferencesMoveOnlyBeyondTheTolerance) {
  planning::NettingEngine engine = Plant();
  ExceptionBook book(Scaled());
  book.Refresh(engine, Capacity(engine), {}, CauseOf("E-1"));
  const model::SalesOrder lo = engine.snapshot().sales_orders[1];
  ASSERT_EQ(lo.id, "SO-LO");
  model::SalesOrder more = lo;
  more.quantity = 11;
  auto touched = engine.Apply(planning::UpsertSalesOrder{more});
  ASSERT_TRUE(touched.has_value());
  book.Update(engine, *touched, CauseOf("E-2"));
  auto shortage = book.Get("SHORTAGE:C1@P1");
  ASSERT_TRUE(shortage.has_value());
  EXPECT_DOUBLE_EQ(shortage->revenue_at_risk(), 1330.0);
  EXPECT_DOUBLE_EQ(shortage->score_components().revenue_at_risk(), 1330.0 / (1330.0 + 1300.0));
  auto settled = book.Refresh(engine, Capacity(engine), {}, CauseOf("E-2"));
  EXPECT_DOUBLE_EQ(book.weights().revenue_reference, 1300.0);  // 1330 is within 10 %
  EXPECT_DOUBLE_EQ(book.weights().margin_reference, 650.0);    // 600 + 55: within 10 %
  // Published: only what the change made different (SO-LO at risk 11, not every exception).
  std::size_t upserts = 0;
  for (const auto& delta : settled) upserts += static_cast<std::size_t>(delta.upserts_size());
  EXPECT_EQ(upserts, 1u);

  model::SalesOrder big;
  big.id = "SO-BIG";
  big.customer_id = "CUST-D";
  big.priority = 1;
  big.item_site = lo.item_site;
  big.due_bucket = 5;
  big.quantity = 500;
  big.unit_price = 30;
  touched = engine.Apply(planning::UpsertSalesOrder{big});
  ASSERT_TRUE(touched.has_value());
  book.Update(engine, *touched, CauseOf("E-3"));
  EXPECT_DOUBLE_EQ(book.weights().revenue_reference, 1300.0);  // increments keep them
  auto moved = book.Refresh(engine, Capacity(engine), {}, CauseOf("E-3"));
  // Revenues now 16,330 (C1 twice), 15,000 (SO-BIG), 1000, 600 (twice), 330: p90 = 16,330.
  EXPECT_DOUBLE_EQ(book.weights().revenue_reference, 16'330.0);
  upserts = 0;
  for (const auto& delta : moved) upserts += static_cast<std::size_t>(delta.upserts_size());
  EXPECT_EQ(upserts, book.size());  // every score changed: every exception published again
}

BookOptions Following() {
  BookOptions options;
  options.follow_orders_at_risk = true;
  return options;
}

// The published list equals a fresh Refresh of the same plan: ids in rank order, scores and
// quantities.
void ExpectSameAsRefresh(const ExceptionBook& book, const planning::NettingEngine& engine,
                         BookOptions options) {
  ExceptionBook full(std::move(options));
  full.Refresh(engine, Capacity(engine), {}, CauseOf("E-FULL"));
  ASSERT_EQ(RankerIds(book.ranker()), RankerIds(full.ranker()));
  for (const auto& id : RankerIds(full.ranker())) {
    auto served = book.Get(id);
    auto expected = full.Get(id);
    ASSERT_TRUE(served.has_value() && expected.has_value()) << id;
    EXPECT_EQ(served->score(), expected->score()) << id;
    EXPECT_EQ(served->quantity(), expected->quantity()) << id;
    EXPECT_EQ(served->revenue_at_risk(), expected->revenue_at_risk()) << id;
    EXPECT_EQ(served->explanation(), expected->explanation()) << id;
  }
}

std::set<std::string> UpsertIds(const std::vector<sop::v1::ExceptionDelta>& deltas) {
  std::set<std::string> ids;
  for (const auto& delta : deltas) {
    for (const auto& e : delta.upserts()) ids.insert(e.exception_id());
  }
  return ids;
}

std::set<std::string> ResolvedIds(const std::vector<sop::v1::ExceptionDelta>& deltas) {
  std::set<std::string> ids;
  for (const auto& delta : deltas) {
    for (const auto& id : delta.resolved_ids()) ids.insert(id);
  }
  return ids;
}

// Following orders at risk, a change publishes its orders at risk at once: SO-LO 10 → 25 puts
// 25 of it at risk (revenue 750, C1 now 35 short), SO-HI's stays 10 (not published again);
// cancelling SO-LO2 resolves its order at risk with C2's shortage. After each change the book
// equals a full detection of the plan.
TEST(ExceptionBook, FollowedOrdersAtRiskArePublishedWithTheirChange) {
  planning::NettingEngine engine = Plant();
  ExceptionBook book(Following());
  book.Refresh(engine, Capacity(engine), {}, CauseOf("E-1"));
  planning::MaterialRedetector redetector(engine);

  model::SalesOrder lo = engine.snapshot().sales_orders[1];
  lo.quantity = 25;
  auto touched = engine.Apply(planning::UpsertSalesOrder{lo});
  ASSERT_TRUE(touched.has_value());
  auto deltas = book.Update(engine, *touched, CauseOf("E-LO"), &redetector);
  EXPECT_EQ(UpsertIds(deltas), (std::set<std::string>{"ORDER_AT_RISK:SO-LO",
                                                      "SHARED_COMPONENT:C1@P1", "SHORTAGE:C1@P1"}));
  EXPECT_TRUE(ResolvedIds(deltas).empty());
  auto risk = book.Get("ORDER_AT_RISK:SO-LO");
  ASSERT_TRUE(risk.has_value());
  EXPECT_DOUBLE_EQ(risk->quantity(), 25.0);
  EXPECT_DOUBLE_EQ(risk->revenue_at_risk(), 750.0);
  EXPECT_DOUBLE_EQ(risk->margin_at_risk(), 125.0);
  ExpectSameAsRefresh(book, engine, Following());

  touched = engine.Apply(planning::CancelSalesOrder{"SO-LO2"});
  ASSERT_TRUE(touched.has_value());
  deltas = book.Update(engine, *touched, CauseOf("E-CANCEL"), &redetector);
  EXPECT_TRUE(UpsertIds(deltas).empty());
  EXPECT_EQ(ResolvedIds(deltas), (std::set<std::string>{"ORDER_AT_RISK:SO-LO2", "SHORTAGE:C2@P1"}));
  ExpectSameAsRefresh(book, engine, Following());
  // The next full detection has nothing left to settle.
  EXPECT_TRUE(book.Refresh(engine, Capacity(engine), {}, CauseOf("E-FULL")).empty());
}

// The service makes its redetector at the first change after a full detection, on the plan
// with that change: the first Update reconciles every order at risk of the book with it.
TEST(ExceptionBook, ARedetectorMadeAfterTheChangeReconcilesTheOrdersAtRisk) {
  planning::NettingEngine engine = Plant();
  ExceptionBook book(Following());
  book.Refresh(engine, Capacity(engine), {}, CauseOf("E-1"));
  auto touched = engine.Apply(planning::CancelSalesOrder{"SO-HI"});
  ASSERT_TRUE(touched.has_value());
  planning::MaterialRedetector redetector(engine);
  auto deltas = book.Update(engine, *touched, CauseOf("E-CANCEL"), &redetector);
  EXPECT_TRUE(ResolvedIds(deltas).contains("ORDER_AT_RISK:SO-HI"));
  EXPECT_FALSE(UpsertIds(deltas).contains("ORDER_AT_RISK:SO-LO"));  // unchanged: not published
  ExpectSameAsRefresh(book, engine, Following());
}

// A full detection of an older plan merged with the redetector: its orders at risk are replaced
// by the current plan's (SO-LO 10 → 40 after the copy), the others kept as they are.
TEST(ExceptionBook, MergeTakesTheCurrentPlansOrdersAtRisk) {
  planning::NettingEngine engine = Plant();
  ExceptionBook book(Following());
  book.Refresh(engine, Capacity(engine), {}, CauseOf("E-1"));
  planning::MaterialRedetector redetector(engine);
  FullDetection old = DetectFull(Following(), engine, Capacity(engine), {});
  model::SalesOrder lo = engine.snapshot().sales_orders[1];
  lo.quantity = 40;
  auto touched = engine.Apply(planning::UpsertSalesOrder{lo});
  ASSERT_TRUE(touched.has_value());
  book.Update(engine, *touched, CauseOf("E-LO"), &redetector);
  auto merged = book.Merge(std::move(old), &engine, *touched, CauseOf("E-1"), &redetector);
  EXPECT_TRUE(merged.empty());  // nothing older overwrote the change
  auto risk = book.Get("ORDER_AT_RISK:SO-LO");
  ASSERT_TRUE(risk.has_value());
  EXPECT_DOUBLE_EQ(risk->quantity(), 40.0);
  ExpectSameAsRefresh(book, engine, Following());
}

BookOptions FollowingCapacity() {
  BookOptions options;
  options.follow_orders_at_risk = true;
  options.follow_capacity = true;
  return options;
}

// LINE-2 (10 h a bucket) and FG (one hour a unit, lead time 1): SO-2/3/4, 15 FG each due in
// buckets 2–4, load it 15 h in buckets 1–3: three overloads of 5 h and a bottleneck of 15 h.
planning::NettingEngine LinePlant() {
  model::Horizon horizon;
  horizon.buckets = 10;
  model::SnapshotBuilder b(horizon);
  b.AddSite(model::SiteRecord{"P1", "Plant 1", model::SiteKind::kPlant});
  b.AddItem(Item("FG", model::ItemKind::kMake, 20, 50, 1, 0, "PUMPS"));
  model::WorkCenterRecord wc;
  wc.work_center_id = "LINE-2";
  wc.site_id = "P1";
  wc.available_hours.assign(10, 10.0);
  b.AddWorkCenter(wc);
  b.SetRouting("FG", "P1", {model::RoutingStepRecord{10, "LINE-2", 0.0, 1.0}});
  for (model::Bucket t = 2; t <= 4; ++t) {
    b.AddSalesOrder(Order("SO-" + std::to_string(t), "CUST-A", 1, "FG", t, 15, 50));
  }
  auto built = b.Build();
  planning::NettingEngine engine(std::move(built.snapshot));
  engine.RunFull();
  return engine;
}

// Following capacity, a change publishes its capacity exceptions at once: SO-3 15 → 8 fits
// bucket 2 (8 h of 10), which resolves that overload and the bottleneck (two overloaded buckets
// of the three it takes); SO-3 → 12 brings both back (2 h over, bottleneck 12 h). After each
// change the book equals a full detection and the next full detection settles nothing. The
// service's redetector is made at the first change: that Update reconciles the book.
TEST(ExceptionBook, FollowedCapacityExceptionsArePublishedWithTheirChange) {
  planning::NettingEngine engine = LinePlant();
  ExceptionBook book(FollowingCapacity());
  book.Refresh(engine, Capacity(engine), {}, CauseOf("E-1"));
  ASSERT_TRUE(book.Get("BOTTLENECK:LINE-2").has_value());
  model::SalesOrder so3 = engine.snapshot().sales_orders[1];
  ASSERT_EQ(so3.id, "SO-3");
  so3.quantity = 8;
  auto touched = engine.Apply(planning::UpsertSalesOrder{so3});
  ASSERT_TRUE(touched.has_value());
  planning::MaterialRedetector redetector(engine);
  auto deltas = book.Update(engine, *touched, CauseOf("E-DOWN"), &redetector);
  EXPECT_EQ(ResolvedIds(deltas),
            (std::set<std::string>{"BOTTLENECK:LINE-2", "CAPACITY_OVERLOAD:LINE-2#2"}));
  EXPECT_FALSE(UpsertIds(deltas).contains("CAPACITY_OVERLOAD:LINE-2#1"));  // unchanged
  ExpectSameAsRefresh(book, engine, FollowingCapacity());
  EXPECT_TRUE(book.Refresh(engine, Capacity(engine), {}, CauseOf("E-FULL")).empty());

  so3.quantity = 12;
  touched = engine.Apply(planning::UpsertSalesOrder{so3});
  ASSERT_TRUE(touched.has_value());
  deltas = book.Update(engine, *touched, CauseOf("E-UP"), &redetector);
  EXPECT_TRUE(UpsertIds(deltas).contains("CAPACITY_OVERLOAD:LINE-2#2"));
  EXPECT_TRUE(UpsertIds(deltas).contains("BOTTLENECK:LINE-2"));
  auto cell = book.Get("CAPACITY_OVERLOAD:LINE-2#2");
  ASSERT_TRUE(cell.has_value());
  EXPECT_DOUBLE_EQ(cell->quantity(), 2.0);
  auto bottleneck = book.Get("BOTTLENECK:LINE-2");
  ASSERT_TRUE(bottleneck.has_value());
  EXPECT_DOUBLE_EQ(bottleneck->quantity(), 12.0);
  ExpectSameAsRefresh(book, engine, FollowingCapacity());

  // A full detection of the plan before SO-3 → 20 merged after it: the capacity exceptions are
  // the current plan's (10 h over in bucket 2), not the older copy's 2 h.
  FullDetection old = DetectFull(FollowingCapacity(), engine, Capacity(engine), {});
  so3.quantity = 20;
  touched = engine.Apply(planning::UpsertSalesOrder{so3});
  ASSERT_TRUE(touched.has_value());
  book.Update(engine, *touched, CauseOf("E-UP2"), &redetector);
  EXPECT_TRUE(book.Merge(std::move(old), &engine, *touched, CauseOf("E-1"), &redetector).empty());
  cell = book.Get("CAPACITY_OVERLOAD:LINE-2#2");
  ASSERT_TRUE(cell.has_value());
  EXPECT_DOUBLE_EQ(cell->quantity(), 10.0);
  ExpectSameAsRefresh(book, engine, FollowingCapacity());
}

TEST(ExceptionBook, CancelledOrderResolvesItsExceptions) {
  Fixture f;
  auto touched = f.engine.Apply(planning::CancelSalesOrder{"SO-LO2"});
  ASSERT_TRUE(touched.has_value());
  auto deltas = f.book.Update(f.engine, *touched, CauseOf("E-CANCEL"));
  ASSERT_EQ(deltas.size(), 1u);
  EXPECT_EQ(deltas[0].upserts_size(), 0);
  EXPECT_EQ(
      std::vector<std::string>(deltas[0].resolved_ids().begin(), deltas[0].resolved_ids().end()),
      (std::vector<std::string>{"SHORTAGE:C2@P1"}));
  auto full = f.book.Refresh(f.engine, planning::RoughCut(f.engine.snapshot(), f.engine.plan()), {},
                             CauseOf("E-CANCEL"));
  ASSERT_EQ(full.size(), 1u);
  EXPECT_EQ(std::vector<std::string>(full[0].resolved_ids().begin(), full[0].resolved_ids().end()),
            (std::vector<std::string>{"ORDER_AT_RISK:SO-LO2"}));
  EXPECT_EQ(f.book.size(), 4u);
}

TEST(ExceptionBook, FiltersBySiteFamilyTypeAndSeverity) {
  Fixture f;
  sop::v1::ListExceptionsRequest request;
  request.set_family("PUMPS");
  auto pumps = f.book.List(request);
  ASSERT_TRUE(pumps.has_value());
  std::vector<std::string> ids = Ids(*pumps);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"ORDER_AT_RISK:SO-HI", "ORDER_AT_RISK:SO-LO"}));

  request = {};
  request.add_types(sop::v1::EXCEPTION_TYPE_PROJECTED_SHORTAGE);
  request.add_types(sop::v1::EXCEPTION_TYPE_CONSTRAINED_COMPONENT);
  auto material = f.book.List(request);
  ASSERT_TRUE(material.has_value());
  EXPECT_EQ(material->total(), 3);

  request = {};
  request.set_min_severity(sop::v1::SEVERITY_RED);
  auto red = f.book.List(request);
  ASSERT_TRUE(red.has_value());
  EXPECT_EQ(red->total(), 4);  // two shortages, the shared component, SO-HI (priority 1)
  for (const auto& e : red->exceptions()) EXPECT_EQ(e.severity(), sop::v1::SEVERITY_RED);

  request = {};
  request.set_site_id("P9");
  auto none = f.book.List(request);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->total(), 0);
}

TEST(ExceptionBook, TopAndPagesWalkTheRankedListWithoutGapsOrRepeats) {
  Fixture f;
  const std::vector<std::string> expected = RankerIds(f.book.ranker());
  sop::v1::ListExceptionsRequest request;
  request.set_top(3);
  auto top = f.book.List(request);
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(Ids(*top), std::vector<std::string>(expected.begin(), expected.begin() + 3));
  EXPECT_EQ(top->total(), 6);
  EXPECT_TRUE(top->next_page_token().empty());

  request = {};
  request.set_page_size(4);
  std::vector<std::string> walked;
  int pages = 0;
  do {
    auto page = f.book.List(request);
    ASSERT_TRUE(page.has_value()) << page.error().ToString();
    for (const auto& e : page->exceptions()) walked.push_back(e.exception_id());
    request.set_page_token(page->next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 10);
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(walked, expected);

  // Top 5 in pages of 2: 2 + 2 + 1.
  request = {};
  request.set_top(5);
  request.set_page_size(2);
  walked.clear();
  pages = 0;
  do {
    auto page = f.book.List(request);
    ASSERT_TRUE(page.has_value());
    for (const auto& e : page->exceptions()) walked.push_back(e.exception_id());
    request.set_page_token(page->next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(walked, std::vector<std::string>(expected.begin(), expected.begin() + 5));
}

TEST(ExceptionBook, BadRequestsNameTheFieldAndTheValue) {
  Fixture f;
  auto check = [&](const sop::v1::ListExceptionsRequest& request, const std::string& text) {
    auto result = f.book.List(request);
    ASSERT_FALSE(result.has_value()) << text;
    EXPECT_EQ(result.error().code(), Errc::kInvalidArgument);
    EXPECT_NE(result.error().message().find(text), std::string::npos) << result.error().message();
  };
  sop::v1::ListExceptionsRequest request;
  request.set_top(-1);
  check(request, "top: must be >= 0 (0 = no limit), got '-1'");
  request = {};
  request.set_page_size(5000);
  check(request, "page_size: must be in [0, 1000] (0 = default 50), got '5000'");
  request = {};
  request.set_page_token("garbage");
  check(request, "page_token: not a page token of ListExceptions, got 'garbage'");
  request = {};
  request.add_types(sop::v1::EXCEPTION_TYPE_UNSPECIFIED);
  check(request, "types[0]: must be a known exception type, got 'EXCEPTION_TYPE_UNSPECIFIED'");
  request = {};
  request.set_min_severity(static_cast<sop::v1::Severity>(9));
  check(request, "min_severity: must be a known severity, got '9'");

  sop::v1::AcknowledgeRequest ack;
  ack.set_exception_id("SHORTAGE:C1@P1");
  auto no_who = f.book.PrepareAcknowledge(ack, 0);
  ASSERT_FALSE(no_who.has_value());
  EXPECT_EQ(no_who.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(no_who.error().message().find("who:"), std::string::npos);
  ack.set_who("ana");
  ack.set_exception_id("SHORTAGE:NOPE@P1");
  auto unknown = f.book.PrepareAcknowledge(ack, 0);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), Errc::kNotFound);
  EXPECT_NE(unknown.error().message().find("SHORTAGE:NOPE@P1"), std::string::npos);
}

TEST(ExceptionBook, AcknowledgedExceptionsAreHiddenUnlessAskedForAndKeepWhoAndWhy) {
  Fixture f;
  sop::v1::AcknowledgeRequest request;
  request.set_exception_id("SHORTAGE:C2@P1");
  request.set_who("ana");
  request.set_reason("expedite agreed with supplier");
  auto ack = f.book.PrepareAcknowledge(request, 1'800'000'000'123);
  ASSERT_TRUE(ack.has_value());
  // The log record round-trips.
  auto decoded = Acknowledgement::Decode(ack->Encode());
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->who, "ana");
  EXPECT_EQ(decoded->at_unix_ms, 1'800'000'000'123);
  EXPECT_FALSE(Acknowledgement::Decode("\xff\xff").has_value());
  f.book.Acknowledge(*decoded);

  auto open = f.book.List({});
  ASSERT_TRUE(open.has_value());
  EXPECT_EQ(open->total(), 5);
  sop::v1::ListExceptionsRequest all;
  all.set_include_acknowledged(true);
  auto everything = f.book.List(all);
  ASSERT_TRUE(everything.has_value());
  EXPECT_EQ(everything->total(), 6);
  auto shown = f.book.Get("SHORTAGE:C2@P1");
  ASSERT_TRUE(shown.has_value());
  EXPECT_EQ(shown->acknowledged_by(), "ana");
  EXPECT_EQ(shown->acknowledge_reason(), "expedite agreed with supplier");
  EXPECT_EQ(shown->acknowledged_at().seconds(), 1'800'000'000);
  EXPECT_EQ(shown->acknowledged_at().nanos(), 123'000'000);
}

TEST(ExceptionBook, OpenCountsByTypeSeverityAndSite) {
  Fixture f;
  const OpenCounts counts = f.book.Counts();
  EXPECT_EQ((counts.at({sop::v1::EXCEPTION_TYPE_PROJECTED_SHORTAGE, sop::v1::SEVERITY_RED, "P1"})),
            2);
  EXPECT_EQ((counts.at({sop::v1::EXCEPTION_TYPE_ORDER_AT_RISK, sop::v1::SEVERITY_AMBER, "P1"})), 2);
  EXPECT_EQ((counts.at({sop::v1::EXCEPTION_TYPE_ORDER_AT_RISK, sop::v1::SEVERITY_RED, "P1"})), 1);
}

}  // namespace
}  // namespace sop::exceptions
