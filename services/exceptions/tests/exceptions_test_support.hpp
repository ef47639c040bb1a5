#pragma once
// Shared by the exceptions tests: the generated S-scale stream as facts, a hand-made plant as
// facts, and the reference list (DetectExceptions + RankAll on the same facts' plan).

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sop/codec/planning_state.hpp"
#include "sop/planning/exceptions.hpp"
#include "sop/planning/ranking.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/service_testing/facts.hpp"
#include "sop/v1/events.pb.h"
#include "sop/v1/planning.pb.h"

namespace sop::exceptions::testing {

// The generated S-scale stream, Fact wrapping and the keyed spread: sop::service_testing.
using service_testing::FactBytes;
using service_testing::kIngestedBase;

inline const std::vector<sop::v1::Envelope>& Events() {
  return service_testing::SEvents();
}

// Site → one of three partitions, as a keyed topic would spread them.
inline std::int32_t PartitionOf(const sop::v1::Envelope& envelope) {
  return service_testing::PartitionOf(envelope);
}

inline google::protobuf::Timestamp At(std::int64_t days_after_plan_start, int hour = 12) {
  // Plan start of the hand-made plant: Monday 2026-11-23 00:00 UTC.
  constexpr std::int64_t kPlanStart = 1'795'392'000;
  google::protobuf::Timestamp t;
  t.set_seconds(kPlanStart + days_after_plan_start * 86'400 + hour * 3'600);
  return t;
}

// One short component shared by two finished goods, as ERP events: C1 (bought, lead time 2
// weeks, frozen for 10 weeks, no stock) goes into HI (price 100, cost 40, family PUMPS) and LO
// (price 30, cost 25, family PUMPS). SO-HI:1 of CUST-A (priority 1) wants 10 HI and SO-LO:1 of
// CUST-B (priority 2) 10 LO, both due in week 4: C1 is 20 short from week 3.
inline std::vector<sop::v1::Envelope> SharedComponentPlant() {
  std::vector<sop::v1::Envelope> events;
  int n = 0;
  auto next = [&]() -> sop::v1::Envelope& {
    auto& e = events.emplace_back();
    e.set_event_id("hand-" + std::to_string(++n));
    e.set_source_system("test");
    e.set_site("P1");
    return e;
  };
  {
    auto& s = *next().mutable_site_master();
    s.set_site_id("P1");
    s.set_name("Plant 1");
    s.set_type(sop::v1::SITE_TYPE_PLANT);
  }
  {
    auto& p = *next().mutable_planning_settings();
    *p.mutable_plan_start() = At(0, 0);
    p.set_bucket_size(sop::v1::BUCKET_SIZE_WEEK);
    p.set_horizon_buckets(10);
  }
  auto item = [&](const char* id, sop::v1::ItemType type, double cost, double price, double lead,
                  double frozen, const char* family) {
    auto& i = *next().mutable_item();
    i.set_item_id(id);
    i.set_site_id("P1");
    i.set_type(type);
    i.set_unit_cost(cost);
    i.set_unit_price(price);
    i.set_lead_time_days(lead);
    i.set_frozen_fence_days(frozen);
    i.set_family(family);
    i.set_active(true);
  };
  item("HI", sop::v1::ITEM_TYPE_MAKE, 40, 100, 7, 0, "PUMPS");
  item("LO", sop::v1::ITEM_TYPE_MAKE, 25, 30, 7, 0, "PUMPS");
  item("C1", sop::v1::ITEM_TYPE_BUY, 10, 0, 14, 70, "");
  for (const char* parent : {"HI", "LO"}) {
    auto& b = *next().mutable_bom();
    b.set_parent_item_id(parent);
    b.set_site_id("P1");
    auto& line = *b.add_lines();
    line.set_component_item_id("C1");
    line.set_quantity_per(1.0);
  }
  auto order = [&](const char* id, const char* customer, int priority, const char* item_id,
                   double quantity, double price) {
    auto& o = *next().mutable_sales_order();
    o.set_order_id(id);
    o.set_line(1);
    o.set_customer_id(customer);
    o.set_customer_priority(priority);
    o.set_channel("OEM");
    o.set_item_id(item_id);
    o.set_site_id("P1");
    o.set_quantity(quantity);
    o.set_unit_price(price);
    *o.mutable_due_date() = At(4 * 7);
    o.set_status(sop::v1::ORDER_STATUS_OPEN);
  };
  order("SO-HI", "CUST-A", 1, "HI", 10, 100);
  order("SO-LO", "CUST-B", 2, "LO", 10, 30);
  return events;
}

/// The reference: the same facts in one partition, planned by codec::PlanningState, detected
/// by planning::DetectExceptions and ranked by planning::RankAll (no service code involved).
struct Reference {
  codec::PlanningState planning;
  std::vector<planning::Exception> ranked;

  explicit Reference(const std::vector<sop::v1::Envelope>& events,
                     const std::vector<std::string>& extra_facts = {}) {
    std::int64_t sequence = 0;
    const codec::PartitionKey key{"sop.facts.v1", 0};
    for (const auto& e : events) {
      auto applied = planning.ApplyFact(key, FactBytes(e, sequence++));
      if (!applied) throw std::runtime_error(applied.error().ToString());
    }
    for (const auto& bytes : extra_facts) {
      auto applied = planning.ApplyFact(key, bytes);
      if (!applied) throw std::runtime_error(applied.error().ToString());
    }
    planning.Flush();
    const auto* engine = planning.engine();
    if (engine == nullptr) throw std::runtime_error("reference: no plan");
    const auto capacity = planning::RoughCut(engine->snapshot(), engine->plan());
    ranked = planning::DetectExceptions(*engine, capacity, planning.BuildHistory());
    planning::RankAll(ranked, planning::RankingWeights{});
  }
};

}  // namespace sop::exceptions::testing
