// End-to-end: sop-runtime-example as a subprocess, reached over a real gRPC channel and HTTP.
// No sleeps: every wait is on the child's output, a gRPC deadline or the child's exit, each
// bounded by a deadline.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "test_util.hpp"

namespace sop::runtime {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using testing::Clock;
using testing::ParseJsonObject;
using testing::StringField;

constexpr auto kStartTimeout = std::chrono::seconds(15);
constexpr auto kExitBound = std::chrono::seconds(5);

// A running example with its bound ports, read from its "listening" line.
class RunningExample {
 public:
  explicit RunningExample(std::vector<std::string> extra_args = {}) {
    std::vector<std::string> argv = {SOP_RUNTIME_EXAMPLE_PATH, "--grpc.host=127.0.0.1",
                                     "--grpc.port=0", "--metrics.host=127.0.0.1",
                                     "--metrics.port=0"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    process_ = std::make_unique<testing::Subprocess>(argv);
    auto listening = process_->WaitForLine(
        [](const std::string& line) {
          return line.find("\"msg\":\"listening\"") != std::string::npos;
        },
        Clock::now() + kStartTimeout, lines_);
    if (!listening) return;
    auto parsed = ParseJsonObject(*listening);
    if (!parsed) return;
    grpc_port_ = static_cast<int>(parsed->fields().at("grpc_port").number_value());
    metrics_port_ = static_cast<int>(parsed->fields().at("metrics_port").number_value());
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_port_),
                                   grpc::InsecureChannelCredentials());
  }

  bool started() const { return grpc_port_ > 0 && metrics_port_ > 0; }
  int metrics_port() const { return metrics_port_; }
  testing::Subprocess& process() { return *process_; }
  std::vector<std::string>& lines() { return lines_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  std::optional<HealthCheckResponse::ServingStatus> Check(const std::string& service = "") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    context.set_wait_for_ready(true);  // the channel may still be connecting
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    if (!Health::NewStub(channel_)->Check(&context, request, &response).ok()) return std::nullopt;
    return response.status();
  }

  // Reads the rest of stderr (until EOF at exit) into lines().
  void DrainOutput(Clock::time_point deadline) {
    while (auto line = process_->ReadStderrLine(deadline)) lines_.push_back(*line);
  }

 private:
  std::unique_ptr<testing::Subprocess> process_;
  std::vector<std::string> lines_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
};

std::vector<std::string> StoppedComponents(const std::vector<std::string>& lines) {
  std::vector<std::string> stopped;
  for (const auto& line : lines) {
    auto parsed = ParseJsonObject(line);
    if (parsed && StringField(*parsed, "msg") == "component stopped") {
      stopped.push_back(StringField(*parsed, "component"));
    }
  }
  return stopped;
}

TEST(RuntimeExample, ServesHealthAndShutsDownGracefullyOnSigterm) {
  RunningExample example({"--shutdown.drain=200ms"});
  ASSERT_TRUE(example.started()) << "no listening line";
  EXPECT_EQ(example.Check(), HealthCheckResponse::SERVING);
  EXPECT_EQ(example.Check("sop.runtime.Example"), HealthCheckResponse::SERVING);

  // Watch the overall health so the NOT_SERVING turn is observed on the wire.
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  HealthCheckRequest request;
  auto watch = Health::NewStub(example.channel())->Watch(&watch_context, request);
  HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::SERVING);

  const auto signalled = Clock::now();
  example.process().Signal(SIGTERM);
  bool saw_not_serving = false;
  while (watch->Read(&update)) {
    if (update.status() == HealthCheckResponse::NOT_SERVING) {
      saw_not_serving = true;
      break;
    }
  }
  EXPECT_TRUE(saw_not_serving);
  watch_context.TryCancel();

  const auto exit_code = example.process().WaitExit(signalled + kExitBound);
  const auto took = Clock::now() - signalled;
  if (!exit_code) {
    example.DrainOutput(Clock::now() + std::chrono::milliseconds(100));
    for (const auto& line : example.lines()) std::printf("child: %s\n", line.c_str());
  }
  ASSERT_TRUE(exit_code.has_value()) << "still running 5 s after SIGTERM";
  EXPECT_EQ(*exit_code, 0);
  EXPECT_LT(took, kExitBound);
  std::printf("[ measure ] SIGTERM to exit: %.3f s\n", std::chrono::duration<double>(took).count());

  example.DrainOutput(Clock::now() + std::chrono::seconds(2));
  EXPECT_EQ(StoppedComponents(example.lines()),
            (std::vector<std::string>{"grpc", "worker", "metrics"}));
  ASSERT_FALSE(example.lines().empty());
  for (const auto& line : example.lines()) {
    auto parsed = ParseJsonObject(line);
    ASSERT_TRUE(parsed.has_value()) << "not a JSON object: " << line;
    EXPECT_FALSE(StringField(*parsed, "ts").empty()) << line;
    EXPECT_FALSE(StringField(*parsed, "level").empty()) << line;
    EXPECT_FALSE(StringField(*parsed, "msg").empty()) << line;
    EXPECT_EQ(StringField(*parsed, "service"), "sop-runtime-example") << line;
  }
  EXPECT_EQ(StringField(*ParseJsonObject(example.lines().back()), "msg"), "stopped");
}

TEST(RuntimeExample, MetricsPassPromtoolAndShowTheRedMetricsOfAHealthCall) {
  RunningExample example;
  ASSERT_TRUE(example.started());
  ASSERT_EQ(example.Check(), HealthCheckResponse::SERVING);

  auto body =
      testing::HttpGet(example.metrics_port(), "/metrics", Clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(body.has_value()) << "GET /metrics failed";
  const auto [promtool_exit, promtool_output] =
      testing::RunWithStdin({SOP_PROMTOOL_PATH, "check", "metrics"}, *body);
  EXPECT_EQ(promtool_exit, 0) << promtool_output << "\n--- scraped:\n" << *body;

  const std::string method = "method=\"/grpc.health.v1.Health/Check\"";
  EXPECT_NE(body->find("sop_grpc_server_requests_total{code=\"OK\"," + method + "} 1"),
            std::string::npos)
      << *body;
  EXPECT_NE(body->find("sop_grpc_server_request_duration_seconds_count{" + method + "} 1"),
            std::string::npos)
      << *body;
  EXPECT_NE(
      body->find("sop_grpc_server_request_duration_seconds_bucket{" + method + ",le=\"+Inf\"} 1"),
      std::string::npos)
      << *body;
  EXPECT_NE(body->find("sop_build_info{service=\"sop-runtime-example\",version=\"0.1.0\"} 1"),
            std::string::npos);
  EXPECT_NE(body->find("process_start_time_seconds"), std::string::npos);

  example.process().Signal(SIGTERM);
  EXPECT_EQ(example.process().WaitExit(Clock::now() + kExitBound), 0);
}

TEST(RuntimeExample, SecondSignalDuringDrainForcesExitWithCode2) {
  RunningExample example({"--shutdown.drain=30s"});
  ASSERT_TRUE(example.started());
  example.process().Signal(SIGTERM);
  ASSERT_TRUE(example.process().WaitForLine(
      [](const std::string& line) {
        return line.find("\"msg\":\"draining\"") != std::string::npos;
      },
      Clock::now() + kExitBound, example.lines()));
  const auto second = Clock::now();
  example.process().Signal(SIGINT);
  EXPECT_EQ(example.process().WaitExit(second + kExitBound), 2);
  EXPECT_LT(Clock::now() - second, std::chrono::seconds(2));
}

TEST(RuntimeExample, ShutdownDeadlineForcesExitWithCode2) {
  RunningExample example({"--shutdown.drain=30s", "--shutdown.timeout=300ms"});
  ASSERT_TRUE(example.started());
  const auto signalled = Clock::now();
  example.process().Signal(SIGTERM);
  EXPECT_EQ(example.process().WaitExit(signalled + kExitBound), 2);
  const auto took = Clock::now() - signalled;
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::seconds(2));
  example.DrainOutput(Clock::now() + std::chrono::seconds(2));
  bool logged = false;
  for (const auto& line : example.lines()) {
    logged |= line.find("shutdown deadline exceeded") != std::string::npos;
  }
  EXPECT_TRUE(logged);
}

TEST(RuntimeExample, BadConfigFailsStartupNamingSettingValueAndBound) {
  testing::Subprocess process({SOP_RUNTIME_EXAMPLE_PATH, "--grpc.port=70000"});
  const auto deadline = Clock::now() + kExitBound;
  auto line = process.ReadStderrLine(deadline);
  ASSERT_TRUE(line.has_value());
  auto parsed = ParseJsonObject(*line);
  ASSERT_TRUE(parsed.has_value()) << *line;
  EXPECT_EQ(StringField(*parsed, "level"), "error");
  const std::string error = StringField(*parsed, "error");
  EXPECT_NE(error.find("grpc.port"), std::string::npos) << error;
  EXPECT_NE(error.find("70000"), std::string::npos) << error;
  EXPECT_NE(error.find("65535"), std::string::npos) << error;
  EXPECT_EQ(process.WaitExit(deadline), 64);
}

TEST(RuntimeExample, HelpPrintsEverySettingAndExitsZero) {
  testing::Subprocess process({SOP_RUNTIME_EXAMPLE_PATH, "--help"});
  const auto deadline = Clock::now() + kExitBound;
  const std::string help = process.ReadAllStdout(deadline);
  for (const char* setting : {"--log.level=", "--grpc.host=", "--grpc.port=", "--grpc.tls.cert=",
                              "--grpc.tls.key=", "--metrics.host=", "--metrics.port=",
                              "--shutdown.drain=", "--shutdown.timeout=", "--kafka.<key>"}) {
    EXPECT_NE(help.find(setting), std::string::npos) << setting << "\n" << help;
  }
  EXPECT_NE(help.find("default: 50051"), std::string::npos);
  EXPECT_EQ(process.WaitExit(deadline), 0);
}

}  // namespace
}  // namespace sop::runtime
