#include "sop/planning/netting.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>
#include <type_traits>

#include "sop/model/text.hpp"

namespace sop::planning {

using model::Finding;
using model::FindingType;
using model::Format;
using model::ItemKind;
using model::LotRule;

namespace {

// Relative tolerance for "is there a requirement left": floating-point sums of exact inputs can
// leave residues like 1e-13 that must not become orders (NETTING-DECISIONS.md, D1).
constexpr double kRelativeTolerance = 1e-9;

inline std::size_t Idx(ItemSiteIndex i) {
  return static_cast<std::size_t>(i.value());
}

std::int32_t PriorityRank(std::int32_t priority) {
  return priority > 0 ? priority : std::numeric_limits<std::int32_t>::max();
}

}  // namespace

std::vector<Finding> Plan::AllFindings() const {
  std::vector<Finding> all = global_findings;
  for (const auto& list : item_findings) all.insert(all.end(), list.begin(), list.end());
  return all;
}

std::size_t Plan::PlannedOrderCount() const {
  std::size_t count = 0;
  for (const auto& list : orders) count += list.size();
  return count;
}

NettingEngine::NettingEngine(model::Snapshot snapshot, NettingPolicy policy)
    : snapshot_(std::move(snapshot)), policy_(policy) {}

void NettingEngine::Prepare() {
  const std::size_t n = snapshot_.item_site_count();
  const auto H = static_cast<std::size_t>(snapshot_.H());
  plan_.horizon = snapshot_.H();
  plan_.item_site_count = n;
  // NetItem overwrites every row it nets; only rows of items on a cycle (never netted) must be
  // zeroed, which ComputeLowLevelCodes' caller does below. Reusing the arrays and the per-item
  // vectors' capacity keeps a rerun free of page faults.
  for (auto* records :
       {&plan_.gross_requirements, &plan_.scheduled_receipts, &plan_.projected_available,
        &plan_.net_requirements, &plan_.planned_receipts, &plan_.planned_releases}) {
    records->resize(n * H);
  }
  auto reset = [n](auto& lists) {
    if (lists.size() != n) lists.resize(n);
    for (auto& list : lists) list.clear();
  };
  reset(plan_.orders);
  reset(plan_.item_findings);
  plan_.pegs.Reset(n);
  plan_.uncovered.Reset(n);
  plan_.pegged = false;
  scratch_forecast_.assign(H, 0.0);
  queued_.assign(n, 0);

  // Ids of a builder-made snapshot are in index order (the builder iterates a map by id); the
  // length of that sorted prefix lets the sort compare indices instead of strings.
  // Resumes where the last check stopped: ids inside the prefix never change.
  if (ids_sorted_prefix_ == 0 && !snapshot_.sales_orders.empty()) ids_sorted_prefix_ = 1;
  while (ids_sorted_prefix_ < snapshot_.sales_orders.size() &&
         snapshot_.sales_orders[ids_sorted_prefix_ - 1].id <
             snapshot_.sales_orders[ids_sorted_prefix_].id) {
    ++ids_sorted_prefix_;
  }
  reset(sales_orders_by_item_);
  for (std::size_t i = 0; i < snapshot_.sales_orders.size(); ++i) {
    const auto& so = snapshot_.sales_orders[i];
    sales_orders_by_item_[Idx(so.item_site)].push_back(static_cast<std::int32_t>(i));
  }
  for (std::size_t c = 0; c < n; ++c) SortSalesOrders(ItemSiteIndex(static_cast<std::int32_t>(c)));

  reset(receipts_by_item_);
  for (std::size_t i = 0; i < snapshot_.receipts.size(); ++i) {
    receipts_by_item_[Idx(snapshot_.receipts[i].item_site)].push_back(static_cast<std::int32_t>(i));
  }
  for (std::size_t c = 0; c < n; ++c) {
    RecomputeScheduledReceipts(ItemSiteIndex(static_cast<std::int32_t>(c)));
  }
  BuildWhereUsed();
  ComputeLowLevelCodes();
  RebuildOrder();
  ZeroCyclicRows();
}

void NettingEngine::ZeroCyclicRows() {
  const auto H = static_cast<std::size_t>(snapshot_.H());
  for (std::size_t c = 0; c < plan_.low_level_code.size(); ++c) {
    if (plan_.low_level_code[c] >= 0) continue;
    for (auto* records :
         {&plan_.gross_requirements, &plan_.projected_available, &plan_.net_requirements,
          &plan_.planned_receipts, &plan_.planned_releases}) {
      std::fill_n(records->data() + c * H, H, 0.0);
    }
    plan_.orders[c].clear();
    plan_.item_findings[c].clear();
    plan_.pegs.Clear(c);
    plan_.uncovered.Clear(c);
  }
}

void NettingEngine::SortSalesOrders(ItemSiteIndex item_site) {
  auto& list = sales_orders_by_item_[Idx(item_site)];
  if (list.size() < 2) return;
  const auto& orders = snapshot_.sales_orders;
  // NETTING.md: consumption takes sales orders by due bucket, then priority, then id. Pegging
  // within a bucket uses priority then id, which the same order gives. The keys are read once
  // per order: the order records are large and scattered, and comparing through them cost a
  // cache miss per comparison. Ids are unique, so the order is total and the result unique.
  auto& keys = scratch_sales_order_keys_;
  keys.clear();
  for (auto index : list) {
    const auto& so = orders[static_cast<std::size_t>(index)];
    keys.push_back(SalesOrderKey{so.due_bucket, PriorityRank(so.priority), index});
  }
  std::sort(keys.begin(), keys.end(), [&](const SalesOrderKey& x, const SalesOrderKey& y) {
    if (x.due_bucket != y.due_bucket) return x.due_bucket < y.due_bucket;
    if (x.rank != y.rank) return x.rank < y.rank;
    if (static_cast<std::size_t>(std::max(x.index, y.index)) < ids_sorted_prefix_) {
      return x.index < y.index;
    }
    return orders[static_cast<std::size_t>(x.index)].id <
           orders[static_cast<std::size_t>(y.index)].id;
  });
  for (std::size_t k = 0; k < keys.size(); ++k) list[k] = keys[k].index;
}

void NettingEngine::RecomputeScheduledReceipts(ItemSiteIndex item_site) {
  auto& list = receipts_by_item_[Idx(item_site)];
  const auto& receipts = snapshot_.receipts;
  std::sort(list.begin(), list.end(), [&](std::int32_t a, std::int32_t b) {
    const auto& x = receipts[static_cast<std::size_t>(a)];
    const auto& y = receipts[static_cast<std::size_t>(b)];
    if (x.due_bucket != y.due_bucket) return x.due_bucket < y.due_bucket;
    return a < b;
  });
  const auto H = static_cast<std::size_t>(snapshot_.H());
  double* row = plan_.scheduled_receipts.data() + Idx(item_site) * H;
  std::fill(row, row + H, 0.0);
  for (auto r : list) {
    const auto& receipt = receipts[static_cast<std::size_t>(r)];
    row[static_cast<std::size_t>(receipt.due_bucket)] += receipt.quantity;
  }
}

void NettingEngine::BuildWhereUsed() {
  const std::size_t n = snapshot_.item_site_count();
  where_used_offsets_.assign(n + 1, 0);
  for (std::size_t p = 0; p < n; ++p) {
    ForEachSupplier(ItemSiteIndex(static_cast<std::int32_t>(p)),
                    [&](ItemSiteIndex c) { ++where_used_offsets_[Idx(c) + 1]; });
  }
  for (std::size_t i = 0; i < n; ++i) where_used_offsets_[i + 1] += where_used_offsets_[i];
  where_used_.assign(where_used_offsets_[n], WhereUsed{});
  std::vector<std::uint32_t> fill(where_used_offsets_.begin(), where_used_offsets_.end() - 1);
  for (std::size_t p = 0; p < n; ++p) {
    ItemSiteIndex parent(static_cast<std::int32_t>(p));
    for (std::uint32_t l = snapshot_.bom_offsets[p]; l < snapshot_.bom_offsets[p + 1]; ++l) {
      auto c = Idx(snapshot_.bom_lines[l].component);
      where_used_[fill[c]++] = WhereUsed{parent, l};
    }
    const auto& is = snapshot_.item_sites[p];
    if (is.kind == ItemKind::kTransfer && is.source != model::kNoItemSite) {
      where_used_[fill[Idx(is.source)]++] = WhereUsed{parent, kTransferLine};
    }
  }
}

void NettingEngine::ComputeLowLevelCodes() {
  const std::size_t n = snapshot_.item_site_count();
  plan_.global_findings.clear();
  plan_.low_level_code.assign(n, 0);

  // Supplier lists as CSR (one allocation, not one per node).
  std::vector<std::uint32_t> supplier_offsets(n + 1, 0);
  std::vector<std::int32_t> suppliers;
  suppliers.reserve(snapshot_.bom_lines.size() + n / 4);
  for (std::size_t p = 0; p < n; ++p) {
    ForEachSupplier(ItemSiteIndex(static_cast<std::int32_t>(p)),
                    [&](ItemSiteIndex c) { suppliers.push_back(c.value()); });
    supplier_offsets[p + 1] = static_cast<std::uint32_t>(suppliers.size());
  }

  // Iterative Tarjan over consumer → supplier edges: strongly connected components with more
  // than one member, or a self-loop, are cycles.
  std::vector<std::int32_t> index(n, -1), low(n, 0);
  std::vector<char> on_stack(n, 0), cyclic(n, 0);
  std::vector<std::int32_t> stack;
  struct Frame {
    std::int32_t node;
    std::uint32_t next;
  };
  std::vector<Frame> call;
  std::int32_t counter = 0;
  for (std::size_t root = 0; root < n; ++root) {
    if (index[root] >= 0) continue;
    auto push = [&](std::int32_t v) {
      auto uv = static_cast<std::size_t>(v);
      index[uv] = low[uv] = counter++;
      stack.push_back(v);
      on_stack[uv] = 1;
      call.push_back(Frame{v, supplier_offsets[uv]});
    };
    push(static_cast<std::int32_t>(root));
    while (!call.empty()) {
      Frame& frame = call.back();
      auto v = static_cast<std::size_t>(frame.node);
      if (frame.next < supplier_offsets[v + 1]) {
        auto w = static_cast<std::size_t>(suppliers[frame.next++]);
        if (w == v) cyclic[v] = 1;  // self-loop
        if (index[w] < 0) {
          push(static_cast<std::int32_t>(w));
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      if (low[v] == index[v]) {
        // The component is the top of the stack down to v.
        auto first = std::find(stack.rbegin(), stack.rend(), static_cast<std::int32_t>(v));
        std::size_t begin = static_cast<std::size_t>(stack.rend() - first) - 1;
        const std::size_t size = stack.size() - begin;
        if (size > 1 || cyclic[v]) {
          std::vector<std::int32_t> component(stack.begin() + static_cast<std::ptrdiff_t>(begin),
                                              stack.end());
          std::sort(component.begin(), component.end());
          std::string names;
          for (std::size_t k = 0; k < component.size() && k < 20; ++k) {
            if (k) names += ", ";
            names += snapshot_.ItemSiteName(ItemSiteIndex(component[k]));
          }
          if (component.size() > 20) names += Format(", ... ({} items)", component.size());
          for (auto member : component) {
            cyclic[static_cast<std::size_t>(member)] = 1;
            plan_.global_findings.push_back(
                Finding{FindingType::kDataQuality, ItemSiteIndex(member), -1, 0.0,
                        snapshot_.ItemSiteName(ItemSiteIndex(member)), "bom",
                        "on a BOM/transfer cycle, not netted: " + names});
          }
        }
        for (std::size_t k = begin; k < stack.size(); ++k)
          on_stack[static_cast<std::size_t>(stack[k])] = 0;
        stack.resize(begin);
      }
      auto finished = frame.node;
      call.pop_back();
      if (!call.empty()) {
        auto parent = static_cast<std::size_t>(call.back().node);
        low[parent] = std::min(low[parent], low[static_cast<std::size_t>(finished)]);
      }
    }
  }

  // Longest path from the top over the acyclic rest (Kahn): llc = 1 + max llc of consumers.
  std::vector<std::int32_t> pending(n, 0);
  for (std::size_t p = 0; p < n; ++p) {
    if (cyclic[p]) continue;
    for (auto k = supplier_offsets[p]; k < supplier_offsets[p + 1]; ++k) {
      auto c = static_cast<std::size_t>(suppliers[k]);
      if (!cyclic[c]) ++pending[c];
    }
  }
  std::vector<std::int32_t> queue;
  queue.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (cyclic[i]) {
      plan_.low_level_code[i] = -1;
    } else if (pending[i] == 0) {
      queue.push_back(static_cast<std::int32_t>(i));
    }
  }
  for (std::size_t head = 0; head < queue.size(); ++head) {
    auto p = queue[head];
    auto level = plan_.low_level_code[static_cast<std::size_t>(p)];
    const auto up = static_cast<std::size_t>(p);
    for (auto k = supplier_offsets[up]; k < supplier_offsets[up + 1]; ++k) {
      auto ci = static_cast<std::size_t>(suppliers[k]);
      if (cyclic[ci]) continue;
      plan_.low_level_code[ci] = std::max(plan_.low_level_code[ci], level + 1);
      if (--pending[ci] == 0) queue.push_back(suppliers[k]);
    }
  }
}

void NettingEngine::RebuildOrder() {
  const std::size_t n = snapshot_.item_site_count();
  std::int32_t max_level = 0;
  for (auto level : plan_.low_level_code) max_level = std::max(max_level, level);
  std::vector<std::uint32_t> start(static_cast<std::size_t>(max_level) + 2, 0);
  for (auto level : plan_.low_level_code) {
    if (level >= 0) ++start[static_cast<std::size_t>(level) + 1];
  }
  for (std::size_t l = 1; l < start.size(); ++l) start[l] += start[l - 1];
  netting_order_.assign(start.back(), model::kNoItemSite);
  for (std::size_t i = 0; i < n; ++i) {
    auto level = plan_.low_level_code[i];
    if (level >= 0) {
      netting_order_[start[static_cast<std::size_t>(level)]++] =
          ItemSiteIndex(static_cast<std::int32_t>(i));
    }
  }
  levels_.assign(static_cast<std::size_t>(max_level) + 1, {});
}

void NettingEngine::ConsumeForecast(ItemSiteIndex item_site, std::vector<double>& remaining) const {
  const auto H = snapshot_.H();
  auto forecast = snapshot_.Forecast(item_site);
  std::copy(forecast.begin(), forecast.end(), remaining.begin());
  const auto back = snapshot_.horizon.consumption_backward;
  const auto forward = snapshot_.horizon.consumption_forward;
  for (auto so_index : sales_orders_by_item_[Idx(item_site)]) {
    const auto& so = snapshot_.sales_orders[static_cast<std::size_t>(so_index)];
    double open = so.quantity;
    auto take = [&](model::Bucket t) {
      double& f = remaining[static_cast<std::size_t>(t)];
      double used = std::min(open, f);
      f -= used;
      open -= used;
    };
    const auto d = so.due_bucket;
    take(d);
    for (std::int32_t k = 1; k <= back && open > 0.0 && d - k >= 0; ++k) take(d - k);
    for (std::int32_t k = 1; k <= forward && open > 0.0 && d + k < H; ++k) take(d + k);
  }
}

bool NettingEngine::NetItem(ItemSiteIndex item_site) {
  const auto c = Idx(item_site);
  const std::int32_t H = snapshot_.H();
  const auto uH = static_cast<std::size_t>(H);
  const model::ItemSite& is = snapshot_.item_sites[c];
  double* gross = plan_.gross_requirements.data() + c * uH;
  const double* receipts = plan_.scheduled_receipts.data() + c * uH;
  double* projected = plan_.projected_available.data() + c * uH;
  double* net = plan_.net_requirements.data() + c * uH;
  double* planned_receipts = plan_.planned_receipts.data() + c * uH;
  double* planned_releases = plan_.planned_releases.data() + c * uH;

  // Independent demand: sales orders plus forecast left after consumption.
  std::fill(gross, gross + uH, 0.0);
  for (auto so_index : sales_orders_by_item_[c]) {
    const auto& so = snapshot_.sales_orders[static_cast<std::size_t>(so_index)];
    gross[static_cast<std::size_t>(so.due_bucket)] += so.quantity;
  }
  ConsumeForecast(item_site, scratch_forecast_);
  for (std::size_t t = 0; t < uH; ++t) gross[t] += scratch_forecast_[t];

  // Dependent and transfer demand, pulled from the consumers' planned orders. Pulling (rather
  // than pushing from the parent) lets net change rebuild one item's gross requirements from
  // its unchanged parents with exactly the arithmetic of a full run.
  for (std::uint32_t w = where_used_offsets_[c]; w < where_used_offsets_[c + 1]; ++w) {
    const auto& use = where_used_[w];
    const auto& parent_orders = plan_.orders[Idx(use.consumer)];
    if (use.bom_line == kTransferLine) {
      for (const auto& order : parent_orders) {
        gross[static_cast<std::size_t>(order.release_bucket)] += order.release_quantity;
      }
    } else {
      const auto& line = snapshot_.bom_lines[use.bom_line];
      const double per_unit = line.quantity_per * (1.0 + line.scrap);
      for (const auto& order : parent_orders) {
        if (line.EffectiveIn(order.release_bucket)) {
          gross[static_cast<std::size_t>(order.release_bucket)] +=
              order.release_quantity * per_unit;
        }
      }
    }
  }

  std::fill(net, net + uH, 0.0);
  std::fill(planned_receipts, planned_receipts + uH, 0.0);
  std::fill(planned_releases, planned_releases + uH, 0.0);
  scratch_orders_.clear();
  scratch_findings_.clear();

  const double safety_stock = is.safety_stock;
  const LotRule rule = is.lot.rule;
  const double fixed = is.lot.fixed_quantity;
  const double minimum = is.lot.minimum;
  const double maximum = is.lot.maximum;
  const double multiple = is.lot.multiple;
  const std::int32_t periods = is.lot.periods_of_supply;
  // An inactive (phased-out) item gets no new planned orders anywhere: frozen over the horizon.
  const std::int32_t fence = is.active ? is.frozen_fence : H;

  auto round_up = [&](double q) {
    return multiple > 0.0 ? multiple * std::ceil(q / multiple - kRelativeTolerance) : q;
  };
  auto add_order = [&](std::int32_t t, double quantity) {
    PlannedOrder order;
    order.item_site = item_site;
    order.receipt_bucket = t;
    order.quantity = quantity;
    order.release_quantity = quantity / is.yield;
    std::int32_t release = t - is.lead_time;
    if (release < 0) {
      order.past_due = true;
      scratch_findings_.push_back(Finding{
          FindingType::kPastDueRelease, item_site, t, order.release_quantity,
          snapshot_.ItemSiteName(item_site), "lead_time",
          Format("planned order for bucket {} should have been released in bucket {}: expedite", t,
                 release)});
      release = 0;
    }
    order.release_bucket = release;
    planned_receipts[static_cast<std::size_t>(t)] += quantity;
    planned_releases[static_cast<std::size_t>(release)] += order.release_quantity;
    scratch_orders_.push_back(order);
    return quantity;
  };

  double previous = is.on_hand;
  for (std::int32_t t = 0; t < H; ++t) {
    const auto ut = static_cast<std::size_t>(t);
    const double avail = previous + receipts[ut] - gross[ut];
    const double tolerance = kRelativeTolerance * std::max({1.0, std::abs(previous), receipts[ut],
                                                            gross[ut], safety_stock});
    double received = 0.0;
    if (t >= fence) {
      if (avail < safety_stock - tolerance) {
        const double requirement = safety_stock - avail;
        net[ut] = requirement;
        if (rule == LotRule::kFixedOrderQuantity) {
          auto count = std::max(1.0, std::ceil(requirement / fixed - kRelativeTolerance));
          for (int k = 0; k < static_cast<int>(count); ++k) received += add_order(t, fixed);
        } else {
          double q = requirement;
          if (rule == LotRule::kPeriodsOfSupply) {
            const std::int32_t end = std::min(t + periods - 1, H - 1);
            double cover = safety_stock - previous;
            for (std::int32_t k = t; k <= end; ++k) {
              cover += gross[static_cast<std::size_t>(k)] - receipts[static_cast<std::size_t>(k)];
            }
            q = std::max(q, cover);
          }
          q = round_up(std::max(q, minimum));
          if (maximum > 0.0 && q > maximum * (1.0 + kRelativeTolerance)) {
            const double full = std::floor(q / maximum + kRelativeTolerance);
            for (int k = 0; k < static_cast<int>(full); ++k) received += add_order(t, maximum);
            const double rest = q - full * maximum;
            if (rest > kRelativeTolerance * q)
              received += add_order(t, round_up(std::max(rest, minimum)));
          } else {
            received += add_order(t, q);
          }
        }
      }
    } else if (avail < -tolerance) {
      scratch_findings_.push_back(Finding{
          FindingType::kShortage, item_site, t, -avail, snapshot_.ItemSiteName(item_site),
          "frozen_fence", Format("short {} in bucket {} inside the frozen fence", -avail, t)});
    } else if (avail < safety_stock - tolerance) {
      scratch_findings_.push_back(
          Finding{FindingType::kBelowSafetyStock, item_site, t, safety_stock - avail,
                  snapshot_.ItemSiteName(item_site), "frozen_fence",
                  Format("{} below safety stock in bucket {} inside the frozen fence",
                         safety_stock - avail, t)});
    }
    projected[ut] = avail + received;
    previous = projected[ut];
  }

  bool changed = scratch_orders_ != plan_.orders[c];
  plan_.orders[c].swap(scratch_orders_);
  plan_.item_findings[c].swap(scratch_findings_);
  return changed;
}

void NettingEngine::PegItem(ItemSiteIndex item_site, bool forecast_consumed) {
  const auto c = Idx(item_site);
  const auto uH = static_cast<std::size_t>(snapshot_.H());
  const auto& is = snapshot_.item_sites[c];
  auto& pegs = plan_.pegs;
  auto& uncovered = plan_.uncovered;
  if (plan_.low_level_code[c] < 0) {
    pegs.Clear(c);
    uncovered.Clear(c);
    return;
  }

  // Demand elements in category order; a stable counting sort by bucket then yields FIFO by
  // bucket with NETTING.md's order inside a bucket. Buffers are members: no allocation per item
  // once they have grown.
  auto& elements = peg_elements_;
  elements.clear();
  if (is.on_hand < 0.0) {
    elements.push_back(
        DemandElement{DemandRef{DemandKind::kNegativeOnHand, -1, item_site, {}, 0}, -is.on_hand});
  }
  for (auto so_index : sales_orders_by_item_[c]) {
    const auto& so = snapshot_.sales_orders[static_cast<std::size_t>(so_index)];
    if (so.quantity > 0.0) {
      elements.push_back(DemandElement{
          DemandRef{DemandKind::kSalesOrder, so_index, item_site, {}, so.due_bucket}, so.quantity});
    }
  }
  // NetItem leaves this item's unconsumed forecast in scratch_forecast_ when it ran just before.
  if (!forecast_consumed) ConsumeForecast(item_site, scratch_forecast_);
  for (std::size_t t = 0; t < uH; ++t) {
    if (scratch_forecast_[t] > 0.0) {
      elements.push_back(
          DemandElement{DemandRef{DemandKind::kForecast, -1, item_site, {}, static_cast<Bucket>(t)},
                        scratch_forecast_[t]});
    }
  }
  for (std::uint32_t w = where_used_offsets_[c]; w < where_used_offsets_[c + 1]; ++w) {
    const auto& use = where_used_[w];
    const auto& parent_orders = plan_.orders[Idx(use.consumer)];
    const bool transfer = use.bom_line == kTransferLine;
    const model::BomLine* line = transfer ? nullptr : &snapshot_.bom_lines[use.bom_line];
    for (std::size_t o = 0; o < parent_orders.size(); ++o) {
      const auto& order = parent_orders[o];
      double quantity = order.release_quantity;
      if (line) {
        if (!line->EffectiveIn(order.release_bucket)) continue;
        quantity *= line->quantity_per * (1.0 + line->scrap);
      }
      if (quantity <= 0.0) continue;
      elements.push_back(DemandElement{
          DemandRef{transfer ? DemandKind::kTransfer : DemandKind::kDependent, -1, item_site,
                    PlannedOrderRef{use.consumer, static_cast<std::int32_t>(o)},
                    order.release_bucket},
          quantity});
    }
  }
  auto& start = peg_start_;
  start.assign(uH + 1, 0);
  for (const auto& e : elements) ++start[static_cast<std::size_t>(e.ref.bucket) + 1];
  for (std::size_t t = 0; t < uH; ++t) start[t + 1] += start[t];
  auto& demand = peg_demand_;
  demand.resize(elements.size());
  for (const auto& e : elements) demand[start[static_cast<std::size_t>(e.ref.bucket)]++] = e;

  // Supply in bucket order: on-hand, then per bucket scheduled receipts before planned orders.
  auto& supply = peg_supply_;
  supply.clear();
  if (is.on_hand > 0.0)
    supply.push_back(SupplyElement{SupplyRef{SupplyKind::kOnHand, -1, 0}, is.on_hand});
  const auto& receipt_list = receipts_by_item_[c];
  const auto& orders = plan_.orders[c];
  std::size_t r = 0, o = 0;
  while (r < receipt_list.size() || o < orders.size()) {
    bool take_receipt = false;
    if (r < receipt_list.size()) {
      const auto& receipt = snapshot_.receipts[static_cast<std::size_t>(receipt_list[r])];
      take_receipt = o >= orders.size() || receipt.due_bucket <= orders[o].receipt_bucket;
    }
    if (take_receipt) {
      const auto& receipt = snapshot_.receipts[static_cast<std::size_t>(receipt_list[r])];
      if (receipt.quantity > 0.0) {
        supply.push_back(SupplyElement{
            SupplyRef{SupplyKind::kScheduledReceipt, receipt_list[r], receipt.due_bucket},
            receipt.quantity});
      }
      ++r;
    } else {
      supply.push_back(
          SupplyElement{SupplyRef{SupplyKind::kPlannedOrder, static_cast<std::int32_t>(o),
                                  orders[o].receipt_bucket},
                        orders[o].quantity});
      ++o;
    }
  }

  // FIFO allocation; residues below the tolerance of an element are treated as zero. Every peg
  // exhausts a demand element or a supply element, which bounds the count.
  pegs.Begin(demand.size() + supply.size());
  uncovered.Begin(demand.size());
  std::size_t s = 0;
  double supply_left = supply.empty() ? 0.0 : supply[0].quantity;
  for (const auto& element : demand) {
    double need = element.quantity;
    const double tolerance = kRelativeTolerance * std::max(1.0, element.quantity);
    while (need > tolerance && s < supply.size()) {
      double used = std::min(need, supply_left);
      if (used > 0.0) {
        pegs.Push(Peg{supply[s].ref, element.ref, used, element.quantity});
        need -= used;
        supply_left -= used;
      }
      if (supply_left <= kRelativeTolerance * std::max(1.0, supply[s].quantity)) {
        ++s;
        supply_left = s < supply.size() ? supply[s].quantity : 0.0;
      }
    }
    if (need > tolerance)
      uncovered.Push(UncoveredDemand{DemandRef(element.ref), need, element.quantity});
  }
  pegs.Commit(c);
  uncovered.Commit(c);
}

void NettingEngine::RunNettingOnly() {
  Prepare();
  for (auto item_site : netting_order_) NetItem(item_site);
  ran_ = true;
}

void NettingEngine::RunPegging() {
  for (auto item_site : netting_order_) PegItem(item_site, false);
  plan_.pegged = true;
}

void NettingEngine::RunFull() {
  if (!policy_.pegging) {
    RunNettingOnly();
    return;
  }
  // One pass: each item-site is pegged right after it is netted, while its demand (sales
  // orders, unconsumed forecast, the parents' planned orders) is still in cache. Pegging an
  // item-site needs only its own orders and its consumers' (netted earlier in low-level-code
  // order), so the result is the same as a separate pegging pass.
  Prepare();
  for (auto item_site : netting_order_) {
    NetItem(item_site);
    PegItem(item_site, true);
  }
  ran_ = true;
  plan_.pegged = true;
}

double NettingEngine::SupplyQuantity(ItemSiteIndex item_site, const SupplyRef& supply) const {
  switch (supply.kind) {
    case SupplyKind::kOnHand:
      return std::max(0.0, snapshot_.item_sites[Idx(item_site)].on_hand);
    case SupplyKind::kScheduledReceipt:
      return snapshot_.receipts[static_cast<std::size_t>(supply.index)].quantity;
    case SupplyKind::kPlannedOrder:
      return plan_.orders[Idx(item_site)][static_cast<std::size_t>(supply.index)].quantity;
  }
  return 0.0;
}

std::vector<EndDemand> NettingEngine::EndDemands(ItemSiteIndex item_site,
                                                 const SupplyRef& supply) const {
  return EndDemandCache(*this).EndDemands(item_site, supply);
}

std::vector<EndDemand> NettingEngine::ShortageEndDemands(ItemSiteIndex item_site,
                                                         Bucket bucket) const {
  return EndDemandCache(*this).ShortageEndDemands(item_site, bucket);
}

void EndDemandCache::Reset(const NettingEngine& engine) {
  engine_ = &engine;
  item_site_entry_.clear();
  entries_.clear();
  slots_.clear();
  peg_starts_.clear();
  peg_positions_.clear();
  arena_.clear();
  orders_cached_ = 0;
}

const EndDemandCache::ItemSiteEntry& EndDemandCache::Entry(ItemSiteIndex item_site) {
  const Plan& plan = engine_->plan_;
  if (item_site_entry_.empty()) item_site_entry_.assign(plan.orders.size(), -1);
  std::int32_t& index = item_site_entry_[Idx(item_site)];
  if (index >= 0) return entries_[static_cast<std::size_t>(index)];
  index = static_cast<std::int32_t>(entries_.size());
  const std::size_t orders = plan.orders[Idx(item_site)].size();
  const auto pegs = plan.pegs[Idx(item_site)];
  ItemSiteEntry entry{static_cast<std::uint32_t>(slots_.size()),
                      static_cast<std::uint32_t>(peg_starts_.size())};
  slots_.resize(slots_.size() + orders);
  // Pegs grouped by planned order (counting sort; positions ascending within an order).
  const std::size_t t = peg_starts_.size();
  peg_starts_.resize(t + orders + 1, 0);
  auto owner = [&](const Peg& peg) -> std::size_t {
    if (peg.supply.kind != SupplyKind::kPlannedOrder || peg.supply.index < 0 ||
        static_cast<std::size_t>(peg.supply.index) >= orders) {
      return orders;
    }
    return static_cast<std::size_t>(peg.supply.index);
  };
  for (const Peg& peg : pegs) {
    const std::size_t o = owner(peg);
    if (o < orders) ++peg_starts_[t + o + 1];
  }
  const auto base = static_cast<std::uint32_t>(peg_positions_.size());
  peg_starts_[t] = base;
  for (std::size_t o = 0; o < orders; ++o) peg_starts_[t + o + 1] += peg_starts_[t + o];
  peg_positions_.resize(peg_starts_[t + orders]);
  std::vector<std::uint32_t> next(peg_starts_.begin() + static_cast<std::ptrdiff_t>(t),
                                  peg_starts_.begin() + static_cast<std::ptrdiff_t>(t + orders));
  for (std::size_t p = 0; p < pegs.size(); ++p) {
    const std::size_t o = owner(pegs[p]);
    if (o < orders) peg_positions_[next[o]++] = static_cast<std::uint32_t>(p);
  }
  entries_.push_back(entry);
  return entries_.back();
}

std::int64_t EndDemandCache::Summarize(ItemSiteIndex item_site, std::int32_t ordinal) {
  const Plan& plan = engine_->plan_;
  if (!plan.pegged || item_site.value() < 0 || Idx(item_site) >= plan.orders.size()) return -1;
  const auto& orders = plan.orders[Idx(item_site)];
  if (ordinal < 0 || static_cast<std::size_t>(ordinal) >= orders.size()) return -1;
  // Copies: Entry and the recursion below grow the vectors the references would point into.
  const ItemSiteEntry entry = Entry(item_site);
  const std::size_t slot = entry.slots + static_cast<std::size_t>(ordinal);
  // Done, or being computed (only on a broken BOM-cycle invariant: cyclic item-sites have no
  // orders): an order being computed reads as empty.
  if (slots_[slot].state != 0) return static_cast<std::int64_t>(slot);
  slots_[slot].state = 1;
  const double total = orders[static_cast<std::size_t>(ordinal)].quantity;
  const std::uint32_t first = peg_starts_[entry.peg_starts + static_cast<std::size_t>(ordinal)];
  const std::uint32_t last = peg_starts_[entry.peg_starts + static_cast<std::size_t>(ordinal) + 1];
  const auto pegs = plan.pegs[Idx(item_site)];
  std::uint32_t size = 0;
  std::size_t begin = arena_.size();
  if (total > 0.0) {
    for (std::uint32_t k = first; k < last; ++k) Prepare(pegs[peg_positions_[k]].demand);
    begin = arena_.size();  // after the parents' summaries
    for (std::uint32_t k = first; k < last; ++k) {
      const Peg& peg = pegs[peg_positions_[k]];
      Reach(peg.demand, peg.quantity, peg.demand_quantity, peg.quantity / total);
    }
    size = MergeTail(begin);
  }
  slots_[slot] = Slot{static_cast<std::uint32_t>(begin), size, 2};
  ++orders_cached_;
  return static_cast<std::int64_t>(slot);
}

void EndDemandCache::Prepare(const DemandRef& demand) {
  if (PegDemand::HasParent(demand.kind)) Summarize(demand.parent.item_site, demand.parent.ordinal);
}

void EndDemandCache::Reach(const DemandRef& demand, double quantity, double demand_quantity,
                           double share) {
  if (!PegDemand::HasParent(demand.kind)) {
    arena_.push_back(EndDemand{demand, quantity, share});
    return;
  }
  if (demand_quantity <= 0.0) return;
  const double fraction = quantity / demand_quantity;
  const std::int64_t slot = Summarize(demand.parent.item_site, demand.parent.ordinal);
  if (slot < 0) return;
  const Slot parent = slots_[static_cast<std::size_t>(slot)];
  if (parent.state != 2) return;
  for (std::uint32_t k = parent.begin; k < parent.begin + parent.size; ++k) {
    const EndDemand end = arena_[k];
    arena_.push_back(EndDemand{end.demand, fraction * end.quantity, share * end.share});
  }
}

std::uint32_t EndDemandCache::MergeTail(std::size_t begin) {
  auto key = [](const EndDemand& e) {
    return std::tuple(static_cast<int>(e.demand.kind), e.demand.index, e.demand.item_site.value(),
                      e.demand.bucket);
  };
  auto less = [&](const EndDemand& a, const EndDemand& b) { return key(a) < key(b); };
  const auto first = arena_.begin() + static_cast<std::ptrdiff_t>(begin);
  const std::size_t n = arena_.size() - begin;
  if (n <= 24) {
    // Insertion sort: stable like stable_sort (same order), without its buffer.
    for (std::size_t i = 1; i < n; ++i) {
      EndDemand moving = first[static_cast<std::ptrdiff_t>(i)];
      std::size_t j = i;
      while (j > 0 && less(moving, first[static_cast<std::ptrdiff_t>(j - 1)])) {
        first[static_cast<std::ptrdiff_t>(j)] = first[static_cast<std::ptrdiff_t>(j - 1)];
        --j;
      }
      first[static_cast<std::ptrdiff_t>(j)] = moving;
    }
  } else {
    std::stable_sort(first, arena_.end(), less);
  }
  std::size_t kept = 0;
  for (std::size_t k = 0; k < n; ++k) {
    EndDemand& e = arena_[begin + k];
    if (kept > 0 && key(arena_[begin + kept - 1]) == key(e)) {
      arena_[begin + kept - 1].quantity += e.quantity;
      arena_[begin + kept - 1].share += e.share;
    } else {
      arena_[begin + kept++] = e;
    }
  }
  arena_.resize(begin + kept);
  return static_cast<std::uint32_t>(kept);
}

std::span<const EndDemand> EndDemandCache::PlannedOrderEndDemands(ItemSiteIndex item_site,
                                                                  std::int32_t ordinal) {
  const std::int64_t slot = Summarize(item_site, ordinal);
  if (slot < 0) return {};
  const Slot& s = slots_[static_cast<std::size_t>(slot)];
  return {arena_.data() + s.begin, s.size};
}

std::vector<EndDemand> EndDemandCache::EndDemands(ItemSiteIndex item_site,
                                                  const SupplyRef& supply) {
  if (supply.kind == SupplyKind::kPlannedOrder) {
    const auto ends = PlannedOrderEndDemands(item_site, supply.index);
    return {ends.begin(), ends.end()};
  }
  std::vector<EndDemand> out;
  if (!engine_->plan_.pegged) return out;
  const double total = engine_->SupplyQuantity(item_site, supply);
  if (total <= 0.0) return out;
  const auto pegs = engine_->plan_.pegs[Idx(item_site)];
  auto mine = [&](const Peg& peg) {
    return peg.supply.kind == supply.kind && peg.supply.index == supply.index;
  };
  for (const Peg& peg : pegs) {
    if (mine(peg)) Prepare(peg.demand);
  }
  const std::size_t begin = arena_.size();
  for (const Peg& peg : pegs) {
    if (mine(peg)) Reach(peg.demand, peg.quantity, peg.demand_quantity, peg.quantity / total);
  }
  const std::uint32_t size = MergeTail(begin);
  out.assign(arena_.begin() + static_cast<std::ptrdiff_t>(begin),
             arena_.begin() + static_cast<std::ptrdiff_t>(begin + size));
  arena_.resize(begin);
  return out;
}

std::vector<EndDemand> EndDemandCache::ShortageEndDemands(ItemSiteIndex item_site, Bucket bucket) {
  std::vector<EndDemand> out;
  const Plan& plan = engine_->plan_;
  if (!plan.pegged) return out;
  const auto c = Idx(item_site);
  double total = 0.0;
  for (const auto& peg : plan.pegs[c]) {
    if (peg.demand.bucket <= bucket && peg.late()) total += peg.quantity;
  }
  for (const auto& u : plan.uncovered[c]) {
    if (u.demand.bucket <= bucket) total += u.quantity;
  }
  if (total <= 0.0) return out;
  for (const auto& peg : plan.pegs[c]) {
    if (peg.demand.bucket <= bucket && peg.late()) Prepare(peg.demand);
  }
  for (const auto& u : plan.uncovered[c]) {
    if (u.demand.bucket <= bucket) Prepare(u.demand);
  }
  const std::size_t begin = arena_.size();
  for (const auto& peg : plan.pegs[c]) {
    if (peg.demand.bucket <= bucket && peg.late()) {
      Reach(peg.demand, peg.quantity, peg.demand_quantity, peg.quantity / total);
    }
  }
  for (const auto& u : plan.uncovered[c]) {
    if (u.demand.bucket <= bucket) {
      Reach(u.demand, u.quantity, u.demand_quantity, u.quantity / total);
    }
  }
  const std::uint32_t size = MergeTail(begin);
  out.assign(arena_.begin() + static_cast<std::ptrdiff_t>(begin),
             arena_.begin() + static_cast<std::ptrdiff_t>(begin + size));
  arena_.resize(begin);
  return out;
}

}  // namespace sop::planning
