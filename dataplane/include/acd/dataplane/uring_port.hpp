// UDP over io_uring: one multishot recvmsg with a provided buffer ring (the kernel picks a buffer
// per datagram; no syscall per packet), and sendmsg requests submitted once per burst.
//
// Sends: 1,024 slots (a copy each). Completions are taken in order, so receive() takes every one
// waiting and keeps arrivals beyond its burst for the next calls; send() does the same when its
// slots run out, so a send's completion queued behind thousands of arrivals never keeps its slot
// from the next reply. A sendmsg the socket refuses for want of room (EAGAIN, ENOBUFS) is sent
// again at the next receive() or send(), before anything new. send() refuses a datagram (the
// caller counts it) only when all slots are in flight after that.
//
// Thread-safety: one thread polls the port. Errors at start-up are reported by create().
#pragma once

#include <memory>
#include <string>

#include "acd/dataplane/port.hpp"

namespace acd::dataplane {

class UringPort final : public Port {
 public:
  // Binds a UDP socket to `local` (port 0: the kernel chooses). Null, with `error` set, on failure.
  static std::unique_ptr<UringPort> create(const Endpoint& local, std::string& error);
  ~UringPort() override;

  std::size_t receive(std::span<Datagram> out) override;
  std::size_t send(std::span<const Datagram> datagrams) override;
  Endpoint local() const override;
  // Blocks until a completion arrives or `timeout_us` passes (for an idle worker).
  void wait(unsigned timeout_us);
  // The ring's descriptor: readable while a completion waits (poll(2) it together with other
  // sockets to sleep until either has something). Owned by the port.
  int completion_fd() const;
  // The UDP socket (for its filter and drop count, socket_filter.hpp). Owned by the port.
  int socket_fd() const;
  // Diagnosis (acdd --trace-port-stages): once a second, a line on stderr with the datagrams
  // received, batch sizes, wake-ups, and the time from the kernel's receive timestamp
  // (SO_TIMESTAMPNS) to the completion being taken and to receive() handing the datagram out,
  // and each receive cycle's time to the next send() (p50/p90/p99/max). Call before polling.
  bool trace_stages(std::string& error);

  struct Impl;

 private:
  explicit UringPort(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace acd::dataplane
