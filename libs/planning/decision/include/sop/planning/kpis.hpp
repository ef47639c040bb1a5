#pragma once
/// S&OP KPIs: one function each, formulas in docs/KPIS.md. Each is a pure function of the plan,
/// the snapshot and plain event-history records; safe to call from any thread.
/// Errors: kInvalidArgument for mismatched or empty inputs, kFailedPrecondition when the
/// denominator of a ratio is zero (e.g. no planned production), so callers can skip the KPI.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/model/snapshot.hpp"
#include "sop/planning/exceptions.hpp"
#include "sop/planning/plan.hpp"
#include "sop/planning/rough_cut.hpp"

namespace sop::planning {

// ---- Event history records -----------------------------------------------------------------

/// Forecast vs actual demand of one SKU at one site and channel in one bucket.
struct DemandRecord {
  std::string family;
  std::string sku;
  std::string site;
  std::string channel;
  Bucket bucket = 0;
  double forecast = 0.0;
  double actual = 0.0;
};

/// One shipment against a sales-order line (several shipments may serve one line).
struct ShipmentRecord {
  std::string order_id;
  Bucket due_bucket = 0;
  Bucket ship_bucket = 0;
  double ordered_quantity = 0.0;  ///< the line's ordered quantity (repeated on each shipment)
  double shipped_quantity = 0.0;
};

/// An open (unshipped) sales-order line.
struct OpenOrderLine {
  std::string order_id;
  Bucket due_bucket = 0;
  double open_quantity = 0.0;
};

/// Production planned or completed for one item-site in one bucket.
struct ProductionRecord {
  ItemSiteIndex item_site = model::kNoItemSite;
  Bucket bucket = 0;
  double quantity = 0.0;
};

/// Planned and actual revenue and margin of one period.
struct PeriodFinancials {
  Bucket bucket = 0;
  double planned_revenue = 0.0;
  double actual_revenue = 0.0;
  double planned_margin = 0.0;
  double actual_margin = 0.0;
};

/// One expedite: premium freight or a rush order.
struct ExpediteRecord {
  std::string order_id;
  double quantity = 0.0;
  double premium_per_unit = 0.0;
  double fixed_fee = 0.0;
};

// ---- Forecast accuracy ---------------------------------------------------------------------

enum class KpiGrouping : std::uint8_t { kFamily, kSku, kSite, kChannel };

/// Accuracy of one group: WMAPE and MAPE in percent, bias Σ(f − y) and relative bias Σ(f−y)/Σy.
struct AccuracyKpi {
  std::string key;
  double wmape = 0.0;
  double mape = 0.0;           ///< over the points with y ≠ 0; 0 when there are none
  double bias = 0.0;
  double relative_bias = 0.0;  ///< 0 when Σy = 0
  std::size_t points = 0;
};

/// MAPE in percent: mean of 100·|y − f|/|y| over the points with y ≠ 0.
Result<double> Mape(std::span<const double> actual, std::span<const double> forecast);

/// Accuracy per group (sorted by key). WMAPE and bias come from sop::forecast's metrics.
std::vector<AccuracyKpi> ForecastAccuracy(std::span<const DemandRecord> records, KpiGrouping grouping);

// ---- Service -------------------------------------------------------------------------------

/// On time in full: share of order lines whose quantity shipped in or before the due bucket
/// covers the ordered quantity (within 1e−9 relative).
Result<double> Otif(std::span<const ShipmentRecord> shipments);

/// Backlog units (and lines) per age band: age = today − due (late lines only). Band k holds
/// ages in [edges[k−1], edges[k]) with edges[−1] = 1 and a last open band [edges.back(), ∞).
struct AgingBand {
  Bucket min_age = 0;
  Bucket max_age = 0;  ///< exclusive; INT32_MAX for the open band
  double quantity = 0.0;
  std::size_t lines = 0;
};
std::vector<AgingBand> BacklogAging(std::span<const OpenOrderLine> open_lines, Bucket today,
                                    std::span<const Bucket> edges);

// ---- Inventory -----------------------------------------------------------------------------

/// Inventory turns = cost of goods sold over the period / average inventory value.
Result<double> InventoryTurns(double cost_of_goods_sold, double average_inventory_value);
/// Days of supply = on hand / average daily demand.
Result<double> DaysOfSupply(double on_hand, double demand_per_day);

/// Item-sites whose projected available balance goes below zero somewhere in the horizon (the
/// frozen-fence gaps netting cannot fill): count, Σ deepest deficit, × unit price.
struct StockoutExposure {
  std::size_t item_sites = 0;
  double units = 0.0;
  double revenue = 0.0;
  Bucket first_bucket = -1;
};
StockoutExposure ProjectedStockoutExposure(const model::Snapshot& snapshot, const Plan& plan);

/// Inventory value per bucket: Σ max(0, projected available) × unit cost.
std::vector<double> InventoryValueTrend(const model::Snapshot& snapshot, const Plan& plan);

/// Working capital per bucket: inventory value + pipeline value (released, not yet received
/// planned orders and open work orders, at unit cost).
std::vector<double> WorkingCapitalTrend(const model::Snapshot& snapshot, const Plan& plan);

// ---- Capacity and production ----------------------------------------------------------------

/// Σ load / Σ capacity of a work center over buckets [from, to).
Result<double> CapacityUtilization(const CapacityPlan& capacity, model::WorkCenterIndex work_center,
                                   Bucket from, Bucket to);

/// Plan attainment = Σ over (item-site, bucket) of min(completed, planned) / Σ planned.
Result<double> PlanAttainment(std::span<const ProductionRecord> planned,
                              std::span<const ProductionRecord> completed);

// ---- Suppliers -----------------------------------------------------------------------------

/// Share of the supplier's deliveries received in or before the confirmed bucket.
Result<double> SupplierOnTimeRate(std::span<const SupplierDelivery> deliveries, const std::string& supplier_id);

struct LeadTimeStats {
  double mean = 0.0;
  double stddev = 0.0;  ///< sample standard deviation (n − 1)
  double cv = 0.0;      ///< stddev / mean
  std::size_t deliveries = 0;
};
/// Lead-time variability of one supplier (needs ≥ 2 deliveries).
Result<LeadTimeStats> LeadTimeVariability(std::span<const SupplierDelivery> deliveries,
                                          const std::string& supplier_id);

// ---- Finance -------------------------------------------------------------------------------

/// Σ actual revenue / Σ planned revenue.
Result<double> RevenueAttainment(std::span<const PeriodFinancials> periods);
/// Σ actual margin / Σ planned margin.
Result<double> MarginAttainment(std::span<const PeriodFinancials> periods);
/// Σ (quantity × premium per unit + fixed fee).
double ExpediteCost(std::span<const ExpediteRecord> expedites);

}  // namespace sop::planning
