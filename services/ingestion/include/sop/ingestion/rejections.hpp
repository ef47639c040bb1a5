#pragma once
/// Where rejected events are kept for people (ListRejected) and how Submit learns the outcome
/// of the events it forwarded.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sop/ingestion/pipeline.hpp"
#include "sop/store/redis_store.hpp"
#include "sop/v1/ingestion.pb.h"
#include "sop/v1/planning.pb.h"

namespace sop::ingestion {

/// The most recent rejections in a bounded in-memory ring (newest first for ListRejected),
/// each also appended to the Redis log `ingestion/rejected` (an audit trail that survives
/// restarts; the ring does not). Appends are buffered and written in one pipelined round trip
/// by Persist (the processor calls it with every checkpoint), so a burst of bad events does
/// not cost a Redis round trip each.
/// Threads: thread-safe. Errors: Persist returns the Redis error and keeps the records for the
/// next attempt (at most kMaxUnpersisted; older ones are then dropped from the Redis log only,
/// and counted in `unpersisted_dropped`).
/// Lifetime: borrows the store (may be null: ring only), which must outlive it.
class RejectionLog {
 public:
  static constexpr std::string_view kRedisLog = "ingestion/rejected";

  RejectionLog(store::RedisStore* store, std::size_t capacity);

  static constexpr std::size_t kMaxUnpersisted = 100'000;

  void Add(const sop::v1::Rejection& rejection);
  /// Appends the buffered rejections to the Redis log in one pipeline.
  Status Persist();
  std::uint64_t unpersisted_dropped() const;

  /// Newest first, filtered by site (empty = all). `page_token` is the decimal count of
  /// matching records to skip ("" = 0); the next token is empty at the end.
  struct Page {
    std::vector<sop::v1::Rejection> rejections;
    std::string next_page_token;
  };
  Result<Page> List(std::string_view site, std::size_t page_size,
                    std::string_view page_token) const;
  std::size_t size() const;

 private:
  store::RedisStore* store_;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<sop::v1::Rejection> ring_;   ///< newest at the front
  std::vector<std::string> unpersisted_;  ///< serialized, oldest first
  std::uint64_t unpersisted_dropped_ = 0;
};

/// The outcomes of one Submit call, filled in by the pipeline as it decides the forwarded
/// events. Threads: thread-safe.
class PendingOutcomes {
 public:
  explicit PendingOutcomes(std::size_t max_rejections) : max_rejections_(max_rejections) {}

  void Record(Outcome outcome, const sop::v1::Rejection* rejection);
  /// Waits until `expected` outcomes arrived or the deadline passed; true if all arrived.
  bool WaitFor(std::int64_t expected, std::chrono::steady_clock::time_point deadline);
  void Fill(sop::v1::SubmitSummary& summary) const;

 private:
  friend class OutcomeRegistry;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t max_rejections_;
  std::int64_t target_ = 0;  ///< set by WaitFor; 0 = nobody waits yet
  std::int64_t decided_ = 0;
  std::int64_t accepted_ = 0;
  std::int64_t duplicates_ = 0;
  std::int64_t rejected_ = 0;
  std::vector<sop::v1::Rejection> rejections_;
  std::vector<std::string> expected_ids_;  ///< guarded by the registry's mutex
};

/// Routes the pipeline's decisions to the Submit calls waiting for them, by event id (in
/// registration order when one id was submitted twice). Costs one atomic load per event when
/// no Submit is waiting. Threads: thread-safe.
class OutcomeRegistry {
 public:
  void Expect(const std::shared_ptr<PendingOutcomes>& pending, const std::string& event_id);
  /// Drops what `pending` still waits for (its call ended).
  void Forget(const std::shared_ptr<PendingOutcomes>& pending);
  void Resolve(const std::string& event_id, Outcome outcome, const sop::v1::Rejection* rejection);

 private:
  std::mutex mutex_;
  std::atomic<std::size_t> waiting_{0};
  std::unordered_map<std::string, std::deque<std::shared_ptr<PendingOutcomes>>> by_id_;
};

}  // namespace sop::ingestion
