#include "sop/planning/scenario.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "detection.hpp"

namespace sop::planning {

namespace {

inline std::size_t Idx(ItemSiteIndex i) {
  return static_cast<std::size_t>(i.value());
}

bool Matches(const model::Snapshot& s, const model::ItemSite& is, const std::string& family,
             const std::string& item_id, const std::string& site_id) {
  if (!family.empty() && is.family != family) return false;
  if (!item_id.empty() && is.item_id != item_id) return false;
  if (!site_id.empty() && s.sites[static_cast<std::size_t>(is.site.value())].id != site_id)
    return false;
  return true;
}

Result<model::WorkCenterIndex> FindWorkCenter(const model::Snapshot& s, const std::string& id) {
  auto index = s.work_center_ids.Find(id);
  if (!index) return Fail(Errc::kNotFound, "work_center_id: unknown work center '" + id + "'");
  return model::WorkCenterIndex(*index);
}

// Applies the netting-input overrides to `snapshot`. Returns whether any applied.
Result<bool> ApplyNettingOverrides(model::Snapshot& s, const Scenario& scenario) {
  bool any = false;
  const auto H = s.H();
  for (const auto& o : scenario.overrides) {
    if (const auto* m = std::get_if<DemandMultiplier>(&o)) {
      if (!(m->factor >= 0.0) || !std::isfinite(m->factor)) {
        return Fail(Errc::kInvalidArgument, "demand multiplier factor: must be finite and >= 0");
      }
      std::vector<char> hit(s.item_site_count(), 0);
      std::size_t matched = 0;
      for (std::size_t c = 0; c < s.item_site_count(); ++c) {
        if (!Matches(s, s.item_sites[c], m->family, m->item_id, m->site_id)) continue;
        hit[c] = 1;
        ++matched;
        for (Bucket t = std::max<Bucket>(0, m->from); t < std::min(H, m->to); ++t) {
          s.forecast[c * static_cast<std::size_t>(H) + static_cast<std::size_t>(t)] *= m->factor;
        }
      }
      if (matched == 0)
        return Fail(Errc::kNotFound,
                    "demand multiplier: no item-site matches family '" + m->family + "'");
      for (auto& order : s.sales_orders) {
        if (hit[Idx(order.item_site)] && order.due_bucket >= m->from && order.due_bucket < m->to) {
          order.quantity *= m->factor;
        }
      }
      any = true;
    } else if (const auto* d = std::get_if<SupplierDelay>(&o)) {
      if (d->buckets < 0)
        return Fail(Errc::kInvalidArgument, "supplier delay buckets: must be >= 0");
      std::vector<char> hit(s.item_site_count(), 0);
      std::size_t matched = 0;
      for (std::size_t c = 0; c < s.item_site_count(); ++c) {
        auto& is = s.item_sites[c];
        if (is.supplier_id != d->supplier_id) continue;
        hit[c] = 1;
        ++matched;
        if (d->lead_time_too) is.lead_time += d->buckets;
      }
      if (matched == 0)
        return Fail(Errc::kNotFound,
                    "supplier_id: no item is bought from '" + d->supplier_id + "'");
      for (auto& r : s.receipts) {
        if (r.kind != model::ReceiptKind::kPurchaseOrder || !hit[Idx(r.item_site)]) continue;
        r.due_bucket += d->buckets;
        if (r.due_bucket >= H) {
          r.due_bucket = H - 1;
          r.quantity = 0.0;  // pushed out of the horizon: the plan cannot count on it
        }
      }
      any = true;
    } else if (const auto* ss = std::get_if<SafetyStockChange>(&o)) {
      if (!(ss->factor >= 0.0) || !std::isfinite(ss->factor)) {
        return Fail(Errc::kInvalidArgument, "safety stock factor: must be finite and >= 0");
      }
      for (auto& is : s.item_sites) {
        if (Matches(s, is, ss->family, ss->item_id, ss->site_id)) is.safety_stock *= ss->factor;
      }
      any = true;
    }
  }
  return any;
}

// The netting-input overrides as net-change inputs against `s`, with the same validation and
// the same arithmetic as ApplyNettingOverrides (overrides apply in order; a later one sees the
// values an earlier one set). Applying them to a copy of a run engine gives the plan a full run
// over the changed snapshot gives (net change is exact).
Result<std::vector<Change>> NettingChanges(const model::Snapshot& s, const Scenario& scenario,
                                           std::vector<Change>* undo) {
  const auto H = s.H();
  const auto uH = static_cast<std::size_t>(H);
  std::map<std::size_t, double> forecast;  // cell → value
  std::map<std::size_t, double> order_quantity;
  std::map<std::size_t, model::ScheduledReceipt> receipts;
  std::map<std::size_t, model::ItemSite> items;
  auto item = [&](std::size_t c) -> model::ItemSite& {
    return items.try_emplace(c, s.item_sites[c]).first->second;
  };
  auto item_value = [&](std::size_t c) -> const model::ItemSite& {
    auto it = items.find(c);
    return it != items.end() ? it->second : s.item_sites[c];
  };
  for (const auto& o : scenario.overrides) {
    if (const auto* m = std::get_if<DemandMultiplier>(&o)) {
      if (!(m->factor >= 0.0) || !std::isfinite(m->factor)) {
        return Fail(Errc::kInvalidArgument, "demand multiplier factor: must be finite and >= 0");
      }
      std::vector<char> hit(s.item_site_count(), 0);
      std::size_t matched = 0;
      for (std::size_t c = 0; c < s.item_site_count(); ++c) {
        if (!Matches(s, s.item_sites[c], m->family, m->item_id, m->site_id)) continue;
        hit[c] = 1;
        ++matched;
        for (Bucket t = std::max<Bucket>(0, m->from); t < std::min(H, m->to); ++t) {
          const std::size_t cell = c * uH + static_cast<std::size_t>(t);
          auto [it, inserted] = forecast.try_emplace(cell, s.forecast[cell]);
          it->second *= m->factor;
        }
      }
      if (matched == 0)
        return Fail(Errc::kNotFound,
                    "demand multiplier: no item-site matches family '" + m->family + "'");
      for (std::size_t k = 0; k < s.sales_orders.size(); ++k) {
        const auto& order = s.sales_orders[k];
        if (hit[Idx(order.item_site)] && order.due_bucket >= m->from && order.due_bucket < m->to) {
          auto [it, inserted] = order_quantity.try_emplace(k, order.quantity);
          it->second *= m->factor;
        }
      }
    } else if (const auto* d = std::get_if<SupplierDelay>(&o)) {
      if (d->buckets < 0)
        return Fail(Errc::kInvalidArgument, "supplier delay buckets: must be >= 0");
      std::vector<char> hit(s.item_site_count(), 0);
      std::size_t matched = 0;
      for (std::size_t c = 0; c < s.item_site_count(); ++c) {
        if (s.item_sites[c].supplier_id != d->supplier_id) continue;
        hit[c] = 1;
        ++matched;
        if (d->lead_time_too) item(c).lead_time += d->buckets;
      }
      if (matched == 0)
        return Fail(Errc::kNotFound,
                    "supplier_id: no item is bought from '" + d->supplier_id + "'");
      for (std::size_t k = 0; k < s.receipts.size(); ++k) {
        if (s.receipts[k].kind != model::ReceiptKind::kPurchaseOrder ||
            !hit[Idx(s.receipts[k].item_site)])
          continue;
        auto& r = receipts.try_emplace(k, s.receipts[k]).first->second;
        r.due_bucket += d->buckets;
        if (r.due_bucket >= H) {
          r.due_bucket = H - 1;
          r.quantity = 0.0;  // pushed out of the horizon: the plan cannot count on it
        }
      }
    } else if (const auto* ss = std::get_if<SafetyStockChange>(&o)) {
      if (!(ss->factor >= 0.0) || !std::isfinite(ss->factor)) {
        return Fail(Errc::kInvalidArgument, "safety stock factor: must be finite and >= 0");
      }
      for (std::size_t c = 0; c < s.item_site_count(); ++c) {
        if (Matches(s, item_value(c), ss->family, ss->item_id, ss->site_id))
          item(c).safety_stock *= ss->factor;
      }
    }
  }
  std::vector<Change> changes;
  changes.reserve(items.size() + forecast.size() + order_quantity.size() + receipts.size());
  // `undo` gets the same inputs with the values of `s`: applied after `changes`, it restores them.
  for (auto& [c, is] : items) {
    const ItemSiteIndex i(static_cast<std::int32_t>(c));
    changes.emplace_back(SetItemParameters{i, std::move(is)});
    if (undo != nullptr) undo->emplace_back(SetItemParameters{i, s.item_sites[c]});
  }
  for (const auto& [cell, value] : forecast) {
    if (value == s.forecast[cell]) continue;
    const ItemSiteIndex i(static_cast<std::int32_t>(cell / uH));
    const auto t = static_cast<Bucket>(cell % uH);
    changes.emplace_back(SetForecast{i, t, value});
    if (undo != nullptr) undo->emplace_back(SetForecast{i, t, s.forecast[cell]});
  }
  for (const auto& [k, quantity] : order_quantity) {
    if (quantity == s.sales_orders[k].quantity) continue;
    auto order = s.sales_orders[k];
    order.quantity = quantity;
    changes.emplace_back(UpsertSalesOrder{std::move(order)});
    if (undo != nullptr) undo->emplace_back(UpsertSalesOrder{s.sales_orders[k]});
  }
  for (auto& [k, r] : receipts) {
    changes.emplace_back(UpsertReceipt{std::move(r)});
    if (undo != nullptr) undo->emplace_back(UpsertReceipt{s.receipts[k]});
  }
  return changes;
}

// Item-sites whose material exceptions can differ after net change touched `touched`: those,
// and everything they consume transitively (their pegs lead up through the touched ones).
std::vector<char> Downstream(const model::Snapshot& s, std::span<const ItemSiteIndex> touched) {
  std::vector<char> seen(s.item_site_count(), 0);
  std::vector<ItemSiteIndex> stack;
  auto visit = [&](ItemSiteIndex i) {
    if (i.value() < 0 || Idx(i) >= seen.size() || seen[Idx(i)]) return;
    seen[Idx(i)] = 1;
    stack.push_back(i);
  };
  for (auto i : touched) visit(i);
  while (!stack.empty()) {
    const auto i = stack.back();
    stack.pop_back();
    for (const auto& line : s.Bom(i)) visit(line.component);
    const auto& is = s.item_sites[Idx(i)];
    if (is.kind == model::ItemKind::kTransfer && is.source != model::kNoItemSite) visit(is.source);
  }
  return seen;
}

template <class F>
void Spread(Bucket release, Bucket receipt, F&& f) {
  if (receipt <= release) {
    f(receipt, 1.0);
    return;
  }
  const double share = 1.0 / static_cast<double>(receipt - release);
  for (Bucket t = release; t < receipt; ++t) f(t, share);
}

// Calls f(bucket, hours, units) for every loading order of `item_site` on `step`, with the
// rough-cut rule of NETTING.md (planned orders with their release quantity, open work orders
// with their open quantity, spread from start to receipt − 1).
// Open work orders per item-site (receipt indices), built once per evaluation that needs it.
using WorkOrderIndex = std::vector<std::vector<std::uint32_t>>;
WorkOrderIndex IndexWorkOrders(const model::Snapshot& s) {
  WorkOrderIndex out(s.item_site_count());
  for (std::size_t r = 0; r < s.receipts.size(); ++r) {
    const auto& receipt = s.receipts[r];
    if (receipt.kind == model::ReceiptKind::kWorkOrder && receipt.quantity > 0.0) {
      out[Idx(receipt.item_site)].push_back(static_cast<std::uint32_t>(r));
    }
  }
  return out;
}

template <class F>
void ForEachStepLoad(const model::Snapshot& s, const Plan& plan, const WorkOrderIndex& work_orders,
                     ItemSiteIndex i, const model::RoutingStep& step, F&& f) {
  if (s.item_sites[Idx(i)].kind != model::ItemKind::kMake) return;
  auto one = [&](Bucket release, Bucket receipt, double quantity) {
    const double hours = step.setup_hours + step.run_hours_per_unit * quantity;
    Spread(release, receipt,
           [&](Bucket t, double share) { f(t, hours * share, quantity * share); });
  };
  for (const auto& order : plan.orders[Idx(i)])
    one(order.release_bucket, order.receipt_bucket, order.release_quantity);
  for (auto r : work_orders[Idx(i)]) {
    const auto& receipt = s.receipts[r];
    one(receipt.start_bucket, receipt.due_bucket, receipt.quantity);
  }
}

struct CapacityCosts {
  double extra_capacity = 0.0;
  double step_subcontract = 0.0;
  double move = 0.0;
};

// Re-derives utilization, overloads and first overloaded buckets after load/capacity changed.
// Contributions of cells that were already overloaded are kept (they name the same orders).
void Rederive(CapacityPlan& cap) {
  const auto H = static_cast<std::size_t>(cap.horizon);
  std::unordered_map<std::size_t, std::vector<LoadContribution>> kept;
  for (auto& o : cap.overloads) {
    kept.emplace(
        static_cast<std::size_t>(o.work_center.value()) * H + static_cast<std::size_t>(o.bucket),
        std::move(o.contributions));
  }
  cap.overloads.clear();
  std::fill(cap.first_overloaded_bucket.begin(), cap.first_overloaded_bucket.end(), -1);
  for (std::size_t k = 0; k < cap.work_center_count; ++k) {
    for (std::size_t t = 0; t < H; ++t) {
      const std::size_t cell = k * H + t;
      const double load = cap.load_hours[cell];
      const double capacity = cap.capacity_hours[cell];
      cap.utilization[cell] = capacity > 0.0 ? load / capacity
                              : load > 0.0   ? std::numeric_limits<double>::infinity()
                                             : 0.0;
      const double overload = std::max(0.0, load - capacity);
      cap.overload_hours[cell] = overload;
      if (overload > 1e-9 * std::max(1.0, capacity)) {
        if (cap.first_overloaded_bucket[k] < 0)
          cap.first_overloaded_bucket[k] = static_cast<Bucket>(t);
        Overload o{model::WorkCenterIndex(static_cast<std::int32_t>(k)),
                   static_cast<Bucket>(t),
                   load,
                   capacity,
                   overload,
                   {}};
        if (auto it = kept.find(cell); it != kept.end()) o.contributions = std::move(it->second);
        cap.overloads.push_back(std::move(o));
      }
    }
  }
}

Result<CapacityCosts> ApplyCapacityOverrides(const model::Snapshot& s, const Plan& plan,
                                             const Scenario& scenario, CapacityPlan& cap) {
  CapacityCosts costs;
  bool any = false;
  const auto H = static_cast<std::size_t>(s.H());
  WorkOrderIndex work_orders;
  for (const auto& o : scenario.overrides) {
    if (std::holds_alternative<SubcontractStep>(o) || std::holds_alternative<MoveVolume>(o)) {
      work_orders = IndexWorkOrders(s);
      break;
    }
  }
  for (const auto& o : scenario.overrides) {
    if (const auto* x = std::get_if<ExtraCapacity>(&o)) {
      auto wc = FindWorkCenter(s, x->work_center_id);
      if (!wc) return std::unexpected(wc.error());
      if (!(x->hours_per_bucket >= 0.0) || !(x->cost_per_hour >= 0.0)) {
        return Fail(Errc::kInvalidArgument, "extra capacity: hours and cost must be >= 0");
      }
      const auto& center = s.work_centers[static_cast<std::size_t>(wc->value())];
      const double added = x->hours_per_bucket * center.efficiency;
      for (Bucket t = std::max<Bucket>(0, x->from); t < std::min<Bucket>(s.H(), x->to); ++t) {
        const std::size_t cell =
            static_cast<std::size_t>(wc->value()) * H + static_cast<std::size_t>(t);
        const double needed = std::max(0.0, cap.load_hours[cell] - cap.capacity_hours[cell]);
        cap.capacity_hours[cell] += added;
        // Hours paid: all of them for a shift; only those the load uses for overtime.
        const double paid = x->pay_only_used
                                ? std::min(needed / center.efficiency, x->hours_per_bucket)
                                : x->hours_per_bucket;
        costs.extra_capacity += paid * x->cost_per_hour;
      }
      any = true;
    } else if (const auto* sub = std::get_if<SubcontractStep>(&o)) {
      auto i = s.FindItemSite(sub->item_id, sub->site_id);
      if (!i)
        return Fail(Errc::kNotFound,
                    "subcontract: unknown item-site " + sub->item_id + "@" + sub->site_id);
      if (!(sub->share >= 0.0 && sub->share <= 1.0))
        return Fail(Errc::kInvalidArgument, "subcontract share: must be in [0, 1]");
      bool found = false;
      for (const auto& step : s.Routing(*i)) {
        if (step.sequence != sub->sequence) continue;
        found = true;
        double* row =
            cap.load_hours.data() + static_cast<std::size_t>(step.work_center.value()) * H;
        ForEachStepLoad(s, plan, work_orders, *i, step, [&](Bucket t, double hours, double units) {
          row[static_cast<std::size_t>(t)] -= hours * sub->share;
          costs.step_subcontract += units * sub->share * sub->cost_per_unit;
        });
      }
      if (!found) return Fail(Errc::kNotFound, "subcontract: no routing step with that sequence");
      any = true;
    } else if (const auto* mv = std::get_if<MoveVolume>(&o)) {
      auto from = s.site_ids.Find(mv->from_site_id);
      auto to = s.site_ids.Find(mv->to_site_id);
      if (!from || !to) return Fail(Errc::kNotFound, "move volume: unknown site");
      if (!(mv->share >= 0.0 && mv->share <= 1.0))
        return Fail(Errc::kInvalidArgument, "move volume share: must be in [0, 1]");
      std::unordered_map<std::int32_t, model::WorkCenterIndex> mapping;
      for (const auto& m : mv->work_centers) {
        auto a = FindWorkCenter(s, m.from_work_center_id);
        auto b = FindWorkCenter(s, m.to_work_center_id);
        if (!a) return std::unexpected(a.error());
        if (!b) return std::unexpected(b.error());
        if (s.work_centers[static_cast<std::size_t>(b->value())].site.value() != *to) {
          return Fail(Errc::kInvalidArgument,
                      "move volume: " + m.to_work_center_id + " is not at " + mv->to_site_id);
        }
        mapping[a->value()] = *b;
      }
      std::size_t matched = 0;
      for (std::size_t c = 0; c < s.item_site_count(); ++c) {
        const auto& is = s.item_sites[c];
        if (is.family != mv->family || is.site.value() != *from) continue;
        ++matched;
        const ItemSiteIndex i(static_cast<std::int32_t>(c));
        for (const auto& step : s.Routing(i)) {
          auto it = mapping.find(step.work_center.value());
          if (it == mapping.end()) continue;  // an unmapped step stays at the sending plant
          double* row_from =
              cap.load_hours.data() + static_cast<std::size_t>(step.work_center.value()) * H;
          double* row_to = cap.load_hours.data() + static_cast<std::size_t>(it->second.value()) * H;
          const double rate_from =
              s.work_centers[static_cast<std::size_t>(step.work_center.value())]
                  .regular_cost_per_hour;
          const double rate_to =
              s.work_centers[static_cast<std::size_t>(it->second.value())].regular_cost_per_hour;
          ForEachStepLoad(s, plan, work_orders, i, step, [&](Bucket t, double hours, double) {
            const double moved = hours * mv->share;
            row_from[static_cast<std::size_t>(t)] -= moved;
            row_to[static_cast<std::size_t>(t)] += moved * mv->hours_factor;
            costs.move += moved * mv->hours_factor * rate_to - moved * rate_from;
          });
        }
      }
      if (matched == 0)
        return Fail(Errc::kNotFound,
                    "move volume: family '" + mv->family + "' is not made at " + mv->from_site_id);
      any = true;
    }
  }
  if (any) {
    // Subtraction can leave −1e−13 residues; clamp them.
    for (auto& v : cap.load_hours) v = std::max(0.0, v);
    Rederive(cap);
  }
  return costs;
}

// The figures that depend on the plan only (not on capacity or exceptions): computed once for
// the base plan and reused by capacity-only scenarios.
}  // namespace

namespace detail {
struct PlanFigures {
  ScenarioKpis demand;  // sales_order_units, revenue, cost_of_goods before exceptions
  double inventory = 0.0;
  double pipeline = 0.0;
};
}  // namespace detail

namespace {

using detail::PlanFigures;

PlanFigures ComputePlanFigures(const NettingEngine& engine) {
  const auto& s = engine.snapshot();
  const auto& plan = engine.plan();
  const auto H = static_cast<std::size_t>(plan.horizon);
  PlanFigures figures;
  ScenarioKpis& k = figures.demand;
  // Demand and revenue: sales orders plus unconsumed forecast (from the pegging's forecast
  // elements, each counted once).
  for (const auto& order : s.sales_orders) {
    if (order.quantity <= 0.0) continue;
    const auto& is = s.item_sites[Idx(order.item_site)];
    const double price = order.unit_price > 0.0 ? order.unit_price : is.unit_price;
    k.sales_order_units += order.quantity;
    k.revenue += order.quantity * price;
    k.cost_of_goods += order.quantity * is.unit_cost;
  }
  std::vector<double> forecast_of_bucket(H, -1.0);
  for (std::size_t c = 0; c < s.item_site_count(); ++c) {
    bool any = false;
    auto note = [&](const DemandRef& d, double demand_quantity) {
      if (d.kind != DemandKind::kForecast) return;
      forecast_of_bucket[static_cast<std::size_t>(d.bucket)] = demand_quantity;
      any = true;
    };
    if (plan.pegged) {
      for (const auto& peg : plan.pegs[c]) note(peg.demand, peg.demand_quantity);
      for (const auto& u : plan.uncovered[c]) note(u.demand, u.demand_quantity);
    }
    if (!any) continue;
    const auto& is = s.item_sites[c];
    for (auto& q : forecast_of_bucket) {
      if (q > 0.0) {
        k.revenue += q * is.unit_price;
        k.cost_of_goods += q * is.unit_cost;
      }
      q = -1.0;
    }
  }
  // Inventory: mean over buckets of Σ max(0, P) × unit cost; pipeline: released, not received.
  double& inventory = figures.inventory;
  double& pipeline = figures.pipeline;
  for (std::size_t c = 0; c < s.item_site_count(); ++c) {
    const double cost = s.item_sites[c].unit_cost;
    if (cost <= 0.0) continue;
    const ItemSiteIndex i(static_cast<std::int32_t>(c));
    for (double p : plan.Row(plan.projected_available, i)) inventory += std::max(0.0, p) * cost;
    for (const auto& order : plan.orders[c]) {
      pipeline += order.release_quantity * cost *
                  static_cast<double>(order.receipt_bucket - order.release_bucket);
    }
  }
  for (const auto& r : s.receipts) {
    if (r.kind != model::ReceiptKind::kWorkOrder || r.quantity <= 0.0) continue;
    pipeline += r.quantity * s.item_sites[Idx(r.item_site)].unit_cost *
                static_cast<double>(r.due_bucket - r.start_bucket);
  }
  return figures;
}

ScenarioKpis ComputeKpis(const NettingEngine& engine, const CapacityPlan& cap,
                         const std::vector<Exception>& exceptions, const CapacityCosts& costs,
                         const PlanFigures& figures) {
  const auto& s = engine.snapshot();
  const auto H = static_cast<std::size_t>(engine.plan().horizon);
  ScenarioKpis k = figures.demand;
  const double inventory = figures.inventory;
  const double pipeline = figures.pipeline;
  for (const auto& e : exceptions) {
    if (e.type != ExceptionType::kOrderAtRisk) continue;
    const auto& order = s.sales_orders[static_cast<std::size_t>(e.sales_orders.front())];
    const auto& is = s.item_sites[Idx(order.item_site)];
    k.units_short += e.quantity;
    k.revenue_short += e.revenue_at_risk;
    k.units_short_by_priority[order.priority] += e.quantity;
    k.revenue_short_by_priority[order.priority] += e.revenue_at_risk;
    k.cost_of_goods -= e.quantity * is.unit_cost;
  }
  k.revenue -= k.revenue_short;
  k.fill_rate = k.sales_order_units > 0.0 ? 1.0 - k.units_short / k.sales_order_units : 1.0;

  for (std::size_t w = 0; w < cap.work_center_count; ++w) {
    const auto& wc = s.work_centers[w];
    for (std::size_t t = 0; t < H; ++t) {
      const std::size_t cell = w * H + t;
      k.load_hours += cap.load_hours[cell];
      const double over = cap.overload_hours[cell];
      if (over <= 0.0) continue;
      k.overload_hours += over;
      const double overtime = std::min(over, wc.overtime_max_hours_per_bucket);
      k.overtime_cost += overtime * wc.overtime_cost_per_hour;
      const double rest = over - overtime;
      if (wc.subcontract_allowed) {
        k.subcontract_cost += rest * wc.subcontract_cost_per_hour;
      } else {
        k.unresolved_overload_hours += rest;
      }
    }
  }
  k.extra_capacity_cost = costs.extra_capacity;
  k.step_subcontract_cost = costs.step_subcontract;
  k.move_cost = costs.move;

  const double buckets = std::max<double>(1.0, static_cast<double>(H));
  k.average_inventory_value = inventory / buckets;
  k.working_capital = k.average_inventory_value + pipeline / buckets;
  k.gross_margin = k.revenue - k.cost_of_goods - k.overtime_cost - k.subcontract_cost -
                   k.extra_capacity_cost - k.step_subcontract_cost - k.move_cost;
  k.exceptions = exceptions.size();
  return k;
}

// Positions of `exceptions` in id order.
std::vector<std::uint32_t> ByIdOrder(const std::vector<Exception>& exceptions) {
  std::vector<std::uint32_t> order(exceptions.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = static_cast<std::uint32_t>(k);
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return exceptions[a].id < exceptions[b].id; });
  return order;
}

// Whether the plan and the netting inputs of `item_sites` in `engine` equal the base's.
bool SameAsBase(const NettingEngine& engine, const NettingEngine& base,
                std::span<const ItemSiteIndex> item_sites) {
  const auto& a = engine.plan();
  const auto& b = base.plan();
  const auto& sa = engine.snapshot();
  const auto& sb = base.snapshot();
  if (a.item_site_count != b.item_site_count || a.horizon != b.horizon ||
      sa.sales_orders.size() != sb.sales_orders.size() ||
      sa.receipts.size() != sb.receipts.size()) {
    return false;
  }
  const auto H = static_cast<std::size_t>(sa.H());
  for (auto i : item_sites) {
    const auto c = Idx(i);
    if (c >= a.item_site_count) return false;
    for (auto rows :
         {&Plan::gross_requirements, &Plan::scheduled_receipts, &Plan::projected_available,
          &Plan::net_requirements, &Plan::planned_receipts, &Plan::planned_releases}) {
      if (!std::ranges::equal(a.Row(a.*rows, i), b.Row(b.*rows, i))) return false;
    }
    if (!std::ranges::equal(a.orders[c], b.orders[c]) ||
        !std::ranges::equal(a.pegs[c], b.pegs[c]) ||
        !std::ranges::equal(a.uncovered[c], b.uncovered[c]) ||
        !std::equal(sa.forecast.begin() + static_cast<std::ptrdiff_t>(c * H),
                    sa.forecast.begin() + static_cast<std::ptrdiff_t>((c + 1) * H),
                    sb.forecast.begin() + static_cast<std::ptrdiff_t>(c * H))) {
      return false;
    }
    const auto& x = sa.item_sites[c];
    const auto& y = sb.item_sites[c];
    if (x.lead_time != y.lead_time || x.safety_stock != y.safety_stock || x.on_hand != y.on_hand) {
      return false;
    }
  }
  return true;
}

}  // namespace

namespace detail {

/// Copies of the base engine that netting scenarios of one EvaluateAll share: a scenario applies
/// its changes to an idle copy, is evaluated, and its changes are undone before the copy goes
/// back (checked on every item-site either net change re-netted; a copy that does not check is
/// dropped). At most `limit` copies exist; Acquire waits for one beyond that.
class EnginePool {
 public:
  EnginePool(const NettingEngine& base, int limit) : base_(base), limit_(std::max(1, limit)) {}

  std::unique_ptr<NettingEngine> Acquire() {
    {
      std::unique_lock lock(mutex_);
      released_.wait(lock, [&] { return !idle_.empty() || live_ < limit_; });
      if (!idle_.empty()) {
        auto engine = std::move(idle_.back());
        idle_.pop_back();
        return engine;
      }
      ++live_;
    }
    return std::make_unique<NettingEngine>(base_);  // copied outside the lock
  }

  /// Gives a copy back (in the base's state), or nullptr when it was dropped.
  void Release(std::unique_ptr<NettingEngine> engine) {
    {
      std::lock_guard lock(mutex_);
      if (engine) {
        idle_.push_back(std::move(engine));
      } else {
        --live_;
      }
    }
    released_.notify_one();
  }

 private:
  const NettingEngine& base_;
  const int limit_;
  std::mutex mutex_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<NettingEngine>> idle_;
  int live_ = 0;
};

}  // namespace detail

ScenarioEvaluator::ScenarioEvaluator(const NettingEngine& base, DetectionHistory history,
                                     ScenarioOptions options)
    : base_(base), history_(std::move(history)), options_(options) {
  base_capacity_ = RoughCut(base_.snapshot(), base_.plan());
  base_figures_ = std::make_shared<const detail::PlanFigures>(ComputePlanFigures(base_));
  auto record = std::make_shared<detail::MaterialRecord>();
  std::unique_ptr<detail::ReachIndex> reach;
  auto outcome = EvaluateWith(Scenario{"base", {}}, false, record.get(), &reach, nullptr);
  if (outcome) base_outcome_ = std::move(*outcome);  // an empty scenario cannot fail
  if (record->exception_offsets.size() == base_.snapshot().item_site_count() + 1)
    base_record_ = std::move(record);
  base_reach_ = std::move(reach);
  // The references every outcome is ranked with: the base's percentile, once, so scores of the
  // base and of every scenario compare.
  ranking_ = options_.ranking;
  if (options_.reference_percentile != 0.0) {
    auto scaled =
        ScaleReferences(base_outcome_.exceptions, options_.ranking, options_.reference_percentile);
    if (scaled) {
      ranking_ = *scaled;
    } else {
      ranking_error_ = Fail(scaled.error().code(),
                            "scenario options reference_percentile: must be "
                            "0 (fixed references) or in (0, 1], got " +
                                std::to_string(options_.reference_percentile));
    }
  }
  RankAll(base_outcome_.exceptions, ranking_);
  base_by_id_ = ByIdOrder(base_outcome_.exceptions);
}

Result<ScenarioOutcome> ScenarioEvaluator::Evaluate(const Scenario& scenario) const {
  if (!ranking_error_) return std::unexpected(ranking_error_.error());
  return EvaluateWith(scenario, true, nullptr, nullptr, nullptr);
}

Result<ScenarioOutcome> ScenarioEvaluator::EvaluateWith(
    const Scenario& scenario, bool compare, detail::MaterialRecord* record,
    std::unique_ptr<detail::ReachIndex>* keep_reach, detail::EnginePool* pool) const {
  // Netting inputs changed → a copy of the base engine with the changes applied by net change
  // (from `pool` when given, undone before it goes back; or, without a pegged base run, a copy of
  // the snapshot and a fresh full run); else the base plan. `affected` (net change only) flags
  // the item-sites whose exceptions can differ.
  std::optional<NettingEngine> own;
  std::unique_ptr<NettingEngine> pooled;
  const NettingEngine* changed = nullptr;
  std::vector<Change> undo;
  std::vector<ItemSiteIndex> touched_by_change;
  // Gives the pooled copy back in the base's state on every way out of this function.
  struct GiveBack {
    const ScenarioEvaluator& self;
    detail::EnginePool* pool;
    std::unique_ptr<NettingEngine>& engine;
    const std::vector<Change>& undo;
    const std::vector<ItemSiteIndex>& touched;
    ~GiveBack() {
      if (!engine) return;
      auto restored = engine->ApplyAll(undo);
      const bool same = restored && SameAsBase(*engine, self.base_, touched) &&
                        SameAsBase(*engine, self.base_, *restored);
      pool->Release(same ? std::move(engine) : nullptr);
    }
  } give_back{*this, pool, pooled, undo, touched_by_change};
  std::vector<char> affected;
  bool needs_netting = false;
  for (const auto& o : scenario.overrides) {
    needs_netting |= std::holds_alternative<DemandMultiplier>(o) ||
                     std::holds_alternative<SupplierDelay>(o) ||
                     std::holds_alternative<SafetyStockChange>(o);
  }
  if (needs_netting && options_.incremental && base_.plan().pegged && base_record_) {
    auto changes = NettingChanges(base_.snapshot(), scenario, pool != nullptr ? &undo : nullptr);
    if (!changes) return std::unexpected(changes.error());
    NettingEngine* engine = nullptr;
    if (pool != nullptr) {
      pooled = pool->Acquire();
      engine = pooled.get();
    } else {
      engine = &own.emplace(base_);
    }
    auto touched = engine->ApplyAll(*changes);
    if (touched) {
      affected = Downstream(engine->snapshot(), *touched);
      touched_by_change = std::move(*touched);
      changed = engine;
    } else {
      // e.g. base master data the change validation rejects (nothing applied): the full run below
      if (pooled) pool->Release(std::move(pooled));
      own.reset();
    }
  }
  if (needs_netting && changed == nullptr) {
    model::Snapshot copy = base_.snapshot();
    auto applied = ApplyNettingOverrides(copy, scenario);
    if (!applied) return std::unexpected(applied.error());
    own.emplace(std::move(copy), NettingPolicy{true});
    own->RunFull();
    changed = &*own;
  }
  const NettingEngine& engine = changed != nullptr ? *changed : base_;
  ScenarioOutcome out;
  out.name = scenario.name;
  out.capacity = changed != nullptr ? RoughCut(engine.snapshot(), engine.plan()) : base_capacity_;
  auto costs = ApplyCapacityOverrides(engine.snapshot(), engine.plan(), scenario, out.capacity);
  if (!costs) return std::unexpected(costs.error());

  // Exceptions sorted by id (as DetectExceptions gives them).
  if (changed != nullptr || !compare) {
    const bool reuse = !affected.empty();
    out.exceptions = detail::DetectExceptionsReusing(
        engine, out.capacity, history_, options_.detection, reuse ? base_record_.get() : nullptr,
        &base_.snapshot(), affected, record, base_reach_.get(), keep_reach);
  } else {
    // Capacity-only: the plan is the base plan, so every non-capacity exception is the base's;
    // only overloads and bottlenecks are detected again (and merged in by id).
    auto detected =
        detail::DetectCapacityReusing(engine, out.capacity, options_.detection, base_reach_.get());
    out.exceptions.reserve(base_by_id_.size() + detected.size());
    std::size_t next = 0;
    for (auto position : base_by_id_) {
      const auto& e = base_outcome_.exceptions[position];
      if (e.type == ExceptionType::kCapacityOverload || e.type == ExceptionType::kBottleneck)
        continue;
      while (next < detected.size() && detected[next].id < e.id)
        out.exceptions.push_back(std::move(detected[next++]));
      out.exceptions.push_back(e);
    }
    while (next < detected.size()) out.exceptions.push_back(std::move(detected[next++]));
  }
  std::optional<PlanFigures> own_figures;
  if (changed != nullptr || !base_figures_) own_figures = ComputePlanFigures(engine);
  out.kpis = ComputeKpis(engine, out.capacity, out.exceptions, *costs,
                         own_figures ? *own_figures : *base_figures_);
  if (compare) {
    // Both lists are sorted by id: one merge walk, no copies of ids until one differs.
    std::size_t a = 0, b = 0;
    const auto& mine = out.exceptions;
    const auto theirs = [&](std::size_t k) -> const std::string& {
      return base_outcome_.exceptions[base_by_id_[k]].id;
    };
    while (a < mine.size() || b < base_by_id_.size()) {
      if (b == base_by_id_.size() || (a < mine.size() && mine[a].id < theirs(b))) {
        out.appeared.push_back(mine[a++].id);
      } else if (a == mine.size() || theirs(b) < mine[a].id) {
        out.disappeared.push_back(theirs(b++));
      } else {
        ++a;
        ++b;
      }
    }
  }
  if (compare) RankAll(out.exceptions, ranking_);  // the base is ranked once its references are

  const auto H = static_cast<std::size_t>(out.capacity.horizon);
  out.load_by_work_center.assign(out.capacity.work_center_count, 0.0);
  out.overload_by_work_center.assign(out.capacity.work_center_count, 0.0);
  for (std::size_t w = 0; w < out.capacity.work_center_count; ++w) {
    for (std::size_t t = 0; t < H; ++t) {
      out.load_by_work_center[w] += out.capacity.load_hours[w * H + t];
      out.overload_by_work_center[w] += out.capacity.overload_hours[w * H + t];
    }
  }
  return out;
}

std::vector<Result<ScenarioOutcome>> ScenarioEvaluator::EvaluateAll(
    std::span<const Scenario> scenarios) const {
  std::vector<std::optional<Result<ScenarioOutcome>>> slots(scenarios.size());
  // Longest first: scenarios that re-run netting start before the capacity-only ones, so two
  // threads finish close together. Each result goes to its own slot: order-independent output.
  std::vector<std::size_t> order(scenarios.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  auto nets = [&](std::size_t k) {
    return std::any_of(scenarios[k].overrides.begin(), scenarios[k].overrides.end(),
                       [](const Override& o) {
                         return !std::holds_alternative<ExtraCapacity>(o) &&
                                !std::holds_alternative<SubcontractStep>(o) &&
                                !std::holds_alternative<MoveVolume>(o);
                       });
  };
  std::stable_partition(order.begin(), order.end(), nets);
  std::atomic<std::size_t> next{0};
  detail::EnginePool engines(base_, options_.engine_copies);
  auto work = [&] {
    for (std::size_t k = next++; k < order.size(); k = next++) {
      const auto& scenario = scenarios[order[k]];
      if (!ranking_error_) {
        slots[order[k]].emplace(std::unexpected(ranking_error_.error()));
      } else {
        slots[order[k]].emplace(EvaluateWith(scenario, true, nullptr, nullptr, &engines));
      }
    }
  };
  const int threads =
      std::max(1, std::min<int>(options_.threads, static_cast<int>(scenarios.size())));
  {
    std::vector<std::jthread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
  }  // joins
  std::vector<Result<ScenarioOutcome>> out;
  out.reserve(scenarios.size());
  for (auto& slot : slots) out.push_back(std::move(*slot));
  return out;
}

}  // namespace sop::planning
