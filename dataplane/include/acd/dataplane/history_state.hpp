// The history deriver's state at a node image's seq, carried by the image (NodeImage::history).
//
// A standby whose journal is begun again from its primary's image has no log before the image's
// seq. Its history thread restores its follower engine from the image; to go on with the calls and
// agent states open at that seq, it needs the deriver's state at exactly that seq too. The IO
// thread takes the image without the history thread, which is at another seq, so:
// * the IO thread, before it stamps the capture that takes an image (the capture is logged, as a
//   tick, at seq S), asks for S: request(S). The history thread reads the log from the journal,
//   after the IO thread logged it, so it can never have passed S when it is asked;
// * the history thread, right after it applied seq S, answers with the deriver's saved state
//   (history::Deriver::save); a request it finds already behind it (a restart, a gap) is answered
//   with nothing;
// * the IO thread keeps the finished image (it waits in the IO stage, nothing else does) until the
//   answer for S comes or a bounded wait ends, then hands the image, with the state or without it,
//   to the shipper (journal snapshot, standby, DR follower).
//
// One request and one answer slot, no lock: request() and take() on the IO thread, wanted() and
// answer() on the history thread. The answer's bytes are allocated by the history thread; take()
// hands them over (an image is assembled and encoded on the IO thread already, once per image).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace acd::dataplane {

class HistoryStateChannel {
 public:
  HistoryStateChannel() = default;
  HistoryStateChannel(const HistoryStateChannel&) = delete;
  HistoryStateChannel& operator=(const HistoryStateChannel&) = delete;
  ~HistoryStateChannel() { delete answer_.exchange(nullptr); }

  // IO thread: the image about to be captured will be at `seq` (0: none wanted).
  void request(std::uint64_t seq) { wanted_.store(seq, std::memory_order_release); }

  enum class Answer : std::uint8_t { None, Ready, Missed };
  // IO thread: the answer for `seq`, if it came (Ready: `state` holds it; Missed: the history
  // thread had passed seq or could not save). An answer for another seq is dropped.
  Answer take(std::uint64_t seq, std::vector<std::uint8_t>& state) {
    std::unique_ptr<Slot> got(answer_.exchange(nullptr, std::memory_order_acq_rel));
    if (!got || got->seq != seq) {
      return Answer::None;
    }
    if (got->state.empty()) {
      return Answer::Missed;
    }
    state = std::move(got->state);
    return Answer::Ready;
  }

  // History thread: the seq asked for (0: none).
  std::uint64_t wanted() const { return wanted_.load(std::memory_order_acquire); }
  // History thread: the deriver's state after `seq` (empty: missed). Replaces an answer not taken.
  void answer(std::uint64_t seq, std::vector<std::uint8_t> state) {
    auto* slot = new Slot{seq, std::move(state)};
    delete answer_.exchange(slot, std::memory_order_acq_rel);
  }

 private:
  struct Slot {
    std::uint64_t seq = 0;
    std::vector<std::uint8_t> state;
  };
  std::atomic<std::uint64_t> wanted_{0};
  std::atomic<Slot*> answer_{nullptr};
};

}  // namespace acd::dataplane
