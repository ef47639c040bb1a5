#include "sop/forecast/hierarchy.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sop::forecast {
namespace {

// Three item-sites: items 0 and 1 in family 0, item 2 in family 1; items 0 and 2 at site 0.
const std::vector<std::vector<double>> kItems{{1, 2, 3}, {4, 5, 6}, {10, 0, 10}};
const std::vector<int> kFamilyOf{0, 0, 1};
const std::vector<int> kSiteOf{0, 1, 0};

TEST(Hierarchy, AggregatesItemSitesToFamilies) {
  auto families = AggregateByGroup(kItems, kFamilyOf, 2);
  ASSERT_TRUE(families);
  EXPECT_EQ((*families)[0], (std::vector<double>{5, 7, 9}));
  EXPECT_EQ((*families)[1], (std::vector<double>{10, 0, 10}));
}

TEST(Hierarchy, DisaggregatesFamilyForecastByHistoricalShares) {
  auto shares = HistoricalShares(kItems, kFamilyOf, 2, 2);  // last 2 periods: 5 of 16, 11 of 16
  ASSERT_TRUE(shares);
  EXPECT_DOUBLE_EQ((*shares)[0], 5.0 / 16.0);
  EXPECT_DOUBLE_EQ((*shares)[1], 11.0 / 16.0);
  EXPECT_DOUBLE_EQ((*shares)[2], 1.0);
  const std::vector<std::vector<double>> family_forecast{{32, 16}, {7, 8}};
  auto items = DisaggregateByShares(family_forecast, *shares, kFamilyOf);
  ASSERT_TRUE(items);
  EXPECT_EQ((*items)[0], (std::vector<double>{10, 5}));
  EXPECT_EQ((*items)[1], (std::vector<double>{22, 11}));
  EXPECT_EQ((*items)[2], (std::vector<double>{7, 8}));
}

TEST(Hierarchy, BottomUpReconciliationAddsUpAtEveryLevel) {
  auto reconciled = ReconcileBottomUp(kItems, kFamilyOf, 2, kSiteOf, 2);
  ASSERT_TRUE(reconciled);
  for (std::size_t t = 0; t < 3; ++t) {
    const double by_family = reconciled->family[0][t] + reconciled->family[1][t];
    const double by_site = reconciled->site[0][t] + reconciled->site[1][t];
    EXPECT_DOUBLE_EQ(by_family, reconciled->total[t]);
    EXPECT_DOUBLE_EQ(by_site, reconciled->total[t]);
  }
  EXPECT_EQ(reconciled->site[0], (std::vector<double>{11, 2, 13}));
}

TEST(Hierarchy, RejectsBadGroupIndexAndRaggedSeries) {
  const std::vector<int> bad{0, 2, 1};
  EXPECT_EQ(AggregateByGroup(kItems, bad, 2).error().code(), Errc::kInvalidArgument);
  const std::vector<std::vector<double>> ragged{{1, 2}, {1}};
  const std::vector<int> groups{0, 0};
  EXPECT_EQ(AggregateByGroup(ragged, groups, 1).error().code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace sop::forecast
