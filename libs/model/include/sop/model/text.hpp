#pragma once
/// Minimal message formatting: GCC 12 ships no <format>, so findings are built with this
/// "{}"-substitution helper (each "{}" takes the next argument; strings verbatim, integers in
/// decimal, doubles in their shortest round-trip form).

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
requires(std::integral<T> || std::floating_point<T>) void AppendArg(std::string& out, T v) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  if (ec == std::errc()) out.append(buffer, end);
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
