#include "sop/model/error.hpp"

#include <gtest/gtest.h>

#include "sop/model/strong_id.hpp"

namespace sop {
namespace {

Result<int> ParseQuantity(int raw) {
  if (raw < 0) return InvalidField("quantity", "must be >= 0", std::to_string(raw));
  return raw;
}

TEST(Error, InvalidFieldNamesTheFieldAndTheValue) {
  auto result = ParseQuantity(-5);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(result.error().ToString(), "INVALID_ARGUMENT: quantity: must be >= 0, got '-5'");
  EXPECT_FALSE(result.error().retryable());
}

TEST(Error, OutagesAreRetryableBadInputIsNot) {
  EXPECT_TRUE(Error(Errc::kUnavailable, "redis down").retryable());
  EXPECT_TRUE(Error(Errc::kDeadlineExceeded, "slow").retryable());
  EXPECT_FALSE(Error(Errc::kNotFound, "item X").retryable());
  EXPECT_TRUE(Error(Errc::kInternal, "flaky", /*retryable=*/true).retryable());
}

TEST(StrongId, ComparesAndHashesByValue) {
  using ItemIndex = StrongId<int, struct ItemIndexTag>;
  EXPECT_LT(ItemIndex(1), ItemIndex(2));
  EXPECT_EQ(std::hash<ItemIndex>{}(ItemIndex(7)), std::hash<int>{}(7));
}

}  // namespace
}  // namespace sop

#include "sop/model/text.hpp"

namespace sop::model {
namespace {

TEST(Format, RoundsQuantitiesForPeople) {
  EXPECT_EQ(Format("{} h over", 65504.45666483368), "65504.46 h over");
  EXPECT_EQ(Format("{} h", 3652.0000000000005), "3652 h");
  EXPECT_EQ(Format("qty {}", 2.5), "qty 2.5");
  EXPECT_EQ(Format("got {}", -5.0), "got -5");
  EXPECT_EQ(Format("yield {}", 0.001), "yield 0.001");
  EXPECT_EQ(Format("share {}", 0.12345), "share 0.123");
  EXPECT_EQ(Format("bucket {} of {}", 3, 78), "bucket 3 of 78");
}

}  // namespace
}  // namespace sop::model
