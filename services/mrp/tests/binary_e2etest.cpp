// The sop-mrp binary as a process: started against the embedded broker and a real
// redis-server, fed the generated facts, queried over gRPC, stopped with SIGTERM: exit 0 and
// the state snapshotted in Redis. Killed with SIGKILL mid-stream and restarted: the same plan
// as an uninterrupted run. Two replicas in one group: the sites split; each site's plan equals
// the one-replica plan where the sites it supplies by transfer are on the same replica.

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
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
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

// One sop-mrp process; SIGKILLed by the destructor if still running.
class MrpProcess {
 public:
  MrpProcess(const std::string& bootstrap, int redis_port, std::filesystem::path log_path,
             std::string instance = "mrp-0")
      : log_path_(std::move(log_path)) {
    std::vector<std::string> args = {SOP_MRP_BINARY,
                                     "--kafka.bootstrap.servers=" + bootstrap,
                                     "--kafka.session.timeout.ms=4000",
                                     "--kafka.heartbeat.interval.ms=200",
                                     "--kafka.auto.commit.interval.ms=200",
                                     "--kafka.fetch.wait.max.ms=50",
                                     "--kafka.log_level=3",
                                     "--redis.port=" + std::to_string(redis_port),
                                     "--service.instance=" + instance,
                                     "--grpc.host=127.0.0.1",
                                     "--grpc.port=0",
                                     "--metrics.host=127.0.0.1",
                                     "--metrics.port=0"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid_, SOP_MRP_BINARY, &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~MrpProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // The gRPC port from the start-up log line (0 if it did not come within 10 s).
  int WaitForPort() {
    const std::regex listening("\"msg\":\"listening\",\"grpc_port\":([0-9]+)");
    for (auto deadline = Clock::now() + 10s; Clock::now() < deadline && port_ == 0;) {
      std::smatch match;
      const std::string log = ReadFile(log_path_);
      if (std::regex_search(log, match, listening))
        port_ = std::stoi(match[1]);
      else
        std::this_thread::sleep_for(20ms);  // polling a file against a deadline
    }
    if (port_ > 0) {
      stub_ = sop::v1::Mrp::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                                        grpc::InsecureChannelCredentials()));
    }
    return port_;
  }
  // SIGKILL: no final snapshot, no commit, no goodbye.
  void Kill() {
    ASSERT_EQ(kill(pid_, SIGKILL), 0);
    ASSERT_EQ(waitpid(pid_, nullptr, 0), pid_);
    pid_ = -1;
  }
  // SIGTERM; the exit status.
  int Terminate() {
    if (kill(pid_, SIGTERM) != 0) return -1;
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string Log() const { return ReadFile(log_path_); }
  sop::v1::Mrp::Stub& stub() { return *stub_; }

  grpc::Status GetPlan(const std::string& item, const std::string& site,
                       sop::v1::GetPlanResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    sop::v1::GetPlanRequest request;
    request.set_item_id(item);
    request.set_site_id(site);
    return stub_->GetPlan(&context, request, response);
  }

 private:
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::unique_ptr<sop::v1::Mrp::Stub> stub_;
};

// Produces events [begin, end) of the generated stream as Facts keyed by site.
void ProduceFacts(bus::Producer& producer, std::size_t begin, std::size_t end) {
  const auto& events = Events();
  for (std::size_t i = begin; i < end; ++i) {
    bus::OutgoingMessage message;
    message.topic = std::string(bus::kFactsTopic);
    message.key = events[i].site();
    message.value = FactBytes(events[i], static_cast<std::int64_t>(i));
    producer.Send(std::move(message), [](Result<bus::DeliveryReport> report) {
      EXPECT_TRUE(report.has_value()) << report.error().ToString();
    });
  }
  ASSERT_TRUE(producer.Flush(30s).has_value());
}

// Item-sites (every `step`-th) whose record, asked of whichever replica serves the site,
// differs from the reference; -1 when an item-site is served by no replica.
int PlanMismatches(std::span<MrpProcess* const> replicas, const planning::NettingEngine& expected,
                   std::size_t step, std::vector<std::string>* sample = nullptr) {
  const auto& snapshot = expected.snapshot();
  int mismatches = 0;
  for (std::size_t i = 0; i < snapshot.item_site_count(); i += step) {
    const auto& is = snapshot.item_sites[i];
    const std::string& site = snapshot.sites[static_cast<std::size_t>(is.site.value())].id;
    bool matched = false;
    bool served = false;
    for (MrpProcess* replica : replicas) {
      sop::v1::GetPlanResponse response;
      if (!replica->GetPlan(is.item_id, site, &response).ok()) continue;
      served = true;
      if (RecordMatches(response.plan(), expected.plan(),
                        model::ItemSiteIndex(static_cast<std::int32_t>(i)))) {
        matched = true;
      }
    }
    if (!served && replicas.size() == 1) return -1;
    if (!matched) {
      ++mismatches;
      if (sample != nullptr && sample->size() < 5) sample->push_back(is.item_id + "@" + site);
    }
  }
  return mismatches;
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

TEST(MrpBinary, SigkillMidStreamThenRestartGivesThePlanOfAnUninterruptedRun) {
  auto broker = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = 6});
  ASSERT_TRUE(broker.has_value());
  store_testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().has_value());
  auto producer = bus::Producer::Create(
      bus::KafkaConfig{{"bootstrap.servers", (*broker)->bootstrap_servers()}, {"linger.ms", "5"}});
  ASSERT_TRUE(producer.has_value());
  const auto& events = Events();
  const std::size_t first = events.size() * 6 / 10;
  const std::size_t second = events.size() * 8 / 10;

  auto killed = std::make_unique<MrpProcess>((*broker)->bootstrap_servers(), redis.port(),
                                             redis.directory() / "sop-mrp-killed.log");
  ASSERT_GT(killed->WaitForPort(), 0) << killed->Log();
  ProduceFacts(**producer, 0, first);
  // Wait (against a deadline) until the first part is snapshotted in Redis ...
  store::RedisStore store(redis.StoreOptions());
  // Facts held by the snapshots ('F' records of the partition state). Not the offsets: mrp
  // publishes TransferDemand facts to sop.facts.v1 too (kept per key, not as 'F' records).
  auto snapshotted = [&] {
    std::int64_t facts = 0;
    for (int partition = 0; partition < 6; ++partition) {
      auto stored = store.GetSnapshot("mrp/sop.facts.v1/" + std::to_string(partition));
      if (!stored || !*stored) continue;
      const std::string& state = (*stored)->state;
      std::size_t pos = state.find('\n');
      if (pos == std::string::npos) continue;
      for (++pos; pos + 5 <= state.size();) {
        std::uint32_t length = 0;
        for (int k = 0; k < 4; ++k) {
          length |= static_cast<std::uint32_t>(
                        static_cast<unsigned char>(state[pos + 1 + static_cast<std::size_t>(k)]))
                    << (8 * k);
        }
        if (state[pos] == 'F') ++facts;
        pos += 5 + length;
      }
    }
    return facts;
  };
  for (auto deadline = Clock::now() + 60s;
       Clock::now() < deadline && snapshotted() < static_cast<std::int64_t>(first);) {
    std::this_thread::sleep_for(100ms);  // polling Redis against a deadline
  }
  ASSERT_EQ(snapshotted(), static_cast<std::int64_t>(first)) << killed->Log();
  // ... then feed the second part and kill the process while it consumes it.
  ProduceFacts(**producer, first, second);
  killed->Kill();
  const std::int64_t at_kill = snapshotted();
  EXPECT_GE(at_kill, static_cast<std::int64_t>(first));
  EXPECT_LE(at_kill, static_cast<std::int64_t>(second));
  std::cout << "[ info ] facts covered by snapshots at SIGKILL: " << at_kill << " (fed " << second
            << ")\n";

  MrpProcess restarted((*broker)->bootstrap_servers(), redis.port(),
                       redis.directory() / "sop-mrp-restarted.log");
  ASSERT_GT(restarted.WaitForPort(), 0) << restarted.Log();
  ProduceFacts(**producer, second, events.size());
  ProduceFacts(**producer, 0, 500);  // re-delivered facts (same event ids) change nothing

  const auto expected = Direct(events);
  MrpProcess* replicas[] = {&restarted};
  int mismatches = -1;
  std::vector<std::string> sample;
  for (auto deadline = Clock::now() + 90s; Clock::now() < deadline && mismatches != 0;) {
    sample.clear();
    mismatches = PlanMismatches(replicas, *expected, 41, &sample);
    if (mismatches != 0) std::this_thread::sleep_for(200ms);  // polling gRPC against a deadline
  }
  ASSERT_EQ(mismatches, 0) << (sample.empty() ? "" : sample[0]) << "\n" << restarted.Log();
  // Every item-site, not only the sample.
  EXPECT_EQ(PlanMismatches(replicas, *expected, 1), 0);
  grpc::ClientContext context;
  sop::v1::ReplanRequest replan;
  replan.set_requested_by("e2e");
  sop::v1::ReplanResponse replanned;
  ASSERT_TRUE(restarted.stub().Replan(&context, replan, &replanned).ok());
  EXPECT_EQ(replanned.planned_orders(),
            static_cast<std::int64_t>(expected->plan().PlannedOrderCount()));
  EXPECT_NE(restarted.Log().find("\"msg\":\"partition restored\""), std::string::npos);
  EXPECT_EQ(restarted.Terminate(), 0);
}

TEST(MrpBinary, TwoReplicasSplitTheSitesAndTogetherPlanLikeOne) {
  auto broker = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = 6});
  ASSERT_TRUE(broker.has_value());
  store_testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().has_value());
  auto producer = bus::Producer::Create(
      bus::KafkaConfig{{"bootstrap.servers", (*broker)->bootstrap_servers()}, {"linger.ms", "5"}});
  ASSERT_TRUE(producer.has_value());
  const auto& events = Events();

  MrpProcess a((*broker)->bootstrap_servers(), redis.port(), redis.directory() / "sop-mrp-a.log",
               "mrp-a");
  MrpProcess b((*broker)->bootstrap_servers(), redis.port(), redis.directory() / "sop-mrp-b.log",
               "mrp-b");
  ASSERT_GT(a.WaitForPort(), 0) << a.Log();
  ASSERT_GT(b.WaitForPort(), 0) << b.Log();
  ProduceFacts(**producer, 0, events.size());

  const auto expected = Direct(events);
  const auto& snapshot = expected->snapshot();
  // Wait (against a deadline) until both replicas plan and every site is served by one.
  std::map<std::string, MrpProcess*> owner;
  auto find_owners = [&] {
    owner.clear();
    bool split = true;
    for (const auto& site : snapshot.sites) {
      auto supply = [&](MrpProcess& replica) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + 5s);
        sop::v1::GetSupplyPlanRequest request;
        request.set_site_id(site.id);
        sop::v1::GetSupplyPlanResponse response;
        return replica.stub().GetSupplyPlan(&context, request, &response).ok();
      };
      const bool on_a = supply(a);
      const bool on_b = supply(b);
      if (on_a == on_b) split = false;
      if (on_a && !on_b) owner[site.id] = &a;
      if (on_b && !on_a) owner[site.id] = &b;
    }
    return split;
  };
  bool split = false;
  for (auto deadline = Clock::now() + 60s; Clock::now() < deadline && !split;) {
    split = find_owners();
    if (!split) std::this_thread::sleep_for(200ms);  // polling gRPC against a deadline
  }
  ASSERT_TRUE(split) << "every site must be planned by exactly one replica";
  int sites_a = 0;
  for (const auto& [site, replica] : owner) sites_a += replica == &a ? 1 : 0;
  EXPECT_GT(sites_a, 0);
  EXPECT_LT(sites_a, static_cast<int>(snapshot.sites.size()));

  // A site's plan depends on the sites it supplies by transfer (their planned transfers are its
  // transfer demand): across replicas it arrives as TransferDemand facts on sop.facts.v1, so
  // every item-site, whichever replica plans it, equals the one-replica plan.
  // Transfer edges whose two sites are planned by different replicas (the path under test).
  int crossing = 0;
  for (const auto& is : snapshot.item_sites) {
    if (is.kind == model::ItemKind::kTransfer && is.source_site != model::kNoSite &&
        owner[snapshot.sites[static_cast<std::size_t>(is.source_site.value())].id] !=
            owner[snapshot.sites[static_cast<std::size_t>(is.site.value())].id]) {
      ++crossing;
    }
  }
  int compared = 0;
  auto mismatches_of = [&](std::size_t step, std::vector<std::string>* sample) {
    int mismatches = 0;
    compared = 0;
    for (std::size_t i = 0; i < snapshot.item_site_count(); i += step) {
      const auto& is = snapshot.item_sites[i];
      const std::string& site = snapshot.sites[static_cast<std::size_t>(is.site.value())].id;
      ++compared;
      sop::v1::GetPlanResponse response;
      if (!owner[site]->GetPlan(is.item_id, site, &response).ok() ||
          !RecordMatches(response.plan(), expected->plan(),
                         model::ItemSiteIndex(static_cast<std::int32_t>(i)))) {
        ++mismatches;
        if (sample != nullptr && sample->size() < 5) sample->push_back(is.item_id + "@" + site);
      }
    }
    return mismatches;
  };
  int mismatches = -1;
  std::vector<std::string> sample;
  for (auto deadline = Clock::now() + 90s; Clock::now() < deadline && mismatches != 0;) {
    sample.clear();
    mismatches = mismatches_of(41, &sample);
    if (mismatches != 0) std::this_thread::sleep_for(200ms);  // polling gRPC against a deadline
  }
  EXPECT_EQ(mismatches, 0) << (sample.empty() ? "" : sample[0]);
  EXPECT_EQ(mismatches_of(1, &sample), 0) << (sample.empty() ? "" : sample[0]);
  EXPECT_EQ(compared, static_cast<int>(snapshot.item_site_count()));
  MrpProcess* replicas[] = {&a, &b};
  EXPECT_EQ(PlanMismatches(replicas, *expected, 1), 0);
  std::cout << "[ info ] sites on replica a: " << sites_a << " of " << snapshot.sites.size()
            << "; transfer item-sites whose supplier is on the other replica: " << crossing << "\n";
  EXPECT_EQ(a.Terminate(), 0);
  EXPECT_EQ(b.Terminate(), 0);
  if (crossing == 0) GTEST_SKIP() << "no transfer edge crosses the replicas in this split";
}

TEST(MrpBinary, HealthFollowsRedisAndTheBroker) {
  auto broker = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = 6});
  ASSERT_TRUE(broker.has_value());
  store_testing::RedisServer redis;
  ASSERT_TRUE(redis.Start().has_value());
  MrpProcess mrp((*broker)->bootstrap_servers(), redis.port(), redis.directory() / "sop-mrp.log");
  const int port = mrp.WaitForPort();
  ASSERT_GT(port, 0) << mrp.Log();
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  auto status_of = [&](const std::string& service) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 2s);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    if (!health->Check(&context, request, &response).ok()) {
      return grpc::health::v1::HealthCheckResponse::UNKNOWN;
    }
    return response.status();
  };
  auto becomes = [&](grpc::health::v1::HealthCheckResponse::ServingStatus want) {
    for (auto deadline = Clock::now() + 20s; Clock::now() < deadline;) {
      if (status_of("") == want && status_of("sop.v1.Mrp") == want) return true;
      std::this_thread::sleep_for(100ms);  // polling health against a deadline
    }
    return false;
  };
  using grpc::health::v1::HealthCheckResponse;
  EXPECT_TRUE(becomes(HealthCheckResponse::SERVING));
  ASSERT_TRUE(redis.Stop().has_value());
  EXPECT_TRUE(becomes(HealthCheckResponse::NOT_SERVING)) << "redis down";
  ASSERT_TRUE(redis.Start().has_value());
  EXPECT_TRUE(becomes(HealthCheckResponse::SERVING)) << "redis back";
  ASSERT_TRUE((*broker)->SetBrokerDown(1).has_value());
  EXPECT_TRUE(becomes(HealthCheckResponse::NOT_SERVING)) << "broker down";
  ASSERT_TRUE((*broker)->SetBrokerUp(1).has_value());
  EXPECT_TRUE(becomes(HealthCheckResponse::SERVING)) << "broker back";
  EXPECT_EQ(mrp.Terminate(), 0) << mrp.Log();
}

}  // namespace
}  // namespace sop::mrp
