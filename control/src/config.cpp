// acd.toml: the appliance's own tables ([dataplane], [control], [metrics]) and the start-up
// checks; the routing domain is read by acd::domain (router/domain/), as acd-sim reads it. Every
// problem is collected (not just the first), each with the file, the line and what to do about it.
#include "acd/control/config.hpp"

#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "acd/control/credential_store.hpp"
#include "acd/control/keys.hpp"
#include "acd/control/ldap_verifier.hpp"
#include "acd/dataplane/pipeline.hpp"
#include "acd/dataplane/port.hpp"
#include "acd/dataplane/session_layer.hpp"
#include "acd/domain/domain_file.hpp"
#include "acd/domain/toml_checker.hpp"
#include "security_config.hpp"
#include "site_config.hpp"

namespace acd::control {

namespace {

using domain::TomlChecker;

// A Unix group name as useradd/groupadd accept it (NAME_REGEX's default, 32 characters at most).
bool is_group_name(const std::string& name) {
  if (name.empty() || name.size() > 32 ||
      !(std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_')) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return std::islower(u) || std::isdigit(u) || ch == '_' || ch == '-';
  });
}

// Remembers where `key` of table `t` was set, under the dotted name `name`.
void note_origin(const TomlChecker& c, const toml::table& t, std::string_view key,
                 const std::string& name, std::map<std::string, std::string>& origin) {
  if (const toml::node* n = t.get(key); n != nullptr) {
    origin[name] = c.where(*n);
  }
}

void parse_dataplane(TomlChecker& c, const toml::table& t, DataplaneSettings& d,
                     std::map<std::string, std::string>& origin) {
  for (const char* key : {"backend", "listen", "cores", "dpdk_args", "dpdk_port", "io_priority"}) {
    note_origin(c, t, key, std::string("dataplane.") + key, origin);
  }
  c.only(t,
         {"backend", "listen", "cores", "dpdk_args", "dpdk_port", "reply_cache_per_client",
          "max_clients", "io_priority"},
         "[dataplane]");
  if (c.text(t, "backend", d.backend) && d.backend != "uring" && d.backend != "dpdk") {
    c.error(t, "backend", "backend must be \"uring\" or \"dpdk\"");
  }
  if (c.text(t, "listen", d.listen)) {
    if (const Result<void> checked = check_endpoint(d.listen); !checked.ok()) {
      c.error(t, "listen", "dataplane.listen = \"" + d.listen + "\": " + checked.failure().message);
    }
  }
  c.text(t, "dpdk_args", d.dpdk_args);
  c.number(t, "dpdk_port", d.dpdk_port, 0, 1023);
  c.number(t, "reply_cache_per_client", d.reply_cache_per_client, 16, 1 << 20);
  c.number(t, "max_clients", d.max_clients, 1, 65536);
  c.number(t, "io_priority", d.io_priority, 0, 99);
  if (const toml::node* n = t.get("cores")) {
    const toml::array* a = n->as_array();
    if (a == nullptr || a->empty() || a->size() > 2) {
      c.error(n, "cores must be [CPU] or [IO_CPU, ROUTER_CPU]");
    } else {
      d.cores.clear();
      for (const toml::node& cpu : *a) {
        const std::optional<std::int64_t> v = cpu.value<std::int64_t>();
        if (!v || *v < -1 || *v > 4095) {
          c.error(&cpu, "a CPU is a number 0..4095 (or -1 for unpinned)");
        } else {
          d.cores.push_back(static_cast<int>(*v));
        }
      }
    }
  }
}

void parse_journal(TomlChecker& c, const toml::table& t, JournalSettings& j,
                   std::map<std::string, std::string>& origin) {
  c.only(t, {"dir", "sync", "segment_mb", "snapshot_every_s"}, "[journal]");
  note_origin(c, t, "dir", "journal.dir", origin);
  if (c.text(t, "dir", j.dir) && (j.dir.empty() || j.dir.front() != '/')) {
    c.error(t, "dir", "journal.dir is an absolute directory, e.g. \"/var/lib/acd/journal\"");
  }
  if (const toml::node* n = t.get("sync")) {
    if (const std::optional<bool> v = n->value<bool>()) {
      j.sync = *v;
    } else {
      c.error(n, "'sync' must be true or false");
    }
  }
  c.number(t, "segment_mb", j.segment_mb, 1, 4096);
  c.number(t, "snapshot_every_s", j.snapshot_every_s, 1, 86400);
}

void parse_history(TomlChecker& c, const toml::table& t, HistorySettings& h,
                   std::map<std::string, std::string>& origin) {
  // "kafka" is the exporter's sub-table, read by its own parser.
  c.only(t,
         {"enabled", "path", "retention_days", "interval_minutes", "interval_seconds",
          "short_abandon_ms", "checkpoint_every_s", "durable", "kafka"},
         "[history]");
  note_origin(c, t, "path", "history.path", origin);
  note_origin(c, t, "enabled", "history.enabled", origin);
  for (const char* key : {"enabled", "durable"}) {
    if (const toml::node* n = t.get(key)) {
      if (const std::optional<bool> v = n->value<bool>()) {
        (std::string_view(key) == "enabled" ? h.enabled : h.durable) = *v;
      } else {
        c.error(n, std::string("'") + key + "' must be true or false");
      }
    }
  }
  if (c.text(t, "path", h.path) && (h.path.empty() || h.path.front() != '/')) {
    c.error(t, "path", "history.path is an absolute file name, e.g. \"/var/lib/acd/history.db\"");
  }
  c.number(t, "retention_days", h.retention_days, 0, 36500);
  if (c.number(t, "interval_minutes", h.interval_minutes, 1, 1440) &&
      1440 % h.interval_minutes != 0) {
    c.error(t, "interval_minutes",
            "history.interval_minutes = " + std::to_string(h.interval_minutes) +
                " does not divide a day (1440 minutes); use 5, 10, 15, 30 or 60");
  }
  if (c.number(t, "interval_seconds", h.interval_seconds, 1, 86400)) {
    if (86400 % h.interval_seconds != 0) {
      c.error(t, "interval_seconds",
              "history.interval_seconds = " + std::to_string(h.interval_seconds) +
                  " does not divide a day (86400 seconds); use e.g. 1, 10, 30 or 60");
    } else if (t.get("interval_minutes") != nullptr) {
      c.error(t, "interval_seconds",
              "history.interval_seconds and history.interval_minutes exclude each other");
    }
  }
  c.number(t, "short_abandon_ms", h.short_abandon_ms, 0, 600'000);
  c.number(t, "checkpoint_every_s", h.checkpoint_every_s, 1, 3600);
  if (const toml::node* kafka = t.get("kafka")) {
    history::parse_kafka_config(c, *kafka, h.kafka);
  }
}

void parse_ha(TomlChecker& c, const toml::table& t, HaSettings& h,
              std::map<std::string, std::string>& origin) {
  c.only(t,
         {"node", "replication_listen", "peer", "peer_dataplane", "start_as", "etcd", "etcd_key",
          "heartbeat_ms", "dead_after_ms", "etcd_timeout_ms", "hash_every", "peer_public_key"},
         "[ha]");
  for (const char* key : {"replication_listen", "peer", "peer_dataplane", "etcd"}) {
    note_origin(c, t, key, std::string("ha.") + key, origin);
  }
  if (c.text(t, "node", h.node) && h.node.empty()) {
    c.error(t, "node", "ha.node names this node, e.g. \"acd-a\"");
  }
  for (auto [key, field] :
       {std::pair<const char*, std::string*>{"replication_listen", &h.replication_listen},
        {"peer", &h.peer},
        {"peer_dataplane", &h.peer_dataplane}}) {
    if (c.text(t, key, *field)) {
      if (const Result<void> checked = check_endpoint(*field); !checked.ok()) {
        c.error(t, key,
                std::string("ha.") + key + " = \"" + *field + "\": " + checked.failure().message);
      }
    }
  }
  if (c.text(t, "start_as", h.start_as) && h.start_as != "primary" && h.start_as != "standby") {
    c.error(t, "start_as", "ha.start_as must be \"primary\" or \"standby\"");
  }
  if (const toml::node* n = t.get("etcd")) {
    const toml::array* a = n->as_array();
    if (a == nullptr || a->empty()) {
      c.error(n, "ha.etcd is a list of etcd client addresses, e.g. [\"127.0.0.1:2379\"]");
    } else {
      for (const toml::node& e : *a) {
        const std::optional<std::string> v = e.value<std::string>();
        if (!v || !check_endpoint(*v).ok()) {
          c.error(&e, "an etcd endpoint is \"A.B.C.D:PORT\"");
        } else {
          h.etcd.push_back(*v);
        }
      }
    }
  }
  if (c.text(t, "etcd_key", h.etcd_key) && (h.etcd_key.empty() || h.etcd_key.front() != '/')) {
    c.error(t, "etcd_key", "ha.etcd_key is a key path, e.g. \"/acd/epoch\"");
  }
  std::string peer_key;
  if (t.get("peer_public_key") != nullptr && c.text(t, "peer_public_key", peer_key)) {
    if (const auto decoded = key_from_base64(peer_key)) {
      h.peer_public_key = *decoded;
    } else {
      c.error(t, "peer_public_key",
              "ha.peer_public_key \"" + peer_key +
                  "\" is not a key: it must be base64 of exactly 32 bytes (44 characters ending "
                  "in '='), the other node's public key as acdctl key generate prints it");
    }
  }
  c.number(t, "heartbeat_ms", h.heartbeat_ms, 1, 1000);
  c.number(t, "dead_after_ms", h.dead_after_ms, 2, 10000);
  c.number(t, "etcd_timeout_ms", h.etcd_timeout_ms, 1, 5000);
  c.number(t, "hash_every", h.hash_every, 100, 100000000);
  if (h.dead_after_ms < 2 * h.heartbeat_ms) {
    c.error(t, "dead_after_ms",
            "ha.dead_after_ms must be at least two heartbeats (ha.heartbeat_ms), or a single "
            "late heartbeat declares the peer dead");
  }
  if (!h.peer.empty()) {
    for (const char* key : {"replication_listen", "peer_dataplane"}) {
      if (t.get(key) == nullptr) {
        c.error(&t, std::string("[ha] with a peer needs ha.") + key);
      }
    }
    if (h.etcd.empty()) {
      c.error(&t, "[ha] with a peer needs ha.etcd: without the fence two nodes could both route");
    }
  }
}

void parse_audit(TomlChecker& c, const toml::table& t, AuditSettings& a,
                 std::map<std::string, std::string>& origin) {
  c.only(t, {"dir", "max_file_bytes", "keep_files"}, "[audit]");
  note_origin(c, t, "dir", "audit.dir", origin);
  if (c.text(t, "dir", a.dir) && (a.dir.empty() || a.dir.front() != '/')) {
    c.error(t, "dir", "audit.dir is an absolute directory, e.g. \"/var/lib/acd/audit\"");
  }
  c.number(t, "max_file_bytes", a.max_file_bytes, 4096, std::uint64_t{1} << 34);
  c.number(t, "keep_files", a.keep_files, 1, 100000);
}

// [signin.ldap]: a URL that matches tls, the agent's entry by a DN template or by a search (one of
// the two), a service account with its password file, timeouts, the pool and the fallback.
void parse_signin_ldap(TomlChecker& c, const toml::table& t, SignInSettings& s,
                       std::map<std::string, std::string>& origin) {
  LdapSettings& l = s.ldap;
  for (const char* key : {"url", "ca_file", "bind_password_file"}) {
    note_origin(c, t, key, std::string("signin.ldap.") + key, origin);
  }
  c.only(t,
         {"url", "tls", "ca_file", "dn_template", "search_base", "search_filter", "bind_dn",
          "bind_password_file", "connect_timeout_ms", "timeout_ms", "pool", "fallback",
          "max_wrong_binds", "wrong_bind_window_s"},
         "[signin.ldap]");
  std::string word;
  if (c.text(t, "tls", word)) {
    if (word == "none") {
      l.tls = LdapTls::None;
    } else if (word == "starttls") {
      l.tls = LdapTls::StartTls;
    } else if (word == "ldaps") {
      l.tls = LdapTls::Ldaps;
    } else {
      c.error(t, "tls", "signin.ldap.tls = \"" + word +
                            "\": use \"starttls\", \"ldaps\" or (lab use only) \"none\"");
    }
  }
  if (!c.text(t, "url", l.url)) {
    c.error(t, "url", "[signin.ldap] needs url, e.g. \"ldaps://ldap.bank.example:636\"");
  } else if (const Result<void> url = check_ldap_url(l.url, l.tls); !url.ok()) {
    c.error(t, "url", "signin.ldap.url: " + url.failure().message);
  }
  if (c.text(t, "ca_file", l.ca_file)) {
    if (l.ca_file.empty() || l.ca_file.front() != '/') {
      c.error(t, "ca_file", "signin.ldap.ca_file is an absolute path to PEM CA certificates");
    } else if (l.tls == LdapTls::None) {
      c.error(t, "ca_file", "signin.ldap.ca_file is for TLS, but tls = \"none\"");
    }
  }
  const bool by_template = c.text(t, "dn_template", l.dn_template);
  const bool by_base = c.text(t, "search_base", l.search_base);
  const bool by_filter = c.text(t, "search_filter", l.search_filter);
  if (by_template && (by_base || by_filter)) {
    c.error(t, "dn_template",
            "signin.ldap: give dn_template, or search_base and search_filter, not both");
  } else if (by_template) {
    if (const Result<void> dn = check_dn_template(l.dn_template); !dn.ok()) {
      c.error(t, "dn_template", "signin.ldap.dn_template " + dn.failure().message);
    }
  } else if (by_base || by_filter) {
    if (!by_base || !by_filter) {
      c.error(t, by_base ? "search_base" : "search_filter",
              "signin.ldap: a search needs both search_base and search_filter");
    }
    if (by_filter) {
      if (const Result<void> f = check_search_filter(l.search_filter); !f.ok()) {
        c.error(t, "search_filter", "signin.ldap.search_filter " + f.failure().message);
      }
    }
    if (by_base) {
      if (const Result<void> dn = check_dn_template(l.search_base + ",x={agent}"); !dn.ok()) {
        c.error(t, "search_base", "signin.ldap.search_base \"" + l.search_base + "\" is not a DN");
      }
    }
  } else {
    c.error(t, "url",
            "[signin.ldap] needs dn_template (\"uid={agent},ou=agents,dc=bank,dc=example\") or "
            "search_base and search_filter");
  }
  const bool given_dn = c.text(t, "bind_dn", l.bind_dn);
  const bool given_password = c.text(t, "bind_password_file", l.bind_password_file);
  if (given_dn && by_template) {
    c.error(t, "bind_dn", "signin.ldap.bind_dn is the account searches bind as; a dn_template "
                          "needs none");
  } else if (given_dn && !given_password) {
    c.error(t, "bind_dn", "signin.ldap.bind_dn needs bind_password_file (its password, mode 0600)");
  } else if (given_password && !given_dn) {
    c.error(t, "bind_password_file", "signin.ldap.bind_password_file needs bind_dn");
  } else if (given_password && (l.bind_password_file.empty() || l.bind_password_file[0] != '/')) {
    c.error(t, "bind_password_file", "signin.ldap.bind_password_file is an absolute path");
  }
  c.number(t, "connect_timeout_ms", l.connect_timeout_ms, 100, 60000);
  c.number(t, "timeout_ms", l.timeout_ms, 100, 60000);
  c.number(t, "pool", l.pool, 1, 256);
  c.number(t, "max_wrong_binds", l.max_wrong_binds, 0, 1000);
  c.number(t, "wrong_bind_window_s", l.wrong_bind_window_s, 0, 7 * 86400);
  if (c.text(t, "fallback", word)) {
    if (word == "refuse") {
      l.fallback = DirectoryFallback::Refuse;
    } else if (word == "file") {
      l.fallback = DirectoryFallback::File;
    } else {
      c.error(t, "fallback", "signin.ldap.fallback = \"" + word +
                                 "\": use \"refuse\" (answer DirectoryUnavailable) or \"file\" "
                                 "(check the local credential file)");
    }
  }
  if (s.backend == SignInBackend::LdapThenFile && !l.dn_template.empty()) {
    c.error(t, "dn_template",
            "signin.backend = \"ldap-then-file\" needs a search (search_base, search_filter): "
            "with a DN template an agent the directory lacks looks like a wrong password");
  }
}

// [signin]: a cost is a level name or explicit limits, not both; each limit in its range.
void parse_signin(TomlChecker& c, const toml::table& t, SignInSettings& s,
                  std::map<std::string, std::string>& origin) {
  c.only(t,
         {"threads", "queue", "burst", "nice", "sched", "cost", "opslimit", "memlimit_kib",
          "free_failures", "backoff_s", "max_backoff_s", "agent_free_failures",
          "agent_max_backoff_s", "backend", "ldap", "token_key_file", "token_day_end"},
         "[signin]");
  if (c.text(t, "token_key_file", s.token_key_file) &&
      (s.token_key_file.empty() || s.token_key_file.front() != '/')) {
    c.error(t, "token_key_file",
            "signin.token_key_file is an absolute path, e.g. \"/etc/acd/keys/token.key\"");
  }
  std::string day_end;
  if (c.text(t, "token_day_end", day_end)) {
    unsigned h = 0;
    unsigned m = 0;
    char tail = 0;
    if (std::sscanf(day_end.c_str(), "%2u:%2u%c", &h, &m, &tail) != 2 || day_end.size() != 5 ||
        h > 23 || m > 59) {
      c.error(t, "token_day_end",
              "signin.token_day_end is a time of day in UTC as \"HH:MM\", e.g. \"04:00\"");
    } else {
      s.token_day_end_s = h * 3600 + m * 60;
    }
  }
  c.number(t, "threads", s.threads, 0, 256);
  c.number(t, "queue", s.queue, 1, 65534);
  c.number(t, "nice", s.nice, 0, 19);
  c.number(t, "burst", s.burst, 0, 65536);
  if (std::string sched; c.text(t, "sched", sched)) {
    if (sched == "normal" || sched == "batch" || sched == "idle") {
      s.sched = sched == "idle"    ? dataplane::ThreadClass::Idle
                : sched == "batch" ? dataplane::ThreadClass::Batch
                                   : dataplane::ThreadClass::Normal;
    } else {
      c.error(t, "sched", "signin.sched = \"" + sched +
                              "\" is not a scheduling policy: normal, batch or idle");
    }
  }
  std::string level;
  if (c.text(t, "cost", level)) {
    if (t.get("opslimit") != nullptr || t.get("memlimit_kib") != nullptr) {
      c.error(t, "cost",
              "signin.cost names a level; give either it or opslimit and memlimit_kib, not both");
    } else if (const Result<HashCost> cost = HashCost::named(level); cost.ok()) {
      s.opslimit = cost.value().opslimit;
      s.memlimit_kib = cost.value().memlimit >> 10;
    } else {
      c.error(t, "cost", "signin.cost = " + cost.failure().message);
    }
  }
  std::uint64_t ops = s.opslimit;
  std::uint64_t kib = s.memlimit_kib;
  const bool given_ops = c.number(t, "opslimit", ops, 0, 1e9);
  const bool given_kib = c.number(t, "memlimit_kib", kib, 0, 1e12);
  if (given_ops || given_kib) {
    if (const Result<void> checked = HashCost::check(ops, kib); !checked.ok()) {
      c.error(t, given_ops && (ops < 1 || ops > 16) ? "opslimit" : "memlimit_kib",
              "signin." + checked.failure().message);
    } else {
      s.opslimit = ops;
      s.memlimit_kib = kib;
    }
  }
  c.number(t, "free_failures", s.free_failures, 1, 100);
  c.number(t, "agent_free_failures", s.agent_free_failures, 1, 1000);
  c.number(t, "agent_max_backoff_s", s.agent_max_backoff_s, 1, 3600);
  c.number(t, "backoff_s", s.backoff_s, 1, 3600);
  c.number(t, "max_backoff_s", s.max_backoff_s, 1, 86400);
  if (s.max_backoff_s < s.backoff_s) {
    c.error(t, "max_backoff_s", "signin.max_backoff_s must be at least signin.backoff_s");
  }
  std::string backend;
  if (c.text(t, "backend", backend)) {
    if (backend == "file") {
      s.backend = SignInBackend::File;
    } else if (backend == "ldap") {
      s.backend = SignInBackend::Ldap;
    } else if (backend == "ldap-then-file") {
      s.backend = SignInBackend::LdapThenFile;
    } else {
      c.error(t, "backend",
              "signin.backend = \"" + backend + "\": use \"file\", \"ldap\" or \"ldap-then-file\"");
    }
  }
  const toml::node* ldap = t.get("ldap");
  if (ldap != nullptr && ldap->as_table() == nullptr) {
    c.error(t, "ldap", "signin.ldap is a table: [signin.ldap]");
  } else if (ldap != nullptr) {
    if (s.backend == SignInBackend::File) {
      c.error(t, "ldap",
              "[signin.ldap] is set but signin.backend is \"file\": set backend = \"ldap\" or "
              "\"ldap-then-file\", or remove the table");
    }
    parse_signin_ldap(c, *ldap->as_table(), s, origin);
  } else if (s.backend != SignInBackend::File) {
    c.error(t, "backend",
            "signin.backend = \"" + backend + "\" needs a [signin.ldap] table (url, and dn_template "
            "or search_base and search_filter)");
  }
}

// [control]'s operator roles: each group a valid name, no group for two roles, viewers one of
// the two words.
void parse_operator_groups(TomlChecker& c, const toml::table& t, OperatorGroups& g,
                           std::map<std::string, std::string>& origin) {
  const std::pair<const char*, std::string*> keys[] = {{"viewer_group", &g.viewer_group},
                                                       {"operator_group", &g.operator_group},
                                                       {"admin_group", &g.admin_group}};
  for (const auto& [key, field] : keys) {
    note_origin(c, t, key, std::string("control.") + key, origin);
    if (c.text(t, key, *field) && !is_group_name(*field)) {
      c.error(t, key,
              std::string("control.") + key + " = \"" + *field +
                  "\" is not a group name (a letter or _, then letters, digits, _ or -, at most "
                  "32)");
    }
  }
  for (std::size_t i = 0; i < 3; ++i) {
    for (std::size_t j = i + 1; j < 3; ++j) {
      if (*keys[i].second == *keys[j].second) {
        const toml::node* later = t.get(keys[j].first);
        c.error(t, later != nullptr && later->is_string() ? keys[j].first : keys[i].first,
                std::string("control.") + keys[i].first + " and control." + keys[j].first +
                    " are both \"" + *keys[i].second + "\"; each role needs a group of its own");
      }
    }
  }
  note_origin(c, t, "viewers", "control.viewers", origin);
  std::string viewers;
  if (c.text(t, "viewers", viewers)) {
    if (viewers == "any-local" || viewers == "group") {
      g.any_local_may_view = viewers == "any-local";
    } else {
      c.error(t, "viewers",
              "control.viewers = \"" + viewers +
                  "\" is not one of: group (only the role groups and root), any-local (every "
                  "local user may read)");
    }
  }
}

}  // namespace

ConfigResult parse_config(const std::string& text, const std::string& source) {
  ConfigResult result;
  ApplianceConfig& cfg = result.config;
  const std::optional<toml::table> root = domain::parse_toml(text, source, result.errors);
  if (!root) {
    return result;
  }
  TomlChecker c(source, result.errors);
  domain::DomainConfig d = domain::read_domain(*root, c, domain::Program::Acdd);
  cfg.site = std::move(d.site);
  cfg.sites = std::move(d.sites);
  cfg.skill_names = std::move(d.skill_names);
  cfg.domain = std::move(d.engine);
  if (const toml::table* t = (*root)["dataplane"].as_table()) {
    parse_dataplane(c, *t, cfg.dataplane, cfg.origin);
  }
  if (const toml::table* t = (*root)["control"].as_table()) {
    c.only(*t,
           {"socket", "credentials", "viewer_group", "operator_group", "admin_group", "viewers"},
           "[control]");
    parse_operator_groups(c, *t, cfg.operator_groups, cfg.origin);
    note_origin(c, *t, "socket", "control.socket", cfg.origin);
    note_origin(c, *t, "credentials", "control.credentials", cfg.origin);
    if (c.text(*t, "socket", cfg.control_socket)) {
      if (const Result<void> checked = check_socket_path(cfg.control_socket); !checked.ok()) {
        c.error(*t, "socket",
                "control.socket = \"" + cfg.control_socket + "\": " + checked.failure().message);
      }
    }
    if (c.text(*t, "credentials", cfg.credentials) && cfg.credentials.empty()) {
      c.error(*t, "credentials", "control.credentials must name the credential file");
    }
  }
  if (const toml::table* t = (*root)["journal"].as_table()) {
    parse_journal(c, *t, cfg.journal, cfg.origin);
  }
  if (const toml::table* t = (*root)["history"].as_table()) {
    parse_history(c, *t, cfg.history, cfg.origin);
    if (cfg.history.enabled && cfg.journal.dir.empty()) {
      c.error(*t, "enabled",
              "[history] enabled derives its records from the journal: set [journal] dir too");
    }
  } else if (const toml::node* n = (*root).get("history")) {
    c.error(n, "[history] is a table");
  }
  if (const toml::table* t = (*root)["ha"].as_table()) {
    parse_ha(c, *t, cfg.ha, cfg.origin);
  }
  if (const toml::table* t = (*root)["audit"].as_table()) {
    parse_audit(c, *t, cfg.audit, cfg.origin);
  }
  if (const toml::table* t = (*root)["signin"].as_table()) {
    parse_signin(c, *t, cfg.signin, cfg.origin);
  }
  parse_security(c, *root, cfg);
  parse_sites(c, *root, cfg);
  // The replication link is sealed with this node's key: a peer key alone would seal nothing.
  if (const toml::table* t = (*root)["ha"].as_table();
      t != nullptr && cfg.ha.peer_public_key && cfg.security.key_file.empty()) {
    c.error(*t, "peer_public_key",
            "ha.peer_public_key needs [security] key_file, this node's own key (acdctl key "
            "generate makes the pair)");
  }
  if (const toml::table* t = (*root)["ha"].as_table();
      t != nullptr && cfg.security.required && cfg.ha.enabled() && !cfg.ha.peer_public_key) {
    c.error(*t, "peer",
            "[security] mode = \"required\" needs ha.peer_public_key, the other node's public "
            "key: the replication link carries client sessions");
  }
  if (const toml::table* t = (*root)["metrics"].as_table()) {
    c.only(*t, {"listen"}, "[metrics]");
    note_origin(c, *t, "listen", "metrics.listen", cfg.origin);
    if (c.text(*t, "listen", cfg.metrics_listen)) {
      if (const Result<void> checked = check_endpoint(cfg.metrics_listen); !checked.ok()) {
        c.error(*t, "listen",
                "metrics.listen = \"" + cfg.metrics_listen + "\": " + checked.failure().message);
      }
    }
  }
  return result;
}

Result<void> check_endpoint(const std::string& text) {
  dataplane::Endpoint endpoint;
  if (!dataplane::parse_endpoint(text, endpoint)) {
    return Failure{ControlError::Usage,
                   "an address is A.B.C.D:PORT with PORT 0..65535 (0: any free port), e.g. "
                   "\"127.0.0.1:7070\""};
  }
  return {};
}

Result<void> check_socket_path(const std::string& path) {
  if (path.empty() || path.front() != '/') {
    return Failure{ControlError::Usage,
                   "the control socket is an absolute path, e.g. \"/run/acd/control.sock\""};
  }
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return Failure{ControlError::Usage, "longer than a Unix socket path may be (" +
                                            std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                                            " bytes)"};
  }
  if (path.back() == '/') {
    return Failure{ControlError::Usage, "names a directory; add the socket's file name"};
  }
  return {};
}

Result<void> check_cpu(int cpu) {
  if (cpu == -1) {
    return {};
  }
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getaffinity(0, sizeof(allowed), &allowed) != 0 ||
      !CPU_ISSET(static_cast<unsigned>(cpu), &allowed)) {
    return Failure{ControlError::Usage, "CPU " + std::to_string(cpu) +
                                            " is not one this machine lets acdd use (it has " +
                                            std::to_string(CPU_COUNT(&allowed)) +
                                            "; -1 runs unpinned)"};
  }
  return {};
}

std::string io_priority_refusal(const ApplianceConfig& cfg, int err) {
  if (err == 0) {
    return {};
  }
  const std::string n = std::to_string(cfg.dataplane.io_priority);
  std::string why = origin_of(cfg, "dataplane.io_priority") + " = " + n +
                    ": the OS refused the IO thread SCHED_FIFO priority " + n + " (" +
                    std::strerror(err) + ")";
  if (err == EPERM) {
    why += ": acdd needs CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least " + n +
           " (systemd: AmbientCapabilities=CAP_SYS_NICE with RestrictRealtime=no, or LimitRTPRIO=" +
           n + "; a shell: ulimit -r " + n +
           "), and real-time time in its cgroup; or set io_priority = 0";
  }
  return why;
}

std::uint32_t signin_threads(const ApplianceConfig& cfg) {
  if (cfg.signin.threads > 0) {
    return cfg.signin.threads;
  }
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
    return 1;
  }
  int free_cpus = CPU_COUNT(&allowed);
  for (const int cpu : cfg.dataplane.cores) {
    if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(static_cast<unsigned>(cpu), &allowed)) {
      --free_cpus;
      CPU_CLR(static_cast<unsigned>(cpu), &allowed);  // a CPU listed twice counts once
    }
  }
  return static_cast<std::uint32_t>(std::max(free_cpus, 1));
}

LockoutPolicy lockout_policy(const ApplianceConfig& cfg) {
  const SignInSettings& s = cfg.signin;
  return LockoutPolicy{s.free_failures,       s.backoff_s,
                       s.max_backoff_s,       s.agent_free_failures,
                       s.agent_max_backoff_s, s.ldap.max_wrong_binds,
                       s.ldap.wrong_bind_window_s};
}

dataplane::VerifierPoolConfig verifier_pool(const ApplianceConfig& cfg) {
  dataplane::VerifierPoolConfig pool;
  pool.threads = signin_threads(cfg);
  pool.queue = cfg.signin.queue;
  pool.nice = static_cast<int>(cfg.signin.nice);
  pool.sched = cfg.signin.sched;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      const bool dataplane_cpu = std::find(cfg.dataplane.cores.begin(), cfg.dataplane.cores.end(),
                                           cpu) != cfg.dataplane.cores.end();
      if (CPU_ISSET(static_cast<unsigned>(cpu), &allowed) && !dataplane_cpu) {
        pool.cpus.push_back(cpu);
      }
    }
  }
  // Pinned off the dataplane's CPUs the workers compete with nothing of acdd's: niceness would
  // only let other programs starve sign-ins. Sharing the dataplane's CPUs, they yield to routing.
  if (!pool.cpus.empty()) {
    pool.nice = 0;
  }
  return pool;  // cpus empty (every CPU is the dataplane's): the workers run unpinned
}

std::string origin_of(const ApplianceConfig& cfg, const std::string& key) {
  const auto it = cfg.origin.find(key);
  return it == cfg.origin.end() ? key + " (default)" : it->second + ": " + key;
}

std::vector<std::string> check_startup(const ApplianceConfig& cfg, bool embedded_default) {
  std::vector<std::string> problems;
  auto problem = [&](const std::string& key, const std::string& what) {
    problems.push_back(origin_of(cfg, key) + ": " + what);
  };
  for (const int cpu : cfg.dataplane.cores) {
    if (const Result<void> checked = check_cpu(cpu); !checked.ok()) {
      problem("dataplane.cores", checked.failure().message);
    }
  }
  if (cfg.dataplane.io_priority != 0) {
    // Asked of the OS now, on a thread of its own, so that a refusal stops acdd before it serves.
    int refused = 0;
    std::thread probe([&] {
      refused = dataplane::make_realtime(pthread_self(),
                                         static_cast<int>(cfg.dataplane.io_priority));
    });
    probe.join();
    if (refused != 0) {
      problems.push_back(io_priority_refusal(cfg, refused));
    }
  }
  if (cfg.dataplane.cores.size() == 2 && cfg.dataplane.cores[0] >= 0 &&
      cfg.dataplane.cores[0] == cfg.dataplane.cores[1]) {
    problem("dataplane.cores", "the IO and routing cores must differ (or give one CPU)");
  }
#ifndef ACD_WITH_DPDK
  if (cfg.dataplane.backend == "dpdk") {
    problem("dataplane.backend", "this acdd was built without DPDK (install libdpdk-dev, rebuild)");
  }
#endif
  if (cfg.dataplane.backend == "dpdk" && cfg.dataplane.dpdk_args.empty()) {
    problem("dataplane.dpdk_args", "the DPDK backend needs EAL arguments");
  }
  for (std::string& p : check_operator_groups(cfg)) {
    problems.push_back(std::move(p));
  }
  // acdd's key, when named, must be a key file acdd may read (and no one else).
  if (!cfg.security.key_file.empty()) {
    Result<SecretKey> key = read_secret_key_file(cfg.security.key_file);
    if (!key.ok()) {
      problem("security.key_file", key.failure().message);
    } else {
      sodium_memzero(key.value().data(), key.value().size());
    }
  }
  // The session-token key, the same file on both nodes of a pair, held like acdd's own key.
  if (!cfg.signin.token_key_file.empty()) {
    Result<SecretKey> key = read_secret_key_file(cfg.signin.token_key_file);
    if (!key.ok()) {
      problem("signin.token_key_file", key.failure().message);
    } else {
      sodium_memzero(key.value().data(), key.value().size());
    }
    if (!cfg.security.required) {
      problem("signin.token_key_file",
              "session tokens are only accepted over ACDP/2: set security.mode = \"required\" "
              "or remove signin.token_key_file");
    }
  }
  // ACDP/2: a client's ID comes from its name (the same on both nodes), never from the wire.
  {
    std::vector<std::pair<std::uint32_t, std::size_t>> ids;  // sorted: fast for many clients
    for (std::size_t i = 0; i < cfg.clients.size(); ++i) {
      ids.emplace_back(dataplane::secure_client_id(cfg.clients[i].name), i);
    }
    std::sort(ids.begin(), ids.end());
    for (std::size_t k = 1; k < ids.size(); ++k) {
      if (ids[k - 1].first == ids[k].first) {
        problem("clients", "clients \"" + cfg.clients[ids[k - 1].second].name + "\" and \"" +
                               cfg.clients[ids[k].second].name +
                               "\" would have the same client ID: rename one");
      }
    }
  }
  // ACDP/2: every configured client needs a place in the dataplane's client table.
  if (cfg.security.required && cfg.clients.size() > cfg.dataplane.max_clients) {
    problem("dataplane.max_clients",
            std::to_string(cfg.dataplane.max_clients) + " is fewer than the " +
                std::to_string(cfg.clients.size()) + " [[clients]]: raise it");
  }
  // The directory's files: its CA certificates and the service account's password.
  if (cfg.signin.backend != SignInBackend::File) {
    const LdapSettings& l = cfg.signin.ldap;
    if (!l.ca_file.empty() && access(l.ca_file.c_str(), R_OK) != 0) {
      problem("signin.ldap.ca_file", l.ca_file + ": cannot be read");
    }
    if (!l.bind_password_file.empty()) {
      if (Result<std::string> password = read_bind_password(l.bind_password_file); !password.ok()) {
        problem("signin.ldap.bind_password_file", password.failure().message);
      } else {
        sodium_memzero(password.value().data(), password.value().size());
      }
    }
  }
  // The credential file: acdd refuses to start without it, except the embedded demo, or when
  // only the directory checks passwords.
  const bool exists = access(cfg.credentials.c_str(), F_OK) == 0;
  if (cfg.signin.uses_file() && (exists || !embedded_default)) {
    CredentialStore store;
    if (const Result<void> loaded = store.load(cfg.credentials); !loaded.ok()) {
      problem("control.credentials", loaded.failure().message);
    }
  }
  return problems;
}

std::vector<std::string> check_operator_groups(const ApplianceConfig& cfg) {
  std::vector<std::string> problems;
  const OperatorGroups& g = cfg.operator_groups;
  for (const auto& [key, name] :
       {std::pair<const char*, const std::string*>{"viewer_group", &g.viewer_group},
        {"operator_group", &g.operator_group},
        {"admin_group", &g.admin_group}}) {
    const std::string dotted = std::string("control.") + key;
    if (cfg.origin.count(dotted) == 0) {
      continue;  // a default: the group may be absent (then only root holds the role)
    }
    group entry{};
    group* found = nullptr;
    std::vector<char> buffer(16384);
    if (getgrnam_r(name->c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr) {
      problems.push_back(origin_of(cfg, dotted) + " = \"" + *name +
                         "\": no such group on this machine; create it (groupadd " + *name +
                         ") or name an existing one");
    }
  }
  return problems;
}

ConfigResult load_config(const std::string& path) {
  std::string text;
  if (std::string problem = domain::read_text_file(path, text); !problem.empty()) {
    ConfigResult r;
    r.errors.push_back(std::move(problem));
    return r;
  }
  return parse_config(text, path);
}

}  // namespace acd::control
