#include "offsets_codec.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

namespace sop::store::detail {
namespace {

constexpr std::size_t kMaxTopicLength = 249;  // Kafka's own limit

template <class Int>
bool ParseWhole(std::string_view text, Int& value) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end;
}

}  // namespace

bool IsValidTopic(std::string_view topic) noexcept {
  if (topic.empty() || topic.size() > kMaxTopicLength) return false;
  for (char c : topic) {
    const bool legal = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
    if (!legal) return false;
  }
  return true;
}

Result<std::string> EncodeOffsets(std::span<const ConsumedOffset> offsets) {
  std::string text;
  text.reserve(offsets.size() * 32);
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    const ConsumedOffset& entry = offsets[i];
    const std::string field = "offsets[" + std::to_string(i) + "]";
    if (!IsValidTopic(entry.topic)) {
      return InvalidField(field + ".topic", "must be a Kafka topic name ([A-Za-z0-9._-]{1,249})",
                          entry.topic);
    }
    if (entry.partition < 0) {
      return InvalidField(field + ".partition", "must be >= 0", std::to_string(entry.partition));
    }
    if (entry.next_offset < 0) {
      return InvalidField(field + ".next_offset", "must be >= 0",
                          std::to_string(entry.next_offset));
    }
    text.append(entry.topic)
        .append(" ")
        .append(std::to_string(entry.partition))
        .append(" ")
        .append(std::to_string(entry.next_offset))
        .append("\n");
  }
  return text;
}

Result<std::vector<ConsumedOffset>> DecodeOffsets(std::string_view text) {
  std::vector<ConsumedOffset> offsets;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    if (newline == std::string_view::npos) {
      return Fail(Errc::kDataLoss, "snapshot offsets: line " + std::to_string(line_number) +
                                       " is not terminated by a newline");
    }
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline + 1);

    const std::size_t first = line.find(' ');
    const std::size_t second =
        first == std::string_view::npos ? std::string_view::npos : line.find(' ', first + 1);
    ConsumedOffset entry;
    bool ok = second != std::string_view::npos;
    if (ok) {
      entry.topic = std::string(line.substr(0, first));
      ok = IsValidTopic(entry.topic) &&
           ParseWhole(line.substr(first + 1, second - first - 1), entry.partition) &&
           ParseWhole(line.substr(second + 1), entry.next_offset) && entry.partition >= 0 &&
           entry.next_offset >= 0;
    }
    if (!ok) {
      return Fail(Errc::kDataLoss, "snapshot offsets: line " + std::to_string(line_number) +
                                       " is malformed: '" + std::string(line) + "'");
    }
    offsets.push_back(std::move(entry));
    ++line_number;
  }
  return offsets;
}

}  // namespace sop::store::detail
