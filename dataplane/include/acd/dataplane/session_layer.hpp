// The IO stage's ACDP/2 layer (docs/protocol.md, "ACDP/2"): which datagrams reach the decoder,
// and the seal on every datagram that leaves. It turns an authentic data datagram into the ACDP/1
// datagram the existing decode path reads (client ID = the configured client's, never one from
// the wire), hands handshake inits to a handshake worker thread, installs the sessions that
// worker makes, and seals outgoing datagrams with their client's session.
//
//   IO thread ──peek──▶ data: session table → open → ACDP/1 view → IoStage's decoder
//              └──────▶ init: ring (bounded SPSC) ──▶ handshake worker (Responder, DHs)
//                       init with a cookie: its own ring, taken first ──┘
//                       (and a futex wake, only when the worker was idle and went to sleep)
//   IO thread ◀── sessions, responses, cookie replies ── ring (bounded SPSC) ◀──┘
//
// Threads: admit(), collect(), seal() and role_of() belong to the IO thread (the one that polls
// the port); the worker is the layer's own thread (start()/stop(), any control thread); counters
// and sessions() are read by any thread. Nothing is allocated after construction except a
// session's AES key schedule (AES-256-GCM only, once per handshake); the IO thread never
// computes a DH.
//
// Sessions: at most two per configured client (the current one and a newer one waiting for its
// first data datagram), so the table is sized once from the configuration and a handshake flood
// cannot grow it; unauthenticated datagrams allocate nothing. A session is forgotten (keys wiped)
// at its lifetime or idle time: checked when a datagram arrives on it, before sealing with it, and
// by a bounded sweep in collect(). Handshake inits pass a per-source allowance
// (source_limiter.hpp) before they are queued for the worker. A client's logical ID
// (secure_client_id) comes from its configured name, so the reply cache, the client table and the
// sequenced log see the same ID on both nodes of a pair and across re-handshakes.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/lockfree/spsc_queue.hpp>

#include "acd/dataplane/audit_sink.hpp"
#include "acd/dataplane/port.hpp"
#include "acd/dataplane/secure_handshake.hpp"
#include "acd/dataplane/secure_keys.hpp"
#include "acd/dataplane/secure_session.hpp"
#include "acd/dataplane/source_limiter.hpp"
#include "acd/dataplane/wire.hpp"
#include "acd/router/id_map.hpp"

namespace acd::dataplane {

// One [[clients]] entry of acd.toml, as the dataplane needs it.
struct SecureClient {
  std::string name;                           // unique; its logical ID is secure_client_id(name)
  wire::Role role = wire::Role::None;         // what it may send (None: nothing but Register)
  secure::PublicKey public_key;               // its static key, unique
  std::vector<secure::Ipv4Network> networks;  // source networks; empty = anywhere
};

struct SecureConfig {
  secure::StaticKeyPair keys;  // acd's static key pair
  std::vector<SecureClient> clients;
  secure::Aead aead = secure::Aead::ChaCha20Poly1305;
  // Handshake inits that may wait for the worker; more are dropped (ring_full).
  std::size_t handshake_ring = 1024;
  // Above this many inits per second (or with the ring half full) the worker is under load: an
  // init without a valid cookie is answered with a CookieReply, never with a DH.
  // The load carries over: a second above it keeps the next one under load too (a sustained
  // flood costs no DH at the start of each second).
  std::uint32_t handshakes_per_second = 1000;
  // Under load, at most this many cookie replies a second, as a token bucket refilled
  // continuously (at most a tenth of a second's worth at once); an init without a valid cookie
  // that finds it empty is dropped unanswered (cookies_withheld). A forged flood from many
  // addresses then costs the worker and the IO thread a bounded number of replies, and it cannot
  // spend them all at one moment of a fixed window: a client's retry at any other moment finds
  // the allowance refilled in proportion to the time since the flood's last init. An init that
  // carries a valid cookie needs no reply from it and is served regardless.
  std::uint32_t cookies_per_second = 2000;
  // Inits one source address may send, per second and at once; more are dropped (rate_limited)
  // on the IO thread before they reach the worker's ring (source_limiter.hpp).
  SourceRateLimiter::Limits per_source{};
  // Inits that carry a cookie (a mac2 that is not all zeros: the client's second init under
  // load) pass a per-source allowance of their own (the same limits) and wait in a ring of their
  // own (this many), which the worker takes first: cookie-less inits — every forged one, and a
  // client's own retries — can spend neither what the client's init with its cookie needs. The
  // worker checks the cookie before any DH, as before.
  std::size_t cookie_ring = 256;
  std::size_t limited_sources = 4096;  // sources the limiter tracks at once
  // A session is forgotten (its keys wiped) once this old, or once this long without an
  // authentic datagram from its client; a datagram on it is then dropped (expired) and the
  // client must handshake again (docs/protocol.md, "Session lifetime").
  std::uint64_t session_lifetime_ns = 86'400'000'000'000;  // 24 h
  std::uint64_t idle_timeout_ns = 900'000'000'000;         // 15 min
  // The monotonic clock, ns (the IO thread calls it); empty: std::chrono::steady_clock. Tests
  // give a virtual one.
  std::function<std::uint64_t()> clock;
};

// A configured client's logical client ID: the first four bytes of BLAKE2b("acdp2 client" ||
// name), never 0 nor one of the IDs the log reserves. The same on every node.
std::uint32_t secure_client_id(std::string_view name);
// "" when the configuration can be served, or why not (no key, two names with one ID, two
// entries with one key, a name that is empty).
std::string check_secure_config(const SecureConfig& config);

// Counters of the layer besides the DropReasons, declared once: name, metric name, help text.
#define ACD_SECURITY_COUNTERS(X)                                                             \
  X(handshakes, "acd_security_handshakes_total", "handshakes completed: sessions made")      \
  X(cookies_sent, "acd_security_cookies_sent_total",                                         \
    "handshake inits answered with a cookie (under load) instead of a DH")                   \
  X(cookies_withheld, "acd_security_cookies_withheld_total",                                 \
    "handshake inits under load left unanswered: the cookie-reply allowance was spent")      \
  X(sessions_replaced, "acd_security_sessions_replaced_total",                               \
    "sessions replaced by a newer handshake of the same client")                             \
  X(sessions_expired, "acd_security_sessions_expired_total",                                 \
    "sessions forgotten past their lifetime or idle time")                                   \
  X(rx_opened, "acd_security_rx_datagrams_total", "data datagrams opened: authentic, fresh") \
  X(tx_sealed, "acd_security_tx_datagrams_total", "datagrams sealed and sent")               \
  X(tx_no_session, "acd_security_tx_no_session_total",                                       \
    "datagrams not sent: their client has no session (it must handshake first)")             \
  X(cookie_inits, "acd_security_cookie_inits_total",                                         \
    "handshake inits that carried a cookie: their own per-source allowance and ring")

enum class SecurityCounter : std::uint8_t {
#define ACD_X(name, metric, help) name,
  ACD_SECURITY_COUNTERS(ACD_X)
#undef ACD_X
      kCount
};

// Drop reasons of the layer besides every secure::DropReason: label, help text.
#define ACD_SESSION_LAYER_DROPS(X)                                                         \
  X(RingFull, "ring_full", "handshake init dropped: the handshake worker's ring was full") \
  X(RateLimited, "rate_limited",                                                           \
    "handshake init dropped: its source address sent more than its per-source allowance")  \
  X(Expired, "expired",                                                                    \
    "data datagram on a session past its lifetime or idle time: the client must handshake") \
  X(Filtered, "filtered",                                                                  \
    "data datagram naming a session index acd never issued, dropped by the socket filter "  \
    "before acdd read it (the kernel's drop count for the socket: includes datagrams "      \
    "dropped for a full receive buffer)")

enum class LayerDrop : std::uint8_t {
#define ACD_X(name, label, help) name,
  ACD_SESSION_LAYER_DROPS(ACD_X)
#undef ACD_X
      kCount
};
// Drop slots: 0 (none), each secure::DropReason, then each LayerDrop.
inline constexpr std::size_t kSecurityDropSlots =
    secure::kDropReasonCount + 1 + static_cast<std::size_t>(LayerDrop::kCount);
constexpr std::size_t drop_slot(LayerDrop d) {
  return secure::kDropReasonCount + 1 + static_cast<std::size_t>(d);
}
inline constexpr std::size_t kRingFullDrop = drop_slot(LayerDrop::RingFull);
inline constexpr std::size_t kRateLimitedDrop = drop_slot(LayerDrop::RateLimited);
inline constexpr std::size_t kExpiredDrop = drop_slot(LayerDrop::Expired);
inline constexpr std::size_t kFilteredDrop = drop_slot(LayerDrop::Filtered);
// The metric label of drop slot i ("bad_tag", ..., "ring_full").
std::string_view security_drop_label(std::size_t i);
std::string_view security_drop_help(std::size_t i);

// One thread's counters (single writer: relaxed load + store; any reader: relaxed load).
struct alignas(64) SecurityCounters {
  std::array<std::atomic<std::uint64_t>, kSecurityDropSlots> drops{};
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(SecurityCounter::kCount)>
      values{};
  void drop(std::size_t slot) { bump(drops[slot]); }
  void drop(secure::DropReason r) { drop(static_cast<std::size_t>(r)); }
  void bump(SecurityCounter c) { bump(values[static_cast<std::size_t>(c)]); }
  std::uint64_t dropped(std::size_t slot) const {
    return drops[slot].load(std::memory_order_relaxed);
  }
  std::uint64_t dropped(secure::DropReason r) const { return dropped(static_cast<std::size_t>(r)); }
  std::uint64_t read(SecurityCounter c) const {
    return values[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }

 private:
  static void bump(std::atomic<std::uint64_t>& v) {
    v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};
static_assert(sizeof(SecurityCounters) % 64 == 0);

class SessionLayer {
 public:
  // Precondition: check_secure_config(config) == "" and secure::aead_available(config.aead).
  explicit SessionLayer(const SecureConfig& config);
  ~SessionLayer();  // stops the worker
  SessionLayer(const SessionLayer&) = delete;
  SessionLayer& operator=(const SessionLayer&) = delete;

  // Starts / stops the handshake worker thread (idempotent; any control thread). Without it,
  // inits wait in their ring (then are dropped as ring_full) and no session is made.
  void start();
  void stop();
  // Where refused handshakes are reported (audit_sink.hpp, on the worker's thread); any time,
  // any thread. None: not reported (still counted).
  void set_audit(AgentAuditSink* sink) { audit_.store(sink, std::memory_order_release); }
  // The kernel's filter of the socket the IO thread reads (socket_filter.hpp): `set_range` is
  // called on the IO thread with [first, end), the session indices of the live sessions (oldest
  // to newest; first == end: none), now and whenever collect() installs a session — before that
  // session's response is returned for sending, so its first data datagram passes. `drops`
  // (any thread) is the kernel's count, reported as drop slot kFilteredDrop. Set before the
  // IO thread polls and before the metrics are read; unset (DPDK, tests): nothing is filtered.
  struct IndexFilter {
    std::function<void(std::uint32_t first, std::uint32_t end)> set_range;
    std::function<std::uint64_t()> drops;
  };
  void set_index_filter(IndexFilter filter);

  // ---- IO thread ----
  // What a received datagram is for the decoder: an ACDP/1 datagram inside `scratch` (at least
  // wire::kMaxDatagram bytes; its header's client_id is the session's client's logical ID), or an
  // empty span when the datagram was consumed (an init queued for the worker) or dropped (counted
  // by reason: clear text, forged, replayed, unknown session, ...). A session's first authentic
  // data datagram makes it its client's current session (the older one is forgotten).
  std::span<const std::uint8_t> admit(const Datagram& datagram, std::span<std::uint8_t> scratch);
  // Takes what the worker made (up to out.size()): installs sessions and returns the handshake
  // responses and cookie replies to send as they are, in buffers of the layer valid until the
  // next collect(). Also forgets a few sessions past their lifetime or idle time (a sweep of
  // kSweepPerCollect slots per call), so that expired keys do not wait for a datagram.
  std::size_t collect(std::span<Datagram> out);
  // The epoch the worker's handshake responses carry (IoStage::set_epoch). Any thread.
  void set_epoch(std::uint32_t epoch) { epoch_.store(epoch, std::memory_order_relaxed); }
  // Seals ACDP/1 datagrams (as IoStage assembles them: header client_id = logical ID) into
  // buffers of the layer valid until the next seal(); returns how many of `out` are filled. A
  // datagram whose client has no session is left out (tx_no_session). out.size() >= in.size().
  std::size_t seal(std::span<const Datagram> in, std::span<Datagram> out);
  // The configured role of the client with this logical ID (None: no such client).
  wire::Role role_of(std::uint32_t client_id) const;
  // How many bytes of messages fit in a datagram once sealed (kMaxSendDatagram − 24 more).
  static constexpr std::size_t kSealGrowth = secure::kDataOverhead - sizeof(wire::DatagramHeader);
  static constexpr std::size_t kSweepPerCollect = 16;

  // ---- any thread ----
  std::uint64_t dropped(std::size_t slot) const {
    return io_counters_.dropped(slot) + worker_counters_.dropped(slot) +
           (slot == kFilteredDrop && index_filter_.drops ? index_filter_.drops() : 0);
  }
  std::uint64_t dropped(secure::DropReason r) const { return dropped(static_cast<std::size_t>(r)); }
  std::uint64_t read(SecurityCounter c) const {
    return io_counters_.read(c) + worker_counters_.read(c);
  }
  // Sessions held (current and waiting), written by the IO thread.
  std::uint64_t sessions() const { return sessions_gauge_.load(std::memory_order_relaxed); }
  std::size_t clients() const { return config_.clients.size(); }
  // True while the worker sleeps waiting for an init (idle kIdlePolls polls in a row); the next
  // init admit() queues wakes it.
  bool worker_parked() const { return worker_parked_.load(std::memory_order_relaxed) != 0; }
  static constexpr unsigned kIdlePolls = 5;  // 200 us each

 private:
  struct Job;   // an init on its way to the worker
  struct Made;  // a session or a cookie reply on its way back
  struct Session;
  struct Entry;  // a configured client
  class Directory;

  void worker_loop(std::stop_token stop);
  void wake_worker();           // the IO thread's, after it queued an init
  void handle(const Job& job);  // the worker's
  void audit_refusal(const Job& job, const secure::Responder::Result& r) const;  // the worker's
  void refill_cookies(std::uint64_t now_ns);  // the worker's: its cookie-reply allowance
  static constexpr std::uint64_t kUnitsPerToken = 1'000'000'000;
  void install(const Made& made);
  void release(std::uint32_t slot);
  std::uint64_t now() const;
  // Releases `slot` (counted) if its session is past its lifetime or idle time; true if it did.
  bool expire_if_due(std::uint32_t slot, std::uint64_t now_ns);

  SecureConfig config_;
  std::vector<Entry> entries_;
  router::IdMap entry_of_id_;             // logical client ID -> entry
  std::unique_ptr<Session[]> sessions_;   // 2 per entry: entry e owns slots 2e, 2e+1
  router::IdMap slot_of_index_;           // session index -> slot
  std::unique_ptr<Directory> directory_;  // the worker's
  std::unique_ptr<secure::Responder> responder_;
  std::atomic<AgentAuditSink*> audit_{nullptr};  // refused handshakes, from the worker
  IndexFilter index_filter_;
  std::uint32_t last_installed_index_ = 0;  // the IO thread's
  void update_index_filter();  // the IO thread's, after installs
  std::unique_ptr<boost::lockfree::spsc_queue<Job>> to_worker_;
  std::unique_ptr<boost::lockfree::spsc_queue<Job>> cookie_to_worker_;  // inits with a mac2
  std::unique_ptr<boost::lockfree::spsc_queue<Made>> from_worker_;
  SourceRateLimiter source_limiter_;  // the IO thread's
  SourceRateLimiter cookie_limiter_;  // the IO thread's: inits that carry a cookie
  std::vector<std::array<std::uint8_t, wire::kMaxSendDatagram>> seal_buffers_;
  std::vector<std::array<std::uint8_t, sizeof(secure::HandshakeResponse)>> reply_buffers_;
  std::uint32_t sweep_at_ = 0;         // the IO thread's: the next slot collect() looks at
  std::uint32_t next_index_ = 1;       // the worker's: the next session index it gives
  std::uint64_t window_start_ns_ = 0;  // the worker's: its one-second load window
  std::uint32_t window_inits_ = 0;
  std::uint32_t last_window_inits_ = 0;  // the second before (0 after a quiet one)
  // The worker's cookie-reply allowance: tokens in units of 1/10^9 reply, and when they were
  // last brought up to date.
  std::uint64_t cookie_units_ = 0;
  std::uint64_t cookie_refilled_ns_ = 0;
  bool cookie_bucket_started_ = false;
  std::atomic<std::uint32_t> epoch_{0};  // relaxed: a value, orders nothing
  SecurityCounters io_counters_;
  SecurityCounters worker_counters_;
  alignas(64) std::atomic<std::uint64_t> sessions_gauge_{0};
  // 1 while the worker waits on it (futex): written by both threads, relaxed between the
  // seq_cst fences of worker_loop() and wake_worker().
  alignas(64) std::atomic<std::uint32_t> worker_parked_{0};
  std::jthread worker_;
};

}  // namespace acd::dataplane
