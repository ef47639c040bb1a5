#pragma once
// Internal glue between librdkafka's C API and the bus's domain types. Not installed.

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sop/bus/kafka_config.hpp"
#include "sop/bus/message.hpp"
#include "sop/model/error.hpp"

namespace sop::bus::detail {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const noexcept { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct HandleDeleter {
  void operator()(rd_kafka_t* handle) const noexcept { rd_kafka_destroy(handle); }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct TopicPartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const noexcept {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using TopicPartitionListPtr =
    std::unique_ptr<rd_kafka_topic_partition_list_t, TopicPartitionListDeleter>;

struct MessageDeleter {
  void operator()(rd_kafka_message_t* message) const noexcept { rd_kafka_message_destroy(message); }
};
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

/// The sopstream code for a librdkafka error.
Errc MapErrc(rd_kafka_resp_err_t err) noexcept;
/// Whether retrying the same operation can help (transient broker or network state).
bool IsRetryable(rd_kafka_resp_err_t err) noexcept;
/// "<context>: <librdkafka's description> (<error name>)" with mapped code and retryability.
Error ErrorFrom(rd_kafka_resp_err_t err, std::string_view context);

/// Sets one property; INVALID_ARGUMENT naming key and (printable) value on failure.
Status SetProperty(rd_kafka_conf_t* conf, std::string_view key, std::string_view value);
/// A fresh librdkafka configuration holding every entry of `config`.
Result<ConfPtr> BuildConf(const KafkaConfig& config);
/// Creates a client handle; takes ownership of `conf` on success and on failure.
Result<HandlePtr> NewHandle(rd_kafka_type_t type, ConfPtr conf);

/// Copies a consumed record into `message` (topic, partition, offset, key, payload, headers,
/// timestamp), reusing its strings' and headers' storage: on the consumer's hot path a reused
/// Message stops allocating once its buffers have grown to the records' sizes.
void CopyInto(const rd_kafka_message_t& record, Message& message);
/// A newly allocated header list for producev (librdkafka takes ownership on success).
rd_kafka_headers_t* ToRdHeaders(const std::vector<Header>& headers);

}  // namespace sop::bus::detail
