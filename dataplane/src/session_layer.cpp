// The IO stage's ACDP/2 layer: the session table and what the IO thread does with it (admit,
// collect, seal), and the handshake worker thread (the Responder behind a pair of SPSC rings).
#include "acd/dataplane/session_layer.hpp"

#include <pthread.h>

#include <sodium.h>

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>

#include "acd/dataplane/input_log.hpp"
#include "acd/dataplane/thread_name.hpp"

namespace acd::dataplane {

namespace {

constexpr std::uint32_t kNoSlot = 0xFFFF'FFFFu;

std::uint64_t monotonic_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Names, the configuration's check.

std::uint32_t secure_client_id(std::string_view name) {
  secure::ensure_sodium();
  static constexpr std::string_view kLabel = "acdp2 client";
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, crypto_generichash_BYTES);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kLabel.data()),
                            kLabel.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(name.data()),
                            name.size());
  std::uint8_t digest[crypto_generichash_BYTES];
  crypto_generichash_final(&state, digest, sizeof digest);
  std::uint32_t id = 0;
  std::memcpy(&id, digest, sizeof id);
  if (id == kNoClientId || id == kControlClientId) {
    id ^= 0x5a5a'5a5au;  // the log's reserved IDs are never a client's
  }
  return id;
}

std::string check_secure_config(const SecureConfig& config) {
  if (config.keys.public_key == secure::PublicKey{}) {
    return "acd's own key pair is missing (security.key_file)";
  }
  // Sorted, so that ten thousand clients are checked in milliseconds.
  const std::size_t n = config.clients.size();
  std::vector<std::uint32_t> order(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    order[i] = i;
    if (config.clients[i].name.empty()) {
      return "client " + std::to_string(i + 1) + " has no name";
    }
  }
  auto adjacent = [&](auto key, const char* what) -> std::string {
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t x, std::uint32_t y) { return key(x) < key(y); });
    for (std::size_t k = 1; k < n; ++k) {
      if (key(order[k - 1]) == key(order[k])) {
        return "clients \"" + config.clients[order[k - 1]].name + "\" and \"" +
               config.clients[order[k]].name + "\" " + what;
      }
    }
    return "";
  };
  std::vector<std::uint32_t> ids(n);
  for (std::size_t i = 0; i < n; ++i) {
    ids[i] = secure_client_id(config.clients[i].name);
  }
  for (std::string why :
       {adjacent([&](std::uint32_t i) { return config.clients[i].name; }, "have the same name"),
        adjacent([&](std::uint32_t i) { return config.clients[i].public_key.bytes; },
                 "have the same public key"),
        adjacent([&](std::uint32_t i) { return ids[i]; },
                 "would have the same client ID: rename one")}) {
    if (!why.empty()) {
      return why;
    }
  }
  if (config.handshake_ring < 2) {
    return "the handshake ring needs room for at least 2 inits";
  }
  if (config.session_lifetime_ns == 0 || config.idle_timeout_ns == 0) {
    return "a session needs a lifetime and an idle time above zero";
  }
  if (config.per_source.per_second < 1 || config.per_source.burst < 1) {
    return "a source needs an allowance of at least 1 handshake init per second and at once";
  }
  return "";
}

namespace {
struct LayerDropText {
  std::string_view label;
  std::string_view help;
};
constexpr LayerDropText kLayerDrops[] = {
#define ACD_X(name, label, help) {label, help},
    ACD_SESSION_LAYER_DROPS(ACD_X)
#undef ACD_X
};
}  // namespace

std::string_view security_drop_label(std::size_t i) {
  if (i > secure::kDropReasonCount && i < kSecurityDropSlots) {
    return kLayerDrops[i - secure::kDropReasonCount - 1].label;
  }
  return secure::drop_reason_name(static_cast<secure::DropReason>(i));
}

std::string_view security_drop_help(std::size_t i) {
  if (i > secure::kDropReasonCount && i < kSecurityDropSlots) {
    return kLayerDrops[i - secure::kDropReasonCount - 1].help;
  }
  return secure::drop_reason_help(static_cast<secure::DropReason>(i));
}

// ---------------------------------------------------------------------------------------------
// The session table's parts.

struct SessionLayer::Entry {
  std::string name;
  std::uint32_t id = 0;
  wire::Role role = wire::Role::None;
  secure::PublicKey key;
  std::vector<secure::Ipv4Network> networks;
  secure::Timestamp newest{};  // the worker's: the newest handshake timestamp accepted
  // The IO thread's: the session in use and a newer one waiting for its first data datagram.
  std::uint32_t current = kNoSlot;
  std::uint32_t pending = kNoSlot;
};

struct SessionLayer::Session {
  std::uint32_t index = 0;  // 0: free
  std::uint32_t entry = 0;
  std::uint64_t born_ns = 0;     // installed (the IO thread's clock)
  std::uint64_t last_rx_ns = 0;  // the client's last authentic datagram (born_ns before one)
  std::optional<secure::SessionCipher> cipher;
};

struct SessionLayer::Job {
  Endpoint source;
  std::array<std::uint8_t, sizeof(secure::HandshakeInit)> bytes{};
};

struct SessionLayer::Made {
  secure::Responder::Outcome outcome = secure::Responder::Outcome::Dropped;
  Endpoint to;
  std::uint32_t entry = 0;
  std::uint32_t index = 0;
  secure::SessionKeys keys;  // wiped when the ring slot's copy dies
  std::uint16_t reply_length = 0;
  std::array<std::uint8_t, sizeof(secure::HandshakeResponse)> reply{};
};

// [[clients]] by static key, for the Responder (the worker thread).
class SessionLayer::Directory final : public secure::ClientDirectory {
 public:
  explicit Directory(std::vector<Entry>& entries) : entries_(entries) {
    for (std::uint32_t i = 0; i < entries.size(); ++i) {
      by_key_.emplace_back(entries[i].key, i);
    }
    std::sort(by_key_.begin(), by_key_.end(),
              [](const auto& a, const auto& b) { return a.first.bytes < b.first.bytes; });
  }
  std::optional<secure::KnownClient> find(const secure::PublicKey& key) override {
    const auto it = std::lower_bound(
        by_key_.begin(), by_key_.end(), key,
        [](const auto& a, const secure::PublicKey& k) { return a.first.bytes < k.bytes; });
    if (it == by_key_.end() || !(it->first == key)) {
      return std::nullopt;
    }
    Entry& e = entries_[it->second];
    secure::KnownClient known;
    known.client = it->second;
    known.name = e.name;
    known.role = static_cast<std::uint8_t>(e.role);
    known.networks = e.networks;
    known.newest_timestamp = &e.newest;
    return known;
  }

 private:
  std::vector<Entry>& entries_;
  std::vector<std::pair<secure::PublicKey, std::uint32_t>> by_key_;
};

// ---------------------------------------------------------------------------------------------
// SessionLayer.

SessionLayer::SessionLayer(const SecureConfig& config)
    : config_(config),
      entry_of_id_(config.clients.size()),
      sessions_(std::make_unique<Session[]>(2 * config.clients.size())),
      slot_of_index_(2 * config.clients.size()),
      to_worker_(std::make_unique<boost::lockfree::spsc_queue<Job>>(config.handshake_ring)),
      cookie_to_worker_(std::make_unique<boost::lockfree::spsc_queue<Job>>(
          std::max<std::size_t>(config.cookie_ring, 1))),
      from_worker_(std::make_unique<boost::lockfree::spsc_queue<Made>>(config.handshake_ring +
                                                                       config.cookie_ring)),
      source_limiter_(config.per_source, config.limited_sources),
      cookie_limiter_(config.per_source, config.limited_sources),
      seal_buffers_(64),
      reply_buffers_(32) {
  secure::ensure_sodium();
  entries_.reserve(config.clients.size());
  for (const SecureClient& c : config.clients) {
    Entry e;
    e.name = c.name;
    e.id = secure_client_id(c.name);
    e.role = c.role;
    e.key = c.public_key;
    e.networks = c.networks;
    entry_of_id_.insert(e.id, static_cast<std::uint32_t>(entries_.size()));
    entries_.push_back(std::move(e));
  }
  directory_ = std::make_unique<Directory>(entries_);
  responder_ = std::make_unique<secure::Responder>(config_.keys, *directory_);
  // A random start: after a restart, an old session's index names nothing (or fails its tag).
  next_index_ = randombytes_random() | 1u;
}

SessionLayer::~SessionLayer() {
  stop();
}

void SessionLayer::start() {
  if (!worker_.joinable()) {
    worker_ = std::jthread([this](std::stop_token stop) { worker_loop(stop); });
  }
}

void SessionLayer::stop() {
  if (worker_.joinable()) {
    worker_.request_stop();
    worker_.join();
  }
}

wire::Role SessionLayer::role_of(std::uint32_t client_id) const {
  const std::uint32_t e = entry_of_id_.find(client_id);
  return e == router::IdMap::kMissing ? wire::Role::None : entries_[e].role;
}

std::span<const std::uint8_t> SessionLayer::admit(const Datagram& d,
                                                  std::span<std::uint8_t> scratch) {
  const secure::Peeked p = secure::peek(d.payload);
  if (p.reason != secure::DropReason::None) {
    io_counters_.drop(p.reason);  // clear-text ACDP/1 included
    return {};
  }
  if (p.handshake) {
    if (p.kind != secure::Kind::HandshakeInit) {
      io_counters_.drop(secure::DropReason::UnexpectedReply);  // acd starts no handshake
      return {};
    }
    if (d.payload.size() != sizeof(secure::HandshakeInit)) {
      io_counters_.drop(secure::DropReason::Malformed);
      return {};
    }
    // mac1 first (one keyed hash, the Responder's first check): an init not made for acd's key
    // is counted bad_mac1 here, whatever the worker's backlog, and spends neither its source's
    // allowance nor room in a ring.
    if (!responder_->mac1_ok(d.payload)) {
      io_counters_.drop(secure::DropReason::BadMac1);
      return {};
    }
    // An init with a cookie has a lane of its own (allowance and ring): cookie-less ones, forged
    // or a client's retries, cannot spend it. Whether the cookie is right the worker checks.
    const std::uint8_t* mac2 = d.payload.data() + offsetof(secure::HandshakeInit, mac2);
    const bool with_cookie =
        std::any_of(mac2, mac2 + secure::kMacBytes, [](std::uint8_t b) { return b != 0; });
    // Before the ring: one loud source cannot take the room every other source's inits need.
    if (!(with_cookie ? cookie_limiter_ : source_limiter_).allow(d.peer.address, now())) {
      io_counters_.drop(kRateLimitedDrop);
      return {};
    }
    if (with_cookie) {
      io_counters_.bump(SecurityCounter::cookie_inits);
    }
    Job job;
    job.source = d.peer;
    std::memcpy(job.bytes.data(), d.payload.data(), job.bytes.size());
    if (!(with_cookie ? cookie_to_worker_ : to_worker_)->push(job)) {
      io_counters_.drop(kRingFullDrop);
      return {};
    }
    wake_worker();
    return {};
  }
  const std::uint32_t slot = slot_of_index_.find(p.index);
  if (slot == router::IdMap::kMissing) {
    io_counters_.drop(secure::DropReason::UnknownSession);
    return {};
  }
  const std::uint64_t now_ns = now();
  if (expire_if_due(slot, now_ns)) {
    io_counters_.drop(kExpiredDrop);
    return {};
  }
  Session& s = sessions_[slot];
  constexpr std::size_t kHead = sizeof(wire::DatagramHeader);
  const secure::Opened opened = s.cipher->open(d.payload, scratch.subspan(kHead));
  if (opened.reason != secure::DropReason::None) {
    io_counters_.drop(opened.reason);
    return {};
  }
  s.last_rx_ns = now_ns;
  io_counters_.bump(SecurityCounter::rx_opened);
  Entry& e = entries_[s.entry];
  if (e.current != slot) {
    // The newer session's first authentic datagram: the client has its keys; the old one goes.
    if (e.current != kNoSlot) {
      release(e.current);
      io_counters_.bump(SecurityCounter::sessions_replaced);
    }
    e.current = slot;
    e.pending = kNoSlot;
  }
  const std::size_t length = kHead + opened.plaintext.size();
  const wire::DatagramHeader h{wire::kMagic,
                               wire::kVersion,
                               opened.header.count,
                               static_cast<std::uint16_t>(length),
                               e.id,
                               0};
  std::memcpy(scratch.data(), &h, sizeof h);
  return scratch.first(length);
}

std::uint64_t SessionLayer::now() const {
  return config_.clock ? config_.clock() : monotonic_ns();
}

bool SessionLayer::expire_if_due(std::uint32_t slot, std::uint64_t now_ns) {
  const Session& s = sessions_[slot];
  if (s.index == 0) {
    return false;
  }
  // A clock that steps back (it should not) ages nothing.
  const bool too_old = now_ns > s.born_ns && now_ns - s.born_ns >= config_.session_lifetime_ns;
  const bool idle = now_ns > s.last_rx_ns && now_ns - s.last_rx_ns >= config_.idle_timeout_ns;
  if (!too_old && !idle) {
    return false;
  }
  release(slot);
  io_counters_.bump(SecurityCounter::sessions_expired);
  return true;
}

std::size_t SessionLayer::collect(std::span<Datagram> out) {
  const std::size_t slots = 2 * entries_.size();
  if (slots > 0) {
    const std::uint64_t now_ns = now();
    for (std::size_t k = 0; k < std::min(kSweepPerCollect, slots); ++k) {
      expire_if_due(sweep_at_, now_ns);
      sweep_at_ = sweep_at_ + 1 == slots ? 0 : sweep_at_ + 1;
    }
  }
  std::size_t n = 0;
  bool installed = false;
  const std::size_t room = std::min(out.size(), reply_buffers_.size());
  while (n < room) {
    Made* made = nullptr;
    if (from_worker_->read_available() == 0) {
      break;
    }
    made = &from_worker_->front();
    if (made->outcome == secure::Responder::Outcome::Established) {
      install(*made);
      installed = true;
    }
    std::memcpy(reply_buffers_[n].data(), made->reply.data(), made->reply_length);
    out[n] = Datagram{made->to,
                      std::span<const std::uint8_t>(reply_buffers_[n].data(), made->reply_length)};
    ++n;
    from_worker_->pop();  // destroys the slot's copy: its keys are wiped
  }
  if (installed) {
    update_index_filter();  // before the responses leave: the clients' first data must pass
  }
  return n;
}

void SessionLayer::set_index_filter(IndexFilter filter) {
  index_filter_ = std::move(filter);
  if (index_filter_.set_range) {
    index_filter_.set_range(0, 0);  // no session yet: no data datagram passes
  }
}

void SessionLayer::update_index_filter() {
  if (!index_filter_.set_range) {
    return;
  }
  // Indices are given in order (+1 a handshake, modulo 2^32): the live ones lie between the
  // oldest and the newest. One pass over the table, only after a collect() that installed.
  const std::uint32_t newest = last_installed_index_;
  std::uint32_t back = 0;  // how far the oldest live index lies behind the newest
  for (std::size_t slot = 0; slot < 2 * entries_.size(); ++slot) {
    if (const std::uint32_t index = sessions_[slot].index; index != 0) {
      back = std::max(back, newest - index);
    }
  }
  index_filter_.set_range(newest - back, newest + 1);
}

void SessionLayer::install(const Made& made) {
  Entry& e = entries_[made.entry];
  std::uint32_t slot = e.pending;
  if (slot == kNoSlot) {
    slot = e.current == 2 * made.entry ? 2 * made.entry + 1 : 2 * made.entry;
  }
  release(slot);  // a newer handshake than the one still waiting: that one is never used
  Session& s = sessions_[slot];
  s.index = made.index;
  s.entry = made.entry;
  s.born_ns = now();
  s.last_rx_ns = s.born_ns;
  s.cipher.emplace(made.keys, secure::Side::Server, config_.aead);
  if (slot_of_index_.find(made.index) != router::IdMap::kMissing) {
    release(slot_of_index_.find(made.index));  // 2^32 handshakes later: the old one goes
  }
  slot_of_index_.insert(made.index, slot);
  last_installed_index_ = made.index;
  e.pending = slot;
  io_counters_.bump(SecurityCounter::handshakes);
  sessions_gauge_.store(sessions_gauge_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
}

void SessionLayer::release(std::uint32_t slot) {
  Session& s = sessions_[slot];
  if (s.index == 0) {
    return;
  }
  slot_of_index_.erase(s.index);
  s.index = 0;
  s.cipher.reset();
  Entry& e = entries_[s.entry];
  if (e.current == slot) {
    e.current = kNoSlot;
  }
  if (e.pending == slot) {
    e.pending = kNoSlot;
  }
  sessions_gauge_.store(sessions_gauge_.load(std::memory_order_relaxed) - 1,
                        std::memory_order_relaxed);
}

std::size_t SessionLayer::seal(std::span<const Datagram> in, std::span<Datagram> out) {
  std::size_t n = 0;
  const std::uint64_t seal_now = in.empty() ? 0 : now();
  constexpr std::size_t kHead = sizeof(wire::DatagramHeader);
  for (const Datagram& d : in) {
    if (n == out.size() || n == seal_buffers_.size()) {
      break;
    }
    wire::DatagramHeader h;
    if (d.payload.size() < kHead) {
      continue;
    }
    std::memcpy(&h, d.payload.data(), kHead);
    const std::uint32_t e = entry_of_id_.find(h.client_id);
    // The newest session the client proved it holds the keys of (its handshake's); the current
    // one until then. One past its time is forgotten first: nothing is sealed with it.
    if (e != router::IdMap::kMissing) {
      for (const std::uint32_t held : {entries_[e].pending, entries_[e].current}) {
        if (held != kNoSlot) {
          expire_if_due(held, seal_now);
        }
      }
    }
    const std::uint32_t slot = e == router::IdMap::kMissing     ? kNoSlot
                               : entries_[e].pending != kNoSlot ? entries_[e].pending
                                                                : entries_[e].current;
    if (slot == kNoSlot) {
      io_counters_.bump(SecurityCounter::tx_no_session);
      continue;
    }
    Session& s = sessions_[slot];
    const secure::DataHeader dh{h.count, s.index, h.epoch};
    const std::size_t length =
        s.cipher->seal(dh, d.payload.subspan(kHead), std::span<std::uint8_t>(seal_buffers_[n]));
    if (length == 0) {
      io_counters_.bump(SecurityCounter::tx_no_session);
      continue;
    }
    io_counters_.bump(SecurityCounter::tx_sealed);
    out[n] = Datagram{d.peer, std::span<const std::uint8_t>(seal_buffers_[n].data(), length)};
    ++n;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// The handshake worker.

void SessionLayer::wake_worker() {
  // Pairs with the exchange in worker_loop(): both are read-modify-writes of one atomic, so one
  // comes first. If the worker's came first, this one reads 1 and wakes it; if this one came
  // first, the worker's acquires it and sees the job pushed above before it waits. A syscall only
  // when the worker was idle for a while. (No fences: ThreadSanitizer does not model them.)
  if (worker_parked_.exchange(0, std::memory_order_seq_cst) != 0) {
    worker_parked_.notify_one();
  }
}

void SessionLayer::worker_loop(std::stop_token stop) {
  name_this_thread("acd-handshake");
  const std::stop_callback wake_to_stop(stop, [this] {
    worker_parked_.store(0, std::memory_order_relaxed);
    worker_parked_.notify_one();
  });
  Job job;
  unsigned idle = 0;
  while (!stop.stop_requested()) {
    std::size_t handled = 0;
    // Inits with a cookie first: a flood of cookie-less ones never delays them.
    while (handled < 32 && (cookie_to_worker_->pop(job) || to_worker_->pop(job))) {
      handle(job);
      ++handled;
    }
    if (handled != 0) {
      idle = 0;
      continue;
    }
    if (++idle <= kIdlePolls) {
      // Just idle: poll a little, so that a steady trickle of inits costs the IO thread no wake.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    // Idle for a while: sleep until admit() queues an init (wake_worker()) or stop().
    worker_parked_.exchange(1, std::memory_order_seq_cst);  // pairs with wake_worker()'s
    if (to_worker_->read_available() == 0 && cookie_to_worker_->read_available() == 0 &&
        !stop.stop_requested()) {
      worker_parked_.wait(1, std::memory_order_relaxed);
    }
    worker_parked_.store(0, std::memory_order_relaxed);
    idle = 0;
  }
}

void SessionLayer::refill_cookies(std::uint64_t now_ns) {
  // A tenth of a second's replies at most at once (at least one): a flood that was quiet for a
  // while gets no large reserve to spend at one moment.
  const std::uint64_t rate = config_.cookies_per_second;
  if (rate == 0) {
    cookie_units_ = 0;  // no cookie replies at all
    return;
  }
  const std::uint64_t cap = std::max<std::uint64_t>(1, rate / 10) * kUnitsPerToken;
  if (!cookie_bucket_started_) {
    cookie_bucket_started_ = true;
    cookie_units_ = cap;
    cookie_refilled_ns_ = now_ns;
    return;
  }
  if (now_ns <= cookie_refilled_ns_) {
    return;  // no time passed (or a clock that stepped back: nothing added)
  }
  // Past a full bucket's time the bucket is full (also keeps the product below 2^64).
  const std::uint64_t elapsed = now_ns - cookie_refilled_ns_;
  const std::uint64_t added = elapsed >= cap / rate ? cap : elapsed * rate;
  cookie_units_ = std::min(cap, cookie_units_ + added);
  cookie_refilled_ns_ = now_ns;
}

void SessionLayer::audit_refusal(const Job& job, const secure::Responder::Result& r) const {
  using secure::DropReason;
  // Only what got past mac1 and the cookie: an init made for acd's key, refused for who sent it.
  // (A bad mac1 or a missing cookie says nothing about a client: counted, not recorded.)
  const bool names_client =
      r.reason == DropReason::WrongNetwork || r.reason == DropReason::ReplayedHandshake;
  AgentAuditSink* audit = audit_.load(std::memory_order_acquire);
  if (audit == nullptr || !(names_client || r.reason == DropReason::BadHandshake ||
                            r.reason == DropReason::UnknownClient)) {
    return;
  }
  ClientAuditEvent event;
  event.what = ClientAuditEvent::What::HandshakeRefused;
  event.client_id =
      names_client && r.client.client < entries_.size() ? entries_[r.client.client].id : 0;
  event.address = job.source.address;
  event.port = ntohs(job.source.port);
  event.reason = secure::drop_reason_name(r.reason);
  audit->on_client_event(event);
}

void SessionLayer::handle(const Job& job) {
  const std::uint64_t now = this->now();
  if (now - window_start_ns_ >= 1'000'000'000) {
    // The second before counts only if it was the one just ended.
    last_window_inits_ = now - window_start_ns_ < 2'000'000'000 ? window_inits_ : 0;
    window_start_ns_ = now;
    window_inits_ = 0;
  }
  refill_cookies(now);
  ++window_inits_;
  secure::Responder::Request rq;
  rq.datagram = job.bytes;
  rq.source = job.source;
  rq.now_ns = now;
  rq.under_load = window_inits_ > config_.handshakes_per_second ||
                  last_window_inits_ > config_.handshakes_per_second ||
                  to_worker_->read_available() > config_.handshake_ring / 2;
  rq.may_send_cookie = cookie_units_ >= kUnitsPerToken;
  rq.session_index = next_index_;
  rq.epoch = epoch_.load(std::memory_order_relaxed);
  Made made;
  secure::Responder::Result r = responder_->respond(rq, made.reply);
  switch (r.outcome) {
    case secure::Responder::Outcome::Dropped:
      worker_counters_.drop(r.reason);
      if (r.reason == secure::DropReason::NeedCookie) {
        // The cookie-reply allowance is spent: unanswered, the client tries again.
        worker_counters_.bump(SecurityCounter::cookies_withheld);
      }
      audit_refusal(job, r);
      return;
    case secure::Responder::Outcome::CookieSent:
      cookie_units_ -= kUnitsPerToken;
      worker_counters_.drop(secure::DropReason::NeedCookie);
      worker_counters_.bump(SecurityCounter::cookies_sent);
      break;
    case secure::Responder::Outcome::Established:
      made.entry = r.client.client;
      made.index = rq.session_index;
      made.keys = r.keys;
      if (++next_index_ == 0) {
        next_index_ = 1;  // 0 is no session
      }
      break;
  }
  made.outcome = r.outcome;
  made.to = job.source;
  made.reply_length = static_cast<std::uint16_t>(r.reply_length);
  if (!from_worker_->push(made)) {
    worker_counters_.drop(kRingFullDrop);
  }
}

}  // namespace acd::dataplane
