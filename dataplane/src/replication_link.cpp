// The replication link: frame checks, the non-blocking TCP connection, the primary (listen, hello,
// records, snapshots, acks, hash checks) and the standby's non-template half (connect, frames in,
// acks out).
#include "acd/dataplane/replication_link.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <sodium.h>

#include "acd/dataplane/port.hpp"

namespace acd::dataplane {

// ---------------------------------------------------------------- counters

namespace {
constexpr std::array<std::string_view, kLinkCounterCount> kLinkNames{
#define ACD_X(name, help) "acd_replication_" #name,
    ACD_REPLICATION_COUNTERS(ACD_X)
#undef ACD_X
};
constexpr std::array<std::string_view, kLinkCounterCount> kLinkHelp{
#define ACD_X(name, help) help,
    ACD_REPLICATION_COUNTERS(ACD_X)
#undef ACD_X
};
}  // namespace

std::string_view link_counter_name(LinkCounter c) {
  return kLinkNames[static_cast<std::size_t>(c)];
}
std::string_view link_counter_help(LinkCounter c) {
  return kLinkHelp[static_cast<std::size_t>(c)];
}

// ---------------------------------------------------------------- frames

namespace {

using repl::FrameType;

void put_u32(std::uint8_t* at, std::uint32_t v) {
  std::memcpy(at, &v, sizeof v);
}
void put_u64(std::uint8_t* at, std::uint64_t v) {
  std::memcpy(at, &v, sizeof v);
}
std::uint32_t get_u32(const std::uint8_t* at) {
  std::uint32_t v;
  std::memcpy(&v, at, sizeof v);
  return v;
}
std::uint64_t get_u64(const std::uint8_t* at) {
  std::uint64_t v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

// Who may send a frame type, and the body size it must have (min == max: fixed).
struct TypeRule {
  bool to_primary;
  bool to_standby;
  std::size_t min_body;
  std::size_t max_body;
};
constexpr std::size_t kAny = repl::kMaxFrameBytes - repl::kHeaderBytes;
constexpr std::array<TypeRule, repl::kMaxFrameType + 1> kRules{{
    {false, false, 0, 0},                           // 0: none
    {true, false, 8, 8},                            // Hello
    {false, true, 8, 8},                            // Welcome
    {true, true, 8, 8},                             // Heartbeat
    {false, true, repl::kRecordHeaderBytes, kAny},  // Records
    {false, true, 16, 16},                          // SnapshotBegin
    {false, true, 9, kAny},                         // SnapshotChunk
    {false, true, 16, 16},                          // HashCheck
    {true, false, 8, 8},                            // Ack
    {true, false, 16, 16},                          // HashReport
    {false, true, repl::kRecordHeaderBytes, kAny},  // AuditRecords
    {true, false, 8, 8},                            // AuditAck
    {false, true, 16, 16},                          // Head
    {false, false, 0, 0},                           // 13: none
    {false, false, 0, 0},                           // 14: none
    {true, false, 40, 40},                          // AuditFrom
    {false, true, 40, 40},                          // AuditRestart
    {true, false, 1, HistoryFetchChannel::kMaxRequestBytes},  // HistoryFetch
    {false, true, 1, kAny},                                   // HistoryRows
}};

enum class Check { Ok, NeedMore, Bad };

// Checks the header at the start of `bytes` as soon as it is there, before the body arrives.
Check check_header(std::span<const std::uint8_t> bytes, bool at_primary, std::uint32_t& length,
                   std::uint8_t& type, LinkCounter& why) {
  if (bytes.size() < repl::kHeaderBytes) {
    return Check::NeedMore;
  }
  length = get_u32(bytes.data());
  type = bytes[4];
  const std::uint8_t version = bytes[5];
  std::uint16_t flags;
  std::memcpy(&flags, bytes.data() + 6, sizeof flags);
  if (length < repl::kHeaderBytes || length > repl::kMaxFrameBytes) {
    why = LinkCounter::bad_length;
    return Check::Bad;
  }
  if (version != repl::kVersion) {
    why = LinkCounter::bad_version;
    return Check::Bad;
  }
  if (flags != 0) {  // kFlagAuthenticated included: no keys yet
    why = LinkCounter::bad_flags;
    return Check::Bad;
  }
  if (type == 0 || type > repl::kMaxFrameType ||
      !(at_primary ? kRules[type].to_primary : kRules[type].to_standby)) {
    why = LinkCounter::bad_type;
    return Check::Bad;
  }
  const std::size_t body = length - repl::kHeaderBytes;
  if (body < kRules[type].min_body || body > kRules[type].max_body) {
    why = LinkCounter::bad_body;
    return Check::Bad;
  }
  return bytes.size() < length ? Check::NeedMore : Check::Ok;
}

// Appends a frame header for a body of `body` bytes; returns its offset.
std::size_t put_header(std::vector<std::uint8_t>& out, FrameType type, std::size_t body) {
  const std::size_t at = out.size();
  out.resize(at + repl::kHeaderBytes);
  put_u32(out.data() + at, static_cast<std::uint32_t>(repl::kHeaderBytes + body));
  out[at + 4] = static_cast<std::uint8_t>(type);
  out[at + 5] = repl::kVersion;
  out[at + 6] = 0;
  out[at + 7] = 0;
  return at;
}

void put_frame_into(std::vector<std::uint8_t>& out, FrameType type,
                    std::span<const std::uint8_t> body) {
  put_header(out, type, body.size());
  out.insert(out.end(), body.begin(), body.end());
}

std::array<std::uint8_t, 8> u64_body(std::uint64_t v) {
  std::array<std::uint8_t, 8> b;
  put_u64(b.data(), v);
  return b;
}
std::array<std::uint8_t, 16> two_u64_body(std::uint64_t a, std::uint64_t b) {
  std::array<std::uint8_t, 16> out;
  put_u64(out.data(), a);
  put_u64(out.data() + 8, b);
  return out;
}

void set_socket_options(int fd) {
  const int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

bool valid_timing(const LinkTiming& t, std::string& why) {
  if (t.heartbeat.count() <= 0 || t.dead_after <= t.heartbeat) {
    why = "replication timing: heartbeat must be positive and below dead_after";
    return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------- connection

namespace repl_detail {

// The sealing of one connection: the key exchange, then one secretstream per direction.
struct Sealing {
  Sealing(const LinkKeys& keys, bool is_initiator)
      : initiator(is_initiator),
        own(keys.own),
        own_public(secure::public_key_of(keys.own)),
        peer(keys.peer) {
    crypto_kx_keypair(ephemeral_public.data(), ephemeral_secret.data());
  }
  ~Sealing() {
    sodium_memzero(ephemeral_secret.data(), ephemeral_secret.size());
    sodium_memzero(rx_key.data(), rx_key.size());
    sodium_memzero(tx_key.data(), tx_key.size());
    sodium_memzero(&tx, sizeof tx);
    sodium_memzero(&rx, sizeof rx);
  }
  Sealing(const Sealing&) = delete;
  Sealing& operator=(const Sealing&) = delete;

  // The key message this end sends first.
  void put_key_message(std::vector<std::uint8_t>& wire) const {
    std::array<std::uint8_t, repl::kKeyMessageBytes> m{};
    put_u32(m.data(), repl::kKeyMagic);
    m[4] = repl::kKeyVersion;
    m[5] = initiator ? 1 : 2;
    std::memcpy(m.data() + 8, ephemeral_public.data(), ephemeral_public.size());
    wire.insert(wire.end(), m.begin(), m.end());
  }

  // From the peer's key message: the session keys. The standby then sends its secretstream header
  // and the empty message that proves its key at once; the primary only once the standby's proof
  // has opened, so that a standby with a wrong key learns nothing sealed by the primary. False
  // when the message is not a key message of the other role, or its ephemeral key is a low-order
  // point.
  bool accept_key_message(std::span<const std::uint8_t> m, std::vector<std::uint8_t>& wire) {
    if (get_u32(m.data()) != repl::kKeyMagic || m[4] != repl::kKeyVersion ||
        m[5] != (initiator ? 2 : 1) || m[6] != 0 || m[7] != 0) {
      return false;
    }
    std::array<std::uint8_t, 32> peer_ephemeral;
    std::memcpy(peer_ephemeral.data(), m.data() + 8, peer_ephemeral.size());
    // ee, then the initiator's ephemeral with the responder's static, then the initiator's static
    // with the responder's ephemeral: only the holders of both configured secrets agree.
    std::array<std::uint8_t, 3 * 32> dh{};
    const bool ok =
        crypto_scalarmult(dh.data(), ephemeral_secret.data(), peer_ephemeral.data()) == 0 &&
        (initiator
             ? crypto_scalarmult(dh.data() + 32, ephemeral_secret.data(), peer.bytes.data()) == 0 &&
                   crypto_scalarmult(dh.data() + 64, own.data(), peer_ephemeral.data()) == 0
             : crypto_scalarmult(dh.data() + 32, own.data(), peer_ephemeral.data()) == 0 &&
                   crypto_scalarmult(dh.data() + 64, ephemeral_secret.data(), peer.bytes.data()) ==
                       0);
    if (!ok) {
      sodium_memzero(dh.data(), dh.size());
      return false;
    }
    static constexpr std::string_view kLabel = "acd replication link v1";
    const auto& standby_static = initiator ? own_public.bytes : peer.bytes;
    const auto& primary_static = initiator ? peer.bytes : own_public.bytes;
    const auto& standby_ephemeral = initiator ? ephemeral_public : peer_ephemeral;
    const auto& primary_ephemeral = initiator ? peer_ephemeral : ephemeral_public;
    std::array<std::uint8_t, 64> keys{};
    crypto_generichash_state h;
    crypto_generichash_init(&h, nullptr, 0, keys.size());
    crypto_generichash_update(&h, reinterpret_cast<const unsigned char*>(kLabel.data()),
                              kLabel.size());
    for (const auto* part : {standby_static.data(), primary_static.data(), standby_ephemeral.data(),
                             primary_ephemeral.data()}) {
      crypto_generichash_update(&h, part, 32);
    }
    crypto_generichash_update(&h, dh.data(), dh.size());
    crypto_generichash_final(&h, keys.data(), keys.size());
    sodium_memzero(dh.data(), dh.size());
    sodium_memzero(&h, sizeof h);
    // The first half seals standby -> primary, the second primary -> standby.
    std::memcpy(tx_key.data(), keys.data() + (initiator ? 0 : 32), tx_key.size());
    std::memcpy(rx_key.data(), keys.data() + (initiator ? 32 : 0), rx_key.size());
    sodium_memzero(keys.data(), keys.size());
    if (initiator) {
      start_sending(wire);
    }
    return true;
  }

  // Our secretstream header, then the empty message that proves our key.
  void start_sending(std::vector<std::uint8_t>& wire) {
    std::array<std::uint8_t, crypto_secretstream_xchacha20poly1305_HEADERBYTES> header;
    crypto_secretstream_xchacha20poly1305_init_push(&tx, header.data(), tx_key.data());
    sodium_memzero(tx_key.data(), tx_key.size());
    wire.insert(wire.end(), header.begin(), header.end());
    tx_ready = true;
    seal(wire, {});
  }

  // Appends one sealed message carrying `plain` (at most kMaxSealedPlain bytes).
  void seal(std::vector<std::uint8_t>& wire, std::span<const std::uint8_t> plain) {
    const std::size_t sealed = plain.size() + crypto_secretstream_xchacha20poly1305_ABYTES;
    const std::size_t at = wire.size();
    wire.resize(at + 4 + sealed);
    put_u32(wire.data() + at, static_cast<std::uint32_t>(sealed));
    crypto_secretstream_xchacha20poly1305_push(&tx, wire.data() + at + 4, nullptr, plain.data(),
                                               plain.size(), nullptr, 0,
                                               crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  }

  bool initiator;
  secure::SecretKey own;
  secure::PublicKey own_public;
  secure::PublicKey peer;
  std::array<std::uint8_t, 32> ephemeral_secret{};
  std::array<std::uint8_t, 32> ephemeral_public{};
  std::array<std::uint8_t, 32> tx_key{};  // until start_sending
  std::array<std::uint8_t, 32> rx_key{};  // until the peer's header
  enum class Phase { AwaitKey, AwaitHeader, AwaitProof, Open } phase = Phase::AwaitKey;
  bool tx_ready = false;
  crypto_secretstream_xchacha20poly1305_state tx{};
  crypto_secretstream_xchacha20poly1305_state rx{};
  std::vector<std::uint8_t> wire_in =
      std::vector<std::uint8_t>(repl::kMaxSealedPlain + 4 + 1024 + (64u << 10));
  std::size_t wire_pos = 0;
  std::size_t wire_end = 0;
  std::vector<std::uint8_t> wire_out;
  std::size_t wire_out_pos = 0;
};

struct Connection {
  // `keys`: sealed, this end being the initiator (standby) or not; null: clear text.
  Connection(int socket, std::size_t receive_bytes, const LinkKeys* keys = nullptr,
             bool initiator = false)
      : fd(socket), in(receive_bytes) {
    out.reserve(64u << 10);
    if (keys != nullptr) {
      sealing = std::make_unique<Sealing>(*keys, initiator);
      sealing->put_key_message(sealing->wire_out);
    }
  }
  ~Connection() {
    if (fd >= 0) {
      close(fd);
    }
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  std::span<const std::uint8_t> pending_in() const { return {in.data() + in_pos, in_end - in_pos}; }

  // One recv(). >0: frame bytes added to `in`; 0: nothing new; -1: closed or failed, `error` says
  // why (peer_closed, or for a sealed link handshake_refused, auth_failed, bad_length).
  long read_some() {
    if (in_pos == in_end) {
      in_pos = in_end = 0;
    } else if (in.size() - in_end < repl::kMaxFrameBytes) {
      std::memmove(in.data(), in.data() + in_pos, in_end - in_pos);
      in_end -= in_pos;
      in_pos = 0;
    }
    if (sealing != nullptr) {
      return read_sealed();
    }
    if (in_end == in.size()) {
      return 0;
    }
    const ssize_t n = recv(fd, in.data() + in_end, in.size() - in_end, MSG_DONTWAIT);
    if (n > 0) {
      in_end += static_cast<std::size_t>(n);
      return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      return 0;
    }
    error = LinkCounter::peer_closed;
    return -1;
  }

  long fail(LinkCounter why) {
    error = why;
    return -1;
  }

  long read_sealed() {
    Sealing& s = *sealing;
    if (s.wire_pos == s.wire_end) {
      s.wire_pos = s.wire_end = 0;
    } else if (s.wire_in.size() - s.wire_end < (64u << 10)) {
      std::memmove(s.wire_in.data(), s.wire_in.data() + s.wire_pos, s.wire_end - s.wire_pos);
      s.wire_end -= s.wire_pos;
      s.wire_pos = 0;
    }
    if (s.wire_end < s.wire_in.size()) {
      const ssize_t n =
          recv(fd, s.wire_in.data() + s.wire_end, s.wire_in.size() - s.wire_end, MSG_DONTWAIT);
      if (n > 0) {
        s.wire_end += static_cast<std::size_t>(n);
        wire_received += static_cast<std::uint64_t>(n);
        heard = true;
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        return fail(LinkCounter::peer_closed);
      }
    }
    long added = 0;
    for (;;) {
      const std::span<const std::uint8_t> wire{s.wire_in.data() + s.wire_pos,
                                               s.wire_end - s.wire_pos};
      if (s.phase == Sealing::Phase::AwaitKey) {
        if (wire.size() < repl::kKeyMessageBytes) {
          break;
        }
        if (!s.accept_key_message(wire.first(repl::kKeyMessageBytes), s.wire_out)) {
          return fail(LinkCounter::handshake_refused);
        }
        s.wire_pos += repl::kKeyMessageBytes;
        s.phase = Sealing::Phase::AwaitHeader;
        continue;
      }
      if (s.phase == Sealing::Phase::AwaitHeader) {
        if (wire.size() < crypto_secretstream_xchacha20poly1305_HEADERBYTES) {
          break;
        }
        if (crypto_secretstream_xchacha20poly1305_init_pull(&s.rx, wire.data(), s.rx_key.data()) !=
            0) {
          return fail(LinkCounter::handshake_refused);
        }
        sodium_memzero(s.rx_key.data(), s.rx_key.size());
        s.wire_pos += crypto_secretstream_xchacha20poly1305_HEADERBYTES;
        s.phase = Sealing::Phase::AwaitProof;
        continue;
      }
      if (wire.size() < 4) {
        break;
      }
      const std::uint32_t sealed = get_u32(wire.data());
      const bool proof = s.phase == Sealing::Phase::AwaitProof;
      if (sealed < crypto_secretstream_xchacha20poly1305_ABYTES ||
          sealed > repl::kMaxSealedPlain + crypto_secretstream_xchacha20poly1305_ABYTES ||
          (proof && sealed != crypto_secretstream_xchacha20poly1305_ABYTES)) {
        return fail(proof ? LinkCounter::handshake_refused : LinkCounter::bad_length);
      }
      if (wire.size() < 4 + sealed) {
        break;
      }
      const std::size_t plain = sealed - crypto_secretstream_xchacha20poly1305_ABYTES;
      if (in.size() - in_end < plain) {
        break;  // the reader consumes what it has first
      }
      unsigned long long opened = 0;
      unsigned char tag = 0;
      if (crypto_secretstream_xchacha20poly1305_pull(&s.rx, in.data() + in_end, &opened, &tag,
                                                     wire.data() + 4, sealed, nullptr, 0) != 0 ||
          tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
        return fail(proof ? LinkCounter::handshake_refused : LinkCounter::auth_failed);
      }
      s.wire_pos += 4 + sealed;
      if (proof) {
        s.phase = Sealing::Phase::Open;
        proven = true;
        if (!s.tx_ready) {
          s.start_sending(s.wire_out);
        }
        continue;
      }
      in_end += plain;
      added += static_cast<long>(plain);
    }
    return added;
  }

  // One send() of everything unsent (sealed first when the link is sealed). >=0: bytes sent;
  // -1: the connection failed.
  long send_once() {
    if (sealing != nullptr) {
      return send_sealed();
    }
    const std::size_t unsent = out.size() - out_pos;
    if (unsent == 0) {
      return 0;
    }
    const ssize_t n = send(fd, out.data() + out_pos, unsent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    }
    out_pos += static_cast<std::size_t>(n);
    if (out_pos == out.size()) {
      out.clear();  // keeps the capacity
      out_pos = 0;
    } else if (out_pos >= out.size() / 2) {
      out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(out_pos));
      out_pos = 0;
    }
    return n;
  }

  long send_sealed() {
    Sealing& s = *sealing;
    if (s.tx_ready && out_pos < out.size()) {
      for (std::size_t at = out_pos; at < out.size(); at += repl::kMaxSealedPlain) {
        const std::size_t n = std::min(repl::kMaxSealedPlain, out.size() - at);
        s.seal(s.wire_out, {out.data() + at, n});
      }
      out.clear();
      out_pos = 0;
    }
    const std::size_t unsent = s.wire_out.size() - s.wire_out_pos;
    if (unsent == 0) {
      return 0;
    }
    const ssize_t n =
        send(fd, s.wire_out.data() + s.wire_out_pos, unsent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    }
    s.wire_out_pos += static_cast<std::size_t>(n);
    if (s.wire_out_pos == s.wire_out.size()) {
      s.wire_out.clear();
      s.wire_out_pos = 0;
    } else if (s.wire_out_pos >= s.wire_out.size() / 2) {
      s.wire_out.erase(s.wire_out.begin(),
                       s.wire_out.begin() + static_cast<std::ptrdiff_t>(s.wire_out_pos));
      s.wire_out_pos = 0;
    }
    return n;
  }

  std::size_t unsent() const {
    return out.size() - out_pos +
           (sealing != nullptr ? sealing->wire_out.size() - sealing->wire_out_pos : 0);
  }

  int fd = -1;
  std::vector<std::uint8_t> in;  // fixed size
  std::size_t in_pos = 0;
  std::size_t in_end = 0;
  std::vector<std::uint8_t> out;  // frames, in clear
  std::size_t out_pos = 0;
  std::unique_ptr<Sealing> sealing;  // null: clear text
  bool proven = false;               // sealed: the peer proved its key
  std::uint64_t wire_received = 0;
  bool heard = false;  // sealed: bytes arrived, frames or not (the key exchange counts as life)
  LinkCounter error = LinkCounter::peer_closed;
  LinkClock::time_point last_heard{};
  LinkClock::time_point last_sent{};
};

}  // namespace repl_detail

using repl_detail::Connection;

// ---------------------------------------------------------------- primary

// A connection waiting for its Hello (on a sealed link: its key exchange, then its Hello).
struct LinkPrimary::Candidate {
  Candidate(int socket, LinkClock::time_point now, const LinkKeys* keys)
      : conn(std::make_unique<Connection>(
            socket, keys != nullptr ? 2 * repl::kMaxFrameBytes : 64u << 10, keys, false)),
        since(now) {}
  std::unique_ptr<Connection> conn;
  LinkClock::time_point since;
};

LinkPrimary::LinkPrimary(int listen_fd, std::uint16_t port, LinkTiming timing, std::uint64_t epoch,
                         std::optional<LinkKeys> keys)
    : listen_fd_(listen_fd), port_(port), timing_(timing), epoch_(epoch), keys_(std::move(keys)) {}

LinkPrimary::~LinkPrimary() {
  if (listen_fd_ >= 0) {
    close(listen_fd_);
  }
}

std::unique_ptr<LinkPrimary> LinkPrimary::listen(const std::string& address, LinkTiming timing,
                                                 std::uint64_t epoch, std::string& why,
                                                 std::optional<LinkKeys> keys) {
  Endpoint at;
  if (!parse_endpoint(address, at)) {
    why = "replication listen address '" + address + "': expected a.b.c.d:port";
    return nullptr;
  }
  if (!valid_timing(timing, why)) {
    return nullptr;
  }
  if (keys && !secure::ensure_sodium()) {
    why = "replication link: libsodium cannot start";
    return nullptr;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = std::string("replication socket: ") + std::strerror(errno);
    return nullptr;
  }
  const int one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = at.address;
  sa.sin_port = at.port;
  socklen_t len = sizeof sa;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 8) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    why = "replication listen on " + address + ": " + std::strerror(errno);
    close(fd);
    return nullptr;
  }
  return std::unique_ptr<LinkPrimary>(
      new LinkPrimary(fd, ntohs(sa.sin_port), timing, epoch, std::move(keys)));
}

void LinkPrimary::set_epoch(std::uint64_t epoch) {
  epoch_ = epoch;
  if (standby_ != nullptr) {
    put_frame(FrameType::Heartbeat, u64_body(epoch_));
    counters_.bump(LinkCounter::heartbeats_sent);
  }
}

void LinkPrimary::announce_catch_up(std::uint64_t head) {
  if (standby_ == nullptr || !answered_) {
    return;
  }
  const auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  put_frame(FrameType::Head, two_u64_body(head, static_cast<std::uint64_t>(wall)));
}

void LinkPrimary::poll(LinkClock::time_point now) {
  now_ = now;
  if (now >= next_accept_) {
    accept_new(now);
    next_accept_ = now + std::chrono::milliseconds(1);
  }
  read_candidates(now);
  if (standby_ != nullptr) {
    read_standby(now);
  }
  if (standby_ != nullptr && now - standby_->last_heard > timing_.dead_after) {
    drop_standby(LinkCounter::peer_dead);
  }
  if (announce_head_ && answered_ && standby_ != nullptr && now - last_head_ >= timing_.heartbeat) {
    // Queued even behind a backlog: what reaches the follower says how old its newest news is.
    const auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    put_frame(FrameType::Head,
              two_u64_body(std::max(head_, last_seq_), static_cast<std::uint64_t>(wall)));
    last_head_ = now;
  }
  if (standby_ != nullptr && now - standby_->last_sent >= timing_.heartbeat) {
    if (standby_->unsent() == 0) {
      put_frame(FrameType::Heartbeat, u64_body(epoch_));
      counters_.bump(LinkCounter::heartbeats_sent);
    }
    flush();
  }
}

void LinkPrimary::accept_new(LinkClock::time_point now) {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      return;  // EAGAIN, or an aborted connection: nothing to serve
    }
    auto free_slot = std::find(candidates_.begin(), candidates_.end(), nullptr);
    if (free_slot == candidates_.end()) {
      close(fd);
      counters_.bump(LinkCounter::refused_connections);
      continue;
    }
    set_socket_options(fd);
    *free_slot = std::make_unique<Candidate>(fd, now, keys_ ? &*keys_ : nullptr);
  }
}

void LinkPrimary::read_candidates(LinkClock::time_point now) {
  for (std::size_t i = 0; i < candidates_.size(); ++i) {
    auto& c = candidates_[i];
    if (c == nullptr) {
      continue;
    }
    Connection& conn = *c->conn;
    const long n = conn.read_some();
    if (n < 0) {
      counters_.bump(conn.error);
      c.reset();
      continue;
    }
    if (n > 0) {
      counters_.bump(LinkCounter::bytes_received, static_cast<std::uint64_t>(n));
    }
    if (conn.send_once() < 0) {  // a sealed link's key exchange
      counters_.bump(LinkCounter::send_failed);
      c.reset();
      continue;
    }
    std::uint32_t length = 0;
    std::uint8_t type = 0;
    LinkCounter why{};
    const auto bytes = conn.pending_in();
    const Check check = check_header(bytes, true, length, type, why);
    if (check == Check::Ok || check == Check::NeedMore) {
      if (bytes.size() >= repl::kHeaderBytes &&
          type != static_cast<std::uint8_t>(FrameType::Hello)) {
        counters_.bump(LinkCounter::bad_type);  // a connection starts with its hello
        c.reset();
        continue;
      }
    }
    if (check == Check::Bad) {
      counters_.bump(why);
      c.reset();
    } else if (check == Check::Ok) {
      counters_.bump(LinkCounter::frames_received);
      const std::uint64_t applied = get_u64(bytes.data() + repl::kHeaderBytes);
      conn.in_pos += length;
      promote(i, applied, now);
    } else if (now - c->since > timing_.dead_after) {
      counters_.bump(LinkCounter::hello_timeouts);
      c.reset();
    }
  }
}

void LinkPrimary::promote(std::size_t candidate, std::uint64_t applied, LinkClock::time_point now) {
  if (standby_ != nullptr) {
    drop_standby(LinkCounter::standby_replaced);
  }
  auto& c = candidates_[candidate];
  standby_ = std::move(c->conn);
  c.reset();
  standby_->last_heard = now;
  standby_->last_sent = now;
  state_ = PeerState::CatchingUp;
  hello_pending_ = true;
  answered_ = false;
  target_due_ = false;
  catch_up_target_.reset();
  hello_seq_ = applied;
  acked_ = applied;
  last_seq_ = applied;
  records_frame_ = SIZE_MAX;
  reset_audit();
  history_request_.clear();
  history_request_due_ = false;
  marks_count_ = 0;
  hashes_count_ = 0;
  counters_.bump(LinkCounter::connections);
  if (ever_connected_) {
    counters_.bump(LinkCounter::reconnects);
  }
  ever_connected_ = true;
  put_frame(FrameType::Welcome, u64_body(epoch_));
  flush();
}

void LinkPrimary::read_standby(LinkClock::time_point now) {
  for (int round = 0; round < 4 && standby_ != nullptr; ++round) {
    for (;;) {  // what is already in (a hello may have come with more behind it), then new bytes
      const auto bytes = standby_->pending_in();
      std::uint32_t length = 0;
      std::uint8_t type = 0;
      LinkCounter why{};
      const Check check = check_header(bytes, true, length, type, why);
      if (check == Check::NeedMore) {
        break;
      }
      if (check == Check::Bad) {
        drop_standby(why);
        return;
      }
      if (type == static_cast<std::uint8_t>(FrameType::Hello)) {
        drop_standby(LinkCounter::bad_type);  // one hello per connection
        return;
      }
      standby_->in_pos += length;
      counters_.bump(LinkCounter::frames_received);
      if (!handle_frame(type, bytes.subspan(repl::kHeaderBytes, length - repl::kHeaderBytes),
                        now)) {
        drop_standby(LinkCounter::bad_sequence);
        return;
      }
    }
    const long n = standby_->read_some();
    if (n < 0) {
      drop_standby(standby_->error);
      return;
    }
    const bool heard = std::exchange(standby_->heard, false);
    if (heard) {
      standby_->last_heard = now;
    }
    if (n == 0 && !heard) {
      return;
    }
    counters_.bump(LinkCounter::bytes_received, static_cast<std::uint64_t>(n));
    standby_->last_heard = now;
  }
}

bool LinkPrimary::handle_frame(std::uint8_t type, std::span<const std::uint8_t> body,
                               LinkClock::time_point now) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::Heartbeat:
      counters_.bump(LinkCounter::heartbeats_received);
      return true;
    case FrameType::Ack: {
      const std::uint64_t seq = get_u64(body.data());
      if (seq < acked_ || seq > last_seq_) {
        return false;  // acknowledges what was never sent, or goes backwards
      }
      acked_ = seq;
      counters_.bump(LinkCounter::acks_received);
      while (marks_count_ > 0 && marks_[marks_head_].seq <= seq) {
        const auto waited = now - marks_[marks_head_].at;
        ack_latency_.record(static_cast<std::uint64_t>(
            std::max<std::int64_t>(0, std::chrono::nanoseconds(waited).count())));
        marks_head_ = (marks_head_ + 1) % kFlushMarks;
        --marks_count_;
      }
      check_synchronous();
      return true;
    }
    case FrameType::HashReport: {
      const std::uint64_t seq = get_u64(body.data());
      const std::uint64_t theirs = get_u64(body.data() + 8);
      while (hashes_count_ > 0 && hashes_[hashes_head_].seq < seq) {
        hashes_head_ = (hashes_head_ + 1) % hashes_.size();  // unanswered: the ring overflowed
        --hashes_count_;
      }
      if (hashes_count_ > 0 && hashes_[hashes_head_].seq == seq) {
        counters_.bump(LinkCounter::hash_checks);
        if (hashes_[hashes_head_].hash != theirs) {
          counters_.bump(LinkCounter::hash_mismatches);
          if (!mismatch_) {
            mismatch_ = seq;
          }
        }
        hashes_head_ = (hashes_head_ + 1) % hashes_.size();
        --hashes_count_;
      }
      return true;
    }
    case FrameType::AuditAck: {
      const std::uint64_t seq = get_u64(body.data());
      counters_.bump(LinkCounter::audit_acks_received);
      if (!audit_heard_) {  // where the standby's audit log stands: resume after it
        audit_heard_ = true;
        audit_pending_ = true;
        audit_sent_ = seq;
        audit_acked_ = seq;
        return true;
      }
      if (seq < audit_acked_ || seq > audit_sent_) {
        return false;  // goes backwards, or acknowledges what was never sent
      }
      audit_acked_ = seq;
      return true;
    }
    case FrameType::AuditFrom: {
      // Where the standby's copy of our chain stands: resume after it (at the connection's
      // start, or again after the standby found a gap). Records go out again after the
      // caller's restart_audit.
      const std::uint64_t seq = get_u64(body.data());
      counters_.bump(LinkCounter::audit_acks_received);
      audit_heard_ = true;
      audit_pending_ = true;
      audit_open_ = false;
      audit_sent_ = seq;
      audit_acked_ = seq;
      std::copy(body.begin() + 8, body.begin() + 40, audit_resume_hash_.begin());
      return true;
    }
    case FrameType::HistoryFetch:
      // Kept (a few bytes, at most one a connection normally); the shipper takes it.
      history_request_.assign(body.begin(), body.end());
      history_request_due_ = true;
      return true;
    default:
      return false;  // check_header let only the types above through
  }
}

void LinkPrimary::drop_standby(LinkCounter reason) {
  counters_.bump(reason);
  last_drop_ = reason;
  standby_.reset();
  state_ = PeerState::Dead;
  hello_pending_ = false;
  answered_ = false;
  target_due_ = false;
  records_frame_ = SIZE_MAX;
  reset_audit();
}

void LinkPrimary::check_synchronous() {
  if (state_ == PeerState::CatchingUp && catch_up_target_ && acked_ >= *catch_up_target_) {
    state_ = PeerState::Synchronous;
  }
}

std::optional<std::uint64_t> LinkPrimary::take_hello() {
  if (!hello_pending_) {
    return std::nullopt;
  }
  hello_pending_ = false;
  answered_ = true;
  target_due_ = true;
  return hello_seq_;
}

std::optional<std::uint64_t> LinkPrimary::hash_mismatch_seq() {
  return std::exchange(mismatch_, std::nullopt);
}

void LinkPrimary::reset_audit() {
  audit_heard_ = false;
  audit_pending_ = false;
  audit_open_ = false;
  audit_sent_ = 0;
  audit_acked_ = 0;
  audit_resume_hash_ = {};
  audit_frame_ = SIZE_MAX;
}

bool LinkPrimary::restart_audit(std::uint64_t after, const std::array<std::uint8_t, 32>& prev) {
  if (standby_ == nullptr || !audit_open_) {
    counters_.bump(LinkCounter::append_refused);
    return false;
  }
  std::array<std::uint8_t, 40> body{};
  put_u64(body.data(), after);
  std::copy(prev.begin(), prev.end(), body.begin() + 8);
  put_frame(FrameType::AuditRestart, body);
  audit_sent_ = after;
  audit_acked_ = std::min(audit_acked_, after);  // a new chain: the standby holds none of it
  return true;
}

std::optional<std::uint64_t> LinkPrimary::take_audit_resume() {
  if (!audit_pending_ || standby_ == nullptr) {
    return std::nullopt;
  }
  audit_pending_ = false;
  audit_open_ = true;
  return audit_sent_;
}

bool LinkPrimary::take_history_request(std::vector<std::uint8_t>& out) {
  if (!history_request_due_ || standby_ == nullptr) {
    return false;
  }
  history_request_due_ = false;
  out = history_request_;
  return true;
}

bool LinkPrimary::history_room() const {
  return standby_ != nullptr && standby_->unsent() < repl::kAuditMaxUnsentBytes;
}

bool LinkPrimary::send_history(std::span<const std::uint8_t> answer) {
  if (standby_ == nullptr || answer.empty() || answer.size() > kAny) {
    counters_.bump(LinkCounter::append_refused);
    return false;
  }
  put_frame(FrameType::HistoryRows, answer);
  return true;
}

bool LinkPrimary::audit_room() const {
  return standby_ != nullptr && audit_open_ && standby_->unsent() < repl::kAuditMaxUnsentBytes;
}

bool LinkPrimary::append_audit(std::uint64_t seq, std::span<const std::uint8_t> line) {
  if (standby_ == nullptr || !audit_open_ || seq <= audit_sent_ || line.empty() ||
      line.size() > repl::kMaxRecordPayload) {
    counters_.bump(LinkCounter::append_refused);
    return false;
  }
  auto& out = standby_->out;
  records_frame_ = SIZE_MAX;  // log records after this one need a frame of their own
  const std::size_t record = repl::kRecordHeaderBytes + line.size();
  if (audit_frame_ != SIZE_MAX &&
      get_u32(out.data() + audit_frame_) + record <= repl::kMaxFrameBytes) {
    put_u32(out.data() + audit_frame_,
            static_cast<std::uint32_t>(get_u32(out.data() + audit_frame_) + record));
  } else {
    audit_frame_ = put_header(out, FrameType::AuditRecords, record);
  }
  const std::size_t at = out.size();
  out.resize(at + repl::kRecordHeaderBytes);
  put_u64(out.data() + at, seq);
  put_u32(out.data() + at + 8, static_cast<std::uint32_t>(line.size()));
  out.insert(out.end(), line.begin(), line.end());
  audit_sent_ = seq;
  counters_.bump(LinkCounter::audit_records_sent);
  return true;
}

void LinkPrimary::put_frame(FrameType type, std::span<const std::uint8_t> body) {
  records_frame_ = SIZE_MAX;  // the records after this frame need a frame of their own
  audit_frame_ = SIZE_MAX;
  put_frame_into(standby_->out, type, body);
}

bool LinkPrimary::send_snapshot(std::uint64_t seq, std::span<const std::uint8_t> image) {
  if (standby_ == nullptr || !answered_ || image.size() > repl::kMaxSnapshotBytes) {
    counters_.bump(LinkCounter::append_refused);
    return false;
  }
  put_frame(FrameType::SnapshotBegin, two_u64_body(seq, image.size()));
  auto& out = standby_->out;
  for (std::size_t offset = 0; offset < image.size(); offset += repl::kSnapshotChunkBytes) {
    const std::size_t n = std::min(repl::kSnapshotChunkBytes, image.size() - offset);
    put_header(out, FrameType::SnapshotChunk, 8 + n);
    const auto at = u64_body(offset);
    out.insert(out.end(), at.begin(), at.end());
    out.insert(out.end(), image.begin() + static_cast<std::ptrdiff_t>(offset),
               image.begin() + static_cast<std::ptrdiff_t>(offset + n));
  }
  last_seq_ = seq;
  acked_ = std::min(acked_, seq);
  counters_.bump(LinkCounter::snapshots);
  return true;
}

bool LinkPrimary::append(std::uint64_t seq, std::span<const std::uint8_t> payload) {
  if (standby_ == nullptr || !answered_ || seq != last_seq_ + 1 ||
      payload.size() > repl::kMaxRecordPayload) {
    counters_.bump(LinkCounter::append_refused);
    return false;
  }
  if (standby_->unsent() > repl::kMaxUnsentBytes) {
    drop_standby(LinkCounter::too_slow);
    counters_.bump(LinkCounter::append_refused);
    return false;
  }
  auto& out = standby_->out;
  audit_frame_ = SIZE_MAX;  // audit records after this one need a frame of their own
  const std::size_t record = repl::kRecordHeaderBytes + payload.size();
  if (records_frame_ != SIZE_MAX &&
      get_u32(out.data() + records_frame_) + record <= repl::kMaxFrameBytes) {
    put_u32(out.data() + records_frame_,
            static_cast<std::uint32_t>(get_u32(out.data() + records_frame_) + record));
  } else {
    records_frame_ = put_header(out, FrameType::Records, record);
  }
  const std::size_t at = out.size();
  out.resize(at + repl::kRecordHeaderBytes);
  put_u64(out.data() + at, seq);
  put_u32(out.data() + at + 8, static_cast<std::uint32_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
  last_seq_ = seq;
  counters_.bump(LinkCounter::records_sent);
  return true;
}

bool LinkPrimary::send_hash(std::uint64_t seq, std::uint64_t state_hash) {
  if (standby_ == nullptr || !answered_ || seq != last_seq_) {
    counters_.bump(LinkCounter::append_refused);
    return false;
  }
  if (hashes_count_ == hashes_.size()) {
    hashes_head_ = (hashes_head_ + 1) % hashes_.size();  // forget the oldest unanswered
    --hashes_count_;
  }
  hashes_[(hashes_head_ + hashes_count_) % hashes_.size()] = {seq, state_hash};
  ++hashes_count_;
  put_frame(FrameType::HashCheck, two_u64_body(seq, state_hash));
  return true;
}

void LinkPrimary::flush() {
  if (standby_ == nullptr) {
    return;
  }
  records_frame_ = SIZE_MAX;  // its header may leave with this send
  audit_frame_ = SIZE_MAX;
  if (target_due_) {
    target_due_ = false;
    catch_up_target_ = last_seq_;
    check_synchronous();
  }
  const std::size_t newest =
      marks_count_ == 0 ? acked_ : marks_[(marks_head_ + marks_count_ - 1) % kFlushMarks].seq;
  if (last_seq_ > newest) {
    if (marks_count_ == kFlushMarks) {
      marks_head_ = (marks_head_ + 1) % kFlushMarks;  // the oldest goes unsampled
      --marks_count_;
    }
    marks_[(marks_head_ + marks_count_) % kFlushMarks] = {last_seq_, now_};
    ++marks_count_;
  }
  const long n = standby_->send_once();
  if (n < 0) {
    drop_standby(LinkCounter::send_failed);
    return;
  }
  if (n > 0) {
    counters_.bump(LinkCounter::bytes_sent, static_cast<std::uint64_t>(n));
    standby_->last_sent = now_;
  }
}

// ---------------------------------------------------------------- standby

LinkStandby::LinkStandby(std::uint32_t address, std::uint16_t port, LinkTiming timing,
                         std::optional<LinkKeys> keys)
    : address_(address), port_(port), timing_(timing), keys_(std::move(keys)) {}

LinkStandby::~LinkStandby() = default;

std::unique_ptr<LinkStandby> LinkStandby::create(const std::string& primary_address,
                                                 LinkTiming timing, std::string& why,
                                                 std::optional<LinkKeys> keys) {
  Endpoint at;
  if (!parse_endpoint(primary_address, at) || at.port == 0) {
    why = "replication primary address '" + primary_address + "': expected a.b.c.d:port";
    return nullptr;
  }
  if (!valid_timing(timing, why)) {
    return nullptr;
  }
  if (keys && !secure::ensure_sodium()) {
    why = "replication link: libsodium cannot start";
    return nullptr;
  }
  return std::unique_ptr<LinkStandby>(
      new LinkStandby(at.address, at.port, timing, std::move(keys)));
}

int LinkStandby::socket_fd() const {
  return conn_ != nullptr ? conn_->fd : -1;
}

int LinkPrimary::standby_socket() const {
  return standby_ != nullptr ? standby_->fd : -1;
}

bool LinkStandby::primary_alive() const {
  return conn_ != nullptr && !connecting_ && welcomed_;
}

bool LinkStandby::begin_poll(LinkClock::time_point now) {
  now_ = now;
  if (conn_ == nullptr && now >= next_attempt_) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      counters_.bump(LinkCounter::connect_failed);
      next_attempt_ = now + timing_.heartbeat;
      return false;
    }
    set_socket_options(fd);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = address_;
    sa.sin_port = port_;
    conn_ =
        std::make_unique<Connection>(fd, 2 * repl::kMaxFrameBytes, keys_ ? &*keys_ : nullptr, true);
    connect_started_ = now;
    connecting_ = true;
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
      disconnect(LinkCounter::connect_failed, now);
      return false;
    }
  }
  if (conn_ != nullptr && connecting_) {
    pollfd p{conn_->fd, POLLOUT, 0};
    if (::poll(&p, 1, 0) == 1) {
      int error = 0;
      socklen_t len = sizeof error;
      if (getsockopt(conn_->fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
        disconnect(LinkCounter::connect_failed, now);
        return false;
      }
      connecting_ = false;
      welcomed_ = false;
      in_snapshot_ = false;
      awaiting_catch_up_ = false;
      caught_up_data_ = false;
      record_pos_ = record_end_ = 0;
      conn_->last_heard = now;
      conn_->last_sent = now;
      counters_.bump(LinkCounter::connections);
      if (ever_connected_) {
        counters_.bump(LinkCounter::reconnects);
      }
      ever_connected_ = true;
      put_frame(FrameType::Hello, u64_body(applied_));
      acked_sent_ = applied_;
      ack_due_ = false;
      if (audit_sink_ != nullptr) {
        // Where our copy of the primary's audit log stands: it resumes after that.
        audit_from_due_ = true;  // sent at the end of the poll, once the sink knows
        audit_resent_ = false;
        audit_last_ = 0;
        audit_acked_sent_ = 0;
      }
    } else if (now - connect_started_ > timing_.dead_after) {
      disconnect(LinkCounter::connect_failed, now);
      return false;
    }
  }
  return conn_ != nullptr && !connecting_;
}

bool LinkStandby::receive() {
  if (conn_ == nullptr || connecting_) {
    return false;
  }
  const long n = conn_->read_some();
  if (n < 0) {
    disconnect(conn_->error, now_);
    return false;
  }
  // Sealed: bytes may have come without a whole message (the key exchange, part of one); that is
  // life too, and the rest may be waiting: read on.
  const bool heard = std::exchange(conn_->heard, false);
  if (n > 0) {
    counters_.bump(LinkCounter::bytes_received, static_cast<std::uint64_t>(n));
  }
  if (n > 0 || heard) {
    conn_->last_heard = now_;
    return true;
  }
  return false;
}

bool LinkStandby::protocol_error(LinkCounter reason) {
  disconnect(reason, now_);
  return false;
}

bool LinkStandby::next_event(Event& e) {
  for (;;) {
    if (conn_ == nullptr) {
      return false;
    }
    if (record_pos_ < record_end_) {
      const std::uint8_t* r = conn_->in.data() + record_pos_;
      const std::uint32_t n = get_u32(r + 8);
      e = {EventKind::Record, get_u64(r), 0, {r + repl::kRecordHeaderBytes, n}};
      record_pos_ += repl::kRecordHeaderBytes + n;
      return true;
    }
    const auto bytes = conn_->pending_in();
    std::uint32_t length = 0;
    std::uint8_t type = 0;
    LinkCounter why{};
    const Check check = check_header(bytes, false, length, type, why);
    if (check == Check::NeedMore) {
      return false;
    }
    if (check == Check::Bad) {
      return protocol_error(why);
    }
    const std::size_t frame_at = conn_->in_pos;
    const auto body = bytes.subspan(repl::kHeaderBytes, length - repl::kHeaderBytes);
    conn_->in_pos += length;
    counters_.bump(LinkCounter::frames_received);
    const auto kind = static_cast<FrameType>(type);
    if (kind != FrameType::Welcome && !welcomed_) {
      return protocol_error(LinkCounter::bad_sequence);  // the primary answers hello first
    }
    switch (kind) {
      case FrameType::Welcome:
        if (welcomed_) {
          return protocol_error(LinkCounter::bad_sequence);
        }
        welcomed_ = true;
        epoch_ = get_u64(body.data());
        break;
      case FrameType::Heartbeat:
        epoch_ = get_u64(body.data());
        counters_.bump(LinkCounter::heartbeats_received);
        break;
      case FrameType::Records: {
        if (in_snapshot_) {
          return protocol_error(LinkCounter::bad_sequence);
        }
        caught_up_data_ = true;  // what catches us up flows: silence means dead again
        awaiting_catch_up_ = false;
        // The whole frame is checked before its first record is delivered.
        std::uint64_t expect = applied_ + 1;
        std::size_t at = 0;
        while (at < body.size()) {
          if (body.size() - at < repl::kRecordHeaderBytes) {
            return protocol_error(LinkCounter::bad_body);
          }
          const std::uint32_t n = get_u32(body.data() + at + 8);
          if (n > body.size() - at - repl::kRecordHeaderBytes) {
            return protocol_error(LinkCounter::bad_body);
          }
          if (get_u64(body.data() + at) != expect) {
            return protocol_error(LinkCounter::bad_sequence);
          }
          ++expect;
          at += repl::kRecordHeaderBytes + n;
        }
        record_pos_ = frame_at + repl::kHeaderBytes;
        record_end_ = frame_at + length;
        break;
      }
      case FrameType::SnapshotBegin: {
        const std::uint64_t total = get_u64(body.data() + 8);
        if (in_snapshot_ || total > repl::kMaxSnapshotBytes) {
          return protocol_error(LinkCounter::bad_sequence);
        }
        caught_up_data_ = true;
        awaiting_catch_up_ = false;
        snapshot_.clear();
        snapshot_seq_ = get_u64(body.data());
        snapshot_total_ = total;
        in_snapshot_ = true;
        if (total == 0) {
          in_snapshot_ = false;
          e = {EventKind::Snapshot, snapshot_seq_, 0, {snapshot_.data(), 0}};
          return true;
        }
        break;
      }
      case FrameType::SnapshotChunk: {
        const std::uint64_t offset = get_u64(body.data());
        const auto chunk = body.subspan(8);
        if (!in_snapshot_ || offset != snapshot_.size() ||
            chunk.size() > snapshot_total_ - snapshot_.size()) {
          return protocol_error(LinkCounter::bad_sequence);
        }
        snapshot_.insert(snapshot_.end(), chunk.begin(), chunk.end());
        if (snapshot_.size() == snapshot_total_) {
          in_snapshot_ = false;
          e = {EventKind::Snapshot, snapshot_seq_, 0, {snapshot_.data(), snapshot_.size()}};
          return true;
        }
        break;
      }
      case FrameType::AuditRecords: {
        if (audit_sink_ == nullptr) {
          return protocol_error(LinkCounter::bad_type);  // never asked for
        }
        // The whole frame is checked before its first record is delivered.
        std::uint64_t last = audit_last_;
        std::size_t at = 0;
        while (at < body.size()) {
          if (body.size() - at < repl::kRecordHeaderBytes) {
            return protocol_error(LinkCounter::bad_body);
          }
          const std::uint32_t n = get_u32(body.data() + at + 8);
          if (n == 0 || n > body.size() - at - repl::kRecordHeaderBytes) {
            return protocol_error(LinkCounter::bad_body);
          }
          const std::uint64_t seq = get_u64(body.data() + at);
          if (seq <= last) {
            return protocol_error(LinkCounter::bad_sequence);
          }
          last = seq;
          at += repl::kRecordHeaderBytes + n;
        }
        for (at = 0; at < body.size();) {
          const std::uint32_t n = get_u32(body.data() + at + 8);
          audit_sink_->on_audit_line(get_u64(body.data() + at),
                                     body.subspan(at + repl::kRecordHeaderBytes, n));
          counters_.bump(LinkCounter::audit_records_received);
          at += repl::kRecordHeaderBytes + n;
        }
        audit_last_ = last;
        break;
      }
      case FrameType::AuditRestart: {
        if (audit_sink_ == nullptr) {
          return protocol_error(LinkCounter::bad_type);  // never asked for
        }
        std::array<std::uint8_t, 32> prev{};
        std::copy(body.begin() + 8, body.begin() + 40, prev.begin());
        audit_last_ = get_u64(body.data());
        audit_acked_sent_ = std::min(audit_acked_sent_, audit_last_);
        audit_sink_->on_audit_restart(audit_last_, prev);
        audit_resent_ = false;
        break;
      }
      case FrameType::HistoryRows: {
        // The answer to our request if it begins with its bytes; one to an older request (sent
        // again on a new connection, answered twice) is dropped.
        if (history_fetch_ == nullptr) {
          return protocol_error(LinkCounter::bad_type);  // never asked for
        }
        const auto& asked = history_asked_;
        if (asked != nullptr && history_sent_ && body.size() >= asked->request.size() &&
            std::equal(asked->request.begin(), asked->request.end(), body.begin())) {
          asked->answer.assign(body.begin(), body.end());  // capacity reserved by the asker
          history_fetch_->answered(std::move(history_asked_));
          history_sent_ = false;
        }
        break;
      }
      case FrameType::Head:
        head_seq_ = get_u64(body.data());
        head_wall_ns_ = get_u64(body.data() + 8);
        awaiting_catch_up_ = !caught_up_data_ && head_seq_ != applied_;
        break;
      case FrameType::HashCheck:
        if (in_snapshot_) {
          return protocol_error(LinkCounter::bad_sequence);
        }
        e = {EventKind::HashCheck, get_u64(body.data()), get_u64(body.data() + 8), {}};
        return true;
      default:
        return protocol_error(LinkCounter::bad_type);  // check_header let only the above through
    }
  }
}

void LinkStandby::answer_hash(std::uint64_t seq, std::uint64_t theirs, std::uint64_t ours) {
  if (conn_ == nullptr) {
    return;
  }
  counters_.bump(LinkCounter::hash_checks);
  if (theirs != ours) {
    counters_.bump(LinkCounter::hash_mismatches);
  }
  put_frame(FrameType::HashReport, two_u64_body(seq, ours));
}

void LinkStandby::send_audit_from(const AuditPosition& position) {
  std::array<std::uint8_t, 40> body{};
  put_u64(body.data(), position.seq);
  std::copy(position.hash.begin(), position.hash.end(), body.begin() + 8);
  put_frame(FrameType::AuditFrom, body);
  audit_last_ = position.seq;
  audit_acked_sent_ = position.seq;
  counters_.bump(LinkCounter::audit_acks_sent);
}

void LinkStandby::put_frame(FrameType type, std::span<const std::uint8_t> body) {
  put_frame_into(conn_->out, type, body);
}

void LinkStandby::end_poll(LinkClock::time_point now) {
  if (conn_ == nullptr || connecting_) {
    return;
  }
  // Applied, and durable if the journal says how far that is; sent again as the journal catches up.
  const std::uint64_t ackable = std::min(applied_, durable_);
  if (ack_due_ && ackable > acked_sent_) {
    put_frame(FrameType::Ack, u64_body(ackable));
    acked_sent_ = ackable;
    counters_.bump(LinkCounter::acks_sent);
  }
  if (acked_sent_ >= applied_) {
    ack_due_ = false;
  }
  if (audit_sink_ != nullptr) {
    if (audit_from_due_) {
      // Where our copy of the primary's audit log stands: it resumes after that.
      if (const auto position = audit_sink_->audit_position()) {
        send_audit_from(*position);
        audit_from_due_ = false;
      }
    } else if (const auto resend = audit_sink_->take_audit_resend()) {
      send_audit_from(*resend);  // a gap or a broken chain: ask again from what we hold
      audit_resent_ = true;  // no acknowledgement until the primary's restart: it reset its count
    }
    // What our audit log holds, but never beyond what this connection carried: the primary
    // refuses an acknowledgement of records it did not send.
    const std::uint64_t held = std::min(audit_sink_->audit_held(), audit_last_);
    if (!audit_from_due_ && !audit_resent_ && held > audit_acked_sent_) {
      put_frame(FrameType::AuditAck, u64_body(held));
      audit_acked_sent_ = held;
      counters_.bump(LinkCounter::audit_acks_sent);
    }
  }
  if (history_fetch_ != nullptr) {
    if (history_asked_ == nullptr) {
      history_asked_ = history_fetch_->take_ask();
      history_sent_ = false;
    }
    if (history_asked_ != nullptr && !history_sent_ && welcomed_ &&
        !history_asked_->request.empty() &&
        history_asked_->request.size() <= HistoryFetchChannel::kMaxRequestBytes) {
      put_frame(FrameType::HistoryFetch, history_asked_->request);
      history_sent_ = true;
    }
  }
  if (conn_->unsent() == 0 && now - conn_->last_sent >= timing_.heartbeat) {
    put_frame(FrameType::Heartbeat, u64_body(applied_));
    counters_.bump(LinkCounter::heartbeats_sent);
  }
  const long n = conn_->send_once();
  if (n < 0) {
    disconnect(LinkCounter::send_failed, now);
    return;
  }
  if (n > 0) {
    counters_.bump(LinkCounter::bytes_sent, static_cast<std::uint64_t>(n));
    conn_->last_sent = now;
  }
  const auto silence =
      awaiting_catch_up_ ? std::max(timing_.dead_after, timing_.catch_up_wait) : timing_.dead_after;
  if (now - conn_->last_heard > silence) {
    disconnect(LinkCounter::peer_dead, now);
  }
}

void LinkStandby::disconnect(LinkCounter reason, LinkClock::time_point now) {
  counters_.bump(reason);
  conn_.reset();
  connecting_ = false;
  welcomed_ = false;
  history_sent_ = false;  // asked again on the next connection
  in_snapshot_ = false;
  snapshot_.clear();
  record_pos_ = record_end_ = 0;
  next_attempt_ = now + timing_.heartbeat;
}

}  // namespace acd::dataplane
