// [history.kafka]: a full table and the defaults are read as written; every mistake is reported
// with its line and leaves the configuration untouched; the librdkafka properties carry the
// delivery guarantees, and the ones acd owns cannot be overridden.
#include "acd/history/kafka_config.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace acd::history {
namespace {

struct Parsed {
  KafkaConfig config;
  std::vector<std::string> problems;
};

// Parses `toml` (a whole file) and hands [history]'s `kafka` node to parse_kafka_config.
Parsed parse(const std::string& toml) {
  Parsed p;
  auto root = domain::parse_toml(toml, "acd.toml", p.problems);
  if (!root) {
    return p;
  }
  domain::TomlChecker c("acd.toml", p.problems);
  const toml::node* k = (*root)["history"]["kafka"].node();
  EXPECT_NE(k, nullptr);
  if (k != nullptr) {
    parse_kafka_config(c, *k, p.config);
  }
  return p;
}

std::string value(const std::vector<std::pair<std::string, std::string>>& props,
                  const std::string& name) {
  for (const auto& [k, v] : props) {
    if (k == name) {
      return v;
    }
  }
  return "<unset>";
}

TEST(KafkaConfig, FullTable) {
  const Parsed p = parse(R"(
[history.kafka]
brokers = ["kafka1.bank.example:9093", "10.0.0.7:9093"]
topic_prefix = "bank.acd."
client_id = "acd-site-a"
security_protocol = "sasl_ssl"
ssl_ca_file = "/etc/acd/kafka/ca.pem"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "acd"
sasl_password_file = "/etc/acd/kafka/password"
message_timeout_ms = 60000
resend_backoff_ms = 2000
max_in_flight = 5000
properties = { "compression.type" = "zstd", "linger.ms" = 20 }
)");
  ASSERT_TRUE(p.problems.empty()) << p.problems.front();
  const KafkaConfig& k = p.config;
  EXPECT_TRUE(k.enabled);
  EXPECT_EQ(k.brokers.size(), 2u);
  EXPECT_EQ(k.topic_prefix, "bank.acd.");
  EXPECT_EQ(k.security, KafkaSecurity::SaslSsl);
  EXPECT_EQ(k.message_timeout_ms, 60'000u);
  EXPECT_EQ(k.max_in_flight, 5'000u);
  const auto props = kafka_properties(k);
  EXPECT_EQ(value(props, "bootstrap.servers"), "kafka1.bank.example:9093,10.0.0.7:9093");
  EXPECT_EQ(value(props, "enable.idempotence"), "true");
  EXPECT_EQ(value(props, "acks"), "all");
  EXPECT_EQ(value(props, "security.protocol"), "sasl_ssl");
  EXPECT_EQ(value(props, "sasl.mechanisms"), "SCRAM-SHA-512");
  EXPECT_EQ(value(props, "ssl.ca.location"), "/etc/acd/kafka/ca.pem");
  EXPECT_EQ(value(props, "compression.type"), "zstd");
  EXPECT_EQ(value(props, "linger.ms"), "20");
  EXPECT_EQ(value(props, "message.timeout.ms"), "60000");
}

TEST(KafkaConfig, Defaults) {
  const Parsed p = parse("[history.kafka]\nbrokers = [\"k:9092\"]\n");
  ASSERT_TRUE(p.problems.empty()) << p.problems.front();
  EXPECT_TRUE(p.config.enabled);
  EXPECT_EQ(p.config.topic_prefix, "acd.");
  EXPECT_EQ(p.config.client_id, "acdd");
  EXPECT_EQ(p.config.security, KafkaSecurity::Plaintext);
  EXPECT_EQ(value(kafka_properties(p.config), "security.protocol"), "plaintext");
  const Parsed off = parse("[history.kafka]\nenabled = false\n");
  ASSERT_TRUE(off.problems.empty()) << off.problems.front();
  EXPECT_FALSE(off.config.enabled);
}

// Each case: a [history.kafka] body, and what the one message says (its line included).
TEST(KafkaConfig, MistakesAreReportedWithTheirLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "acd.toml:2: [history.kafka] needs brokers"},
      {"brokers = []", "acd.toml:3: history.kafka.brokers is a list"},
      {"brokers = [\"kafka1\"]", "acd.toml:3: history.kafka.brokers: a broker is \"host:port\""},
      {"brokers = [\"k:0\"]", "a broker is \"host:port\" (port 1 to 65535)"},
      {"brokers = [\"k:1\", \"k:1\"]", "\"k:1\" is listed twice"},
      {"brokers = [\"k:1\"]\nbrokerz = 1", "acd.toml:4: unknown key 'brokerz' in [history.kafka]"},
      {"brokers = [\"k:1\"]\ntopic_prefix = \"a b\"", "acd.toml:4: history.kafka.topic_prefix"},
      {"brokers = [\"k:1\"]\nsecurity_protocol = \"tls\"", "is not one of: plaintext, ssl"},
      {"brokers = [\"k:1\"]\nsecurity_protocol = \"sasl_ssl\"",
       "needs sasl_mechanism, sasl_username and sasl_password_file"},
      {"brokers = [\"k:1\"]\nsasl_username = \"acd\"", "SASL settings are given but"},
      {"brokers = [\"k:1\"]\nssl_ca_file = \"/ca.pem\"", "TLS files are given but"},
      {"brokers = [\"k:1\"]\nsecurity_protocol = \"ssl\"\nssl_ca_file = \"ca.pem\"",
       "acd.toml:5: history.kafka.ssl_ca_file is an absolute path"},
      {"brokers = [\"k:1\"]\nsecurity_protocol = \"ssl\"\nssl_key_file = \"/k.pem\"",
       "ssl_certificate_file and ssl_key_file go together"},
      {"brokers = [\"k:1\"]\nsecurity_protocol = \"sasl_plaintext\"\nsasl_mechanism = \"GSSAPI\""
       "\nsasl_username = \"a\"\nsasl_password_file = \"/p\"",
       "sasl_mechanism = \"GSSAPI\" is not one of"},
      {"brokers = [\"k:1\"]\nmessage_timeout_ms = 5",
       "acd.toml:4: 'message_timeout_ms' = 5 is "
       "out of range"},
      {"brokers = [\"k:1\"]\nproperties = { \"acks\" = \"1\" }",
       "acd.toml:4: history.kafka.properties: 'acks' is set by acd itself"},
      {"brokers = [\"k:1\"]\nproperties = { \"no.such.thing\" = \"1\" }",
       "acd.toml:4: history.kafka.properties: No such configuration property"},
      {"brokers = [\"k:1\"]\nproperties = { \"linger.ms\" = [1] }",
       "'linger.ms' must be a string, a whole number or true/false"},
  };
  for (const auto& [body, want] : cases) {
    const Parsed p = parse(std::string("\n[history.kafka]\n") + body + "\n");
    ASSERT_FALSE(p.problems.empty()) << body;
    const bool found = std::any_of(p.problems.begin(), p.problems.end(), [&](const auto& m) {
      return m.find(want) != std::string::npos;
    });
    EXPECT_TRUE(found) << body << "\n  got: " << p.problems.front() << "\n  want: " << want;
    EXPECT_FALSE(p.config.enabled) << body << ": the configuration was changed";
  }
  const Parsed not_table = parse("[history]\nkafka = 3\n");
  ASSERT_EQ(not_table.problems.size(), 1u);
  EXPECT_NE(not_table.problems[0].find("acd.toml:2: [history.kafka] is a table"), std::string::npos)
      << not_table.problems[0];
}

}  // namespace
}  // namespace acd::history
