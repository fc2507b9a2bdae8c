// Static X25519 keys of ACDP/2 peers: generating them, reading and writing the secret key file,
// the base64 form of public keys in acd.toml. Control-plane code (start-up, acdctl); any thread.
// Every function returns a clear error and changes nothing on bad input; none throws.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "acd/dataplane/secure_wire.hpp"

namespace acd::dataplane::secure {

// libsodium's sodium_init, once per process; false if the library cannot start (no entropy).
// Every constructor and function of the session layer calls it; calling it again is cheap.
bool ensure_sodium();

struct PublicKey {
  std::array<std::uint8_t, kKeyBytes> bytes{};
  bool operator==(const PublicKey&) const = default;
};

// A secret key: wiped when destroyed; never printed.
class SecretKey {
 public:
  SecretKey() = default;
  explicit SecretKey(const std::uint8_t (&bytes)[kKeyBytes]);
  SecretKey(const SecretKey& other);
  SecretKey& operator=(const SecretKey& other);
  ~SecretKey();
  const std::uint8_t* data() const { return bytes_.data(); }
  std::uint8_t* data() { return bytes_.data(); }

 private:
  std::array<std::uint8_t, kKeyBytes> bytes_{};
};

struct StaticKeyPair {
  SecretKey secret;
  PublicKey public_key;
};

// A fresh key pair from the system's random source.
StaticKeyPair generate_key_pair();
// The public half of a secret key.
PublicKey public_key_of(const SecretKey& secret);

// Base64 (standard alphabet, padded: 44 characters) of a public key.
std::string to_base64(const PublicKey& key);
// The key, or nullopt unless `text` is base64 of exactly 32 bytes (surrounding spaces ignored).
std::optional<PublicKey> public_key_from_base64(std::string_view text);

// Loading a secret key: the key pair, or why not.
struct [[nodiscard]] KeyFileResult {
  std::optional<StaticKeyPair> keys;
  std::string error;  // set when !keys: names the file and what to do
  bool ok() const { return keys.has_value(); }
};

// Reads a secret key file: 32 raw bytes, or their base64 (one line). The file must be a regular
// file owned by root or by the calling process's user, with no permission for others and none to
// write for the group (0600 or 0640, 0400/0440): anything else is refused, with a message saying
// what is wrong and how to fix it. The key read is wiped from every buffer it passed through.
KeyFileResult load_secret_key_file(const std::string& path);

// Writes `secret` as base64 to a new file `path` created with mode 0600 (an existing file is not
// replaced). Returns "" or why not.
[[nodiscard]] std::string write_secret_key_file(const std::string& path, const SecretKey& secret);

}  // namespace acd::dataplane::secure
