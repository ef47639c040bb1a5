// sop-bench-mrp-stream: mrp's planner under a stream of sales-order changes, in process (no
// broker, no Redis): the generated S manufacturer applied and planned, then `--changes`
// sales-order quantity changes applied in drained batches of `--batch`, each batch planned by
// one MrpPlanner::Flush (one coalesced net change + the PlanDelta records with their pegging, as
// the service does per drain). Prints per-drain CPU and wall time of Flush (mean, p50, p99, max),
// CPU per fact, and the records and deltas published. One thread; figures for a release build.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sop/gen/generator.hpp"
#include "sop/mrp/planner.hpp"

namespace {

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(rank, values.size() - 1)];
}

double Mean(const std::vector<double>& values) {
  double sum = 0.0;
  for (double v : values) sum += v;
  return values.empty() ? 0.0 : sum / static_cast<double>(values.size());
}

std::string FactBytes(const sop::v1::Envelope& envelope, std::int64_t sequence) {
  sop::v1::Fact fact;
  *fact.mutable_envelope() = envelope;
  fact.mutable_ingested_at()->set_seconds(1'800'000'000 + sequence);
  fact.set_ingestion_instance("bench");
  return fact.SerializeAsString();
}

int Usage(const char* message) {
  std::fprintf(stderr,
               "%s\nusage: sop-bench-mrp-stream [--seed N (42)] [--changes N (1000)] "
               "[--batch N (20)] [--json]\n",
               message);
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 42;
  long changes = 1000;
  long batch = 20;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> long {
      if (i + 1 >= argc) return -1;
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      return (end != nullptr && *end == '\0') ? v : -1;
    };
    if (arg == "--json") {
      json = true;
    } else if (arg == "--seed") {
      const long v = value();
      if (v < 0) return Usage("--seed: expected a non-negative integer");
      seed = static_cast<std::uint64_t>(v);
    } else if (arg == "--changes") {
      changes = value();
      if (changes <= 0) return Usage("--changes: expected a positive integer");
    } else if (arg == "--batch") {
      batch = value();
      if (batch <= 0) return Usage("--batch: expected a positive integer");
    } else {
      return Usage(("unknown argument '" + std::string(arg) + "'").c_str());
    }
  }

  sop::gen::GeneratorOptions options;
  options.scale = sop::gen::Scale::kS;
  options.seed = seed;
  options.history_weeks = 0;
  auto events = sop::gen::GenerateAll(options);
  if (!events) {
    std::fprintf(stderr, "generate: %s\n", events.error().ToString().c_str());
    return 1;
  }
  auto key_of = [](const sop::v1::Envelope& e) {
    return sop::mrp::PartitionKey{
        "sop.facts.v1", static_cast<std::int32_t>(std::hash<std::string>{}(e.site()) % 6)};
  };
  sop::mrp::MrpPlanner planner;
  std::int64_t sequence = 0;
  std::vector<const sop::v1::Envelope*> orders;
  for (const auto& e : *events) {
    auto applied = planner.ApplyFact(key_of(e), FactBytes(e, sequence++));
    if (!applied) {
      std::fprintf(stderr, "apply: %s\n", applied.error().ToString().c_str());
      return 1;
    }
    if (e.has_sales_order() && e.sales_order().quantity() > 0) orders.push_back(&e);
  }
  const double full_start = ThreadCpuSeconds();
  planner.Flush();
  const double full_cpu = ThreadCpuSeconds() - full_start;
  if (orders.empty() || planner.engine() == nullptr) {
    std::fprintf(stderr, "the generated instance has no sales order or no plan\n");
    return 1;
  }

  std::vector<double> cpu_ms;
  std::vector<double> wall_ms;
  std::int64_t records = 0;
  std::int64_t deltas = 0;
  std::uint64_t state = seed * 2654435761u + 1;
  for (long done = 0; done < changes;) {
    for (long k = 0; k < batch && done < changes; ++k, ++done) {
      state = state * 6364136223846793005u + 1442695040888963407u;
      sop::v1::Envelope changed = *orders[(state >> 33) % orders.size()];
      const double factor = 0.6 + static_cast<double>((state >> 11) % 1000) / 1000.0;
      changed.set_event_id("bench:so:" + std::to_string(done));
      changed.mutable_sales_order()->set_quantity(
          std::max(1.0, std::round(changed.sales_order().quantity() * factor)));
      auto applied = planner.ApplyFact(key_of(changed), FactBytes(changed, sequence++));
      if (!applied) {
        std::fprintf(stderr, "apply: %s\n", applied.error().ToString().c_str());
        return 1;
      }
    }
    const auto wall_start = std::chrono::steady_clock::now();
    const double cpu_start = ThreadCpuSeconds();
    const auto produced = planner.Flush();
    cpu_ms.push_back((ThreadCpuSeconds() - cpu_start) * 1e3);
    wall_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall_start)
            .count());
    deltas += static_cast<std::int64_t>(produced.size());
    for (const auto& delta : produced) records += delta.item_sites_size();
  }
  const double total_cpu_ms = Mean(cpu_ms) * static_cast<double>(cpu_ms.size());
  std::fprintf(stderr,
               "mrp stream: S seed %llu, %zu item-sites, full run %.2f CPU-s; %ld changes in %zu "
               "drains of %ld: Flush CPU per drain mean %.2f ms, p50 %.2f, p99 %.2f, max %.2f; "
               "wall p99 %.2f ms; %.3f CPU-ms per fact; %lld records in %lld deltas\n",
               static_cast<unsigned long long>(seed),
               planner.engine()->snapshot().item_site_count(), full_cpu, changes, cpu_ms.size(),
               batch, Mean(cpu_ms), Quantile(cpu_ms, 0.5), Quantile(cpu_ms, 0.99),
               Quantile(cpu_ms, 1.0), Quantile(wall_ms, 0.99),
               total_cpu_ms / static_cast<double>(changes), static_cast<long long>(records),
               static_cast<long long>(deltas));
  if (json) {
    std::printf(
        "{\"seed\": %llu, \"item_sites\": %zu, \"full_run_cpu_seconds\": %.4f, \"changes\": %ld, "
        "\"batch\": %ld, \"drains\": %zu, \"drain_cpu_ms_mean\": %.3f, \"drain_cpu_ms_p50\": %.3f, "
        "\"drain_cpu_ms_p99\": %.3f, \"drain_cpu_ms_max\": %.3f, \"drain_wall_ms_p99\": %.3f, "
        "\"cpu_ms_per_fact\": %.4f, \"records\": %lld, \"deltas\": %lld}\n",
        static_cast<unsigned long long>(seed), planner.engine()->snapshot().item_site_count(),
        full_cpu, changes, batch, cpu_ms.size(), Mean(cpu_ms), Quantile(cpu_ms, 0.5),
        Quantile(cpu_ms, 0.99), Quantile(cpu_ms, 1.0), Quantile(wall_ms, 0.99),
        total_cpu_ms / static_cast<double>(changes), static_cast<long long>(records),
        static_cast<long long>(deltas));
  }
  return 0;
}
