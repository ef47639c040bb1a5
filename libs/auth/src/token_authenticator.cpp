#include "sop/auth/token_authenticator.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "sop/auth/sha256.hpp"

namespace sop::auth {
namespace {

bool IsLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool IsName(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '@';
  });
}

std::vector<std::string_view> SplitWhitespace(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

}  // namespace

bool Principal::HasRole(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

std::string Principal::RolesText() const {
  std::string text;
  for (const auto& role : roles) {
    if (!text.empty()) text.push_back(',');
    text += role;
  }
  return text;
}

Result<TokenAuthenticator> TokenAuthenticator::Parse(std::string_view text,
                                                     std::string_view source) {
  std::vector<TokenEntry> entries;
  std::size_t line_number = 0;
  std::size_t position = 0;
  while (position <= text.size()) {
    std::size_t end = text.find('\n', position);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(position, end - position);
    position = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto words = SplitWhitespace(line);
    if (words.empty() || words.front().starts_with('#')) {
      if (end == text.size()) break;
      continue;
    }
    const std::string where = std::string(source) + ":" + std::to_string(line_number);
    if (words.size() != 3) {
      return Fail(Errc::kInvalidArgument,
                  where + ": expected 'sha256:<hex> <principal> <role>[,<role>...]', got " +
                      std::to_string(words.size()) + " fields");
    }
    std::string_view hash = words[0];
    if (!hash.starts_with("sha256:") || hash.size() != 7 + 64 || !IsLowerHex(hash.substr(7))) {
      // The value is not echoed: someone may have pasted a clear token here by mistake.
      return Fail(Errc::kInvalidArgument,
                  where +
                      ": token hash: must be 'sha256:' and 64 lower-case hex digits (value of " +
                      std::to_string(hash.size()) + " characters not shown)");
    }
    if (!IsName(words[1])) {
      return InvalidField(where + ": principal", "must be [A-Za-z0-9_.@-]+", words[1]);
    }
    Principal principal{std::string(words[1]), {}};
    std::string_view roles = words[2];
    std::size_t start = 0;
    while (start <= roles.size()) {
      std::size_t comma = roles.find(',', start);
      if (comma == std::string_view::npos) comma = roles.size();
      std::string_view role = roles.substr(start, comma - start);
      if (!IsName(role)) return InvalidField(where + ": role", "must be [A-Za-z0-9_.@-]+", role);
      principal.roles.emplace_back(role);
      start = comma + 1;
    }
    for (const auto& entry : entries) {
      if (entry.token_sha256 == hash.substr(7)) {
        return Fail(Errc::kInvalidArgument,
                    where + ": token hash: the same token is already given to principal '" +
                        entry.principal.name + "'");
      }
    }
    entries.push_back({std::string(hash.substr(7)), std::move(principal)});
    if (end == text.size()) break;
  }
  return TokenAuthenticator(std::move(entries));
}

Result<TokenAuthenticator> TokenAuthenticator::LoadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(Errc::kNotFound, "auth.tokens-file: cannot read '" + path.string() + "'");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return Parse(buffer.str(), path.string());
}

Result<Principal> TokenAuthenticator::AuthenticateToken(std::string_view token) const {
  if (token.empty()) return Fail(Errc::kUnauthenticated, "authorization: missing bearer token");
  const std::string presented = Sha256Hex(token);
  const TokenEntry* match = nullptr;
  for (const auto& entry : entries_) {
    // Every entry is compared: the time does not tell how many entries precede the match.
    const bool equal = ConstantTimeEquals(presented, entry.token_sha256);
    if (equal && match == nullptr) match = &entry;
  }
  if (match == nullptr) return Fail(Errc::kUnauthenticated, "authorization: unknown bearer token");
  return match->principal;
}

Result<Principal> TokenAuthenticator::AuthenticateHeader(std::string_view authorization) const {
  if (authorization.empty()) {
    return Fail(Errc::kUnauthenticated, "authorization: missing bearer token");
  }
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), authorization.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
      })) {
    return Fail(Errc::kUnauthenticated, "authorization: expected the 'Bearer' scheme");
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return AuthenticateToken(token);
}

std::string TokenFileLine(std::string_view token, const Principal& principal) {
  return "sha256:" + Sha256Hex(token) + " " + principal.name + " " + principal.RolesText();
}

}  // namespace sop::auth
