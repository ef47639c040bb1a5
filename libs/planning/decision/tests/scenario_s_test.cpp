// The seed scenarios of issue 5 end to end on a generated S-scale manufacturer (sop::gen +
// sop::codec): each asserts the figures a planner would check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "sop/codec/assembler.hpp"
#include "sop/gen/generator.hpp"
#include "sop/planning/change.hpp"
#include "sop/planning/scenario.hpp"
#include "sop/planning/seed_scenarios.hpp"
#include "sop/v1/events.pb.h"

namespace sop::planning {
namespace {

class DecisionScenarioS : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gen::GeneratorOptions options;
    options.scale = gen::Scale::kS;
    options.history_weeks = 0;
    codec::SnapshotAssembler assembler;
    auto stats = gen::Generate(options, [&](const v1::Envelope& e) { assembler.Apply(e); });
    ASSERT_TRUE(stats.has_value());
    auto assembled = assembler.BuildAndRelease();
    ASSERT_TRUE(assembled.has_value());
    engine_ = std::make_unique<NettingEngine>(std::move(assembled->snapshot));
    engine_->RunFull();
    evaluator_ = std::make_unique<ScenarioEvaluator>(*engine_, DetectionHistory{});
  }
  static void TearDownTestSuite() {
    evaluator_.reset();
    engine_.reset();
  }
  static const model::Snapshot& S() { return engine_->snapshot(); }
  static const ScenarioOutcome& Base() { return evaluator_->base(); }

  static std::unique_ptr<NettingEngine> engine_;
  static std::unique_ptr<ScenarioEvaluator> evaluator_;
};

std::unique_ptr<NettingEngine> DecisionScenarioS::engine_;
std::unique_ptr<ScenarioEvaluator> DecisionScenarioS::evaluator_;

// Incremental evaluation (net change on a copy of the base engine, re-detection of only what it
// touched) must give exactly the outcome of the reference path (full netting and detection).
TEST_F(DecisionScenarioS, IncrementalEvaluationEqualsTheFullReRun) {
  ScenarioOptions reference_options;
  reference_options.incremental = false;
  const ScenarioEvaluator reference(*engine_, DetectionHistory{}, reference_options);
  auto scenarios = SeedScenarios(*engine_, Base());
  // Two netting overrides in one scenario: the second sees the values the first set.
  scenarios.push_back(
      Scenario{"family twice + safety stock",
               {DemandMultiplier{S().item_sites.front().family, "", "", 2, 30, 1.5},
                DemandMultiplier{S().item_sites.front().family, "", "", 10, 40, 0.5},
                SafetyStockChange{"", "", "", 1.5}}});
  ASSERT_GE(scenarios.size(), 6u);
  // EvaluateAll shares one copy of the base engine between the netting scenarios (each undoes
  // its net change before the next): the same outcomes as a fresh copy each (Evaluate).
  auto shared = evaluator_->EvaluateAll(scenarios);
  ASSERT_EQ(shared.size(), scenarios.size());
  for (std::size_t s = 0; s < scenarios.size(); ++s) {
    const auto& scenario = scenarios[s];
    SCOPED_TRACE(scenario.name);
    auto fast = evaluator_->Evaluate(scenario);
    auto full = reference.Evaluate(scenario);
    ASSERT_TRUE(fast.has_value()) << fast.error().ToString();
    ASSERT_TRUE(full.has_value()) << full.error().ToString();
    ASSERT_TRUE(shared[s].has_value()) << shared[s].error().ToString();
    EXPECT_EQ(shared[s]->appeared, full->appeared);
    EXPECT_EQ(shared[s]->disappeared, full->disappeared);
    EXPECT_EQ(shared[s]->kpis.fill_rate, full->kpis.fill_rate);
    EXPECT_EQ(shared[s]->kpis.gross_margin, full->kpis.gross_margin);
    EXPECT_EQ(shared[s]->kpis.working_capital, full->kpis.working_capital);
    ASSERT_EQ(shared[s]->exceptions.size(), full->exceptions.size());
    for (std::size_t k = 0; k < full->exceptions.size(); ++k) {
      ASSERT_EQ(shared[s]->exceptions[k].id, full->exceptions[k].id) << "rank " << k;
      EXPECT_EQ(shared[s]->exceptions[k].explanation, full->exceptions[k].explanation);
      EXPECT_EQ(shared[s]->exceptions[k].score.total, full->exceptions[k].score.total);
    }
    EXPECT_EQ(fast->appeared, full->appeared);
    EXPECT_EQ(fast->disappeared, full->disappeared);
    ASSERT_EQ(fast->exceptions.size(), full->exceptions.size());
    for (std::size_t k = 0; k < fast->exceptions.size(); ++k) {
      const auto& a = fast->exceptions[k];
      const auto& b = full->exceptions[k];
      ASSERT_EQ(a.id, b.id) << "rank " << k;
      EXPECT_EQ(a.quantity, b.quantity) << a.id;
      EXPECT_EQ(a.revenue_at_risk, b.revenue_at_risk) << a.id;
      EXPECT_EQ(a.margin_at_risk, b.margin_at_risk) << a.id;
      EXPECT_EQ(a.sales_orders, b.sales_orders) << a.id;
      EXPECT_EQ(a.customers, b.customers) << a.id;
      EXPECT_EQ(a.end_demands, b.end_demands) << a.id;
      EXPECT_EQ(a.explanation, b.explanation) << a.id;
      EXPECT_EQ(a.score.total, b.score.total) << a.id;
    }
    EXPECT_EQ(fast->kpis.fill_rate, full->kpis.fill_rate);
    EXPECT_EQ(fast->kpis.revenue, full->kpis.revenue);
    EXPECT_EQ(fast->kpis.gross_margin, full->kpis.gross_margin);
    EXPECT_EQ(fast->kpis.load_hours, full->kpis.load_hours);
    EXPECT_EQ(fast->kpis.average_inventory_value, full->kpis.average_inventory_value);
    EXPECT_EQ(fast->kpis.working_capital, full->kpis.working_capital);
    EXPECT_EQ(fast->load_by_work_center, full->load_by_work_center);
  }
}

// Ranked with the base's 90th-percentile references (the default), the top scores at S spread
// instead of saturating: with the fixed references the top ten lie within 0.01 of 1.00.
TEST_F(DecisionScenarioS, TopScoresSpreadWithTheDefaultScaledReferences) {
  const auto& ranked = Base().exceptions;
  ASSERT_GE(ranked.size(), 10u);
  int at_one = 0, revenue_saturated = 0;
  for (std::size_t k = 0; k < 10; ++k) {
    const auto& s = ranked[k].score;
    EXPECT_LE(s.total, 1.0) << ranked[k].id;
    if (std::round(s.total * 100.0) == 100.0) ++at_one;
    if (s.revenue > 0.99) ++revenue_saturated;  // the p90 scores 0.5; only outliers near 1
  }
  // Fixed references at S (seed 1): 0.9908 to 1.0000, five round to 1.00, a spread of 0.009;
  // scaled: 0.8994 to 0.9945.
  EXPECT_LE(at_one, 2);
  EXPECT_LT(revenue_saturated, 5);
  EXPECT_GT(ranked[0].score.total - ranked[9].score.total, 0.03);
  // The references are the base's: larger than the fixed ones at S (revenue 10,000).
  EXPECT_GT(evaluator_->ranking().revenue_reference, RankingWeights{}.revenue_reference);
}

// The redetector keeps reach summaries across net changes; after every change its exceptions
// must equal a fresh re-detection's (which rebuilds every summary it needs).
TEST_F(DecisionScenarioS, RedetectionAcrossNetChangesEqualsAFreshDetection) {
  NettingEngine engine(*engine_);
  MaterialRedetector redetector(engine);
  std::size_t compared = 0;
  for (int step = 0; step < 40; ++step) {
    Change change;
    const auto& orders = engine.snapshot().sales_orders;
    if (step % 4 == 3) {
      // A receipt pushed out: changes supply of a component (its parents' reach is unchanged).
      auto receipt =
          engine.snapshot()
              .receipts[static_cast<std::size_t>(step * 7919) % engine.snapshot().receipts.size()];
      receipt.due_bucket = std::min(engine.snapshot().H() - 1, receipt.due_bucket + 3);
      change = UpsertReceipt{receipt};
    } else {
      auto order = orders[static_cast<std::size_t>(step * 104729) % orders.size()];
      order.quantity = std::round(order.quantity * (step % 2 == 0 ? 1.7 : 0.4));
      change = UpsertSalesOrder{order};
    }
    auto touched = engine.Apply(change);
    ASSERT_TRUE(touched.has_value()) << touched.error().ToString();
    std::vector<std::string> scope_kept, scope_fresh;
    const auto kept = redetector.Redetect(*touched, &scope_kept);
    const auto fresh = DetectItemSiteExceptions(engine, *touched, DetectionPolicy{}, &scope_fresh);
    EXPECT_EQ(scope_kept, scope_fresh);
    ASSERT_EQ(kept.size(), fresh.size()) << "step " << step;
    for (std::size_t k = 0; k < kept.size(); ++k) {
      ASSERT_EQ(kept[k].id, fresh[k].id);
      EXPECT_EQ(kept[k].revenue_at_risk, fresh[k].revenue_at_risk) << kept[k].id;
      EXPECT_EQ(kept[k].margin_at_risk, fresh[k].margin_at_risk) << kept[k].id;
      EXPECT_EQ(kept[k].sales_orders, fresh[k].sales_orders) << kept[k].id;
      EXPECT_EQ(kept[k].end_demands, fresh[k].end_demands) << kept[k].id;
      EXPECT_EQ(kept[k].explanation, fresh[k].explanation) << kept[k].id;
      ++compared;
    }
  }
  EXPECT_GT(compared, 20u) << "the changes should touch item-sites with exceptions";
}

// ORDER_AT_RISK followed through random net changes (sales orders up, down, new, cancelled;
// receipts pushed out; forecasts changed) equals a full DetectExceptions's after every change —
// the whole set (OrdersAtRisk) and the set folded from what TakeOrdersAtRisk hands out — and so
// do the material exceptions folded from Redetect (every reached item-site's when following).
TEST_F(DecisionScenarioS, FollowedOrdersAtRiskEqualAFullDetectionAfterEveryNetChange) {
  NettingEngine engine(*engine_);
  MaterialRedetector redetector(engine);
  redetector.FollowOrdersAtRisk();
  std::map<std::string, Exception> folded;
  for (auto& e : redetector.OrdersAtRisk()) folded.emplace(e.id, std::move(e));
  // The material exceptions, folded from Redetect (following: every reached item-site's).
  const auto is_material = [](ExceptionType type) {
    return type == ExceptionType::kShortage || type == ExceptionType::kBelowSafetyStock ||
           type == ExceptionType::kPastDueRelease || type == ExceptionType::kSharedComponent ||
           type == ExceptionType::kExcessInventory || type == ExceptionType::kObsoleteInventory;
  };
  std::map<std::string, Exception> material;
  for (auto& e : DetectExceptions(engine, RoughCut(engine.snapshot(), engine.plan()), {})) {
    if (is_material(e.type)) material.emplace(e.id, std::move(e));
  }
  std::mt19937 random(20261123);
  auto pick = [&](std::size_t size) {
    return std::uniform_int_distribution<std::size_t>(0, size - 1)(random);
  };
  std::size_t rebuilt = 0, compared = 0, at_risk_changes = 0;
  std::vector<std::pair<std::string, double>> before;  // (id, quantity) of the full set
  for (const auto& [id, e] : folded) before.emplace_back(id, e.quantity);
  for (int step = 0; step < 32; ++step) {
    const auto& snapshot = engine.snapshot();
    Change change;
    // Half the order changes hit an order at risk now (its risk moves or resolves).
    auto some_order = [&]() -> const model::SalesOrder& {
      if (pick(2) == 0 || folded.empty()) {
        return snapshot.sales_orders[pick(snapshot.sales_orders.size())];
      }
      auto it = std::next(folded.begin(), static_cast<std::ptrdiff_t>(pick(folded.size())));
      return snapshot.sales_orders[static_cast<std::size_t>(it->second.sales_orders.front())];
    };
    switch (step % 6) {
      case 0:
      case 1: {  // a sales order up or down
        auto order = some_order();
        order.quantity = std::round(order.quantity * (step % 2 == 0 ? 2.5 : 0.3));
        change = UpsertSalesOrder{order};
        break;
      }
      case 2: {  // a new, large, early order for an item that has orders
        auto order = some_order();
        order.id = "SO-NEW-" + std::to_string(step);
        order.quantity = std::round(order.quantity * 4.0 + 10.0);
        order.due_bucket = std::min<Bucket>(order.due_bucket, 2);
        change = UpsertSalesOrder{order};
        break;
      }
      case 3:
        change = CancelSalesOrder{some_order().id};
        break;
      case 4: {  // a receipt pushed out
        auto receipt = snapshot.receipts[pick(snapshot.receipts.size())];
        receipt.due_bucket = std::min(snapshot.H() - 1, receipt.due_bucket + 4);
        change = UpsertReceipt{receipt};
        break;
      }
      default: {  // forecast tripled in an early bucket of an item with orders
        const auto& order = some_order();
        const auto t = static_cast<Bucket>(pick(3));
        const double now = snapshot.forecast[static_cast<std::size_t>(order.item_site.value()) *
                                                 static_cast<std::size_t>(snapshot.H()) +
                                             static_cast<std::size_t>(t)];
        change = SetForecast{order.item_site, t, now * 3.0 + 50.0};
        break;
      }
    }
    auto touched = engine.Apply(change);
    ASSERT_TRUE(touched.has_value()) << touched.error().ToString();
    std::vector<std::string> material_scope;
    auto redetected = redetector.Redetect(*touched, &material_scope);
    for (const auto& id : material_scope) material.erase(id);  // in scope and not found: gone
    for (auto& e : redetected) material.insert_or_assign(e.id, std::move(e));
    std::vector<std::string> scope;
    auto changed = redetector.TakeOrdersAtRisk(&scope);
    rebuilt += scope.size();
    for (const auto& id : scope) folded.erase(id);
    for (auto& e : changed) folded.insert_or_assign(e.id, std::move(e));

    std::vector<Exception> full, full_material;
    for (auto& e : DetectExceptions(engine, RoughCut(engine.snapshot(), engine.plan()), {})) {
      if (e.type == ExceptionType::kOrderAtRisk) full.push_back(std::move(e));
      if (is_material(e.type)) full_material.push_back(std::move(e));
    }
    ASSERT_EQ(material.size(), full_material.size()) << "step " << step;
    for (const auto& e : full_material) {
      auto it = material.find(e.id);
      ASSERT_NE(it, material.end()) << e.id << " step " << step;
      EXPECT_EQ(it->second.revenue_at_risk, e.revenue_at_risk) << e.id << " step " << step;
      EXPECT_EQ(it->second.quantity, e.quantity) << e.id << " step " << step;
      EXPECT_EQ(it->second.explanation, e.explanation) << e.id << " step " << step;
    }
    const auto followed = redetector.OrdersAtRisk();
    ASSERT_EQ(followed.size(), full.size()) << "step " << step;
    ASSERT_EQ(folded.size(), full.size()) << "step " << step;
    std::vector<std::pair<std::string, double>> now;
    for (std::size_t k = 0; k < full.size(); ++k) {
      now.emplace_back(full[k].id, full[k].quantity);
      ASSERT_EQ(followed[k].id, full[k].id) << "step " << step;
      const auto& f = folded.at(full[k].id);
      for (const Exception* e : {&followed[k], &f}) {
        EXPECT_EQ(e->quantity, full[k].quantity) << full[k].id;
        EXPECT_EQ(e->revenue_at_risk, full[k].revenue_at_risk) << full[k].id;
        EXPECT_EQ(e->margin_at_risk, full[k].margin_at_risk) << full[k].id;
        EXPECT_EQ(e->severity, full[k].severity) << full[k].id;
        EXPECT_EQ(e->explanation, full[k].explanation) << full[k].id;
      }
      ++compared;
    }
    if (now != before) ++at_risk_changes;
    before = std::move(now);
  }
  std::printf("orders at risk changed in %zu of 32 steps; %zu orders rebuilt; %zu compared\n",
              at_risk_changes, rebuilt, compared);
  EXPECT_GT(at_risk_changes, 10u) << "the changes should move the orders at risk";
  EXPECT_GT(rebuilt, 32u);
  EXPECT_GT(compared, 32u * 50u);
}

TEST_F(DecisionScenarioS, AddingAShiftOnTheTightestLineRemovesItsOverloadAndAddsItsCost) {
  const auto& base = Base();
  const auto tightest = static_cast<std::size_t>(
      std::max_element(base.overload_by_work_center.begin(), base.overload_by_work_center.end()) -
      base.overload_by_work_center.begin());
  ASSERT_GT(base.overload_by_work_center[tightest], 0.0)
      << "the S plant should have an overloaded line";
  // A shift as long as the worst overloaded bucket needs, over the whole horizon.
  const auto H = static_cast<std::size_t>(S().H());
  double worst = 0.0;
  for (std::size_t t = 0; t < H; ++t)
    worst = std::max(worst, base.capacity.overload_hours[tightest * H + t]);
  const auto& wc = S().work_centers[tightest];
  const double hours = std::ceil(worst / wc.efficiency) + 1.0;
  auto out = evaluator_->Evaluate(
      Scenario{"shift on " + wc.id, {ExtraCapacity{wc.id, 0, S().H(), hours, 45.0, false}}});
  ASSERT_TRUE(out.has_value()) << out.error().ToString();
  EXPECT_EQ(out->overload_by_work_center[tightest], 0.0);
  EXPECT_DOUBLE_EQ(out->kpis.extra_capacity_cost, static_cast<double>(H) * hours * 45.0);
  EXPECT_NEAR(out->kpis.overload_hours,
              base.kpis.overload_hours - base.overload_by_work_center[tightest], 1e-6);
  EXPECT_LT(out->kpis.overtime_cost + out->kpis.subcontract_cost,
            base.kpis.overtime_cost + base.kpis.subcontract_cost + 1e-9);
  std::size_t overloaded_buckets = 0;
  for (std::size_t t = 0; t < H; ++t)
    overloaded_buckets += base.capacity.overload_hours[tightest * H + t] > 0.0 ? 1 : 0;
  if (overloaded_buckets >= 3) {
    EXPECT_NE(std::find(out->disappeared.begin(), out->disappeared.end(), "BOTTLENECK:" + wc.id),
              out->disappeared.end());
  }
  for (const auto& id : out->appeared)
    EXPECT_EQ(id.find("CAPACITY_OVERLOAD:" + wc.id), std::string::npos);
  EXPECT_EQ(out->kpis.revenue, base.kpis.revenue);  // capacity alone changes no material
}

TEST_F(DecisionScenarioS, SupplierTwoWeeksLateCreatesShortagesAndCustomerRisks) {
  // Supplier X: the one with the most open purchase-order quantity due in the next 4 weeks.
  std::map<std::string, double> near_term;
  for (const auto& r : S().receipts) {
    if (r.kind == model::ReceiptKind::kPurchaseOrder && r.quantity > 0.0 && r.due_bucket < 4) {
      near_term[S().item_sites[static_cast<std::size_t>(r.item_site.value())].supplier_id] +=
          r.quantity;
    }
  }
  ASSERT_FALSE(near_term.empty());
  auto x = std::max_element(near_term.begin(), near_term.end(), [](const auto& a, const auto& b) {
             return a.second < b.second;
           })->first;
  auto out = evaluator_->Evaluate(Scenario{x + " two weeks late", {SupplierDelay{x, 2, true}}});
  ASSERT_TRUE(out.has_value()) << out.error().ToString();
  std::size_t material = 0, at_risk = 0;
  for (const auto& id : out->appeared) {
    if (id.starts_with("SHORTAGE:") || id.starts_with("PAST_DUE_RELEASE:") ||
        id.starts_with("SHARED_COMPONENT:"))
      ++material;
    if (id.starts_with("ORDER_AT_RISK:")) ++at_risk;
  }
  EXPECT_GT(material, 0u);
  EXPECT_GT(at_risk, 0u);
  EXPECT_GT(out->kpis.units_short, Base().kpis.units_short);
  EXPECT_LT(out->kpis.fill_rate, Base().kpis.fill_rate);
  EXPECT_GT(out->kpis.revenue_short, Base().kpis.revenue_short);
}

// CAPACITY_OVERLOAD and BOTTLENECK followed through random net changes (sales orders up, down,
// new, cancelled; work orders moved, grown, closed and added; forecasts changed) equal a full
// DetectExceptions's on a fresh RoughCut after every change — ids, hours, capacity, severity,
// end demands and explanation — both the whole set (CapacityExceptions) and the set folded from
// what TakeCapacity hands out; with and without orders at risk followed, through Redetect and
// through Forget.
TEST_F(DecisionScenarioS, FollowedCapacityExceptionsEqualAFullDetectionAfterEveryNetChange) {
  const auto is_capacity = [](ExceptionType type) {
    return type == ExceptionType::kCapacityOverload || type == ExceptionType::kBottleneck;
  };
  for (const bool follow_orders : {true, false}) {
    SCOPED_TRACE(follow_orders ? "orders at risk followed" : "capacity only");
    NettingEngine engine(*engine_);
    MaterialRedetector redetector(engine);
    if (follow_orders) redetector.FollowOrdersAtRisk();
    redetector.FollowCapacity();
    std::map<std::string, Exception> folded;
    for (auto& e : redetector.CapacityExceptions()) folded.emplace(e.id, std::move(e));
    std::size_t bottlenecks = 0;
    for (const auto& [id, e] : folded) bottlenecks += e.type == ExceptionType::kBottleneck;
    ASSERT_GT(folded.size(), 20u) << "the S plant has overloaded work centers";
    ASSERT_GT(bottlenecks, 0u);
    std::vector<std::size_t> work_orders;
    for (std::size_t r = 0; r < engine.snapshot().receipts.size(); ++r) {
      if (engine.snapshot().receipts[r].kind == model::ReceiptKind::kWorkOrder) {
        work_orders.push_back(r);
      }
    }
    ASSERT_FALSE(work_orders.empty());
    std::mt19937 random(follow_orders ? 20261123 : 6);
    auto pick = [&](std::size_t size) {
      return std::uniform_int_distribution<std::size_t>(0, size - 1)(random);
    };
    std::size_t changed_steps = 0, compared = 0;
    std::vector<std::pair<std::string, double>> before;
    for (const auto& [id, e] : folded) before.emplace_back(id, e.quantity);
    for (int step = 0; step < 36; ++step) {
      const auto& snapshot = engine.snapshot();
      Change change;
      switch (step % 6) {
        case 0:
        case 1: {  // a sales order up or down
          auto order = snapshot.sales_orders[pick(snapshot.sales_orders.size())];
          order.quantity = std::round(order.quantity * (step % 2 == 0 ? 3.0 : 0.2));
          change = UpsertSalesOrder{order};
          break;
        }
        case 2: {  // a new, large, early order
          auto order = snapshot.sales_orders[pick(snapshot.sales_orders.size())];
          order.id = "SO-CAP-" + std::to_string(step);
          order.quantity = std::round(order.quantity * 5.0 + 20.0);
          order.due_bucket = std::min<Bucket>(order.due_bucket, 3);
          change = UpsertSalesOrder{order};
          break;
        }
        case 3: {  // a work order moved out and grown, closed, or a new one
          auto receipt = snapshot.receipts[work_orders[pick(work_orders.size())]];
          if (step % 12 == 3) {
            receipt.due_bucket = std::min(snapshot.H() - 1, receipt.due_bucket + 2);
            receipt.quantity *= 2.0;
          } else if (step % 18 == 9) {
            receipt.quantity = 0.0;
          } else {
            receipt.id = "WO-CAP-" + std::to_string(step);
            receipt.start_bucket = 1;
            receipt.due_bucket = 3;
            receipt.quantity = 400.0;
          }
          change = UpsertReceipt{receipt};
          break;
        }
        case 4:
          change = CancelSalesOrder{snapshot.sales_orders[pick(snapshot.sales_orders.size())].id};
          break;
        default: {  // forecast raised in an early bucket of an item with orders
          const auto& order = snapshot.sales_orders[pick(snapshot.sales_orders.size())];
          const auto t = static_cast<Bucket>(pick(4));
          const double now = snapshot.forecast[static_cast<std::size_t>(order.item_site.value()) *
                                                   static_cast<std::size_t>(snapshot.H()) +
                                               static_cast<std::size_t>(t)];
          change = SetForecast{order.item_site, t, now * 3.0 + 80.0};
          break;
        }
      }
      auto touched = engine.Apply(change);
      ASSERT_TRUE(touched.has_value()) << touched.error().ToString();
      if (step % 5 == 4) {
        redetector.Forget(*touched);
      } else {
        redetector.Redetect(*touched, nullptr);
      }
      if (step % 7 != 6) {  // every 7th step the next take also hands out this one's
        std::vector<std::string> scope;
        auto taken = redetector.TakeCapacity(&scope);
        for (const auto& id : scope) folded.erase(id);
        for (auto& e : taken) {
          ASSERT_TRUE(is_capacity(e.type)) << e.id;
          folded.insert_or_assign(e.id, std::move(e));
        }
      }
      if (follow_orders) redetector.TakeOrdersAtRisk(nullptr);
      if (step % 7 == 6) continue;

      std::vector<Exception> full;
      for (auto& e : DetectExceptions(engine, RoughCut(engine.snapshot(), engine.plan()), {})) {
        if (is_capacity(e.type)) full.push_back(std::move(e));
      }
      const auto followed = redetector.CapacityExceptions();
      ASSERT_EQ(followed.size(), full.size()) << "step " << step;
      ASSERT_EQ(folded.size(), full.size()) << "step " << step;
      std::vector<std::pair<std::string, double>> now;
      for (std::size_t k = 0; k < full.size(); ++k) {
        now.emplace_back(full[k].id, full[k].quantity);
        ASSERT_EQ(followed[k].id, full[k].id) << "step " << step;
        const auto& f = folded.at(full[k].id);
        for (const Exception* e : {&followed[k], &f}) {
          EXPECT_EQ(e->quantity, full[k].quantity) << full[k].id << " step " << step;
          EXPECT_EQ(e->reference_quantity, full[k].reference_quantity) << full[k].id;
          EXPECT_EQ(e->severity, full[k].severity) << full[k].id;
          EXPECT_EQ(e->first_impact_bucket, full[k].first_impact_bucket) << full[k].id;
          EXPECT_EQ(e->revenue_at_risk, full[k].revenue_at_risk) << full[k].id;
          EXPECT_EQ(e->sales_orders, full[k].sales_orders) << full[k].id;
          EXPECT_EQ(e->end_demands, full[k].end_demands) << full[k].id;
          EXPECT_EQ(e->explanation, full[k].explanation) << full[k].id;
        }
        ++compared;
      }
      if (now != before) ++changed_steps;
      before = std::move(now);
    }
    std::printf("capacity exceptions changed in %zu of 31 compared steps; %zu compared\n",
                changed_steps, compared);
    EXPECT_GT(changed_steps, 10u) << "the changes should move the capacity exceptions";
    EXPECT_GT(compared, 31u * 20u);
  }
}

TEST_F(DecisionScenarioS, FamilyPlusTwentyPercentRaisesRevenueLoadAndShortagesConsistently) {
  // Family Y: the family with the most sales-order revenue.
  std::map<std::string, double> revenue;
  for (const auto& o : S().sales_orders) {
    const auto& is = S().item_sites[static_cast<std::size_t>(o.item_site.value())];
    if (!is.family.empty()) revenue[is.family] += o.quantity * o.unit_price;
  }
  ASSERT_FALSE(revenue.empty());
  auto y = std::max_element(revenue.begin(), revenue.end(), [](const auto& a, const auto& b) {
             return a.second < b.second;
           })->first;
  auto out =
      evaluator_->Evaluate(Scenario{y + " +20%", {DemandMultiplier{y, "", "", 0, S().H(), 1.2}}});
  ASSERT_TRUE(out.has_value()) << out.error().ToString();
  const auto& base = Base().kpis;
  EXPECT_GT(out->kpis.sales_order_units, base.sales_order_units);
  EXPECT_NEAR(
      out->kpis.sales_order_units - base.sales_order_units,
      0.2 *
          [&] {
            double units = 0.0;
            for (const auto& o : S().sales_orders) {
              if (S().item_sites[static_cast<std::size_t>(o.item_site.value())].family == y)
                units += o.quantity;
            }
            return units;
          }(),
      1e-6);
  EXPECT_GT(out->kpis.revenue + out->kpis.revenue_short, base.revenue + base.revenue_short);
  EXPECT_GT(out->kpis.load_hours, base.load_hours);
  EXPECT_GE(out->kpis.overload_hours, base.overload_hours);
  EXPECT_GE(out->kpis.units_short, base.units_short);
  EXPECT_GT(out->kpis.cost_of_goods + 1e-9, base.cost_of_goods);
}

TEST_F(DecisionScenarioS, MovingVolumeToPlantBShiftsLoadBetweenThePlantsWorkCenters) {
  // The family with the most load at its plant A; plant B = the next plant; work centers mapped
  // in id order.
  const auto& s = S();
  std::map<std::string, double> family_load;
  std::map<std::string, std::int32_t> family_site;
  for (std::size_t c = 0; c < s.item_site_count(); ++c) {
    const auto& is = s.item_sites[c];
    if (is.family.empty() || is.kind != model::ItemKind::kMake ||
        s.Routing(ItemSiteIndex(static_cast<std::int32_t>(c))).empty())
      continue;
    for (const auto& order : engine_->plan().orders[c])
      family_load[is.family] += order.release_quantity;
    family_site[is.family] = is.site.value();
  }
  ASSERT_FALSE(family_load.empty());
  auto fam =
      std::max_element(family_load.begin(), family_load.end(), [](const auto& a, const auto& b) {
        return a.second < b.second;
      })->first;
  const auto a = family_site[fam];
  std::vector<std::int32_t> plants;
  for (std::size_t k = 0; k < s.sites.size(); ++k) {
    if (s.sites[k].kind == model::SiteKind::kPlant) plants.push_back(static_cast<std::int32_t>(k));
  }
  const auto b = plants[(std::find(plants.begin(), plants.end(), a) - plants.begin() + 1) %
                        static_cast<std::ptrdiff_t>(plants.size())];
  std::vector<std::size_t> wc_a, wc_b;
  for (std::size_t w = 0; w < s.work_centers.size(); ++w) {
    if (s.work_centers[w].site.value() == a) wc_a.push_back(w);
    if (s.work_centers[w].site.value() == b) wc_b.push_back(w);
  }
  ASSERT_FALSE(wc_b.empty());
  MoveVolume move{fam,
                  s.sites[static_cast<std::size_t>(a)].id,
                  s.sites[static_cast<std::size_t>(b)].id,
                  0.5,
                  {},
                  1.0};
  for (std::size_t k = 0; k < wc_a.size(); ++k) {
    move.work_centers.push_back(
        {s.work_centers[wc_a[k]].id, s.work_centers[wc_b[k % wc_b.size()]].id});
  }
  auto out = evaluator_->Evaluate(Scenario{"move half of " + fam, {move}});
  ASSERT_TRUE(out.has_value()) << out.error().ToString();
  auto site_load = [&](const std::vector<double>& load, const std::vector<std::size_t>& wcs) {
    double sum = 0.0;
    for (auto w : wcs) sum += load[w];
    return sum;
  };
  const auto& base = Base();
  const double moved =
      site_load(base.load_by_work_center, wc_a) - site_load(out->load_by_work_center, wc_a);
  EXPECT_GT(moved, 0.0);
  EXPECT_NEAR(site_load(out->load_by_work_center, wc_b) - site_load(base.load_by_work_center, wc_b),
              moved, 1e-6 * moved);
  EXPECT_NEAR(out->kpis.load_hours, base.kpis.load_hours, 1e-6 * base.kpis.load_hours);
  EXPECT_EQ(out->kpis.revenue, base.kpis.revenue);
}

TEST_F(DecisionScenarioS, FiveScenariosSideBySideInParallelLeaveTheBaseUntouched) {
  const auto before = Base().kpis.gross_margin;
  std::vector<Scenario> scenarios = {
      {"ss x2", {SafetyStockChange{"", "", "", 2.0}}},
      {"all +10%", {DemandMultiplier{"", "", "", 0, S().H(), 1.1}}},
      {"shift", {ExtraCapacity{S().work_centers[0].id, 0, S().H(), 10.0, 40.0, false}}},
      {"ss x0.5", {SafetyStockChange{"", "", "", 0.5}}},
      {"none", {}},
  };
  auto outs = evaluator_->EvaluateAll(scenarios);
  ASSERT_EQ(outs.size(), 5u);
  for (const auto& o : outs) ASSERT_TRUE(o.has_value());
  EXPECT_GT(outs[0]->kpis.average_inventory_value, Base().kpis.average_inventory_value);
  EXPECT_GT(outs[1]->kpis.revenue + outs[1]->kpis.revenue_short,
            Base().kpis.revenue + Base().kpis.revenue_short);
  EXPECT_TRUE(outs[4]->appeared.empty());
  EXPECT_TRUE(outs[4]->disappeared.empty());
  EXPECT_EQ(outs[4]->kpis.gross_margin, before);
  EXPECT_EQ(Base().kpis.gross_margin, before);
}

}  // namespace
}  // namespace sop::planning
