#pragma once
// Test helpers for libs/runtime: a subprocess with piped output, a tiny HTTP GET, a JSON line
// parser (protobuf's JSON reader into google.protobuf.Struct) and running a tool with stdin.

#include <google/protobuf/struct.pb.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace sop::runtime::testing {

using Clock = std::chrono::steady_clock;

/// A child process whose stdout and stderr are read line by line with deadlines.
class Subprocess {
 public:
  explicit Subprocess(const std::vector<std::string>& argv);
  ~Subprocess();  // SIGKILLs and reaps the child if it is still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  /// The next stderr line (without '\n'), or nullopt at EOF or when `deadline` passes.
  std::optional<std::string> ReadStderrLine(Clock::time_point deadline);
  /// Everything the child wrote to stdout until it closed it, or until `deadline`.
  std::string ReadAllStdout(Clock::time_point deadline);
  /// Reads stderr lines until one satisfies `match`; every line read is appended to `seen`.
  template <class Match>
  std::optional<std::string> WaitForLine(Match match, Clock::time_point deadline,
                                         std::vector<std::string>& seen) {
    while (auto line = ReadStderrLine(deadline)) {
      seen.push_back(*line);
      if (match(*line)) return line;
    }
    return std::nullopt;
  }
  void Signal(int signal);
  /// The exit status (`WEXITSTATUS`, or 128+signal when killed), or nullopt past `deadline`.
  std::optional<int> WaitExit(Clock::time_point deadline);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::string stderr_buffer_;
  std::optional<int> exit_status_;
};

/// Parses one line as a JSON object; nullopt when it is not one.
std::optional<google::protobuf::Struct> ParseJsonObject(const std::string& line);
/// The string field `key` of a parsed object ("" when absent or not a string).
std::string StringField(const google::protobuf::Struct& object, const std::string& key);

/// GET http://127.0.0.1:port/path with HTTP/1.0; returns the body of a 200 response.
std::optional<std::string> HttpGet(int port, const std::string& path, Clock::time_point deadline);

/// The whole content of a file ("" when unreadable).
std::string ReadFile(const std::string& path);

/// Runs argv with `input` on stdin; returns {exit status, stdout+stderr}.
std::pair<int, std::string> RunWithStdin(const std::vector<std::string>& argv,
                                         const std::string& input);

}  // namespace sop::runtime::testing
