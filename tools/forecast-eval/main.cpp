// forecast-eval: evaluates the forecasting engine on a data set in long layout.
//
//   forecast-eval --data FILE [--json] [--holdout K] [--threads N] [--method auto|theta|...]
//                 [--frequency M] [--explain SERIES_ID] [--dump FILE]
//
// --dump writes every evaluated series' forecast as CSV (series_id, model, step, actual, point,
// p10, p50, p90), for analysis outside the tool.
// --explain prints, instead of the summary, one JSON object with everything the engine reports
// for one series: demand class, seasonality test, outliers, model, parameters, quantiles.
//
// Layout: a header row naming at least series_id, t and value; optional period, frequency,
// horizon and split (train/test). Extra columns are ignored; an empty value is missing. With
// test rows the split is used; otherwise --holdout K takes the last K points of each series as
// the test. Series with a missing value are skipped and counted.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sop/cli/args.hpp"
#include "sop/forecast/engine.hpp"
#include "sop/forecast/metrics.hpp"

namespace {

namespace fc = sop::forecast;

struct Args {
  std::string data;
  bool json = false;
  int holdout = 0;
  int threads = 0;
  int frequency = 0;  // 0: from the file, else 1
  fc::Method method = fc::Method::kAuto;
  std::string explain;
  std::string dump;  // per-series forecasts as CSV
};

constexpr std::string_view kProgram = "forecast-eval";
constexpr std::string_view kUsage =
    "usage: forecast-eval --data FILE [--json] [--holdout K] [--threads N]\n"
    "                     [--method auto|naive|snaive|ses|holt|damped|theta|comb|ets|"
    "croston|sba|tsb|adida] [--frequency M]\n"
    "                     [--explain SERIES_ID] [--dump FILE]\n";

[[noreturn]] void Usage(const std::string& problem) {
  sop::cli::ExitWithProblem(kProgram, kUsage, problem);
}

/// The flags; nothing when the tool should run, else its exit code (--help, a bad flag).
std::optional<int> ParseArgs(int argc, char** argv, Args& args) {
  sop::cli::ArgParser parser(kProgram, kUsage);
  parser.String("--data", &args.data)
      .Switch("--json", &args.json)
      .Int("--holdout", &args.holdout, 1)
      .Int("--threads", &args.threads, 1)
      .Int("--frequency", &args.frequency, 1)
      .Value("--method",
             [&args](std::string_view text) -> std::optional<std::string> {
               auto method = fc::ParseMethod(text);
               if (!method) return method.error().ToString();
               args.method = *method;
               return std::nullopt;
             })
      .String("--explain", &args.explain)
      .String("--dump", &args.dump)
      .Required("--data");
  return parser.Parse(argc, argv);
}

struct Series {
  std::string id;
  std::string period;
  int frequency = 1;
  int horizon = 0;
  std::vector<double> train;
  std::vector<double> test;
  std::vector<double> train_t;  // time index per value, to order rows that come unsorted
  std::vector<double> test_t;
  bool missing = false;
};

/// Orders values by their time index (stable, so files without usable t keep row order).
void SortByTime(std::vector<double>& values, std::vector<double>& times) {
  if (std::is_sorted(times.begin(), times.end())) return;
  std::vector<std::size_t> order(values.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return times[a] < times[b]; });
  std::vector<double> sorted_values(values.size()), sorted_times(values.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    sorted_values[i] = values[order[i]];
    sorted_times[i] = times[order[i]];
  }
  values = std::move(sorted_values);
  times = std::move(sorted_times);
}

std::string_view Unquote(std::string_view field) {
  while (!field.empty() && (field.back() == '\r' || field.back() == ' ')) field.remove_suffix(1);
  if (field.size() >= 2 && field.front() == '"' && field.back() == '"') {
    field = field.substr(1, field.size() - 2);
  }
  return field;
}

/// Reads the long layout; rows may come in any order (each series is ordered by t).
std::vector<Series> ReadSeries(const std::string& path, bool& has_test_rows) {
  std::ifstream file(path, std::ios::binary);
  if (!file) Usage("--data: cannot open '" + path + "'");
  std::stringstream buffer;
  buffer << file.rdbuf();
  const std::string text = buffer.str();
  std::vector<Series> series;
  std::unordered_map<std::string, std::size_t> index;
  int col_id = -1, col_period = -1, col_frequency = -1, col_horizon = -1, col_split = -1,
      col_t = -1, col_value = -1;
  std::vector<std::string_view> fields;
  std::size_t pos = 0;
  bool header = true;
  std::size_t line_number = 0;
  has_test_rows = false;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (Unquote(line).empty()) continue;
    fields.clear();
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = line.find(',', start);
      fields.push_back(Unquote(line.substr(
          start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (header) {
      for (int c = 0; c < static_cast<int>(fields.size()); ++c) {
        const auto name = fields[static_cast<std::size_t>(c)];
        if (name == "series_id") col_id = c;
        if (name == "period") col_period = c;
        if (name == "frequency") col_frequency = c;
        if (name == "horizon") col_horizon = c;
        if (name == "split") col_split = c;
        if (name == "t") col_t = c;
        if (name == "value") col_value = c;
      }
      if (col_id < 0 || col_value < 0) Usage("--data: header needs series_id and value columns");
      header = false;
      continue;
    }
    auto field = [&](int c) -> std::string_view {
      return c >= 0 && static_cast<std::size_t>(c) < fields.size()
                 ? fields[static_cast<std::size_t>(c)]
                 : std::string_view();
    };
    const std::string id(field(col_id));
    auto [it, inserted] = index.try_emplace(id, series.size());
    if (inserted) {
      Series s;
      s.id = id;
      s.period = std::string(field(col_period));
      if (col_frequency >= 0) {
        int frequency = 1;
        const auto f = field(col_frequency);
        std::from_chars(f.data(), f.data() + f.size(), frequency);
        s.frequency = std::max(1, frequency);
      }
      if (col_horizon >= 0) {
        const auto f = field(col_horizon);
        std::from_chars(f.data(), f.data() + f.size(), s.horizon);
      }
      series.push_back(std::move(s));
    }
    Series& s = series[it->second];
    const auto value_text = field(col_value);
    double value = std::numeric_limits<double>::quiet_NaN();
    if (!value_text.empty() && value_text != "NA") {
      const auto [ptr, ec] =
          std::from_chars(value_text.data(), value_text.data() + value_text.size(), value);
      if (ec != std::errc()) {
        Usage("--data: line " + std::to_string(line_number) + ": value '" +
              std::string(value_text) + "' is not a number");
      }
    }
    const bool test = field(col_split) == "test";
    has_test_rows = has_test_rows || test;
    (test ? s.test : s.train).push_back(value);
    double t = static_cast<double>((test ? s.test : s.train).size());
    if (col_t >= 0) {
      const auto t_text = field(col_t);
      std::from_chars(t_text.data(), t_text.data() + t_text.size(), t);
    }
    (test ? s.test_t : s.train_t).push_back(t);
  }
  for (auto& s : series) {
    SortByTime(s.train, s.train_t);
    SortByTime(s.test, s.test_t);
  }
  return series;
}

struct Accumulator {
  int series = 0;
  double smape = 0.0;
  int mase_count = 0;
  double mase = 0.0;
  int rmsse_count = 0;
  double rmsse = 0.0;
  double bias = 0.0;    // Σ(f − y)
  double volume = 0.0;  // Σy
  double abs_error = 0.0;
  double points = 0;
  double covered_p90 = 0;
  double covered_p10_p90 = 0;
};

std::string Number(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}

std::string Array(const std::vector<double>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(Number(values[i]));
  }
  out.push_back(']');
  return out;
}

/// One series' forecast with its explanation, as one JSON object.
void PrintExplanation(const Series& s, const fc::Forecast& f) {
  std::cout << "{\"series_id\":\"" << s.id << "\",\"model\":\"" << f.model << "\",\"params\":{";
  for (std::size_t i = 0; i < f.params.size(); ++i) {
    std::cout << (i > 0 ? "," : "") << "\"" << f.params[i].name
              << "\":" << Number(f.params[i].value);
  }
  std::cout << "},\"demand_class\":\"" << fc::ToString(f.profile.demand_class)
            << "\",\"adi\":" << Number(f.profile.adi) << ",\"cv2\":" << Number(f.profile.cv2)
            << ",\"seasonal\":" << (f.seasonality.seasonal ? "true" : "false")
            << ",\"seasonal_acf\":" << Number(f.seasonality.acf)
            << ",\"seasonal_threshold\":" << Number(f.seasonality.threshold) << ",\"outliers\":[";
  for (std::size_t i = 0; i < f.outliers.size(); ++i) {
    const auto& o = f.outliers[i];
    std::cout << (i > 0 ? "," : "") << "{\"index\":" << o.index << ",\"value\":" << Number(o.value)
              << ",\"expected\":" << Number(o.expected) << ",\"score\":" << Number(o.score) << "}";
  }
  std::cout << "],\"point\":" << Array(f.point) << ",\"p10\":" << Array(f.p10)
            << ",\"p50\":" << Array(f.p50) << ",\"p90\":" << Array(f.p90)
            << ",\"actual\":" << Array(s.test) << "}\n";
}

}  // namespace

int main(int argc, char** argv) {
  const auto started = std::chrono::steady_clock::now();
  Args args;
  if (auto exit_code = ParseArgs(argc, argv, args)) return *exit_code;
  bool has_test_rows = false;
  std::vector<Series> series = ReadSeries(args.data, has_test_rows);
  if (!has_test_rows && args.holdout == 0) {
    Usage("--data has no test rows: give --holdout K to evaluate on the last K points");
  }
  if (args.frequency > 0) {
    for (auto& s : series) s.frequency = args.frequency;
  }
  int skipped = 0;
  std::vector<Series*> usable;
  for (auto& s : series) {
    if (!has_test_rows) {
      // Hold out the last K points.
      const auto k = static_cast<std::size_t>(args.holdout);
      if (s.train.size() <= k) {
        ++skipped;
        continue;
      }
      s.test.assign(s.train.end() - static_cast<std::ptrdiff_t>(k), s.train.end());
      s.train.resize(s.train.size() - k);
    }
    s.horizon = static_cast<int>(s.test.size());
    const auto is_missing = [](double v) { return std::isnan(v); };
    s.missing = std::any_of(s.train.begin(), s.train.end(), is_missing) ||
                std::any_of(s.test.begin(), s.test.end(), is_missing);
    if (s.missing || s.train.empty() || s.test.empty()) {
      ++skipped;
      continue;
    }
    usable.push_back(&s);
  }
  std::vector<fc::SeriesInput> inputs;
  inputs.reserve(usable.size());
  for (const Series* s : usable) {
    inputs.push_back({.history = s->train, .season_length = s->frequency, .horizon = s->horizon});
  }
  fc::ForecastOptions options;
  options.method = args.method;
  const auto forecast_started = std::chrono::steady_clock::now();
  const auto forecasts = fc::ForecastBatch(inputs, options, args.threads);
  const double forecast_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - forecast_started).count();

  if (!args.explain.empty()) {
    for (std::size_t i = 0; i < usable.size(); ++i) {
      if (usable[i]->id != args.explain) continue;
      if (!forecasts[i]) {
        std::cerr << "forecast-eval: " << args.explain << ": " << forecasts[i].error().ToString()
                  << "\n";
        return 1;
      }
      PrintExplanation(*usable[i], *forecasts[i]);
      return 0;
    }
    std::cerr << "forecast-eval: --explain: no evaluable series '" << args.explain << "'\n";
    return 1;
  }
  if (!args.dump.empty()) {
    std::ofstream dump(args.dump, std::ios::binary);
    if (!dump) Usage("--dump: cannot write '" + args.dump + "'");
    dump << "series_id,model,step,actual,point,p10,p50,p90\n";
    for (std::size_t i = 0; i < usable.size(); ++i) {
      if (!forecasts[i]) continue;
      const fc::Forecast& f = *forecasts[i];
      for (std::size_t j = 0; j < usable[i]->test.size(); ++j) {
        dump << usable[i]->id << ",\"" << f.model << "\"," << j + 1 << ","
             << Number(usable[i]->test[j]) << "," << Number(f.point[j]) << "," << Number(f.p10[j])
             << "," << Number(f.p50[j]) << "," << Number(f.p90[j]) << "\n";
      }
    }
  }
  std::map<std::string, Accumulator> by_period;
  int failed = 0;
  std::map<std::string, int> model_counts;
  for (std::size_t i = 0; i < usable.size(); ++i) {
    const Series& s = *usable[i];
    if (!forecasts[i]) {
      ++failed;
      std::cerr << "forecast-eval: " << s.id << ": " << forecasts[i].error().ToString() << "\n";
      continue;
    }
    const fc::Forecast& f = *forecasts[i];
    ++model_counts[f.model.substr(0, f.model.find(" on "))];
    for (const std::string& key : {std::string("ALL"), s.period}) {
      if (key.empty()) continue;
      Accumulator& acc = by_period[key];
      acc.series += 1;
      acc.smape += fc::SMape(s.test, f.point).value_or(0.0);
      if (auto mase = fc::Mase(s.test, f.point, s.train, s.frequency)) {
        acc.mase += *mase;
        acc.mase_count += 1;
      }
      if (auto rmsse = fc::Rmsse(s.test, f.point, s.train)) {
        acc.rmsse += *rmsse;
        acc.rmsse_count += 1;
      }
      for (std::size_t j = 0; j < s.test.size(); ++j) {
        acc.bias += f.point[j] - s.test[j];
        acc.volume += s.test[j];
        acc.abs_error += std::abs(f.point[j] - s.test[j]);
        acc.points += 1;
        acc.covered_p90 += s.test[j] <= f.p90[j] ? 1 : 0;
        acc.covered_p10_p90 += (f.p10[j] <= s.test[j] && s.test[j] <= f.p90[j]) ? 1 : 0;
      }
    }
  }
  const double wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto mean = [](double sum, int count) {
    return count > 0 ? sum / count : std::numeric_limits<double>::quiet_NaN();
  };
  const Accumulator& all = by_period["ALL"];
  const double coverage_p90 = all.points > 0 ? all.covered_p90 / all.points : 0;
  const double coverage_interval = all.points > 0 ? all.covered_p10_p90 / all.points : 0;
  if (args.json) {
    auto object = [&](auto metric) {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, acc] : by_period) {
        out += (first ? "\"" : ",\"") + key + "\":" + metric(acc);
        first = false;
      }
      return out + "}";
    };
    std::cout << "{\"data\":\"" << args.data << "\",\"method\":\"" << fc::ToString(args.method)
              << "\",\"series\":" << all.series << ",\"series_by_period\":"
              << object([](const Accumulator& a) { return std::to_string(a.series); })
              << ",\"skipped\":" << skipped << ",\"failed\":" << failed << ",\"smape\":"
              << object([&](const Accumulator& a) { return Number(mean(a.smape, a.series)); })
              << ",\"mase\":"
              << object([&](const Accumulator& a) { return Number(mean(a.mase, a.mase_count)); })
              << ",\"rmsse\":"
              << object([&](const Accumulator& a) { return Number(mean(a.rmsse, a.rmsse_count)); })
              << ",\"bias\":" << object([&](const Accumulator& a) {
                   return Number(a.volume != 0.0 ? a.bias / a.volume : 0.0);
                 })
              << ",\"wmape\":" << object([&](const Accumulator& a) {
                   return Number(a.volume != 0.0 ? 100.0 * a.abs_error / a.volume : 0.0);
                 })
              << ",\"coverage_p90\":" << Number(coverage_p90)
              << ",\"coverage_p10_p90\":" << Number(coverage_interval)
              << ",\"forecast_seconds\":" << Number(forecast_seconds)
              << ",\"wall_seconds\":" << Number(wall_seconds) << ",\"series_per_second\":"
              << Number(forecast_seconds > 0 ? all.series / forecast_seconds : 0.0)
              << ",\"models\":{";
    bool first = true;
    for (const auto& [model, count] : model_counts) {
      std::cout << (first ? "\"" : ",\"") << model << "\":" << count;
      first = false;
    }
    std::cout << "}}\n";
  } else {
    std::printf("%-12s %7s %8s %8s %8s %9s %8s\n", "period", "series", "sMAPE", "MASE", "RMSSE",
                "bias%", "WMAPE%");
    for (const auto& [key, a] : by_period) {
      std::printf("%-12s %7d %8.3f %8.3f %8.3f %9.2f %8.2f\n", key.c_str(), a.series,
                  mean(a.smape, a.series), mean(a.mase, a.mase_count), mean(a.rmsse, a.rmsse_count),
                  a.volume != 0.0 ? 100.0 * a.bias / a.volume : 0.0,
                  a.volume != 0.0 ? 100.0 * a.abs_error / a.volume : 0.0);
    }
    std::printf("skipped %d (missing values or too short), failed %d\n", skipped, failed);
    std::printf("coverage P90 %.3f, P10-P90 %.3f\n", coverage_p90, coverage_interval);
    std::printf("wall %.3f s (forecast %.3f s, %.0f series/s)\n", wall_seconds, forecast_seconds,
                forecast_seconds > 0 ? all.series / forecast_seconds : 0.0);
    std::printf("models:");
    for (const auto& [model, count] : model_counts) std::printf(" %s=%d", model.c_str(), count);
    std::printf("\n");
  }
  return failed > 0 ? 1 : 0;
}
