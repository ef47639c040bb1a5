#include "sop/forecast/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace sop::forecast {
namespace {

TEST(Metrics, SMapeIsMeanOfSymmetricPercentErrors) {
  const std::vector<double> actual{100, 200};
  const std::vector<double> forecast{110, 180};
  // 200·10/210 = 9.5238…, 200·20/380 = 10.5263…
  EXPECT_NEAR(*SMape(actual, forecast), (2000.0 / 210.0 + 4000.0 / 380.0) / 2.0, 1e-12);
}

TEST(Metrics, SMapeCountsZeroOverZeroAsPerfect) {
  const std::vector<double> actual{0, 10};
  const std::vector<double> forecast{0, 10};
  EXPECT_DOUBLE_EQ(*SMape(actual, forecast), 0.0);
}

TEST(Metrics, MaseScalesByInSampleSeasonalNaiveError) {
  const std::vector<double> insample{1, 2, 4, 7};  // |diffs| 1, 2, 3 → scale 2
  const std::vector<double> actual{8, 10};
  const std::vector<double> forecast{7, 7};  // errors 1, 3 → mean 2
  EXPECT_DOUBLE_EQ(*Mase(actual, forecast, insample, 1), 1.0);
  // Lag 2: |4−1|, |7−2| → scale 4.
  EXPECT_DOUBLE_EQ(*Mase(actual, forecast, insample, 2), 0.5);
}

TEST(Metrics, RmsseScaleStartsAtFirstNonZeroObservation) {
  const std::vector<double> insample{0, 0, 1, 3};  // from index 2: (3−1)² = 4
  const std::vector<double> actual{2, 4};
  const std::vector<double> forecast{1, 1};  // squared errors 1, 9 → mean 5
  EXPECT_NEAR(*Rmsse(actual, forecast, insample), std::sqrt(5.0 / 4.0), 1e-12);
}

TEST(Metrics, WmapeBiasAndCoverageByHand) {
  const std::vector<double> actual{10, 0, 30};
  const std::vector<double> forecast{12, 1, 24};
  EXPECT_DOUBLE_EQ(*Wmape(actual, forecast), 100.0 * 9.0 / 40.0);
  EXPECT_DOUBLE_EQ(*Bias(actual, forecast), -3.0);
  EXPECT_DOUBLE_EQ(*RelativeBias(actual, forecast), -3.0 / 40.0);
  const std::vector<double> lower{9, 0, 31};
  const std::vector<double> upper{11, 0, 40};
  EXPECT_DOUBLE_EQ(*UpperCoverage(actual, upper), 1.0);
  EXPECT_DOUBLE_EQ(*IntervalCoverage(actual, lower, upper), 2.0 / 3.0);
}

TEST(Metrics, RejectsMismatchedLengthsAndMissingScale) {
  const std::vector<double> two{1, 2};
  const std::vector<double> three{1, 2, 3};
  EXPECT_EQ(SMape(two, three).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(SMape({}, {}).error().code(), Errc::kInvalidArgument);
  const std::vector<double> constant{5, 5, 5};
  EXPECT_EQ(Mase(two, two, constant, 1).error().code(), Errc::kFailedPrecondition);
  EXPECT_EQ(Rmsse(two, two, constant).error().code(), Errc::kFailedPrecondition);
  EXPECT_EQ(RelativeBias(std::vector<double>{0, 0}, two).error().code(),
            Errc::kFailedPrecondition);
}

}  // namespace
}  // namespace sop::forecast
