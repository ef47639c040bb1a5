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
