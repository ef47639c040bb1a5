// The processor's handler without a broker: a fake producer records what would be published,
// so the per-record cost of the whole handler (decide, build the fact, hand it to the producer,
// metrics) is measured on its own. No checkpoint runs (interval and record bound are huge).

#include "sop/ingestion/processor.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "sop/bus/topics.hpp"
#include "sop/gen/generator.hpp"
#include "sop/v1/planning.pb.h"

namespace sop::ingestion {
namespace {

class FakeProducer final : public bus::Producer {
 public:
  void Send(bus::OutgoingMessage message, bus::DeliveryCallback callback) override {
    if (message.topic == bus::kFactsTopic)
      ++facts;
    else
      ++dead_letters;
    last_value = std::move(message.value);
    if (fail) {
      callback(std::unexpected(Error(Errc::kDeadlineExceeded, "message timed out")));
      return;
    }
    callback(bus::DeliveryReport{.topic = message.topic, .partition = 0, .offset = facts});
  }
  Status Flush(std::chrono::milliseconds) override { return {}; }
  int OutstandingCount() const override { return 0; }

  std::int64_t facts = 0;
  std::int64_t dead_letters = 0;
  std::string last_value;
  bool fail = false;
};

TEST(IngestionProcessor, HandlesGeneratedScaleSIntoFactsAndReportsThroughput) {
  gen::GeneratorOptions options;  // S with its full 156 weeks of shipment history
  std::vector<bus::Message> messages;
  auto stats = gen::Generate(options, [&](const sop::v1::Envelope& e) {
    messages.push_back(bus::Message{.topic = std::string(bus::kErpEventsTopic),
                                    .partition = 0,
                                    .offset = static_cast<std::int64_t>(messages.size()),
                                    .key = e.site(),
                                    .value = e.SerializeAsString()});
  });
  ASSERT_TRUE(stats);
  runtime::MetricsRegistry metrics;
  runtime::Logger logger("test", runtime::LogLevel::kError);
  IngestionProbe probe(metrics);
  FakeProducer producer;
  store::RedisStore store({.port = 1});  // never used: no checkpoint is due
  Processor processor(
      {.checkpoint_records = 1'000'000'000, .checkpoint_interval = std::chrono::hours(1)}, producer,
      store, probe, logger);
  const auto started = std::chrono::steady_clock::now();
  for (const auto& message : messages) ASSERT_TRUE(processor.Handle(message));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(producer.facts, static_cast<std::int64_t>(messages.size()));
  EXPECT_EQ(producer.dead_letters, 0);
  sop::v1::Fact last;
  ASSERT_TRUE(last.ParseFromString(producer.last_value));
  EXPECT_EQ(last.envelope().SerializeAsString(), messages.back().value);
  EXPECT_EQ(last.ingestion_instance(), "ingestion");
  std::printf("[ handle ] %zu records in %.3f s = %.0f records/s on one thread\n", messages.size(),
              seconds, static_cast<double>(messages.size()) / seconds);
}

}  // namespace
}  // namespace sop::ingestion

namespace sop::ingestion {
namespace {

TEST(IngestionProcessor, UndeliveredFactMakesItUnhealthyAndWithholdsTheSnapshot) {
  runtime::MetricsRegistry metrics;
  runtime::Logger logger("test", runtime::LogLevel::kError);
  IngestionProbe probe(metrics);
  FakeProducer producer;
  producer.fail = true;
  store::RedisStore store({.port = 1});
  Processor processor({.checkpoint_records = 1}, producer, store, probe, logger);
  sop::v1::Envelope site;
  site.set_event_id("s:P1");
  site.set_site("P1");
  site.mutable_site_master()->set_site_id("P1");
  ASSERT_TRUE(processor.Handle(
      bus::Message{.topic = std::string(bus::kErpEventsTopic), .value = site.SerializeAsString()}));
  EXPECT_FALSE(processor.healthy());
  const std::string text = metrics.SerializeText();
  EXPECT_NE(text.find("sop_ingestion_publish_failures_total 1"), std::string::npos);
  // The checkpoint due after one record was withheld, not attempted against Redis.
  EXPECT_NE(text.find("sop_ingestion_checkpoint_failures_total 1"), std::string::npos);
  EXPECT_EQ(store.stats().connect_attempts, 0u);
}

}  // namespace
}  // namespace sop::ingestion
