#include "process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

extern char** environ;

namespace sop::stack::detail {
namespace {

using Clock = std::chrono::steady_clock;
// Poll interval while waiting for a child to end. Waits are bounded by deadlines; the interval
// only trades CPU for latency.
constexpr auto kWaitPoll = std::chrono::milliseconds(5);

ExitStatus FromWaitStatus(int status) {
  ExitStatus result;
  if (WIFEXITED(status)) {
    result.exited = true;
    result.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (exited) return "exit code " + std::to_string(code);
  return std::string("killed by signal ") + std::to_string(signal) + " (" + strsignal(signal) + ")";
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

Status ChildProcess::Spawn(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env, const std::filesystem::path& log) {
  if (pid_ > 0) return Fail(Errc::kFailedPrecondition, "process already running");
  if (argv.empty()) return Fail(Errc::kInvalidArgument, "argv: empty");

  // Environment: inherited, with `env` replacing entries of the same name.
  std::map<std::string, std::string> merged;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const auto equals = text.find('=');
    if (equals != std::string::npos) merged[text.substr(0, equals)] = text.substr(equals + 1);
  }
  for (const std::string& entry : env) {
    const auto equals = entry.find('=');
    if (equals == std::string::npos || equals == 0) {
      return Fail(Errc::kInvalidArgument,
                  "environment entry: expected NAME=value, got '" + entry + "'");
    }
    merged[entry.substr(0, equals)] = entry.substr(equals + 1);
  }
  std::vector<std::string> env_strings;
  env_strings.reserve(merged.size());
  for (const auto& [name, value] : merged) env_strings.push_back(name + "=" + value);

  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  std::vector<char*> argv_ptrs;
  for (const std::string& arg : argv) argv_ptrs.push_back(const_cast<char*>(arg.c_str()));
  argv_ptrs.push_back(nullptr);
  std::vector<char*> env_ptrs;
  for (const std::string& entry : env_strings) env_ptrs.push_back(const_cast<char*>(entry.c_str()));
  env_ptrs.push_back(nullptr);

  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return Fail(Errc::kUnavailable,
                "cannot open log '" + log.string() + "': " + std::strerror(errno));
  }
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child < 0) {
    const int error = errno;
    close(log_fd);
    return Fail(Errc::kUnavailable, std::string("fork failed: ") + std::strerror(error));
  }
  if (child == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    // The launcher blocks SIGTERM/SIGINT for sigwait; the mask and ignored dispositions would
    // survive exec, so restore the defaults.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execve(argv_ptrs[0], argv_ptrs.data(), env_ptrs.data());
    const char message[] = "sop-stack: exec failed\n";
    (void)!write(STDERR_FILENO, message, sizeof(message) - 1);
    _exit(127);
  }
  close(log_fd);
  pid_ = child;
  last_exit_.reset();
  return {};
}

std::optional<ExitStatus> ChildProcess::Poll() {
  if (pid_ <= 0) return last_exit_;
  int status = 0;
  const pid_t reaped = waitpid(pid_, &status, WNOHANG);
  if (reaped == pid_) {
    pid_ = -1;
    last_exit_ = FromWaitStatus(status);
    return last_exit_;
  }
  if (reaped < 0 && errno == ECHILD) {
    pid_ = -1;
    last_exit_ = ExitStatus{};
    return last_exit_;
  }
  return std::nullopt;
}

Status ChildProcess::Signal(int signal) {
  if (pid_ <= 0) return Fail(Errc::kFailedPrecondition, "process not running");
  if (kill(pid_, signal) != 0) {
    return Fail(Errc::kInternal, "kill(" + std::to_string(pid_) + ", " + std::to_string(signal) +
                                     "): " + std::strerror(errno));
  }
  return {};
}

std::optional<ExitStatus> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto status = Poll()) return status;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kWaitPoll);
  }
}

ExitStatus ChildProcess::Terminate(std::chrono::milliseconds timeout, bool& forced) {
  forced = false;
  if (pid_ <= 0) return last_exit_.value_or(ExitStatus{});
  kill(pid_, SIGTERM);
  kill(pid_, SIGCONT);  // a stopped child could not act on SIGTERM
  if (auto status = Wait(timeout)) return *status;
  forced = true;
  kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  last_exit_ = FromWaitStatus(status);
  return *last_exit_;
}

int PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

Result<std::string> HttpGet(const std::string& host_port, const std::string& path,
                            std::chrono::milliseconds timeout) {
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos) {
    return Fail(Errc::kInvalidArgument, "address: expected host:port, got '" + host_port + "'");
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(std::atoi(host_port.c_str() + colon + 1)));
  if (inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &address.sin_addr) != 1) {
    return Fail(Errc::kInvalidArgument, "address: not an IPv4 host, got '" + host_port + "'");
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Fail(Errc::kUnavailable, std::string("socket: ") + std::strerror(errno));
  const auto deadline = Clock::now() + timeout;
  auto wait_for = [&](short events) -> bool {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd descriptor{fd, events, 0};
    return poll(&descriptor, 1, static_cast<int>(left)) == 1;
  };
  auto fail = [&](std::string what) -> Result<std::string> {
    close(fd);
    return Fail(Errc::kUnavailable, "GET http://" + host_port + path + ": " + what);
  };
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    if (errno != EINPROGRESS) return fail(std::strerror(errno));
    if (!wait_for(POLLOUT)) return fail("connect timed out");
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return fail(std::strerror(error));
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: " + host_port + "\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t wrote = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (wrote > 0) {
      sent += static_cast<std::size_t>(wrote);
    } else if (wrote < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(POLLOUT)) return fail("send timed out");
    } else {
      return fail(std::string("send: ") + std::strerror(errno));
    }
  }
  std::string response;
  char buffer[16384];
  for (;;) {
    const ssize_t got = recv(fd, buffer, sizeof(buffer), 0);
    if (got > 0) {
      response.append(buffer, static_cast<std::size_t>(got));
    } else if (got == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(POLLIN)) return fail("no complete answer in time");
    } else {
      return fail(std::string("recv: ") + std::strerror(errno));
    }
  }
  close(fd);
  const auto header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return Fail(Errc::kUnavailable, "GET http://" + host_port + path + ": malformed answer");
  }
  const auto status_end = response.find("\r\n");
  const std::string status_line = response.substr(0, status_end);
  if (status_line.find(" 200") == std::string::npos) {
    return Fail(Errc::kUnavailable, "GET http://" + host_port + path + ": " + status_line);
  }
  return response.substr(header_end + 4);
}

bool IsExecutable(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error) && access(path.c_str(), X_OK) == 0;
}

std::filesystem::path FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::filesystem::path candidate = std::filesystem::path(dir) / name;
    if (IsExecutable(candidate)) return candidate;
  }
  return {};
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::uintmax_t FileSize(const std::filesystem::path& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  return error ? 0 : size;
}

Status WriteAtomically(const std::filesystem::path& path, const std::string& content) {
  const std::filesystem::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc | std::ios::binary);
    out << content;
    if (!out.flush()) {
      return Fail(Errc::kUnavailable, "cannot write '" + temporary.string() + "'");
    }
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    return Fail(Errc::kUnavailable, "cannot rename to '" + path.string() + "': " + error.message());
  }
  return {};
}

}  // namespace sop::stack::detail
