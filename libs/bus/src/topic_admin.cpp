#include "sop/bus/topic_admin.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <string>

#include "rdkafka_util.hpp"

namespace sop::bus {
namespace {

using std::chrono::milliseconds;

struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* topic) const noexcept { rd_kafka_NewTopic_destroy(topic); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* options) const noexcept {
    rd_kafka_AdminOptions_destroy(options);
  }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const noexcept { rd_kafka_queue_destroy(queue); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* event) const noexcept { rd_kafka_event_destroy(event); }
};

int TimeoutMs(milliseconds timeout) {
  return static_cast<int>(std::clamp<milliseconds::rep>(timeout.count(), 1, 3'600'000));
}

class KafkaTopicAdmin final : public TopicAdmin {
 public:
  explicit KafkaTopicAdmin(detail::HandlePtr handle) : handle_(std::move(handle)) {}

  Result<std::vector<TopicInfo>> ListTopics(milliseconds timeout) override {
    const rd_kafka_metadata_t* metadata = nullptr;
    const rd_kafka_resp_err_t err =
        rd_kafka_metadata(handle_.get(), 1, nullptr, &metadata, TimeoutMs(timeout));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected(detail::ErrorFrom(err, "list topics"));
    }
    std::vector<TopicInfo> topics;
    for (int index = 0; index < metadata->topic_cnt; ++index) {
      const rd_kafka_metadata_topic_t& topic = metadata->topics[index];
      const std::string name = topic.topic;
      if (name.starts_with("__") || topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      topics.push_back(TopicInfo{name, topic.partition_cnt});
    }
    rd_kafka_metadata_destroy(metadata);
    std::sort(topics.begin(), topics.end(),
              [](const TopicInfo& a, const TopicInfo& b) { return a.name < b.name; });
    return topics;
  }

  Status CreateTopics(std::span<const TopicSpec> specs, milliseconds timeout) override {
    for (const TopicSpec& spec : specs) {
      if (spec.name.empty()) return InvalidField("topic name", "must not be empty", "");
      if (spec.partitions < 1) {
        return InvalidField("topic " + spec.name + " partitions", "must be >= 1",
                            std::to_string(spec.partitions));
      }
      if (spec.replication_factor < 1) {
        return InvalidField("topic " + spec.name + " replication_factor", "must be >= 1",
                            std::to_string(spec.replication_factor));
      }
    }
    auto existing = ListTopics(timeout);
    if (!existing) return std::unexpected(existing.error());
    std::set<std::string> existing_names;
    for (const TopicInfo& topic : *existing) existing_names.insert(topic.name);

    std::vector<std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>> new_topics;
    std::string names;  // for errors: which topics this call tried to create
    for (const TopicSpec& spec : specs) {
      if (existing_names.contains(spec.name)) continue;
      names.append(names.empty() ? "" : ",").append(spec.name);
      std::array<char, 512> errstr{};
      std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter> topic(
          rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions, spec.replication_factor,
                                errstr.data(), errstr.size()));
      if (!topic) {
        return Fail(Errc::kInvalidArgument, "topic " + spec.name + ": " + errstr.data());
      }
      for (const auto& [key, value] : spec.configs) {
        const rd_kafka_resp_err_t err =
            rd_kafka_NewTopic_set_config(topic.get(), key.c_str(), value.c_str());
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          return InvalidField("topic " + spec.name + " config " + key, rd_kafka_err2str(err),
                              value);
        }
      }
      new_topics.push_back(std::move(topic));
    }
    if (new_topics.empty()) return {};

    std::vector<rd_kafka_NewTopic_t*> raw_topics;
    for (const auto& topic : new_topics) raw_topics.push_back(topic.get());
    std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> options(
        rd_kafka_AdminOptions_new(handle_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
    std::array<char, 512> errstr{};
    rd_kafka_AdminOptions_set_request_timeout(options.get(), TimeoutMs(timeout), errstr.data(),
                                              errstr.size());
    rd_kafka_AdminOptions_set_operation_timeout(options.get(), TimeoutMs(timeout), errstr.data(),
                                                errstr.size());
    std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(handle_.get()));
    rd_kafka_CreateTopics(handle_.get(), raw_topics.data(), raw_topics.size(), options.get(),
                          queue.get());
    // The admin request enforces `timeout` itself; the extra second only covers delivering
    // its result event.
    std::unique_ptr<rd_kafka_event_t, EventDeleter> event(
        rd_kafka_queue_poll(queue.get(), TimeoutMs(timeout) + 1'000));
    if (!event) {
      return Fail(Errc::kDeadlineExceeded, "create topics " + names + ": no answer within " +
                                               std::to_string(timeout.count()) + " ms");
    }
    if (const rd_kafka_resp_err_t err = rd_kafka_event_error(event.get());
        err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected(Error(detail::MapErrc(err),
                                   "create topics " + names + ": " +
                                       rd_kafka_event_error_string(event.get()) + " (" +
                                       rd_kafka_err2name(err) + ")",
                                   detail::IsRetryable(err)));
    }
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
    std::size_t count = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
    for (std::size_t index = 0; index < count; ++index) {
      const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[index]);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        continue;  // created concurrently by someone else: the goal is reached
      }
      const char* detail_text = rd_kafka_topic_result_error_string(results[index]);
      return std::unexpected(detail::ErrorFrom(
          err, std::string("create topic ") + rd_kafka_topic_result_name(results[index]) +
                   (detail_text != nullptr ? std::string(": ") + detail_text : std::string())));
    }
    return {};
  }

 private:
  detail::HandlePtr handle_;
};

}  // namespace

Result<std::unique_ptr<TopicAdmin>> TopicAdmin::Create(const KafkaConfig& config) {
  auto conf = detail::BuildConf(config);
  if (!conf) return std::unexpected(conf.error());
  auto handle = detail::NewHandle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!handle) return std::unexpected(handle.error());
  return std::unique_ptr<TopicAdmin>(std::make_unique<KafkaTopicAdmin>(std::move(*handle)));
}

}  // namespace sop::bus
