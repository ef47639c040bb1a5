#include "sop/auth/grpc_auth.hpp"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>

#include <string>
#include <vector>

namespace sop::auth {

Result<Principal> AuthenticateCall(const grpc::ServerContext& context,
                                   const TokenAuthenticator& authenticator) {
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find("authorization");
  if (found == metadata.end()) {
    return Fail(Errc::kUnauthenticated, "authorization: missing bearer token");
  }
  return authenticator.AuthenticateHeader(
      std::string_view(found->second.data(), found->second.size()));
}

Status RequireAnyRole(const Principal& principal, std::string_view method,
                      std::initializer_list<std::string_view> roles) {
  if (roles.size() == 0) return {};
  std::string needed;
  for (auto role : roles) {
    if (principal.HasRole(role)) return {};
    if (!needed.empty()) needed += " or ";
    needed += role;
  }
  return Fail(Errc::kPermissionDenied, std::string(method) + ": principal '" + principal.name +
                                           "' needs role " + needed + ", has '" +
                                           principal.RolesText() + "'");
}

void AttachBearer(grpc::ClientContext& context, std::string_view token) {
  if (token.empty()) return;
  context.AddMetadata("authorization", "Bearer " + std::string(token));
}

namespace {

class BearerInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerInterceptor(const std::string& header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", header_);
    }
    methods->Proceed();
  }

 private:
  const std::string& header_;
};

class BearerInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerInterceptorFactory(std::string token) : header_("Bearer " + std::move(token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* /*info*/) override {
    return new BearerInterceptor(header_);
  }

 private:
  std::string header_;
};

}  // namespace

std::shared_ptr<grpc::Channel> CreateBearerChannel(const std::string& target, std::string token) {
  if (token.empty()) return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<BearerInterceptorFactory>(std::move(token)));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      target, grpc::InsecureChannelCredentials(), grpc::ChannelArguments(), std::move(factories));
}

}  // namespace sop::auth
