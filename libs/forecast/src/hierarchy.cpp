#include "sop/forecast/hierarchy.hpp"

#include <cstddef>
#include <string>

namespace sop::forecast {
namespace {

Status CheckGroups(std::size_t series_count, std::span<const int> group_of, int group_count) {
  if (group_of.size() != series_count) {
    return Fail(Errc::kInvalidArgument, "group_of: has " + std::to_string(group_of.size()) +
                                            " entries for " + std::to_string(series_count) +
                                            " series");
  }
  for (std::size_t i = 0; i < group_of.size(); ++i) {
    if (group_of[i] < 0 || group_of[i] >= group_count) {
      return InvalidField("group_of[" + std::to_string(i) + "]",
                          "must be in [0, " + std::to_string(group_count) + ")",
                          std::to_string(group_of[i]));
    }
  }
  return {};
}

Status CheckLengths(std::span<const std::vector<double>> series) {
  for (std::size_t i = 1; i < series.size(); ++i) {
    if (series[i].size() != series[0].size()) {
      return InvalidField("series[" + std::to_string(i) + "]",
                          "length must equal series[0] length " + std::to_string(series[0].size()),
                          std::to_string(series[i].size()));
    }
  }
  return {};
}

}  // namespace

Result<std::vector<std::vector<double>>> AggregateByGroup(
    std::span<const std::vector<double>> series, std::span<const int> group_of, int group_count) {
  if (auto ok = CheckGroups(series.size(), group_of, group_count); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = CheckLengths(series); !ok) return std::unexpected(ok.error());
  const std::size_t length = series.empty() ? 0 : series[0].size();
  std::vector<std::vector<double>> groups(static_cast<std::size_t>(group_count),
                                          std::vector<double>(length, 0.0));
  for (std::size_t i = 0; i < series.size(); ++i) {
    auto& group = groups[static_cast<std::size_t>(group_of[i])];
    for (std::size_t t = 0; t < length; ++t) group[t] += series[i][t];
  }
  return groups;
}

Result<std::vector<double>> HistoricalShares(std::span<const std::vector<double>> history,
                                             std::span<const int> group_of, int group_count,
                                             int window) {
  if (auto ok = CheckGroups(history.size(), group_of, group_count); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = CheckLengths(history); !ok) return std::unexpected(ok.error());
  const std::size_t length = history.empty() ? 0 : history[0].size();
  const std::size_t from =
      window > 0 && static_cast<std::size_t>(window) < length ? length - static_cast<std::size_t>(window) : 0;
  std::vector<double> member_total(history.size(), 0.0);
  std::vector<double> group_total(static_cast<std::size_t>(group_count), 0.0);
  std::vector<int> group_size(static_cast<std::size_t>(group_count), 0);
  for (std::size_t i = 0; i < history.size(); ++i) {
    for (std::size_t t = from; t < length; ++t) member_total[i] += history[i][t];
    const auto g = static_cast<std::size_t>(group_of[i]);
    group_total[g] += member_total[i];
    group_size[g] += 1;
  }
  std::vector<double> shares(history.size(), 0.0);
  for (std::size_t i = 0; i < history.size(); ++i) {
    const auto g = static_cast<std::size_t>(group_of[i]);
    shares[i] = group_total[g] > 0.0 ? member_total[i] / group_total[g]
                                     : 1.0 / static_cast<double>(group_size[g]);
  }
  return shares;
}

Result<std::vector<std::vector<double>>> DisaggregateByShares(
    std::span<const std::vector<double>> group_forecasts, std::span<const double> shares,
    std::span<const int> group_of) {
  if (shares.size() != group_of.size()) {
    return Fail(Errc::kInvalidArgument, "shares: has " + std::to_string(shares.size()) +
                                            " entries for " + std::to_string(group_of.size()) +
                                            " members");
  }
  if (auto ok = CheckGroups(group_of.size(), group_of, static_cast<int>(group_forecasts.size()));
      !ok) {
    return std::unexpected(ok.error());
  }
  std::vector<std::vector<double>> members(group_of.size());
  for (std::size_t i = 0; i < group_of.size(); ++i) {
    const auto& group = group_forecasts[static_cast<std::size_t>(group_of[i])];
    members[i].resize(group.size());
    for (std::size_t t = 0; t < group.size(); ++t) members[i][t] = group[t] * shares[i];
  }
  return members;
}

Result<ReconciledForecasts> ReconcileBottomUp(std::span<const std::vector<double>> item_site,
                                              std::span<const int> family_of, int family_count,
                                              std::span<const int> site_of, int site_count) {
  auto family = AggregateByGroup(item_site, family_of, family_count);
  if (!family) return std::unexpected(family.error());
  auto site = AggregateByGroup(item_site, site_of, site_count);
  if (!site) return std::unexpected(site.error());
  ReconciledForecasts out;
  out.item_site.assign(item_site.begin(), item_site.end());
  out.family = std::move(*family);
  out.site = std::move(*site);
  const std::size_t length = item_site.empty() ? 0 : item_site[0].size();
  out.total.assign(length, 0.0);
  for (const auto& series : item_site) {
    for (std::size_t t = 0; t < length; ++t) out.total[t] += series[t];
  }
  return out;
}

}  // namespace sop::forecast
