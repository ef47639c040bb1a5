#include "sop/gen/generator.hpp"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "sop/v1/events.pb.h"

namespace sop::gen {
namespace {

// Most tests need the structure, not three years of shipments; keep them fast.
GeneratorOptions SmallHistory(std::uint64_t seed, int history_weeks = 4) {
  GeneratorOptions options;
  options.scale = Scale::kS;
  options.seed = seed;
  options.history_weeks = history_weeks;
  return options;
}

std::string Json(const GeneratorOptions& options) {
  std::ostringstream out;
  auto stats = WriteJsonLines(options, out);
  EXPECT_TRUE(stats.has_value());
  return out.str();
}

// The S-scale stream, generated once for the read-only tests below.
const std::vector<sop::v1::Envelope>& ScaleS() {
  static const std::vector<sop::v1::Envelope> envelopes = [] {
    auto all = GenerateAll(SmallHistory(42, 8));
    EXPECT_TRUE(all.has_value());
    return all.value_or(std::vector<sop::v1::Envelope>{});
  }();
  return envelopes;
}

std::string Key(const std::string& site, const std::string& id) { return site + "|" + id; }

TEST(GenManufacturer, SameSeedGivesByteIdenticalJsonLines) {
  const std::string first = Json(SmallHistory(7));
  const std::string second = Json(SmallHistory(7));
  ASSERT_GT(first.size(), 1'000'000u);
  EXPECT_TRUE(first == second);
}

TEST(GenManufacturer, DifferentSeedGivesDifferentData) {
  EXPECT_NE(Json(SmallHistory(7)), Json(SmallHistory(8)));
}

TEST(GenManufacturer, ScaleSMatchesDesignCounts) {
  std::map<sop::v1::SiteType, int> sites;
  std::set<std::string> parents, components, work_centers;
  int settings_horizon = 0;
  for (const auto& e : ScaleS()) {
    if (e.has_site_master()) ++sites[e.site_master().type()];
    if (e.has_planning_settings()) settings_horizon = e.planning_settings().horizon_buckets();
    if (e.has_work_center()) work_centers.insert(e.work_center().work_center_id());
    if (e.has_bom()) {
      parents.insert(e.bom().parent_item_id());
      for (const auto& line : e.bom().lines()) components.insert(line.component_item_id());
    }
  }
  std::set<std::string> finished_goods;
  for (const auto& p : parents) {
    if (!components.contains(p)) finished_goods.insert(p);
  }
  EXPECT_EQ(sites[sop::v1::SITE_TYPE_PLANT], 3);
  EXPECT_EQ(sites[sop::v1::SITE_TYPE_DISTRIBUTION_CENTER], 2);
  EXPECT_EQ(finished_goods.size(), 500u);
  EXPECT_EQ(components.size(), 1500u);
  EXPECT_EQ(work_centers.size(), 24u);
  EXPECT_EQ(settings_horizon, 78);
  const ScaleSpec spec = SpecFor(Scale::kS);
  EXPECT_EQ(spec.default_history_weeks, 156);
  EXPECT_EQ(spec.OpenOrderLines(), 10000);
}

TEST(GenManufacturer, ScaleSBomsAreExactlyThreeLevelsDeep) {
  std::unordered_map<std::string, std::vector<std::string>> children;  // site|parent → components
  for (const auto& e : ScaleS()) {
    if (!e.has_bom()) continue;
    auto& list = children[Key(e.bom().site_id(), e.bom().parent_item_id())];
    for (const auto& line : e.bom().lines()) list.push_back(Key(e.bom().site_id(), line.component_item_id()));
  }
  std::unordered_map<std::string, int> memo;
  std::function<int(const std::string&)> depth = [&](const std::string& key) -> int {
    if (auto it = memo.find(key); it != memo.end()) return it->second;
    int deepest = 0;
    if (auto it = children.find(key); it != children.end()) {
      for (const auto& child : it->second) deepest = std::max(deepest, depth(child));
    }
    return memo[key] = deepest + 1;
  };
  int max_depth = 0;
  for (const auto& [key, unused] : children) max_depth = std::max(max_depth, depth(key));
  EXPECT_EQ(max_depth, 3);
}

TEST(GenManufacturer, OpenOrderLinesPerTypeMatchTheScale) {
  std::map<std::string, int> lines;
  for (const auto& e : ScaleS()) {
    if (e.has_sales_order()) ++lines["so"];
    if (e.has_purchase_order()) ++lines["po"];
    if (e.has_work_order()) ++lines["wo"];
    if (e.has_transfer_order()) ++lines["to"];
  }
  const ScaleSpec spec = SpecFor(Scale::kS);
  EXPECT_EQ(lines["so"], spec.sales_order_lines);
  EXPECT_EQ(lines["po"], spec.purchase_order_lines);
  EXPECT_EQ(lines["wo"], spec.work_order_lines);
  EXPECT_EQ(lines["to"], spec.transfer_order_lines);
}

TEST(GenManufacturer, JsonLinesParseBackIntoTheSameEnvelopes) {
  const auto options = SmallHistory(3, 2);
  auto envelopes = GenerateAll(options);
  ASSERT_TRUE(envelopes.has_value());
  std::istringstream in(Json(options));
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    sop::v1::Envelope parsed;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok()) << "line " << n + 1;
    ASSERT_LT(n, envelopes->size());
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, (*envelopes)[n])) << "line " << n + 1;
    ++n;
  }
  EXPECT_EQ(n, envelopes->size());
}

TEST(GenManufacturer, EventIdsAreUnique) {
  std::unordered_set<std::string> ids;
  for (const auto& e : ScaleS()) EXPECT_TRUE(ids.insert(e.event_id()).second) << e.event_id();
  EXPECT_EQ(ids.size(), ScaleS().size());
}

TEST(GenManufacturer, EveryReferenceResolves) {
  std::unordered_set<std::string> sites, items, work_centers, calendars, suppliers, customers, pos, wos;
  for (const auto& e : ScaleS()) {
    if (e.has_site_master()) sites.insert(e.site_master().site_id());
    if (e.has_item()) items.insert(Key(e.item().site_id(), e.item().item_id()));
    if (e.has_work_center()) work_centers.insert(Key(e.work_center().site_id(), e.work_center().work_center_id()));
    if (e.has_calendar()) calendars.insert(e.calendar().calendar_id());
    if (e.has_supplier()) suppliers.insert(e.supplier().supplier_id());
    if (e.has_customer()) customers.insert(e.customer().customer_id());
    if (e.has_purchase_order()) pos.insert(e.purchase_order().po_id() + ":" + std::to_string(e.purchase_order().line()));
    if (e.has_work_order()) wos.insert(e.work_order().work_order_id());
  }
  int transfers = 0;
  for (const auto& e : ScaleS()) {
    EXPECT_TRUE(sites.contains(e.site())) << e.event_id();
    if (e.has_item()) {
      const auto& item = e.item();
      EXPECT_TRUE(item.active()) << e.event_id();
      if (item.type() == sop::v1::ITEM_TYPE_TRANSFER) {
        ++transfers;
        EXPECT_TRUE(items.contains(Key(item.source_site_id(), item.item_id()))) << e.event_id();
      }
      if (item.type() == sop::v1::ITEM_TYPE_BUY) {
        EXPECT_TRUE(suppliers.contains(item.supplier_id())) << e.event_id();
      }
    }
    if (e.has_bom()) {
      EXPECT_TRUE(items.contains(Key(e.bom().site_id(), e.bom().parent_item_id()))) << e.event_id();
      for (const auto& line : e.bom().lines()) {
        EXPECT_TRUE(items.contains(Key(e.bom().site_id(), line.component_item_id()))) << e.event_id();
      }
    }
    if (e.has_routing()) {
      for (const auto& step : e.routing().steps()) {
        EXPECT_TRUE(work_centers.contains(Key(e.routing().site_id(), step.work_center_id()))) << e.event_id();
      }
    }
    if (e.has_work_center()) {
      EXPECT_TRUE(calendars.contains(e.work_center().calendar_id())) << e.event_id();
    }
    if (e.has_sales_order()) {
      EXPECT_TRUE(items.contains(Key(e.sales_order().site_id(), e.sales_order().item_id()))) << e.event_id();
      EXPECT_TRUE(customers.contains(e.sales_order().customer_id())) << e.event_id();
    }
    if (e.has_purchase_order()) {
      EXPECT_TRUE(items.contains(Key(e.purchase_order().site_id(), e.purchase_order().item_id()))) << e.event_id();
    }
    if (e.has_supplier_confirmation()) {
      const auto& c = e.supplier_confirmation();
      EXPECT_TRUE(pos.contains(c.po_id() + ":" + std::to_string(c.line()))) << e.event_id();
    }
    if (e.has_goods_receipt()) {
      const auto& r = e.goods_receipt();
      EXPECT_TRUE(pos.contains(r.po_id() + ":" + std::to_string(r.line()))) << e.event_id();
    }
    if (e.has_production_completion()) {
      EXPECT_TRUE(wos.contains(e.production_completion().work_order_id())) << e.event_id();
    }
    if (e.has_transfer_order()) {
      const auto& t = e.transfer_order();
      EXPECT_TRUE(items.contains(Key(t.from_site_id(), t.item_id()))) << e.event_id();
      EXPECT_TRUE(items.contains(Key(t.to_site_id(), t.item_id()))) << e.event_id();
    }
    if (e.has_demand_forecast()) {
      EXPECT_TRUE(items.contains(Key(e.demand_forecast().site_id(), e.demand_forecast().item_id())));
    }
  }
  // Both DCs stock every finished good plus 100 spare parts.
  EXPECT_EQ(transfers, 2 * (500 + 100));
}

TEST(GenManufacturer, DataCarriesTheRealismPlannersExpect) {
  std::map<sop::v1::LotSizingPolicy, int> policies;
  int late_confirmations = 0, frozen = 0, safety = 0, shared_components = 0, holidays_in_thanksgiving_week = 0;
  std::unordered_map<std::string, std::set<std::string>> families_using;  // component → families
  std::unordered_map<std::string, std::string> family_of;
  std::unordered_map<std::string, std::int64_t> po_due;
  for (const auto& e : ScaleS()) {
    if (e.has_item()) {
      ++policies[e.item().lot_sizing_policy()];
      frozen += e.item().frozen_fence_days() > 0;
      safety += e.item().safety_stock() > 0;
      if (!e.item().family().empty()) family_of[Key(e.item().site_id(), e.item().item_id())] = e.item().family();
    }
    if (e.has_bom()) {
      const auto it = family_of.find(Key(e.bom().site_id(), e.bom().parent_item_id()));
      if (it == family_of.end()) continue;
      for (const auto& line : e.bom().lines()) families_using[line.component_item_id()].insert(it->second);
    }
    if (e.has_purchase_order()) {
      po_due[e.purchase_order().po_id() + ":" + std::to_string(e.purchase_order().line())] =
          e.purchase_order().due_date().seconds();
    }
    if (e.has_supplier_confirmation()) {
      const auto& c = e.supplier_confirmation();
      late_confirmations += c.confirmed_date().seconds() > po_due[c.po_id() + ":" + std::to_string(c.line())];
    }
    if (e.has_calendar() && e.calendar().site_id() == "P3") {
      // Plan start 2026-11-23; the US plant is closed on Thanksgiving (26th) and the day after.
      for (const auto& h : e.calendar().holidays()) {
        const std::int64_t day = h.seconds() / 86400;
        holidays_in_thanksgiving_week += day >= 20780 && day < 20785;  // 2026-11-23 .. 27
      }
    }
  }
  for (const auto& [component, families] : families_using) shared_components += families.size() > 1;
  EXPECT_GT(policies[sop::v1::LOT_SIZING_POLICY_LOT_FOR_LOT], 100);
  EXPECT_GT(policies[sop::v1::LOT_SIZING_POLICY_FIXED_ORDER_QUANTITY], 100);
  EXPECT_GT(policies[sop::v1::LOT_SIZING_POLICY_PERIODS_OF_SUPPLY], 100);
  EXPECT_GT(late_confirmations, 50);
  EXPECT_GT(frozen, 50);
  EXPECT_GT(safety, 200);
  EXPECT_GT(shared_components, 20);
  EXPECT_EQ(holidays_in_thanksgiving_week, 2 * 2);  // two calendars at P3, two days each
}

TEST(GenManufacturer, DemandHistoryEqualsTheShipmentEvents) {
  const auto options = SmallHistory(11, 6);
  auto history = DemandHistory(options);
  ASSERT_TRUE(history.has_value());
  std::map<std::string, double> from_series, from_events;
  int intermittent = 0;
  for (const auto& s : *history) {
    ASSERT_EQ(s.weekly_quantities.size(), 6u);
    intermittent += s.intermittent;
    for (double q : s.weekly_quantities) from_series[Key(s.site_id, s.item_id)] += q;
  }
  auto envelopes = GenerateAll(options);
  ASSERT_TRUE(envelopes.has_value());
  for (const auto& e : *envelopes) {
    if (e.has_shipment()) from_events[Key(e.shipment().site_id(), e.shipment().item_id())] += e.shipment().quantity();
  }
  EXPECT_EQ(intermittent, 200);  // the spare parts of both DCs
  for (const auto& [key, total] : from_events) EXPECT_DOUBLE_EQ(from_series[key], total) << key;
  double series_total = 0.0, events_total = 0.0;
  for (const auto& [key, total] : from_series) series_total += total;
  for (const auto& [key, total] : from_events) events_total += total;
  EXPECT_GT(series_total, 0.0);
  EXPECT_DOUBLE_EQ(series_total, events_total);
}

TEST(GenManufacturer, RejectsAPlanStartThatIsNotAMonday) {
  GeneratorOptions options;
  options.plan_start = std::chrono::sys_days{std::chrono::year{2026} / 11 / 24};
  auto result = Generate(options, [](const sop::v1::Envelope&) {});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(result.error().message().find("plan_start"), std::string::npos);
  EXPECT_NE(result.error().message().find("2026-11-24"), std::string::npos);
}

TEST(GenManufacturer, ParsesScaleAndDate) {
  EXPECT_EQ(ParseScale("L").value(), Scale::kL);
  EXPECT_FALSE(ParseScale("M").has_value());
  EXPECT_EQ(FormatDate(ParseDate("2027-01-04", "d").value()), "2027-01-04");
  EXPECT_FALSE(ParseDate("2027-02-30", "d").has_value());
  EXPECT_FALSE(ParseDate("tomorrow", "d").has_value());
}

}  // namespace
}  // namespace sop::gen
