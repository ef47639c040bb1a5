#include "sop/forecast/diagnostics.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace sop::forecast {

std::string_view ToString(DemandClass demand_class) noexcept {
  switch (demand_class) {
    case DemandClass::kSmooth: return "smooth";
    case DemandClass::kErratic: return "erratic";
    case DemandClass::kIntermittent: return "intermittent";
    case DemandClass::kLumpy: return "lumpy";
    case DemandClass::kNoDemand: return "no-demand";
  }
  return "unknown";
}

DemandProfile ClassifyDemand(std::span<const double> values) {
  DemandProfile profile;
  if (values.empty()) return profile;
  std::size_t nonzero = 0;
  double sum = 0.0;
  double sum_sq = 0.0;
  for (const double y : values) {
    if (y != 0.0) {
      ++nonzero;
      sum += y;
      sum_sq += y * y;
    }
  }
  const auto n = static_cast<double>(values.size());
  profile.zero_share = 1.0 - static_cast<double>(nonzero) / n;
  if (nonzero == 0) return profile;
  const auto k = static_cast<double>(nonzero);
  profile.adi = n / k;
  const double mean = sum / k;
  // Population variance of the sizes: with one demand the CV² is 0 (nothing varies yet).
  const double variance = std::max(0.0, sum_sq / k - mean * mean);
  profile.cv2 = mean != 0.0 ? variance / (mean * mean) : 0.0;
  const bool frequent = profile.adi < kAdiCutoff;
  const bool stable = profile.cv2 < kCv2Cutoff;
  profile.demand_class = frequent ? (stable ? DemandClass::kSmooth : DemandClass::kErratic)
                                  : (stable ? DemandClass::kIntermittent : DemandClass::kLumpy);
  return profile;
}

SeasonalityTest TestSeasonality(std::span<const double> values, int season_length) {
  SeasonalityTest test;
  const auto n = values.size();
  if (season_length < 2 || n < 2 * static_cast<std::size_t>(season_length)) return test;
  const auto m = static_cast<std::size_t>(season_length);
  double mean = 0.0;
  for (const double y : values) mean += y;
  mean /= static_cast<double>(n);
  double denominator = 0.0;
  for (const double y : values) denominator += (y - mean) * (y - mean);
  if (!(denominator > 0.0)) return test;
  double sum_sq_lower = 0.0;
  for (std::size_t k = 1; k <= m; ++k) {
    double numerator = 0.0;
    for (std::size_t t = k; t < n; ++t) numerator += (values[t] - mean) * (values[t - k] - mean);
    const double r = numerator / denominator;
    if (k < m) {
      sum_sq_lower += r * r;
    } else {
      test.acf = r;
    }
  }
  test.threshold = 1.6448536269514722 * std::sqrt((1.0 + 2.0 * sum_sq_lower) / static_cast<double>(n));
  test.seasonal = std::abs(test.acf) > test.threshold;
  return test;
}

namespace {

double Median(std::vector<double>& values) {
  const auto mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  double median = values[mid];
  if (values.size() % 2 == 0) {
    median = 0.5 * (median + *std::max_element(values.begin(),
                                               values.begin() + static_cast<std::ptrdiff_t>(mid)));
  }
  return median;
}

}  // namespace

std::vector<Outlier> DetectOutliers(std::span<const double> values, double threshold) {
  std::vector<Outlier> outliers;
  const auto profile = ClassifyDemand(values);
  const bool sparse = profile.adi >= kAdiCutoff;
  // Positions that are checked: all for regular demand, only the demands for sparse demand.
  std::vector<std::size_t> positions;
  positions.reserve(values.size());
  for (std::size_t t = 0; t < values.size(); ++t) {
    if (!sparse || values[t] != 0.0) positions.push_back(t);
  }
  if (positions.size() < 5) return outliers;
  // Remove a robust linear trend first (slope = median of the slopes between the two halves'
  // paired points), so that a steady trend, also near the ends, is not reported as outliers.
  const std::size_t half_count = positions.size() / 2;
  std::vector<double> slopes(half_count);
  for (std::size_t i = 0; i < half_count; ++i) {
    const std::size_t a = positions[i], b = positions[i + half_count];
    slopes[i] = (values[b] - values[a]) / static_cast<double>(b - a);
  }
  const double slope = Median(slopes);
  // Running median over a centred window of 7 checked points: robust to the outlier itself
  // and follows level shifts.
  constexpr std::size_t kHalf = 3;
  std::vector<double> expected(positions.size());
  std::vector<double> window;
  window.reserve(2 * kHalf + 1);
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const std::size_t lo = i >= kHalf ? i - kHalf : 0;
    const std::size_t hi = std::min(positions.size(), i + kHalf + 1);
    window.clear();
    for (std::size_t j = lo; j < hi; ++j) {
      window.push_back(values[positions[j]] - slope * static_cast<double>(positions[j]));
    }
    expected[i] = Median(window) + slope * static_cast<double>(positions[i]);
  }
  std::vector<double> deviations(positions.size());
  for (std::size_t i = 0; i < positions.size(); ++i) {
    deviations[i] = std::abs(values[positions[i]] - expected[i]);
  }
  std::vector<double> scratch = deviations;
  double scale = 1.4826 * Median(scratch);
  if (!(scale > 0.0)) {
    // More than half the points sit exactly on their running median (e.g. flat stretches):
    // fall back to the mean absolute deviation so a lone spike is still seen.
    double sum = 0.0;
    for (const double d : deviations) sum += d;
    scale = 1.2533 * sum / static_cast<double>(deviations.size());
  }
  if (!(scale > 0.0)) return outliers;
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const double score = deviations[i] / scale;
    if (score > threshold) {
      outliers.push_back(Outlier{.index = static_cast<int>(positions[i]),
                                 .value = values[positions[i]],
                                 .expected = expected[i],
                                 .score = score});
    }
  }
  return outliers;
}

}  // namespace sop::forecast
