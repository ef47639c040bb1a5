#include "sop/bus/dead_letter.hpp"

#include <charconv>
#include <string>

namespace sop::bus {
namespace {

template <class Integer>
Result<Integer> ParseHeaderInteger(const Message& message, std::string_view header) {
  std::optional<std::string_view> text = message.FindHeader(header);
  if (!text) return InvalidField(header, "dead-letter header missing", "");
  Integer value{};
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size()) {
    return InvalidField(header, "must be a decimal integer", *text);
  }
  return value;
}

bool IsDeadLetterHeader(std::string_view name) {
  return name.starts_with("sop.dlq.");
}

}  // namespace

std::optional<Errc> ParseErrc(std::string_view name) {
  for (int raw = static_cast<int>(Errc::kOk); raw <= static_cast<int>(Errc::kCancelled); ++raw) {
    const auto code = static_cast<Errc>(raw);
    if (ToString(code) == name) return code;
  }
  return std::nullopt;
}

DeadLetter::DeadLetter(Producer& producer, std::string topic, std::chrono::milliseconds timeout)
    : producer_(producer), topic_(std::move(topic)), timeout_(timeout) {}

Status DeadLetter::Send(const Message& original, const Error& error) {
  auto delivered = producer_.SendSync(
      Build(original, error, topic_, std::chrono::system_clock::now()), timeout_);
  if (!delivered) {
    return std::unexpected(
        Error(delivered.error().code(),
              "dead-letter " + original.topic + "[" + std::to_string(original.partition) + "]@" +
                  std::to_string(original.offset) + ": " + delivered.error().message(),
              delivered.error().retryable()));
  }
  return {};
}

OutgoingMessage DeadLetter::Build(const Message& original, const Error& error,
                                  std::string_view topic,
                                  std::chrono::system_clock::time_point now) {
  OutgoingMessage record;
  record.topic = std::string(topic);
  record.key = original.key;
  record.value = original.value;
  for (const Header& header : original.headers) {
    // A message dead-lettered twice carries only the latest reason.
    if (!IsDeadLetterHeader(header.name)) record.headers.push_back(header);
  }
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  record.headers.push_back({std::string(kDlqErrorCodeHeader), std::string(ToString(error.code()))});
  record.headers.push_back({std::string(kDlqErrorMessageHeader), error.message()});
  record.headers.push_back({std::string(kDlqSourceTopicHeader), original.topic});
  record.headers.push_back(
      {std::string(kDlqSourcePartitionHeader), std::to_string(original.partition)});
  record.headers.push_back({std::string(kDlqSourceOffsetHeader), std::to_string(original.offset)});
  record.headers.push_back({std::string(kDlqTimeHeader), std::to_string(millis)});
  return record;
}

Result<DeadLetterRecord> DeadLetter::Decode(const Message& dead_letter) {
  DeadLetterRecord record;
  record.key = dead_letter.key;
  record.value = dead_letter.value;
  for (const Header& header : dead_letter.headers) {
    if (!IsDeadLetterHeader(header.name)) record.original_headers.push_back(header);
  }
  std::optional<std::string_view> code = dead_letter.FindHeader(kDlqErrorCodeHeader);
  if (!code) return InvalidField(kDlqErrorCodeHeader, "dead-letter header missing", "");
  std::optional<Errc> parsed_code = ParseErrc(*code);
  if (!parsed_code) return InvalidField(kDlqErrorCodeHeader, "unknown error code", *code);
  record.code = *parsed_code;
  std::optional<std::string_view> reason = dead_letter.FindHeader(kDlqErrorMessageHeader);
  if (!reason) return InvalidField(kDlqErrorMessageHeader, "dead-letter header missing", "");
  record.reason = std::string(*reason);
  std::optional<std::string_view> source = dead_letter.FindHeader(kDlqSourceTopicHeader);
  if (!source) return InvalidField(kDlqSourceTopicHeader, "dead-letter header missing", "");
  record.source_topic = std::string(*source);
  auto partition = ParseHeaderInteger<std::int32_t>(dead_letter, kDlqSourcePartitionHeader);
  if (!partition) return std::unexpected(partition.error());
  record.source_partition = *partition;
  auto offset = ParseHeaderInteger<std::int64_t>(dead_letter, kDlqSourceOffsetHeader);
  if (!offset) return std::unexpected(offset.error());
  record.source_offset = *offset;
  auto millis = ParseHeaderInteger<std::int64_t>(dead_letter, kDlqTimeHeader);
  if (!millis) return std::unexpected(millis.error());
  record.dead_lettered_at =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(*millis));
  return record;
}

}  // namespace sop::bus
