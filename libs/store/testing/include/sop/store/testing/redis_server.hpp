#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/store/redis_store.hpp"

namespace sop::store_testing {

/// Settings of a test `RedisServer`.
struct RedisServerOptions {
  /// Absolute path, or a name looked up on PATH. Empty: $SOP_REDIS_SERVER if set, else
  /// "redis-server".
  std::string executable{};
  /// appendonly yes with appendfsync always: every acknowledged write survives Kill() and
  /// comes back after Start(). Without it the data set is in memory only and lost on restart.
  bool append_only = false;
  /// How long Start() waits for the server to answer PING, and Stop() for it to exit.
  std::chrono::milliseconds start_timeout{5000};
  /// Extra redis.conf lines, appended verbatim (e.g. "maxmemory 10mb").
  std::vector<std::string> extra_config{};
};

/// A real redis-server child process for integration tests, on a free loopback port with its
/// own temporary directory (config, log, persistence files).
///
/// The first Start() picks a free port on 127.0.0.1 (retrying with another port if a different
/// process grabbed it first); later Start() calls reuse that same port, so clients configured
/// once see an outage and a recovery (Kill() or Stop(), then Start()). Pause()/Resume() freeze the
/// process (SIGSTOP/SIGCONT): connections stay open but nothing answers, for timeout tests.
/// Start() returns only once the server answers PING (polled against a deadline).
///
/// Threads: not thread-safe; drive it from the test's thread. The child gets SIGKILL if the
/// thread that started it exits (PR_SET_PDEATHSIG), so a crashed test leaves no stray server.
/// Errors: kFailedPrecondition for a call in the wrong state or a missing executable,
/// kUnavailable if the server does not come up in time (the message quotes its log).
/// Lifetime: the destructor kills the server and removes the directory.
class RedisServer {
 public:
  explicit RedisServer(RedisServerOptions options = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  Status Start();
  /// SIGTERM and wait for a clean exit (Redis flushes its append-only file); SIGKILL after
  /// `start_timeout`.
  Status Stop();
  /// SIGKILL and reap: a crash, nothing flushed beyond what was already written.
  Status Kill();
  Status Pause();
  Status Resume();

  bool running() const noexcept { return pid_ > 0; }
  bool paused() const noexcept { return paused_; }
  std::string host() const { return "127.0.0.1"; }
  /// 0 until the first successful Start().
  int port() const noexcept { return port_; }
  pid_t pid() const noexcept { return pid_; }
  const std::filesystem::path& directory() const noexcept { return directory_; }
  std::filesystem::path log_path() const { return directory_ / "redis.log"; }

  /// Store options pointing at this server (call after Start()), with test-sized timeouts
  /// (connect 200 ms, command 500 ms) and backoff (10 ms doubling to 200 ms).
  store::RedisStoreOptions StoreOptions() const;

 private:
  enum class Launch { kReady, kPortTaken, kFailed };
  Launch LaunchOnce(std::string& error);
  Status WaitForExit(std::chrono::milliseconds timeout);
  std::string LogTail() const;

  RedisServerOptions options_;
  std::string executable_;
  std::filesystem::path directory_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

}  // namespace sop::store_testing
