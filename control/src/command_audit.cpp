// The audit records of control-socket requests (command_audit.hpp).
#include "command_audit.hpp"

namespace acd::control {

using nlohmann::json;

namespace {

bool secret_key(const std::string& key) {
  for (const char* word : {"pass", "secret", "key", "token", "hash"}) {
    if (key.find(word) != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool changes_state(const json& request) {
  if (!request.is_object() || !request.contains("cmd") || !request["cmd"].is_string()) {
    return false;
  }
  const std::string cmd = request["cmd"];
  const json action = request.value("action", json("list"));
  if (!action.is_string()) {
    return false;
  }
  const std::string a = action;
  if (cmd == "agents") {
    return a == "ready" || a == "logout" || a == "unlock" || a == "revoke-tokens";
  }
  if (cmd == "config") {
    const json dry = request.value("dry_run", json(false));
    return a == "reload" && !(dry.is_boolean() && dry.get<bool>());
  }
  if (cmd == "ha") {
    return a == "switchover";
  }
  if (cmd == "dr") {
    return a == "failover" || a == "switchover" || a == "switchback" || a == "drill";
  }
  if (cmd == "surge") {
    return a == "enter" || a == "exit" || a == "auto";
  }
  if (cmd == "service") {
    return a == "down" || a == "up";
  }
  return false;
}

void audit_command(AuditLog& log, const std::string& actor, const json& request, const json& reply,
                   const std::string& config_path) {
  const bool ok = reply.value("ok", false);
  const std::string code = reply.value("code", std::string());
  const bool denied = !ok && code == "permission_denied";
  if (!denied && !changes_state(request)) {
    return;
  }
  json detail = json::object();
  std::string subject;
  if (request.is_object()) {
    for (const auto& [key, value] : request.items()) {
      if (!secret_key(key)) {
        detail[key] = value;
      }
    }
    for (const char* key : {"cmd", "action", "id", "queue", "name"}) {
      if (request.contains(key) && !secret_key(key)) {
        const json& v = request[key];
        subject += (subject.empty() ? "" : " ") + (v.is_string() ? v.get<std::string>() : v.dump());
      }
    }
  }
  if (!ok) {
    detail["error"] = reply.value("error", std::string()).substr(0, 300);
    detail["code"] = code;
  }
  const bool reload = request.is_object() && request.value("cmd", json()) == "config" &&
                      request.value("action", json()) == "reload";
  if (reload) {
    const json file = request.value("file", json(config_path));
    const std::string path = file.is_string() ? file.get<std::string>() : config_path;
    detail["config_file"] = path.empty() ? "<embedded default>" : path;
    detail["config_hash"] = audit_config_hash(path);
    if (ok && reply.contains("result") && reply["result"].is_object()) {
      detail["result"] = reply["result"].value("done", std::string());
    }
  }
  const AuditOutcome outcome = ok       ? AuditOutcome::Ok
                               : denied ? AuditOutcome::Denied
                                        : AuditOutcome::Refused;
  const bool dr = request.is_object() && request.value("cmd", json()) == "dr";
  if (dr && ok && reply.contains("result")) {
    detail["result"] = reply["result"];  // the seq taken over at, the estimated loss
  }
  const AuditKind kind = reload ? AuditKind::ConfigReload
                         : dr   ? AuditKind::DrAction
                                : AuditKind::Command;
  (void)log.record(AuditRecord::make(kind, outcome, actor, subject, detail));
}

}  // namespace acd::control
