#pragma once
/// Deterministic generator of realistic multi-site manufacturers as ERP/MES events.
///
/// The same options (scale, seed, plan start, history weeks) always give the same envelopes in
/// the same order, byte for byte once serialized: nothing reads the wall clock, and every random
/// stream is derived from the seed and a fixed purpose tag, so adding a feature to one part of
/// the generator does not reshuffle the others.
///
/// Order of the stream: master data (sites, planning settings, calendars, work centers,
/// suppliers, customers, items, BOMs, routings), then open transactions (on-hand snapshots,
/// demand forecasts, sales orders, purchase orders with confirmations and receipts, work orders
/// with completions, transfers), then history (weekly shipments, oldest week first).

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"

namespace sop::v1 {
class Envelope;
}  // namespace sop::v1

namespace sop::gen {

/// The two scales of DESIGN.md: S (demo) and L (stress).
enum class Scale { kS, kL };

/// "S" or "L" (case-insensitive) → Scale; anything else is an INVALID_ARGUMENT naming "scale".
Result<Scale> ParseScale(std::string_view text);
std::string_view ToString(Scale scale) noexcept;

/// Sizes of one generated manufacturer. Counts are of distinct item ids (a finished good stocked
/// at a plant and two distribution centers is one finished good and three item-sites).
struct ScaleSpec {
  int plants = 0;
  int distribution_centers = 0;
  int finished_goods = 0;        ///< distinct finished-good ids, split over the plants
  int components = 0;            ///< distinct component ids (every one is used in some BOM)
  int bom_levels = 0;            ///< finished good = level 0; deepest component = levels - 1
  int work_centers = 0;          ///< split over the plants
  int spare_parts_per_dc = 0;    ///< components also sold as intermittent spare parts at a DC
  int families = 0;              ///< product families (seasonality and trend are per family)
  int customers = 0;
  int suppliers = 0;
  int horizon_buckets = 0;       ///< weekly buckets in PlanningSettings
  int default_history_weeks = 0; ///< weeks of Shipment history when not overridden
  // Open order lines by type; their sum is the scale's open-order-line count.
  int sales_order_lines = 0;
  int purchase_order_lines = 0;
  int work_order_lines = 0;
  int transfer_order_lines = 0;

  int OpenOrderLines() const noexcept {
    return sales_order_lines + purchase_order_lines + work_order_lines + transfer_order_lines;
  }
};

/// The fixed sizes of a scale (S: 3 plants + 2 DCs, 500 FG, 1,500 components, 3 BOM levels,
/// 24 work centers, 156 weeks of history; L: 5 sites × 20,000 item-sites, 6 BOM levels,
/// 200 work centers, 1,000,000 open order lines, no history by default).
ScaleSpec SpecFor(Scale scale) noexcept;

/// What to generate.
struct GeneratorOptions {
  Scale scale = Scale::kS;
  std::uint64_t seed = 1;
  /// Start of bucket 0; must be a Monday (buckets are ISO weeks). All timestamps derive from it.
  std::chrono::sys_days plan_start =
      std::chrono::sys_days{std::chrono::year{2026} / std::chrono::November / 23};
  /// Weeks of shipment history before plan_start; negative = the scale's default.
  int history_weeks = -1;
};

/// Checks the options: plan_start a Monday, history_weeks ≤ 520.
Status Validate(const GeneratorOptions& options);

/// How many envelopes of each kind a run produced.
struct GenerationStats {
  std::int64_t envelopes = 0;
  std::int64_t sites = 0;
  std::int64_t items = 0;  ///< item-site records
  std::int64_t boms = 0;
  std::int64_t routings = 0;
  std::int64_t work_centers = 0;
  std::int64_t sales_order_lines = 0;
  std::int64_t purchase_order_lines = 0;
  std::int64_t work_order_lines = 0;
  std::int64_t transfer_order_lines = 0;
  std::int64_t forecasts = 0;
  std::int64_t shipments = 0;

  std::int64_t OpenOrderLines() const noexcept {
    return sales_order_lines + purchase_order_lines + work_order_lines + transfer_order_lines;
  }
};

/// Receives each envelope in stream order. The reference is valid only during the call (the
/// generator reuses one message to stay allocation-light at scale L); copy what you keep.
using EnvelopeSink = std::function<void(const sop::v1::Envelope&)>;

/// Streams the manufacturer to `sink`. Single-threaded; calls `sink` on the caller's thread.
/// Errors: INVALID_ARGUMENT for bad options (nothing is emitted then).
Result<GenerationStats> Generate(const GeneratorOptions& options, const EnvelopeSink& sink);

/// Generate() collected into a vector (convenient for S; at L prefer streaming).
Result<std::vector<sop::v1::Envelope>> GenerateAll(const GeneratorOptions& options);

/// Generate() serialized as JSON lines (protobuf JSON mapping, one Envelope per line).
/// Errors: INVALID_ARGUMENT for bad options, INTERNAL if serialization fails, UNAVAILABLE if the
/// stream goes bad (disk full).
Result<GenerationStats> WriteJsonLines(const GeneratorOptions& options, std::ostream& out);

/// Weekly demand history of one sold item-site: the same numbers the Shipment events carry,
/// one value per week, oldest first (week k starts at first_week + 7k days).
struct DemandSeries {
  std::string item_id;
  std::string site_id;
  std::string family;       ///< empty for spare parts
  bool intermittent = false;///< spare part with lumpy, mostly-zero demand
  std::chrono::sys_days first_week;
  std::vector<double> weekly_quantities;
};

/// The weekly shipment history of every sold item-site without building any envelope; for the
/// forecasting benchmark. `weeks` < 0 = the options' history weeks (the scale default if unset).
Result<std::vector<DemandSeries>> DemandHistory(const GeneratorOptions& options, int weeks = -1);

/// "2026-11-23" → sys_days; INVALID_ARGUMENT naming `field` otherwise.
Result<std::chrono::sys_days> ParseDate(std::string_view text, std::string_view field);
std::string FormatDate(std::chrono::sys_days day);

}  // namespace sop::gen
