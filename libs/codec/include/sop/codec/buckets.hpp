#pragma once
/// Time → planning buckets: the bucket grid of a PlanningSettings message, lead times and fences
/// in buckets, and calendars expanded to available hours per bucket.
///
/// Rules (documented in README.md):
/// - A timestamp before bucket 0 maps to bucket 0 (past due); at or after bucket H it is outside
///   the horizon (BucketOf returns a value ≥ H; callers report and drop it).
/// - Durations in days (lead times, fences) become whole buckets rounded UP: 1 day in weekly
///   buckets is 1 bucket, 7 days is 1, 8 days is 2, 0 days is 0. A month bucket counts as
///   365.25 / 12 days for this rounding.
/// - Month buckets start on the plan start's day of month (clamped to the month's last day).

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "sop/model/records.hpp"

namespace sop::v1 {
class WorkCalendar;
}  // namespace sop::v1

namespace sop::codec {

using Seconds = std::chrono::sys_seconds;

/// Where each bucket begins. Immutable value; cheap to copy; thread-safe for reads.
class BucketGrid {
 public:
  BucketGrid(Seconds plan_start, model::BucketKind kind, std::int32_t buckets);

  Seconds plan_start() const noexcept { return plan_start_; }
  model::BucketKind kind() const noexcept { return kind_; }
  std::int32_t buckets() const noexcept { return buckets_; }

  /// Start of bucket b (0 ≤ b ≤ H; b = H is the end of the horizon).
  Seconds BucketStart(std::int32_t b) const;
  /// The bucket holding `t`: 0 for anything before the plan start, ≥ H past the horizon
  /// (exactly H for any time at or after the end of the horizon).
  std::int32_t BucketOf(Seconds t) const;
  /// Whether `t` lies before bucket 0 (past due).
  bool IsPastDue(Seconds t) const noexcept { return t < plan_start_; }
  /// Whether `t` lies at or after the end of bucket H − 1.
  bool IsOutsideHorizon(Seconds t) const { return BucketOf(t) >= buckets_; }
  /// A duration in days as whole buckets, rounded up (negative input → negative, rounded away
  /// from zero, so the builder can report it).
  std::int32_t DaysToBuckets(double days) const;
  /// Nominal length of one bucket in days (1, 7, or 365.25/12).
  double BucketDays() const noexcept;

 private:
  Seconds plan_start_;
  model::BucketKind kind_;
  std::int32_t buckets_;
  std::vector<Seconds> starts_;  // H + 1 boundaries
};

/// Working hours of one resource per bucket from a calendar: for each day of the bucket, the sum
/// of the shift hours if the ISO weekday is a working day and the day is not a holiday.
/// Days are UTC dates (the proto's date-only convention: midnight UTC).
std::vector<double> CalendarHours(const sop::v1::WorkCalendar& calendar, const BucketGrid& grid);

}  // namespace sop::codec
