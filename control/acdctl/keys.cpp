// acdctl key generate and acdctl client add: key pairs made and written locally.
#include "keys.hpp"

#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "acd/control/config.hpp"
#include "acd/control/control_error.hpp"
#include "acd/control/keys.hpp"
#include "acd/dataplane/sign_in_verifier.hpp"

namespace acd::acdctl {

namespace {

constexpr int kDone = 0;
const int kRefused = control::exit_status(control::ControlError::Refused);
const int kUsage = control::exit_status(control::ControlError::Usage);

// The pair's secret half is wiped when it goes out of scope.
struct WipedPair {
  control::KeyPair pair = control::generate_key_pair();
  ~WipedPair() { dataplane::wipe(pair.secret_key.data(), pair.secret_key.size()); }
};

std::string quoted_list(const std::vector<std::string>& items) {
  std::string text = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    text += (i == 0 ? "\"" : ", \"") + items[i] + "\"";
  }
  return text + "]";
}

}  // namespace

int key_generate(const std::string& out) {
  WipedPair keys;
  if (const control::Result<void> written =
          control::write_secret_key_file(out, keys.pair.secret_key);
      !written.ok()) {
    std::cerr << "acdctl: " << written.failure().message << "\n";
    return kRefused;
  }
  std::error_code error;
  const std::string absolute = std::filesystem::absolute(out, error).lexically_normal().string();
  std::cout << "secret key written to " << out << " (mode 0600)\n"
            << "public key: " << control::key_to_base64(keys.pair.public_key) << "\n"
            << "Use it as acdd's key: in acd.toml,\n"
            << "  [security]\n  key_file = \"" << (error ? out : absolute) << "\"\n"
            << "and give acdd's user read access (chown acd " << out
            << ", or chgrp acd and chmod 0640).\n"
            << "In a hot-standby pair, the other node's [ha] peer_public_key is this public key.\n";
  return kDone;
}

int client_add(const ClientAddOptions& o) {
  if (const control::Result<void> name = control::check_client_name(o.name); !name.ok()) {
    std::cerr << "acdctl: client name '" << o.name << "': " << name.failure().message << "\n";
    return kUsage;
  }
  if (!control::client_role_from_name(o.role)) {
    std::cerr << "acdctl: --role '" << o.role
              << "' is not one of: switch, desktop, supervisor, site\n";
    return kUsage;
  }
  std::vector<std::string> networks;
  for (const std::string& text : o.networks) {
    const control::Result<control::Ipv4Network> n = control::parse_ipv4_network(text);
    if (!n.ok()) {
      std::cerr << "acdctl: --network '" << text << "': " << n.failure().message << "\n";
      return kUsage;
    }
    networks.push_back(control::to_string(n.value()));
  }

  // acdd's configuration, when there is one: the name must be new, and acdd's public key is what
  // the client needs besides its own secret.
  std::string server_key;
  std::string server_key_note;
  if (access(o.config.c_str(), F_OK) != 0) {
    server_key_note = o.config + " does not exist (--config names acdd's configuration)";
  } else {
    const control::ConfigResult cfg = control::load_config(o.config);
    if (!cfg.ok()) {
      server_key_note = o.config + " has problems (acdctl config validate " + o.config + ")";
    } else {
      for (const control::ClientEntry& c : cfg.config.clients) {
        if (c.name == o.name) {
          std::cerr << "acdctl: " << o.config << " already has a client named '" << o.name
                    << "'; choose another name, or remove that entry first\n";
          return kRefused;
        }
      }
      if (cfg.config.security.key_file.empty()) {
        server_key_note = o.config + " has no [security] key_file (acdctl key generate)";
      } else {
        control::Result<control::SecretKey> secret =
            control::read_secret_key_file(cfg.config.security.key_file);
        if (secret.ok()) {
          server_key = control::key_to_base64(control::public_key_of(secret.value()));
          dataplane::wipe(secret.value().data(), secret.value().size());
        } else {
          server_key_note = secret.failure().message;
        }
      }
    }
  }

  const std::string path = o.keys_dir + "/" + o.name + ".key";
  WipedPair keys;
  if (const control::Result<void> written =
          control::write_secret_key_file(path, keys.pair.secret_key);
      !written.ok()) {
    std::cerr << "acdctl: " << written.failure().message << "\n";
    return kRefused;
  }
  std::cout << "client " << o.name << ": secret key written to " << path << " (mode 0600)\n\n"
            << "1. Add to acd.toml (then restart acdd):\n\n"
            << "[[clients]]\n"
            << "name = \"" << o.name << "\"\n"
            << "role = \"" << o.role << "\"\n"
            << "public_key = \"" << control::key_to_base64(keys.pair.public_key) << "\"\n";
  if (!networks.empty()) {
    std::cout << "networks = " << quoted_list(networks) << "\n";
  }
  std::cout << "\n2. Install on the client, readable by its service only:\n"
            << "   its secret key: " << path << " (move it; do not leave a copy here)\n"
            << "   acdd's public key: "
            << (server_key.empty() ? "unknown: " + server_key_note : server_key) << "\n";
  return kDone;
}

}  // namespace acd::acdctl
