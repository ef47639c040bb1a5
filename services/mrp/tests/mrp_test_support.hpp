#pragma once
// Shared by the mrp tests: one generated S-scale event stream, Fact wrapping, and the plan
// libs/codec + libs/planning compute directly on the same events (the reference), from
// sop::service_testing (services/testing); the plan comparisons are mrp's own.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "sop/mrp/planner.hpp"
#include "sop/planning/netting.hpp"
#include "sop/service_testing/facts.hpp"

namespace sop::mrp::testing {

// The generated S-scale stream, Fact wrapping and the reference plan: sop::service_testing.
using service_testing::FactBytes;

inline const std::vector<sop::v1::Envelope>& Events() {
  return service_testing::SEvents();
}

// Site → one of three partitions, as a keyed topic would spread them.
inline PartitionKey KeyOf(const sop::v1::Envelope& envelope) {
  return {"sop.facts.v1", service_testing::PartitionOf(envelope)};
}

inline std::unique_ptr<planning::NettingEngine> Direct(
    const std::vector<sop::v1::Envelope>& events) {
  return service_testing::ReferencePlan(events);
}

// Number of item-sites whose records or planned-order counts differ (0 = the same plan).
inline int Mismatches(const planning::NettingEngine& actual,
                      const planning::NettingEngine& expected) {
  const auto& es = expected.snapshot();
  const auto& as = actual.snapshot();
  int mismatches = 0;
  if (as.item_site_count() != es.item_site_count()) return -1;
  for (std::size_t i = 0; i < es.item_site_count(); ++i) {
    const model::ItemSiteIndex ei(static_cast<std::int32_t>(i));
    const auto& is = es.item_sites[i];
    auto ai = as.FindItemSite(is.item_id, es.sites[static_cast<std::size_t>(is.site.value())].id);
    if (!ai) {
      ++mismatches;
      continue;
    }
    bool same = expected.plan().orders[i].size() ==
                actual.plan().orders[static_cast<std::size_t>(ai->value())].size();
    auto row_same = [&](const std::vector<double>& e_rows, const std::vector<double>& a_rows) {
      auto er = expected.plan().Row(e_rows, ei);
      auto ar = actual.plan().Row(a_rows, *ai);
      for (std::size_t b = 0; b < er.size(); ++b) {
        if (std::abs(er[b] - ar[b]) > 1e-6 * std::max(1.0, std::abs(er[b]))) return false;
      }
      return true;
    };
    same = same && row_same(expected.plan().gross_requirements, actual.plan().gross_requirements);
    same = same && row_same(expected.plan().scheduled_receipts, actual.plan().scheduled_receipts);
    same = same && row_same(expected.plan().projected_available, actual.plan().projected_available);
    same = same && row_same(expected.plan().net_requirements, actual.plan().net_requirements);
    same = same && row_same(expected.plan().planned_receipts, actual.plan().planned_receipts);
    same = same && row_same(expected.plan().planned_releases, actual.plan().planned_releases);
    if (!same) ++mismatches;
  }
  return mismatches;
}

// Whether a served/published record has the reference's six rows and planned-order count.
inline bool RecordMatches(const sop::v1::ItemSitePlan& record, const planning::Plan& plan,
                          model::ItemSiteIndex i) {
  auto same = [&](const google::protobuf::RepeatedField<double>& served,
                  const std::vector<double>& rows) {
    auto row = plan.Row(rows, i);
    if (static_cast<std::size_t>(served.size()) != row.size()) return false;
    for (std::size_t b = 0; b < row.size(); ++b) {
      if (std::abs(served[static_cast<int>(b)] - row[b]) > 1e-6 * std::max(1.0, std::abs(row[b]))) {
        return false;
      }
    }
    return true;
  };
  return same(record.gross_requirements(), plan.gross_requirements) &&
         same(record.scheduled_receipts(), plan.scheduled_receipts) &&
         same(record.projected_available(), plan.projected_available) &&
         same(record.net_requirements(), plan.net_requirements) &&
         same(record.planned_receipts(), plan.planned_receipts) &&
         same(record.planned_releases(), plan.planned_releases) &&
         static_cast<std::size_t>(record.planned_orders_size()) ==
             plan.orders[static_cast<std::size_t>(i.value())].size();
}

}  // namespace sop::mrp::testing
