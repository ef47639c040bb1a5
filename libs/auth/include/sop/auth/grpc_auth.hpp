#pragma once
/// The gRPC side of sop::auth: every service authenticates a call from its `authorization`
/// metadata and checks the method's role with the same two functions, so UNAUTHENTICATED vs
/// PERMISSION_DENIED mean the same thing everywhere.
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "sop/auth/token_authenticator.hpp"
#include "sop/model/error.hpp"

namespace sop::auth {

/// The principal behind the call's "authorization: Bearer <token>" metadata.
/// kUnauthenticated: "authorization: missing bearer token" / "...: unknown bearer token".
Result<Principal> AuthenticateCall(const grpc::ServerContext& context,
                                   const TokenAuthenticator& authenticator);

/// Ok if `principal` holds at least one of `roles` (empty list: any authenticated principal).
/// kPermissionDenied naming the principal, the method and the roles it would need.
Status RequireAnyRole(const Principal& principal, std::string_view method,
                      std::initializer_list<std::string_view> roles);

/// Client side: attaches "authorization: Bearer <token>" to a call (no-op for an empty token).
void AttachBearer(grpc::ClientContext& context, std::string_view token);

/// Client side: a plaintext channel to `target` whose every call carries
/// "authorization: Bearer <token>" (a client interceptor; a plain channel for an empty token).
/// For tools that call many methods (sopctl, sop-demo) without touching each call site.
std::shared_ptr<grpc::Channel> CreateBearerChannel(const std::string& target, std::string token);

}  // namespace sop::auth
