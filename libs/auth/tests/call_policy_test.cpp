// The platform call policy, hermetic: which principal may call which method, and the exact
// refusal messages (no token in any of them).
#include "sop/auth/call_policy.hpp"

#include <gtest/gtest.h>

namespace sop::auth {
namespace {

class CallPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parsed =
        TokenAuthenticator::Parse(TokenFileLine("planner-token", {"pat", {"planner"}}) + "\n" +
                                  TokenFileLine("reader-token", {"rita", {"reader"}}) + "\n" +
                                  TokenFileLine("sales-token", {"sam", {"sales_lead"}}) + "\n" +
                                  TokenFileLine("flow-token", {"workflow", {"workflow"}}));
    ASSERT_TRUE(parsed);
    tokens_.emplace(std::move(*parsed));
  }

  Result<CallGrant> Call(const CallPolicy& policy, std::string_view method,
                         std::string_view token) const {
    if (token.empty()) return policy.Check(method, nullptr, *tokens_);
    const std::string header = "Bearer " + std::string(token);
    const std::string_view view = header;
    return policy.Check(method, &view, *tokens_);
  }

  std::optional<TokenAuthenticator> tokens_;
};

TEST_F(CallPolicyTest, WritesNeedTheirRoles) {
  const auto policy = CallPolicy::Platform(/*open_reads=*/false);
  auto granted = Call(policy, "/sop.v1.Mrp/Replan", "planner-token");
  ASSERT_TRUE(granted) << granted.error().ToString();
  EXPECT_EQ(granted->principal, "pat");

  auto denied = Call(policy, "/sop.v1.Mrp/Replan", "reader-token");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code(), Errc::kPermissionDenied);
  EXPECT_EQ(denied.error().message(),
            "/sop.v1.Mrp/Replan: principal 'rita' needs role planner or supply_lead, has "
            "'reader'");

  EXPECT_TRUE(Call(policy, "/sop.v1.Forecasting/AdjustForecast", "sales-token"));
  EXPECT_TRUE(Call(policy, "/sop.v1.Forecasting/AdjustForecast", "flow-token"));
  EXPECT_TRUE(Call(policy, "/sop.v1.Exceptions/Acknowledge", "planner-token"));
  EXPECT_EQ(Call(policy, "/sop.v1.Exceptions/Acknowledge", "sales-token").error().code(),
            Errc::kPermissionDenied);
  EXPECT_EQ(Call(policy, "/sop.v1.Ingestion/Submit", "sales-token").error().code(),
            Errc::kPermissionDenied);
  EXPECT_TRUE(Call(policy, "/sop.v1.Ingestion/Submit", "planner-token"));
}

TEST_F(CallPolicyTest, MissingOrUnknownTokenIsUnauthenticatedWithoutEchoingIt) {
  const auto policy = CallPolicy::Platform(false);
  auto missing = Call(policy, "/sop.v1.Mrp/Replan", "");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::kUnauthenticated);
  EXPECT_EQ(missing.error().message(), "authorization: missing bearer token");

  auto forged = Call(policy, "/sop.v1.Mrp/Replan", "forged-token-4711");
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().code(), Errc::kUnauthenticated);
  EXPECT_EQ(forged.error().message().find("4711"), std::string::npos);

  const std::string_view basic = "Basic cGF0OnNlY3JldA==";
  auto other_scheme = policy.Check("/sop.v1.Mrp/GetPlan", &basic, *tokens_);
  ASSERT_FALSE(other_scheme);
  EXPECT_EQ(other_scheme.error().code(), Errc::kUnauthenticated);
}

TEST_F(CallPolicyTest, ReadsNeedAKnownPrincipalUnlessOpen) {
  const auto closed = CallPolicy::Platform(false);
  EXPECT_EQ(Call(closed, "/sop.v1.Mrp/GetPlan", "").error().code(), Errc::kUnauthenticated);
  EXPECT_EQ(Call(closed, "/sop.v1.Mrp/GetPlan", "reader-token")->principal, "rita");
  EXPECT_EQ(Call(closed, "/sop.v1.Exceptions/ListExceptions", "sales-token")->principal, "sam");

  const auto open = CallPolicy::Platform(true);
  auto anonymous = Call(open, "/sop.v1.Mrp/GetPlan", "");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->principal, "");
  // An open method still refuses a token it does not know: a typo should not pass silently.
  EXPECT_EQ(Call(open, "/sop.v1.Mrp/GetPlan", "forged").error().code(), Errc::kUnauthenticated);
  // Open reads leave writes closed.
  EXPECT_EQ(Call(open, "/sop.v1.Mrp/Replan", "").error().code(), Errc::kUnauthenticated);
}

TEST_F(CallPolicyTest, HealthAndReflectionAreOpenAndUnknownMethodsAreRefused) {
  const auto policy = CallPolicy::Platform(false);
  EXPECT_TRUE(Call(policy, "/grpc.health.v1.Health/Check", ""));
  EXPECT_TRUE(Call(policy, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", ""));
  auto unknown = Call(policy, "/sop.v1.Mrp/DropEverything", "planner-token");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), Errc::kPermissionDenied);
  EXPECT_EQ(unknown.error().message(),
            "/sop.v1.Mrp/DropEverything: not in the platform's call policy (libs/auth)");
}

TEST_F(CallPolicyTest, WorkflowMethodsNeedAKnownPrincipalTheServiceChecksRoles) {
  const auto policy = CallPolicy::Platform(true);
  EXPECT_EQ(Call(policy, "/sop.v1.Workflow/Sign", "").error().code(), Errc::kUnauthenticated);
  EXPECT_TRUE(Call(policy, "/sop.v1.Workflow/Sign", "reader-token"));
}

}  // namespace
}  // namespace sop::auth
