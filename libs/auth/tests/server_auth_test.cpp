// The platform check as a service main installs it (ServerAuthFromConfig → runtime's GrpcServer
// auth_processor) over a real gRPC channel: refused calls never reach the handler, are counted
// by method and code and logged without the token; dev mode is open.
#include "sop/auth/server_auth.hpp"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "grpc/health/v1/health.grpc.pb.h"
#include "sop/auth/grpc_auth.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/v1/mrp.grpc.pb.h"

namespace sop::auth {
namespace {

// Counts the calls that reached it; the auth layer is what is under test.
class CountingMrp final : public sop::v1::Mrp::Service {
 public:
  grpc::Status Replan(grpc::ServerContext*, const sop::v1::ReplanRequest*,
                      sop::v1::ReplanResponse*) override {
    ++replans;
    return grpc::Status::OK;
  }
  grpc::Status GetPlan(grpc::ServerContext*, const sop::v1::GetPlanRequest*,
                       sop::v1::GetPlanResponse*) override {
    ++reads;
    return grpc::Status::OK;
  }
  std::atomic<int> replans{0};
  std::atomic<int> reads{0};
};

class ServerAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sop-auth-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "tokens")
        << TokenFileLine("planner-secret-1", {"pat", {"planner"}}) << "\n"
        << TokenFileLine("reader-secret-2", {"rita", {"reader"}}) << "\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<runtime::Config> Load(std::vector<std::string> args) {
    runtime::ConfigSchema schema("sop-test");
    AddServerAuthSettings(schema);
    return runtime::LoadConfig(schema, args, {});
  }

  // Starts runtime's server with the processor the config asks for.
  void Start(const runtime::Config& config) {
    auto processor = ServerAuthFromConfig(config, "mrp", logger_, metrics_);
    ASSERT_TRUE(processor) << processor.error().ToString();
    runtime::GrpcServerOptions options;
    options.host = "127.0.0.1";
    options.auth_processor = *processor;
    auto server =
        runtime::GrpcServer::Builder(options, logger_, metrics_).AddService(&mrp_).Start();
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    (*server_).SetServing(true);
  }

  grpc::Status Replan(const std::string& token) {
    auto stub = sop::v1::Mrp::NewStub(
        CreateBearerChannel("127.0.0.1:" + std::to_string(server_->port()), token));
    grpc::ClientContext context;
    sop::v1::ReplanRequest request;
    request.set_site_id("P1");
    sop::v1::ReplanResponse response;
    return stub->Replan(&context, request, &response);
  }

  grpc::Status GetPlan(const std::string& token) {
    auto stub = sop::v1::Mrp::NewStub(
        CreateBearerChannel("127.0.0.1:" + std::to_string(server_->port()), token));
    grpc::ClientContext context;
    sop::v1::GetPlanRequest request;
    sop::v1::GetPlanResponse response;
    return stub->GetPlan(&context, request, &response);
  }

  std::string Logs() {
    std::lock_guard lock(log_mutex_);
    return logs_;
  }

  std::filesystem::path dir_;
  std::mutex log_mutex_;
  std::string logs_;
  runtime::Logger logger_{"sop-test", runtime::LogLevel::kInfo, [this](std::string_view line) {
                            std::lock_guard lock(log_mutex_);
                            logs_ += line;
                          }};
  runtime::MetricsRegistry metrics_;
  CountingMrp mrp_;
  std::unique_ptr<runtime::GrpcServer> server_;
};

TEST_F(ServerAuthTest, RefusedWritesNeverReachTheHandlerAndAreCountedAndLogged) {
  auto config = Load({"--auth.tokens-file=" + (dir_ / "tokens").string()});
  ASSERT_TRUE(config) << config.error().ToString();
  Start(*config);

  const auto missing = Replan("");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(missing.error_message(), "authorization: missing bearer token");
  const auto forged = Replan("forged-secret-9");
  EXPECT_EQ(forged.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const auto reader = Replan("reader-secret-2");
  EXPECT_EQ(reader.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(reader.error_message(),
            "/sop.v1.Mrp/Replan: principal 'rita' needs role planner or supply_lead, has "
            "'reader'");
  EXPECT_EQ(mrp_.replans.load(), 0);

  EXPECT_TRUE(Replan("planner-secret-1").ok());
  EXPECT_EQ(mrp_.replans.load(), 1);
  // Reads: any known principal; without a token refused.
  EXPECT_TRUE(GetPlan("reader-secret-2").ok());
  EXPECT_EQ(GetPlan("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(mrp_.reads.load(), 1);

  const std::string text = metrics_.SerializeText();
  EXPECT_NE(text.find("sop_mrp_auth_denied_total{code=\"UNAUTHENTICATED\",method=\"/sop.v1.Mrp/"
                      "Replan\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sop_mrp_auth_denied_total{code=\"PERMISSION_DENIED\",method=\"/sop.v1."
                      "Mrp/Replan\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("sop_mrp_auth_denied_total{code=\"UNAUTHENTICATED\",method=\"/sop.v1.Mrp/"
                      "GetPlan\"} 1"),
            std::string::npos);

  const std::string logs = Logs();
  EXPECT_NE(logs.find("\"msg\":\"call refused\""), std::string::npos) << logs;
  EXPECT_NE(logs.find("principal 'rita' needs role planner"), std::string::npos);
  for (const char* secret : {"planner-secret-1", "reader-secret-2", "forged-secret-9"}) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << secret;
  }
  server_->Shutdown(std::chrono::seconds(1));
}

TEST_F(ServerAuthTest, OpenReadsLetAnonymousReadsThroughButNotWrites) {
  auto config =
      Load({"--auth.tokens-file=" + (dir_ / "tokens").string(), "--auth.open-reads=true"});
  ASSERT_TRUE(config) << config.error().ToString();
  Start(*config);
  EXPECT_TRUE(GetPlan("").ok());
  EXPECT_EQ(Replan("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(mrp_.reads.load(), 1);
  EXPECT_EQ(mrp_.replans.load(), 0);
  server_->Shutdown(std::chrono::seconds(1));
}

TEST_F(ServerAuthTest, WithoutATokensFileEveryCallIsOpenAndAWarningSaysSo) {
  auto config = Load({});
  ASSERT_TRUE(config);
  Start(*config);
  EXPECT_TRUE(Replan("").ok());
  EXPECT_EQ(mrp_.replans.load(), 1);
  EXPECT_NE(Logs().find("auth.tokens-file not set: dev mode"), std::string::npos) << Logs();
  server_->Shutdown(std::chrono::seconds(1));
}

TEST_F(ServerAuthTest, AnUnreadableOrInvalidTokensFileIsAStartUpErrorNamingTheSetting) {
  auto missing = Load({"--auth.tokens-file=" + (dir_ / "nope").string()});
  ASSERT_TRUE(missing);
  auto refused = ServerAuthFromConfig(*missing, "mrp", logger_, metrics_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message().rfind("auth.tokens-file: ", 0), 0u)
      << refused.error().message();

  std::ofstream(dir_ / "bad") << "clear-token-pasted pat planner\n";
  auto bad = Load({"--auth.tokens-file=" + (dir_ / "bad").string()});
  ASSERT_TRUE(bad);
  auto invalid = ServerAuthFromConfig(*bad, "mrp", logger_, metrics_);
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(invalid.error().message().find("clear-token-pasted"), std::string::npos);
}

}  // namespace
}  // namespace sop::auth
