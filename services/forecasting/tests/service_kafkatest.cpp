// The forecasting service end to end in one process: hand-made facts (settings, items, 26 weeks
// of shipments for four item-sites at two sites) produced to sop.facts.v1 on the embedded broker,
// a real redis-server for the snapshots, a real gRPC channel for adjustments and queries, and a
// plain consumer reading sop.forecast.v1.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "sop/bus/consumer.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/forecasting/service.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/sopctl/command.hpp"
#include "sop/store/testing/redis_server.hpp"
#include "sop/v1/forecasting.grpc.pb.h"

namespace sop::forecasting {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

const sys_days kPlanStart = 2026y / January / 5;  // a Monday
constexpr int kWeeks = 26;

bus::KafkaConfig ClientConfig(const std::string& bootstrap) {
  // Short session and commit intervals: the mock broker waits a session timeout for members.
  return bus::KafkaConfig{{"bootstrap.servers", bootstrap},    {"session.timeout.ms", "4000"},
                          {"heartbeat.interval.ms", "200"},    {"auto.commit.interval.ms", "200"},
                          {"fetch.wait.max.ms", "50"},         {"reconnect.backoff.ms", "50"},
                          {"reconnect.backoff.max.ms", "500"}, {"log_level", "3"}};
}

void Set(google::protobuf::Timestamp* ts, Seconds t) {
  ts->set_seconds(t.time_since_epoch().count());
}

// Settings and item masters per site, then weekly shipments with a per-item level and wiggle.
std::vector<sop::v1::Envelope> Facts() {
  std::vector<sop::v1::Envelope> out;
  const std::vector<std::pair<std::string, std::string>> item_sites{
      {"FG1", "P1"}, {"FG2", "P1"}, {"FG1", "P2"}, {"FG3", "P2"}};
  for (const std::string site : {"P1", "P2"}) {
    auto& e = out.emplace_back();
    e.set_event_id("settings:" + site);
    e.set_site(site);
    Set(e.mutable_planning_settings()->mutable_plan_start(), Seconds(kPlanStart));
    e.mutable_planning_settings()->set_bucket_size(sop::v1::BUCKET_SIZE_WEEK);
    e.mutable_planning_settings()->set_horizon_buckets(52);
  }
  for (const auto& [item, site] : item_sites) {
    auto& e = out.emplace_back();
    e.set_event_id("item:" + item + "@" + site);
    e.set_site(site);
    e.mutable_item()->set_item_id(item);
    e.mutable_item()->set_site_id(site);
    e.mutable_item()->set_family(item == "FG3" ? "TRIKES" : "BIKES");
  }
  for (int w = 0; w < kWeeks; ++w) {
    int n = 0;
    for (const auto& [item, site] : item_sites) {
      ++n;
      auto& e = out.emplace_back();
      e.set_event_id("ship:" + item + "@" + site + ":" + std::to_string(w));
      e.set_site(site);
      auto* s = e.mutable_shipment();
      s->set_shipment_id(e.event_id());
      s->set_item_id(item);
      s->set_site_id(site);
      s->set_quantity(20.0 * n + static_cast<double>((w * 7 + n * 3) % 5));
      // FG1@P1 goes to two customers: C2 (RETAIL) every fourth week, C1 (OEM) otherwise.
      if (item == "FG1" && site == "P1") {
        s->set_customer_id(w % 4 == 0 ? "C2" : "C1");
        s->set_channel(w % 4 == 0 ? "RETAIL" : "OEM");
      }
      Set(s->mutable_shipped_at(), Seconds(kPlanStart - weeks(kWeeks - w) + days(1)) + hours(10));
    }
  }
  return out;
}

// Collects every ForecastUpdate on sop.forecast.v1.
class ForecastReader {
 public:
  explicit ForecastReader(const std::string& bootstrap) {
    bus::ConsumerOptions options;
    options.group_id = "test-forecast-reader";
    options.topics = {std::string(bus::kForecastTopic)};
    options.handler = [this](const bus::Message& message) -> Status {
      sop::v1::ForecastUpdate update;
      if (!update.ParseFromString(message.value)) {
        return Fail(Errc::kInvalidArgument, "not a ForecastUpdate");
      }
      std::lock_guard lock(mutex_);
      updates_.push_back(std::move(update));
      changed_.notify_all();
      return {};
    };
    options.on_rejected = [](const bus::Message&, const Error&) -> Status { return {}; };
    auto consumer = bus::Consumer::Create(ClientConfig(bootstrap), std::move(options));
    EXPECT_TRUE(consumer.has_value());
    consumer_ = std::move(*consumer);
    EXPECT_TRUE(consumer_->Start().has_value());
  }
  ~ForecastReader() { consumer_->Stop(); }

  // The first update whose cause names `event_id`, waiting at most `timeout`.
  std::optional<sop::v1::ForecastUpdate> WaitForCause(const std::string& event_id,
                                                      milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<sop::v1::ForecastUpdate> found;
    changed_.wait_for(lock, timeout, [&] {
      for (const auto& u : updates_) {
        if (u.cause().event_id() == event_id) {
          found = u;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::size_t Count() {
    std::lock_guard lock(mutex_);
    return updates_.size();
  }

 private:
  std::unique_ptr<bus::Consumer> consumer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<sop::v1::ForecastUpdate> updates_;
};

class ForecastingServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = 3});
    ASSERT_TRUE(broker.has_value()) << broker.error().ToString();
    broker_ = std::move(*broker);
    ASSERT_TRUE(redis_.Start().has_value());
    auto producer = bus::Producer::Create(
        bus::KafkaConfig{{"bootstrap.servers", broker_->bootstrap_servers()}, {"linger.ms", "5"}});
    ASSERT_TRUE(producer.has_value());
    producer_ = std::move(*producer);
  }

  std::unique_ptr<ForecastingService> StartService() {
    ForecastingServiceOptions options;
    options.kafka = ClientConfig(broker_->bootstrap_servers());
    options.group_id = "sop-forecasting-test";
    options.redis = redis_.StoreOptions();
    options.batch_quiet = 150ms;
    options.batch_max = 2s;
    auto service = ForecastingService::Start(std::move(options), logger_, metrics_);
    EXPECT_TRUE(service.has_value()) << service.error().ToString();
    return service ? std::move(*service) : nullptr;
  }

  void Produce(const std::vector<sop::v1::Envelope>& facts) {
    std::atomic<int> failures{0};
    std::int64_t sequence = 0;
    for (const auto& envelope : facts) {
      sop::v1::Fact fact;
      *fact.mutable_envelope() = envelope;
      fact.mutable_ingested_at()->set_seconds(1'800'000'000 + ++sequence);
      bus::OutgoingMessage message;
      message.topic = std::string(bus::kFactsTopic);
      message.key = envelope.site();
      message.value = fact.SerializeAsString();
      producer_->Send(std::move(message), [&failures](Result<bus::DeliveryReport> report) {
        if (!report) ++failures;
      });
    }
    ASSERT_TRUE(producer_->Flush(30s).has_value());
    ASSERT_EQ(failures.load(), 0);
  }

  std::unique_ptr<runtime::GrpcServer> StartGrpc(ForecastingService& service) {
    runtime::GrpcServerOptions grpc_options;
    grpc_options.host = "127.0.0.1";
    grpc_options.port = 0;
    auto server = runtime::GrpcServer::Builder(grpc_options, logger_, metrics_)
                      .AddService(service.grpc_service())
                      .Start();
    EXPECT_TRUE(server.has_value());
    return server ? std::move(*server) : nullptr;
  }

  static sop::v1::AdjustForecastRequest SalesAdjustment(const std::string& owner,
                                                        const std::string& reason) {
    sop::v1::AdjustForecastRequest request;
    auto* a = request.mutable_adjustment();
    a->set_adjustment_id("adj-promo-1");
    a->set_item_id("FG1");
    a->set_site_id("P1");
    a->set_layer(sop::v1::FORECAST_LAYER_SALES);
    Set(a->mutable_period_start(), Seconds(kPlanStart + weeks(1)));
    a->set_quantity_delta(15.0);
    a->set_owner(owner);
    a->set_reason(reason);
    return request;
  }

  runtime::Logger logger_{"sop-forecasting-test", runtime::LogLevel::kWarn};
  runtime::MetricsRegistry metrics_;
  std::unique_ptr<bus::EmbeddedBroker> broker_;
  store_testing::RedisServer redis_;
  std::unique_ptr<bus::Producer> producer_;
};

TEST_F(ForecastingServiceTest, PublishesConsensusWithAGrpcSalesAdjustmentAndAReplayChangesNothing) {
  const auto facts = Facts();
  const auto total = static_cast<std::int64_t>(facts.size());
  ForecastReader reader(broker_->bootstrap_servers());
  auto service = StartService();
  ASSERT_NE(service, nullptr);
  Produce(facts);
  ASSERT_TRUE(service->WaitFor(
      [&](const ForecastingProgress& p) {
        return p.facts == total && !p.pending && p.updates_published >= 4;
      },
      30s))
      << "facts " << service->progress().facts << " of " << total;
  // Debounced: 26 weeks × 4 shipments became a handful of batches, not one forecast per fact.
  EXPECT_LT(service->progress().updates_published, 20);
  EXPECT_TRUE(reader.WaitForCause("ship:FG1@P1:25", 15s).has_value());

  auto server = StartGrpc(*service);
  ASSERT_NE(server, nullptr);
  auto stub = sop::v1::Forecasting::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server->port()), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext context;
    sop::v1::AdjustForecastResponse response;
    const auto status = stub->AdjustForecast(&context, SalesAdjustment("", "promo"), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("adjustment.owner"), std::string::npos);
  }
  {
    grpc::ClientContext context;
    auto request = SalesAdjustment("ann", "promo");
    request.mutable_adjustment()->set_item_id("NOPE");
    sop::v1::AdjustForecastResponse response;
    EXPECT_EQ(stub->AdjustForecast(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  sop::v1::AdjustForecastResponse adjusted;
  {
    grpc::ClientContext context;
    context.set_deadline(system_clock::now() + 10s);
    const auto status =
        stub->AdjustForecast(&context, SalesAdjustment("ann", "spring promo"), &adjusted);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(adjusted.recorded().owner(), "ann");
  ASSERT_EQ(adjusted.forecast().periods_size(), 52);
  const auto& answered = adjusted.forecast().periods(1);
  EXPECT_DOUBLE_EQ(answered.sales_adjustment(), 15.0);
  EXPECT_DOUBLE_EQ(answered.consensus(), answered.statistical() + 15.0);
  EXPECT_GT(answered.statistical(), 0.0);

  // The same update on sop.forecast.v1, caused by the adjustment.
  auto published = reader.WaitForCause("adjust:adj-promo-1", 15s);
  ASSERT_TRUE(published.has_value());
  EXPECT_EQ(published->item_id(), "FG1");
  EXPECT_EQ(published->site_id(), "P1");
  EXPECT_EQ(published->family(), "BIKES");
  EXPECT_DOUBLE_EQ(published->periods(1).consensus(), published->periods(1).statistical() + 15.0);
  EXPECT_DOUBLE_EQ(published->periods(1).statistical(), answered.statistical());
  EXPECT_DOUBLE_EQ(published->periods(2).consensus(), published->periods(2).statistical());
  EXPECT_FALSE(published->model().name().empty());

  sop::v1::GetForecastResponse before;
  {
    grpc::ClientContext context;
    sop::v1::GetForecastRequest request;
    request.set_item_id("FG1");
    request.set_site_id("P1");
    ASSERT_TRUE(stub->GetForecast(&context, request, &before).ok());
  }
  ASSERT_EQ(before.history_size(), 1);
  EXPECT_EQ(before.history(0).reason(), "spring promo");
  EXPECT_EQ(before.history_actuals_size(), kWeeks);
  EXPECT_EQ(before.customer_rows_size(), 0);  // only when asked

  // The split over gRPC: C1 has 19 of the 26 weeks (shares from the shipped quantities), the
  // sales +15 (no customer) is spread by share, and the two rows add up to the item-site.
  sop::v1::GetForecastRequest split_request;
  split_request.set_item_id("FG1");
  split_request.set_site_id("P1");
  split_request.set_split_by_customer(true);
  sop::v1::GetForecastResponse split;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->GetForecast(&context, split_request, &split).ok());
  }
  double c1 = 0.0, c2 = 0.0;
  for (const auto& fact : facts) {
    if (!fact.has_shipment() || fact.shipment().customer_id().empty()) continue;
    (fact.shipment().customer_id() == "C1" ? c1 : c2) += fact.shipment().quantity();
  }
  ASSERT_EQ(split.customer_rows_size(), 2);
  EXPECT_EQ(split.customer_rows(0).customer_id(), "C1");
  EXPECT_EQ(split.customer_rows(0).channel(), "OEM");
  EXPECT_DOUBLE_EQ(split.customer_rows(0).window_quantity(), c1);
  EXPECT_DOUBLE_EQ(split.customer_rows(1).window_quantity(), c2);
  EXPECT_DOUBLE_EQ(split.customer_rows(0).share(), c1 / (c1 + c2));
  EXPECT_NEAR(split.customer_rows(0).periods(1).sales_adjustment(), 15.0 * c1 / (c1 + c2), 1e-9);
  {
    // sopctl renders it: one line per customer/channel and the total.
    std::ostringstream out, err;
    const int code = sopctl::RunCli({"--forecasting", "127.0.0.1:" + std::to_string(server->port()),
                                     "forecast", "FG1", "P1", "--by-customer"},
                                    out, err);
    ASSERT_EQ(code, 0) << err.str();
    const std::string shown = out.str();
    EXPECT_NE(shown.find("by customer/channel (mix of the 364 days before the plan start"),
              std::string::npos)
        << shown;
    EXPECT_NE(shown.find("CUSTOMER"), std::string::npos) << shown;
    const auto c1_line = shown.find("\nC1 ");
    const auto c2_line = shown.find("\nC2 ");
    ASSERT_NE(c1_line, std::string::npos) << shown;
    ASSERT_NE(c2_line, std::string::npos) << shown;
    EXPECT_LT(c1_line, c2_line);  // largest first
    EXPECT_NE(shown.find("\ntotal "), std::string::npos) << shown;
  }
  for (int b = 0; b < split.forecast().periods_size(); ++b) {
    EXPECT_NEAR(split.customer_rows(0).periods(b).consensus() +
                    split.customer_rows(1).periods(b).consensus(),
                split.forecast().periods(b).consensus(), 1e-9)
        << b;
  }

  // Replay: every fact again (as after a consumer rewind) is skipped; nothing is re-published.
  const auto published_before = service->progress().updates_published;
  Produce(facts);
  ASSERT_TRUE(service->WaitFor(
      [&](const ForecastingProgress& p) { return p.duplicates == total && !p.pending; }, 30s))
      << "duplicates " << service->progress().duplicates << " of " << total;
  EXPECT_EQ(service->progress().updates_published, published_before);
  sop::v1::GetForecastResponse after;
  {
    grpc::ClientContext context;
    sop::v1::GetForecastRequest request;
    request.set_item_id("FG1");
    request.set_site_id("P1");
    ASSERT_TRUE(stub->GetForecast(&context, request, &after).ok());
  }
  EXPECT_EQ(after.history_size(), 1);
  EXPECT_EQ(after.forecast().periods(1).consensus(), before.forecast().periods(1).consensus());
  for (int b = 0; b < kWeeks; ++b) {
    EXPECT_EQ(after.history_actuals(b), before.history_actuals(b)) << b;
  }
  const std::string metrics = metrics_.SerializeText();
  EXPECT_NE(metrics.find("sop_forecasting_duplicate_facts_total " + std::to_string(total)),
            std::string::npos);
  EXPECT_NE(metrics.find("sop_forecasting_adjustments_total 1"), std::string::npos);

  // Restart: a new replica restores history and layers from Redis and serves the same consensus.
  server->Shutdown(2s);
  service->Stop(true);
  service.reset();
  auto restarted = StartService();
  ASSERT_NE(restarted, nullptr);
  ASSERT_TRUE(restarted->WaitFor(
      [](const ForecastingProgress& p) {
        return p.restored_partitions > 0 && !p.pending && p.item_sites == 4;
      },
      30s));
  sop::v1::GetForecastRequest request;
  request.set_item_id("FG1");
  request.set_site_id("P1");
  auto restored = restarted->GetForecast(request);
  ASSERT_TRUE(restored.has_value());
  ASSERT_EQ(restored->history_size(), 1);
  EXPECT_EQ(restored->history(0).owner(), "ann");
  EXPECT_DOUBLE_EQ(restored->forecast().periods(1).consensus(),
                   before.forecast().periods(1).consensus());
  EXPECT_EQ(restarted->progress().facts, 0);  // nothing re-applied: offsets came with the state
  // The customer mix came back with the snapshot.
  auto restored_split = restarted->GetForecast(split_request);
  ASSERT_TRUE(restored_split.has_value());
  ASSERT_EQ(restored_split->customer_rows_size(), 2);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(restored_split->customer_rows(r).customer_id(), split.customer_rows(r).customer_id());
    EXPECT_DOUBLE_EQ(restored_split->customer_rows(r).window_quantity(),
                     split.customer_rows(r).window_quantity());
  }
}

}  // namespace
}  // namespace sop::forecasting
