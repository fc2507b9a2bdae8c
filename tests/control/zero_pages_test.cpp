// ZeroPages: zero elements whose pages the kernel maps only when written (mincore tells).
#include "acd/control/zero_pages.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <vector>

namespace {

struct Slot {
  std::uint64_t seq = 0;
  std::array<std::uint8_t, 200> bytes{};
};

// Pages of [p, p + bytes) resident in memory now.
std::size_t resident_pages(const void* p, std::size_t bytes) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in((bytes + page - 1) / page);
  if (mincore(const_cast<void*>(p), bytes, in.data()) != 0) {
    return SIZE_MAX;
  }
  std::size_t n = 0;
  for (unsigned char c : in) {
    n += c & 1;
  }
  return n;
}

TEST(ZeroPages, ReadsZeroAndTouchesNoPageUntilWritten) {
  acd::control::ZeroPages<Slot> ring(1 << 16);
  ASSERT_EQ(ring.size(), 1u << 16);
  const std::size_t bytes = ring.size() * sizeof(Slot);
  EXPECT_EQ(resident_pages(&ring[0], bytes), 0u) << "building the ring wrote its pages";
  ring[12345].seq = 7;
  ring[12345].bytes[3] = 9;
  EXPECT_EQ(resident_pages(&ring[0], bytes), 1u);
  EXPECT_EQ(ring[12345].seq, 7u);
  EXPECT_EQ(ring[12345].bytes[3], 9u);
  EXPECT_EQ(ring[0].seq, 0u);  // reading a zero page maps the shared zero page, not a new one
  EXPECT_EQ(ring[ring.size() - 1].bytes[199], 0u);
}

TEST(ZeroPages, MovesOwnership) {
  acd::control::ZeroPages<Slot> a(1024);
  a[5].seq = 42;
  acd::control::ZeroPages<Slot> b(std::move(a));
  EXPECT_EQ(b[5].seq, 42u);
  acd::control::ZeroPages<Slot> c(8);
  c = std::move(b);
  EXPECT_EQ(c.size(), 1024u);
  EXPECT_EQ(c[5].seq, 42u);
}

}  // namespace
