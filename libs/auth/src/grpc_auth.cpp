#include "sop/auth/grpc_auth.hpp"

#include <string>

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

}  // namespace sop::auth
