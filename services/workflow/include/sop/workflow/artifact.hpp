#pragma once
/// A stage's artifact as a document of tables: what people read (Markdown), what machines read
/// (canonical JSON), and what gets signed (the SHA-256 of the canonical JSON).
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"

namespace sop::workflow {

/// The stages of the monthly cycle, in order.
enum class Stage { kDemandReview = 0, kSupplyReview, kPreSop, kExecutiveSop, kCommitBack, kClosed };
inline constexpr int kSignedStageCount = 5;  ///< every stage before kClosed
/// "demand_review", "supply_review", "pre_sop", "executive_sop", "commit_back", "closed"
std::string_view ToString(Stage stage);
/// Parses ToString's names; kInvalidArgument naming `field` and the value.
Result<Stage> ParseStage(std::string_view field, std::string_view text);
/// "Demand consensus", "Supply plan", "Reconciliation pack", "Signed plan", "Customer commitment
/// log"
std::string_view ArtifactTitle(Stage stage);

struct ArtifactTable {
  std::string name;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;  ///< each row has one cell per column
};

/// A trade-off the executive meeting must decide: an id, what it is about, the options.
struct TradeOff {
  std::string id;
  std::string description;
  std::vector<std::string> options;
};

struct ArtifactDocument {
  Stage stage = Stage::kDemandReview;
  std::string cycle_id;
  std::vector<ArtifactTable> tables;
  std::vector<TradeOff> trade_offs;
  /// Sources that could not be read while assembling, with the reason ("capacity: UNAVAILABLE:
  /// ..."): the document says what it lacks instead of looking complete.
  std::vector<std::string> unavailable_sources;
  std::vector<std::string> notes;
};

/// Deterministic JSON (fixed key order, no whitespace, strings escaped per RFC 8259): the bytes
/// that are hashed and signed.
std::string CanonicalJson(const ArtifactDocument& document);
/// SHA-256 hex of CanonicalJson.
std::string ContentHash(const ArtifactDocument& document);
/// kInvalidArgument if a row's cell count differs from its table's columns (names the table and
/// the row), or the document's stage is kClosed.
Status Validate(const ArtifactDocument& document);

}  // namespace sop::workflow
