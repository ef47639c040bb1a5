#include "sop/ingestion/pipeline.hpp"

#include <string>

#include "state_codec.hpp"

namespace sop::ingestion {
namespace {
constexpr std::string_view kStateMagic = "ING2";
constexpr std::string_view kLegacyStateMagic = "ING1";  // unbounded id set, no times
}  // namespace

std::string PartitionState::Encode() const {
  std::string out;
  out.append(kStateMagic);
  applied_ids.AppendTo(out);
  master.AppendTo(out);
  return out;
}

Result<PartitionState> PartitionState::Decode(std::string_view bytes, DedupRetention retention) {
  PartitionState state;
  std::size_t pos = kStateMagic.size();
  if (bytes.starts_with(kStateMagic)) {
    auto window = DedupWindow::ReadFrom(bytes, pos, retention);
    if (!window) return std::unexpected(window.error());
    state.applied_ids = std::move(*window);
  } else if (bytes.starts_with(kLegacyStateMagic)) {
    auto count = detail::GetVarint(bytes, pos);
    if (!count) return std::unexpected(count.error());
    // Unbounded first, so that a smaller retention keeps the newest ids below.
    state.applied_ids =
        DedupWindow({.max_ids = static_cast<std::size_t>(*count), .max_age = retention.max_age});
    for (std::uint64_t i = 0; i < *count; ++i) {
      auto id = detail::GetString(bytes, pos);
      if (!id) return std::unexpected(id.error());
      state.applied_ids.Insert(*id, DedupWindow::kUnknownTime);
    }
    state.applied_ids.SetRetention(retention);
  } else {
    return Fail(Errc::kDataLoss, "ingestion state: unknown format (expected ING2 or ING1)");
  }
  auto master = MasterData::ReadFrom(bytes, pos);
  if (!master) return std::unexpected(master.error());
  state.master = std::move(*master);
  if (pos != bytes.size()) return Fail(Errc::kDataLoss, "ingestion state: trailing bytes");
  return state;
}

Verdict DecideInto(std::string_view bytes, std::int64_t at_ms, PartitionState& state,
                   sop::v1::Envelope& envelope) {
  Verdict verdict;
  if (!envelope.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    verdict.outcome = Outcome::kRejected;
    verdict.violation = Violation{ReasonClass::kMalformed, "envelope",
                                  "not a sop.v1.Envelope (truncated or corrupt protobuf), got " +
                                      std::to_string(bytes.size()) + " bytes"};
    return verdict;
  }
  verdict.normalized = Normalize(envelope);
  // A known id is a duplicate even if its content is now invalid: it changed the state once.
  if (!envelope.event_id().empty() && state.applied_ids.Contains(envelope.event_id())) {
    verdict.outcome = Outcome::kDuplicate;
    return verdict;
  }
  verdict.violation = Validate(envelope, state.master);
  if (verdict.violation) {
    verdict.outcome = Outcome::kRejected;
    // Event ids are unique per event (DESIGN.md): a replay of a rejected event is a duplicate,
    // and a corrected event comes with a new id.
    if (!envelope.event_id().empty()) state.applied_ids.Insert(envelope.event_id(), at_ms);
    return verdict;
  }
  verdict.outcome = Outcome::kAccepted;
  state.applied_ids.Insert(envelope.event_id(), at_ms);
  state.master.Remember(envelope);
  return verdict;
}

Decision Decide(std::string_view bytes, std::int64_t at_ms, PartitionState& state) {
  Decision decision;
  Verdict verdict = DecideInto(bytes, at_ms, state, decision.envelope);
  decision.outcome = verdict.outcome;
  decision.violation = std::move(verdict.violation);
  return decision;
}

}  // namespace sop::ingestion
