#pragma once
// What a supply or a shortage reaches at the end-demand level, computed through the plan's
// single-level pegs with one memoized summary per planned order. The engine's EndDemands walks
// the pegging tree afresh for every call, which at scale L (6-level BOMs with shared components)
// fans out to millions of steps per detection; a summary per order makes the whole detection
// linear in the number of pegs. Summaries keep money exactly and the kMaxOrders largest sales
// orders (the rest are counted in money and breadth only).
//
// Summaries are stored flat (one fixed-size entry per planned order, their order and item lists
// in two shared arenas): no allocation per order, ~5x less memory than one vector pair per order.
// An index can read through to a `base` index built on a plan that differs only in the item-sites
// flagged `changed` (a scenario, or the plan before a net change): an unflagged item-site's
// summaries are the base's, so only what the change reaches is computed again.

#include <algorithm>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sop/planning/netting.hpp"

namespace sop::planning::detail {

/// A read-only view of a summary; valid until the next call that computes a summary.
struct ReachView {
  double revenue = 0.0;
  double margin = 0.0;
  double forecast_elements = 0.0;
  std::span<const std::pair<std::int32_t, double>> orders;
  std::span<const std::int32_t> end_items;
};

struct Reach {
  double revenue = 0.0;
  double margin = 0.0;
  double forecast_elements =
      0.0;  // forecast end demands touched (scaled by share, then rounded up)
  std::vector<std::pair<std::int32_t, double>> orders;  // (sales-order index, quantity)
  std::vector<std::int32_t> end_items;                  // item-sites of the end demands
  operator ReachView() const noexcept {
    return ReachView{revenue, margin, forecast_elements, orders, end_items};
  }
};

class ReachIndex {
 public:
  static constexpr std::size_t kMaxOrders = 16;
  static constexpr std::size_t kMaxItems = 16;

  /// `dense`: one entry per planned order up front (a full detection); otherwise entries are
  /// created on first use (re-detection of a few item-sites). `base` (dense, over a plan of the
  /// same item-sites that must outlive this index) answers for item-sites not flagged in
  /// `changed` (empty = none changed).
  ReachIndex(const NettingEngine& engine, bool dense, const ReachIndex* base = nullptr,
             std::span<const char> changed = {})
      : snapshot_(engine.snapshot()),
        plan_(engine.plan()),
        dense_(dense),
        base_(base),
        changed_(changed) {
    if (base_ != nullptr && (!base_->dense_ || base_->entries_.size() != plan_.orders.size()))
      base_ = nullptr;
    if (dense_) {
      entries_.resize(plan_.orders.size());
      dense_pegs_.resize(plan_.orders.size());
    }
  }

  /// Forgets the summaries of `item_sites` and of everything they consume transitively (whose
  /// pegs lead up through them): call after net change re-netted `item_sites`. Dense only.
  /// `reached` (optional) receives the item-sites forgotten (every one when the item-site count
  /// changed and the index started over).
  void Invalidate(std::span<const ItemSiteIndex> item_sites,
                  std::vector<ItemSiteIndex>* reached = nullptr) {
    const auto n = plan_.orders.size();
    if (entries_.size() != n) {  // the item-site count changed: start over
      entries_.assign(n, {});
      dense_pegs_.assign(n, {});
      orders_arena_.clear();
      items_arena_.clear();
      garbage_ = 0;
      if (reached != nullptr) {
        reached->clear();
        for (std::size_t c = 0; c < n; ++c)
          reached->push_back(ItemSiteIndex(static_cast<std::int32_t>(c)));
      }
      return;
    }
    if (invalid_mark_.size() != n) invalid_mark_.assign(n, 0);
    std::vector<ItemSiteIndex> stack, seen;
    auto visit = [&](ItemSiteIndex i) {
      const auto c = static_cast<std::size_t>(i.value());
      if (i.value() < 0 || c >= n || invalid_mark_[c]) return;
      invalid_mark_[c] = 1;
      stack.push_back(i);
    };
    for (auto i : item_sites) visit(i);
    while (!stack.empty()) {
      const auto i = stack.back();
      stack.pop_back();
      seen.push_back(i);
      for (const auto& line : snapshot_.Bom(i)) visit(line.component);
      const auto& is = snapshot_.item_sites[static_cast<std::size_t>(i.value())];
      if (is.kind == model::ItemKind::kTransfer && is.source != model::kNoItemSite)
        visit(is.source);
    }
    for (auto i : seen) {
      const auto c = static_cast<std::size_t>(i.value());
      invalid_mark_[c] = 0;
      for (const auto& e : entries_[c]) {
        if (e.done) garbage_ += e.orders_count + e.items_count;
      }
      entries_[c].clear();
      dense_pegs_[c] = Csr{};
    }
    if (reached != nullptr) *reached = seen;
    // Summaries of forgotten orders stay in the arenas; start over when they dominate.
    const std::size_t used = orders_arena_.size() + items_arena_.size();
    if (garbage_ > (std::size_t{1} << 20) && 2 * garbage_ > used) {
      for (auto& list : entries_) list.clear();
      orders_arena_.clear();
      items_arena_.clear();
      garbage_ = 0;
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
        AddScaled(OfPlannedOrder(demand.parent.item_site, demand.parent.ordinal),
                  quantity / demand_quantity, out);
        break;
      }
      case DemandKind::kNegativeOnHand:
        break;
    }
    Compact(out);
  }

  // Everything the whole planned order reaches (memoized).
  ReachView OfPlannedOrder(ItemSiteIndex item_site, std::int32_t ordinal) {
    const auto c = static_cast<std::size_t>(item_site.value());
    const auto o = static_cast<std::size_t>(ordinal);
    if (base_ != nullptr && (changed_.empty() || !changed_[c])) {
      const auto& list = base_->entries_[c];
      if (list.size() == plan_.orders[c].size() && list[o].done) return base_->View(list[o]);
    }
    auto slots = [&]() -> std::vector<Entry>& {
      auto& list = dense_ ? entries_[c] : sparse_entries_[c];
      if (list.size() != plan_.orders[c].size()) list.assign(plan_.orders[c].size(), Entry{});
      return list;
    };
    Entry* slot = &slots()[o];
    if (!slot->done) {
      Reach reach;
      const auto& pegs = plan_.pegs[c];
      for (auto p : PegsOf(c, ordinal))
        AddDemand(pegs[p].demand, pegs[p].quantity, pegs[p].demand_quantity, reach);
      // The recursion above may have added entries (rehash of the sparse map): look up again.
      slot = &slots()[o];
      slot->revenue = reach.revenue;
      slot->margin = reach.margin;
      slot->forecast_elements = reach.forecast_elements;
      slot->orders_begin = static_cast<std::uint32_t>(orders_arena_.size());
      slot->orders_count = static_cast<std::uint16_t>(reach.orders.size());
      slot->items_begin = static_cast<std::uint32_t>(items_arena_.size());
      slot->items_count = static_cast<std::uint16_t>(reach.end_items.size());
      orders_arena_.insert(orders_arena_.end(), reach.orders.begin(), reach.orders.end());
      items_arena_.insert(items_arena_.end(), reach.end_items.begin(), reach.end_items.end());
      slot->done = true;
    }
    return View(*slot);
  }

  // The demand elements of `item_site` due in or before `bucket` that are late or uncovered.
  Reach OfShortage(ItemSiteIndex item_site, Bucket bucket) {
    Reach reach;
    const auto c = static_cast<std::size_t>(item_site.value());
    for (const auto& peg : plan_.pegs[c]) {
      if (peg.demand.bucket <= bucket && peg.late())
        AddDemand(peg.demand, peg.quantity, peg.demand_quantity, reach);
    }
    for (const auto& u : plan_.uncovered[c]) {
      if (u.demand.bucket <= bucket) AddDemand(u.demand, u.quantity, u.demand_quantity, reach);
    }
    return reach;
  }

  // What `supply` (a receipt or a planned order) of `item_site` reaches.
  Reach OfSupply(ItemSiteIndex item_site, const SupplyRef& supply) {
    if (supply.kind == SupplyKind::kPlannedOrder) {
      const ReachView view = OfPlannedOrder(item_site, supply.index);
      Reach reach;
      reach.revenue = view.revenue;
      reach.margin = view.margin;
      reach.forecast_elements = view.forecast_elements;
      reach.orders.assign(view.orders.begin(), view.orders.end());
      reach.end_items.assign(view.end_items.begin(), view.end_items.end());
      return reach;
    }
    Reach reach;
    for (const auto& peg : plan_.pegs[static_cast<std::size_t>(item_site.value())]) {
      if (peg.supply.kind == supply.kind && peg.supply.index == supply.index) {
        AddDemand(peg.demand, peg.quantity, peg.demand_quantity, reach);
      }
    }
    return reach;
  }

  static void AddScaled(const ReachView& from, double scale, Reach& out) {
    out.revenue += from.revenue * scale;
    out.margin += from.margin * scale;
    out.forecast_elements += from.forecast_elements;
    for (const auto& [index, quantity] : from.orders)
      out.orders.emplace_back(index, quantity * scale);
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
        std::nth_element(r.orders.begin(),
                         r.orders.begin() + static_cast<std::ptrdiff_t>(kMaxOrders), r.orders.end(),
                         [](const auto& a, const auto& b) {
                           return a.second != b.second ? a.second > b.second : a.first < b.first;
                         });
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
  struct Entry {
    double revenue = 0.0;
    double margin = 0.0;
    double forecast_elements = 0.0;
    std::uint32_t orders_begin = 0;
    std::uint32_t items_begin = 0;
    std::uint16_t orders_count = 0;  // ≤ kMaxOrders after Compact
    std::uint16_t items_count = 0;   // ≤ kMaxItems after Compact
    bool done = false;
  };
  ReachView View(const Entry& e) const {
    return ReachView{
        e.revenue, e.margin, e.forecast_elements,
        std::span<const std::pair<std::int32_t, double>>(orders_arena_.data() + e.orders_begin,
                                                         e.orders_count),
        std::span<const std::int32_t>(items_arena_.data() + e.items_begin, e.items_count)};
  }

  // Peg positions of one planned order, via a per-item CSR built on first use.
  std::pair<const std::uint32_t*, const std::uint32_t*> Range(std::size_t c, std::int32_t ordinal) {
    auto& csr = dense_ ? dense_pegs_[c] : order_pegs_[c];
    if (csr.offsets.size() != plan_.orders[c].size() + 1) {
      const auto& pegs = plan_.pegs[c];
      csr.offsets.assign(plan_.orders[c].size() + 1, 0);
      for (const auto& peg : pegs) {
        if (peg.supply.kind == SupplyKind::kPlannedOrder)
          ++csr.offsets[static_cast<std::size_t>(peg.supply.index) + 1];
      }
      for (std::size_t k = 1; k < csr.offsets.size(); ++k) csr.offsets[k] += csr.offsets[k - 1];
      csr.positions.resize(csr.offsets.back());
      std::vector<std::uint32_t> fill(csr.offsets.begin(), csr.offsets.end() - 1);
      for (std::size_t p = 0; p < pegs.size(); ++p) {
        if (pegs[p].supply.kind == SupplyKind::kPlannedOrder) {
          csr.positions[fill[static_cast<std::size_t>(pegs[p].supply.index)]++] =
              static_cast<std::uint32_t>(p);
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
  bool dense_;
  const ReachIndex* base_;
  std::span<const char> changed_;
  std::vector<std::vector<Entry>> entries_;  // dense: per item-site, per planned order
  std::unordered_map<std::size_t, std::vector<Entry>> sparse_entries_;
  std::vector<char> invalid_mark_;
  std::size_t garbage_ = 0;  // arena elements of forgotten summaries
  std::vector<std::pair<std::int32_t, double>> orders_arena_;
  std::vector<std::int32_t> items_arena_;
  std::vector<Csr> dense_pegs_;
  std::unordered_map<std::size_t, Csr> order_pegs_;
};

}  // namespace sop::planning::detail
