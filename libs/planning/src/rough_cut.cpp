#include "sop/planning/rough_cut.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <tuple>

#include "sop/planning/netting.hpp"

namespace sop::planning {

namespace {

inline std::size_t Idx(ItemSiteIndex i) {
  return static_cast<std::size_t>(i.value());
}

// Calls f(bucket, share) for the buckets an order loads: evenly over release..receipt−1, or all
// in the receipt bucket when they coincide (LT = 0).
template <class F>
void Spread(Bucket release, Bucket receipt, F&& f) {
  if (receipt <= release) {
    f(receipt, 1.0);
    return;
  }
  const double share = 1.0 / static_cast<double>(receipt - release);
  for (Bucket t = release; t < receipt; ++t) f(t, share);
}

// Calls f(item_site, supply, release, receipt, quantity) for every loading order: planned orders
// (release quantity: what is started, before yield loss) and open work orders of make items.
template <class F>
void ForEachLoadingOrder(const model::Snapshot& snapshot, const Plan& plan, F&& f) {
  for (std::size_t c = 0; c < plan.orders.size(); ++c) {
    const auto& is = snapshot.item_sites[c];
    if (is.kind != model::ItemKind::kMake) continue;
    ItemSiteIndex item_site(static_cast<std::int32_t>(c));
    if (snapshot.Routing(item_site).empty()) continue;
    const auto& orders = plan.orders[c];
    for (std::size_t o = 0; o < orders.size(); ++o) {
      f(item_site,
        SupplyRef{SupplyKind::kPlannedOrder, static_cast<std::int32_t>(o),
                  orders[o].receipt_bucket},
        orders[o].release_bucket, orders[o].receipt_bucket, orders[o].release_quantity);
    }
  }
  for (std::size_t r = 0; r < snapshot.receipts.size(); ++r) {
    const auto& receipt = snapshot.receipts[r];
    if (receipt.kind != model::ReceiptKind::kWorkOrder || receipt.quantity <= 0.0) continue;
    if (snapshot.item_sites[Idx(receipt.item_site)].kind != model::ItemKind::kMake) continue;
    f(receipt.item_site,
      SupplyRef{SupplyKind::kScheduledReceipt, static_cast<std::int32_t>(r), receipt.due_bucket},
      receipt.start_bucket, receipt.due_bucket, receipt.quantity);
  }
}

}  // namespace

CapacityPlan RoughCut(const model::Snapshot& snapshot, const Plan& plan) {
  CapacityPlan out;
  const auto H = static_cast<std::size_t>(snapshot.H());
  const std::size_t w = snapshot.work_centers.size();
  out.horizon = snapshot.H();
  out.work_center_count = w;
  out.load_hours.assign(w * H, 0.0);
  out.capacity_hours.assign(w * H, 0.0);
  out.utilization.assign(w * H, 0.0);
  out.overload_hours.assign(w * H, 0.0);
  out.first_overloaded_bucket.assign(w, -1);

  auto load_order = [&](ItemSiteIndex item_site, const SupplyRef&, Bucket release, Bucket receipt,
                        double quantity) {
    for (const auto& step : snapshot.Routing(item_site)) {
      const double hours = step.setup_hours + step.run_hours_per_unit * quantity;
      double* row = out.load_hours.data() + static_cast<std::size_t>(step.work_center.value()) * H;
      Spread(release, receipt,
             [&](Bucket t, double share) { row[static_cast<std::size_t>(t)] += hours * share; });
    }
  };
  ForEachLoadingOrder(snapshot, plan, load_order);

  // Overloaded cells get an index into `overloads` so the second pass can attribute load.
  std::vector<std::int32_t> overload_index(w * H, -1);
  for (std::size_t k = 0; k < w; ++k) {
    const double efficiency = snapshot.work_centers[k].efficiency;
    for (std::size_t t = 0; t < H; ++t) {
      const std::size_t cell = k * H + t;
      const double capacity = snapshot.available_hours[cell] * efficiency;
      const double load = out.load_hours[cell];
      out.capacity_hours[cell] = capacity;
      out.utilization[cell] = capacity > 0.0 ? load / capacity
                              : load > 0.0   ? std::numeric_limits<double>::infinity()
                                             : 0.0;
      const double overload = std::max(0.0, load - capacity);
      out.overload_hours[cell] = overload;
      // Residues of spreading (1e-12 h) are not overloads.
      if (overload > 1e-9 * std::max(1.0, capacity)) {
        if (out.first_overloaded_bucket[k] < 0) {
          out.first_overloaded_bucket[k] = static_cast<Bucket>(t);
        }
        overload_index[cell] = static_cast<std::int32_t>(out.overloads.size());
        out.overloads.push_back(Overload{WorkCenterIndex(static_cast<std::int32_t>(k)),
                                         static_cast<Bucket>(t),
                                         load,
                                         capacity,
                                         overload,
                                         {}});
      }
    }
  }
  if (out.overloads.empty()) return out;

  ForEachLoadingOrder(
      snapshot, plan,
      [&](ItemSiteIndex item_site, const SupplyRef& supply, Bucket release, Bucket receipt,
          double quantity) {
        for (const auto& step : snapshot.Routing(item_site)) {
          const double hours = step.setup_hours + step.run_hours_per_unit * quantity;
          const auto base = static_cast<std::size_t>(step.work_center.value()) * H;
          Spread(release, receipt, [&](Bucket t, double share) {
            auto index = overload_index[base + static_cast<std::size_t>(t)];
            if (index >= 0) {
              out.overloads[static_cast<std::size_t>(index)].contributions.push_back(
                  LoadContribution{item_site, supply, hours * share});
            }
          });
        }
      });
  for (auto& overload : out.overloads) {
    std::stable_sort(
        overload.contributions.begin(), overload.contributions.end(),
        [](const LoadContribution& a, const LoadContribution& b) { return a.hours > b.hours; });
  }
  return out;
}

void ItemSiteLoad(const model::Snapshot& snapshot, const Plan& plan, ItemSiteIndex item_site,
                  std::span<const std::int32_t> receipts, std::vector<CellLoad>* planned,
                  std::vector<CellLoad>* work_orders) {
  planned->clear();
  work_orders->clear();
  const auto H = static_cast<std::size_t>(snapshot.H());
  const auto c = Idx(item_site);
  if (snapshot.item_sites[c].kind != model::ItemKind::kMake) return;
  const auto routing = snapshot.Routing(item_site);
  if (routing.empty()) return;
  auto load = [&](std::vector<CellLoad>* out, const SupplyRef& supply, Bucket release,
                  Bucket receipt, double quantity) {
    for (const auto& step : routing) {
      const double hours = step.setup_hours + step.run_hours_per_unit * quantity;
      const auto base = static_cast<std::size_t>(step.work_center.value()) * H;
      Spread(release, receipt, [&](Bucket t, double share) {
        out->push_back(CellLoad{base + static_cast<std::size_t>(t),
                                LoadContribution{item_site, supply, hours * share}});
      });
    }
  };
  if (c < plan.orders.size()) {
    const auto& orders = plan.orders[c];
    for (std::size_t o = 0; o < orders.size(); ++o) {
      load(planned,
           SupplyRef{SupplyKind::kPlannedOrder, static_cast<std::int32_t>(o),
                     orders[o].receipt_bucket},
           orders[o].release_bucket, orders[o].receipt_bucket, orders[o].release_quantity);
    }
  }
  for (auto r : receipts) {
    const auto& receipt = snapshot.receipts[static_cast<std::size_t>(r)];
    if (receipt.item_site != item_site || receipt.kind != model::ReceiptKind::kWorkOrder ||
        receipt.quantity <= 0.0) {
      continue;
    }
    load(work_orders, SupplyRef{SupplyKind::kScheduledReceipt, r, receipt.due_bucket},
         receipt.start_bucket, receipt.due_bucket, receipt.quantity);
  }
  auto by_cell = [](const CellLoad& a, const CellLoad& b) { return a.cell < b.cell; };
  std::stable_sort(planned->begin(), planned->end(), by_cell);
  std::stable_sort(work_orders->begin(), work_orders->end(), by_cell);
}

std::vector<OverloadDemandShare> OverloadEndDemands(const NettingEngine& engine,
                                                    const Overload& overload) {
  std::map<std::tuple<int, std::int32_t, std::int32_t, Bucket>, OverloadDemandShare> shares;
  for (const auto& contribution : overload.contributions) {
    for (const auto& end : engine.EndDemands(contribution.item_site, contribution.supply)) {
      auto key = std::tuple(static_cast<int>(end.demand.kind), end.demand.index,
                            end.demand.item_site.value(), end.demand.bucket);
      auto& share = shares[key];
      share.demand = end.demand;
      share.hours += contribution.hours * end.share;
    }
  }
  std::vector<OverloadDemandShare> out;
  out.reserve(shares.size());
  for (auto& [key, share] : shares) out.push_back(share);
  std::stable_sort(
      out.begin(), out.end(),
      [](const OverloadDemandShare& a, const OverloadDemandShare& b) { return a.hours > b.hours; });
  return out;
}

}  // namespace sop::planning
