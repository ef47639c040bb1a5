#include "sop/ingestion/pipeline.hpp"

#include <string>

#include "state_codec.hpp"

namespace sop::ingestion {
namespace {
constexpr std::string_view kStateMagic = "ING1";
}  // namespace

std::string PartitionState::Encode() const {
  std::string out;
  std::size_t bytes = 64;
  for (const auto& id : applied_ids) bytes += id.size() + 2;
  out.reserve(bytes);
  out.append(kStateMagic);
  detail::PutVarint(out, applied_ids.size());
  for (const auto& id : applied_ids) detail::PutString(out, id);
  master.AppendTo(out);
  return out;
}

Result<PartitionState> PartitionState::Decode(std::string_view bytes) {
  if (!bytes.starts_with(kStateMagic))
    return Fail(Errc::kDataLoss, "ingestion state: unknown format (expected ING1)");
  std::size_t pos = kStateMagic.size();
  PartitionState state;
  auto count = detail::GetVarint(bytes, pos);
  if (!count) return std::unexpected(count.error());
  state.applied_ids.reserve(*count);
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto id = detail::GetString(bytes, pos);
    if (!id) return std::unexpected(id.error());
    state.applied_ids.insert(std::move(*id));
  }
  auto master = MasterData::ReadFrom(bytes, pos);
  if (!master) return std::unexpected(master.error());
  state.master = std::move(*master);
  if (pos != bytes.size()) return Fail(Errc::kDataLoss, "ingestion state: trailing bytes");
  return state;
}

Decision Decide(std::string_view bytes, PartitionState& state) {
  Decision decision;
  if (!decision.envelope.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    decision.outcome = Outcome::kRejected;
    decision.violation = Violation{ReasonClass::kMalformed, "envelope",
                                   "not a sop.v1.Envelope (truncated or corrupt protobuf), got " +
                                       std::to_string(bytes.size()) + " bytes"};
    return decision;
  }
  Normalize(decision.envelope);
  // A known id is a duplicate even if its content is now invalid: it changed the state once.
  if (!decision.envelope.event_id().empty() &&
      state.applied_ids.contains(decision.envelope.event_id())) {
    decision.outcome = Outcome::kDuplicate;
    return decision;
  }
  decision.violation = Validate(decision.envelope, state.master);
  if (decision.violation) {
    decision.outcome = Outcome::kRejected;
    // Event ids are unique per event (DESIGN.md): a replay of a rejected event is a duplicate,
    // and a corrected event comes with a new id.
    if (!decision.envelope.event_id().empty())
      state.applied_ids.insert(decision.envelope.event_id());
    return decision;
  }
  decision.outcome = Outcome::kAccepted;
  state.applied_ids.insert(decision.envelope.event_id());
  state.master.Remember(decision.envelope);
  return decision;
}

}  // namespace sop::ingestion
