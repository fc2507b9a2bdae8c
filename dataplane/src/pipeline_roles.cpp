// IoStage's side of the role check (roles.hpp): the facts about a message's sender and call, the
// refusal answered and counted, and the binding of a client to the agent it signed in.
#include <algorithm>

#include "acd/dataplane/pipeline.hpp"

namespace acd::dataplane {

using router::kNone;

namespace {

// The call a message names, if it names one the role check looks at.
router::CallId call_of(const Message& m) {
  switch (m.type) {
    case wire::Type::CallEvent:
      return m.as<wire::CallEvent>().call_id;
    case wire::Type::OfferResult:
      return m.as<wire::OfferResult>().call_id;
    case wire::Type::TransferRequest:
      return m.as<wire::TransferRequest>().call_id;
    case wire::Type::RingNoAnswer:
      return m.as<wire::RingNoAnswer>().call_id;
    default:
      return 0;
  }
}

}  // namespace

bool IoStage::permitted(std::uint32_t slot, const Message& m) {
  const Client& c = clients_[slot];
  Standing s;
  s.role = c.role;
  s.agent = c.agent;
  s.agent_number = c.agent < agent_numbers_.size() ? agent_numbers_[c.agent] : 0;
  if (const router::CallId call = call_of(m); call != 0) {
    s.owns_call = call_owner_.find(call) == slot;
    const std::uint32_t at = call_agent_.find(call);
    s.call_agent = at == router::IdMap::kMissing ? kNone : at;
  } else if (m.type == wire::Type::AgentEvent) {
    const auto e = m.as<wire::AgentEvent>();
    if (e.kind == wire::AgentEventKind::SignIn) {
      s.sign_in_agent = agent_index(e.agent_number);
    }
  }
  const Refusal why = check_role(s, m);
  if (why == Refusal::None) {
    return true;
  }
  counters_.bump(refusal_counter(why));
  ClientAuditEvent refused;
  refused.what = ClientAuditEvent::What::MessageRefused;
  refused.message_type = static_cast<std::uint8_t>(m.type);
  refused.reason = refusal_label(why);
  refused.seq = m.seq;
  audit_client(slot, refused);
  // A desktop whose agent a desk move took (on this node, or on the one this node took over
  // from: the move is in the log) learns why it no longer acts for the agent.
  const wire::WireError reason = why == Refusal::SignInFirst && c.moved_agent != kNone
                                     ? wire::WireError::AgentMoved
                                     : refusal_reason(why);
  // Cached as an answer given here (not through the log): a retransmission gets the same refusal.
  reply_error(slot, m.seq, static_cast<std::uint16_t>(reason), true, false);
  return false;
}

void IoStage::bind_agent(std::uint32_t slot, router::AgentIndex agent) {
  Client& c = clients_[slot];
  if (c.agent != kNone && c.agent != agent && agent_desktop_[c.agent] == slot) {
    agent_desktop_[c.agent] = kNone;
  }
  const std::uint32_t before = agent_desktop_[agent];
  if (before != kNone && before != slot && before < clients_.size()) {
    clients_[before].agent = kNone;
  }
  agent_desktop_[agent] = slot;
  c.agent = agent;
  c.moved_agent = kNone;  // it signed an agent in again
}

void IoStage::unbind_agent(router::AgentIndex agent) {
  if (agent >= agent_desktop_.size()) {
    return;
  }
  const std::uint32_t slot = agent_desktop_[agent];
  if (slot < clients_.size() && clients_[slot].agent == agent) {
    clients_[slot].agent = kNone;
  }
  agent_desktop_[agent] = kNone;
}

wire::Role IoStage::client_role(std::uint32_t client_id) const {
  const std::uint32_t slot = client_ids_.find(client_id);
  return slot < clients_.size() && clients_[slot].registered ? clients_[slot].role
                                                             : wire::Role::None;
}

router::AgentIndex IoStage::client_agent(std::uint32_t client_id) const {
  const std::uint32_t slot = client_ids_.find(client_id);
  return slot < clients_.size() ? clients_[slot].agent : kNone;
}

}  // namespace acd::dataplane
