#include "sop/codec/buckets.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "sop/v1/events.pb.h"

namespace sop::codec {
namespace {

using std::chrono::days;
using std::chrono::sys_days;

constexpr double kMonthDays = 365.25 / 12.0;

// plan start + k months, on the same day of month clamped to the month's end, same time of day.
Seconds AddMonths(Seconds start, std::int32_t k) {
  const sys_days day = std::chrono::floor<days>(start);
  const auto time_of_day = start - day;
  const std::chrono::year_month_day ymd{day};
  const auto ym = std::chrono::year_month{ymd.year(), ymd.month()} + std::chrono::months{k};
  const std::chrono::year_month_day_last last{ym.year(), std::chrono::month_day_last{ym.month()}};
  const auto dom = std::min(ymd.day(), last.day());
  return sys_days{ym.year() / ym.month() / dom} + time_of_day;
}

}  // namespace

BucketGrid::BucketGrid(Seconds plan_start, model::BucketKind kind, std::int32_t buckets)
    : plan_start_(plan_start), kind_(kind), buckets_(std::max(buckets, 1)) {
  starts_.reserve(static_cast<std::size_t>(buckets_) + 1);
  for (std::int32_t b = 0; b <= buckets_; ++b) {
    switch (kind_) {
      case model::BucketKind::kDay: starts_.push_back(plan_start_ + days{b}); break;
      case model::BucketKind::kWeek: starts_.push_back(plan_start_ + days{7 * b}); break;
      case model::BucketKind::kMonth: starts_.push_back(AddMonths(plan_start_, b)); break;
    }
  }
}

Seconds BucketGrid::BucketStart(std::int32_t b) const {
  return starts_[static_cast<std::size_t>(std::clamp(b, 0, buckets_))];
}

std::int32_t BucketGrid::BucketOf(Seconds t) const {
  if (t < starts_.front()) return 0;
  if (t >= starts_.back()) return buckets_;
  // The last boundary ≤ t.
  const auto it = std::upper_bound(starts_.begin(), starts_.end(), t);
  return static_cast<std::int32_t>(it - starts_.begin()) - 1;
}

double BucketGrid::BucketDays() const noexcept {
  switch (kind_) {
    case model::BucketKind::kDay: return 1.0;
    case model::BucketKind::kWeek: return 7.0;
    case model::BucketKind::kMonth: return kMonthDays;
  }
  return 7.0;
}

std::int32_t BucketGrid::DaysToBuckets(double d) const {
  if (!std::isfinite(d)) return 0;
  // A tolerance so that 7.0000000001 days (float noise from an ERP) is still one week.
  const double buckets = std::ceil(std::abs(d) / BucketDays() - 1e-9);
  const double capped = std::min(buckets, 1e6);
  return static_cast<std::int32_t>(d < 0 ? -capped : capped);
}

std::vector<double> CalendarHours(const sop::v1::WorkCalendar& calendar, const BucketGrid& grid) {
  double hours_per_day = 0.0;
  for (const auto& shift : calendar.shifts()) {
    if (std::isfinite(shift.hours()) && shift.hours() > 0.0) hours_per_day += shift.hours();
  }
  bool working[8] = {};
  for (int wd : calendar.working_weekdays()) {
    if (wd >= 1 && wd <= 7) working[wd] = true;
  }
  std::unordered_set<std::int64_t> holidays;
  for (const auto& h : calendar.holidays()) {
    holidays.insert(std::chrono::floor<days>(Seconds{std::chrono::seconds{h.seconds()}}).time_since_epoch().count());
  }
  std::vector<double> hours(static_cast<std::size_t>(grid.buckets()), 0.0);
  for (std::int32_t b = 0; b < grid.buckets(); ++b) {
    const sys_days first = std::chrono::floor<days>(grid.BucketStart(b));
    const sys_days end = std::chrono::floor<days>(grid.BucketStart(b + 1));
    double total = 0.0;
    for (sys_days day = first; day < end; day += days{1}) {
      const unsigned wd = std::chrono::weekday{day}.iso_encoding();
      if (working[wd] && !holidays.contains(day.time_since_epoch().count())) total += hours_per_day;
    }
    hours[static_cast<std::size_t>(b)] = total;
  }
  return hours;
}

}  // namespace sop::codec
