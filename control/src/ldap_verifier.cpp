// LDAP sign-in: escaping of the agent's ID, [signin.ldap]'s value checks, the connection pool and
// the bind that checks a password, and the verifier that applies the fallback policy.
#include "acd/control/ldap_verifier.hpp"

#include <ldap.h>
#include <sodium.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>

#include "acd/control/audit_log.hpp"

namespace acd::control {

// ---- escaping and checks -------------------------------------------------------------------

namespace {

constexpr std::string_view kAgent = "{agent}";

void hex_escape(std::string& out, unsigned char ch) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '\\';
  out += kHex[ch >> 4];
  out += kHex[ch & 0xF];
}

std::size_t count_agent(std::string_view pattern) {
  std::size_t n = 0;
  for (std::size_t at = pattern.find(kAgent); at != std::string_view::npos;
       at = pattern.find(kAgent, at + kAgent.size())) {
    ++n;
  }
  return n;
}

}  // namespace

std::string escape_dn_value(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto ch = static_cast<unsigned char>(value[i]);
    const bool edge_space = ch == ' ' && (i == 0 || i + 1 == value.size());
    if (ch == 0) {
      hex_escape(out, ch);
    } else if (std::strchr(",+\"\\<>;=", ch) != nullptr || edge_space || (i == 0 && ch == '#')) {
      out += '\\';
      out += static_cast<char>(ch);
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

std::string escape_filter_value(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (const char c : value) {
    const auto ch = static_cast<unsigned char>(c);
    if (ch == '*' || ch == '(' || ch == ')' || ch == '\\' || ch == 0) {
      hex_escape(out, ch);
    } else {
      out += c;
    }
  }
  return out;
}

std::string expand_agent(std::string_view pattern, std::string_view agent, bool filter) {
  const std::string escaped = filter ? escape_filter_value(agent) : escape_dn_value(agent);
  std::string out;
  std::size_t from = 0;
  for (std::size_t at = pattern.find(kAgent); at != std::string_view::npos;
       at = pattern.find(kAgent, from)) {
    out.append(pattern.substr(from, at - from));
    out += escaped;
    from = at + kAgent.size();
  }
  out.append(pattern.substr(from));
  return out;
}

Result<void> check_ldap_url(std::string_view url, LdapTls tls) {
  const std::string text(url);
  LDAPURLDesc* desc = nullptr;
  if (text.empty() || ldap_url_parse(text.c_str(), &desc) != LDAP_URL_SUCCESS) {
    return Failure{
        ControlError::Usage,
        "\"" + text + "\" is not an LDAP URL; use ldap://HOST:PORT or ldaps://HOST:PORT"};
  }
  const std::string scheme = desc->lud_scheme != nullptr ? desc->lud_scheme : "";
  const bool has_host = desc->lud_host != nullptr && desc->lud_host[0] != '\0';
  const bool extra = (desc->lud_dn != nullptr && desc->lud_dn[0] != '\0') ||
                     desc->lud_attrs != nullptr || desc->lud_filter != nullptr;
  ldap_free_urldesc(desc);
  if (scheme != "ldap" && scheme != "ldaps") {
    return Failure{ControlError::Usage,
                   "\"" + text + "\": only ldap:// and ldaps:// are supported"};
  }
  if (!has_host) {
    return Failure{ControlError::Usage, "\"" + text + "\" names no host; use ldap://HOST:PORT"};
  }
  if (extra) {
    return Failure{ControlError::Usage, "\"" + text +
                                            "\": give only scheme, host and port (the base DN "
                                            "and filter are search_base and search_filter)"};
  }
  if (tls == LdapTls::Ldaps && scheme != "ldaps") {
    return Failure{ControlError::Usage, "tls = \"ldaps\" needs an ldaps:// URL"};
  }
  if (tls != LdapTls::Ldaps && scheme == "ldaps") {
    return Failure{ControlError::Usage, "an ldaps:// URL needs tls = \"ldaps\""};
  }
  return {};
}

Result<void> check_dn_template(std::string_view pattern) {
  if (count_agent(pattern) == 0) {
    return Failure{ControlError::Usage,
                   "must contain {agent}, e.g. \"uid={agent},ou=agents,dc=bank,dc=example\""};
  }
  const std::string sample = expand_agent(pattern, "1000", false);
  LDAPDN dn = nullptr;
  if (ldap_str2dn(sample.c_str(), &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || dn == nullptr) {
    return Failure{ControlError::Usage, "\"" + std::string(pattern) + "\" is not a valid DN"};
  }
  ldap_dnfree(dn);
  return {};
}

Result<void> check_search_filter(std::string_view pattern) {
  if (count_agent(pattern) == 0) {
    return Failure{ControlError::Usage,
                   "must contain {agent}, e.g. \"(&(objectClass=inetOrgPerson)(uid={agent}))\""};
  }
  int depth = 0;
  bool balanced = pattern.size() >= 2 && pattern.front() == '(' && pattern.back() == ')';
  for (std::size_t i = 0; i < pattern.size() && balanced; ++i) {
    depth += pattern[i] == '(' ? 1 : pattern[i] == ')' ? -1 : 0;
    balanced = depth > 0 || (depth == 0 && i + 1 == pattern.size());
  }
  if (!balanced) {
    return Failure{ControlError::Usage,
                   "\"" + std::string(pattern) + "\" is not one parenthesised filter"};
  }
  return {};
}

Result<std::string> read_bind_password(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return Failure{ControlError::Refused,
                   path + ": cannot be read (the service account's password, one line)"};
  }
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  if (line.empty()) {
    return Failure{ControlError::Refused, path + ": empty (the service account's password)"};
  }
  return line;
}

// ---- counters ------------------------------------------------------------------------------

void LdapCounters::record_bind(std::uint64_t ns) {
  std::size_t b = 0;
  while (b < kLdapBindBoundsMs.size() && ns > kLdapBindBoundsMs[b] * 1'000'000) {
    ++b;
  }
  bind_buckets[b].fetch_add(1, std::memory_order_relaxed);
  bind_sum_ns.fetch_add(ns, std::memory_order_relaxed);
}

// ---- the directory -------------------------------------------------------------------------

namespace {

// Results that mean "the directory could not answer", not "the password is wrong".
bool is_down(int rc) {
  return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_CONNECT_ERROR ||
         rc == LDAP_BUSY || rc == LDAP_UNAVAILABLE || rc == LDAP_TIMELIMIT_EXCEEDED ||
         rc == LDAP_LOCAL_ERROR || rc == LDAP_NO_MEMORY;
}

timeval to_timeval(std::uint32_t ms) {
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

// A simple bind with an explicit deadline: the result code (LDAP_TIMEOUT when none came in time).
// With `must_change` the bind carries the password-policy request control
// (draft-behera-ldap-password-policy, OpenLDAP's ppolicy), and `*must_change` says whether the
// directory answered that the password was reset and must be changed before anything else
// (changeAfterReset). A directory without ppolicy ignores the control (it is not critical).
int simple_bind(LDAP* conn, const char* dn, std::string_view password, std::uint32_t timeout_ms,
                bool* must_change = nullptr) {
  berval cred{static_cast<ber_len_t>(password.size()), const_cast<char*>(password.data())};
  int msgid = 0;
  LDAPControl policy_request{const_cast<char*>(LDAP_CONTROL_PASSWORDPOLICYREQUEST), {0, nullptr},
                             0};
  LDAPControl* request_controls[] = {&policy_request, nullptr};
  if (must_change != nullptr) {
    *must_change = false;
  }
  int rc = ldap_sasl_bind(conn, dn, LDAP_SASL_SIMPLE, &cred,
                          must_change != nullptr ? request_controls : nullptr, nullptr, &msgid);
  if (rc != LDAP_SUCCESS) {
    return rc;
  }
  timeval tv = to_timeval(timeout_ms);
  LDAPMessage* res = nullptr;
  rc = ldap_result(conn, msgid, LDAP_MSG_ALL, &tv, &res);
  if (rc == 0) {
    return LDAP_TIMEOUT;
  }
  if (rc < 0) {
    int err = LDAP_SERVER_DOWN;
    (void)ldap_get_option(conn, LDAP_OPT_RESULT_CODE, &err);
    return err;
  }
  int err = LDAP_OTHER;
  LDAPControl** response_controls = nullptr;
  if (ldap_parse_result(conn, res, &err, nullptr, nullptr, nullptr,
                        must_change != nullptr ? &response_controls : nullptr,
                        1) != LDAP_SUCCESS) {
    return LDAP_OTHER;
  }
  if (response_controls != nullptr) {
    if (LDAPControl* policy = ldap_control_find(LDAP_CONTROL_PASSWORDPOLICYRESPONSE,
                                                response_controls, nullptr);
        policy != nullptr && err == LDAP_SUCCESS) {
      ber_int_t expire = -1;
      ber_int_t grace = -1;
      LDAPPasswordPolicyError policy_error = PP_noError;
      if (ldap_parse_passwordpolicy_control(conn, policy, &expire, &grace, &policy_error) ==
              LDAP_SUCCESS &&
          policy_error == PP_changeAfterReset) {
        *must_change = true;
      }
    }
    ldap_controls_free(response_controls);
  }
  return err;
}

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

LdapDirectory::LdapDirectory(LdapSettings settings, std::string bind_password)
    : settings_(std::move(settings)), bind_password_(std::move(bind_password)) {
  if (settings_.pool == 0) {
    settings_.pool = 1;
  }
  counters_.pool_size.store(settings_.pool, std::memory_order_relaxed);
}

LdapDirectory::~LdapDirectory() {
  for (LDAP* conn : idle_) {
    ldap_unbind_ext_s(conn, nullptr, nullptr);
  }
  sodium_memzero(bind_password_.data(), bind_password_.size());
}

LDAP* LdapDirectory::open(int& error) {
  LDAP* conn = nullptr;
  error = ldap_initialize(&conn, settings_.url.c_str());
  if (error != LDAP_SUCCESS || conn == nullptr) {
    return nullptr;
  }
  const int version = LDAP_VERSION3;
  (void)ldap_set_option(conn, LDAP_OPT_PROTOCOL_VERSION, &version);
  (void)ldap_set_option(conn, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  const timeval connect = to_timeval(settings_.connect_timeout_ms);
  const timeval operation = to_timeval(settings_.timeout_ms);
  (void)ldap_set_option(conn, LDAP_OPT_NETWORK_TIMEOUT, &connect);
  (void)ldap_set_option(conn, LDAP_OPT_TIMEOUT, &operation);
  if (settings_.tls != LdapTls::None) {
    const int demand = LDAP_OPT_X_TLS_DEMAND;
    (void)ldap_set_option(conn, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
    if (!settings_.ca_file.empty()) {
      (void)ldap_set_option(conn, LDAP_OPT_X_TLS_CACERTFILE, settings_.ca_file.c_str());
    }
    const int is_server = 0;  // a context of this connection's own, with the options above
    (void)ldap_set_option(conn, LDAP_OPT_X_TLS_NEWCTX, &is_server);
  }
  error = settings_.tls == LdapTls::StartTls ? ldap_start_tls_s(conn, nullptr, nullptr)
                                             : ldap_connect(conn);
  if (error != LDAP_SUCCESS) {
    ldap_unbind_ext_s(conn, nullptr, nullptr);
    return nullptr;
  }
  counters_.pool_opened.fetch_add(1, std::memory_order_relaxed);
  return conn;
}

LDAP* LdapDirectory::acquire(bool& reused, int& error) {
  std::unique_lock lock(mutex_);
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(2 * (settings_.connect_timeout_ms + settings_.timeout_ms));
  if (!freed_.wait_until(lock, deadline,
                         [&] { return !idle_.empty() || open_ < settings_.pool; })) {
    error = LDAP_BUSY;  // every connection stayed in use: the directory is too slow to answer
    return nullptr;
  }
  counters_.pool_in_use.fetch_add(1, std::memory_order_relaxed);
  if (!idle_.empty()) {
    LDAP* conn = idle_.back();
    idle_.pop_back();
    reused = true;
    return conn;
  }
  ++open_;  // counted before it is opened, so that no more than `pool` ever exist
  counters_.pool_open.store(open_, std::memory_order_relaxed);
  if (open_ > counters_.pool_open_high_water.load(std::memory_order_relaxed)) {
    counters_.pool_open_high_water.store(open_, std::memory_order_relaxed);
  }
  lock.unlock();
  reused = false;
  LDAP* conn = open(error);
  if (conn == nullptr) {
    lock.lock();
    --open_;
    counters_.pool_open.store(open_, std::memory_order_relaxed);
    counters_.pool_in_use.fetch_sub(1, std::memory_order_relaxed);
    lock.unlock();
    freed_.notify_one();
  }
  return conn;
}

void LdapDirectory::release(LDAP* conn, bool broken) {
  if (broken) {
    ldap_unbind_ext_s(conn, nullptr, nullptr);
    counters_.pool_dropped.fetch_add(1, std::memory_order_relaxed);
  }
  {
    const std::lock_guard lock(mutex_);
    if (broken) {
      --open_;
      counters_.pool_open.store(open_, std::memory_order_relaxed);
    } else {
      idle_.push_back(conn);
    }
    counters_.pool_in_use.fetch_sub(1, std::memory_order_relaxed);
  }
  freed_.notify_one();
}

DirectoryAnswer LdapDirectory::check_on(LDAP* conn, std::string_view agent_id,
                                        std::string_view password, int& error) {
  std::string dn;
  if (!settings_.dn_template.empty()) {
    dn = expand_agent(settings_.dn_template, agent_id, false);
  } else {
    // The connection's identity is the last agent's: bind as the service account (or anonymously).
    error = simple_bind(conn, settings_.bind_dn.empty() ? nullptr : settings_.bind_dn.c_str(),
                        settings_.bind_dn.empty() ? std::string_view{} : bind_password_,
                        settings_.timeout_ms);
    if (error != LDAP_SUCCESS) {
      return DirectoryAnswer::Unavailable;  // a service account refused is a broken set-up too
    }
    const std::string filter = expand_agent(settings_.search_filter, agent_id, true);
    char no_attributes[] = LDAP_NO_ATTRS;
    char* attrs[] = {no_attributes, nullptr};
    timeval tv = to_timeval(settings_.timeout_ms);
    LDAPMessage* res = nullptr;
    error = ldap_search_ext_s(conn, settings_.search_base.c_str(), LDAP_SCOPE_SUBTREE,
                              filter.c_str(), attrs, 1, nullptr, nullptr, &tv, 2, &res);
    const int entries = res != nullptr ? ldap_count_entries(conn, res) : 0;
    if (entries == 1) {
      if (char* found = ldap_get_dn(conn, ldap_first_entry(conn, res)); found != nullptr) {
        dn = found;
        ldap_memfree(found);
      }
    }
    if (res != nullptr) {
      ldap_msgfree(res);
    }
    if (error != LDAP_SUCCESS && error != LDAP_SIZELIMIT_EXCEEDED && error != LDAP_NO_SUCH_OBJECT) {
      if (is_down(error)) {
        return DirectoryAnswer::Unavailable;
      }
      counters_.binds_error.fetch_add(1, std::memory_order_relaxed);
      return DirectoryAnswer::WrongPassword;
    }
    error = LDAP_SUCCESS;
    if (entries != 1 || dn.empty()) {
      counters_.unknown_agents.fetch_add(1, std::memory_order_relaxed);
      return DirectoryAnswer::UnknownAgent;  // none, or ambiguous: never a guess between two
    }
  }
  const std::uint64_t began = now_ns();
  bool must_change = false;
  error = simple_bind(conn, dn.c_str(), password, settings_.timeout_ms, &must_change);
  if (error == LDAP_SUCCESS) {
    counters_.record_bind(now_ns() - began);
    counters_.binds_accepted.fetch_add(1, std::memory_order_relaxed);
    if (must_change) {
      counters_.binds_must_change.fetch_add(1, std::memory_order_relaxed);
      // The directory restricts this connection until the password is changed: not reused.
      error = LDAP_UNWILLING_TO_PERFORM;
      return DirectoryAnswer::MustChange;
    }
    return DirectoryAnswer::Accepted;
  }
  if (is_down(error)) {
    return DirectoryAnswer::Unavailable;
  }
  counters_.record_bind(now_ns() - began);
  (error == LDAP_INVALID_CREDENTIALS ? counters_.binds_wrong_password : counters_.binds_error)
      .fetch_add(1, std::memory_order_relaxed);
  error = LDAP_SUCCESS;  // the connection is fine
  return DirectoryAnswer::WrongPassword;
}

DirectoryAnswer LdapDirectory::check(std::string_view agent_id, std::string_view password) {
  if (password.empty()) {
    // A simple bind without a password is an unauthenticated bind: it would "succeed".
    counters_.refused_empty.fetch_add(1, std::memory_order_relaxed);
    return DirectoryAnswer::WrongPassword;
  }
  int error = LDAP_SUCCESS;
  // Pooled connections may have been dropped by the directory (a restart drops them all): each
  // found dead is replaced by the next, until a fresh one answers or fails. A timeout is not
  // retried (a hung directory would hold the sign-in once per pooled connection).
  for (std::uint32_t attempt = 0; attempt <= settings_.pool; ++attempt) {
    bool reused = false;
    LDAP* conn = acquire(reused, error);
    if (conn == nullptr) {
      break;
    }
    const DirectoryAnswer answer = check_on(conn, agent_id, password, error);
    const bool broken = error != LDAP_SUCCESS;
    release(conn, broken);
    if (answer == DirectoryAnswer::MustChange) {
      error = LDAP_SUCCESS;
    }
    if (answer != DirectoryAnswer::Unavailable) {
      if (down_.exchange(false, std::memory_order_relaxed)) {
        std::cerr << "acdd: the directory " << settings_.url << " answers again\n";
      }
      return answer;
    }
    if (!reused || error != LDAP_SERVER_DOWN) {
      break;
    }
  }
  counters_.binds_unavailable.fetch_add(1, std::memory_order_relaxed);
  if (!down_.exchange(true, std::memory_order_relaxed)) {
    std::cerr << "acdd: the directory " << settings_.url
              << " is unavailable: " << ldap_err2string(error) << "\n";
  }
  return DirectoryAnswer::Unavailable;
}

// ---- the verifier --------------------------------------------------------------------------

LdapVerifier::LdapVerifier(const SignInSettings& settings, std::string bind_password,
                           dataplane::CredentialVerifier* file, SignInBackoff* backoff)
    : directory_(settings.ldap, std::move(bind_password)),
      backend_(settings.backend),
      fallback_(settings.ldap.fallback),
      file_(file),
      backoff_(backoff) {}

dataplane::VerifyOutcome LdapVerifier::check_from(router::AgentNumber agent,
                                                  std::string_view password,
                                                  const dataplane::SignInSource& source) {
  using dataplane::VerifyOutcome;
  last_ = Last{this, agent, false, false};
  if (agent == 0 || password.empty()) {
    return VerifyOutcome::Refused;
  }
  // Before the bind: during a back-off (or with the directory budget spent) the directory is not
  // asked, so its own lockout counts only what the back-offs let through.
  if (backoff_ != nullptr && backoff_->refuse(agent, source, true)) {
    return VerifyOutcome::Refused;
  }
  const DirectoryAnswer answer = directory_.check(std::to_string(agent), password);
  last_.must_change = answer == DirectoryAnswer::MustChange;
  switch (answer) {
    case DirectoryAnswer::Accepted:
    case DirectoryAnswer::MustChange:  // and must_change() says so
      if (backoff_ != nullptr) {
        backoff_->accepted(agent, source);
      }
      return VerifyOutcome::Accepted;
    case DirectoryAnswer::WrongPassword:
      if (backoff_ != nullptr) {
        backoff_->failed(agent, source, true);
      }
      return VerifyOutcome::Refused;  // never falls back: the directory has spoken
    case DirectoryAnswer::UnknownAgent:
      // ldap-then-file: an agent the directory does not have is one of the file's.
      if (backend_ == SignInBackend::LdapThenFile && file_ != nullptr) {
        last_.by_file = true;
        return file_->check_from(agent, password, source);
      }
      if (backoff_ != nullptr) {
        backoff_->failed(agent, source);  // no bind was made: the budget is not touched
      }
      return VerifyOutcome::Refused;
    case DirectoryAnswer::Unavailable:
      break;
  }
  if (fallback_ != DirectoryFallback::File || file_ == nullptr) {
    return VerifyOutcome::Unavailable;
  }
  last_.by_file = true;
  const VerifyOutcome local = file_->check_from(agent, password, source);
  const bool accepted = local == VerifyOutcome::Accepted;
  (accepted ? directory_.counters().fallback_accepted : directory_.counters().fallback_refused)
      .fetch_add(1, std::memory_order_relaxed);
  std::cerr << "acdd: directory unavailable: agent " << agent << " checked against the local "
            << "credential file: " << (accepted ? "accepted" : "refused") << "\n";
  if (audit_ != nullptr) {
    nlohmann::json detail{{"reason", "directory unavailable"},
                          {"result", accepted ? "accepted" : "refused"},
                          {"device", source.device}};
    (void)audit_->record(AuditRecord::make(
        AuditKind::DirectoryFallback, accepted ? AuditOutcome::Ok : AuditOutcome::Refused, "acdd",
        "agent=" + std::to_string(agent), std::move(detail)));
  }
  return local == VerifyOutcome::Unavailable ? VerifyOutcome::Refused : local;
}

thread_local LdapVerifier::Last LdapVerifier::last_{};

bool LdapVerifier::must_change(router::AgentNumber agent) {
  if (last_.verifier != this || last_.agent != agent) {
    return false;  // not this thread's last check: nothing known, nothing claimed
  }
  if (last_.by_file) {
    return file_ != nullptr && file_->must_change(agent);
  }
  return last_.must_change;
}

bool LdapVerifier::verify(router::AgentNumber agent, std::string_view password) {
  return check_from(agent, password, dataplane::SignInSource{}) ==
         dataplane::VerifyOutcome::Accepted;
}

}  // namespace acd::control
