// Naming the calling thread (pthread_setname_np), for top -H, ps -L and perf; pinning it.
#include "acd/dataplane/thread_name.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace acd::dataplane {

void name_this_thread(std::string_view name) {
  std::array<char, kMaxThreadName + 1> buffer{};
  const std::size_t n = std::min(name.size(), kMaxThreadName);
  std::memcpy(buffer.data(), name.data(), n);
  (void)pthread_setname_np(pthread_self(), buffer.data());
}

void name_this_thread(std::string_view prefix, unsigned n) {
  std::string name(prefix);
  name += std::to_string(n);
  name_this_thread(name);
}

std::string this_thread_name() {
  std::array<char, kMaxThreadName + 1> buffer{};
  if (pthread_getname_np(pthread_self(), buffer.data(), buffer.size()) != 0) {
    return {};
  }
  return std::string(buffer.data());
}

bool pin_this_thread(std::span<const int> cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (const int cpu : cpus) {
    if (cpu >= 0 && cpu < CPU_SETSIZE) {
      CPU_SET(static_cast<unsigned>(cpu), &set);
    }
  }
  return CPU_COUNT(&set) > 0 && pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

}  // namespace acd::dataplane
