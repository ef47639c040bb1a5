#include "sop/runtime/config.hpp"

#include <gtest/gtest.h>

#include "sop/runtime/service_settings.hpp"

namespace sop::runtime {
namespace {

using Env = std::map<std::string, std::string>;
using Args = std::vector<std::string>;

ConfigSchema TestSchema() {
  ConfigSchema schema("test-service");
  schema.Add(SettingSpec::Int("grpc.port", "gRPC port").Default("50051").Min("0").Max("65535"))
      .Add(SettingSpec::String("log.level", "level").Default("info").OneOf({"debug", "info"}))
      .Add(SettingSpec::Double("mrp.safety-factor", "factor").Default("1.5").Min("0").Max("10"))
      .Add(SettingSpec::Bool("feature.fast", "fast path").Default("false"))
      .Add(SettingSpec::Duration("shutdown.timeout", "deadline").Default("20s").Min("100ms"))
      .Add(SettingSpec::String("redis.address", "where Redis is").Required())
      .Add(SettingSpec::String("redis.password", "auth").Secret())
      .AddPassthrough("kafka");
  return schema;
}

const Env kMinimalEnv = {{"SOP_REDIS_ADDRESS", "localhost:6379"}};

Config LoadOk(const Args& args, const Env& env = kMinimalEnv) {
  auto config = LoadConfig(TestSchema(), args, env);
  EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().ToString());
  return config ? std::move(*config) : Config{};
}

std::string LoadError(const Args& args, const Env& env = kMinimalEnv) {
  auto config = LoadConfig(TestSchema(), args, env);
  EXPECT_FALSE(config.has_value());
  if (config) return "";
  EXPECT_EQ(config.error().code(), Errc::kInvalidArgument);
  return config.error().message();
}

TEST(Config, DefaultAppliesWhenNeitherFlagNorEnvironmentIsGiven) {
  const Config config = LoadOk({});
  EXPECT_EQ(config.GetInt("grpc.port"), 50051);
  EXPECT_EQ(config.Source("grpc.port"), ValueSource::kDefault);
  EXPECT_DOUBLE_EQ(config.GetDouble("mrp.safety-factor"), 1.5);
  EXPECT_FALSE(config.GetBool("feature.fast"));
  EXPECT_EQ(config.GetDuration("shutdown.timeout"), std::chrono::seconds(20));
  EXPECT_FALSE(config.Has("redis.password"));
}

TEST(Config, EnvironmentBeatsDefault) {
  Env env = kMinimalEnv;
  env["SOP_GRPC_PORT"] = "6000";
  const Config config = LoadOk({}, env);
  EXPECT_EQ(config.GetInt("grpc.port"), 6000);
  EXPECT_EQ(config.Source("grpc.port"), ValueSource::kEnvironment);
}

TEST(Config, FlagBeatsEnvironmentInBothFlagForms) {
  Env env = kMinimalEnv;
  env["SOP_GRPC_PORT"] = "6000";
  env["SOP_SHUTDOWN_TIMEOUT"] = "1s";
  const Config config = LoadOk({"--grpc.port=7000", "--shutdown.timeout", "250ms"}, env);
  EXPECT_EQ(config.GetInt("grpc.port"), 7000);
  EXPECT_EQ(config.Source("grpc.port"), ValueSource::kFlag);
  EXPECT_EQ(config.GetDuration("shutdown.timeout"), std::chrono::milliseconds(250));
}

TEST(Config, EnvironmentNameUpperCasesAndTurnsDotsAndDashesIntoUnderscores) {
  EXPECT_EQ(EnvVarName("grpc.port"), "SOP_GRPC_PORT");
  EXPECT_EQ(EnvVarName("mrp.safety-factor"), "SOP_MRP_SAFETY_FACTOR");
  Env env = kMinimalEnv;
  env["SOP_MRP_SAFETY_FACTOR"] = "2.25";
  EXPECT_DOUBLE_EQ(LoadOk({}, env).GetDouble("mrp.safety-factor"), 2.25);
}

TEST(Config, OutOfBoundsValueFailsNamingSettingValueAndBound) {
  const std::string message = LoadError({"--grpc.port=70000"});
  EXPECT_EQ(message, "grpc.port: must be <= 65535 (from flag --grpc.port), got '70000'");
  Env env = kMinimalEnv;
  env["SOP_SHUTDOWN_TIMEOUT"] = "5ms";
  EXPECT_EQ(
      LoadError({}, env),
      "shutdown.timeout: must be >= 100ms (from environment SOP_SHUTDOWN_TIMEOUT), got '5ms'");
}

TEST(Config, UnparsableValueFailsNamingSettingAndValue) {
  EXPECT_EQ(LoadError({"--grpc.port=12ab"}),
            "grpc.port: not an integer, got '12ab' (from flag --grpc.port)");
  EXPECT_NE(LoadError({"--shutdown.timeout=5"}).find("shutdown.timeout: duration needs a unit"),
            std::string::npos);
  EXPECT_NE(LoadError({"--feature.fast=maybe"}).find("feature.fast: not a bool"),
            std::string::npos);
  EXPECT_NE(LoadError({"--mrp.safety-factor=nan"}).find("mrp.safety-factor"), std::string::npos);
}

TEST(Config, ValueOutsideAllowedSetFailsListingTheAllowedValues) {
  EXPECT_EQ(LoadError({"--log.level=verbose"}),
            "log.level: must be one of debug|info (from flag --log.level), got 'verbose'");
}

TEST(Config, RequiredSettingMissingFailsNamingFlagAndVariable) {
  EXPECT_EQ(LoadError({}, {}),
            "redis.address: required setting missing (set --redis.address or "
            "SOP_REDIS_ADDRESS)");
}

TEST(Config, UnknownFlagAndPositionalArgumentFail) {
  EXPECT_NE(LoadError({"--grpc.prot=1"}).find("grpc.prot: unknown setting"), std::string::npos);
  EXPECT_NE(LoadError({"stray"}).find("expected --setting=value"), std::string::npos);
  EXPECT_NE(LoadError({"--grpc.port"}).find("grpc.port: flag needs a value"), std::string::npos);
}

TEST(Config, BareBooleanFlagSwitchesOnAndTakesAnExplicitValue) {
  EXPECT_TRUE(LoadOk({"--feature.fast"}).GetBool("feature.fast"));
  EXPECT_TRUE(LoadOk({"--feature.fast", "--grpc.port=1"}).GetBool("feature.fast"));
  EXPECT_FALSE(LoadOk({"--feature.fast", "false"}).GetBool("feature.fast"));
  EXPECT_TRUE(LoadOk({"--feature.fast=yes"}).GetBool("feature.fast"));
}

TEST(Config, DurationsAcceptDecimalsAndUnits) {
  EXPECT_EQ(LoadOk({"--shutdown.timeout=1.5s"}).GetDuration("shutdown.timeout"),
            std::chrono::milliseconds(1500));
  EXPECT_EQ(LoadOk({"--shutdown.timeout=2m"}).GetDuration("shutdown.timeout"),
            std::chrono::minutes(2));
  EXPECT_EQ(LoadOk({"--shutdown.timeout=100000us"}).GetDuration("shutdown.timeout"),
            std::chrono::milliseconds(100));
}

TEST(Config, KafkaPassthroughCollectsFlagsAndEnvironmentFlagWinning) {
  Env env = kMinimalEnv;
  env["SOP_KAFKA_SECURITY_PROTOCOL"] = "SASL_SSL";
  env["SOP_KAFKA_SSL_CA_LOCATION"] = "/etc/ca.pem";
  env["SOP_KAFKA_BOOTSTRAP_SERVERS"] = "env:9092";
  env["SOP_KAFKA_SOME__ODD_NAME"] = "x";
  const Config config =
      LoadOk({"--kafka.bootstrap.servers=flag:9092", "--kafka.linger.ms", "5"}, env);
  const std::map<std::string, std::string> expected = {
      {"bootstrap.servers", "flag:9092"}, {"linger.ms", "5"},     {"security.protocol", "SASL_SSL"},
      {"ssl.ca.location", "/etc/ca.pem"}, {"some_odd.name", "x"},
  };
  EXPECT_EQ(config.Passthrough("kafka"), expected);
  EXPECT_TRUE(config.Passthrough("redis").empty());
}

TEST(Config, SecretValueIsNeverEchoed) {
  const Config config = LoadOk({"--redis.password=hunter2"});
  EXPECT_EQ(config.GetString("redis.password"), "hunter2");
  EXPECT_EQ(config.Dump().at("redis.password"), "[REDACTED]");
  EXPECT_EQ(config.Dump().at("grpc.port"), "50051");
  EXPECT_EQ(config.Dump().at("shutdown.timeout"), "20s");
  EXPECT_EQ(LoadOk({"--shutdown.timeout=1.5s"}).Dump().at("shutdown.timeout"), "1500ms");

  ConfigSchema schema("s");
  schema.Add(SettingSpec::Int("db.pin", "pin").Secret());
  auto failed = LoadConfig(schema, Args{"--db.pin=12x4"}, {});
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().message().find("12x4"), std::string::npos) << failed.error().message();
  EXPECT_NE(failed.error().message().find("db.pin"), std::string::npos);
}

TEST(Config, HelpSkipsValidationAndListsEverySettingWithDefault) {
  auto config = LoadConfig(TestSchema(), Args{"--grpc.port=oops", "--help"}, {});
  ASSERT_TRUE(config.has_value());
  EXPECT_TRUE(config->help_requested());
  const ConfigSchema schema = TestSchema();
  const std::string help = schema.HelpText();
  for (const auto& spec : schema.settings()) {
    EXPECT_NE(help.find("--" + spec.name + "="), std::string::npos) << spec.name;
    EXPECT_NE(help.find(spec.description), std::string::npos) << spec.name;
  }
  EXPECT_NE(help.find("default: 50051"), std::string::npos);
  EXPECT_NE(help.find("[SOP_GRPC_PORT]"), std::string::npos);
  EXPECT_NE(help.find("--kafka.<key>"), std::string::npos);
}

TEST(ConfigSchema, RejectsMalformedDeclarations) {
  ConfigSchema schema("s");
  EXPECT_THROW(schema.Add(SettingSpec::Int("a.port", "p").Default("70000").Max("65535")),
               std::logic_error);
  EXPECT_THROW(schema.Add(SettingSpec::Int("Upper.Case", "p")), std::logic_error);
  EXPECT_THROW(schema.Add(SettingSpec::String("a.b", "p").Default("x").Required()),
               std::logic_error);
  schema.Add(SettingSpec::String("a.b-c", "p"));
  EXPECT_THROW(schema.Add(SettingSpec::String("a.b.c", "p")), std::logic_error)
      << "two settings sharing SOP_A_B_C must be refused";
  schema.AddPassthrough("kafka");
  EXPECT_THROW(schema.Add(SettingSpec::String("kafka.brokers", "p")), std::logic_error);
}

TEST(Config, ReadingUndeclaredOrWrongTypeIsAProgrammingError) {
  const Config config = LoadOk({});
  EXPECT_THROW((void)config.GetInt("no.such"), std::logic_error);
  EXPECT_THROW((void)config.GetString("grpc.port"), std::logic_error);
}

TEST(ServiceSettings, DeclareTheSharedSettingsWithWorkingDefaults) {
  ConfigSchema schema("svc");
  AddServiceSettings(schema);
  auto config = LoadConfig(schema, Args{"--grpc.port=0"}, {});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  const auto options = GrpcOptionsFromConfig(*config);
  EXPECT_EQ(options.port, 0);
  EXPECT_EQ(options.host, "0.0.0.0");
  EXPECT_TRUE(options.tls_cert_path.empty());
  EXPECT_EQ(LogLevelFromConfig(*config), LogLevel::kInfo);
  EXPECT_EQ(config->GetInt("metrics.port"), 9464);
  EXPECT_EQ(config->GetDuration("shutdown.timeout"), std::chrono::seconds(20));
}

}  // namespace
}  // namespace sop::runtime
