#pragma once
/// Seeded random planning instances for property tests and benchmarks: plants with multi-level
/// BOMs (components shared between parents), distribution centers supplied by plants, mixed
/// lot policies, safety stock, yield, fences, sales orders, forecast, scheduled receipts, work
/// centers with routings. Optionally with bad master data. Deterministic for a given seed and
/// options (same snapshot bit for bit). Single-threaded, no I/O.

#include <cstdint>

#include "sop/model/snapshot_builder.hpp"

namespace sop::planning::testing {

/// Shape of a generated instance (defaults: a small property-test instance).
struct GeneratorOptions {
  std::uint64_t seed = 1;
  int plants = 1;
  int distribution_centers = 1;
  int items_per_site = 30;
  int levels = 3;  ///< BOM levels at plants (level 0 = finished goods)
  int horizon = 20;
  int sales_orders = 60;
  int purchase_orders = 20;
  int work_orders = 10;
  int transfers = 5;
  int work_centers_per_plant = 3;
  bool forecast = true;
  bool bad_data = false;        ///< inject cycles, unknown ids, negative lead times, ...
  double frozen_share = 0.2;    ///< share of items with a frozen fence > 0
  double inactive_share = 0.0;  ///< share of phased-out items
};

/// The L scale of DESIGN.md: 5 sites × 20,000 items, 6 BOM levels, 200 work centers,
/// 78 buckets, 1,000,000 open order lines.
GeneratorOptions ScaleL(std::uint64_t seed = 42);

/// Generates an instance (through SnapshotBuilder, so build findings are included).
model::BuildResult Generate(const GeneratorOptions& options);

}  // namespace sop::planning::testing
