// Hermetic tests of the forecaster: hand-made facts in, history / layers / accuracy out.

#include "sop/forecasting/forecaster.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace sop::forecasting {
namespace {

using namespace std::chrono;

const PartitionKey kPartition{"sop.facts.v1", 0};
// A Monday: weekly buckets start on it.
const sys_days kPlanStart = 2026y / January / 5;
const Seconds kNow = Seconds(kPlanStart) + hours(9);

void Set(google::protobuf::Timestamp* ts, Seconds t) {
  ts->set_seconds(t.time_since_epoch().count());
}

sop::v1::Envelope Settings(const std::string& site) {
  sop::v1::Envelope e;
  e.set_event_id("settings-" + site);
  e.set_site(site);
  auto* s = e.mutable_planning_settings();
  Set(s->mutable_plan_start(), Seconds(kPlanStart));
  s->set_bucket_size(sop::v1::BUCKET_SIZE_WEEK);
  s->set_horizon_buckets(26);
  return e;
}

sop::v1::Envelope Item(const std::string& item, const std::string& site,
                       const std::string& family) {
  sop::v1::Envelope e;
  e.set_event_id("item-" + item + "@" + site);
  e.set_site(site);
  auto* m = e.mutable_item();
  m->set_item_id(item);
  m->set_site_id(site);
  m->set_family(family);
  return e;
}

sop::v1::Envelope Shipment(const std::string& id, const std::string& item, const std::string& site,
                           Seconds shipped_at, double quantity) {
  sop::v1::Envelope e;
  e.set_event_id("ship-" + id);
  e.set_site(site);
  auto* s = e.mutable_shipment();
  s->set_shipment_id(id);
  s->set_item_id(item);
  s->set_site_id(site);
  s->set_quantity(quantity);
  Set(s->mutable_shipped_at(), shipped_at);
  return e;
}

sop::v1::ForecastAdjustment Adjustment(const std::string& item, const std::string& site,
                                       sop::v1::ForecastLayer layer, int bucket, double delta,
                                       const std::string& owner, const std::string& reason) {
  sop::v1::ForecastAdjustment a;
  a.set_item_id(item);
  a.set_site_id(site);
  a.set_layer(layer);
  Set(a.mutable_period_start(), Seconds(kPlanStart + weeks(bucket)));
  a.set_quantity_delta(delta);
  a.set_owner(owner);
  a.set_reason(reason);
  return a;
}

// One shipment per week (Wednesday) for the weeks before the plan start, oldest first.
void ShipWeekly(Forecaster& forecaster, const std::string& item, const std::string& site,
                const std::vector<double>& quantities) {
  const auto n = static_cast<int>(quantities.size());
  for (int w = 0; w < n; ++w) {
    const Seconds t = Seconds(kPlanStart - weeks(n - w) + days(2)) + hours(14);
    auto applied =
        forecaster.ApplyEnvelope(kPartition,
                                 Shipment(item + "-" + site + "-" + std::to_string(w), item, site,
                                          t, quantities[static_cast<std::size_t>(w)]),
                                 kNow);
    ASSERT_TRUE(applied.has_value());
  }
}

const sop::v1::ForecastUpdate* Find(const std::vector<sop::v1::ForecastUpdate>& updates,
                                    const std::string& item) {
  for (const auto& u : updates) {
    if (u.item_id() == item) return &u;
  }
  return nullptr;
}

TEST(ForecastingHistory, ShipmentsAreBucketedByTheWeekOfShippedAtBeforeThePlanStart) {
  Forecaster forecaster;
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  const Seconds start(kPlanStart);
  // Week −3: 4; week −2: nothing; week −1: 5 + 6 (Monday 00:00 and Sunday 23:00); bucket 0: 100.
  for (auto [id, t, q] :
       std::vector<std::tuple<std::string, Seconds, double>>{{"a", start - days(20), 4.0},
                                                             {"b", start - days(7), 5.0},
                                                             {"c", start - hours(1), 6.0},
                                                             {"d", start + days(1), 100.0}}) {
    ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Shipment(id, "FG1", "P1", t, q), kNow));
  }
  auto history = forecaster.History("FG1", "P1");
  ASSERT_TRUE(history.has_value());
  EXPECT_EQ(*history, (std::vector<double>{4.0, 0.0, 11.0}));
}

TEST(ForecastingHistory, HistoryGridEndsAtThePlanStartForMonths) {
  sop::v1::PlanningSettings settings;
  Set(settings.mutable_plan_start(), Seconds(sys_days(2026y / March / 1)));
  settings.set_bucket_size(sop::v1::BUCKET_SIZE_MONTH);
  const codec::BucketGrid grid = HistoryGrid(settings, 3);
  EXPECT_EQ(grid.plan_start(), Seconds(sys_days(2025y / December / 1)));
  EXPECT_EQ(grid.BucketStart(3), Seconds(sys_days(2026y / March / 1)));
  std::map<std::int32_t, double> daily{
      {static_cast<std::int32_t>(sys_days(2026y / January / 15).time_since_epoch().count()), 7.0},
      {static_cast<std::int32_t>(sys_days(2026y / February / 28).time_since_epoch().count()), 2.0}};
  EXPECT_EQ(BucketHistory(daily, settings, 12), (std::vector<double>{7.0, 2.0}));
}

TEST(ForecastingFacts, ARedeliveredShipmentChangesNothing) {
  Forecaster forecaster;
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  const auto shipment = Shipment("s1", "FG1", "P1", Seconds(kPlanStart - days(3)), 8.0);
  auto first = forecaster.ApplyEnvelope(kPartition, shipment, kNow);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(*first);
  EXPECT_EQ(forecaster.Reforecast(kNow).size(), 1u);
  auto again = forecaster.ApplyEnvelope(kPartition, shipment, kNow);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
  EXPECT_EQ(*forecaster.History("FG1", "P1"), (std::vector<double>{8.0}));
  EXPECT_TRUE(forecaster.Reforecast(kNow).empty());
  EXPECT_EQ(forecaster.stats().duplicates, 1);
}

// The applied-id window is bounded: 1,000 shipments into a window of 100 ids leave 100 ids, in
// memory and in the snapshot; a re-delivery inside the window changes nothing (history 1,000 ×
// 1 unit stays 1,000), one beyond it is counted again (the documented limit for shipments); an
// adjustment fact stays idempotent beyond the window through its adjustment id.
TEST(ForecastingFacts, TheAppliedIdWindowIsBoundedAndDropsDuplicatesInsideIt) {
  Forecaster forecaster({.applied_ids = {.max_ids = 100, .max_age = hours(24)}});
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  auto adjustment_fact = [] {
    sop::v1::Envelope e;
    e.set_event_id("fa-1");
    e.set_site("P1");
    *e.mutable_forecast_adjustment() =
        Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_SALES, 1, 5.0, "ann", "promo");
    e.mutable_forecast_adjustment()->set_adjustment_id("adj-7");
    return e;
  }();
  ASSERT_TRUE(*forecaster.ApplyEnvelope(kPartition, adjustment_fact, kNow));
  const Seconds shipped = Seconds(kPlanStart - days(3));
  for (int i = 0; i < 1'000; ++i) {
    ASSERT_TRUE(*forecaster.ApplyEnvelope(
        kPartition, Shipment("s" + std::to_string(i), "FG1", "P1", shipped, 1.0), kNow));
  }
  EXPECT_EQ(forecaster.stats().applied_ids, 100);
  sop::v1::ForecastingPartitionState snapshot;
  ASSERT_TRUE(snapshot.ParseFromString(forecaster.SerializePartition(kPartition)));
  ASSERT_EQ(snapshot.applied_event_ids_size(), 100);
  EXPECT_EQ(snapshot.applied_event_ids(0), "ship-s900");  // oldest held first
  EXPECT_EQ(snapshot.applied_event_ids(99), "ship-s999");

  EXPECT_FALSE(*forecaster.ApplyEnvelope(kPartition, Shipment("s950", "FG1", "P1", shipped, 1.0),
                                         kNow));  // inside: dropped
  EXPECT_EQ(*forecaster.History("FG1", "P1"), (std::vector<double>{1'000.0}));
  EXPECT_FALSE(*forecaster.ApplyEnvelope(kPartition, adjustment_fact, kNow));  // by adjustment id
  EXPECT_EQ(forecaster.stats().duplicates, 2);
  EXPECT_TRUE(*forecaster.ApplyEnvelope(kPartition, Shipment("s0", "FG1", "P1", shipped, 1.0),
                                        kNow));  // beyond: counted again
  EXPECT_EQ(*forecaster.History("FG1", "P1"), (std::vector<double>{1'001.0}));

  // Restored with the same bound: the same 100 newest ids, still duplicates.
  Forecaster restored({.applied_ids = {.max_ids = 100, .max_age = hours(24)}});
  ASSERT_TRUE(restored.RestorePartition(kPartition, forecaster.SerializePartition(kPartition)));
  EXPECT_EQ(restored.stats().applied_ids, 100);
  EXPECT_FALSE(
      *restored.ApplyEnvelope(kPartition, Shipment("s999", "FG1", "P1", shipped, 1.0), kNow));
}

TEST(ForecastingFacts, OnlyItemSitesWhoseHistoryChangedAreReforecast) {
  Forecaster forecaster;
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  ShipWeekly(forecaster, "FG1", "P1", std::vector<double>(12, 10.0));
  ShipWeekly(forecaster, "FG2", "P1", std::vector<double>(12, 20.0));
  EXPECT_EQ(forecaster.Reforecast(kNow).size(), 2u);  // twelve shipments each, one forecast each
  ASSERT_TRUE(forecaster.ApplyEnvelope(
      kPartition, Shipment("late", "FG2", "P1", Seconds(kPlanStart - days(1)), 5.0), kNow));
  auto updates = forecaster.Reforecast(kNow);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].item_id(), "FG2");
  EXPECT_EQ(updates[0].cause().event_id(), "ship-late");
}

TEST(ForecastingLayers, ConsensusIsStatisticalPlusEveryLayerDelta) {
  Forecaster forecaster;
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Item("FG1", "P1", "BIKES"), kNow));
  ShipWeekly(forecaster, "FG1", "P1", {9, 11, 10, 12, 8, 10, 11, 9, 10, 10, 12, 8});
  ASSERT_TRUE(forecaster.Adjust(
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_SALES, 2, 5.0, "ann", "promo"), kNow));
  ASSERT_TRUE(forecaster.Adjust(
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_SALES, 2, 2.0, "bob", "key account"), kNow));
  ASSERT_TRUE(forecaster.Adjust(
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_MARKETING, 2, -3.0, "cleo", "campaign moved"),
      kNow));
  ASSERT_TRUE(forecaster.Adjust(
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_CONSENSUS, 2, 1.0, "dan", "exec call"),
      kNow));
  auto updates = forecaster.Reforecast(kNow);
  const auto* update = Find(updates, "FG1");
  ASSERT_NE(update, nullptr);
  EXPECT_EQ(update->family(), "BIKES");
  ASSERT_EQ(update->periods_size(), 26);
  const auto& p2 = update->periods(2);
  EXPECT_EQ(p2.period_start().seconds(), Seconds(kPlanStart + weeks(2)).time_since_epoch().count());
  EXPECT_DOUBLE_EQ(p2.sales_adjustment(), 7.0);
  EXPECT_DOUBLE_EQ(p2.marketing_adjustment(), -3.0);
  EXPECT_DOUBLE_EQ(p2.consensus(), p2.statistical() + 7.0 - 3.0 + 1.0);
  EXPECT_NEAR(p2.statistical(), 10.0, 1.5);  // level 10 demand
  EXPECT_LE(p2.p10(), p2.p50());
  EXPECT_LE(p2.p50(), p2.p90());
  const auto& p3 = update->periods(3);
  EXPECT_DOUBLE_EQ(p3.consensus(), p3.statistical());  // untouched bucket
  EXPECT_FALSE(update->model().name().empty());
  EXPECT_EQ(update->model().demand_class(), sop::v1::DEMAND_CLASS_SMOOTH);
  EXPECT_NE(update->model().selection_reason().find("smooth"), std::string::npos);
}

TEST(ForecastingLayers, AdjustmentHistoryIsAppendedAndTheLastChangerOwnsTheLayer) {
  Forecaster forecaster;
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  ShipWeekly(forecaster, "FG1", "P1", std::vector<double>(8, 10.0));
  ASSERT_TRUE(forecaster.Adjust(
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_SALES, 1, 5.0, "ann", "promo"), kNow));
  ASSERT_TRUE(forecaster.Adjust(
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_SALES, 1, -5.0, "bob", "promo cancelled"),
      kNow + minutes(5)));
  forecaster.Reforecast(kNow);
  auto response = forecaster.GetForecast("FG1", "P1");
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  ASSERT_EQ(response->history_size(), 2);
  EXPECT_EQ(response->history(0).owner(), "ann");
  EXPECT_DOUBLE_EQ(response->history(0).quantity_delta(), 5.0);
  EXPECT_EQ(response->history(0).bucket(), 1);
  EXPECT_EQ(response->history(1).owner(), "bob");
  EXPECT_EQ(response->history(1).reason(), "promo cancelled");
  EXPECT_DOUBLE_EQ(response->forecast().periods(1).sales_adjustment(), 0.0);
  bool sales_owner_seen = false;
  for (const auto& owner : response->owners()) {
    if (owner.layer() == sop::v1::FORECAST_LAYER_SALES) {
      EXPECT_EQ(owner.owner(), "bob");
      EXPECT_EQ(owner.changed_at().seconds(), (kNow + minutes(5)).time_since_epoch().count());
      sales_owner_seen = true;
    }
  }
  EXPECT_TRUE(sales_owner_seen);
  EXPECT_EQ(response->history_actuals_size(), 8);
}

TEST(ForecastingLayers, AdjustRejectsMissingOwnerReasonAndUnknownItemSite) {
  Forecaster forecaster;
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  ShipWeekly(forecaster, "FG1", "P1", std::vector<double>(4, 10.0));
  auto no_owner = forecaster.Adjust(
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_SALES, 1, 5.0, "", "promo"), kNow);
  ASSERT_FALSE(no_owner.has_value());
  EXPECT_EQ(no_owner.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(no_owner.error().message().find("adjustment.owner"), std::string::npos);
  auto no_reason = forecaster.Adjust(
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_SALES, 1, 5.0, "ann", ""), kNow);
  ASSERT_FALSE(no_reason.has_value());
  EXPECT_NE(no_reason.error().message().find("adjustment.reason"), std::string::npos);
  auto unknown = forecaster.Adjust(
      Adjustment("FG9", "P1", sop::v1::FORECAST_LAYER_SALES, 1, 5.0, "ann", "promo"), kNow);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), Errc::kNotFound);
  auto past = forecaster.Adjust(
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_SALES, -1, 5.0, "ann", "promo"), kNow);
  ASSERT_FALSE(past.has_value());
  EXPECT_NE(past.error().message().find("adjustment.period_start"), std::string::npos);
}

TEST(ForecastingLayers, ARetriedAdjustmentIsRecordedOnce) {
  Forecaster forecaster;
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  ShipWeekly(forecaster, "FG1", "P1", std::vector<double>(4, 10.0));
  auto adjustment = Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_SALES, 1, 5.0, "ann", "promo");
  adjustment.set_adjustment_id("adj-42");
  auto first = forecaster.Adjust(adjustment, kNow);
  auto second = forecaster.Adjust(adjustment, kNow + minutes(1));
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->recorded_at().seconds(), first->recorded_at().seconds());
  forecaster.Reforecast(kNow);
  EXPECT_EQ(forecaster.GetForecast("FG1", "P1")->history_size(), 1);
}

TEST(ForecastingState, ASnapshotRestoresHistoryLayersAndAppliedIds) {
  Forecaster forecaster;
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  ShipWeekly(forecaster, "FG1", "P1", {3, 4, 5});
  ASSERT_TRUE(forecaster.Adjust(
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_SALES, 0, 2.0, "ann", "promo"), kNow));
  const std::string bytes = forecaster.SerializePartition(kPartition);

  Forecaster restored;
  ASSERT_TRUE(restored.RestorePartition(kPartition, bytes).has_value());
  EXPECT_EQ(*restored.History("FG1", "P1"), (std::vector<double>{3, 4, 5}));
  auto updates = restored.Reforecast(kNow);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_DOUBLE_EQ(updates[0].periods(0).sales_adjustment(), 2.0);
  // The same shipment again is a re-delivery.
  const Seconds t = Seconds(kPlanStart - weeks(3) + days(2)) + hours(14);
  auto again = restored.ApplyEnvelope(kPartition, Shipment("FG1-P1-0", "FG1", "P1", t, 3.0), kNow);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
  EXPECT_FALSE(restored.RestorePartition(kPartition, "not a snapshot \xff\xff").has_value());
}

// Lookback 4: 8 training weeks of flat demand 10 → the forecast is 10 in each held-out week.
// FG1 actuals 12, 8, 10, 14: WMAPE 8/44, MAPE (2/12 + 2/8 + 0 + 4/14)/4, bias −4/44 (amber).
// FG2 actuals 20 × 4 against a forecast of 10: WMAPE 0.5, bias −0.5 (red).
// Family BIKES (both): WMAPE (8 + 40)/(44 + 80), bias (−4 − 40)/124.
TEST(ForecastingAccuracy, BacktestRowsMatchHandComputedFigures) {
  Forecaster forecaster;
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Item("FG1", "P1", "BIKES"), kNow));
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Item("FG2", "P1", "BIKES"), kNow));
  ShipWeekly(forecaster, "FG1", "P1", {10, 10, 10, 10, 10, 10, 10, 10, 12, 8, 10, 14});
  ShipWeekly(forecaster, "FG2", "P1", {10, 10, 10, 10, 10, 10, 10, 10, 20, 20, 20, 20});
  constexpr double kTolerance = 1e-3;  // the fitted flat forecast is 10 up to optimizer noise

  sop::v1::GetAccuracyRequest request;
  request.set_level(sop::v1::ACCURACY_LEVEL_SKU);
  request.set_lookback_buckets(4);
  auto sku = forecaster.GetAccuracy(request);
  ASSERT_TRUE(sku.has_value()) << sku.error().ToString();
  ASSERT_EQ(sku->rows_size(), 2);
  EXPECT_EQ(sku->rows(0).key(), "FG1@P1");
  EXPECT_NEAR(sku->rows(0).actual(), 44.0, 1e-9);
  EXPECT_NEAR(sku->rows(0).forecast(), 40.0, 4 * kTolerance);
  EXPECT_NEAR(sku->rows(0).wmape(), 8.0 / 44.0, kTolerance);
  EXPECT_NEAR(sku->rows(0).mape(), (2.0 / 12 + 2.0 / 8 + 0.0 + 4.0 / 14) / 4, kTolerance);
  EXPECT_NEAR(sku->rows(0).bias(), -4.0 / 44.0, kTolerance);
  EXPECT_EQ(sku->rows(0).severity(), sop::v1::SEVERITY_AMBER);
  EXPECT_EQ(sku->rows(1).key(), "FG2@P1");
  EXPECT_NEAR(sku->rows(1).wmape(), 0.5, kTolerance);
  EXPECT_NEAR(sku->rows(1).bias(), -0.5, kTolerance);
  EXPECT_EQ(sku->rows(1).severity(), sop::v1::SEVERITY_RED);

  request.set_level(sop::v1::ACCURACY_LEVEL_FAMILY);
  auto family = forecaster.GetAccuracy(request);
  ASSERT_TRUE(family.has_value());
  ASSERT_EQ(family->rows_size(), 1);
  EXPECT_EQ(family->rows(0).key(), "BIKES");
  EXPECT_NEAR(family->rows(0).wmape(), 48.0 / 124.0, kTolerance);
  EXPECT_NEAR(family->rows(0).bias(), -44.0 / 124.0, kTolerance);
  EXPECT_EQ(family->rows(0).severity(), sop::v1::SEVERITY_RED);

  request.set_level(sop::v1::ACCURACY_LEVEL_SITE);
  request.set_family("NONE");
  auto filtered = forecaster.GetAccuracy(request);
  ASSERT_TRUE(filtered.has_value());
  EXPECT_EQ(filtered->rows_size(), 0);

  request.set_lookback_buckets(-1);
  EXPECT_EQ(forecaster.GetAccuracy(request).error().code(), Errc::kInvalidArgument);
}

TEST(ForecastingAccuracy, SeverityThresholdsAreTenAndTwentyFivePercent) {
  EXPECT_EQ(DeviationSeverity(0.10), sop::v1::SEVERITY_INFO);
  EXPECT_EQ(DeviationSeverity(0.1001), sop::v1::SEVERITY_AMBER);
  EXPECT_EQ(DeviationSeverity(0.25), sop::v1::SEVERITY_AMBER);
  EXPECT_EQ(DeviationSeverity(-0.2501), sop::v1::SEVERITY_RED);
}

// ---- customer/channel split ---------------------------------------------------------------

sop::v1::Envelope CustomerShipment(const std::string& id, const std::string& item, Seconds shipped,
                                   double quantity, const std::string& customer,
                                   const std::string& channel) {
  sop::v1::Envelope e = Shipment(id, item, "P1", shipped, quantity);
  e.mutable_shipment()->set_customer_id(customer);
  e.mutable_shipment()->set_channel(channel);
  return e;
}

// 52 weeks of 100 a week: C1 (OEM) 60, C2 (RETAIL) 30, C3 (RETAIL) 10 every week → window
// quantities 3,120 / 1,560 / 520, shares 0.6 / 0.3 / 0.1. Before that, C4 bought the 100 a week
// (weeks −60 .. −53): history, but outside the 52-week window, so not a row. Flat demand of 100
// → the statistical forecast is 100 a week, so per week the rows are 60 / 30 / 10.
void ShipMix(Forecaster& forecaster, const std::string& item) {
  for (int w = 0; w < 8; ++w) {
    ASSERT_TRUE(forecaster.ApplyEnvelope(
        kPartition,
        CustomerShipment(item + "-C4-" + std::to_string(w), item,
                         Seconds(kPlanStart - weeks(60 - w) + days(2)), 100.0, "C4", "OEM"),
        kNow));
  }
  for (int w = 0; w < 52; ++w) {
    const Seconds t = Seconds(kPlanStart - weeks(52 - w) + days(2));
    for (auto [customer, channel, q] : std::vector<std::tuple<std::string, std::string, double>>{
             {"C1", "OEM", 60.0}, {"C2", "RETAIL", 30.0}, {"C3", "RETAIL", 10.0}}) {
      ASSERT_TRUE(
          forecaster.ApplyEnvelope(kPartition,
                                   CustomerShipment(item + "-" + customer + "-" + std::to_string(w),
                                                    item, t, q, customer, channel),
                                   kNow));
    }
  }
}

const sop::v1::CustomerForecastRow* Row(const sop::v1::GetForecastResponse& response,
                                        const std::string& customer) {
  for (const auto& row : response.customer_rows()) {
    if (row.customer_id() == customer) return &row;
  }
  return nullptr;
}

TEST(ForecastingSplit, SharesComeFromTheLast52WeeksAndRowsAddUpToTheItemSite) {
  Forecaster forecaster;
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  ShipMix(forecaster, "FG1");
  // Sales +20 for C2 in week 1 (that row only); marketing +50 for everyone in week 2 (30 / 15 /
  // 5); consensus −10 for the RETAIL channel in week 0 (C2 −7.5, C3 −2.5 by their 0.3 : 0.1).
  auto c2 = Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_SALES, 1, 20.0, "sam", "C2 promo");
  c2.set_customer_id("C2");
  c2.set_channel("RETAIL");
  ASSERT_TRUE(forecaster.Adjust(c2, kNow));
  ASSERT_TRUE(forecaster.Adjust(
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_MARKETING, 2, 50.0, "mia", "campaign"),
      kNow));
  auto retail =
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_CONSENSUS, 0, -10.0, "dana", "retail");
  retail.set_channel("RETAIL");
  ASSERT_TRUE(forecaster.Adjust(retail, kNow));
  forecaster.Reforecast(kNow);

  auto plain = forecaster.GetForecast("FG1", "P1");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->customer_rows_size(), 0);  // only when asked
  auto split = forecaster.GetForecast("FG1", "P1", /*split_by_customer=*/true);
  ASSERT_TRUE(split.has_value());
  EXPECT_EQ(split->mix_window_days(), 364);
  ASSERT_EQ(split->customer_rows_size(), 3);               // C4 is outside the window
  EXPECT_EQ(split->customer_rows(0).customer_id(), "C1");  // largest first
  EXPECT_EQ(split->customer_rows(1).customer_id(), "C2");
  EXPECT_EQ(split->customer_rows(2).customer_id(), "C3");
  const auto& c1_row = *Row(*split, "C1");
  const auto& c2_row = *Row(*split, "C2");
  const auto& c3_row = *Row(*split, "C3");
  EXPECT_EQ(c1_row.channel(), "OEM");
  EXPECT_EQ(c2_row.channel(), "RETAIL");
  EXPECT_DOUBLE_EQ(c1_row.window_quantity(), 3'120.0);
  EXPECT_DOUBLE_EQ(c2_row.window_quantity(), 1'560.0);
  EXPECT_DOUBLE_EQ(c3_row.window_quantity(), 520.0);
  EXPECT_DOUBLE_EQ(c1_row.share(), 0.6);
  EXPECT_DOUBLE_EQ(c2_row.share(), 0.3);
  EXPECT_DOUBLE_EQ(c3_row.share(), 0.1);

  const auto& total = split->forecast();
  ASSERT_EQ(total.periods_size(), 26);
  EXPECT_NEAR(total.periods(0).statistical(), 100.0, 1e-9);
  // Week 0: statistical 60 / 30 / 10, consensus-layer −7.5 on C2 and −2.5 on C3.
  EXPECT_NEAR(c1_row.periods(0).statistical(), 60.0, 1e-9);
  EXPECT_NEAR(c2_row.periods(0).statistical(), 30.0, 1e-9);
  EXPECT_NEAR(c3_row.periods(0).statistical(), 10.0, 1e-9);
  EXPECT_NEAR(c1_row.periods(0).consensus(), 60.0, 1e-9);
  EXPECT_NEAR(c2_row.periods(0).consensus(), 22.5, 1e-9);
  EXPECT_NEAR(c3_row.periods(0).consensus(), 7.5, 1e-9);
  // Week 1: C2's sales +20 on C2 only.
  EXPECT_DOUBLE_EQ(c1_row.periods(1).sales_adjustment(), 0.0);
  EXPECT_DOUBLE_EQ(c2_row.periods(1).sales_adjustment(), 20.0);
  EXPECT_DOUBLE_EQ(c3_row.periods(1).sales_adjustment(), 0.0);
  EXPECT_NEAR(c2_row.periods(1).consensus(), 50.0, 1e-9);
  // Week 2: marketing +50 spread 30 / 15 / 5.
  EXPECT_NEAR(c1_row.periods(2).marketing_adjustment(), 30.0, 1e-9);
  EXPECT_NEAR(c2_row.periods(2).marketing_adjustment(), 15.0, 1e-9);
  EXPECT_NEAR(c3_row.periods(2).marketing_adjustment(), 5.0, 1e-9);
  EXPECT_NEAR(c1_row.periods(2).consensus(), 90.0, 1e-9);
  // Every period, every layer: the rows add up to the item-site.
  for (int b = 0; b < total.periods_size(); ++b) {
    double statistical = 0.0, sales = 0.0, marketing = 0.0, consensus = 0.0;
    for (const auto& row : split->customer_rows()) {
      ASSERT_EQ(row.periods_size(), total.periods_size());
      statistical += row.periods(b).statistical();
      sales += row.periods(b).sales_adjustment();
      marketing += row.periods(b).marketing_adjustment();
      consensus += row.periods(b).consensus();
    }
    EXPECT_NEAR(statistical, total.periods(b).statistical(), 1e-9) << "bucket " << b;
    EXPECT_NEAR(sales, total.periods(b).sales_adjustment(), 1e-9) << "bucket " << b;
    EXPECT_NEAR(marketing, total.periods(b).marketing_adjustment(), 1e-9) << "bucket " << b;
    EXPECT_NEAR(consensus, total.periods(b).consensus(), 1e-9) << "bucket " << b;
  }
  EXPECT_NEAR(total.periods(0).consensus(), 90.0, 1e-9);
  EXPECT_NEAR(total.periods(1).consensus(), 120.0, 1e-9);
  EXPECT_NEAR(total.periods(2).consensus(), 150.0, 1e-9);
}

TEST(ForecastingSplit, NoShipmentsInTheWindowIsOneUnassignedRow) {
  Forecaster forecaster;
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  // History only before the window (weeks −70 .. −59): a forecast, but no mix.
  for (int w = 0; w < 12; ++w) {
    ASSERT_TRUE(forecaster.ApplyEnvelope(
        kPartition,
        CustomerShipment("old-" + std::to_string(w), "FG9",
                         Seconds(kPlanStart - weeks(70 - w) + days(1)), 10.0, "C1", "OEM"),
        kNow));
  }
  forecaster.Reforecast(kNow);
  auto split = forecaster.GetForecast("FG9", "P1", true);
  ASSERT_TRUE(split.has_value());
  ASSERT_EQ(split->customer_rows_size(), 1);
  const auto& row = split->customer_rows(0);
  EXPECT_EQ(row.customer_id(), "(unassigned)");
  EXPECT_EQ(row.channel(), "");
  EXPECT_DOUBLE_EQ(row.share(), 1.0);
  EXPECT_DOUBLE_EQ(row.window_quantity(), 0.0);
  for (int b = 0; b < split->forecast().periods_size(); ++b) {
    EXPECT_DOUBLE_EQ(row.periods(b).statistical(), split->forecast().periods(b).statistical());
  }

  // The pure function on an item-site that never shipped: the same single row.
  const auto rows = SplitByCustomer({}, split->forecast(), {}, Settings("P1").planning_settings());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].customer_id(), "(unassigned)");
  EXPECT_DOUBLE_EQ(rows[0].share(), 1.0);
}

TEST(ForecastingSplit, AnAdjustmentForACustomerWithoutHistoryGetsARowOfItsOwn) {
  Forecaster forecaster;
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  ShipMix(forecaster, "FG1");
  // A new customer C9 (no shipments): +40 sales in week 3 lands on a C9 row with share 0.
  sop::v1::Envelope fact;
  fact.set_event_id("fa-c9");
  fact.set_site("P1");
  *fact.mutable_forecast_adjustment() =
      Adjustment("FG1", "P1", sop::v1::FORECAST_LAYER_SALES, 3, 40.0, "sam", "new account");
  fact.mutable_forecast_adjustment()->set_customer_id("C9");
  fact.mutable_forecast_adjustment()->set_channel("ONLINE");
  ASSERT_TRUE(*forecaster.ApplyEnvelope(kPartition, fact, kNow));
  forecaster.Reforecast(kNow);
  auto split = forecaster.GetForecast("FG1", "P1", true);
  ASSERT_TRUE(split.has_value());
  ASSERT_EQ(split->customer_rows_size(), 4);
  const auto& c9 = split->customer_rows(3);  // no volume: last
  EXPECT_EQ(c9.customer_id(), "C9");
  EXPECT_EQ(c9.channel(), "ONLINE");
  EXPECT_DOUBLE_EQ(c9.share(), 0.0);
  EXPECT_DOUBLE_EQ(c9.periods(3).statistical(), 0.0);
  EXPECT_DOUBLE_EQ(c9.periods(3).sales_adjustment(), 40.0);
  EXPECT_DOUBLE_EQ(c9.periods(3).consensus(), 40.0);
  EXPECT_DOUBLE_EQ(Row(*split, "C1")->periods(3).sales_adjustment(), 0.0);
  EXPECT_NEAR(split->forecast().periods(3).consensus(), 140.0, 1e-9);
  // The adjustment record keeps whom it was for.
  ASSERT_EQ(split->history_size(), 1);
  EXPECT_EQ(split->history(0).customer_id(), "C9");
  EXPECT_EQ(split->history(0).channel(), "ONLINE");
}

TEST(ForecastingSplit, ASnapshotKeepsTheMixAndTheIdsAges) {
  Forecaster forecaster({.applied_ids = {.max_ids = 1'000, .max_age = hours(24)}});
  ASSERT_TRUE(forecaster.ApplyEnvelope(kPartition, Settings("P1"), kNow).has_value());
  ShipMix(forecaster, "FG1");
  forecaster.Reforecast(kNow);
  const auto before = forecaster.GetForecast("FG1", "P1", true);
  ASSERT_TRUE(before.has_value());
  sop::v1::ForecastingPartitionState snapshot;
  ASSERT_TRUE(snapshot.ParseFromString(forecaster.SerializePartition(kPartition)));
  ASSERT_EQ(snapshot.applied_event_times_ms_size(), snapshot.applied_event_ids_size());
  EXPECT_EQ(snapshot.applied_event_times_ms(0),
            duration_cast<milliseconds>(kNow.time_since_epoch()).count());

  Forecaster restored({.applied_ids = {.max_ids = 1'000, .max_age = hours(24)}});
  ASSERT_TRUE(restored.RestorePartition(kPartition, forecaster.SerializePartition(kPartition)));
  restored.Reforecast(kNow);
  const auto after = restored.GetForecast("FG1", "P1", true);
  ASSERT_TRUE(after.has_value());
  ASSERT_EQ(after->customer_rows_size(), 3);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(after->customer_rows(r).customer_id(), before->customer_rows(r).customer_id());
    EXPECT_DOUBLE_EQ(after->customer_rows(r).share(), before->customer_rows(r).share());
  }
  // The restored ids kept their ingestion time: a fact ingested 25 h later ages them all out
  // (before this field they stayed until 1,000 newer ids had arrived).
  EXPECT_EQ(restored.stats().applied_ids, 165);  // settings + 8 + 52 × 3 shipments
  ASSERT_TRUE(*restored.ApplyEnvelope(
      kPartition, Shipment("late", "FG1", "P1", Seconds(kPlanStart - days(1)), 1.0),
      kNow + hours(25)));
  EXPECT_EQ(restored.stats().applied_ids, 1);
}

}  // namespace
}  // namespace sop::forecasting
