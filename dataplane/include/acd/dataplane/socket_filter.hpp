// A classic BPF socket filter (SO_ATTACH_FILTER) for acdd's UDP socket with ACDP/2 required: the
// kernel drops a data datagram that names a session index acd never issued, before the datagram
// is queued on the socket, so a flood of forged data datagrams never wakes the IO thread nor
// costs it a read (dataplane/DESIGN.md, "Forged data datagrams dropped in the kernel").
//
// Only that one case is dropped: a datagram whose header reads as an ACDP/2 data datagram (magic,
// version 2, a message count 1..64, at least 40 bytes) and whose session index lies outside
// [first, end) (modulo 2^32). Everything else — clear text, other versions, handshake inits,
// malformed headers, indices inside the range — reaches the session layer as before, which drops
// and counts it by reason. The kernel counts what the filter drops in the socket's drop count
// (SO_MEMINFO's SK_MEMINFO_DROPS), together with datagrams dropped for a full receive buffer.
//
// The session layer keeps [first, end) as the indices of its live sessions (the oldest to the
// newest, both included) and replaces the filter when a handshake installs a session, before the
// response leaves; an empty range (first == end) drops every data datagram.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace acd::dataplane {

// The program (offsets from the UDP header, as a UDP socket's filter sees the datagram).
std::vector<sock_filter> session_index_filter(std::uint32_t first, std::uint32_t end);

// Attaches (or atomically replaces) `program` on the socket `fd`; false with `error` set.
bool attach_socket_filter(int fd, std::span<const sock_filter> program, std::string& error);

// session_index_filter(first, end) attached to `fd`. If the kernel refuses it, the socket's
// filter is removed instead (every datagram reaches the session layer, which drops and counts
// forged ones itself): an older, narrower range must never stay and drop a new session's data.
// False, with `error` set, when the range could not be attached.
bool filter_session_indices(int fd, std::uint32_t first, std::uint32_t end, std::string& error);

// The kernel's count of datagrams dropped for the socket `fd` (its filter, a full receive
// buffer): SO_MEMINFO's SK_MEMINFO_DROPS; 0 when the kernel does not say. Any thread.
std::uint64_t socket_drops(int fd);

}  // namespace acd::dataplane
