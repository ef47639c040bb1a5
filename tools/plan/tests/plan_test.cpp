// sop-plan on a small hand-made manufacturer, checked against numbers worked out by hand.
//
// tests/data/small.jsonl: weekly buckets from Mon 2026-11-23, H = 8, consumption window ±1.
//   FG (make, LT 7 days = 1 bucket, lot-for-lot, on hand 10): forecast 20/week; SO1 (priority 1
//   customer) 15 due week 1 consumes week 1's forecast → ID = 20 every week.
//   C (buy, LT 14 days = 2 buckets, FOQ 50, on hand 30): 2 per FG; PO1 50 due week 2.
//   WC1: 1 machine × 8 h × Mon–Fri = 40 h/week, a holiday on Wed 2026-12-16 (week 3) → 32 h;
//   FG routing: setup 1 h + 2 h/unit.
//
// By hand:
//   FG t0: 10 − 20 = −10 → PR 10 (release −1: past due); t1..t7: PR 20 each (releases 0..6).
//   FG releases: [30, 20, 20, 20, 20, 20, 20, 0] → C gross = 2× = [60, 40, 40, 40, 40, 40, 40, 0].
//   C: t0 30−60 = −30 → 50 (PAB 20); t1 20−40 → 50 (30); t2 30+50−40 = 40; t3 0; t4 −40 → 50 (10);
//      t5 −30 → 50 (20); t6 −20 → 50 (30); t7 30.
//   WC1 load bucket b ≥ 1 = FG order released in b: 1 + 2 × 20 = 41 h (bucket 7: none).
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "sop/gen/generator.hpp"
#include "sop/plan_tool/json_writer.hpp"
#include "sop/plan_tool/plan_run.hpp"

namespace sop::plan_tool {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

const std::string kSmall = std::string(SOP_PLAN_TEST_DATA) + "/small.jsonl";

class PlanToolSmall : public ::testing::Test {
 protected:
  void SetUp() override {
    auto run = RunPlanFile(kSmall);
    ASSERT_TRUE(run.has_value()) << run.error().ToString();
    json_ = PlanToJson(*run);
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json_, &root_).ok()) << json_.substr(0, 500);
  }

  const Struct& ItemSite(const std::string& item) const {
    for (const Value& v : root_.fields().at("item_sites").list_value().values()) {
      if (v.struct_value().fields().at("item").string_value() == item) return v.struct_value();
    }
    ADD_FAILURE() << "no item-site " << item;
    return root_;
  }
  const Struct& WorkCenter(const std::string& id) const {
    for (const Value& v : root_.fields().at("work_centers").list_value().values()) {
      if (v.struct_value().fields().at("id").string_value() == id) return v.struct_value();
    }
    ADD_FAILURE() << "no work center " << id;
    return root_;
  }
  static std::vector<double> Numbers(const Struct& s, const std::string& key) {
    std::vector<double> out;
    for (const Value& v : s.fields().at(key).list_value().values()) out.push_back(v.number_value());
    return out;
  }

  std::string json_;
  Struct root_;
};

TEST_F(PlanToolSmall, HeaderAndSummaryDescribeTheRun) {
  EXPECT_EQ(root_.fields().at("plan_start").string_value(), "2026-11-23");
  EXPECT_EQ(root_.fields().at("horizon").number_value(), 8);
  const auto& summary = root_.fields().at("summary").struct_value().fields();
  EXPECT_EQ(summary.at("events").number_value(), 14);
  EXPECT_EQ(summary.at("item_sites").number_value(), 2);
  EXPECT_EQ(summary.at("planned_orders").number_value(), 8 + 5);
}

TEST_F(PlanToolSmall, FinishedGoodRecordMatchesHandCalculation) {
  const Struct& fg = ItemSite("FG");
  EXPECT_EQ(Numbers(fg, "gross_requirements"), (std::vector<double>{20, 20, 20, 20, 20, 20, 20, 20}));
  EXPECT_EQ(Numbers(fg, "projected_available"), (std::vector<double>(8, 0.0)));
  EXPECT_EQ(Numbers(fg, "net_requirements"), (std::vector<double>{10, 20, 20, 20, 20, 20, 20, 20}));
  EXPECT_EQ(Numbers(fg, "planned_receipts"), (std::vector<double>{10, 20, 20, 20, 20, 20, 20, 20}));
  EXPECT_EQ(Numbers(fg, "planned_releases"), (std::vector<double>{30, 20, 20, 20, 20, 20, 20, 0}));
  const auto& orders = fg.fields().at("planned_orders").list_value().values();
  ASSERT_EQ(orders.size(), 8u);
  EXPECT_TRUE(orders[0].struct_value().fields().at("past_due").bool_value());
  EXPECT_FALSE(orders[1].struct_value().fields().at("past_due").bool_value());
}

TEST_F(PlanToolSmall, ComponentRecordMatchesHandCalculation) {
  const Struct& c = ItemSite("C");
  EXPECT_EQ(Numbers(c, "gross_requirements"), (std::vector<double>{60, 40, 40, 40, 40, 40, 40, 0}));
  EXPECT_EQ(Numbers(c, "scheduled_receipts"), (std::vector<double>{0, 0, 50, 0, 0, 0, 0, 0}));
  EXPECT_EQ(Numbers(c, "projected_available"), (std::vector<double>{20, 30, 40, 0, 10, 20, 30, 30}));
  EXPECT_EQ(Numbers(c, "net_requirements"), (std::vector<double>{30, 20, 0, 0, 40, 30, 20, 0}));
  EXPECT_EQ(Numbers(c, "planned_receipts"), (std::vector<double>{50, 50, 0, 0, 50, 50, 50, 0}));
  EXPECT_EQ(Numbers(c, "planned_releases"), (std::vector<double>{100, 0, 50, 50, 50, 0, 0, 0}));
}

TEST_F(PlanToolSmall, WeekOneOrderIsPeggedToTheSalesOrderThenForecast) {
  const Struct& fg = ItemSite("FG");
  const auto& order = fg.fields().at("planned_orders").list_value().values()[1].struct_value();
  EXPECT_EQ(order.fields().at("receipt_bucket").number_value(), 1);
  const auto& pegs = order.fields().at("pegging").list_value().values();
  ASSERT_EQ(pegs.size(), 2u);
  const auto& first = pegs[0].struct_value().fields();
  EXPECT_EQ(first.at("demand").string_value(), "sales_order");
  EXPECT_EQ(first.at("order_id").string_value(), "SO1:1");
  EXPECT_EQ(first.at("priority").number_value(), 1);  // taken from the customer master
  EXPECT_EQ(first.at("quantity").number_value(), 15);
  const auto& second = pegs[1].struct_value().fields();
  EXPECT_EQ(second.at("demand").string_value(), "forecast");
  EXPECT_EQ(second.at("quantity").number_value(), 5);
}

TEST_F(PlanToolSmall, RoughCutShowsTheHolidayWeekOverload) {
  const Struct& wc = WorkCenter("WC1");
  const auto capacity = Numbers(wc, "capacity_hours");
  const auto load = Numbers(wc, "load_hours");
  const auto overload = Numbers(wc, "overload_hours");
  EXPECT_EQ(capacity, (std::vector<double>{40, 40, 40, 32, 40, 40, 40, 40}));
  for (int b = 1; b <= 6; ++b) EXPECT_DOUBLE_EQ(load[static_cast<std::size_t>(b)], 41.0) << "bucket " << b;
  EXPECT_DOUBLE_EQ(load[7], 0.0);
  EXPECT_DOUBLE_EQ(overload[1], 1.0);
  EXPECT_DOUBLE_EQ(overload[3], 9.0);
  EXPECT_DOUBLE_EQ(overload[7], 0.0);
  EXPECT_EQ(wc.fields().at("first_overloaded_bucket").number_value(), 0);
}

TEST_F(PlanToolSmall, PastDueReleaseIsAFinding) {
  int past_due_releases = 0;
  for (const Value& v : root_.fields().at("findings").list_value().values()) {
    const auto& f = v.struct_value().fields();
    if (f.at("type").string_value() == "PAST_DUE_RELEASE") ++past_due_releases;
  }
  // FG's week-0 order and C's week-0 and week-1 orders would have to be released in the past.
  EXPECT_EQ(past_due_releases, 3);
}

// The generator's S manufacturer converts without a single finding and plans with material
// balance in every item-bucket: begin + scheduled receipts + planned receipts − gross = end.
TEST(PlanTool, GeneratedScaleSConvertsCleanlyAndBalances) {
  sop::gen::GeneratorOptions gen_options;
  gen_options.seed = 5;
  gen_options.history_weeks = 0;
  codec::SnapshotAssembler assembler;
  ASSERT_TRUE(sop::gen::Generate(gen_options, [&](const sop::v1::Envelope& e) { assembler.Apply(e); }).has_value());
  auto run = RunPlan(assembler);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  for (const auto& f : run->input_findings) ADD_FAILURE() << f.subject << " " << f.field << ": " << f.message;
  const auto& s = run->engine->snapshot();
  const auto& plan = run->engine->plan();
  EXPECT_EQ(s.item_site_count(), 3200u);
  EXPECT_EQ(s.work_centers.size(), 24u);
  EXPECT_EQ(s.sales_orders.size(), 6000u);
  EXPECT_EQ(s.receipts.size(), 2500u + 1000u + 500u);
  EXPECT_GT(plan.PlannedOrderCount(), 10000u);
  double hours = 0.0;
  for (double h : s.available_hours) hours += h;
  EXPECT_GT(hours, 0.0);
  for (std::size_t i = 0; i < s.item_site_count(); ++i) {
    const model::ItemSiteIndex index(static_cast<std::int32_t>(i));
    const auto gr = plan.Row(plan.gross_requirements, index);
    const auto sr = plan.Row(plan.scheduled_receipts, index);
    const auto pr = plan.Row(plan.planned_receipts, index);
    const auto pab = plan.Row(plan.projected_available, index);
    double previous = s.item_sites[i].on_hand;
    for (std::size_t t = 0; t < gr.size(); ++t) {
      ASSERT_NEAR(previous + sr[t] + pr[t] - gr[t], pab[t], 1e-6 * std::max(1.0, std::abs(pab[t])))
          << s.ItemSiteName(index) << " bucket " << t;
      previous = pab[t];
    }
  }
}

TEST(PlanTool, MissingFileIsNotFound) {
  auto run = RunPlanFile(std::string(SOP_PLAN_TEST_DATA) + "/does-not-exist.jsonl");
  ASSERT_FALSE(run.has_value());
  EXPECT_EQ(run.error().code(), Errc::kNotFound);
}

TEST(PlanToolJsonWriter, EscapesStringsAndWritesNonFiniteAsNull) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject().Field("a\"b", "x\ny").Key("n").Numbers(std::vector<double>{1.5, std::numeric_limits<double>::infinity(), -0.0}).EndObject();
  EXPECT_EQ(out, R"({"a\"b":"x\ny","n":[1.5,null,0]})");
}

}  // namespace
}  // namespace sop::plan_tool
