#pragma once
// Reads sop.plan.v1 and sop.exceptions.v1 from their current ends and notes, per cause event
// id, when the first delta carrying it arrived (steady clock of this process, the same clock
// the producer side stamps sends with).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "sop/model/error.hpp"

namespace sop::bench {

using Clock = std::chrono::steady_clock;

/// The cause event id of a serialized PlanDelta (field 7) or ExceptionDelta (field 4), found by
/// walking the wire format without parsing the (large) rest of the message. Empty when absent.
std::string CauseEventId(std::string_view bytes, int cause_field);
/// Every event id of that cause: event_id, then Cause.event_ids (a coalesced net change lists
/// the events it planned there, at most 256), without duplicates, in that order.
std::vector<std::string> CauseEventIds(std::string_view bytes, int cause_field);

/// Low and high watermark of partitions 0..partitions-1 of `topic` (low > 0: the embedded
/// broker has dropped the head of the log). UNAVAILABLE if they cannot be queried.
Result<std::vector<std::pair<std::int64_t, std::int64_t>>> Watermarks(const std::string& bootstrap,
                                                                      std::string_view topic,
                                                                      std::int32_t partitions);

/// One client kept open for repeated watermark queries (Watermarks above connects each time).
/// Used to follow a service's progress from the log itself instead of scraping its /metrics,
/// which would spend the measured process's CPU. Not thread-safe.
class WatermarkClient {
 public:
  static Result<std::unique_ptr<WatermarkClient>> Connect(const std::string& bootstrap);
  ~WatermarkClient();
  WatermarkClient(const WatermarkClient&) = delete;
  WatermarkClient& operator=(const WatermarkClient&) = delete;
  /// Sum of the high watermarks of partitions 0..partitions-1 of `topic`.
  Result<std::int64_t> SumHigh(std::string_view topic, std::int32_t partitions);

 private:
  WatermarkClient() = default;
  void* client_ = nullptr;  // rd_kafka_t
};

/// A plain librdkafka consumer (no group: partitions assigned explicitly at their high
/// watermarks when Start is called), so it sees only deltas published after Start.
/// Threads: one reader thread; the accessors are thread-safe.
class CauseReader {
 public:
  struct Arrival {
    Clock::time_point plan{};        ///< first PlanDelta with this cause (epoch = none)
    Clock::time_point exceptions{};  ///< first ExceptionDelta with this cause (epoch = none)
  };

  /// Connects, finds the high watermark of every partition of both topics and starts reading
  /// there. UNAVAILABLE if the broker cannot be reached or the watermarks are unknown.
  static Result<std::unique_ptr<CauseReader>> Start(const std::string& bootstrap,
                                                    std::int32_t partitions);
  ~CauseReader();
  CauseReader(const CauseReader&) = delete;
  CauseReader& operator=(const CauseReader&) = delete;

  /// First arrivals per cause event id.
  std::unordered_map<std::string, Arrival> Arrivals() const;
  /// Messages read per topic.
  std::uint64_t plan_messages() const { return plan_messages_.load(); }
  std::uint64_t exception_messages() const { return exception_messages_.load(); }
  /// True once every partition has been read up to the high watermark as of this call.
  bool CaughtUp() const;
  void Stop();

 private:
  CauseReader() = default;
  void Run();

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> plan_messages_{0};
  std::atomic<std::uint64_t> exception_messages_{0};
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Arrival> arrivals_;
  // Next offset to read per (topic, partition), for CaughtUp.
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> positions_;
};

}  // namespace sop::bench
