#pragma once
/// Domain types of the bus: what a producer sends, what a consumer hands to a handler, and
/// what the broker reports back. Plain values, no librdkafka types.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sop::bus {

/// One Kafka record header. Values are raw bytes (std::string is used as a byte container).
struct Header {
  std::string name{};
  std::string value{};

  friend bool operator==(const Header&, const Header&) = default;
};

/// A topic and one of its partitions.
struct TopicPartition {
  std::string topic{};
  std::int32_t partition = 0;

  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

/// A record to produce. `key` decides the partition (murmur2, the Java client's hash, so
/// producers in other languages agree); an absent key spreads records randomly. `partition`
/// overrides the key-based choice.
struct OutgoingMessage {
  std::string topic{};
  std::optional<std::string> key{};
  std::string value{};
  std::vector<Header> headers{};
  std::optional<std::int32_t> partition{};
};

/// Where the broker stored a produced record.
struct DeliveryReport {
  std::string topic{};
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};

/// A consumed record as handed to a handler. Bytes are copied out of librdkafka, so a copy of
/// the Message may be kept after the handler returns; the consumer reuses the one it passes
/// for the next record (keep a copy, never a reference).
struct Message {
  std::string topic{};
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string> key{};  ///< nullopt: the record had a null key
  std::string value{};
  std::vector<Header> headers{};
  std::chrono::system_clock::time_point timestamp{};

  /// The value of the first header called `name`, if any.
  std::optional<std::string_view> FindHeader(std::string_view name) const {
    for (const Header& header : headers) {
      if (header.name == name) return std::string_view(header.value);
    }
    return std::nullopt;
  }
};

}  // namespace sop::bus
