#pragma once
/// Rough-cut load as the capacity service shows and publishes it: planning::CapacityPlan rows →
/// sop.v1.WorkCenterLoad, and the diff that turns a new capacity plan into sop.v1.CapacityDelta
/// messages for the work-center buckets that changed. Pure (no I/O).

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/model/snapshot.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/v1/capacity.pb.h"
#include "sop/v1/planning.pb.h"

namespace sop::capacity {

/// Contributions reported per work center when the caller does not say.
inline constexpr std::size_t kDefaultTopContributions = 5;

/// Fills `out` with work center `wc`'s rows over buckets [from, to) of `capacity` (computed by
/// planning::RoughCut over `snapshot`): load (hours required), capacity (available: calendar
/// hours × efficiency), overload, utilization, the overtime limit, the first overloaded bucket
/// (absolute, over the whole horizon) and the `top` largest contributions to that bucket.
/// Requires 0 <= from <= to <= H and a valid `wc`.
void FillWorkCenterLoad(const model::Snapshot& snapshot, const planning::CapacityPlan& capacity,
                        model::WorkCenterIndex wc, model::Bucket from, model::Bucket to,
                        std::size_t top, sop::v1::WorkCenterLoad& out);

/// GetLoad: every work center of `request.site_id()` (or the one named) over the requested
/// bucket window. INVALID_ARGUMENT for an empty site or a bad window (naming the field and
/// value); NOT_FOUND for a site not in `snapshot` or a work center not at that site.
Result<sop::v1::GetLoadResponse> GetLoad(const model::Snapshot& snapshot,
                                         const planning::CapacityPlan& capacity,
                                         const sop::v1::GetLoadRequest& request);

/// Remembers the rows last published per work center and turns each new capacity plan into
/// CapacityDelta messages (one per site, key = site) holding only the work centers with a
/// changed bucket (complete rows, `changed_buckets` naming the buckets). The first plan, and
/// every plan after Reset(), is published in full.
///
/// Threads: not thread-safe (the service's state lock serializes it). Errors: none.
/// Lifetime: plain object; holds copies of the last published rows (work centers × H doubles).
class LoadPublisher {
 public:
  /// Work centers per delta at most (a full site is split into several deltas).
  explicit LoadPublisher(std::size_t max_work_centers_per_delta = 50);

  /// Deltas for what changed between the last published plan and `capacity`. `full` publishes
  /// every work center of every site regardless. Sites and work centers are named by id, so a
  /// rebuilt snapshot with other indices compares correctly.
  std::vector<sop::v1::CapacityDelta> Update(const model::Snapshot& snapshot,
                                             const planning::CapacityPlan& capacity,
                                             const sop::v1::Cause& cause, std::int64_t plan_version,
                                             bool full);

  /// Forgets what was published: the next Update publishes everything.
  void Reset() { published_.clear(); }
  /// Forgets the work centers of one site (a partition given up).
  void ForgetSite(std::string_view site_id);

 private:
  struct Rows {
    std::string site_id;
    std::vector<double> load_hours;
    std::vector<double> capacity_hours;
  };
  std::size_t max_per_delta_;
  std::map<std::string, Rows, std::less<>> published_;  ///< by work center id
};

/// Totals of one capacity plan, for metrics and logs.
struct LoadTotals {
  double load_hours = 0.0;
  double capacity_hours = 0.0;
  double overload_hours = 0.0;
  std::size_t overloaded_buckets = 0;
};
LoadTotals Totals(const planning::CapacityPlan& capacity);

}  // namespace sop::capacity
