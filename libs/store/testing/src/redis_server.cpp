#include "sop/store/testing/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

namespace sop::store_testing {
namespace {

constexpr int kPortAttempts = 20;
// Poll interval while waiting for the server to come up or go away. The waits are bounded by a
// deadline; the interval only trades CPU for latency (a start takes ~10-30 ms).
constexpr auto kPollInterval = std::chrono::milliseconds(2);

std::string FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return access(name.c_str(), X_OK) == 0 ? name : std::string();
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// The kernel picks a free port for a throw-away socket; the server binds it moments later. Some
// other process may take it in between, which Start() detects from the log and retries.
int PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  int port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

std::filesystem::path MakeTempDirectory() {
  std::string pattern = (std::filesystem::temp_directory_path() / "sop-redis-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  }
  return pattern;
}

std::string DefaultExecutable() {
  const char* configured = std::getenv("SOP_REDIS_SERVER");
  return configured != nullptr && *configured != '\0' ? configured : "redis-server";
}

}  // namespace

RedisServer::RedisServer(RedisServerOptions options)
    : options_(std::move(options)),
      executable_(
          FindExecutable(options_.executable.empty() ? DefaultExecutable() : options_.executable)),
      directory_(MakeTempDirectory()) {}

RedisServer::~RedisServer() {
  if (running()) (void)Kill();
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

store::RedisStoreOptions RedisServer::StoreOptions() const {
  store::RedisStoreOptions store_options;
  store_options.host = host();
  store_options.port = port_ > 0 ? port_ : 6379;
  store_options.connect_timeout = std::chrono::milliseconds(200);
  store_options.command_timeout = std::chrono::milliseconds(500);
  store_options.reconnect_backoff_initial = std::chrono::milliseconds(10);
  store_options.reconnect_backoff_max = std::chrono::milliseconds(200);
  return store_options;
}

Status RedisServer::Start() {
  if (running()) return Fail(Errc::kFailedPrecondition, "redis-server: already running");
  if (executable_.empty()) {
    return Fail(Errc::kFailedPrecondition,
                "redis-server: executable '" + options_.executable +
                    "' not found (install "
                    "redis-server or set RedisServerOptions.executable)");
  }
  std::string error;
  if (port_ == 0) {
    for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
      port_ = PickFreePort();
      if (port_ == 0) return Fail(Errc::kUnavailable, "redis-server: no free loopback port");
      switch (LaunchOnce(error)) {
        case Launch::kReady:
          return {};
        case Launch::kPortTaken:
          continue;
        case Launch::kFailed:
          port_ = 0;
          return Fail(Errc::kUnavailable, error);
      }
    }
    port_ = 0;
    return Fail(Errc::kUnavailable, "redis-server: every picked port was taken: " + error);
  }
  // A restart keeps the port clients know. If something else holds it right now, keep trying
  // until the deadline: a test wants this server back, not another port.
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  for (;;) {
    switch (LaunchOnce(error)) {
      case Launch::kReady:
        return {};
      case Launch::kFailed:
        return Fail(Errc::kUnavailable, error);
      case Launch::kPortTaken:
        break;
    }
    if (std::chrono::steady_clock::now() >= deadline) return Fail(Errc::kUnavailable, error);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

RedisServer::Launch RedisServer::LaunchOnce(std::string& error) {
  const std::filesystem::path config_path = directory_ / "redis.conf";
  {
    std::ofstream config(config_path, std::ios::trunc);
    config << "port " << port_ << "\n"
           << "bind 127.0.0.1\n"
           << "daemonize no\n"
           << "dir \"" << directory_.string() << "\"\n"
           << "logfile \"" << log_path().string() << "\"\n"
           << "save \"\"\n"
           << "appendonly " << (options_.append_only ? "yes" : "no") << "\n"
           << "appendfsync always\n";
    for (const std::string& line : options_.extra_config) config << line << "\n";
    if (!config) {
      error = "redis-server: cannot write " + config_path.string();
      return Launch::kFailed;
    }
  }
  // The log is truncated per launch so that its tail explains this launch only.
  std::filesystem::remove(log_path());

  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  const std::string config_arg = config_path.string();
  std::vector<char*> argv = {const_cast<char*>(executable_.c_str()),
                             const_cast<char*>(config_arg.c_str()), nullptr};
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child < 0) {
    error = std::string("redis-server: fork failed: ") + std::strerror(errno);
    return Launch::kFailed;
  }
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    const int null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
      dup2(null_fd, STDIN_FILENO);
      dup2(null_fd, STDOUT_FILENO);
      dup2(null_fd, STDERR_FILENO);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = child;
  paused_ = false;

  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  store::RedisStoreOptions probe_options = StoreOptions();
  probe_options.connect_timeout = std::chrono::milliseconds(100);
  for (;;) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      const std::string tail = LogTail();
      error = "redis-server on port " + std::to_string(port_) + " exited at start-up: " + tail;
      return tail.find("Address already in use") != std::string::npos ? Launch::kPortTaken
                                                                      : Launch::kFailed;
    }
    // A fresh store per probe: its reconnect backoff must not delay noticing readiness. PING
    // fails with LOADING (kUnavailable) while an append-only file is replayed.
    store::RedisStore probe(probe_options);
    if (probe.Ping()) return Launch::kReady;
    if (std::chrono::steady_clock::now() >= deadline) {
      (void)Kill();
      error = "redis-server on port " + std::to_string(port_) + " did not answer PING within " +
              std::to_string(options_.start_timeout.count()) + " ms: " + LogTail();
      return Launch::kFailed;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

Status RedisServer::WaitForExit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t reaped = waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_ || (reaped < 0 && errno == ECHILD)) {
      pid_ = -1;
      paused_ = false;
      return {};
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail(Errc::kDeadlineExceeded, "redis-server pid " + std::to_string(pid_) +
                                               " did not exit within " +
                                               std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

Status RedisServer::Stop() {
  if (!running()) return Fail(Errc::kFailedPrecondition, "redis-server: not running");
  kill(pid_, SIGTERM);
  if (paused_) kill(pid_, SIGCONT);
  if (WaitForExit(options_.start_timeout)) return {};
  return Kill();
}

Status RedisServer::Kill() {
  if (!running()) return Fail(Errc::kFailedPrecondition, "redis-server: not running");
  kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  paused_ = false;
  return {};
}

Status RedisServer::Pause() {
  if (!running()) return Fail(Errc::kFailedPrecondition, "redis-server: not running");
  if (kill(pid_, SIGSTOP) != 0) {
    return Fail(Errc::kInternal, std::string("redis-server: SIGSTOP: ") + std::strerror(errno));
  }
  paused_ = true;
  return {};
}

Status RedisServer::Resume() {
  if (!running()) return Fail(Errc::kFailedPrecondition, "redis-server: not running");
  if (kill(pid_, SIGCONT) != 0) {
    return Fail(Errc::kInternal, std::string("redis-server: SIGCONT: ") + std::strerror(errno));
  }
  paused_ = false;
  return {};
}

std::string RedisServer::LogTail() const {
  std::error_code error;
  const auto size = std::filesystem::file_size(log_path(), error);
  std::string text;
  if (!error) {
    text.resize(static_cast<std::size_t>(size));
    std::ifstream log(log_path(), std::ios::binary);
    log.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(log.gcount()));
  }
  constexpr std::size_t kTail = 600;
  if (text.size() > kTail) text = "..." + text.substr(text.size() - kTail);
  return text.empty() ? std::string("(empty log)") : text;
}

}  // namespace sop::store_testing
