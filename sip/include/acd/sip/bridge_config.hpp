// acd-sip-bridge's configuration file (TOML; sip/acd-sip-bridge.toml is the example): where
// Kamailio's evapi and acdd are, the bridge's ACDP/2 identity, the service numbers and the agents'
// SIP addresses. Control-plane code: read once at start.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace acd::sip {

// A dialled number acd answers for.
struct Service {
  std::string number;         // the R-URI user part, e.g. "5000"
  std::uint32_t queue = 0;    // acd's queue index
  std::uint8_t priority = 0;  // when the call has no X-ACD-Priority
  bool queue_header = false;  // an X-ACD-Queue header may choose another queue
};

struct BridgeConfig {
  std::string evapi = "127.0.0.1:8448";       // Kamailio's evapi bind_addr
  std::string acd = "127.0.0.1:7070";         // acdd's ACDP listen address
  std::string key_file;                       // the bridge's secret key file (ACDP/2; required)
  std::string server_key;                     // a file with acdd's public key, base64 (required)
  // The other node of a hot-standby pair (docs/ha.md): its ACDP address and public key file.
  // Both or neither; with them the bridge follows whichever node is primary.
  std::string standby;
  std::string standby_key;
  std::string aead = "chacha20-poly1305";     // as acdd's [security] aead
  std::string domain = "127.0.0.1";           // the agents' AOR domain (usrloc)
  std::string overflow_domain = "127.0.0.1";  // where overflow targets (numbers) are sent
  std::uint32_t ring_s = 15;                  // Kamailio's ring timer for an agent's leg
  std::uint32_t retry_ms = 200;               // an unanswered ACDP request is sent again after this
  std::uint32_t retries = 10;                 // ... at most this many times
  std::uint32_t heartbeat_ms = 1000;          // a Heartbeat to acdd this often (0: none)
  std::string metrics;                        // "IP:PORT" of the Prometheus endpoint; "": none
  std::uint32_t max_call_s = 86400;           // a call talking this long is released in acd
  std::vector<Service> services;
  std::map<std::uint64_t, std::string> agent_uris;  // agent ID -> fixed SIP URI (no usrloc)
};

struct [[nodiscard]] BridgeConfigResult {
  std::optional<BridgeConfig> config;
  std::vector<std::string> errors;  // "FILE:LINE: what", when !config
};

// Reads and checks the file: every problem is reported with its line, and none is a default.
BridgeConfigResult load_bridge_config(const std::string& path);
// The same from text (`name` stands for the file in messages).
BridgeConfigResult parse_bridge_config(const std::string& text, const std::string& name);

}  // namespace acd::sip
