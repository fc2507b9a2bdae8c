#pragma once
// acdctl's key commands, run locally (no acdd needed): `key generate` makes acdd's own key pair,
// `client add` a client's, each secret written to a new 0600 file (docs/security.md "Keys and
// clients"). Both run on the calling thread and print what to do next.
#include <string>
#include <vector>

namespace acd::acdctl {

struct ClientAddOptions {
  std::string name;
  std::string role;                          // switch | desktop | supervisor | site
  std::vector<std::string> networks;         // IPv4 CIDRs; empty = anywhere
  std::string keys_dir = ".";                // where NAME.key is written
  std::string config = "/etc/acd/acd.toml";  // read for [security] key_file and the clients
};

// Checks the name, role and networks (usage errors: exit 2), refuses a name or key file already
// there (exit 1), writes KEYS_DIR/NAME.key (mode 0600) and prints the [[clients]] block for
// acd.toml and what to install on the client, with acdd's public key when [security] key_file of
// the configuration can be read. Returns acdctl's exit code.
int client_add(const ClientAddOptions& options);

// Writes a new key pair's secret to `out` (mode 0600; an existing file is refused, exit 1) and
// prints its public key. Returns acdctl's exit code.
int key_generate(const std::string& out);

}  // namespace acd::acdctl
