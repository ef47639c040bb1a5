// KafkaConfig: pass-through settings and errors that name the key and the value.

#include "sop/bus/kafka_config.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace sop::bus {
namespace {

TEST(KafkaConfig, FromPrefixedKeepsOnlyKafkaSettingsWithThePrefixStripped) {
  const std::map<std::string, std::string> settings = {
      {"kafka.bootstrap.servers", "broker-1:9093"},
      {"kafka.security.protocol", "SASL_SSL"},
      {"kafka.", "ignored: nothing after the prefix"},
      {"redis.url", "redis://localhost"},
  };
  const KafkaConfig config = KafkaConfig::FromPrefixed(settings);
  ASSERT_EQ(config.entries().size(), 2u);
  ASSERT_NE(config.Find("security.protocol"), nullptr);
  EXPECT_EQ(*config.Find("security.protocol"), "SASL_SSL");
  EXPECT_EQ(*config.Find("bootstrap.servers"), "broker-1:9093");
  EXPECT_EQ(config.Find("redis.url"), nullptr);
}

TEST(KafkaConfig, SetReplacesAnExistingKeyInPlace) {
  KafkaConfig config{{"linger.ms", "5"}, {"acks", "all"}};
  config.Set("linger.ms", "20");
  ASSERT_EQ(config.entries().size(), 2u);
  EXPECT_EQ(config.entries()[0].first, "linger.ms");
  EXPECT_EQ(config.entries()[0].second, "20");
}

TEST(KafkaConfig, ValidSaslSettingsPassLibrdkafkasOwnChecks) {
  const KafkaConfig config{{"bootstrap.servers", "broker-1:9093"},
                           {"security.protocol", "SASL_PLAINTEXT"},
                           {"sasl.mechanisms", "SCRAM-SHA-512"},
                           {"sasl.username", "sop"},
                           {"sasl.password", "secret"}};
  EXPECT_TRUE(config.Validate());
}

TEST(KafkaConfig, UnknownPropertyIsAnErrorNamingKeyAndValue) {
  const KafkaConfig config{{"bootstrap.servers", "localhost:9092"}, {"no.such.property", "42"}};
  const Status status = config.Validate();
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(status.error().message().find("no.such.property=42"), std::string::npos)
      << status.error().message();
}

TEST(KafkaConfig, BadValueIsAnErrorNamingKeyAndValue) {
  const Status status = KafkaConfig{{"security.protocol", "CARRIER_PIGEON"}}.Validate();
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().message().find("security.protocol=CARRIER_PIGEON"), std::string::npos)
      << status.error().message();
}

TEST(KafkaConfig, SecretValuesAreRedactedInErrors) {
  EXPECT_EQ(KafkaConfig::Printable("sasl.password", "hunter2"), "[redacted]");
  EXPECT_EQ(KafkaConfig::Printable("ssl.key.password", "hunter2"), "[redacted]");
  EXPECT_EQ(KafkaConfig::Printable("sasl.oauthbearer.client.secret", "x"), "[redacted]");
  EXPECT_EQ(KafkaConfig::Printable("sasl.username", "sop"), "sop");
}

}  // namespace
}  // namespace sop::bus
