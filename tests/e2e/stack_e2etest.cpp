// sop::stack itself with real processes: what it writes, how it reports a service that cannot
// start, and that bad options are named.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>

#include "e2e_support.hpp"

namespace sop::e2e {
namespace {

std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Stack, WritesStackJsonRestartsAServiceAndRemovesTheFileOnStop) {
  auto options = TestStackOptions("stack_json");
  options.services = {"ingestion", "forecasting"};
  auto stack = stack::Stack::Start(options);
  ASSERT_TRUE(stack.has_value()) << stack.error().ToString();
  // Each service kind has its own redis-server.
  const auto* forecasting = (*stack)->Endpoints().Find("forecasting");
  ASSERT_NE(forecasting, nullptr);
  EXPECT_FALSE(forecasting->redis.empty());
  EXPECT_NE(forecasting->redis, (*stack)->Endpoints().Find("ingestion")->redis);
  const auto json_path = options.dir / "stack.json";
  const std::string json = Slurp(json_path);
  const auto* ingestion = (*stack)->Endpoints().Find("ingestion");
  ASSERT_NE(ingestion, nullptr);
  EXPECT_NE(json.find("\"broker\":\"" + (*stack)->Endpoints().broker + "\""), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"ingestion\":{\"grpc\":\"" + ingestion->grpc + "\",\"metrics\":\"" +
                      ingestion->metrics + "\",\"redis\":\"" + ingestion->redis + "\""),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"pid\":" + std::to_string(ingestion->pid)), std::string::npos) << json;
  EXPECT_FALSE((*stack)->Has("mrp"));

  // Kill reaps; Restart brings it back SERVING under a new pid and rewrites stack.json.
  const pid_t first_pid = ingestion->pid;
  ASSERT_TRUE((*stack)->Kill("ingestion", SIGKILL).has_value());
  EXPECT_EQ((*stack)->Endpoints().Find("ingestion")->pid, -1);
  EXPECT_EQ((*stack)->Kill("ingestion", SIGKILL).error().code(), Errc::kFailedPrecondition);
  ASSERT_TRUE((*stack)->Restart("ingestion").has_value());
  const pid_t second_pid = (*stack)->Endpoints().Find("ingestion")->pid;
  EXPECT_GT(second_pid, 0);
  EXPECT_NE(second_pid, first_pid);
  EXPECT_NE(Slurp(json_path).find("\"pid\":" + std::to_string(second_pid)), std::string::npos);
  EXPECT_EQ((*stack)->Kill("nope", SIGKILL).error().code(), Errc::kNotFound);

  ASSERT_TRUE((*stack)->Stop().has_value());
  EXPECT_FALSE(std::filesystem::exists(json_path));
}

TEST(Stack, AServiceThatExitsEarlyFailsStartWithTheTailOfItsLog) {
  auto options = TestStackOptions("early_exit");
  options.services = {"ingestion"};
  options.extra_args = {{"ingestion", {"--no-such-setting=1"}}};
  auto stack = stack::Stack::Start(options);
  ASSERT_FALSE(stack.has_value());
  EXPECT_EQ(stack.error().code(), Errc::kUnavailable);
  const std::string& message = stack.error().message();
  EXPECT_NE(message.find("service 'ingestion'"), std::string::npos) << message;
  EXPECT_NE(message.find("exited early: exit code 64"), std::string::npos) << message;
  EXPECT_NE(message.find("no-such-setting"), std::string::npos) << message;  // from its log
}

TEST(Stack, BadOptionsAreNamedWithTheirValue) {
  auto options = TestStackOptions("bad_options");
  options.services = {"ingestion", "billing"};
  auto unknown = stack::Stack::Start(options);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(unknown.error().message().find("services: unknown service"), std::string::npos);
  EXPECT_NE(unknown.error().message().find("got 'billing'"), std::string::npos);

  options.services = {"ingestion"};
  options.replicas = {{"ingestion", 0}};
  auto replicas = stack::Stack::Start(options);
  ASSERT_FALSE(replicas.has_value());
  EXPECT_NE(replicas.error().message().find("replicas: must be 1..8 for 'ingestion', got '0'"),
            std::string::npos)
      << replicas.error().message();

  options.replicas = {};
  options.dir.clear();
  auto no_dir = stack::Stack::Start(options);
  ASSERT_FALSE(no_dir.has_value());
  EXPECT_EQ(no_dir.error().message(), "dir: required, got ''");
}

}  // namespace
}  // namespace sop::e2e
