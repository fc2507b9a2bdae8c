// Static X25519 keys: generation, the secret key file (its permission checks), base64 of public
// keys.
#include "acd/dataplane/secure_keys.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace acd::dataplane::secure {

bool ensure_sodium() {
  static const bool ready = sodium_init() >= 0;  // thread-safe once; sodium_init is idempotent
  return ready;
}

SecretKey::SecretKey(const std::uint8_t (&bytes)[kKeyBytes]) {
  std::memcpy(bytes_.data(), bytes, kKeyBytes);
}
SecretKey::SecretKey(const SecretKey& other) : bytes_(other.bytes_) {}
SecretKey& SecretKey::operator=(const SecretKey& other) {
  bytes_ = other.bytes_;
  return *this;
}
SecretKey::~SecretKey() {
  sodium_memzero(bytes_.data(), bytes_.size());
}

PublicKey public_key_of(const SecretKey& secret) {
  ensure_sodium();
  PublicKey p;
  crypto_scalarmult_base(p.bytes.data(), secret.data());
  return p;
}

StaticKeyPair generate_key_pair() {
  ensure_sodium();
  StaticKeyPair pair;
  randombytes_buf(pair.secret.data(), kKeyBytes);
  pair.public_key = public_key_of(pair.secret);
  return pair;
}

std::string to_base64(const PublicKey& key) {
  ensure_sodium();
  char text[sodium_base64_ENCODED_LEN(kKeyBytes, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(text, sizeof text, key.bytes.data(), key.bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  return text;
}

namespace {

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// Exactly 32 bytes of base64 into `out`; false otherwise.
bool decode_key(std::string_view text, std::uint8_t* out) {
  ensure_sodium();
  text = trim(text);
  std::uint8_t buf[kKeyBytes + 3];
  std::size_t len = 0;
  const char* end = nullptr;
  const bool ok = sodium_base642bin(buf, sizeof buf, text.data(), text.size(), nullptr, &len, &end,
                                    sodium_base64_VARIANT_ORIGINAL) == 0 &&
                  end == text.data() + text.size() && len == kKeyBytes;
  if (ok) {
    std::memcpy(out, buf, kKeyBytes);
  }
  sodium_memzero(buf, sizeof buf);
  return ok;
}

std::string octal(unsigned mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", mode & 07777u);
  return text;
}

}  // namespace

std::optional<PublicKey> public_key_from_base64(std::string_view text) {
  PublicKey key;
  if (!decode_key(text, key.bytes.data())) {
    return std::nullopt;
  }
  return key;
}

KeyFileResult load_secret_key_file(const std::string& path) {
  ensure_sodium();
  KeyFileResult result;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    result.error = "key file " + path + ": cannot open: " + std::strerror(errno);
    return result;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    result.error = "key file " + path + ": cannot stat: " + std::strerror(errno);
    ::close(fd);
    return result;
  }
  if (!S_ISREG(st.st_mode)) {
    result.error = "key file " + path + ": not a regular file";
  } else if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    result.error = "key file " + path + ": owned by uid " + std::to_string(st.st_uid) +
                   ", must be owned by root or by this process's user (uid " +
                   std::to_string(::geteuid()) + ")";
  } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    result.error = "key file " + path + ": mode " + octal(st.st_mode) +
                   " lets others change the key; chmod 0600 (or 0640) it";
  } else if ((st.st_mode & (S_IROTH | S_IXOTH)) != 0) {
    result.error = "key file " + path + ": mode " + octal(st.st_mode) +
                   " lets everyone read the key; chmod 0600 (or 0640) it, and make a new key";
  }
  if (!result.error.empty()) {
    ::close(fd);
    return result;
  }
  // Raw 32 bytes, or base64 of them (44 characters and a newline, maybe spaces): read a little more
  // than either to tell a longer file.
  char buf[128];
  std::size_t got = 0;
  while (got < sizeof buf) {
    const ssize_t n = ::read(fd, buf + got, sizeof buf - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      if (n < 0) {
        result.error = "key file " + path + ": cannot read: " + std::strerror(errno);
      }
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (result.error.empty()) {
    StaticKeyPair pair;
    if (got == kKeyBytes) {
      std::memcpy(pair.secret.data(), buf, kKeyBytes);
      result.keys = pair;
    } else if (got < sizeof buf && decode_key(std::string_view(buf, got), pair.secret.data())) {
      result.keys = pair;
    } else {
      result.error = "key file " + path + ": not a key (32 bytes, or their base64 on one line); " +
                     std::to_string(got) + (got == sizeof buf ? "+" : "") + " bytes";
    }
    if (result.keys) {
      result.keys->public_key = public_key_of(result.keys->secret);
    }
  }
  sodium_memzero(buf, sizeof buf);
  return result;
}

std::string write_secret_key_file(const std::string& path, const SecretKey& secret) {
  ensure_sodium();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) {
    return "key file " + path + ": cannot create: " + std::strerror(errno);
  }
  char text[sodium_base64_ENCODED_LEN(kKeyBytes, sodium_base64_VARIANT_ORIGINAL) + 1];
  sodium_bin2base64(text, sizeof text - 1, secret.data(), kKeyBytes,
                    sodium_base64_VARIANT_ORIGINAL);
  std::size_t len = std::strlen(text);
  text[len++] = '\n';
  std::string error;
  // The umask may have taken bits away, never added any; make the mode exact anyway.
  if (::fchmod(fd, 0600) != 0) {
    error = "key file " + path + ": cannot chmod: " + std::strerror(errno);
  }
  std::size_t written = 0;
  while (error.empty() && written < len) {
    const ssize_t n = ::write(fd, text + written, len - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      error = "key file " + path + ": cannot write: " + std::strerror(errno);
      break;
    }
    written += static_cast<std::size_t>(n);
  }
  if (error.empty() && ::fsync(fd) != 0) {
    error = "key file " + path + ": cannot sync: " + std::strerror(errno);
  }
  sodium_memzero(text, sizeof text);
  ::close(fd);
  if (!error.empty()) {
    ::unlink(path.c_str());
  }
  return error;
}

}  // namespace acd::dataplane::secure
