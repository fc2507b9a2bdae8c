// How the control plane reaches the engine without touching it: operator commands enter the
// dataplane's sequencer as inputs (ControlChannel), and the engine's state comes back as a copy the
// routing thread publishes now and then (StatePublisher). Neither makes the routing thread wait.
//
// Threads: the control thread calls submit() and take_reply(); the IO thread drains requests and
// posts replies. The routing thread calls StatePublisher::maybe_publish() once per poll cycle.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/lockfree/spsc_queue.hpp>

#include "acd/router/engine.hpp"

namespace acd::dataplane {

inline constexpr std::uint32_t kControlClient = 0xFFFF'FFFEu;  // Input::client_slot of a command

// The configuration a snapshot was taken under, opaque to the dataplane: the control plane's
// configuration object derives from it, and the routing core only passes the pointer along (from a
// reload's request to the snapshots taken after it). Null: the configuration acdd started with.
// `log_payload` is the same configuration as the sequenced log carries it (a ConfigChange record,
// a node image), in the control plane's own encoding: the dataplane copies it, never reads it.
// Empty: the log cannot carry it, and a follower cannot apply the reload.
struct ConfigTag {
  std::vector<std::uint8_t> log_payload;
};

// A structural reload: an engine the control thread built (off the routing core) from the merged
// configuration. The routing core lets it take over the running engine's state and swaps the two,
// so that afterwards this object owns the old engine, which the control thread frees with it. The
// IO stage swaps in the new sign-in table at the same point.
struct EngineSwap {
  std::unique_ptr<router::Engine> engine;
  std::vector<router::AgentNumber> agent_numbers;  // by agent index; 0 for a retired agent
  router::Engine::TakeOverResult result;           // written by the routing core
};

// What an operator command asks of the routing core, besides an engine event (monostate): each
// alternative is a non-owning pointer or empty, so inputs stay trivially copyable through the
// rings; the control plane keeps what they point to alive until the command's reply.
struct ApplyEvent {};  // apply ControlRequest::event like any input
struct PreviewRoute {
};  // what the engine would decide for the event (a RouteRequest), applying nothing
struct Reconfigure {  // new queue parameters, applied in place
  const router::EngineConfig* config = nullptr;
};
struct SwapEngine {  // a structural reload
  EngineSwap* swap = nullptr;
};
// The engine's snapshot at this point of the log, for the journal or a standby that joins late
// (the IO stage adds its session to it when the command's end output comes back).
struct CaptureEngine {
  std::vector<std::uint8_t>* image = nullptr;  // the snapshot, if not null
  std::uint64_t* hash = nullptr;               // the state hash, if not null
};
// Revokes the session tokens of the agent whose ID is ControlRequest::event.number: the IO stage
// logs a TokenRevoke record and moves the agent's token generation on (session_token.hpp); it
// never reaches the engine. Refused (NoSuchAgent) for an ID the running configuration lacks.
struct RevokeTokens {};
using Command =
    std::variant<ApplyEvent, PreviewRoute, Reconfigure, SwapEngine, CaptureEngine, RevokeTokens>;

// The outcome of a command, as the routing core reports it; one list for name and help text.
#define ACD_COMMAND_RESULT_LIST(X)                                                     \
  X(Done, "applied")                                                                   \
  X(Refused, "the engine refused the event (engine_status says why)")                  \
  X(Overloaded, "the dataplane's input ring was full: nothing was applied; try again") \
  X(ReloadRefused, "the routing core refused the configuration; the running one is unchanged")

enum class CommandResult : std::uint8_t {
#define ACD_X(name, text) name,
  ACD_COMMAND_RESULT_LIST(ACD_X)
#undef ACD_X
};
std::string_view describe(CommandResult r);

struct ControlRequest {
  std::uint64_t ticket = 0;
  router::Event event;
  Command command;
  // What snapshots taken after a reload or swap are labelled with (the control plane's own
  // configuration object, which names the engine's queues and agents).
  const ConfigTag* config_tag = nullptr;
};

// Enough for a route preview that overflows max_overflow_hops times (at most 16) and then ends.
inline constexpr std::size_t kMaxPreviewDecisions = 18;

struct ControlReply {
  std::uint64_t ticket = 0;
  CommandResult result = CommandResult::Done;
  router::Status engine_status = router::Status::Ok;  // with Refused: the engine's reason
  // A preview's decisions in order (overflow hops, then the outcome); none for other commands.
  std::uint8_t count = 0;
  bool truncated = false;
  std::array<router::Decision, kMaxPreviewDecisions> decisions{};
};

// Commands and their replies queued between the control and IO threads.
inline constexpr std::size_t kControlRingEntries = 256;

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
  boost::lockfree::spsc_queue<ControlRequest, boost::lockfree::capacity<kControlRingEntries>>
      requests_;
  boost::lockfree::spsc_queue<ControlReply, boost::lockfree::capacity<kControlRingEntries>>
      replies_;
};

// How a follower applies a reload it reads in the log (a standby, a journal replay): the control
// plane decodes a ConfigChange record's payload and builds the command the primary's routing core
// ran. IoStage::replay then applies it through RouterStage at the record's place in the sequence,
// exactly as the primary did (a reload the primary's engine refused is refused here too).
// Thread: the thread that replays (the standby's follow loop, start-up's journal replay).
class ConfigReplayer {
 public:
  virtual ~ConfigReplayer() = default;
  // Builds what applying `payload` takes: a Reconfigure or, if the primary swapped engines or
  // `fresh_engine` (installing a node image taken under that configuration), a SwapEngine with a
  // newly built engine; the objects the command points to stay alive until finish(). False, with
  // nothing prepared, if the payload is malformed or cannot apply here; `why` says why.
  virtual bool prepare(std::span<const std::uint8_t> payload, bool fresh_engine, Command& command,
                       const ConfigTag*& tag, std::string& why) = 0;
  // The prepared command was applied (`applied`) or refused by the engine, or abandoned; the
  // replayer keeps the configuration as the running one, or forgets it.
  virtual void finish(bool applied) = 0;
};

class StatePublisher {
 public:
  virtual ~StatePublisher() = default;
  // Routing thread, once per poll cycle: copy what monitoring needs, if it is time and the reader
  // is not busy (never waits). `config_tag` is the tag of the last reload applied (null: none).
  virtual void maybe_publish(const router::Engine& engine, const ConfigTag* config_tag) = 0;
};

}  // namespace acd::dataplane
