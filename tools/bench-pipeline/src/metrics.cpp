#include "metrics.hpp"

#include <charconv>
#include <cstdlib>
#include <limits>
#include <string>

namespace sop::bench {

namespace {

// Calls `visit(labels, value)` for each sample line of exactly `metric`.
template <class Visit>
void ForEachSample(std::string_view text, std::string_view metric, Visit&& visit) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line.front() == '#' || !line.starts_with(metric)) continue;
    const std::string_view rest = line.substr(metric.size());
    std::string_view labels;
    std::string_view value_text;
    if (!rest.empty() && rest.front() == '{') {
      const std::size_t close = rest.find('}');
      if (close == std::string_view::npos) continue;
      labels = rest.substr(1, close - 1);
      value_text = rest.substr(close + 1);
    } else if (!rest.empty() && rest.front() == ' ') {
      value_text = rest;
    } else {
      continue;  // another metric with this one's name as prefix
    }
    while (!value_text.empty() && value_text.front() == ' ') value_text.remove_prefix(1);
    const std::size_t space = value_text.find(' ');  // an optional timestamp follows
    const std::string number(value_text.substr(0, space));
    char* parsed_end = nullptr;
    const double value = std::strtod(number.c_str(), &parsed_end);
    if (parsed_end == number.c_str()) continue;
    visit(labels, value);
  }
}

}  // namespace

double SumSamples(std::string_view text, std::string_view metric, std::string_view label_filter) {
  double sum = 0;
  ForEachSample(text, metric, [&](std::string_view labels, double value) {
    if (label_filter.empty() || labels.find(label_filter) != std::string_view::npos) sum += value;
  });
  return sum;
}

std::map<double, double> HistogramBuckets(std::string_view text, std::string_view metric) {
  std::map<double, double> buckets;
  const std::string name = std::string(metric) + "_bucket";
  ForEachSample(text, name, [&](std::string_view labels, double value) {
    const std::size_t at = labels.find("le=\"");
    if (at == std::string_view::npos) return;
    const std::string_view bound = labels.substr(at + 4, labels.find('"', at + 4) - (at + 4));
    const double le = bound == "+Inf" ? std::numeric_limits<double>::infinity()
                                      : std::strtod(std::string(bound).c_str(), nullptr);
    buckets[le] += value;
  });
  return buckets;
}

double BucketQuantile(const std::map<double, double>& before, const std::map<double, double>& after,
                      double q) {
  if (after.empty()) return -1;
  auto count_at = [](const std::map<double, double>& buckets, double le) {
    const auto found = buckets.find(le);
    return found == buckets.end() ? 0.0 : found->second;
  };
  const double total = after.rbegin()->second - count_at(before, after.rbegin()->first);
  if (total <= 0) return -1;
  for (const auto& [le, cumulative] : after) {
    if (cumulative - count_at(before, le) >= q * total) return le;
  }
  return std::numeric_limits<double>::infinity();
}

}  // namespace sop::bench
