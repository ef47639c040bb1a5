#include "sop/workflow/artifact.hpp"

#include <cstdio>

#include "sop/auth/sha256.hpp"

namespace sop::workflow {
namespace {

void AppendString(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
          out += buffer;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void AppendStrings(std::string& out, const std::vector<std::string>& values) {
  out.push_back('[');
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendString(out, values[i]);
  }
  out.push_back(']');
}

}  // namespace

std::string_view ToString(Stage stage) {
  switch (stage) {
    case Stage::kDemandReview:
      return "demand_review";
    case Stage::kSupplyReview:
      return "supply_review";
    case Stage::kPreSop:
      return "pre_sop";
    case Stage::kExecutiveSop:
      return "executive_sop";
    case Stage::kCommitBack:
      return "commit_back";
    case Stage::kClosed:
      return "closed";
  }
  return "unknown";
}

Result<Stage> ParseStage(std::string_view field, std::string_view text) {
  for (int i = 0; i <= static_cast<int>(Stage::kClosed); ++i) {
    if (ToString(static_cast<Stage>(i)) == text) return static_cast<Stage>(i);
  }
  return InvalidField(field,
                      "must be one of demand_review, supply_review, pre_sop, executive_sop, "
                      "commit_back, closed",
                      text);
}

std::string_view ArtifactTitle(Stage stage) {
  switch (stage) {
    case Stage::kDemandReview:
      return "Demand consensus";
    case Stage::kSupplyReview:
      return "Supply plan";
    case Stage::kPreSop:
      return "Reconciliation pack";
    case Stage::kExecutiveSop:
      return "Signed plan";
    case Stage::kCommitBack:
      return "Customer commitment log";
    case Stage::kClosed:
      return "Closed";
  }
  return "unknown";
}

std::string CanonicalJson(const ArtifactDocument& document) {
  std::string out;
  out += "{\"format\":1,\"stage\":";
  AppendString(out, ToString(document.stage));
  out += ",\"cycle_id\":";
  AppendString(out, document.cycle_id);
  out += ",\"title\":";
  AppendString(out, ArtifactTitle(document.stage));
  out += ",\"tables\":[";
  for (std::size_t t = 0; t < document.tables.size(); ++t) {
    const auto& table = document.tables[t];
    if (t > 0) out.push_back(',');
    out += "{\"name\":";
    AppendString(out, table.name);
    out += ",\"columns\":";
    AppendStrings(out, table.columns);
    out += ",\"rows\":[";
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      if (r > 0) out.push_back(',');
      AppendStrings(out, table.rows[r]);
    }
    out += "]}";
  }
  out += "],\"trade_offs\":[";
  for (std::size_t i = 0; i < document.trade_offs.size(); ++i) {
    const auto& trade_off = document.trade_offs[i];
    if (i > 0) out.push_back(',');
    out += "{\"id\":";
    AppendString(out, trade_off.id);
    out += ",\"description\":";
    AppendString(out, trade_off.description);
    out += ",\"options\":";
    AppendStrings(out, trade_off.options);
    out += "}";
  }
  out += "],\"unavailable_sources\":";
  AppendStrings(out, document.unavailable_sources);
  out += ",\"notes\":";
  AppendStrings(out, document.notes);
  out += "}";
  return out;
}

std::string ContentHash(const ArtifactDocument& document) {
  return auth::Sha256Hex(CanonicalJson(document));
}

Status Validate(const ArtifactDocument& document) {
  if (document.stage == Stage::kClosed) {
    return InvalidField("artifact.stage", "a closed cycle has no artifact", "closed");
  }
  for (const auto& table : document.tables) {
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      if (table.rows[r].size() != table.columns.size()) {
        return InvalidField("artifact.tables['" + table.name + "'].rows[" + std::to_string(r) + "]",
                            "must have " + std::to_string(table.columns.size()) + " cells",
                            std::to_string(table.rows[r].size()) + " cells");
      }
    }
  }
  for (const auto& trade_off : document.trade_offs) {
    if (trade_off.id.empty()) return InvalidField("artifact.trade_offs.id", "required", "");
  }
  return {};
}

}  // namespace sop::workflow
