// Who may send what: the per-message role check of the IO stage (docs/protocol.md, "Who may send
// what"). A pure function of the message and of facts the IO stage keeps about its sender — the
// client's role, the agent it signed in, and the message's call — so the table is read and tested
// in one place. The IO stage runs it before a message is translated: a refused message is answered
// Error with the refusal's reason, counted, and changes nothing (it is never sequenced, logged or
// applied).
//
// Thread-safety: pure functions and plain data.
#pragma once

#include <cstdint>
#include <string_view>

#include "acd/dataplane/codec.hpp"
#include "acd/dataplane/counters.hpp"
#include "acd/dataplane/wire.hpp"
#include "acd/router/types.hpp"

namespace acd::dataplane {

enum class Refusal : std::uint8_t {
  None,             // allowed
  NotPermitted,     // the role may not send this message, or this kind of it
  NotYourAgent,     // it names an agent other than the client's
  NotYourCall,      // the call is not the client's
  SignInFirst,      // a desktop (or supervisor) acting for an agent before signing one in
  NotRingingThere,  // a switch's RingNoAnswer names an agent the call is not offered to
};

// What the IO stage knows of a message's sender and of the call the message names.
struct Standing {
  wire::Role role = wire::Role::None;
  router::AgentIndex agent = router::kNone;  // the agent this client signed in (bound), if any
  router::AgentNumber agent_number = 0;      // that agent's ID
  // For a message naming a call (CallEvent, OfferResult, TransferRequest, RingNoAnswer):
  bool owns_call = false;                         // this client asked for it (RouteRequest)
  router::AgentIndex call_agent = router::kNone;  // the agent it is offered to or talking with
  // For a sign-in: the agent its number names (kNone: no such agent; the sign-in says so).
  router::AgentIndex sign_in_agent = router::kNone;
};

// Allowed or why not. `m` is a message that passed the codec's checks (check_body).
Refusal check_role(const Standing& s, const Message& m);

// The wire reason and the counter of a refusal (not None).
wire::WireError refusal_reason(Refusal r);
Counter refusal_counter(Refusal r);
// The refusal's label in the audit trail ("not_your_agent"); "" for None.
std::string_view refusal_label(Refusal r);

}  // namespace acd::dataplane
