#include "sop/capacity/loads.hpp"

#include <algorithm>
#include <cmath>

namespace sop::capacity {
namespace {

std::size_t Index(std::int32_t value) {
  return static_cast<std::size_t>(value);
}

// Rough-cut is deterministic, so unchanged cells are bitwise equal; the tolerance only keeps
// re-associated sums of a rebuild (1e-13 h) from counting as changes.
bool Same(double a, double b) {
  return std::abs(a - b) <= 1e-9 * std::max(1.0, std::max(std::abs(a), std::abs(b)));
}

std::string OrderRef(const model::Snapshot& snapshot, const planning::SupplyRef& supply) {
  if (supply.kind == planning::SupplyKind::kScheduledReceipt && supply.index >= 0 &&
      Index(supply.index) < snapshot.receipts.size()) {
    return snapshot.receipts[Index(supply.index)].id;
  }
  return "planned:" + std::to_string(supply.index);
}

template <class Field>
void CopyRange(std::span<const double> row, model::Bucket from, model::Bucket to, Field* out) {
  out->Reserve(to - from);
  for (model::Bucket t = from; t < to; ++t) out->Add(row[Index(t)]);
}

}  // namespace

void FillWorkCenterLoad(const model::Snapshot& snapshot, const planning::CapacityPlan& capacity,
                        model::WorkCenterIndex wc, model::Bucket from, model::Bucket to,
                        std::size_t top, sop::v1::WorkCenterLoad& out) {
  const model::WorkCenter& center = snapshot.work_centers[Index(wc.value())];
  out.set_work_center_id(center.id);
  out.set_site_id(snapshot.sites[Index(center.site.value())].id);
  out.set_name(center.name);
  out.set_overtime_max_hours(center.overtime_max_hours_per_bucket);
  out.set_from_bucket(from);
  CopyRange(capacity.Row(capacity.load_hours, wc), from, to, out.mutable_load_hours());
  CopyRange(capacity.Row(capacity.capacity_hours, wc), from, to, out.mutable_capacity_hours());
  CopyRange(capacity.Row(capacity.overload_hours, wc), from, to, out.mutable_overload_hours());
  CopyRange(capacity.Row(capacity.utilization, wc), from, to, out.mutable_utilization());
  const model::Bucket first = capacity.first_overloaded_bucket[Index(wc.value())];
  out.set_first_overloaded_bucket(first);
  if (first < 0 || top == 0) return;
  // Overloads are sorted by work center, then bucket: the first one of `wc` is its first bucket.
  const auto it = std::lower_bound(
      capacity.overloads.begin(), capacity.overloads.end(), wc,
      [](const planning::Overload& o, model::WorkCenterIndex w) { return o.work_center < w; });
  if (it == capacity.overloads.end() || it->work_center != wc) return;
  const std::size_t n = std::min(top, it->contributions.size());
  for (std::size_t k = 0; k < n; ++k) {
    const planning::LoadContribution& c = it->contributions[k];
    auto* contribution = out.add_top_contributions();
    contribution->set_item_id(snapshot.item_sites[Index(c.item_site.value())].item_id);
    contribution->set_order_ref(OrderRef(snapshot, c.supply));
    contribution->set_hours(c.hours);
  }
}

Result<sop::v1::GetLoadResponse> GetLoad(const model::Snapshot& snapshot,
                                         const planning::CapacityPlan& capacity,
                                         const sop::v1::GetLoadRequest& request) {
  if (request.site_id().empty()) return InvalidField("site_id", "must not be empty", "");
  const auto site = snapshot.site_ids.Find(request.site_id());
  if (!site) {
    return Fail(Errc::kNotFound,
                "site '" + request.site_id() + "' is not planned by this capacity replica");
  }
  const model::Bucket horizon = snapshot.H();
  if (request.from_bucket() < 0 || request.from_bucket() >= horizon) {
    return InvalidField("from_bucket", "must be in [0, " + std::to_string(horizon) + ")",
                        std::to_string(request.from_bucket()));
  }
  const model::Bucket to = request.to_bucket() == 0 ? horizon : request.to_bucket();
  if (to <= request.from_bucket() || to > horizon) {
    return InvalidField(
        "to_bucket", "must be 0 (horizon end) or in (from_bucket, " + std::to_string(horizon) + "]",
        std::to_string(request.to_bucket()));
  }
  if (request.top_contributions() < 0) {
    return InvalidField("top_contributions", "must be >= 0",
                        std::to_string(request.top_contributions()));
  }
  const std::size_t top = request.top_contributions() == 0
                              ? kDefaultTopContributions
                              : static_cast<std::size_t>(request.top_contributions());

  sop::v1::GetLoadResponse response;
  response.set_horizon(horizon);
  if (!request.work_center_id().empty()) {
    const auto wc = snapshot.work_center_ids.Find(request.work_center_id());
    if (!wc || snapshot.work_centers[Index(*wc)].site.value() != *site) {
      return Fail(Errc::kNotFound, "work center '" + request.work_center_id() +
                                       "' is not a work center of site '" + request.site_id() +
                                       "'");
    }
    FillWorkCenterLoad(snapshot, capacity, model::WorkCenterIndex(*wc), request.from_bucket(), to,
                       top, *response.add_work_centers());
    return response;
  }
  // Work centers of the site in id order (stable for people and diffs).
  std::vector<std::size_t> of_site;
  for (std::size_t k = 0; k < snapshot.work_centers.size(); ++k) {
    if (snapshot.work_centers[k].site.value() == *site) of_site.push_back(k);
  }
  std::sort(of_site.begin(), of_site.end(), [&](std::size_t a, std::size_t b) {
    return snapshot.work_centers[a].id < snapshot.work_centers[b].id;
  });
  for (std::size_t k : of_site) {
    FillWorkCenterLoad(snapshot, capacity, model::WorkCenterIndex(static_cast<std::int32_t>(k)),
                       request.from_bucket(), to, top, *response.add_work_centers());
  }
  return response;
}

LoadPublisher::LoadPublisher(std::size_t max_work_centers_per_delta)
    : max_per_delta_(std::max<std::size_t>(1, max_work_centers_per_delta)) {}

std::vector<sop::v1::CapacityDelta> LoadPublisher::Update(const model::Snapshot& snapshot,
                                                          const planning::CapacityPlan& capacity,
                                                          const sop::v1::Cause& cause,
                                                          std::int64_t plan_version, bool full) {
  const model::Bucket horizon = capacity.horizon;
  // Per site (in id order), the changed work centers (in id order) with their changed buckets.
  std::map<std::string, std::map<std::string, std::pair<std::size_t, std::vector<std::int32_t>>>>
      changed;
  std::map<std::string, bool> site_all;  // every work center of the site published in full
  for (std::size_t k = 0; k < capacity.work_center_count; ++k) {
    const model::WorkCenter& center = snapshot.work_centers[k];
    const std::string& site_id = snapshot.sites[Index(center.site.value())].id;
    const model::WorkCenterIndex wc(static_cast<std::int32_t>(k));
    const auto load = capacity.Row(capacity.load_hours, wc);
    const auto available = capacity.Row(capacity.capacity_hours, wc);
    auto it = published_.find(center.id);
    const bool all = full || it == published_.end() ||
                     it->second.load_hours.size() != load.size() || it->second.site_id != site_id;
    std::vector<std::int32_t> buckets;
    for (model::Bucket t = 0; t < horizon; ++t) {
      if (all || !Same(load[Index(t)], it->second.load_hours[Index(t)]) ||
          !Same(available[Index(t)], it->second.capacity_hours[Index(t)])) {
        buckets.push_back(t);
      }
    }
    auto [entry, inserted] = site_all.try_emplace(site_id, all);
    if (!inserted) entry->second = entry->second && all;
    if (buckets.empty()) continue;
    changed[site_id][center.id] = {k, std::move(buckets)};
    Rows& rows = published_[center.id];
    rows.site_id = site_id;
    rows.load_hours.assign(load.begin(), load.end());
    rows.capacity_hours.assign(available.begin(), available.end());
  }

  std::vector<sop::v1::CapacityDelta> out;
  for (auto& [site_id, centers] : changed) {
    sop::v1::CapacityDelta* delta = nullptr;
    for (auto& [id, entry] : centers) {
      if (delta == nullptr ||
          static_cast<std::size_t>(delta->work_centers_size()) >= max_per_delta_) {
        delta = &out.emplace_back();
        delta->set_site_id(site_id);
        delta->set_plan_version(plan_version);
        delta->set_horizon(horizon);
        delta->set_full(site_all[site_id]);
        *delta->mutable_cause() = cause;
      }
      auto& load = *delta->add_work_centers();
      FillWorkCenterLoad(snapshot, capacity,
                         model::WorkCenterIndex(static_cast<std::int32_t>(entry.first)), 0, horizon,
                         kDefaultTopContributions, load);
      for (std::int32_t t : entry.second) load.add_changed_buckets(t);
    }
  }
  return out;
}

void LoadPublisher::ForgetSite(std::string_view site_id) {
  std::erase_if(published_, [&](const auto& entry) { return entry.second.site_id == site_id; });
}

LoadTotals Totals(const planning::CapacityPlan& capacity) {
  LoadTotals totals;
  for (double v : capacity.load_hours) totals.load_hours += v;
  for (double v : capacity.capacity_hours) totals.capacity_hours += v;
  for (double v : capacity.overload_hours) totals.overload_hours += v;
  totals.overloaded_buckets = capacity.overloads.size();
  return totals;
}

}  // namespace sop::capacity
