// acd.toml's [history.kafka]: where and how the history records are streamed to Kafka
// (docs/kafka.md). The [history] table's reader hands its `kafka` node to parse_kafka_config; the
// result configures a KafkaSink (kafka_sink.hpp).
//
// Thread-safety: a KafkaConfig is a value; parse_kafka_config uses the caller's checker (one
// thread) and no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "acd/domain/toml_checker.hpp"

namespace acd::history {

enum class KafkaSecurity : std::uint8_t { Plaintext, Ssl, SaslPlaintext, SaslSsl };

struct KafkaConfig {
  bool enabled = false;  // true when [history.kafka] is present, unless it says enabled = false
  std::vector<std::string> brokers;   // bootstrap brokers, "host:port"
  std::string topic_prefix = "acd.";  // topics: <prefix>calls, <prefix>agent_states, ...
  std::string client_id = "acdd";
  // TLS and SASL (librdkafka's security.protocol, ssl.*.location, sasl.*).
  KafkaSecurity security = KafkaSecurity::Plaintext;
  std::string ssl_ca_file;           // absolute; empty: the system's CA store
  std::string ssl_certificate_file;  // absolute; client certificate (mutual TLS), with the key
  std::string ssl_key_file;          // absolute
  std::string sasl_mechanism;        // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL only)
  std::string sasl_username;
  std::string sasl_password_file;  // absolute; its first line is the password (mode 0600)
  // Timeouts and limits.
  std::uint32_t message_timeout_ms = 30'000;  // a record unacknowledged this long fails; it is
                                              // produced again (from memory, or the store)
  std::uint32_t socket_timeout_ms = 10'000;   // one broker request
  std::uint32_t resend_backoff_ms = 1'000;    // wait before producing a failed record again
  std::uint32_t close_timeout_ms = 5'000;     // at shutdown, wait this long for acknowledgements
  std::uint32_t max_in_flight = 10'000;       // records produced and not yet acknowledged
  // Further librdkafka properties, passed through as given ([history.kafka.properties]); never
  // one of the properties the sink owns (kafka_owned_properties()).
  std::vector<std::pair<std::string, std::string>> properties;
};

// The librdkafka properties the sink sets itself (delivery guarantees, the settings above); a
// [history.kafka.properties] entry naming one is refused.
const std::vector<std::string>& kafka_owned_properties();

// Reads the `kafka` node of [history] into `out`, reporting every problem through `c` with its
// line: not a table, unknown keys, no brokers, a broker that is not host:port, a topic prefix
// Kafka would refuse, a relative file path, SASL settings without a SASL protocol (or the
// reverse), numbers out of range, a pass-through property librdkafka does not know or the sink
// owns. `out` is fully written only when no problem was added; callers check c.count().
void parse_kafka_config(domain::TomlChecker& c, const toml::node& kafka, KafkaConfig& out);

// The librdkafka properties for `config`, in the order they are set (the password file is read
// by the sink, not here). Pure.
std::vector<std::pair<std::string, std::string>> kafka_properties(const KafkaConfig& config);

}  // namespace acd::history
