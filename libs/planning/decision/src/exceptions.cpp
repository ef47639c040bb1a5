#include "sop/planning/exceptions.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <unordered_map>

#include "detection.hpp"
#include "reach.hpp"
#include "sop/forecast/metrics.hpp"
#include "sop/model/text.hpp"

namespace sop::planning {

namespace {

using model::Format;

inline std::size_t Idx(ItemSiteIndex i) {
  return static_cast<std::size_t>(i.value());
}

// What a problem touches downstream: the end demands reached through pegging, with the revenue
// and margin they carry. Collected unsorted, finalized once.
struct Impact {
  std::vector<std::int32_t> sales_orders;
  std::vector<ItemSiteIndex> end_items;  // item-sites of the end demands (for shared components)
  std::int32_t forecasts = 0;
  double revenue = 0.0;
  double margin = 0.0;

  void Add(const model::Snapshot& snapshot, const EndDemand& end) {
    if (end.quantity <= 0.0) return;
    if (end.demand.kind == DemandKind::kSalesOrder) {
      const auto& order = snapshot.sales_orders[static_cast<std::size_t>(end.demand.index)];
      const auto& is = snapshot.item_sites[Idx(order.item_site)];
      const double price = order.unit_price > 0.0 ? order.unit_price : is.unit_price;
      sales_orders.push_back(end.demand.index);
      end_items.push_back(order.item_site);
      revenue += end.quantity * price;
      margin += end.quantity * (price - is.unit_cost);
    } else if (end.demand.kind == DemandKind::kForecast) {
      const auto& is = snapshot.item_sites[Idx(end.demand.item_site)];
      ++forecasts;
      end_items.push_back(end.demand.item_site);
      revenue += end.quantity * is.unit_price;
      margin += end.quantity * (is.unit_price - is.unit_cost);
    }
  }
  // Adds a reach summary scaled by `scale` (revenue, margin and order quantities).
  void AddReach(const detail::ReachView& reach, double scale = 1.0) {
    revenue += reach.revenue * scale;
    margin += reach.margin * scale;
    forecasts += static_cast<std::int32_t>(std::ceil(reach.forecast_elements));
    for (const auto& [index, quantity] : reach.orders) {
      if (quantity * scale > 0.0) sales_orders.push_back(index);
    }
    for (auto item : reach.end_items) end_items.push_back(ItemSiteIndex(item));
  }
  std::size_t DistinctEndItems() {
    std::sort(end_items.begin(), end_items.end());
    end_items.erase(std::unique(end_items.begin(), end_items.end()), end_items.end());
    return end_items.size();
  }
  // Copies the impact into the exception (sorted, unique orders and customers).
  void Into(const model::Snapshot& snapshot, Exception& e) {
    std::sort(sales_orders.begin(), sales_orders.end());
    sales_orders.erase(std::unique(sales_orders.begin(), sales_orders.end()), sales_orders.end());
    e.sales_orders = sales_orders;
    e.customers.clear();
    e.best_priority = 0;
    for (auto so : sales_orders) {
      const auto& order = snapshot.sales_orders[static_cast<std::size_t>(so)];
      if (!order.customer_id.empty()) e.customers.push_back(order.customer_id);
      if (order.priority >= 1 && (e.best_priority == 0 || order.priority < e.best_priority)) {
        e.best_priority = order.priority;
      }
    }
    std::sort(e.customers.begin(), e.customers.end());
    e.customers.erase(std::unique(e.customers.begin(), e.customers.end()), e.customers.end());
    e.end_demands = static_cast<std::int32_t>(sales_orders.size()) + forecasts;
    e.revenue_at_risk = revenue;
    e.margin_at_risk = margin;
  }
};

Exception Make(ExceptionType type, Severity severity, std::string subject) {
  Exception e;
  e.id = ExceptionId(type, subject);
  e.type = type;
  e.severity = severity;
  e.subject = std::move(subject);
  return e;
}

Exception ForItemSite(const model::Snapshot& snapshot, ExceptionType type, Severity severity,
                      ItemSiteIndex item_site) {
  Exception e = Make(type, severity, snapshot.ItemSiteName(item_site));
  e.item_site = item_site;
  e.site = snapshot.item_sites[Idx(item_site)].site;
  return e;
}

std::string CustomersText(const Exception& e) {
  if (e.customers.empty()) return "no sales order";
  std::string text;
  const std::size_t shown = std::min<std::size_t>(3, e.customers.size());
  for (std::size_t k = 0; k < shown; ++k) {
    if (k > 0) text += ", ";
    text += e.customers[k];
  }
  if (e.customers.size() > shown) text += Format(" and {} more", e.customers.size() - shown);
  return text;
}

// Per sales order: the units at risk and what puts them at risk (for order-at-risk exceptions).
struct OrderRisk {
  double quantity = 0.0;
  std::vector<ItemSiteIndex> causes;
};

// Material exceptions of one item-site; sales orders at risk are added to `order_risk` when given.
// Adds what `i` puts at risk of one sales order (shared by fresh detection and replay).
void NoteOrder(std::map<std::int32_t, OrderRisk>& order_risk, ItemSiteIndex i, std::int32_t index,
               double quantity) {
  auto& risk = order_risk[index];
  risk.quantity += quantity;
  if (risk.causes.empty() || risk.causes.back() != i) risk.causes.push_back(i);
}

void DetectMaterial(const NettingEngine& engine, detail::ReachIndex& reach, ItemSiteIndex i,
                    const DetectionPolicy& policy, std::vector<Exception>& out,
                    std::map<std::int32_t, OrderRisk>* order_risk,
                    std::vector<std::pair<std::int32_t, double>>* notes = nullptr) {
  const auto& snapshot = engine.snapshot();
  const auto& plan = engine.plan();
  const auto& is = snapshot.item_sites[Idx(i)];
  const auto& findings = plan.item_findings[Idx(i)];

  auto note_orders = [&](const detail::ReachView& ends) {
    if (order_risk == nullptr && notes == nullptr) return;
    for (const auto& [index, quantity] : ends.orders) {
      if (quantity <= 0.0) continue;
      if (order_risk != nullptr) NoteOrder(*order_risk, i, index, quantity);
      if (notes != nullptr) notes->emplace_back(index, quantity);
    }
  };

  // Shortage and below-safety-stock findings of the frozen zone.
  double shortage = 0.0, below = 0.0;
  Bucket first_short = -1, last_short = -1, first_below = -1;
  for (const auto& f : findings) {
    if (f.type == model::FindingType::kShortage) {
      shortage = std::max(shortage, f.quantity);
      if (first_short < 0) first_short = f.bucket;
      last_short = std::max(last_short, f.bucket);
    } else if (f.type == model::FindingType::kBelowSafetyStock) {
      below = std::max(below, f.quantity);
      if (first_below < 0) first_below = f.bucket;
    }
  }
  Impact material;  // shortage + past-due impacts, for the shared-component check
  if (first_short >= 0) {
    auto e = ForItemSite(snapshot, ExceptionType::kShortage, Severity::kRed, i);
    e.first_impact_bucket = first_short;
    e.quantity = shortage;
    const auto ends = reach.OfShortage(i, last_short);
    Impact impact;
    impact.AddReach(ends);
    material.AddReach(ends);
    note_orders(ends);
    impact.Into(snapshot, e);
    e.explanation = Format(
        "{} is projected {} units short from bucket {} (inside the frozen fence of {} buckets, "
        "so no new order can be planned); it hits {} end demands of {}.",
        e.subject, shortage, first_short, is.frozen_fence, e.end_demands, CustomersText(e));
    out.push_back(std::move(e));
  }
  if (first_below >= 0) {
    auto e = ForItemSite(snapshot, ExceptionType::kBelowSafetyStock, Severity::kAmber, i);
    e.first_impact_bucket = first_below;
    e.quantity = below;
    e.reference_quantity = is.safety_stock;
    e.explanation = Format(
        "{} is projected {} units below its safety stock of {} from bucket {} (frozen zone).",
        e.subject, below, is.safety_stock, first_below);
    out.push_back(std::move(e));
  }

  // Past-due releases: supply the plan counts on cannot arrive in time unless expedited.
  const auto& orders = plan.orders[Idx(i)];
  double past_due_quantity = 0.0;
  Bucket first_receipt = -1;
  Impact expedite;
  for (std::size_t o = 0; o < orders.size(); ++o) {
    if (!orders[o].past_due) continue;
    past_due_quantity += orders[o].release_quantity;
    if (first_receipt < 0) first_receipt = orders[o].receipt_bucket;
    if (plan.pegged) {
      const auto& ends = reach.OfPlannedOrder(i, static_cast<std::int32_t>(o));
      expedite.AddReach(ends);
      material.AddReach(ends);
      note_orders(ends);
    }
  }
  if (first_receipt >= 0) {
    auto e = ForItemSite(snapshot, ExceptionType::kPastDueRelease, Severity::kAmber, i);
    e.first_impact_bucket = first_receipt;
    e.quantity = past_due_quantity;
    expedite.Into(snapshot, e);
    if (!e.sales_orders.empty()) e.severity = Severity::kRed;
    e.explanation = Format(
        "{} needs {} units released before today (lead time {} buckets) to arrive by bucket {}: "
        "expedite or the {} end demands it serves ({}) slip.",
        e.subject, past_due_quantity, is.lead_time, first_receipt, e.end_demands, CustomersText(e));
    out.push_back(std::move(e));
  }

  // A short component that blocks several finished goods.
  if (material.DistinctEndItems() >= 2 &&
      !(material.end_items.size() == 1 && material.end_items[0] == i)) {
    auto e = ForItemSite(snapshot, ExceptionType::kSharedComponent, Severity::kRed, i);
    e.first_impact_bucket = first_short >= 0 && (first_receipt < 0 || first_short < first_receipt)
                                ? first_short
                                : first_receipt;
    e.quantity = std::max(shortage, past_due_quantity);
    const std::size_t products = material.end_items.size();
    material.Into(snapshot, e);
    e.explanation = Format(
        "{} is short and blocks {} finished goods ({} end demands, revenue {} and margin {} at "
        "risk); allocate it to the highest-margin products or expedite.",
        e.subject, products, e.end_demands, e.revenue_at_risk, e.margin_at_risk);
    out.push_back(std::move(e));
  }

  // Excess and obsolete stock.
  if (is.on_hand > 0.0 && plan.horizon > 0) {
    double gross = 0.0;
    for (double g : plan.Row(plan.gross_requirements, i)) gross += g;
    const double per_day = gross / (static_cast<double>(plan.horizon) * policy.days_per_bucket);
    if (gross <= 0.0) {
      auto e = ForItemSite(snapshot, ExceptionType::kObsoleteInventory, Severity::kAmber, i);
      e.quantity = is.on_hand;
      e.margin_at_risk = is.on_hand * is.unit_cost;
      e.explanation =
          Format("{} holds {} units (value {}) with no demand in the {}-bucket horizon: obsolete.",
                 e.subject, is.on_hand, e.margin_at_risk, plan.horizon);
      out.push_back(std::move(e));
    } else if (is.on_hand / per_day > policy.excess_days_of_supply) {
      auto e = ForItemSite(snapshot, ExceptionType::kExcessInventory, Severity::kInfo, i);
      const double days = is.on_hand / per_day;
      e.quantity = is.on_hand - per_day * policy.excess_days_of_supply;
      e.reference_quantity = is.on_hand;
      e.explanation = Format(
          "{} covers {} days of demand, above the policy of {} days: {} units (value {}) in "
          "excess.",
          e.subject, std::round(days), policy.excess_days_of_supply, e.quantity,
          e.quantity * is.unit_cost);
      out.push_back(std::move(e));
    }
  }
}

void DetectCapacity(const NettingEngine& engine, detail::ReachIndex& reach,
                    const CapacityPlan& capacity, const DetectionPolicy& policy,
                    std::vector<Exception>& out) {
  const auto& snapshot = engine.snapshot();
  std::vector<Exception> bottleneck(capacity.work_center_count);
  std::vector<std::int32_t> overloaded(capacity.work_center_count, 0);
  std::vector<Impact> wc_impact(capacity.work_center_count);
  for (const auto& overload : capacity.overloads) {
    const auto w = static_cast<std::size_t>(overload.work_center.value());
    const auto& wc = snapshot.work_centers[w];
    auto e = Make(
        ExceptionType::kCapacityOverload,
        overload.overload_hours > 0.2 * overload.capacity_hours ? Severity::kRed : Severity::kAmber,
        Format("{}#{}", wc.id, overload.bucket));
    e.work_center = overload.work_center;
    e.site = wc.site;
    e.first_impact_bucket = overload.bucket;
    e.quantity = overload.overload_hours;
    e.reference_quantity = overload.capacity_hours;
    // The share of the load that does not fit puts that share of its end demands at risk.
    const double at_risk =
        overload.load_hours > 0.0 ? overload.overload_hours / overload.load_hours : 0.0;
    Impact impact;
    if (engine.plan().pegged) {
      const auto traced = std::min<std::size_t>(
          overload.contributions.size(),
          static_cast<std::size_t>(std::max(0, policy.overload_traced_contributions)));
      for (std::size_t k = 0; k < traced; ++k) {
        const auto& contribution = overload.contributions[k];
        impact.AddReach(reach.OfSupply(contribution.item_site, contribution.supply), at_risk);
      }
    }
    wc_impact[w].revenue += impact.revenue;
    wc_impact[w].margin += impact.margin;
    wc_impact[w].sales_orders.insert(wc_impact[w].sales_orders.end(), impact.sales_orders.begin(),
                                     impact.sales_orders.end());
    wc_impact[w].forecasts += impact.forecasts;
    impact.Into(snapshot, e);
    e.explanation = Format(
        "{} is loaded {} h against {} h of capacity in bucket {}: {} h over; it carries {} end "
        "demands of {}.",
        wc.id, overload.load_hours, overload.capacity_hours, overload.bucket,
        overload.overload_hours, e.end_demands, CustomersText(e));
    if (overloaded[w]++ == 0) {
      bottleneck[w] = Make(ExceptionType::kBottleneck, Severity::kRed, wc.id);
      bottleneck[w].work_center = overload.work_center;
      bottleneck[w].site = wc.site;
      bottleneck[w].first_impact_bucket = overload.bucket;
    }
    bottleneck[w].quantity += overload.overload_hours;
    out.push_back(std::move(e));
  }
  for (std::size_t w = 0; w < capacity.work_center_count; ++w) {
    if (overloaded[w] < policy.bottleneck_buckets) continue;
    auto& e = bottleneck[w];
    wc_impact[w].Into(snapshot, e);
    e.explanation = Format(
        "{} is a bottleneck: overloaded in {} buckets from bucket {}, {} h over in total; add a "
        "shift or overtime, subcontract, or move volume.",
        e.subject, overloaded[w], e.first_impact_bucket, e.quantity);
    out.push_back(std::move(e));
  }
}

void DetectForecast(const model::Snapshot& snapshot, const DetectionHistory& history,
                    const DetectionPolicy& policy, std::vector<Exception>& out) {
  if (history.forecast_actuals.empty()) return;
  Bucket latest = history.forecast_actuals.front().bucket;
  for (const auto& r : history.forecast_actuals) latest = std::max(latest, r.bucket);
  const Bucket from = latest - policy.history_window + 1;
  std::map<std::int32_t, std::pair<std::vector<double>, std::vector<double>>>
      series;  // actual, forecast
  for (const auto& r : history.forecast_actuals) {
    if (r.bucket < from || r.item_site.value() < 0 ||
        Idx(r.item_site) >= snapshot.item_site_count()) {
      continue;
    }
    auto& [actual, forecast] = series[r.item_site.value()];
    actual.push_back(r.actual);
    forecast.push_back(r.forecast);
  }
  // The customers of an item-site: its open sales orders.
  std::unordered_map<std::int32_t, std::vector<std::int32_t>> orders_of;
  for (std::size_t s = 0; s < snapshot.sales_orders.size(); ++s) {
    const auto& order = snapshot.sales_orders[s];
    if (order.quantity > 0.0 && series.contains(order.item_site.value())) {
      orders_of[order.item_site.value()].push_back(static_cast<std::int32_t>(s));
    }
  }
  for (const auto& [index, pair] : series) {
    const auto& [actual, forecast] = pair;
    const ItemSiteIndex i(index);
    const auto& is = snapshot.item_sites[Idx(i)];
    double abs_error = 0.0, total_actual = 0.0, total_forecast = 0.0;
    for (std::size_t k = 0; k < actual.size(); ++k) {
      abs_error += std::abs(actual[k] - forecast[k]);
      total_actual += actual[k];
      total_forecast += forecast[k];
    }
    auto customers_into = [&](Exception& e) {
      Impact impact;
      if (auto it = orders_of.find(index); it != orders_of.end()) impact.sales_orders = it->second;
      impact.Into(snapshot, e);
    };
    auto wmape = forecast::Wmape(actual, forecast);  // percent
    if (wmape && *wmape / 100.0 > policy.deviation_amber) {
      const double deviation = *wmape / 100.0;
      auto e = ForItemSite(snapshot, ExceptionType::kForecastDeviation,
                           deviation > policy.deviation_red ? Severity::kRed : Severity::kAmber, i);
      e.first_impact_bucket = 0;
      e.quantity = deviation;
      e.reference_quantity = total_forecast;
      customers_into(e);
      e.revenue_at_risk = abs_error * is.unit_price;
      e.margin_at_risk = abs_error * (is.unit_price - is.unit_cost);
      e.explanation = Format(
          "{}: actuals deviate {}% from forecast over the last {} buckets (WMAPE; amber above "
          "{}%, red above {}%), {} units off; customers {}.",
          e.subject, std::round(deviation * 1000.0) / 10.0, actual.size(),
          policy.deviation_amber * 100.0, policy.deviation_red * 100.0, abs_error,
          CustomersText(e));
      out.push_back(std::move(e));
    }
    auto bias = forecast::RelativeBias(actual, forecast);
    if (bias && std::abs(*bias) > policy.bias_threshold) {
      auto e = ForItemSite(snapshot, ExceptionType::kForecastBias, Severity::kAmber, i);
      e.first_impact_bucket = 0;
      e.quantity = *bias;
      e.reference_quantity = total_actual;
      customers_into(e);
      const double units = std::abs(total_forecast - total_actual);
      e.revenue_at_risk = units * is.unit_price;
      e.margin_at_risk = units * (is.unit_price - is.unit_cost);
      e.explanation = Format("{}: forecast is {} by {}% over the last {} buckets ({} units).",
                             e.subject, *bias > 0 ? "too high" : "too low",
                             std::round(std::abs(*bias) * 1000.0) / 10.0, actual.size(), units);
      out.push_back(std::move(e));
    }
  }
}

void DetectSuppliers(const NettingEngine& engine, detail::ReachIndex& reach,
                     const DetectionHistory& history, const DetectionPolicy& policy,
                     std::vector<Exception>& out) {
  if (history.deliveries.empty()) return;
  const auto& snapshot = engine.snapshot();
  std::map<std::string, std::vector<const SupplierDelivery*>> by_supplier;
  for (const auto& d : history.deliveries) by_supplier[d.supplier_id].push_back(&d);
  for (auto& [supplier, list] : by_supplier) {
    std::stable_sort(list.begin(), list.end(),
                     [](const SupplierDelivery* a, const SupplierDelivery* b) {
                       return a->confirmed_bucket < b->confirmed_bucket;
                     });
    std::int32_t missed_in_row = 0;
    for (auto it = list.rbegin();
         it != list.rend() && (*it)->received_bucket > (*it)->confirmed_bucket; ++it) {
      ++missed_in_row;
    }
    double mean = 0.0;
    for (const auto* d : list) mean += d->lead_time;
    mean /= static_cast<double>(list.size());
    double var = 0.0;
    for (const auto* d : list) var += (d->lead_time - mean) * (d->lead_time - mean);
    const double sd = list.size() > 1 ? std::sqrt(var / static_cast<double>(list.size() - 1)) : 0.0;
    const double cv = mean > 0.0 ? sd / mean : 0.0;
    const bool missed = missed_in_row >= policy.supplier_missed_in_row;
    if (!missed && cv <= policy.lead_time_cv) continue;
    auto e =
        Make(ExceptionType::kSupplierRisk, missed ? Severity::kRed : Severity::kAmber, supplier);
    // Its open purchase orders and what they serve.
    Impact impact;
    for (std::size_t r = 0; r < snapshot.receipts.size(); ++r) {
      const auto& receipt = snapshot.receipts[r];
      if (receipt.kind != model::ReceiptKind::kPurchaseOrder || receipt.quantity <= 0.0) continue;
      if (snapshot.item_sites[Idx(receipt.item_site)].supplier_id != supplier) continue;
      e.quantity += receipt.quantity;
      if (e.first_impact_bucket < 0 || receipt.due_bucket < e.first_impact_bucket) {
        e.first_impact_bucket = receipt.due_bucket;
      }
      if (engine.plan().pegged) {
        impact.AddReach(reach.OfSupply(
            receipt.item_site, SupplyRef{SupplyKind::kScheduledReceipt,
                                         static_cast<std::int32_t>(r), receipt.due_bucket}));
      }
    }
    e.reference_quantity = cv;
    impact.Into(snapshot, e);
    e.explanation =
        missed ? Format(
                     "Supplier {} missed its last {} confirmed dates; {} units on open "
                     "purchase orders serve {} end demands of {}.",
                     supplier, missed_in_row, e.quantity, e.end_demands, CustomersText(e))
               : Format(
                     "Supplier {} lead time varies (coefficient of variation {}, "
                     "threshold {}); {} units on open purchase orders.",
                     supplier, std::round(cv * 100.0) / 100.0, policy.lead_time_cv, e.quantity);
    out.push_back(std::move(e));
  }
}

void DetectFenceAndData(const NettingEngine& engine, const DetectionHistory& history,
                        const DetectionPolicy& policy, std::vector<Exception>& out) {
  const auto& snapshot = engine.snapshot();
  for (const auto& change : history.changes) {
    if (change.item_site.value() < 0 || Idx(change.item_site) >= snapshot.item_site_count())
      continue;
    const auto& is = snapshot.item_sites[Idx(change.item_site)];
    if (change.bucket >= is.frozen_fence) continue;
    auto e = Make(ExceptionType::kTimeFenceViolation, Severity::kAmber, change.change_id);
    e.item_site = change.item_site;
    e.site = is.site;
    e.first_impact_bucket = change.bucket;
    e.quantity = change.quantity_delta;
    e.revenue_at_risk = std::abs(change.quantity_delta) * is.unit_price;
    e.explanation = Format(
        "Change {} ({}) on {} in bucket {} is inside the frozen fence of {} buckets: it needs "
        "approval before it is planned.",
        change.change_id, change.description, snapshot.ItemSiteName(change.item_site),
        change.bucket, is.frozen_fence);
    out.push_back(std::move(e));
  }
  if (!policy.data_quality) return;
  std::map<std::string, Exception> merged;
  auto add = [&](const model::Finding& f) {
    if (f.type != model::FindingType::kDataQuality) return;
    const std::string subject = f.subject + (f.field.empty() ? "" : "/" + f.field);
    auto [it, inserted] = merged.try_emplace(subject);
    auto& e = it->second;
    if (inserted) {
      e = Make(ExceptionType::kDataQuality, Severity::kInfo, subject);
      e.item_site = f.item_site;
      if (f.item_site != model::kNoItemSite && Idx(f.item_site) < snapshot.item_site_count()) {
        e.site = snapshot.item_sites[Idx(f.item_site)].site;
      }
      e.explanation = f.message;
    }
    e.quantity += 1.0;  // number of findings merged
  };
  for (const auto& f : engine.plan().AllFindings()) add(f);
  for (const auto& f : history.extra_findings) add(f);
  for (auto& [subject, e] : merged) out.push_back(std::move(e));
}

void FinishOrdersAtRisk(const model::Snapshot& snapshot,
                        const std::map<std::int32_t, OrderRisk>& risks, std::vector<Exception>& out,
                        detail::MaterialRecord* record) {
  for (const auto& [index, risk] : risks) {
    const auto& order = snapshot.sales_orders[static_cast<std::size_t>(index)];
    if (order.quantity <= 0.0) continue;
    auto e = Make(ExceptionType::kOrderAtRisk,
                  order.priority == 1 ? Severity::kRed : Severity::kAmber, order.id);
    e.item_site = order.item_site;
    e.site = snapshot.item_sites[Idx(order.item_site)].site;
    e.first_impact_bucket = order.due_bucket;
    e.quantity = std::min(order.quantity, risk.quantity);
    e.reference_quantity = order.quantity;
    Impact impact;
    impact.Add(
        snapshot,
        EndDemand{DemandRef{DemandKind::kSalesOrder, index, order.item_site, {}, order.due_bucket},
                  e.quantity, 1.0});
    impact.Into(snapshot, e);
    std::string causes;
    for (std::size_t k = 0; k < risk.causes.size() && k < 3; ++k) {
      if (k > 0) causes += ", ";
      causes += snapshot.ItemSiteName(risk.causes[k]);
    }
    if (risk.causes.size() > 3) causes += Format(" and {} more", risk.causes.size() - 3);
    e.explanation = Format(
        "Sales order {} of {} (priority {}) for {} units of {} due in bucket {}: {} units are "
        "not promised on time because of {}.",
        order.id, order.customer_id, order.priority, order.quantity,
        snapshot.ItemSiteName(order.item_site), order.due_bucket, e.quantity, causes);
    if (record != nullptr) {
      record->risk_orders.push_back(index);
      record->risk_exceptions.push_back(e);
    }
    out.push_back(std::move(e));
  }
}

// Sorts positions, then moves each exception once (an Exception is a few hundred bytes).
void SortById(std::vector<Exception>& out) {
  auto less = [](const Exception& a, const Exception& b) { return a.id < b.id; };
  if (std::is_sorted(out.begin(), out.end(), less)) return;
  std::vector<std::uint32_t> order(out.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = static_cast<std::uint32_t>(k);
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return out[a].id < out[b].id; });
  std::vector<Exception> sorted;
  sorted.reserve(out.size());
  for (auto k : order) sorted.push_back(std::move(out[k]));
  out.swap(sorted);
}

}  // namespace

std::string_view ToString(ExceptionType type) noexcept {
  switch (type) {
    case ExceptionType::kForecastDeviation:
      return "FORECAST_DEVIATION";
    case ExceptionType::kForecastBias:
      return "FORECAST_BIAS";
    case ExceptionType::kShortage:
      return "SHORTAGE";
    case ExceptionType::kBelowSafetyStock:
      return "BELOW_SAFETY_STOCK";
    case ExceptionType::kPastDueRelease:
      return "PAST_DUE_RELEASE";
    case ExceptionType::kCapacityOverload:
      return "CAPACITY_OVERLOAD";
    case ExceptionType::kBottleneck:
      return "BOTTLENECK";
    case ExceptionType::kSharedComponent:
      return "SHARED_COMPONENT";
    case ExceptionType::kOrderAtRisk:
      return "ORDER_AT_RISK";
    case ExceptionType::kSupplierRisk:
      return "SUPPLIER_RISK";
    case ExceptionType::kExcessInventory:
      return "EXCESS_INVENTORY";
    case ExceptionType::kObsoleteInventory:
      return "OBSOLETE_INVENTORY";
    case ExceptionType::kTimeFenceViolation:
      return "TIME_FENCE_VIOLATION";
    case ExceptionType::kDataQuality:
      return "DATA_QUALITY";
  }
  return "UNKNOWN";
}

std::string_view ToString(Severity severity) noexcept {
  switch (severity) {
    case Severity::kInfo:
      return "INFO";
    case Severity::kAmber:
      return "AMBER";
    case Severity::kRed:
      return "RED";
  }
  return "UNKNOWN";
}

std::string ExceptionId(ExceptionType type, std::string_view subject) {
  std::string id(ToString(type));
  id.push_back(':');
  id.append(subject);
  return id;
}

namespace detail {

bool IsMaterial(ExceptionType type) noexcept {
  switch (type) {
    case ExceptionType::kShortage:
    case ExceptionType::kBelowSafetyStock:
    case ExceptionType::kPastDueRelease:
    case ExceptionType::kSharedComponent:
    case ExceptionType::kExcessInventory:
    case ExceptionType::kObsoleteInventory:
      return true;
    default:
      return false;
  }
}

namespace {

// The sales orders whose order-at-risk exception can differ from the base's: those an affected
// item-site notes (in the base or now) and those whose own record changed. The others are noted
// only by unaffected item-sites, with the base's quantities, so their exceptions are the base's.
std::vector<char> DirtyOrders(
    const model::Snapshot& snapshot, const model::Snapshot& base_snapshot,
    const MaterialRecord& base, std::span<const char> affected,
    const std::vector<std::vector<std::pair<std::int32_t, double>>>& notes) {
  const auto orders = snapshot.sales_orders.size();
  std::vector<char> dirty(orders, 0);
  if (base_snapshot.sales_orders.size() != orders) {
    dirty.assign(orders, 1);
    return dirty;
  }
  for (std::size_t k = 0; k < orders; ++k) {
    const auto& a = snapshot.sales_orders[k];
    const auto& b = base_snapshot.sales_orders[k];
    if (a.quantity != b.quantity || a.due_bucket != b.due_bucket || a.priority != b.priority ||
        a.unit_price != b.unit_price || a.item_site != b.item_site || a.id != b.id ||
        a.customer_id != b.customer_id) {
      dirty[k] = 1;
    }
  }
  auto mark = [&](std::int32_t order) {
    if (order >= 0 && static_cast<std::size_t>(order) < orders) {
      dirty[static_cast<std::size_t>(order)] = 1;
    }
  };
  for (std::size_t c = 0; c < affected.size(); ++c) {
    if (!affected[c]) continue;
    for (auto k = base.risk_offsets[c]; k < base.risk_offsets[c + 1]; ++k)
      mark(base.risks[k].first);
  }
  for (const auto& list : notes) {
    for (const auto& [order, quantity] : list) mark(order);
  }
  return dirty;
}

}  // namespace

std::vector<Exception> DetectExceptionsReusing(
    const NettingEngine& engine, const CapacityPlan& capacity, const DetectionHistory& history,
    const DetectionPolicy& policy, const MaterialRecord* base, const model::Snapshot* base_snapshot,
    std::span<const char> affected, MaterialRecord* record, const ReachIndex* base_reach,
    std::unique_ptr<ReachIndex>* keep_reach) {
  std::vector<Exception> out;
  std::map<std::int32_t, OrderRisk> order_risk;
  const auto n = engine.snapshot().item_site_count();
  const bool reuse = base != nullptr && base->exception_offsets.size() == n + 1 &&
                     affected.size() == n && base_snapshot != nullptr;
  // A full detection reaches nearly every planned order: dense entries. A re-detection of a few
  // item-sites reaches few (and reads the rest through the base's): entries on first use.
  auto reach_owner = std::make_unique<ReachIndex>(engine, !reuse, reuse ? base_reach : nullptr,
                                                  reuse ? affected : std::span<const char>{});
  auto& reach = *reach_owner;
  if (reuse) {
    // Neither the plan of an unaffected item-site nor anything its end demands are reached
    // through changed: its material exceptions are the base's. Affected ones are detected again
    // (in item order, as a full detection would), collecting what they put at risk.
    std::vector<std::vector<std::pair<std::int32_t, double>>> notes(n);
    for (std::size_t c = 0; c < n; ++c) {
      if (!affected[c]) {
        for (auto e = base->exception_offsets[c]; e < base->exception_offsets[c + 1]; ++e) {
          out.push_back(base->exceptions[e]);
        }
        continue;
      }
      DetectMaterial(engine, reach, ItemSiteIndex(static_cast<std::int32_t>(c)), policy, out,
                     nullptr, &notes[c]);
    }
    // Orders at risk: only the dirty orders' notes are replayed, in item order (identical
    // sums); the others keep the base's exception.
    const auto dirty = DirtyOrders(engine.snapshot(), *base_snapshot, *base, affected, notes);
    for (std::size_t c = 0; c < n; ++c) {
      const ItemSiteIndex i(static_cast<std::int32_t>(c));
      auto note = [&](std::int32_t order, double quantity) {
        if (dirty[static_cast<std::size_t>(order)]) NoteOrder(order_risk, i, order, quantity);
      };
      if (affected[c]) {
        for (const auto& [order, quantity] : notes[c]) note(order, quantity);
      } else {
        for (auto k = base->risk_offsets[c]; k < base->risk_offsets[c + 1]; ++k)
          note(base->risks[k].first, base->risks[k].second);
      }
    }
    for (std::size_t k = 0; k < base->risk_orders.size(); ++k) {
      const auto order = base->risk_orders[k];
      if (!dirty[static_cast<std::size_t>(order)]) out.push_back(base->risk_exceptions[k]);
    }
    FinishOrdersAtRisk(engine.snapshot(), order_risk, out, nullptr);
  } else {
    if (record != nullptr) {
      *record = MaterialRecord{};
      record->exception_offsets.reserve(n + 1);
      record->risk_offsets.reserve(n + 1);
      record->exception_offsets.push_back(0);
      record->risk_offsets.push_back(0);
    }
    for (std::size_t c = 0; c < n; ++c) {
      const ItemSiteIndex i(static_cast<std::int32_t>(c));
      const std::size_t first = out.size();
      DetectMaterial(engine, reach, i, policy, out, &order_risk,
                     record != nullptr ? &record->risks : nullptr);
      if (record != nullptr) {
        record->exceptions.insert(record->exceptions.end(),
                                  out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
        record->exception_offsets.push_back(static_cast<std::uint32_t>(record->exceptions.size()));
        record->risk_offsets.push_back(static_cast<std::uint32_t>(record->risks.size()));
      }
    }
    FinishOrdersAtRisk(engine.snapshot(), order_risk, out, record);
  }
  DetectCapacity(engine, reach, capacity, policy, out);
  DetectForecast(engine.snapshot(), history, policy, out);
  DetectSuppliers(engine, reach, history, policy, out);
  DetectFenceAndData(engine, history, policy, out);
  SortById(out);
  if (keep_reach != nullptr) *keep_reach = std::move(reach_owner);
  return out;
}

std::vector<Exception> DetectCapacityReusing(const NettingEngine& engine,
                                             const CapacityPlan& capacity,
                                             const DetectionPolicy& policy,
                                             const ReachIndex* base_reach) {
  std::vector<Exception> out;
  detail::ReachIndex reach(engine, false, base_reach);
  DetectCapacity(engine, reach, capacity, policy, out);
  SortById(out);
  return out;
}

}  // namespace detail

std::vector<Exception> DetectExceptions(const NettingEngine& engine, const CapacityPlan& capacity,
                                        const DetectionHistory& history,
                                        const DetectionPolicy& policy) {
  return detail::DetectExceptionsReusing(engine, capacity, history, policy, nullptr, nullptr, {},
                                         nullptr, nullptr, nullptr);
}

std::vector<Exception> DetectCapacityExceptions(const NettingEngine& engine,
                                                const CapacityPlan& capacity,
                                                const DetectionPolicy& policy) {
  return detail::DetectCapacityReusing(engine, capacity, policy, nullptr);
}

namespace {

std::vector<Exception> RedetectWith(const NettingEngine& engine, detail::ReachIndex& reach,
                                    std::span<const ItemSiteIndex> item_sites,
                                    const DetectionPolicy& policy,
                                    std::vector<std::string>* ids_in_scope) {
  std::vector<Exception> out;
  for (auto i : item_sites) {
    DetectMaterial(engine, reach, i, policy, out, nullptr);
    if (ids_in_scope != nullptr) {
      const auto name = engine.snapshot().ItemSiteName(i);
      for (auto type : {ExceptionType::kShortage, ExceptionType::kBelowSafetyStock,
                        ExceptionType::kPastDueRelease, ExceptionType::kSharedComponent,
                        ExceptionType::kExcessInventory, ExceptionType::kObsoleteInventory}) {
        ids_in_scope->push_back(ExceptionId(type, name));
      }
    }
  }
  SortById(out);
  return out;
}

}  // namespace

std::vector<Exception> DetectItemSiteExceptions(const NettingEngine& engine,
                                                std::span<const ItemSiteIndex> item_sites,
                                                const DetectionPolicy& policy,
                                                std::vector<std::string>* ids_in_scope) {
  detail::ReachIndex reach(engine, false);
  return RedetectWith(engine, reach, item_sites, policy, ids_in_scope);
}

namespace detail {

/// What each item-site puts at risk of which sales order, kept per item-site (to forget it when
/// the item-site is re-detected) and per order (to rebuild the order's exception), and the
/// current ORDER_AT_RISK exception of every order at risk.
struct OrderRiskTracker {
  using Notes = std::vector<std::pair<std::int32_t, double>>;
  std::vector<Notes> by_item_site;  ///< (sales order, quantity), in detection order
  std::vector<Notes> by_order;      ///< (item-site, quantity), item-sites ascending
  std::vector<char> reached_mark;   ///< per item-site, scratch
  std::vector<char> rebuild_mark;   ///< per order, scratch
  std::vector<char> taken_mark;     ///< per order: rebuilt since the last take
  std::vector<std::int32_t> taken;  ///< those orders
  std::unordered_map<std::int32_t, Exception> current;

  void Fit(std::size_t item_sites, std::size_t orders) {
    if (by_item_site.size() < item_sites) {
      by_item_site.resize(item_sites);
      reached_mark.resize(item_sites, 0);
    }
    if (by_order.size() < orders) {
      by_order.resize(orders);
      rebuild_mark.resize(orders, 0);
      taken_mark.resize(orders, 0);
    }
  }

  // The ORDER_AT_RISK exception of `order` from its notes, summed in item order as a full
  // detection does (NoteOrder + FinishOrdersAtRisk, shared with it).
  void Rebuild(const model::Snapshot& snapshot, std::int32_t order) {
    std::map<std::int32_t, OrderRisk> risk;
    for (const auto& [item_site, quantity] : by_order[static_cast<std::size_t>(order)]) {
      NoteOrder(risk, ItemSiteIndex(item_site), order, quantity);
    }
    std::vector<Exception> out;
    FinishOrdersAtRisk(snapshot, risk, out, nullptr);
    if (out.empty()) {
      current.erase(order);
    } else {
      current.insert_or_assign(order, std::move(out.front()));
    }
  }
};

/// Rough-cut load kept per item-site between net changes (see MaterialRedetector::FollowCapacity):
/// each item-site's (cell, hours) contributions, the cells' loads and overloads, and the current
/// capacity exceptions of every work center.
struct CapacityTracker {
  struct KnownReceipt {
    ItemSiteIndex item_site;
    model::ReceiptKind kind;
    Bucket start = 0;
    Bucket due = 0;
    double quantity = 0.0;
    bool operator==(const KnownReceipt&) const = default;
  };
  std::size_t horizon = 0;
  std::size_t work_centers = 0;
  std::vector<double> load;                                 ///< per cell
  std::vector<double> capacity;                             ///< per cell (static)
  std::vector<char> overloaded;                             ///< per cell
  std::vector<Overload> overload;                           ///< per cell, when overloaded
  std::vector<std::vector<ItemSiteIndex>> wc_items;         ///< routed item-sites, ascending
  std::vector<std::vector<CellLoad>> planned, work_orders;  ///< per item-site, by cell
  std::vector<std::vector<std::int32_t>> receipts_of;       ///< per item-site, ascending
  std::vector<KnownReceipt> receipts;                       ///< as last seen
  std::vector<std::vector<Exception>> current;              ///< per work center
  std::vector<char> taken_mark;                             ///< per work center
  std::vector<std::int32_t> taken;                          ///< rebuilt since the last take
  std::vector<std::string> scope;                           ///< their ids before
  std::vector<char> cell_mark, item_mark, wc_mark;          ///< scratch

  static KnownReceipt Known(const model::ScheduledReceipt& r) {
    return KnownReceipt{r.item_site, r.kind, r.start_bucket, r.due_bucket, r.quantity};
  }

  void Start(const NettingEngine& engine, ReachIndex& reach, const DetectionPolicy& policy) {
    const auto& snapshot = engine.snapshot();
    const auto& plan = engine.plan();
    const auto n = snapshot.item_site_count();
    auto rough = RoughCut(snapshot, plan);
    horizon = static_cast<std::size_t>(rough.horizon);
    work_centers = rough.work_center_count;
    const auto cells = horizon * work_centers;
    load = rough.load_hours;
    capacity = rough.capacity_hours;
    overloaded.assign(cells, 0);
    overload.assign(cells, Overload{});
    for (const auto& o : rough.overloads) {
      const auto cell = static_cast<std::size_t>(o.work_center.value()) * horizon +
                        static_cast<std::size_t>(o.bucket);
      overloaded[cell] = 1;
      overload[cell] = o;
    }
    wc_items.assign(work_centers, {});
    for (std::size_t c = 0; c < n; ++c) {
      const ItemSiteIndex i(static_cast<std::int32_t>(c));
      for (const auto& step : snapshot.Routing(i)) {
        auto& items = wc_items[static_cast<std::size_t>(step.work_center.value())];
        if (items.empty() || items.back() != i) items.push_back(i);
      }
    }
    receipts_of.assign(n, {});
    receipts.clear();
    for (std::size_t r = 0; r < snapshot.receipts.size(); ++r) {
      receipts.push_back(Known(snapshot.receipts[r]));
      const auto item = snapshot.receipts[r].item_site;
      if (item.value() >= 0 && Idx(item) < n) {
        receipts_of[Idx(item)].push_back(static_cast<std::int32_t>(r));
      }
    }
    planned.assign(n, {});
    work_orders.assign(n, {});
    for (std::size_t c = 0; c < n; ++c) {
      ItemSiteLoad(snapshot, plan, ItemSiteIndex(static_cast<std::int32_t>(c)), receipts_of[c],
                   &planned[c], &work_orders[c]);
    }
    cell_mark.assign(cells, 0);
    item_mark.assign(n, 0);
    wc_mark.assign(work_centers, 0);
    taken_mark.assign(work_centers, 0);
    taken.clear();
    current.assign(work_centers, {});
    std::vector<Exception> out;
    DetectCapacity(engine, reach, rough, policy, out);
    for (auto& e : out) current[static_cast<std::size_t>(e.work_center.value())].push_back(e);
  }

  // Re-sums the marked `cells` of work center `k` (ascending) in RoughCut's order — planned
  // orders by item-site, then work orders by receipt — and rebuilds their overloads: one pass over
  // the work center's item-sites for all of them.
  void Resum(std::size_t k, std::span<const std::size_t> cells) {
    const auto first_cell = k * horizon;
    std::vector<std::vector<const LoadContribution*>> by_bucket(horizon);
    std::vector<std::size_t> planned_count(horizon, 0);
    auto collect = [&](const std::vector<CellLoad>& list) {
      auto it = std::lower_bound(list.begin(), list.end(), first_cell,
                                 [](const CellLoad& a, std::size_t cell) { return a.cell < cell; });
      for (; it != list.end() && it->cell < first_cell + horizon; ++it) {
        if (cell_mark[it->cell]) by_bucket[it->cell - first_cell].push_back(&it->contribution);
      }
    };
    for (auto i : wc_items[k]) collect(planned[Idx(i)]);
    for (auto cell : cells) planned_count[cell - first_cell] = by_bucket[cell - first_cell].size();
    for (auto i : wc_items[k]) collect(work_orders[Idx(i)]);
    for (auto cell : cells) {
      auto& contributions = by_bucket[cell - first_cell];
      std::stable_sort(
          contributions.begin() + static_cast<std::ptrdiff_t>(planned_count[cell - first_cell]),
          contributions.end(), [](const LoadContribution* a, const LoadContribution* b) {
            return a->supply.index < b->supply.index;
          });
      double sum = 0.0;
      for (const auto* c : contributions) sum += c->hours;
      load[cell] = sum;
      const double cap = capacity[cell];
      const double over = std::max(0.0, sum - cap);
      if (over > 1e-9 * std::max(1.0, cap)) {
        overloaded[cell] = 1;
        auto& o = overload[cell];
        o.work_center = WorkCenterIndex(static_cast<std::int32_t>(k));
        o.bucket = static_cast<Bucket>(cell - first_cell);
        o.load_hours = sum;
        o.capacity_hours = cap;
        o.overload_hours = over;
        o.contributions.clear();
        for (const auto* c : contributions) o.contributions.push_back(*c);
        std::stable_sort(
            o.contributions.begin(), o.contributions.end(),
            [](const LoadContribution& a, const LoadContribution& b) { return a.hours > b.hours; });
      } else {
        overloaded[cell] = 0;
        overload[cell] = Overload{};
      }
    }
  }

  // Follows one net change: `touched` re-netted, `reached` (touched and what they consume) may
  // peg to other end demands now.
  void Follow(const NettingEngine& engine, ReachIndex& reach, const DetectionPolicy& policy,
              std::span<const ItemSiteIndex> touched, std::span<const ItemSiteIndex> reached) {
    const auto& snapshot = engine.snapshot();
    const auto& plan = engine.plan();
    const auto n = snapshot.item_site_count();
    if (n != planned.size() || static_cast<std::size_t>(snapshot.H()) != horizon ||
        snapshot.work_centers.size() != work_centers) {
      for (std::size_t w = 0; w < current.size(); ++w) {
        for (const auto& e : current[w]) scope.push_back(e.id);
      }
      Start(engine, reach, policy);
      for (std::size_t w = 0; w < work_centers; ++w) Take(static_cast<std::int32_t>(w));
      return;
    }
    std::vector<ItemSiteIndex> dirty;
    auto mark_item = [&](ItemSiteIndex i) {
      if (i.value() < 0 || Idx(i) >= n || item_mark[Idx(i)]) return;
      item_mark[Idx(i)] = 1;
      dirty.push_back(i);
    };
    for (auto i : touched) mark_item(i);
    // Work orders added, moved or changed (their item-sites are re-netted too; checked anyway).
    for (std::size_t r = 0; r < snapshot.receipts.size(); ++r) {
      const auto now = Known(snapshot.receipts[r]);
      if (r < receipts.size() && receipts[r] == now) continue;
      const auto item = now.item_site;
      if (r < receipts.size()) {
        const auto before = receipts[r].item_site;
        mark_item(before);
        if (before != item && before.value() >= 0 && Idx(before) < n) {
          std::erase(receipts_of[Idx(before)], static_cast<std::int32_t>(r));
        }
        receipts[r] = now;
        if (before == item) {
          mark_item(item);
          continue;
        }
      } else {
        receipts.push_back(now);
      }
      mark_item(item);
      if (item.value() >= 0 && Idx(item) < n) {
        auto& list = receipts_of[Idx(item)];
        list.insert(std::upper_bound(list.begin(), list.end(), static_cast<std::int32_t>(r)),
                    static_cast<std::int32_t>(r));
      }
    }
    std::vector<std::size_t> cells;
    auto mark_cells = [&](const std::vector<CellLoad>& list) {
      for (const auto& entry : list) {
        if (cell_mark[entry.cell]) continue;
        cell_mark[entry.cell] = 1;
        cells.push_back(entry.cell);
      }
    };
    for (auto i : dirty) {
      const auto c = Idx(i);
      item_mark[c] = 0;
      mark_cells(planned[c]);
      mark_cells(work_orders[c]);
      ItemSiteLoad(snapshot, plan, i, receipts_of[c], &planned[c], &work_orders[c]);
      mark_cells(planned[c]);
      mark_cells(work_orders[c]);
    }
    std::vector<std::int32_t> wcs;
    auto mark_wc = [&](std::size_t k) {
      if (wc_mark[k]) return;
      wc_mark[k] = 1;
      wcs.push_back(static_cast<std::int32_t>(k));
    };
    std::sort(cells.begin(), cells.end());
    for (std::size_t a = 0; a < cells.size();) {
      const auto k = cells[a] / horizon;
      std::size_t b = a;
      while (b < cells.size() && cells[b] / horizon == k) ++b;
      Resum(k, std::span<const std::size_t>(cells.data() + a, b - a));
      mark_wc(k);
      a = b;
    }
    for (auto cell : cells) cell_mark[cell] = 0;
    // Overloads whose traced contributions peg to other end demands now.
    if (plan.pegged && !reached.empty()) {
      for (auto i : reached) {
        if (i.value() >= 0 && Idx(i) < n) item_mark[Idx(i)] = 1;
      }
      const auto traced =
          static_cast<std::size_t>(std::max(0, policy.overload_traced_contributions));
      for (std::size_t cell = 0; cell < overloaded.size(); ++cell) {
        if (!overloaded[cell] || wc_mark[cell / horizon]) continue;
        const auto& list = overload[cell].contributions;
        for (std::size_t k = 0; k < list.size() && k < traced; ++k) {
          if (item_mark[Idx(list[k].item_site)]) {
            mark_wc(cell / horizon);
            break;
          }
        }
      }
      for (auto i : reached) {
        if (i.value() >= 0 && Idx(i) < n) item_mark[Idx(i)] = 0;
      }
    }
    std::sort(wcs.begin(), wcs.end());
    CapacityPlan part;
    part.horizon = static_cast<std::int32_t>(horizon);
    part.work_center_count = work_centers;
    for (auto w : wcs) {
      wc_mark[static_cast<std::size_t>(w)] = 0;
      const auto base = static_cast<std::size_t>(w) * horizon;
      for (std::size_t t = 0; t < horizon; ++t) {
        if (overloaded[base + t]) part.overloads.push_back(overload[base + t]);
      }
    }
    std::vector<Exception> out;
    DetectCapacity(engine, reach, part, policy, out);
    for (auto w : wcs) {
      for (const auto& e : current[static_cast<std::size_t>(w)]) scope.push_back(e.id);
      current[static_cast<std::size_t>(w)].clear();
      Take(w);
    }
    for (auto& e : out) {
      current[static_cast<std::size_t>(e.work_center.value())].push_back(std::move(e));
    }
  }

  void Take(std::int32_t w) {
    if (taken_mark[static_cast<std::size_t>(w)]) return;
    taken_mark[static_cast<std::size_t>(w)] = 1;
    taken.push_back(w);
  }
};
}  // namespace detail

MaterialRedetector::MaterialRedetector(const NettingEngine& engine, DetectionPolicy policy)
    : engine_(&engine),
      policy_(policy),
      reach_(std::make_unique<detail::ReachIndex>(engine, true)) {}
MaterialRedetector::~MaterialRedetector() = default;
MaterialRedetector::MaterialRedetector(MaterialRedetector&&) noexcept = default;
MaterialRedetector& MaterialRedetector::operator=(MaterialRedetector&&) noexcept = default;

void MaterialRedetector::Warm() {
  const auto& plan = engine_->plan();
  for (std::size_t c = 0; c < plan.orders.size(); ++c) {
    for (std::size_t o = 0; o < plan.orders[c].size(); ++o) {
      reach_->OfPlannedOrder(ItemSiteIndex(static_cast<std::int32_t>(c)),
                             static_cast<std::int32_t>(o));
    }
  }
}

void MaterialRedetector::Forget(std::span<const ItemSiteIndex> touched) {
  if (orders_ == nullptr && capacity_ == nullptr) {
    reach_->Invalidate(touched);
    return;
  }
  std::vector<ItemSiteIndex> reached;
  reach_->Invalidate(touched, &reached);
  if (orders_ != nullptr) FollowReached(reached, touched, nullptr);
  if (capacity_ != nullptr) capacity_->Follow(*engine_, *reach_, policy_, touched, reached);
}

std::vector<Exception> MaterialRedetector::Redetect(std::span<const ItemSiteIndex> touched,
                                                    std::vector<std::string>* ids_in_scope) {
  if (orders_ == nullptr && capacity_ == nullptr) {
    reach_->Invalidate(touched);
    return RedetectWith(*engine_, *reach_, touched, policy_, ids_in_scope);
  }
  std::vector<ItemSiteIndex> reached;
  reach_->Invalidate(touched, &reached);
  if (capacity_ != nullptr) capacity_->Follow(*engine_, *reach_, policy_, touched, reached);
  if (orders_ == nullptr) return RedetectWith(*engine_, *reach_, touched, policy_, ids_in_scope);
  // One detection of a reached item-site gives both its material exceptions and its
  // order-at-risk record; all of them are returned (the reached but not re-netted ones' reach,
  // hence revenue at risk and customers, moved with the change too).
  const auto& snapshot = engine_->snapshot();
  std::vector<Exception> out;
  const auto detected = FollowReached(reached, touched, &out);
  if (ids_in_scope != nullptr) {
    for (auto i : detected) {
      const auto name = snapshot.ItemSiteName(i);
      for (auto type : {ExceptionType::kShortage, ExceptionType::kBelowSafetyStock,
                        ExceptionType::kPastDueRelease, ExceptionType::kSharedComponent,
                        ExceptionType::kExcessInventory, ExceptionType::kObsoleteInventory}) {
        ids_in_scope->push_back(ExceptionId(type, name));
      }
    }
  }
  SortById(out);
  return out;
}

void MaterialRedetector::FollowOrdersAtRisk() {
  if (orders_ != nullptr) return;
  const auto& snapshot = engine_->snapshot();
  auto tracker = std::make_unique<detail::OrderRiskTracker>();
  const auto n = snapshot.item_site_count();
  tracker->Fit(n, snapshot.sales_orders.size());
  std::vector<Exception> scratch;
  for (std::size_t c = 0; c < n; ++c) {
    const ItemSiteIndex i(static_cast<std::int32_t>(c));
    DetectMaterial(*engine_, *reach_, i, policy_, scratch, nullptr, &tracker->by_item_site[c]);
    scratch.clear();
    for (const auto& [order, quantity] : tracker->by_item_site[c]) {
      tracker->by_order[static_cast<std::size_t>(order)].emplace_back(i.value(), quantity);
    }
  }
  for (std::size_t k = 0; k < tracker->by_order.size(); ++k) {
    if (!tracker->by_order[k].empty()) tracker->Rebuild(snapshot, static_cast<std::int32_t>(k));
  }
  orders_ = std::move(tracker);
}

std::vector<ItemSiteIndex> MaterialRedetector::FollowReached(
    std::span<const ItemSiteIndex> all_reached, std::span<const ItemSiteIndex> touched,
    std::vector<Exception>* material) {
  auto& t = *orders_;
  const auto& snapshot = engine_->snapshot();
  const auto& plan = engine_->plan();
  t.Fit(snapshot.item_site_count(), snapshot.sales_orders.size());
  // A reached item-site that was not re-netted keeps its plan: only what depends on reach can
  // differ — its shortage, past-due release and shared-component exceptions and its notes, all
  // of which need a shortage finding or a past-due order. Without either (and without notes
  // before) there is nothing to detect again.
  for (auto i : touched) {
    if (i.value() >= 0 && Idx(i) < t.reached_mark.size()) t.reached_mark[Idx(i)] = 2;
  }
  std::vector<ItemSiteIndex> reached;
  reached.reserve(all_reached.size());
  for (auto i : all_reached) {
    const auto c = Idx(i);
    bool redo = t.reached_mark[c] == 2 || !t.by_item_site[c].empty();
    for (std::size_t f = 0; !redo && f < plan.item_findings[c].size(); ++f) {
      redo = plan.item_findings[c][f].type == model::FindingType::kShortage;
    }
    for (std::size_t o = 0; !redo && o < plan.orders[c].size(); ++o)
      redo = plan.orders[c][o].past_due;
    if (redo) reached.push_back(i);
  }
  for (auto i : touched) {
    if (i.value() >= 0 && Idx(i) < t.reached_mark.size()) t.reached_mark[Idx(i)] = 0;
  }
  std::vector<std::int32_t> rebuild;
  auto mark = [&](std::int32_t order) {
    const auto k = static_cast<std::size_t>(order);
    if (t.rebuild_mark[k]) return;
    t.rebuild_mark[k] = 1;
    rebuild.push_back(order);
  };
  // What the reached item-sites put at risk before: forgotten.
  for (auto i : reached) {
    t.reached_mark[Idx(i)] = 1;
    for (const auto& [order, quantity] : t.by_item_site[Idx(i)]) mark(order);
  }
  for (auto order : rebuild) {
    std::erase_if(t.by_order[static_cast<std::size_t>(order)], [&](const auto& note) {
      return t.reached_mark[static_cast<std::size_t>(note.first)] != 0;
    });
  }
  // … and now: re-detected on the current plan.
  std::vector<Exception> scratch;
  for (auto i : reached) {
    auto& notes = t.by_item_site[Idx(i)];
    notes.clear();
    DetectMaterial(*engine_, *reach_, i, policy_, material != nullptr ? *material : scratch,
                   nullptr, &notes);
    scratch.clear();
    for (const auto& [order, quantity] : notes) {
      mark(order);
      t.by_order[static_cast<std::size_t>(order)].emplace_back(i.value(), quantity);
    }
  }
  for (auto i : reached) t.reached_mark[Idx(i)] = 0;
  for (auto order : rebuild) {
    const auto k = static_cast<std::size_t>(order);
    t.rebuild_mark[k] = 0;
    std::stable_sort(t.by_order[k].begin(), t.by_order[k].end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    t.Rebuild(snapshot, order);
    if (!t.taken_mark[k]) {
      t.taken_mark[k] = 1;
      t.taken.push_back(order);
    }
  }
  return reached;
}

std::vector<Exception> MaterialRedetector::TakeOrdersAtRisk(
    std::vector<std::string>* ids_in_scope) {
  std::vector<Exception> out;
  if (orders_ == nullptr) return out;
  auto& t = *orders_;
  const auto& snapshot = engine_->snapshot();
  for (auto order : t.taken) {
    const auto k = static_cast<std::size_t>(order);
    t.taken_mark[k] = 0;
    if (ids_in_scope != nullptr) {
      ids_in_scope->push_back(
          ExceptionId(ExceptionType::kOrderAtRisk, snapshot.sales_orders[k].id));
    }
    if (auto it = t.current.find(order); it != t.current.end()) out.push_back(it->second);
  }
  t.taken.clear();
  SortById(out);
  return out;
}

std::vector<Exception> MaterialRedetector::OrdersAtRisk() const {
  std::vector<Exception> out;
  if (orders_ == nullptr) return out;
  out.reserve(orders_->current.size());
  for (const auto& [order, e] : orders_->current) out.push_back(e);
  SortById(out);
  return out;
}

void MaterialRedetector::FollowCapacity() {
  if (capacity_ != nullptr) return;
  auto tracker = std::make_unique<detail::CapacityTracker>();
  tracker->Start(*engine_, *reach_, policy_);
  capacity_ = std::move(tracker);
}

std::vector<Exception> MaterialRedetector::TakeCapacity(std::vector<std::string>* ids_in_scope) {
  std::vector<Exception> out;
  if (capacity_ == nullptr) return out;
  auto& t = *capacity_;
  for (auto w : t.taken) {
    t.taken_mark[static_cast<std::size_t>(w)] = 0;
    for (const auto& e : t.current[static_cast<std::size_t>(w)]) out.push_back(e);
  }
  if (ids_in_scope != nullptr) {
    ids_in_scope->insert(ids_in_scope->end(), t.scope.begin(), t.scope.end());
  }
  t.taken.clear();
  t.scope.clear();
  SortById(out);
  return out;
}

std::vector<Exception> MaterialRedetector::CapacityExceptions() const {
  std::vector<Exception> out;
  if (capacity_ == nullptr) return out;
  for (const auto& list : capacity_->current) out.insert(out.end(), list.begin(), list.end());
  SortById(out);
  return out;
}

}  // namespace sop::planning
