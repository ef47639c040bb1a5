// The exceptions service end to end in one process: facts produced to sop.facts.v1 on the
// embedded broker, a real redis-server for snapshots and the acknowledgement log, a real gRPC
// channel for queries, and a plain consumer folding sop.exceptions.v1. The reference is
// DetectExceptions + RankAll on the plan of the same facts.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "exceptions_test_support.hpp"
#include "sop/bus/consumer.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/exceptions/service.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/sopctl/command.hpp"
#include "sop/store/testing/redis_server.hpp"
#include "sop/v1/exceptions.grpc.pb.h"

namespace sop::exceptions {
namespace {

using namespace std::chrono_literals;
using namespace sop::exceptions::testing;

bus::KafkaConfig ClientConfig(const std::string& bootstrap) {
  // Short session and commit intervals: the mock broker waits a session timeout for members.
  return bus::KafkaConfig{{"bootstrap.servers", bootstrap},    {"session.timeout.ms", "4000"},
                          {"heartbeat.interval.ms", "200"},    {"auto.commit.interval.ms", "200"},
                          {"fetch.wait.max.ms", "50"},         {"reconnect.backoff.ms", "50"},
                          {"reconnect.backoff.max.ms", "500"}, {"log_level", "3"}};
}

// Folds sop.exceptions.v1 into the open exceptions a downstream consumer would hold.
class ExceptionsReader {
 public:
  explicit ExceptionsReader(const std::string& bootstrap) {
    bus::ConsumerOptions options;
    options.group_id = "test-exceptions-reader";
    options.topics = {std::string(bus::kExceptionsTopic)};
    options.handler = [this](const bus::Message& message) -> Status {
      sop::v1::ExceptionDelta delta;
      if (!delta.ParseFromString(message.value)) {
        return Fail(Errc::kInvalidArgument, "not an ExceptionDelta");
      }
      std::lock_guard lock(mutex_);
      ++deltas_;
      causes_.insert(delta.cause().event_id());
      for (const auto& e : delta.upserts()) open_[e.exception_id()] = e;
      for (const auto& id : delta.resolved_ids()) open_.erase(id);
      changed_.notify_all();
      return {};
    };
    options.on_rejected = [](const bus::Message&, const Error&) -> Status { return {}; };
    auto consumer = bus::Consumer::Create(ClientConfig(bootstrap), std::move(options));
    EXPECT_TRUE(consumer.has_value());
    consumer_ = std::move(*consumer);
    EXPECT_TRUE(consumer_->Start().has_value());
  }
  ~ExceptionsReader() { consumer_->Stop(); }

  /// Whether a delta caused by `event_id` arrived within `timeout`.
  bool WaitForCause(const std::string& event_id, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return causes_.contains(event_id); });
  }

  /// Waits until `predicate(open)` holds; returns the folded exceptions.
  std::map<std::string, sop::v1::PlanningException> WaitUntil(
      const std::function<bool(const std::map<std::string, sop::v1::PlanningException>&)>&
          predicate,
      std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return predicate(open_); });
    return open_;
  }

 private:
  std::unique_ptr<bus::Consumer> consumer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, sop::v1::PlanningException> open_;
  std::int64_t deltas_ = 0;
  std::set<std::string> causes_;
};

class ExceptionsServiceTest : public ::testing::Test {
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

  std::unique_ptr<ExceptionsService> StartService() {
    host::HostOptions options;
    options.service = "exceptions";
    options.kafka = ClientConfig(broker_->bootstrap_servers());
    options.group_id = "sop-exceptions-test";
    options.redis = redis_.StoreOptions();
    options.redis.command_timeout = 5s;  // a snapshot carries a partition's facts
    options.instance = "exceptions-test";
    options.batch_quiet = 150ms;
    options.batch_max = 3s;
    // As the service runs: the full detection on a copy of the plan, outside the host's lock.
    StateOptions state_options;
    state_options.background_detection = true;
    state_options.full_detection_interval = kDefaultFullDetectionInterval;
    auto service =
        ExceptionsService::Start(std::move(options), std::move(state_options), logger_, metrics_);
    EXPECT_TRUE(service.has_value()) << service.error().ToString();
    return service ? std::move(*service) : nullptr;
  }

  void Produce(const std::vector<sop::v1::Envelope>& events) {
    std::atomic<int> failures{0};
    std::int64_t sequence = 0;
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

  // Waits until the service holds `facts` facts and has nothing pending.
  static bool Settled(ExceptionsService& service, std::int64_t facts) {
    return service.host().WaitUntil(
               [&] {
                 const auto& state = service.state_locked_by_caller();
                 return state.progress().facts == facts && state.progress().full_detections > 0 &&
                        !state.BatchPending();
               },
               90s) &&
           service.host().WaitFor([](const host::HostProgress& p) { return !p.pending; }, 30s);
  }

  struct Channel {
    std::unique_ptr<runtime::GrpcServer> server;
    std::unique_ptr<sop::v1::Exceptions::Stub> stub;
  };
  Channel Serve(ExceptionsService& service) {
    runtime::GrpcServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    runtime::GrpcServer::Builder builder(options, logger_, metrics_);
    for (auto* grpc_service : service.grpc_services()) builder.AddService(grpc_service);
    auto server = builder.Start();
    EXPECT_TRUE(server.has_value());
    Channel channel;
    channel.server = std::move(*server);
    channel.stub = sop::v1::Exceptions::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(channel.server->port()), grpc::InsecureChannelCredentials()));
    return channel;
  }

  runtime::Logger logger_{"sop-exceptions-test", runtime::LogLevel::kWarn};
  runtime::MetricsRegistry metrics_;
  std::unique_ptr<bus::EmbeddedBroker> broker_;
  store_testing::RedisServer redis_;
  std::unique_ptr<bus::Producer> producer_;
};

TEST_F(ExceptionsServiceTest, FactsThroughTheBrokerGiveTheLibrarysRankedExceptions) {
  const auto& events = Events();
  ExceptionsReader reader(broker_->bootstrap_servers());
  auto service = StartService();
  ASSERT_NE(service, nullptr);
  Produce(events);
  ASSERT_TRUE(Settled(*service, static_cast<std::int64_t>(events.size())));

  const Reference reference(events);
  ASSERT_GT(reference.ranked.size(), 100u);

  // sop.exceptions.v1 folded = the reference's exceptions with the same scores.
  auto published = reader.WaitUntil(
      [&](const auto& open) { return open.size() >= reference.ranked.size(); }, 30s);
  ASSERT_EQ(published.size(), reference.ranked.size());
  for (const auto& e : reference.ranked) {
    auto it = published.find(e.id);
    ASSERT_NE(it, published.end()) << e.id;
    EXPECT_DOUBLE_EQ(it->second.score(), e.score.total) << e.id;
    EXPECT_DOUBLE_EQ(it->second.revenue_at_risk(), e.revenue_at_risk) << e.id;
  }

  // ListExceptions over a real channel: the reference's order, page by page.
  auto channel = Serve(*service);
  sop::v1::ListExceptionsRequest request;
  request.set_page_size(500);
  std::vector<std::string> served;
  for (int pages = 0; pages < 100; ++pages) {
    grpc::ClientContext context;
    sop::v1::ListExceptionsResponse response;
    auto status = channel.stub->ListExceptions(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.total(), static_cast<std::int64_t>(reference.ranked.size()));
    for (const auto& e : response.exceptions()) served.push_back(e.exception_id());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  ASSERT_EQ(served.size(), reference.ranked.size());
  for (std::size_t k = 0; k < served.size(); ++k) {
    ASSERT_EQ(served[k], reference.ranked[k].id) << "rank " << k + 1;
  }

  // Errors come back as gRPC codes naming what is wrong.
  {
    grpc::ClientContext context;
    sop::v1::AcknowledgeRequest ack;
    ack.set_exception_id("SHORTAGE:NOPE@P9");
    ack.set_who("ana");
    sop::v1::AcknowledgeResponse response;
    auto status = channel.stub->Acknowledge(&context, ack, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  }
  // sopctl over the same channel: the top 5 as a table, and as JSON.
  {
    const std::string address = "127.0.0.1:" + std::to_string(channel.server->port());
    std::ostringstream out, err;
    ASSERT_EQ(sopctl::RunCli({"--exceptions", address, "exceptions", "--top", "5"}, out, err), 0)
        << err.str();
    EXPECT_NE(out.str().find("5 of " + std::to_string(reference.ranked.size())), std::string::npos)
        << out.str();
    for (std::size_t k = 0; k < 5; ++k) {
      EXPECT_NE(out.str().find(reference.ranked[k].subject), std::string::npos)
          << reference.ranked[k].subject << "\n"
          << out.str();
    }
    std::ostringstream json, json_err;
    ASSERT_EQ(sopctl::RunCli({"--exceptions", address, "--json", "exceptions", "--top", "3"}, json,
                             json_err),
              0);
    EXPECT_NE(json.str().find("\"exception_id\":\"" + reference.ranked[0].id + "\""),
              std::string::npos)
        << json.str();
    std::ostringstream bad, bad_err;
    EXPECT_EQ(
        sopctl::RunCli({"--exceptions", address, "ack", "NOPE:X", "--who", "ana"}, bad, bad_err),
        1);
    EXPECT_NE(bad_err.str().find("NOPE:X"), std::string::npos) << bad_err.str();
  }
  // A large sales order through the broker: its net change is published at once (cause = its
  // event) and the batch end settles the list to the full detection of all the facts.
  sop::v1::Envelope big;
  for (const auto& e : events) {
    if (e.has_sales_order() && e.sales_order().quantity() > 0) {
      big = e;
      break;
    }
  }
  big.set_event_id("big-order");
  big.mutable_sales_order()->set_order_id("SO-BIG");
  big.mutable_sales_order()->set_quantity(big.sales_order().quantity() * 200);
  big.mutable_sales_order()->set_customer_priority(1);
  std::vector<sop::v1::Envelope> with_big = events;
  with_big.push_back(big);
  const std::string big_fact = FactBytes(big, static_cast<std::int64_t>(events.size()));
  {
    bus::OutgoingMessage message;
    message.topic = std::string(bus::kFactsTopic);
    message.key = big.site();
    message.value = big_fact;
    producer_->Send(std::move(message), [](Result<bus::DeliveryReport>) {});
    ASSERT_TRUE(producer_->Flush(10s).has_value());
  }
  EXPECT_TRUE(reader.WaitForCause("big-order", 30s));
  ASSERT_TRUE(Settled(*service, static_cast<std::int64_t>(events.size()) + 1));
  const Reference after(events, {big_fact});
  auto folded = reader.WaitUntil(
      [&](const auto& open) {
        if (open.size() != after.ranked.size()) return false;
        for (const auto& e : after.ranked) {
          auto it = open.find(e.id);
          if (it == open.end() || it->second.score() != e.score.total) return false;
        }
        return true;
      },
      30s);
  EXPECT_EQ(folded.size(), after.ranked.size());
  EXPECT_TRUE(folded.contains("ORDER_AT_RISK:SO-BIG:" + std::to_string(big.sales_order().line())));

  const std::string metrics = metrics_.SerializeText();
  EXPECT_NE(metrics.find("sop_exceptions_event_to_exception_seconds_count"), std::string::npos);
  EXPECT_NE(metrics.find("sop_exceptions_open{"), std::string::npos);
  EXPECT_NE(metrics.find("sop_exceptions_detection_seconds_count{kind=\"incremental\"} 1"),
            std::string::npos);
  channel.server->Shutdown(2s);
  service->Stop();
}

TEST_F(ExceptionsServiceTest, AnAcknowledgementAndTheListSurviveARestart) {
  const auto events = SharedComponentPlant();
  const auto facts = static_cast<std::int64_t>(events.size());
  std::vector<std::string> before;
  {
    auto service = StartService();
    ASSERT_NE(service, nullptr);
    Produce(events);
    ASSERT_TRUE(Settled(*service, facts));
    auto channel = Serve(*service);

    grpc::ClientContext context;
    sop::v1::AcknowledgeRequest ack;
    ack.set_exception_id("SHARED_COMPONENT:C1@P1");
    sop::v1::AcknowledgeResponse response;
    auto status = channel.stub->Acknowledge(&context, ack, &response);  // no `who`
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("who"), std::string::npos);

    grpc::ClientContext context2;
    ack.set_who("ana");
    ack.set_reason("allocating C1 to HI first");
    status = channel.stub->Acknowledge(&context2, ack, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.exception().acknowledged_by(), "ana");

    service->WithState([&](ExceptionsState& state) {
      for (const auto* e : state.book().ranker().Top(100)) before.push_back(e->id);
    });
    channel.server->Shutdown(2s);
    service->Crash();  // no final snapshot: the replica restores what the batches saved
  }

  auto restarted = StartService();
  ASSERT_NE(restarted, nullptr);
  ASSERT_TRUE(Settled(*restarted, facts));
  auto channel = Serve(*restarted);
  grpc::ClientContext context;
  sop::v1::ListExceptionsRequest request;
  request.set_include_acknowledged(true);
  sop::v1::ListExceptionsResponse response;
  ASSERT_TRUE(channel.stub->ListExceptions(&context, request, &response).ok());
  std::vector<std::string> after;
  for (const auto& e : response.exceptions()) {
    after.push_back(e.exception_id());
    if (e.exception_id() == "SHARED_COMPONENT:C1@P1") {
      EXPECT_EQ(e.acknowledged_by(), "ana");
      EXPECT_EQ(e.acknowledge_reason(), "allocating C1 to HI first");
      EXPECT_GT(e.acknowledged_at().seconds(), 0);
    }
  }
  EXPECT_EQ(after, before);
  EXPECT_GE(restarted->host().progress().restored_partitions, 1);
  // Re-delivered facts are duplicates: nothing is applied twice.
  Produce(events);
  ASSERT_TRUE(restarted->host().WaitFor(
      [&](const host::HostProgress& p) { return p.duplicates >= facts && !p.pending; }, 30s));
  restarted->WithState([&](ExceptionsState& state) {
    EXPECT_EQ(state.progress().facts, facts);
    auto shared = state.book().Get("SHARED_COMPONENT:C1@P1");
    ASSERT_TRUE(shared.has_value());
    EXPECT_DOUBLE_EQ(shared->revenue_at_risk(), 1300.0);
  });
  // The default list hides the acknowledged exception.
  grpc::ClientContext context2;
  request.set_include_acknowledged(false);
  ASSERT_TRUE(channel.stub->ListExceptions(&context2, request, &response).ok());
  EXPECT_EQ(response.total(), static_cast<std::int64_t>(before.size()) - 1);
  channel.server->Shutdown(2s);
  restarted->Stop();
}

}  // namespace
}  // namespace sop::exceptions

namespace sop::exceptions {
namespace {

TEST_F(ExceptionsServiceTest, AcknowledgeWithoutRedisIsUnavailableAndRecordsNothing) {
  const auto events = SharedComponentPlant();
  auto service = StartService();
  ASSERT_NE(service, nullptr);
  Produce(events);
  ASSERT_TRUE(Settled(*service, static_cast<std::int64_t>(events.size())));
  auto channel = Serve(*service);

  sop::v1::AcknowledgeRequest ack;
  ack.set_exception_id("SHORTAGE:C1@P1");
  ack.set_who("ana");
  ASSERT_TRUE(redis_.Pause().has_value());
  {
    grpc::ClientContext context;
    sop::v1::AcknowledgeResponse response;
    auto status = channel.stub->Acknowledge(&context, ack, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
  ASSERT_TRUE(redis_.Resume().has_value());
  service->WithState(
      [](ExceptionsState& state) { EXPECT_TRUE(state.book().acknowledgements().empty()); });
  // With Redis back, the same request is recorded (the store reconnects by itself).
  bool recorded = false;
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       !recorded && std::chrono::steady_clock::now() < deadline;) {
    grpc::ClientContext context;
    sop::v1::AcknowledgeResponse response;
    recorded = channel.stub->Acknowledge(&context, ack, &response).ok();
    if (!recorded) std::this_thread::sleep_for(50ms);  // the store's reconnect backoff
  }
  EXPECT_TRUE(recorded);
  channel.server->Shutdown(2s);
  service->Stop();
}

}  // namespace
}  // namespace sop::exceptions
