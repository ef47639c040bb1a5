#include "sop/store/redis_store.hpp"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "offsets_codec.hpp"
#include "sop/store/backoff.hpp"

namespace sop::store {
namespace {

// Version of the snapshot hash layout; a reader refuses records of a version it does not know.
constexpr std::string_view kSnapshotFormat = "1";

struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* context) const noexcept { redisFree(context); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

timeval ToTimeval(std::chrono::milliseconds duration) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(duration.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((duration.count() % 1000) * 1000);
  return tv;
}

// hiredis writes with write(2), so a peer that vanished raises SIGPIPE, whose default action
// kills the process. A library must not change the process-wide disposition, so this blocks
// SIGPIPE in the calling thread for the duration of the I/O and swallows one it caused.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    // Already pending means it is already blocked in this thread: leave everything as it is.
    if (sigismember(&pending, SIGPIPE) == 1) return;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    active_ = pthread_sigmask(SIG_BLOCK, &block, &previous_) == 0;
  }
  ~SigpipeGuard() {
    if (!active_) return;
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1) {
      sigset_t pipe_only;
      sigemptyset(&pipe_only);
      sigaddset(&pipe_only, SIGPIPE);
      const timespec no_wait{0, 0};
      while (sigtimedwait(&pipe_only, nullptr, &no_wait) == -1 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t previous_{};
  bool active_ = false;
};

// One command's arguments. Borrowed arguments (keys, multi-megabyte state) are not copied;
// they must outlive the pipeline call. Owned ones (formatted numbers) sit on the heap, so their
// addresses survive moves of the command (e.g. when a vector of commands grows).
class Command {
 public:
  Command& Arg(std::string_view value) {
    args_.push_back(value);
    return *this;
  }
  Command& Own(std::string value) {
    owned_.push_back(std::make_unique<std::string>(std::move(value)));
    args_.push_back(*owned_.back());
    return *this;
  }
  const std::vector<std::string_view>& args() const noexcept { return args_; }

 private:
  std::vector<std::string_view> args_;
  std::vector<std::unique_ptr<std::string>> owned_;
};

std::string_view ReplyText(const redisReply& reply) {
  return {reply.str, reply.len};
}

// Maps a Redis error reply. Errors that describe a passing server state (loading the data set
// after a restart, a busy script, a failover in progress) are retryable.
Error ReplyError(const redisReply& reply, std::string_view what) {
  const std::string_view text = ReplyText(reply);
  std::string message = std::string(what) + ": redis replied '" + std::string(text) + "'";
  for (std::string_view transient :
       {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "READONLY", "CLUSTERDOWN", "OOM"}) {
    if (text.starts_with(transient)) return Error(Errc::kUnavailable, std::move(message), true);
  }
  if (text.starts_with("WRONGTYPE")) return Error(Errc::kFailedPrecondition, std::move(message));
  return Error(Errc::kInternal, std::move(message));
}

std::unexpected<Error> Unexpected(const redisReply& reply, std::string_view what) {
  return Fail(Errc::kInternal,
              std::string(what) + ": unexpected reply type " + std::to_string(reply.type));
}

template <class Int>
bool ParseWhole(std::string_view text, Int& value) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end;
}

std::int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status ValidateName(std::string_view field, std::string_view name) {
  if (name.empty()) return InvalidField(field, "must not be empty", name);
  return {};
}

// Snapshot names become Redis hash tags ("{name}"), so they must not contain braces. That keeps
// "applied:{name}:<id>" unambiguous for any event id, and puts a snapshot and its applied marks
// in one hash slot should the store ever sit in front of a Redis Cluster.
Status ValidateSnapshotName(std::string_view name) {
  if (auto valid = ValidateName("name", name); !valid) return valid;
  if (name.find_first_of("{}") != std::string_view::npos) {
    return InvalidField("name", "must not contain '{' or '}'", name);
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------------

class RedisStore::Impl {
 public:
  explicit Impl(RedisStoreOptions options)
      : options_(std::move(options)),
        backoff_(options_.reconnect_backoff_initial, options_.reconnect_backoff_max,
                 options_.jitter_seed != 0 ? options_.jitter_seed : std::random_device{}()),
        endpoint_(options_.host + ":" + std::to_string(options_.port)) {}

  // Sends all commands, then reads all replies: one round trip. `may_connect` is false for the
  // second half of a WATCH ... EXEC sequence, which must run on the connection that WATCHed.
  Result<std::vector<ReplyPtr>> Pipeline(const std::vector<Command>& commands, bool may_connect,
                                         std::string_view what) {
    if (!context_) {
      if (!may_connect) {
        return Unavailable(std::string(what) + ": connection lost inside a transaction");
      }
      if (auto connected = Connect(); !connected) return std::unexpected(connected.error());
    }
    SigpipeGuard sigpipe_guard;
    std::vector<const char*> argv;
    std::vector<std::size_t> argv_lengths;
    for (const Command& command : commands) {
      argv.clear();
      argv_lengths.clear();
      for (std::string_view arg : command.args()) {
        argv.push_back(arg.data());
        argv_lengths.push_back(arg.size());
      }
      if (redisAppendCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(),
                                 argv_lengths.data()) != REDIS_OK) {
        return Drop(what);
      }
    }
    std::vector<ReplyPtr> replies;
    replies.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) return Drop(what);
      replies.emplace_back(static_cast<redisReply*>(raw));
    }
    // A reply proves the server is healthy; only now does the backoff start over.
    backoff_.Reset();
    return replies;
  }

  Result<ReplyPtr> Single(Command command, std::string_view what) {
    std::vector<Command> commands;
    commands.push_back(std::move(command));
    auto replies = Pipeline(commands, true, what);
    if (!replies) return std::unexpected(replies.error());
    ReplyPtr reply = std::move(replies->front());
    if (reply->type == REDIS_REPLY_ERROR) return std::unexpected(ReplyError(*reply, what));
    return reply;
  }

  std::string Key(std::string_view kind, std::string_view name) const {
    std::string key;
    key.reserve(options_.key_prefix.size() + kind.size() + name.size());
    key.append(options_.key_prefix).append(kind).append(name);
    return key;
  }

  std::unexpected<Error> Unavailable(std::string message) {
    counters_.unavailable.fetch_add(1, std::memory_order_relaxed);
    return std::unexpected(Error(Errc::kUnavailable, std::move(message), true));
  }

  std::mutex mutex_;
  RedisStoreOptions options_;
  // Atomics, read without the mutex: a metrics scrape must not wait behind a slow Redis call.
  struct Counters {
    std::atomic<std::uint64_t> connect_attempts{0};
    std::atomic<std::uint64_t> connects{0};
    std::atomic<std::uint64_t> disconnects{0};
    std::atomic<std::uint64_t> unavailable{0};
  } counters_;

 private:
  Status Connect() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_attempt_) {
      const auto wait =
          std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now).count();
      return Unavailable("redis " + endpoint_ + " unavailable (" + last_error_ +
                         "); next reconnect attempt in " + std::to_string(wait) + " ms");
    }
    counters_.connect_attempts.fetch_add(1, std::memory_order_relaxed);
    ContextPtr context(redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                               ToTimeval(options_.connect_timeout)));
    if (!context || context->err != 0) {
      last_error_ = context ? context->errstr : "cannot allocate a hiredis context";
      next_attempt_ = now + backoff_.Next();
      return Unavailable("redis " + endpoint_ + ": connect failed: " + last_error_);
    }
    if (redisSetTimeout(context.get(), ToTimeval(options_.command_timeout)) != REDIS_OK ||
        redisEnableKeepAlive(context.get()) != REDIS_OK) {
      last_error_ = context->errstr;
      next_attempt_ = now + backoff_.Next();
      return Unavailable("redis " + endpoint_ + ": socket setup failed: " + last_error_);
    }
    context_ = std::move(context);
    counters_.connects.fetch_add(1, std::memory_order_relaxed);
    return {};
  }

  // After an I/O error or timeout the connection's reply stream may be out of step with its
  // requests, so it is never reused. The next call reconnects once the backoff delay passed.
  std::unexpected<Error> Drop(std::string_view what) {
    last_error_ = context_->errstr[0] != '\0' ? context_->errstr : "connection closed";
    if (context_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      last_error_ = "no reply within " + std::to_string(options_.command_timeout.count()) + " ms";
    }
    context_.reset();
    counters_.disconnects.fetch_add(1, std::memory_order_relaxed);
    next_attempt_ = std::chrono::steady_clock::now() + backoff_.Next();
    return Unavailable(std::string(what) + ": redis " + endpoint_ + ": " + last_error_);
  }

  ReconnectBackoff backoff_;
  std::string endpoint_;
  ContextPtr context_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::string last_error_ = "not connected";
};

// ---------------------------------------------------------------------------------------------

WriteBatch& WriteBatch::Put(std::string_view key, std::string_view value) {
  return Put(key, value, std::chrono::milliseconds(0));
}

WriteBatch& WriteBatch::Put(std::string_view key, std::string_view value,
                            std::chrono::milliseconds ttl) {
  operations_.push_back(Operation{Kind::kPut, std::string(key), std::string(value), ttl});
  return *this;
}

WriteBatch& WriteBatch::Append(std::string_view log, std::string_view record) {
  operations_.push_back(Operation{Kind::kAppend, std::string(log), std::string(record),
                                  std::chrono::milliseconds(0)});
  return *this;
}

// ---------------------------------------------------------------------------------------------

namespace {

void Require(bool condition, const std::string& message) {
  if (!condition) throw std::invalid_argument("RedisStoreOptions." + message);
}

}  // namespace

RedisStore::RedisStore(RedisStoreOptions options) {
  Require(!options.host.empty(), "host: must not be empty");
  Require(options.port > 0 && options.port < 65536,
          "port: must be in [1, 65535], got " + std::to_string(options.port));
  Require(options.connect_timeout.count() > 0, "connect_timeout: must be > 0");
  Require(options.command_timeout.count() > 0, "command_timeout: must be > 0");
  Require(options.reconnect_backoff_initial.count() > 0, "reconnect_backoff_initial: must be > 0");
  Require(options.reconnect_backoff_max >= options.reconnect_backoff_initial,
          "reconnect_backoff_max: must be >= reconnect_backoff_initial");
  impl_ = std::make_unique<Impl>(std::move(options));
}

RedisStore::~RedisStore() = default;

const RedisStoreOptions& RedisStore::options() const noexcept {
  return impl_->options_;
}

RedisStoreStats RedisStore::stats() const {
  const auto& counters = impl_->counters_;
  RedisStoreStats stats;
  stats.connect_attempts = counters.connect_attempts.load(std::memory_order_relaxed);
  stats.connects = counters.connects.load(std::memory_order_relaxed);
  stats.disconnects = counters.disconnects.load(std::memory_order_relaxed);
  stats.unavailable = counters.unavailable.load(std::memory_order_relaxed);
  return stats;
}

std::string RedisStore::SnapshotKey(std::string_view name) const {
  return impl_->Key("snap:", "{" + std::string(name) + "}");
}
std::string RedisStore::AppliedKey(std::string_view name, std::string_view event_id) const {
  std::string scoped;
  scoped.reserve(name.size() + event_id.size() + 3);
  scoped.append("{").append(name).append("}:").append(event_id);
  return impl_->Key("applied:", scoped);
}
std::string RedisStore::ClaimKey(std::string_view key) const {
  return impl_->Key("claim:", key);
}
std::string RedisStore::LogKey(std::string_view log) const {
  return impl_->Key("log:", log);
}
std::string RedisStore::ValueKey(std::string_view key) const {
  return impl_->Key("kv:", key);
}

Status RedisStore::Ping() {
  std::lock_guard lock(impl_->mutex_);
  auto reply = impl_->Single(std::move(Command().Arg("PING")), "ping");
  if (!reply) return std::unexpected(reply.error());
  return {};
}

Result<std::uint64_t> RedisStore::PutSnapshot(std::string_view name, std::string_view state,
                                              std::span<const ConsumedOffset> offsets) {
  ApplyRequest request;
  request.state = state;
  request.offsets = offsets;
  return Apply(name, request);
}

Result<std::optional<Snapshot>> RedisStore::GetSnapshot(std::string_view name) {
  if (auto valid = ValidateSnapshotName(name); !valid) return std::unexpected(valid.error());
  const std::string key = SnapshotKey(name);
  const std::string what = "get snapshot '" + std::string(name) + "'";
  std::lock_guard lock(impl_->mutex_);
  // One HMGET reads every field at one point in time: the pair is consistent by construction.
  auto reply = impl_->Single(std::move(Command()
                                           .Arg("HMGET")
                                           .Arg(key)
                                           .Arg("format")
                                           .Arg("state")
                                           .Arg("offsets")
                                           .Arg("sequence")
                                           .Arg("written_at_ms")),
                             what);
  if (!reply) return std::unexpected(reply.error());
  const redisReply& fields = **reply;
  if (fields.type != REDIS_REPLY_ARRAY || fields.elements != 5) return Unexpected(fields, what);
  bool all_nil = true;
  bool any_nil = false;
  for (std::size_t i = 0; i < fields.elements; ++i) {
    const bool nil = fields.element[i]->type == REDIS_REPLY_NIL;
    all_nil = all_nil && nil;
    any_nil = any_nil || nil;
  }
  if (all_nil) return std::optional<Snapshot>();
  if (any_nil) {
    return Fail(Errc::kDataLoss, what + ": record at '" + key + "' lacks fields");
  }
  if (ReplyText(*fields.element[0]) != kSnapshotFormat) {
    return Fail(Errc::kDataLoss, what + ": record at '" + key + "' has unknown format '" +
                                     std::string(ReplyText(*fields.element[0])) + "'");
  }
  Snapshot snapshot;
  snapshot.state.assign(fields.element[1]->str, fields.element[1]->len);
  auto offsets = detail::DecodeOffsets(ReplyText(*fields.element[2]));
  if (!offsets) {
    return Fail(Errc::kDataLoss, what + ": " + offsets.error().message());
  }
  snapshot.offsets = std::move(*offsets);
  std::int64_t written_at_ms = 0;
  if (!ParseWhole(ReplyText(*fields.element[3]), snapshot.sequence) ||
      !ParseWhole(ReplyText(*fields.element[4]), written_at_ms)) {
    return Fail(Errc::kDataLoss,
                what + ": record at '" + key + "' has a malformed sequence or time");
  }
  snapshot.written_at =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(written_at_ms));
  return std::optional<Snapshot>(std::move(snapshot));
}

Result<std::uint64_t> RedisStore::Apply(std::string_view name, const ApplyRequest& request) {
  if (auto valid = ValidateSnapshotName(name); !valid) return std::unexpected(valid.error());
  auto offsets_text = detail::EncodeOffsets(request.offsets);
  if (!offsets_text) return std::unexpected(offsets_text.error());
  {
    std::unordered_set<std::string_view> seen;
    for (const std::string& id : request.event_ids) {
      if (id.empty()) return InvalidField("event_ids", "must not contain an empty id", id);
      if (!seen.insert(id).second) return InvalidField("event_ids", "contains a duplicate", id);
    }
  }
  if (!request.event_ids.empty() && request.applied_ttl.count() <= 0) {
    return InvalidField("applied_ttl", "must be >= 1 s",
                        std::to_string(request.applied_ttl.count()) + " s");
  }

  const std::string key = SnapshotKey(name);
  std::vector<std::string> applied_keys;
  applied_keys.reserve(request.event_ids.size());
  for (const std::string& id : request.event_ids) applied_keys.push_back(AppliedKey(name, id));
  const std::string what = "apply to snapshot '" + std::string(name) + "'";
  const bool guarded = request.expected_sequence.has_value() || !applied_keys.empty();

  std::lock_guard lock(impl_->mutex_);
  std::uint64_t current_sequence = 0;
  if (guarded) {
    // WATCH, then read what the write depends on, in one round trip. If the watched key changes
    // before EXEC, Redis refuses the whole transaction. Only the snapshot key is watched: every
    // applied mark of `name` is written by an Apply to `name`, whose transaction also bumps the
    // snapshot's sequence, so a concurrent mark always touches the watched key. (Watching one
    // key per event id cost Redis 7 time quadratic in the id count: 20,000 ids took 7.4 s.)
    std::vector<Command> checks(applied_keys.empty() ? 2 : 3);
    checks[0].Arg("WATCH").Arg(key);
    checks[1].Arg("HGET").Arg(key).Arg("sequence");
    if (!applied_keys.empty()) {
      checks[2].Arg("MGET");
      for (const std::string& applied : applied_keys) checks[2].Arg(applied);
    }
    auto replies = impl_->Pipeline(checks, true, what);
    if (!replies) return std::unexpected(replies.error());
    auto unwatch = [&]() -> Status {
      std::vector<Command> release(1);
      release[0].Arg("UNWATCH");
      auto released = impl_->Pipeline(release, false, what);
      if (!released) return std::unexpected(released.error());
      return {};
    };
    for (const ReplyPtr& reply : *replies) {
      if (reply->type == REDIS_REPLY_ERROR) {
        Error error = ReplyError(*reply, what);
        (void)unwatch();
        return std::unexpected(std::move(error));
      }
    }
    const redisReply& sequence = *(*replies)[1];
    if (sequence.type == REDIS_REPLY_STRING && !ParseWhole(ReplyText(sequence), current_sequence)) {
      (void)unwatch();
      return Fail(Errc::kDataLoss,
                  what + ": malformed sequence '" + std::string(ReplyText(sequence)) + "'");
    }
    if (request.expected_sequence && *request.expected_sequence != current_sequence) {
      (void)unwatch();
      return Fail(Errc::kFailedPrecondition, what + ": expected sequence " +
                                                 std::to_string(*request.expected_sequence) +
                                                 ", found " + std::to_string(current_sequence) +
                                                 " (another writer owns this snapshot; reload it)");
    }
    if (!applied_keys.empty()) {
      const redisReply& marks = *(*replies)[2];
      if (marks.type != REDIS_REPLY_ARRAY || marks.elements != applied_keys.size()) {
        (void)unwatch();
        return Unexpected(marks, what);
      }
      for (std::size_t i = 0; i < marks.elements; ++i) {
        if (marks.element[i]->type != REDIS_REPLY_NIL) {
          (void)unwatch();
          return Fail(Errc::kAlreadyExists, what + ": event_id '" + request.event_ids[i] +
                                                "' was already applied (at sequence " +
                                                std::string(ReplyText(*marks.element[i])) +
                                                "); nothing written");
        }
      }
    }
    if (impl_->options_.before_exec_for_testing) impl_->options_.before_exec_for_testing();
  }

  const std::string next_sequence = std::to_string(current_sequence + 1);
  const std::string ttl_seconds = std::to_string(request.applied_ttl.count());
  std::vector<Command> transaction(4 + applied_keys.size());
  transaction[0].Arg("MULTI");
  transaction[1]
      .Arg("HSET")
      .Arg(key)
      .Arg("format")
      .Arg(kSnapshotFormat)
      .Arg("state")
      .Arg(request.state)
      .Arg("offsets")
      .Arg(*offsets_text)
      .Arg("written_at_ms")
      .Own(std::to_string(NowMillis()));
  transaction[2].Arg("HINCRBY").Arg(key).Arg("sequence").Arg("1");
  for (std::size_t i = 0; i < applied_keys.size(); ++i) {
    transaction[3 + i]
        .Arg("SET")
        .Arg(applied_keys[i])
        .Arg(next_sequence)
        .Arg("EX")
        .Arg(ttl_seconds);
  }
  transaction.back().Arg("EXEC");
  auto replies = impl_->Pipeline(transaction, !guarded, what);
  if (!replies) return std::unexpected(replies.error());
  for (std::size_t i = 0; i + 1 < replies->size(); ++i) {
    // MULTI answers OK, each queued command QUEUED; an error here (e.g. a key of the wrong
    // type) makes Redis discard the transaction at EXEC.
    const redisReply& queued = *(*replies)[i];
    if (queued.type == REDIS_REPLY_ERROR) return std::unexpected(ReplyError(queued, what));
  }
  const redisReply& exec = *replies->back();
  if (exec.type == REDIS_REPLY_NIL) {
    return std::unexpected(Error(
        Errc::kFailedPrecondition,
        what + ": another writer changed the snapshot or an applied mark concurrently; nothing "
               "written",
        !request.expected_sequence.has_value()));
  }
  if (exec.type == REDIS_REPLY_ERROR) return std::unexpected(ReplyError(exec, what));
  if (exec.type != REDIS_REPLY_ARRAY || exec.elements != transaction.size() - 2) {
    return Unexpected(exec, what);
  }
  for (std::size_t i = 0; i < exec.elements; ++i) {
    if (exec.element[i]->type == REDIS_REPLY_ERROR) {
      // Redis does not roll back: this only happens if someone replaced our keys by hand.
      return Fail(Errc::kInternal, what + ": partially applied, command " + std::to_string(i) +
                                       " failed: " + std::string(ReplyText(*exec.element[i])));
    }
  }
  const redisReply& incremented = *exec.element[1];
  if (incremented.type != REDIS_REPLY_INTEGER || incremented.integer <= 0) {
    return Unexpected(incremented, what);
  }
  return static_cast<std::uint64_t>(incremented.integer);
}

Result<std::vector<bool>> RedisStore::AppliedAmong(std::string_view name,
                                                   std::span<const std::string> event_ids) {
  if (auto valid = ValidateSnapshotName(name); !valid) return std::unexpected(valid.error());
  std::vector<bool> applied(event_ids.size(), false);
  if (event_ids.empty()) return applied;
  std::vector<std::string> keys;
  keys.reserve(event_ids.size());
  for (const std::string& id : event_ids) keys.push_back(AppliedKey(name, id));
  Command command;
  command.Arg("MGET");
  for (const std::string& key : keys) command.Arg(key);
  const std::string what = "applied marks of snapshot '" + std::string(name) + "'";
  std::lock_guard lock(impl_->mutex_);
  auto reply = impl_->Single(std::move(command), what);
  if (!reply) return std::unexpected(reply.error());
  const redisReply& marks = **reply;
  if (marks.type != REDIS_REPLY_ARRAY || marks.elements != keys.size()) {
    return Unexpected(marks, what);
  }
  for (std::size_t i = 0; i < marks.elements; ++i) {
    applied[i] = marks.element[i]->type != REDIS_REPLY_NIL;
  }
  return applied;
}

Result<bool> RedisStore::TryClaim(std::string_view key, std::chrono::milliseconds ttl) {
  if (auto valid = ValidateName("key", key); !valid) return std::unexpected(valid.error());
  if (ttl.count() <= 0) return InvalidField("ttl", "must be >= 1 ms", std::to_string(ttl.count()));
  const std::string claim_key = ClaimKey(key);
  const std::string what = "claim '" + std::string(key) + "'";
  std::lock_guard lock(impl_->mutex_);
  auto reply =
      impl_->Single(std::move(Command().Arg("SET").Arg(claim_key).Arg("1").Arg("NX").Arg("PX").Own(
                        std::to_string(ttl.count()))),
                    what);
  if (!reply) return std::unexpected(reply.error());
  if ((*reply)->type == REDIS_REPLY_NIL) return false;
  if ((*reply)->type == REDIS_REPLY_STATUS) return true;
  return Unexpected(**reply, what);
}

Result<std::uint64_t> RedisStore::Append(std::string_view log, std::string_view record) {
  if (auto valid = ValidateName("log", log); !valid) return std::unexpected(valid.error());
  const std::string key = LogKey(log);
  const std::string what = "append to log '" + std::string(log) + "'";
  std::lock_guard lock(impl_->mutex_);
  auto reply = impl_->Single(std::move(Command().Arg("RPUSH").Arg(key).Arg(record)), what);
  if (!reply) return std::unexpected(reply.error());
  if ((*reply)->type != REDIS_REPLY_INTEGER || (*reply)->integer <= 0) {
    return Unexpected(**reply, what);
  }
  return static_cast<std::uint64_t>((*reply)->integer - 1);
}

Result<std::vector<std::string>> RedisStore::Range(std::string_view log, std::uint64_t from,
                                                   std::size_t count) {
  if (auto valid = ValidateName("log", log); !valid) return std::unexpected(valid.error());
  constexpr auto kMaxIndex = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (from > kMaxIndex) return InvalidField("from", "must be < 2^63", std::to_string(from));
  std::vector<std::string> records;
  if (count == 0) return records;
  // Saturating: a huge count must not wrap around to a small last index.
  const std::uint64_t span = static_cast<std::uint64_t>(count) - 1;
  const std::uint64_t last = span > kMaxIndex - from ? kMaxIndex : from + span;
  const std::string key = LogKey(log);
  const std::string what = "range of log '" + std::string(log) + "'";
  std::lock_guard lock(impl_->mutex_);
  auto reply = impl_->Single(
      std::move(
          Command().Arg("LRANGE").Arg(key).Own(std::to_string(from)).Own(std::to_string(last))),
      what);
  if (!reply) return std::unexpected(reply.error());
  if ((*reply)->type != REDIS_REPLY_ARRAY) return Unexpected(**reply, what);
  records.reserve((*reply)->elements);
  for (std::size_t i = 0; i < (*reply)->elements; ++i) {
    records.emplace_back((*reply)->element[i]->str, (*reply)->element[i]->len);
  }
  return records;
}

Result<std::uint64_t> RedisStore::Length(std::string_view log) {
  if (auto valid = ValidateName("log", log); !valid) return std::unexpected(valid.error());
  const std::string key = LogKey(log);
  const std::string what = "length of log '" + std::string(log) + "'";
  std::lock_guard lock(impl_->mutex_);
  auto reply = impl_->Single(std::move(Command().Arg("LLEN").Arg(key)), what);
  if (!reply) return std::unexpected(reply.error());
  if ((*reply)->type != REDIS_REPLY_INTEGER || (*reply)->integer < 0) {
    return Unexpected(**reply, what);
  }
  return static_cast<std::uint64_t>((*reply)->integer);
}

Status RedisStore::Write(const WriteBatch& batch) {
  if (batch.empty()) return {};
  std::vector<std::string> keys;
  keys.reserve(batch.size());
  std::vector<Command> commands(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const WriteBatch::Operation& operation = batch.operations_[i];
    if (operation.key.empty()) return InvalidField("batch key", "must not be empty", "");
    if (operation.kind == WriteBatch::Kind::kPut) {
      keys.push_back(ValueKey(operation.key));
      commands[i].Arg("SET").Arg(keys.back()).Arg(operation.value);
      if (operation.ttl.count() > 0)
        commands[i].Arg("PX").Own(std::to_string(operation.ttl.count()));
    } else {
      keys.push_back(LogKey(operation.key));
      commands[i].Arg("RPUSH").Arg(keys.back()).Arg(operation.value);
    }
  }
  // `keys` never reallocates after the reserve above, so the borrowed views stay valid.
  const std::string what = "write batch of " + std::to_string(batch.size());
  std::lock_guard lock(impl_->mutex_);
  auto replies = impl_->Pipeline(commands, true, what);
  if (!replies) return std::unexpected(replies.error());
  for (std::size_t i = 0; i < replies->size(); ++i) {
    const redisReply& reply = *(*replies)[i];
    if (reply.type == REDIS_REPLY_ERROR) {
      return std::unexpected(ReplyError(reply, what + ", operation " + std::to_string(i) + " on '" +
                                                   batch.operations_[i].key + "'"));
    }
  }
  return {};
}

Result<std::optional<std::string>> RedisStore::Get(std::string_view key) {
  if (auto valid = ValidateName("key", key); !valid) return std::unexpected(valid.error());
  const std::string value_key = ValueKey(key);
  const std::string what = "get '" + std::string(key) + "'";
  std::lock_guard lock(impl_->mutex_);
  auto reply = impl_->Single(std::move(Command().Arg("GET").Arg(value_key)), what);
  if (!reply) return std::unexpected(reply.error());
  if ((*reply)->type == REDIS_REPLY_NIL) return std::optional<std::string>();
  if ((*reply)->type != REDIS_REPLY_STRING) return Unexpected(**reply, what);
  return std::optional<std::string>(std::in_place, (*reply)->str, (*reply)->len);
}

}  // namespace sop::store
