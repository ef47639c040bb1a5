#pragma once
/// The pure per-partition step of ingestion: bytes in, a decision out (accept as a fact,
/// duplicate, or reject with a reason), state updated. No I/O, no clocks, no threads.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "sop/ingestion/validation.hpp"
#include "sop/model/error.hpp"
#include "sop/v1/events.pb.h"

namespace sop::ingestion {

/// Everything ingestion remembers about one partition: the event ids it applied (the
/// de-duplication set) and the master data accepted so far. It is snapshotted to Redis together
/// with the consumed offsets, so the ids travel atomically with the state they produced.
/// `applied_ids` holds every decided id (accepted and rejected). Plain value, not thread-safe.
struct PartitionState {
  std::unordered_set<std::string> applied_ids{};
  MasterData master{};

  /// Binary snapshot encoding ("ING1" + counts + length-prefixed strings).
  std::string Encode() const;
  /// DATA_LOSS if `bytes` is not what Encode wrote.
  static Result<PartitionState> Decode(std::string_view bytes);

  friend bool operator==(const PartitionState&, const PartitionState&) = default;
};

enum class Outcome { kAccepted, kDuplicate, kRejected };

/// What happened to one event. `envelope` is the normalized envelope (for kAccepted the fact's
/// content); `violation` is set for kRejected.
struct Decision {
  Outcome outcome = Outcome::kRejected;
  sop::v1::Envelope envelope{};
  std::optional<Violation> violation{};
};

/// Parses, normalizes, de-duplicates and validates one record's bytes against `state`. The id
/// of every decided event (accepted or rejected) is added to `state`, so a replay is a
/// duplicate; an accepted event's master data is remembered too. Bytes that do not parse have
/// no id: a replay of them is rejected again. Duplicates change nothing.
Decision Decide(std::string_view bytes, PartitionState& state);

}  // namespace sop::ingestion
