#pragma once
// Shared by the capacity tests: a tiny hand-made plant a planner can multiply out by hand, the
// generated S-scale stream, Fact wrapping, and the plan libs/codec + libs/planning compute
// directly on the same events (the reference).
//
// The tiny plant P1 (weekly buckets from Monday 2026-11-23, H = 8):
//   WC-ASSY: calendar Mon–Fri × 8 h = 40 h/week, 1 machine, efficiency 1, overtime ≤ 10 h/week
//            at 60/h, regular 40/h, no subcontracting.
//   WC-PACK: same calendar.
//   A (make, lead time 7 d = 1 bucket, price 100, cost 50, family F1): WC-ASSY 2 h setup +
//     0.5 h/unit, then WC-PACK 0.1 h/unit.
//   B (make, lead time 1 bucket, price 80, cost 30, family F2): WC-ASSY 1 h + 0.25 h/unit.
//   Sales orders: SO-1 A 40 due week 2, SO-2 B 116 due week 2, SO-3 A 20 due week 4.
// No stock, lot-for-lot: planned orders A 40 (release 1 → receipt 2), B 116 (1 → 2),
// A 20 (3 → 4). Load lands in the release bucket (receipt − 1 = release):
//   WC-ASSY bucket 1: A 2 + 0.5 × 40 = 22, B 1 + 0.25 × 116 = 30 → 52 h of 40: overload 12,
//                     utilization 1.3;  bucket 3: A 2 + 0.5 × 20 = 12 h.
//   WC-PACK bucket 1: 0.1 × 40 = 4 h;  bucket 3: 0.1 × 20 = 2 h.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sop/planning/netting.hpp"
#include "sop/service_testing/facts.hpp"
#include "sop/v1/events.pb.h"
#include "sop/v1/planning.pb.h"

namespace sop::capacity::testing {

// 2026-11-23T00:00:00Z, a Monday: start of bucket 0.
inline constexpr std::int64_t kPlanStart = 1'795'392'000;
inline constexpr std::int64_t kWeek = 7 * 24 * 3600;

inline void SetTime(google::protobuf::Timestamp* at, std::int64_t seconds) {
  at->set_seconds(seconds);
}

// Noon on Wednesday of week `bucket`.
inline std::int64_t InWeek(int bucket) {
  return kPlanStart + bucket * kWeek + 2 * 86400 + 43200;
}

inline sop::v1::Envelope NewEnvelope(const std::string& id, const std::string& site) {
  sop::v1::Envelope e;
  e.set_event_id(id);
  e.set_source_system("test");
  e.set_site(site);
  SetTime(e.mutable_occurred_at(), kPlanStart - 3600);
  SetTime(e.mutable_produced_at(), kPlanStart - 3600);
  return e;
}

inline sop::v1::Envelope SalesOrder(const std::string& id, const std::string& item, double quantity,
                                    int due_bucket, double price) {
  auto e = NewEnvelope("so-" + id + "-" + std::to_string(quantity), "P1");
  auto* so = e.mutable_sales_order();
  so->set_order_id(id);
  so->set_line(1);
  so->set_customer_id("C1");
  so->set_customer_priority(1);
  so->set_channel("OEM");
  so->set_item_id(item);
  so->set_site_id("P1");
  so->set_quantity(quantity);
  so->set_unit_price(price);
  SetTime(so->mutable_due_date(), InWeek(due_bucket));
  so->set_status(sop::v1::ORDER_STATUS_OPEN);
  return e;
}

inline std::vector<sop::v1::Envelope> TinyPlant() {
  std::vector<sop::v1::Envelope> out;
  {
    auto e = NewEnvelope("site-p1", "P1");
    e.mutable_site_master()->set_site_id("P1");
    e.mutable_site_master()->set_name("Plant 1");
    e.mutable_site_master()->set_type(sop::v1::SITE_TYPE_PLANT);
    e.mutable_site_master()->set_time_zone("UTC");
    out.push_back(e);
  }
  {
    auto e = NewEnvelope("settings", "P1");
    auto* s = e.mutable_planning_settings();
    SetTime(s->mutable_plan_start(), kPlanStart);
    s->set_bucket_size(sop::v1::BUCKET_SIZE_WEEK);
    s->set_horizon_buckets(8);
    out.push_back(e);
  }
  {
    auto e = NewEnvelope("cal-p1", "P1");
    auto* c = e.mutable_calendar();
    c->set_calendar_id("CAL-P1");
    c->set_site_id("P1");
    for (int d = 1; d <= 5; ++d) c->add_working_weekdays(d);
    auto* shift = c->add_shifts();
    shift->set_name("day");
    shift->set_hours(8.0);
    out.push_back(e);
  }
  for (const char* id : {"WC-ASSY", "WC-PACK"}) {
    auto e = NewEnvelope(std::string("wc-") + id, "P1");
    auto* w = e.mutable_work_center();
    w->set_work_center_id(id);
    w->set_site_id("P1");
    w->set_name(std::string(id) == "WC-ASSY" ? "Assembly" : "Packing");
    w->set_calendar_id("CAL-P1");
    w->set_efficiency(1.0);
    w->set_machines(1);
    w->set_overtime_max_hours_per_week(10.0);
    w->set_overtime_cost_per_hour(60.0);
    w->set_regular_cost_per_hour(40.0);
    out.push_back(e);
  }
  {
    auto e = NewEnvelope("customer-c1", "P1");
    e.mutable_customer()->set_customer_id("C1");
    e.mutable_customer()->set_name("Customer 1");
    e.mutable_customer()->set_priority(1);
    e.mutable_customer()->set_channel("OEM");
    out.push_back(e);
  }
  auto item = [&](const std::string& id, double price, double cost, const std::string& family) {
    auto e = NewEnvelope("item-" + id, "P1");
    auto* i = e.mutable_item();
    i->set_item_id(id);
    i->set_site_id("P1");
    i->set_description("item " + id);
    i->set_unit_of_measure("EA");
    i->set_type(sop::v1::ITEM_TYPE_MAKE);
    i->set_unit_cost(cost);
    i->set_unit_price(price);
    i->set_currency("EUR");
    i->set_lead_time_days(7.0);
    i->set_lot_sizing_policy(sop::v1::LOT_SIZING_POLICY_LOT_FOR_LOT);
    i->set_yield(1.0);
    i->set_family(family);
    i->set_active(true);
    out.push_back(e);
  };
  item("A", 100.0, 50.0, "F1");
  item("B", 80.0, 30.0, "F2");
  auto routing = [&](const std::string& id,
                     std::vector<std::tuple<int, std::string, double, double>> steps) {
    auto e = NewEnvelope("routing-" + id, "P1");
    auto* r = e.mutable_routing();
    r->set_item_id(id);
    r->set_site_id("P1");
    for (const auto& [sequence, wc, setup, run] : steps) {
      auto* step = r->add_steps();
      step->set_sequence(sequence);
      step->set_work_center_id(wc);
      step->set_setup_hours(setup);
      step->set_run_hours_per_unit(run);
    }
    out.push_back(e);
  };
  routing("A", {{10, "WC-ASSY", 2.0, 0.5}, {20, "WC-PACK", 0.0, 0.1}});
  routing("B", {{10, "WC-ASSY", 1.0, 0.25}});
  out.push_back(SalesOrder("SO-1", "A", 40.0, 2, 100.0));
  out.push_back(SalesOrder("SO-2", "B", 116.0, 2, 80.0));
  out.push_back(SalesOrder("SO-3", "A", 20.0, 4, 100.0));
  return out;
}

// The generated S-scale manufacturer (seed 11, no history), Fact wrapping and the reference
// plan (libs/codec + libs/planning on the same events): sop::service_testing.
using service_testing::FactBytes;

inline const std::vector<sop::v1::Envelope>& SEvents() {
  return service_testing::SEvents();
}

inline std::unique_ptr<planning::NettingEngine> Direct(
    const std::vector<sop::v1::Envelope>& events) {
  return service_testing::ReferencePlan(events);
}

}  // namespace sop::capacity::testing
