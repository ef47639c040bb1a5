#include "sop/runtime/grpc_server.hpp"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "test_util.hpp"

namespace sop::runtime {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class GrpcServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = GrpcServer::Builder({"127.0.0.1", 0, "", ""}, logger_, metrics_).Start();
    ASSERT_TRUE(started.has_value()) << started.error().ToString();
    server_ = std::move(*started);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    ASSERT_TRUE(
        channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5)));
  }

  grpc::Status Check(const std::string& service, HealthCheckResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    HealthCheckRequest request;
    request.set_service(service);
    return Health::NewStub(channel_)->Check(&context, request, response);
  }

  Logger logger_{"grpc-test", LogLevel::kError, [](std::string_view) {}};
  MetricsRegistry metrics_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(GrpcServerTest, PortZeroBindsAFreePort) {
  EXPECT_GT(server_->port(), 0);
}

TEST_F(GrpcServerTest, HealthIsNotServingUntilTheServiceSaysReady) {
  HealthCheckResponse response;
  ASSERT_TRUE(Check("", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  server_->SetServing(true);
  server_->SetServing("sop.v1.Mrp", true);
  ASSERT_TRUE(Check("", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(Check("sop.v1.Mrp", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  server_->SetServing("sop.v1.Mrp", false);
  ASSERT_TRUE(Check("sop.v1.Mrp", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Check("sop.v1.Unknown", &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServerTest, RedMetricsCountEachCallByMethodAndCode) {
  HealthCheckResponse response;
  ASSERT_TRUE(Check("", &response).ok());
  ASSERT_TRUE(Check("", &response).ok());
  EXPECT_FALSE(Check("nope", &response).ok());
  const std::string text = metrics_.SerializeText();
  EXPECT_NE(text.find("sop_grpc_server_requests_total{code=\"OK\",method=\"/grpc.health.v1."
                      "Health/Check\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sop_grpc_server_requests_total{code=\"NOT_FOUND\",method=\"/grpc.health."
                      "v1.Health/Check\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sop_grpc_server_request_duration_seconds_count{method=\"/grpc.health.v1."
                      "Health/Check\"} 3"),
            std::string::npos)
      << text;
}

// Lists services through server reflection with a raw bidi call: request field 7
// (list_services = ""), so the test needs no reflection stubs.
TEST_F(GrpcServerTest, ReflectionListsTheHealthService) {
  grpc::CompletionQueue queue;
  grpc::GenericStub stub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
  auto next = [&queue](std::intptr_t expected) {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(queue.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<std::intptr_t>(tag), expected);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(next(1));
  const char request_bytes[] = {0x3a, 0x00};
  grpc::Slice slice(request_bytes, sizeof request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  ASSERT_TRUE(next(2));
  grpc::ByteBuffer reply;
  call->Read(&reply, reinterpret_cast<void*>(3));
  ASSERT_TRUE(next(3));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const auto& part : slices) {
    bytes.append(reinterpret_cast<const char*>(part.begin()), part.size());
  }
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.reflection.v1alpha.ServerReflection"), std::string::npos);
  call->WritesDone(reinterpret_cast<void*>(4));
  next(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  next(5);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(GrpcServerTest, ShutdownIsIdempotentAndRefusesNewCalls) {
  server_->Shutdown(std::chrono::milliseconds(100));
  server_->Shutdown(std::chrono::milliseconds(100));
  HealthCheckResponse response;
  EXPECT_FALSE(Check("", &response).ok());
}

TEST(GrpcServer, HalfConfiguredTlsAndUnreadableFilesFailNamingTheSetting) {
  Logger logger("t", LogLevel::kError, [](std::string_view) {});
  MetricsRegistry metrics;
  auto half = GrpcServer::Builder({"127.0.0.1", 0, "/tmp/cert.pem", ""}, logger, metrics).Start();
  ASSERT_FALSE(half.has_value());
  EXPECT_EQ(half.error().code(), Errc::kInvalidArgument);
  auto missing = GrpcServer::Builder({"127.0.0.1", 0, "/nonexistent/cert.pem", "/nonexistent/k"},
                                     logger, metrics)
                     .Start();
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().message(),
            "grpc.tls.cert: cannot read file, got '/nonexistent/cert.pem'");
}

TEST(GrpcServer, PortInUseFailsWithUnavailable) {
  Logger logger("t", LogLevel::kError, [](std::string_view) {});
  MetricsRegistry metrics;
  auto first = GrpcServer::Builder({"127.0.0.1", 0, "", ""}, logger, metrics).Start();
  ASSERT_TRUE(first.has_value());
  auto second =
      GrpcServer::Builder({"127.0.0.1", (*first)->port(), "", ""}, logger, metrics).Start();
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), Errc::kUnavailable);
}

}  // namespace
}  // namespace sop::runtime

namespace sop::runtime {
namespace {

// A self-signed certificate for "localhost", made by the openssl tool into the test's temp dir.
bool MakeCertificate(const std::string& dir) {
  const auto [code, output] =
      testing::RunWithStdin({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir + "/key.pem",
                             "-out", dir + "/cert.pem", "-days", "1", "-subj", "/CN=localhost",
                             "-addext", "subjectAltName=DNS:localhost"},
                            "");
  return code == 0;
}

TEST(GrpcServer, ServesHealthOverTlsWhenCertAndKeyAreSet) {
  const std::string dir = ::testing::TempDir();
  if (::access("/usr/bin/openssl", X_OK) != 0) GTEST_SKIP() << "openssl tool not installed";
  ASSERT_TRUE(MakeCertificate(dir));
  Logger logger("t", LogLevel::kError, [](std::string_view) {});
  MetricsRegistry metrics;
  auto server =
      GrpcServer::Builder({"127.0.0.1", 0, dir + "/cert.pem", dir + "/key.pem"}, logger, metrics)
          .Start();
  ASSERT_TRUE(server.has_value()) << server.error().ToString();
  EXPECT_TRUE((*server)->tls());
  (*server)->SetServing(true);

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = testing::ReadFile(dir + "/cert.pem");
  ASSERT_FALSE(ssl.pem_root_certs.empty());
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                           grpc::SslCredentials(ssl), args);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthCheckResponse response;
  const auto status = Health::NewStub(channel)->Check(&context, HealthCheckRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  // A plaintext client must not get through.
  auto plain = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                   grpc::InsecureChannelCredentials());
  grpc::ClientContext plain_context;
  plain_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  EXPECT_FALSE(Health::NewStub(plain)->Check(&plain_context, HealthCheckRequest(), &response).ok());
}

}  // namespace
}  // namespace sop::runtime

#include <future>

#include "sop/v1/exceptions.grpc.pb.h"

namespace sop::runtime {
namespace {

// Acknowledge blocks until the test releases it: an in-flight call during shutdown.
class BlockingExceptions final : public sop::v1::Exceptions::Service {
 public:
  grpc::Status Acknowledge(grpc::ServerContext* /*context*/,
                           const sop::v1::AcknowledgeRequest* /*request*/,
                           sop::v1::AcknowledgeResponse* /*response*/) override {
    std::unique_lock lock(mutex_);
    entered_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return released_; });
    return grpc::Status::OK;
  }

  bool WaitEntered(std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return entered_; });
  }

  void Release() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false;
  bool released_ = false;
};

TEST(GrpcServer, ShutdownLetsAnInFlightCallFinishThenReturnsPromptly) {
  Logger logger("t", LogLevel::kError, [](std::string_view) {});
  MetricsRegistry metrics;
  BlockingExceptions service;
  auto server =
      GrpcServer::Builder({"127.0.0.1", 0, "", ""}, logger, metrics).AddService(&service).Start();
  ASSERT_TRUE(server.has_value()) << server.error().ToString();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                     grpc::InsecureChannelCredentials());

  auto call = std::async(std::launch::async, [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    sop::v1::AcknowledgeResponse response;
    return sop::v1::Exceptions::NewStub(channel)->Acknowledge(
        &context, sop::v1::AcknowledgeRequest(), &response);
  });
  ASSERT_TRUE(service.WaitEntered(std::chrono::seconds(5)));

  auto shutdown = std::async(std::launch::async, [&] {
    (*server)->Shutdown(std::chrono::seconds(10));
    return testing::Clock::now();
  });
  // Wait (bounded) until the server refuses new calls: shutdown has begun.
  const auto give_up = testing::Clock::now() + std::chrono::seconds(5);
  bool refusing = false;
  while (!refusing && testing::Clock::now() < give_up) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    HealthCheckResponse response;
    refusing = !Health::NewStub(channel)->Check(&context, HealthCheckRequest(), &response).ok();
  }
  ASSERT_TRUE(refusing);
  EXPECT_EQ(shutdown.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "shutdown must wait for the in-flight call";

  const auto released = testing::Clock::now();
  service.Release();
  const grpc::Status status = call.get();
  EXPECT_TRUE(status.ok()) << "the in-flight call was cut off: " << status.error_message();
  ASSERT_EQ(shutdown.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_LT(shutdown.get() - released, std::chrono::seconds(2))
      << "after the last call, idle connections must not hold shutdown until its deadline";
}

}  // namespace
}  // namespace sop::runtime
