// The sop-exceptions binary as a process: started against the embedded broker and a real
// redis-server, fed the hand-made shared-component plant as facts, queried and acknowledged over
// gRPC, stopped with SIGTERM (exit 0, snapshots in Redis); a new process serves the same list
// with the acknowledgement.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "exceptions_test_support.hpp"
#include "sop/bus/producer.hpp"
#include "sop/service_testing/binary_test.hpp"
#include "sop/service_testing/facts.hpp"
#include "sop/service_testing/process.hpp"
#include "sop/v1/exceptions.grpc.pb.h"

namespace sop::exceptions {
namespace {

using namespace std::chrono_literals;
using namespace sop::exceptions::testing;
using Clock = std::chrono::steady_clock;

// One sop-exceptions process (service_testing::ServiceProcess) with its Exceptions stub.
class ExceptionsProcess {
 public:
  ExceptionsProcess(const std::string& bootstrap, int redis_port, std::filesystem::path log_path)
      : process_(SOP_EXCEPTIONS_BINARY, Flags(bootstrap, redis_port), std::move(log_path)) {}

  // The gRPC port from the start-up log line (0 if it did not come within 15 s).
  int WaitForPort() {
    const int port = process_.WaitForPort(15s);
    if (port > 0) stub_ = sop::v1::Exceptions::NewStub(process_.channel());
    return port;
  }

  grpc::Status List(bool include_acknowledged, sop::v1::ListExceptionsResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    sop::v1::ListExceptionsRequest request;
    request.set_include_acknowledged(include_acknowledged);
    return stub_->ListExceptions(&context, request, response);
  }

  // Polls ListExceptions until it lists `count` exceptions (false after 60 s).
  bool WaitForCount(int count) {
    for (auto deadline = Clock::now() + 60s; Clock::now() < deadline;) {
      sop::v1::ListExceptionsResponse response;
      if (List(true, &response).ok() && response.total() == count) return true;
      std::this_thread::sleep_for(50ms);  // polling the served list against a deadline
    }
    return false;
  }

  // SIGTERM; the exit status.
  int Terminate() { return process_.Terminate(); }
  std::string Log() const { return process_.Log(); }
  sop::v1::Exceptions::Stub& stub() { return *stub_; }

 private:
  static std::vector<std::string> Flags(const std::string& bootstrap, int redis_port) {
    auto flags = service_testing::ServiceFlags(bootstrap, redis_port);
    flags.push_back("--exceptions.batch.quiet=50ms");
    return flags;
  }

  service_testing::ServiceProcess process_;
  std::unique_ptr<sop::v1::Exceptions::Stub> stub_;
};

// Three partitions: the snapshot check below looks at each.
class ExceptionsBinary : public service_testing::ServiceBinaryTest {
 protected:
  ExceptionsBinary() : ServiceBinaryTest(3) {}
};

TEST_F(ExceptionsBinary, ServesAcknowledgesStopsOnSigtermAndRestartsWithTheSameList) {
  const auto events = SharedComponentPlant();
  service_testing::ProduceFacts(producer(), events, 0, events.size());

  std::vector<std::string> ids;
  {
    ExceptionsProcess process(bootstrap(), redis().port(), LogPath("sop-exceptions-first"));
    ASSERT_GT(process.WaitForPort(), 0) << process.Log();
    ASSERT_TRUE(process.WaitForCount(4)) << process.Log();
    sop::v1::ListExceptionsResponse response;
    ASSERT_TRUE(process.List(true, &response).ok());
    for (const auto& e : response.exceptions()) ids.push_back(e.exception_id());

    grpc::ClientContext context;
    sop::v1::AcknowledgeRequest ack;
    ack.set_exception_id("ORDER_AT_RISK:SO-LO:1");
    ack.set_who("ben");
    ack.set_reason("customer agreed to a later date");
    sop::v1::AcknowledgeResponse ack_response;
    ASSERT_TRUE(process.stub().Acknowledge(&context, ack, &ack_response).ok());

    EXPECT_EQ(process.Terminate(), 0) << process.Log();
    EXPECT_EQ(process.Log().find("\"level\":\"error\""), std::string::npos) << process.Log();
  }
  // The stop left a snapshot of the facts partition that holds site P1.
  EXPECT_EQ(FactSnapshots("exceptions").size(), 1u);

  ExceptionsProcess again(bootstrap(), redis().port(), LogPath("sop-exceptions-second"));
  ASSERT_GT(again.WaitForPort(), 0) << again.Log();
  ASSERT_TRUE(again.WaitForCount(4)) << again.Log();
  sop::v1::ListExceptionsResponse response;
  ASSERT_TRUE(again.List(true, &response).ok());
  std::vector<std::string> served;
  for (const auto& e : response.exceptions()) {
    served.push_back(e.exception_id());
    if (e.exception_id() == "ORDER_AT_RISK:SO-LO:1") {
      EXPECT_EQ(e.acknowledged_by(), "ben");
    }
  }
  EXPECT_EQ(served, ids);
  sop::v1::ListExceptionsResponse open;
  ASSERT_TRUE(again.List(false, &open).ok());
  EXPECT_EQ(open.total(), 3);
  EXPECT_EQ(again.Terminate(), 0) << again.Log();
}

}  // namespace
}  // namespace sop::exceptions
