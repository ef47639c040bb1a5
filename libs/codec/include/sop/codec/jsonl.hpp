#pragma once
/// JSON lines of sop.v1.Envelope: one envelope per line in protobuf's JSON mapping (the format
/// sop-gen writes, sopctl ingest reads and sop-plan plans).

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/v1/events.pb.h"

namespace sop::codec {

/// How strictly lines are parsed.
struct JsonReadOptions {
  /// Accept fields this build does not know (a newer producer inside v1). Off by default so a
  /// misspelt field name is an error rather than silently lost data.
  bool ignore_unknown_fields = false;
};

/// Parses one line. Errors: INVALID_ARGUMENT "line N: <protobuf parse error>".
Result<sop::v1::Envelope> ParseEnvelopeLine(std::string_view line, std::int64_t line_number,
                                            const JsonReadOptions& options = {});

/// One line of JSON (no trailing newline). Errors: INTERNAL if protobuf cannot serialize.
Result<std::string> ToJsonLine(const sop::v1::Envelope& envelope);

/// Called for each envelope with its 1-based line number; returning an error stops the read.
using EnvelopeVisitor = std::function<Status(const sop::v1::Envelope&, std::int64_t line_number)>;

/// Reads JSON lines from `in` (blank lines skipped), calling `visit` for each envelope in order.
/// Stops at the first bad line: INVALID_ARGUMENT naming the line number and the parse error; the
/// visitor's own error is passed through. Returns the number of envelopes read.
/// Single-threaded; `visit` runs on the caller's thread.
Result<std::int64_t> ReadJsonLines(std::istream& in, const EnvelopeVisitor& visit,
                                   const JsonReadOptions& options = {});

/// ReadJsonLines of a file into a vector. NOT_FOUND if the file cannot be opened.
Result<std::vector<sop::v1::Envelope>> ReadJsonLinesFile(const std::string& path,
                                                         const JsonReadOptions& options = {});

/// Writes envelopes as JSON lines. UNAVAILABLE if the stream fails (disk full).
Status WriteJsonLines(const std::vector<sop::v1::Envelope>& envelopes, std::ostream& out);

}  // namespace sop::codec
