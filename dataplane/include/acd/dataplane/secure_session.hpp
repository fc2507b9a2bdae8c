// ACDP/2 data datagrams: a session's two keys, sealing and opening datagrams with an AEAD
// (ChaCha20-Poly1305-IETF, or AES-256-GCM where the CPU has it), and the replay window.
// The handshake that makes the keys is in secure_handshake.hpp.
//
// Hot path: seal() and open() neither allocate, lock nor throw; they write into the caller's
// buffers and return a length or a DropReason. A SessionCipher belongs to one thread (the IO
// thread): its send counter and replay window are not synchronised.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "acd/dataplane/secure_wire.hpp"

namespace acd::dataplane::secure {

// Which AEAD protects data datagrams; both ends of a session must use the same (configuration).
enum class Aead : std::uint8_t { ChaCha20Poly1305, Aes256Gcm };
// AES-256-GCM needs AES-NI and PCLMUL (libsodium's crypto_aead_aes256gcm_is_available).
bool aead_available(Aead aead);

// The keys one handshake produced; wiped when destroyed.
struct SessionKeys {
  std::array<std::uint8_t, kKeyBytes> client_to_server{};
  std::array<std::uint8_t, kKeyBytes> server_to_client{};
  SessionKeys() = default;
  SessionKeys(const SessionKeys&) = default;
  SessionKeys& operator=(const SessionKeys&) = default;
  ~SessionKeys();
};

enum class Side : std::uint8_t { Client, Server };

// Counters a receiver has accepted, RFC 6479 style: a ring of 64-bit words, one bit per counter,
// covering the kWindow counters up to the highest accepted. Each counter is accepted once; one
// below the window is Stale. No allocation; 280 bytes.
class ReplayWindow {
 public:
  static constexpr std::uint64_t kWindow = 2048;
  // Counters at or above this are refused (Malformed): a sender stops well before (kMaxCounter).
  static constexpr std::uint64_t kLimit = std::uint64_t{1} << 62;

  // DropReason::None if `counter` may be accepted; Replayed, Stale or Malformed otherwise.
  // Changes nothing: call it before spending a decryption.
  DropReason check(std::uint64_t counter) const;
  // check(), and on None marks `counter` accepted. Call it only once the datagram is authentic.
  DropReason accept(std::uint64_t counter);

 private:
  static constexpr std::size_t kWords =
      kWindow / 64 + 1;  // one spare word: the window slides by words
  std::array<std::uint64_t, kWords> bits_{};
  std::uint64_t next_ = 0;  // highest accepted + 1; 0 = none yet
};

// The fields of a data datagram's header the sender chooses.
struct DataHeader {
  std::uint8_t count = 0;   // messages in the plaintext, 1..64
  std::uint32_t index = 0;  // acd's session index
  std::uint32_t epoch = 0;  // from acd: its epoch; from a client: 0
};

// What a datagram is, read from its header alone (no key needed): how the IO thread routes it to
// the handshake worker or to a session's open().
struct Peeked {
  DropReason reason = DropReason::None;  // Malformed if the header is not ACDP/2's
  bool handshake = false;                // a HandshakeInit / Response / CookieReply
  Kind kind{};                           // when handshake
  std::uint32_t index = 0;               // header.index
};
Peeked peek(std::span<const std::uint8_t> datagram);

struct Opened {
  DropReason reason = DropReason::None;
  std::span<const std::uint8_t> plaintext;  // the messages, inside the caller's buffer
  DataHeader header;                        // as received (authenticated)
  std::uint64_t counter = 0;
};

// One direction pair of one session: seals what this side sends, opens what the other sends.
class SessionCipher {
 public:
  // A sender stops sealing at this counter (the session must be renewed by a handshake long
  // before: at 10^6 datagrams/s that is 36,000 years).
  static constexpr std::uint64_t kMaxCounter = ReplayWindow::kLimit - 1;

  // `side` picks which key seals and which opens. Precondition: aead_available(aead).
  SessionCipher(const SessionKeys& keys, Side side, Aead aead);
  ~SessionCipher();
  SessionCipher(const SessionCipher&) = delete;
  SessionCipher& operator=(const SessionCipher&) = delete;

  // Writes the datagram for `plaintext` (count messages, already encoded back to back) into `out`
  // and returns its length: plaintext.size() + kDataOverhead. Returns 0, sealing nothing, if `out`
  // is too small, the datagram would exceed wire::kMaxDatagram, count is 0 or above 64, or the
  // counter is exhausted. `out` must not overlap `plaintext`.
  std::size_t seal(const DataHeader& header, std::span<const std::uint8_t> plaintext,
                   std::span<std::uint8_t> out);

  // Checks and decrypts a data datagram into `plaintext_out` (at least datagram.size() -
  // kDataOverhead bytes): either a buffer of its own, or the datagram's own bytes from offset 24,
  // the ciphertext's place (decryption in place); no other overlap.
  // Drops: Malformed (header, length, count), Stale / Replayed (replay window), BadTag (forged,
  // damaged or another session's). The window moves only for an authentic datagram. The caller
  // has matched header.index to this session (peek()).
  Opened open(std::span<const std::uint8_t> datagram, std::span<std::uint8_t> plaintext_out);

  std::uint64_t next_send_counter() const { return send_counter_; }
  Aead aead() const { return aead_; }

 private:
  struct AesState;  // libsodium's precomputed AES-GCM key schedule (aligned, 512 bytes)
  Aead aead_;
  std::array<std::uint8_t, kKeyBytes> send_key_{};
  std::array<std::uint8_t, kKeyBytes> receive_key_{};
  std::unique_ptr<AesState> aes_send_;
  std::unique_ptr<AesState> aes_receive_;
  std::uint64_t send_counter_ = 0;
  ReplayWindow window_;
};

}  // namespace acd::dataplane::secure
