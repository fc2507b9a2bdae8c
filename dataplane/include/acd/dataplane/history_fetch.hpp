// The copy of the primary's history records of the inputs before a standby's image, over the
// replication link (frames HistoryFetch 17 and HistoryRows 18, replication_link.hpp).
//
// A standby begun from its primary's image at seq S derives the records of the inputs after S;
// those of the inputs before S exist only in the primary's database. Its history thread asks for
// them one chunk at a time: stop and wait, so at most one chunk is on its way, and the primary's
// history thread answers no faster than its pace allows. Neither IO thread touches a database:
//
// * standby: the history thread ask()s (a request: opaque bytes, history::encode_position); the
//   link, on the IO thread, take_ask()s it, sends it on every connection until answered, and puts
//   the primary's answer (which begins with the request's bytes) into the same message's
//   `answer`, whose capacity the history thread reserved (kMaxAnswerBytes): no allocation on the
//   IO thread. answered() hands it back, take_answer() on the history thread.
// * primary: the node's shipper (IO thread) serve()s a request the link received; the history
//   thread take_serve()s it, reads the rows from its store once it holds every input through the
//   request's end, and served()s the answer; the shipper take_served()s it and sends it when the
//   link has room (the log goes first).
//
// Four one-slot exchanges, no lock; a message put into a full slot replaces the one there
// (deleted). Each slot has one producer and one consumer thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace acd::dataplane {

struct HistoryFetch {
  std::vector<std::uint8_t> request;
  std::vector<std::uint8_t> answer;  // begins with `request`; empty: not answered
};

class HistoryFetchChannel {
 public:
  // An answer is one link frame's body at most.
  static constexpr std::size_t kMaxAnswerBytes = (1u << 20) - 8;
  // A request is short (a position).
  static constexpr std::size_t kMaxRequestBytes = 64;

  HistoryFetchChannel() = default;
  HistoryFetchChannel(const HistoryFetchChannel&) = delete;
  HistoryFetchChannel& operator=(const HistoryFetchChannel&) = delete;
  ~HistoryFetchChannel() {
    for (auto* slot : {&ask_, &answered_, &serve_, &served_}) {
      delete slot->exchange(nullptr);
    }
  }

  // Standby.
  void ask(std::unique_ptr<HistoryFetch> m) { put(ask_, std::move(m)); }             // history
  std::unique_ptr<HistoryFetch> take_ask() { return take(ask_); }                    // IO
  void answered(std::unique_ptr<HistoryFetch> m) { put(answered_, std::move(m)); }   // IO
  std::unique_ptr<HistoryFetch> take_answer() { return take(answered_); }            // history
  // Primary.
  void serve(std::unique_ptr<HistoryFetch> m) { put(serve_, std::move(m)); }         // IO
  std::unique_ptr<HistoryFetch> take_serve() { return take(serve_); }                // history
  void served(std::unique_ptr<HistoryFetch> m) { put(served_, std::move(m)); }       // history
  std::unique_ptr<HistoryFetch> take_served() { return take(served_); }              // IO

 private:
  static void put(std::atomic<HistoryFetch*>& slot, std::unique_ptr<HistoryFetch> m) {
    delete slot.exchange(m.release(), std::memory_order_acq_rel);
  }
  static std::unique_ptr<HistoryFetch> take(std::atomic<HistoryFetch*>& slot) {
    if (slot.load(std::memory_order_relaxed) == nullptr) {
      return nullptr;
    }
    return std::unique_ptr<HistoryFetch>(slot.exchange(nullptr, std::memory_order_acq_rel));
  }

  std::atomic<HistoryFetch*> ask_{nullptr};
  std::atomic<HistoryFetch*> answered_{nullptr};
  std::atomic<HistoryFetch*> serve_{nullptr};
  std::atomic<HistoryFetch*> served_{nullptr};
};

}  // namespace acd::dataplane
