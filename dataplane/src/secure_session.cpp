// ACDP/2 data datagrams: drop reason names, the replay window, sealing and opening.
#include "acd/dataplane/secure_session.hpp"

#include <sodium.h>

#include <cassert>
#include <cstring>
#include <new>

#include "acd/dataplane/secure_keys.hpp"

namespace acd::dataplane::secure {

std::string_view drop_reason_name(DropReason r) {
  static constexpr std::string_view kNames[] = {"none",
#define ACD_X(name, label, help) label,
                                                ACD_SECURITY_DROP_REASONS(ACD_X)
#undef ACD_X
  };
  const auto i = static_cast<std::size_t>(r);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

std::string_view drop_reason_help(DropReason r) {
  static constexpr std::string_view kHelp[] = {"not dropped",
#define ACD_X(name, label, help) help,
                                               ACD_SECURITY_DROP_REASONS(ACD_X)
#undef ACD_X
  };
  const auto i = static_cast<std::size_t>(r);
  return i < std::size(kHelp) ? kHelp[i] : "unknown";
}

bool aead_available(Aead aead) {
  if (!ensure_sodium()) {
    return false;
  }
  return aead == Aead::ChaCha20Poly1305 || crypto_aead_aes256gcm_is_available() == 1;
}

SessionKeys::~SessionKeys() {
  sodium_memzero(client_to_server.data(), client_to_server.size());
  sodium_memzero(server_to_client.data(), server_to_client.size());
}

// ---- Replay window --------------------------------------------------------------------------

DropReason ReplayWindow::check(std::uint64_t counter) const {
  if (counter >= kLimit) {
    return DropReason::Malformed;
  }
  if (counter >= next_) {
    return DropReason::None;  // beyond everything accepted so far
  }
  if (next_ - counter > kWindow) {
    return DropReason::Stale;
  }
  const std::uint64_t word = bits_[(counter / 64) % kWords];
  return (word >> (counter % 64)) & 1u ? DropReason::Replayed : DropReason::None;
}

DropReason ReplayWindow::accept(std::uint64_t counter) {
  const DropReason r = check(counter);
  if (r != DropReason::None) {
    return r;
  }
  if (counter >= next_) {
    // Slide: clear the words between the old highest's word and the new one's (all, at most).
    const std::uint64_t new_word = counter / 64;
    const std::uint64_t old_word = next_ == 0 ? new_word : (next_ - 1) / 64;
    if (next_ == 0 || new_word - old_word >= kWords) {
      bits_.fill(0);
    } else {
      for (std::uint64_t w = old_word + 1; w <= new_word; ++w) {
        bits_[w % kWords] = 0;
      }
    }
    next_ = counter + 1;
  }
  bits_[(counter / 64) % kWords] |= std::uint64_t{1} << (counter % 64);
  return DropReason::None;
}

// ---- Header ---------------------------------------------------------------------------------

Peeked peek(std::span<const std::uint8_t> datagram) {
  Peeked p;
  Header h;
  if (datagram.size() < sizeof h) {
    p.reason = DropReason::Malformed;
    return p;
  }
  std::memcpy(&h, datagram.data(), sizeof h);
  if (h.magic != wire::kMagic || h.version != kVersion || h.length != datagram.size()) {
    p.reason = DropReason::Malformed;
    return p;
  }
  p.index = h.index;
  switch (h.kind) {
    case static_cast<std::uint8_t>(Kind::HandshakeInit):
    case static_cast<std::uint8_t>(Kind::HandshakeResponse):
    case static_cast<std::uint8_t>(Kind::CookieReply):
      p.handshake = true;
      p.kind = static_cast<Kind>(h.kind);
      return p;
    default:
      break;
  }
  if (h.kind == 0 || h.kind > wire::kMaxMessages || datagram.size() < kDataOverhead) {
    p.reason = DropReason::Malformed;
  }
  return p;
}

// ---- Sealing and opening ----------------------------------------------------------------------

struct SessionCipher::AesState {
  crypto_aead_aes256gcm_state state;  // libsodium aligns the type (16 bytes)
};

namespace {

void counter_nonce(std::uint64_t counter, std::uint8_t (&nonce)[12]) {
  std::memset(nonce, 0, 4);
  std::memcpy(nonce + 4, &counter, 8);  // little-endian host (wire.hpp)
}

}  // namespace

SessionCipher::SessionCipher(const SessionKeys& keys, Side side, Aead aead) : aead_(aead) {
  assert(aead_available(aead));
  ensure_sodium();
  send_key_ = side == Side::Client ? keys.client_to_server : keys.server_to_client;
  receive_key_ = side == Side::Client ? keys.server_to_client : keys.client_to_server;
  if (aead_ == Aead::Aes256Gcm) {
    aes_send_ = std::make_unique<AesState>();
    aes_receive_ = std::make_unique<AesState>();
    crypto_aead_aes256gcm_beforenm(&aes_send_->state, send_key_.data());
    crypto_aead_aes256gcm_beforenm(&aes_receive_->state, receive_key_.data());
  }
}

SessionCipher::~SessionCipher() {
  sodium_memzero(send_key_.data(), send_key_.size());
  sodium_memzero(receive_key_.data(), receive_key_.size());
  if (aes_send_) {
    sodium_memzero(aes_send_.get(), sizeof(AesState));
    sodium_memzero(aes_receive_.get(), sizeof(AesState));
  }
}

std::size_t SessionCipher::seal(const DataHeader& header, std::span<const std::uint8_t> plaintext,
                                std::span<std::uint8_t> out) {
  const std::size_t total = plaintext.size() + kDataOverhead;
  if (header.count == 0 || header.count > wire::kMaxMessages || total > wire::kMaxDatagram ||
      out.size() < total || send_counter_ > kMaxCounter) {
    return 0;
  }
  const Header h{wire::kMagic, kVersion,    header.count, static_cast<std::uint16_t>(total),
                 header.index, header.epoch};
  std::uint8_t* p = out.data();
  std::memcpy(p, &h, sizeof h);
  const std::uint64_t counter = send_counter_++;
  std::memcpy(p + sizeof h, &counter, kCounterBytes);
  std::uint8_t nonce[12];
  counter_nonce(counter, nonce);
  std::uint8_t* cipher = p + sizeof h + kCounterBytes;
  std::uint8_t* tag = cipher + plaintext.size();
  if (aead_ == Aead::ChaCha20Poly1305) {
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(cipher, tag, nullptr, plaintext.data(),
                                                       plaintext.size(), p, sizeof h, nullptr,
                                                       nonce, send_key_.data());
  } else {
    crypto_aead_aes256gcm_encrypt_detached_afternm(cipher, tag, nullptr, plaintext.data(),
                                                   plaintext.size(), p, sizeof h, nullptr, nonce,
                                                   &aes_send_->state);
  }
  return total;
}

Opened SessionCipher::open(std::span<const std::uint8_t> datagram,
                           std::span<std::uint8_t> plaintext_out) {
  Opened o;
  const Peeked p = peek(datagram);
  if (p.reason != DropReason::None || p.handshake ||
      plaintext_out.size() < datagram.size() - kDataOverhead) {
    o.reason = DropReason::Malformed;
    return o;
  }
  Header h;
  std::memcpy(&h, datagram.data(), sizeof h);
  std::uint64_t counter = 0;
  std::memcpy(&counter, datagram.data() + sizeof h, kCounterBytes);
  o.reason = window_.check(counter);
  if (o.reason != DropReason::None) {
    return o;
  }
  const std::size_t text = datagram.size() - kDataOverhead;
  const std::uint8_t* cipher = datagram.data() + sizeof h + kCounterBytes;
  const std::uint8_t* tag = cipher + text;
  std::uint8_t nonce[12];
  counter_nonce(counter, nonce);
  const int rc = aead_ == Aead::ChaCha20Poly1305
                     ? crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                           plaintext_out.data(), nullptr, cipher, text, tag, datagram.data(),
                           sizeof h, nonce, receive_key_.data())
                     : crypto_aead_aes256gcm_decrypt_detached_afternm(
                           plaintext_out.data(), nullptr, cipher, text, tag, datagram.data(),
                           sizeof h, nonce, &aes_receive_->state);
  if (rc != 0) {
    o.reason = DropReason::BadTag;
    return o;
  }
  o.reason = window_.accept(counter);
  if (o.reason != DropReason::None) {
    return o;  // unreachable on one thread: check() passed just above
  }
  o.plaintext = plaintext_out.first(text);
  o.header = DataHeader{h.kind, h.index, h.epoch};
  o.counter = counter;
  return o;
}

}  // namespace acd::dataplane::secure
