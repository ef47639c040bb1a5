// sop-bench-forecast: times automatic forecasting of many generated weekly demand series.
//
//   sop-bench-forecast [--series N] [--length L] [--horizon H] [--threads T] [--seed S] [--json]
//
// The generator mimics an item-site portfolio at scale L of DESIGN.md: smooth items in product
// families with a shared yearly profile, trend and noise; erratic items; intermittent spare
// parts (Bernoulli occurrence × log-normal size, some going obsolete). Each series has its own
// seeded generator, so the data are identical for any thread count. The last H generated weeks
// are held out, and accuracy on them is reported beside the timing as a sanity check.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <numbers>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "sop/cli/args.hpp"
#include "sop/forecast/engine.hpp"
#include "sop/forecast/hierarchy.hpp"

namespace {

namespace fc = sop::forecast;

struct Args {
  int series = 100000;
  int length = 156;
  int horizon = 78;
  int threads = 0;
  std::uint64_t seed = 42;
  bool json = false;
};

/// The flags; nothing when the benchmark should run, else its exit code (--help, a bad flag).
std::optional<int> ParseArgs(int argc, char** argv, Args& args) {
  sop::cli::ArgParser parser(
      "sop-bench-forecast",
      "usage: sop-bench-forecast [--series N] [--length L] [--horizon H] [--threads T]"
      " [--seed S] [--json]\n");
  parser.Int("--series", &args.series, 1)
      .Int("--length", &args.length, 4)
      .Int("--horizon", &args.horizon, 1)
      .Int("--threads", &args.threads, 1)
      .Int("--seed", &args.seed, 0)
      .Switch("--json", &args.json);
  return parser.Parse(argc, argv);
}

/// Generates history + holdout for series `index` (deterministic in seed and index).
void GenerateSeries(std::uint64_t seed, std::size_t index, std::span<double> out) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + index);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  const std::size_t n = out.size();
  // 20 product families share a yearly profile (phase and shape); items differ in amplitude.
  const std::size_t family = index % 20;
  const double family_phase = 2.0 * std::numbers::pi * static_cast<double>(family) / 20.0;
  const double kind = unit(rng);
  if (kind < 0.6) {
    // Smooth or erratic item: level × (1 + trend) × season × noise.
    const double level = std::exp(3.0 + 1.2 * normal(rng));
    const double amplitude = unit(rng) < 0.7 ? 0.1 + 0.4 * unit(rng) : 0.0;
    const double trend = 0.004 * normal(rng);
    const double noise = 0.1 + (kind < 0.45 ? 0.2 : 0.6) * unit(rng);
    for (std::size_t t = 0; t < n; ++t) {
      const double week = static_cast<double>(t);
      const double season =
          1.0 + amplitude * (std::sin(2.0 * std::numbers::pi * week / 52.0 + family_phase) +
                             0.3 * std::sin(4.0 * std::numbers::pi * week / 52.0));
      const double mean = level * std::max(0.1, 1.0 + trend * week) * season;
      out[t] =
          std::max(0.0, std::round(mean * std::exp(noise * normal(rng) - 0.5 * noise * noise)));
    }
  } else {
    // Spare part: demand occurs with probability p, log-normal size; 20% go obsolete.
    const double probability = 0.03 + 0.4 * unit(rng);
    const double size = std::exp(0.5 + 1.0 * unit(rng));
    const bool obsolete = unit(rng) < 0.2;
    const double end = obsolete ? static_cast<double>(n) * (0.5 + 0.5 * unit(rng)) : 1e18;
    for (std::size_t t = 0; t < n; ++t) {
      const double p = static_cast<double>(t) < end ? probability : probability * 0.1;
      out[t] = unit(rng) < p ? std::max(1.0, std::round(size * std::exp(0.6 * normal(rng)))) : 0.0;
    }
  }
}

double PeakRssMib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (auto exit_code = ParseArgs(argc, argv, args)) return *exit_code;
  const auto series_count = static_cast<std::size_t>(args.series);
  const auto length = static_cast<std::size_t>(args.length);
  const auto horizon = static_cast<std::size_t>(args.horizon);
  const std::size_t stride = length + horizon;
  std::vector<double> data(series_count * stride);
  const auto generate_started = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < series_count; ++i) {
    GenerateSeries(args.seed, i, std::span<double>(data).subspan(i * stride, stride));
  }
  const double generate_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - generate_started).count();
  std::vector<fc::SeriesInput> inputs(series_count);
  for (std::size_t i = 0; i < series_count; ++i) {
    inputs[i] = {.history = std::span<const double>(data).subspan(i * stride, length),
                 .season_length = 52,
                 .horizon = args.horizon};
  }
  fc::ForecastOptions options;
  const auto started = std::chrono::steady_clock::now();
  const auto forecasts = fc::ForecastBatch(inputs, options, args.threads);
  const double wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // Accuracy on the held-out weeks: volume-weighted error, bias and P90 coverage.
  double abs_error = 0.0, bias = 0.0, volume = 0.0, covered = 0.0, points = 0.0;
  int failed = 0, negative = 0, intermittent = 0;
  for (std::size_t i = 0; i < series_count; ++i) {
    if (!forecasts[i]) {
      ++failed;
      continue;
    }
    const fc::Forecast& f = *forecasts[i];
    intermittent += f.model.find("TSB") != std::string::npos ? 1 : 0;
    for (std::size_t j = 0; j < horizon; ++j) {
      const double actual = data[i * stride + length + j];
      abs_error += std::abs(f.point[j] - actual);
      bias += f.point[j] - actual;
      volume += actual;
      covered += actual <= f.p90[j] ? 1.0 : 0.0;
      points += 1.0;
      negative += (f.point[j] < 0.0 || f.p10[j] < 0.0) ? 1 : 0;
    }
  }
  // Hierarchy: item-sites → 20 families and 5 sites, bottom-up reconciled (levels add up).
  const auto reconcile_started = std::chrono::steady_clock::now();
  std::vector<std::vector<double>> item_site(series_count);
  std::vector<int> family_of(series_count), site_of(series_count);
  for (std::size_t i = 0; i < series_count; ++i) {
    if (forecasts[i]) item_site[i] = forecasts[i]->point;
    item_site[i].resize(horizon, 0.0);
    family_of[i] = static_cast<int>(i % 20);
    site_of[i] = static_cast<int>((i / 20) % 5);
  }
  auto reconciled = fc::ReconcileBottomUp(item_site, family_of, 20, site_of, 5);
  const double reconcile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - reconcile_started).count();
  double level_gap = 0.0;  // largest |Σ families − Σ sites| over buckets: 0 when coherent
  if (reconciled) {
    for (std::size_t j = 0; j < horizon; ++j) {
      double families = 0.0, sites = 0.0;
      for (const auto& f : reconciled->family) families += f[j];
      for (const auto& s : reconciled->site) sites += s[j];
      level_gap =
          std::max(level_gap, std::abs(families - sites) / std::max(1.0, reconciled->total[j]));
    }
  }
  const double peak_rss_mib = PeakRssMib();
  const double per_second =
      wall_seconds > 0.0 ? static_cast<double>(series_count) / wall_seconds : 0.0;
  if (args.json) {
    std::printf(
        "{\"series\":%zu,\"length\":%zu,\"horizon\":%zu,\"threads\":%d,\"wall_seconds\":%.3f,"
        "\"series_per_second\":%.0f,\"peak_rss_mib\":%.1f,\"generate_seconds\":%.3f,"
        "\"failed\":%d,\"negative_values\":%d,\"intermittent_series\":%d,\"holdout_wmape\":%.2f,"
        "\"holdout_bias\":%.4f,\"holdout_coverage_p90\":%.4f,\"reconcile_seconds\":%.3f,"
        "\"reconcile_relative_gap\":%.2g}\n",
        series_count, length, horizon, args.threads, wall_seconds, per_second, peak_rss_mib,
        generate_seconds, failed, negative, intermittent,
        volume > 0 ? 100.0 * abs_error / volume : 0.0, volume > 0 ? bias / volume : 0.0,
        points > 0 ? covered / points : 0.0, reconcile_seconds, level_gap);
  } else {
    std::printf(
        "%zu series x %zu weeks, horizon %zu: %.3f s wall, %.0f series/s, peak RSS %.1f MiB\n",
        series_count, length, horizon, wall_seconds, per_second, peak_rss_mib);
    std::printf(
        "holdout: WMAPE %.2f%%, bias %+.2f%%, P90 coverage %.3f; %d intermittent, %d failed\n",
        volume > 0 ? 100.0 * abs_error / volume : 0.0, volume > 0 ? 100.0 * bias / volume : 0.0,
        points > 0 ? covered / points : 0.0, intermittent, failed);
    std::printf("bottom-up reconciliation to 20 families x 5 sites: %.3f s, relative gap %.2g\n",
                reconcile_seconds, level_gap);
  }
  return failed > 0 ? 1 : 0;
}
