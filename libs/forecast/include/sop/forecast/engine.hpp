#pragma once
/// The automatic forecasting engine: diagnostics, model choice, point forecast and quantiles
/// for one series or a batch of series.
///
/// Threads: `ForecastSeries` is pure and thread-safe. `ForecastBatch` runs a pool of worker
/// threads that each take the next series index from a shared counter and write into that
/// series' own result slot; as every series is computed independently and without shared
/// random state, results are bit-identical for any thread count.
///
/// Errors: kInvalidArgument for an empty history, a horizon < 1, a season length < 1, or a
/// non-finite value in the history (the message names the position and the value).

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sop/forecast/diagnostics.hpp"
#include "sop/forecast/models.hpp"
#include "sop/model/error.hpp"

namespace sop::forecast {

/// Which model to use. kAuto is the engine's choice; the others force one model family
/// (still with seasonal adjustment where the seasonality test passes) and exist for
/// comparison and for planners who pin a model.
enum class Method {
  kAuto,
  kNaive,
  kSeasonalNaive,
  kSes,
  kHolt,
  kDampedHolt,
  kTheta,
  kCombShd,      ///< mean of SES, Holt and damped trend (the M3 "COMB S-H-D")
  kEtsAicc,      ///< best of SES/Holt/damped/Holt–Winters by AICc
  kCroston,
  kSba,
  kTsb,
  kAdida,
};

std::string_view ToString(Method method) noexcept;
/// Parses "auto", "naive", "snaive", "ses", "holt", "damped", "theta", "comb", "ets",
/// "croston", "sba", "tsb", "adida".
Result<Method> ParseMethod(std::string_view text);

/// Engine settings shared by a batch.
struct ForecastOptions {
  Method method = Method::kAuto;
  /// Report outliers (costs one running-median pass per series).
  bool detect_outliers = true;
};

/// One series to forecast: its history (oldest first), seasonal period and horizon.
struct SeriesInput {
  std::span<const double> history;
  int season_length = 1;
  int horizon = 1;
};

/// A forecast with everything a planner needs to trust or override it.
struct Forecast {
  std::vector<double> point;  ///< mean forecast per bucket
  std::vector<double> p10;    ///< 10% quantile per bucket
  std::vector<double> p50;    ///< median per bucket
  std::vector<double> p90;    ///< 90% quantile per bucket
  std::string model;          ///< e.g. "Comb(SES,Damped,Theta)×mult-seasonal" or "SBA"
  std::vector<Param> params;  ///< the chosen model's parameters
  DemandProfile profile;
  SeasonalityTest seasonality;
  std::vector<Outlier> outliers;
};

/// Forecasts one series.
Result<Forecast> ForecastSeries(const SeriesInput& input, const ForecastOptions& options = {});

/// Forecasts many series on `threads` worker threads (0 = hardware concurrency). Result i
/// belongs to input i. Deterministic regardless of `threads`.
std::vector<Result<Forecast>> ForecastBatch(std::span<const SeriesInput> inputs,
                                            const ForecastOptions& options, int threads);

}  // namespace sop::forecast
