// The platform call policy on the real service binaries: sop::stack starts sop-ingestion,
// sop-mrp and sop-exceptions with its generated tokens file (RunServiceMain, and ingestion's own
// main, install the check), and their write calls are tried over real gRPC channels as no one,
// as a reader and as a planner.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "sop/auth/grpc_auth.hpp"
#include "sop/stack/stack.hpp"
#include "sop/v1/exceptions.grpc.pb.h"
#include "sop/v1/ingestion.grpc.pb.h"
#include "sop/v1/mrp.grpc.pb.h"

namespace sop::stack {
namespace {

using namespace std::chrono_literals;

std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

class AuthE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StackOptions options;
    // One directory per test: ctest runs the tests of this fixture in parallel, and a shared
    // one let a starting stack rewrite the token files another test was reading.
    options.dir =
        std::filesystem::path(SOP_STACK_TEST_RUN_DIR) /
        (std::string("auth-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(options.dir);
    options.services = {"ingestion", "mrp", "exceptions"};
    options.partitions = 2;
    options.start_timeout = 30s;
    options.stop_timeout = 15s;
    options.extra_env = {"SOP_SHUTDOWN_TIMEOUT=10s"};
    auto started = Stack::Start(options);
    ASSERT_TRUE(started) << started.error().ToString();
    stack_ = std::move(*started);
    for (const char* principal : {"pat", "rita", "sam"}) {
      const auto& files = stack_->Endpoints().token_files;
      ASSERT_TRUE(files.contains(principal)) << principal;
      tokens_[principal] = Trimmed(Slurp(files.at(principal)));
      ASSERT_EQ(tokens_[principal].size(), 32u);
    }
  }
  void TearDown() override {
    if (stack_) {
      EXPECT_TRUE(stack_->Stop());
    }
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& service, const std::string& who) {
    const std::string token = who.empty() ? "" : tokens_.at(who);
    return auth::CreateBearerChannel(stack_->Endpoints().Find(service)->grpc, token);
  }

  grpc::Status Replan(const std::string& who) {
    auto stub = sop::v1::Mrp::NewStub(Channel("mrp", who));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    sop::v1::ReplanRequest request;
    request.set_requested_by("auth-e2e");
    request.set_reason("test");
    sop::v1::ReplanResponse response;
    return stub->Replan(&context, request, &response);
  }

  grpc::Status Acknowledge(const std::string& who) {
    auto stub = sop::v1::Exceptions::NewStub(Channel("exceptions", who));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    sop::v1::AcknowledgeRequest request;
    request.set_exception_id("EX-NONE");
    request.set_who("pat");
    request.set_reason("seen");
    sop::v1::AcknowledgeResponse response;
    return stub->Acknowledge(&context, request, &response);
  }

  /// Ingestion.Submit (client streaming) of no events.
  grpc::Status SubmitNothing(const std::string& who, sop::v1::SubmitSummary& summary) {
    auto stub = sop::v1::Ingestion::NewStub(Channel("ingestion", who));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    auto writer = stub->Submit(&context, &summary);
    writer->WritesDone();
    return writer->Finish();
  }

  double Metric(const std::string& service, const std::string& series) {
    auto text = stack_->Scrape(service);
    if (!text) return -1;
    const auto at = text->find(series + " ");
    if (at == std::string::npos) return 0;
    return std::stod(text->substr(at + series.size() + 1));
  }

  std::unique_ptr<Stack> stack_;
  std::map<std::string, std::string> tokens_;
};

TEST_F(AuthE2eTest, MrpReplanAndExceptionsAcknowledgeNeedTheirRoles) {
  // Nobody, a reader, a sales lead: refused before the handler.
  EXPECT_EQ(Replan("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const auto reader = Replan("rita");
  EXPECT_EQ(reader.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(reader.error_message(),
            "/sop.v1.Mrp/Replan: principal 'rita' needs role planner or supply_lead, has "
            "'reader'");
  // A planner's call reaches mrp's handler, which has no facts yet to plan from.
  const auto planner = Replan("pat");
  EXPECT_EQ(planner.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(planner.error_message(),
            "no plan: no PlanningSettings fact has been applied on this "
            "replica");

  EXPECT_EQ(Acknowledge("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const auto sales = Acknowledge("sam");
  EXPECT_EQ(sales.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(sales.error_message(),
            "/sop.v1.Exceptions/Acknowledge: principal 'sam' needs role planner or supply_lead "
            "or demand_lead, has 'sales_lead'");
  // The planner's call reaches the handler, which names the unknown exception.
  const auto acknowledged = Acknowledge("pat");
  EXPECT_EQ(acknowledged.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(acknowledged.error_message().find("EX-NONE"), std::string::npos)
      << acknowledged.error_message();

  // The local stack opens reads: GetPlan without a token reaches mrp's handler.
  {
    auto stub = sop::v1::Mrp::NewStub(Channel("mrp", ""));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    sop::v1::GetPlanRequest request;
    request.set_item_id("NOPE");
    request.set_site_id("P1");
    sop::v1::GetPlanResponse response;
    EXPECT_EQ(stub->GetPlan(&context, request, &response).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }

  EXPECT_EQ(Metric("mrp",
                   "sop_mrp_auth_denied_total{code=\"UNAUTHENTICATED\",method=\"/sop.v1."
                   "Mrp/Replan\"}"),
            1);
  EXPECT_EQ(Metric("mrp",
                   "sop_mrp_auth_denied_total{code=\"PERMISSION_DENIED\",method=\"/sop."
                   "v1.Mrp/Replan\"}"),
            1);
  EXPECT_EQ(Metric("exceptions",
                   "sop_exceptions_auth_denied_total{code=\"PERMISSION_DENIED\","
                   "method=\"/sop.v1.Exceptions/Acknowledge\"}"),
            1);

  const std::string mrp_log = Slurp(stack_->Endpoints().Find("mrp")->log);
  EXPECT_NE(mrp_log.find("\"msg\":\"call refused\""), std::string::npos);
  for (const auto& [who, token] : tokens_) {
    EXPECT_EQ(mrp_log.find(token), std::string::npos) << who;
    EXPECT_EQ(Slurp(stack_->Endpoints().Find("exceptions")->log).find(token), std::string::npos);
  }
}

TEST_F(AuthE2eTest, IngestionSubmitNeedsAnIntegrationOrPlannerRole) {
  sop::v1::SubmitSummary summary;
  EXPECT_EQ(SubmitNothing("", summary).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const auto reader = SubmitNothing("rita", summary);
  EXPECT_EQ(reader.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(reader.error_message(),
            "/sop.v1.Ingestion/Submit: principal 'rita' needs role integration or planner, has "
            "'reader'");
  // A planner's empty stream reaches the handler: nothing received, nothing accepted.
  const auto planner = SubmitNothing("pat", summary);
  EXPECT_TRUE(planner.ok()) << planner.error_message();
  EXPECT_EQ(summary.received(), 0);
  EXPECT_EQ(summary.accepted(), 0);
  EXPECT_EQ(Metric("ingestion",
                   "sop_ingestion_auth_denied_total{code=\"UNAUTHENTICATED\",method=\"/sop.v1."
                   "Ingestion/Submit\"}"),
            1);
  EXPECT_EQ(Metric("ingestion",
                   "sop_ingestion_auth_denied_total{code=\"PERMISSION_DENIED\",method=\"/sop."
                   "v1.Ingestion/Submit\"}"),
            1);
}

}  // namespace
}  // namespace sop::stack
