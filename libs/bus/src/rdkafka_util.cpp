#include "rdkafka_util.hpp"

#include <array>
#include <chrono>
#include <cstddef>

namespace sop::bus::detail {

Errc MapErrc(rd_kafka_resp_err_t err) noexcept {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return Errc::kOk;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
      return Errc::kDeadlineExceeded;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
      return Errc::kUnavailable;
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__DESTROY:
      return Errc::kCancelled;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
      return Errc::kInvalidArgument;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return Errc::kNotFound;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
      return Errc::kAlreadyExists;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return Errc::kPermissionDenied;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__SSL:
      return Errc::kUnauthenticated;
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
      return Errc::kDataLoss;
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR__STATE:
      return Errc::kFailedPrecondition;
    default:
      return Errc::kInternal;
  }
}

bool IsRetryable(rd_kafka_resp_err_t err) noexcept {
  const Errc code = MapErrc(err);
  return code == Errc::kUnavailable || code == Errc::kDeadlineExceeded;
}

Error ErrorFrom(rd_kafka_resp_err_t err, std::string_view context) {
  std::string message(context);
  message.append(": ").append(rd_kafka_err2str(err));
  message.append(" (").append(rd_kafka_err2name(err)).append(")");
  return Error(MapErrc(err), std::move(message), IsRetryable(err));
}

Status SetProperty(rd_kafka_conf_t* conf, std::string_view key, std::string_view value) {
  std::array<char, 512> errstr{};
  const std::string key_string(key);
  const std::string value_string(value);
  if (rd_kafka_conf_set(conf, key_string.c_str(), value_string.c_str(), errstr.data(),
                        errstr.size()) != RD_KAFKA_CONF_OK) {
    std::string message = "kafka config ";
    message.append(key).append("=").append(KafkaConfig::Printable(key, value));
    message.append(": ").append(errstr.data());
    return Fail(Errc::kInvalidArgument, std::move(message));
  }
  return {};
}

Result<ConfPtr> BuildConf(const KafkaConfig& config) {
  ConfPtr conf(rd_kafka_conf_new());
  // Our own errors and logs go through sop's error model; keep librdkafka's stderr logs for
  // problems only.
  if (auto status = SetProperty(conf.get(), "log_level", "4"); !status) {
    return std::unexpected(status.error());
  }
  for (const auto& [key, value] : config.entries()) {
    if (auto status = SetProperty(conf.get(), key, value); !status) {
      return std::unexpected(status.error());
    }
  }
  return conf;
}

Result<HandlePtr> NewHandle(rd_kafka_type_t type, ConfPtr conf) {
  std::array<char, 512> errstr{};
  rd_kafka_t* handle = rd_kafka_new(type, conf.get(), errstr.data(), errstr.size());
  if (handle == nullptr) {
    return Fail(Errc::kInvalidArgument, std::string("kafka client: ") + errstr.data());
  }
  (void)conf.release();  // rd_kafka_new owns the configuration now
  return HandlePtr(handle);
}

void CopyInto(const rd_kafka_message_t& record, Message& message) {
  // assign() keeps a string's capacity, so a reused Message stops allocating once its buffers
  // fit the records.
  message.topic.assign(rd_kafka_topic_name(record.rkt));
  message.partition = record.partition;
  message.offset = record.offset;
  if (record.key != nullptr) {
    if (!message.key) message.key.emplace();
    message.key->assign(static_cast<const char*>(record.key), record.key_len);
  } else {
    message.key.reset();
  }
  if (record.payload != nullptr) {
    message.value.assign(static_cast<const char*>(record.payload), record.len);
  } else {
    message.value.clear();
  }
  rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const std::int64_t timestamp_ms = rd_kafka_message_timestamp(&record, &timestamp_type);
  message.timestamp =
      timestamp_type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
          ? std::chrono::system_clock::time_point(std::chrono::milliseconds(timestamp_ms))
          : std::chrono::system_clock::time_point{};
  std::size_t count = 0;
  rd_kafka_headers_t* headers = nullptr;
  // rd_kafka_message_headers takes a non-const message because it parses lazily; the record
  // itself is not modified in a way the caller can observe.
  if (rd_kafka_message_headers(const_cast<rd_kafka_message_t*>(&record), &headers) ==
          RD_KAFKA_RESP_ERR_NO_ERROR &&
      headers != nullptr) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t index = 0; rd_kafka_header_get_all(headers, index, &name, &value, &size) ==
                                RD_KAFKA_RESP_ERR_NO_ERROR;
         ++index) {
      if (count == message.headers.size()) message.headers.emplace_back();
      Header& header = message.headers[count++];
      header.name.assign(name);
      if (value != nullptr) {
        header.value.assign(static_cast<const char*>(value), size);
      } else {
        header.value.clear();
      }
    }
  }
  // Shrinking keeps the vector's capacity; the surplus headers' strings are freed.
  message.headers.resize(count);
}

rd_kafka_headers_t* ToRdHeaders(const std::vector<Header>& headers) {
  rd_kafka_headers_t* list = rd_kafka_headers_new(headers.size());
  for (const Header& header : headers) {
    rd_kafka_header_add(list, header.name.data(), static_cast<ssize_t>(header.name.size()),
                        header.value.data(), static_cast<ssize_t>(header.value.size()));
  }
  return list;
}

}  // namespace sop::bus::detail
