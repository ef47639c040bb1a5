#include "sop/runtime/log.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "test_util.hpp"

namespace sop::runtime {
namespace {

using testing::ParseJsonObject;
using testing::StringField;

// 2026-11-23T09:30:00.123Z
std::chrono::system_clock::time_point FixedTime() {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(1795426200123));
}

struct Captured {
  std::mutex mutex;
  std::vector<std::string> lines;
};

Logger CapturingLogger(Captured& captured, LogLevel level = LogLevel::kDebug) {
  return Logger(
      "planner", level,
      [&captured](std::string_view line) {
        std::lock_guard lock(captured.mutex);
        captured.lines.emplace_back(line);
      },
      FixedTime);
}

TEST(Log, LineIsOneJsonObjectWithEnvelopeAndTypedFields) {
  Captured captured;
  Logger logger = CapturingLogger(captured);
  logger.Info("listening", {{"port", 50051},
                            {"ratio", 0.25},
                            {"tls", false},
                            {"host", "::1"},
                            {"took", std::chrono::milliseconds(1500)}});
  ASSERT_EQ(captured.lines.size(), 1u);
  EXPECT_EQ(captured.lines[0],
            "{\"ts\":\"2026-11-23T09:30:00.123Z\",\"level\":\"info\",\"service\":\"planner\","
            "\"msg\":\"listening\",\"port\":50051,\"ratio\":0.25,\"tls\":false,\"host\":\"::1\","
            "\"took\":1.5}\n");
  auto parsed = ParseJsonObject(captured.lines[0]);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->fields().at("port").number_value(), 50051);
  EXPECT_FALSE(parsed->fields().at("tls").bool_value());
}

TEST(Log, TimestampIsRfc3339UtcWithMilliseconds) {
  EXPECT_EQ(FormatTimestamp(FixedTime()), "2026-11-23T09:30:00.123Z");
  EXPECT_EQ(FormatTimestamp(std::chrono::system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
}

TEST(Log, EscapesQuotesBackslashesControlsAndInvalidUtf8) {
  std::string out;
  AppendJsonString(out, "a\"b\\c\nd\te\x01 f\x7f g\xff h\xc3\xa9");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\te\\u0001 f\\u007f g\\ufffd h\xc3\xa9\"");
  Captured captured;
  Logger logger = CapturingLogger(captured);
  logger.Warn("bad \"input\"\n", {{"raw", std::string("\x00\xc0\x80", 3)}});
  auto parsed = ParseJsonObject(captured.lines.at(0));
  ASSERT_TRUE(parsed.has_value()) << captured.lines[0];
  EXPECT_EQ(StringField(*parsed, "msg"), "bad \"input\"\n");
  EXPECT_EQ(StringField(*parsed, "raw"), std::string("\x00\xef\xbf\xbd\xef\xbf\xbd", 7))
      << "NUL escaped, overlong C0 80 replaced byte by byte";
}

TEST(Log, LevelFilterDropsLinesBelowTheConfiguredLevel) {
  Captured captured;
  Logger logger = CapturingLogger(captured, LogLevel::kWarn);
  logger.Debug("d");
  logger.Info("i");
  logger.Warn("w");
  logger.Error("e");
  ASSERT_EQ(captured.lines.size(), 2u);
  EXPECT_EQ(StringField(*ParseJsonObject(captured.lines[0]), "level"), "warn");
  EXPECT_EQ(StringField(*ParseJsonObject(captured.lines[1]), "level"), "error");
  logger.SetLevel(LogLevel::kDebug);
  logger.Debug("d");
  EXPECT_EQ(captured.lines.size(), 3u);
}

TEST(Log, SecretFieldIsRedactedAndEnvelopeKeysCannotBeOverwritten) {
  Captured captured;
  Logger logger = CapturingLogger(captured);
  const std::string password = "hunter2";
  logger.Info("connecting", {Secret("password", password), {"msg", "spoof"}});
  EXPECT_EQ(captured.lines.at(0).find("hunter2"), std::string::npos);
  auto parsed = ParseJsonObject(captured.lines[0]);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(StringField(*parsed, "password"), "[REDACTED]");
  EXPECT_EQ(StringField(*parsed, "msg"), "connecting");
  EXPECT_EQ(StringField(*parsed, "field.msg"), "spoof");
}

TEST(Log, ParsesLevelNames) {
  EXPECT_EQ(ParseLogLevel("debug").value(), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("warning").value(), LogLevel::kWarn);
  ASSERT_FALSE(ParseLogLevel("loud").has_value());
  EXPECT_EQ(ParseLogLevel("loud").error().message(),
            "log.level: must be one of debug|info|warn|error, got 'loud'");
}

TEST(Log, ConcurrentWritersProduceWholeLines) {
  Captured captured;
  Logger logger = CapturingLogger(captured);
  constexpr int kThreads = 4;
  constexpr int kLinesEach = 500;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&logger, t] {
      for (int i = 0; i < kLinesEach; ++i) logger.Info("tick", {{"thread", t}, {"i", i}});
    });
  }
  for (auto& writer : writers) writer.join();
  ASSERT_EQ(captured.lines.size(), static_cast<std::size_t>(kThreads * kLinesEach));
  std::vector<int> per_thread(kThreads, 0);
  for (const auto& line : captured.lines) {
    auto parsed = ParseJsonObject(line);
    ASSERT_TRUE(parsed.has_value()) << line;
    ++per_thread[static_cast<std::size_t>(parsed->fields().at("thread").number_value())];
  }
  for (int count : per_thread) EXPECT_EQ(count, kLinesEach);
}

}  // namespace
}  // namespace sop::runtime
