// Per-day session tokens: after one verified sign-in a desktop may sign its agent in again with a
// token instead of the password (docs/protocol.md "Session tokens", dataplane/DESIGN.md).
//
// A token is a keyed BLAKE2b MAC over (agent ID, expiry, site, the agent's token generation) under
// a 32-byte key both nodes of a pair read from the same key file, so a token minted by one node
// verifies on the other after a takeover. Checking one costs a hash, never an argon2id: the IO
// thread does it in line. Revocation is the generation: the IO stage keeps one per agent, bumped by
// inputs of the sequenced log (sign-out, forced logout, RecordKind::TokenRevoke), so both nodes
// hold the same table and refuse the same tokens.
//
// Thread-safety: immutable after construction; mint() and check() are pure and may be called from
// any thread. No allocation after construction.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "acd/dataplane/wire.hpp"
#include "acd/router/types.hpp"

namespace acd::dataplane {

inline constexpr std::size_t kTokenKeyBytes = 32;
using TokenKey = std::array<std::uint8_t, kTokenKeyBytes>;

// Why a presented token was refused (or Valid). One list for the counter names and texts.
enum class TokenCheck : std::uint8_t {
  Valid,
  Expired,    // its day is over (expiry at or before now)
  TooLong,    // it claims an expiry more than a day ahead: not one this key minted
  Revoked,    // its generation is not the agent's current one
  Forged,     // the MAC does not match (wrong key, wrong agent, wrong site, altered fields)
  Malformed,  // non-zero reserved bytes
};
std::string_view describe(TokenCheck c);

// Unix time in seconds, for token expiry (injected: tests move it, acdd reads the system clock).
class WallClock {
 public:
  virtual ~WallClock() = default;
  virtual std::int64_t unix_seconds() = 0;
};
class SystemWallClock final : public WallClock {
 public:
  std::int64_t unix_seconds() override;
};

class SessionTokens {
 public:
  // `day_end_s`: seconds after 00:00 UTC at which every token of a day expires (0..86399; larger
  // values are taken modulo a day). `site`: the site's name, bound into every MAC so that a token
  // of one site is refused at another that happens to share the key.
  SessionTokens(const TokenKey& key, std::string site, std::uint32_t day_end_s);

  // The expiry a token minted at `now_s` (Unix seconds) gets: the next day end strictly after it.
  std::int64_t expiry_for(std::int64_t now_s) const;
  // A token for `agent` at `generation`, minted at `now_s`.
  wire::TokenProof mint(router::AgentNumber agent, std::uint32_t generation,
                        std::int64_t now_s) const;
  // Whether `proof` is a valid token of `agent` at `now_s` when the agent's generation is
  // `generation`. Constant-time in the MAC comparison.
  TokenCheck check(router::AgentNumber agent, const wire::TokenProof& proof,
                   std::uint32_t generation, std::int64_t now_s) const;

 private:
  void mac(router::AgentNumber agent, std::int64_t expires, std::uint32_t generation,
           std::uint8_t (&out)[wire::kTokenMacBytes]) const;

  TokenKey key_;
  std::string site_;
  std::uint32_t day_end_s_;
};

}  // namespace acd::dataplane
