// Google Benchmark of the planning core at the L scale of DESIGN.md (one thread).
//   cmake --build build/<dir> --target sop_planning_bench &&
//   build/<dir>/libs/planning/sop_planning_bench
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "sop/planning/netting.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/planning/testing/generator.hpp"

namespace {

using sop::planning::NettingEngine;

const sop::model::Snapshot& Instance() {
  static const sop::model::Snapshot snapshot = [] {
    auto built = sop::planning::testing::Generate(sop::planning::testing::ScaleL());
    return std::move(built.snapshot);
  }();
  return snapshot;
}

double PeakRssMib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

void SetCounters(benchmark::State& state) {
  state.counters["item_sites"] = static_cast<double>(Instance().item_site_count());
  state.counters["peak_rss_mib"] = PeakRssMib();
}

void BM_FullRegenNettingOnlyCold(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto engine = std::make_unique<NettingEngine>(Instance(), sop::planning::NettingPolicy{false});
    state.ResumeTiming();
    engine->RunFull();
    benchmark::DoNotOptimize(engine->plan().planned_receipts.data());
    state.PauseTiming();
    state.counters["planned_orders"] = static_cast<double>(engine->plan().PlannedOrderCount());
    engine.reset();
    state.ResumeTiming();
  }
  SetCounters(state);
}
BENCHMARK(BM_FullRegenNettingOnlyCold)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_FullRegenWithPeggingCold(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto engine = std::make_unique<NettingEngine>(Instance());
    state.ResumeTiming();
    engine->RunFull();
    benchmark::DoNotOptimize(engine->plan().pegs.record_count());
    state.PauseTiming();
    engine.reset();
    state.ResumeTiming();
  }
  SetCounters(state);
}
BENCHMARK(BM_FullRegenWithPeggingCold)->Unit(benchmark::kMillisecond)->Iterations(3);

// A long-lived engine re-running a full regeneration (what a service does after the first run):
// arrays and per-item buffers are already allocated, so no page faults.
void BM_FullRegenWarm(benchmark::State& state) {
  NettingEngine engine(Instance(), sop::planning::NettingPolicy{state.range(0) != 0});
  engine.RunFull();
  for (auto _ : state) {
    engine.RunFull();
    benchmark::DoNotOptimize(engine.plan().planned_receipts.data());
  }
  SetCounters(state);
}
BENCHMARK(BM_FullRegenWarm)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_RoughCut(benchmark::State& state) {
  NettingEngine engine(Instance(), sop::planning::NettingPolicy{false});
  engine.RunFull();
  for (auto _ : state) {
    auto capacity = sop::planning::RoughCut(engine.snapshot(), engine.plan());
    benchmark::DoNotOptimize(capacity.load_hours.data());
    state.counters["overloads"] = static_cast<double>(capacity.overloads.size());
  }
  SetCounters(state);
}
BENCHMARK(BM_RoughCut)->Unit(benchmark::kMillisecond)->Iterations(5);

// One sales-order quantity change per iteration, on random existing orders; reports p50/p99.
void BM_NetChangeSalesOrder(benchmark::State& state) {
  NettingEngine engine(Instance(), sop::planning::NettingPolicy{state.range(0) != 0});
  engine.RunFull();
  std::vector<double> millis;
  std::vector<double> cpu_millis;  // thread CPU time: robust against preemption on a shared box
  auto thread_cpu_ms = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  };
  std::uint64_t x = 12345;
  std::size_t touched = 0;
  const auto count = engine.snapshot().sales_orders.size();
  for (auto _ : state) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    auto order = engine.snapshot().sales_orders[(x >> 33) % count];
    order.quantity = order.quantity + 7.0;
    const double cpu_start = thread_cpu_ms();
    auto start = std::chrono::steady_clock::now();
    auto result = engine.Apply(sop::planning::UpsertSalesOrder{order});
    auto stop = std::chrono::steady_clock::now();
    cpu_millis.push_back(thread_cpu_ms() - cpu_start);
    touched += result ? result->size() : 0;
    millis.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
  }
  std::sort(millis.begin(), millis.end());
  std::sort(cpu_millis.begin(), cpu_millis.end());
  auto pct = [](const std::vector<double>& v, double p) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  };
  state.counters["p50_ms"] = pct(millis, 0.50);
  state.counters["p99_ms"] = pct(millis, 0.99);
  state.counters["cpu_p99_ms"] = pct(cpu_millis, 0.99);
  state.counters["max_ms"] = millis.back();
  state.counters["avg_touched"] = static_cast<double>(touched) / static_cast<double>(millis.size());
  SetCounters(state);
}
BENCHMARK(BM_NetChangeSalesOrder)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->Iterations(5000);

}  // namespace

BENCHMARK_MAIN();
