// sop-stack: the whole sopstream system on this machine.
//
//   sop-stack up --dir DIR [--services a,b,..] [--replicas mrp=2,..] [--partitions N]
//
// Starts the embedded Kafka broker (in this process), a redis-server on a free loopback port and
// every built service binary as its own process (free gRPC/metrics ports, own consumer group,
// log DIR/<service>.log), waits until each is SERVING on grpc.health.v1, writes DIR/stack.json
// and prints one "ready" line. SIGINT/SIGTERM stop the services in reverse order (SIGTERM, then
// wait), then redis and the broker; exit 0 (1 if a service had to be killed or failed).

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

#include "sop/stack/stack.hpp"

namespace {

constexpr int kUsageExitCode = 64;

int Usage(std::string_view problem) {
  std::cerr << "usage: sop-stack up --dir DIR [--services a,b,..] [--replicas mrp=2,..] "
               "[--partitions N]\n";
  if (!problem.empty()) std::cerr << "sop-stack: " << problem << '\n';
  return kUsageExitCode;
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> parts;
  std::stringstream stream{std::string(text)};
  std::string part;
  while (std::getline(stream, part, ',')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

bool ParseCount(const std::string& text, int& value) {
  char* end = nullptr;
  const long parsed = std::strtol(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || parsed < 1 || parsed > 64) return false;
  value = static_cast<int>(parsed);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) != "up") return Usage("expected the command 'up'");
  sop::stack::StackOptions options;
  for (int index = 2; index < argc; ++index) {
    const std::string_view arg = argv[index];
    const bool has_value = index + 1 < argc;
    if (arg == "--dir" && has_value) {
      options.dir = argv[++index];
    } else if (arg == "--services" && has_value) {
      options.services = SplitList(argv[++index]);
    } else if (arg == "--replicas" && has_value) {
      for (const std::string& entry : SplitList(argv[++index])) {
        const auto equals = entry.find('=');
        int count = 0;
        if (equals == std::string::npos || !ParseCount(entry.substr(equals + 1), count)) {
          return Usage("--replicas: expected service=count (count 1..64), got '" + entry + "'");
        }
        options.replicas[entry.substr(0, equals)] = count;
      }
    } else if (arg == "--partitions" && has_value) {
      int partitions = 0;
      if (!ParseCount(argv[++index], partitions)) {
        return Usage("--partitions: expected 1..64, got '" + std::string(argv[index]) + "'");
      }
      options.partitions = partitions;
    } else {
      return Usage("unexpected argument '" + std::string(arg) + "'");
    }
  }
  if (options.dir.empty()) return Usage("--dir: required");

  // Block the stop signals before the broker starts its threads, so they all inherit the mask
  // and only sigwait below receives them (children get the default mask back).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string dir = options.dir.string();
  std::cerr << "sop-stack: starting broker, redis-server and services (logs in " << dir << ")\n";
  auto stack = sop::stack::Stack::Start(std::move(options));
  if (!stack) {
    std::cerr << "sop-stack: " << stack.error().ToString() << '\n';
    return 1;
  }
  const auto& endpoints = (*stack)->Endpoints();
  for (const auto& service : endpoints.services) {
    std::cerr << "sop-stack: " << service.name << " pid " << service.pid << " grpc " << service.grpc
              << " metrics " << service.metrics << '\n';
  }
  for (const auto& skipped : (*stack)->Skipped()) {
    std::cerr << "sop-stack: not started: " << skipped << '\n';
  }
  std::cout << "ready broker=" << endpoints.broker << " redis=" << endpoints.redis
            << " services=" << endpoints.services.size() << " stack=" << dir << "/stack.json"
            << std::endl;

  int received = 0;
  sigwait(&stop_signals, &received);
  std::cerr << "sop-stack: signal " << received << ", stopping services in reverse order\n";
  const auto stopped = (*stack)->Stop();
  if (!stopped) {
    std::cerr << "sop-stack: " << stopped.error().ToString() << '\n';
    return 1;
  }
  std::cerr << "sop-stack: stopped\n";
  return 0;
}
