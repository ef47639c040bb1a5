// WorkflowService over a real gRPC channel, a real redis-server (append-only) and the embedded
// Kafka broker: a full cycle by five principals with the refusals the issue lists, the audit
// log, sop.workflow.v1, a restart of the service and of redis-server mid-cycle, change requests.
// The other services are not running here: every artifact must say which source was missing.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "sop/auth/grpc_auth.hpp"
#include "sop/bus/consumer.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/topics.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/log.hpp"
#include "sop/runtime/metrics.hpp"
#include "sop/store/testing/redis_server.hpp"
#include "sop/v1/workflow.grpc.pb.h"
#include "sop/workflow/codec.hpp"
#include "sop/workflow/service.hpp"

namespace sop::workflow {
namespace {

using namespace std::chrono_literals;
using Stub = sop::v1::Workflow::Stub;

bus::KafkaConfig ClientConfig(const std::string& bootstrap) {
  return bus::KafkaConfig{{"bootstrap.servers", bootstrap},    {"session.timeout.ms", "4000"},
                          {"heartbeat.interval.ms", "200"},    {"auto.commit.interval.ms", "200"},
                          {"fetch.wait.max.ms", "50"},         {"reconnect.backoff.ms", "50"},
                          {"reconnect.backoff.max.ms", "500"}, {"log_level", "3"}};
}

/// Collects WorkflowEvents from sop.workflow.v1.
class EventReader {
 public:
  explicit EventReader(const std::string& bootstrap) {
    bus::ConsumerOptions options;
    options.group_id = "test-workflow-reader";
    options.topics = {std::string(bus::kWorkflowTopic)};
    options.handler = [this](const bus::Message& message) -> Status {
      sop::v1::WorkflowEvent event;
      if (!event.ParseFromString(message.value))
        return Fail(Errc::kInvalidArgument, "not an event");
      std::lock_guard lock(mutex_);
      keys_.push_back(message.key.value_or(""));
      events_.push_back(std::move(event));
      changed_.notify_all();
      return {};
    };
    options.on_rejected = [](const bus::Message&, const Error&) -> Status { return {}; };
    auto consumer = bus::Consumer::Create(ClientConfig(bootstrap), std::move(options));
    EXPECT_TRUE(consumer.has_value());
    consumer_ = std::move(*consumer);
    EXPECT_TRUE(consumer_->Start().has_value());
  }
  ~EventReader() { consumer_->Stop(); }
  /// The events once at least `count` arrived (or what arrived by the deadline).
  std::vector<std::pair<std::string, sop::v1::WorkflowEvent>> WaitFor(std::size_t count) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 20s, [&] { return events_.size() >= count; });
    std::vector<std::pair<std::string, sop::v1::WorkflowEvent>> out;
    for (std::size_t i = 0; i < events_.size(); ++i) out.emplace_back(keys_[i], events_[i]);
    return out;
  }

 private:
  std::unique_ptr<bus::Consumer> consumer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> keys_;
  std::vector<sop::v1::WorkflowEvent> events_;
};

/// Collects the envelopes on sop.erp.events.v1 (what the workflow publishes for approved supply
/// changes) with their keys.
class ErpReader {
 public:
  explicit ErpReader(const std::string& bootstrap) {
    bus::ConsumerOptions options;
    options.group_id = "test-erp-reader";
    options.topics = {std::string(bus::kErpEventsTopic)};
    options.handler = [this](const bus::Message& message) -> Status {
      sop::v1::Envelope envelope;
      if (!envelope.ParseFromString(message.value)) {
        return Fail(Errc::kInvalidArgument, "not an envelope");
      }
      std::lock_guard lock(mutex_);
      received_.emplace_back(message.key.value_or(""), std::move(envelope));
      changed_.notify_all();
      return {};
    };
    options.on_rejected = [](const bus::Message&, const Error&) -> Status { return {}; };
    auto consumer = bus::Consumer::Create(ClientConfig(bootstrap), std::move(options));
    EXPECT_TRUE(consumer.has_value());
    consumer_ = std::move(*consumer);
    EXPECT_TRUE(consumer_->Start().has_value());
  }
  ~ErpReader() { consumer_->Stop(); }
  std::vector<std::pair<std::string, sop::v1::Envelope>> WaitFor(std::size_t count) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 20s, [&] { return received_.size() >= count; });
    return received_;
  }

 private:
  std::unique_ptr<bus::Consumer> consumer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<std::string, sop::v1::Envelope>> received_;
};

// The tokens are test secrets; the service only ever sees their SHA-256.
constexpr const char* kDanaToken = "tok-dana-7f3a";
constexpr const char* kSupiToken = "tok-supi-19bc";
constexpr const char* kFinnToken = "tok-finn-c0de";
constexpr const char* kEveToken = "tok-eve-5511";
constexpr const char* kSamToken = "tok-sam-a1b2";

class WorkflowServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto broker = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = 3});
    ASSERT_TRUE(broker) << broker.error().ToString();
    broker_ = std::move(*broker).release();
  }
  static void TearDownTestSuite() {
    delete broker_;
    broker_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(redis_.Start());
    auto tokens = auth::TokenAuthenticator::Parse(
        auth::TokenFileLine(kDanaToken, {"dana", {"demand_lead"}}) + "\n" +
        auth::TokenFileLine(kSupiToken, {"supi", {"supply_lead"}}) + "\n" +
        auth::TokenFileLine(kFinnToken, {"finn", {"finance_partner"}}) + "\n" +
        auth::TokenFileLine(kEveToken, {"eve", {"executive"}}) + "\n" +
        auth::TokenFileLine(kSamToken, {"sam", {"sales_lead"}}));
    ASSERT_TRUE(tokens);
    tokens_.emplace(std::move(*tokens));
    StartService();
  }
  void TearDown() override { StopService(); }

  void StartService() {
    WorkflowServiceOptions options;
    options.redis = redis_.StoreOptions();
    options.audit_log =
        "workflow/audit-" +
        std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
    options.kafka = ClientConfig(broker_->bootstrap_servers());
    options.calendar = {.open_working_day = 1, .frozen_fence_days = 28};
    options.overdue_interval = 1h;  // the test calls CheckOverdue itself
    options.clock = [this] { return Timestamp(std::chrono::milliseconds(now_ms_.load())); };
    auto service = WorkflowService::Start(std::move(options), *tokens_, logger_, metrics_);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    runtime::GrpcServerOptions grpc_options;
    grpc_options.host = "127.0.0.1";
    auto server = runtime::GrpcServer::Builder(grpc_options, logger_, metrics_)
                      .AddService(service_->grpc_service())
                      .Start();
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    stub_ = sop::v1::Workflow::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }
  void StopService() {
    if (server_) server_->Shutdown(2s);
    server_.reset();
    if (service_) service_->Stop();
    service_.reset();
  }

  void SetNow(int y, unsigned m, unsigned d, int hour) {
    const auto day = std::chrono::sys_days(std::chrono::year_month_day{
        std::chrono::year(y), std::chrono::month(m), std::chrono::day(d)});
    now_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                  (day + std::chrono::hours(hour)).time_since_epoch())
                  .count();
  }

  template <class Request, class Response>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    std::string_view token, const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 20s);
    auth::AttachBearer(context, token);
    return (stub_.get()->*method)(&context, request, response);
  }

  /// Submits the current stage; returns the frozen artifact.
  sop::v1::Artifact Submit(std::string_view token, sop::v1::CycleStage stage) {
    sop::v1::SubmitArtifactRequest request;
    request.set_cycle_id(kCycle);
    request.set_stage(stage);
    sop::v1::ArtifactResponse response;
    auto status = Call(&Stub::SubmitArtifact, token, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.artifact();
  }
  grpc::Status Sign(std::string_view token, const sop::v1::Artifact& artifact,
                    std::string hash_override = "") {
    sop::v1::SignRequest request;
    request.set_cycle_id(kCycle);
    request.set_stage(artifact.stage());
    request.set_version(artifact.version());
    request.set_content_sha256(hash_override.empty() ? artifact.content_sha256() : hash_override);
    sop::v1::CycleResponse response;
    return Call(&Stub::Sign, token, request, &response);
  }
  std::vector<sop::v1::AuditEntry> Audit(sop::v1::ListAuditRequest request = {}) {
    sop::v1::ListAuditResponse response;
    auto status = Call(&Stub::ListAudit, kEveToken, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.entries().begin(), response.entries().end()};
  }
  void Open() {
    sop::v1::OpenCycleRequest open;
    open.set_business_unit("EU");
    open.set_period("2026-12");
    sop::v1::CycleResponse response;
    auto status = Call(&Stub::OpenCycle, kEveToken, open, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.cycle().open_date(), "2026-12-01");
  }

  static constexpr const char* kCycle = "EU-2026-12";
  static inline bus::EmbeddedBroker* broker_ = nullptr;
  store_testing::RedisServer redis_{{.append_only = true}};
  // Every log line is kept: the test greps them for tokens.
  std::mutex log_mutex_;
  std::string log_text_;
  runtime::Logger logger_{"sop-workflow-test", runtime::LogLevel::kDebug,
                          [this](std::string_view line) {
                            std::lock_guard lock(log_mutex_);
                            log_text_.append(line);
                          }};
  runtime::MetricsRegistry metrics_;
  std::optional<auth::TokenAuthenticator> tokens_;
  std::atomic<std::int64_t> now_ms_{0};
  std::unique_ptr<WorkflowService> service_;
  std::unique_ptr<runtime::GrpcServer> server_;
  std::unique_ptr<Stub> stub_;
};

TEST_F(WorkflowServiceTest, FullCycleByFivePrincipalsWithRefusalsAudited) {
  EventReader reader(broker_->bootstrap_servers());
  SetNow(2026, 12, 1, 9);
  Open();

  // Unauthenticated: no token, and a token nobody was given.
  sop::v1::GetCycleRequest get;
  get.set_cycle_id(kCycle);
  sop::v1::CycleResponse cycle;
  EXPECT_EQ(Call(&Stub::GetCycle, "", get, &cycle).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto forged = Call(&Stub::GetCycle, "tok-forged-0000", get, &cycle);
  EXPECT_EQ(forged.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(forged.error_message(), "authorization: unknown bearer token");

  auto demand = Submit(kDanaToken, sop::v1::CYCLE_STAGE_DEMAND_REVIEW);
  EXPECT_EQ(demand.version(), 1);
  EXPECT_EQ(demand.content_sha256().size(), 64u);
  // Not running here: the document says so instead of looking complete.
  ASSERT_GE(demand.document().unavailable_sources_size(), 1);
  EXPECT_EQ(demand.document().unavailable_sources(0), "mrp: not configured (workflow.mrp-address)");

  // Out of order: the supply lead signs supply review before demand review is signed.
  sop::v1::Artifact early = demand;
  early.set_stage(sop::v1::CYCLE_STAGE_SUPPLY_REVIEW);
  auto out_of_order = Sign(kSupiToken, early);
  EXPECT_EQ(out_of_order.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // Wrong role: the sales lead signs demand review.
  auto wrong_role = Sign(kSamToken, demand);
  EXPECT_EQ(wrong_role.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(wrong_role.error_message(),
            "Sign demand_review: principal 'sam' needs role demand_lead, has 'sales_lead'");
  // Tampered: the hash the signer presents is not the frozen artifact's.
  std::string tampered = demand.content_sha256();
  tampered[10] = tampered[10] == '0' ? '1' : '0';
  auto bad_hash = Sign(kDanaToken, demand, tampered);
  EXPECT_EQ(bad_hash.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // An unauthenticated sign attempt.
  EXPECT_EQ(Sign("", demand).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  ASSERT_TRUE(Sign(kDanaToken, demand).ok());
  // Send-back reopens demand review; the new version needs a new signature.
  sop::v1::SendBackRequest back;
  back.set_cycle_id(kCycle);
  back.set_stage(sop::v1::CYCLE_STAGE_DEMAND_REVIEW);
  back.set_reason("promo volumes for FG-2 missing");
  sop::v1::CycleResponse after_back;
  ASSERT_TRUE(Call(&Stub::SendBack, kSupiToken, back, &after_back).ok());
  EXPECT_EQ(after_back.cycle().current_stage(), sop::v1::CYCLE_STAGE_DEMAND_REVIEW);
  EXPECT_EQ(after_back.cycle().stages(0).versions(0).status(), sop::v1::ARTIFACT_STATUS_SENT_BACK);
  EXPECT_EQ(after_back.cycle().stages(0).versions(0).signature().principal(), "dana");
  EXPECT_EQ(Sign(kDanaToken, demand).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  auto demand2 = Submit(kDanaToken, sop::v1::CYCLE_STAGE_DEMAND_REVIEW);
  EXPECT_EQ(demand2.version(), 2);
  ASSERT_TRUE(Sign(kDanaToken, demand2).ok());

  auto supply = Submit(kSupiToken, sop::v1::CYCLE_STAGE_SUPPLY_REVIEW);
  ASSERT_TRUE(Sign(kSupiToken, supply).ok());
  auto pack = Submit(kFinnToken, sop::v1::CYCLE_STAGE_PRE_SOP);
  EXPECT_EQ(pack.document().unavailable_sources(0), "mrp: not configured (workflow.mrp-address)");
  EXPECT_EQ(pack.document().unavailable_sources(1),
            "exceptions: not configured (workflow.exceptions-address)");
  ASSERT_TRUE(Sign(kFinnToken, pack).ok());

  // The executive moves the meeting (an audited decision) and signs the plan.
  sop::v1::MoveMeetingRequest move;
  move.set_cycle_id(kCycle);
  move.set_meeting_date("2026-12-11");
  move.set_reason("board travel");
  sop::v1::CycleResponse moved;
  ASSERT_TRUE(Call(&Stub::MoveMeeting, kEveToken, move, &moved).ok());
  EXPECT_EQ(moved.cycle().stages(3).due_date(), "2026-12-11");
  auto plan = Submit(kEveToken, sop::v1::CYCLE_STAGE_EXECUTIVE_SOP);
  ASSERT_TRUE(Sign(kEveToken, plan).ok());

  sop::v1::CommitToCustomerRequest promise;
  promise.set_cycle_id(kCycle);
  promise.set_customer_id("C-9");
  promise.set_item_id("FG-1");
  promise.set_quantity(120);
  promise.set_due_date("2026-12-18");
  sop::v1::CycleResponse promised;
  ASSERT_TRUE(Call(&Stub::CommitToCustomer, kSamToken, promise, &promised).ok());
  auto log = Submit(kSamToken, sop::v1::CYCLE_STAGE_COMMIT_BACK);
  ASSERT_EQ(log.document().tables(0).rows_size(), 1);
  EXPECT_EQ(log.document().tables(0).rows(0).cells(0), "EU-2026-12/C1");
  EXPECT_EQ(log.document().tables(0).rows(0).cells(3), "120");
  ASSERT_TRUE(Sign(kSamToken, log).ok());

  sop::v1::CycleResponse closed;
  ASSERT_TRUE(Call(&Stub::GetCycle, kDanaToken, get, &closed).ok());
  EXPECT_EQ(closed.cycle().current_stage(), sop::v1::CYCLE_STAGE_CLOSED);
  const std::vector<std::string> signers = {"dana", "supi", "finn", "eve", "sam"};
  for (int s = 0; s < 5; ++s) {
    const auto& latest =
        closed.cycle().stages(s).versions(closed.cycle().stages(s).versions_size() - 1);
    EXPECT_EQ(latest.status(), sop::v1::ARTIFACT_STATUS_SIGNED) << s;
    EXPECT_EQ(latest.signature().principal(), signers[s]) << s;
    EXPECT_EQ(latest.signature().content_sha256(), latest.content_sha256()) << s;
  }

  // Every refusal is in the audit log with its code, and the filters work.
  sop::v1::ListAuditRequest signs;
  signs.set_action("sign");
  std::vector<std::string> outcomes;
  for (const auto& entry : Audit(signs))
    outcomes.push_back(entry.outcome() + ":" + entry.principal());
  EXPECT_EQ(outcomes, (std::vector<std::string>{"FAILED_PRECONDITION:supi", "PERMISSION_DENIED:sam",
                                                "FAILED_PRECONDITION:dana", "UNAUTHENTICATED:",
                                                "OK:dana", "FAILED_PRECONDITION:dana", "OK:dana",
                                                "OK:supi", "OK:finn", "OK:eve", "OK:sam"}));
  sop::v1::ListAuditRequest unauthenticated;
  unauthenticated.set_principal("");
  unauthenticated.set_cycle_id(kCycle);
  unauthenticated.set_action("getcycle");
  EXPECT_EQ(Audit(unauthenticated).size(), 2u);
  sop::v1::ListAuditRequest by_eve;
  by_eve.set_principal("eve");
  std::vector<std::string> eve_actions;
  for (const auto& entry : Audit(by_eve)) eve_actions.push_back(entry.action());
  EXPECT_EQ(eve_actions,
            (std::vector<std::string>{"open_cycle", "move_meeting", "submit_artifact", "sign"}));
  // No token, not even part of one, is in the audit log.
  const auto audit = service_->ReadAudit();
  ASSERT_TRUE(audit);
  for (const auto& entry : *audit) {
    const std::string bytes = entry.SerializeAsString();
    for (const char* token :
         {kDanaToken, kSupiToken, kFinnToken, kEveToken, kSamToken, "tok-forged-0000"}) {
      EXPECT_EQ(bytes.find(token), std::string::npos) << entry.ShortDebugString();
    }
  }

  {
    std::lock_guard lock(log_mutex_);
    EXPECT_NE(log_text_.find("\"msg\":\"refused\""), std::string::npos);
    for (const char* token :
         {kDanaToken, kSupiToken, kFinnToken, kEveToken, kSamToken, "tok-forged-0000"}) {
      EXPECT_EQ(log_text_.find(token), std::string::npos) << token;
    }
  }

  // Every state change is on sop.workflow.v1, keyed by the cycle, in sequence.
  const std::uint64_t last = service_->last_sequence();
  // open, 2 x (demand submit, sign), send-back, 4 x (submit, sign), move, promise = 16
  EXPECT_EQ(last, 16u);
  auto events = reader.WaitFor(last);
  ASSERT_EQ(events.size(), last);
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].first, kCycle);
    EXPECT_EQ(events[i].second.sequence(), static_cast<std::int64_t>(i + 1));
  }
  EXPECT_EQ(events.back().second.artifact_signed().role(), "sales_lead");
}

TEST_F(WorkflowServiceTest, RestartOfServiceAndRedisLosesNoSignatureOrAuditEntry) {
  SetNow(2026, 12, 1, 9);
  Open();
  auto demand = Submit(kDanaToken, sop::v1::CYCLE_STAGE_DEMAND_REVIEW);
  ASSERT_EQ(Sign(kSamToken, demand).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Sign(kDanaToken, demand).ok());
  auto supply = Submit(kSupiToken, sop::v1::CYCLE_STAGE_SUPPLY_REVIEW);
  // Demand review was due Dec 3: on Dec 6 supply review (due Dec 5) is overdue.
  SetNow(2026, 12, 6, 8);
  ASSERT_TRUE(service_->CheckOverdue());
  EXPECT_NE(metrics_.SerializeText().find("sop_workflow_stage_overdue{stage=\"supply_review\"} 1"),
            std::string::npos);

  const auto audit_before = service_->ReadAudit().value();
  const auto cycle_before = service_->CycleView(kCycle).value();
  ASSERT_EQ(audit_before.size(), 6u);  // open, submit, denied sign, sign, submit, overdue
  // The workflow service goes away without any shutdown work, and redis-server is SIGKILLed:
  // only what append-only persistence acknowledged survives.
  server_->Shutdown(0s);
  server_.reset();
  service_.reset();
  ASSERT_TRUE(redis_.Kill());
  ASSERT_TRUE(redis_.Start());
  StartService();

  const auto audit_after = service_->ReadAudit().value();
  ASSERT_EQ(audit_after.size(), audit_before.size());
  for (std::size_t i = 0; i < audit_before.size(); ++i) {
    EXPECT_EQ(audit_after[i].SerializeAsString(), audit_before[i].SerializeAsString()) << i;
  }
  EXPECT_EQ(service_->CycleView(kCycle).value().SerializeAsString(),
            cycle_before.SerializeAsString());
  // The cycle goes on where it was: the supply lead signs the version submitted before.
  ASSERT_TRUE(Sign(kSupiToken, supply).ok());
  EXPECT_EQ(service_->CycleView(kCycle).value().current_stage(), sop::v1::CYCLE_STAGE_PRE_SOP);
}

TEST_F(WorkflowServiceTest, RefusalsWhileRedisIsDownAreAuditedOnceItIsBackAndCounted) {
  SetNow(2026, 12, 1, 9);
  Open();
  auto demand = Submit(kDanaToken, sop::v1::CYCLE_STAGE_DEMAND_REVIEW);
  ASSERT_EQ(service_->ReadAudit().value().size(), 2u);  // open, submit

  // redis-server stops: a wrong-role sign and a forged token are refused all the same, and
  // their audit entries wait in order; an allowed action cannot be recorded (UNAVAILABLE).
  ASSERT_TRUE(redis_.Stop());
  EXPECT_EQ(Sign(kSamToken, demand).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  sop::v1::GetCycleRequest get;
  get.set_cycle_id(kCycle);
  sop::v1::CycleResponse cycle;
  EXPECT_EQ(Call(&Stub::GetCycle, "tok-forged-0000", get, &cycle).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Sign(kDanaToken, demand).error_code(), grpc::StatusCode::UNAVAILABLE);
  // Reads still answer from memory.
  ASSERT_TRUE(Call(&Stub::GetCycle, kDanaToken, get, &cycle).ok());
  EXPECT_EQ(cycle.cycle().current_stage(), sop::v1::CYCLE_STAGE_DEMAND_REVIEW);
  const std::string metrics = metrics_.SerializeText();
  EXPECT_NE(metrics.find("sop_workflow_audit_pending 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("sop_workflow_auth_denied_total{code=\"PERMISSION_DENIED\",method=\"/"
                         "sop.v1.Workflow/Sign\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("sop_workflow_auth_denied_total{code=\"UNAUTHENTICATED\",method=\"/"
                         "sop.v1.Workflow/GetCycle\"} 1"),
            std::string::npos)
      << metrics;

  // Redis is back: the next tick writes them, oldest first, before anything newer.
  ASSERT_TRUE(redis_.Start());
  ASSERT_TRUE(service_->CheckOverdue());
  ASSERT_TRUE(Sign(kDanaToken, demand).ok());
  auto audit = service_->ReadAudit().value();
  std::vector<std::string> entries;
  for (const auto& entry : audit) {
    entries.push_back(entry.action() + ":" + entry.outcome() + ":" + entry.principal());
  }
  EXPECT_EQ(entries, (std::vector<std::string>{"open_cycle:OK:eve", "submit_artifact:OK:dana",
                                               "sign:PERMISSION_DENIED:sam",
                                               "getcycle:UNAUTHENTICATED:", "sign:OK:dana"}));
  EXPECT_NE(metrics_.SerializeText().find("sop_workflow_audit_pending 0"), std::string::npos);

  // redis-server frozen: the append of a refusal times out, but the RPUSH may still land once
  // it runs again. Either way the refusal is in the log exactly once.
  auto supply = Submit(kSupiToken, sop::v1::CYCLE_STAGE_SUPPLY_REVIEW);
  ASSERT_TRUE(redis_.Pause());
  EXPECT_EQ(Sign(kFinnToken, supply).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(metrics_.SerializeText().find("sop_workflow_audit_pending 1"), std::string::npos);
  ASSERT_TRUE(redis_.Resume());
  // The store reconnects with backoff: tick (as the ticker would) until Redis takes the entry.
  Status flushed = service_->CheckOverdue();
  for (const auto deadline = std::chrono::steady_clock::now() + 10s;
       !flushed && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(50ms);  // retry pacing of a poll under a deadline
    flushed = service_->CheckOverdue();
  }
  ASSERT_TRUE(flushed) << flushed.error().ToString();
  audit = service_->ReadAudit().value();
  int finn_refusals = 0;
  for (const auto& entry : audit) {
    finn_refusals += entry.principal() == "finn" && entry.outcome() == "PERMISSION_DENIED";
  }
  EXPECT_EQ(finn_refusals, 1);
  EXPECT_EQ(audit.size(), 7u);
  EXPECT_NE(metrics_.SerializeText().find("sop_workflow_audit_pending 0"), std::string::npos);
}

TEST_F(WorkflowServiceTest, ChangeRequestsWaitForASupplyLeadAndRejectionsAreRecorded) {
  SetNow(2026, 12, 1, 9);
  Open();
  sop::v1::CreateChangeRequestRequest create;
  create.set_cycle_id(kCycle);
  create.set_kind(sop::v1::CHANGE_REQUEST_KIND_DEMAND);
  create.set_item_id("FG-1");
  create.set_site_id("PL1");
  create.set_period_start("2026-12-14");
  create.set_quantity_delta(40);
  create.set_reason("promo");
  sop::v1::ChangeRequestResponse created;
  ASSERT_TRUE(Call(&Stub::CreateChangeRequest, kSamToken, create, &created).ok());
  EXPECT_EQ(created.change_request().id(), "EU-2026-12/CR1");
  EXPECT_EQ(created.change_request().status(), sop::v1::CHANGE_REQUEST_STATUS_PENDING);
  create.set_period_start("2027-03-01");
  sop::v1::ChangeRequestResponse outside;
  auto refused = Call(&Stub::CreateChangeRequest, kSamToken, create, &outside);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(refused.error_message(),
            "period_start: outside the frozen fence 2026-12-01..2026-12-28 (change the plan "
            "directly), got '2027-03-01'");

  sop::v1::DecideChangeRequestRequest decide;
  decide.set_id("EU-2026-12/CR1");
  sop::v1::ChangeRequestResponse decided;
  EXPECT_EQ(Call(&Stub::ApproveChangeRequest, kSamToken, decide, &decided).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Forecasting is not running: the approval cannot reach planning, so it is not recorded.
  auto unavailable = Call(&Stub::ApproveChangeRequest, kSupiToken, decide, &decided);
  EXPECT_EQ(unavailable.error_code(), grpc::StatusCode::UNAVAILABLE);
  sop::v1::ListChangeRequestsRequest pending;
  pending.set_status(sop::v1::CHANGE_REQUEST_STATUS_PENDING);
  sop::v1::ListChangeRequestsResponse listed;
  ASSERT_TRUE(Call(&Stub::ListChangeRequests, kDanaToken, pending, &listed).ok());
  ASSERT_EQ(listed.change_requests_size(), 1);

  decide.set_reason("no capacity in week 51");
  ASSERT_TRUE(Call(&Stub::RejectChangeRequest, kSupiToken, decide, &decided).ok());
  EXPECT_EQ(decided.change_request().status(), sop::v1::CHANGE_REQUEST_STATUS_REJECTED);
  EXPECT_EQ(decided.change_request().decided_by(), "supi");
  sop::v1::ListAuditRequest actions;
  actions.set_cycle_id(kCycle);
  std::vector<std::string> seen;
  for (const auto& entry : Audit(actions)) seen.push_back(entry.action() + ":" + entry.outcome());
  EXPECT_EQ(seen, (std::vector<std::string>{"open_cycle:OK", "create_change_request:OK",
                                            "create_change_request:INVALID_ARGUMENT",
                                            "approve_change_request:PERMISSION_DENIED",
                                            "approve_change_request:UNAVAILABLE",
                                            "reject_change_request:OK"}));
}

TEST_F(WorkflowServiceTest, AnApprovedSupplyChangeIsPublishedAsAnErpEventARejectedOneIsNot) {
  SetNow(2026, 12, 1, 9);
  Open();
  ErpReader reader(broker_->bootstrap_servers());
  sop::v1::CreateChangeRequestRequest create;
  create.set_cycle_id(kCycle);
  create.set_kind(sop::v1::CHANGE_REQUEST_KIND_SUPPLY);
  create.set_item_id("FG-1");
  create.set_site_id("PL1");
  create.set_period_start("2026-12-14");
  create.set_quantity_delta(-5);
  create.set_reason("expedite");
  sop::v1::ChangeRequestResponse created;
  auto negative = Call(&Stub::CreateChangeRequest, kSupiToken, create, &created);
  EXPECT_EQ(negative.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(negative.error_message(),
            "quantity_delta: a supply change adds a firm receipt and must be > 0 (reduce supply "
            "by changing the order in the ERP), got '-5'");
  create.set_quantity_delta(120);
  ASSERT_TRUE(Call(&Stub::CreateChangeRequest, kSupiToken, create, &created).ok());
  ASSERT_EQ(created.change_request().id(), "EU-2026-12/CR1");
  create.set_quantity_delta(75);
  ASSERT_TRUE(Call(&Stub::CreateChangeRequest, kSamToken, create, &created).ok());
  ASSERT_EQ(created.change_request().id(), "EU-2026-12/CR2");

  // CR2 is rejected first, CR1 approved after: both would go to PL1's partition in this order,
  // so when CR1's event has arrived, a CR2 event would have arrived before it.
  sop::v1::DecideChangeRequestRequest decide;
  decide.set_id("EU-2026-12/CR2");
  decide.set_reason("no supplier capacity");
  sop::v1::ChangeRequestResponse decided;
  ASSERT_TRUE(Call(&Stub::RejectChangeRequest, kSupiToken, decide, &decided).ok());
  decide.set_id("EU-2026-12/CR1");
  decide.set_reason("supplier confirmed");
  ASSERT_TRUE(Call(&Stub::ApproveChangeRequest, kSupiToken, decide, &decided).ok());
  EXPECT_EQ(decided.change_request().status(), sop::v1::CHANGE_REQUEST_STATUS_APPROVED);
  EXPECT_EQ(decided.change_request().applied_reference(), "sop-workflow:cr:EU-2026-12/CR1");
  EXPECT_EQ(Call(&Stub::ApproveChangeRequest, kSupiToken, decide, &decided).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  const auto received = reader.WaitFor(1);
  ASSERT_EQ(received.size(), 1u);
  const auto& [key, envelope] = received[0];
  EXPECT_EQ(key, "PL1");
  EXPECT_EQ(envelope.event_id(), "sop-workflow:cr:EU-2026-12/CR1");
  EXPECT_EQ(envelope.source_system(), "sop-workflow");
  EXPECT_EQ(envelope.site(), "PL1");
  ASSERT_TRUE(envelope.has_purchase_order());
  const auto& order = envelope.purchase_order();
  EXPECT_EQ(order.po_id(), "EU-2026-12/CR1");
  EXPECT_EQ(order.line(), 1);
  EXPECT_EQ(order.item_id(), "FG-1");
  EXPECT_EQ(order.site_id(), "PL1");
  EXPECT_EQ(order.quantity(), 120);
  EXPECT_EQ(order.due_date().seconds(), 1'797'206'400);  // 2026-12-14T00:00:00Z
  EXPECT_EQ(order.status(), sop::v1::ORDER_STATUS_OPEN);
}

}  // namespace
}  // namespace sop::workflow
