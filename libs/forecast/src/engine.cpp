#include "sop/forecast/engine.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "sop/forecast/combination.hpp"

namespace sop::forecast {
namespace {

constexpr double kZ90 = 1.2815515655446004;  // standard normal 90% quantile
// Smoothing constants for sparse demand, in the range the intermittent-demand literature
// recommends (0.05–0.3): with a handful of demands per series, optimising them in-sample
// chases single spikes (measured: TSB's α, β by in-sample MSE helped simulated data but hurt
// car parts at both origins and pushed the aggregate bias down; README has the figures).
constexpr double kSparseSizeAlpha = 0.2;
constexpr double kSparseProbabilityBeta = 0.1;
constexpr double kSparseLevelAlpha = 0.1;

std::size_t Size(int value) {
  return static_cast<std::size_t>(std::max(value, 0));
}

/// Quantile (probability 0.1, 0.5 or 0.9) of a negative binomial with the given mean and
/// variance/mean ratio (Poisson when the ratio is ≤ 1), by summing the probability mass
/// function. Large means use the normal approximation (the distribution is then close to
/// symmetric anyway).
double CountQuantile(double mean, double dispersion, double probability) {
  if (!(mean > 0.0)) return 0.0;
  const double variance = mean * std::max(dispersion, 1.0);
  if (mean > 500.0) {
    const double z = probability >= 0.5 ? kZ90 : -kZ90;
    const double q = probability == 0.5 ? mean : mean + z * std::sqrt(variance);
    return std::max(0.0, std::round(q));
  }
  double pmf = 0.0;
  double ratio = 0.0;  // pmf(k+1)/pmf(k) = (k + r)/(k + 1)·(1 − p) for NB, mean/(k+1) for Poisson
  const bool poisson = dispersion <= 1.0 + 1e-9;
  double r = 0.0, p = 1.0;
  if (poisson) {
    pmf = std::exp(-mean);
  } else {
    p = 1.0 / dispersion;
    r = mean / (dispersion - 1.0);
    pmf = std::exp(r * std::log(p));
  }
  double cdf = pmf;
  for (int k = 0; k < 100000; ++k) {
    if (cdf >= probability) return static_cast<double>(k);
    const auto kk = static_cast<double>(k);
    ratio = poisson ? mean / (kk + 1.0) : (kk + r) / (kk + 1.0) * (1.0 - p);
    pmf *= ratio;
    cdf += pmf;
  }
  return mean;
}

/// Student-t 90% quantile with `dof` degrees of freedom (Cornish–Fisher expansion around the
/// normal quantile; within 0.3% of the exact value for dof ≥ 3). Used for regular-demand
/// intervals because σ is estimated from the same short history the model was fitted to.
double StudentT90(double dof) {
  const double z = kZ90;
  const double v = std::max(dof, 3.0);
  const double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
  return z + (z3 + z) / (4.0 * v) + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v) +
         (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v * v * v);
}

std::string Describe(std::string_view base, std::string_view adjustment) {
  std::string text(base);
  if (!adjustment.empty()) text.append(" on ").append(adjustment).append("-seasonally-adjusted");
  return text;
}

/// Seasonal adjustment chosen by the seasonality test.
struct Adjustment {
  std::vector<double> indices;  // empty: none
  bool multiplicative = true;
  std::string_view label;

  double Remove(double value, std::size_t t) const {
    if (indices.empty()) return value;
    const double s = indices[t % indices.size()];
    return multiplicative ? value / s : value - s;
  }
  double Restore(double value, std::size_t t) const {
    if (indices.empty()) return value;
    const double s = indices[t % indices.size()];
    return multiplicative ? value * s : value + s;
  }
  double RestoreScale(double sd, std::size_t t) const {
    if (indices.empty() || !multiplicative) return sd;
    return sd * indices[t % indices.size()];
  }
};

void AppendParams(Forecast& out, const ModelFit& fit, bool prefix) {
  for (const auto& param : fit.params) {
    out.params.push_back(
        {prefix ? std::string(fit.name) + "." + param.name : param.name, param.value});
  }
}

/// Intermittent route: a count-distribution forecast around a Croston-family mean.
void ForecastIntermittent(std::span<const double> y, int horizon, Method method, Forecast& out) {
  const std::size_t h = Size(horizon);
  ModelFit fit;
  const double adi = out.profile.adi > 0.0 ? out.profile.adi : 1.0;
  const int bucket = std::max(1, static_cast<int>(std::lround(adi)));
  std::string comb_name;
  switch (method) {
    case Method::kCroston:
      fit = FitCroston(y, horizon, false, 0.1);
      break;
    case Method::kSba:
      fit = FitCroston(y, horizon, true, 0.1);
      break;
    case Method::kTsb:
      fit = FitTsb(y, horizon, 0.1, 0.1);
      break;
    case Method::kAdida:
      fit = FitAdida(y, horizon, bucket);
      break;
    default: {
      // Three estimates of the demand rate that fail differently: TSB (follows a change in
      // the demand probability, decays when demand stops), SES (the unbiased level Croston
      // approximates) and the log-linear Poisson decline from the first demand (the
      // life-cycle decay of a part). Weighted by the inverse of their MSE over the last
      // periods of the history, each refitted without them: the holdout scores the loss the
      // forecast is judged by, and the weights follow which failure mode the series shows.
      const std::array<FitFunction, 3> fitters{
          [](std::span<const double> history, int steps) {
            return FitTsb(history, steps, kSparseSizeAlpha, kSparseProbabilityBeta);
          },
          [](std::span<const double> history, int steps) {
            return FitSesFixed(history, steps, kSparseLevelAlpha);
          },
          [](std::span<const double> history, int steps) {
            return FitPoissonTrend(history, steps);
          }};
      const ValidationWeights weights = WeighByValidation(y, horizon, fitters);
      std::string names;
      fit.point.assign(h, 0.0);
      fit.fitted.assign(y.size(), 0.0);
      for (std::size_t i = 0; i < fitters.size(); ++i) {
        const ModelFit member = fitters[i](y, horizon);
        const double weight = weights.weights[i];
        for (std::size_t j = 0; j < h; ++j) fit.point[j] += member.point[j] * weight;
        for (std::size_t t = 0; t < y.size(); ++t) fit.fitted[t] += member.fitted[t] * weight;
        AppendParams(out, member, true);
        out.params.push_back({std::string(member.name) + ".weight", weight});
        names += names.empty() ? "" : ",";
        names += member.name;
      }
      out.params.push_back({"validation_periods", static_cast<double>(weights.periods)});
      comb_name = "Comb(" + names + ")";
      break;
    }
  }
  if (fit.params.size() > 0) AppendParams(out, fit, false);
  out.model = comb_name.empty() ? std::string(fit.name) : comb_name;
  // Index of dispersion of the data around the one-step fit (after the first demand, where the
  // fit is defined): the variance/mean ratio of the negative binomial used for quantiles.
  std::size_t first = 0;
  while (first < y.size() && y[first] == 0.0) ++first;
  double sse = 0.0, fitted_sum = 0.0;
  std::size_t count = 0;
  for (std::size_t t = first + 1; t < y.size(); ++t) {
    sse += (y[t] - fit.fitted[t]) * (y[t] - fit.fitted[t]);
    fitted_sum += fit.fitted[t];
    ++count;
  }
  double dispersion = 1.0;
  if (count > 0 && fitted_sum > 0.0) dispersion = std::max(1.0, sse / fitted_sum);
  out.params.push_back({"dispersion", dispersion});
  out.point.resize(h);
  out.p10.resize(h);
  out.p50.resize(h);
  out.p90.resize(h);
  for (std::size_t j = 0; j < h; ++j) {
    const double mean = std::max(0.0, fit.point[j]);
    out.point[j] = mean;
    out.p10[j] = CountQuantile(mean, dispersion, 0.1);
    out.p50[j] = CountQuantile(mean, dispersion, 0.5);
    out.p90[j] = CountQuantile(mean, dispersion, 0.9);
  }
}

/// Fits the best of SES/Holt/damped (and the seasonal ETS forms when seasonal) by AICc. All
/// candidates are fitted to the same data, so their AICc values are comparable.
ModelFit FitEtsByAicc(std::span<const double> y, int horizon, bool seasonal, int season_length,
                      const ModelFit* ses_fit, const ModelFit* damped_fit) {
  std::vector<ModelFit> candidates;
  candidates.push_back(ses_fit != nullptr ? *ses_fit : FitSes(y, horizon));
  candidates.push_back(FitHolt(y, horizon, false));
  candidates.push_back(damped_fit != nullptr ? *damped_fit : FitHolt(y, horizon, true));
  // Seasonal candidates: additive or multiplicative error × additive or damped trend ×
  // additive or multiplicative season. Measured on M3 (ETS alone / in the combination):
  // multiplicative errors lower sMAPE (13.37 → 13.12 / 12.46 → 12.42); seasonal forms without
  // trend and non-seasonal multiplicative-error forms helped monthly but hurt quarterly and
  // yearly more, so they are not candidates.
  if (seasonal) {
    for (const bool multiplicative_error : {false, true}) {
      for (const EtsTrend trend : {EtsTrend::kAdditive, EtsTrend::kDamped}) {
        for (const EtsSeason season : {EtsSeason::kAdditive, EtsSeason::kMultiplicative}) {
          ModelFit fit = FitEts(
              y, season_length, horizon,
              {.multiplicative_error = multiplicative_error, .trend = trend, .season = season});
          if (!fit.point.empty()) candidates.push_back(std::move(fit));
        }
      }
    }
  }
  std::size_t best = 0;
  for (std::size_t i = 1; i < candidates.size(); ++i) {
    if (candidates[i].aicc < candidates[best].aicc) best = i;
  }
  ModelFit chosen = std::move(candidates[best]);
  // Named in the ETS taxonomy (error, trend, season) so that a combination lists it apart
  // from the members fitted to the adjusted series.
  const std::string_view name = chosen.name;
  chosen.name = name == "SES"          ? "ETS(A,N,N)"
                : name == "Holt"       ? "ETS(A,A,N)"
                : name == "DampedHolt" ? "ETS(A,Ad,N)"
                                       : name;
  return chosen;
}

/// The members a regular-demand forecast can be built from.
enum class Member { kNaive, kSeasonalNaive, kSes, kHolt, kDamped, kTheta, kEts };

/// Whether to seasonally adjust: the Theta method's 90% ACF test, or, because that test has
/// little power on short series, an AICc comparison of SES with and without the classical
/// seasonal indices (counted as m − 1 extra parameters).
bool DecideSeasonal(std::span<const double> y, int season_length, bool test_passed) {
  const std::size_t n = y.size();
  if (season_length < 2 || n < 2 * Size(season_length) + 2) return false;
  if (test_passed) return true;
  const bool multiplicative = *std::min_element(y.begin(), y.end()) > 0.0;
  Adjustment trial{SeasonalIndices(y, season_length, multiplicative), multiplicative, ""};
  std::vector<double> adjusted(n);
  for (std::size_t t = 0; t < n; ++t) adjusted[t] = trial.Remove(y[t], t);
  const ModelFit raw_fit = FitSes(y, 1);
  const ModelFit adjusted_fit = FitSes(adjusted, 1);
  double adjusted_sse = 0.0;
  for (std::size_t t = 0; t < n; ++t) {
    const double error = y[t] - trial.Restore(adjusted_fit.fitted[t], t);
    adjusted_sse += error * error;
  }
  const auto nn = static_cast<double>(n);
  auto aicc = [&](double sse, double k) {
    if (!(sse > 0.0)) return -std::numeric_limits<double>::infinity();
    return nn * std::log(sse / nn) + 2.0 * k + 2.0 * k * (k + 1.0) / std::max(nn - k - 1.0, 1.0);
  };
  const double k_raw = raw_fit.parameter_count + 1.0;
  const double k_adjusted = k_raw + season_length - 1.0;
  return aicc(adjusted_sse, k_adjusted) < aicc(raw_fit.sse, k_raw);
}

/// Fits the members on `y` and returns their forecasts on the original scale.
std::vector<ModelFit> FitMembers(std::span<const double> y, int season_length, int horizon,
                                 bool seasonal, std::span<const Member> kinds,
                                 std::string_view* adjustment_label) {
  const std::size_t n = y.size();
  const std::size_t h = Size(horizon);
  Adjustment adjustment;
  if (seasonal) {
    adjustment.multiplicative = *std::min_element(y.begin(), y.end()) > 0.0;
    adjustment.indices = SeasonalIndices(y, season_length, adjustment.multiplicative);
    adjustment.label = adjustment.multiplicative ? "mult" : "add";
  }
  std::vector<double> adjusted(n);
  for (std::size_t t = 0; t < n; ++t) adjusted[t] = adjustment.Remove(y[t], t);
  std::vector<ModelFit> fits;
  fits.reserve(kinds.size());
  bool any_adjusted = false;
  // Fits on the adjusted series that several members share (Theta is SES plus a drift; the
  // ETS member's SES and damped candidates are the same fits when there is no adjustment).
  std::optional<ModelFit> ses;
  std::optional<ModelFit> damped;
  auto shared_ses = [&]() -> const ModelFit& {
    if (!ses) ses = FitSes(adjusted, horizon);
    return *ses;
  };
  auto shared_damped = [&]() -> const ModelFit& {
    if (!damped) damped = FitHolt(adjusted, horizon, true);
    return *damped;
  };
  for (const Member kind : kinds) {
    bool on_adjusted = true;
    switch (kind) {
      case Member::kNaive:
        fits.push_back(FitNaive(adjusted, horizon));
        break;
      case Member::kSeasonalNaive:
        fits.push_back(FitSeasonalNaive(y, season_length, horizon));
        on_adjusted = false;
        break;
      case Member::kSes:
        fits.push_back(shared_ses());
        break;
      case Member::kHolt:
        fits.push_back(FitHolt(adjusted, horizon, false));
        break;
      case Member::kDamped:
        fits.push_back(n < 3 ? FitHolt(adjusted, horizon, true) : shared_damped());
        break;
      case Member::kTheta:
        fits.push_back(FitThetaFromSes(adjusted, shared_ses()));
        break;
      case Member::kEts: {
        // On the original data: Holt–Winters estimates its own (evolving) seasonality, a
        // different view from the fixed classical indices of the other members.
        const bool same = adjustment.indices.empty() && n >= 3;
        fits.push_back(FitEtsByAicc(y, horizon, seasonal, season_length,
                                    same ? &shared_ses() : nullptr,
                                    same ? &shared_damped() : nullptr));
        on_adjusted = false;
        break;
      }
    }
    if (on_adjusted && !adjustment.indices.empty()) {
      any_adjusted = true;
      ModelFit& fit = fits.back();
      for (std::size_t j = 0; j < h; ++j) {
        fit.point[j] = adjustment.Restore(fit.point[j], n + j);
        fit.sd[j] = adjustment.RestoreScale(fit.sd[j], n + j);
      }
    }
  }
  if (adjustment_label != nullptr) *adjustment_label = any_adjusted ? adjustment.label : "";
  return fits;
}

/// Regular route: seasonal adjustment by test or AICc, then one model or the combination.
void ForecastRegular(std::span<const double> y, int season_length, int horizon, Method method,
                     Forecast& out) {
  const std::size_t n = y.size();
  const std::size_t h = Size(horizon);
  const bool non_negative = *std::min_element(y.begin(), y.end()) >= 0.0;
  std::vector<Member> kinds;
  switch (method) {
    case Method::kNaive:
      kinds = {Member::kNaive};
      break;
    case Method::kSeasonalNaive:
      kinds = {Member::kSeasonalNaive};
      break;
    case Method::kSes:
      kinds = {Member::kSes};
      break;
    case Method::kHolt:
      kinds = {Member::kHolt};
      break;
    case Method::kDampedHolt:
      kinds = {Member::kDamped};
      break;
    case Method::kTheta:
      kinds = {Member::kTheta};
      break;
    case Method::kEtsAicc:
      kinds = {Member::kEts};
      break;
    case Method::kCombShd:
      kinds = {Member::kSes, Member::kHolt, Member::kDamped};
      break;
    default:
      // The automatic combination: damped trend (cautious trend) and Theta (SES plus half the
      // long-run slope) on the seasonally adjusted series, and the ETS model with the lowest
      // AICc (SES, Holt, damped, seasonal ETS) on the original series, which sees an evolving
      // seasonality the fixed classical indices miss. Equal weights: on M3, selecting one
      // member by holdout validation was clearly worse and inverse-error weights were no
      // better across all subsets; equal weights have nothing to over-fit. Adding SES helped
      // level series but hurt trended ones more (README has the figures).
      kinds = {Member::kDamped, Member::kTheta, Member::kEts};
      break;
  }
  if (n < 3) kinds = {Member::kNaive};
  const bool seasonal = DecideSeasonal(y, season_length, out.seasonality.seasonal);
  std::string_view adjustment_label;
  std::vector<ModelFit> fits =
      FitMembers(y, season_length, horizon, seasonal, kinds, &adjustment_label);
  const std::size_t count = fits.size();
  std::vector<double> weights(count, 1.0 / static_cast<double>(count));
  std::string names;
  for (const auto& fit : fits) {
    if (!names.empty()) names += ",";
    names += fit.name;
    AppendParams(out, fit, count > 1);
  }
  out.model = Describe(count > 1 ? "Comb(" + names + ")" : names, adjustment_label);
  out.point.assign(h, 0.0);
  out.p10.resize(h);
  out.p50.resize(h);
  out.p90.resize(h);
  int parameters = 0;
  for (const auto& fit : fits) parameters = std::max(parameters, fit.parameter_count);
  const double quantile = StudentT90(static_cast<double>(n) - parameters);
  for (std::size_t j = 0; j < h; ++j) {
    // The combination is treated as an equal mixture of its members: its variance is the
    // members' mean error variance plus the spread of their point forecasts (model
    // uncertainty, which one model's own variance formula leaves out).
    double point = 0.0, variance = 0.0;
    for (std::size_t i = 0; i < count; ++i) {
      point += weights[i] * fits[i].point[j];
      variance += weights[i] * fits[i].sd[j] * fits[i].sd[j];
    }
    for (std::size_t i = 0; i < count; ++i) {
      const double d = fits[i].point[j] - point;
      variance += weights[i] * d * d;
    }
    const double sd = std::sqrt(variance);
    if (non_negative) point = std::max(point, 0.0);
    out.point[j] = point;
    out.p50[j] = point;
    out.p10[j] = point - quantile * sd;
    out.p90[j] = point + quantile * sd;
    if (non_negative) out.p10[j] = std::max(out.p10[j], 0.0);
  }
}

}  // namespace

std::string_view ToString(Method method) noexcept {
  switch (method) {
    case Method::kAuto:
      return "auto";
    case Method::kNaive:
      return "naive";
    case Method::kSeasonalNaive:
      return "snaive";
    case Method::kSes:
      return "ses";
    case Method::kHolt:
      return "holt";
    case Method::kDampedHolt:
      return "damped";
    case Method::kTheta:
      return "theta";
    case Method::kCombShd:
      return "comb";
    case Method::kEtsAicc:
      return "ets";
    case Method::kCroston:
      return "croston";
    case Method::kSba:
      return "sba";
    case Method::kTsb:
      return "tsb";
    case Method::kAdida:
      return "adida";
  }
  return "unknown";
}

Result<Method> ParseMethod(std::string_view text) {
  for (const Method method :
       {Method::kAuto, Method::kNaive, Method::kSeasonalNaive, Method::kSes, Method::kHolt,
        Method::kDampedHolt, Method::kTheta, Method::kCombShd, Method::kEtsAicc, Method::kCroston,
        Method::kSba, Method::kTsb, Method::kAdida}) {
    if (ToString(method) == text) return method;
  }
  return InvalidField("method",
                      "must be one of auto, naive, snaive, ses, holt, damped, theta, "
                      "comb, ets, croston, sba, tsb, adida",
                      text);
}

Result<Forecast> ForecastSeries(const SeriesInput& input, const ForecastOptions& options) {
  const auto y = input.history;
  if (y.empty()) return InvalidField("history", "must not be empty", "[]");
  if (input.horizon < 1)
    return InvalidField("horizon", "must be >= 1", std::to_string(input.horizon));
  if (input.season_length < 1) {
    return InvalidField("season_length", "must be >= 1", std::to_string(input.season_length));
  }
  for (std::size_t t = 0; t < y.size(); ++t) {
    if (!std::isfinite(y[t])) {
      return InvalidField("history[" + std::to_string(t) + "]", "must be finite",
                          std::to_string(y[t]));
    }
  }
  Forecast out;
  out.profile = ClassifyDemand(y);
  out.seasonality = TestSeasonality(y, input.season_length);
  if (options.detect_outliers) out.outliers = DetectOutliers(y);
  const Method method = options.method;
  const bool intermittent_method = method == Method::kCroston || method == Method::kSba ||
                                   method == Method::kTsb || method == Method::kAdida;
  const bool sparse = out.profile.demand_class == DemandClass::kIntermittent ||
                      out.profile.demand_class == DemandClass::kLumpy ||
                      out.profile.demand_class == DemandClass::kNoDemand;
  const bool non_negative = *std::min_element(y.begin(), y.end()) >= 0.0;
  if (intermittent_method || (method == Method::kAuto && sparse && non_negative)) {
    ForecastIntermittent(y, input.horizon, method, out);
  } else {
    ForecastRegular(y, input.season_length, input.horizon, method, out);
  }
  return out;
}

std::vector<Result<Forecast>> ForecastBatch(std::span<const SeriesInput> inputs,
                                            const ForecastOptions& options, int threads) {
  std::vector<Result<Forecast>> results(inputs.size(),
                                        Fail(Errc::kInternal, "series was not forecast"));
  std::size_t workers = threads > 0 ? static_cast<std::size_t>(threads)
                                    : std::max(1U, std::thread::hardware_concurrency());
  workers = std::min(workers, std::max<std::size_t>(inputs.size(), 1));
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next.fetch_add(1, std::memory_order_relaxed); i < inputs.size();
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      results[i] = ForecastSeries(inputs[i], options);
    }
  };
  if (workers <= 1) {
    work();
    return results;
  }
  std::vector<std::jthread> pool;
  pool.reserve(workers - 1);
  for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  pool.clear();  // joins
  return results;
}

}  // namespace sop::forecast
