#pragma once
/// Series diagnostics a planner sees next to the forecast: demand class (Syntetos–Boylan),
/// seasonality test, outliers. Pure functions, thread-safe, no allocation beyond the results.

#include <span>
#include <string_view>
#include <vector>

namespace sop::forecast {

/// Syntetos–Boylan demand classes by average inter-demand interval (ADI) and squared
/// coefficient of variation of the non-zero demand sizes (CV²); cut-offs 1.32 and 0.49.
enum class DemandClass { kSmooth, kErratic, kIntermittent, kLumpy, kNoDemand };

std::string_view ToString(DemandClass demand_class) noexcept;

/// The profile behind a demand class.
struct DemandProfile {
  double adi = 0.0;         ///< periods per non-zero demand (n / count of y > 0)
  double cv2 = 0.0;         ///< squared coefficient of variation of the non-zero sizes
  double zero_share = 0.0;  ///< share of periods with zero demand
  DemandClass demand_class = DemandClass::kNoDemand;
};

inline constexpr double kAdiCutoff = 1.32;
inline constexpr double kCv2Cutoff = 0.49;

/// Classifies a demand history. An all-zero (or empty) history is kNoDemand.
DemandProfile ClassifyDemand(std::span<const double> values);

/// Result of the autocorrelation test at the seasonal lag.
struct SeasonalityTest {
  bool seasonal = false;
  double acf = 0.0;        ///< autocorrelation at lag m
  double threshold = 0.0;  ///< |acf| must exceed this (z · Bartlett standard error)
};

/// The 90% test of the Theta method: seasonal when |r_m| > 1.645·sqrt((1 + 2Σ_{k<m} r_k²)/n).
/// Needs m > 1 and at least 2m points (and 3 full seasons for a trustworthy index); otherwise
/// not seasonal.
SeasonalityTest TestSeasonality(std::span<const double> values, int season_length);

/// A point that deviates strongly from a robust local level.
struct Outlier {
  int index = 0;          ///< position in the history
  double value = 0.0;     ///< observed value
  double expected = 0.0;  ///< robust local level at that point
  double score = 0.0;     ///< |value − expected| / robust scale
};

/// Flags points whose deviation from a centred running median exceeds `threshold` robust
/// standard deviations (1.4826·MAD of the deviations). For intermittent series only non-zero
/// values against the non-zero sizes are checked (a zero is not an outlier). The forecast
/// models are fitted on the data as observed; outliers are reported, never silently dropped.
std::vector<Outlier> DetectOutliers(std::span<const double> values, double threshold = 5.0);

}  // namespace sop::forecast
