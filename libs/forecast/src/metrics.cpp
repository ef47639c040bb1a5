#include "sop/forecast/metrics.hpp"

#include <cmath>
#include <cstddef>
#include <string>

namespace sop::forecast {
namespace {

Status CheckPair(std::span<const double> actual, std::span<const double> forecast) {
  if (actual.empty()) return Fail(Errc::kInvalidArgument, "actual: empty");
  if (actual.size() != forecast.size()) {
    return Fail(Errc::kInvalidArgument, "forecast: length " + std::to_string(forecast.size()) +
                                            " differs from actual length " +
                                            std::to_string(actual.size()));
  }
  return {};
}

}  // namespace

Result<double> SMape(std::span<const double> actual, std::span<const double> forecast) {
  if (auto ok = CheckPair(actual, forecast); !ok) return std::unexpected(ok.error());
  double sum = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double denominator = std::abs(actual[i]) + std::abs(forecast[i]);
    if (denominator > 0.0) sum += 200.0 * std::abs(actual[i] - forecast[i]) / denominator;
  }
  return sum / static_cast<double>(actual.size());
}

Result<double> Mase(std::span<const double> actual, std::span<const double> forecast,
                    std::span<const double> insample, int season_length) {
  if (auto ok = CheckPair(actual, forecast); !ok) return std::unexpected(ok.error());
  if (season_length < 1) {
    return InvalidField("season_length", "must be >= 1", std::to_string(season_length));
  }
  const auto m = static_cast<std::size_t>(season_length);
  if (insample.size() <= m) {
    return Fail(Errc::kFailedPrecondition, "insample: needs more than " + std::to_string(m) +
                                               " points for the MASE scale");
  }
  double scale = 0.0;
  for (std::size_t t = m; t < insample.size(); ++t) scale += std::abs(insample[t] - insample[t - m]);
  scale /= static_cast<double>(insample.size() - m);
  if (!(scale > 0.0)) return Fail(Errc::kFailedPrecondition, "insample: zero MASE scale");
  double error = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) error += std::abs(actual[i] - forecast[i]);
  return error / static_cast<double>(actual.size()) / scale;
}

Result<double> Rmsse(std::span<const double> actual, std::span<const double> forecast,
                     std::span<const double> insample) {
  if (auto ok = CheckPair(actual, forecast); !ok) return std::unexpected(ok.error());
  // As in M5, the scale is computed from the first non-zero observation on: leading zeros are
  // periods before the item existed, not demand that was zero.
  std::size_t first = 0;
  while (first < insample.size() && insample[first] == 0.0) ++first;
  if (insample.size() - first < 2) {
    return Fail(Errc::kFailedPrecondition, "insample: needs 2 points from the first non-zero one");
  }
  double scale = 0.0;
  for (std::size_t t = first + 1; t < insample.size(); ++t) {
    const double d = insample[t] - insample[t - 1];
    scale += d * d;
  }
  scale /= static_cast<double>(insample.size() - first - 1);
  if (!(scale > 0.0)) return Fail(Errc::kFailedPrecondition, "insample: constant, no RMSSE scale");
  double error = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double d = actual[i] - forecast[i];
    error += d * d;
  }
  return std::sqrt(error / static_cast<double>(actual.size()) / scale);
}

Result<double> Wmape(std::span<const double> actual, std::span<const double> forecast) {
  if (auto ok = CheckPair(actual, forecast); !ok) return std::unexpected(ok.error());
  double error = 0.0;
  double volume = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    error += std::abs(actual[i] - forecast[i]);
    volume += std::abs(actual[i]);
  }
  if (!(volume > 0.0)) return Fail(Errc::kFailedPrecondition, "actual: zero volume, no WMAPE");
  return 100.0 * error / volume;
}

Result<double> Bias(std::span<const double> actual, std::span<const double> forecast) {
  if (auto ok = CheckPair(actual, forecast); !ok) return std::unexpected(ok.error());
  double sum = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) sum += forecast[i] - actual[i];
  return sum;
}

Result<double> RelativeBias(std::span<const double> actual, std::span<const double> forecast) {
  auto bias = Bias(actual, forecast);
  if (!bias) return bias;
  double volume = 0.0;
  for (const double y : actual) volume += y;
  if (volume == 0.0) return Fail(Errc::kFailedPrecondition, "actual: sums to zero, no relative bias");
  return *bias / volume;
}

Result<double> UpperCoverage(std::span<const double> actual, std::span<const double> upper) {
  if (auto ok = CheckPair(actual, upper); !ok) return std::unexpected(ok.error());
  std::size_t covered = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) covered += actual[i] <= upper[i] ? 1U : 0U;
  return static_cast<double>(covered) / static_cast<double>(actual.size());
}

Result<double> IntervalCoverage(std::span<const double> actual, std::span<const double> lower,
                                std::span<const double> upper) {
  if (auto ok = CheckPair(actual, lower); !ok) return std::unexpected(ok.error());
  if (auto ok = CheckPair(actual, upper); !ok) return std::unexpected(ok.error());
  std::size_t covered = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    covered += (lower[i] <= actual[i] && actual[i] <= upper[i]) ? 1U : 0U;
  }
  return static_cast<double>(covered) / static_cast<double>(actual.size());
}

}  // namespace sop::forecast
