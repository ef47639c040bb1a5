#pragma once
/// Bearer tokens → principal + roles, from a tokens file whose entries hold only SHA-256 hashes
/// of the tokens (format in libs/auth/README.md; a Kubernetes Secret is mounted as that file).
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"

namespace sop::auth {

/// Who is calling: a named person or system and the roles granted to it.
struct Principal {
  std::string name;
  std::vector<std::string> roles;

  bool HasRole(std::string_view role) const;
  /// "demand_lead,executive"
  std::string RolesText() const;
};

/// One line of the tokens file: the hex SHA-256 of a token, and whom it stands for.
struct TokenEntry {
  std::string token_sha256;  ///< 64 lower-case hex digits
  Principal principal;
};

/// Maps presented bearer tokens to principals. Immutable after construction: thread-safe.
///
/// Security: only hashes are held; a presented token is hashed and compared with every entry in
/// constant time (no early exit on the first match, CRYPTO_memcmp per entry). No method puts a
/// token, or any part of one, into an error message.
///
/// Errors: `Parse`/`LoadFile` give kInvalidArgument naming the line and the field (never the
/// hash value itself beyond its length); `Authenticate` gives kUnauthenticated.
class TokenAuthenticator {
 public:
  /// Parses the tokens file format. An empty file is valid (nobody can call).
  static Result<TokenAuthenticator> Parse(std::string_view text,
                                          std::string_view source = "tokens");
  /// Reads and parses `path`; kNotFound / kInvalidArgument name the path.
  static Result<TokenAuthenticator> LoadFile(const std::filesystem::path& path);

  /// The principal of a bare token (no "Bearer " prefix). kUnauthenticated if empty or unknown.
  Result<Principal> AuthenticateToken(std::string_view token) const;
  /// The principal of an `authorization` header value "Bearer <token>". kUnauthenticated if the
  /// value is missing, has another scheme, or holds an unknown token.
  Result<Principal> AuthenticateHeader(std::string_view authorization) const;

  std::size_t size() const noexcept { return entries_.size(); }

 private:
  explicit TokenAuthenticator(std::vector<TokenEntry> entries) : entries_(std::move(entries)) {}
  std::vector<TokenEntry> entries_;
};

/// The line a tokens file needs for `token` (for operators and tests):
/// "sha256:<hex> <principal> <role>,<role>".
std::string TokenFileLine(std::string_view token, const Principal& principal);

}  // namespace sop::auth
