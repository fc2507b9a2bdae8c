// The appliance's configuration file, /etc/acd/acd.toml: the dataplane, the routing domain (skills,
// queues with their policies and overflow rules, agents) and the control and metrics endpoints.
// The routing domain is read by acd::domain (acd/domain/domain_file.hpp), the reader acd-sim uses
// for the same tables; this part reads only the appliance's own tables and refuses acd-sim's
// [simulation] and [[stream]].
//
// load_config / parse_config check everything before anything starts: unknown keys, wrong types,
// out-of-range values, references to undefined skills, queues or sites, overflow chains that loop,
// overflow to this very site. Each problem is reported as "FILE:LINE: what is wrong; what to do".
// An embedded default (a small demo centre) is used when no file is given.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acd/control/result.hpp"
#include "acd/dataplane/control_channel.hpp"
#include "acd/dataplane/sign_in_verifier.hpp"
#include "acd/history/kafka_config.hpp"
#include "acd/router/config.hpp"

namespace acd::control {

struct DataplaneSettings {
  std::string backend = "uring";  // uring | dpdk
  std::string listen = "127.0.0.1:7070";
  std::vector<int> cores{0};  // one CPU, or IO and router CPUs
  std::string dpdk_args = "--no-huge --no-pci";
  std::uint16_t dpdk_port = 0;
  std::uint32_t reply_cache_per_client = 2048;
  std::uint32_t max_clients = 256;
  // The IO thread's real-time priority (SCHED_FIFO 1..99; 0: the normal policy). See
  // docs/operations.md "Protecting the IO thread" for what it needs and risks.
  std::uint32_t io_priority = 0;
};

// [journal]: the sequenced input log on local disk, with snapshots (docs/ha.md). Off when `dir`
// is empty.
struct JournalSettings {
  std::string dir;
  bool sync = true;                     // fdatasync each group commit; replies wait for it
  std::uint32_t segment_mb = 64;        // a segment file is closed past this size
  std::uint32_t snapshot_every_s = 60;  // a node image this often (and after each reload)
};

// [history]: call detail records, agent state records and interval aggregates derived from the
// journal on a thread of their own (control/history_feed.hpp, docs/reports.md). Needs [journal]
// dir. Its sub-table [history.kafka] is read by the exporter's own parser (kafka_config.hpp).
struct HistorySettings {
  bool enabled = false;
  std::string path = "/var/lib/acd/history.db";  // the SQLite database (WAL beside it)
  std::uint32_t retention_days = 90;  // records older than this are deleted (0: kept for ever)
  std::uint32_t interval_minutes = 15;  // length of the interval aggregates; divides a day
  std::uint32_t interval_seconds = 0;  // instead of interval_minutes when > 0; divides a day
  std::uint32_t short_abandon_ms = 5000;  // abandoned after waiting less than this: short
  std::uint32_t checkpoint_every_s = 10;  // the feed's state saved with the records this often
  bool durable = false;  // synchronous=FULL: committed records survive a power cut too
  history::KafkaConfig kafka;  // [history.kafka]: the records streamed to Kafka (docs/kafka.md)
};

// [ha]: the hot-standby pair (docs/ha.md). Off when `peer` is empty.
struct HaSettings {
  std::string node = "acd-a";           // this node's name (etcd's record of who holds the epoch)
  std::string replication_listen;       // A.B.C.D:PORT this node serves its standby on
  std::string peer;                     // A.B.C.D:PORT: the other node's replication address
  std::string peer_dataplane;           // A.B.C.D:PORT: the other node's ACDP address (NotPrimary)
  std::string start_as = "standby";     // primary | standby: the role taken at start
  std::vector<std::string> etcd;        // A.B.C.D:PORT client endpoints of the fence
  std::string etcd_key = "/acd/epoch";  // where the epoch is kept
  std::uint32_t heartbeat_ms = 10;
  std::uint32_t dead_after_ms = 50;
  std::uint32_t etcd_timeout_ms = 20;  // one compare-and-swap's budget
  std::uint32_t hash_every = 10000;    // state hashes compared every this many records
  // The other node's static public key: with it (and [security] key_file, this node's key) the
  // replication link is authenticated and encrypted; without, it is clear text (lab use).
  std::optional<std::array<std::uint8_t, 32>> peer_public_key;
  bool enabled() const { return !peer.empty(); }
};

// Where agents' passwords are checked ([signin] backend, docs/operations.md "Directory sign-in"):
// the local credential file, the bank's LDAP directory, or the directory for the agents it has
// and the file for the others.
enum class SignInBackend : std::uint8_t { File, Ldap, LdapThenFile };
// How the directory's connection is protected: none (lab use), StartTLS on ldap://, or ldaps://.
enum class LdapTls : std::uint8_t { None, StartTls, Ldaps };
// What a sign-in gets while the directory cannot be reached: refused as DirectoryUnavailable, or
// checked against the local credential file (logged, counted, audited).
enum class DirectoryFallback : std::uint8_t { Refuse, File };

// [signin.ldap]: the directory (ldap_verifier.hpp). The agent's entry is either named by
// `dn_template` or found by a search (`search_base`, `search_filter`), never both; "{agent}" in
// either is replaced by the agent's ID, escaped for a DN (RFC 4514) or a filter (RFC 4515).
struct LdapSettings {
  std::string url;  // ldap://HOST:PORT or ldaps://HOST:PORT
  LdapTls tls = LdapTls::StartTls;
  std::string ca_file;  // PEM CA certificates the directory's certificate must chain to; "": system
  std::string dn_template;    // "uid={agent},ou=agents,dc=bank,dc=example"
  std::string search_base;    // "ou=agents,dc=bank,dc=example"
  std::string search_filter;  // "(&(objectClass=inetOrgPerson)(employeeNumber={agent}))"
  std::string bind_dn;        // the service account searches bind as; "": anonymous
  std::string bind_password_file;  // the service account's password (one line, mode 0600)
  std::uint32_t connect_timeout_ms = 2000;  // TCP connect (and the TLS handshake)
  std::uint32_t timeout_ms = 3000;          // one operation (bind, search)
  std::uint32_t pool = 4;                   // connections at most, shared by the verifier threads
  DirectoryFallback fallback = DirectoryFallback::Refuse;
  // The directory's budget (sign_in_backoff.hpp LockoutPolicy): wrong binds of one agent within
  // the window before acdd stops asking the directory (until the window passes or `agent unlock`).
  // Below the directory's own lockout threshold, at least its observation window; 0 binds: off;
  // a window of 0 never forgets.
  std::uint32_t max_wrong_binds = 4;
  std::uint32_t wrong_bind_window_s = 1800;
  bool operator==(const LdapSettings&) const = default;
};

// [signin]: agent sign-in checks (docs/operations.md "Sign-in at scale"). The cost applies to
// hashes acdctl writes from now on; stored hashes verify with their own parameters.
struct SignInSettings {
  std::uint32_t threads = 0;       // verifier threads; 0: one per CPU the dataplane does not use
  std::uint32_t queue = 1024;      // sign-ins waiting for a thread; more are answered Overloaded
  std::uint32_t burst = 16;        // password sign-ins the IO thread takes per poll cycle; more
                                   // wait behind the cycle's route requests (0: no limit)
  std::uint32_t nice = 10;         // when the verifiers share the dataplane's CPUs, they yield
                                   // to routing (0: same priority); pinned elsewhere: not used
  // The verifier threads' and the credential writer's scheduling policy: "normal", "batch" or
  // "idle" (sign_in_verifier.hpp ThreadClass). Applied wherever they run.
  dataplane::ThreadClass sched = dataplane::ThreadClass::Normal;
  std::uint64_t opslimit = 2;      // argon2id cost of new hashes (cost = "interactive")
  std::uint64_t memlimit_kib = 65536;
  // Back-off after wrong passwords (credential_store.hpp LockoutPolicy): per source desktop,
  // failures allowed before a delay, the first delay and its ceiling (the delay doubles with each
  // further failure); agent-wide, the same with its own free failures and a low ceiling.
  std::uint32_t free_failures = 3;
  std::uint32_t backoff_s = 2;
  std::uint32_t max_backoff_s = 300;
  std::uint32_t agent_free_failures = 10;  // from all desktops together, before an agent-wide delay
  std::uint32_t agent_max_backoff_s = 30;  // its ceiling: the longest a guesser delays the agent
  SignInBackend backend = SignInBackend::File;
  LdapSettings ldap;  // backend ldap or ldap-then-file
  // Whether the local credential file takes part (backend file or ldap-then-file, or fallback
  // file): acdd then needs it.
  bool uses_file() const {
    return backend != SignInBackend::Ldap || ldap.fallback == DirectoryFallback::File;
  }
  // Session tokens (docs/protocol.md "Session tokens"): the 32-byte key both nodes of a pair read
  // (absolute path; a key file as [security] key_file: mode 0600/0640); empty: tokens off. Every
  // token expires at token_day_end (seconds after 00:00 UTC; "HH:MM" in the file).
  std::string token_key_file;
  std::uint32_t token_day_end_s = 0;
  bool operator==(const SignInSettings&) const = default;
};

// [audit]: the tamper-evident audit log (audit_log.hpp, docs/audit.md). Off when `dir` is empty.
struct AuditSettings {
  std::string dir;                             // absolute
  std::uint64_t max_file_bytes = 16ull << 20;  // a file is closed past this size
  std::uint32_t keep_files = 16;               // the newest this many files are kept
  bool enabled() const { return !dir.empty(); }
};

// [control]'s operator roles (operator_role.hpp): the Unix group of each role, and whether a local
// user in none of them may read (viewers = "any-local") or nothing at all (viewers = "group", the
// default). Root is always admin. Group names are checked for their form when the file is parsed
// and for their existence by check_operator_groups (acdd --check-config, acdd's start).
struct OperatorGroups {
  std::string viewer_group = "acd-viewer";
  std::string operator_group = "acd";
  std::string admin_group = "acd-admin";
  bool any_local_may_view = false;
};

// [[clients]]: the peers that may speak ACDP to acdd, each with its static X25519 public key
// (docs/security.md "Keys and clients"). Parsed and checked; the handshake that uses them is
// built elsewhere.
enum class ClientRole : std::uint8_t { Switch, Desktop, Supervisor, Site };
std::string_view client_role_name(ClientRole role);
std::optional<ClientRole> client_role_from_name(std::string_view name);

// An IPv4 network, address and prefix length, the address's host bits zero.
struct Ipv4Network {
  std::uint32_t address = 0;  // host byte order
  std::uint8_t prefix = 0;    // 0..32
  bool operator==(const Ipv4Network&) const = default;
};
// "A.B.C.D/N" -> the network, or a Usage failure saying what is wrong ("host bits set: did you
// mean 10.1.0.0/16?").
Result<Ipv4Network> parse_ipv4_network(std::string_view text);
std::string to_string(const Ipv4Network& network);

inline constexpr std::size_t kPublicKeyBytes = 32;
using PublicKey = std::array<std::uint8_t, kPublicKeyBytes>;

struct ClientEntry {
  std::string name;  // [a-z0-9._-], 1..32 characters, unique
  ClientRole role = ClientRole::Switch;
  PublicKey public_key{};             // unique among the clients
  std::vector<Ipv4Network> networks;  // source networks it may connect from; empty = anywhere
};
// A client's name: done, or a Usage failure saying what a name may be.
Result<void> check_client_name(std::string_view name);

// [security]: mode "off" keeps ACDP/1 in clear text (lab use); "required" needs key_file (acdd's
// own secret key, docs/security.md) and at least one [[clients]] entry.
struct SecuritySettings {
  bool required = false;  // mode = "required"
  std::string key_file;   // absolute path; "" = none
  // ACDP/2 data datagrams' AEAD, the same on acdd and every client: ChaCha20-Poly1305 (any CPU)
  // or AES-256-GCM (where the CPU has AES-NI: cheaper there).
  bool aes256gcm = false;
  // Handshake inits one source address may send a second, and at once after a quiet time; more
  // are dropped (counted rate_limited) before they cost anything but a table look-up.
  std::uint32_t source_handshakes_per_s = 50;
  std::uint32_t source_handshake_burst = 500;
  // A client session ends this long after its handshake, or after this long without an
  // authentic datagram from the client; the client then handshakes again.
  std::uint32_t session_lifetime_s = 86'400;
  std::uint32_t idle_timeout_s = 900;
  bool operator==(const SecuritySettings&) const = default;
};

// [site] and [[sites]]: this site's part in disaster recovery (docs/dr.md) and its peer sites.
// Active: this site routes; its primary serves a DR follower on `replication_listen`, never
// waiting for it. Dr: this site's node follows the active site's log asynchronously and takes over
// only when an operator says so (acdctl dr failover).
enum class SiteRole : std::uint8_t { Active, Dr };
std::string_view site_role_name(SiteRole role);

// A peer site as this one knows it.
struct PeerSite {
  std::string name;  // unique, not this site's
  SiteRole role = SiteRole::Active;
  std::vector<std::string> dataplane;    // its nodes' ACDP addresses (A.B.C.D:PORT)
  std::vector<std::string> replication;  // where its nodes serve a DR follower
  std::vector<std::string> etcd;         // the etcd endpoints that hold its pair's epoch
  std::string etcd_key = "/acd/epoch";   // that epoch's key
  // Its nodes' static public key: with it (and [security] key_file) the DR link is sealed.
  std::optional<std::array<std::uint8_t, 32>> public_key;
};

struct SiteSettings {
  bool configured = false;  // a [site] table was given
  SiteRole role = SiteRole::Active;
  std::string replication_listen;  // active: where this node serves a DR follower (as primary)
  std::string node;                // the site's name: etcd records it when this node takes over
  std::vector<PeerSite> peers;     // [[sites]] in file order
  // Inter-site summaries (docs/dr.md "Inter-site overflow"): how often this site sends each
  // active peer its per-queue availability (0: never), under which ACDP client ID (the peer's
  // [[clients]] entry of role "site"; 0: "SIT" and this site's number).
  std::uint32_t summaries_per_second = 4;
  std::uint32_t summary_client_id = 0;
  // Role dr: the site it follows (exactly one peer is active, checked); else null.
  const PeerSite* followed() const;
  // Role active: the first DR peer (its key seals the DR link); else null.
  const PeerSite* dr_peer() const;
  bool follows() const { return configured && role == SiteRole::Dr; }
  bool serves_dr() const {
    return configured && role == SiteRole::Active && !replication_listen.empty();
  }
};

// The whole configuration; also the tag the routing core carries from a reload to the snapshots
// taken after it (dataplane::ConfigTag), so that names and indices never mix across a reload.
struct ApplianceConfig : dataplane::ConfigTag {
  std::string site = "site-1";     // this site's name
  std::vector<std::string> sites;  // other sites calls may overflow to
  DataplaneSettings dataplane;
  router::EngineConfig domain;
  std::vector<std::string> skill_names;  // index = SkillId
  std::string control_socket = "/run/acd/control.sock";
  // Under the unit's StateDirectory: acdd rewrites it (password changes, spent enrolment codes),
  // and /etc/acd is read-only to it.
  std::string credentials = "/var/lib/acd/credentials";
  std::string metrics_listen = "127.0.0.1:9470";
  OperatorGroups operator_groups;  // [control] viewer_group, operator_group, admin_group, viewers
  JournalSettings journal;
  HistorySettings history;
  HaSettings ha;
  AuditSettings audit;
  SignInSettings signin;
  SecuritySettings security;
  std::vector<ClientEntry> clients;
  SiteSettings dr;  // [site] and [[sites]]
  // Where each start-up setting was given ("dataplane.listen" -> "acd.toml:5"), so that a problem
  // found when acdd starts (a port in use) names the file and key; absent keys are defaults.
  std::map<std::string, std::string> origin;
};

// Parsing collects every problem in the file, each "FILE:LINE: ...", so that one run shows them
// all: a list of problems, not one Failure, hence not a Result.
struct ConfigResult {
  ApplianceConfig config;
  std::vector<std::string> errors;  // empty when the configuration is valid
  bool ok() const { return errors.empty(); }
};

// Parses TOML text; `source` names it in messages (a path, or "<embedded default>").
ConfigResult parse_config(const std::string& text, const std::string& source);
// Reads and parses a file.
ConfigResult load_config(const std::string& path);
// Checks of one start-up setting's value, shared by the file's parser and acdd's flags: done when
// the value is usable, else a Usage failure saying what is wrong with it (without the key's name).
Result<void> check_endpoint(const std::string& text);     // A.B.C.D:PORT, port 0 = any free port
Result<void> check_socket_path(const std::string& path);  // an absolute path that fits sun_path
Result<void> check_cpu(int cpu);                          // -1 (unpinned) or a CPU acdd may use

// The checks that depend on the machine acdd starts on, made by both `acdd --check-config` and
// acdd's start: the CPUs are allowed to this process, the backend is built in, the credential
// file (unless it is the embedded demo's and absent) can be read. Each problem names the key and
// where it was set ("acd.toml:9: dataplane.cores = [7]: ..."). Like ConfigResult's, these are a
// list of problems reported together, not one Failure: an operator fixes them all in one go.
std::vector<std::string> check_startup(const ApplianceConfig& cfg, bool embedded_default);

// The operator groups the file names explicitly that this machine does not know, each as
// "FILE:LINE: control.KEY: ..."; groups left at their defaults may be absent (nobody but root
// holds that role then). Part of check_startup; acdctl config validate makes it too.
std::vector<std::string> check_operator_groups(const ApplianceConfig& cfg);

// "FILE:LINE: KEY" where KEY was set, or "KEY (default)".
std::string origin_of(const ApplianceConfig& cfg, const std::string& key);

// Why the OS refused [dataplane] io_priority (`err`, from dataplane::make_realtime), and what to
// give acdd, as "FILE:LINE: dataplane.io_priority: ...". Empty when `err` is 0.
std::string io_priority_refusal(const ApplianceConfig& cfg, int err);

// The verifier threads acdd starts for `cfg`: [signin] threads, or (0) one per allowed CPU that
// [dataplane] cores leaves free, at least 1.
std::uint32_t signin_threads(const ApplianceConfig& cfg);
// The verifier pool for `cfg`: signin_threads() workers on the CPUs [dataplane] cores leaves free,
// at niceness 0; if it leaves none, unpinned at [signin] nice. [signin] queue.
dataplane::VerifierPoolConfig verifier_pool(const ApplianceConfig& cfg);
// [signin]'s back-off as the credential store takes it.
struct LockoutPolicy lockout_policy(const ApplianceConfig& cfg);

// The built-in demo centre's configuration text.
const std::string& embedded_default_config();

}  // namespace acd::control
