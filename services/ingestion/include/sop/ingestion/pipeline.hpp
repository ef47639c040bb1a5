#pragma once
/// The pure per-partition step of ingestion: bytes in, a decision out (accept as a fact,
/// duplicate, or reject with a reason), state updated. No I/O, no clocks, no threads.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sop/ingestion/dedup_window.hpp"
#include "sop/ingestion/validation.hpp"
#include "sop/model/error.hpp"
#include "sop/v1/events.pb.h"

namespace sop::ingestion {

/// Everything ingestion remembers about one partition: the event ids it decided recently (the
/// bounded de-duplication window, accepted and rejected ids alike) and the master data accepted
/// so far. It is snapshotted to Redis together with the consumed offsets, so the ids travel
/// atomically with the state they produced. Plain value, not thread-safe.
struct PartitionState {
  DedupWindow applied_ids{};
  MasterData master{};

  /// Binary snapshot encoding: "ING2" + the window (ids with their times) + master data.
  std::string Encode() const;
  /// Reads "ING2" (and "ING1", the unbounded format before it: its ids get an unknown time and
  /// leave the window by count only) into a window of `retention`. DATA_LOSS if `bytes` is
  /// neither.
  static Result<PartitionState> Decode(std::string_view bytes, DedupRetention retention = {});

  friend bool operator==(const PartitionState&, const PartitionState&) = default;
};

enum class Outcome { kAccepted, kDuplicate, kRejected };

/// What happened to one event, without the envelope. `violation` is set for kRejected;
/// `normalized` says whether normalization changed the envelope (if not, the record's bytes
/// are already the fact's envelope bytes and need no re-serialization).
struct Verdict {
  Outcome outcome = Outcome::kRejected;
  std::optional<Violation> violation{};
  bool normalized = false;
};

/// Parses `bytes` into `envelope` (cleared first; it may live on an arena), normalizes,
/// de-duplicates and validates it against `state`. The id of every decided event (accepted or
/// rejected) enters the window at `at_ms` (the record timestamp, ms since the epoch), so a
/// replay within the window is a duplicate; an accepted event's master data is remembered too.
/// Bytes that do not parse have no id: a replay of them is rejected again. Duplicates change
/// nothing.
Verdict DecideInto(std::string_view bytes, std::int64_t at_ms, PartitionState& state,
                   sop::v1::Envelope& envelope);

/// What happened to one event. `envelope` is the normalized envelope (for kAccepted the fact's
/// content); `violation` is set for kRejected.
struct Decision {
  Outcome outcome = Outcome::kRejected;
  sop::v1::Envelope envelope{};
  std::optional<Violation> violation{};
};

/// DecideInto with an envelope of its own (tests, tools).
Decision Decide(std::string_view bytes, std::int64_t at_ms, PartitionState& state);

}  // namespace sop::ingestion
