// Topic administration against the embedded broker.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "sop/bus/embedded_broker.hpp"
#include "sop/bus/topic_admin.hpp"
#include "sop/bus/topics.hpp"

namespace sop::bus {
namespace {

using namespace std::chrono_literals;

TEST(TopicAdmin, ListsEverySopTopicWithItsPartitionCount) {
  auto broker = EmbeddedBroker::Start({.brokers = 2, .partitions = 5});
  ASSERT_TRUE(broker.has_value());
  ASSERT_TRUE((*broker)->CreateTopic("extra.topic", 2));
  auto admin =
      TopicAdmin::Create(KafkaConfig{{"bootstrap.servers", (*broker)->bootstrap_servers()}});
  ASSERT_TRUE(admin.has_value());

  auto topics = (*admin)->ListTopics(10s);
  ASSERT_TRUE(topics.has_value()) << topics.error().ToString();
  std::vector<TopicInfo> expected;
  for (std::string_view name : kAllTopics) expected.push_back({std::string(name), 5});
  expected.push_back({"extra.topic", 2});
  std::sort(expected.begin(), expected.end(),
            [](const TopicInfo& a, const TopicInfo& b) { return a.name < b.name; });
  EXPECT_EQ(*topics, expected);
}

TEST(TopicAdmin, CreatingTopicsThatExistSucceedsAndLeavesThemUnchanged) {
  auto broker = EmbeddedBroker::Start({.brokers = 1, .partitions = 3});
  ASSERT_TRUE(broker.has_value());
  auto admin =
      TopicAdmin::Create(KafkaConfig{{"bootstrap.servers", (*broker)->bootstrap_servers()}});
  ASSERT_TRUE(admin.has_value());

  std::vector<TopicSpec> specs;
  for (std::string_view name : kAllTopics) {
    specs.push_back({.name = std::string(name),
                     .partitions = 12,
                     .replication_factor = 1,
                     .configs = {{"retention.ms", "604800000"}}});
  }
  ASSERT_TRUE((*admin)->CreateTopics(specs, 10s));
  ASSERT_TRUE((*admin)->CreateTopics(specs, 10s));  // and again
  auto topics = (*admin)->ListTopics(10s);
  ASSERT_TRUE(topics.has_value());
  ASSERT_EQ(topics->size(), kAllTopics.size());
  for (const TopicInfo& topic : *topics) EXPECT_EQ(topic.partitions, 3) << topic.name;
}

TEST(TopicAdmin, CreatingANewTopicOnTheMockFailsNamingTheTopic) {
  // The mock broker does not implement CreateTopics; against it the call must fail clearly
  // rather than pretend. (Against a real cluster the same call creates the topic.)
  auto broker = EmbeddedBroker::Start({.brokers = 1, .partitions = 1});
  ASSERT_TRUE(broker.has_value());
  auto admin =
      TopicAdmin::Create(KafkaConfig{{"bootstrap.servers", (*broker)->bootstrap_servers()}});
  ASSERT_TRUE(admin.has_value());
  const std::vector<TopicSpec> specs = {{.name = "brand.new.v1", .partitions = 2}};
  auto status = (*admin)->CreateTopics(specs, 1s);
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().message().find("create topics brand.new.v1: "), std::string::npos)
      << status.error().ToString();
}

}  // namespace
}  // namespace sop::bus
