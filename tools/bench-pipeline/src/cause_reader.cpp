#include "cause_reader.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>

#include "sop/bus/topics.hpp"

namespace sop::bench {

namespace {

using google::protobuf::internal::WireFormatLite;

constexpr int kPlanCauseField = 7;        // PlanDelta.cause
constexpr int kExceptionsCauseField = 4;  // ExceptionDelta.cause
constexpr int kCauseEventIdField = 1;     // Cause.event_id
constexpr int kCauseEventIdsField = 4;    // Cause.event_ids (a coalesced step's events)

// The first length-delimited field `field` of a message, or nullopt.
std::optional<std::string_view> LengthDelimited(std::string_view bytes, int field) {
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                               static_cast<int>(bytes.size()));
  for (;;) {
    const std::uint32_t tag = input.ReadTag();
    if (tag == 0) return std::nullopt;
    if (WireFormatLite::GetTagFieldNumber(tag) == field &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::uint32_t length = 0;
      if (!input.ReadVarint32(&length)) return std::nullopt;
      const int at = input.CurrentPosition();
      if (static_cast<std::size_t>(at) + length > bytes.size()) return std::nullopt;
      return bytes.substr(static_cast<std::size_t>(at), length);
    }
    if (!WireFormatLite::SkipField(&input, tag)) return std::nullopt;
  }
}

}  // namespace

std::string CauseEventId(std::string_view bytes, int cause_field) {
  const auto cause = LengthDelimited(bytes, cause_field);
  if (!cause) return {};
  const auto id = LengthDelimited(*cause, kCauseEventIdField);
  return id ? std::string(*id) : std::string();
}

std::vector<std::string> CauseEventIds(std::string_view bytes, int cause_field) {
  std::vector<std::string> out;
  const auto cause = LengthDelimited(bytes, cause_field);
  if (!cause) return out;
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const std::uint8_t*>(cause->data()),
                                               static_cast<int>(cause->size()));
  for (;;) {
    const std::uint32_t tag = input.ReadTag();
    if (tag == 0) break;
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if ((field == kCauseEventIdField || field == kCauseEventIdsField) &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::string id;
      if (!WireFormatLite::ReadString(&input, &id)) break;
      if (!id.empty() && std::find(out.begin(), out.end(), id) == out.end()) {
        out.push_back(std::move(id));
      }
      continue;
    }
    if (!WireFormatLite::SkipField(&input, tag)) break;
  }
  return out;
}

Result<std::vector<std::pair<std::int64_t, std::int64_t>>> Watermarks(const std::string& bootstrap,
                                                                      std::string_view topic,
                                                                      std::int32_t partitions) {
  std::array<char, 512> error{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error.data(), error.size()) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "log_level", "3", error.data(), error.size()) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return Fail(Errc::kInvalidArgument, std::string("watermarks: ") + error.data());
  }
  rd_kafka_t* client = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error.data(), error.size());
  if (client == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Fail(Errc::kUnavailable, std::string("watermarks: ") + error.data());
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> result;
  const std::string name(topic);
  for (std::int32_t p = 0; p < partitions; ++p) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const auto code =
        rd_kafka_query_watermark_offsets(client, name.c_str(), p, &low, &high, 10'000);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_destroy(client);
      return Fail(Errc::kUnavailable, "watermarks of " + name + "[" + std::to_string(p) +
                                          "]: " + rd_kafka_err2str(code));
    }
    result.emplace_back(low, high);
  }
  rd_kafka_destroy(client);
  return result;
}

Result<std::unique_ptr<WatermarkClient>> WatermarkClient::Connect(const std::string& bootstrap) {
  std::array<char, 512> error{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error.data(), error.size()) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "log_level", "3", error.data(), error.size()) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return Fail(Errc::kInvalidArgument, std::string("watermarks: ") + error.data());
  }
  rd_kafka_t* client = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error.data(), error.size());
  if (client == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Fail(Errc::kUnavailable, std::string("watermarks: ") + error.data());
  }
  std::unique_ptr<WatermarkClient> out(new WatermarkClient());
  out->client_ = client;
  return out;
}

WatermarkClient::~WatermarkClient() {
  if (client_ != nullptr) rd_kafka_destroy(static_cast<rd_kafka_t*>(client_));
}

Result<std::int64_t> WatermarkClient::SumHigh(std::string_view topic, std::int32_t partitions) {
  const std::string name(topic);
  std::int64_t sum = 0;
  for (std::int32_t p = 0; p < partitions; ++p) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const auto code = rd_kafka_query_watermark_offsets(static_cast<rd_kafka_t*>(client_),
                                                       name.c_str(), p, &low, &high, 10'000);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Fail(Errc::kUnavailable, "watermarks of " + name + "[" + std::to_string(p) +
                                          "]: " + rd_kafka_err2str(code));
    }
    sum += high;
  }
  return sum;
}

struct CauseReader::Impl {
  rd_kafka_t* consumer = nullptr;
  std::vector<std::pair<std::string, std::int32_t>> partitions;
  ~Impl() {
    if (consumer != nullptr) {
      rd_kafka_consumer_close(consumer);
      rd_kafka_destroy(consumer);
    }
  }
};

Result<std::unique_ptr<CauseReader>> CauseReader::Start(const std::string& bootstrap,
                                                        std::int32_t partitions) {
  std::array<char, 512> error{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::pair<const char*, const char*> settings[] = {
      {"bootstrap.servers", bootstrap.c_str()},
      {"group.id", "sop-bench-pipeline-causes"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"fetch.wait.max.ms", "5"},
      {"fetch.error.backoff.ms", "5"},
      {"max.partition.fetch.bytes", "33554432"},
      {"fetch.max.bytes", "134217728"},
      {"receive.message.max.bytes", "135000000"},
      {"log_level", "3"},
  };
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name, value, error.data(), error.size()) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Fail(Errc::kInvalidArgument, std::string(name) + ": " + error.data());
    }
  }
  std::unique_ptr<CauseReader> reader(new CauseReader());
  reader->impl_ = std::make_unique<Impl>();
  reader->impl_->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error.data(), error.size());
  if (reader->impl_->consumer == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Fail(Errc::kUnavailable, std::string("cause reader: ") + error.data());
  }
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(2 * static_cast<int>(partitions));
  for (const std::string_view topic : {bus::kPlanTopic, bus::kExceptionsTopic}) {
    for (std::int32_t p = 0; p < partitions; ++p) {
      std::int64_t low = 0;
      std::int64_t high = 0;
      const std::string name(topic);
      const auto code = rd_kafka_query_watermark_offsets(reader->impl_->consumer, name.c_str(), p,
                                                         &low, &high, 10'000);
      if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(list);
        return Fail(Errc::kUnavailable, "cause reader: watermarks of " + name + "[" +
                                            std::to_string(p) + "]: " + rd_kafka_err2str(code));
      }
      rd_kafka_topic_partition_list_add(list, name.c_str(), p)->offset = high;
      reader->impl_->partitions.emplace_back(name, p);
      reader->positions_[{name, p}] = high;
    }
  }
  const auto assigned = rd_kafka_assign(reader->impl_->consumer, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (assigned != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Fail(Errc::kUnavailable,
                std::string("cause reader: assign: ") + rd_kafka_err2str(assigned));
  }
  reader->thread_ = std::thread([raw = reader.get()] { raw->Run(); });
  return reader;
}

CauseReader::~CauseReader() {
  Stop();
}

void CauseReader::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void CauseReader::Run() {
  const std::string plan_topic(bus::kPlanTopic);
  while (!stop_.load()) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(impl_->consumer, 20);
    if (message == nullptr) continue;
    const auto now = Clock::now();
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const std::string topic = rd_kafka_topic_name(message->rkt);
      const bool plan = topic == plan_topic;
      // A coalesced step names every event it planned (Cause.event_ids) besides the first.
      const std::vector<std::string> ids =
          CauseEventIds(std::string_view(static_cast<const char*>(message->payload), message->len),
                        plan ? kPlanCauseField : kExceptionsCauseField);
      (plan ? plan_messages_ : exception_messages_).fetch_add(1);
      std::lock_guard lock(mutex_);
      positions_[{topic, message->partition}] = message->offset + 1;
      for (const std::string& id : ids) {
        auto& arrival = arrivals_[id];
        auto& slot = plan ? arrival.plan : arrival.exceptions;
        if (slot == Clock::time_point{}) slot = now;
      }
    }
    rd_kafka_message_destroy(message);
  }
}

std::unordered_map<std::string, CauseReader::Arrival> CauseReader::Arrivals() const {
  std::lock_guard lock(mutex_);
  return arrivals_;
}

bool CauseReader::CaughtUp() const {
  for (const auto& [topic, partition] : impl_->partitions) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    if (rd_kafka_query_watermark_offsets(impl_->consumer, topic.c_str(), partition, &low, &high,
                                         5'000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return false;
    }
    std::lock_guard lock(mutex_);
    if (positions_.at({topic, partition}) < high) return false;
  }
  return true;
}

}  // namespace sop::bench
