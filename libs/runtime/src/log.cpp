#include "sop/runtime/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace sop::runtime {
namespace {

// Writes the whole line to stderr, retrying on partial writes and EINTR. One write call for a
// short line keeps it atomic with respect to other processes sharing the same pipe.
void WriteStderr(std::string_view line) {
  while (!line.empty()) {
    const ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return;
    }
    line.remove_prefix(static_cast<std::size_t>(written));
  }
}

// Length of the valid UTF-8 sequence starting at text[0], or 0 when it is invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t Utf8SequenceLength(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  std::uint32_t code_point = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code_point = lead & 0x1Fu;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code_point = lead & 0x0Fu;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code_point = lead & 0x07u;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i) & 0x3Fu);
  }
  static constexpr std::uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kMinForLength[length] || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return 0;
  }
  return length;
}

void AppendValue(std::string& out, const LogField::Value& value) {
  char buffer[32];
  if (const auto* text = std::get_if<std::string>(&value)) {
    AppendJsonString(out, *text);
  } else if (const auto* flag = std::get_if<bool>(&value)) {
    out += *flag ? "true" : "false";
  } else if (const auto* number = std::get_if<double>(&value)) {
    if (!std::isfinite(*number)) {
      out += "null";  // JSON has no NaN or infinity
      return;
    }
    auto result = std::to_chars(buffer, buffer + sizeof buffer, *number);
    out.append(buffer, result.ptr);
  } else if (const auto* signed_number = std::get_if<std::int64_t>(&value)) {
    auto result = std::to_chars(buffer, buffer + sizeof buffer, *signed_number);
    out.append(buffer, result.ptr);
  } else if (const auto* unsigned_number = std::get_if<std::uint64_t>(&value)) {
    auto result = std::to_chars(buffer, buffer + sizeof buffer, *unsigned_number);
    out.append(buffer, result.ptr);
  }
}

}  // namespace

std::string_view ToString(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

Result<LogLevel> ParseLogLevel(std::string_view text) {
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "warn" || text == "warning") return LogLevel::kWarn;
  if (text == "error") return LogLevel::kError;
  return InvalidField("log.level", "must be one of debug|info|warn|error", text);
}

void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  while (!text.empty()) {
    const auto c = static_cast<unsigned char>(text.front());
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else if (c >= 0x80) {
          const std::size_t length = Utf8SequenceLength(text);
          if (length == 0) {
            out += "\\ufffd";
            text.remove_prefix(1);
          } else {
            out.append(text.substr(0, length));
            text.remove_prefix(length);
          }
          continue;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    text.remove_prefix(1);
  }
  out.push_back('"');
}

std::string FormatTimestamp(std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds);
  const std::time_t whole = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&whole, &utc);
  char buffer[40];
  const int written = std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                    utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                                    utc.tm_min, utc.tm_sec, static_cast<int>(millis.count()));
  return std::string(buffer, static_cast<std::size_t>(written > 0 ? written : 0));
}

Logger::Logger(std::string service, LogLevel level)
    : Logger(std::move(service), level, WriteStderr) {}

Logger::Logger(std::string service, LogLevel level, Sink sink, Clock clock)
    : service_(std::move(service)),
      level_(static_cast<int>(level)),
      sink_(std::move(sink)),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::system_clock::now(); })) {}

void Logger::SetLevel(LogLevel level) noexcept {
  level_.store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel Logger::level() const noexcept {
  return static_cast<LogLevel>(level_.load(std::memory_order_relaxed));
}

std::string Logger::Format(LogLevel level, std::string_view msg,
                           std::initializer_list<LogField> fields) const {
  std::string line;
  line.reserve(96 + msg.size() + fields.size() * 24);
  line += "{\"ts\":\"";
  line += FormatTimestamp(clock_());
  line += "\",\"level\":\"";
  line += ToString(level);
  line += "\",\"service\":";
  AppendJsonString(line, service_);
  line += ",\"msg\":";
  AppendJsonString(line, msg);
  for (const auto& field : fields) {
    // The envelope keys are reserved so a field cannot make a line ambiguous.
    const bool reserved = field.key() == "ts" || field.key() == "level" ||
                          field.key() == "service" || field.key() == "msg";
    line.push_back(',');
    AppendJsonString(line, reserved ? "field." + field.key() : field.key());
    line.push_back(':');
    AppendValue(line, field.value());
  }
  line += "}\n";
  return line;
}

void Logger::Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!Enabled(level)) return;
  const std::string line = Format(level, msg, fields);
  std::lock_guard lock(write_mutex_);
  sink_(line);
}

}  // namespace sop::runtime
