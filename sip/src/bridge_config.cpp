// Reading acd-sip-bridge's TOML file: every problem with its FILE:LINE, nothing defaulted silently.
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "acd/sip/bridge_config.hpp"

namespace acd::sip {

namespace {

class Reader {
 public:
  Reader(std::string name, std::vector<std::string>& errors)
      : name_(std::move(name)), errors_(errors) {}

  std::string at(const toml::node& n) const {
    return name_ + ":" + std::to_string(n.source().begin.line);
  }
  void error(const toml::node& n, const std::string& what) {
    errors_.push_back(at(n) + ": " + what);
  }

  // Keys of `table` not in `known` are errors (a typo must not pass as a default).
  void only(const toml::table& table, std::initializer_list<const char*> known) {
    for (const auto& [key, value] : table) {
      bool ok = false;
      for (const char* k : known) {
        ok = ok || key.str() == k;
      }
      if (!ok) {
        error(value, "unknown key '" + std::string(key.str()) + "'");
      }
    }
  }
  void text(const toml::table& t, const char* key, std::string& out) {
    if (const toml::node* n = t.get(key)) {
      if (const auto v = n->value<std::string>(); v && !v->empty()) {
        out = *v;
      } else {
        error(*n, std::string(key) + " must be a non-empty string");
      }
    }
  }
  template <typename T>
  bool integer(const toml::table& t, const char* key, T& out, std::int64_t min, std::int64_t max) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return false;
    }
    const auto v = n->value_exact<std::int64_t>();
    if (!v || *v < min || *v > max) {
      error(*n, std::string(key) + " must be an integer in " + std::to_string(min) + ".." +
                    std::to_string(max));
      return false;
    }
    out = static_cast<T>(*v);
    return true;
  }

 private:
  std::string name_;
  std::vector<std::string>& errors_;
};

}  // namespace

BridgeConfigResult parse_bridge_config(const std::string& text, const std::string& name) {
  BridgeConfigResult result;
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    result.errors.push_back(name + ":" + std::to_string(e.source().begin.line) + ": " +
                            std::string(e.description()));
    return result;
  }
  BridgeConfig c;
  Reader r(name, result.errors);
  r.only(root, {"evapi", "acd", "standby", "standby_key", "key_file", "server_key", "aead", "domain", "overflow_domain",
                "ring_s", "retry_ms", "retries", "heartbeat_ms", "metrics", "services", "agents",
                "max_call_s"});
  r.text(root, "evapi", c.evapi);
  r.text(root, "acd", c.acd);
  r.text(root, "key_file", c.key_file);
  r.text(root, "server_key", c.server_key);
  r.text(root, "standby", c.standby);
  r.text(root, "standby_key", c.standby_key);
  r.text(root, "aead", c.aead);
  r.text(root, "domain", c.domain);
  r.text(root, "overflow_domain", c.overflow_domain);
  r.text(root, "metrics", c.metrics);
  (void)r.integer(root, "ring_s", c.ring_s, 1, 600);
  (void)r.integer(root, "retry_ms", c.retry_ms, 10, 60000);
  (void)r.integer(root, "retries", c.retries, 0, 1000);
  (void)r.integer(root, "heartbeat_ms", c.heartbeat_ms, 0, 60000);
  (void)r.integer(root, "max_call_s", c.max_call_s, 60, 604800);
  if (c.aead != "chacha20-poly1305" && c.aead != "aes256-gcm") {
    result.errors.push_back(name + ": aead must be \"chacha20-poly1305\" or \"aes256-gcm\"");
  }
  if (c.key_file.empty() || c.server_key.empty()) {
    result.errors.push_back(name +
                            ": key_file (the bridge's secret key) and server_key (a file "
                            "with acdd's public key) are needed: the bridge speaks ACDP/2");
  }
  if (c.standby.empty() != c.standby_key.empty()) {
    result.errors.push_back(name +
                            ": standby (the pair's other node, IP:PORT) and standby_key (a file "
                            "with its public key) go together");
  } else if (!c.standby.empty() && c.standby == c.acd) {
    result.errors.push_back(name + ": standby is the same address as acd");
  }
  if (const toml::node* n = root.get("services")) {
    const toml::array* list = n->as_array();
    if (list == nullptr) {
      r.error(*n, "services must be an array of tables ([[services]])");
    } else {
      std::set<std::string> seen;
      for (const toml::node& item : *list) {
        const toml::table* t = item.as_table();
        if (t == nullptr) {
          r.error(item, "each service is a table");
          continue;
        }
        r.only(*t, {"number", "queue", "priority", "queue_header"});
        Service s;
        r.text(*t, "number", s.number);
        if (s.number.empty()) {
          r.error(item, "a service needs its number (the dialled R-URI user)");
        } else if (!seen.insert(s.number).second) {
          r.error(item, "service number " + s.number + " is listed twice");
        }
        if (!r.integer(*t, "queue", s.queue, 0, 0xFFFFFFFE)) {
          if (t->get("queue") == nullptr) {
            r.error(item, "a service needs its queue (acd's queue index)");
          }
        }
        (void)r.integer(*t, "priority", s.priority, 0, 15);
        if (const toml::node* h = t->get("queue_header")) {
          if (const auto b = h->value_exact<bool>()) {
            s.queue_header = *b;
          } else {
            r.error(*h, "queue_header must be true or false");
          }
        }
        c.services.push_back(s);
      }
    }
  }
  if (c.services.empty() && result.errors.empty()) {
    result.errors.push_back(name + ": no [[services]]: the bridge would route no call");
  }
  if (const toml::node* n = root.get("agents")) {
    const toml::array* list = n->as_array();
    if (list == nullptr) {
      r.error(*n, "agents must be an array of tables ([[agents]])");
    } else {
      for (const toml::node& item : *list) {
        const toml::table* t = item.as_table();
        if (t == nullptr) {
          r.error(item, "each agent is a table");
          continue;
        }
        r.only(*t, {"id", "uri"});
        std::uint64_t id = 0;
        std::string uri;
        const bool has_id = r.integer(*t, "id", id, 1, std::int64_t{1} << 62);
        r.text(*t, "uri", uri);
        if (!has_id || uri.rfind("sip:", 0) != 0) {
          r.error(item, "an agent needs id (its agent ID) and uri (\"sip:...\")");
          continue;
        }
        if (!c.agent_uris.emplace(id, uri).second) {
          r.error(item, "agent " + std::to_string(id) + " is listed twice");
        }
      }
    }
  }
  if (result.errors.empty()) {
    result.config = std::move(c);
  }
  return result;
}

BridgeConfigResult load_bridge_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    BridgeConfigResult r;
    r.errors.push_back(path + ": cannot read it");
    return r;
  }
  std::ostringstream s;
  s << in.rdbuf();
  return parse_bridge_config(s.str(), path);
}

}  // namespace acd::sip
