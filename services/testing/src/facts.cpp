#include "sop/service_testing/facts.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <stdexcept>

#include "sop/bus/topics.hpp"
#include "sop/codec/assembler.hpp"
#include "sop/gen/generator.hpp"

namespace sop::service_testing {

const std::vector<sop::v1::Envelope>& SEvents() {
  static const std::vector<sop::v1::Envelope> events = [] {
    gen::GeneratorOptions options;
    options.scale = gen::Scale::kS;
    options.seed = 11;
    options.history_weeks = 0;
    auto all = gen::GenerateAll(options);
    if (!all) throw std::runtime_error(all.error().ToString());
    return std::move(*all);
  }();
  return events;
}

std::string FactBytes(const sop::v1::Envelope& envelope, std::int64_t sequence) {
  sop::v1::Fact fact;
  *fact.mutable_envelope() = envelope;
  fact.mutable_ingested_at()->set_seconds(kIngestedBase + sequence);
  fact.set_ingestion_instance("test");
  return fact.SerializeAsString();
}

std::int32_t PartitionOf(const sop::v1::Envelope& envelope, std::int32_t partitions) {
  return static_cast<std::int32_t>(std::hash<std::string>{}(envelope.site()) %
                                   static_cast<std::size_t>(partitions));
}

void ProduceFacts(bus::Producer& producer, std::span<const sop::v1::Envelope> events,
                  std::size_t begin, std::size_t end) {
  for (std::size_t i = begin; i < end; ++i) {
    bus::OutgoingMessage message;
    message.topic = std::string(bus::kFactsTopic);
    message.key = events[i].site();
    message.value = FactBytes(events[i], static_cast<std::int64_t>(i));
    producer.Send(std::move(message), [](Result<bus::DeliveryReport> report) {
      EXPECT_TRUE(report.has_value()) << report.error().ToString();
    });
  }
  const auto flushed = producer.Flush(std::chrono::seconds(30));
  EXPECT_TRUE(flushed.has_value()) << flushed.error().ToString();
}

std::unique_ptr<planning::NettingEngine> ReferencePlan(
    const std::vector<sop::v1::Envelope>& events) {
  codec::SnapshotAssembler assembler;
  for (const auto& e : events) assembler.Apply(e);
  auto built = assembler.Build();
  if (!built) throw std::runtime_error(built.error().ToString());
  auto engine = std::make_unique<planning::NettingEngine>(std::move(built->snapshot));
  engine->RunFull();
  return engine;
}

}  // namespace sop::service_testing
