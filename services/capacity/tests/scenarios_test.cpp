// EvaluateScenarios at the edge: request overrides mapped onto the decision core, KPIs a planner
// checks by hand on the tiny plant, the seed scenarios on the S instance, and bad requests.

#include "sop/capacity/scenarios.hpp"

#include <gtest/gtest.h>

#include "capacity_test_support.hpp"

namespace sop::capacity {
namespace {

using testing::Direct;
using testing::TinyPlant;

sop::v1::Scenario Overtime(const std::string& name, const std::string& wc, double hours) {
  sop::v1::Scenario s;
  s.set_name(name);
  auto* x = s.add_overrides()->mutable_extra_capacity();
  x->set_work_center_id(wc);
  x->set_hours_per_bucket(hours);
  x->set_pay_only_used(true);  // overtime: only the hours the load needs are paid
  return s;                    // cost_per_hour 0: the work center's overtime rate (60/h)
}

double Overload(const sop::v1::ScenarioKpis& kpis, const std::string& wc) {
  auto it = kpis.overload_hours_by_work_center().find(wc);
  return it == kpis.overload_hours_by_work_center().end() ? 0.0 : it->second;
}

class CapacityScenarios : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { engine_ = Direct(TinyPlant()).release(); }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }
  static Result<sop::v1::EvaluateScenariosResponse> Evaluate(
      std::vector<sop::v1::Scenario> scenarios, const std::string& site = "") {
    sop::v1::EvaluateScenariosRequest request;
    for (auto& s : scenarios) *request.add_scenarios() = std::move(s);
    request.set_site_id(site);
    return EvaluateScenarios(*engine_, request);
  }
  static void ExpectInvalid(std::vector<sop::v1::Scenario> scenarios, const std::string& message,
                            const std::string& site = "") {
    auto response = Evaluate(std::move(scenarios), site);
    ASSERT_FALSE(response.has_value());
    EXPECT_EQ(response.error().code(), Errc::kInvalidArgument) << response.error().ToString();
    EXPECT_EQ(response.error().message(), message);
  }
  static planning::NettingEngine* engine_;
};
planning::NettingEngine* CapacityScenarios::engine_ = nullptr;

TEST_F(CapacityScenarios, BaseKpisAreThePlannersHandFigures) {
  auto response = Evaluate({Overtime("overtime", "WC-ASSY", 8.0)});
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  const auto& base = response->base();
  EXPECT_EQ(base.name(), "base");
  // WC-ASSY bucket 1: 52 h of 40 → 12 h over; overtime absorbs up to 10 h at 60/h, 2 h remain
  // (no subcontracting allowed at WC-ASSY).
  EXPECT_DOUBLE_EQ(base.overload_hours(), 12.0);
  EXPECT_DOUBLE_EQ(Overload(base, "WC-ASSY"), 12.0);
  EXPECT_EQ(base.overload_hours_by_work_center().size(), 1u);
  EXPECT_DOUBLE_EQ(base.overtime_cost(), 600.0);
  EXPECT_DOUBLE_EQ(base.unresolved_overload_hours(), 2.0);
  EXPECT_DOUBLE_EQ(base.load_hours(), 52.0 + 12.0 + 4.0 + 2.0);
  // Revenue 40 × 100 + 116 × 80 + 20 × 100; cost of goods 40 × 50 + 116 × 30 + 20 × 50.
  EXPECT_DOUBLE_EQ(base.sales_order_units(), 176.0);
  EXPECT_DOUBLE_EQ(base.revenue(), 15280.0);
  EXPECT_DOUBLE_EQ(base.cost_of_goods(), 6480.0);
  EXPECT_DOUBLE_EQ(base.gross_margin(), 15280.0 - 6480.0 - 600.0);
  EXPECT_DOUBLE_EQ(base.fill_rate(), 1.0);
}

TEST_F(CapacityScenarios, OvertimeOfEightHoursReducesThatOverloadAndCostsHoursTimesRate) {
  auto response = Evaluate({Overtime("overtime +8 h on WC-ASSY", "WC-ASSY", 8.0)});
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  ASSERT_EQ(response->scenarios_size(), 1);
  const auto& s = response->scenarios(0);
  EXPECT_EQ(s.name(), "overtime +8 h on WC-ASSY");
  // 12 h over − 8 h added = 4 h over, on WC-ASSY only; the 8 h are paid at its 60/h.
  EXPECT_DOUBLE_EQ(s.overload_hours(), 4.0);
  EXPECT_DOUBLE_EQ(Overload(s, "WC-ASSY"), 4.0);
  EXPECT_DOUBLE_EQ(Overload(s, "WC-PACK"), 0.0);
  EXPECT_DOUBLE_EQ(s.extra_capacity_cost(), 8.0 * 60.0);
  EXPECT_DOUBLE_EQ(s.overtime_cost(), 4.0 * 60.0);  // the rest, still absorbable
  EXPECT_DOUBLE_EQ(s.unresolved_overload_hours(), 0.0);
  EXPECT_DOUBLE_EQ(s.load_hours(), response->base().load_hours());  // load does not move
  EXPECT_DOUBLE_EQ(s.gross_margin(), 15280.0 - 6480.0 - 240.0 - 480.0);
  EXPECT_EQ(s.description(), "+8 h/bucket on WC-ASSY at 60/h (overtime, used hours paid)");
  // The base is evaluated on its own and stays what it was.
  EXPECT_DOUBLE_EQ(response->base().overload_hours(), 12.0);
}

TEST_F(CapacityScenarios, ShiftIsPaidInFullAndOverridesMapOntoTheDecisionCore) {
  sop::v1::Scenario shift;
  shift.set_name("second shift");
  auto* x = shift.add_overrides()->mutable_extra_capacity();
  x->set_work_center_id("WC-ASSY");
  x->set_hours_per_bucket(8.0);
  x->set_cost_per_hour(45.0);

  sop::v1::Scenario demand;
  demand.set_name("F2 +50%");
  auto* m = demand.add_overrides()->mutable_demand_multiplier();
  m->set_family("F2");
  m->set_multiplier(1.5);

  sop::v1::Scenario subcontract;
  subcontract.set_name("subcontract B assembly");
  auto* sub = subcontract.add_overrides()->mutable_subcontract();
  sub->set_item_id("B");
  sub->set_site_id("P1");
  sub->set_work_center_id("WC-ASSY");
  sub->set_cost_per_unit(2.0);

  auto response = Evaluate({shift, demand, subcontract});
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  ASSERT_EQ(response->scenarios_size(), 3);
  // A shift of 8 h in each of the 8 buckets at 45/h, whether used or not.
  const auto& s0 = response->scenarios(0);
  EXPECT_DOUBLE_EQ(s0.extra_capacity_cost(), 8.0 * 8.0 * 45.0);
  EXPECT_DOUBLE_EQ(s0.overload_hours(), 4.0);
  // B's order: 116 × 1.5 = 174 units → 1 + 0.25 × 174 = 44.5 h, + A's 22 h = 66.5 h of 40.
  const auto& s1 = response->scenarios(1);
  EXPECT_DOUBLE_EQ(Overload(s1, "WC-ASSY"), 26.5);
  EXPECT_DOUBLE_EQ(s1.sales_order_units(), 40.0 + 174.0 + 20.0);
  EXPECT_DOUBLE_EQ(s1.revenue(), 15280.0 + 58.0 * 80.0);
  // B's assembly leaves WC-ASSY (22 h left of 40: no overload) at 116 units × 2.
  const auto& s2 = response->scenarios(2);
  EXPECT_DOUBLE_EQ(s2.overload_hours(), 0.0);
  EXPECT_DOUBLE_EQ(s2.step_subcontract_cost(), 232.0);
  EXPECT_DOUBLE_EQ(s2.load_hours(), response->base().load_hours() - 30.0);
  bool overload_removed = false;
  for (const auto& id : s2.exceptions_removed()) {
    overload_removed |= id.rfind("CAPACITY_OVERLOAD", 0) == 0;
  }
  EXPECT_TRUE(overload_removed);
}

TEST_F(CapacityScenarios, BadRequestsNameTheFieldAndTheValue) {
  ExpectInvalid({Overtime("x", "WC-NOPE", 8.0)},
                "scenarios[0].overrides[0].extra_capacity.work_center_id: unknown work center, "
                "got 'WC-NOPE'");
  ExpectInvalid({Overtime("x", "WC-ASSY", -8.0)},
                "scenarios[0].overrides[0].extra_capacity.hours_per_bucket: must be a finite "
                "number > 0, got '-8'");
  ExpectInvalid({Overtime("", "WC-ASSY", 8.0)}, "scenarios[0].name: must not be empty, got ''");
  ExpectInvalid({Overtime("a", "WC-ASSY", 8.0), Overtime("a", "WC-ASSY", 4.0)},
                "scenarios[1].name: must be unique and not 'base', got 'a'");

  sop::v1::Scenario negative;
  negative.set_name("negative");
  negative.add_overrides()->mutable_demand_multiplier()->set_multiplier(-0.5);
  ExpectInvalid({negative},
                "scenarios[0].overrides[0].demand_multiplier.multiplier: must be a finite number "
                ">= 0, got '-0.5'");

  sop::v1::Scenario family;
  family.set_name("family");
  auto* m = family.add_overrides()->mutable_demand_multiplier();
  m->set_family("F9");
  m->set_multiplier(1.2);
  ExpectInvalid({family},
                "scenarios[0].overrides[0].demand_multiplier.family: unknown family, got 'F9'");

  sop::v1::Scenario site;
  site.set_name("site");
  auto* ss = site.add_overrides()->mutable_safety_stock_policy();
  ss->set_site_id("P9");
  ss->set_multiplier(2.0);
  ExpectInvalid({site},
                "scenarios[0].overrides[0].safety_stock_policy.site_id: unknown site, got 'P9'");

  sop::v1::Scenario unset;
  unset.set_name("unset");
  unset.add_overrides();
  ExpectInvalid({unset},
                "scenarios[0].overrides[0]: must set one of demand_multiplier, supplier_delay, "
                "extra_capacity, subcontract, move_volume, safety_stock_policy, got ''");

  sop::v1::Scenario step;
  step.set_name("step");
  auto* sub = step.add_overrides()->mutable_subcontract();
  sub->set_item_id("B");
  sub->set_site_id("P1");
  sub->set_work_center_id("WC-PACK");
  ExpectInvalid({step},
                "scenarios[0].overrides[0].subcontract.work_center_id: not a step of the routing "
                "of B@P1, got 'WC-PACK'");

  sop::v1::Scenario none;
  none.set_name("nothing");
  ExpectInvalid({none}, "scenarios[0].overrides: must hold at least one override, got 'nothing'");

  ExpectInvalid({Overtime("x", "WC-ASSY", 8.0)},
                "site_id: not a site planned by this capacity replica, got 'P9'", "P9");
}

TEST(CapacityScenariosS, EmptyRequestEvaluatesTheSeedScenariosSideBySide) {
  auto engine = Direct(testing::SEvents());
  sop::v1::EvaluateScenariosRequest request;
  auto response = EvaluateScenarios(*engine, request);
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  // The S instance has overloads, purchase orders, revenue and several plants: all five bite.
  ASSERT_EQ(response->scenarios_size(), 5);
  EXPECT_GT(response->base().overload_hours(), 0.0);
  const auto& shift = response->scenarios(0);
  EXPECT_EQ(shift.name().rfind("shift on ", 0), 0u) << shift.name();
  EXPECT_LT(shift.overload_hours(), response->base().overload_hours());
  EXPECT_GT(shift.extra_capacity_cost(), 0.0);
  for (const auto& s : response->scenarios()) EXPECT_FALSE(s.description().empty()) << s.name();
  EXPECT_GT(response->seconds(), 0.0);
}

}  // namespace
}  // namespace sop::capacity
