// sop-bench-bus-consumer: what bus::Consumer costs per message, apart from any service.
//
//   sop-bench-bus-consumer [--messages N (100000)] [--partitions P (6)] [--value-bytes B (150)]
//                          [--json]
//
// Starts the embedded broker in this process, produces N records (key "site-<i % 50>", a value
// of B bytes, headers event_id and type, lz4) and waits for their acknowledgement; then a
// consumer with a handler that only counts reads them. Measured from the first handled record
// to the last: wall seconds, records per second, and the CPU time of the consumer thread alone
// (CLOCK_THREAD_CPUTIME_ID read in the handler: polling, copying each record, storing offsets;
// not librdkafka's fetch threads nor the broker). Human lines go to stderr; --json prints one
// JSON object on stdout. Exit 2 on a bad flag, 1 if the records are not all handled in 120 s.

#include <time.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "sop/bus/consumer.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"

namespace {

using namespace std::chrono_literals;

struct Options {
  long messages = 100'000;
  long partitions = 6;
  long value_bytes = 150;
  bool json = false;
};

long ParseLong(std::string_view flag, const char* text, long low, long high) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (text == nullptr || end == text || *end != '\0' || value < low || value > high) {
    std::cerr << "sop-bench-bus-consumer: " << flag << ": must be an integer " << low << ".."
              << high << ", got '" << (text == nullptr ? "" : text) << "'\n";
    std::exit(2);
  }
  return value;
}

double ThreadCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// What the handler saw, on the consumer thread.
struct Progress {
  std::mutex mutex;
  std::condition_variable done;
  long handled = 0;
  std::chrono::steady_clock::time_point first_wall{};
  std::chrono::steady_clock::time_point last_wall{};
  double first_cpu = 0;
  double last_cpu = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--json") {
      options.json = true;
    } else if (arg == "--messages") {
      options.messages = ParseLong(arg, value, 1, 1'000'000);
      ++i;
    } else if (arg == "--partitions") {
      options.partitions = ParseLong(arg, value, 1, 64);
      ++i;
    } else if (arg == "--value-bytes") {
      options.value_bytes = ParseLong(arg, value, 1, 100'000);
      ++i;
    } else {
      std::cerr << "sop-bench-bus-consumer: unknown flag '" << arg
                << "' (--messages N, --partitions P, --value-bytes B, --json)\n";
      return 2;
    }
  }

  const std::string topic(sop::bus::kFactsTopic);
  auto broker =
      sop::bus::EmbeddedBroker::Start({.brokers = 1,
                                       .partitions = static_cast<std::int32_t>(options.partitions),
                                       .topics = {topic}});
  if (!broker) {
    std::cerr << "broker: " << broker.error().ToString() << "\n";
    return 1;
  }
  const std::string bootstrap = (*broker)->bootstrap_servers();
  {
    auto producer = sop::bus::Producer::Create(sop::bus::KafkaConfig{
        {"bootstrap.servers", bootstrap}, {"linger.ms", "20"}, {"compression.type", "lz4"}});
    if (!producer) {
      std::cerr << "producer: " << producer.error().ToString() << "\n";
      return 1;
    }
    const std::string filler(static_cast<std::size_t>(options.value_bytes), 'x');
    for (long i = 0; i < options.messages; ++i) {
      (*producer)->Send(
          sop::bus::OutgoingMessage{.topic = topic,
                                    .key = "site-" + std::to_string(i % 50),
                                    .value = filler,
                                    .headers = {{"event_id", "evt-" + std::to_string(i)},
                                                {"type", "SalesOrderLineChanged"}}},
          [](sop::Result<sop::bus::DeliveryReport> report) {
            if (!report) std::cerr << "not delivered: " << report.error().ToString() << "\n";
          });
    }
    if (auto flushed = (*producer)->Flush(60s); !flushed) {
      std::cerr << "flush: " << flushed.error().ToString() << "\n";
      return 1;
    }
  }
  std::cerr << "produced " << options.messages << " records to " << options.partitions
            << " partitions\n";

  Progress progress;
  const long total = options.messages;
  sop::bus::ConsumerOptions consumer_options;
  consumer_options.group_id = "bench-bus-consumer";
  consumer_options.topics = {topic};
  consumer_options.handler = [&progress, total](const sop::bus::Message& message) -> sop::Status {
    (void)message;
    const double cpu = ThreadCpuSeconds();
    const auto wall = std::chrono::steady_clock::now();
    std::lock_guard lock(progress.mutex);
    if (progress.handled == 0) {
      progress.first_cpu = cpu;
      progress.first_wall = wall;
    }
    progress.last_cpu = cpu;
    progress.last_wall = wall;
    if (++progress.handled == total) progress.done.notify_all();
    return {};
  };
  consumer_options.on_rejected = [](const sop::bus::Message&, const sop::Error& error) {
    return sop::Status(std::unexpected(error));
  };
  auto consumer = sop::bus::Consumer::Create(sop::bus::KafkaConfig{{"bootstrap.servers", bootstrap},
                                                                   {"session.timeout.ms", "6000"},
                                                                   {"fetch.wait.max.ms", "50"}},
                                             std::move(consumer_options));
  if (!consumer) {
    std::cerr << "consumer: " << consumer.error().ToString() << "\n";
    return 1;
  }
  if (auto started = (*consumer)->Start(); !started) {
    std::cerr << "consumer start: " << started.error().ToString() << "\n";
    return 1;
  }
  bool all = false;
  {
    std::unique_lock lock(progress.mutex);
    all = progress.done.wait_for(lock, 120s, [&] { return progress.handled == total; });
  }
  (*consumer)->Stop();
  if (!all) {
    std::cerr << "only " << progress.handled << " of " << total << " handled in 120 s\n";
    return 1;
  }
  const double seconds =
      std::chrono::duration<double>(progress.last_wall - progress.first_wall).count();
  const double cpu = progress.last_cpu - progress.first_cpu;
  const double per_second = seconds > 0 ? static_cast<double>(total - 1) / seconds : 0;
  const double ns_per_message = cpu * 1e9 / static_cast<double>(total - 1);
  std::cerr << "handled " << total << " in " << seconds << " s: " << per_second
            << " records/s; consumer thread " << cpu << " CPU-s, " << ns_per_message
            << " ns per record\n";
  if (options.json) {
    std::printf(
        "{\"messages\":%ld,\"partitions\":%ld,\"value_bytes\":%ld,\"seconds\":%.4f,"
        "\"messages_per_second\":%.0f,\"consumer_thread_cpu_seconds\":%.4f,"
        "\"consumer_thread_ns_per_message\":%.0f}\n",
        total, options.partitions, options.value_bytes, seconds, per_second, cpu, ns_per_message);
  }
  return 0;
}
