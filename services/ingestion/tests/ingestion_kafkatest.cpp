// Ingestion against the real things: the embedded Kafka broker, a real redis-server and a real
// gRPC channel. Waits are conditions with deadlines, never sleeps.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "sop/bus/consumer.hpp"
#include "sop/bus/dead_letter.hpp"
#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/producer.hpp"
#include "sop/bus/topics.hpp"
#include "sop/gen/generator.hpp"
#include "sop/ingestion/processor.hpp"
#include "sop/ingestion/service.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/store/testing/redis_server.hpp"
#include "sop/v1/ingestion.grpc.pb.h"
#include "sop/v1/planning.pb.h"

namespace sop::ingestion {
namespace {

using namespace std::chrono_literals;
using testing::ConsumerConfig;
using testing::Instance;
using testing::ProducerConfig;

// Everything a topic reader saw, waitable with a deadline.
class Seen {
 public:
  void Add(const std::string& id) {
    {
      std::lock_guard lock(mutex_);
      ++counts_[id];
      ++total_;
    }
    cv_.notify_all();
  }
  bool WaitTotal(std::size_t at_least, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return total_ >= at_least; });
  }
  bool WaitFor(const std::set<std::string>& ids, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const auto& id : ids)
        if (!counts_.contains(id)) return false;
      return true;
    });
  }
  std::map<std::string, int> counts() const {
    std::lock_guard lock(mutex_);
    return counts_;
  }
  std::size_t total() const {
    std::lock_guard lock(mutex_);
    return total_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, int> counts_;
  std::size_t total_ = 0;
};

class IngestionKafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = bus::EmbeddedBroker::Start({.brokers = 1, .partitions = 3});
    ASSERT_TRUE(started) << started.error().ToString();
    broker_ = std::move(*started);
    ASSERT_TRUE(redis_.Start());
    auto producer = bus::Producer::Create(ProducerConfig(broker_->bootstrap_servers()));
    ASSERT_TRUE(producer);
    source_ = std::move(*producer);
    facts_reader_ = Reader(std::string(bus::kFactsTopic), [this](const bus::Message& m) {
      sop::v1::Fact fact;
      EXPECT_TRUE(fact.ParseFromString(m.value));
      EXPECT_EQ(m.key.value_or(""), fact.envelope().site());
      facts_.Add(fact.envelope().event_id());
    });
    dlq_reader_ = Reader(std::string(bus::kDeadLetterTopic), [this](const bus::Message& m) {
      auto record = bus::DeadLetter::Decode(m);
      EXPECT_TRUE(record) << record.error().ToString();
      dead_.Add(record->reason);
    });
  }
  void TearDown() override {
    if (facts_reader_) facts_reader_->Stop();
    if (dlq_reader_) dlq_reader_->Stop();
  }

  std::unique_ptr<bus::Consumer> Reader(const std::string& topic,
                                        std::function<void(const bus::Message&)> on_message) {
    auto consumer = bus::Consumer::Create(
        ConsumerConfig(broker_->bootstrap_servers()),
        {.group_id = "reader-" + topic,
         .topics = {topic},
         .handler = [on_message](const bus::Message& m) -> Status {
           on_message(m);
           return {};
         },
         .on_rejected = [](const bus::Message&, const Error& error) -> Status {
           ADD_FAILURE() << error.ToString();
           return {};
         }});
    if (!consumer) {
      ADD_FAILURE() << consumer.error().ToString();
      return nullptr;
    }
    EXPECT_TRUE((*consumer)->Start());
    return std::move(*consumer);
  }

  void Produce(const std::string& site, const std::string& bytes) {
    source_->Send(
        bus::OutgoingMessage{
            .topic = std::string(bus::kErpEventsTopic), .key = site, .value = bytes},
        [](Result<bus::DeliveryReport> report) { EXPECT_TRUE(report); });
  }

  std::unique_ptr<Instance> NewInstance(const std::string& group = "sop-ingestion",
                                        DedupRetention dedup = {}) {
    return std::make_unique<Instance>(broker_->bootstrap_servers(), redis_.StoreOptions(), group,
                                      logger_, dedup);
  }

  runtime::Logger logger_{"sop-ingestion-test", runtime::LogLevel::kWarn};
  std::unique_ptr<bus::EmbeddedBroker> broker_;
  store_testing::RedisServer redis_;
  std::unique_ptr<bus::Producer> source_;
  Seen facts_;
  Seen dead_;
  std::unique_ptr<bus::Consumer> facts_reader_;
  std::unique_ptr<bus::Consumer> dlq_reader_;
};

sop::v1::Envelope SalesOrder(const std::string& id, const std::string& site,
                             const std::string& item, double quantity) {
  sop::v1::Envelope e;
  e.set_event_id(id);
  e.set_site(site);
  auto* so = e.mutable_sales_order();
  so->set_order_id(id);
  so->set_site_id(site);
  so->set_item_id(item);
  so->set_quantity(quantity);
  so->mutable_due_date()->set_seconds(1'796'000'000);
  return e;
}

struct GeneratedSlice {
  std::vector<sop::v1::Envelope> good;
  std::map<std::string, std::string> item_of_site;  // one known item per site
  sop::v1::Envelope some_bom;
};

GeneratedSlice Generate() {
  gen::GeneratorOptions options;
  options.history_weeks = 1;
  GeneratedSlice slice;
  EXPECT_TRUE(gen::Generate(options, [&](const sop::v1::Envelope& e) {
    // A slice: all master data and one in four transactions, so the test stays quick.
    const bool master = e.has_site_master() || e.has_item() || e.has_bom() || e.has_routing() ||
                        e.has_work_center() || e.has_calendar() || e.has_planning_settings() ||
                        e.has_supplier() || e.has_customer();
    if (!master && std::hash<std::string>{}(e.event_id()) % 4 != 0) return;
    slice.good.push_back(e);
    if (e.has_item()) slice.item_of_site.emplace(e.site(), e.item().item_id());
    if (e.has_bom() && slice.some_bom.event_id().empty()) slice.some_bom = e;
  }));
  return slice;
}

TEST_F(IngestionKafkaTest, GoodEventsOnceBadOnesDeadLetteredReplayAddsNothing) {
  auto instance = NewInstance();
  const GeneratedSlice slice = Generate();
  ASSERT_GT(slice.good.size(), 5'000u);
  for (const auto& e : slice.good) Produce(e.site(), e.SerializeAsString());

  // The bad ones, after the master data they refer to.
  const std::string site = slice.some_bom.site();
  const std::string truncated =
      SalesOrder("bad:truncated", site, slice.item_of_site.at(site), 1).SerializeAsString();
  Produce(site, truncated.substr(0, truncated.size() - 4));
  auto unknown_site = SalesOrder("bad:site", "NOWHERE", "X", 1);
  Produce("NOWHERE", unknown_site.SerializeAsString());
  Produce(site,
          SalesOrder("bad:negative", site, slice.item_of_site.at(site), -5).SerializeAsString());
  sop::v1::Envelope cycle;
  cycle.set_event_id("bad:cycle");
  cycle.set_site(site);
  cycle.mutable_bom()->set_site_id(site);
  cycle.mutable_bom()->set_parent_item_id(slice.some_bom.bom().lines(0).component_item_id());
  auto* line = cycle.mutable_bom()->add_lines();
  line->set_component_item_id(slice.some_bom.bom().parent_item_id());
  line->set_quantity_per(1);
  Produce(site, cycle.SerializeAsString());
  ASSERT_TRUE(source_->Flush(10s));

  ASSERT_TRUE(facts_.WaitTotal(slice.good.size(), 60s))
      << facts_.total() << " of " << slice.good.size();
  ASSERT_TRUE(dead_.WaitTotal(4, 20s)) << dead_.total();
  {
    const auto counts = facts_.counts();
    EXPECT_EQ(counts.size(), slice.good.size());
    for (const auto& e : slice.good)
      ASSERT_EQ(counts.count(e.event_id()) ? counts.at(e.event_id()) : 0, 1) << e.event_id();
    std::set<std::string> reasons;
    for (const auto& [reason, n] : dead_.counts()) reasons.insert(reason);
    auto has = [&](const std::string& needle) {
      for (const auto& r : reasons)
        if (r.find(needle) != std::string::npos) return true;
      return false;
    };
    EXPECT_TRUE(has("envelope: not a sop.v1.Envelope"));
    EXPECT_TRUE(has("site: unknown site (no SiteMaster accepted), got 'NOWHERE'"));
    EXPECT_TRUE(has("sales_order.quantity: must be >= 0, got '-5'"));
    EXPECT_TRUE(has("bom.lines: would create a BOM cycle"));
  }
  EXPECT_EQ(instance->Metric("sop_ingestion_rejected_total{reason=\"inconsistent\"}"), 1);

  // Replay everything, then one fresh sentinel per site marks the end of each partition.
  for (const auto& e : slice.good) Produce(e.site(), e.SerializeAsString());
  Produce(site,
          SalesOrder("bad:negative", site, slice.item_of_site.at(site), -5).SerializeAsString());
  Produce(site, truncated.substr(0, truncated.size() - 4));
  std::set<std::string> sentinels;
  for (const auto& [s, item] : slice.item_of_site) {
    Produce(s, SalesOrder("sentinel:" + s, s, item, 1).SerializeAsString());
    sentinels.insert("sentinel:" + s);
  }
  ASSERT_TRUE(source_->Flush(10s));
  ASSERT_TRUE(facts_.WaitFor(sentinels, 60s));
  // Unparsable bytes carry no id, so only they are dead-lettered again.
  ASSERT_TRUE(dead_.WaitTotal(5, 20s));
  EXPECT_EQ(facts_.total(), slice.good.size() + sentinels.size());
  EXPECT_EQ(dead_.total(), 5u);
  EXPECT_EQ(instance->Metric("sop_ingestion_events_total{outcome=\"duplicate\"}"),
            static_cast<double>(slice.good.size() + 1));
}

TEST_F(IngestionKafkaTest, SubmitOverGrpcSummarizesAndListRejectedShowsTheReasons) {
  auto instance = NewInstance();
  auto channel = grpc::CreateChannel(instance->address(), grpc::InsecureChannelCredentials());
  auto stub = sop::v1::Ingestion::NewStub(channel);

  sop::v1::Envelope site;
  site.set_event_id("s:P1");
  site.set_site(" P1 ");
  site.mutable_site_master()->set_site_id("P1");
  sop::v1::Envelope item;
  item.set_event_id("i:P1:FG");
  item.set_site("P1");
  item.mutable_item()->set_site_id("P1");
  item.mutable_item()->set_item_id("FG");
  item.mutable_item()->set_unit_of_measure("ea");
  sop::v1::Envelope no_id = SalesOrder("", "P1", "FG", 1);
  const std::vector<sop::v1::Envelope> stream = {site,
                                                 item,
                                                 SalesOrder("so:1", "P1", "FG", 4),
                                                 SalesOrder("so:1", "P1", "FG", 4),
                                                 SalesOrder("so:2", "P1", "FG", -1),
                                                 no_id};

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 30s);
  sop::v1::SubmitSummary summary;
  auto writer = stub->Submit(&context, &summary);
  for (const auto& e : stream) ASSERT_TRUE(writer->Write(e));
  ASSERT_TRUE(writer->WritesDone());
  const grpc::Status status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(summary.received(), 6);
  EXPECT_EQ(summary.accepted(), 3);
  EXPECT_EQ(summary.duplicates(), 1);
  EXPECT_EQ(summary.rejected(), 2);
  EXPECT_EQ(summary.pending(), 0);
  ASSERT_EQ(summary.rejections_size(), 2);

  ASSERT_TRUE(facts_.WaitFor({"s:P1", "i:P1:FG", "so:1"}, 20s));
  ASSERT_TRUE(dead_.WaitTotal(2, 20s));

  grpc::ClientContext list_context;
  sop::v1::ListRejectedRequest request;
  request.set_site("P1");
  request.set_page_size(1);
  sop::v1::ListRejectedResponse response;
  ASSERT_TRUE(stub->ListRejected(&list_context, request, &response).ok());
  ASSERT_EQ(response.rejections_size(), 1);
  EXPECT_FALSE(response.next_page_token().empty());
  std::set<std::string> fields = {response.rejections(0).field()};
  grpc::ClientContext next_context;
  request.set_page_token(response.next_page_token());
  sop::v1::ListRejectedResponse next;
  ASSERT_TRUE(stub->ListRejected(&next_context, request, &next).ok());
  ASSERT_EQ(next.rejections_size(), 1);
  fields.insert(next.rejections(0).field());
  EXPECT_EQ(fields, (std::set<std::string>{"event_id", "sales_order.quantity"}));
  // The Redis audit log has both as well (the pipeline's is written with its next checkpoint).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (instance->store().Length(RejectionLog::kRedisLog).value_or(0) < 2 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);  // polling a condition against a deadline
  }
  EXPECT_EQ(instance->store().Length(RejectionLog::kRedisLog).value_or(0), 2u);

  grpc::ClientContext bad_context;
  request.set_page_size(5000);
  EXPECT_EQ(stub->ListRejected(&bad_context, request, &next).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// A new replica in a NEW consumer group (no committed offsets) on the same Redis resumes from
// the snapshot's offsets and de-duplication set: nothing is published twice.
TEST_F(IngestionKafkaTest, RestartedInstanceResumesFromSnapshotWithoutRepublishing) {
  std::vector<sop::v1::Envelope> first = testing::SiteAndItem("P1", "FG");
  for (int i = 0; i < 200; ++i)
    first.push_back(SalesOrder("so:" + std::to_string(i), "P1", "FG", i));
  {
    auto instance = NewInstance("group-a");
    for (const auto& e : first) Produce("P1", e.SerializeAsString());
    ASSERT_TRUE(source_->Flush(10s));
    ASSERT_TRUE(facts_.WaitTotal(first.size(), 30s));
    instance->Stop();  // revocation + final snapshot
  }
  auto restarted = NewInstance("group-b");
  // A replayed old event and a new one: only the new one becomes a fact.
  Produce("P1", first[5].SerializeAsString());
  Produce("P1", SalesOrder("so:new", "P1", "FG", 1).SerializeAsString());
  ASSERT_TRUE(source_->Flush(10s));
  ASSERT_TRUE(facts_.WaitFor({"so:new"}, 30s));
  EXPECT_EQ(facts_.total(), first.size() + 1);
  for (const auto& [id, n] : facts_.counts()) EXPECT_EQ(n, 1) << id;
}

// The bounded window through the real parts: 202 events of one site into windows of 50 ids.
// The final snapshot in Redis holds exactly the newest 50 (the state stays bounded, whatever
// was decided before); the metrics count 152 evicted ids. A new instance (new group, same Redis)
// restores the window: a replayed event inside it publishes nothing, one from beyond it becomes
// a fact again (the documented limit: beyond the window only the facts' own idempotence holds).
TEST_F(IngestionKafkaTest, TheDedupWindowStaysBoundedInTheSnapshotAndDropsDuplicatesInsideIt) {
  const DedupRetention window{.max_ids = 50, .max_age = std::chrono::hours(1)};
  std::vector<sop::v1::Envelope> events = testing::SiteAndItem("P1", "FG");
  for (int i = 0; i < 200; ++i)
    events.push_back(SalesOrder("so:" + std::to_string(i), "P1", "FG", i));
  std::int32_t partition = -1;
  {
    auto instance = NewInstance("group-w1", window);
    for (const auto& e : events) Produce("P1", e.SerializeAsString());
    ASSERT_TRUE(source_->Flush(10s));
    ASSERT_TRUE(facts_.WaitTotal(events.size(), 30s));
    instance->Stop();  // revocation + final snapshot
    EXPECT_EQ(instance->Metric("sop_ingestion_dedup_evicted_total"), 152);
    // Every record of site P1 is on one partition: find its snapshot.
    for (std::int32_t p = 0; p < 6 && partition < 0; ++p) {
      auto stored = instance->store().GetSnapshot(
          instance->processor().SnapshotName(std::string(bus::kErpEventsTopic), p));
      ASSERT_TRUE(stored) << stored.error().ToString();
      if (!*stored) continue;
      partition = p;
      auto state = PartitionState::Decode((*stored)->state, window);
      ASSERT_TRUE(state) << state.error().ToString();
      EXPECT_EQ(state->applied_ids.size(), 50u);
      EXPECT_TRUE(state->applied_ids.Contains("so:150"));
      EXPECT_FALSE(state->applied_ids.Contains("so:149"));
      EXPECT_EQ(state->master.item_count(), 1u);  // master data is not part of the window
    }
  }
  ASSERT_GE(partition, 0);
  auto restarted = NewInstance("group-w2", window);
  Produce("P1", events[2 + 199].SerializeAsString());  // so:199, inside the window
  Produce("P1", events[2 + 0].SerializeAsString());    // so:0, beyond it
  Produce("P1", SalesOrder("so:new", "P1", "FG", 1).SerializeAsString());
  ASSERT_TRUE(source_->Flush(10s));
  ASSERT_TRUE(facts_.WaitFor({"so:new"}, 30s));
  EXPECT_EQ(facts_.total(), events.size() + 2);  // so:0 again and so:new
  EXPECT_EQ(facts_.counts().at("so:0"), 2);
  EXPECT_EQ(facts_.counts().at("so:199"), 1);
}

}  // namespace
}  // namespace sop::ingestion
