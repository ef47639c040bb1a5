// sop-bench-decision: the decision-core figures of issue 5 on a generated manufacturer.
//
// Generates the manufacturer in memory (sop::gen), converts it (sop::codec), runs the base plan
// (netting with pegging), then measures: base evaluation (rough-cut, detection, KPIs), a full
// ranking of its exceptions, five seed scenarios side by side on --threads threads, and the
// incremental re-rank after single sales-order changes. Prints one JSON object.
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "sop/codec/assembler.hpp"
#include "sop/gen/generator.hpp"
#include "sop/planning/exceptions.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/ranking.hpp"
#include "sop/planning/scenario.hpp"
#include "sop/planning/seed_scenarios.hpp"
#include "sop/v1/events.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace sop::planning;

constexpr std::string_view kUsage =
    R"(usage: sop-bench-decision --scale S|L [--seed N] [--threads N] [--engine-copies N]
                          [--changes N] [--follow-orders] [--json]

Generates a manufacturer, plans it (netting + pegging), and measures the decision core: full
ranking of the base exceptions, five seed scenarios side by side (shift on the tightest work
center, top supplier two weeks late, top family +20%, half of a family moved to another plant,
subcontracting the tightest item's step), and incremental re-rank after single sales-order
changes. Prints one JSON object.

  --scale S|L    generator scale
  --seed N       generator and change seed (default 1)
  --threads N    scenario threads (default 2)
  --engine-copies N
                 copies of the base engine the netting scenarios share (default 1)
  --changes N    sales-order changes for the re-rank figures (default 500)
  --follow-orders
                 the redetector also follows ORDER_AT_RISK through the changes (re-rank then
                 includes the reached item-sites and the orders at risk they rebuild)
  --json         accepted for symmetry; the output is always JSON
)";

// CPU time of the process (all threads) and of the calling thread, in seconds: on a machine
// shared with other work the wall figures are upper bounds, the CPU figures are not inflated
// by waiting for a core.
double CpuSeconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double PeakRssMib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// The 1-minute load average (the machine may be shared: wall figures depend on it).
double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double load = -1.0;
  in >> load;
  return load;
}

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

template <class T>
bool ParseNumber(std::string_view text, T& value) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && ptr == text.data() + text.size();
}

int Usage(const std::string& error) {
  std::cerr << "sop-bench-decision: " << error << "\n\n" << kUsage;
  return 2;
}

void PrintKpis(const ScenarioOutcome& o) {
  const auto& k = o.kpis;
  std::cout << "{\"name\":\"" << o.name << "\",\"fill_rate\":" << k.fill_rate
            << ",\"units_short\":" << k.units_short << ",\"revenue\":" << k.revenue
            << ",\"gross_margin\":" << k.gross_margin << ",\"load_hours\":" << k.load_hours
            << ",\"overload_hours\":" << k.overload_hours
            << ",\"overtime_cost\":" << k.overtime_cost
            << ",\"subcontract_cost\":" << k.subcontract_cost
            << ",\"extra_capacity_cost\":" << k.extra_capacity_cost
            << ",\"average_inventory_value\":" << k.average_inventory_value
            << ",\"working_capital\":" << k.working_capital << ",\"exceptions\":" << k.exceptions
            << ",\"appeared\":" << o.appeared.size() << ",\"disappeared\":" << o.disappeared.size()
            << "}";
}

}  // namespace

int main(int argc, char** argv) {
  sop::gen::GeneratorOptions gen_options;
  gen_options.history_weeks = 0;
  int threads = 2;
  int engine_copies = 1;
  int changes = 500;
  bool follow_orders = false;
  bool have_scale = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--json") {
    } else if (arg == "--follow-orders") {
      follow_orders = true;
    } else if (arg == "--scale" || arg == "--seed" || arg == "--threads" || arg == "--changes" ||
               arg == "--engine-copies") {
      if (i + 1 >= argc) return Usage(std::string(arg) + ": missing value");
      const std::string_view value = argv[++i];
      if (arg == "--scale") {
        auto scale = sop::gen::ParseScale(value);
        if (!scale) return Usage(scale.error().message());
        gen_options.scale = *scale;
        have_scale = true;
      } else if (arg == "--seed") {
        if (!ParseNumber(value, gen_options.seed))
          return Usage("--seed: not a non-negative integer");
      } else if (arg == "--threads") {
        if (!ParseNumber(value, threads) || threads < 1)
          return Usage("--threads: not a positive integer");
      } else if (arg == "--engine-copies") {
        if (!ParseNumber(value, engine_copies) || engine_copies < 1)
          return Usage("--engine-copies: not a positive integer");
      } else if (!ParseNumber(value, changes) || changes < 0) {
        return Usage("--changes: not a non-negative integer");
      }
    } else {
      return Usage("unknown option " + std::string(arg));
    }
  }
  if (!have_scale) return Usage("--scale is required");

  const double load_at_start = LoadAverage();
  auto start = Clock::now();
  sop::codec::SnapshotAssembler assembler;
  auto stats =
      sop::gen::Generate(gen_options, [&](const sop::v1::Envelope& e) { assembler.Apply(e); });
  if (!stats) {
    std::cerr << "sop-bench-decision: " << stats.error().ToString() << "\n";
    return 1;
  }
  auto assembled = assembler.BuildAndRelease();
  if (!assembled) {
    std::cerr << "sop-bench-decision: " << assembled.error().ToString() << "\n";
    return 1;
  }
  const double generate_seconds = Since(start);
  start = Clock::now();
  NettingEngine engine(std::move(assembled->snapshot));
  engine.RunFull();
  const double plan_seconds = Since(start);

  ScenarioOptions options;
  options.threads = threads;
  options.engine_copies = engine_copies;
  start = Clock::now();
  const double base_cpu_start = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
  ScenarioEvaluator evaluator(engine, {}, options);
  const double base_evaluation_seconds = Since(start);
  const double base_evaluation_cpu_seconds = CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - base_cpu_start;
  const auto& base = evaluator.base();

  // Full ranking of the base exceptions (scoring + ordered structure), from unranked copies.
  std::vector<Exception> unranked = base.exceptions;
  start = Clock::now();
  const double rank_cpu_start = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
  Ranker ranker(options.ranking);
  ranker.Reset(std::move(unranked));
  const double rank_full_ms = Since(start) * 1e3;
  const double rank_full_cpu_ms = (CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - rank_cpu_start) * 1e3;

  const double rss_before_scenarios_mib = PeakRssMib();
  const auto scenarios = SeedScenarios(engine, base);
  start = Clock::now();
  const double scenarios_cpu_start = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
  auto outcomes = evaluator.EvaluateAll(scenarios);
  const double scenarios_seconds = Since(start);
  const double scenarios_cpu_seconds = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - scenarios_cpu_start;
  for (std::size_t k = 0; k < outcomes.size(); ++k) {
    if (!outcomes[k]) {
      std::cerr << "sop-bench-decision: scenario " << scenarios[k].name << ": "
                << outcomes[k].error().ToString() << "\n";
      return 1;
    }
  }

  // Incremental re-rank: a sales-order change, net change, re-detection of the touched
  // item-sites, ranker updates. `rerank` times the last two; `event_to_rank` all three.
  std::vector<double> rerank_ms, event_ms, rerank_cpu_ms;
  std::mt19937_64 rng(gen_options.seed);
  const auto& orders = engine.snapshot().sales_orders;
  start = Clock::now();
  MaterialRedetector redetector(engine, options.detection);
  redetector.Warm();
  const double redetector_warm_seconds = Since(start);
  start = Clock::now();
  if (follow_orders) redetector.FollowOrdersAtRisk();
  const double follow_orders_seconds = Since(start);
  std::size_t orders_at_risk_rebuilt = 0;
  if (!orders.empty()) {
    for (int c = 0; c < changes; ++c) {
      std::uniform_int_distribution<std::size_t> pick(0, orders.size() - 1);
      auto order = orders[pick(rng)];
      order.quantity =
          std::round(order.quantity * std::uniform_real_distribution<double>(0.5, 1.8)(rng));
      const auto t0 = Clock::now();
      auto touched = engine.Apply(UpsertSalesOrder{order});
      if (!touched) continue;
      const auto t1 = Clock::now();
      const double cpu1 = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
      std::vector<std::string> scope;
      auto fresh = redetector.Redetect(*touched, &scope);
      if (follow_orders) {
        const std::size_t before = scope.size();
        for (auto& e : redetector.TakeOrdersAtRisk(&scope)) fresh.push_back(std::move(e));
        orders_at_risk_rebuilt += scope.size() - before;
      }
      std::unordered_set<std::string> present;
      for (const auto& e : fresh) present.insert(e.id);
      for (const auto& id : scope) {
        if (!present.contains(id)) ranker.Remove(id);
      }
      for (auto& e : fresh) ranker.Upsert(std::move(e));
      const auto t2 = Clock::now();
      rerank_cpu_ms.push_back((CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - cpu1) * 1e3);
      rerank_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
      event_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
    }
  }

  std::cout.precision(6);
  std::cout << "{\"scale\":\"" << sop::gen::ToString(gen_options.scale)
            << "\",\"seed\":" << gen_options.seed << ",\"threads\":" << threads
            << ",\"engine_copies\":" << engine_copies
            << ",\"load_average_1m_start\":" << load_at_start
            << ",\"load_average_1m_end\":" << LoadAverage()
            << ",\"item_sites\":" << engine.snapshot().item_site_count()
            << ",\"sales_orders\":" << orders.size()
            << ",\"work_centers\":" << engine.snapshot().work_centers.size()
            << ",\"generate_seconds\":" << generate_seconds << ",\"plan_seconds\":" << plan_seconds
            << ",\"base_evaluation_seconds\":" << base_evaluation_seconds
            << ",\"base_evaluation_cpu_seconds\":" << base_evaluation_cpu_seconds
            << ",\"base_exceptions\":" << base.exceptions.size()
            << ",\"rank_full_ms\":" << rank_full_ms << ",\"rank_full_cpu_ms\":" << rank_full_cpu_ms
            << ",\"scenarios\":" << scenarios.size()
            << ",\"scenarios5_seconds\":" << scenarios_seconds
            << ",\"scenarios5_cpu_seconds\":" << scenarios_cpu_seconds
            << ",\"redetector_warm_seconds\":" << redetector_warm_seconds
            << ",\"follow_orders\":" << (follow_orders ? "true" : "false")
            << ",\"follow_orders_seconds\":" << follow_orders_seconds
            << ",\"orders_at_risk_rebuilt\":" << orders_at_risk_rebuilt
            << ",\"rerank_changes\":" << rerank_ms.size()
            << ",\"rerank_p50_ms\":" << Percentile(rerank_ms, 0.5)
            << ",\"rerank_p99_ms\":" << Percentile(rerank_ms, 0.99)
            << ",\"rerank_cpu_p99_ms\":" << Percentile(rerank_cpu_ms, 0.99)
            << ",\"rerank_max_ms\":" << Percentile(rerank_ms, 1.0)
            << ",\"event_to_rank_p99_ms\":" << Percentile(event_ms, 0.99)
            << ",\"peak_rss_before_scenarios_mib\":" << rss_before_scenarios_mib
            << ",\"peak_rss_mib\":" << PeakRssMib() << ",\"base\":";
  PrintKpis(base);
  std::cout << ",\"side_by_side\":[";
  for (std::size_t k = 0; k < outcomes.size(); ++k) {
    if (k > 0) std::cout << ",";
    PrintKpis(*outcomes[k]);
  }
  std::cout << "]}\n";
  return 0;
}
