#pragma once
/// Accuracy and bias metrics shared by the forecast evaluation tool and the forecast-accuracy
/// KPIs. Definitions follow /work/shared/data/README.md (M3/M4 sMAPE, MASE, M5 RMSSE).
///
/// All functions are pure and thread-safe. They return kInvalidArgument when the spans have
/// different lengths or are empty, and kFailedPrecondition when a scale is zero (a constant
/// in-sample series has no MASE/RMSSE scale), so callers can skip and count such series.

#include <span>

#include "sop/model/error.hpp"

namespace sop::forecast {

/// sMAPE in percent: mean of 200·|y−f|/(|y|+|f|); a point with y = f = 0 contributes 0.
Result<double> SMape(std::span<const double> actual, std::span<const double> forecast);

/// MASE: mean |y−f| over the test points divided by the in-sample mean |y_t − y_{t−m}|.
Result<double> Mase(std::span<const double> actual, std::span<const double> forecast,
                    std::span<const double> insample, int season_length);

/// RMSSE (M5): sqrt(mean (y−f)² / mean of (y_t − y_{t−1})² over the training points from the
/// first non-zero observation on, as in M5; identical to "t ≥ 2" for series without leading
/// zeros).
Result<double> Rmsse(std::span<const double> actual, std::span<const double> forecast,
                     std::span<const double> insample);

/// WMAPE in percent: Σ|y−f| / Σ|y|.
Result<double> Wmape(std::span<const double> actual, std::span<const double> forecast);

/// Signed bias Σ(f−y): positive means over-forecast. Sums can be added across series, which is
/// how per-family and per-site bias is built.
Result<double> Bias(std::span<const double> actual, std::span<const double> forecast);

/// Relative bias Σ(f−y)/Σy (fraction, not percent); kFailedPrecondition when Σy = 0.
Result<double> RelativeBias(std::span<const double> actual, std::span<const double> forecast);

/// Share of points with y ≤ upper (coverage of an upper quantile such as P90).
Result<double> UpperCoverage(std::span<const double> actual, std::span<const double> upper);

/// Share of points with lower ≤ y ≤ upper (coverage of a central interval such as P10–P90).
Result<double> IntervalCoverage(std::span<const double> actual, std::span<const double> lower,
                                std::span<const double> upper);

}  // namespace sop::forecast
