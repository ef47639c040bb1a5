#pragma once
// What sop-bench-pipeline sends: the generated S-scale manufacturer as serialized ERP envelopes
// (cycled with fresh event ids for the ingestion figure), and a stream of realistic changes
// (sales-order changes, goods receipts, shipments) for the latency figure.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "sop/model/error.hpp"

namespace sop::v1 {
class Envelope;
}  // namespace sop::v1

namespace sop::bench {

/// One record for sop.erp.events.v1: key = site, value = serialized sop.v1.Envelope.
struct Record {
  std::string key{};
  std::string value{};
};

/// The generated S manufacturer (seed `seed`, `history_weeks` < 0 = the scale default of 156
/// weeks) in stream order.
Result<std::vector<sop::v1::Envelope>> GenerateS(std::uint64_t seed, int history_weeks);

/// `count` records: the envelopes in order, repeated; cycle k > 0 gets event ids
/// "<id>#r<k>" so that every record is a new event for de-duplication (master data included,
/// so every partition sees its sites and items again before their transactions).
std::vector<Record> Cycled(const std::vector<sop::v1::Envelope>& envelopes, std::size_t count);

/// Every envelope once, in order.
std::vector<Record> Serialized(const std::vector<sop::v1::Envelope>& envelopes);

/// The kinds of change the latency run sends.
enum class ChangeKind { kSalesOrder, kGoodsReceipt, kShipment };
const char* ToString(ChangeKind kind) noexcept;

/// One change for the latency run.
struct Change {
  ChangeKind kind = ChangeKind::kSalesOrder;
  std::string event_id{};
  Record record{};
};

/// Realistic changes on the open transactions of `envelopes`, deterministic for `seed`:
/// 40 % sales-order lines changed (open quantity × 0.6–1.6, same order and line), 30 % goods
/// receipts of 1–3 % of a purchase-order line's open quantity (never more than half of it in
/// total), 30 % shipments of 1–5 units against a sales-order line in the current week.
/// Event ids are "bench:<kind>:<n>". Errors: FAILED_PRECONDITION if the instance has no open
/// sales or purchase orders.
Result<std::vector<Change>> MakeChanges(const std::vector<sop::v1::Envelope>& envelopes,
                                        std::size_t count, std::uint64_t seed);

}  // namespace sop::bench
