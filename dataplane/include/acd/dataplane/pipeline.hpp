// The dataplane pipeline: datagrams in, sequenced engine inputs, decisions out as replies.
//
//   Port --receive--> IoStage --Input ring--> RouterStage (Engine) --Output ring--> IoStage
//   --send--> Port
//
// IoStage decodes and validates datagrams, answers retransmissions from the reply cache, keeps the
// client registry, and sequences every input (Sequencer: number + timestamp) — this ordered stream
// is what the hot standby and the journal will receive. RouterStage applies inputs to the engine
// and tags each decision with the input it came from. IoStage then turns decisions into replies:
// the answer to the request, later decisions to the switch that owns the call, offers to the
// agent's desktop.
//
// Threads: run-to-completion (one thread calls Worker::poll, which runs both stages) or split
// (SplitWorker: IoStage on one core, RouterStage on another, joined by two Boost.Lockfree SPSC
// rings moved in batches). No allocation, lock or exception on the per-packet path.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include <boost/lockfree/spsc_queue.hpp>

#include "acd/dataplane/audit_sink.hpp"
#include "acd/dataplane/codec.hpp"
#include "acd/dataplane/control_channel.hpp"
#include "acd/dataplane/counters.hpp"
#include "acd/dataplane/export_position.hpp"
#include "acd/dataplane/history_state.hpp"
#include "acd/dataplane/input_log.hpp"
#include "acd/dataplane/interval_clock.hpp"
#include "acd/dataplane/port.hpp"
#include "acd/dataplane/roles.hpp"
#include "acd/dataplane/session_layer.hpp"
#include "acd/dataplane/session_token.hpp"
#include "acd/dataplane/sign_in_verifier.hpp"
#include "acd/router/engine.hpp"
#include "acd/router/id_map.hpp"

namespace acd::dataplane {

// Time source of the sequencer, in microseconds. Injected so tests can drive time.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual router::Micros now() = 0;
};

class SteadyClock final : public Clock {
 public:
  router::Micros now() override;
};

// The steady clock, moved forward so that it never reads earlier than a time the log already
// holds: a standby that takes over continues the old primary's time line (another machine's
// steady clock has another origin), so the engine's timers keep their meaning.
class ContinuingClock final : public Clock {
 public:
  router::Micros now() override { return steady_.now() + offset_; }
  // From now on, now() >= t. The IO thread, before it stamps again.
  void continue_from(router::Micros t) {
    const router::Micros here = now();
    if (t > here) {
      offset_ += t - here;
    }
  }

 private:
  SteadyClock steady_;
  router::Micros offset_ = 0;
};

class ManualClock final : public Clock {
 public:
  router::Micros now() override { return now_; }
  void set(router::Micros t) { now_ = t; }
  void advance(router::Micros d) { now_ += d; }

 private:
  router::Micros now_ = 1;
};

// One input to the engine, stamped by the sequencer.
struct Input {
  std::uint64_t seq = 0;
  router::Event event;
  std::uint32_t client_slot = router::kNone;  // who asked; kNone for ticks
  std::uint64_t request_seq = 0;
  wire::Type request_type = wire::Type::Heartbeat;
  // What an operator command asks instead of (or with) the event; ApplyEvent for every other
  // input. Applied at event.time.
  Command command;
  const ConfigTag* config_tag = nullptr;  // with Reconfigure and SwapEngine
};

// One decision, tagged with its input; `end` marks the last output of an input (no decision).
// An AgentSignIn input's Event::reason when the verified secret is one the agent must replace.
inline constexpr std::uint16_t kSignInMustChange = 1;

struct Output {
  std::uint64_t input_seq = 0;
  std::uint32_t client_slot = router::kNone;
  std::uint64_t request_seq = 0;
  wire::Type request_type = wire::Type::Heartbeat;
  router::CallId request_call = 0;
  // The input's event type and agent: a sign-in that ends without an Error binds its client to
  // the agent.
  router::EventType request_event = router::EventType::Tick;
  router::AgentIndex request_agent = router::kNone;
  // An AgentSignIn input's reason: kSignInMustChange when the agent is to change its password.
  std::uint16_t request_reason = 0;
  bool end = false;
  bool preview = false;  // a decision the engine would make, for the control plane only
  // On the end output of a reload: ReloadRefused if the routing core refused it.
  CommandResult command_result = CommandResult::Done;
  router::Decision decision;
};

// Numbers and stamps inputs; the one place that orders them. Optionally copies each to a log.
class Sequencer {
 public:
  explicit Sequencer(Clock& clock) : clock_(clock) {}
  void stamp(Input& input) {
    input.seq = next_++;
    input.event.time = held_ ? held_time_ : clock_.now();
    if (log_) {
      log_(input);
    }
  }
  // While one lives, every input is stamped with the clock's reading at its start: the inputs of
  // one receive batch share one reading (a reading per input was a measurable share of a routed
  // call on the DPDK path, and a batch takes microseconds, far below any timer's resolution).
  // Times still never go back: later readings are at least this one.
  class Batch {
   public:
    Batch(Sequencer& s, bool hold) : s_(s) {
      if (hold) {
        s_.held_time_ = s_.clock_.now();
        s_.held_ = true;
      }
    }
    ~Batch() { s_.held_ = false; }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

   private:
    Sequencer& s_;
  };
  std::uint64_t next() const { return next_; }
  // A number for a record that is not an engine input (a client's registration).
  std::uint64_t take() { return next_++; }
  // Continues after a restored image or a replayed log: the next number is `next`.
  void resume(std::uint64_t next) { next_ = next; }
  void set_log(std::function<void(const Input&)> log) { log_ = std::move(log); }

 private:
  Clock& clock_;
  std::uint64_t next_ = 1;
  bool held_ = false;
  router::Micros held_time_ = 0;
  std::function<void(const Input&)> log_;  // tests and, later, replication; not on by default
};

class RouterStage;

// Input::client_slot of the command that captures a node image (the IO stage's own).
inline constexpr std::uint32_t kImageClient = 0xFFFF'FFFDu;

struct DataplaneConfig {
  std::uint32_t max_clients = 256;
  // Replies kept per client for retransmissions: at least the client's messages per second times
  // its retransmission timeout (a switch sending 100k/s with a 20 ms timeout needs 2,000).
  std::uint32_t reply_cache_per_client = 2048;
  std::uint32_t max_calls = 1024;       // call owners tracked (the engine's max_calls)
  router::Micros tick_interval = 1000;  // an idle engine still gets a tick this often
  std::size_t burst = 32;
  // Datagrams that may wait for the log's acknowledgement (output gating); past half of it the
  // stage stops receiving until the log catches up.
  std::size_t held_datagrams = 8192;
  // Password sign-ins handled per poll cycle; more wait (up to max_clients of them) behind the
  // cycle's other messages, so that a shift's burst of sign-ins does not queue route requests
  // behind thousands of verifier submissions and Overloaded answers. 0: no limit.
  std::uint32_t signin_burst = 16;
};

// Replies already sent, per client, by request sequence number.
class ReplyCache {
 public:
  enum class Lookup : std::uint8_t { New, Answered, Pending, Stale };
  static constexpr std::size_t kMaxReply = 64;

  ReplyCache(std::uint32_t clients, std::uint32_t per_client);
  Lookup find(std::uint32_t slot, std::uint64_t seq, std::span<const std::uint8_t>& reply);
  void mark_pending(std::uint32_t slot, std::uint64_t seq);
  // The reply message (header and body) for (slot, seq). `replicated`: the answer to a logged
  // input, which every node that applies the log caches too; otherwise an answer given here only
  // (a Register's Ack, a refused sign-in), which any node would give again and no image keeps;
  // such an answer never replaces a replicated reply to another request (it is then not cached),
  // so that every node applying the same log keeps the same replicated replies.
  void store(std::uint32_t slot, std::uint64_t seq, std::span<const std::uint8_t> message,
             bool replicated = true);
  // Drops a pending mark (the request was not accepted after all: the client will retransmit).
  void forget(std::uint32_t slot, std::uint64_t seq);
  // Forgets everything of a client (it restarted and numbers its messages from 1 again). O(1):
  // the slot's generation moves on and its entries of older generations count as empty, so a
  // burst of thousands of registrations (a shift start) costs no sweep of each client's window.
  void reset(std::uint32_t slot);
  // For node images: the client's highest request seen, and its replicated replies in slot order.
  std::uint64_t highest(std::uint32_t slot) const { return highest_[slot]; }
  void restore_highest(std::uint32_t slot, std::uint64_t seq);
  template <typename Visit>
  void for_each_answered(std::uint32_t slot, Visit&& visit) const {
    for (std::size_t i = 0; i < per_client_; ++i) {
      const Entry& e = entries_[static_cast<std::size_t>(slot) * per_client_ + i];
      if (e.generation == generation_[slot] && e.state == kAnswered) {
        visit(e.seq, std::span<const std::uint8_t>(e.bytes, e.length));
      }
    }
  }

 private:
  static constexpr std::uint8_t kEmpty = 0, kPending = 1, kAnswered = 2, kAnsweredHere = 3;
  struct Entry {
    std::uint64_t seq = 0;
    std::uint16_t length = 0;
    std::uint8_t state = kEmpty;
    std::uint8_t bytes[kMaxReply] = {};
    std::uint32_t generation = 0;  // the slot's generation it was written in; older: empty
  };
  static_assert(sizeof(Entry) == 80, "the generation fits the entry's padding");
  // The entry for (slot, seq), made empty first if an older generation of the slot wrote it.
  Entry& entry(std::uint32_t slot, std::uint64_t seq) {
    Entry& e = entries_[static_cast<std::size_t>(slot) * per_client_ + seq % per_client_];
    if (e.generation != generation_[slot]) {
      e = Entry{};
      e.generation = generation_[slot];
    }
    return e;
  }
  std::uint32_t per_client_;
  std::vector<Entry> entries_;
  std::vector<std::uint64_t> highest_;
  std::vector<std::uint32_t> generation_;  // per slot, moved on by reset()
};

class IoStage {
 public:
  // `agent_numbers[i]` is agent i's ID (for sign-in); `verifier` may be null (sign-in refused).
  IoStage(Port& port, Clock& clock, AsyncVerifier* verifier,
          std::vector<router::AgentNumber> agent_numbers, const DataplaneConfig& config);

  // Receives one burst and turns it into inputs; returns datagrams received.
  template <typename Push>
  std::size_t receive(Push&& push_input);
  // Sign-in results ready from the verifier, as inputs.
  template <typename Push>
  std::size_t collect_sign_ins(Push&& push_input);
  // Operator commands from the control plane, as inputs.
  template <typename Push>
  std::size_t collect_control(Push&& push_input);
  void set_control(ControlChannel* channel) { control_ = channel; }
  // Where sign-ins (accepted or refused), sign-outs and forced logouts are reported for the audit
  // trail; null (the default): nowhere. Set before the first poll; the sink outlives the stage.
  void set_audit(AgentAuditSink* sink) { audit_ = sink; }
  // Where the credential changes of the log (CredentialChange records: this node's own as a
  // primary, its primary's as a standby) are stored: a writer thread over the node's credential
  // file (control's CredentialStore), so that no file is written on this thread. A primary's
  // PasswordChange is answered once the writer has stored it. Null (the default): nowhere, and a
  // change is answered as soon as it is logged. Set before the journal's replay (applying a record
  // twice, or one an administrator's reset has overtaken, changes nothing); it outlives the stage.
  void set_credentials(CredentialWriter* writer) { credentials_ = writer; }
  // The writer's finished changes: answers the PasswordChanges they complete. Once per poll cycle
  // (the Worker does it); returns how many.
  std::size_t collect_credential_writes();
  // ACDP/2 (session_layer.hpp): with a layer, only authentic data datagrams of established
  // sessions reach the decoder (as the configured client, with its configured role: a Register's
  // role is ignored), handshakes go to the layer's worker, and every datagram is sealed as it
  // leaves (held ones when they are released). Null (the default): ACDP/1 in clear text. Set
  // before the first poll; the layer outlives the stage (its worker is started by its owner).
  void set_security(SessionLayer* layer);
  SessionLayer* security() const { return security_; }
  // Session tokens (session_token.hpp): with them, an accepted sign-in over an ACDP/2 desktop
  // session is followed by a SessionToken message, and a sign-in may present one instead of the
  // password (checked here, in line: no verifier job). `wall` gives the Unix time tokens expire
  // by. Null (the default): no tokens are minted and every token sign-in is refused. Set before the
  // first poll; both outlive the stage.
  void set_tokens(const SessionTokens* tokens, WallClock* wall) {
    tokens_ = tokens;
    wall_ = wall;
  }
  // The agent's token generation (0 until its first revocation); tests and the session image.
  std::uint32_t token_generation(router::AgentIndex agent) const {
    return agent < token_generation_.size() ? token_generation_[agent] : 0;
  }
  // A tick input if the engine has had no input for tick_interval.
  template <typename Push>
  void maybe_tick(Push&& push_input);
  // Turns outputs into replies (sent at flush()).
  void handle(const Output& output);
  // Sends everything built since the last flush (with a log shipper: holds it until the log has
  // acknowledged the inputs that caused it).
  void flush();
  // Once per poll cycle, after flush: pushes the cycle's log records out, reads acknowledgements
  // and sends the held datagrams they release.
  void poll_log();

  CoreCounters& counters() { return counters_; }
  Sequencer& sequencer() { return sequencer_; }

  // ---- The sequenced log (input_log.hpp): journal and hot standby ----
  // Where the log goes; null (the default): nowhere, and replies leave at once. Set before the
  // first poll; the shipper outlives the stage.
  void set_shipper(LogShipper* shipper);
  // Stamps an input (sequence number, time) and writes its record to the log. The workers call
  // it once `can_stamp()` said yes and the ring toward the engine has room.
  void stamp(Input& input);
  bool can_stamp() const { return shipper_ == nullptr || shipper_->has_room(); }
  // Applies one record of another node's log (a standby) or of the journal (a restart): the
  // engine and this stage reach the state of the node that wrote it; the replies it causes are
  // cached for retransmissions but not sent. Run to completion on the calling thread. A reload
  // (ConfigChange) is applied through the config replayer at its place in the sequence;
  // Replay::ConfigChange (nothing applied) if there is none, the record carries no configuration
  // or the replayer cannot apply it.
  enum class Replay : std::uint8_t { Applied, Malformed, OutOfOrder, ConfigChange };
  Replay replay(std::uint64_t seq, std::span<const std::uint8_t> record, RouterStage& router);
  // Where the history thread offers its export's position (export_position.hpp); null (the
  // default): nowhere. Set before the first poll; the channel outlives the stage.
  void set_export_positions(ExportPositionChannel* channel) { export_positions_ = channel; }
  // Once per poll cycle (the workers call it): the highest position offered since the last cycle,
  // if above the last one logged or replayed here, is logged as an ExportPosition record when the
  // log has room (else kept for the next cycle). Nothing is logged without a shipper or on a
  // standby. How often a position is offered is the producer's choice (the export: once a
  // second at most); here at most one record per cycle. Returns the records logged (0 or 1).
  std::size_t collect_export_position();
  // The last position this stage logged or replayed (empty: none).
  ExportPosition export_position() const { return export_logged_; }
  // Where node images ask the history thread for its deriver's state at their seq
  // (history_state.hpp); null (the default): images go out at once without it. A finished image
  // waits in this stage (no new capture meanwhile) until the answer comes or `wait` has passed on
  // the stage's clock, then goes to the shipper with the state or without it. Set before the
  // first poll; the channel outlives the stage.
  void set_history_states(HistoryStateChannel* channel, router::Micros wait) {
    history_states_ = channel;
    history_wait_ = wait;
  }
  // Who turns a ConfigChange's configuration into a command (null: nobody). Set before replaying;
  // it outlives the stage.
  void set_config_replayer(ConfigReplayer* replayer) { replayer_ = replayer; }
  // The configuration the last reload applied here installed (null: the starting one); what the
  // images this stage takes carry, and what a RouterStage built later starts with.
  const ConfigTag* config_tag() const { return config_tag_; }
  // Installs a node image into `engine` and this stage: one taken under a reloaded configuration
  // is restored into an engine built from it (through the config replayer), which then replaces
  // `engine`. False, `why` set and nothing changed, if the image does not fit.
  bool restore_image(const NodeImage& image, router::Engine& engine, std::string& why);
  // The session (clients with their roles, reply windows, call owners, the agents calls are at,
  // desktops, next sequence number) as bytes, clients by ID so that two nodes with the same state
  // give the same bytes.
  std::vector<std::uint8_t> save_session() const;
  // Replaces the session with an image; false (nothing changed) if it is malformed or does not
  // fit this stage's sizes.
  bool restore_session(std::span<const std::uint8_t> image);
  // Asks for a node image at the next poll cycle (as LogShipper::wants_image does): the routing
  // core snapshots the engine (a CaptureEngine command), this stage adds its session, and the
  // shipper gets it (LogShipper::on_image).
  void want_image() { image_wanted_ = true; }
  // Asks for the engine's state hash at the next poll cycle (LogShipper::on_hash).
  void want_hash() { hash_wanted_ = true; }
  // Datagrams held until the log's acknowledgement lets them leave (output gating).
  std::size_t held() const { return held_count_; }

  // ---- High availability ----
  // The epoch every datagram this node sends carries (its header's `epoch`).
  void set_epoch(std::uint32_t epoch) {
    epoch_ = epoch;
    if (security_ != nullptr) {
      security_->set_epoch(epoch);
    }
  }
  std::uint32_t epoch() const { return epoch_; }
  // A standby answers every message with Error NotPrimary naming `primary` (zeros: unknown) and
  // applies nothing; the log reaches its engine through replay(). Off: it routes (promotion).
  void set_standby(bool standby, Endpoint primary = {}) {
    standby_ = standby;
    primary_ = primary;
  }
  bool standby() const { return standby_; }
  // Standby: receives one burst and answers each message NotPrimary; returns datagrams received.
  // With ACDP/2 it also answers handshakes (clients keep a session with both nodes, so that its
  // NotPrimary and, once promoted, its takeover announcement reach them sealed).
  std::size_t refuse_as_standby();
  // A node that has just won its epoch tells every registered client at once: a Heartbeat with
  // seq 0 carrying the new epoch (docs/protocol.md, "Two nodes"), so that a client waiting on the
  // dead node switches now rather than after its own timeout. Not gated: it carries no decision.
  // Returns the number of clients told.
  std::size_t announce_primary();

  // ---- Roles (roles.hpp) ----
  // A client's role (None: unknown or not registered) and the agent it signed in (kNone: none).
  // The IO thread (tests: between polls).
  wire::Role client_role(std::uint32_t client_id) const;
  router::AgentIndex client_agent(std::uint32_t client_id) const;

 private:
  struct Client {
    std::uint32_t id = 0;
    Endpoint endpoint;
    bool registered = false;
    std::uint64_t nonce = 0;  // of the last Register: a new one means the client restarted
    // What it may send (roles.hpp). Set only by apply_registration: today the role its Register
    // named; with an authenticated handshake, its configured one.
    wire::Role role = wire::Role::None;
    // The agent it signed in (bind_agent), kNone before its sign-in and after the agent's
    // sign-out; agent_desktop_ is the same binding seen from the agent.
    router::AgentIndex agent = router::kNone;
    // The agent a desk move took from it, until it signs an agent in again: its messages that
    // need a signed-in agent are refused AgentMoved, not SignInFirst. Set where the move is
    // applied, so on every node that applies the log (a standby that takes over says the same).
    router::AgentIndex moved_agent = router::kNone;
  };
  struct Pending {  // an outgoing datagram being filled for one client
    std::uint32_t slot = router::kNone;
    std::size_t length = 0;
    std::uint8_t count = 0;
    std::array<std::uint8_t, wire::kMaxSendDatagram> bytes{};
  };

  std::uint32_t client_slot(std::uint32_t client_id, const Endpoint& from, bool registering);
  // A Register message's effect on the client (a new nonce resets its reply window); logged.
  // False if the log has no room (nothing changed; the client retransmits).
  bool register_client(std::uint32_t slot, std::uint64_t nonce, const Endpoint& from,
                       wire::Role role);
  void apply_registration(std::uint32_t slot, std::uint64_t nonce, const Endpoint& from,
                          wire::Role role);
  // A desktop's OperationReport (already role-checked): logged, so that the standby's audit trail
  // has it too, then applied. Answered Overloaded, uncached, when the log has no room.
  void report_operation(std::uint32_t slot, const Message& m);
  // A desktop's PasswordChange (already role-checked: a desktop, for the agent it signed in):
  // refused unless over ACDP/2 with a verifier; else a verifier job (old and new password copied
  // into it, the message's copy wiped). The answer comes with the job's result.
  void change_password(std::uint32_t slot, const Message& m);
  // A verifier's result for a PasswordChange: changed → logged (CredentialChange) and applied;
  // otherwise answered with the reason.
  void finish_password_change(const SignInResult& r);
  // Logs (if logging) a CredentialChange for a spent enrolment code; false if the log has no room.
  bool log_enrolment_spent(const SignInResult& r);
  // A CredentialChange applied (primary after logging, follower when replaying): a hash that is
  // not a valid argon2id string is refused and counted (nothing applied); else the writer, if
  // set, stores it and for a password the agent's tokens are revoked and the request answered Ack
  // (cached) — by a primary once the writer is done, right away by a replaying node.
  void apply_credential_change(std::uint32_t slot, const LogRecord& record);
  // Room to log and store one more credential change now (log and writer)?
  bool credential_room() const;
  // A sign-in presenting a session token (translate): true with `input` the AgentSignIn if the
  // token is valid and the agent is not signed in from this client; valid and already signed in
  // from it: answered Ack here (no engine input) and false; invalid: answered TokenRefused,
  // counted, and false.
  bool sign_in_with_token(std::uint32_t slot, const Message& m, wire::AgentEvent& event,
                          router::AgentIndex agent, Input& input);
  // Sends the agent's token for the day to client `slot` (the reply to its sign-in `seq`) if
  // tokens are on and the client is an ACDP/2 desktop; otherwise nothing.
  void send_token(std::uint32_t slot, std::uint64_t seq, router::AgentIndex agent);
  // A retransmitted sign-in or PasswordChange answered from the reply cache: if the cached answer
  // is an accepted sign-in's Ack (without must-change), or a PasswordChange's Ack, and the client
  // is still bound to the agent, the day's token again (the cache keeps only the Ack).
  void resend_token(std::uint32_t slot, const Message& m, std::span<const std::uint8_t> cached);
  // An operator's RevokeTokens: logged (TokenRevoke) and applied; the reply goes to the control
  // thread. Overloaded, nothing changed, when the log has no room.
  void revoke_tokens(const ControlRequest& request);
  // Moves the agent's token generation on: every token minted before is refused from now on.
  void apply_token_revoke(router::AgentNumber agent);
  // Tells the audit sink and answers Ack (cached: a retransmission is not reported twice).
  void apply_operation(std::uint32_t slot, std::uint64_t seq, const LogRecord& record);
  // The role check of one message (roles.hpp): false, with the refusal answered and counted, if
  // the client may not send it.
  bool permitted(std::uint32_t slot, const Message& m);
  // The client signed the agent in (its sign-in was accepted by the engine) / the agent signed
  // out: the one place the binding changes. Derived from the log's inputs and decisions, so a
  // replaying node binds the same clients.
  void bind_agent(std::uint32_t slot, router::AgentIndex agent);
  void unbind_agent(router::AgentIndex agent);
  void log_record(std::uint64_t seq, const LogRecord& record);
  Replay replay_reload(std::uint64_t seq, const LogRecord& record, RouterStage& router);
  // Puts the datagram header on every pending datagram and lists them in tx_; returns how many.
  std::size_t assemble_pending();
  // Sends what the log has acknowledged, holds the rest.
  void release_held();
  void send_now(const Datagram* datagrams, std::size_t n);
  // ACDP/2: the datagram the decoder reads (d's own bytes, or the opened ACDP/1 view in scratch_),
  // empty if there is none; sends what the handshake worker made.
  std::span<const std::uint8_t> admit(const Datagram& d);
  void send_handshakes();
  // The capture command (sequence number `seq`) came back: engine image + session to the shipper.
  void finish_image(std::uint64_t seq);
  // Translates one valid message; false if it produced no engine input (already answered).
  bool translate(std::uint32_t slot, const Message& m, Input& input);
  // Tells the audit sink (if any) about an agent event of client `slot`.
  // Reports a client event (audit_sink.hpp) with the client's ID and address filled in.
  void audit_client(std::uint32_t slot, ClientAuditEvent event) noexcept;
  void audit_agent(AgentAuditEvent::What what, router::AgentNumber agent, std::uint32_t slot,
                   std::uint64_t device) noexcept;
  void reply_error(std::uint32_t slot, std::uint64_t seq, std::uint16_t reason, bool cache,
                   bool replicated = true);
  void send_message(std::uint32_t slot, wire::Type type, std::uint64_t seq, const void* body,
                    std::size_t size);
  // Queues one encoded message (header and body) for the client.
  void append(std::uint32_t slot, std::span<const std::uint8_t> message);
  void reply(std::uint32_t slot, std::uint64_t request_seq, wire::Type type, const void* body,
             std::size_t size, bool replicated = true);
  void send_route_response(std::uint32_t slot, std::uint64_t reply_to, const router::Decision& d);
  void handle_decision(const Output& o);

  Port& port_;
  Sequencer sequencer_;
  Clock& clock_;
  AsyncVerifier* verifier_;
  ControlChannel* control_ = nullptr;
  AgentAuditSink* audit_ = nullptr;
  CredentialWriter* credentials_ = nullptr;
  SessionLayer* security_ = nullptr;
  std::vector<std::uint8_t> scratch_;  // ACDP/2: the opened datagram (wiped after decoding)
  std::vector<Datagram> sealed_;       // ACDP/2: what send_now hands the port
  std::size_t pending_capacity_ = wire::kMaxSendDatagram;  // less the seal's growth with ACDP/2
  std::vector<router::AgentNumber> agent_numbers_;
  // Password sign-ins waiting for a later part of the poll cycle (DataplaneConfig::signin_burst):
  // a ring of max_clients entries, allocated once. Each holds the message's body (a password:
  // wiped when taken) and the registration it came with (a client that registered again since
  // is not answered). Marked pending in the reply cache while they wait.
  struct WaitingSignIn {
    std::uint32_t slot = 0;
    std::uint64_t nonce = 0;
    std::uint64_t seq = 0;
    std::array<std::uint8_t, sizeof(wire::AgentEvent)> body{};
  };
  std::vector<WaitingSignIn> waiting_sign_ins_;
  std::size_t waiting_head_ = 0;
  std::size_t waiting_count_ = 0;
  std::uint32_t sign_ins_this_cycle_ = 0;
  // True when `m` (a password sign-in) is to wait: the cycle's budget is spent or others wait.
  bool sign_in_waits(const Message& m) const;
  // Puts `m` in the ring; false when it is full (it is then handled at once).
  bool park_sign_in(std::uint32_t slot, const Message& m);
  // Handles waiting sign-ins while the cycle's budget lasts; returns how many.
  std::size_t take_waiting_sign_ins();
  // Agent number -> index into agent_numbers_ (a sign-in's lookup: a shift's thousands of
  // sign-ins must not each scan every agent). Rebuilt whenever agent_numbers_ changes.
  router::IdMap agent_index_;
  void index_agents();
  router::AgentIndex agent_index(router::AgentNumber number) const {
    const std::uint32_t i = agent_index_.find(number);
    return i == router::IdMap::kMissing ? kNoAgent : i;
  }
  static constexpr router::AgentIndex kNoAgent = router::kNone;
  DataplaneConfig config_;
  CoreCounters counters_;
  ReplyCache cache_;
  router::IdMap client_ids_;  // client ID -> slot
  std::vector<Client> clients_;
  router::IdMap call_owner_;                  // call ID -> slot of the switch that asked
  router::IdMap call_agent_;                  // call ID -> agent it is offered to or talking with
  std::vector<std::uint32_t> agent_desktop_;  // agent -> slot of its desktop
  // agent -> its token generation: bumped by sign-out, forced logout and TokenRevoke records, so
  // every node that applies the log holds the same table (in the session image too).
  std::vector<std::uint32_t> token_generation_;
  const SessionTokens* tokens_ = nullptr;
  WallClock* wall_ = nullptr;
  std::vector<Datagram> rx_;
  std::vector<Pending> pending_;
  std::size_t pending_used_ = 0;
  std::vector<Datagram> tx_;
  router::Micros last_input_ = 0;
  // The reply being assembled for the input whose outputs are being handled.
  bool answered_ = false;
  std::uint16_t failure_ = 0;
  ControlReply command_reply_;  // an operator command's, when it is one
  // A structural reload sent to the routing core: its sign-in table is swapped in when the
  // command's result comes back (the engine has been swapped by then).
  std::uint64_t swap_ticket_ = 0;
  EngineSwap* swap_ = nullptr;

  LogShipper* shipper_ = nullptr;
  ExportPositionChannel* export_positions_ = nullptr;
  ExportPosition export_wanted_;  // the highest offered
  ExportPosition export_logged_;  // the highest logged (or replayed)
  bool replaying_ = false;        // replies are cached, not sent
  ConfigReplayer* replayer_ = nullptr;
  const ConfigTag* config_tag_ = nullptr;  // the running configuration's (null: the starting one)
  const ConfigTag* reload_tag_ = nullptr;  // a reload stamped, until its end output
  ConfigAssembler config_pieces_;          // a replayed reload's ConfigChunk pieces
  std::vector<std::uint8_t> chunk_bytes_;  // a ConfigChunk record being logged
  std::uint64_t reload_seq_ = 0;
  std::uint32_t epoch_ = 0;
  bool standby_ = false;
  Endpoint primary_;
  // Output gating: datagrams waiting for the log to acknowledge the last input before them.
  struct Held {
    Endpoint to;
    std::uint64_t after_seq = 0;
    std::uint16_t length = 0;
    std::array<std::uint8_t, wire::kMaxSendDatagram> bytes{};
  };
  std::vector<Held> held_;
  std::size_t held_head_ = 0;
  std::size_t held_count_ = 0;
  std::vector<Datagram> released_;
  // Node images (CaptureEngine): one at a time.
  bool image_wanted_ = false;
  bool capturing_ = false;  // a capture command is on its way through the routing core
  bool capturing_image_ = false;
  bool hash_wanted_ = false;
  std::uint64_t engine_hash_ = 0;
  std::vector<std::uint8_t> engine_image_;
  // An image waiting for the history thread's state at its seq (set_history_states).
  HistoryStateChannel* history_states_ = nullptr;
  router::Micros history_wait_ = 0;
  std::optional<NodeImage> waiting_image_;
  router::Micros waiting_since_ = 0;
  void ship_waiting_image();
};

class RouterStage {
 public:
  // `config_tag`: the configuration the engine runs under (IoStage::config_tag), null: the
  // starting one.
  explicit RouterStage(router::Engine& engine, const ConfigTag* config_tag = nullptr)
      : engine_(engine), config_tag_(config_tag) {}
  template <typename Push>
  void apply(const Input& input, Push&& push_output) {
    Output o;
    o.input_seq = input.seq;
    o.client_slot = input.client_slot;
    o.request_seq = input.request_seq;
    o.request_type = input.request_type;
    o.request_call = input.event.call;
    o.request_event = input.event.type;
    o.request_agent = input.event.agent;
    o.request_reason = input.event.reason;
    if (!std::holds_alternative<ApplyEvent>(input.command)) {
      const std::uint64_t began = latency_ != nullptr ? IntervalClock::now() : 0;
      // Time first (due timers fire), then the command.
      router::Event tick;
      tick.time = input.event.time;
      engine_.apply(tick, [&](const router::Decision& d) {
        o.decision = d;
        push_output(o);
      });
      bool refused = false;
      if (std::holds_alternative<PreviewRoute>(input.command)) {
        o.preview = true;
        engine_.preview_route(input.event, [&](const router::Decision& d) {
          o.decision = d;
          push_output(o);
        });
        o.preview = false;
      } else if (const auto* swap = std::get_if<SwapEngine>(&input.command)) {
        // The new engine takes over (free agents may take waiting calls: real decisions), then
        // becomes the running one; the old state leaves with the swap object.
        EngineSwap& s = *swap->swap;
        s.result = s.engine->take_over(engine_, [&](const router::Decision& d) {
          o.decision = d;
          push_output(o);
        });
        refused = !s.result.ok();
        if (!refused) {
          std::swap(engine_, *s.engine);
        }
      } else if (std::holds_alternative<RevokeTokens>(input.command)) {
        // The IO stage handles it (collect_control); nothing for the engine.
      } else if (const auto* capture = std::get_if<CaptureEngine>(&input.command)) {
        if (capture->image != nullptr) {
          engine_.snapshot_into(*capture->image);
        }
        if (capture->hash != nullptr) {
          *capture->hash = engine_.state_hash();
        }
      } else {
        refused = !engine_.reconfigure(*std::get<Reconfigure>(input.command).config);
      }
      if (refused) {
        o.command_result = CommandResult::ReloadRefused;
      } else if (input.config_tag != nullptr) {
        config_tag_ = input.config_tag;
      }
      if (latency_ != nullptr) {
        latency_->record_command(IntervalClock::elapsed_ns(began, IntervalClock::now()));
      }
      o.end = true;
      o.decision = router::Decision{};
      push_output(o);
      return;
    }
    const std::uint64_t start = latency_ != nullptr ? IntervalClock::now() : 0;
    engine_.apply(input.event, [&](const router::Decision& d) {
      o.decision = d;
      push_output(o);
    });
    if (latency_ != nullptr) {
      latency_->record(input.event.type == router::EventType::Tick,
                       IntervalClock::elapsed_ns(start, IntervalClock::now()));
    }
    o.end = true;
    o.decision = router::Decision{};
    push_output(o);
  }
  router::Engine& engine() { return engine_; }
  const ConfigTag* config_tag() const { return config_tag_; }
  // Measure every input's time in the engine into this histogram (off when null).
  void set_latency(EngineLatency* h) {
    if (h != nullptr) {
      IntervalClock::calibrate();  // here, not on the first timed input
    }
    latency_ = h;
  }

 private:
  router::Engine& engine_;
  EngineLatency* latency_ = nullptr;
  const ConfigTag* config_tag_ = nullptr;
};

// Run to completion on one thread: receive, sequence, route, reply.
class Worker {
 public:
  Worker(router::Engine& engine, IoStage& io, StatePublisher* publisher = nullptr,
         EngineLatency* latency = nullptr)
      : router_(engine, io.config_tag()), io_(io), publisher_(publisher) {
    router_.set_latency(latency);
  }
  // One poll cycle; returns datagrams received plus verifier results handled.
  std::size_t poll();

 private:
  RouterStage router_;
  IoStage& io_;
  StatePublisher* publisher_;
};

// IoStage and RouterStage on two threads (each pinned when a CPU is given), joined by SPSC rings.
class SplitWorker {
 public:
  // `gauges`, if given, gets the rings' occupancy (see RingGauges).
  SplitWorker(router::Engine& engine, IoStage& io, int io_cpu, int router_cpu,
              StatePublisher* publisher = nullptr, EngineLatency* latency = nullptr,
              RingGauges* gauges = nullptr);
  ~SplitWorker();
  void stop();
  // Gives the IO thread SCHED_FIFO at `priority` (make_realtime); 0 or the errno it was refused
  // with. The owner's thread, once, after construction.
  int make_io_realtime(int priority);
  std::uint64_t ring_full() const { return ring_full_.load(std::memory_order_relaxed); }

 private:
  void io_loop(int cpu);
  void router_loop(int cpu);

  RouterStage router_;
  IoStage& io_;
  StatePublisher* publisher_;
  RingGauges* gauges_;
  // Inputs: IoStage -> RouterStage. Outputs: RouterStage -> IoStage (an input may cause several
  // decisions, hence the larger ring).
  static constexpr std::size_t kInputRingEntries = 8192;
  static constexpr std::size_t kOutputRingEntries = 32768;
  boost::lockfree::spsc_queue<Input, boost::lockfree::capacity<kInputRingEntries>> inputs_;
  boost::lockfree::spsc_queue<Output, boost::lockfree::capacity<kOutputRingEntries>> outputs_;
  // stop(): store(release) pairs with the loops' load(acquire), so both threads see everything
  // done before stop() when they leave.
  std::atomic<bool> stop_{false};
  // Bumped by the IO thread (relaxed), read by any thread (relaxed): a statistic, orders nothing.
  std::atomic<std::uint64_t> ring_full_{0};
  std::thread io_thread_;
  std::thread router_thread_;
};

// Pins the calling thread to a CPU; false if that failed (the thread runs unpinned).
bool pin_to_cpu(int cpu);

// Gives `thread` the real-time policy SCHED_FIFO at `priority` (1..99), so that no thread of the
// normal policy on its CPU preempts it (with SCHED_RESET_ON_FORK: threads and processes it starts
// get the normal policy). Returns 0, or the errno the OS refused it with, the thread's policy then
// unchanged: EPERM (the process has neither CAP_SYS_NICE nor an RLIMIT_RTPRIO of at least
// `priority`, or its cgroup has no real-time time), EINVAL (`priority` out of range). Any thread.
// A SCHED_FIFO thread that polls without sleeping leaves its CPU to others only through the
// kernel's real-time throttling (kernel.sched_rt_runtime_us): give such a thread a CPU of its own.
int make_realtime(std::thread::native_handle_type thread, int priority);

}  // namespace acd::dataplane

#include "acd/dataplane/pipeline_impl.hpp"
