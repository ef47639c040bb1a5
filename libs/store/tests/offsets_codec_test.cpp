#include "offsets_codec.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sop::store::detail {
namespace {

TEST(OffsetsCodec, RoundTripsTopicsPartitionsAndLargeOffsets) {
  const std::vector<ConsumedOffset> offsets = {
      {"sop.facts.v1", 0, 0},
      {"sop.facts.v1", 11, 9'223'372'036'854'775'807},
      {"sop.forecast_v1-x", 3, 12345},
  };
  auto text = EncodeOffsets(offsets);
  ASSERT_TRUE(text.has_value()) << text.error().ToString();
  EXPECT_EQ(*text,
            "sop.facts.v1 0 0\nsop.facts.v1 11 9223372036854775807\nsop.forecast_v1-x 3 12345\n");
  auto decoded = DecodeOffsets(*text);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, offsets);
}

TEST(OffsetsCodec, EmptyListIsEmptyText) {
  auto text = EncodeOffsets({});
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, "");
  auto decoded = DecodeOffsets("");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->empty());
}

TEST(OffsetsCodec, RejectsTopicOutsideKafkaAlphabetNamingTheEntry) {
  const std::vector<ConsumedOffset> offsets = {{"ok", 0, 1}, {"bad topic", 0, 1}};
  auto text = EncodeOffsets(offsets);
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(text.error().message().find("offsets[1].topic"), std::string::npos);
  EXPECT_NE(text.error().message().find("'bad topic'"), std::string::npos);
  EXPECT_FALSE(text.error().retryable());
}

TEST(OffsetsCodec, RejectsNegativePartitionAndOffset) {
  const std::vector<ConsumedOffset> negative_partition = {{"t", -1, 0}};
  const std::vector<ConsumedOffset> negative_offset = {{"t", 0, -1}};
  EXPECT_EQ(EncodeOffsets(negative_partition).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(EncodeOffsets(negative_offset).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(
      EncodeOffsets(std::vector<ConsumedOffset>{{std::string(250, 'a'), 0, 0}}).error().code(),
      Errc::kInvalidArgument);
}

TEST(OffsetsCodec, MalformedStoredTextIsDataLoss) {
  for (const char* text : {"t 0 1", "t 0\n", "t x 1\n", "t 0 1 2\n", "t 0 -4\n", " 0 1\n",
                           "t 0 99999999999999999999\n"}) {
    auto decoded = DecodeOffsets(text);
    ASSERT_FALSE(decoded.has_value()) << "'" << text << "'";
    EXPECT_EQ(decoded.error().code(), Errc::kDataLoss) << "'" << text << "'";
  }
}

TEST(OffsetsCodec, AcceptsExactlyTheKafkaTopicAlphabet) {
  EXPECT_TRUE(IsValidTopic("Abc.def_ghi-09"));
  EXPECT_TRUE(IsValidTopic(std::string(249, 'x')));
  EXPECT_FALSE(IsValidTopic(""));
  EXPECT_FALSE(IsValidTopic(std::string(250, 'x')));
  EXPECT_FALSE(IsValidTopic("a/b"));
  EXPECT_FALSE(IsValidTopic("a\nb"));
}

}  // namespace
}  // namespace sop::store::detail
