#pragma once
/// SHA-256 as lower-case hex, the one hash sopstream uses for token hashes and artifact content
/// hashes. Pure computation (libcrypto inside), thread-safe.
#include <string>
#include <string_view>

namespace sop::auth {

/// 64 lower-case hex digits of SHA-256(`data`).
std::string Sha256Hex(std::string_view data);

/// Compares two byte strings in time that depends only on their lengths (CRYPTO_memcmp), so a
/// caller comparing secrets or their hashes leaks nothing through timing.
bool ConstantTimeEquals(std::string_view a, std::string_view b) noexcept;

}  // namespace sop::auth
