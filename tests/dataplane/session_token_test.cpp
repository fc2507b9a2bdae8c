// Session tokens (session_token.hpp): a token verifies for its agent, site and generation until its
// day ends, and is refused once expired, for another agent or site, after a revocation, with a
// wrong key or any altered field; the day's end is where the configuration puts it.
#include <gtest/gtest.h>

#include <cstring>

#include "acd/dataplane/session_token.hpp"

namespace acd::dataplane {
namespace {

constexpr std::int64_t kMidnight = 1'800'000'000 - 1'800'000'000 % 86400;  // 00:00 UTC
constexpr std::uint32_t kFourAm = 4 * 3600;

TokenKey key_of(std::uint8_t fill) {
  TokenKey k;
  k.fill(fill);
  return k;
}

class SessionTokenTest : public ::testing::Test {
 protected:
  SessionTokens tokens_{key_of(7), "paris", kFourAm};
};

// The day ends at the configured time: minted at 03:59 it ends at 04:00 that day, at 04:00 or
// later it ends at 04:00 the next day.
TEST_F(SessionTokenTest, ExpiresAtTheConfiguredDayEnd) {
  EXPECT_EQ(tokens_.expiry_for(kMidnight + kFourAm - 1), kMidnight + kFourAm);
  EXPECT_EQ(tokens_.expiry_for(kMidnight + kFourAm), kMidnight + kFourAm + 86400);
  EXPECT_EQ(tokens_.expiry_for(kMidnight + 12 * 3600), kMidnight + kFourAm + 86400);
  EXPECT_EQ(SessionTokens(key_of(7), "paris", 0).expiry_for(kMidnight + 5), kMidnight + 86400);
}

// A minted token is valid for its agent and generation until its expiry, and not a second after.
TEST_F(SessionTokenTest, ValidUntilItsDayEnds) {
  const std::int64_t now = kMidnight + 9 * 3600;
  const wire::TokenProof p = tokens_.mint(101, 3, now);
  EXPECT_EQ(tokens_.check(101, p, 3, now), TokenCheck::Valid);
  EXPECT_EQ(tokens_.check(101, p, 3, kMidnight + kFourAm + 86400 - 1), TokenCheck::Valid);
  EXPECT_EQ(tokens_.check(101, p, 3, kMidnight + kFourAm + 86400), TokenCheck::Expired);
  EXPECT_EQ(tokens_.check(101, p, 3, kMidnight + 3 * 86400), TokenCheck::Expired);
}

// Another agent's token, another site's, another key's: all forged as far as this node can tell.
TEST_F(SessionTokenTest, WrongAgentSiteOrKeyIsRefused) {
  const std::int64_t now = kMidnight + 9 * 3600;
  const wire::TokenProof p = tokens_.mint(101, 0, now);
  EXPECT_EQ(tokens_.check(102, p, 0, now), TokenCheck::Forged);
  EXPECT_EQ(SessionTokens(key_of(7), "lyon", kFourAm).check(101, p, 0, now), TokenCheck::Forged);
  EXPECT_EQ(SessionTokens(key_of(8), "paris", kFourAm).check(101, p, 0, now), TokenCheck::Forged);
}

// Once the agent's generation moved on (sign-out, logout, operator), its older tokens are refused.
TEST_F(SessionTokenTest, RevokedByTheGeneration) {
  const std::int64_t now = kMidnight + 9 * 3600;
  const wire::TokenProof p = tokens_.mint(101, 0, now);
  EXPECT_EQ(tokens_.check(101, p, 1, now), TokenCheck::Revoked);
  EXPECT_EQ(tokens_.check(101, tokens_.mint(101, 1, now), 1, now), TokenCheck::Valid);
}

// Any altered byte — MAC, expiry pushed later, generation set to the current one — breaks the MAC;
// non-zero reserved bytes are malformed.
TEST_F(SessionTokenTest, AlteredTokensAreRefused) {
  const std::int64_t now = kMidnight + 9 * 3600;
  const wire::TokenProof good = tokens_.mint(101, 0, now);
  wire::TokenProof p = good;
  p.mac[5] ^= 1;
  EXPECT_EQ(tokens_.check(101, p, 0, now), TokenCheck::Forged);
  p = good;
  p.expires += 86400;
  EXPECT_EQ(tokens_.check(101, p, 0, now + 86400), TokenCheck::Forged);
  p = good;
  p.generation = 4;
  EXPECT_EQ(tokens_.check(101, p, 4, now), TokenCheck::Forged);
  p = good;
  p.reserved = 1;
  EXPECT_EQ(tokens_.check(101, p, 0, now), TokenCheck::Malformed);
  wire::TokenProof zero{};
  EXPECT_EQ(tokens_.check(101, zero, 0, now), TokenCheck::Forged);
}

// Minting is deterministic: two nodes with the same key and site give the same token, so a
// token minted by one verifies on the other.
TEST_F(SessionTokenTest, SameKeySameToken) {
  const std::int64_t now = kMidnight + 9 * 3600;
  const SessionTokens other(key_of(7), "paris", kFourAm);
  const wire::TokenProof a = tokens_.mint(101, 2, now);
  const wire::TokenProof b = other.mint(101, 2, now + 60);
  EXPECT_EQ(std::memcmp(&a, &b, sizeof(a)), 0);
  EXPECT_EQ(other.check(101, a, 2, now), TokenCheck::Valid);
}

}  // namespace
}  // namespace acd::dataplane
