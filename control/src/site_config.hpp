// acd.toml's [site] and [[sites]] (config.hpp's SiteSettings and PeerSite), read by parse_config.
#pragma once

#include "acd/control/config.hpp"
#include "acd/domain/toml_checker.hpp"

namespace acd::control {

// Reads [site] and [[sites]] of `root` into `cfg.dr`, reporting every problem through `c`: unknown
// keys, a role that is neither "active" nor "dr", a peer named like this site or twice, addresses
// that are not A.B.C.D:PORT, a DR site without exactly one active peer to follow, an active site
// with a DR peer but no replication_listen to serve it on, a peer key without this node's key.
void parse_sites(domain::TomlChecker& c, const toml::table& root, ApplianceConfig& cfg);

}  // namespace acd::control
