#pragma once
// Text encoding of consumed offsets inside a snapshot hash: one line per partition,
// "<topic> <partition> <next_offset>\n". Text keeps the record readable with redis-cli; Kafka's
// topic alphabet ([A-Za-z0-9._-]) contains neither the space nor the newline, so no escaping.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/store/snapshot.hpp"

namespace sop::store::detail {

/// kInvalidArgument (naming the entry) if a topic is not a legal Kafka name or a partition or
/// offset is negative.
Result<std::string> EncodeOffsets(std::span<const ConsumedOffset> offsets);

/// kDataLoss if `text` is not what `EncodeOffsets` writes.
Result<std::vector<ConsumedOffset>> DecodeOffsets(std::string_view text);

/// Whether `topic` is a legal Kafka topic name.
bool IsValidTopic(std::string_view topic) noexcept;

}  // namespace sop::store::detail
