#pragma once
/// Forecast hierarchies: item-site series aggregated to family and to site, family forecasts
/// disaggregated to item-sites by historical shares, and a reconciled set whose levels add up.
///
/// Reconciliation rule: bottom-up. The item-site forecasts are the reconciled bottom level and
/// every family, site and the total are their sums, so all levels add up exactly. When a planner
/// prefers the family-level statistical forecast (usually smoother), `DisaggregateByShares`
/// turns it into item-site forecasts first (proportional top-down), and the bottom-up sums of
/// that set again add up. Quantiles do not add up across levels and are not reconciled.
///
/// Pure functions, thread-safe. Errors: kInvalidArgument when a series has a different length
/// than the others, or a group index is out of range.

#include <span>
#include <vector>

#include "sop/model/error.hpp"

namespace sop::forecast {

/// Sums of the member series per group: result[g][t] = Σ_{i: group_of[i]==g} series[i][t].
Result<std::vector<std::vector<double>>> AggregateByGroup(
    std::span<const std::vector<double>> series, std::span<const int> group_of, int group_count);

/// Share of each member in its group's total over the last `window` periods of history
/// (all of it when window ≤ 0). A group with zero total splits equally among its members.
Result<std::vector<double>> HistoricalShares(std::span<const std::vector<double>> history,
                                             std::span<const int> group_of, int group_count,
                                             int window);

/// Member forecast = group forecast × member share.
Result<std::vector<std::vector<double>>> DisaggregateByShares(
    std::span<const std::vector<double>> group_forecasts, std::span<const double> shares,
    std::span<const int> group_of);

/// A coherent set: item-site forecasts and their family, site and total sums.
struct ReconciledForecasts {
  std::vector<std::vector<double>> item_site;
  std::vector<std::vector<double>> family;
  std::vector<std::vector<double>> site;
  std::vector<double> total;
};

/// Bottom-up reconciliation of item-site forecasts given each one's family and site.
Result<ReconciledForecasts> ReconcileBottomUp(std::span<const std::vector<double>> item_site,
                                              std::span<const int> family_of, int family_count,
                                              std::span<const int> site_of, int site_count);

}  // namespace sop::forecast
