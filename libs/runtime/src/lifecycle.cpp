#include "sop/runtime/lifecycle.hpp"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace sop::runtime {
namespace {

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

std::string_view SignalName(int signal) {
  switch (signal) {
    case 0:
      return "none (requested)";
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "other";
  }
}

}  // namespace

void Lifecycle::Add(std::string name, std::function<void()> stop) {
  std::lock_guard lock(mutex_);
  components_.push_back({std::move(name), std::move(stop)});
}

void Lifecycle::StopAll() {
  for (;;) {
    Component component;
    {
      std::lock_guard lock(mutex_);
      if (components_.empty()) return;
      component = std::move(components_.back());
      components_.pop_back();
    }
    logger_.Info("component stopping", {{"component", component.name}});
    const auto started = std::chrono::steady_clock::now();
    try {
      if (component.stop) component.stop();
      logger_.Info("component stopped", {{"component", component.name},
                                         {"took_s", std::chrono::steady_clock::now() - started}});
    } catch (const std::exception& error) {
      logger_.Error("component stop failed",
                    {{"component", component.name}, {"error", error.what()}});
    }
  }
}

SignalWatcher::SignalWatcher(Logger& logger, std::chrono::nanoseconds shutdown_deadline,
                             ExitFunction exit_function)
    : logger_(logger),
      deadline_(shutdown_deadline),
      exit_function_(exit_function ? std::move(exit_function)
                                   : ExitFunction([](int code) { ::_exit(code); })) {
  const sigset_t set = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &set, &saved_mask_);
  thread_ = std::thread([this] { Run(); });
}

SignalWatcher::~SignalWatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  // A thread-directed signal is consumed by that thread's sigwait, nobody else's.
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
  pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
}

int SignalWatcher::Wait() {
  std::unique_lock lock(mutex_);
  requested_cv_.wait(lock, [this] { return requested_; });
  return signal_;
}

bool SignalWatcher::shutdown_requested() const {
  std::lock_guard lock(mutex_);
  return requested_;
}

void SignalWatcher::RequestShutdown() {
  {
    std::lock_guard lock(mutex_);
    if (requested_ || stopping_) return;
    requested_ = true;
    signal_ = 0;
    force_at_ = std::chrono::steady_clock::now() + deadline_;
    wake_pending_ = true;  // so the watcher re-arms with the deadline instead of counting it
  }
  logger_.Info("shutdown requested", {{"signal", SignalName(0)}, {"deadline_s", deadline_}});
  requested_cv_.notify_all();
  pthread_kill(thread_.native_handle(), SIGTERM);
}

void SignalWatcher::ForceExit(std::string_view reason) {
  logger_.Error("forcing exit", {{"reason", reason}, {"exit_code", kForcedExitCode}});
  exit_function_(kForcedExitCode);
}

void SignalWatcher::Run() {
  const sigset_t set = ShutdownSignals();
  for (;;) {
    bool armed = false;
    std::chrono::steady_clock::time_point force_at;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      armed = requested_;
      force_at = force_at_;
    }
    int signal = 0;
    if (!armed) {
      if (sigwait(&set, &signal) != 0) continue;
    } else {
      const auto remaining = force_at - std::chrono::steady_clock::now();
      if (remaining <= std::chrono::nanoseconds::zero()) {
        ForceExit("shutdown deadline exceeded");
        return;
      }
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(remaining);
      timespec timeout{};
      timeout.tv_sec = static_cast<time_t>(seconds.count());
      timeout.tv_nsec = static_cast<long>((remaining - seconds).count());
      siginfo_t info{};
      signal = sigtimedwait(&set, &info, &timeout);
      if (signal < 0) {
        if (errno == EAGAIN) {
          std::lock_guard lock(mutex_);
          if (stopping_) return;
        }
        continue;  // EINTR, or a timeout: the top of the loop re-checks the deadline
      }
    }

    std::unique_lock lock(mutex_);
    if (stopping_) return;
    if (wake_pending_) {
      wake_pending_ = false;  // our own wake-up from RequestShutdown
      continue;
    }
    if (!requested_) {
      requested_ = true;
      signal_ = signal;
      force_at_ = std::chrono::steady_clock::now() + deadline_;
      lock.unlock();
      logger_.Info("shutdown requested",
                   {{"signal", SignalName(signal)}, {"deadline_s", deadline_}});
      requested_cv_.notify_all();
      continue;
    }
    lock.unlock();
    ForceExit(std::string("second signal ") + std::string(SignalName(signal)));
    return;
  }
}

}  // namespace sop::runtime
