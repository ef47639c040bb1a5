// sop-bench-exceptions-pipeline: the exceptions service over the embedded Kafka broker and a
// real redis-server, in one process. Loads a generated manufacturer as facts, waits until the
// ranked list has settled, then sends sales-order changes at a steady rate and measures, for
// every ExceptionDelta a change caused, the time from the fact's ingested_at (stamped when the
// fact is produced, as ingestion does) to the delta being read back from sop.exceptions.v1.
// Prints one JSON object with --json.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sop/bus/consumer.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/exceptions/service.hpp"
#include "sop/gen/generator.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/testing/redis_server.hpp"
#include "sop/v1/events.pb.h"
#include "sop/v1/planning.pb.h"

namespace {

using namespace std::chrono_literals;
using SystemClock = std::chrono::system_clock;

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

sop::bus::KafkaConfig ClientConfig(const std::string& bootstrap) {
  return sop::bus::KafkaConfig{{"bootstrap.servers", bootstrap},
                               {"session.timeout.ms", "4000"},
                               {"heartbeat.interval.ms", "200"},
                               {"fetch.wait.max.ms", "10"},
                               {"log_level", "3"}};
}

std::string FactBytes(const sop::v1::Envelope& envelope) {
  sop::v1::Fact fact;
  *fact.mutable_envelope() = envelope;
  const auto now = SystemClock::now().time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now);
  fact.mutable_ingested_at()->set_seconds(seconds.count());
  fact.mutable_ingested_at()->set_nanos(static_cast<std::int32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now - seconds).count()));
  return fact.SerializeAsString();
}

int Usage(const char* error) {
  std::fprintf(stderr,
               "sop-bench-exceptions-pipeline: %s\nusage: sop-bench-exceptions-pipeline "
               "[--seed N] [--rate EVENTS_PER_S] [--seconds S] [--inline-detection] [--interval-ms "
               "MS] [--locked-snapshots] [--fresh-reach] [--follow-orders] [--follow-capacity] "
               "[--scaled-references] "
               "[--metrics] [--json]\n",
               error);
  return 2;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "sop-bench-exceptions-pipeline: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  sop::gen::GeneratorOptions generator;
  generator.scale = sop::gen::Scale::kS;
  generator.seed = 11;
  generator.history_weeks = 0;
  int rate = 1000;
  int seconds = 5;
  bool json = false;
  bool dump_metrics = false;
  sop::exceptions::StateOptions state_options;
  bool locked_snapshots = false;
  state_options.background_detection = true;
  state_options.full_detection_interval = sop::exceptions::kDefaultFullDetectionInterval;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "--metrics") {
      dump_metrics = true;  // the service's /metrics text on stderr at the end
    } else if (arg == "--interval-ms" && i + 1 < argc) {
      const int ms = std::atoi(argv[++i]);
      if (ms < 0 || ms > 60'000) return Usage("--interval-ms: must be in [0, 60000]");
      state_options.full_detection_interval = std::chrono::milliseconds(ms);
    } else if (arg == "--locked-snapshots") {
      locked_snapshots = true;  // the host writes snapshots under the state's lock (before)
    } else if (arg == "--fresh-reach") {
      state_options.reuse_reach = false;  // DetectItemSiteExceptions per change (before)
    } else if (arg == "--follow-orders") {
      state_options.book.follow_orders_at_risk = true;  // ORDER_AT_RISK with its net change
    } else if (arg == "--follow-capacity") {
      state_options.book.follow_capacity = true;  // capacity exceptions with their net change
    } else if (arg == "--scaled-references") {
      state_options.book.reference_percentile = sop::exceptions::kDefaultReferencePercentile;
    } else if (arg == "--inline-detection") {
      state_options.background_detection = false;  // the full detection at the batch end
    } else if (arg == "--seed" && i + 1 < argc) {
      generator.seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--rate" && i + 1 < argc) {
      rate = std::atoi(argv[++i]);
      if (rate < 1 || rate > 100'000) return Usage("--rate: must be in [1, 100000]");
    } else if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atoi(argv[++i]);
      if (seconds < 1 || seconds > 600) return Usage("--seconds: must be in [1, 600]");
    } else {
      return Usage(("unexpected argument '" + std::string(arg) + "'").c_str());
    }
  }

  auto events = sop::gen::GenerateAll(generator);
  if (!events) return Fail(events.error().ToString());
  auto broker = sop::bus::EmbeddedBroker::Start({.brokers = 1, .partitions = 6});
  if (!broker) return Fail(broker.error().ToString());
  sop::store_testing::RedisServer redis;
  if (auto started = redis.Start(); !started) return Fail(started.error().ToString());
  const std::string bootstrap = (*broker)->bootstrap_servers();

  sop::runtime::Logger logger("sop-bench-exceptions-pipeline", sop::runtime::LogLevel::kError);
  sop::runtime::MetricsRegistry metrics;
  sop::host::HostOptions host;
  host.service = "exceptions";
  host.kafka = ClientConfig(bootstrap);
  host.group_id = "sop-exceptions-bench";
  host.redis = redis.StoreOptions();
  host.redis.command_timeout = 5s;
  host.instance = "exceptions-bench";
  host.write_snapshots_unlocked = !locked_snapshots;
  auto service = sop::exceptions::ExceptionsService::Start(host, state_options, logger, metrics);
  if (!service) return Fail(service.error().ToString());

  // Reads sop.exceptions.v1: latency of every delta caused by a timed change.
  std::mutex mutex;
  std::vector<double> latencies_ms;   // every delta caused by a timed change
  std::vector<double> net_change_ms;  // ... published at once by net change
  std::vector<double> settling_ms;    // ... published by the full detection at a batch end
  std::map<std::string, std::int64_t> settling_by_type;  // their upserts + resolutions by type
  std::atomic<std::int64_t> deltas{0};
  sop::bus::ConsumerOptions reader_options;
  reader_options.group_id = "bench-exceptions-reader";
  reader_options.topics = {std::string(sop::bus::kExceptionsTopic)};
  reader_options.handler = [&](const sop::bus::Message& message) -> sop::Status {
    const auto received = SystemClock::now();
    sop::v1::ExceptionDelta delta;
    if (!delta.ParseFromString(message.value)) return {};
    ++deltas;
    if (!delta.cause().event_id().starts_with("bench-change-")) return {};
    const auto ingested = SystemClock::time_point(std::chrono::duration_cast<SystemClock::duration>(
        std::chrono::seconds(delta.cause().ingested_at().seconds()) +
        std::chrono::nanoseconds(delta.cause().ingested_at().nanos())));
    const double ms = std::chrono::duration<double, std::milli>(received - ingested).count();
    std::lock_guard lock(mutex);
    latencies_ms.push_back(ms);
    const bool settling = delta.cause().description().starts_with("full detection");
    (settling ? settling_ms : net_change_ms).push_back(ms);
    if (settling) {
      for (const auto& e : delta.upserts())
        ++settling_by_type[sop::v1::ExceptionType_Name(e.type())];
      for (const auto& id : delta.resolved_ids()) ++settling_by_type[id.substr(0, id.find(':'))];
    }
    return {};
  };
  reader_options.on_rejected = [](const sop::bus::Message&, const sop::Error&) -> sop::Status {
    return {};
  };
  auto reader = sop::bus::Consumer::Create(ClientConfig(bootstrap), std::move(reader_options));
  if (!reader) return Fail(reader.error().ToString());
  if (auto started = (*reader)->Start(); !started) return Fail(started.error().ToString());

  auto producer = sop::bus::Producer::Create(
      sop::bus::KafkaConfig{{"bootstrap.servers", bootstrap}, {"linger.ms", "1"}});
  if (!producer) return Fail(producer.error().ToString());
  auto send = [&](const sop::v1::Envelope& envelope) {
    sop::bus::OutgoingMessage message;
    message.topic = std::string(sop::bus::kFactsTopic);
    message.key = envelope.site();
    message.value = FactBytes(envelope);
    (*producer)->Send(std::move(message), [](sop::Result<sop::bus::DeliveryReport>) {});
  };
  auto settled = [&](std::int64_t facts) {
    return (*service)->host().WaitUntil(
        [&] {
          const auto& state = (*service)->state_locked_by_caller();
          return state.progress().facts == facts && state.progress().full_detections > 0 &&
                 !state.BatchPending();
        },
        300s);
  };

  const auto load_start = std::chrono::steady_clock::now();
  for (const auto& e : *events) send(e);
  if (auto flushed = (*producer)->Flush(60s); !flushed) return Fail(flushed.error().ToString());
  if (!settled(static_cast<std::int64_t>(events->size()))) return Fail("load did not settle");
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  std::vector<const sop::v1::Envelope*> orders;
  for (const auto& e : *events) {
    if (e.has_sales_order() && e.sales_order().quantity() > 0) orders.push_back(&e);
  }
  if (orders.empty()) return Fail("no sales orders generated");
  const int changes = rate * seconds;
  const auto interval = std::chrono::nanoseconds(1'000'000'000LL / rate);
  auto next = std::chrono::steady_clock::now();
  for (int k = 0; k < changes; ++k) {
    sop::v1::Envelope changed = *orders[static_cast<std::size_t>(k) % orders.size()];
    changed.set_event_id("bench-change-" + std::to_string(k));
    changed.mutable_sales_order()->set_quantity(changed.sales_order().quantity() * 3.0);
    send(changed);
    next += interval;
    std::this_thread::sleep_until(next);  // a steady rate, not synchronisation
  }
  if (auto flushed = (*producer)->Flush(60s); !flushed) return Fail(flushed.error().ToString());
  if (!settled(static_cast<std::int64_t>(events->size()) + changes)) {
    return Fail("changes did not settle");
  }
  // The last deltas are on their way to the reader: wait until the count stops growing.
  for (std::int64_t seen = -1; seen != deltas.load();) {
    seen = deltas.load();
    std::this_thread::sleep_for(500ms);
  }
  (*reader)->Stop();
  (*service)->Stop();
  if (dump_metrics) std::fprintf(stderr, "%s", metrics.SerializeText().c_str());

  std::vector<double> measured, immediate, settling;
  std::string settling_types = "{";
  {
    std::lock_guard lock(mutex);
    measured = latencies_ms;
    immediate = net_change_ms;
    settling = settling_ms;
    for (const auto& [type, n] : settling_by_type) {
      if (settling_types.size() > 1) settling_types += ",";
      settling_types += "\"" + type + "\":" + std::to_string(n);
    }
  }
  settling_types += "}";
  if (json) {
    std::printf(
        "{\"scale\":\"S\",\"full_detection\":\"%s\",\"snapshots\":\"%s\",\"reach\":\"%s\","
        "\"interval_ms\":%lld,\"seed\":%llu,\"facts\":%"
        "zu,\"load_seconds\":%."
        "2f,\"rate\":%d,"
        "\"changes\":%d,\"measured_deltas\":%zu,\"latency_p50_ms\":%.1f,\"latency_p99_ms\":%.1f,"
        "\"latency_max_ms\":%.1f,\"net_change_deltas\":%zu,\"net_change_p50_ms\":%.1f,"
        "\"net_change_p99_ms\":%.1f,\"settling_deltas\":%zu,\"settling_p50_ms\":%.1f,"
        "\"settling_p99_ms\":%.1f,\"settling_by_type\":%s,\"follow_orders\":%s,"
        "\"follow_capacity\":%s,\"scaled_references\":%s}\n",
        state_options.background_detection ? "background" : "inline",
        locked_snapshots ? "locked" : "unlocked", state_options.reuse_reach ? "reuse" : "fresh",
        static_cast<long long>(state_options.full_detection_interval.count()),
        static_cast<unsigned long long>(generator.seed), events->size(), load_s, rate, changes,
        measured.size(), Percentile(measured, 0.5), Percentile(measured, 0.99),
        Percentile(measured, 1.0), immediate.size(), Percentile(immediate, 0.5),
        Percentile(immediate, 0.99), settling.size(), Percentile(settling, 0.5),
        Percentile(settling, 0.99), settling_types.c_str(),
        state_options.book.follow_orders_at_risk ? "true" : "false",
        state_options.book.follow_capacity ? "true" : "false",
        state_options.book.reference_percentile > 0.0 ? "true" : "false");
  } else {
    std::printf(
        "loaded %zu facts in %.2f s; %d changes at %d/s: %zu deltas, latency p50 %.1f ms, "
        "p99 %.1f ms, max %.1f ms\n",
        events->size(), load_s, changes, rate, measured.size(), Percentile(measured, 0.5),
        Percentile(measured, 0.99), Percentile(measured, 1.0));
  }
  return 0;
}
