#pragma once
/// A small streaming JSON writer: objects, arrays, strings (escaped), numbers in their shortest
/// round-trip form (non-finite numbers are written as null, since JSON has no infinity).
/// Not thread-safe; writes to one std::string. Misuse (a key outside an object) is a bug the
/// writer does not check beyond what keeps the output well-formed commas.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sop::plan_tool {

/// Appends JSON text to a string; `Key` then a value inside objects, values inside arrays.
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Number(double value);
  JsonWriter& Int(std::int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  JsonWriter& Numbers(std::span<const double> values);

  // Shorthands for "key": value.
  JsonWriter& Field(std::string_view key, std::string_view value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, const char* value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, double value) { return Key(key).Number(value); }
  JsonWriter& Field(std::string_view key, std::int64_t value) { return Key(key).Int(value); }
  JsonWriter& Field(std::string_view key, std::int32_t value) { return Key(key).Int(value); }
  JsonWriter& Field(std::string_view key, bool value) { return Key(key).Bool(value); }

 private:
  void Separate();
  std::string& out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

}  // namespace sop::plan_tool
