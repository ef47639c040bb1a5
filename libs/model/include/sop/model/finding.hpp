#pragma once
/// Findings: what the builder and the planner report instead of crashing or silently dropping.

#include <cstdint>
#include <string>
#include <string_view>

#include "sop/model/ids.hpp"

namespace sop::model {

/// The kind of a finding (NETTING.md names them in capitals).
enum class FindingType : std::uint8_t {
  kDataQuality,       ///< bad master data: cycle, missing component, negative lead time, ...
  kShortage,          ///< inside the frozen fence projected available falls below zero
  kBelowSafetyStock,  ///< inside the frozen fence projected available is in [0, SS)
  kPastDueRelease,    ///< a planned order would have to be released before bucket 0: expedite
  kOutsideHorizon,    ///< input dated at or after bucket H: ignored, reported
};

constexpr std::string_view ToString(FindingType type) noexcept {
  switch (type) {
    case FindingType::kDataQuality:
      return "DATA_QUALITY";
    case FindingType::kShortage:
      return "SHORTAGE";
    case FindingType::kBelowSafetyStock:
      return "BELOW_SAFETY_STOCK";
    case FindingType::kPastDueRelease:
      return "PAST_DUE_RELEASE";
    case FindingType::kOutsideHorizon:
      return "OUTSIDE_HORIZON";
  }
  return "UNKNOWN";
}

/// One finding. `item_site` is kNoItemSite when the finding is about an entity that could not be
/// resolved (then `subject` names it as text); `bucket` is −1 when not about a bucket.
/// `field` names the offending input field for DATA_QUALITY findings (e.g. "lead_time").
struct Finding {
  FindingType type = FindingType::kDataQuality;
  ItemSiteIndex item_site = kNoItemSite;
  Bucket bucket = -1;
  double quantity = 0.0;
  std::string subject;  ///< "item@site" or another entity id, for people
  std::string field;
  std::string message;
};

}  // namespace sop::model
