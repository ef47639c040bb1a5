#include "sop/forecast/combination.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace sop::forecast {

int ValidationPeriods(std::size_t length, int horizon) {
  const auto third = static_cast<int>(std::min<std::size_t>(length / 3, 1U << 30));
  const int k = std::min(horizon, third);
  return k >= 3 ? k : 0;
}

ValidationWeights WeighByValidation(std::span<const double> y, int horizon,
                                    std::span<const FitFunction> members) {
  ValidationWeights out;
  const std::size_t count = members.size();
  out.weights.assign(count, count > 0 ? 1.0 / static_cast<double>(count) : 0.0);
  const int k = ValidationPeriods(y.size(), horizon);
  if (k == 0 || count == 0) return out;
  const auto periods = static_cast<std::size_t>(k);
  const std::span<const double> estimation = y.first(y.size() - periods);
  const std::span<const double> validation = y.last(periods);
  out.periods = k;
  out.mse.assign(count, 0.0);
  for (std::size_t i = 0; i < count; ++i) {
    const ModelFit fit = members[i](estimation, k);
    double sum = 0.0;
    for (std::size_t j = 0; j < periods; ++j) {
      const double error = j < fit.point.size() ? validation[j] - fit.point[j] : validation[j];
      sum += error * error;
    }
    const double mse = sum / static_cast<double>(periods);
    out.mse[i] = std::isfinite(mse) && fit.point.size() == periods
                     ? mse
                     : std::numeric_limits<double>::infinity();
  }
  const double best = *std::min_element(out.mse.begin(), out.mse.end());
  if (!std::isfinite(best)) return out;  // equal weights
  double total = 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    const double mse = out.mse[i];
    out.weights[i] =
        best == 0.0 ? (mse == 0.0 ? 1.0 : 0.0) : (std::isfinite(mse) ? 1.0 / mse : 0.0);
    total += out.weights[i];
  }
  for (double& weight : out.weights) weight /= total;
  return out;
}

}  // namespace sop::forecast
