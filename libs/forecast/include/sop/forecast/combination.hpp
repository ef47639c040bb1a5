#pragma once
/// Forecast combinations weighted by a holdout that scores each member with the loss the
/// forecast is judged by: the mean squared error over the forecast horizon (the loss RMSSE
/// scales; its minimiser is the mean, not the median).
///
/// Pure, thread-safe, deterministic.

#include <functional>
#include <span>
#include <vector>

#include "sop/forecast/models.hpp"

namespace sop::forecast {

/// A model as a function of (history, horizon): one member of a combination.
using FitFunction = std::function<ModelFit(std::span<const double>, int)>;

/// The weights of a combination and the evidence behind them.
struct ValidationWeights {
  std::vector<double> weights;  ///< one per member, non-negative, summing to 1
  std::vector<double> mse;      ///< each member's validation MSE (empty when not validated)
  int periods = 0;              ///< length k of the validation window (0: equal weights)
};

/// Length of the validation window for a history of `length` points and a forecast `horizon`:
/// k = min(horizon, length / 3), so that two thirds of the history remain to fit on; 0 (no
/// validation) when k < 3, which is too few points to compare squared errors on.
int ValidationPeriods(std::size_t length, int horizon);

/// Weighs `members` by validation: each is refitted on the history without its last k points
/// (k = ValidationPeriods) and forecasts them; weight_i ∝ 1 / MSE_i (Bates–Granger weights
/// without correlations, which a window of k points cannot estimate). Members with zero MSE
/// share all the weight (the limit of the inverse weights); a member whose forecast is not
/// finite gets none. Equal weights when k is 0 or no member has a finite MSE.
ValidationWeights WeighByValidation(std::span<const double> y, int horizon,
                                    std::span<const FitFunction> members);

}  // namespace sop::forecast
