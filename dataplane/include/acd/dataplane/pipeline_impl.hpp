// Template members of IoStage (included by pipeline.hpp). `push(Input&) -> bool` stamps the input
// through the sequencer and queues it to the engine; false means the ring toward the engine is
// full, and the request is answered "Overloaded" (the client retransmits) — never half-applied.
#pragma once

// For a reader (or a compiler) that starts here; pipeline.hpp includes this file at its end.
#include "acd/dataplane/image_buffers.hpp"
#include "acd/dataplane/pipeline.hpp"

namespace acd::dataplane {

template <typename Push>
std::size_t IoStage::receive(Push&& push) {
  if (standby_) {
    return refuse_as_standby();
  }
  send_handshakes();
  if (held_count_ > held_.size() / 2) {
    return 0;  // the log is behind: leave datagrams in the port (clients retransmit) until it is not
  }
  sign_ins_this_cycle_ = 0;
  const std::size_t n = port_.receive(rx_);
  const Sequencer::Batch one_time(sequencer_, n > 0);
  for (std::size_t i = 0; i < n; ++i) {
    const Datagram& d = rx_[i];
    counters_.bump(Counter::rx_datagrams);
    const std::span<const std::uint8_t> payload = admit(d);
    if (payload.empty()) {
      continue;  // ACDP/2: a handshake, or dropped (counted by the layer)
    }
    wire::DatagramHeader header;
    switch (check_header(payload, header)) {
      case HeaderCheck::Ok:
        break;
      case HeaderCheck::BadMagic:
        counters_.bump(Counter::drop_bad_magic);
        continue;
      case HeaderCheck::BadVersion:
        counters_.bump(Counter::drop_bad_version);
        continue;
      case HeaderCheck::BadLength:
        counters_.bump(Counter::drop_bad_length);
        continue;
    }
    const std::uint32_t slot = client_slot(header.client_id, d.peer, false);
    if (slot == router::kNone) {
      counters_.bump(Counter::drop_not_registered);
      if (security_ != nullptr) {
        wipe(scratch_.data(), payload.size());
      }
      continue;
    }
    auto on_bad = [&](std::uint64_t seq, wire::WireError why) {
      switch (why) {
        case wire::WireError::BadType:
          counters_.bump(Counter::drop_bad_type);
          break;
        case wire::WireError::BadField:
          counters_.bump(Counter::drop_bad_field);
          break;
        default:
          counters_.bump(Counter::drop_bad_length);
          break;
      }
      reply_error(slot, seq, static_cast<std::uint16_t>(why), false);
    };
    auto on_message = [&](const Message& m) {
      counters_.bump(Counter::rx_messages);
      if (m.type == wire::Type::Register) {
        const auto r = m.as<wire::Register>();
        // With ACDP/2 the configured role, never the one the client names.
        const wire::Role role = security_ != nullptr ? security_->role_of(header.client_id)
                                                     : static_cast<wire::Role>(r.role);
        if (!register_client(slot, r.nonce, d.peer, role)) {
          counters_.bump(Counter::ring_full);
          reply_error(slot, m.seq, static_cast<std::uint16_t>(wire::WireError::Overloaded), false);
          return;
        }
      } else if (!clients_[slot].registered) {
        counters_.bump(Counter::drop_not_registered);
        reply_error(slot, m.seq, static_cast<std::uint16_t>(wire::WireError::NotRegistered), false);
        return;
      }
      if (m.type == wire::Type::Heartbeat) {
        const auto hb = m.as<wire::Heartbeat>();
        send_message(slot, wire::Type::Heartbeat, m.seq, &hb, sizeof(hb));
        return;
      }
      std::span<const std::uint8_t> cached;
      switch (cache_.find(slot, m.seq, cached)) {
        case ReplyCache::Lookup::Answered:
          counters_.bump(Counter::duplicates_answered);
          append(slot, cached);
          resend_token(slot, m, cached);
          return;
        case ReplyCache::Lookup::Pending:
          counters_.bump(Counter::drop_pending);
          return;
        case ReplyCache::Lookup::Stale:
          counters_.bump(Counter::drop_stale_seq);
          return;
        case ReplyCache::Lookup::New:
          break;
      }
      if (!permitted(slot, m)) {
        return;  // refused by role: answered, counted, nothing applied or logged
      }
      if (m.type == wire::Type::OperationReport) {
        report_operation(slot, m);  // for the audit trail: no engine input
        return;
      }
      if (m.type == wire::Type::PasswordChange) {
        change_password(slot, m);  // a verifier job; no engine input
        return;
      }
      if (sign_in_waits(m) && park_sign_in(slot, m)) {
        return;  // behind this cycle's other messages (take_waiting_sign_ins)
      }
      Input input;
      if (!translate(slot, m, input)) {
        return;
      }
      cache_.mark_pending(slot, m.seq);
      if (!push(input)) {
        counters_.bump(Counter::ring_full);
        cache_.forget(slot, m.seq);
        reply_error(slot, m.seq, static_cast<std::uint16_t>(wire::WireError::Overloaded), false);
        return;
      }
      last_input_ = input.event.time;
    };
    for_each_message(payload, header, on_message, on_bad);
    if (security_ != nullptr) {
      wipe(scratch_.data(), payload.size());  // the plaintext (a sign-in's password) goes
    }
  }
  return n + take_waiting_sign_ins();
}

template <typename Push>
std::size_t IoStage::collect_sign_ins(Push&& push) {
  if (verifier_ == nullptr) {
    return 0;
  }
  return verifier_->collect([&](const SignInResult& r) {
    if (r.task == VerifierTask::PasswordChange) {
      finish_password_change(r);
      return;
    }
    audit_agent(r.accepted ? AgentAuditEvent::What::SignIn : AgentAuditEvent::What::SignInRefused,
                r.number, r.client_slot, r.device);
    if (r.unavailable) {
      // Not a wrong password: uncached, so that the desktop's retry is checked afresh.
      counters_.bump(Counter::signin_unavailable);
      cache_.forget(r.client_slot, r.request_seq);
      reply_error(r.client_slot, r.request_seq,
                  static_cast<std::uint16_t>(wire::WireError::DirectoryUnavailable), false);
      return;
    }
    if (!r.accepted) {
      counters_.bump(Counter::auth_failed);
      reply_error(r.client_slot, r.request_seq,
                  static_cast<std::uint16_t>(wire::WireError::AuthFailed), true, false);
      return;
    }
    if (r.enrolment_spent && !log_enrolment_spent(r)) {
      // Spent by the verifier but not logged: the code becomes usable again (the writer undoes
      // the spend in the file and in memory), so the desktop's retry signs in.
      if (credentials_ != nullptr) {
        CredentialWrite undo;
        undo.action = CredentialWrite::Action::RestoreEnrolment;
        undo.kind = CredentialChangeKind::EnrolmentSpent;
        undo.number = r.number;
        std::memcpy(undo.hash, r.hash, sizeof(undo.hash));
        credentials_->submit_waiting(undo);
      }
      counters_.bump(Counter::ring_full);
      cache_.forget(r.client_slot, r.request_seq);
      reply_error(r.client_slot, r.request_seq,
                  static_cast<std::uint16_t>(wire::WireError::Overloaded), false);
      return;
    }
    Input input;
    input.client_slot = r.client_slot;
    input.request_seq = r.request_seq;
    input.request_type = wire::Type::AgentEvent;
    input.event.type = router::EventType::AgentSignIn;
    input.event.agent = r.agent;
    input.event.device = r.device;
    // Logged with the input, so that the standby's cached Ack says the same.
    input.event.reason = r.must_change ? kSignInMustChange : 0;
    // The client is bound to the agent once the engine accepts the sign-in (IoStage::handle).
    if (!push(input)) {
      counters_.bump(Counter::ring_full);
      cache_.forget(r.client_slot, r.request_seq);
      reply_error(r.client_slot, r.request_seq,
                  static_cast<std::uint16_t>(wire::WireError::Overloaded), false);
      return;
    }
    last_input_ = input.event.time;
  });
}

template <typename Push>
std::size_t IoStage::collect_control(Push&& push) {
  if (control_ == nullptr) {
    return 0;
  }
  return control_->drain([&](const ControlRequest& r) {
    if (std::holds_alternative<RevokeTokens>(r.command)) {
      revoke_tokens(r);  // the IO stage's own table: logged here, never sent to the engine
      return;
    }
    Input input;
    input.client_slot = kControlClient;
    input.request_seq = r.ticket;
    input.request_type = wire::Type::AgentEvent;
    input.event = r.event;
    input.command = r.command;
    input.config_tag = r.config_tag;
    // Before the push: run to completion, the push applies the input and handles its outputs.
    if (const auto* swap = std::get_if<SwapEngine>(&r.command)) {
      swap_ticket_ = r.ticket;
      swap_ = swap->swap;
    }
    if (!push(input)) {
      if (std::holds_alternative<SwapEngine>(r.command)) {
        swap_ = nullptr;  // it never reaches the engine
      }
      ControlReply busy;
      busy.ticket = r.ticket;
      busy.result = CommandResult::Overloaded;
      control_->post(busy);
      return;
    }
    last_input_ = input.event.time;
  });
}

template <typename Push>
void IoStage::maybe_tick(Push&& push) {
  if (shipper_ != nullptr && !capturing_ && !waiting_image_ &&
      (image_wanted_ || hash_wanted_ || shipper_->wants_image())) {
    // A node image, or only the state hash: the routing core takes it at this point of the log;
    // handle() adds the session when the command's end comes back (run to completion: within the
    // push).
    const bool image = image_wanted_ || !hash_wanted_;
    if (image) {
      engine_image_ = image_buffers().take();  // an earlier image's pages, already touched
    }
    Input capture;
    capture.client_slot = kImageClient;
    capture.command = CaptureEngine{image ? &engine_image_ : nullptr, &engine_hash_};
    capturing_ = true;
    capturing_image_ = image;
    const bool wanted_image = image_wanted_ || image;
    image_wanted_ = false;
    hash_wanted_ = false;
    if (image && history_states_ != nullptr && !standby_) {
      // Asked before the capture is stamped (and logged): the history thread reads the log after
      // this thread wrote it, so it has not passed the capture's seq yet.
      history_states_->request(sequencer_.next());
    }
    if (push(capture)) {
      last_input_ = capture.event.time;
    } else {
      capturing_ = false;
      image_wanted_ = wanted_image;  // next cycle
      hash_wanted_ = !image;
    }
  }
  const router::Micros now = clock_.now();
  if (now - last_input_ < config_.tick_interval) {
    return;
  }
  Input tick;
  tick.event.type = router::EventType::Tick;
  if (push(tick)) {
    last_input_ = tick.event.time;
  }
}

}  // namespace acd::dataplane
