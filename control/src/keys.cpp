// Key pairs and secret key files for ACDP/2 (libsodium).
#include "acd/control/keys.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace acd::control {

namespace {

void init_sodium() {
  if (sodium_init() < 0) {
    std::abort();  // no random source: nothing secure can be made; an impossible state in tests
  }
}

// All of `text` to the file `fd`; false on an error (errno says which).
bool write_all_to_file(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Root, the user reading (acdd's own, or an admin's acdctl), or the acd service user.
bool trusted_owner(uid_t owner) {
  if (owner == 0 || owner == geteuid()) {
    return true;
  }
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  return getpwnam_r("acd", &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr &&
         found->pw_uid == owner;
}

}  // namespace

KeyPair generate_key_pair() {
  init_sodium();
  static_assert(crypto_kx_PUBLICKEYBYTES == kPublicKeyBytes &&
                crypto_kx_SECRETKEYBYTES == kPublicKeyBytes);
  KeyPair pair;
  crypto_kx_keypair(pair.public_key.data(), pair.secret_key.data());
  return pair;
}

PublicKey public_key_of(const SecretKey& secret) {
  init_sodium();
  static_assert(crypto_scalarmult_BYTES == kPublicKeyBytes);
  PublicKey pub{};
  crypto_scalarmult_base(pub.data(), secret.data());
  return pub;
}

std::string key_to_base64(const std::array<std::uint8_t, kPublicKeyBytes>& key) {
  std::string out(sodium_base64_ENCODED_LEN(kPublicKeyBytes, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), key.data(), key.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<std::array<std::uint8_t, kPublicKeyBytes>> key_from_base64(std::string_view text) {
  std::array<std::uint8_t, kPublicKeyBytes> key{};
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(key.data(), key.size(), text.data(), text.size(), nullptr, &length, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      length != kPublicKeyBytes || end != text.data() + text.size()) {
    sodium_memzero(key.data(), key.size());
    return std::nullopt;
  }
  return key;
}

Result<void> write_secret_key_file(const std::string& path, const SecretKey& secret) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return Failure{ControlError::Refused,
                   path + ": " + std::strerror(errno) +
                       (errno == EEXIST ? " (a key file is never overwritten; remove it first "
                                          "if it is really no longer used)"
                                        : "")};
  }
  std::string line = key_to_base64(secret) + "\n";
  // The mode asked for is filtered by the umask; make it exactly 0600.
  const bool written = fchmod(fd, 0600) == 0 && write_all_to_file(fd, line) && fsync(fd) == 0;
  const int error = errno;
  sodium_memzero(line.data(), line.size());
  close(fd);
  if (!written) {
    unlink(path.c_str());
    return Failure{ControlError::Refused, path + ": " + std::strerror(error)};
  }
  return {};
}

Result<SecretKey> read_secret_key_file(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Failure{ControlError::Refused, path + ": " + std::strerror(errno)};
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Failure{ControlError::Refused, path + ": not a regular file"};
  }
  if (!trusted_owner(st.st_uid)) {
    close(fd);
    return Failure{ControlError::Refused,
                   path + ": owned by uid " + std::to_string(st.st_uid) +
                       ", who could replace the key; chown it to root or acd"};
  }
  if ((st.st_mode & 0137) != 0) {
    close(fd);
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Failure{ControlError::Refused, path + ": mode " + mode +
                                              " lets others read or change the secret key; "
                                              "chmod 0600 it (or 0640 for acdd's group)"};
  }
  char buffer[128];
  ssize_t n = read(fd, buffer, sizeof(buffer));
  close(fd);
  std::string_view text(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
  SecretKey secret{};
  bool ok = false;
  if (text.size() == kPublicKeyBytes) {  // the raw bytes
    std::memcpy(secret.data(), text.data(), kPublicKeyBytes);
    ok = true;
  } else {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
      text.remove_suffix(1);
    }
    if (const auto key = key_from_base64(text)) {
      secret = *key;
      ok = true;
    }
  }
  sodium_memzero(buffer, sizeof(buffer));
  if (!ok) {
    return Failure{ControlError::Refused,
                   path +
                       ": not a key file (one line of base64 holding 32 bytes; "
                       "acdctl key generate writes one)"};
  }
  return secret;
}

}  // namespace acd::control
