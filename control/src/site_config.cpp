// acd.toml's [site] and [[sites]]: this site's role in disaster recovery and what it knows of its
// peer sites (docs/dr.md). Every problem is reported with its file and line; none is fatal alone.
#include "site_config.hpp"

#include <algorithm>

#include "acd/control/keys.hpp"

namespace acd::control {

namespace {

using domain::TomlChecker;

constexpr std::pair<std::string_view, SiteRole> kRoles[] = {{"active", SiteRole::Active},
                                                            {"dr", SiteRole::Dr}};

// `key` of `t` as a list of A.B.C.D:PORT addresses (absent: left empty). `what` names the list.
void endpoint_list(TomlChecker& c, const toml::table& t, std::string_view key,
                   const std::string& what, std::vector<std::string>& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) {
    return;
  }
  const toml::array* a = n->as_array();
  if (a == nullptr || a->empty()) {
    c.error(n, what + " is a list of addresses, e.g. [\"192.0.2.10:7070\"]");
    return;
  }
  for (const toml::node& e : *a) {
    const std::optional<std::string> v = e.value<std::string>();
    if (!v || !check_endpoint(*v).ok()) {
      c.error(&e, what + ": an address is \"A.B.C.D:PORT\"");
    } else if (std::find(out.begin(), out.end(), *v) != out.end()) {
      c.error(&e, what + ": \"" + *v + "\" is listed twice");
    } else {
      out.push_back(*v);
    }
  }
}

void parse_peer(TomlChecker& c, const toml::table& t, const std::string& self, SiteSettings& s) {
  c.only(t,
         {"name", "role", "dataplane", "replication", "etcd", "etcd_key", "public_key", "number"},
         "[[sites]]");
  PeerSite peer;
  if (!c.text(t, "name", peer.name)) {
    return;  // reported (the domain's reader names a missing one)
  }
  const std::string what = "[[sites]] '" + peer.name + "'";
  if (peer.name == self) {
    c.error(t, "name",
            what + " is this site ([site] name): a site is not its own peer; name another site");
    return;
  }
  const bool twice = std::any_of(s.peers.begin(), s.peers.end(),
                                 [&](const PeerSite& p) { return p.name == peer.name; });
  if (twice) {
    c.error(t, "name", what + " is given twice; each site has one entry");
    return;
  }
  if (t.get("role") == nullptr) {
    c.error(&t, what + " needs role = \"active\" or \"dr\"");
  } else {
    c.choice(t, "role", peer.role, kRoles);
  }
  endpoint_list(c, t, "dataplane", what + " dataplane", peer.dataplane);
  endpoint_list(c, t, "replication", what + " replication", peer.replication);
  endpoint_list(c, t, "etcd", what + " etcd", peer.etcd);
  if (c.text(t, "etcd_key", peer.etcd_key) &&
      (peer.etcd_key.empty() || peer.etcd_key.front() != '/')) {
    c.error(t, "etcd_key", what + " etcd_key is a key path, e.g. \"/acd/epoch\"");
  }
  std::string key;
  if (t.get("public_key") != nullptr && c.text(t, "public_key", key)) {
    if (const auto decoded = key_from_base64(key)) {
      peer.public_key = *decoded;
    } else {
      c.error(t, "public_key",
              what + " public_key \"" + key +
                  "\" is not a key: base64 of exactly 32 bytes, as acdctl key generate prints it");
    }
  }
  s.peers.push_back(std::move(peer));
}

}  // namespace

std::string_view site_role_name(SiteRole role) {
  return role == SiteRole::Dr ? "dr" : "active";
}

const PeerSite* SiteSettings::followed() const {
  if (role != SiteRole::Dr) {
    return nullptr;
  }
  for (const PeerSite& p : peers) {
    if (p.role == SiteRole::Active) {
      return &p;
    }
  }
  return nullptr;
}

const PeerSite* SiteSettings::dr_peer() const {
  for (const PeerSite& p : peers) {
    if (p.role == SiteRole::Dr) {
      return &p;
    }
  }
  return nullptr;
}

void parse_sites(TomlChecker& c, const toml::table& root, ApplianceConfig& cfg) {
  SiteSettings& s = cfg.dr;
  const toml::table* site = root["site"].as_table();
  const toml::array* sites = root["sites"].as_array();
  const bool peer_tables =
      sites != nullptr &&
      std::any_of(sites->begin(), sites->end(), [](const toml::node& n) { return n.is_table(); });
  if (site == nullptr) {
    if (peer_tables) {
      c.error(root.get("sites"),
              "[[sites]] entries need a [site] table naming this site and its role "
              "(name = \"bj\", role = \"active\" or \"dr\")");
    }
    return;
  }
  s.configured = true;
  c.only(*site,
         {"name", "role", "replication_listen", "number", "summary_max_age_s",
          "summaries_per_second", "summary_client_id"},
         "[site]");
  c.number(*site, "summaries_per_second", s.summaries_per_second, 0, 50);
  c.number(*site, "summary_client_id", s.summary_client_id, 0, 4294967295.0);
  if (site->get("role") == nullptr) {
    c.error(site, "[site] needs role = \"active\" (this site routes) or \"dr\" (it follows one)");
  } else {
    c.choice(*site, "role", s.role, kRoles);
  }
  if (c.text(*site, "replication_listen", s.replication_listen)) {
    if (const Result<void> checked = check_endpoint(s.replication_listen); !checked.ok()) {
      c.error(*site, "replication_listen",
              "site.replication_listen = \"" + s.replication_listen +
                  "\": " + checked.failure().message);
    }
  }
  s.node = cfg.site;  // a DR site is one node: it takes the epoch under the site's name
  if (sites != nullptr) {
    for (const toml::node& n : *sites) {
      if (const toml::table* t = n.as_table()) {
        parse_peer(c, *t, cfg.site, s);
      } else {
        c.error(&n,
                "with a [site] table, sites are [[sites]] tables (name, role, dataplane, "
                "replication, etcd, public_key), not names");
      }
    }
  }
  const auto actives = std::count_if(s.peers.begin(), s.peers.end(),
                                     [](const PeerSite& p) { return p.role == SiteRole::Active; });
  if (s.role == SiteRole::Dr) {
    if (actives != 1) {
      c.error(site,
              "[site] role = \"dr\" follows one site: give exactly one [[sites]] entry "
              "with role = \"active\" (" +
                  std::to_string(actives) + " given)");
    } else {
      const PeerSite& a = *s.followed();
      // Lists given with bad entries were reported already.
      bool given = false;
      for (const toml::node& n : *sites) {
        const toml::table* t = n.as_table();
        if (t != nullptr && t->get("name") != nullptr &&
            t->get("name")->value<std::string>() == a.name) {
          given = t->get("replication") != nullptr && t->get("etcd") != nullptr;
          break;  // the first entry of that name is the one taken
        }
      }
      if (!given) {
        c.error(site, "[[sites]] '" + a.name +
                          "' is the site this one follows: give its replication addresses and "
                          "the etcd endpoints that hold its epoch");
      }
    }
    // A DR pair ([ha] with a peer): which of its two nodes follows the active site is decided on
    // the pair's own key; the followed site's key is the centre's, taken only at a takeover.
    const PeerSite* followed = s.followed();
    if (cfg.ha.enabled() && followed != nullptr && cfg.ha.etcd_key == followed->etcd_key &&
        std::any_of(cfg.ha.etcd.begin(), cfg.ha.etcd.end(), [&](const std::string& e) {
          return std::find(followed->etcd.begin(), followed->etcd.end(), e) !=
                 followed->etcd.end();
        })) {
      c.error(site, "[ha] etcd_key \"" + cfg.ha.etcd_key + "\" is site '" + followed->name +
                        "''s epoch (its [[sites]] etcd_key): a DR pair needs a key of its own, "
                        "e.g. \"/acd/" + cfg.site + "/epoch\"");
    }
  } else if (s.dr_peer() != nullptr && s.replication_listen.empty()) {
    c.error(site, "[[sites]] '" + s.dr_peer()->name +
                      "' is a DR site: give [site] replication_listen, where this node serves it");
  }
  // A clear-text DR link can be forged by anyone on the path between the sites: records, and the
  // Head, Welcome and Heartbeat frames that say how far the active site is, which epoch it holds
  // and that it is alive (docs/security.md). A node that requires authenticated clients requires
  // a sealed DR link too.
  const PeerSite* linked = s.role == SiteRole::Dr ? s.followed() : s.dr_peer();
  if (linked != nullptr && !linked->public_key && cfg.security.required) {
    c.error(site, "[security] mode = \"required\" needs a public_key in [[sites]] '" +
                      linked->name +
                      "': the DR link carries client sessions and says whether the active site "
                      "is alive; in clear text anyone on the path between the sites can forge it");
  }
  const bool any_key = std::any_of(s.peers.begin(), s.peers.end(),
                                   [](const PeerSite& p) { return p.public_key.has_value(); });
  if (any_key && cfg.security.key_file.empty()) {
    c.error(site,
            "a [[sites]] public_key seals the DR link and the summaries sent to that site with "
            "this node's own key: give "
            "[security] key_file (acdctl key generate makes the pair)");
  }
}

}  // namespace acd::control
