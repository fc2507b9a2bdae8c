// Session tokens: minting and checking (session_token.hpp).
#include "acd/dataplane/session_token.hpp"

#include <sodium.h>

#include <chrono>
#include <cstring>

namespace acd::dataplane {

namespace {

constexpr std::int64_t kDay = 86400;
constexpr char kContext[] = "acd session token 1";

void put_le(crypto_generichash_state& st, std::uint64_t v, int bytes) {
  std::uint8_t b[8];
  for (int i = 0; i < bytes; ++i) {
    b[i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  crypto_generichash_update(&st, b, static_cast<unsigned long long>(bytes));
}

}  // namespace

std::int64_t SystemWallClock::unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view describe(TokenCheck c) {
  switch (c) {
    case TokenCheck::Valid:
      return "valid";
    case TokenCheck::Expired:
      return "expired";
    case TokenCheck::TooLong:
      return "expiry beyond one day";
    case TokenCheck::Revoked:
      return "revoked";
    case TokenCheck::Forged:
      return "forged";
    case TokenCheck::Malformed:
      return "malformed";
  }
  return "unknown";
}

SessionTokens::SessionTokens(const TokenKey& key, std::string site, std::uint32_t day_end_s)
    : key_(key), site_(std::move(site)), day_end_s_(day_end_s % static_cast<std::uint32_t>(kDay)) {}

std::int64_t SessionTokens::expiry_for(std::int64_t now_s) const {
  // The day ends at day_end_s_ + k * kDay; the first such instant strictly after now_s.
  const std::int64_t since = now_s - day_end_s_;
  std::int64_t days = since / kDay;
  if (since % kDay < 0) {
    --days;  // floor for instants before the epoch's first day end
  }
  return day_end_s_ + (days + 1) * kDay;
}

void SessionTokens::mac(router::AgentNumber agent, std::int64_t expires, std::uint32_t generation,
                        std::uint8_t (&out)[wire::kTokenMacBytes]) const {
  crypto_generichash_state st;
  crypto_generichash_init(&st, key_.data(), key_.size(), sizeof(out));
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kContext),
                            sizeof(kContext));
  put_le(st, agent, 8);
  put_le(st, static_cast<std::uint64_t>(expires), 8);
  put_le(st, generation, 4);
  put_le(st, site_.size(), 4);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(site_.data()),
                            site_.size());
  crypto_generichash_final(&st, out, sizeof(out));
  sodium_memzero(&st, sizeof(st));
}

wire::TokenProof SessionTokens::mint(router::AgentNumber agent, std::uint32_t generation,
                                     std::int64_t now_s) const {
  wire::TokenProof p{};
  p.expires = static_cast<std::uint64_t>(expiry_for(now_s));
  p.generation = generation;
  mac(agent, static_cast<std::int64_t>(p.expires), generation, p.mac);
  return p;
}

TokenCheck SessionTokens::check(router::AgentNumber agent, const wire::TokenProof& proof,
                                std::uint32_t generation, std::int64_t now_s) const {
  if (proof.reserved != 0) {
    return TokenCheck::Malformed;
  }
  std::uint8_t expected[wire::kTokenMacBytes];
  const auto expires = static_cast<std::int64_t>(proof.expires);
  mac(agent, expires, proof.generation, expected);
  const bool authentic = sodium_memcmp(expected, proof.mac, sizeof(expected)) == 0;
  sodium_memzero(expected, sizeof(expected));
  if (!authentic) {
    return TokenCheck::Forged;
  }
  if (expires <= now_s) {
    return TokenCheck::Expired;
  }
  if (expires > now_s + kDay) {
    return TokenCheck::TooLong;
  }
  if (proof.generation != generation) {
    return TokenCheck::Revoked;
  }
  return TokenCheck::Valid;
}

}  // namespace acd::dataplane
