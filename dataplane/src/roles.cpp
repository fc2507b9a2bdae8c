// The role table: which client role may send which message, and for which agent or call.
#include "acd/dataplane/roles.hpp"

#include <cstddef>
#include <cstring>

namespace acd::dataplane {

using wire::AgentEventKind;
using wire::Role;
using wire::Type;

namespace {

bool acts_for_agents(Role r) {
  return r == Role::Desktop || r == Role::Supervisor;
}

// A desktop's (or a supervisor's) message about its own agent's call.
Refusal own_call(const Standing& s) {
  if (s.agent == router::kNone) {
    return Refusal::SignInFirst;
  }
  return s.call_agent == s.agent ? Refusal::None : Refusal::NotYourCall;
}

Refusal agent_event(const Standing& s, const wire::AgentEvent& e) {
  switch (e.kind) {
    case AgentEventKind::SignIn:
      // One client, one agent: a second agent needs its own desktop (or a sign-out first).
      if (s.agent != router::kNone && s.sign_in_agent != router::kNone &&
          s.sign_in_agent != s.agent) {
        return Refusal::NotYourAgent;
      }
      return Refusal::None;
    case AgentEventKind::ForceReady:
    case AgentEventKind::ForceLogout:
      // A supervisor's, for any agent, signed in or not.
      return s.role == Role::Supervisor ? Refusal::None : Refusal::NotPermitted;
    case AgentEventKind::SignOut:
    case AgentEventKind::Ready:
    case AgentEventKind::NotReady:
    case AgentEventKind::WrapUpDone:
      break;
  }
  if (s.agent == router::kNone) {
    return Refusal::SignInFirst;
  }
  return e.agent == s.agent ? Refusal::None : Refusal::NotYourAgent;
}

}  // namespace

Refusal check_role(const Standing& s, const Message& m) {
  switch (m.type) {
    case Type::Register:
    case Type::Heartbeat:
      return Refusal::None;
    case Type::RouteRequest:
      return s.role == Role::Switch ? Refusal::None : Refusal::NotPermitted;
    case Type::SiteSummary:
    case Type::SiteRouteRequest:
      // Site messages need a site (a peer's acdd, or the gateway that hands its calls over).
      return s.role == Role::Site ? Refusal::None : Refusal::NotPermitted;
    case Type::CallEvent: {
      if (s.role == Role::Switch || s.role == Role::Site) {
        return s.owns_call ? Refusal::None : Refusal::NotYourCall;
      }
      if (!acts_for_agents(s.role)) {
        return Refusal::NotPermitted;
      }
      // The caller's hang-up while queued or ringing is the switch's to tell.
      if (m.as<wire::CallEvent>().kind == wire::CallEventKind::Abandoned) {
        return Refusal::NotPermitted;
      }
      return own_call(s);
    }
    case Type::RingNoAnswer:
      // The phone the switch rang refused the call or rang out: only the client that routed the
      // call knows, and only for the agent the call is offered to now (a report that comes after
      // acd's own ring timeout re-offered the call must not take it from the next agent).
      if (s.role != Role::Switch && s.role != Role::Site) {
        return Refusal::NotPermitted;
      }
      if (!s.owns_call) {
        return Refusal::NotYourCall;
      }
      return s.call_agent != router::kNone && s.call_agent == m.as<wire::RingNoAnswer>().agent
                 ? Refusal::None
                 : Refusal::NotRingingThere;
    case Type::OfferResult:
    case Type::TransferRequest:
      return acts_for_agents(s.role) ? own_call(s) : Refusal::NotPermitted;
    case Type::AgentEvent:
      return acts_for_agents(s.role) ? agent_event(s, m.as<wire::AgentEvent>())
                                     : Refusal::NotPermitted;
    case Type::OutboundRequest: {
      if (!acts_for_agents(s.role)) {
        return Refusal::NotPermitted;
      }
      const auto r = m.as<wire::OutboundRequest>();
      if (r.kind == wire::OutboundKind::ByQueue) {
        // The engine reserves any ready agent of the group: a supervisor's power.
        return s.role == Role::Supervisor ? Refusal::None : Refusal::NotPermitted;
      }
      if (s.agent == router::kNone) {
        return Refusal::SignInFirst;
      }
      return r.agent_number == s.agent_number ? Refusal::None : Refusal::NotYourAgent;
    }
    case Type::OperationReport:
      // An agent's own work: a desktop once it has signed its agent in; a supervisor's desk too.
      if (!acts_for_agents(s.role)) {
        return Refusal::NotPermitted;
      }
      return s.role == Role::Desktop && s.agent == router::kNone ? Refusal::SignInFirst
                                                                 : Refusal::None;
    case Type::PasswordChange:
      // Only an agent's own desktop, for the agent it signed in (a supervisor's desk is not the
      // agent's; an administrator uses acdctl).
      if (s.role != Role::Desktop) {
        return Refusal::NotPermitted;
      }
      if (s.agent == router::kNone) {
        return Refusal::SignInFirst;
      }
      {
        // The number alone: no copy of the passwords on this stack.
        std::uint64_t number = 0;
        std::memcpy(&number, m.body + offsetof(wire::PasswordChange, agent_number), sizeof(number));
        return number == s.agent_number ? Refusal::None : Refusal::NotYourAgent;
      }
    case Type::RouteResponse:
    case Type::Offer:
    case Type::Ack:
    case Type::Error:
    case Type::SessionToken:
      return Refusal::None;  // only acd sends these: the translation refuses them (BadType)
  }
  return Refusal::NotPermitted;
}

wire::WireError refusal_reason(Refusal r) {
  switch (r) {
    case Refusal::NotYourAgent:
      return wire::WireError::NotYourAgent;
    case Refusal::NotYourCall:
      return wire::WireError::NotYourCall;
    case Refusal::SignInFirst:
      return wire::WireError::SignInFirst;
    case Refusal::NotRingingThere:
      return wire::WireError::NotRingingThere;
    case Refusal::None:
    case Refusal::NotPermitted:
      break;
  }
  return wire::WireError::NotPermitted;
}

Counter refusal_counter(Refusal r) {
  switch (r) {
    case Refusal::NotYourAgent:
      return Counter::refused_not_your_agent;
    case Refusal::NotYourCall:
      return Counter::refused_not_your_call;
    case Refusal::SignInFirst:
      return Counter::refused_sign_in_first;
    case Refusal::NotRingingThere:
      return Counter::refused_not_ringing_there;
    case Refusal::None:
    case Refusal::NotPermitted:
      break;
  }
  return Counter::refused_not_permitted;
}

std::string_view refusal_label(Refusal r) {
  switch (r) {
    case Refusal::None:
      return "";
    case Refusal::NotPermitted:
      return "not_permitted";
    case Refusal::NotYourAgent:
      return "not_your_agent";
    case Refusal::NotYourCall:
      return "not_your_call";
    case Refusal::SignInFirst:
      return "sign_in_first";
    case Refusal::NotRingingThere:
      return "not_ringing_there";
  }
  return "not_permitted";
}

}  // namespace acd::dataplane
