#pragma once
/// The dead-letter topic: where rejected messages go, unchanged, with the reason.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sop/bus/message.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/model/error.hpp"

namespace sop::bus {

/// Header names on a dead-lettered record.
inline constexpr std::string_view kDlqErrorCodeHeader = "sop.dlq.error.code";
inline constexpr std::string_view kDlqErrorMessageHeader = "sop.dlq.error.message";
inline constexpr std::string_view kDlqSourceTopicHeader = "sop.dlq.source.topic";
inline constexpr std::string_view kDlqSourcePartitionHeader = "sop.dlq.source.partition";
inline constexpr std::string_view kDlqSourceOffsetHeader = "sop.dlq.source.offset";
/// Milliseconds since the Unix epoch, decimal.
inline constexpr std::string_view kDlqTimeHeader = "sop.dlq.time.ms";

/// A dead-lettered record decoded: the original bytes and why they were rejected.
struct DeadLetterRecord {
  std::optional<std::string> key{};
  std::string value{};
  std::vector<Header> original_headers{};
  Errc code = Errc::kOk;
  std::string reason{};
  std::string source_topic{};
  std::int32_t source_partition = 0;
  std::int64_t source_offset = 0;
  std::chrono::system_clock::time_point dead_lettered_at{};
};

/// Produces rejected messages to sop.dlq.v1 with the ORIGINAL key and value bytes and the
/// original headers, plus sop.dlq.* headers carrying the error code and message, the source
/// topic/partition/offset and the time. Nothing is dropped silently: Send waits for the
/// broker's acknowledgement so the caller commits the source offset only afterwards.
///
/// Threads: thread-safe (the producer is). Errors: the producer's delivery error.
/// Lifetime: borrows the producer, which must outlive it.
class DeadLetter {
 public:
  explicit DeadLetter(Producer& producer, std::string topic = std::string(kDeadLetterTopic),
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(30'000));

  /// Dead-letters `original` because of `error`; returns once the broker acknowledged it.
  Status Send(const Message& original, const Error& error);

  /// The record Send produces (pure; exposed for tests and tools).
  static OutgoingMessage Build(const Message& original, const Error& error, std::string_view topic,
                               std::chrono::system_clock::time_point now);

  /// Reads a record of the dead-letter topic back; INVALID_ARGUMENT naming the header that is
  /// missing or malformed.
  static Result<DeadLetterRecord> Decode(const Message& dead_letter);

 private:
  Producer& producer_;
  std::string topic_;
  std::chrono::milliseconds timeout_;
};

/// Parses "INVALID_ARGUMENT" etc. back into a code (the inverse of sop::ToString(Errc)).
std::optional<Errc> ParseErrc(std::string_view name);

}  // namespace sop::bus
