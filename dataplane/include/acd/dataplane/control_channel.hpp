// How the control plane reaches the engine without touching it: operator commands enter the
// dataplane's sequencer as inputs (ControlChannel), and the engine's state comes back as a copy the
// routing thread publishes now and then (StatePublisher). Neither makes the routing thread wait.
//
// Threads: the control thread calls submit() and take_reply(); the IO thread drains requests and
// posts replies. The routing thread calls StatePublisher::maybe_publish() once per poll cycle.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <boost/lockfree/spsc_queue.hpp>

#include "acd/router/engine.hpp"

namespace acd::dataplane {

inline constexpr std::uint32_t kControlClient = 0xFFFF'FFFEu;  // Input::client_slot of a command

// A structural reload: an engine the control thread built (off the routing core) from the merged
// configuration. The routing core lets it take over the running engine's state and swaps the two,
// so that afterwards this object holds the old engine, for the control thread to free. The IO stage
// swaps in the new sign-in table at the same point.
struct EngineSwap {
  router::Engine* engine = nullptr;
  std::vector<router::AgentNumber> agent_numbers;  // by agent index; 0 for a retired agent
  router::Engine::TakeOverResult result;           // written by the routing core
};

struct ControlRequest {
  std::uint64_t ticket = 0;
  router::Event event;
  // Set for a configuration reload instead of an event; the control plane keeps the object alive.
  const router::EngineConfig* reconfigure = nullptr;
  // Ask what the engine would decide for `event` (a RouteRequest) without applying it.
  bool preview = false;
  EngineSwap* swap = nullptr;  // a structural reload instead of an event
  // What snapshots taken after a reload or swap are labelled with (the control plane's own
  // configuration object, which names the engine's queues and agents).
  const void* config_tag = nullptr;
};

// Enough for a route preview that overflows max_overflow_hops times (at most 16) and then ends.
inline constexpr std::size_t kMaxPreviewDecisions = 18;

struct ControlReply {
  std::uint64_t ticket = 0;
  router::Status status = router::Status::Ok;
  // A preview's decisions in order (overflow hops, then the outcome); none for other commands.
  std::uint8_t count = 0;
  bool truncated = false;
  std::array<router::Decision, kMaxPreviewDecisions> decisions{};
};

class ControlChannel {
 public:
  // Control thread. False if the ring is full (try again).
  bool submit(const ControlRequest& r) { return requests_.push(r); }
  bool take_reply(ControlReply& r) { return replies_.pop(r); }

  // IO thread.
  template <typename OnRequest>
  std::size_t drain(OnRequest&& on_request) {
    return requests_.consume_all(on_request);
  }
  void post(const ControlReply& r) {
    replies_.push(r);
  }  // a reply that does not fit is dropped; the
     // control thread times out and says so

 private:
  boost::lockfree::spsc_queue<ControlRequest, boost::lockfree::capacity<256>> requests_;
  boost::lockfree::spsc_queue<ControlReply, boost::lockfree::capacity<256>> replies_;
};

class StatePublisher {
 public:
  virtual ~StatePublisher() = default;
  // Routing thread, once per poll cycle: copy what monitoring needs, if it is time and the reader
  // is not busy (never waits). `config_tag` is the tag of the last reload applied (null: none).
  virtual void maybe_publish(const router::Engine& engine, const void* config_tag) = 0;
};

}  // namespace acd::dataplane
