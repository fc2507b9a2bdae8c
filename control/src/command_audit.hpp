// Which control-socket requests the audit log records, and how [GB/T 32315 4.1.2 b, c]: every
// request that changes state (agents ready/logout/unlock/revoke-tokens, config reload without
// --dry-run, ha switchover, dr failover/switchover/switchback/drill, surge enter/exit/auto,
// service down/up), whatever its outcome, and every request refused for permission. Read-only
// requests that were allowed are not recorded. Every action of the table of roles
// (command_permissions()) that is not read-only must be here: control_command_audit_test checks.
//
// Thread: the control socket's thread (and SIGHUP's reload, run there).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "acd/control/audit_log.hpp"

namespace acd::control {

// True when `request` asks for a change of state (whether or not the caller may make it).
bool changes_state(const nlohmann::json& request);

// Records `request` and its `reply` ({"ok": ...}) when it changes state or was refused for
// permission. `actor` names the caller ("uid=0(root)", "signal=SIGHUP"); `config_path` is the
// running configuration's file ("" = embedded), hashed for a reload that names no file. Keys that
// could hold a secret (password, secret, key, token, hash) are left out of the record.
void audit_command(AuditLog& log, const std::string& actor, const nlohmann::json& request,
                   const nlohmann::json& reply, const std::string& config_path);

}  // namespace acd::control
