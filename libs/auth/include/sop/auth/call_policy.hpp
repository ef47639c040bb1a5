#pragma once
/// The platform's call policy: which gRPC method needs which principal. One table for every
/// sopstream service, so "who may Replan" is answered in one place (libs/auth/README.md).
/// Pure: no gRPC, no I/O. Immutable after construction: share one instance between threads.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sop/auth/token_authenticator.hpp"
#include "sop/model/error.hpp"

namespace sop::auth {

/// What a method needs from its caller.
struct MethodRule {
  enum class Access {
    kOpen,       ///< no token (health, reflection; reads when reads are open)
    kPrincipal,  ///< any known principal (reads)
    kRoles,      ///< a known principal holding one of `roles` (writes)
  };
  Access access = Access::kPrincipal;
  std::vector<std::string> roles;
};

/// The outcome of an allowed call: who made it ("" for an open method called without a token).
struct CallGrant {
  std::string principal;
};

/// Method full path ("/sop.v1.Mrp/Replan") → rule. A method the table does not name is refused
/// (PERMISSION_DENIED): a new write method cannot be left open by forgetting the table.
class CallPolicy {
 public:
  /// sopstream's table (README): writes need their roles, reads any known principal or nothing
  /// when `open_reads`, health and reflection are always open.
  static CallPolicy Platform(bool open_reads);

  /// Adds or replaces the rule of `method` (a full path).
  void Set(std::string method, MethodRule rule);
  /// The rule of `method`, or nullptr when the table does not name it.
  const MethodRule* Find(std::string_view method) const;

  /// Decides a call of `method` whose `authorization` metadata is `authorization` (nullptr when
  /// absent). kUnauthenticated: missing/malformed/unknown token (a token presented to an open
  /// method must still be valid); kPermissionDenied: the principal lacks every role of the rule,
  /// or the method is not in the table. Messages name the method, the principal and the roles,
  /// never the token.
  Result<CallGrant> Check(std::string_view method, const std::string_view* authorization,
                          const TokenAuthenticator& tokens) const;

 private:
  std::map<std::string, MethodRule, std::less<>> rules_;
};

}  // namespace sop::auth
