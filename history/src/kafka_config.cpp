// acd.toml's [history.kafka]: its keys, their checks (with lines), and the librdkafka properties
// they become. Pass-through properties are checked against librdkafka itself.
#include "acd/history/kafka_config.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <charconv>
#include <memory>

namespace acd::history {

namespace {

using domain::TomlChecker;

constexpr std::pair<std::string_view, KafkaSecurity> kSecurity[] = {
    {"plaintext", KafkaSecurity::Plaintext},
    {"ssl", KafkaSecurity::Ssl},
    {"sasl_plaintext", KafkaSecurity::SaslPlaintext},
    {"sasl_ssl", KafkaSecurity::SaslSsl}};

constexpr std::string_view kMechanisms[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};

bool is_sasl(KafkaSecurity s) {
  return s == KafkaSecurity::SaslPlaintext || s == KafkaSecurity::SaslSsl;
}

bool is_ssl(KafkaSecurity s) {
  return s == KafkaSecurity::Ssl || s == KafkaSecurity::SaslSsl;
}

// "host:port": a host of letters, digits, '.', '-', '_' (or a bracketed IPv6 address) and a port
// 1..65535.
bool broker_address(const std::string& s) {
  const std::size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) {
    return false;
  }
  const std::string_view host(s.data(), colon);
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  if (!bracketed) {
    for (const char ch : host) {
      const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_';
      if (!ok) {
        return false;
      }
    }
  }
  unsigned port = 0;
  const char* first = s.data() + colon + 1;
  const char* last = s.data() + s.size();
  const auto r = std::from_chars(first, last, port);
  return r.ec == std::errc() && r.ptr == last && port >= 1 && port <= 65535;
}

// Kafka topic names: [a-zA-Z0-9._-], at most 249 characters. The longest suffix is
// "queue_intervals" (15).
bool topic_prefix_ok(const std::string& p) {
  if (p.size() > 249 - 15) {
    return false;
  }
  return std::all_of(p.begin(), p.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
  });
}

void flag(TomlChecker& c, const toml::table& t, std::string_view key, bool& out) {
  if (const toml::node* n = t.get(key)) {
    if (const std::optional<bool> v = n->value<bool>()) {
      out = *v;
    } else {
      c.error(n, "'" + std::string(key) + "' must be true or false");
    }
  }
}

void absolute_file(TomlChecker& c, const toml::table& t, std::string_view key, std::string& out) {
  if (c.text(t, key, out) && (out.empty() || out.front() != '/')) {
    c.error(t, key,
            "history.kafka." + std::string(key) + " is an absolute path, e.g. \"/etc/acd/kafka/" +
                std::string(key.substr(0, key.size() - 5)) + ".pem\"");
    out.clear();
  }
}

// A pass-through property's value as librdkafka takes it: a string, a whole number or a boolean.
std::optional<std::string> property_value(const toml::node& n) {
  if (const auto s = n.value_exact<std::string>()) {
    return *s;
  }
  if (const auto i = n.value_exact<std::int64_t>()) {
    return std::to_string(*i);
  }
  if (const auto b = n.value_exact<bool>()) {
    return *b ? "true" : "false";
  }
  return std::nullopt;
}

void parse_properties(TomlChecker& c, const toml::node& node, KafkaConfig& out) {
  const toml::table* t = node.as_table();
  if (t == nullptr) {
    c.error(&node,
            "[history.kafka.properties] is a table of librdkafka properties, e.g. "
            "properties = { \"compression.type\" = \"zstd\" }");
    return;
  }
  // librdkafka checks the name and the value; a scratch configuration takes them.
  std::unique_ptr<rd_kafka_conf_t, decltype(&rd_kafka_conf_destroy)> scratch(rd_kafka_conf_new(),
                                                                             rd_kafka_conf_destroy);
  const auto& owned = kafka_owned_properties();
  for (const auto& [key, value] : *t) {
    const std::string name(key.str());
    if (std::find(owned.begin(), owned.end(), name) != owned.end()) {
      c.error(&value, "history.kafka.properties: '" + name +
                          "' is set by acd itself (delivery guarantees or a [history.kafka] "
                          "key); see docs/kafka.md");
      continue;
    }
    const std::optional<std::string> v = property_value(value);
    if (!v) {
      c.error(&value, "history.kafka.properties: '" + name +
                          "' must be a string, a whole number or true/false");
      continue;
    }
    char err[512] = "";
    if (rd_kafka_conf_set(scratch.get(), name.c_str(), v->c_str(), err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
      c.error(&value, "history.kafka.properties: " + std::string(err));
      continue;
    }
    out.properties.emplace_back(name, *v);
  }
}

}  // namespace

const std::vector<std::string>& kafka_owned_properties() {
  static const std::vector<std::string> kOwned = {"bootstrap.servers",
                                                  "metadata.broker.list",
                                                  "client.id",
                                                  "enable.idempotence",
                                                  "acks",
                                                  "request.required.acks",
                                                  "message.timeout.ms",
                                                  "delivery.timeout.ms",
                                                  "socket.timeout.ms",
                                                  "statistics.interval.ms",
                                                  "security.protocol",
                                                  "ssl.ca.location",
                                                  "ssl.certificate.location",
                                                  "ssl.key.location",
                                                  "sasl.mechanism",
                                                  "sasl.mechanisms",
                                                  "sasl.username",
                                                  "sasl.password"};
  return kOwned;
}

void parse_kafka_config(TomlChecker& c, const toml::node& kafka, KafkaConfig& out) {
  const toml::table* t = kafka.as_table();
  if (t == nullptr) {
    c.error(&kafka,
            "[history.kafka] is a table, e.g. [history.kafka] brokers = "
            "[\"kafka1.bank.example:9093\"]");
    return;
  }
  const std::size_t before = c.count();
  KafkaConfig k;
  k.enabled = true;
  c.only(*t,
         {"enabled", "brokers", "topic_prefix", "client_id", "security_protocol", "ssl_ca_file",
          "ssl_certificate_file", "ssl_key_file", "sasl_mechanism", "sasl_username",
          "sasl_password_file", "message_timeout_ms", "socket_timeout_ms", "resend_backoff_ms",
          "close_timeout_ms", "max_in_flight", "properties"},
         "[history.kafka]");
  flag(c, *t, "enabled", k.enabled);

  if (const toml::node* n = t->get("brokers")) {
    const toml::array* a = n->as_array();
    if (a == nullptr || a->empty()) {
      c.error(n,
              "history.kafka.brokers is a list of \"host:port\", e.g. "
              "[\"kafka1.bank.example:9093\", \"kafka2.bank.example:9093\"]");
    } else {
      for (const toml::node& e : *a) {
        const std::optional<std::string> v = e.value_exact<std::string>();
        if (!v || !broker_address(*v)) {
          c.error(&e, "history.kafka.brokers: a broker is \"host:port\" (port 1 to 65535)");
        } else if (std::find(k.brokers.begin(), k.brokers.end(), *v) != k.brokers.end()) {
          c.error(&e, "history.kafka.brokers: \"" + *v + "\" is listed twice");
        } else {
          k.brokers.push_back(*v);
        }
      }
    }
  } else if (k.enabled) {
    c.error(&kafka, "[history.kafka] needs brokers = [\"host:port\", ...] (or enabled = false)");
  }

  if (c.text(*t, "topic_prefix", k.topic_prefix) && !topic_prefix_ok(k.topic_prefix)) {
    c.error(*t, "topic_prefix",
            "history.kafka.topic_prefix may hold only letters, digits, '.', '_' and '-' (at most "
            "234 characters), e.g. \"bank.acd.\"");
  }
  if (c.text(*t, "client_id", k.client_id) && k.client_id.empty()) {
    c.error(*t, "client_id",
            "history.kafka.client_id is empty; name this appliance, e.g. "
            "\"acd-site-a\"");
  }

  c.choice(*t, "security_protocol", k.security, kSecurity);
  absolute_file(c, *t, "ssl_ca_file", k.ssl_ca_file);
  absolute_file(c, *t, "ssl_certificate_file", k.ssl_certificate_file);
  absolute_file(c, *t, "ssl_key_file", k.ssl_key_file);
  if (c.text(*t, "sasl_password_file", k.sasl_password_file) &&
      (k.sasl_password_file.empty() || k.sasl_password_file.front() != '/')) {
    c.error(*t, "sasl_password_file", "history.kafka.sasl_password_file is an absolute path");
  }
  c.text(*t, "sasl_username", k.sasl_username);
  if (c.text(*t, "sasl_mechanism", k.sasl_mechanism) &&
      std::find(std::begin(kMechanisms), std::end(kMechanisms), k.sasl_mechanism) ==
          std::end(kMechanisms)) {
    c.error(*t, "sasl_mechanism",
            "history.kafka.sasl_mechanism = \"" + k.sasl_mechanism +
                "\" is not one of: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512");
  }
  const bool sasl_given = !k.sasl_mechanism.empty() || !k.sasl_username.empty() ||
                          t->get("sasl_password_file") != nullptr;
  if (is_sasl(k.security)) {
    if (k.sasl_mechanism.empty() || k.sasl_username.empty() || k.sasl_password_file.empty()) {
      c.error(*t, "security_protocol",
              "history.kafka: a SASL security_protocol needs sasl_mechanism, sasl_username and "
              "sasl_password_file");
    }
  } else if (sasl_given) {
    c.error(*t, "security_protocol",
            "history.kafka: SASL settings are given but security_protocol is not "
            "\"sasl_plaintext\" or \"sasl_ssl\"");
  }
  const bool ssl_given =
      !k.ssl_ca_file.empty() || !k.ssl_certificate_file.empty() || !k.ssl_key_file.empty();
  if (ssl_given && !is_ssl(k.security)) {
    c.error(*t, "security_protocol",
            "history.kafka: TLS files are given but security_protocol is not \"ssl\" or "
            "\"sasl_ssl\"");
  }
  if (k.ssl_certificate_file.empty() != k.ssl_key_file.empty()) {
    c.error(*t, k.ssl_key_file.empty() ? "ssl_certificate_file" : "ssl_key_file",
            "history.kafka: ssl_certificate_file and ssl_key_file go together (mutual TLS)");
  }

  c.number(*t, "message_timeout_ms", k.message_timeout_ms, 1'000, 3'600'000);
  c.number(*t, "socket_timeout_ms", k.socket_timeout_ms, 100, 300'000);
  c.number(*t, "resend_backoff_ms", k.resend_backoff_ms, 1, 600'000);
  c.number(*t, "close_timeout_ms", k.close_timeout_ms, 0, 600'000);
  c.number(*t, "max_in_flight", k.max_in_flight, 1, 1'000'000);
  if (const toml::node* n = t->get("properties")) {
    parse_properties(c, *n, k);
  }
  if (c.count() == before) {
    out = std::move(k);
  }
}

std::vector<std::pair<std::string, std::string>> kafka_properties(const KafkaConfig& config) {
  std::string brokers;
  for (const std::string& b : config.brokers) {
    brokers += (brokers.empty() ? "" : ",") + b;
  }
  std::vector<std::pair<std::string, std::string>> p = {
      {"bootstrap.servers", brokers},
      {"client.id", config.client_id},
      // At-least-once without duplicates from the producer's own retries: the broker drops a
      // retried batch it already has, and acknowledges only once every in-sync replica has it.
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"message.timeout.ms", std::to_string(config.message_timeout_ms)},
      {"socket.timeout.ms", std::to_string(config.socket_timeout_ms)},
      // The brokers' states for the broker_up gauge.
      {"statistics.interval.ms", "1000"},
  };
  static constexpr const char* kProtocol[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"};
  p.emplace_back("security.protocol", kProtocol[static_cast<int>(config.security)]);
  if (!config.ssl_ca_file.empty()) {
    p.emplace_back("ssl.ca.location", config.ssl_ca_file);
  }
  if (!config.ssl_certificate_file.empty()) {
    p.emplace_back("ssl.certificate.location", config.ssl_certificate_file);
    p.emplace_back("ssl.key.location", config.ssl_key_file);
  }
  if (is_sasl(config.security)) {
    p.emplace_back("sasl.mechanisms", config.sasl_mechanism);
    p.emplace_back("sasl.username", config.sasl_username);
  }
  for (const auto& kv : config.properties) {
    p.push_back(kv);
  }
  return p;
}

}  // namespace acd::history
