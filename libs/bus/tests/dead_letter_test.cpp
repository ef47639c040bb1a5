// The dead-letter record format: built from a rejected message, read back unchanged.

#include "sop/bus/dead_letter.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sop::bus {
namespace {

Message RejectedMessage() {
  Message message;
  message.topic = "sop.erp.events.v1";
  message.partition = 4;
  message.offset = 1234567890123;
  message.key = std::string("plant\0-1", 8);
  message.value = std::string("\x00\x01\xfe\xff payload", 12);
  message.headers = {{"event_id", "evt-9"}, {"sop.dlq.error.code", "stale from an earlier hop"}};
  return message;
}

TEST(DeadLetterFormat, BuildKeepsKeyValueAndHeadersAndAddsTheReason) {
  const auto now =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
  const OutgoingMessage record = DeadLetter::Build(
      RejectedMessage(), Error(Errc::kInvalidArgument, "site: empty"), kDeadLetterTopic, now);
  EXPECT_EQ(record.topic, "sop.dlq.v1");
  EXPECT_EQ(record.key, std::string("plant\0-1", 8));
  EXPECT_EQ(record.value, std::string("\x00\x01\xfe\xff payload", 12));
  EXPECT_FALSE(record.partition.has_value());  // partitioned by the original key
  const std::vector<Header> expected = {
      {"event_id", "evt-9"},
      {"sop.dlq.error.code", "INVALID_ARGUMENT"},
      {"sop.dlq.error.message", "site: empty"},
      {"sop.dlq.source.topic", "sop.erp.events.v1"},
      {"sop.dlq.source.partition", "4"},
      {"sop.dlq.source.offset", "1234567890123"},
      {"sop.dlq.time.ms", "1700000000123"},
  };
  EXPECT_EQ(record.headers, expected);
}

TEST(DeadLetterFormat, DecodeReadsBackWhatBuildWrote) {
  const auto now =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
  const OutgoingMessage built = DeadLetter::Build(
      RejectedMessage(), Error(Errc::kFailedPrecondition, "bom: cycle at item 42"), "dlq", now);
  Message consumed;
  consumed.topic = built.topic;
  consumed.key = built.key;
  consumed.value = built.value;
  consumed.headers = built.headers;

  auto record = DeadLetter::Decode(consumed);
  ASSERT_TRUE(record.has_value()) << record.error().ToString();
  EXPECT_EQ(record->key, std::string("plant\0-1", 8));
  EXPECT_EQ(record->value, std::string("\x00\x01\xfe\xff payload", 12));
  EXPECT_EQ(record->original_headers, (std::vector<Header>{{"event_id", "evt-9"}}));
  EXPECT_EQ(record->code, Errc::kFailedPrecondition);
  EXPECT_EQ(record->reason, "bom: cycle at item 42");
  EXPECT_EQ(record->source_topic, "sop.erp.events.v1");
  EXPECT_EQ(record->source_partition, 4);
  EXPECT_EQ(record->source_offset, 1234567890123);
  EXPECT_EQ(record->dead_lettered_at, now);
}

TEST(DeadLetterFormat, DecodeNamesAMalformedHeader) {
  const OutgoingMessage built =
      DeadLetter::Build(RejectedMessage(), Error(Errc::kInvalidArgument, "x"), "dlq",
                        std::chrono::system_clock::now());
  Message consumed;
  consumed.headers = built.headers;
  for (Header& header : consumed.headers) {
    if (header.name == kDlqSourceOffsetHeader) header.value = "12x";
  }
  auto record = DeadLetter::Decode(consumed);
  ASSERT_FALSE(record.has_value());
  EXPECT_EQ(record.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(record.error().message().find("sop.dlq.source.offset"), std::string::npos);
  EXPECT_NE(record.error().message().find("12x"), std::string::npos);
}

TEST(DeadLetterFormat, DecodeOfAMessageThatWasNeverDeadLetteredFails) {
  Message plain;
  plain.value = "hello";
  auto record = DeadLetter::Decode(plain);
  ASSERT_FALSE(record.has_value());
  EXPECT_NE(record.error().message().find("sop.dlq.error.code"), std::string::npos);
}

TEST(DeadLetterFormat, EveryErrorCodeNameParsesBack) {
  for (int raw = 0; raw <= static_cast<int>(Errc::kCancelled); ++raw) {
    const auto code = static_cast<Errc>(raw);
    EXPECT_EQ(ParseErrc(ToString(code)), code) << ToString(code);
  }
  EXPECT_EQ(ParseErrc("NOT_A_CODE"), std::nullopt);
}

}  // namespace
}  // namespace sop::bus
