#include "sop/runtime/lifecycle.hpp"

#include <gtest/gtest.h>

#include <future>
#include <stdexcept>

#include "test_util.hpp"

namespace sop::runtime {
namespace {

struct Captured {
  std::mutex mutex;
  std::vector<std::string> lines;
};

Logger CapturingLogger(Captured& captured) {
  return Logger("lifecycle-test", LogLevel::kDebug, [&captured](std::string_view line) {
    std::lock_guard lock(captured.mutex);
    captured.lines.emplace_back(line);
  });
}

TEST(Lifecycle, StopsComponentsInReverseStartOrderAndLogsEach) {
  Captured captured;
  Logger logger = CapturingLogger(captured);
  std::vector<std::string> stopped;
  Lifecycle lifecycle(logger);
  for (const char* name : {"metrics", "consumer", "grpc"}) {
    lifecycle.Add(name, [&stopped, name] { stopped.emplace_back(name); });
  }
  lifecycle.StopAll();
  EXPECT_EQ(stopped, (std::vector<std::string>{"grpc", "consumer", "metrics"}));
  std::vector<std::string> logged;
  for (const auto& line : captured.lines) {
    auto parsed = testing::ParseJsonObject(line);
    ASSERT_TRUE(parsed.has_value()) << line;
    if (testing::StringField(*parsed, "msg") == "component stopped") {
      logged.push_back(testing::StringField(*parsed, "component"));
    }
  }
  EXPECT_EQ(logged, stopped);
}

TEST(Lifecycle, ThrowingStopIsLoggedAndTheRestStillStop) {
  Captured captured;
  Logger logger = CapturingLogger(captured);
  std::vector<std::string> stopped;
  Lifecycle lifecycle(logger);
  lifecycle.Add("first", [&] { stopped.emplace_back("first"); });
  lifecycle.Add("broken", [] { throw std::runtime_error("flush failed"); });
  lifecycle.StopAll();
  EXPECT_EQ(stopped, std::vector<std::string>{"first"});
  bool error_logged = false;
  for (const auto& line : captured.lines) {
    error_logged |= line.find("\"component stop failed\"") != std::string::npos &&
                    line.find("flush failed") != std::string::npos;
  }
  EXPECT_TRUE(error_logged);
}

TEST(Lifecycle, StopAllIsIdempotentAndTheDestructorStopsNothing) {
  Captured captured;
  Logger logger = CapturingLogger(captured);
  int stops = 0;
  {
    Lifecycle lifecycle(logger);
    lifecycle.Add("once", [&] { ++stops; });
    lifecycle.StopAll();
    lifecycle.StopAll();
    // Registered but never stopped: on an early return its component may be gone already.
    lifecycle.Add("late", [&] { stops += 10; });
  }
  EXPECT_EQ(stops, 1);
}

TEST(SignalWatcher, RequestShutdownWakesWaitWithSignalZero) {
  Captured captured;
  Logger logger = CapturingLogger(captured);
  SignalWatcher watcher(logger, std::chrono::seconds(30), [](int) { FAIL() << "forced exit"; });
  EXPECT_FALSE(watcher.shutdown_requested());
  auto waited = std::async(std::launch::async, [&] { return watcher.Wait(); });
  watcher.RequestShutdown();
  ASSERT_EQ(waited.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(waited.get(), 0);
  EXPECT_TRUE(watcher.shutdown_requested());
  watcher.RequestShutdown();  // a repeat from inside the process is not a second signal
}

TEST(SignalWatcher, ShutdownPastTheDeadlineForcesExitWithCode2) {
  Captured captured;
  Logger logger = CapturingLogger(captured);
  std::promise<int> forced;
  const auto started = testing::Clock::now();
  SignalWatcher watcher(logger, std::chrono::milliseconds(100),
                        [&forced](int code) { forced.set_value(code); });
  watcher.RequestShutdown();
  auto code = forced.get_future();
  ASSERT_EQ(code.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(code.get(), kForcedExitCode);
  EXPECT_GE(testing::Clock::now() - started, std::chrono::milliseconds(100));
  bool logged = false;
  for (const auto& line : captured.lines) {
    logged |= line.find("shutdown deadline exceeded") != std::string::npos;
  }
  EXPECT_TRUE(logged);
}

TEST(SignalWatcher, DestroyingWithoutShutdownNeverForcesExit) {
  Captured captured;
  Logger logger = CapturingLogger(captured);
  bool forced = false;
  {
    SignalWatcher watcher(logger, std::chrono::milliseconds(1), [&](int) { forced = true; });
  }
  EXPECT_FALSE(forced);
}

}  // namespace
}  // namespace sop::runtime
