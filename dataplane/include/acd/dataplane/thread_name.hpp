// Thread names: every thread acdd starts names itself on entry, so that `top -H`, `ps -L` and
// perf tell them apart (acd-io, acd-router, acd-journal, acd-verify-N, ...); docs/operations.md
// lists them. Also the pinning of a worker thread to a set of CPUs.
//
// Threads: each function acts on the calling thread only. Nothing allocates but the string
// this_thread_name() returns. Errors are ignored: a name is a diagnostic, never a reason to fail.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace acd::dataplane {

// Linux keeps at most 15 bytes of a thread's name; a longer one is cut to its first 15.
inline constexpr std::size_t kMaxThreadName = 15;

// Names the calling thread (its /proc/self/task/TID/comm).
void name_this_thread(std::string_view name);
// Names the calling thread `prefix` followed by `n` ("acd-verify-" and 2: "acd-verify-2").
void name_this_thread(std::string_view prefix, unsigned n);
// The calling thread's name ("" if it cannot be read).
std::string this_thread_name();
// Pins the calling thread to `cpus` (numbers outside the OS's CPU set range are left out); true
// if the OS took it. No CPU to pin to (an empty or all-invalid list) changes nothing: false.
bool pin_this_thread(std::span<const int> cpus);

}  // namespace acd::dataplane
