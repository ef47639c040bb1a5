#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"
#include "sop/store/snapshot.hpp"

namespace sop::store {

/// Connection settings of a `RedisStore`. Validated by the constructor (a bad value is a
/// start-up error and throws std::invalid_argument naming the field).
struct RedisStoreOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  /// Upper bound for one TCP connect.
  std::chrono::milliseconds connect_timeout{500};
  /// Upper bound for one read or write on the socket; a call never blocks much longer than this.
  std::chrono::milliseconds command_timeout{1000};
  /// Reconnect backoff after a failure: exponential from `initial` to `max`, jittered.
  std::chrono::milliseconds reconnect_backoff_initial{100};
  std::chrono::milliseconds reconnect_backoff_max{5000};
  /// Prepended to every key this store touches (see README.md for the layout).
  std::string key_prefix = "sop:";
  /// Seed of the backoff jitter; 0 picks a random seed.
  std::uint64_t jitter_seed = 0;
  /// Test seam: called inside `Apply` after the WATCHed checks passed and before MULTI/EXEC is
  /// sent, so a test can play a concurrent writer. Leave empty in production.
  std::function<void()> before_exec_for_testing{};
};

/// Counters for a service's metrics probe. Monotonic over the store's lifetime.
struct RedisStoreStats {
  std::uint64_t connect_attempts = 0;  ///< TCP connects tried
  std::uint64_t connects = 0;          ///< TCP connects that succeeded
  std::uint64_t disconnects = 0;       ///< connections dropped after an I/O error or timeout
  std::uint64_t unavailable = 0;       ///< calls that returned kUnavailable
};

/// One atomic state change of a consuming service: the new state, the offsets consumed up to
/// it, and the ids of the events it applied. `Apply` writes all of it or none of it.
struct ApplyRequest {
  std::string_view state{};
  std::span<const ConsumedOffset> offsets{};
  /// Marked "applied" under the snapshot's name; `Apply` fails with kAlreadyExists (and writes
  /// nothing) if any of them is already marked. Must be non-empty strings without duplicates.
  std::span<const std::string> event_ids{};
  /// If set, the write only happens while the stored snapshot still has this sequence (0 = no
  /// snapshot yet). A replica that lost its partitions to another one is fenced off this way.
  std::optional<std::uint64_t> expected_sequence{};
  /// How long the applied marks are kept: the de-duplication window for replayed events.
  std::chrono::seconds applied_ttl{std::chrono::hours(24 * 7)};
};

/// Bulk writes sent in one pipeline (all commands written, then all replies read): one network
/// round trip for many records. Not atomic: on an error some of the operations may have been
/// applied; `Put` is idempotent on retry, `Append` is not (a retry may duplicate records).
/// Plain value, not thread-safe; keys are logical names, the store adds its prefix.
class WriteBatch {
 public:
  /// Sets value `key` (readable with `RedisStore::Get`), optionally expiring after `ttl`.
  WriteBatch& Put(std::string_view key, std::string_view value);
  WriteBatch& Put(std::string_view key, std::string_view value, std::chrono::milliseconds ttl);
  /// Appends `record` to the append-only log `log` (readable with `RedisStore::Range`).
  WriteBatch& Append(std::string_view log, std::string_view record);

  std::size_t size() const noexcept { return operations_.size(); }
  bool empty() const noexcept { return operations_.empty(); }

 private:
  friend class RedisStore;
  enum class Kind { kPut, kAppend };
  struct Operation {
    Kind kind;
    std::string key;
    std::string value;
    std::chrono::milliseconds ttl{0};  ///< 0: no expiry
  };
  std::vector<Operation> operations_;
};

/// Durable state of a service in Redis through one hiredis connection: snapshots with the
/// consumed offsets, idempotency claims, applied-event marks and append-only logs.
///
/// Threads: every method takes an internal mutex, so calls from several threads are safe but
/// run one at a time on the single connection. Use one store per component if that serializes
/// too much.
///
/// Errors: a lost or unreachable Redis yields kUnavailable (retryable) from every call, never a
/// crash or a hang: each socket read/write is bounded by `command_timeout`. The connection is
/// re-established lazily by later calls with exponential, jittered backoff; calls that arrive
/// before the next attempt is due fail fast with kUnavailable instead of hammering Redis. After
/// kUnavailable from a write the outcome is unknown (the reply may have been lost): re-read
/// (e.g. the snapshot's sequence) before deciding. Bad arguments give kInvalidArgument; a
/// malformed stored record gives kDataLoss; Redis refusing a command gives kFailedPrecondition
/// (wrong key type) or kInternal.
///
/// Lifetime: the connection is opened on first use and closed by the destructor.
class RedisStore {
 public:
  /// Throws std::invalid_argument if an option is out of bounds. Does not connect yet.
  explicit RedisStore(RedisStoreOptions options);
  ~RedisStore();
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  /// Round trip to Redis (connecting if needed): the health check.
  Status Ping();

  /// Snapshot names are non-empty and contain no '{' or '}' (they become Redis hash tags).
  /// Writes snapshot `name` (state + offsets, sequence + 1) atomically; returns the new sequence.
  Result<std::uint64_t> PutSnapshot(std::string_view name, std::string_view state,
                                    std::span<const ConsumedOffset> offsets);
  /// The last snapshot written under `name`, or std::nullopt if there is none.
  Result<std::optional<Snapshot>> GetSnapshot(std::string_view name);

  /// Writes snapshot `name` and marks `request.event_ids` applied, all in one MULTI/EXEC guarded
  /// by WATCH; returns the new sequence. kAlreadyExists if an event id is already marked,
  /// kFailedPrecondition if `expected_sequence` does not match or another writer changed the
  /// snapshot or a mark meanwhile. In every error case nothing has been written.
  Result<std::uint64_t> Apply(std::string_view name, const ApplyRequest& request);
  /// For each id, whether it is marked applied under snapshot `name` (same order as the input).
  Result<std::vector<bool>> AppliedAmong(std::string_view name,
                                         std::span<const std::string> event_ids);

  /// Idempotency claim: true if `key` was free and is now claimed for `ttl`, false if it is
  /// already claimed. `ttl` must be at least 1 ms.
  Result<bool> TryClaim(std::string_view key, std::chrono::milliseconds ttl);

  /// Appends a record to the append-only log `log`; returns its index (0 for the first record).
  /// There is deliberately no update or delete: records are an audit trail.
  Result<std::uint64_t> Append(std::string_view log, std::string_view record);
  /// Up to `count` records of `log` starting at index `from`, in append order. Empty if `from`
  /// is past the end.
  Result<std::vector<std::string>> Range(std::string_view log, std::uint64_t from,
                                         std::size_t count);
  /// Number of records in `log` (0 if it does not exist).
  Result<std::uint64_t> Length(std::string_view log);

  /// Sends every operation of `batch` in one pipeline; the first failure is returned.
  Status Write(const WriteBatch& batch);
  /// The value `key` written by `WriteBatch::Put`, or std::nullopt.
  Result<std::optional<std::string>> Get(std::string_view key);

  /// Lock-free snapshot of the counters; never waits for a call in progress.
  RedisStoreStats stats() const;
  const RedisStoreOptions& options() const noexcept;

  /// The Redis keys behind the logical names (for operators and tests; see README.md).
  std::string SnapshotKey(std::string_view name) const;
  std::string AppliedKey(std::string_view name, std::string_view event_id) const;
  std::string ClaimKey(std::string_view key) const;
  std::string LogKey(std::string_view log) const;
  std::string ValueKey(std::string_view key) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sop::store
