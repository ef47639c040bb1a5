// AuthenticateCall/RequireAnyRole behind a real gRPC channel: a health service that demands the
// role "reader" answers UNAUTHENTICATED / PERMISSION_DENIED / OK by the token it is called with.
#include "sop/auth/grpc_auth.hpp"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "sop/runtime/grpc_status.hpp"

namespace sop::auth {
namespace {

class GuardedHealth final : public grpc::health::v1::Health::Service {
 public:
  explicit GuardedHealth(const TokenAuthenticator& auth) : auth_(auth) {}
  grpc::Status Check(grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest*,
                     grpc::health::v1::HealthCheckResponse* response) override {
    auto principal = AuthenticateCall(*context, auth_);
    if (!principal) return runtime::ToGrpcStatus(principal.error());
    if (auto allowed = RequireAnyRole(*principal, "Check", {"reader", "executive"}); !allowed) {
      return runtime::ToGrpcStatus(allowed.error());
    }
    response->set_status(grpc::health::v1::HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }

 private:
  const TokenAuthenticator& auth_;
};

TEST(GrpcAuth, StatusCodesFollowTokenAndRole) {
  auto auth = TokenAuthenticator::Parse(TokenFileLine("reader-token", {"rita", {"reader"}}) + "\n" +
                                        TokenFileLine("sales-token", {"sam", {"sales"}}));
  ASSERT_TRUE(auth);
  GuardedHealth service(*auth);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  ASSERT_NE(port, 0);
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);

  auto call = [&](std::string_view token) {
    grpc::ClientContext context;
    AttachBearer(context, token);
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    return stub->Check(&context, request, &response);
  };
  EXPECT_EQ(call("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto unknown = call("forged-token-123");
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(unknown.error_message().find("forged-token-123"), std::string::npos);
  auto denied = call("sales-token");
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(),
            "Check: principal 'sam' needs role reader or executive, has 'sales'");
  EXPECT_TRUE(call("reader-token").ok());
  server->Shutdown();
}

}  // namespace
}  // namespace sop::auth
