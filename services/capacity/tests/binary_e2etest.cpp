// The sop-capacity binary as a process: started against the embedded broker and a real
// redis-server, fed the generated facts, queried over gRPC (health and GetLoad), stopped with
// SIGTERM: exit 0 and the state snapshotted in Redis with its offsets.

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "capacity_test_support.hpp"
#include "grpc/health/v1/health.grpc.pb.h"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/store/redis_store.hpp"
#include "sop/store/testing/redis_server.hpp"
#include "sop/v1/capacity.grpc.pb.h"

extern char** environ;

namespace sop::capacity {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(CapacityBinary, ServesTheLibrarysLoadsAndSnapshotsOnSigterm) {
  auto broker = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = 6});
  ASSERT_TRUE(broker.has_value());
  store_testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().has_value());

  const auto log_path = redis.directory() / "sop-capacity.log";
  std::vector<std::string> args = {SOP_CAPACITY_BINARY,
                                   "--kafka.bootstrap.servers=" + (*broker)->bootstrap_servers(),
                                   "--kafka.session.timeout.ms=4000",
                                   "--kafka.heartbeat.interval.ms=200",
                                   "--kafka.fetch.wait.max.ms=50",
                                   "--kafka.log_level=3",
                                   "--redis.port=" + std::to_string(redis.port()),
                                   "--grpc.host=127.0.0.1",
                                   "--grpc.port=0",
                                   "--metrics.host=127.0.0.1",
                                   "--metrics.port=0"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, SOP_CAPACITY_BINARY, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  struct Reaper {  // a failed assertion must not leave the process behind
    pid_t pid;
    ~Reaper() {
      if (pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } reaper{pid};

  // The start-up log line names the chosen gRPC port.
  const std::regex listening("\"msg\":\"listening\",\"grpc_port\":([0-9]+)");
  int port = 0;
  for (auto deadline = Clock::now() + 10s; Clock::now() < deadline && port == 0;) {
    std::smatch match;
    const std::string log = ReadFile(log_path);
    if (std::regex_search(log, match, listening))
      port = std::stoi(match[1]);
    else
      std::this_thread::sleep_for(20ms);  // polling a file against a deadline
  }
  ASSERT_GT(port, 0) << ReadFile(log_path);
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  {
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service("sop.v1.Capacity");
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }

  auto producer = bus::Producer::Create(
      bus::KafkaConfig{{"bootstrap.servers", (*broker)->bootstrap_servers()}, {"linger.ms", "5"}});
  ASSERT_TRUE(producer.has_value());
  const auto& events = testing::SEvents();
  for (std::size_t i = 0; i < events.size(); ++i) {
    bus::OutgoingMessage message;
    message.topic = std::string(bus::kFactsTopic);
    message.key = events[i].site();
    message.value = testing::FactBytes(events[i], static_cast<std::int64_t>(i));
    (*producer)->Send(std::move(message), [](Result<bus::DeliveryReport>) {});
  }
  ASSERT_TRUE((*producer)->Flush(30s).has_value());

  // Poll GetLoad (against a deadline) until the replica serves the library's total load.
  const auto expected = testing::Direct(events);
  const auto& snapshot = expected->snapshot();
  const auto capacity = planning::RoughCut(snapshot, expected->plan());
  double expected_total = 0.0;
  for (double v : capacity.load_hours) expected_total += v;
  auto stub = sop::v1::Capacity::NewStub(channel);
  double served_total = 0.0;
  for (auto deadline = Clock::now() + 60s; Clock::now() < deadline;) {
    served_total = 0.0;
    bool all = true;
    for (const auto& site : snapshot.sites) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      sop::v1::GetLoadRequest request;
      request.set_site_id(site.id);
      sop::v1::GetLoadResponse response;
      if (!stub->GetLoad(&context, request, &response).ok()) {
        all = false;
        break;
      }
      for (const auto& wc : response.work_centers())
        for (double v : wc.load_hours()) served_total += v;
    }
    if (all && std::abs(served_total - expected_total) <= 1e-6 * expected_total) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_NEAR(served_total, expected_total, 1e-6 * expected_total);

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  reaper.pid = -1;
  ASSERT_TRUE(WIFEXITED(status)) << ReadFile(log_path);
  EXPECT_EQ(WEXITSTATUS(status), 0) << ReadFile(log_path);

  // Every partition that received facts has a snapshot with its consumed offset.
  store::RedisStore store(redis.StoreOptions());
  int snapshots = 0;
  for (int partition = 0; partition < 6; ++partition) {
    auto stored = store.GetSnapshot("capacity/sop.facts.v1/" + std::to_string(partition));
    ASSERT_TRUE(stored.has_value());
    if (!*stored) continue;
    ++snapshots;
    ASSERT_FALSE((*stored)->offsets.empty());
    EXPECT_GT((*stored)->offsets[0].next_offset, 0);
  }
  EXPECT_GT(snapshots, 0);
}

}  // namespace
}  // namespace sop::capacity
