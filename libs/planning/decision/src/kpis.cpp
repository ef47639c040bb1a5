#include "sop/planning/kpis.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <map>
#include <utility>

#include "sop/forecast/metrics.hpp"

namespace sop::planning {

namespace {

inline std::size_t Idx(ItemSiteIndex i) { return static_cast<std::size_t>(i.value()); }

const std::string& KeyOf(const DemandRecord& r, KpiGrouping g) {
  switch (g) {
    case KpiGrouping::kFamily: return r.family;
    case KpiGrouping::kSku: return r.sku;
    case KpiGrouping::kSite: return r.site;
    case KpiGrouping::kChannel: return r.channel;
  }
  return r.sku;
}

Result<double> Ratio(double numerator, double denominator, const char* what) {
  if (denominator == 0.0) return Fail(Errc::kFailedPrecondition, std::string(what) + ": denominator is 0");
  return numerator / denominator;
}

}  // namespace

Result<double> Mape(std::span<const double> actual, std::span<const double> forecast) {
  if (actual.size() != forecast.size() || actual.empty()) {
    return Fail(Errc::kInvalidArgument, "mape: actual and forecast must be non-empty and of equal length");
  }
  double sum = 0.0;
  std::size_t n = 0;
  for (std::size_t k = 0; k < actual.size(); ++k) {
    if (actual[k] == 0.0) continue;
    sum += 100.0 * std::abs(actual[k] - forecast[k]) / std::abs(actual[k]);
    ++n;
  }
  if (n == 0) return Fail(Errc::kFailedPrecondition, "mape: every actual is 0");
  return sum / static_cast<double>(n);
}

std::vector<AccuracyKpi> ForecastAccuracy(std::span<const DemandRecord> records, KpiGrouping grouping) {
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> groups;
  for (const auto& r : records) {
    auto& [actual, forecast] = groups[KeyOf(r, grouping)];
    actual.push_back(r.actual);
    forecast.push_back(r.forecast);
  }
  std::vector<AccuracyKpi> out;
  out.reserve(groups.size());
  for (const auto& [key, series] : groups) {
    const auto& [actual, forecast] = series;
    AccuracyKpi kpi;
    kpi.key = key;
    kpi.points = actual.size();
    // The forecast library owns WMAPE and bias; only MAPE is defined here.
    kpi.wmape = forecast::Wmape(actual, forecast).value_or(0.0);
    kpi.mape = Mape(actual, forecast).value_or(0.0);
    kpi.bias = forecast::Bias(actual, forecast).value_or(0.0);
    kpi.relative_bias = forecast::RelativeBias(actual, forecast).value_or(0.0);
    out.push_back(std::move(kpi));
  }
  return out;
}

Result<double> Otif(std::span<const ShipmentRecord> shipments) {
  if (shipments.empty()) return Fail(Errc::kInvalidArgument, "otif: no shipments");
  struct Line {
    double ordered = 0.0;
    double on_time = 0.0;
  };
  std::map<std::string, Line> lines;
  for (const auto& s : shipments) {
    auto& line = lines[s.order_id];
    line.ordered = std::max(line.ordered, s.ordered_quantity);
    if (s.ship_bucket <= s.due_bucket) line.on_time += s.shipped_quantity;
  }
  std::size_t hits = 0;
  for (const auto& [id, line] : lines) {
    if (line.on_time >= line.ordered * (1.0 - 1e-9)) ++hits;
  }
  return static_cast<double>(hits) / static_cast<double>(lines.size());
}

std::vector<AgingBand> BacklogAging(std::span<const OpenOrderLine> open_lines, Bucket today,
                                    std::span<const Bucket> edges) {
  std::vector<AgingBand> bands;
  Bucket low = 1;
  for (Bucket edge : edges) {
    bands.push_back(AgingBand{low, edge, 0.0, 0});
    low = edge;
  }
  bands.push_back(AgingBand{low, INT32_MAX, 0.0, 0});
  for (const auto& line : open_lines) {
    const Bucket age = today - line.due_bucket;
    if (age < 1 || line.open_quantity <= 0.0) continue;  // not late yet
    for (auto& band : bands) {
      if (age >= band.min_age && age < band.max_age) {
        band.quantity += line.open_quantity;
        ++band.lines;
        break;
      }
    }
  }
  return bands;
}

Result<double> InventoryTurns(double cost_of_goods_sold, double average_inventory_value) {
  return Ratio(cost_of_goods_sold, average_inventory_value, "inventory turns");
}

Result<double> DaysOfSupply(double on_hand, double demand_per_day) {
  return Ratio(on_hand, demand_per_day, "days of supply");
}

StockoutExposure ProjectedStockoutExposure(const model::Snapshot& snapshot, const Plan& plan) {
  StockoutExposure out;
  for (std::size_t c = 0; c < plan.item_site_count; ++c) {
    const ItemSiteIndex i(static_cast<std::int32_t>(c));
    double deepest = 0.0;
    Bucket first = -1;
    const auto row = plan.Row(plan.projected_available, i);
    for (std::size_t t = 0; t < row.size(); ++t) {
      if (row[t] < 0.0) {
        if (first < 0) first = static_cast<Bucket>(t);
        deepest = std::max(deepest, -row[t]);
      }
    }
    if (first < 0) continue;
    ++out.item_sites;
    out.units += deepest;
    out.revenue += deepest * snapshot.item_sites[c].unit_price;
    if (out.first_bucket < 0 || first < out.first_bucket) out.first_bucket = first;
  }
  return out;
}

std::vector<double> InventoryValueTrend(const model::Snapshot& snapshot, const Plan& plan) {
  std::vector<double> out(static_cast<std::size_t>(plan.horizon), 0.0);
  for (std::size_t c = 0; c < plan.item_site_count; ++c) {
    const double cost = snapshot.item_sites[c].unit_cost;
    const auto row = plan.Row(plan.projected_available, ItemSiteIndex(static_cast<std::int32_t>(c)));
    for (std::size_t t = 0; t < row.size(); ++t) out[t] += std::max(0.0, row[t]) * cost;
  }
  return out;
}

std::vector<double> WorkingCapitalTrend(const model::Snapshot& snapshot, const Plan& plan) {
  auto out = InventoryValueTrend(snapshot, plan);
  auto add_pipeline = [&](Bucket release, Bucket receipt, double value) {
    for (Bucket t = std::max<Bucket>(0, release); t < receipt && t < plan.horizon; ++t) {
      out[static_cast<std::size_t>(t)] += value;
    }
  };
  for (std::size_t c = 0; c < plan.item_site_count; ++c) {
    const double cost = snapshot.item_sites[c].unit_cost;
    for (const auto& order : plan.orders[c]) add_pipeline(order.release_bucket, order.receipt_bucket, order.release_quantity * cost);
  }
  for (const auto& r : snapshot.receipts) {
    if (r.kind != model::ReceiptKind::kWorkOrder || r.quantity <= 0.0) continue;
    add_pipeline(r.start_bucket, r.due_bucket, r.quantity * snapshot.item_sites[Idx(r.item_site)].unit_cost);
  }
  return out;
}

Result<double> CapacityUtilization(const CapacityPlan& capacity, model::WorkCenterIndex work_center,
                                   Bucket from, Bucket to) {
  if (work_center.value() < 0 || static_cast<std::size_t>(work_center.value()) >= capacity.work_center_count) {
    return Fail(Errc::kInvalidArgument, "capacity utilization: work center out of range");
  }
  from = std::max<Bucket>(0, from);
  to = std::min(capacity.horizon, to);
  if (from >= to) return Fail(Errc::kInvalidArgument, "capacity utilization: empty bucket window");
  const auto load = capacity.Row(capacity.load_hours, work_center);
  const auto cap = capacity.Row(capacity.capacity_hours, work_center);
  double l = 0.0, c = 0.0;
  for (Bucket t = from; t < to; ++t) {
    l += load[static_cast<std::size_t>(t)];
    c += cap[static_cast<std::size_t>(t)];
  }
  return Ratio(l, c, "capacity utilization");
}

Result<double> PlanAttainment(std::span<const ProductionRecord> planned,
                              std::span<const ProductionRecord> completed) {
  std::map<std::pair<std::int32_t, Bucket>, std::pair<double, double>> cells;  // planned, done
  for (const auto& p : planned) cells[{p.item_site.value(), p.bucket}].first += p.quantity;
  for (const auto& c : completed) cells[{c.item_site.value(), c.bucket}].second += c.quantity;
  double attained = 0.0, total = 0.0;
  for (const auto& [key, cell] : cells) {
    total += cell.first;
    attained += std::min(cell.first, cell.second);
  }
  return Ratio(attained, total, "plan attainment");
}

Result<double> SupplierOnTimeRate(std::span<const SupplierDelivery> deliveries, const std::string& supplier_id) {
  std::size_t n = 0, on_time = 0;
  for (const auto& d : deliveries) {
    if (d.supplier_id != supplier_id) continue;
    ++n;
    if (d.received_bucket <= d.confirmed_bucket) ++on_time;
  }
  if (n == 0) return Fail(Errc::kFailedPrecondition, "supplier on-time rate: no deliveries of " + supplier_id);
  return static_cast<double>(on_time) / static_cast<double>(n);
}

Result<LeadTimeStats> LeadTimeVariability(std::span<const SupplierDelivery> deliveries,
                                          const std::string& supplier_id) {
  LeadTimeStats out;
  double sum = 0.0;
  for (const auto& d : deliveries) {
    if (d.supplier_id != supplier_id) continue;
    ++out.deliveries;
    sum += d.lead_time;
  }
  if (out.deliveries < 2) return Fail(Errc::kFailedPrecondition, "lead-time variability: fewer than 2 deliveries of " + supplier_id);
  out.mean = sum / static_cast<double>(out.deliveries);
  double squares = 0.0;
  for (const auto& d : deliveries) {
    if (d.supplier_id == supplier_id) squares += (d.lead_time - out.mean) * (d.lead_time - out.mean);
  }
  out.stddev = std::sqrt(squares / static_cast<double>(out.deliveries - 1));
  out.cv = out.mean > 0.0 ? out.stddev / out.mean : 0.0;
  return out;
}

Result<double> RevenueAttainment(std::span<const PeriodFinancials> periods) {
  double actual = 0.0, planned = 0.0;
  for (const auto& p : periods) {
    actual += p.actual_revenue;
    planned += p.planned_revenue;
  }
  return Ratio(actual, planned, "revenue attainment");
}

Result<double> MarginAttainment(std::span<const PeriodFinancials> periods) {
  double actual = 0.0, planned = 0.0;
  for (const auto& p : periods) {
    actual += p.actual_margin;
    planned += p.planned_margin;
  }
  return Ratio(actual, planned, "margin attainment");
}

double ExpediteCost(std::span<const ExpediteRecord> expedites) {
  double sum = 0.0;
  for (const auto& e : expedites) sum += e.quantity * e.premium_per_unit + e.fixed_fee;
  return sum;
}

}  // namespace sop::planning
