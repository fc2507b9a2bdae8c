// acd.toml's [security] and [[clients]]: each client's name, role, public key and source
// networks, checked one by one and against each other.
#include "security_config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "acd/control/keys.hpp"

namespace acd::control {

namespace {

using domain::TomlChecker;

constexpr std::pair<std::string_view, ClientRole> kClientRoles[] = {
    {"switch", ClientRole::Switch},
    {"desktop", ClientRole::Desktop},
    {"supervisor", ClientRole::Supervisor},
    {"site", ClientRole::Site}};

void parse_client(TomlChecker& c, const toml::table& t, ClientEntry& client) {
  c.only(t, {"name", "role", "public_key", "networks"}, "[[clients]]");
  if (t.get("name") == nullptr) {
    c.error(&t, "[[clients]] needs a name, e.g. name = \"sbc-1\"");
  } else if (c.text(t, "name", client.name)) {
    if (const Result<void> checked = check_client_name(client.name); !checked.ok()) {
      c.error(t, "name", "client name \"" + client.name + "\": " + checked.failure().message);
    }
  }
  if (t.get("role") == nullptr) {
    c.error(&t, "[[clients]] needs a role: switch, desktop, supervisor or site");
  } else {
    c.choice(t, "role", client.role, kClientRoles);
  }
  std::string key;
  if (t.get("public_key") == nullptr) {
    c.error(&t, "[[clients]] needs a public_key (base64 of 32 bytes; acdctl client add makes one)");
  } else if (c.text(t, "public_key", key)) {
    if (const auto decoded = key_from_base64(key)) {
      client.public_key = *decoded;
    } else {
      c.error(t, "public_key",
              "public_key \"" + key +
                  "\" is not a key: it must be base64 of exactly 32 bytes (44 characters "
                  "ending in '='), as acdctl client add prints it");
    }
  }
  if (const toml::node* n = t.get("networks")) {
    const toml::array* a = n->as_array();
    if (a == nullptr) {
      c.error(n, "networks is a list of IPv4 networks, e.g. [\"10.1.0.0/16\"]");
      return;
    }
    for (const toml::node& e : *a) {
      const std::optional<std::string> v = e.value<std::string>();
      if (!v) {
        c.error(&e, "a network is a string \"A.B.C.D/N\"");
        continue;
      }
      const Result<Ipv4Network> parsed = parse_ipv4_network(*v);
      if (!parsed.ok()) {
        c.error(&e, "network \"" + *v + "\": " + parsed.failure().message);
      } else if (std::find(client.networks.begin(), client.networks.end(), parsed.value()) !=
                 client.networks.end()) {
        c.error(&e, "network \"" + *v + "\" is listed twice");
      } else {
        client.networks.push_back(parsed.value());
      }
    }
  }
}

}  // namespace

std::string_view client_role_name(ClientRole role) {
  for (const auto& [name, value] : kClientRoles) {
    if (value == role) {
      return name;
    }
  }
  return "switch";
}

std::optional<ClientRole> client_role_from_name(std::string_view name) {
  for (const auto& [n, value] : kClientRoles) {
    if (n == name) {
      return value;
    }
  }
  return std::nullopt;
}

Result<void> check_client_name(std::string_view name) {
  const bool allowed = std::all_of(name.begin(), name.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return std::islower(u) || std::isdigit(u) || ch == '.' || ch == '_' || ch == '-';
  });
  if (name.empty() || name.size() > 32 || !allowed) {
    return Failure{ControlError::Usage,
                   "a client name is 1 to 32 of a-z, 0-9, '.', '_' and '-', e.g. \"sbc-1\""};
  }
  return {};
}

Result<Ipv4Network> parse_ipv4_network(std::string_view text) {
  const Failure usage{ControlError::Usage,
                      "a network is A.B.C.D/N with N from 0 to 32, e.g. \"10.1.0.0/16\""};
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return usage;
  }
  const std::string address(text.substr(0, slash));
  const std::string_view bits = text.substr(slash + 1);
  in_addr parsed{};
  if (inet_pton(AF_INET, address.c_str(), &parsed) != 1 || bits.empty() || bits.size() > 2 ||
      !std::all_of(bits.begin(), bits.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) ||
      (bits.size() == 2 && bits[0] == '0')) {
    return usage;
  }
  const int prefix = std::stoi(std::string(bits));
  if (prefix > 32) {
    return usage;
  }
  Ipv4Network network;
  network.address = ntohl(parsed.s_addr);
  network.prefix = static_cast<std::uint8_t>(prefix);
  const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  if ((network.address & ~mask) != 0) {
    Ipv4Network meant = network;
    meant.address &= mask;
    return Failure{
        ControlError::Usage,
        "the address has bits set past the prefix; did you mean \"" + to_string(meant) + "\"?"};
  }
  return network;
}

std::string to_string(const Ipv4Network& network) {
  in_addr a{};
  a.s_addr = htonl(network.address);
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, text, sizeof(text));
  return std::string(text) + "/" + std::to_string(network.prefix);
}

void parse_security(TomlChecker& c, const toml::table& root, ApplianceConfig& cfg) {
  const toml::table* security = root["security"].as_table();
  if (root.get("security") != nullptr && security == nullptr) {
    c.error(root.get("security"), "[security] is a table");
  }
  if (security != nullptr) {
    c.only(*security,
           {"mode", "key_file", "aead", "source_handshakes_per_s", "source_handshake_burst",
            "session_lifetime_s", "idle_timeout_s"},
           "[security]");
    if (const toml::node* n = security->get("mode")) {
      cfg.origin["security.mode"] = c.where(*n);
    }
    std::string mode;
    if (c.text(*security, "mode", mode)) {
      if (mode == "required" || mode == "off") {
        cfg.security.required = mode == "required";
      } else {
        c.error(*security, "mode",
                "security.mode = \"" + mode +
                    "\" is not one of: required (ACDP/2, every client authenticated), off "
                    "(ACDP/1 in clear text, for a lab)");
      }
    }
    if (c.text(*security, "key_file", cfg.security.key_file) &&
        (cfg.security.key_file.empty() || cfg.security.key_file.front() != '/')) {
      c.error(*security, "key_file",
              "security.key_file is an absolute path, e.g. \"/etc/acd/keys/acdd.key\"");
    }
    if (const toml::node* n = security->get("key_file")) {
      cfg.origin["security.key_file"] = c.where(*n);
    }
    std::string aead;
    if (c.text(*security, "aead", aead)) {
      if (aead == "chacha20-poly1305" || aead == "aes256-gcm") {
        cfg.security.aes256gcm = aead == "aes256-gcm";
        cfg.origin["security.aead"] = c.where(*security->get("aead"));
      } else {
        c.error(*security, "aead",
                "security.aead = \"" + aead +
                    "\" is not one of: chacha20-poly1305 (the default, any CPU), aes256-gcm (CPUs "
                    "with AES-NI; every client must use the same)");
      }
    }
    c.number(*security, "source_handshakes_per_s", cfg.security.source_handshakes_per_s, 1,
             100'000);
    c.number(*security, "source_handshake_burst", cfg.security.source_handshake_burst, 1,
             1'000'000);
    c.number(*security, "session_lifetime_s", cfg.security.session_lifetime_s, 10, 604'800);
    c.number(*security, "idle_timeout_s", cfg.security.idle_timeout_s, 10, 86'400);
  }

  if (const toml::node* n = root.get("clients")) {
    const toml::array* list = n->as_array();
    if (list == nullptr || !list->is_array_of_tables()) {
      c.error(n, "clients are given one by one as [[clients]] tables");
    } else {
      std::map<std::string, const toml::node*> names;
      std::map<PublicKey, const toml::node*> keys;
      for (const toml::node& e : *list) {
        const toml::table& t = *e.as_table();
        ClientEntry client;
        const std::size_t before = c.count();
        parse_client(c, t, client);
        if (c.count() != before) {
          continue;  // reported; duplicates are checked among valid entries only
        }
        if (const auto [it, added] = names.emplace(client.name, &t); !added) {
          c.error(t, "name",
                  "client \"" + client.name + "\" is defined twice (first at " +
                      c.where(*it->second) + ")");
          continue;
        }
        if (const auto [it, added] = keys.emplace(client.public_key, &t); !added) {
          c.error(t, "public_key",
                  "client \"" + client.name + "\" has the same public_key as the client at " +
                      c.where(*it->second) + "; each client needs a key pair of its own");
          continue;
        }
        cfg.clients.push_back(std::move(client));
      }
    }
  }

  if (cfg.security.required) {
    if (cfg.security.key_file.empty()) {
      c.error(*security, "mode",
              "security.mode = \"required\" needs security.key_file, acdd's secret key (acdctl "
              "key generate --out /etc/acd/keys/acdd.key)");
    }
    if (root.get("clients") == nullptr) {
      c.error(*security, "mode",
              "security.mode = \"required\" with no [[clients]]: nobody could connect; add "
              "clients (acdctl client add) or set mode = \"off\"");
    }
  }
}

}  // namespace acd::control
