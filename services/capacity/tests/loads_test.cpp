// Rough-cut loads as the capacity service shows and publishes them: hand-worked numbers on the
// tiny plant, the S-scale instance against an independent recomputation, deltas only for what
// changed, and GetLoad's errors.

#include "sop/capacity/loads.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "capacity_test_support.hpp"
#include "sop/planning/rough_cut.hpp"

namespace sop::capacity {
namespace {

using testing::Direct;
using testing::TinyPlant;

std::vector<double> Values(const google::protobuf::RepeatedField<double>& field) {
  return {field.begin(), field.end()};
}

const sop::v1::WorkCenterLoad* Find(const sop::v1::GetLoadResponse& response,
                                    const std::string& id) {
  for (const auto& wc : response.work_centers()) {
    if (wc.work_center_id() == id) return &wc;
  }
  return nullptr;
}

TEST(CapacityLoads, TinyPlantGivesTheLoadsAPlannerMultipliesOut) {
  auto engine = Direct(TinyPlant());
  const auto capacity = planning::RoughCut(engine->snapshot(), engine->plan());
  sop::v1::GetLoadRequest request;
  request.set_site_id("P1");
  auto response = GetLoad(engine->snapshot(), capacity, request);
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->horizon(), 8);
  ASSERT_EQ(response->work_centers_size(), 2);
  EXPECT_EQ(response->work_centers(0).work_center_id(), "WC-ASSY");  // id order
  EXPECT_EQ(response->work_centers(1).work_center_id(), "WC-PACK");

  const auto& assy = *Find(*response, "WC-ASSY");
  EXPECT_EQ(assy.site_id(), "P1");
  EXPECT_EQ(assy.name(), "Assembly");
  // Bucket 1: A 2 + 0.5 × 40 = 22 h, B 1 + 0.25 × 116 = 30 h; bucket 3: A 2 + 0.5 × 20 = 12 h.
  EXPECT_EQ(Values(assy.load_hours()), (std::vector<double>{0, 52, 0, 12, 0, 0, 0, 0}));
  EXPECT_EQ(Values(assy.capacity_hours()), std::vector<double>(8, 40.0));
  EXPECT_EQ(Values(assy.overload_hours()), (std::vector<double>{0, 12, 0, 0, 0, 0, 0, 0}));
  EXPECT_DOUBLE_EQ(assy.utilization(1), 1.3);
  EXPECT_DOUBLE_EQ(assy.utilization(3), 0.3);
  EXPECT_EQ(assy.first_overloaded_bucket(), 1);
  EXPECT_EQ(assy.overtime_max_hours(), 10.0);
  EXPECT_EQ(assy.from_bucket(), 0);
  // What loads the overloaded bucket, largest first: B's order (30 h), then A's (22 h).
  ASSERT_EQ(assy.top_contributions_size(), 2);
  EXPECT_EQ(assy.top_contributions(0).item_id(), "B");
  EXPECT_DOUBLE_EQ(assy.top_contributions(0).hours(), 30.0);
  EXPECT_EQ(assy.top_contributions(0).order_ref(), "planned:0");
  EXPECT_EQ(assy.top_contributions(1).item_id(), "A");
  EXPECT_DOUBLE_EQ(assy.top_contributions(1).hours(), 22.0);

  const auto& pack = *Find(*response, "WC-PACK");
  EXPECT_EQ(Values(pack.load_hours()), (std::vector<double>{0, 4, 0, 2, 0, 0, 0, 0}));
  EXPECT_EQ(pack.first_overloaded_bucket(), -1);
  EXPECT_EQ(pack.top_contributions_size(), 0);
}

TEST(CapacityLoads, WindowAndWorkCenterSelectTheRequestedCells) {
  auto engine = Direct(TinyPlant());
  const auto capacity = planning::RoughCut(engine->snapshot(), engine->plan());
  sop::v1::GetLoadRequest request;
  request.set_site_id("P1");
  request.set_work_center_id("WC-ASSY");
  request.set_from_bucket(1);
  request.set_to_bucket(4);
  request.set_top_contributions(1);
  auto response = GetLoad(engine->snapshot(), capacity, request);
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  ASSERT_EQ(response->work_centers_size(), 1);
  const auto& assy = response->work_centers(0);
  EXPECT_EQ(assy.from_bucket(), 1);
  EXPECT_EQ(Values(assy.load_hours()), (std::vector<double>{52, 0, 12}));
  EXPECT_EQ(Values(assy.overload_hours()), (std::vector<double>{12, 0, 0}));
  EXPECT_EQ(assy.first_overloaded_bucket(), 1);  // absolute bucket
  ASSERT_EQ(assy.top_contributions_size(), 1);
  EXPECT_EQ(assy.top_contributions(0).item_id(), "B");
}

TEST(CapacityLoads, BadGetLoadRequestsNameTheFieldAndValue) {
  auto engine = Direct(TinyPlant());
  const auto capacity = planning::RoughCut(engine->snapshot(), engine->plan());
  auto call = [&](const std::string& site, const std::string& wc, int from, int to) {
    sop::v1::GetLoadRequest request;
    request.set_site_id(site);
    request.set_work_center_id(wc);
    request.set_from_bucket(from);
    request.set_to_bucket(to);
    return GetLoad(engine->snapshot(), capacity, request);
  };
  auto empty = call("", "", 0, 0);
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(empty.error().message(), "site_id: must not be empty, got ''");

  auto unknown = call("P9", "", 0, 0);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), Errc::kNotFound);
  EXPECT_NE(unknown.error().message().find("'P9'"), std::string::npos);

  auto wc = call("P1", "WC-NOPE", 0, 0);
  ASSERT_FALSE(wc.has_value());
  EXPECT_EQ(wc.error().code(), Errc::kNotFound);
  EXPECT_NE(wc.error().message().find("'WC-NOPE'"), std::string::npos);

  auto from = call("P1", "", 8, 0);
  ASSERT_FALSE(from.has_value());
  EXPECT_EQ(from.error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(from.error().message(), "from_bucket: must be in [0, 8), got '8'");

  auto to = call("P1", "", 3, 2);
  ASSERT_FALSE(to.has_value());
  EXPECT_EQ(to.error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(to.error().message(),
            "to_bucket: must be 0 (horizon end) or in (from_bucket, 8], got '2'");
}

TEST(CapacityLoads, DeltasCarryOnlyTheWorkCenterBucketsThatChanged) {
  auto engine = Direct(TinyPlant());
  LoadPublisher publisher;
  sop::v1::Cause cause;
  cause.set_event_id("first");
  auto first = publisher.Update(engine->snapshot(),
                                planning::RoughCut(engine->snapshot(), engine->plan()), cause, 1,
                                /*full=*/false);
  // Nothing published before: every work center in full, one delta for the one site.
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].site_id(), "P1");
  EXPECT_TRUE(first[0].full());
  EXPECT_EQ(first[0].horizon(), 8);
  EXPECT_EQ(first[0].plan_version(), 1);
  EXPECT_EQ(first[0].cause().event_id(), "first");
  ASSERT_EQ(first[0].work_centers_size(), 2);
  EXPECT_EQ(first[0].work_centers(0).changed_buckets_size(), 8);

  // The same plan again: nothing to publish.
  EXPECT_TRUE(publisher
                  .Update(engine->snapshot(),
                          planning::RoughCut(engine->snapshot(), engine->plan()), cause, 2, false)
                  .empty());

  // SO-2 grows by 4 units of B: only WC-ASSY bucket 1 changes, by 0.25 × 4 = 1 h.
  const auto& snapshot = engine->snapshot();
  model::SalesOrder order =
      snapshot.sales_orders[static_cast<std::size_t>(*snapshot.sales_order_ids.Find("SO-2:1"))];
  order.quantity = 120.0;
  ASSERT_TRUE(engine->Apply(planning::UpsertSalesOrder{order}).has_value());
  cause.set_event_id("so-2-grows");
  auto change = publisher.Update(
      engine->snapshot(), planning::RoughCut(engine->snapshot(), engine->plan()), cause, 3, false);
  ASSERT_EQ(change.size(), 1u);
  EXPECT_FALSE(change[0].full());
  EXPECT_EQ(change[0].cause().event_id(), "so-2-grows");
  ASSERT_EQ(change[0].work_centers_size(), 1);
  const auto& assy = change[0].work_centers(0);
  EXPECT_EQ(assy.work_center_id(), "WC-ASSY");
  ASSERT_EQ(assy.changed_buckets_size(), 1);
  EXPECT_EQ(assy.changed_buckets(0), 1);
  EXPECT_EQ(assy.load_hours_size(), 8);  // complete rows
  EXPECT_DOUBLE_EQ(assy.load_hours(1), 53.0);
  EXPECT_DOUBLE_EQ(assy.overload_hours(1), 13.0);

  // A forced full publication repeats everything.
  auto full = publisher.Update(engine->snapshot(),
                               planning::RoughCut(engine->snapshot(), engine->plan()), cause, 4,
                               /*full=*/true);
  ASSERT_EQ(full.size(), 1u);
  EXPECT_TRUE(full[0].full());
  EXPECT_EQ(full[0].work_centers_size(), 2);
}

TEST(CapacityLoads, SScaleLoadsEqualTheRoutingsTimesThePlannedOrders) {
  auto engine = Direct(testing::SEvents());
  const auto& s = engine->snapshot();
  const auto& plan = engine->plan();
  const auto capacity = planning::RoughCut(s, plan);

  // Independent recomputation of each work center's total hours over the horizon: every planned
  // order of a make item (release quantity) and every open work order, through its routing.
  std::vector<double> expected(s.work_centers.size(), 0.0);
  for (std::size_t c = 0; c < s.item_site_count(); ++c) {
    if (s.item_sites[c].kind != model::ItemKind::kMake) continue;
    const model::ItemSiteIndex i(static_cast<std::int32_t>(c));
    for (const auto& step : s.Routing(i)) {
      for (const auto& order : plan.orders[c]) {
        expected[static_cast<std::size_t>(step.work_center.value())] +=
            step.setup_hours + step.run_hours_per_unit * order.release_quantity;
      }
    }
  }
  for (const auto& r : s.receipts) {
    if (r.kind != model::ReceiptKind::kWorkOrder || r.quantity <= 0.0) continue;
    if (s.item_sites[static_cast<std::size_t>(r.item_site.value())].kind != model::ItemKind::kMake)
      continue;
    for (const auto& step : s.Routing(r.item_site)) {
      expected[static_cast<std::size_t>(step.work_center.value())] +=
          step.setup_hours + step.run_hours_per_unit * r.quantity;
    }
  }

  std::size_t work_centers = 0;
  std::size_t overloaded = 0;
  for (const auto& site : s.sites) {
    sop::v1::GetLoadRequest request;
    request.set_site_id(site.id);
    auto response = GetLoad(s, capacity, request);
    ASSERT_TRUE(response.has_value()) << response.error().ToString();
    for (const auto& wc : response->work_centers()) {
      ++work_centers;
      const auto index = *s.work_center_ids.Find(wc.work_center_id());
      double total = 0.0;
      for (double v : wc.load_hours()) total += v;
      EXPECT_NEAR(total, expected[static_cast<std::size_t>(index)],
                  1e-6 * std::max(1.0, expected[static_cast<std::size_t>(index)]))
          << wc.work_center_id();
      const auto row = capacity.Row(capacity.load_hours, model::WorkCenterIndex(index));
      EXPECT_EQ(Values(wc.load_hours()), std::vector<double>(row.begin(), row.end()));
      for (int t = 0; t < wc.load_hours_size(); ++t) {
        EXPECT_DOUBLE_EQ(wc.overload_hours(t),
                         std::max(0.0, wc.load_hours(t) - wc.capacity_hours(t)));
        if (wc.overload_hours(t) > 1e-9 * std::max(1.0, wc.capacity_hours(t))) ++overloaded;
      }
    }
  }
  EXPECT_EQ(work_centers, s.work_centers.size());  // S: 24
  EXPECT_EQ(work_centers, 24u);
  EXPECT_EQ(overloaded, capacity.overloads.size());
}

}  // namespace
}  // namespace sop::capacity
