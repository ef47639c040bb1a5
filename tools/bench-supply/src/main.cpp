// sop-bench-supply: the official supply-planning figures on a generated manufacturer.
//
// Generates the manufacturer in memory (sop::gen, no JSON), converts it (sop::codec), then
// measures on ONE thread: full regenerative netting with pegging, rough-cut capacity, and net
// change after random single sales-order changes; prints one JSON object.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "sop/cli/args.hpp"
#include "sop/codec/assembler.hpp"
#include "sop/gen/generator.hpp"
#include "sop/planning/netting.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/v1/events.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kUsage =
    R"(usage: sop-bench-supply --scale S|L [--seed N] [--json] [options]

Generates a manufacturer in memory, converts it to a planning snapshot, and measures on one
thread: full regenerative netting (with pegging), rough-cut capacity, and net change after
random single sales-order changes (quantity or due-date). Prints one JSON object.

  --scale S|L      generator scale (see sop-gen --help)
  --seed N         generator and change seed (default 1)
  --changes N      number of sales-order changes for the net-change figures (default 1000)
  --rccp-runs N    rough-cut repetitions; the median is reported (default 5)
  --no-pegging     measure netting without pegging
  --verify         after the changes, check that the net-change plan equals a full run
                   (costs a second snapshot copy: peak memory grows)
  --json           (accepted for symmetry; the output is always JSON)
)";

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of the calling thread (user + system, page faults included): on a shared machine it
// is the figure other processes do not inflate.
double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

long MinorFaults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

double PeakRssMib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least p of the samples at or below it.
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// How loaded the work centers are: the realism check of the generator's capacity sizing.
struct LoadProfile {
  double p10 = 0.0, p50 = 0.0, p90 = 0.0, max = 0.0;  ///< per work center: horizon load / capacity
  std::int64_t over_100 = 0;   ///< work centers whose horizon load exceeds their capacity
  std::int64_t bucket0 = 0;    ///< work centers overloaded in bucket 0
  std::int64_t weeks_1_4 = 0;  ///< work centers overloaded in at least 2 of buckets 1..4
};

LoadProfile SummarizeLoad(const sop::planning::CapacityPlan& capacity) {
  LoadProfile out;
  std::vector<double> means;
  const auto H = static_cast<std::size_t>(capacity.horizon);
  for (std::size_t w = 0; w < capacity.work_center_count; ++w) {
    const sop::model::WorkCenterIndex wc(static_cast<std::int32_t>(w));
    const auto load = capacity.Row(capacity.load_hours, wc);
    const auto cap = capacity.Row(capacity.capacity_hours, wc);
    double load_sum = 0.0, cap_sum = 0.0;
    for (std::size_t t = 0; t < H; ++t) {
      load_sum += load[t];
      cap_sum += cap[t];
    }
    if (cap_sum <= 0.0) continue;
    means.push_back(load_sum / cap_sum);
    if (load_sum > cap_sum) ++out.over_100;
    if (H > 0 && load[0] > cap[0]) ++out.bucket0;
    int early = 0;
    for (std::size_t t = 1; t < std::min<std::size_t>(H, 5); ++t) early += load[t] > cap[t] ? 1 : 0;
    if (early >= 2) ++out.weeks_1_4;
  }
  if (means.empty()) return out;
  out.p10 = Percentile(means, 0.1);
  out.p50 = Percentile(means, 0.5);
  out.p90 = Percentile(means, 0.9);
  out.max = Percentile(means, 1.0);
  return out;
}

bool SamePlan(const sop::planning::Plan& a, const sop::planning::Plan& b) {
  auto close = [](double x, double y) {
    return std::abs(x - y) <= std::max(1e-9, 1e-6 * std::max(std::abs(x), std::abs(y)));
  };
  auto same_rows = [&](const std::vector<double>& x, const std::vector<double>& y) {
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!close(x[i], y[i])) return false;
    }
    return true;
  };
  if (!same_rows(a.gross_requirements, b.gross_requirements) ||
      !same_rows(a.projected_available, b.projected_available) ||
      !same_rows(a.planned_receipts, b.planned_receipts) ||
      !same_rows(a.planned_releases, b.planned_releases)) {
    return false;
  }
  return a.PlannedOrderCount() == b.PlannedOrderCount();
}

}  // namespace

int main(int argc, char** argv) {
  sop::gen::GeneratorOptions gen_options;
  gen_options.history_weeks = 0;  // shipments are forecasting input, not netting input
  int changes = 1000;
  int rccp_runs = 5;
  bool pegging = true;
  bool verify = false;
  sop::cli::ArgParser parser("sop-bench-supply", kUsage);
  parser
      .Value("--scale",
             [&gen_options](std::string_view value) -> std::optional<std::string> {
               auto scale = sop::gen::ParseScale(value);
               if (!scale) return scale.error().message();
               gen_options.scale = *scale;
               return std::nullopt;
             })
      .Int("--seed", &gen_options.seed, 0)
      .Int("--changes", &changes, 0)
      .Int("--rccp-runs", &rccp_runs, 1)
      .Switch("--no-pegging", &pegging, false)
      .Switch("--verify", &verify)
      .Switch("--json", nullptr)  // accepted for symmetry; the output is always JSON
      .Required("--scale");
  if (auto exit_code = parser.Parse(argc, argv)) return *exit_code;

  // 1. Generate and convert, streaming: no envelope is kept.
  auto start = Clock::now();
  sop::codec::SnapshotAssembler assembler;
  auto stats =
      sop::gen::Generate(gen_options, [&](const sop::v1::Envelope& e) { assembler.Apply(e); });
  if (!stats) {
    std::cerr << "sop-bench-supply: " << stats.error().ToString() << "\n";
    return 1;
  }
  const double generate_and_apply_seconds = Since(start);
  const double rss_after_apply_mib = PeakRssMib();
  start = Clock::now();
  double cpu_start = ThreadCpuSeconds();
  auto assembled = assembler.BuildAndRelease();  // frees the input side as it goes
  if (!assembled) {
    std::cerr << "sop-bench-supply: " << assembled.error().ToString() << "\n";
    return 1;
  }
  const double build_seconds = Since(start);
  const double build_cpu_seconds = ThreadCpuSeconds() - cpu_start;
  const double rss_after_build_mib = PeakRssMib();
  const std::size_t input_findings = assembled->findings.size();
  const auto item_sites = static_cast<std::int64_t>(assembled->snapshot.item_site_count());
  const auto sales_orders = static_cast<std::int64_t>(assembled->snapshot.sales_orders.size());
  const auto receipts = static_cast<std::int64_t>(assembled->snapshot.receipts.size());
  const auto work_centers = static_cast<std::int64_t>(assembled->snapshot.work_centers.size());
  const auto bom_lines = static_cast<std::int64_t>(assembled->snapshot.bom_lines.size());

  // 2. Full regenerative run (netting + pegging), then netting alone on the same engine.
  sop::planning::NettingPolicy policy;
  policy.pegging = pegging;
  sop::planning::NettingEngine engine(std::move(assembled->snapshot), policy);
  const long faults_before_regen = MinorFaults();
  start = Clock::now();
  cpu_start = ThreadCpuSeconds();
  engine.RunFull();
  const double full_regen_seconds = Since(start);
  const double full_regen_cpu_seconds = ThreadCpuSeconds() - cpu_start;
  const long full_regen_page_faults = MinorFaults() - faults_before_regen;
  const double rss_after_regen_mib = PeakRssMib();
  const auto planned_orders = static_cast<std::int64_t>(engine.plan().PlannedOrderCount());
  const auto plan_findings = static_cast<std::int64_t>(engine.plan().AllFindings().size());
  const auto pegs = static_cast<std::int64_t>(engine.plan().pegs.record_count());
  // The same engine again (warm: memory already mapped), netting alone, then pegging alone.
  start = Clock::now();
  cpu_start = ThreadCpuSeconds();
  engine.RunNettingOnly();
  const double netting_only_seconds = Since(start);
  const double netting_only_cpu_seconds = ThreadCpuSeconds() - cpu_start;
  double pegging_only_seconds = 0.0, pegging_only_cpu_seconds = 0.0;
  if (pegging) {  // back to the state RunFull leaves
    start = Clock::now();
    cpu_start = ThreadCpuSeconds();
    engine.RunPegging();
    pegging_only_seconds = Since(start);
    pegging_only_cpu_seconds = ThreadCpuSeconds() - cpu_start;
  }

  // 3. Rough-cut capacity, median of several runs.
  std::vector<double> rccp_times;
  std::int64_t overloads = 0;
  LoadProfile load_profile;
  for (int r = 0; r < rccp_runs; ++r) {
    start = Clock::now();
    const auto capacity = sop::planning::RoughCut(engine.snapshot(), engine.plan());
    rccp_times.push_back(Since(start));
    overloads = static_cast<std::int64_t>(capacity.overloads.size());
    if (r == 0) load_profile = SummarizeLoad(capacity);
  }
  const double rccp_seconds = Percentile(rccp_times, 0.5);

  // 4. Net change: random single sales-order changes, each timed on its own.
  std::mt19937_64 rng(gen_options.seed ^ 0x5eedc0deULL);
  std::vector<double> change_ms;
  change_ms.reserve(static_cast<std::size_t>(changes));
  std::int64_t touched_total = 0, rejected = 0;
  const std::int32_t horizon = engine.snapshot().H();
  const auto n_orders = engine.snapshot().sales_orders.size();
  for (int k = 0; k < changes && n_orders > 0; ++k) {
    sop::model::SalesOrder order = engine.snapshot().sales_orders[rng() % n_orders];
    if (rng() % 5 == 0) {
      const auto shift = static_cast<std::int32_t>(rng() % 5) - 2;  // -2 .. +2 buckets
      order.due_bucket = std::clamp(order.due_bucket + shift, 0, horizon - 1);
    } else {
      const double factor = 0.5 + static_cast<double>(rng() % 1001) / 1000.0;  // 0.5 .. 1.5
      order.quantity = std::max(1.0, std::round(std::max(order.quantity, 1.0) * factor));
    }
    start = Clock::now();
    auto touched = engine.Apply(sop::planning::UpsertSalesOrder{std::move(order)});
    change_ms.push_back(Since(start) * 1000.0);
    if (touched)
      touched_total += static_cast<std::int64_t>(touched->size());
    else
      ++rejected;
  }

  bool verified = false, verify_ok = false;
  if (verify) {
    sop::planning::NettingEngine fresh(engine.snapshot(), policy);
    fresh.RunFull();
    verified = true;
    verify_ok = SamePlan(engine.plan(), fresh.plan());
  }

  const double mean_ms = change_ms.empty() ? 0.0 : [&] {
    double sum = 0.0;
    for (double v : change_ms) sum += v;
    return sum / static_cast<double>(change_ms.size());
  }();
  std::cout.setf(std::ios::fixed);
  std::cout.precision(6);
  std::cout << "{\"scale\":\"" << sop::gen::ToString(gen_options.scale)
            << "\",\"seed\":" << gen_options.seed << ",\"threads\":1"
            << ",\"pegging\":" << (pegging ? "true" : "false") << ",\"events\":" << stats->envelopes
            << ",\"item_sites\":" << item_sites << ",\"work_centers\":" << work_centers
            << ",\"bom_lines\":" << bom_lines << ",\"open_order_lines\":" << stats->OpenOrderLines()
            << ",\"sales_order_lines\":" << sales_orders << ",\"scheduled_receipts\":" << receipts
            << ",\"planned_orders\":" << planned_orders << ",\"pegs\":" << pegs
            << ",\"input_findings\":" << input_findings << ",\"plan_findings\":" << plan_findings
            << ",\"overloaded_buckets\":" << overloads
            << ",\"wc_utilization_p10\":" << load_profile.p10
            << ",\"wc_utilization_p50\":" << load_profile.p50
            << ",\"wc_utilization_p90\":" << load_profile.p90
            << ",\"wc_utilization_max\":" << load_profile.max
            << ",\"wc_over_capacity\":" << load_profile.over_100
            << ",\"wc_overloaded_bucket0\":" << load_profile.bucket0
            << ",\"wc_overloaded_weeks_1_4\":" << load_profile.weeks_1_4
            << ",\"generate_and_apply_seconds\":" << generate_and_apply_seconds
            << ",\"snapshot_build_seconds\":" << build_seconds
            << ",\"snapshot_build_cpu_seconds\":" << build_cpu_seconds
            << ",\"full_regen_seconds\":" << full_regen_seconds
            << ",\"full_regen_cpu_seconds\":" << full_regen_cpu_seconds
            << ",\"full_regen_page_faults\":" << full_regen_page_faults
            << ",\"netting_only_seconds\":" << netting_only_seconds
            << ",\"netting_only_cpu_seconds\":" << netting_only_cpu_seconds
            << ",\"pegging_only_seconds\":" << pegging_only_seconds
            << ",\"pegging_only_cpu_seconds\":" << pegging_only_cpu_seconds
            << ",\"rccp_seconds\":" << rccp_seconds
            << ",\"net_change_changes\":" << change_ms.size()
            << ",\"net_change_rejected\":" << rejected << ",\"net_change_mean_ms\":" << mean_ms
            << ",\"net_change_p50_ms\":" << Percentile(change_ms, 0.5)
            << ",\"net_change_p99_ms\":" << Percentile(change_ms, 0.99)
            << ",\"net_change_max_ms\":" << Percentile(change_ms, 1.0)
            << ",\"net_change_mean_item_sites_touched\":"
            << (change_ms.empty()
                    ? 0.0
                    : static_cast<double>(touched_total) / static_cast<double>(change_ms.size()))
            << ",\"verified\":" << (verified ? "true" : "false")
            << ",\"net_change_equals_full_run\":" << (verify_ok ? "true" : "false")
            << ",\"peak_rss_after_apply_mib\":" << rss_after_apply_mib
            << ",\"peak_rss_after_build_mib\":" << rss_after_build_mib
            << ",\"peak_rss_after_regen_mib\":" << rss_after_regen_mib
            << ",\"peak_rss_mib\":" << PeakRssMib() << "}\n";
  return verified && !verify_ok ? 3 : 0;
}
