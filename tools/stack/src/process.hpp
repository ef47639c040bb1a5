#pragma once
// Child processes and small local I/O helpers for sop::stack (internal).

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "sop/model/error.hpp"

namespace sop::stack::detail {

/// How a child ended.
struct ExitStatus {
  bool exited = false;  ///< normal exit (code valid) rather than a signal
  int code = 0;
  int signal = 0;
  std::string ToString() const;
};

/// A child process with stdout and stderr appended to a log file, in its own process group (a
/// terminal's Ctrl-C reaches only the launcher, which then stops children in order), with all
/// signals unblocked and PR_SET_PDEATHSIG = SIGKILL (bound to the thread that spawned it).
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  /// Kills (SIGKILL) and reaps a child still running.
  ~ChildProcess();

  /// argv[0] is the executable path; env entries NAME=value replace the inherited ones.
  Status Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const std::filesystem::path& log);

  bool running() const noexcept { return pid_ > 0; }
  pid_t pid() const noexcept { return pid_; }
  /// Non-blocking: the exit status if the child has ended (and reaps it).
  std::optional<ExitStatus> Poll();
  /// Sends a signal (no reaping). kFailedPrecondition if not running.
  Status Signal(int signal);
  /// Waits for the child to end, up to `timeout`; nullopt if it is still running.
  std::optional<ExitStatus> Wait(std::chrono::milliseconds timeout);
  /// SIGTERM, wait up to `timeout`, then SIGKILL. The status says how it ended; `forced` is
  /// set when SIGKILL was needed.
  ExitStatus Terminate(std::chrono::milliseconds timeout, bool& forced);
  const std::optional<ExitStatus>& last_exit() const noexcept { return last_exit_; }

 private:
  pid_t pid_ = -1;
  std::optional<ExitStatus> last_exit_{};
};

/// A free TCP port on 127.0.0.1 right now (the kernel's pick for a throw-away socket); 0 if
/// none could be bound.
int PickFreePort();

/// GET http://127.0.0.1:port<path> with HTTP/1.0; the body of a 200 answer.
Result<std::string> HttpGet(const std::string& host_port, const std::string& path,
                            std::chrono::milliseconds timeout);

/// The executable at `path` if it exists and is executable.
bool IsExecutable(const std::filesystem::path& path);
/// `name` looked up on PATH; empty if not found.
std::filesystem::path FindOnPath(const std::string& name);

/// Reads a whole file (empty if missing).
std::string ReadFile(const std::filesystem::path& path);
/// The size of a file (0 if missing).
std::uintmax_t FileSize(const std::filesystem::path& path);
/// Writes `content` to `path` via a temporary file and a rename.
Status WriteAtomically(const std::filesystem::path& path, const std::string& content);

}  // namespace sop::stack::detail
