// forecast-sim: writes simulated intermittent demand in the long layout forecast-eval reads, so
// that a change to the intermittent route can be checked on data it was not designed on.
//
//   forecast-sim --out FILE [--series N] [--length L] [--seed S] [--m3 M3_LONG.csv]
//
// Four processes, N series each, `period` naming the process (forecast-eval reports each):
// - CROSTON: stationary Croston-type demand. Occurrence Bernoulli(p), p ~ U(0.05, 0.7); size
//   1 + negative binomial with mean μ − 1, μ log-uniform in [1, 10], shape log-uniform in
//   [0.5, 20] (from nearly Poisson to lumpy).
// - TSB: Croston-type demand whose probability changes once at a time τ uniform over
//   [0.3·L, 1.3·L] (beyond L: no change within the series): ×U(0, 0.35) with chance 0.7
//   (obsolescence; 0 means demand stops), else ×U(1.2, 2) (capped at 0.95).
// - LIFECYCLE: a part launched at a time uniform over [0, 0.5·L] (zeros before it), then a
//   rate A·x^k·e^(−x/θ) (x = periods since launch, k ~ U(0.5, 2), θ ~ U(6, 30)), scaled to a
//   peak rate log-uniform in [0.3, 5]; counts negative binomial around the rate.
// - M3THIN (with --m3): the last L observations of an M3 monthly series (train and test
//   joined) scaled to a mean rate log-uniform in [0.15, 2] and drawn as Poisson counts: real
//   trends and seasonality, made intermittent by thinning.
// Every series has its own generator seeded from (seed, process, index), so the file is the
// same for the same arguments. Values are counts; no value is missing.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "sop/cli/args.hpp"

namespace {

struct Args {
  std::string out;
  std::string m3;
  int series = 1000;
  int length = 51;
  std::uint64_t seed = 1;
};

constexpr std::string_view kProgram = "forecast-sim";
constexpr std::string_view kUsage =
    "usage: forecast-sim --out FILE [--series N] [--length L] [--seed S] [--m3 M3_LONG.csv]\n";

[[noreturn]] void Usage(const std::string& problem) {
  sop::cli::ExitWithProblem(kProgram, kUsage, problem);
}

/// The flags; nothing when the tool should run, else its exit code (--help, a bad flag).
std::optional<int> ParseArgs(int argc, char** argv, Args& args) {
  sop::cli::ArgParser parser(kProgram, kUsage);
  parser.String("--out", &args.out)
      .String("--m3", &args.m3)
      .Int("--series", &args.series, 1)
      .Int("--length", &args.length, 4)
      .Int("--seed", &args.seed, 0)
      .Required("--out");
  return parser.Parse(argc, argv);
}

class Draw {
 public:
  Draw(std::uint64_t seed, std::uint64_t process, std::uint64_t index) {
    std::seed_seq sequence{seed, process, index};
    engine_.seed(sequence);
  }

  double Uniform(double lo, double hi) { return std::uniform_real_distribution<>(lo, hi)(engine_); }
  double LogUniform(double lo, double hi) { return std::exp(Uniform(std::log(lo), std::log(hi))); }
  bool Chance(double p) { return Uniform(0.0, 1.0) < p; }
  double Poisson(double mean) {
    if (!(mean > 0.0)) return 0.0;
    return static_cast<double>(std::poisson_distribution<long long>(mean)(engine_));
  }
  /// Negative binomial with the given mean and shape (a gamma–Poisson mixture).
  double NegativeBinomial(double mean, double shape) {
    if (!(mean > 0.0)) return 0.0;
    return Poisson(std::gamma_distribution<>(shape, mean / shape)(engine_));
  }

 private:
  std::mt19937_64 engine_;
};

/// One Croston-type demand: occurrence with probability p, size 1 + NB(μ − 1, shape).
double Demand(Draw& draw, double p, double mean_size, double shape) {
  if (!draw.Chance(p)) return 0.0;
  return 1.0 + draw.NegativeBinomial(mean_size - 1.0, shape);
}

std::vector<double> Croston(Draw& draw, int length) {
  const double p = draw.Uniform(0.05, 0.7);
  const double size = draw.LogUniform(1.0, 10.0);
  const double shape = draw.LogUniform(0.5, 20.0);
  std::vector<double> y(static_cast<std::size_t>(length));
  for (double& value : y) value = Demand(draw, p, size, shape);
  return y;
}

std::vector<double> Tsb(Draw& draw, int length) {
  const double p0 = draw.Uniform(0.05, 0.7);
  const double size = draw.LogUniform(1.0, 10.0);
  const double shape = draw.LogUniform(0.5, 20.0);
  const double change = draw.Uniform(0.3, 1.3) * length;
  const double p1 =
      draw.Chance(0.7) ? p0 * draw.Uniform(0.0, 0.35) : std::min(0.95, p0 * draw.Uniform(1.2, 2.0));
  std::vector<double> y(static_cast<std::size_t>(length));
  for (std::size_t t = 0; t < y.size(); ++t) {
    y[t] = Demand(draw, static_cast<double>(t) < change ? p0 : p1, size, shape);
  }
  return y;
}

std::vector<double> Lifecycle(Draw& draw, int length) {
  const double launch = std::floor(draw.Uniform(0.0, 0.5) * length);
  const double k = draw.Uniform(0.5, 2.0);
  const double theta = draw.Uniform(6.0, 30.0);
  const double peak = draw.LogUniform(0.3, 5.0);
  const double shape = draw.LogUniform(0.5, 20.0);
  // x^k·e^(−x/θ) peaks at x = kθ.
  const double top = std::pow(k * theta, k) * std::exp(-k);
  std::vector<double> y(static_cast<std::size_t>(length), 0.0);
  for (std::size_t t = 0; t < y.size(); ++t) {
    const double x = static_cast<double>(t) - launch + 1.0;
    if (x <= 0.0) continue;
    const double rate = peak * std::pow(x, k) * std::exp(-x / theta) / top;
    y[t] = draw.NegativeBinomial(rate, shape);
  }
  return y;
}

/// M3 monthly series (train and test joined, in t order), longest first not required.
std::vector<std::vector<double>> ReadM3Monthly(const std::string& path) {
  std::ifstream file(path);
  if (!file) Usage("--m3: cannot open '" + path + "'");
  std::map<std::string, std::vector<std::pair<int, double>>> rows;
  std::string line;
  std::getline(file, line);  // header: series_id,category,period,frequency,horizon,split,t,value
  while (std::getline(file, line)) {
    std::vector<std::string_view> fields;
    std::string_view rest(line);
    while (true) {
      const auto comma = rest.find(',');
      fields.push_back(rest.substr(0, comma));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (fields.size() < 8 || fields[2] != "MONTHLY") continue;
    int t = 0;
    double value = 0.0;
    std::from_chars(fields[6].data(), fields[6].data() + fields[6].size(), t);
    const auto [ptr, ec] =
        std::from_chars(fields[7].data(), fields[7].data() + fields[7].size(), value);
    if (ec != std::errc()) Usage("--m3: bad value in line '" + line + "'");
    rows[std::string(fields[0])].emplace_back(t, value);
  }
  std::vector<std::vector<double>> series;
  for (auto& [id, points] : rows) {
    std::sort(points.begin(), points.end());
    std::vector<double> values;
    for (const auto& point : points) values.push_back(point.second);
    series.push_back(std::move(values));
  }
  if (series.empty()) Usage("--m3: no MONTHLY series in '" + path + "'");
  return series;
}

std::vector<double> Thinned(Draw& draw, const std::vector<double>& source, int length) {
  const auto n = std::min(source.size(), static_cast<std::size_t>(length));
  const std::vector<double> tail(source.end() - static_cast<std::ptrdiff_t>(n), source.end());
  double mean = 0.0;
  for (const double value : tail) mean += value;
  mean /= static_cast<double>(n);
  const double scale = draw.LogUniform(0.15, 2.0) / mean;
  std::vector<double> y(n);
  for (std::size_t t = 0; t < n; ++t) y[t] = draw.Poisson(std::max(tail[t], 0.0) * scale);
  return y;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (auto exit_code = ParseArgs(argc, argv, args)) return *exit_code;
  std::vector<std::vector<double>> m3;
  if (!args.m3.empty()) m3 = ReadM3Monthly(args.m3);
  std::ofstream out(args.out, std::ios::binary);
  if (!out) Usage("--out: cannot write '" + args.out + "'");
  out << "series_id,period,t,value\n";
  auto write = [&](std::string_view process, int index, const std::vector<double>& y) {
    for (std::size_t t = 0; t < y.size(); ++t) {
      out << process << '-' << index << ',' << process << ',' << t + 1 << ','
          << static_cast<long long>(y[t]) << '\n';
    }
  };
  for (int i = 0; i < args.series; ++i) {
    const auto index = static_cast<std::uint64_t>(i);
    Draw croston(args.seed, 1, index);
    write("CROSTON", i, Croston(croston, args.length));
    Draw tsb(args.seed, 2, index);
    write("TSB", i, Tsb(tsb, args.length));
    Draw lifecycle(args.seed, 3, index);
    write("LIFECYCLE", i, Lifecycle(lifecycle, args.length));
    if (!m3.empty()) {
      Draw thin(args.seed, 4, index);
      write("M3THIN", i, Thinned(thin, m3[index % m3.size()], args.length));
    }
  }
  if (!out) Usage("--out: write to '" + args.out + "' failed");
  return 0;
}
