// sop-bench-pipeline: the pipeline figures of issue 6, measured on the embedded broker with the
// real service processes (sop::stack) and the generated S-scale manufacturer (sop::gen).
//
//   --mode ingestion  one sop-ingestion; N envelopes pre-produced, then the service (re)started:
//                     facts produced per second until all N are decided.
//   --mode replay     the planning services; the S history + current state replayed as ERP
//                     events: wall time until every service has settled.
//   --mode latency    replay, then a steady stream of changes: per event, producing it → the
//                     first PlanDelta / ExceptionDelta carrying it as cause.
//
// Human lines go to stderr; --json prints one JSON object on stdout.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cause_reader.hpp"
#include "metrics.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/stack/stack.hpp"
#include "sop/v1/events.pb.h"
#include "workload.hpp"

namespace sop::bench {
namespace {

using namespace std::chrono_literals;

struct Options {
  std::string mode{};
  std::size_t events = 500'000;  // ingestion
  std::uint64_t seed = 42;
  int history_weeks = -1;             // S default (156 weeks)
  double rate = 1'000;                // latency: events per second
  double duration_s = 30;             // latency
  std::size_t chunk = 100'000;        // ingestion: events pre-produced per round (broker limit)
  std::chrono::seconds timeout{300};  // replay: production + settling
  std::size_t window = 20'000;        // replay pacing: events ahead of the slowest facts consumer
  std::int32_t partitions = 6;
  std::filesystem::path dir{};
  std::filesystem::path bin_dir{};
  bool json = false;
  std::int32_t fetch_wait_ms = 50;  // the services' fetch.wait.max.ms (each hop adds up to it)
  std::map<std::string, std::vector<std::string>> service_args{};  // per service short name
};

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Minimal JSON object writer (numbers, strings, nested objects), in insertion order.
class Json {
 public:
  Json& Num(std::string_view key, double value) {
    Key(key);
    if (!std::isfinite(value)) {
      out_ << "null";
    } else if (value == std::floor(value) && std::abs(value) < 1e15) {
      out_ << static_cast<long long>(value);
    } else {
      char buffer[64];
      std::snprintf(buffer, sizeof buffer, "%.6g", value);
      out_ << buffer;
    }
    return *this;
  }
  Json& Str(std::string_view key, std::string_view value) {
    Key(key);
    out_ << '"';
    for (const char c : value) {
      if (c == '"' || c == '\\') out_ << '\\';
      if (static_cast<unsigned char>(c) < 0x20) {
        out_ << ' ';
        continue;
      }
      out_ << c;
    }
    out_ << '"';
    return *this;
  }
  Json& Bool(std::string_view key, bool value) {
    Key(key);
    out_ << (value ? "true" : "false");
    return *this;
  }
  Json& Open(std::string_view key) {
    Key(key);
    out_ << '{';
    first_ = true;
    return *this;
  }
  Json& Close() {
    out_ << '}';
    first_ = false;
    return *this;
  }
  std::string Text() const { return "{" + out_.str() + "}"; }

 private:
  void Key(std::string_view key) {
    if (!first_) out_ << ',';
    first_ = false;
    out_ << '"' << key << "\":";
  }
  std::ostringstream out_;
  bool first_ = true;
};

void Say(const char* format, auto... args) {
  std::fprintf(stderr, format, args...);
  std::fflush(stderr);
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "sop-bench-pipeline: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
T Must(Result<T> result, const char* what) {
  if (!result) Die(std::string(what) + ": " + result.error().ToString());
  return std::move(*result);
}

void Must(Status status, const char* what) {
  if (!status) Die(std::string(what) + ": " + status.error().ToString());
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one;
}

// utime + stime of a process in seconds, -1 if unknown.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  const std::size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double utime = 0;
  double stime = 0;
  for (int index = 3; fields >> field; ++index) {  // field 3 is the state
    if (index == 14) utime = std::strtod(field.c_str(), nullptr);
    if (index == 15) {
      stime = std::strtod(field.c_str(), nullptr);
      break;
    }
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// True while `pid` runs (not exited, not a zombie waiting to be reaped).
bool Running(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (pid <= 0 || !std::getline(in, text)) return false;
  const std::size_t close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z' &&
         text[close + 2] != 'X';
}

double Percentile(std::vector<double> sorted, double q) {
  if (sorted.empty()) return -1;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t rank =
      static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

void LatencyJson(Json& json, std::string_view key, const std::vector<double>& ms) {
  json.Open(key)
      .Num("count", static_cast<double>(ms.size()))
      .Num("p50_ms", Percentile(ms, 0.50))
      .Num("p95_ms", Percentile(ms, 0.95))
      .Num("p99_ms", Percentile(ms, 0.99))
      .Num("max_ms", ms.empty() ? -1 : *std::max_element(ms.begin(), ms.end()))
      .Close();
}

stack::StackOptions BaseStackOptions(const Options& options, std::vector<std::string> services) {
  stack::StackOptions stack_options;
  stack_options.dir = options.dir;
  stack_options.bin_dir = options.bin_dir;
  stack_options.services = std::move(services);
  stack_options.partitions = options.partitions;
  stack_options.start_timeout = 60s;
  stack_options.stop_timeout = 20s;
  stack_options.extra_env = {"SOP_SHUTDOWN_TIMEOUT=15s"};
  stack_options.fetch_wait_max_ms = options.fetch_wait_ms;
  stack_options.extra_args = options.service_args;
  return stack_options;
}

std::unique_ptr<bus::Producer> MakeProducer(const std::string& bootstrap, bool bulk) {
  // Bulk: large lz4 batches so that the pre-produced backlog fits the embedded broker's
  // ~5 MiB per partition. Live: a connector's settings (1 ms linger).
  bus::KafkaConfig config{{"bootstrap.servers", bootstrap},
                          {"compression.type", "lz4"},
                          {"linger.ms", bulk ? "50" : "1"},
                          {"batch.size", bulk ? "4000000" : "1000000"},
                          {"queue.buffering.max.messages", "2000000"},
                          {"queue.buffering.max.kbytes", "2097152"},
                          {"message.max.bytes", "5000000"},
                          {"log_level", "3"}};
  return Must(bus::Producer::Create(config), "producer");
}

// Sends records without waiting; counts failures.
class Sender {
 public:
  explicit Sender(bus::Producer& producer) : producer_(producer) {}
  void Send(const Record& record) {
    bus::OutgoingMessage message;
    message.topic = std::string(bus::kErpEventsTopic);
    message.key = record.key;
    message.value = record.value;
    producer_.Send(std::move(message), [this](Result<bus::DeliveryReport> report) {
      if (!report) {
        std::lock_guard lock(mutex_);
        if (failures_++ == 0) first_error_ = report.error().ToString();
      }
    });
  }
  void FlushOrDie() {
    Must(producer_.Flush(120s), "flush");
    std::lock_guard lock(mutex_);
    if (failures_ > 0) {
      Die(std::to_string(failures_) + " records not acknowledged, first: " + first_error_);
    }
  }

 private:
  bus::Producer& producer_;
  std::mutex mutex_;
  long failures_ = 0;
  std::string first_error_;
};

// ---------------------------------------------------------------------------------------------
// --mode ingestion
// ---------------------------------------------------------------------------------------------

// One round: `chunk` pre-produced while sop-ingestion is down, then the service started on it.
struct IngestionRound {
  double decided = 0;  // facts + dead letters of this round
  double facts = 0;
  double dead_letters = 0;
  double consumed = 0;
  double steady_decided = 0;  // decided between the first poll that saw progress and the end
  double steady_seconds = 0;
  double start_to_done_seconds = 0;
  double cpu_seconds = 0;  // sop-ingestion's CPU time over the steady part
  double lag_end = -1;
};

IngestionRound IngestOneRound(const Options& options, stack::Stack& stack,
                              WatermarkClient& watermarks, std::span<const Record> chunk,
                              double& produce_seconds) {
  const std::string broker = stack.Endpoints().broker;
  // The previous round's end of log: what the service has decided already.
  const auto before = Must(Watermarks(broker, bus::kErpEventsTopic, options.partitions), "offsets");
  const auto produce_start = Clock::now();
  {
    auto producer = MakeProducer(broker, true);
    Sender sender(*producer);
    for (const auto& record : chunk) sender.Send(record);
    sender.FlushOrDie();
  }
  produce_seconds += Seconds(Clock::now() - produce_start);
  // The embedded broker drops the head of a partition beyond ~5 MiB: nothing not yet decided
  // may have gone.
  const auto after = Must(Watermarks(broker, bus::kErpEventsTopic, options.partitions), "offsets");
  std::int64_t added = 0;
  for (std::size_t p = 0; p < after.size(); ++p) {
    if (after[p].first > before[p].second) {
      Die("the embedded broker dropped undecided records of sop.erp.events.v1[" +
          std::to_string(p) + "] (log start " + std::to_string(after[p].first) + ", previous end " +
          std::to_string(before[p].second) + "); use a smaller --chunk");
    }
    added += after[p].second - before[p].second;
  }
  if (added != static_cast<std::int64_t>(chunk.size())) {
    Die("sop.erp.events.v1 gained " + std::to_string(added) + " records, expected " +
        std::to_string(chunk.size()));
  }

  IngestionRound round;
  const double n = static_cast<double>(chunk.size());
  // Progress is followed in the log (facts + dead letters appended since the round began), not
  // through the service's /metrics: 50 scrapes a second during the run cost the measured process
  // ~15 % of its CPU (civetweb + the text exposition), which a 15 s Prometheus scrape never would.
  auto decided_in_log = [&]() -> double {
    auto facts = watermarks.SumHigh(bus::kFactsTopic, options.partitions);
    auto dead = watermarks.SumHigh(bus::kDeadLetterTopic, options.partitions);
    if (!facts || !dead) return -1;
    return static_cast<double>(*facts + *dead);
  };
  const double log_before = decided_in_log();
  if (log_before < 0) Die("watermarks of sop.facts.v1 / sop.dlq.v1 unavailable");
  const auto start = Clock::now();
  Must(stack.Restart("ingestion"), "start ingestion");
  const pid_t pid = stack.Endpoints().Find("ingestion")->pid;
  const auto deadline = start + std::chrono::seconds(60 + chunk.size() / 5'000);
  Clock::time_point first{};
  double decided_at_first = 0;
  double cpu_at_first = 0;
  Clock::time_point done{};
  double decided = 0;
  // Start: the first scrape that sees a consumed record (scrapes before it cost the service
  // nothing that is measured). Facts reach the log only after the producer's linger and the
  // broker's ack, so the log alone would start the clock late.
  while (first == Clock::time_point{} && Clock::now() < deadline) {
    const auto text = stack.Scrape("ingestion");
    const auto now = Clock::now();
    if (text && SumSamples(*text, "sop_ingestion_consumed_total") > 0) {
      first = now;
      cpu_at_first = CpuSeconds(pid);
      decided_at_first = std::max(0.0, decided_in_log() - log_before);
      break;
    }
    std::this_thread::sleep_for(20ms);  // metrics poll interval before consumption
  }
  // End: every record decided in the log.
  while (first != Clock::time_point{} && Clock::now() < deadline) {
    const double in_log = decided_in_log();
    const auto now = Clock::now();
    if (in_log >= 0) {
      decided = in_log - log_before;
      if (decided >= n) {
        done = now;
        break;
      }
    }
    std::this_thread::sleep_for(5ms);  // watermark poll interval (served by the broker)
  }
  if (done == Clock::time_point{}) {
    Die("ingestion did not decide all " + std::to_string(chunk.size()) +
        " events in time: " + std::to_string(static_cast<long long>(decided)) +
        " in the log; log " + stack.Endpoints().Find("ingestion")->log.string());
  }
  round.cpu_seconds = CpuSeconds(pid) - cpu_at_first;
  round.steady_decided = decided - decided_at_first;
  round.steady_seconds = Seconds(done - first);
  round.start_to_done_seconds = Seconds(done - start);
  // The service's own counts (its delivery callbacks may trail the log by a few records) and
  // its lag gauge (refreshed by its timer).
  for (int i = 0; i < 50; ++i) {
    if (auto text = stack.Scrape("ingestion")) {
      round.consumed = SumSamples(*text, "sop_ingestion_consumed_total");
      round.facts = SumSamples(*text, "sop_ingestion_facts_produced_total");
      round.dead_letters = SumSamples(*text, "sop_ingestion_dlq_total");
      round.decided = round.facts + round.dead_letters;
      round.lag_end = SumSamples(*text, "sop_ingestion_consumer_lag");
      if (round.lag_end == 0 && round.decided >= n) break;
    }
    std::this_thread::sleep_for(100ms);
  }
  // Down again (snapshot + offsets written) for the next round's backlog.
  Must(stack.Kill("ingestion", SIGTERM), "stop ingestion");
  return round;
}

int RunIngestion(const Options& options) {
  const std::string load_before = LoadAverage();
  auto stack = Must(stack::Stack::Start(BaseStackOptions(options, {"ingestion"})), "stack");
  // The backlog goes in while the service is down; it then starts on a full topic.
  Must(stack->Kill("ingestion", SIGTERM), "stop ingestion before pre-producing");

  const auto envelopes = Must(GenerateS(options.seed, options.history_weeks), "generate");
  const auto records = Cycled(envelopes, options.events);
  std::size_t bytes = 0;
  for (const auto& record : records) bytes += record.value.size();
  Say("ingestion: %zu envelopes (%.1f MB, S seed %llu cycled) in rounds of %zu\n", records.size(),
      static_cast<double>(bytes) / 1e6, static_cast<unsigned long long>(options.seed),
      options.chunk);

  auto watermarks = Must(WatermarkClient::Connect(stack->Endpoints().broker), "watermarks");
  double produce_seconds = 0;
  IngestionRound total;
  int rounds = 0;
  for (std::size_t next = 0; next < records.size(); next += options.chunk, ++rounds) {
    const std::size_t size = std::min(options.chunk, records.size() - next);
    const auto round = IngestOneRound(options, *stack, *watermarks,
                                      std::span(records).subspan(next, size), produce_seconds);
    Say("ingestion: round %d: %.0f decided, %.0f events/s steady (%.2f s), %.2f s from start\n",
        rounds + 1, round.decided, round.steady_decided / std::max(1e-9, round.steady_seconds),
        round.steady_seconds, round.start_to_done_seconds);
    total.decided += round.decided;
    total.facts += round.facts;
    total.dead_letters += round.dead_letters;
    total.consumed += round.consumed;
    total.steady_decided += round.steady_decided;
    total.steady_seconds += round.steady_seconds;
    total.start_to_done_seconds += round.start_to_done_seconds;
    total.cpu_seconds += round.cpu_seconds;
    total.lag_end = round.lag_end;
  }
  watermarks.reset();  // before the broker goes
  Must(stack->Stop(), "stop");

  const double n = static_cast<double>(records.size());
  const double steady_rate = total.steady_decided / std::max(1e-9, total.steady_seconds);
  const double per_cpu = total.steady_decided / std::max(1e-9, total.cpu_seconds);
  Say("ingestion: %.0f facts, %.0f dead letters; %.0f events/s from the first consumed record of "
      "each round (%.2f s in all), %.0f events/s including start and group join (%.2f s); "
      "%.2f CPU-s of sop-ingestion in the steady parts (%.0f events per CPU-second); load "
      "average %s → %s\n",
      total.facts, total.dead_letters, steady_rate, total.steady_seconds,
      n / total.start_to_done_seconds, total.start_to_done_seconds, total.cpu_seconds, per_cpu,
      load_before.c_str(), LoadAverage().c_str());
  Json json;
  json.Str("mode", "ingestion")
      .Num("events", n)
      .Num("bytes", static_cast<double>(bytes))
      .Num("seed", static_cast<double>(options.seed))
      .Num("partitions", options.partitions)
      .Num("rounds", rounds)
      .Num("facts", total.facts)
      .Num("dead_letters", total.dead_letters)
      .Num("consumed", total.consumed)
      .Num("consumer_lag_end", total.lag_end)
      .Num("produce_seconds", produce_seconds)
      .Num("start_to_done_seconds", total.start_to_done_seconds)
      .Num("steady_seconds", total.steady_seconds)
      .Num("events_per_second", steady_rate)
      .Num("events_per_second_including_start", n / total.start_to_done_seconds)
      .Num("ingestion_cpu_seconds", total.cpu_seconds)
      .Num("events_per_cpu_second", per_cpu)
      .Num("target_events_per_second", 100'000)
      .Bool("target_met", steady_rate >= 100'000)
      .Str("load_average_before", load_before)
      .Str("dir", options.dir.string());
  if (options.json) std::printf("%s\n", json.Text().c_str());
  return total.decided >= n ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// --mode replay (and the first part of --mode latency)
// ---------------------------------------------------------------------------------------------

// The fewest facts (events for ingestion) any running service has consumed, and which one.
struct Slowest {
  double consumed = 0;
  std::string service{};
};
Slowest SlowestConsumer(const stack::Stack& stack) {
  Slowest slowest{-1, {}};
  for (const auto& endpoint : stack.Endpoints().services) {
    if (endpoint.pid <= 0) continue;
    if (!Running(endpoint.pid)) {
      Die(endpoint.name + " (pid " + std::to_string(endpoint.pid) + ") is no longer running; log " +
          endpoint.log.string());
    }
    const auto text = stack.Scrape(endpoint.name);
    if (!text) continue;
    const double consumed = endpoint.kind == "ingestion"
                                ? SumSamples(*text, "sop_ingestion_consumed_total")
                                : SumSamples(*text, "sop_" + endpoint.kind + "_consumed_total",
                                             "topic=\"sop.facts.v1\"");
    if (slowest.consumed < 0 || consumed < slowest.consumed) slowest = {consumed, endpoint.name};
  }
  slowest.consumed = std::max(0.0, slowest.consumed);
  return slowest;
}

struct ReplayFigures {
  double events = 0;
  double facts = 0;
  double dead_letters = 0;
  double produce_seconds = 0;
  double settled_seconds = 0;  // start of production → last progress (settle detection - quiet)
  double settle_detected_seconds = 0;
  std::map<std::string, double> consumed{};
  std::map<std::string, double> cpu_seconds{};  // per service process, production → settled
  // Per service: seconds production was held back because it was the slowest consumer (more
  // than `window` behind): who paced the replay.
  std::map<std::string, double> paced_seconds{};
  // Per service: first event produced → it had consumed every event (ingestion) / fact.
  std::map<std::string, double> caught_up_seconds{};
  // Per service: first event produced → its consumed count (all topics) last moved.
  std::map<std::string, double> last_consumed_seconds{};
  double exceptions_open = -1;
};

stack::StackOptions PipelineStackOptions(const Options& options) {
  std::vector<std::string> services;
  for (const std::string kind : {"ingestion", "forecasting", "mrp", "capacity", "exceptions"}) {
    services.push_back(kind);
  }
  return BaseStackOptions(options, std::move(services));
}

ReplayFigures Replay(const Options& options, stack::Stack& stack,
                     const std::vector<sop::v1::Envelope>& envelopes) {
  ReplayFigures figures;
  const auto records = Serialized(envelopes);
  figures.events = static_cast<double>(records.size());
  Say("replay: %zu envelopes (S seed %llu, %s weeks of history)\n", records.size(),
      static_cast<unsigned long long>(options.seed),
      options.history_weeks < 0 ? "156" : std::to_string(options.history_weeks).c_str());
  auto producer = MakeProducer(stack.Endpoints().broker, false);
  Sender sender(*producer);
  std::map<std::string, double> cpu_start;
  for (const auto& endpoint : stack.Endpoints().services) {
    cpu_start[endpoint.name] = CpuSeconds(endpoint.pid);
  }
  const auto start = Clock::now();
  auto progress = start + 10s;
  constexpr std::size_t kChunk = 2'000;
  for (std::size_t next = 0; next < records.size();) {
    const std::size_t end = std::min(records.size(), next + kChunk);
    for (; next < end; ++next) sender.Send(records[next]);
    // Pace: the embedded broker keeps ~5 MiB per partition, so no consumer may fall further
    // behind than `window` events.
    for (auto held_since = Clock::now();; held_since = Clock::now()) {
      const Slowest slowest_now = SlowestConsumer(stack);
      const double slowest = slowest_now.consumed;
      if (Clock::now() >= progress) {
        Say("replay: %.0f s: %zu produced, %.0f through the slowest consumer (%s)\n",
            Seconds(Clock::now() - start), next, slowest, slowest_now.service.c_str());
        progress = Clock::now() + 10s;
      }
      if (static_cast<double>(next) - slowest <= static_cast<double>(options.window)) break;
      if (Clock::now() - start > options.timeout) {
        Die("replay: not done after " + std::to_string(options.timeout.count()) +
            " s: " + std::to_string(next) + " of " + std::to_string(records.size()) +
            " produced, the slowest consumer at " + std::to_string(static_cast<long>(slowest)) +
            " (logs in " + options.dir.string() + ")");
      }
      std::this_thread::sleep_for(50ms);  // metrics poll interval while paced
      figures.paced_seconds[slowest_now.service] += Seconds(Clock::now() - held_since);
    }
  }
  sender.FlushOrDie();
  figures.produce_seconds = Seconds(Clock::now() - start);
  Say("replay: produced in %.1f s; waiting for ingestion to decide every event\n",
      figures.produce_seconds);
  const auto ingestion_deadline = Clock::now() + 300s;
  while (Clock::now() < ingestion_deadline) {
    if (auto text = stack.Scrape("ingestion")) {
      figures.facts = SumSamples(*text, "sop_ingestion_facts_produced_total");
      figures.dead_letters = SumSamples(*text, "sop_ingestion_dlq_total");
      if (figures.facts + figures.dead_letters >= figures.events) break;
    }
    std::this_thread::sleep_for(50ms);  // metrics poll interval
  }
  stack::SettleOptions settle;
  settle.quiet = 2s;
  settle.timeout = std::max<std::chrono::milliseconds>(
      10s, options.timeout -
               std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start));
  settle.poll = 100ms;
  for (const auto& endpoint : stack.Endpoints().services) {
    settle.min_consumed[endpoint.name] =
        endpoint.kind == "ingestion" ? figures.events : figures.facts;
  }
  // Per service, from the first event produced: when it had consumed every event (ingestion) /
  // fact, and when its consumed count (all topics: facts, and forecast updates downstream) last
  // moved. The last service to stop consuming is the replay's bottleneck. Followed until every
  // count stood still for the settle quiet period (then WaitSettled confirms).
  {
    std::map<std::string, double> last_count;
    auto last_move = Clock::now();
    const auto deadline = start + options.timeout;
    while (Clock::now() < deadline) {
      bool moved = false;
      bool all_caught_up = true;
      for (const auto& endpoint : stack.Endpoints().services) {
        if (!Running(endpoint.pid)) {
          Die("replay: " + endpoint.name + " (pid " + std::to_string(endpoint.pid) +
              ") is no longer running; log " + endpoint.log.string());
        }
        const auto text = stack.Scrape(endpoint.name);
        if (!text) {
          all_caught_up = false;
          continue;
        }
        const auto now = Clock::now();
        const double facts = endpoint.kind == "ingestion"
                                 ? SumSamples(*text, "sop_ingestion_consumed_total")
                                 : SumSamples(*text, "sop_" + endpoint.kind + "_consumed_total",
                                              "topic=\"sop.facts.v1\"");
        if (facts >= settle.min_consumed[endpoint.name]) {
          figures.caught_up_seconds.try_emplace(endpoint.name, Seconds(now - start));
        } else {
          all_caught_up = false;
        }
        const double all = SumSamples(*text, "sop_" + endpoint.kind + "_consumed_total");
        if (!last_count.contains(endpoint.name) || all != last_count[endpoint.name]) {
          last_count[endpoint.name] = all;
          figures.last_consumed_seconds[endpoint.name] = Seconds(now - start);
          moved = true;
        }
      }
      if (moved) last_move = Clock::now();
      if (all_caught_up && Clock::now() - last_move >= settle.quiet) break;
      std::this_thread::sleep_for(100ms);  // metrics poll interval
    }
  }
  settle.timeout = std::max<std::chrono::milliseconds>(
      10s, options.timeout -
               std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start));
  const auto report = Must(stack.WaitSettled(settle), "settle");
  const auto settled = Clock::now();
  figures.settle_detected_seconds = Seconds(settled - start);
  figures.settled_seconds = Seconds(settled - settle.quiet - start);
  figures.consumed = report.consumed;
  for (const auto& endpoint : stack.Endpoints().services) {
    figures.cpu_seconds[endpoint.name] = CpuSeconds(endpoint.pid) - cpu_start[endpoint.name];
  }
  if (stack.Has("exceptions")) {
    if (auto text = stack.Scrape("exceptions")) {
      figures.exceptions_open = SumSamples(*text, "sop_exceptions_open");
    }
  }
  Say("replay: settled %.1f s after the first event (detected %.1f s, quiet %.1f s); %.0f facts, "
      "%.0f dead letters, %.0f open exceptions\n",
      figures.settled_seconds, figures.settle_detected_seconds, Seconds(settle.quiet),
      figures.facts, figures.dead_letters, figures.exceptions_open);
  for (const auto& [name, value] : figures.cpu_seconds) {
    auto at = [&](const std::map<std::string, double>& figure, double none) {
      const auto it = figure.find(name);
      return it == figure.end() ? none : it->second;
    };
    Say("replay:   %-12s %.1f CPU-s, had every fact at %.1f s, last consumed at %.1f s, held "
        "production back %.1f s\n",
        name.c_str(), value, at(figures.caught_up_seconds, -1),
        at(figures.last_consumed_seconds, -1), at(figures.paced_seconds, 0));
  }
  return figures;
}

void ReplayJson(Json& json, const ReplayFigures& figures) {
  json.Num("events", figures.events)
      .Num("facts", figures.facts)
      .Num("dead_letters", figures.dead_letters)
      .Num("produce_seconds", figures.produce_seconds)
      .Num("replay_seconds", figures.settled_seconds)
      .Num("settle_detected_seconds", figures.settle_detected_seconds)
      .Num("target_seconds", 30)
      .Bool("target_met", figures.settled_seconds <= 30)
      .Num("exceptions_open", figures.exceptions_open);
  json.Open("consumed");
  for (const auto& [name, value] : figures.consumed) json.Num(name, value);
  json.Close();
  json.Open("cpu_seconds");
  for (const auto& [name, value] : figures.cpu_seconds) json.Num(name, value);
  json.Close();
  json.Open("caught_up_seconds");
  for (const auto& [name, value] : figures.caught_up_seconds) json.Num(name, value);
  json.Close();
  json.Open("last_consumed_seconds");
  for (const auto& [name, value] : figures.last_consumed_seconds) json.Num(name, value);
  json.Close();
  json.Open("paced_seconds");
  for (const auto& [name, value] : figures.paced_seconds) json.Num(name, value);
  json.Close();
}

int RunReplay(const Options& options) {
  const std::string load_before = LoadAverage();
  auto stack = Must(stack::Stack::Start(PipelineStackOptions(options)), "stack");
  const auto envelopes = Must(GenerateS(options.seed, options.history_weeks), "generate");
  const auto figures = Replay(options, *stack, envelopes);
  Must(stack->Stop(), "stop");
  Json json;
  json.Str("mode", "replay").Num("seed", static_cast<double>(options.seed));
  ReplayJson(json.Open("replay"), figures);
  json.Close().Str("load_average_before", load_before).Str("dir", options.dir.string());
  if (options.json) std::printf("%s\n", json.Text().c_str());
  return 0;
}

// ---------------------------------------------------------------------------------------------
// --mode latency
// ---------------------------------------------------------------------------------------------

int RunLatency(const Options& options) {
  const std::string load_before = LoadAverage();
  auto stack = Must(stack::Stack::Start(PipelineStackOptions(options)), "stack");
  const auto envelopes = Must(GenerateS(options.seed, options.history_weeks), "generate");
  const auto replay = Replay(options, *stack, envelopes);

  const auto count = static_cast<std::size_t>(options.rate * options.duration_s);
  const auto changes = Must(MakeChanges(envelopes, count, options.seed), "changes");
  auto reader =
      Must(CauseReader::Start(stack->Endpoints().broker, options.partitions), "cause reader");
  const bool has_exceptions = stack->Has("exceptions");
  const auto histogram_name = "sop_exceptions_event_to_exception_seconds";
  std::map<double, double> histogram_before;
  double histogram_sum_before = 0;
  double histogram_count_before = 0;
  if (has_exceptions) {
    const auto text = Must(stack->Scrape("exceptions"), "scrape exceptions");
    histogram_before = HistogramBuckets(text, histogram_name);
    histogram_sum_before = SumSamples(text, std::string(histogram_name) + "_sum");
    histogram_count_before = SumSamples(text, std::string(histogram_name) + "_count");
  }

  Say("latency: %zu changes at %.0f/s (sales orders, goods receipts, shipments)\n", count,
      options.rate);
  auto producer = MakeProducer(stack->Endpoints().broker, false);
  Sender sender(*producer);
  std::vector<Clock::time_point> sent(changes.size());
  const auto start = Clock::now();
  const auto interval = std::chrono::duration<double>(1.0 / options.rate);
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const auto due =
        start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
    std::this_thread::sleep_until(due);  // the steady rate itself, not synchronisation
    sent[i] = Clock::now();
    sender.Send(changes[i].record);
  }
  const double send_seconds = Seconds(Clock::now() - start);
  sender.FlushOrDie();

  stack::SettleOptions settle;
  settle.quiet = 2s;
  settle.timeout = options.timeout;
  settle.min_consumed["ingestion"] = replay.events + static_cast<double>(changes.size());
  // A pipeline that cannot keep up is a result, not an error: report what arrived by then.
  const auto settled_after = stack->WaitSettled(settle);
  if (!settled_after) {
    Say("latency: not settled %lld s after the last change: %s\n",
        static_cast<long long>(options.timeout.count()), settled_after.error().ToString().c_str());
  }
  std::map<std::string, double> consumed_end;
  for (const auto& endpoint : stack->Endpoints().services) {
    if (auto text = stack->Scrape(endpoint.name)) {
      consumed_end[endpoint.name] =
          endpoint.kind == "ingestion"
              ? SumSamples(*text, "sop_ingestion_consumed_total")
              : SumSamples(*text, "sop_" + endpoint.kind + "_consumed_total",
                           "topic=\"sop.facts.v1\"");
    }
  }
  const auto reader_deadline = Clock::now() + (settled_after ? 60s : 5s);
  while (!reader->CaughtUp() && Clock::now() < reader_deadline) {
    std::this_thread::sleep_for(100ms);  // poll the reader's position against the watermarks
  }
  const bool reader_caught_up = reader->CaughtUp();
  reader->Stop();
  const auto arrivals = reader->Arrivals();

  std::vector<double> first_ms;
  std::vector<double> plan_ms;
  std::vector<double> exceptions_ms;
  std::map<std::string, std::pair<std::size_t, std::size_t>> by_kind;  // sent, matched
  std::map<std::string, std::vector<double>> kind_ms;
  for (std::size_t i = 0; i < changes.size(); ++i) {
    auto& [kind_sent, kind_matched] = by_kind[ToString(changes[i].kind)];
    ++kind_sent;
    const auto found = arrivals.find(changes[i].event_id);
    if (found == arrivals.end()) continue;
    const auto& arrival = found->second;
    auto ms = [&](Clock::time_point at) {
      return std::chrono::duration<double, std::milli>(at - sent[i]).count();
    };
    double first = -1;
    if (arrival.plan != Clock::time_point{}) {
      plan_ms.push_back(ms(arrival.plan));
      first = plan_ms.back();
    }
    if (arrival.exceptions != Clock::time_point{}) {
      exceptions_ms.push_back(ms(arrival.exceptions));
      first = first < 0 ? exceptions_ms.back() : std::min(first, exceptions_ms.back());
    }
    if (first >= 0) {
      first_ms.push_back(first);
      kind_ms[ToString(changes[i].kind)].push_back(first);
      ++kind_matched;
    }
  }

  double h50 = -1, h95 = -1, h99 = -1, h_count = 0, h_mean = -1;
  if (has_exceptions) {
    const auto text = Must(stack->Scrape("exceptions"), "scrape exceptions");
    const auto after = HistogramBuckets(text, histogram_name);
    h50 = BucketQuantile(histogram_before, after, 0.50);
    h95 = BucketQuantile(histogram_before, after, 0.95);
    h99 = BucketQuantile(histogram_before, after, 0.99);
    h_count = SumSamples(text, std::string(histogram_name) + "_count") - histogram_count_before;
    if (h_count > 0) {
      h_mean =
          (SumSamples(text, std::string(histogram_name) + "_sum") - histogram_sum_before) / h_count;
    }
  }
  Must(stack->Stop(), "stop");

  const double p99 = Percentile(first_ms, 0.99);
  Say("latency: sent %zu in %.1f s (%.0f/s); %zu with a delta carrying their cause: p50 %.1f ms, "
      "p95 %.1f ms, p99 %.1f ms, max %.1f ms (plan deltas %zu, exception deltas %zu); "
      "reader caught up: %s\n",
      changes.size(), send_seconds, static_cast<double>(changes.size()) / send_seconds,
      first_ms.size(), Percentile(first_ms, 0.5), Percentile(first_ms, 0.95), p99,
      first_ms.empty() ? -1.0 : *std::max_element(first_ms.begin(), first_ms.end()), plan_ms.size(),
      exceptions_ms.size(), reader_caught_up ? "yes" : "no");
  for (const auto& [kind, counts] : by_kind) {
    Say("latency:   %-13s sent %zu, matched %zu, p99 %.1f ms\n", kind.c_str(), counts.first,
        counts.second, Percentile(kind_ms[kind], 0.99));
  }
  if (has_exceptions) {
    Say("latency: sop_exceptions_event_to_exception_seconds over the run: %.0f observations, "
        "mean %.1f ms, p50 ≤ %g s, p95 ≤ %g s, p99 ≤ %g s (bucket bounds)\n",
        h_count, h_mean * 1000, h50, h95, h99);
  }

  Json json;
  json.Str("mode", "latency").Num("seed", static_cast<double>(options.seed));
  ReplayJson(json.Open("replay"), replay);
  json.Close()
      .Num("rate", options.rate)
      .Num("sent", static_cast<double>(changes.size()))
      .Num("send_seconds", send_seconds)
      .Num("matched", static_cast<double>(first_ms.size()))
      .Bool("settled", settled_after.has_value())
      .Bool("reader_caught_up", reader_caught_up);
  json.Open("facts_consumed_at_end");
  for (const auto& [name, value] : consumed_end) json.Num(name, value);
  json.Close();
  LatencyJson(json, "first_delta", first_ms);
  LatencyJson(json, "plan_delta", plan_ms);
  LatencyJson(json, "exception_delta", exceptions_ms);
  json.Open("by_kind");
  for (const auto& [kind, counts] : by_kind) {
    json.Open(kind)
        .Num("sent", static_cast<double>(counts.first))
        .Num("matched", static_cast<double>(counts.second))
        .Num("p99_ms", Percentile(kind_ms[kind], 0.99))
        .Close();
  }
  json.Close();
  json.Open("event_to_exception_histogram")
      .Bool("present", has_exceptions && h_count > 0)
      .Num("count", h_count)
      .Num("mean_ms", h_mean < 0 ? -1 : h_mean * 1000)
      .Num("p50_le_seconds", h50)
      .Num("p95_le_seconds", h95)
      .Num("p99_le_seconds", h99)
      .Close();
  // The objective: ERP event → updated ranked exception, over the events that changed
  // the ranked exceptions (an exception delta names them); first_delta (plan or exception) is
  // reported beside it.
  const double exception_p99 = Percentile(exceptions_ms, 0.99);
  json.Num("target_p99_ms", 250)
      .Str("target_measure", "exception_delta.p99_ms")
      .Bool("target_met", exception_p99 >= 0 && exception_p99 <= 250)
      .Str("load_average_before", load_before)
      .Str("dir", options.dir.string());
  if (options.json) std::printf("%s\n", json.Text().c_str());
  return 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: sop-bench-pipeline --mode ingestion|replay|latency [--json]\n"
               "  [--events N (ingestion, 500000)] [--chunk N (ingestion round, 100000)] [--seed N "
               "(42)] [--history-weeks N (156)]\n"
               "  [--rate EVENTS_PER_S (1000)] [--duration SECONDS (30)] [--window N (20000)]\n"
               "  [--timeout SECONDS (replay, 300)]\n"
               "  [--partitions N (6)] [--dir DIR] [--bin-dir DIR]\n"
               "  [--fetch-wait-ms N (50)] [--service-arg SERVICE=--flag=value ...]\n");
  return 64;
}

}  // namespace
}  // namespace sop::bench

int main(int argc, char** argv) {
  using namespace sop::bench;
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sop-bench-pipeline: %s needs a value\n", argv[i]);
        std::exit(64);
      }
      return argv[++i];
    };
    auto number = [&](std::string_view name, const std::string& text, double low) {
      char* end = nullptr;
      const double parsed = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !(parsed >= low)) {
        std::fprintf(stderr, "sop-bench-pipeline: %s: must be a number >= %g, got '%s'\n",
                     std::string(name).c_str(), low, text.c_str());
        std::exit(64);
      }
      return parsed;
    };
    if (arg == "--json") {
      options.json = true;
    } else if (arg == "--mode") {
      options.mode = value();
    } else if (arg == "--events") {
      options.events = static_cast<std::size_t>(number(arg, value(), 1));
    } else if (arg == "--seed") {
      options.seed = static_cast<std::uint64_t>(number(arg, value(), 0));
    } else if (arg == "--history-weeks") {
      options.history_weeks = static_cast<int>(number(arg, value(), 0));
    } else if (arg == "--rate") {
      options.rate = number(arg, value(), 1);
    } else if (arg == "--duration") {
      options.duration_s = number(arg, value(), 0.1);
    } else if (arg == "--timeout") {
      options.timeout = std::chrono::seconds(static_cast<long>(number(arg, value(), 1)));
    } else if (arg == "--chunk") {
      options.chunk = static_cast<std::size_t>(number(arg, value(), 1));
    } else if (arg == "--window") {
      options.window = static_cast<std::size_t>(number(arg, value(), 100));
    } else if (arg == "--partitions") {
      options.partitions = static_cast<std::int32_t>(number(arg, value(), 1));
    } else if (arg == "--dir") {
      options.dir = value();
    } else if (arg == "--bin-dir") {
      options.bin_dir = value();
    } else if (arg == "--fetch-wait-ms") {
      options.fetch_wait_ms = static_cast<std::int32_t>(number(arg, value(), 1));
    } else if (arg == "--service-arg") {
      const std::string text = value();
      const auto equals = text.find('=');
      if (equals == std::string::npos || equals == 0 || equals + 1 == text.size()) {
        std::fprintf(stderr,
                     "sop-bench-pipeline: --service-arg: must be SERVICE=FLAG (e.g. "
                     "forecasting=--forecasting.batch.max=250ms), got '%s'\n",
                     text.c_str());
        return 64;
      }
      options.service_args[text.substr(0, equals)].push_back(text.substr(equals + 1));
    } else {
      std::fprintf(stderr, "sop-bench-pipeline: unknown argument '%s'\n", argv[i]);
      return Usage();
    }
  }
  if (options.dir.empty()) {
    options.dir = std::filesystem::temp_directory_path() /
                  ("sop-bench-pipeline-" + options.mode + "-" + std::to_string(getpid()));
  }
  if (options.mode == "ingestion") return RunIngestion(options);
  if (options.mode == "replay") return RunReplay(options);
  if (options.mode == "latency") return RunLatency(options);
  std::fprintf(stderr,
               "sop-bench-pipeline: --mode: must be ingestion, replay or latency, got '%s'\n",
               options.mode.c_str());
  return Usage();
}
