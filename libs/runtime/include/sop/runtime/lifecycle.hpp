#pragma once
/// Start-up and graceful shutdown: a stack of started components stopped in reverse order, and
/// a signal watcher that turns SIGTERM/SIGINT into one shutdown request, forcing the exit on a
/// second signal or when the shutdown deadline passes.

#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sop/runtime/log.hpp"

namespace sop::runtime {

/// Exit code of a forced exit (second signal, or shutdown deadline exceeded).
inline constexpr int kForcedExitCode = 2;

/// The started components of a service, in start order. `StopAll` stops them in reverse, so
/// intake (the gRPC server, the consumer) stops before what it feeds, and the metrics exposer,
/// started first, stops last. Logs "component stopping"/"component stopped" per component.
/// Errors: an exception from a stop function is logged and the remaining components still stop.
/// Threads: thread-safe; StopAll runs the stop functions on the calling thread.
/// Lifetime: the destructor stops nothing. The stop functions refer to components declared
/// after the Lifecycle, which are already destroyed (and cleaned up by their own destructors)
/// when it goes out of scope on an early return or an exception; main calls StopAll.
class Lifecycle {
 public:
  explicit Lifecycle(Logger& logger) : logger_(logger) {}
  ~Lifecycle() = default;
  Lifecycle(const Lifecycle&) = delete;
  Lifecycle& operator=(const Lifecycle&) = delete;

  /// Records a component that has just started, with the function that stops it.
  void Add(std::string name, std::function<void()> stop);
  /// Stops every component not yet stopped, last added first. Idempotent.
  void StopAll();

 private:
  struct Component {
    std::string name;
    std::function<void()> stop;
  };
  Logger& logger_;
  std::mutex mutex_;
  std::vector<Component> components_;
};

/// Waits for SIGTERM or SIGINT in a dedicated thread (sigwait), never in a signal handler.
///
/// Construct it in main before any other thread starts: it blocks both signals in the calling
/// thread, and threads started later inherit the mask, so only its thread ever receives them.
/// The first signal (or `RequestShutdown`) wakes `Wait`; from then on a second signal, or the
/// shutdown deadline passing, logs an error and calls the exit function with kForcedExitCode
/// (`_exit` by default: destructors may be what hangs).
/// Threads: all methods are thread-safe. Lifetime: the destructor disarms the deadline, stops
/// its thread and restores the constructing thread's signal mask.
class SignalWatcher {
 public:
  using ExitFunction = std::function<void(int exit_code)>;

  SignalWatcher(Logger& logger, std::chrono::nanoseconds shutdown_deadline,
                ExitFunction exit_function = {});
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  /// Blocks until shutdown is requested; returns the signal number (0 for RequestShutdown).
  int Wait();
  /// Requests shutdown from inside the process (e.g. a fatal component error); starts the
  /// deadline like a signal would. No-op once shutdown was requested.
  void RequestShutdown();
  bool shutdown_requested() const;

 private:
  void Run();
  void ForceExit(std::string_view reason);

  Logger& logger_;
  std::chrono::nanoseconds deadline_;
  ExitFunction exit_function_;
  mutable std::mutex mutex_;
  std::condition_variable requested_cv_;
  bool requested_ = false;
  bool wake_pending_ = false;  // a pthread_kill from us, not a real second signal
  bool stopping_ = false;
  int signal_ = 0;
  std::chrono::steady_clock::time_point force_at_{};
  sigset_t saved_mask_{};
  std::thread thread_;
};

}  // namespace sop::runtime
