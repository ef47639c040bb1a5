#include "sop/forecast/combination.hpp"

#include <gtest/gtest.h>

#include <array>
#include <span>
#include <vector>

namespace sop::forecast {
namespace {

TEST(ValidationPeriods, IsTheHorizonCappedAtAThirdOfTheHistory) {
  EXPECT_EQ(ValidationPeriods(39, 12), 12);  // car parts: 51 months less the 12 held out
  EXPECT_EQ(ValidationPeriods(30, 12), 10);
  EXPECT_EQ(ValidationPeriods(9, 3), 3);
  EXPECT_EQ(ValidationPeriods(8, 12), 0);  // 8 / 3 = 2 points: too few to compare errors
  EXPECT_EQ(ValidationPeriods(100, 2), 0);
}

TEST(WeighByValidation, WeightsAreInverseHoldoutMse) {
  // k = 3: both members are fitted to {2, 0, 4, 0, 0, 2} and forecast {0, 0, 2}.
  // Naive forecasts 2: MSE = (4 + 4 + 0) / 3 = 8/3.
  // SES with α = .5 and the level started at the mean 4/3: 5/3, 5/6, 29/12, 29/24, 29/48,
  // 125/96; MSE = (2·(125/96)² + (2 − 125/96)²) / 3.
  const std::vector<double> y{2, 0, 4, 0, 0, 2, 0, 0, 2};
  const std::array<FitFunction, 2> members{
      [](std::span<const double> history, int steps) { return FitNaive(history, steps); },
      [](std::span<const double> history, int steps) { return FitSesFixed(history, steps, 0.5); }};
  const ValidationWeights weights = WeighByValidation(y, 3, members);
  const double level = 125.0 / 96.0;
  const double ses_mse = (2.0 * level * level + (2.0 - level) * (2.0 - level)) / 3.0;
  const double naive_mse = 8.0 / 3.0;
  EXPECT_EQ(weights.periods, 3);
  ASSERT_EQ(weights.mse.size(), 2U);
  EXPECT_NEAR(weights.mse[0], naive_mse, 1e-12);
  EXPECT_NEAR(weights.mse[1], ses_mse, 1e-12);
  const double total = 1.0 / naive_mse + 1.0 / ses_mse;
  EXPECT_NEAR(weights.weights[0], (1.0 / naive_mse) / total, 1e-12);  // 0.3265
  EXPECT_NEAR(weights.weights[1], (1.0 / ses_mse) / total, 1e-12);    // 0.6735
}

TEST(WeighByValidation, AMemberWithoutErrorTakesAllTheWeight) {
  // Estimation part {1, 0, 0, 0, 0, 0}: naive forecasts 0 and the holdout is all zeros, while
  // SES (level started at 1/6) still forecasts a little demand.
  const std::vector<double> y{1, 0, 0, 0, 0, 0, 0, 0, 0};
  const std::array<FitFunction, 2> members{
      [](std::span<const double> history, int steps) { return FitNaive(history, steps); },
      [](std::span<const double> history, int steps) { return FitSesFixed(history, steps, 0.5); }};
  const ValidationWeights weights = WeighByValidation(y, 3, members);
  EXPECT_EQ(weights.mse[0], 0.0);
  EXPECT_GT(weights.mse[1], 0.0);
  EXPECT_EQ(weights.weights[0], 1.0);
  EXPECT_EQ(weights.weights[1], 0.0);
}

TEST(WeighByValidation, ShortHistoryGetsEqualWeights) {
  const std::vector<double> y{0, 3, 0, 0, 1, 0, 2, 0};
  const std::array<FitFunction, 2> members{
      [](std::span<const double> history, int steps) { return FitNaive(history, steps); },
      [](std::span<const double> history, int steps) { return FitSesFixed(history, steps, 0.5); }};
  const ValidationWeights weights = WeighByValidation(y, 6, members);
  EXPECT_EQ(weights.periods, 0);
  EXPECT_TRUE(weights.mse.empty());
  EXPECT_EQ(weights.weights[0], 0.5);
  EXPECT_EQ(weights.weights[1], 0.5);
}

}  // namespace
}  // namespace sop::forecast
