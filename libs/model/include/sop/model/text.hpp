#pragma once
/// Minimal message formatting: GCC 12 ships no <format>, so findings are built with this
/// "{}"-substitution helper (each "{}" takes the next argument; strings verbatim, integers in
/// decimal, doubles rounded for people: see AppendArg).

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>

namespace sop::model {

namespace detail {

inline void AppendArg(std::string& out, std::string_view v) {
  out.append(v);
}
inline void AppendArg(std::string& out, const std::string& v) {
  out.append(v);
}
inline void AppendArg(std::string& out, const char* v) {
  out.append(v);
}
template <class T>
requires std::integral<T> void AppendArg(std::string& out, T v) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  if (ec == std::errc()) out.append(buffer, end);
}

/// Quantities are read by people: at most two decimals from 1 up ("65504.46 h", "3652 h"),
/// three significant digits below 1 ("0.125", "0.001"), so that floating-point noise such as
/// 3652.0000000000005 never reaches a message.
template <class T>
requires std::floating_point<T> void AppendArg(std::string& out, T v) {
  char buffer[64];
  const double value = static_cast<double>(v);
  const double magnitude = value < 0 ? -value : value;
  std::to_chars_result result;
  if (!(magnitude < 1e15)) {  // also inf and NaN
    result = std::to_chars(buffer, buffer + sizeof buffer, value);
  } else if (magnitude >= 1.0) {
    result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, 2);
    if (result.ec == std::errc()) {
      while (result.ptr[-1] == '0') --result.ptr;  // "2.50" -> "2.5", "3652.00" -> "3652."
      if (result.ptr[-1] == '.') --result.ptr;
    }
  } else {
    result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general, 3);
  }
  if (result.ec == std::errc()) out.append(buffer, result.ptr);
}

inline void FormatInto(std::string& out, std::string_view fmt) {
  out.append(fmt);
}

template <class First, class... Rest>
void FormatInto(std::string& out, std::string_view fmt, const First& first, const Rest&... rest) {
  auto pos = fmt.find("{}");
  if (pos == std::string_view::npos) {
    out.append(fmt);
    return;
  }
  out.append(fmt.substr(0, pos));
  AppendArg(out, first);
  FormatInto(out, fmt.substr(pos + 2), rest...);
}

}  // namespace detail

/// Format("bucket {} qty {}", 3, 2.5) == "bucket 3 qty 2.5".
template <class... Args>
std::string Format(std::string_view fmt, const Args&... args) {
  std::string out;
  out.reserve(fmt.size() + 16 * sizeof...(Args));
  detail::FormatInto(out, fmt, args...);
  return out;
}

}  // namespace sop::model
