#pragma once
/// The idempotent Kafka producer.

#include <chrono>
#include <functional>
#include <future>
#include <memory>

#include "sop/bus/kafka_config.hpp"
#include "sop/bus/message.hpp"
#include "sop/model/error.hpp"

namespace sop::bus {

/// Called once per sent message with where it landed or why it could not be delivered.
using DeliveryCallback = std::function<void(Result<DeliveryReport>)>;

/// Tuning that is not a librdkafka property.
struct ProducerOptions {
  /// How long the destructor waits for outstanding deliveries before cancelling them.
  std::chrono::milliseconds close_timeout{10'000};
  /// Called for client-level errors (all brokers down, authentication failed, ...). Runs on the
  /// poll thread; must not block. Per-message failures go to the delivery callback instead.
  /// A fatal idempotence error arrives as INTERNAL (not retryable): the producer can no longer
  /// keep its guarantees and must be recreated.
  std::function<void(const Error&)> on_error{};
};

/// An idempotent Kafka producer (enable.idempotence=true, acks=all): per partition, records
/// are written once and in send order even when the client retries after broker errors.
///
/// Threads: all methods are thread-safe. One internal poll thread serves librdkafka's
/// delivery reports; delivery callbacks and `on_error` run on it, so they must be short and
/// must not call Flush() or destroy the producer.
/// Errors: a send that cannot even be queued (queue full, unknown topic, message too large)
/// completes at once with the mapped error; broker errors are retried by librdkafka until
/// message.timeout.ms, then reported as DEADLINE_EXCEEDED or UNAVAILABLE (retryable).
/// Configuration errors (including enable.idempotence=false or acks other than all) fail
/// `Create` with INVALID_ARGUMENT.
/// Lifetime: the destructor flushes for `close_timeout`, then cancels what is left (their
/// callbacks get CANCELLED), so every callback runs exactly once.
class Producer {
 public:
  static Result<std::unique_ptr<Producer>> Create(const KafkaConfig& config,
                                                  ProducerOptions options = {});
  virtual ~Producer() = default;

  /// Queues `message`; `callback` runs exactly once on the poll thread (or inline, before
  /// Send returns, when the message cannot be queued).
  virtual void Send(OutgoingMessage message, DeliveryCallback callback) = 0;

  /// Queues `message`; the future becomes ready when the broker acknowledged it (or failed).
  std::future<Result<DeliveryReport>> Send(OutgoingMessage message);

  /// Sends and waits for the acknowledgement, at most `timeout` (DEADLINE_EXCEEDED after it;
  /// the message may still be delivered later).
  Result<DeliveryReport> SendSync(OutgoingMessage message, std::chrono::milliseconds timeout);

  /// Waits until every queued message is acknowledged or failed; DEADLINE_EXCEEDED if some
  /// are still outstanding after `timeout`.
  virtual Status Flush(std::chrono::milliseconds timeout) = 0;

  /// Messages queued or in flight (not yet reported).
  virtual int OutstandingCount() const = 0;

 protected:
  Producer() = default;
};

}  // namespace sop::bus
