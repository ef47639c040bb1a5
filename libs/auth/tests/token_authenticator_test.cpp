#include "sop/auth/token_authenticator.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sop/auth/sha256.hpp"

namespace sop::auth {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ConstantTimeEquals, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

std::string TwoPrincipals() {
  return "# sopstream tokens\n" + TokenFileLine("alice-secret", {"alice", {"demand_lead"}}) +
         "\n\n" + TokenFileLine("bob-secret", {"bob", {"supply_lead", "reader"}}) + "\n";
}

TEST(TokenAuthenticator, MapsTokensToPrincipalsAndRoles) {
  auto auth = TokenAuthenticator::Parse(TwoPrincipals());
  ASSERT_TRUE(auth) << auth.error().ToString();
  EXPECT_EQ(auth->size(), 2u);
  auto alice = auth->AuthenticateToken("alice-secret");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->roles, std::vector<std::string>{"demand_lead"});
  auto bob = auth->AuthenticateHeader("Bearer bob-secret");
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->name, "bob");
  EXPECT_TRUE(bob->HasRole("reader"));
  EXPECT_FALSE(bob->HasRole("demand_lead"));
  EXPECT_EQ(bob->RolesText(), "supply_lead,reader");
}

TEST(TokenAuthenticator, UnknownMissingOrWrongSchemeIsUnauthenticatedWithoutTheToken) {
  auto auth = TokenAuthenticator::Parse(TwoPrincipals());
  ASSERT_TRUE(auth);
  for (std::string_view header : {"Bearer not-a-token-xyz", "", "Basic alice-secret", "Bearer "}) {
    auto result = auth->AuthenticateHeader(header);
    ASSERT_FALSE(result) << header;
    EXPECT_EQ(result.error().code(), Errc::kUnauthenticated);
    EXPECT_EQ(result.error().message().find("not-a-token-xyz"), std::string::npos);
    EXPECT_EQ(result.error().message().find("alice-secret"), std::string::npos);
  }
}

TEST(TokenAuthenticator, FileHoldsOnlyHashes) {
  const std::string text = TwoPrincipals();
  EXPECT_EQ(text.find("alice-secret"), std::string::npos);
  EXPECT_NE(text.find("sha256:" + Sha256Hex("alice-secret")), std::string::npos);
}

TEST(TokenAuthenticator, BadLinesNameLineAndFieldButNeverEchoAClearToken) {
  auto pasted = TokenAuthenticator::Parse("my-clear-token alice demand_lead\n", "tokens.txt");
  ASSERT_FALSE(pasted);
  EXPECT_EQ(pasted.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(pasted.error().message().find("tokens.txt:1: token hash"), std::string::npos);
  EXPECT_EQ(pasted.error().message().find("my-clear-token"), std::string::npos);

  auto fields = TokenAuthenticator::Parse("# c\nsha256:" + Sha256Hex("x") + " alice\n", "t");
  ASSERT_FALSE(fields);
  EXPECT_NE(fields.error().message().find("t:2:"), std::string::npos);

  auto role = TokenAuthenticator::Parse("sha256:" + Sha256Hex("x") + " alice lead,,x\n", "t");
  ASSERT_FALSE(role);
  EXPECT_NE(role.error().message().find("t:1: role"), std::string::npos);

  auto duplicate = TokenAuthenticator::Parse(TokenFileLine("x", {"a", {"r"}}) + "\n" +
                                             TokenFileLine("x", {"b", {"r"}}));
  ASSERT_FALSE(duplicate);
  EXPECT_NE(duplicate.error().message().find("already given to principal 'a'"), std::string::npos);
}

TEST(TokenAuthenticator, LoadsAFileAndNamesAMissingOne) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("sop_auth_test_" + std::to_string(::getpid()) + ".tokens");
  {
    std::ofstream out(path);
    out << TwoPrincipals();
  }
  auto auth = TokenAuthenticator::LoadFile(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(auth) << auth.error().ToString();
  EXPECT_TRUE(auth->AuthenticateToken("alice-secret"));
  auto missing = TokenAuthenticator::LoadFile(path);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::kNotFound);
  EXPECT_NE(missing.error().message().find(path.string()), std::string::npos);
}

}  // namespace
}  // namespace sop::auth
