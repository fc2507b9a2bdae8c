// X25519 key pairs for ACDP/2 (docs/security.md "Keys and clients"): generation with libsodium's
// crypto_kx_keypair, keys as base64 text, and secret key files — one line of base64, mode 0600,
// never overwritten. acdctl's `key generate` and `client add` use these; acdd reads its own key
// file with read_secret_key_file.
//
// Thread-safety: pure functions and file I/O on the caller's thread; sodium_init is called once
// by each function that needs it (it is itself thread-safe).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "acd/control/config.hpp"
#include "acd/control/result.hpp"

namespace acd::control {

using SecretKey = std::array<std::uint8_t, kPublicKeyBytes>;

struct KeyPair {
  PublicKey public_key{};
  SecretKey secret_key{};
};

// A fresh key pair from the system's random source (crypto_kx_keypair).
KeyPair generate_key_pair();

// The public key that belongs to `secret` (X25519 with the base point, as crypto_kx_keypair
// derives it).
PublicKey public_key_of(const SecretKey& secret);

// Standard base64 with padding (44 characters for 32 bytes).
std::string key_to_base64(const std::array<std::uint8_t, kPublicKeyBytes>& key);
// A key from its base64 text; nullopt unless it is exactly 32 bytes of valid base64 (nothing
// before or after it).
std::optional<std::array<std::uint8_t, kPublicKeyBytes>> key_from_base64(std::string_view text);

// Writes `secret` as one line of base64 to a NEW file `path`, mode 0600, flushed to disk.
// Refused (ControlError::Refused, nothing written) when `path` exists — a key is never
// overwritten — or cannot be created (the message names the path and the system's reason).
Result<void> write_secret_key_file(const std::string& path, const SecretKey& secret);

// Reads a secret key file: one line of base64 (or the 32 raw bytes). Refused with the reason when
// it cannot be read, is not a key, other users may read it or anyone but its owner may write it
// (mode 0600 or 0640 only), or its owner is not root, the reading user or the acd user.
Result<SecretKey> read_secret_key_file(const std::string& path);

}  // namespace acd::control
