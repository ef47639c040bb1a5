#pragma once
/// Dense indices of the planning model. Every entity the planner touches in a hot loop is
/// addressed by a small integer into flat arrays; strings live only in the id dictionaries at the
/// edge. Indices are strong types so an item-site index cannot be passed where a site index is
/// expected. Buckets stay plain `std::int32_t` because the netting loop does arithmetic on them
/// (t − lead time, t + periods) on every step.

#include <cstdint>

#include "sop/model/strong_id.hpp"

namespace sop::model {

using SiteIndex = StrongId<std::int32_t, struct SiteIndexTag>;
using ItemSiteIndex = StrongId<std::int32_t, struct ItemSiteIndexTag>;
using WorkCenterIndex = StrongId<std::int32_t, struct WorkCenterIndexTag>;
using SalesOrderIndex = StrongId<std::int32_t, struct SalesOrderIndexTag>;
using ReceiptIndex = StrongId<std::int32_t, struct ReceiptIndexTag>;

/// A planning bucket 0..H−1; bucket 0 is the current period.
using Bucket = std::int32_t;
/// The longest horizon: pegs store buckets in 16 bits (13 M pegs at L). 32,767 weekly buckets
/// are 630 years; the builder clamps a longer horizon, CheckSnapshot rejects it.
inline constexpr Bucket kMaxBuckets = 32767;

inline constexpr SiteIndex kNoSite{-1};
inline constexpr ItemSiteIndex kNoItemSite{-1};
inline constexpr WorkCenterIndex kNoWorkCenter{-1};

/// Effectivity bounds meaning "always" / "forever" for BOM lines.
inline constexpr Bucket kBeginningOfTime = INT32_MIN;
inline constexpr Bucket kEndOfTime = INT32_MAX;

}  // namespace sop::model
