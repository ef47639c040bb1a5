// The sop.v1.Exceptions implementation called directly (hermetic: state locked by a plain
// mutex, no acknowledgement log), over generated S-scale facts.

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "exceptions_test_support.hpp"
#include "sop/exceptions/service.hpp"

namespace sop::exceptions {
namespace {

using namespace sop::exceptions::testing;

class ExceptionsGrpcTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    state_ = new ExceptionsState();
    std::int64_t sequence = 0;
    for (const auto& e : Events()) {
      bus::Message message;
      message.topic = "sop.facts.v1";
      message.partition = PartitionOf(e);
      message.value = FactBytes(e, sequence++);
      ASSERT_TRUE(state_->Apply(message).has_value());
    }
    state_->EndBatch();
    reference_ = new Reference(Events());
  }
  static void TearDownTestSuite() {
    delete state_;
    delete reference_;
  }

  ExceptionsGrpc Grpc() {
    return ExceptionsGrpc(
        [this](const std::function<void(ExceptionsState&)>& fn) {
          std::lock_guard lock(mutex_);
          fn(*state_);
        },
        nullptr, nullptr,
        [] { return std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'100)); });
  }

  static ExceptionsState* state_;
  static Reference* reference_;
  std::mutex mutex_;
};

ExceptionsState* ExceptionsGrpcTest::state_ = nullptr;
Reference* ExceptionsGrpcTest::reference_ = nullptr;

TEST_F(ExceptionsGrpcTest, TopNIsTheDecisionCoresTopN) {
  auto grpc = Grpc();
  sop::v1::ListExceptionsRequest request;
  request.set_top(20);
  sop::v1::ListExceptionsResponse response;
  ASSERT_TRUE(grpc.ListExceptions(nullptr, &request, &response).ok());
  ASSERT_EQ(response.exceptions_size(), 20);
  EXPECT_EQ(response.total(), static_cast<std::int64_t>(reference_->ranked.size()));
  for (int k = 0; k < 20; ++k) {
    EXPECT_EQ(response.exceptions(k).exception_id(),
              reference_->ranked[static_cast<std::size_t>(k)].id);
    EXPECT_EQ(response.exceptions(k).rank(), k + 1);
    EXPECT_FALSE(response.exceptions(k).explanation().empty());
    EXPECT_GT(response.exceptions(k).score(), 0.0);
  }
  EXPECT_TRUE(response.next_page_token().empty());
}

TEST_F(ExceptionsGrpcTest, SiteAndTypeFiltersKeepTheRankersOrder) {
  auto grpc = Grpc();
  // The site with the most exceptions in the reference.
  std::map<std::string, int> by_site;
  for (const auto& e : reference_->ranked) {
    if (e.site != model::kNoSite) {
      ++by_site
          [reference_->planning.snapshot()->sites[static_cast<std::size_t>(e.site.value())].id];
    }
  }
  ASSERT_FALSE(by_site.empty());
  const auto site =
      std::max_element(by_site.begin(), by_site.end(), [](const auto& a, const auto& b) {
        return a.second < b.second;
      })->first;
  std::vector<std::string> expected;
  for (const auto& e : reference_->ranked) {
    if (e.type != planning::ExceptionType::kShortage &&
        e.type != planning::ExceptionType::kPastDueRelease)
      continue;
    if (e.site == model::kNoSite ||
        reference_->planning.snapshot()->sites[static_cast<std::size_t>(e.site.value())].id != site)
      continue;
    expected.push_back(e.id);
  }
  sop::v1::ListExceptionsRequest request;
  request.set_site_id(site);
  request.add_types(sop::v1::EXCEPTION_TYPE_PROJECTED_SHORTAGE);
  request.add_types(sop::v1::EXCEPTION_TYPE_PAST_DUE_RELEASE);
  request.set_page_size(1000);
  sop::v1::ListExceptionsResponse response;
  ASSERT_TRUE(grpc.ListExceptions(nullptr, &request, &response).ok());
  std::vector<std::string> served;
  for (const auto& e : response.exceptions()) {
    EXPECT_EQ(e.site_id(), site);
    served.push_back(e.exception_id());
  }
  EXPECT_EQ(served, expected);
  EXPECT_EQ(response.total(), static_cast<std::int64_t>(expected.size()));
}

TEST_F(ExceptionsGrpcTest, BadRequestsAreInvalidArgumentNamingTheField) {
  auto grpc = Grpc();
  sop::v1::ListExceptionsRequest request;
  request.set_page_size(-3);
  sop::v1::ListExceptionsResponse response;
  auto status = grpc.ListExceptions(nullptr, &request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("page_size"), std::string::npos) << status.error_message();
  EXPECT_NE(status.error_message().find("-3"), std::string::npos);

  sop::v1::AcknowledgeRequest ack;
  ack.set_exception_id(reference_->ranked.front().id);
  sop::v1::AcknowledgeResponse ack_response;
  status = grpc.Acknowledge(nullptr, &ack, &ack_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("who"), std::string::npos) << status.error_message();

  ack.set_who("ana");
  ack.set_exception_id("SHORTAGE:NO-SUCH-ITEM@P9");
  status = grpc.Acknowledge(nullptr, &ack, &ack_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("SHORTAGE:NO-SUCH-ITEM@P9"), std::string::npos);
}

TEST_F(ExceptionsGrpcTest, AcknowledgedExceptionShowsWhoAndWhyAndLeavesTheDefaultList) {
  auto grpc = Grpc();
  const std::string id = reference_->ranked[1].id;
  sop::v1::AcknowledgeRequest ack;
  ack.set_exception_id(id);
  ack.set_who("ana");
  ack.set_reason("covered by expedite PO-9");
  sop::v1::AcknowledgeResponse ack_response;
  ASSERT_TRUE(grpc.Acknowledge(nullptr, &ack, &ack_response).ok());
  EXPECT_EQ(ack_response.exception().exception_id(), id);
  EXPECT_EQ(ack_response.exception().acknowledged_by(), "ana");
  EXPECT_EQ(ack_response.exception().acknowledged_at().seconds(), 1'800'000'100);
  EXPECT_EQ(ack_response.exception().rank(), 2);

  sop::v1::ListExceptionsRequest request;
  request.set_top(3);
  sop::v1::ListExceptionsResponse response;
  ASSERT_TRUE(grpc.ListExceptions(nullptr, &request, &response).ok());
  ASSERT_EQ(response.exceptions_size(), 3);
  EXPECT_EQ(response.exceptions(0).exception_id(), reference_->ranked[0].id);
  EXPECT_EQ(response.exceptions(1).exception_id(), reference_->ranked[2].id);
  EXPECT_EQ(response.exceptions(1).rank(), 3);  // ranks stay those of the whole list

  request.set_include_acknowledged(true);
  ASSERT_TRUE(grpc.ListExceptions(nullptr, &request, &response).ok());
  EXPECT_EQ(response.exceptions(1).exception_id(), id);
  EXPECT_EQ(response.exceptions(1).acknowledge_reason(), "covered by expedite PO-9");
}

}  // namespace
}  // namespace sop::exceptions
