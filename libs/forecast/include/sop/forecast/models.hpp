#pragma once
/// The individual forecasting models. Each `Fit*` function fits one model to a history and
/// returns its point forecast, in-sample one-step fit, parameters and the standard deviation of
/// the h-step forecast error. The automatic engine (engine.hpp) combines them; they are public
/// so that a planner (or a test) can run one model on its own.
///
/// Pure functions, thread-safe, deterministic. Preconditions (checked by the engine, asserted
/// here only by returning an empty forecast): history not empty, horizon ≥ 1. Smoothing
/// models are fitted by least squares (the maximum-likelihood estimate for additive errors)
/// with the initial states solved exactly for given smoothing parameters and the smoothing
/// parameters found by a bounded Nelder–Mead search.

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sop::forecast {

/// A named model parameter, for explanation to a planner (e.g. {"alpha", 0.31}).
struct Param {
  std::string name;
  double value = 0.0;
};

/// One fitted model.
struct ModelFit {
  std::string_view name;       ///< "SES", "Holt", "DampedHolt", "Theta", "Croston", ...
  std::vector<double> point;   ///< h point forecasts
  std::vector<double> sd;      ///< h standard deviations of the forecast error
  std::vector<double> fitted;  ///< n one-step in-sample forecasts (first may equal the state)
  std::vector<Param> params;
  double sse = 0.0;         ///< in-sample sum of squared one-step errors
  double aicc = 0.0;        ///< AICc (Gaussian likelihood); +inf when not defined
  int parameter_count = 0;  ///< smoothing parameters + initial states
};

ModelFit FitNaive(std::span<const double> y, int horizon);
ModelFit FitSeasonalNaive(std::span<const double> y, int season_length, int horizon);

/// Simple exponential smoothing, ETS(A,N,N).
ModelFit FitSes(std::span<const double> y, int horizon);

/// Holt's linear trend ETS(A,A,N), or with `damped` the damped trend ETS(A,Ad,N)
/// (φ in [0.8, 0.98], as in Hyndman et al.).
ModelFit FitHolt(std::span<const double> y, int horizon, bool damped);

/// The Theta method (Assimakopoulos & Nikolopoulos 2000) in its SES-with-drift form
/// (Hyndman & Billah 2003): SES on the series plus half the least-squares slope (theta = 2).
ModelFit FitTheta(std::span<const double> y, int horizon);

/// The Theta method from an SES fit of the same series (saves refitting SES when both are
/// needed). `ses_fit` must come from FitSes(y, horizon).
ModelFit FitThetaFromSes(std::span<const double> y, ModelFit ses_fit);

/// Holt–Winters with additive or multiplicative seasonality and optional damped trend, fitted
/// by least squares; initial states from a classical decomposition of the first seasons.
/// Needs at least two full seasons; returns an empty fit otherwise.
ModelFit FitHoltWinters(std::span<const double> y, int season_length, int horizon,
                        bool multiplicative, bool damped);

/// Trend form of an ETS model: none, additive (Holt), additive damped.
enum class EtsTrend { kNone = 0, kAdditive = 1, kDamped = 2 };

/// Season form of an ETS model.
enum class EtsSeason { kNone = 0, kAdditive = 1, kMultiplicative = 2 };

/// An ETS model in the taxonomy of Hyndman et al. (2008): error, trend, season.
struct EtsSpec {
  bool multiplicative_error = false;
  EtsTrend trend = EtsTrend::kAdditive;
  EtsSeason season = EtsSeason::kAdditive;
};

/// ETS, e.g. ETS(M,Ad,M), fitted by maximum likelihood (SSE for additive errors,
/// n·log Σ(e/μ)² + 2Σ log μ for multiplicative errors), smoothing parameters by Nelder–Mead,
/// initial states from a classical decomposition of the first seasons (without season: from a
/// line through the first points). AICc is on one scale for both error types. A seasonal form
/// needs two full seasons plus two points, a multiplicative component positive data; returns
/// an empty fit otherwise. Named "ETS(M,Ad,M)" etc. Additive errors without season are the
/// exact least-squares fits of FitSes/FitHolt.
ModelFit FitEts(std::span<const double> y, int season_length, int horizon, const EtsSpec& spec);

/// Croston's method; with `sba` the Syntetos–Boylan bias correction (1 − α/2).
/// `alpha` ≤ 0 means: choose α in [0.05, 0.3] by in-sample MSE.
ModelFit FitCroston(std::span<const double> y, int horizon, bool sba, double alpha = 0.1);

/// Teunter–Syntetos–Babai: smooths the demand probability every period (β) and the size at
/// each demand (α), so the forecast decays when demand stops (obsolescence).
ModelFit FitTsb(std::span<const double> y, int horizon, double alpha = 0.1, double beta = 0.05);

/// ADIDA: temporal aggregation into non-overlapping buckets of `bucket` periods (counted back
/// from the last observation), SES on the bucket totals, forecast spread evenly per period.
ModelFit FitAdida(std::span<const double> y, int horizon, int bucket);

/// Log-linear Poisson trend for count-like demand: log E[y_t] = a + b·t fitted by maximum
/// likelihood (Newton's method) from the first demand on (the leading zeros are periods before
/// the part was sold; their fitted values are 0). Only a decline is extrapolated (b is capped
/// at 0): the rate then decays like a product at the end of its life, while extrapolating
/// growth of sparse demand exponentially is unsafe. Returns all zeros for an all-zero history.
/// Parameters: log_level (at the middle of the life), slope, first_demand (index).
ModelFit FitPoissonTrend(std::span<const double> y, int horizon);

/// SES with a fixed smoothing parameter and the level started at the history mean; the robust
/// choice for sparse demand, where an optimised α chases single spikes.
ModelFit FitSesFixed(std::span<const double> y, int horizon, double alpha);

/// Classical (moving-average) decomposition seasonal indices, one per position t mod m, with
/// position 0 being the first observation. Multiplicative indices average 1, additive average
/// 0. Needs at least 2m points; returns an empty vector otherwise.
std::vector<double> SeasonalIndices(std::span<const double> y, int season_length,
                                    bool multiplicative);

}  // namespace sop::forecast
