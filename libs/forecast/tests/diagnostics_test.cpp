#include "sop/forecast/diagnostics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

namespace sop::forecast {
namespace {

TEST(ClassifyDemand, UsesSyntetosBoylanCutoffs) {
  const auto smooth = ClassifyDemand(std::vector<double>{5, 6, 5, 6});
  EXPECT_EQ(smooth.demand_class, DemandClass::kSmooth);
  EXPECT_DOUBLE_EQ(smooth.adi, 1.0);

  // Sizes 1 and 10: mean 5.5, variance 20.25 → CV² 0.669 > 0.49.
  const auto erratic = ClassifyDemand(std::vector<double>{1, 10, 1, 10});
  EXPECT_EQ(erratic.demand_class, DemandClass::kErratic);
  EXPECT_NEAR(erratic.cv2, 20.25 / 30.25, 1e-12);

  const auto intermittent = ClassifyDemand(std::vector<double>{0, 0, 3, 0, 0, 3, 0, 3});
  EXPECT_EQ(intermittent.demand_class, DemandClass::kIntermittent);
  EXPECT_NEAR(intermittent.adi, 8.0 / 3.0, 1e-12);
  EXPECT_NEAR(intermittent.zero_share, 5.0 / 8.0, 1e-12);

  const auto lumpy = ClassifyDemand(std::vector<double>{0, 0, 1, 0, 0, 20, 0, 0});
  EXPECT_EQ(lumpy.demand_class, DemandClass::kLumpy);

  EXPECT_EQ(ClassifyDemand(std::vector<double>{0, 0, 0}).demand_class, DemandClass::kNoDemand);
}

std::vector<double> Seasonal(int n, int m) {
  std::vector<double> y(static_cast<std::size_t>(n));
  for (int t = 0; t < n; ++t) {
    y[static_cast<std::size_t>(t)] = 100.0 + 20.0 * std::sin(2.0 * std::numbers::pi * t / m);
  }
  return y;
}

/// Deterministic pseudo-noise (a small LCG), so the test does not depend on <random> details.
std::vector<double> Noise(int n, unsigned state) {
  std::vector<double> y(static_cast<std::size_t>(n));
  for (auto& v : y) {
    state = state * 1664525U + 1013904223U;
    v = 100.0 + static_cast<double>(state >> 8) / static_cast<double>(1U << 24) * 10.0;
  }
  return y;
}

TEST(TestSeasonality, DetectsPatternAtSeasonalLagOnly) {
  const auto seasonal = TestSeasonality(Seasonal(48, 12), 12);
  EXPECT_TRUE(seasonal.seasonal);
  EXPECT_GT(seasonal.acf, seasonal.threshold);
  EXPECT_FALSE(TestSeasonality(Noise(48, 7), 12).seasonal);
  EXPECT_FALSE(TestSeasonality(Seasonal(48, 12), 1).seasonal);  // no seasonal period
  EXPECT_FALSE(TestSeasonality(Seasonal(20, 12), 12).seasonal);  // fewer than 2 seasons
}

TEST(DetectOutliers, ReportsTheSpikeAndNothingElse) {
  auto y = Noise(40, 3);
  y[17] = 400.0;
  const auto outliers = DetectOutliers(y);
  ASSERT_EQ(outliers.size(), 1U);
  EXPECT_EQ(outliers[0].index, 17);
  EXPECT_DOUBLE_EQ(outliers[0].value, 400.0);
  EXPECT_GT(outliers[0].score, 5.0);
}

TEST(DetectOutliers, IgnoresZerosOfIntermittentDemandAndATrend) {
  EXPECT_TRUE(DetectOutliers(std::vector<double>{0, 0, 3, 0, 0, 2, 0, 3, 0, 0, 4, 0, 2}).empty());
  std::vector<double> trend(30);
  for (std::size_t t = 0; t < trend.size(); ++t) trend[t] = 10.0 + 3.0 * static_cast<double>(t);
  EXPECT_TRUE(DetectOutliers(trend).empty());
}

}  // namespace
}  // namespace sop::forecast
