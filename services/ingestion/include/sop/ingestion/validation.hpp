#pragma once
/// Pure validation and normalization of ERP/MES envelopes (no I/O, no clocks).
///
/// libs/codec has no pure validation function (its SnapshotAssembler turns bad data into
/// planning findings while it builds state), so the rules an event must pass to become a fact
/// live here, in one place, beside the master data they are checked against.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/v1/events.pb.h"

namespace sop::ingestion {

/// Why an event was rejected, in bounded classes (a metric label).
enum class ReasonClass {
  kMalformed,         ///< the bytes are not a sop.v1.Envelope
  kMissingField,      ///< a required field is empty
  kInvalidValue,      ///< a value out of bounds (negative quantity, yield > 1, bad date, ...)
  kUnknownReference,  ///< a site, item or work center no accepted master data names
  kInconsistent,      ///< contradicts other data (site mismatch, a BOM that would make a cycle)
};

/// "malformed", "missing_field", ... (the metric label value).
std::string_view ToString(ReasonClass reason_class) noexcept;

/// One rejection reason: the field a person must fix and what is wrong with it.
struct Violation {
  ReasonClass reason_class = ReasonClass::kInvalidValue;
  std::string field{};   ///< e.g. "sales_order.quantity"
  std::string reason{};  ///< e.g. "must be >= 0, got '-5'"
};

/// The master data accepted so far on one partition: what later events may reference.
/// Keys are per site, so one partition may hold several sites. Plain value, not thread-safe.
class MasterData {
 public:
  bool HasSite(std::string_view site) const;
  bool HasItem(std::string_view site, std::string_view item) const;
  bool HasWorkCenter(std::string_view site, std::string_view work_center) const;
  /// True if `parent`'s BOM, replaced by `components`, would make `parent` its own descendant.
  /// Fills `path` with the cycle (parent first) when it returns true.
  bool WouldCycle(std::string_view site, std::string_view parent,
                  const std::vector<std::string>& components,
                  std::vector<std::string>* path = nullptr) const;

  /// Records an ACCEPTED (validated, normalized) envelope's master data.
  void Remember(const sop::v1::Envelope& envelope);

  std::size_t site_count() const noexcept { return sites_.size(); }
  std::size_t item_count() const noexcept { return items_.size(); }

  /// Compact binary encoding for the state snapshot.
  void AppendTo(std::string& out) const;
  /// Reads what AppendTo wrote starting at `pos` (advanced); DATA_LOSS if malformed.
  static Result<MasterData> ReadFrom(std::string_view in, std::size_t& pos);

  friend bool operator==(const MasterData&, const MasterData&) = default;

 private:
  static std::string Key(std::string_view site, std::string_view id);
  // Heterogeneous lookup: a check hashes a string_view (of a key built on the stack) instead of
  // allocating a std::string per lookup.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept {
      return std::hash<std::string_view>{}(text);
    }
  };
  using Set = std::unordered_set<std::string, Hash, std::equal_to<>>;
  static bool ContainsKey(const Set& set, std::string_view site, std::string_view id);

  Set sites_;
  Set items_;         ///< Key(site, item)
  Set work_centers_;  ///< Key(site, work center)
  std::unordered_map<std::string, std::vector<std::string>>
      boms_;  ///< Key(site, parent) -> components
};

/// Trims every id (fields named "site", "*_id", "event_id") and upper-cases units of measure
/// and currencies, in place. Idempotent. True if anything changed.
bool Normalize(sop::v1::Envelope& envelope);

/// Checks a NORMALIZED envelope against the rules and the accepted master data. Returns the
/// first violation, or nullopt if the event is acceptable. Pure and deterministic.
std::optional<Violation> Validate(const sop::v1::Envelope& envelope, const MasterData& master);

}  // namespace sop::ingestion
