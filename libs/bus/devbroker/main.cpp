// sop-devbroker: the embedded Kafka broker as a process, for `tools/dev demo` and tests.
//
//   sop-devbroker [--brokers N] [--partitions P] [--bootstrap-file PATH]
//
// Prints the bootstrap address as one line on stdout, writes it to PATH (atomically, via a
// rename), and runs until SIGTERM or SIGINT; then removes PATH and exits 0.

#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "sop/bus/embedded_broker.hpp"

namespace {

int ParseInt(std::string_view flag, const char* text) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 1 || value > 1'000) {
    std::cerr << "sop-devbroker: " << flag << ": must be an integer 1..1000, got '" << text
              << "'\n";
    std::exit(2);
  }
  return static_cast<int>(value);
}

bool WriteAtomically(const std::filesystem::path& path, const std::string& content) {
  const std::filesystem::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << content << '\n';
    if (!out.flush()) return false;
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  return !error;
}

}  // namespace

int main(int argc, char** argv) {
  sop::bus::EmbeddedBrokerOptions options;
  options.brokers = 1;
  options.partitions = 6;
  std::string bootstrap_file;
  for (int index = 1; index < argc; ++index) {
    const std::string_view arg = argv[index];
    const bool has_value = index + 1 < argc;
    if (arg == "--brokers" && has_value) {
      options.brokers = ParseInt(arg, argv[++index]);
    } else if (arg == "--partitions" && has_value) {
      options.partitions = ParseInt(arg, argv[++index]);
    } else if (arg == "--bootstrap-file" && has_value) {
      bootstrap_file = argv[++index];
    } else {
      std::cerr << "usage: sop-devbroker [--brokers N] [--partitions P] [--bootstrap-file PATH]\n"
                << "sop-devbroker: unexpected argument '" << arg << "'\n";
      return 2;
    }
  }

  // Block the stop signals before any broker thread exists, so every thread inherits the mask
  // and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto broker = sop::bus::EmbeddedBroker::Start(options);
  if (!broker) {
    std::cerr << "sop-devbroker: " << broker.error().ToString() << '\n';
    return 1;
  }
  const std::string& bootstrap = (*broker)->bootstrap_servers();
  if (!bootstrap_file.empty() && !WriteAtomically(bootstrap_file, bootstrap)) {
    std::cerr << "sop-devbroker: --bootstrap-file: cannot write '" << bootstrap_file << "'\n";
    return 1;
  }
  std::cout << bootstrap << std::endl;  // flushed: a parent waits for this line
  std::cerr << "sop-devbroker: " << options.brokers << " broker(s), " << options.partitions
            << " partitions per sop.* topic, listening on " << bootstrap << '\n';

  int received = 0;
  sigwait(&stop_signals, &received);
  std::cerr << "sop-devbroker: signal " << received << ", stopping\n";
  broker->reset();
  if (!bootstrap_file.empty()) {
    std::error_code ignored;
    std::filesystem::remove(bootstrap_file, ignored);  // a stale address would mislead clients
  }
  return 0;
}
