#pragma once
// The generated manufacturer before it becomes envelopes: plain structs, built once from the
// options, then walked by the emitters. Kept internal so its shape can change freely.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "sop/gen/generator.hpp"
#include "sop/v1/events.pb.h"

namespace sop::gen::detail {

struct CalendarDef {
  std::string id;
  int site = 0;
  std::vector<int> weekdays;  // ISO 1..7
  std::vector<std::pair<std::string, double>> shifts;
  std::vector<std::chrono::sys_days> holidays;
  double NominalHoursPerWeek() const;
};

struct SiteDef {
  std::string id;
  std::string name;
  bool plant = true;
  std::string time_zone;
  std::vector<int> calendars;
  std::vector<int> work_centers;
  std::vector<std::vector<int>> level_items;  // plants: items by BOM level
  std::vector<int> families;                  // plants: families made here
  std::vector<int> customers;                 // customers served from here
};

struct WorkCenterDef {
  std::string id;
  std::string name;
  int site = 0;
  int calendar = 0;
  int machines = 1;
  bool assembly = false;  // assembly/test/pack vs parts making
  double efficiency = 1.0;
  double overtime_max_hours_per_week = 0.0;
  double overtime_cost_per_hour = 0.0;
  double regular_cost_per_hour = 0.0;
  bool subcontract_allowed = false;
  double subcontract_cost_per_hour = 0.0;
  double target_utilization = 0.7;
  double expected_load_hours = 0.0;  // per week, from expected demand
};

struct FamilyDef {
  std::string id;
  int plant = 0;
  double amplitude = 0.0;  // seasonal swing, fraction of the mean
  double phase = 0.0;      // fraction of a year where the peak sits
  double trend_per_year = 0.0;
  double median_weekly = 0.0;  // typical finished-good weekly volume
};

struct SupplierDef {
  std::string id;
  std::string name;
  double quoted_lead_time_days = 0.0;
  bool late = false;  // confirms later than the requested date
  int site = 0;
};

struct CustomerDef {
  std::string id;
  std::string name;
  int priority = 3;
  std::string channel;
  int site = 0;
};

struct BomLineDef {
  int component = 0;  // item index (same site)
  double quantity_per = 1.0;
  double scrap_fraction = 0.0;
  int effective_from_week = -1;  // < 0 = unset
  int effective_to_week = -1;    // < 0 = unset
};

struct RoutingStepDef {
  int work_center = 0;
  double setup_hours = 0.0;
  double run_hours_per_unit = 0.0;
};

struct ItemDef {
  std::string id;
  std::string description;
  std::string unit_of_measure = "EA";
  int site = 0;
  sop::v1::ItemType type = sop::v1::ITEM_TYPE_MAKE;
  int level = 0;          // BOM level at the plant; DC items carry their source's level
  int family = -1;        // finished goods and their DC copies
  int source_item = -1;   // TRANSFER: the item-site at the supplying plant
  int supplier = -1;      // BUY
  double unit_cost = 0.0;
  double unit_price = 0.0;
  double lead_time_days = 0.0;
  sop::v1::LotSizingPolicy policy = sop::v1::LOT_SIZING_POLICY_LOT_FOR_LOT;
  double fixed_order_quantity = 0.0;
  int periods_of_supply = 0;
  double minimum_order_quantity = 0.0;
  double maximum_order_quantity = 0.0;
  double order_multiple = 0.0;
  double safety_stock = 0.0;
  double yield = 0.0;  // 0 = unset = 1
  double frozen_fence_days = 0.0;
  double slushy_fence_days = 0.0;

  // Demand model.
  double own_weekly_mean = 0.0;  // independent demand at this item-site (at plan start)
  double expected_weekly = 0.0;  // independent + dependent + transfer, for sizing
  double noise_cv = 0.2;
  double forecast_bias = 1.0;
  bool intermittent = false;
  double intermittent_probability = 0.0;
  double intermittent_size = 0.0;

  std::vector<BomLineDef> bom;
  std::vector<RoutingStepDef> routing;

  bool sold() const noexcept { return own_weekly_mean > 0.0; }
};

struct World {
  GeneratorOptions options;
  ScaleSpec spec;
  int history_weeks = 0;
  std::vector<SiteDef> sites;
  std::vector<CalendarDef> calendars;
  std::vector<WorkCenterDef> work_centers;
  std::vector<FamilyDef> families;
  std::vector<SupplierDef> suppliers;
  std::vector<CustomerDef> customers;
  std::vector<ItemDef> items;
  std::vector<int> sold_items;  // item indices with independent demand, in item order

  /// Mean weekly demand of a sold item-site in week `week` (0 = plan start, negative = history).
  double MeanDemand(const ItemDef& item, int week) const;
  /// The realised demand of a sold item-site over `weeks` weeks ending just before plan start.
  std::vector<double> History(int item_index, int weeks) const;
};

/// Builds the whole manufacturer from validated options.
World BuildWorld(const GeneratorOptions& options);

std::chrono::sys_days WeekStart(const World& world, int week);

}  // namespace sop::gen::detail
