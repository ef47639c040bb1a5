// sop-bench-exceptions: the exceptions service's state in process (no broker, no Redis) on a
// generated manufacturer: load every fact, the first full detection, then N sales-order changes
// one at a time — each timed from Apply to the ExceptionDelta messages handed to the host
// (net change + incremental re-detection + re-ranking + encoding), and the full detection that
// settles them at the end of a batch. Prints one JSON object with --json.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sop/exceptions/state.hpp"
#include "sop/gen/generator.hpp"
#include "sop/v1/events.pb.h"
#include "sop/v1/exceptions.pb.h"
#include "sop/v1/planning.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

sop::bus::Message FactMessage(const sop::v1::Envelope& envelope, std::int64_t sequence) {
  sop::v1::Fact fact;
  *fact.mutable_envelope() = envelope;
  fact.mutable_ingested_at()->set_seconds(1'800'000'000 + sequence);
  sop::bus::Message message;
  message.topic = "sop.facts.v1";
  message.partition = static_cast<std::int32_t>(std::hash<std::string>{}(envelope.site()) % 6);
  message.offset = sequence;
  message.value = fact.SerializeAsString();
  return message;
}

int Usage(const char* error) {
  std::fprintf(stderr,
               "sop-bench-exceptions: %s\nusage: sop-bench-exceptions [--scale S|L] [--seed N] "
               "[--changes N] [--fresh-reach] [--follow-orders] [--follow-capacity] "
               "[--scaled-references] [--json]\n",
               error);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  sop::gen::GeneratorOptions generator;
  generator.scale = sop::gen::Scale::kS;
  generator.seed = 11;
  generator.history_weeks = 0;
  int changes = 200;
  bool json = false;
  bool fresh_reach = false;        // DetectItemSiteExceptions per change instead of the redetector
  bool follow_orders = false;      // ORDER_AT_RISK followed through net change (BookOptions)
  bool follow_capacity = false;    // CAPACITY_OVERLOAD / BOTTLENECK followed (BookOptions)
  bool scaled_references = false;  // p90 score references (BookOptions)
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "--fresh-reach") {
      fresh_reach = true;
    } else if (arg == "--follow-orders") {
      follow_orders = true;
    } else if (arg == "--follow-capacity") {
      follow_capacity = true;
    } else if (arg == "--scaled-references") {
      scaled_references = true;
    } else if (arg == "--scale" && i + 1 < argc) {
      auto scale = sop::gen::ParseScale(argv[++i]);
      if (!scale) return Usage(scale.error().ToString().c_str());
      generator.scale = *scale;
    } else if (arg == "--seed" && i + 1 < argc) {
      generator.seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--changes" && i + 1 < argc) {
      changes = std::atoi(argv[++i]);
      if (changes < 1) return Usage("--changes: must be >= 1");
    } else {
      return Usage(("unexpected argument '" + std::string(arg) + "'").c_str());
    }
  }

  auto events = sop::gen::GenerateAll(generator);
  if (!events) {
    std::fprintf(stderr, "sop-bench-exceptions: %s\n", events.error().ToString().c_str());
    return 1;
  }
  sop::exceptions::StateOptions state_options;
  state_options.reuse_reach = !fresh_reach;
  state_options.book.follow_orders_at_risk = follow_orders;
  state_options.book.follow_capacity = follow_capacity;
  if (scaled_references) {
    state_options.book.reference_percentile = sop::exceptions::kDefaultReferencePercentile;
  }
  sop::exceptions::ExceptionsState state(state_options);
  std::int64_t sequence = 0;
  const auto load_start = Clock::now();
  for (const auto& e : *events) {
    if (auto applied = state.Apply(FactMessage(e, sequence++)); !applied) {
      std::fprintf(stderr, "sop-bench-exceptions: %s\n", applied.error().ToString().c_str());
      return 1;
    }
  }
  const double load_ms = Ms(Clock::now() - load_start);
  const auto first_start = Clock::now();
  const auto first = state.EndBatch();
  const double first_ms = Ms(Clock::now() - first_start);
  const auto open_after_load = state.book().size();

  // Sales-order changes: each open order line in turn gets +50 % quantity.
  std::vector<const sop::v1::Envelope*> orders;
  for (const auto& e : *events) {
    if (e.has_sales_order() && e.sales_order().quantity() > 0) orders.push_back(&e);
  }
  if (orders.empty()) {
    std::fprintf(stderr, "sop-bench-exceptions: no sales orders generated\n");
    return 1;
  }
  std::vector<double> change_ms;
  std::vector<double> detect_ms, rank_ms;  // of the incremental detections, from the book
  std::int64_t change_messages = 0;
  std::int64_t change_order_upserts = 0;  // ORDER_AT_RISK upserts and resolutions by net change
  const auto count_orders = [](const std::vector<sop::bus::OutgoingMessage>& messages) {
    std::int64_t n = 0;
    for (const auto& m : messages) {
      sop::v1::ExceptionDelta delta;
      if (!delta.ParseFromString(m.value)) continue;
      for (const auto& e : delta.upserts()) {
        n += e.type() == sop::v1::EXCEPTION_TYPE_ORDER_AT_RISK ? 1 : 0;
      }
      for (const auto& id : delta.resolved_ids()) n += id.starts_with("ORDER_AT_RISK:") ? 1 : 0;
    }
    return n;
  };
  for (int k = 0; k < changes; ++k) {
    sop::v1::Envelope changed = *orders[static_cast<std::size_t>(k) % orders.size()];
    changed.set_event_id("bench-change-" + std::to_string(k));
    changed.mutable_sales_order()->set_quantity(changed.sales_order().quantity() * 1.5);
    const auto message = FactMessage(changed, sequence++);
    const auto incremental_before = state.progress().incremental_detections;
    const auto start = Clock::now();
    auto applied = state.Apply(message);
    const auto published = state.TakeImmediate();
    change_ms.push_back(Ms(Clock::now() - start));
    if (state.progress().incremental_detections > incremental_before) {
      detect_ms.push_back(state.book().timings().detect_seconds * 1000.0);
      rank_ms.push_back(state.book().timings().rank_seconds * 1000.0);
    }
    if (!applied) {
      std::fprintf(stderr, "sop-bench-exceptions: %s\n", applied.error().ToString().c_str());
      return 1;
    }
    change_messages += static_cast<std::int64_t>(published.size());
    change_order_upserts += count_orders(published);
  }
  const auto settle_start = Clock::now();
  const auto settled = state.EndBatch();
  const double settle_ms = Ms(Clock::now() - settle_start);
  const std::int64_t settle_order_upserts = count_orders(settled);
  // What the settling full detection still publishes, by type ("TYPE":upserts + resolutions).
  std::map<std::string, std::int64_t> settle_by_type;
  for (const auto& m : settled) {
    sop::v1::ExceptionDelta delta;
    if (!delta.ParseFromString(m.value)) continue;
    for (const auto& e : delta.upserts()) ++settle_by_type[sop::v1::ExceptionType_Name(e.type())];
    for (const auto& id : delta.resolved_ids()) ++settle_by_type[id.substr(0, id.find(':'))];
  }
  std::string settle_types = "{";
  for (const auto& [type, n] : settle_by_type) {
    if (settle_types.size() > 1) settle_types += ",";
    settle_types += "\"" + type + "\":" + std::to_string(n);
  }
  settle_types += "}";
  const auto progress = state.progress();

  // What a background full detection does under the state's lock: copy the engine (snapshot +
  // plan + pegging) and build the detection history (median of 5).
  std::vector<double> copy_ms, history_ms;
  std::size_t copied_item_sites = 0;
  for (int k = 0; k < 5 && state.planning().engine() != nullptr; ++k) {
    const auto copy_start = Clock::now();
    const sop::planning::NettingEngine copy(*state.planning().engine());
    copy_ms.push_back(Ms(Clock::now() - copy_start));
    copied_item_sites = copy.snapshot().item_sites.size();
    const auto history_start = Clock::now();
    const auto history = state.planning().BuildHistory();
    history_ms.push_back(Ms(Clock::now() - history_start));
  }
  // What the host does under the same lock at every batch end with a change: serialize the
  // snapshot of each dirty partition (here: all of them, once).
  std::size_t snapshot_bytes = 0;
  const auto serialize_start = Clock::now();
  for (const auto& key : state.partitions()) snapshot_bytes += state.Serialize(key).size();
  const double serialize_ms = Ms(Clock::now() - serialize_start);

  const auto top = state.book().ranker().Top(10);
  if (json) {
    std::printf(
        "{\"scale\":\"%s\",\"seed\":%llu,\"facts\":%zu,\"load_ms\":%.1f,"
        "\"first_detection_ms\":%.1f,\"first_messages\":%zu,\"open_exceptions\":%zu,"
        "\"changes\":%d,\"change_p50_ms\":%.3f,\"change_p99_ms\":%.3f,\"change_max_ms\":%.3f,"
        "\"change_messages\":%lld,\"settle_detection_ms\":%.1f,\"settle_messages\":%zu,"
        "\"incremental_detections\":%lld,\"engine_copy_ms\":%.2f,\"history_ms\":%.2f,"
        "\"copied_item_sites\":%zu,\"serialize_all_ms\":%.1f,\"snapshot_bytes\":%zu,"
        "\"change_detect_p50_ms\":%.3f,\"change_detect_p99_ms\":%.3f,"
        "\"change_rank_p50_ms\":%.3f,\"change_rank_p99_ms\":%.3f,"
        "\"follow_orders\":%s,\"follow_capacity\":%s,\"scaled_references\":%s,\"first_change_ms\":%"
        ".3f,"
        "\"change_order_deltas\":%lld,\"settle_order_deltas\":%lld,"
        "\"settle_by_type\":%s,\"top_score\":%.4f,\"tenth_score\":%.4f}\n",
        std::string(sop::gen::ToString(generator.scale)).c_str(),
        static_cast<unsigned long long>(generator.seed), events->size(), load_ms, first_ms,
        first.size(), open_after_load, changes, Percentile(change_ms, 0.5),
        Percentile(change_ms, 0.99), Percentile(change_ms, 1.0),
        static_cast<long long>(change_messages), settle_ms, settled.size(),
        static_cast<long long>(progress.incremental_detections), Percentile(copy_ms, 0.5),
        Percentile(history_ms, 0.5), copied_item_sites, serialize_ms, snapshot_bytes,
        Percentile(detect_ms, 0.5), Percentile(detect_ms, 0.99), Percentile(rank_ms, 0.5),
        Percentile(rank_ms, 0.99), follow_orders ? "true" : "false",
        follow_capacity ? "true" : "false", scaled_references ? "true" : "false", change_ms.front(),
        static_cast<long long>(change_order_upserts), static_cast<long long>(settle_order_upserts),
        settle_types.c_str(), top.size() > 0 ? top[0]->score.total : 0.0,
        top.size() > 9 ? top[9]->score.total : 0.0);
  } else {
    std::printf("%zu facts loaded in %.1f ms; first full detection %.1f ms (%zu exceptions)\n",
                events->size(), load_ms, first_ms, open_after_load);
    std::printf("%d sales-order changes: apply → deltas p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
                changes, Percentile(change_ms, 0.5), Percentile(change_ms, 0.99),
                Percentile(change_ms, 1.0));
    std::printf(
        "  of which material re-detection p50 %.3f ms, p99 %.3f ms; scoring/ranking/"
        "encoding p50 %.3f ms, p99 %.3f ms\n",
        Percentile(detect_ms, 0.5), Percentile(detect_ms, 0.99), Percentile(rank_ms, 0.5),
        Percentile(rank_ms, 0.99));
    std::printf("settling full detection at the batch end: %.1f ms (%zu messages)\n", settle_ms,
                settled.size());
    std::printf("engine copy %.2f ms, detection history %.2f ms (median of 5)\n",
                Percentile(copy_ms, 0.5), Percentile(history_ms, 0.5));
  }
  return 0;
}
