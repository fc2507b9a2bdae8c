// acd-loadgen's ACDP/2 side (docs/protocol.md, "ACDP/2"): one identity per client it plays (its
// switches and each agent's desktop), read from a keys directory, a handshake per client, and the
// seal / open of every datagram. The load generator keeps numbering its clients as it does in
// clear text; here each local client number maps to its identity's session, so the rest of the
// tool does not change.
//
// Keys directory: DIR/<name>.key, each a secret key file (secure_keys.hpp: base64, mode 0600),
// names lg-switch-<k> (k = 0..31) and lg-desk-<agent ID>. `acd-loadgen --write-keys DIR` makes the
// files that are missing and writes DIR/clients.toml, the [[clients]] blocks to add to acd.toml.
//
// Thread-safety: one thread (the load generator's). Not for the hot path of acdd: it allocates
// while setting up, never per datagram.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "acd/dataplane/codec.hpp"
#include "acd/dataplane/secure_handshake.hpp"
#include "acd/dataplane/secure_keys.hpp"
#include "acd/dataplane/secure_session.hpp"

namespace acd::loadgen {

namespace secure = acd::dataplane::secure;
namespace wire = acd::dataplane::wire;

// A client the load generator plays: its local number (the one it numbers requests by), the name
// of its identity, the role acd.toml must give it.
struct Identity {
  std::uint32_t local = 0;
  std::string name;
  const char* role = "switch";
};

// Makes DIR (0700) and DIR/<name>.key for each identity that has none (existing keys are kept),
// and writes DIR/clients.toml with every identity's [[clients]] block. "" or why not.
inline std::string write_identities(const std::string& dir, const std::vector<Identity>& ids) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return dir + ": " + std::strerror(errno);
  }
  std::ostringstream toml;
  toml << "# acd-loadgen's clients: add these to acd.toml (security.mode = \"required\").\n";
  for (const Identity& id : ids) {
    const std::string path = dir + "/" + id.name + ".key";
    secure::KeyFileResult loaded = secure::load_secret_key_file(path);
    if (!loaded.ok()) {
      struct stat st {};
      if (stat(path.c_str(), &st) == 0) {
        return loaded.error;  // there, but unusable: never replaced
      }
      const secure::StaticKeyPair pair = secure::generate_key_pair();
      if (std::string e = secure::write_secret_key_file(path, pair.secret); !e.empty()) {
        return e;
      }
      loaded = secure::load_secret_key_file(path);
      if (!loaded.ok()) {
        return loaded.error;
      }
    }
    toml << "\n[[clients]]\nname = \"" << id.name << "\"\nrole = \"" << id.role
         << "\"\npublic_key = \"" << secure::to_base64(loaded.keys->public_key) << "\"\n";
  }
  std::ofstream out(dir + "/clients.toml");
  out << toml.str();
  out.close();
  return out ? "" : dir + "/clients.toml: cannot write it";
}

// acd's public key from a file holding its base64 (one line, as acdctl key generate prints it).
inline std::optional<secure::PublicKey> read_public_key_file(const std::string& path,
                                                             std::string& why) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    why = path + ": cannot read it";
    return std::nullopt;
  }
  auto key = secure::public_key_from_base64(line);
  if (!key) {
    why = path + ": not the base64 of a 32-byte public key";
  }
  return key;
}

class SecureClients {
 public:
  // Sends one datagram to the node (the caller's socket).
  using Send = std::function<void(std::span<const std::uint8_t>)>;

  // `aead`: the data datagrams' AEAD, as acdd's [security] aead says (both sides alike).
  SecureClients(secure::PublicKey server, Send send,
                secure::Aead aead = secure::Aead::ChaCha20Poly1305)
      : server_(server), send_(std::move(send)), aead_(aead) {}

  // Loads DIR/<name>.key for each identity. "" or why not.
  std::string load(const std::string& dir, const std::vector<Identity>& ids) {
    for (const Identity& id : ids) {
      secure::KeyFileResult loaded = secure::load_secret_key_file(dir + "/" + id.name + ".key");
      if (!loaded.ok()) {
        return loaded.error + " (acd-loadgen --write-keys " + dir + " makes the missing keys)";
      }
      auto c = std::make_unique<Client>();
      c->initiator = std::make_unique<secure::Initiator>(*loaded.keys, server_, id.local);
      clients_[id.local] = std::move(c);
    }
    return "";
  }

  // When the node has sent nothing authentic for this long while datagrams to it wait, every
  // client handshakes again (a restarted acd knows no session and never answers a datagram it
  // cannot open; a desktop that only waits for offers would not notice by itself). A client
  // whose own datagrams have gone kClientSilenceNs unanswered while the node answers others (its
  // session forgotten alone, after an idle time) handshakes again by itself: longer, as a
  // sign-in's password check may be slow.
  static constexpr std::uint64_t kSilenceNs = 1'000'000'000;
  static constexpr std::uint64_t kClientSilenceNs = 5'000'000'000;

  // Sends an init for every client without a session (again, when called again: a fresh one).
  void handshake_missing(std::uint64_t now) {
    for (auto& [local, c] : clients_) {
      if (!c->cipher) {
        send_init(*c, now);
      }
    }
  }
  // Sends a new init for every client with a session that is `rekey_after_ns` old, or silent as
  // above; the session in hand stays in use until acd answers (docs/protocol.md, "Session
  // lifetime"). At most one init per client per kSilenceNs.
  // `now` may be older than a wait's start (the caller read its clock before it sealed the
  // datagram that started the wait): that wait has lasted no time, never "2^64 ns".
  void renew(std::uint64_t now, std::uint64_t rekey_after_ns) {
    const bool node_silent = waiting_since_ns_ != 0 && now >= waiting_since_ns_ + kSilenceNs;
    for (auto& [local, c] : clients_) {
      if (!c->cipher || now < c->last_init_ns + kSilenceNs) {
        continue;
      }
      const bool unheard =
          c->unanswered_since_ns != 0 && now >= c->unanswered_since_ns + kClientSilenceNs;
      const bool old = now > c->established_ns && now - c->established_ns >= rekey_after_ns;
      if (node_silent || unheard || old) {
        ++renewals_;
        send_init(*c, now);
      }
    }
  }
  std::size_t established() const { return established_; }
  // New handshakes of clients that had a session (renew()), and sessions they made so.
  std::uint64_t renewals() const { return renewals_; }
  std::uint64_t renewed() const { return renewed_; }
  std::size_t size() const { return clients_.size(); }
  std::uint64_t dropped() const { return dropped_; }

  // Seals an ACDP/1 datagram of client `local` (as DatagramWriter made it) into `out`; its
  // length, 0 if the client has no session yet (nothing to send).
  // `now`: the monotonic clock, ns (starts the client's wait for an answer).
  std::size_t seal(std::uint32_t local, std::span<const std::uint8_t> acdp1,
                   std::span<std::uint8_t> out, std::uint64_t now) {
    const auto it = clients_.find(local);
    if (it == clients_.end() || !it->second->cipher) {
      ++dropped_;
      return 0;
    }
    if (it->second->unanswered_since_ns == 0) {
      it->second->unanswered_since_ns = now;
    }
    if (waiting_since_ns_ == 0) {
      waiting_since_ns_ = now;
    }
    wire::DatagramHeader h;
    std::memcpy(&h, acdp1.data(), sizeof h);
    return it->second->cipher->seal(secure::DataHeader{h.count, it->second->index, 0},
                                    acdp1.subspan(sizeof h), out);
  }

  // A datagram from acd: handshake answers are taken here (empty result); a data datagram opens
  // into `scratch` as the ACDP/1 datagram the tool reads (client_id = the local number). Anything
  // that does not open is dropped (empty, counted).
  std::span<const std::uint8_t> receive(std::span<const std::uint8_t> d,
                                        std::span<std::uint8_t> scratch, std::uint64_t now) {
    const secure::Peeked p = secure::peek(d);
    if (p.reason != secure::DropReason::None) {
      ++dropped_;
      return {};
    }
    if (p.handshake) {
      on_handshake(p, d, now);
      return {};
    }
    const auto at = by_index_.find(p.index);
    if (at == by_index_.end()) {
      ++dropped_;
      return {};
    }
    Client& c = *clients_.at(at->second);
    constexpr std::size_t kHead = sizeof(wire::DatagramHeader);
    const secure::Opened o = c.cipher->open(d, scratch.subspan(kHead));
    if (o.reason != secure::DropReason::None) {
      ++dropped_;
      return {};
    }
    c.unanswered_since_ns = 0;
    waiting_since_ns_ = 0;
    const wire::DatagramHeader h{
        wire::kMagic,   wire::kVersion,
        o.header.count, static_cast<std::uint16_t>(kHead + o.plaintext.size()),
        at->second,     o.header.epoch};
    std::memcpy(scratch.data(), &h, kHead);
    return scratch.first(kHead + o.plaintext.size());
  }

 private:
  struct Client {
    std::unique_ptr<secure::Initiator> initiator;
    std::unique_ptr<secure::SessionCipher> cipher;
    std::uint32_t index = 0;
    std::uint64_t established_ns = 0;       // the session in hand was made
    std::uint64_t unanswered_since_ns = 0;  // first datagram sent since acd last answered; 0: none
    std::uint64_t last_init_ns = 0;         // the last init sent
  };

  static std::uint64_t wall_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  }
  void send_init(Client& c, std::uint64_t now) {
    std::uint8_t init[sizeof(secure::HandshakeInit)];
    if (c.initiator->make_init(wall_ns(), now, init) == sizeof init) {
      c.last_init_ns = now;
      send_(init);
    }
  }
  void on_handshake(const secure::Peeked& p, std::span<const std::uint8_t> d, std::uint64_t now) {
    // Both answers name the init's sender index: the client's local number.
    std::uint32_t receiver = p.index;
    if (p.kind == secure::Kind::HandshakeResponse && d.size() >= 20) {
      std::memcpy(&receiver, d.data() + 16, 4);
    }
    const auto it = clients_.find(receiver);
    if (it == clients_.end()) {
      ++dropped_;
      return;
    }
    Client& c = *it->second;
    if (p.kind == secure::Kind::CookieReply) {
      if (c.initiator->consume_cookie(d, now) == secure::DropReason::None) {
        send_init(c, now);  // acd is under load: again, with the cookie
      } else {
        ++dropped_;
      }
      return;
    }
    secure::Initiator::Established e = c.initiator->consume_response(d);
    if (e.reason != secure::DropReason::None) {
      ++dropped_;
      return;
    }
    if (!c.cipher) {
      ++established_;
    } else {
      by_index_.erase(c.index);
      ++renewed_;
    }
    c.cipher = std::make_unique<secure::SessionCipher>(e.keys, secure::Side::Client, aead_);
    c.index = e.session_index;
    c.established_ns = now;
    c.unanswered_since_ns = 0;  // waiting requests go again over the new session
    waiting_since_ns_ = 0;
    by_index_[c.index] = receiver;
  }

  secure::PublicKey server_;
  Send send_;
  secure::Aead aead_;
  std::unordered_map<std::uint32_t, std::unique_ptr<Client>> clients_;
  std::unordered_map<std::uint32_t, std::uint32_t> by_index_;  // session index -> local number
  std::size_t established_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t renewals_ = 0;
  std::uint64_t renewed_ = 0;
  std::uint64_t waiting_since_ns_ = 0;  // first datagram sent since the node last answered; 0: none
};

}  // namespace acd::loadgen
