#pragma once
// What a supply or a shortage reaches at the end-demand level, computed through the plan's
// single-level pegs with one memoized summary per planned order. The engine's EndDemands walks
// the pegging tree afresh for every call, which at scale L (6-level BOMs with shared components)
// fans out to millions of steps per detection; a summary per order makes the whole detection
// linear in the number of pegs. Summaries keep money exactly and the kMaxOrders largest sales
// orders (the rest are counted in money and breadth only).

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sop/planning/netting.hpp"

namespace sop::planning::detail {

struct Reach {
  double revenue = 0.0;
  double margin = 0.0;
  double forecast_elements = 0.0;  // forecast end demands touched (scaled by share, then rounded up)
  std::vector<std::pair<std::int32_t, double>> orders;  // (sales-order index, quantity)
  std::vector<std::int32_t> end_items;                  // item-sites of the end demands
};

class ReachIndex {
 public:
  static constexpr std::size_t kMaxOrders = 16;
  static constexpr std::size_t kMaxItems = 16;

  /// `dense`: one slot per item-site up front (a full detection); otherwise slots are created on
  /// first use (re-detection of a few item-sites after net change).
  ReachIndex(const NettingEngine& engine, bool dense)
      : snapshot_(engine.snapshot()), plan_(engine.plan()), dense_(dense) {
    if (dense_) {
      dense_pegs_.resize(plan_.orders.size());
      dense_memo_.resize(plan_.orders.size());
    }
  }

  // Adds what `quantity` of demand element `demand` (of full size `demand_quantity`) reaches.
  void AddDemand(const DemandRef& demand, double quantity, double demand_quantity, Reach& out) {
    if (quantity <= 0.0) return;
    switch (demand.kind) {
      case DemandKind::kSalesOrder: {
        const auto& order = snapshot_.sales_orders[static_cast<std::size_t>(demand.index)];
        const auto& is = snapshot_.item_sites[static_cast<std::size_t>(order.item_site.value())];
        const double price = order.unit_price > 0.0 ? order.unit_price : is.unit_price;
        out.revenue += quantity * price;
        out.margin += quantity * (price - is.unit_cost);
        out.orders.emplace_back(demand.index, quantity);
        out.end_items.push_back(order.item_site.value());
        break;
      }
      case DemandKind::kForecast: {
        const auto& is = snapshot_.item_sites[static_cast<std::size_t>(demand.item_site.value())];
        out.revenue += quantity * is.unit_price;
        out.margin += quantity * (is.unit_price - is.unit_cost);
        out.forecast_elements += 1.0;
        out.end_items.push_back(demand.item_site.value());
        break;
      }
      case DemandKind::kDependent:
      case DemandKind::kTransfer: {
        if (demand_quantity <= 0.0) return;
        const Reach& parent = OfPlannedOrder(demand.parent.item_site, demand.parent.ordinal);
        AddScaled(parent, quantity / demand_quantity, out);
        break;
      }
      case DemandKind::kNegativeOnHand: break;
    }
    Compact(out);
  }

  // Everything the whole planned order reaches (memoized).
  const Reach& OfPlannedOrder(ItemSiteIndex item_site, std::int32_t ordinal) {
    const auto c = static_cast<std::size_t>(item_site.value());
    auto& memo = dense_ ? dense_memo_[c] : memo_[c];
    if (memo.empty()) memo.resize(plan_.orders[c].size());
    auto& slot = memo[static_cast<std::size_t>(ordinal)];
    if (!slot.first) {
      Reach reach;
      const auto& pegs = plan_.pegs[c];
      for (auto p : PegsOf(c, ordinal)) AddDemand(pegs[p].demand, pegs[p].quantity, pegs[p].demand_quantity, reach);
      slot.second = std::move(reach);
      slot.first = true;
    }
    return slot.second;
  }

  // The demand elements of `item_site` due in or before `bucket` that are late or uncovered.
  Reach OfShortage(ItemSiteIndex item_site, Bucket bucket) {
    Reach reach;
    const auto c = static_cast<std::size_t>(item_site.value());
    for (const auto& peg : plan_.pegs[c]) {
      if (peg.demand.bucket <= bucket && peg.late()) AddDemand(peg.demand, peg.quantity, peg.demand_quantity, reach);
    }
    for (const auto& u : plan_.uncovered[c]) {
      if (u.demand.bucket <= bucket) AddDemand(u.demand, u.quantity, u.demand_quantity, reach);
    }
    return reach;
  }

  // What `supply` (a receipt or a planned order) of `item_site` reaches.
  Reach OfSupply(ItemSiteIndex item_site, const SupplyRef& supply) {
    if (supply.kind == SupplyKind::kPlannedOrder) return OfPlannedOrder(item_site, supply.index);
    Reach reach;
    for (const auto& peg : plan_.pegs[static_cast<std::size_t>(item_site.value())]) {
      if (peg.supply.kind == supply.kind && peg.supply.index == supply.index) {
        AddDemand(peg.demand, peg.quantity, peg.demand_quantity, reach);
      }
    }
    return reach;
  }

  static void AddScaled(const Reach& from, double scale, Reach& out) {
    out.revenue += from.revenue * scale;
    out.margin += from.margin * scale;
    out.forecast_elements += from.forecast_elements;
    for (const auto& [index, quantity] : from.orders) out.orders.emplace_back(index, quantity * scale);
    out.end_items.insert(out.end_items.end(), from.end_items.begin(), from.end_items.end());
  }

  // Merges duplicate orders and items and keeps the largest kMaxOrders orders.
  static void Compact(Reach& r) {
    if (r.orders.size() > kMaxOrders) {
      std::sort(r.orders.begin(), r.orders.end());
      std::size_t w = 0;
      for (std::size_t k = 0; k < r.orders.size(); ++k) {
        if (w > 0 && r.orders[w - 1].first == r.orders[k].first) {
          r.orders[w - 1].second += r.orders[k].second;
        } else {
          r.orders[w++] = r.orders[k];
        }
      }
      r.orders.resize(w);
      if (r.orders.size() > kMaxOrders) {
        std::nth_element(r.orders.begin(), r.orders.begin() + static_cast<std::ptrdiff_t>(kMaxOrders), r.orders.end(),
                         [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
        r.orders.resize(kMaxOrders);
        std::sort(r.orders.begin(), r.orders.end());
      }
    }
    if (r.end_items.size() > kMaxItems) {
      std::sort(r.end_items.begin(), r.end_items.end());
      r.end_items.erase(std::unique(r.end_items.begin(), r.end_items.end()), r.end_items.end());
      if (r.end_items.size() > kMaxItems) r.end_items.resize(kMaxItems);
    }
  }

 private:
  // Peg positions of one planned order, via a per-item CSR built on first use.
  std::pair<const std::uint32_t*, const std::uint32_t*> Range(std::size_t c, std::int32_t ordinal) {
    auto& csr = dense_ ? dense_pegs_[c] : order_pegs_[c];
    if (csr.offsets.empty()) {
      const auto& pegs = plan_.pegs[c];
      csr.offsets.assign(plan_.orders[c].size() + 1, 0);
      for (const auto& peg : pegs) {
        if (peg.supply.kind == SupplyKind::kPlannedOrder) ++csr.offsets[static_cast<std::size_t>(peg.supply.index) + 1];
      }
      for (std::size_t k = 1; k < csr.offsets.size(); ++k) csr.offsets[k] += csr.offsets[k - 1];
      csr.positions.resize(csr.offsets.back());
      std::vector<std::uint32_t> fill(csr.offsets.begin(), csr.offsets.end() - 1);
      for (std::size_t p = 0; p < pegs.size(); ++p) {
        if (pegs[p].supply.kind == SupplyKind::kPlannedOrder) {
          csr.positions[fill[static_cast<std::size_t>(pegs[p].supply.index)]++] = static_cast<std::uint32_t>(p);
        }
      }
    }
    const auto o = static_cast<std::size_t>(ordinal);
    return {csr.positions.data() + csr.offsets[o], csr.positions.data() + csr.offsets[o + 1]};
  }
  struct Positions {
    const std::uint32_t* b;
    const std::uint32_t* e;
    const std::uint32_t* begin() const { return b; }
    const std::uint32_t* end() const { return e; }
  };
  Positions PegsOf(std::size_t c, std::int32_t ordinal) {
    auto [b, e] = Range(c, ordinal);
    return {b, e};
  }

  struct Csr {
    std::vector<std::uint32_t> offsets;
    std::vector<std::uint32_t> positions;
  };
  const model::Snapshot& snapshot_;
  const Plan& plan_;
  // Keyed by item-site and filled on first use, so a re-detection of a few item-sites after net
  // change costs nothing per untouched item (node-based maps keep references stable).
  bool dense_;
  std::vector<Csr> dense_pegs_;
  std::vector<std::vector<std::pair<bool, Reach>>> dense_memo_;
  std::unordered_map<std::size_t, Csr> order_pegs_;
  std::unordered_map<std::size_t, std::vector<std::pair<bool, Reach>>> memo_;
};

}  // namespace sop::planning::detail
