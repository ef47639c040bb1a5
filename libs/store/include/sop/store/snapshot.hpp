#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace sop::store {

/// Where a consumer stands in one partition: the offset of the next record it will read.
/// Plain value; Kafka topic names are restricted to [A-Za-z0-9._-], at most 249 characters,
/// and the store rejects any other name with kInvalidArgument.
struct ConsumedOffset {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t next_offset = 0;

  friend bool operator==(const ConsumedOffset&, const ConsumedOffset&) = default;
};

/// A service's state snapshot as read back from the store. The state bytes and the offsets
/// always come from the same write (they are one Redis hash written in one MULTI/EXEC), so a
/// replica that restores `state` and seeks to `offsets` neither loses nor double-counts events.
/// Plain value, no threads, no errors.
struct Snapshot {
  std::string state;                    ///< opaque bytes (may contain NULs)
  std::vector<ConsumedOffset> offsets;  ///< in the order they were written
  std::uint64_t sequence = 0;           ///< 1 for the first write of a snapshot name, +1 per write
  std::chrono::system_clock::time_point written_at;  ///< writer's wall clock, millisecond grain
};

}  // namespace sop::store
