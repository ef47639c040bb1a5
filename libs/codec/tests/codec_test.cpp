#include <gtest/gtest.h>

#include <sstream>

#include "sop/codec/assembler.hpp"
#include "sop/codec/buckets.hpp"
#include "sop/codec/jsonl.hpp"

namespace sop::codec {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::sys_days;

// Plan start: Monday 2026-11-23 (Thanksgiving is Thursday of that week).
const Seconds kPlanStart = sys_days{std::chrono::year{2026} / 11 / 23};

std::int64_t Epoch(Seconds t) { return t.time_since_epoch().count(); }
Seconds Week(int w, int day = 0) { return kPlanStart + days{7 * w + day}; }

void SetTime(google::protobuf::Timestamp* ts, Seconds t) { ts->set_seconds(Epoch(t)); }

sop::v1::Envelope Settings(int horizon = 78) {
  sop::v1::Envelope e;
  e.set_event_id("settings");
  auto* s = e.mutable_planning_settings();
  SetTime(s->mutable_plan_start(), kPlanStart);
  s->set_bucket_size(sop::v1::BUCKET_SIZE_WEEK);
  s->set_horizon_buckets(horizon);
  return e;
}

sop::v1::Envelope Site(const std::string& id, sop::v1::SiteType type = sop::v1::SITE_TYPE_PLANT) {
  sop::v1::Envelope e;
  e.set_event_id("site:" + id);
  e.mutable_site_master()->set_site_id(id);
  e.mutable_site_master()->set_type(type);
  return e;
}

sop::v1::Envelope Item(const std::string& item, const std::string& site, double lead_days = 7.0) {
  sop::v1::Envelope e;
  e.set_event_id("item:" + item + "@" + site);
  auto* m = e.mutable_item();
  m->set_item_id(item);
  m->set_site_id(site);
  m->set_type(sop::v1::ITEM_TYPE_BUY);
  m->set_lead_time_days(lead_days);
  m->set_active(true);
  return e;
}

sop::v1::Envelope SalesOrder(const std::string& event_id, const std::string& order, double quantity, Seconds due,
                             sop::v1::OrderStatus status = sop::v1::ORDER_STATUS_OPEN) {
  sop::v1::Envelope e;
  e.set_event_id(event_id);
  auto* so = e.mutable_sales_order();
  so->set_order_id(order);
  so->set_line(1);
  so->set_customer_id("C1");
  so->set_item_id("A");
  so->set_site_id("P1");
  so->set_quantity(quantity);
  SetTime(so->mutable_due_date(), due);
  so->set_status(status);
  return e;
}

SnapshotAssembler WithItemA() {
  SnapshotAssembler a;
  a.Apply(Settings());
  a.Apply(Site("P1"));
  a.Apply(Item("A", "P1"));
  return a;
}

const model::ScheduledReceipt* FindReceipt(const model::Snapshot& s, const std::string& id) {
  for (const auto& r : s.receipts) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

const model::SalesOrder* FindOrder(const model::Snapshot& s, const std::string& id) {
  for (const auto& o : s.sales_orders) {
    if (o.id == id) return &o;
  }
  return nullptr;
}

TEST(CodecBucketGrid, DatesMapToWeeksWithPastDueAndHorizonEdges) {
  const BucketGrid grid(kPlanStart, model::BucketKind::kWeek, 78);
  EXPECT_EQ(grid.BucketOf(kPlanStart - seconds{1}), 0);
  EXPECT_TRUE(grid.IsPastDue(kPlanStart - seconds{1}));
  EXPECT_EQ(grid.BucketOf(kPlanStart - days{400}), 0);
  EXPECT_EQ(grid.BucketOf(kPlanStart), 0);
  EXPECT_FALSE(grid.IsPastDue(kPlanStart));
  EXPECT_EQ(grid.BucketOf(Week(1) - seconds{1}), 0);
  EXPECT_EQ(grid.BucketOf(Week(1)), 1);
  EXPECT_EQ(grid.BucketOf(Week(77, 6) + hours{23}), 77);
  EXPECT_FALSE(grid.IsOutsideHorizon(Week(77, 6)));
  EXPECT_EQ(grid.BucketOf(Week(78)), 78);
  EXPECT_TRUE(grid.IsOutsideHorizon(Week(78)));
  EXPECT_EQ(grid.BucketOf(Week(500)), 78);
}

TEST(CodecBucketGrid, MonthBucketsFollowTheCalendar) {
  const Seconds start = sys_days{std::chrono::year{2027} / 1 / 31};
  const BucketGrid grid(start, model::BucketKind::kMonth, 12);
  // 31 Jan + 1 month is clamped to 28 Feb 2027, + 2 months is 31 Mar.
  EXPECT_EQ(grid.BucketStart(1), Seconds{sys_days{std::chrono::year{2027} / 2 / 28}});
  EXPECT_EQ(grid.BucketStart(2), Seconds{sys_days{std::chrono::year{2027} / 3 / 31}});
  EXPECT_EQ(grid.BucketOf(Seconds{sys_days{std::chrono::year{2027} / 2 / 27}}), 0);
  EXPECT_EQ(grid.BucketOf(Seconds{sys_days{std::chrono::year{2027} / 3 / 1}}), 1);
}

TEST(CodecBucketGrid, LeadTimesRoundUpToWholeBuckets) {
  const BucketGrid weeks(kPlanStart, model::BucketKind::kWeek, 78);
  EXPECT_EQ(weeks.DaysToBuckets(0.0), 0);
  EXPECT_EQ(weeks.DaysToBuckets(1.0), 1);
  EXPECT_EQ(weeks.DaysToBuckets(7.0), 1);
  EXPECT_EQ(weeks.DaysToBuckets(7.0 + 1e-12), 1);  // ERP float noise is not a second week
  EXPECT_EQ(weeks.DaysToBuckets(7.5), 2);
  EXPECT_EQ(weeks.DaysToBuckets(14.0), 2);
  EXPECT_EQ(weeks.DaysToBuckets(15.0), 3);
  EXPECT_EQ(weeks.DaysToBuckets(-3.0), -1);  // kept negative so the model reports it
  const BucketGrid day_grid(kPlanStart, model::BucketKind::kDay, 100);
  EXPECT_EQ(day_grid.DaysToBuckets(2.5), 3);
  const BucketGrid months(kPlanStart, model::BucketKind::kMonth, 18);
  EXPECT_EQ(months.DaysToBuckets(30.0), 1);
  EXPECT_EQ(months.DaysToBuckets(31.0), 2);
}

TEST(CodecCalendar, HolidayWeekHasFewerHours) {
  sop::v1::WorkCalendar cal;
  for (int wd = 1; wd <= 5; ++wd) cal.add_working_weekdays(wd);
  cal.add_shifts()->set_hours(7.5);
  cal.add_shifts()->set_hours(7.5);
  SetTime(cal.add_holidays(), Week(0, 3));  // Thanksgiving, Thursday
  SetTime(cal.add_holidays(), Week(0, 4));  // the Friday after
  SetTime(cal.add_holidays(), Week(1, 5));  // a Saturday: not a working day anyway
  const BucketGrid grid(kPlanStart, model::BucketKind::kWeek, 3);
  const auto hours_per_bucket = CalendarHours(cal, grid);
  ASSERT_EQ(hours_per_bucket.size(), 3u);
  EXPECT_DOUBLE_EQ(hours_per_bucket[0], 3 * 15.0);
  EXPECT_DOUBLE_EQ(hours_per_bucket[1], 5 * 15.0);
  EXPECT_DOUBLE_EQ(hours_per_bucket[2], 5 * 15.0);
}

TEST(CodecAssembler, WorkCenterHoursAreCalendarTimesMachines) {
  SnapshotAssembler a = WithItemA();
  sop::v1::Envelope cal;
  cal.set_event_id("cal");
  cal.mutable_calendar()->set_calendar_id("CAL");
  for (int wd = 1; wd <= 5; ++wd) cal.mutable_calendar()->add_working_weekdays(wd);
  cal.mutable_calendar()->add_shifts()->set_hours(8.0);
  SetTime(cal.mutable_calendar()->add_holidays(), Week(2, 0));
  sop::v1::Envelope wc;
  wc.set_event_id("wc");
  wc.mutable_work_center()->set_work_center_id("WC1");
  wc.mutable_work_center()->set_site_id("P1");
  wc.mutable_work_center()->set_calendar_id("CAL");
  wc.mutable_work_center()->set_machines(3);
  wc.mutable_work_center()->set_overtime_max_hours_per_week(4.0);
  a.Apply(wc);  // before its calendar: resolved at build time
  a.Apply(cal);
  auto built = a.Build();
  ASSERT_TRUE(built.has_value()) << built.error().ToString();
  const auto& s = built->snapshot;
  ASSERT_EQ(s.work_centers.size(), 1u);
  const auto hours_per_bucket = s.AvailableHours(model::WorkCenterIndex(0));
  EXPECT_DOUBLE_EQ(hours_per_bucket[0], 3 * 40.0);
  EXPECT_DOUBLE_EQ(hours_per_bucket[2], 3 * 32.0);
  EXPECT_DOUBLE_EQ(s.work_centers[0].overtime_max_hours_per_bucket, 12.0);
}

TEST(CodecAssembler, LeadTimeAndFencesBecomeBuckets) {
  SnapshotAssembler a = WithItemA();
  auto item = Item("B", "P1", 10.0);
  item.mutable_item()->set_frozen_fence_days(14.0);
  item.mutable_item()->set_slushy_fence_days(1.0);
  a.Apply(item);
  auto built = a.Build();
  ASSERT_TRUE(built.has_value());
  const auto index = built->snapshot.FindItemSite("B", "P1");
  ASSERT_TRUE(index.has_value());
  const auto& b = built->snapshot.item_sites[static_cast<std::size_t>(index->value())];
  EXPECT_EQ(b.lead_time, 2);
  EXPECT_EQ(b.frozen_fence, 2);
  EXPECT_EQ(b.slushy_fence, 1);
}

TEST(CodecAssembler, GoodsReceiptReducesThePoAndAddsOnHand) {
  SnapshotAssembler a = WithItemA();
  sop::v1::Envelope inv;
  inv.set_event_id("inv");
  inv.mutable_inventory_snapshot()->set_item_id("A");
  inv.mutable_inventory_snapshot()->set_site_id("P1");
  inv.mutable_inventory_snapshot()->set_on_hand(50.0);
  a.Apply(inv);
  sop::v1::Envelope po;
  po.set_event_id("po");
  auto* p = po.mutable_purchase_order();
  p->set_po_id("PO1");
  p->set_line(2);
  p->set_item_id("A");
  p->set_site_id("P1");
  p->set_quantity(100.0);
  SetTime(p->mutable_due_date(), Week(2, 1));
  a.Apply(po);
  sop::v1::Envelope gr;
  gr.set_event_id("gr");
  gr.mutable_goods_receipt()->set_po_id("PO1");
  gr.mutable_goods_receipt()->set_line(2);
  gr.mutable_goods_receipt()->set_quantity(30.0);
  std::vector<ModelUpdate> updates;
  a.Apply(gr, &updates);
  ASSERT_EQ(updates.size(), 2u);
  ASSERT_TRUE(std::holds_alternative<OnHandSet>(updates[0]));
  EXPECT_DOUBLE_EQ(std::get<OnHandSet>(updates[0]).quantity, 80.0);
  ASSERT_TRUE(std::holds_alternative<ReceiptUpsert>(updates[1]));
  EXPECT_DOUBLE_EQ(std::get<ReceiptUpsert>(updates[1]).receipt.quantity, 70.0);

  auto built = a.Build();
  ASSERT_TRUE(built.has_value());
  const auto* r = FindReceipt(built->snapshot, "PO1:2");
  ASSERT_NE(r, nullptr);
  EXPECT_DOUBLE_EQ(r->quantity, 70.0);
  EXPECT_EQ(r->due_bucket, 2);
  EXPECT_DOUBLE_EQ(built->snapshot.item_sites[0].on_hand, 80.0);
}

TEST(CodecAssembler, SupplierConfirmationMovesTheDueBucket) {
  SnapshotAssembler a = WithItemA();
  sop::v1::Envelope po;
  po.set_event_id("po");
  auto* p = po.mutable_purchase_order();
  p->set_po_id("PO1");
  p->set_line(1);
  p->set_item_id("A");
  p->set_site_id("P1");
  p->set_quantity(100.0);
  SetTime(p->mutable_due_date(), Week(1));
  a.Apply(po);
  sop::v1::Envelope conf;
  conf.set_event_id("conf");
  conf.mutable_supplier_confirmation()->set_po_id("PO1");
  conf.mutable_supplier_confirmation()->set_line(1);
  SetTime(conf.mutable_supplier_confirmation()->mutable_confirmed_date(), Week(4, 2));
  conf.mutable_supplier_confirmation()->set_confirmed_quantity(90.0);
  a.Apply(conf);
  auto built = a.Build();
  ASSERT_TRUE(built.has_value());
  const auto* r = FindReceipt(built->snapshot, "PO1:1");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->due_bucket, 4);
  EXPECT_DOUBLE_EQ(r->quantity, 90.0);
}

TEST(CodecAssembler, WorkOrderCompletionAndTransferInTransit) {
  SnapshotAssembler a = WithItemA();
  a.Apply(Site("DC1", sop::v1::SITE_TYPE_DISTRIBUTION_CENTER));
  auto dc_item = Item("A", "DC1");
  dc_item.mutable_item()->set_type(sop::v1::ITEM_TYPE_TRANSFER);
  dc_item.mutable_item()->set_source_site_id("P1");
  a.Apply(dc_item);
  sop::v1::Envelope wo;
  wo.set_event_id("wo");
  auto* w = wo.mutable_work_order();
  w->set_work_order_id("WO1");
  w->set_item_id("A");
  w->set_site_id("P1");
  w->set_quantity(40.0);
  SetTime(w->mutable_start_date(), Week(-1));
  SetTime(w->mutable_due_date(), Week(1, 2));
  a.Apply(wo);
  sop::v1::Envelope done;
  done.set_event_id("done");
  done.mutable_production_completion()->set_work_order_id("WO1");
  done.mutable_production_completion()->set_quantity(15.0);
  a.Apply(done);
  sop::v1::Envelope to;
  to.set_event_id("to");
  auto* t = to.mutable_transfer_order();
  t->set_transfer_id("TO1");
  t->set_item_id("A");
  t->set_from_site_id("P1");
  t->set_to_site_id("DC1");
  t->set_quantity(12.0);
  SetTime(t->mutable_ship_date(), Week(0, 1));
  SetTime(t->mutable_due_date(), Week(1, 1));
  a.Apply(to);
  auto built = a.Build();
  ASSERT_TRUE(built.has_value());
  const auto* r = FindReceipt(built->snapshot, "WO1");
  ASSERT_NE(r, nullptr);
  EXPECT_DOUBLE_EQ(r->quantity, 25.0);
  EXPECT_EQ(r->start_bucket, 0);  // started last week: past due, counted in bucket 0
  EXPECT_EQ(r->due_bucket, 1);
  const auto* tr = FindReceipt(built->snapshot, "TO1");
  ASSERT_NE(tr, nullptr);
  EXPECT_EQ(tr->kind, model::ReceiptKind::kTransfer);
  EXPECT_EQ(built->snapshot.ItemSiteName(tr->item_site), "A@DC1");
  EXPECT_DOUBLE_EQ(tr->quantity, 12.0);
  const auto p1 = built->snapshot.FindItemSite("A", "P1");
  ASSERT_TRUE(p1.has_value());
  EXPECT_DOUBLE_EQ(built->snapshot.item_sites[static_cast<std::size_t>(p1->value())].on_hand, 15.0);
}

TEST(CodecAssembler, CancelledSalesOrderLeavesNoDemand) {
  SnapshotAssembler a = WithItemA();
  a.Apply(SalesOrder("so-1", "SO1", 20.0, Week(1)));
  a.Apply(SalesOrder("so-2", "SO2", 5.0, Week(1)));
  std::vector<ModelUpdate> updates;
  a.Apply(SalesOrder("so-1-cancel", "SO1", 20.0, Week(1), sop::v1::ORDER_STATUS_CANCELLED), &updates);
  ASSERT_EQ(updates.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<SalesOrderCancel>(updates[0]));
  EXPECT_EQ(std::get<SalesOrderCancel>(updates[0]).order_id, "SO1:1");
  auto built = a.Build();
  ASSERT_TRUE(built.has_value());
  EXPECT_EQ(FindOrder(built->snapshot, "SO1:1"), nullptr);
  const auto* kept = FindOrder(built->snapshot, "SO2:1");
  ASSERT_NE(kept, nullptr);
  EXPECT_DOUBLE_EQ(kept->quantity, 5.0);
}

TEST(CodecAssembler, SalesOrderChangeReplacesQuantityAndDate) {
  SnapshotAssembler a = WithItemA();
  a.Apply(SalesOrder("so-1", "SO1", 20.0, Week(1)));
  a.Apply(SalesOrder("so-1-change", "SO1", 35.0, Week(3, 4)));
  auto built = a.Build();
  ASSERT_TRUE(built.has_value());
  const auto* order = FindOrder(built->snapshot, "SO1:1");
  ASSERT_NE(order, nullptr);
  EXPECT_DOUBLE_EQ(order->quantity, 35.0);
  EXPECT_EQ(order->due_bucket, 3);
}

TEST(CodecAssembler, PastDueCountsInBucketZeroAndBeyondHorizonIsReported) {
  SnapshotAssembler a = WithItemA();
  a.Apply(SalesOrder("so-late", "SO1", 10.0, Week(-2)));
  a.Apply(SalesOrder("so-far", "SO2", 10.0, Week(78)));
  auto built = a.Build();
  ASSERT_TRUE(built.has_value());
  EXPECT_EQ(built->past_due, 1);
  EXPECT_EQ(built->outside_horizon, 1);
  const auto* late = FindOrder(built->snapshot, "SO1:1");
  ASSERT_NE(late, nullptr);
  EXPECT_EQ(late->due_bucket, 0);
  EXPECT_EQ(FindOrder(built->snapshot, "SO2:1"), nullptr);
  bool reported = false;
  for (const auto& f : built->findings) {
    if (f.type == model::FindingType::kOutsideHorizon && f.message.find("so-far") != std::string::npos &&
        f.message.find("2028-05-22") != std::string::npos) {
      reported = true;
    }
  }
  EXPECT_TRUE(reported);
}

TEST(CodecAssembler, BadEventGivesAFindingNamingEventFieldAndValue) {
  SnapshotAssembler a = WithItemA();
  a.Apply(SalesOrder("erp-1:so:9:1", "SO9", -5.0, Week(1)));
  ASSERT_EQ(a.findings().size(), 1u);
  const auto& f = a.findings()[0];
  EXPECT_EQ(f.type, model::FindingType::kDataQuality);
  EXPECT_EQ(f.subject, "erp-1:so:9:1");
  EXPECT_EQ(f.field, "sales_order.quantity");
  EXPECT_NE(f.message.find("-5"), std::string::npos) << f.message;
  EXPECT_EQ(a.stats().rejected, 1);
  auto built = a.Build();
  ASSERT_TRUE(built.has_value());
  EXPECT_TRUE(built->snapshot.sales_orders.empty());
  ASSERT_FALSE(built->findings.empty());
  EXPECT_EQ(built->findings[0].field, "sales_order.quantity");
}

TEST(CodecAssembler, ForecastPeriodsSumIntoBucketsAndAdjustmentsAdd) {
  SnapshotAssembler a = WithItemA();
  sop::v1::Envelope f;
  f.set_event_id("fcst");
  f.mutable_demand_forecast()->set_item_id("A");
  f.mutable_demand_forecast()->set_site_id("P1");
  for (int d = 0; d < 7; ++d) {  // a daily forecast of 2/day into a weekly bucket
    auto* q = f.mutable_demand_forecast()->add_quantities();
    SetTime(q->mutable_period_start(), Week(1, d));
    q->set_quantity(2.0);
  }
  auto* past = f.mutable_demand_forecast()->add_quantities();
  SetTime(past->mutable_period_start(), Week(-1));
  past->set_quantity(99.0);
  a.Apply(f);
  sop::v1::Envelope adj;
  adj.set_event_id("adj");
  auto* m = adj.mutable_forecast_adjustment();
  m->set_adjustment_id("ADJ1");
  m->set_item_id("A");
  m->set_site_id("P1");
  SetTime(m->mutable_period_start(), Week(1));
  m->set_quantity_delta(-4.0);
  std::vector<ModelUpdate> updates;
  a.Apply(adj, &updates);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_DOUBLE_EQ(std::get<ForecastSet>(updates[0]).quantity, 10.0);
  auto built = a.Build();
  ASSERT_TRUE(built.has_value());
  const auto row = built->snapshot.Forecast(model::ItemSiteIndex(0));
  EXPECT_DOUBLE_EQ(row[0], 0.0);  // last week's forecast is not demand
  EXPECT_DOUBLE_EQ(row[1], 10.0);
}

TEST(CodecAssembler, BuildAndReleaseGivesTheSameSnapshotAndEmptiesTheAssembler) {
  SnapshotAssembler a = WithItemA();
  a.Apply(SalesOrder("so-1", "SO1", 20.0, Week(1)));
  auto kept = a.Build();
  auto released = a.BuildAndRelease();
  ASSERT_TRUE(kept.has_value());
  ASSERT_TRUE(released.has_value());
  EXPECT_EQ(released->snapshot.item_site_count(), kept->snapshot.item_site_count());
  ASSERT_EQ(released->snapshot.sales_orders.size(), 1u);
  EXPECT_DOUBLE_EQ(released->snapshot.sales_orders[0].quantity, 20.0);
  EXPECT_EQ(a.stats().events, 0);
  EXPECT_FALSE(a.Build().has_value());  // no settings any more: the state is gone
}

TEST(CodecAssembler, BuildWithoutSettingsIsAFailedPrecondition) {
  SnapshotAssembler a;
  a.Apply(Site("P1"));
  auto built = a.Build();
  ASSERT_FALSE(built.has_value());
  EXPECT_EQ(built.error().code(), Errc::kFailedPrecondition);
}

TEST(CodecJsonLines, RoundTripAndBadLineNamesTheLineNumber) {
  std::vector<sop::v1::Envelope> envelopes{Settings(), Site("P1"), Item("A", "P1")};
  std::ostringstream out;
  ASSERT_TRUE(WriteJsonLines(envelopes, out).has_value());
  std::istringstream in(out.str() + "\n");
  std::vector<std::string> ids;
  auto count = ReadJsonLines(in, [&](const sop::v1::Envelope& e, std::int64_t) -> Status {
    ids.push_back(e.event_id());
    return {};
  });
  ASSERT_TRUE(count.has_value());
  EXPECT_EQ(*count, 3);
  EXPECT_EQ(ids, (std::vector<std::string>{"settings", "site:P1", "item:A@P1"}));

  std::istringstream bad(out.str().substr(0, out.str().find('\n') + 1) + "{\"eventId\": \"x\", \"bogus\": 1}\n");
  auto failed = ReadJsonLines(bad, [](const sop::v1::Envelope&, std::int64_t) -> Status { return {}; });
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(failed.error().message().find("line 2"), std::string::npos) << failed.error().message();
  EXPECT_NE(failed.error().message().find("bogus"), std::string::npos) << failed.error().message();
}

}  // namespace
}  // namespace sop::codec
