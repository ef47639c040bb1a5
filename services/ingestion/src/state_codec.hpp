#pragma once
// Length-prefixed binary encoding of the partition state snapshot (internal).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sop/model/error.hpp"

namespace sop::ingestion::detail {

inline void PutVarint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

inline void PutString(std::string& out, std::string_view value) {
  PutVarint(out, value.size());
  out.append(value);
}

inline Result<std::uint64_t> GetVarint(std::string_view in, std::size_t& pos) {
  std::uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= in.size()) return Fail(Errc::kDataLoss, "ingestion state: truncated number");
    const auto byte = static_cast<std::uint8_t>(in[pos++]);
    value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  return Fail(Errc::kDataLoss, "ingestion state: number too long");
}

inline Result<std::string> GetString(std::string_view in, std::size_t& pos) {
  auto size = GetVarint(in, pos);
  if (!size) return std::unexpected(size.error());
  if (*size > in.size() - pos) return Fail(Errc::kDataLoss, "ingestion state: truncated string");
  std::string value(in.substr(pos, *size));
  pos += *size;
  return value;
}

}  // namespace sop::ingestion::detail
