#include "sop/forecast/models.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string_view>
#include <vector>

namespace sop::forecast {
namespace {

double ParamOf(const ModelFit& fit, std::string_view name) {
  for (const auto& param : fit.params) {
    if (param.name == name) return param.value;
  }
  ADD_FAILURE() << "no parameter " << name << " in " << fit.name;
  return std::nan("");
}

const std::vector<double> kSales{12, 15, 11, 18, 14, 16, 13, 19, 17, 15, 20, 18};

/// SES recursion written out independently of the library: l ← l + α(y − l).
double SesSse(const std::vector<double>& y, double alpha, double level, double* final_level) {
  double sse = 0.0;
  for (const double v : y) {
    sse += (v - level) * (v - level);
    level += alpha * (v - level);
  }
  *final_level = level;
  return sse;
}

TEST(Ses, ForecastFollowsHandRecursionWithFittedParameters) {
  const ModelFit fit = FitSes(kSales, 3);
  const double alpha = ParamOf(fit, "alpha");
  const double level0 = ParamOf(fit, "level0");
  double level = 0.0;
  const double sse = SesSse(kSales, alpha, level0, &level);
  ASSERT_EQ(fit.point.size(), 3U);
  for (const double f : fit.point) EXPECT_NEAR(f, level, 1e-9);
  EXPECT_NEAR(fit.sse, sse, 1e-9 * sse);
}

TEST(Ses, FittedParametersMinimiseSse) {
  const ModelFit fit = FitSes(kSales, 1);
  const double alpha = ParamOf(fit, "alpha");
  const double level0 = ParamOf(fit, "level0");
  double unused = 0.0;
  const double best = SesSse(kSales, alpha, level0, &unused);
  for (const double da : {-0.02, 0.02}) {
    for (const double dl : {-0.2, 0.0, 0.2}) {
      const double a = std::clamp(alpha + da, 1e-4, 0.9999);
      EXPECT_GE(SesSse(kSales, a, level0 + dl, &unused), best - 1e-9);
    }
  }
}

TEST(Ses, ErrorSpreadIncludesEmpiricalMultiStepErrors) {
  // SES on a straight line: α → 1, the level is the last value, and every in-sample k-step
  // error is exactly k, while the ETS formula would give only sqrt(k) (one-step σ = 1).
  std::vector<double> y(30);
  for (std::size_t t = 0; t < y.size(); ++t) y[t] = static_cast<double>(t);
  const ModelFit fit = FitSes(y, 5);
  EXPECT_GT(ParamOf(fit, "alpha"), 0.99);
  for (std::size_t j = 0; j < 5; ++j) {
    EXPECT_NEAR(fit.sd[j], static_cast<double>(j + 1), 0.02) << "horizon " << j + 1;
  }
}

TEST(Holt, ExtrapolatesAnExactLineExactly) {
  std::vector<double> y(10);
  for (std::size_t t = 0; t < y.size(); ++t) y[t] = 3.0 + 2.0 * static_cast<double>(t);
  const ModelFit fit = FitHolt(y, 4, false);
  for (std::size_t j = 0; j < 4; ++j)
    EXPECT_NEAR(fit.point[j], 3.0 + 2.0 * (10.0 + static_cast<double>(j)), 1e-6);
  EXPECT_LT(fit.sse, 1e-9);
}

TEST(Holt, DampedForecastFollowsHandRecursion) {
  const ModelFit fit = FitHolt(kSales, 5, true);
  const double alpha = ParamOf(fit, "alpha");
  const double beta = ParamOf(fit, "beta");
  const double phi = ParamOf(fit, "phi");
  EXPECT_GE(phi, 0.8);
  EXPECT_LE(phi, 0.98);
  EXPECT_LE(beta, alpha);
  double level = ParamOf(fit, "level0");
  double trend = ParamOf(fit, "trend0");
  double sse = 0.0;
  for (const double v : kSales) {
    const double f = level + phi * trend;
    sse += (v - f) * (v - f);
    level = f + alpha * (v - f);
    trend = phi * trend + beta * (v - f);
  }
  EXPECT_NEAR(fit.sse, sse, 1e-9 * sse);
  double damp = 0.0, power = 1.0;
  for (std::size_t j = 0; j < 5; ++j) {
    power *= phi;
    damp += power;
    EXPECT_NEAR(fit.point[j], level + damp * trend, 1e-9);
  }
  // The error standard deviation grows with the horizon.
  for (std::size_t j = 1; j < 5; ++j) EXPECT_GT(fit.sd[j], fit.sd[j - 1]);
}

TEST(Theta, IsSesPlusHalfTheLeastSquaresSlope) {
  const ModelFit fit = FitTheta(kSales, 3);
  const ModelFit ses = FitSes(kSales, 3);
  const double alpha = ParamOf(fit, "alpha");
  // OLS slope of kSales on t = 0..11, computed here from the normal equations.
  double st = 0, sy = 0, stt = 0, sty = 0;
  for (std::size_t t = 0; t < kSales.size(); ++t) {
    const double x = static_cast<double>(t);
    st += x;
    sy += kSales[t];
    stt += x * x;
    sty += x * kSales[t];
  }
  const double n = static_cast<double>(kSales.size());
  const double slope = (n * sty - st * sy) / (n * stt - st * st);
  EXPECT_NEAR(ParamOf(fit, "drift"), slope / 2.0, 1e-12);
  const double start = (1.0 - std::pow(1.0 - alpha, n)) / alpha;
  for (std::size_t j = 0; j < 3; ++j) {
    EXPECT_NEAR(fit.point[j], ses.point[j] + slope / 2.0 * (static_cast<double>(j) + start), 1e-9);
  }
}

TEST(Naive, RepeatsLastValueAndLastSeason) {
  const ModelFit naive = FitNaive(kSales, 2);
  EXPECT_EQ(naive.point, (std::vector<double>{18, 18}));
  const ModelFit seasonal = FitSeasonalNaive(kSales, 4, 6);
  EXPECT_EQ(seasonal.point, (std::vector<double>{17, 15, 20, 18, 17, 15}));
}

TEST(SeasonalIndices, RecoversAnExactMultiplicativePattern) {
  const std::vector<double> y{5, 15, 5, 15, 5, 15, 5, 15};
  const auto indices = SeasonalIndices(y, 2, true);
  ASSERT_EQ(indices.size(), 2U);
  EXPECT_NEAR(indices[0], 0.5, 1e-12);
  EXPECT_NEAR(indices[1], 1.5, 1e-12);
  const auto additive = SeasonalIndices(y, 2, false);
  EXPECT_NEAR(additive[0], -5.0, 1e-12);
  EXPECT_NEAR(additive[1], 5.0, 1e-12);
}

double SeasonalTruth(double t, bool multiplicative) {
  const double wave = std::sin(2.0 * std::numbers::pi * t / 12.0);
  return multiplicative ? (50.0 + 0.5 * t) * (1.0 + 0.3 * wave) : 50.0 + 0.5 * t + 10.0 * wave;
}

TEST(HoltWinters, ContinuesANoiseFreeSeasonalPattern) {
  for (const bool multiplicative : {false, true}) {
    std::vector<double> y(48);
    for (std::size_t t = 0; t < y.size(); ++t) {
      y[t] = SeasonalTruth(static_cast<double>(t), multiplicative);
    }
    const ModelFit fit = FitHoltWinters(y, 12, 12, multiplicative, false);
    ASSERT_EQ(fit.point.size(), 12U);
    for (std::size_t j = 0; j < 12; ++j) {
      const double truth = SeasonalTruth(48.0 + static_cast<double>(j), multiplicative);
      EXPECT_NEAR(fit.point[j], truth, 0.02 * truth) << "multiplicative=" << multiplicative;
    }
  }
}

TEST(Ets, MultiplicativeErrorFormsContinueANoiseFreePatternAndRankByAicc) {
  std::vector<double> y(48);
  for (std::size_t t = 0; t < y.size(); ++t) y[t] = SeasonalTruth(static_cast<double>(t), true);
  for (const EtsTrend trend : {EtsTrend::kAdditive, EtsTrend::kDamped}) {
    const ModelFit fit = FitEts(
        y, 12, 12,
        {.multiplicative_error = true, .trend = trend, .season = EtsSeason::kMultiplicative});
    ASSERT_EQ(fit.point.size(), 12U) << fit.name;
    EXPECT_TRUE(std::isfinite(fit.aicc));
    for (std::size_t j = 0; j < 12; ++j) {
      const double truth = SeasonalTruth(48.0 + static_cast<double>(j), true);
      EXPECT_NEAR(fit.point[j], truth, 0.03 * truth) << fit.name;
    }
  }
  // On multiplicative data the multiplicative season must fit better than the additive one.
  const ModelFit additive = FitEts(
      y, 12, 1,
      {.multiplicative_error = true, .trend = EtsTrend::kAdditive, .season = EtsSeason::kAdditive});
  const ModelFit multiplicative = FitEts(y, 12, 1,
                                         {.multiplicative_error = true,
                                          .trend = EtsTrend::kAdditive,
                                          .season = EtsSeason::kMultiplicative});
  EXPECT_EQ(multiplicative.name, "ETS(M,A,M)");
  EXPECT_LT(multiplicative.aicc, additive.aicc);
}

TEST(Ets, MultiplicativeFormsNeedPositiveData) {
  std::vector<double> y(48, 10.0);
  y[5] = 0.0;
  EXPECT_TRUE(FitEts(y, 12, 3, {.multiplicative_error = true}).point.empty());
  EXPECT_TRUE(
      FitEts(y, 12, 3, {.multiplicative_error = false, .season = EtsSeason::kMultiplicative})
          .point.empty());
  EXPECT_FALSE(FitEts(y, 12, 3, {.multiplicative_error = false}).point.empty());
}

TEST(Ets, NonSeasonalMultiplicativeErrorTracksALevel) {
  const ModelFit fit =
      FitEts(kSales, 1, 2,
             {.multiplicative_error = true, .trend = EtsTrend::kNone, .season = EtsSeason::kNone});
  ASSERT_EQ(fit.name, "ETS(M,N,N)");
  ASSERT_EQ(fit.point.size(), 2U);
  EXPECT_GT(fit.point[0], 11.0);
  EXPECT_LT(fit.point[0], 20.0);
  EXPECT_DOUBLE_EQ(fit.point[0], fit.point[1]);
}

TEST(Ets, AdditiveErrorWithoutSeasonIsTheExactLeastSquaresFit) {
  const ModelFit ets = FitEts(
      kSales, 1, 3,
      {.multiplicative_error = false, .trend = EtsTrend::kDamped, .season = EtsSeason::kNone});
  const ModelFit damped = FitHolt(kSales, 3, true);
  EXPECT_EQ(ets.name, "ETS(A,Ad,N)");
  EXPECT_EQ(ets.point, damped.point);
}

TEST(Croston, MatchesHandComputedRecursion) {
  // First demand 4 after 3 periods: size 4, interval 3. Then demand 2 after 2 periods:
  // size 4 + .5(2−4) = 3, interval 3 + .5(2−3) = 2.5. Then 6 after 3: size 4.5, interval 2.75.
  const std::vector<double> y{0, 0, 4, 0, 2, 0, 0, 6};
  const ModelFit croston = FitCroston(y, 2, false, 0.5);
  EXPECT_NEAR(croston.point[0], 4.5 / 2.75, 1e-12);
  EXPECT_NEAR(croston.point[1], 4.5 / 2.75, 1e-12);
  const ModelFit sba = FitCroston(y, 1, true, 0.5);
  EXPECT_NEAR(sba.point[0], 0.75 * 4.5 / 2.75, 1e-12);  // × (1 − α/2)
}

TEST(Tsb, MatchesHandComputedRecursion) {
  // Start: size = mean non-zero = 3, probability = 2/5. Then per period with α = β = .5:
  // 0 → p .2; 2 → z 2.5, p .6; 0 → p .3; 0 → p .15; 4 → z 3.25, p .575.
  const std::vector<double> y{0, 2, 0, 0, 4};
  const ModelFit fit = FitTsb(y, 1, 0.5, 0.5);
  EXPECT_NEAR(fit.point[0], 0.575 * 3.25, 1e-12);
}

TEST(Adida, SpreadsTheBucketForecastEvenly) {
  const std::vector<double> y{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3};
  const ModelFit fit = FitAdida(y, 4, 3);  // every bucket totals 6
  for (const double f : fit.point) EXPECT_NEAR(f, 2.0, 1e-9);
}

TEST(PoissonTrend, RecoversAnExponentialDeclineAndDoesNotExtrapolateGrowth) {
  std::vector<double> decline(24);
  for (std::size_t t = 0; t < decline.size(); ++t) decline[t] = 20.0 * std::pow(0.95, t);
  const ModelFit fit = FitPoissonTrend(decline, 3);
  for (std::size_t j = 0; j < 3; ++j) {
    EXPECT_NEAR(fit.point[j], 20.0 * std::pow(0.95, 24.0 + static_cast<double>(j)), 1e-6);
  }
  std::vector<double> growth(decline.rbegin(), decline.rend());
  const ModelFit flat = FitPoissonTrend(growth, 2);
  EXPECT_DOUBLE_EQ(flat.point[0], flat.point[1]);
  EXPECT_LT(flat.point[0], growth.back());
  EXPECT_DOUBLE_EQ(ParamOf(flat, "slope"), 0.0);
}

TEST(PoissonTrend, StartsAtTheFirstDemand) {
  // Four periods before the part was first sold, then the decline 20·0.95^t of the test above:
  // the fit sees only the 24 periods of the part's life and recovers the decline exactly,
  // where fitting the leading zeros too would read them as growth and flatten the forecast.
  std::vector<double> y(4, 0.0);
  for (int t = 0; t < 24; ++t) y.push_back(20.0 * std::pow(0.95, t));
  const ModelFit fit = FitPoissonTrend(y, 2);
  EXPECT_DOUBLE_EQ(ParamOf(fit, "first_demand"), 4.0);
  EXPECT_NEAR(ParamOf(fit, "slope"), std::log(0.95), 1e-9);
  EXPECT_NEAR(fit.point[0], 20.0 * std::pow(0.95, 24.0), 1e-6);  // 5.84
  EXPECT_NEAR(fit.point[1], 20.0 * std::pow(0.95, 25.0), 1e-6);
  for (std::size_t t = 0; t < 4; ++t) EXPECT_EQ(fit.fitted[t], 0.0);
  EXPECT_NEAR(fit.fitted[4], 20.0, 1e-6);
}

}  // namespace
}  // namespace sop::forecast
