#pragma once
/// Facts for the service tests (mrp, capacity, exceptions): the generated S-scale manufacturer
/// every service test feeds, the ingestion envelope around an event, the keyed spread over
/// partitions, producing facts to sop.facts.v1, and the plan the libraries compute directly on
/// the same events (the reference a service's answer is compared with).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sop/bus/producer.hpp"
#include "sop/planning/netting.hpp"
#include "sop/v1/events.pb.h"
#include "sop/v1/planning.pb.h"

namespace sop::service_testing {

/// Seconds of the first fact's ingested_at; the fact of sequence n is ingested at base + n.
inline constexpr std::int64_t kIngestedBase = 1'800'000'000;

/// The generated S-scale manufacturer (seed 11, no shipment history), generated once.
const std::vector<sop::v1::Envelope>& SEvents();

/// `envelope` as ingestion publishes it: a Fact ingested at kIngestedBase + sequence by "test".
std::string FactBytes(const sop::v1::Envelope& envelope, std::int64_t sequence);

/// Site → one of `partitions` partitions, as a keyed topic spreads them in these tests.
std::int32_t PartitionOf(const sop::v1::Envelope& envelope, std::int32_t partitions = 3);

/// Produces events[begin, end) as Facts (sequence = index) keyed by site to sop.facts.v1 and
/// flushes; a failed delivery or flush is a test failure.
void ProduceFacts(bus::Producer& producer, std::span<const sop::v1::Envelope> events,
                  std::size_t begin, std::size_t end);

/// The reference: `events` assembled by libs/codec and fully netted by libs/planning (throws
/// when they do not assemble).
std::unique_ptr<planning::NettingEngine> ReferencePlan(
    const std::vector<sop::v1::Envelope>& events);

}  // namespace sop::service_testing
