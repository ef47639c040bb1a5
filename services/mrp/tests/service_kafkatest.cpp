// The mrp service end to end in one process: generated S-scale facts produced to sop.facts.v1 on
// the embedded broker, a real redis-server for the snapshots, a real gRPC channel for queries,
// and a plain consumer reading sop.plan.v1. The reference is libs/codec + libs/planning run
// directly on the same events.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mrp_test_support.hpp"
#include "sop/bus/consumer.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/mrp/service.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/testing/redis_server.hpp"
#include "sop/v1/mrp.grpc.pb.h"

namespace sop::mrp {
namespace {

using namespace std::chrono_literals;
using namespace sop::mrp::testing;

bus::KafkaConfig ClientConfig(const std::string& bootstrap) {
  // Short session and commit intervals: the mock broker waits a session timeout for members.
  return bus::KafkaConfig{{"bootstrap.servers", bootstrap},    {"session.timeout.ms", "4000"},
                          {"heartbeat.interval.ms", "200"},    {"auto.commit.interval.ms", "200"},
                          {"fetch.wait.max.ms", "50"},         {"reconnect.backoff.ms", "50"},
                          {"reconnect.backoff.max.ms", "500"}, {"log_level", "3"}};
}

// Whether a cause names `event_id`: as its event, or among the events a coalesced net change
// planned (Cause.event_ids).
bool Names(const sop::v1::Cause& cause, const std::string& event_id) {
  return cause.event_id() == event_id ||
         std::find(cause.event_ids().begin(), cause.event_ids().end(), event_id) !=
             cause.event_ids().end();
}

// Collects the PlanDeltas on sop.plan.v1 whose cause names one of the awaited event ids.
class PlanReader {
 public:
  PlanReader(const std::string& bootstrap, std::vector<std::string> awaited)
      : awaited_(std::move(awaited)) {
    bus::ConsumerOptions options;
    options.group_id = "test-plan-reader";
    options.topics = {std::string(bus::kPlanTopic)};
    options.handler = [this](const bus::Message& message) -> Status {
      sop::v1::PlanDelta delta;
      if (!delta.ParseFromString(message.value)) {
        return Fail(Errc::kInvalidArgument, "not a PlanDelta");
      }
      std::lock_guard lock(mutex_);
      ++seen_;
      if (std::any_of(awaited_.begin(), awaited_.end(),
                      [&](const std::string& id) { return Names(delta.cause(), id); })) {
        found_.push_back(std::move(delta));
      }
      changed_.notify_all();
      return {};
    };
    options.on_rejected = [](const bus::Message&, const Error&) -> Status { return {}; };
    auto consumer = bus::Consumer::Create(ClientConfig(bootstrap), std::move(options));
    EXPECT_TRUE(consumer.has_value());
    consumer_ = std::move(*consumer);
    EXPECT_TRUE(consumer_->Start().has_value());
  }
  ~PlanReader() { consumer_->Stop(); }

  std::vector<sop::v1::PlanDelta> WaitFor(const std::string& event_id,
                                          std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    auto matching = [&] {
      std::vector<sop::v1::PlanDelta> out;
      for (const auto& delta : found_) {
        if (Names(delta.cause(), event_id)) out.push_back(delta);
      }
      return out;
    };
    changed_.wait_for(lock, timeout, [&] { return !matching().empty(); });
    return matching();
  }

 private:
  std::vector<std::string> awaited_;
  std::unique_ptr<bus::Consumer> consumer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<sop::v1::PlanDelta> found_;
  std::int64_t seen_ = 0;
};

class MrpServiceTest : public ::testing::Test {
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

  std::unique_ptr<MrpService> StartService(std::chrono::milliseconds batch_quiet = 150ms) {
    MrpServiceOptions options;
    options.kafka = ClientConfig(broker_->bootstrap_servers());
    options.group_id = "sop-mrp-test";
    options.redis = redis_.StoreOptions();
    // A snapshot write carries a partition's facts and thousands of applied-id marks.
    options.redis.command_timeout = 5s;
    options.batch_quiet = batch_quiet;
    options.batch_max = 3s;
    auto service = MrpService::Start(std::move(options), logger_, metrics_);
    EXPECT_TRUE(service.has_value()) << service.error().ToString();
    return service ? std::move(*service) : nullptr;
  }

  // Produces events [begin, end) of the generated stream as Facts keyed by site.
  void Produce(std::size_t begin, std::size_t end) {
    std::atomic<int> failures{0};
    for (std::size_t i = begin; i < end; ++i)
      ProduceOne(Events()[i], static_cast<std::int64_t>(i), failures);
    ASSERT_TRUE(producer_->Flush(30s).has_value());
    ASSERT_EQ(failures.load(), 0);
  }
  void ProduceOne(const sop::v1::Envelope& envelope, std::int64_t sequence,
                  std::atomic<int>& failures) {
    bus::OutgoingMessage message;
    message.topic = std::string(bus::kFactsTopic);
    message.key = envelope.site();
    message.value = FactBytes(envelope, sequence);
    producer_->Send(std::move(message), [&failures](Result<bus::DeliveryReport> report) {
      if (!report) ++failures;
    });
  }

  // Item-sites whose served record differs from the reference (all of them are checked).
  static int ServedMismatches(const MrpService& service, const planning::NettingEngine& expected) {
    const auto& snapshot = expected.snapshot();
    const auto& plan = expected.plan();
    int mismatches = 0;
    for (std::size_t i = 0; i < snapshot.item_site_count(); ++i) {
      const auto& is = snapshot.item_sites[i];
      sop::v1::GetPlanRequest request;
      request.set_item_id(is.item_id);
      request.set_site_id(snapshot.sites[static_cast<std::size_t>(is.site.value())].id);
      auto served = service.GetPlan(request);
      if (!served ||
          !SameRecord(served->plan(), plan, model::ItemSiteIndex(static_cast<std::int32_t>(i)))) {
        ++mismatches;
      }
    }
    return mismatches;
  }

  static bool SameRecord(const sop::v1::ItemSitePlan& record, const planning::Plan& plan,
                         model::ItemSiteIndex i) {
    auto same = [&](const google::protobuf::RepeatedField<double>& served,
                    const std::vector<double>& rows) {
      auto row = plan.Row(rows, i);
      if (static_cast<std::size_t>(served.size()) != row.size()) return false;
      for (std::size_t b = 0; b < row.size(); ++b) {
        if (std::abs(served[static_cast<int>(b)] - row[b]) >
            1e-6 * std::max(1.0, std::abs(row[b]))) {
          return false;
        }
      }
      return true;
    };
    return same(record.gross_requirements(), plan.gross_requirements) &&
           same(record.scheduled_receipts(), plan.scheduled_receipts) &&
           same(record.projected_available(), plan.projected_available) &&
           same(record.net_requirements(), plan.net_requirements) &&
           same(record.planned_receipts(), plan.planned_receipts) &&
           same(record.planned_releases(), plan.planned_releases) &&
           static_cast<std::size_t>(record.planned_orders_size()) ==
               plan.orders[static_cast<std::size_t>(i.value())].size();
  }

  runtime::Logger logger_{"sop-mrp-test", runtime::LogLevel::kWarn};
  runtime::MetricsRegistry metrics_;
  std::unique_ptr<bus::EmbeddedBroker> broker_;
  store_testing::RedisServer redis_;
  std::unique_ptr<bus::Producer> producer_;
};

TEST_F(MrpServiceTest, ServesAndPublishesThePlanTheCoreComputesAndReplansAChangedSalesOrder) {
  const auto& events = Events();
  const auto total = static_cast<std::int64_t>(events.size());
  sop::v1::Envelope changed;
  for (const auto& e : events) {
    if (e.has_sales_order() && e.sales_order().quantity() > 0) {
      changed = e;
      break;
    }
  }
  changed.set_event_id("test:so-change:1");
  changed.mutable_sales_order()->set_quantity(changed.sales_order().quantity() + 250.0);

  PlanReader reader(broker_->bootstrap_servers(), {"test:so-change:1", "test:forecast:1"});
  auto service = StartService();
  ASSERT_NE(service, nullptr);
  Produce(0, events.size());
  ASSERT_TRUE(
      service->WaitFor([&](const MrpProgress& p) { return p.facts == total && !p.pending; }, 60s))
      << "facts " << service->progress().facts << " of " << total;

  const auto expected = Direct(events);
  EXPECT_EQ(ServedMismatches(*service, *expected), 0);
  const std::string metrics = metrics_.SerializeText();
  EXPECT_NE(metrics.find("sop_mrp_plan_item_sites " +
                         std::to_string(expected->snapshot().item_site_count())),
            std::string::npos);
  EXPECT_NE(metrics.find("sop_mrp_state_facts " + std::to_string(total)), std::string::npos);

  // The same over a real gRPC channel.
  runtime::GrpcServerOptions grpc_options;
  grpc_options.host = "127.0.0.1";
  grpc_options.port = 0;
  auto server = runtime::GrpcServer::Builder(grpc_options, logger_, metrics_)
                    .AddService(service->grpc_service())
                    .Start();
  ASSERT_TRUE(server.has_value());
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = sop::v1::Mrp::NewStub(channel);
  const auto& snapshot = expected->snapshot();
  for (std::size_t i = 0; i < snapshot.item_site_count(); i += 97) {
    const auto& is = snapshot.item_sites[i];
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    sop::v1::GetPlanRequest request;
    request.set_item_id(is.item_id);
    request.set_site_id(snapshot.sites[static_cast<std::size_t>(is.site.value())].id);
    sop::v1::GetPlanResponse response;
    const grpc::Status status = stub->GetPlan(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(SameRecord(response.plan(), expected->plan(),
                           model::ItemSiteIndex(static_cast<std::int32_t>(i))))
        << is.item_id;
    EXPECT_GT(response.plan_version(), 0);
  }
  {
    grpc::ClientContext context;
    sop::v1::GetPlanRequest request;
    request.set_item_id("NO-SUCH-ITEM");
    request.set_site_id(snapshot.sites[0].id);
    sop::v1::GetPlanResponse response;
    EXPECT_EQ(stub->GetPlan(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    sop::v1::GetPlanRequest request;
    request.set_item_id(snapshot.item_sites[0].item_id);
    sop::v1::GetPlanResponse response;
    EXPECT_EQ(stub->GetPlan(&context, request, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext context;
    sop::v1::GetSupplyPlanRequest request;
    sop::v1::GetSupplyPlanResponse response;
    ASSERT_TRUE(stub->GetSupplyPlan(&context, request, &response).ok());
    EXPECT_GT(response.gaps_size(), 0);
  }
  {
    grpc::ClientContext context;
    sop::v1::ReplanRequest request;
    request.set_requested_by("test");
    sop::v1::ReplanResponse response;
    ASSERT_TRUE(stub->Replan(&context, request, &response).ok());
    EXPECT_EQ(response.planned_orders(),
              static_cast<std::int64_t>(expected->plan().PlannedOrderCount()));
    EXPECT_EQ(response.item_sites(), static_cast<std::int64_t>(snapshot.item_site_count()));
  }

  // A changed sales order: net change, one delta naming the event, same numbers as a full run.
  std::atomic<int> failures{0};
  ProduceOne(changed, 5'000'000, failures);
  ASSERT_TRUE(producer_->Flush(10s).has_value());
  auto deltas = reader.WaitFor("test:so-change:1", 30s);
  ASSERT_FALSE(deltas.empty());
  auto after_events = events;
  after_events.push_back(changed);
  const auto after = Direct(after_events);
  const auto changed_item = after->snapshot().FindItemSite(changed.sales_order().item_id(),
                                                           changed.sales_order().site_id());
  ASSERT_TRUE(changed_item.has_value());
  bool found = false;
  for (const auto& delta : deltas) {
    EXPECT_FALSE(delta.full());
    EXPECT_EQ(delta.cause().ingested_at().seconds(), 1'800'000'000 + 5'000'000);
    for (const auto& record : delta.item_sites()) {
      if (record.item_id() != changed.sales_order().item_id() ||
          record.site_id() != changed.sales_order().site_id()) {
        continue;
      }
      found = true;
      EXPECT_TRUE(SameRecord(record, after->plan(), *changed_item));
    }
  }
  EXPECT_TRUE(found);
  ASSERT_TRUE(service->WaitFor([&](const MrpProgress& p) { return !p.pending; }, 20s));
  EXPECT_EQ(ServedMismatches(*service, *after), 0);

  // A consensus forecast on sop.forecast.v1 re-plans its item-site by net change.
  sop::v1::ForecastUpdate update;
  update.set_item_id(changed.sales_order().item_id());
  update.set_site_id(changed.sales_order().site_id());
  auto* period = update.add_periods();
  period->set_bucket(30);
  period->set_consensus(987'654.0);
  update.mutable_cause()->set_event_id("test:forecast:1");
  bus::OutgoingMessage forecast;
  forecast.topic = std::string(bus::kForecastTopic);
  forecast.key = update.site_id();
  forecast.value = update.SerializeAsString();
  ASSERT_TRUE(producer_->SendSync(std::move(forecast), 10s).has_value());
  auto forecast_deltas = reader.WaitFor("test:forecast:1", 30s);
  ASSERT_FALSE(forecast_deltas.empty());
  // Reference: the same snapshot with that forecast bucket replaced, run in full.
  model::Snapshot with_forecast = after->snapshot();
  with_forecast.forecast[static_cast<std::size_t>(changed_item->value()) *
                             static_cast<std::size_t>(with_forecast.H()) +
                         30] = 987'654.0;
  planning::NettingEngine forecast_reference(std::move(with_forecast));
  forecast_reference.RunFull();
  bool forecast_found = false;
  for (const auto& delta : forecast_deltas) {
    for (const auto& record : delta.item_sites()) {
      if (record.item_id() == update.item_id() && record.site_id() == update.site_id()) {
        forecast_found = true;
        EXPECT_GE(record.gross_requirements(30), 987'654.0);
        EXPECT_TRUE(SameRecord(record, forecast_reference.plan(), *changed_item));
      }
    }
  }
  EXPECT_TRUE(forecast_found);

  // Bytes that are not a Fact go to the dead-letter topic; the plan does not move.
  const auto version = service->progress().plan_version;
  bus::OutgoingMessage garbage;
  garbage.topic = std::string(bus::kFactsTopic);
  garbage.key = changed.site();
  garbage.value = "\xff\xfe not a fact";
  ASSERT_TRUE(producer_->SendSync(std::move(garbage), 10s).has_value());
  ASSERT_TRUE(service->WaitFor([&](const MrpProgress& p) { return p.dead_lettered == 1; }, 20s));
  EXPECT_EQ(service->progress().plan_version, version);
  (*server)->Shutdown(1s);
  service->Stop();
}

TEST_F(MrpServiceTest, RestartAfterACrashMidStreamGivesTheSamePlanAsAnUninterruptedRun) {
  const auto& events = Events();
  const auto total = static_cast<std::int64_t>(events.size());
  const std::size_t first = events.size() * 6 / 10;
  const std::size_t second = events.size() * 8 / 10;

  // A long quiet time: the facts of the second part are applied but not yet snapshotted when
  // the first replica "crashes".
  auto crashed = StartService(1500ms);
  ASSERT_NE(crashed, nullptr);
  Produce(0, first);
  ASSERT_TRUE(crashed->WaitFor(
      [&](const MrpProgress& p) {
        return p.facts == static_cast<std::int64_t>(first) && !p.pending && p.snapshots > 0;
      },
      60s));
  Produce(first, second);
  ASSERT_TRUE(crashed->WaitFor(
      [&](const MrpProgress& p) { return p.facts == static_cast<std::int64_t>(second); }, 30s));
  crashed->Stop(/*final_snapshot=*/false);
  crashed.reset();

  auto restarted = StartService();
  ASSERT_NE(restarted, nullptr);
  Produce(second, events.size());
  // Re-deliveries of facts already applied (same event ids): nothing changes.
  Produce(0, 500);
  ASSERT_TRUE(restarted->WaitFor(
      [&](const MrpProgress& p) { return p.facts == total && p.duplicates >= 500 && !p.pending; },
      60s))
      << "facts " << restarted->progress().facts << " of " << total;
  const MrpProgress progress = restarted->progress();
  EXPECT_GT(progress.restored_partitions, 0);
  EXPECT_EQ(progress.duplicates, 500);

  const auto expected = Direct(events);
  EXPECT_EQ(ServedMismatches(*restarted, *expected), 0);
  sop::v1::ReplanRequest request;
  auto replanned = restarted->Replan(request);
  ASSERT_TRUE(replanned.has_value());
  EXPECT_EQ(replanned->planned_orders(),
            static_cast<std::int64_t>(expected->plan().PlannedOrderCount()));
  restarted->Stop();
}

}  // namespace
}  // namespace sop::mrp
