// sop-demo --offline: the S&OP pack a planner opens on Monday morning, computed offline from a
// generated S-scale manufacturer: demand review (statistical forecast and its recent deviation by
// family), supply review (gap report: capacity and material), the top exceptions with why, the seed
// scenarios side by side, and the KPI summary.
//
// This is the pure-library path (generator → codec → forecast → netting → rough-cut → decision
// core), in one process. The default `sop-demo` (live.cpp) computes the same pack with the
// services as processes over the embedded Kafka broker.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "demo.hpp"
#include "sop/codec/assembler.hpp"
#include "sop/forecast/engine.hpp"
#include "sop/forecast/metrics.hpp"
#include "sop/gen/generator.hpp"
#include "sop/planning/exceptions.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/ranking.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/planning/scenario.hpp"
#include "sop/planning/seed_scenarios.hpp"
#include "sop/v1/events.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace planning = sop::planning;

constexpr int kBacktestWeeks = 8;  // recent weeks the deviation is measured on
constexpr int kSeasonLength = 52;  // weekly buckets
constexpr int kTopExceptions = 10;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

void Progress(const char* step, Clock::time_point since) {
  std::fprintf(stderr, "  %-44s %6.2f s\n", step, Seconds(since));
}

struct Options {
  std::uint64_t seed = 1;
  int threads = 2;
};

int Usage(const char* error) {
  std::fprintf(stderr,
               "sop-demo: %s\nusage: sop-demo --offline [--seed N] [--threads N]\n"
               "Prints the offline S&OP pack of a generated S-scale manufacturer.\n",
               error);
  return 2;
}

std::string Money(double value) {
  char text[32];
  if (std::abs(value) >= 1e6) {
    std::snprintf(text, sizeof text, "%.2f M", value / 1e6);
  } else if (std::abs(value) >= 1e3) {
    std::snprintf(text, sizeof text, "%.1f k", value / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.0f", value);
  }
  return text;
}

const char* Flag(double deviation) {
  if (deviation > 0.25) return "RED";
  if (deviation > 0.10) return "AMBER";
  return "ok";
}

/// Demand review: the forecast made kBacktestWeeks ago against what shipped since, by family,
/// and the statistical forecast of the next 13 weeks. Fills the forecast-vs-actual history the
/// exception detection uses.
void DemandReview(const std::vector<sop::gen::DemandSeries>& history,
                  const sop::model::Snapshot& snapshot, int threads,
                  planning::DetectionHistory& detection) {
  std::vector<sop::forecast::SeriesInput> backtest_inputs;
  std::vector<sop::forecast::SeriesInput> forward_inputs;
  backtest_inputs.reserve(history.size());
  forward_inputs.reserve(history.size());
  for (const auto& series : history) {
    const auto& weeks = series.weekly_quantities;
    const auto cut = weeks.size() > kBacktestWeeks ? weeks.size() - kBacktestWeeks : 0;
    backtest_inputs.push_back(
        {std::span<const double>(weeks.data(), cut), kSeasonLength, kBacktestWeeks});
    forward_inputs.push_back({std::span<const double>(weeks), kSeasonLength, 13});
  }
  const auto backtest = sop::forecast::ForecastBatch(backtest_inputs, {}, threads);
  const auto forward = sop::forecast::ForecastBatch(forward_inputs, {}, threads);

  struct FamilyRow {
    double actual = 0.0, forecast = 0.0, abs_error = 0.0, next13 = 0.0;
    int series = 0;
  };
  std::map<std::string, FamilyRow> families;
  for (std::size_t k = 0; k < history.size(); ++k) {
    const auto& series = history[k];
    if (!backtest[k] || !forward[k]) continue;
    auto& row = families[series.family.empty() ? "(spare parts)" : series.family];
    ++row.series;
    const auto& weeks = series.weekly_quantities;
    const auto item_site = snapshot.FindItemSite(series.item_id, series.site_id);
    for (int j = 0; j < kBacktestWeeks && j < static_cast<int>(backtest[k]->point.size()); ++j) {
      const double actual = weeks[weeks.size() - kBacktestWeeks + static_cast<std::size_t>(j)];
      const double forecast = backtest[k]->point[static_cast<std::size_t>(j)];
      row.actual += actual;
      row.forecast += forecast;
      row.abs_error += std::abs(actual - forecast);
      if (item_site) {
        detection.forecast_actuals.push_back({*item_site,
                                              static_cast<sop::model::Bucket>(j - kBacktestWeeks),
                                              "", forecast, actual});
      }
    }
    for (double value : forward[k]->point) row.next13 += value;
  }

  std::printf("\n## 1. Demand review — forecast of %d weeks ago vs actuals since, by family\n\n",
              kBacktestWeeks);
  std::printf("| family | series | actual | forecast | WMAPE | bias | flag | next 13 weeks |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---|---:|\n");
  for (const auto& [family, row] : families) {
    const double wmape = row.actual > 0 ? row.abs_error / row.actual : 0.0;
    const double bias = row.actual > 0 ? (row.forecast - row.actual) / row.actual : 0.0;
    std::printf("| %s | %d | %.0f | %.0f | %.1f %% | %+.1f %% | %s | %.0f |\n", family.c_str(),
                row.series, row.actual, row.forecast, 100 * wmape, 100 * bias, Flag(wmape),
                row.next13);
  }
}

/// Supply review: where capacity falls short in the next 12 weeks (the window where S&OP fixes
/// things cheaply starts at 6), and the material findings netting raised.
void SupplyReview(const planning::NettingEngine& engine, const planning::CapacityPlan& capacity) {
  const auto& snapshot = engine.snapshot();
  const auto H = static_cast<std::size_t>(capacity.horizon);
  std::printf("\n## 2. Supply review — capacity gaps in weeks 0–12 (hours over capacity)\n\n");
  std::printf(
      "| work center | site | weeks 0–5 | weeks 6–12 | first overloaded week | peak utilization "
      "|\n");
  std::printf("|---|---|---:|---:|---:|---:|\n");
  struct Row {
    std::size_t wc;
    double near, window, peak;
  };
  std::vector<Row> rows;
  for (std::size_t w = 0; w < capacity.work_center_count; ++w) {
    Row row{w, 0, 0, 0};
    for (std::size_t t = 0; t <= 12 && t < H; ++t) {
      (t < 6 ? row.near : row.window) += capacity.overload_hours[w * H + t];
      row.peak = std::max(row.peak, capacity.utilization[w * H + t]);
    }
    if (row.near + row.window > 0) rows.push_back(row);
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.window + a.near > b.window + b.near ||
           (a.window + a.near == b.window + b.near && a.wc < b.wc);
  });
  for (const auto& row : rows) {
    const auto& wc = snapshot.work_centers[row.wc];
    std::printf("| %s | %s | %.0f | %.0f | %d | %.0f %% |\n", wc.id.c_str(),
                snapshot.sites[static_cast<std::size_t>(wc.site.value())].id.c_str(), row.near,
                row.window, capacity.first_overloaded_bucket[row.wc],
                std::isfinite(row.peak) ? 100 * row.peak : 0.0);
  }
  if (rows.empty()) std::printf("| (none) | | | | | |\n");

  std::map<std::string_view, int> findings;
  for (const auto& finding : engine.plan().AllFindings())
    ++findings[sop::model::ToString(finding.type)];
  std::printf("\nMaterial findings of netting:");
  for (const auto& [type, count] : findings)
    std::printf(" %.*s %d;", static_cast<int>(type.size()), type.data(), count);
  std::printf(" planned orders %zu.\n", engine.plan().PlannedOrderCount());
}

void TopExceptions(const std::vector<planning::Exception>& ranked) {
  std::printf(
      "\n## 3. Top %d exceptions (of %zu), ranked by revenue, margin, customer priority, "
      "time to impact and breadth\n\n",
      kTopExceptions, ranked.size());
  std::printf(
      "| # | type | severity | subject | week | revenue at risk | score "
      "(rev/margin/prio/time/breadth) | why |\n");
  std::printf("|---:|---|---|---|---:|---:|---|---|\n");
  for (int k = 0; k < kTopExceptions && k < static_cast<int>(ranked.size()); ++k) {
    const auto& e = ranked[static_cast<std::size_t>(k)];
    const auto type = planning::ToString(e.type);
    const auto severity = planning::ToString(e.severity);
    std::printf("| %d | %.*s | %.*s | %s | %d | %s | %.2f (%.2f/%.2f/%.2f/%.2f/%.2f) | %s |\n",
                k + 1, static_cast<int>(type.size()), type.data(),
                static_cast<int>(severity.size()), severity.data(), e.subject.c_str(),
                e.first_impact_bucket, Money(e.revenue_at_risk).c_str(), e.score.total,
                e.score.revenue, e.score.margin, e.score.priority, e.score.time, e.score.breadth,
                e.explanation.c_str());
  }
}

void Scenarios(const planning::ScenarioEvaluator& evaluator,
               const std::vector<planning::Scenario>& scenarios) {
  const auto started = Clock::now();
  const auto outcomes = evaluator.EvaluateAll(scenarios);
  const double seconds = Seconds(started);
  std::printf("\n## 4. Scenarios side by side (%zu evaluated in %.2f s)\n\n", scenarios.size(),
              seconds);
  std::printf(
      "| scenario | fill rate | revenue short | overload h | added cost | avg inventory | working "
      "capital | revenue | gross margin | exceptions +/− |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  auto row = [](const planning::ScenarioOutcome& o) {
    const auto& k = o.kpis;
    const double added = k.extra_capacity_cost + k.step_subcontract_cost + k.move_cost +
                         k.overtime_cost + k.subcontract_cost;
    std::printf("| %s | %.1f %% | %s | %.0f | %s | %s | %s | %s | %s | +%zu / −%zu |\n",
                o.name.c_str(), 100 * k.fill_rate, Money(k.revenue_short).c_str(), k.overload_hours,
                Money(added).c_str(), Money(k.average_inventory_value).c_str(),
                Money(k.working_capital).c_str(), Money(k.revenue).c_str(),
                Money(k.gross_margin).c_str(), o.appeared.size(), o.disappeared.size());
  };
  row(evaluator.base());
  for (std::size_t k = 0; k < outcomes.size(); ++k) {
    if (outcomes[k]) {
      row(*outcomes[k]);
    } else {
      std::printf("| %s | error: %s |\n", scenarios[k].name.c_str(),
                  outcomes[k].error().ToString().c_str());
    }
  }
}

void KpiSummary(const planning::ScenarioOutcome& base, const planning::CapacityPlan& capacity) {
  const auto& k = base.kpis;
  double load = 0, available = 0;
  for (std::size_t i = 0; i < capacity.load_hours.size(); ++i) {
    load += capacity.load_hours[i];
    available += capacity.capacity_hours[i];
  }
  std::printf("\n## 5. KPI summary (plan horizon)\n\n");
  std::printf("- fill rate of open sales orders: %.1f %% (%.0f of %.0f units at risk)\n",
              100 * k.fill_rate, k.units_short, k.sales_order_units);
  std::printf("- revenue %s, gross margin %s (%.1f %%)\n", Money(k.revenue).c_str(),
              Money(k.gross_margin).c_str(),
              k.revenue > 0 ? 100 * k.gross_margin / k.revenue : 0.0);
  std::printf("- average inventory value %s, working capital %s\n",
              Money(k.average_inventory_value).c_str(), Money(k.working_capital).c_str());
  std::printf(
      "- capacity utilization %.1f %%, overload %.0f h (overtime cost %s, subcontract %s)\n",
      available > 0 ? 100 * load / available : 0.0, k.overload_hours,
      Money(k.overtime_cost).c_str(), Money(k.subcontract_cost).c_str());
  std::printf("- exceptions open: %zu\n", k.exceptions);
}

}  // namespace

int sop::demo::RunOffline(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--seed") {
      const char* v = value();
      if (v == nullptr) return Usage("--seed needs a value");
      options.seed = std::strtoull(v, nullptr, 10);
    } else if (arg == "--threads") {
      const char* v = value();
      if (v == nullptr || std::atoi(v) < 1) return Usage("--threads needs a value >= 1");
      options.threads = std::atoi(v);
    } else if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: sop-demo --offline [--seed N] [--threads N]\n"
          "Prints the offline S&OP pack of a generated S-scale manufacturer.\n");
      return 0;
    } else {
      return Usage(("unknown argument '" + std::string(arg) + "'").c_str());
    }
  }

  const auto started = Clock::now();
  std::fprintf(stderr, "sop-demo: building the Monday S&OP pack (scale S, seed %llu)\n",
               static_cast<unsigned long long>(options.seed));
  sop::gen::GeneratorOptions generator;
  generator.scale = sop::gen::Scale::kS;
  generator.seed = options.seed;

  sop::codec::SnapshotAssembler assembler;
  auto stats = sop::gen::Generate(
      generator, [&](const sop::v1::Envelope& envelope) { assembler.Apply(envelope); });
  if (!stats) {
    std::fprintf(stderr, "sop-demo: %s\n", stats.error().ToString().c_str());
    return 1;
  }
  Progress("generated and replayed ERP/MES events", started);
  auto assembled = assembler.BuildAndRelease();
  if (!assembled) {
    std::fprintf(stderr, "sop-demo: %s\n", assembled.error().ToString().c_str());
    return 1;
  }
  Progress("compiled the planning snapshot", started);
  auto history = sop::gen::DemandHistory(generator);
  if (!history) {
    std::fprintf(stderr, "sop-demo: %s\n", history.error().ToString().c_str());
    return 1;
  }

  std::printf("# S&OP pack — generated manufacturer (seed %llu)\n\n",
              static_cast<unsigned long long>(options.seed));
  std::printf(
      "%lld events: %lld item-sites, %lld open order lines, %lld weeks of shipments for "
      "%zu sold item-sites.\n",
      static_cast<long long>(stats->envelopes), static_cast<long long>(stats->items),
      static_cast<long long>(stats->OpenOrderLines()),
      static_cast<long long>(history->empty() ? 0 : history->front().weekly_quantities.size()),
      history->size());

  planning::DetectionHistory detection;
  detection.extra_findings = assembled->findings;
  DemandReview(*history, assembled->snapshot, options.threads, detection);
  Progress("forecast every sold item-site (twice)", started);

  planning::NettingEngine engine(std::move(assembled->snapshot));
  engine.RunFull();
  const auto capacity = planning::RoughCut(engine.snapshot(), engine.plan());
  Progress("netted, pegged and loaded the plan", started);
  SupplyReview(engine, capacity);

  planning::ScenarioOptions scenario_options;
  scenario_options.threads = options.threads;
  planning::ScenarioEvaluator evaluator(engine, detection, scenario_options);
  Progress("detected and ranked exceptions", started);
  TopExceptions(evaluator.base().exceptions);

  const auto scenarios = planning::SeedScenarios(engine, evaluator.base());
  Scenarios(evaluator, scenarios);
  Progress("evaluated the seed scenarios", started);
  KpiSummary(evaluator.base(), capacity);
  std::printf("\nComputed in %.1f s on %d threads.\n", Seconds(started), options.threads);
  return 0;
}
