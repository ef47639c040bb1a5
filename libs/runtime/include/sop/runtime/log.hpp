#pragma once
/// Structured JSON logs: one JSON object per line, on stderr by default.
///
///   {"ts":"2026-11-23T09:30:00.123Z","level":"info","service":"mrp","msg":"listening",
///    "grpc_port":50051,"tls":false}
///
/// Fields are typed (string, integer, double, bool); a field built with `Secret(key)` is always
/// written as "[REDACTED]" so that a credential cannot reach the log by accident.

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>

#include "sop/model/error.hpp"

namespace sop::runtime {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };

/// "debug", "info", "warn", "error".
std::string_view ToString(LogLevel level) noexcept;

/// Parses "debug|info|warn|error" (also "warning").
Result<LogLevel> ParseLogLevel(std::string_view text);

/// One typed key/value of a log line. Durations are written in seconds (a double).
class LogField {
 public:
  using Value = std::variant<std::string, std::int64_t, std::uint64_t, double, bool>;

  LogField(std::string_view key, std::string_view value) : key_(key), value_(std::string(value)) {}
  LogField(std::string_view key, const char* value) : key_(key), value_(std::string(value)) {}
  LogField(std::string_view key, const std::string& value) : key_(key), value_(value) {}
  LogField(std::string_view key, bool value) : key_(key), value_(value) {}
  template <std::signed_integral T>
  LogField(std::string_view key, T value) : key_(key), value_(static_cast<std::int64_t>(value)) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) LogField(std::string_view key, T value)
      : key_(key), value_(static_cast<std::uint64_t>(value)) {}
  LogField(std::string_view key, double value) : key_(key), value_(value) {}
  template <class Rep, class Period>
  LogField(std::string_view key, std::chrono::duration<Rep, Period> value)
      : key_(key), value_(std::chrono::duration<double>(value).count()) {}

  const std::string& key() const noexcept { return key_; }
  const Value& value() const noexcept { return value_; }

 private:
  std::string key_;
  Value value_;
};

/// A field whose value must never be logged (a password, a token): written as "[REDACTED]".
/// Taking the value and dropping it keeps call sites honest about what they hold.
template <class T>
LogField Secret(std::string_view key, const T& /*value*/) {
  return LogField(key, "[REDACTED]");
}

/// Appends `text` to `out` as a JSON string literal (quotes included): escapes quotes,
/// backslashes and control characters, and replaces invalid UTF-8 with U+FFFD.
void AppendJsonString(std::string& out, std::string_view text);

/// A JSON-lines logger for one service.
/// Threads: every method is thread-safe; a line is formatted outside the lock and written with a
/// single write so lines from different threads never interleave.
/// Errors: a failed write is ignored (logging must never take the service down).
/// Lifetime: create once in main and pass by reference to the components.
class Logger {
 public:
  using Sink = std::function<void(std::string_view line)>;  ///< line ends with '\n'
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  /// Writes to stderr.
  Logger(std::string service, LogLevel level);
  /// Writes to `sink` (tests), stamping lines with `clock` (system clock when empty).
  Logger(std::string service, LogLevel level, Sink sink, Clock clock = {});

  void SetLevel(LogLevel level) noexcept;
  LogLevel level() const noexcept;
  bool Enabled(LogLevel level) const noexcept { return level >= this->level(); }

  void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
  void Debug(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kDebug, msg, fields);
  }
  void Info(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kInfo, msg, fields);
  }
  void Warn(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kWarn, msg, fields);
  }
  void Error(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kError, msg, fields);
  }

  /// The formatted line (with the trailing newline) without writing it; used by Log and tests.
  std::string Format(LogLevel level, std::string_view msg,
                     std::initializer_list<LogField> fields) const;

 private:
  std::string service_;
  std::atomic<int> level_;
  Sink sink_;
  Clock clock_;
  std::mutex write_mutex_;
};

/// RFC 3339 UTC with milliseconds: "2026-11-23T09:30:00.123Z".
std::string FormatTimestamp(std::chrono::system_clock::time_point time);

}  // namespace sop::runtime
