#pragma once
// Reading Prometheus text exposition (what the services serve on /metrics): sums of a metric's
// samples and quantiles of a histogram, with an optional label filter.

#include <map>
#include <string>
#include <string_view>

namespace sop::bench {

/// Sum of every sample of `metric` (exact name) whose label set contains `label_filter`
/// (e.g. `topic="sop.facts.v1"`; empty = any); 0 without samples.
double SumSamples(std::string_view text, std::string_view metric,
                  std::string_view label_filter = {});

/// Cumulative bucket counts of histogram `metric` by upper bound (le), summed over label sets.
std::map<double, double> HistogramBuckets(std::string_view text, std::string_view metric);

/// The upper bound of the first bucket whose count reaches q × total of `after - before`
/// (so only observations between two scrapes count); +inf when it lies in the last bucket,
/// -1 when there were no observations.
double BucketQuantile(const std::map<double, double>& before, const std::map<double, double>& after,
                      double q);

}  // namespace sop::bench
