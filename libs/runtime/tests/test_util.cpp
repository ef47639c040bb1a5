#include "test_util.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace sop::runtime::testing {
namespace {

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Waits until fd is readable or the deadline passes; true when readable (or hung up).
bool WaitReadable(int fd, Clock::time_point deadline) {
  for (;;) {
    pollfd entry{fd, POLLIN, 0};
    const int ready = ::poll(&entry, 1, RemainingMs(deadline));
    if (ready < 0 && errno == EINTR) continue;
    return ready > 0;
  }
}

pid_t Spawn(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd, int stderr_fd) {
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // exec keeps the signal mask; the child must see SIGTERM whatever this thread blocks.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (stdin_fd >= 0) ::dup2(stdin_fd, STDIN_FILENO);
    ::dup2(stdout_fd, STDOUT_FILENO);
    ::dup2(stderr_fd, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

Subprocess::Subprocess(const std::vector<std::string>& argv) {
  int out[2];
  int err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  pid_ = Spawn(argv, -1, out[1], err[1]);
  ::close(out[1]);
  ::close(err[1]);
  stdout_fd_ = out[0];
  stderr_fd_ = err[0];
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

Subprocess::~Subprocess() {
  if (!exit_status_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  ::close(stdout_fd_);
  ::close(stderr_fd_);
}

std::optional<std::string> Subprocess::ReadStderrLine(Clock::time_point deadline) {
  for (;;) {
    if (auto newline = stderr_buffer_.find('\n'); newline != std::string::npos) {
      std::string line = stderr_buffer_.substr(0, newline);
      stderr_buffer_.erase(0, newline + 1);
      return line;
    }
    if (!WaitReadable(stderr_fd_, deadline)) return std::nullopt;
    char buffer[4096];
    const ssize_t got = ::read(stderr_fd_, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return std::nullopt;  // EOF: the child closed stderr (exited)
    stderr_buffer_.append(buffer, static_cast<std::size_t>(got));
  }
}

std::string Subprocess::ReadAllStdout(Clock::time_point deadline) {
  std::string out;
  while (WaitReadable(stdout_fd_, deadline)) {
    char buffer[4096];
    const ssize_t got = ::read(stdout_fd_, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    out.append(buffer, static_cast<std::size_t>(got));
  }
  return out;
}

void Subprocess::Signal(int signal) {
  ::kill(pid_, signal);
}

std::optional<int> Subprocess::WaitExit(Clock::time_point deadline) {
  if (exit_status_) return exit_status_;
  // waitpid has no timeout; the child's stderr reaching EOF is the wake-up, then reap.
  while (Clock::now() < deadline) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_status_;
    }
    // Block on stderr until it closes (process exit) or the deadline; drain what it says.
    if (WaitReadable(stderr_fd_, deadline)) {
      char buffer[4096];
      const ssize_t got = ::read(stderr_fd_, buffer, sizeof buffer);
      if (got > 0) {
        stderr_buffer_.append(buffer, static_cast<std::size_t>(got));
      } else if (got == 0) {
        // EOF: the process is exiting; reap it (blocking is bounded: it has closed its fds).
        status = 0;
        if (::waitpid(pid_, &status, 0) == pid_) {
          exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          return exit_status_;
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<google::protobuf::Struct> ParseJsonObject(const std::string& line) {
  google::protobuf::Struct object;
  if (line.empty() || line.front() != '{') return std::nullopt;
  if (!google::protobuf::util::JsonStringToMessage(line, &object).ok()) return std::nullopt;
  return object;
}

std::string StringField(const google::protobuf::Struct& object, const std::string& key) {
  auto found = object.fields().find(key);
  if (found == object.fields().end() || !found->second.has_string_value()) return "";
  return found->second.string_value();
}

std::optional<std::string> HttpGet(int port, const std::string& path, Clock::time_point deadline) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string response;
  while (WaitReadable(fd, deadline)) {
    char buffer[8192];
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    response.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  const auto header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos || response.find(" 200 ") == std::string::npos ||
      response.find(" 200 ") > response.find("\r\n")) {
    return std::nullopt;
  }
  return response.substr(header_end + 4);
}

std::string ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string content;
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    content.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return content;
}

std::pair<int, std::string> RunWithStdin(const std::vector<std::string>& argv,
                                         const std::string& input) {
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return {-1, "pipe failed"};
  const pid_t pid = Spawn(argv, in[0], out[1], out[1]);
  ::close(in[0]);
  ::close(out[1]);
  // A writer thread, so a tool that writes a lot before reading everything cannot deadlock us.
  std::thread writer([&] {
    std::size_t sent = 0;
    while (sent < input.size()) {
      const ssize_t wrote = ::write(in[1], input.data() + sent, input.size() - sent);
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote <= 0) break;
      sent += static_cast<std::size_t>(wrote);
    }
    ::close(in[1]);
  });
  std::string output;
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(out[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    output.append(buffer, static_cast<std::size_t>(got));
  }
  writer.join();
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace sop::runtime::testing
