// The capacity service end to end in one process: generated S-scale facts produced to
// sop.facts.v1 on the embedded broker, a real redis-server for the snapshots, a real gRPC
// channel for queries (and sopctl over it), and a plain consumer reading sop.capacity.v1. The
// reference is libs/codec + libs/planning (RoughCut) run directly on the same events.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "capacity_test_support.hpp"
#include "sop/bus/consumer.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/capacity/service.hpp"
#include "sop/planning/rough_cut.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/sopctl/command.hpp"
#include "sop/store/testing/redis_server.hpp"
#include "sop/v1/capacity.grpc.pb.h"

namespace sop::capacity {
namespace {

using namespace std::chrono_literals;
using testing::Direct;
using testing::FactBytes;
using testing::SEvents;

bus::KafkaConfig ClientConfig(const std::string& bootstrap) {
  // Short session and commit intervals: the mock broker waits a session timeout for members.
  return bus::KafkaConfig{{"bootstrap.servers", bootstrap},    {"session.timeout.ms", "4000"},
                          {"heartbeat.interval.ms", "200"},    {"auto.commit.interval.ms", "200"},
                          {"fetch.wait.max.ms", "50"},         {"reconnect.backoff.ms", "50"},
                          {"reconnect.backoff.max.ms", "500"}, {"log_level", "3"}};
}

// Whether `load` (complete rows) equals work center `id`'s rows in `capacity`.
bool SameLoad(const sop::v1::WorkCenterLoad& load, const model::Snapshot& snapshot,
              const planning::CapacityPlan& capacity) {
  const auto index = snapshot.work_center_ids.Find(load.work_center_id());
  if (!index) return false;
  const model::WorkCenterIndex wc(*index);
  const auto rows = capacity.Row(capacity.load_hours, wc);
  const auto available = capacity.Row(capacity.capacity_hours, wc);
  if (load.load_hours_size() != static_cast<int>(rows.size()) ||
      load.capacity_hours_size() != static_cast<int>(available.size())) {
    return false;
  }
  for (std::size_t t = 0; t < rows.size(); ++t) {
    if (std::abs(load.load_hours(static_cast<int>(t)) - rows[t]) > 1e-6 * std::max(1.0, rows[t]))
      return false;
    if (load.capacity_hours(static_cast<int>(t)) != available[t]) return false;
  }
  return load.first_overloaded_bucket() ==
         capacity.first_overloaded_bucket[static_cast<std::size_t>(*index)];
}

// Reads sop.capacity.v1 and keeps, per work center, the latest published rows; also every
// delta whose cause names an awaited event.
class CapacityReader {
 public:
  explicit CapacityReader(const std::string& bootstrap) {
    bus::ConsumerOptions options;
    options.group_id = "test-capacity-reader";
    options.topics = {std::string(bus::kCapacityTopic)};
    options.handler = [this](const bus::Message& message) -> Status {
      sop::v1::CapacityDelta delta;
      if (!delta.ParseFromString(message.value)) return Fail(Errc::kInvalidArgument, "not a delta");
      std::lock_guard lock(mutex_);
      EXPECT_EQ(message.key, std::optional<std::string>(delta.site_id()));
      for (const auto& wc : delta.work_centers()) latest_[wc.work_center_id()] = wc;
      deltas_.push_back(std::move(delta));
      changed_.notify_all();
      return {};
    };
    options.on_rejected = [](const bus::Message&, const Error&) -> Status { return {}; };
    auto consumer = bus::Consumer::Create(ClientConfig(bootstrap), std::move(options));
    EXPECT_TRUE(consumer.has_value());
    consumer_ = std::move(*consumer);
    EXPECT_TRUE(consumer_->Start().has_value());
  }
  ~CapacityReader() { consumer_->Stop(); }

  // Waits until the latest rows of every work center of `reference` equal its rough-cut.
  bool WaitForLoads(const planning::NettingEngine& reference, std::chrono::milliseconds timeout) {
    const auto capacity = planning::RoughCut(reference.snapshot(), reference.plan());
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      if (latest_.size() != reference.snapshot().work_centers.size()) return false;
      for (const auto& [id, load] : latest_) {
        if (!SameLoad(load, reference.snapshot(), capacity)) return false;
      }
      return true;
    });
  }
  std::vector<sop::v1::CapacityDelta> WaitForCause(const std::string& event_id,
                                                   std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    auto matching = [&] {
      std::vector<sop::v1::CapacityDelta> out;
      for (const auto& d : deltas_) {
        if (d.cause().event_id() == event_id) out.push_back(d);
      }
      return out;
    };
    changed_.wait_for(lock, timeout, [&] { return !matching().empty(); });
    return matching();
  }
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return deltas_.size();
  }

 private:
  std::unique_ptr<bus::Consumer> consumer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, sop::v1::WorkCenterLoad> latest_;
  std::vector<sop::v1::CapacityDelta> deltas_;
};

class CapacityServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = 6});
    ASSERT_TRUE(broker.has_value()) << broker.error().ToString();
    broker_ = std::move(*broker);
    ASSERT_TRUE(redis_.Start().has_value());
    auto producer =
        bus::Producer::Create(bus::KafkaConfig{{"bootstrap.servers", broker_->bootstrap_servers()},
                                               {"linger.ms", "5"},
                                               {"compression.type", "lz4"}});
    ASSERT_TRUE(producer.has_value());
    producer_ = std::move(*producer);
  }

  std::unique_ptr<CapacityService> StartService() {
    host::HostOptions options;
    options.service = "capacity";
    options.kafka = ClientConfig(broker_->bootstrap_servers());
    options.group_id = "sop-capacity-test";
    options.redis = redis_.StoreOptions();
    options.redis.command_timeout = 5s;  // a snapshot carries a partition's facts
    options.instance = "capacity-test";
    options.batch_quiet = 150ms;
    options.batch_max = 3s;
    options.snapshot_retry = 200ms;
    options.health_interval = 200ms;
    auto service = CapacityService::Start(std::move(options), {}, logger_, metrics_);
    EXPECT_TRUE(service.has_value()) << service.error().ToString();
    return service ? std::move(*service) : nullptr;
  }

  // Produces `events` as Facts keyed by site (sequence numbers from `first`).
  void Produce(const std::vector<sop::v1::Envelope>& events, std::int64_t first = 0) {
    std::atomic<int> failures{0};
    std::int64_t sequence = first;
    for (const auto& envelope : events) {
      bus::OutgoingMessage message;
      message.topic = std::string(bus::kFactsTopic);
      message.key = envelope.site();
      message.value = FactBytes(envelope, sequence++);
      producer_->Send(std::move(message), [&failures](Result<bus::DeliveryReport> report) {
        if (!report) ++failures;
      });
    }
    ASSERT_TRUE(producer_->Flush(30s).has_value());
    ASSERT_EQ(failures.load(), 0);
  }

  static bool Settled(CapacityService& service, std::int64_t applied,
                      std::chrono::milliseconds timeout = 60s) {
    return service.host().WaitFor(
        [&](const host::HostProgress& p) { return p.applied >= applied && !p.pending; }, timeout);
  }

  runtime::Logger logger_{"sop-capacity-test", runtime::LogLevel::kWarn};
  runtime::MetricsRegistry metrics_;
  std::unique_ptr<bus::EmbeddedBroker> broker_;
  store_testing::RedisServer redis_;
  std::unique_ptr<bus::Producer> producer_;
};

int RunSopctl(const std::vector<std::string>& args, std::string& out, std::string& err) {
  std::ostringstream o, e;
  const int code = sopctl::RunCli(args, o, e);
  out = o.str();
  err = e.str();
  return code;
}

TEST_F(CapacityServiceTest, PublishesAndServesTheLibrarysLoadsAndReplansAChangedOrder) {
  const auto& events = SEvents();
  CapacityReader reader(broker_->bootstrap_servers());
  auto service = StartService();
  ASSERT_NE(service, nullptr);
  Produce(events);
  ASSERT_TRUE(Settled(*service, static_cast<std::int64_t>(events.size())))
      << "applied " << service->host().progress().applied << " of " << events.size();

  const auto reference = Direct(events);
  const auto& snapshot = reference->snapshot();
  const auto capacity = planning::RoughCut(snapshot, reference->plan());
  EXPECT_TRUE(reader.WaitForLoads(*reference, 30s));

  // GetLoad over a real gRPC channel equals the library, for every work center of every site.
  runtime::GrpcServerOptions grpc_options;
  grpc_options.host = "127.0.0.1";
  grpc_options.port = 0;
  auto server = runtime::GrpcServer::Builder(grpc_options, logger_, metrics_)
                    .AddService(service->grpc_services().front())
                    .Start();
  ASSERT_TRUE(server.has_value()) << server.error().ToString();
  const std::string address = "127.0.0.1:" + std::to_string((*server)->port());
  auto stub =
      sop::v1::Capacity::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  std::size_t served = 0;
  std::string plant;
  for (const auto& site : snapshot.sites) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    sop::v1::GetLoadRequest request;
    request.set_site_id(site.id);
    sop::v1::GetLoadResponse response;
    const grpc::Status status = stub->GetLoad(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_GT(response.plan_version(), 0);
    for (const auto& wc : response.work_centers()) {
      EXPECT_TRUE(SameLoad(wc, snapshot, capacity)) << wc.work_center_id();
      ++served;
      if (plant.empty()) plant = site.id;
    }
  }
  EXPECT_EQ(served, snapshot.work_centers.size());
  {
    grpc::ClientContext context;
    sop::v1::GetLoadRequest request;
    request.set_site_id("NO-SUCH-SITE");
    sop::v1::GetLoadResponse response;
    const grpc::Status status = stub->GetLoad(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(status.error_message().find("NO-SUCH-SITE"), std::string::npos);
  }
  {
    grpc::ClientContext context;
    sop::v1::EvaluateScenariosRequest request;
    auto* scenario = request.add_scenarios();
    scenario->set_name("bad");
    scenario->add_overrides()->mutable_demand_multiplier()->set_multiplier(-1.0);
    sop::v1::EvaluateScenariosResponse response;
    const grpc::Status status = stub->EvaluateScenarios(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(),
              "scenarios[0].overrides[0].demand_multiplier.multiplier: must be a finite number "
              ">= 0, got '-1'");
  }

  // sopctl over the same channel: the load table and the scenarios side by side.
  {
    std::string out, err;
    EXPECT_EQ(RunSopctl({"--capacity", address, "load", plant}, out, err), 0) << err;
    EXPECT_NE(out.find(snapshot.work_centers[0].id), std::string::npos) << out;
    EXPECT_NE(out.find("overloaded buckets"), std::string::npos) << out;
    EXPECT_EQ(RunSopctl({"--capacity", address, "load", plant, "--json"}, out, err), 0) << err;
    EXPECT_EQ(out.front(), '{');
    EXPECT_NE(out.find("\"load_hours\""), std::string::npos);
    EXPECT_EQ(RunSopctl({"--capacity", address, "load", "NO-SUCH-SITE"}, out, err), 1);
    EXPECT_NE(err.find("sopctl load: GetLoad at " + address + " failed"), std::string::npos) << err;

    const std::string file = ::testing::TempDir() + "capacity_scenarios.json";
    std::ofstream(file) << "[{\"name\": \"overtime\", \"overrides\": [{\"extra_capacity\": "
                           "{\"work_center_id\": \""
                        << snapshot.work_centers[0].id
                        << "\", \"hours_per_bucket\": 8, \"pay_only_used\": true}}]}]";
    EXPECT_EQ(RunSopctl({"--capacity", address, "scenarios", file}, out, err), 0) << err;
    EXPECT_NE(out.find("overtime"), std::string::npos) << out;
    EXPECT_NE(out.find("gross margin"), std::string::npos) << out;
    std::ofstream(file) << "[{\"name\": \"\", \"overrides\": []}]";
    EXPECT_EQ(RunSopctl({"--capacity", address, "scenarios", file}, out, err), 1);
    EXPECT_NE(err.find("scenarios[0].name: must not be empty"), std::string::npos) << err;
    std::remove(file.c_str());
  }

  // A sales order of a routed item grows: the delta names its event and carries the library's
  // numbers for the changed work centers only.
  sop::v1::Envelope changed;
  for (const auto& e : events) {
    if (!e.has_sales_order() || e.sales_order().quantity() <= 0) continue;
    const auto i = snapshot.FindItemSite(e.sales_order().item_id(), e.sales_order().site_id());
    if (i && !snapshot.Routing(*i).empty()) {
      changed = e;
      break;
    }
  }
  ASSERT_TRUE(changed.has_sales_order());
  changed.set_event_id("test:so-change:1");
  changed.mutable_sales_order()->set_quantity(changed.sales_order().quantity() + 500.0);
  Produce({changed}, 1'000'000);
  auto deltas = reader.WaitForCause("test:so-change:1", 30s);
  ASSERT_FALSE(deltas.empty());
  auto events_after = events;
  events_after.push_back(changed);
  const auto after = Direct(events_after);
  const auto capacity_after = planning::RoughCut(after->snapshot(), after->plan());
  std::size_t changed_work_centers = 0;
  for (const auto& delta : deltas) {
    EXPECT_FALSE(delta.full());
    for (const auto& wc : delta.work_centers()) {
      ++changed_work_centers;
      EXPECT_TRUE(SameLoad(wc, after->snapshot(), capacity_after)) << wc.work_center_id();
      EXPECT_GT(wc.changed_buckets_size(), 0);
      // Exactly the buckets whose load differs from before the change.
      const auto w = model::WorkCenterIndex(*snapshot.work_center_ids.Find(wc.work_center_id()));
      const auto before_row = capacity.Row(capacity.load_hours, w);
      for (int t : wc.changed_buckets()) {
        EXPECT_NE(wc.load_hours(t), before_row[static_cast<std::size_t>(t)]);
      }
    }
  }
  EXPECT_GE(changed_work_centers, 1u);
  EXPECT_LT(changed_work_centers, snapshot.work_centers.size());
  EXPECT_TRUE(reader.WaitForLoads(*after, 30s));

  const std::string metrics = metrics_.SerializeText();
  EXPECT_NE(
      metrics.find("sop_capacity_work_centers " + std::to_string(snapshot.work_centers.size())),
      std::string::npos);
  EXPECT_NE(metrics.find("sop_capacity_rough_cut_seconds"), std::string::npos);
  (*server)->Shutdown(2s);
  service->Stop();
}

TEST_F(CapacityServiceTest, RestartRestoresFromRedisAndReplaysOnlyWhatCameAfter) {
  const auto& events = SEvents();
  const std::size_t half = events.size() / 2;
  const std::vector<sop::v1::Envelope> first(events.begin(),
                                             events.begin() + static_cast<std::ptrdiff_t>(half));
  const std::vector<sop::v1::Envelope> second(events.begin() + static_cast<std::ptrdiff_t>(half),
                                              events.end());
  Produce(first);
  {
    auto a = StartService();
    ASSERT_NE(a, nullptr);
    ASSERT_TRUE(Settled(*a, static_cast<std::int64_t>(first.size())));
    EXPECT_GT(a->host().progress().snapshots, 0);
    a->Stop();  // orderly: the last batch is snapshotted with its offsets
  }
  Produce(second, static_cast<std::int64_t>(half));
  // Re-delivered events (the first 500 again, same event ids) change nothing.
  Produce(std::vector<sop::v1::Envelope>(events.begin(), events.begin() + 500), 0);
  bus::OutgoingMessage garbage;
  garbage.topic = std::string(bus::kFactsTopic);
  garbage.key = "P1";
  garbage.value = "\xff\xff not a fact";
  ASSERT_TRUE(producer_->SendSync(std::move(garbage), 10s).has_value());

  CapacityReader reader(broker_->bootstrap_servers());
  auto b = StartService();
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->host().WaitFor(
      [&](const host::HostProgress& p) {
        return p.applied == static_cast<std::int64_t>(second.size()) && p.duplicates == 500 &&
               p.dead_lettered == 1 && !p.pending;
      },
      60s))
      << "applied " << b->host().progress().applied << ", duplicates "
      << b->host().progress().duplicates << ", dead-lettered "
      << b->host().progress().dead_lettered;
  const auto progress = b->host().progress();
  EXPECT_GT(progress.restored_partitions, 0);

  // The restored replica holds every fact once and publishes the library's loads in full.
  const auto reference = Direct(events);
  EXPECT_TRUE(reader.WaitForLoads(*reference, 30s));
  const auto stats = b->WithState([](const CapacityState& s) { return s.stats(); });
  EXPECT_EQ(stats.facts, static_cast<std::int64_t>(events.size()));
  const auto capacity = planning::RoughCut(reference->snapshot(), reference->plan());
  for (const auto& site : reference->snapshot().sites) {
    sop::v1::GetLoadRequest request;
    request.set_site_id(site.id);
    auto served = b->api().Load(request);
    ASSERT_TRUE(served.has_value()) << served.error().ToString();
    for (const auto& wc : served->work_centers()) {
      EXPECT_TRUE(SameLoad(wc, reference->snapshot(), capacity)) << wc.work_center_id();
    }
  }
  b->Stop();
}

}  // namespace
}  // namespace sop::capacity
