#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "rdkafka_util.hpp"
#include "sop/bus/producer.hpp"

namespace sop::bus {
namespace {

using std::chrono::milliseconds;

// Settings that make the delivery guarantees of this class true; a caller may repeat them
// but not contradict them.
constexpr std::string_view kIdempotence = "enable.idempotence";
constexpr std::string_view kAcks = "acks";

// One queued message's completion, travelling through librdkafka as the message opaque.
struct PendingDelivery {
  DeliveryCallback callback;
};

class KafkaProducer final : public Producer {
 public:
  // `error_sink` is the librdkafka opaque, created before the handle because the error
  // callback may fire as soon as the handle exists.
  KafkaProducer(detail::HandlePtr handle, ProducerOptions options,
                std::unique_ptr<std::function<void(const Error&)>> error_sink)
      : error_sink_(std::move(error_sink)),
        handle_(std::move(handle)),
        options_(std::move(options)) {
    poll_thread_ = std::thread([this] { PollLoop(); });
  }

  ~KafkaProducer() override {
    if (!Flush(options_.close_timeout)) {
      // Whatever is left is cancelled so that every callback still runs exactly once.
      rd_kafka_purge(handle_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_flush(handle_.get(), 1'000);
    }
    stopping_.store(true);
    poll_thread_.join();
    rd_kafka_poll(handle_.get(), 0);
  }

  void Send(OutgoingMessage message, DeliveryCallback callback) override {
    auto pending = std::make_unique<PendingDelivery>(PendingDelivery{std::move(callback)});
    rd_kafka_headers_t* headers = detail::ToRdHeaders(message.headers);
    const std::int32_t partition = message.partition.value_or(RD_KAFKA_PARTITION_UA);
    void* key = message.key ? message.key->data() : nullptr;
    const std::size_t key_size = message.key ? message.key->size() : 0;
    // The vector form of producev: the RD_KAFKA_V_* macros expand to C casts.
    std::array<rd_kafka_vu_t, 7> fields{};
    fields[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    fields[0].u.cstr = message.topic.c_str();
    fields[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    fields[1].u.i32 = partition;
    fields[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    fields[2].u.i = RD_KAFKA_MSG_F_COPY;
    fields[3].vtype = RD_KAFKA_VTYPE_VALUE;
    fields[3].u.mem.ptr = message.value.data();
    fields[3].u.mem.size = message.value.size();
    fields[4].vtype = RD_KAFKA_VTYPE_KEY;
    fields[4].u.mem.ptr = key;
    fields[4].u.mem.size = key_size;
    fields[5].vtype = RD_KAFKA_VTYPE_HEADERS;
    fields[5].u.headers = headers;
    fields[6].vtype = RD_KAFKA_VTYPE_OPAQUE;
    fields[6].u.ptr = pending.get();
    rd_kafka_error_t* error = rd_kafka_produceva(handle_.get(), fields.data(), fields.size());
    if (error != nullptr) {
      const rd_kafka_resp_err_t err = rd_kafka_error_code(error);
      rd_kafka_error_destroy(error);
      rd_kafka_headers_destroy(headers);  // only owned by librdkafka on success
      pending->callback(std::unexpected(detail::ErrorFrom(err, "produce to " + message.topic)));
      return;
    }
    (void)pending.release();  // owned by the delivery report now
  }

  Status Flush(milliseconds timeout) override {
    const rd_kafka_resp_err_t err =
        rd_kafka_flush(handle_.get(), static_cast<int>(timeout.count()));
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
      return Fail(Errc::kDeadlineExceeded,
                  "producer flush: " + std::to_string(rd_kafka_outq_len(handle_.get())) +
                      " messages still outstanding after " + std::to_string(timeout.count()) +
                      " ms");
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected(detail::ErrorFrom(err, "producer flush"));
    }
    return {};
  }

  int OutstandingCount() const override { return rd_kafka_outq_len(handle_.get()); }

  static void OnDelivery(rd_kafka_t* /*handle*/, const rd_kafka_message_t* record,
                         void* /*opaque*/) {
    std::unique_ptr<PendingDelivery> pending(static_cast<PendingDelivery*>(record->_private));
    if (!pending || !pending->callback) return;
    const std::string topic = rd_kafka_topic_name(record->rkt);
    if (record->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      pending->callback(std::unexpected(detail::ErrorFrom(record->err, "deliver to " + topic)));
      return;
    }
    pending->callback(DeliveryReport{topic, record->partition, record->offset});
  }

  static void OnError(rd_kafka_t* handle, int err, const char* reason, void* opaque) {
    auto* sink = static_cast<std::function<void(const Error&)>*>(opaque);
    if (sink == nullptr || !*sink) return;
    auto code = static_cast<rd_kafka_resp_err_t>(err);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      // The idempotence guarantee cannot be kept (e.g. the broker lost acknowledged data):
      // the producer is unusable and the service must restart it. Report the underlying cause.
      std::array<char, 512> cause{};
      code = rd_kafka_fatal_error(handle, cause.data(), cause.size());
      (*sink)(Error(
          Errc::kInternal,
          std::string("producer fatal: ") + cause.data() + " (" + rd_kafka_err2name(code) + ")",
          false));
      return;
    }
    (*sink)(detail::ErrorFrom(code, std::string("producer: ") + reason));
  }

 private:
  void PollLoop() {
    while (!stopping_.load()) rd_kafka_poll(handle_.get(), 100);
  }

  std::unique_ptr<std::function<void(const Error&)>> error_sink_;  // outlives handle_
  detail::HandlePtr handle_;
  ProducerOptions options_;
  std::atomic<bool> stopping_{false};
  std::thread poll_thread_;
};

}  // namespace

Result<std::unique_ptr<Producer>> Producer::Create(const KafkaConfig& config,
                                                   ProducerOptions options) {
  if (const std::string* value = config.Find(kIdempotence); value && *value != "true") {
    return InvalidField("kafka config enable.idempotence",
                        "the producer is always idempotent, must be true", *value);
  }
  if (const std::string* value = config.Find(kAcks); value && *value != "all" && *value != "-1") {
    return InvalidField("kafka config acks",
                        "the producer always waits for all replicas, must be all", *value);
  }
  KafkaConfig effective;
  // murmur2 is the Java client's partitioner: producers in any language agree on key -> partition.
  effective.Set("partitioner", "murmur2_random");
  for (const auto& [key, value] : config.entries()) effective.Set(key, value);
  effective.Set(std::string(kIdempotence), "true");
  effective.Set(std::string(kAcks), "all");

  auto conf = detail::BuildConf(effective);
  if (!conf) return std::unexpected(conf.error());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &KafkaProducer::OnDelivery);
  rd_kafka_conf_set_error_cb(conf->get(), &KafkaProducer::OnError);
  auto error_sink = std::make_unique<std::function<void(const Error&)>>(options.on_error);
  rd_kafka_conf_set_opaque(conf->get(), error_sink.get());
  auto handle = detail::NewHandle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!handle) return std::unexpected(handle.error());
  auto producer = std::make_unique<KafkaProducer>(std::move(*handle), std::move(options),
                                                  std::move(error_sink));
  return std::unique_ptr<Producer>(std::move(producer));
}

std::future<Result<DeliveryReport>> Producer::Send(OutgoingMessage message) {
  auto promise = std::make_shared<std::promise<Result<DeliveryReport>>>();
  std::future<Result<DeliveryReport>> future = promise->get_future();
  Send(std::move(message),
       [promise](Result<DeliveryReport> report) { promise->set_value(std::move(report)); });
  return future;
}

Result<DeliveryReport> Producer::SendSync(OutgoingMessage message, milliseconds timeout) {
  const std::string topic = message.topic;
  std::future<Result<DeliveryReport>> future = Send(std::move(message));
  if (future.wait_for(timeout) != std::future_status::ready) {
    return Fail(Errc::kDeadlineExceeded, "produce to " + topic + ": no acknowledgement within " +
                                             std::to_string(timeout.count()) + " ms");
  }
  return future.get();
}

}  // namespace sop::bus
