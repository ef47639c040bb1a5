#include "sop/codec/jsonl.hpp"

#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <istream>
#include <ostream>

#include "sop/model/text.hpp"

namespace sop::codec {

Result<sop::v1::Envelope> ParseEnvelopeLine(std::string_view line, std::int64_t line_number,
                                            const JsonReadOptions& options) {
  google::protobuf::util::JsonParseOptions parse_options;
  parse_options.ignore_unknown_fields = options.ignore_unknown_fields;
  sop::v1::Envelope envelope;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), &envelope, parse_options);
  if (!status.ok()) {
    return Fail(Errc::kInvalidArgument,
                model::Format("line {}: not a sop.v1.Envelope: {}", line_number, std::string(status.message())));
  }
  return envelope;
}

Result<std::string> ToJsonLine(const sop::v1::Envelope& envelope) {
  std::string out;
  const auto status = google::protobuf::util::MessageToJsonString(envelope, &out);
  if (!status.ok()) {
    return Fail(Errc::kInternal, "event " + envelope.event_id() + ": " + std::string(status.message()));
  }
  return out;
}

Result<std::int64_t> ReadJsonLines(std::istream& in, const EnvelopeVisitor& visit,
                                   const JsonReadOptions& options) {
  std::string line;
  std::int64_t line_number = 0;
  std::int64_t count = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto envelope = ParseEnvelopeLine(line, line_number, options);
    if (!envelope) return std::unexpected(envelope.error());
    if (auto status = visit(*envelope, line_number); !status) return std::unexpected(status.error());
    ++count;
  }
  if (in.bad()) {
    return Fail(Errc::kDataLoss, model::Format("read error after line {}", line_number));
  }
  return count;
}

Result<std::vector<sop::v1::Envelope>> ReadJsonLinesFile(const std::string& path,
                                                         const JsonReadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(Errc::kNotFound, "events file: cannot open '" + path + "'");
  std::vector<sop::v1::Envelope> envelopes;
  auto count = ReadJsonLines(
      in,
      [&](const sop::v1::Envelope& e, std::int64_t) -> Status {
        envelopes.push_back(e);
        return {};
      },
      options);
  if (!count) return Fail(count.error().code(), path + ": " + count.error().message());
  return envelopes;
}

Status WriteJsonLines(const std::vector<sop::v1::Envelope>& envelopes, std::ostream& out) {
  for (const auto& envelope : envelopes) {
    auto line = ToJsonLine(envelope);
    if (!line) return std::unexpected(line.error());
    out << *line << '\n';
  }
  out.flush();
  if (!out) return std::unexpected(Error(Errc::kUnavailable, "output stream failed (disk full?)"));
  return {};
}

}  // namespace sop::codec
