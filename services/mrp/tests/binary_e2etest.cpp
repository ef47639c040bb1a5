// The sop-mrp binary as a process: started against the embedded broker and a real
// redis-server, fed the generated facts, queried over gRPC, stopped with SIGTERM: exit 0 and
// the state snapshotted in Redis.

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

#include "mrp_test_support.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/store/redis_store.hpp"
#include "sop/store/testing/redis_server.hpp"
#include "sop/v1/mrp.grpc.pb.h"

extern char** environ;

namespace sop::mrp {
namespace {

using namespace std::chrono_literals;
using namespace sop::mrp::testing;
using Clock = std::chrono::steady_clock;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(MrpBinary, ServesThePlanAndSnapshotsOnSigterm) {
  auto broker = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = 6});
  ASSERT_TRUE(broker.has_value());
  store_testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().has_value());

  const auto log_path = redis.directory() / "sop-mrp.log";
  std::vector<std::string> args = {SOP_MRP_BINARY,
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
  ASSERT_EQ(posix_spawn(&pid, SOP_MRP_BINARY, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);

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

  auto producer = bus::Producer::Create(
      bus::KafkaConfig{{"bootstrap.servers", (*broker)->bootstrap_servers()}, {"linger.ms", "5"}});
  ASSERT_TRUE(producer.has_value());
  const auto& events = Events();
  for (std::size_t i = 0; i < events.size(); ++i) {
    bus::OutgoingMessage message;
    message.topic = std::string(bus::kFactsTopic);
    message.key = events[i].site();
    message.value = FactBytes(events[i], static_cast<std::int64_t>(i));
    (*producer)->Send(std::move(message), [](Result<bus::DeliveryReport>) {});
  }
  ASSERT_TRUE((*producer)->Flush(30s).has_value());

  // Poll GetPlan (against a deadline) until the replica has planned the last facts.
  const auto expected = Direct(events);
  const auto& snapshot = expected->snapshot();
  auto stub = sop::v1::Mrp::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  const std::size_t probe = snapshot.item_site_count() - 1;
  sop::v1::GetPlanRequest request;
  request.set_item_id(snapshot.item_sites[probe].item_id);
  request.set_site_id(
      snapshot.sites[static_cast<std::size_t>(snapshot.item_sites[probe].site.value())].id);
  sop::v1::ReplanResponse replanned;
  bool served = false;
  for (auto deadline = Clock::now() + 60s; Clock::now() < deadline && !served;) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    sop::v1::GetPlanResponse response;
    if (stub->GetPlan(&context, request, &response).ok()) {
      grpc::ClientContext replan_context;
      sop::v1::ReplanRequest replan;
      replan.set_requested_by("e2e");
      served = stub->Replan(&replan_context, replan, &replanned).ok() &&
               replanned.planned_orders() ==
                   static_cast<std::int64_t>(expected->plan().PlannedOrderCount());
    }
    if (!served) std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(served) << "planned orders " << replanned.planned_orders() << " of "
                      << expected->plan().PlannedOrderCount();

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << ReadFile(log_path);
  EXPECT_EQ(WEXITSTATUS(status), 0) << ReadFile(log_path);

  // Every partition that received facts has a snapshot with its consumed offset.
  store::RedisStore store(redis.StoreOptions());
  int snapshots = 0;
  for (int partition = 0; partition < 6; ++partition) {
    auto stored = store.GetSnapshot("mrp/sop.facts.v1/" + std::to_string(partition));
    ASSERT_TRUE(stored.has_value());
    if (!*stored) continue;
    ++snapshots;
    ASSERT_EQ((*stored)->offsets.size(), 1u);
    EXPECT_GT((*stored)->offsets[0].next_offset, 0);
  }
  EXPECT_GT(snapshots, 0);
}

}  // namespace
}  // namespace sop::mrp
