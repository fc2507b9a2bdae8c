// acdctl: the operator's command line for acd. A thin shell: every live command is one JSON request
// to acdd's control socket (control::execute does the work); acdctl only formats the answer.
//
//   acdctl [--socket PATH] [--json] status
//   acdctl agents [list | show ID | ready ID | logout ID]
//   acdctl queues [list | show NAME]
//   acdctl calls [list | show ID]
//   acdctl stats agents|queues
//   acdctl route test QUEUE [--priority N] [--tier N] [--verification N] [--language SKILL]
//                     [--skill SKILL[:LEVEL]]... [--call ID]   what acd would do with such a call
//                     now
//   acdctl top [--interval S] [--count N]            a live view of queues, calls and agents
//   acdctl config validate FILE                      check a configuration file
//   acdctl config diff FILE                          what a reload of FILE would change
//   acdctl config reload [FILE] [--dry-run]          apply it without a restart
//   acdctl agent passwd ID [--credentials FILE]     set an agent's password (read from stdin)
//   acdctl agent import CSV [--credentials FILE]    set many (ID,SECRET,FLAG), in parallel
//   acdctl agent unlock ID                           lift an agent's sign-in delays (and end
//                                                    its session tokens)
//   acdctl agent revoke-tokens ID                    end an agent's session tokens
//   acdctl ha [status | switchover]                  the hot-standby pair
//   acdctl dr [status | history | failover | switchover | switchback] [--timeout-ms MS]
//                                                    disaster recovery between sites
//   acdctl surge [status | enter | exit | auto] [--queue Q]   surge mode, per queue or site-wide
//   acdctl service [status | down NAME | up NAME]    emergency diversion of a back-end service
//   acdctl site [status]                             peer sites and their latest summaries
//   acdctl client list                               the configured ACDP clients
//   acdctl client add NAME --role R [--network CIDR]... [--keys-dir DIR] [--config FILE]
//                                                    a client's key pair and its [[clients]] block
//   acdctl key generate --out FILE                   acdd's own key pair
//   acdctl audit show [--since TIME] [--last N] [--dir DIR]   the audit log's records
//   acdctl audit verify [--dir DIR | --config FILE] [--match OTHER_DIR]  check the audit log's
//     hash chain; with --match, that it keeps every record the other node made
//   acdctl report intervals|agents|queues|calls [--from T] [--to T] [--queue Q] [--agent N]
//                [--csv] [--config FILE] [--db FILE]   history reports (docs/reports.md)
//   acdctl report call ID                            one call's records and whole path
//
// Exit codes: 0 done, 1 refused by acd (the message says why), 2 usage, 3 acd not reachable,
// 4 permission denied (the message names the role the command needs and the caller's), 5 try
// again later.
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "acd/control/config.hpp"
#include "acd/control/control_error.hpp"
#include "acd/control/credential_store.hpp"
#include "agents.hpp"
#include "report.hpp"
#include "audit.hpp"
#include "client.hpp"
#include "keys.hpp"
#include "top.hpp"

namespace {

// Reads one line without echo when stdin is a terminal.
std::string read_secret(const char* prompt) {
  const bool tty = isatty(STDIN_FILENO) != 0;
  termios old{};
  if (tty) {
    std::cerr << prompt << std::flush;
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  }
  return line;
}

using acd::acdctl::ask;
using acd::acdctl::ask_result;
using nlohmann::json;

std::string cell(const json& v) {
  if (v.is_null()) {
    return "-";
  }
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_number_float()) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.1f", v.get<double>());
    return text;
  }
  return v.dump();
}

// A list of objects as an aligned table of the given columns.
void table(const json& rows, const std::vector<std::string>& columns) {
  std::vector<std::size_t> width(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c) {
    width[c] = columns[c].size();
    for (const json& r : rows) {
      width[c] = std::max(width[c], cell(r.value(columns[c], json())).size());
    }
  }
  for (std::size_t c = 0; c < columns.size(); ++c) {
    std::printf("%-*s  ", static_cast<int>(width[c]), columns[c].c_str());
  }
  std::printf("\n");
  for (const json& r : rows) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
      std::printf("%-*s  ", static_cast<int>(width[c]), cell(r.value(columns[c], json())).c_str());
    }
    std::printf("\n");
  }
}

void object(const json& o, const std::string& indent = "") {
  for (const auto& [key, value] : o.items()) {
    if (value.is_object()) {
      std::printf("%s%s:\n", indent.c_str(), key.c_str());
      object(value, indent + "  ");
    } else {
      std::printf("%s%-18s %s\n", indent.c_str(), key.c_str(), cell(value).c_str());
    }
  }
}

// "route test" as lines: each queue the call would pass through, then the outcome.
void print_route_test(const json& r) {
  std::printf("a call to %s now (a preview: nothing is routed)\n", cell(r["queue"]).c_str());
  for (const json& step : r["steps"]) {
    const std::string decision = step.value("decision", std::string());
    std::printf("  %-12s ready %-4s waiting %-5s -> ", cell(step["queue"]).c_str(),
                cell(step.value("ready_agents", json())).c_str(),
                cell(step.value("waiting", json())).c_str());
    if (decision == "offer") {
      std::printf("offer to agent %s\n", cell(step["agent"]).c_str());
    } else if (decision == "queued") {
      std::printf("queue at position %s\n", cell(step["position"]).c_str());
    } else if (decision == "overflow") {
      std::printf("overflow %s %s%s\n", cell(step["action"]).c_str(), cell(step["target"]).c_str(),
                  step.contains("reason") ? (" (" + cell(step["reason"]) + ")").c_str() : "");
    } else {
      std::printf("%s: %s\n", decision.c_str(), cell(step.value("reason", json())).c_str());
    }
  }
  const std::string outcome = r.value("outcome", std::string());
  if (outcome == "offer") {
    std::printf("outcome: offered to agent %s in %s\n", cell(r["agent"]).c_str(),
                cell(r["final_queue"]).c_str());
  } else if (outcome == "queued") {
    std::printf("outcome: waits in %s at position %s, estimated wait %s\n",
                cell(r["final_queue"]).c_str(), cell(r["position"]).c_str(),
                r["ewt_s"].is_null()
                    ? "unknown (nobody staffed, or no agent of the queue has its skills)"
                    : (cell(r["ewt_s"]) + " s").c_str());
  } else if (outcome == "overflow") {
    std::printf("outcome: leaves by overflow: %s %s\n", cell(r["action"]).c_str(),
                cell(r["target"]).c_str());
  } else {
    std::printf("outcome: %s: %s\n", outcome.c_str(), cell(r.value("reason", json())).c_str());
  }
}

// A whole decimal number in [lo, hi]: CLI11 alone would take "-5" (wrapping it around), "0x10"
// and "010" (octal) for an unsigned option.
CLI::Validator decimal(std::uint64_t lo, std::uint64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
          return "'" + text + "' is not a whole number";
        }
        const std::size_t digits = text.size() - std::min(text.find_first_not_of('0'), text.size());
        const std::uint64_t v = digits > 19 ? ~0ull : std::stoull(text);
        if (v < lo || v > hi) {
          return "'" + text + "' is out of range; use " + std::to_string(lo) + " to " +
                 std::to_string(hi);
        }
        text = std::to_string(v);  // CLI11 converts with base 0: "010" would be octal
        return {};
      },
      "NUMBER in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

// A queue given by name or by index: digits are an index (checked like any number).
bool queue_argument(const std::string& text, json& out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    out = text;
    return !text.empty();
  }
  if (text.size() > 9) {
    return false;
  }
  out = std::stoul(text);
  return true;
}

// `status` in the order an operator reads it: who and how long first, then the rest.
void print_status(const json& st) {
  json rest = st;
  json first = json::object();
  for (const char* key : {"role", "site", "uptime_s", "config"}) {
    if (rest.contains(key)) {
      std::printf("%-18s ", key);
      if (rest[key].is_object()) {
        std::printf("\n");
        object(rest[key], "  ");
      } else {
        std::printf("%s\n", cell(rest[key]).c_str());
      }
      rest.erase(key);
    }
  }
  if (rest.contains("rates")) {
    std::printf(
        "rates (per second; engine events are every input the engine applies, timer "
        "ticks included, decisions are its answers):\n");
    object(rest["rates"], "  ");
    rest.erase("rates");
  }
  object(rest);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace acd;
  CLI::App app{"acdctl: operate an acd appliance"};
  app.require_subcommand(1);
  // Global options work before or after the subcommand (acdctl status --json), as in systemctl.
  app.fallthrough();
  std::string socket_path = control::ApplianceConfig{}.control_socket;
  bool as_json = false;
  app.add_option("--socket", socket_path, "acdd's control socket")->capture_default_str();
  app.add_flag("--json", as_json, "Print the JSON answer");

  CLI::App* status =
      app.add_subcommand("status", "Role, uptime, agents by state, dataplane counters");
  CLI::App* agents = app.add_subcommand("agents", "Agents: list, show ID, ready ID, logout ID");
  std::string agents_action = "list";
  std::uint64_t agent_id = 0;
  agents->add_option("action", agents_action, "list | show | ready | logout")
      ->check(CLI::IsMember({"list", "show", "ready", "logout"}));
  agents->add_option("id", agent_id, "Agent ID")->transform(decimal(1, 9'000'000'000'000'000));
  CLI::App* queues = app.add_subcommand("queues", "Queues: list, show NAME");
  std::string queues_action = "list";
  std::string queue_name;
  queues->add_option("action", queues_action, "list | show")
      ->check(CLI::IsMember({"list", "show"}));
  queues->add_option("name", queue_name, "Queue name or index");
  CLI::App* calls = app.add_subcommand("calls", "Calls in the engine: list, show ID");
  std::string calls_action = "list";
  std::uint64_t call_id = 0;
  calls->add_option("action", calls_action, "list | show")->check(CLI::IsMember({"list", "show"}));
  calls->add_option("id", call_id, "Call ID")->transform(decimal(1, ~0ull >> 1));
  CLI::App* stats = app.add_subcommand("stats", "Today's statistics of agents or queues");
  std::string stats_what = "queues";
  stats->add_option("what", stats_what, "agents | queues")
      ->check(CLI::IsMember({"agents", "queues"}));
  bool today = true;
  stats->add_flag("--today", today, "Today's figures (the only ones kept so far)");

  CLI::App* route = app.add_subcommand("route", "Routing: ask what acd would do with a call");
  route->require_subcommand(1);
  CLI::App* route_test =
      route->add_subcommand("test", "What acd would do with such a call now, without routing it");
  std::string route_queue;
  unsigned priority = 0;
  unsigned tier = 0;
  unsigned verification = 0;
  std::string language;
  std::vector<std::string> route_skills;
  std::uint64_t route_call = 0;
  route_test->add_option("QUEUE", route_queue, "Queue name or index")->required();
  route_test->add_option("--priority", priority, "The call's priority")
      ->capture_default_str()
      ->transform(decimal(0, 255));
  route_test->add_option("--tier", tier, "The customer's tier")
      ->capture_default_str()
      ->transform(decimal(0, 255));
  route_test->add_option("--verification", verification, "How well the caller is verified")
      ->capture_default_str()
      ->transform(decimal(0, 255));
  route_test->add_option("--language", language, "Language the caller needs (a skill name)");
  route_test->add_option("--skill", route_skills, "An extra skill needed, as NAME or NAME:LEVEL");
  route_test->add_option("--call", route_call, "A call ID (refused if that call is in acd)")
      ->transform(decimal(1, ~0ull >> 1));

  CLI::App* top = app.add_subcommand("top", "A live view of queues and agents, refreshed");
  double interval_s = 1.0;
  int count = 0;
  top->add_option("--interval", interval_s, "Seconds between refreshes")
      ->check(CLI::Range(0.1, 3600.0));
  top->add_option("--count", count, "Print N plain frames, then exit (0: live view until q)")
      ->transform(decimal(0, 1'000'000));
  CLI::App* ha = app.add_subcommand("ha", "The hot-standby pair: status, switchover");
  std::string ha_action = "status";
  ha->add_option("action", ha_action,
                 "status (role, epoch, peer, lag, hash checks) | switchover (hand over to the "
                 "synchronous standby, nothing lost)")
      ->check(CLI::IsMember({"status", "switchover"}));
  CLI::App* dr = app.add_subcommand("dr", "Disaster recovery between sites (docs/dr.md)");
  std::string dr_action = "status";
  dr->add_option("action", dr_action,
                 "status (role, peer site, RPO in records and seconds) | history | failover (on "
                 "the DR node: take over with what was replicated) | switchover (on the active "
                 "primary: drain to RPO 0, hand over) | switchback (on the node that took over) "
                 "| drill (on the DR node: replay the log in a sandbox to the current hash, "
                 "route a call)")
      ->check(CLI::IsMember({"status", "history", "failover", "switchover", "switchback", "drill"}));
  std::uint64_t dr_timeout_ms = 10000;
  dr->add_option("--timeout-ms", dr_timeout_ms,
                 "How long to wait for a failover or switchover to finish (default 10000)")
      ->check(CLI::Range(1, 600000));
  CLI::App* surge = app.add_subcommand(
      "surge", "Surge mode: status, enter, exit, auto (thresholds) [--queue Q]; site-wide without");
  std::string surge_action = "status";
  std::string surge_queue;
  surge->add_option("action", surge_action,
                    "status | enter (force on) | exit (force off) | auto (the thresholds decide)")
      ->check(CLI::IsMember({"status", "enter", "exit", "auto"}));
  surge->add_option("--queue", surge_queue, "Queue name or index (default: the whole site)");
  CLI::App* service = app.add_subcommand(
      "service", "Back-end services: status, down NAME (divert its queues' calls), up NAME");
  std::string service_action = "status";
  std::string service_name;
  service->add_option("action", service_action, "status | down | up")
      ->check(CLI::IsMember({"status", "down", "up"}));
  service->add_option("NAME", service_name, "The service, as [[services]] names it");
  CLI::App* site = app.add_subcommand(
      "site", "Peer sites: their latest summary of each queue and its age (status)");
  std::string site_action = "status";
  site->add_option("action", site_action, "status")->check(CLI::IsMember({"status"}));
  CLI::App* config = app.add_subcommand("config", "Configuration files");
  config->require_subcommand(1);
  CLI::App* validate =
      config->add_subcommand("validate", "Check a configuration file, naming every problem");
  std::string config_file;
  validate->add_option("FILE", config_file, "acd.toml to check")->required();
  CLI::App* diff =
      config->add_subcommand("diff", "What reloading FILE (default: acdd's own) would change");
  diff->add_option("FILE", config_file, "acd.toml (default: the file acdd was started with)");
  CLI::App* reload =
      config->add_subcommand("reload", "Apply FILE (default: acdd's own) without a restart");
  bool dry_run = false;
  reload->add_option("FILE", config_file, "acd.toml (default: the file acdd was started with)");
  reload->add_flag("--dry-run", dry_run, "Only show what would change");

  CLI::App* agent = app.add_subcommand("agent", "Agent administration");
  agent->require_subcommand(1);
  CLI::App* passwd =
      agent->add_subcommand("passwd", "Set an agent's password (argon2id); reads it from stdin");
  router::AgentNumber id = 0;
  std::string credentials = control::ApplianceConfig{}.credentials;
  passwd->add_option("ID", id, "Agent ID")
      ->required()
      ->transform(decimal(1, 9'000'000'000'000'000));
  passwd->add_option("--credentials", credentials, "Credential file")->capture_default_str();
  std::string cost_level;
  std::string cost_config;
  passwd->add_option("--cost", cost_level,
                     "argon2id cost of the new hash: interactive, owasp or minimal (default: "
                     "--config's [signin], else interactive)");
  passwd->add_option("--config", cost_config, "acd.toml whose [signin] cost applies");
  CLI::App* unlock = agent->add_subcommand(
      "unlock", "Lift an agent's sign-in delays after wrong passwords (operator role)");
  std::uint64_t unlock_id = 0;
  unlock->add_option("ID", unlock_id, "Agent ID")
      ->required()
      ->transform(decimal(1, 9'000'000'000'000'000));
  CLI::App* revoke = agent->add_subcommand(
      "revoke-tokens",
      "End an agent's session tokens: its next sign-in needs the password (operator role)");
  std::uint64_t revoke_id = 0;
  revoke->add_option("ID", revoke_id, "Agent ID")
      ->required()
      ->transform(decimal(1, 9'000'000'000'000'000));
  CLI::App* import = agent->add_subcommand(
      "import", "Set many agents' passwords or enrolment codes from a CSV (ID,SECRET,FLAG)");
  acdctl::ImportCommand import_command;
  import_command.credentials = credentials;
  import->add_option("FILE", import_command.csv, "CSV file ('-': stdin)")->required();
  import->add_option("--credentials", import_command.credentials, "Credential file")
      ->capture_default_str();
  import->add_option("--cost", import_command.cost_level,
                     "argon2id cost: interactive, owasp or minimal (default: --config's [signin], "
                     "else interactive)");
  import->add_option("--config", import_command.config_file, "acd.toml whose [signin] cost applies");
  import->add_option("--temporary-cost", import_command.temporary_cost_level,
                     "argon2id cost of must-change and enrolment rows' secrets, replaced at the "
                     "first sign-in: import (1 pass, 8 MiB), same (--cost's), or a level")
      ->capture_default_str();
  import->add_flag("--remove-missing", import_command.remove_missing,
                   "Remove agents the CSV does not list");
  import->add_flag("--dry-run", import_command.dry_run, "Report what would change; write nothing");
  import->add_option("--threads", import_command.threads, "Hashing threads (default: every CPU)");
  import->add_option("--codes-out", import_command.codes_out,
                     "New file (mode 0600) for the enrolment codes generated for rows whose secret "
                     "is \"*\" (ID,CODE lines)");
  CLI::App* client = app.add_subcommand("client", "ACDP clients and their keys");
  client->require_subcommand(1);
  CLI::App* client_list =
      client->add_subcommand("list", "The clients acdd's running configuration lists");
  CLI::App* client_add = client->add_subcommand(
      "add", "Make a client's key pair; print its [[clients]] block and what to install");
  acdctl::ClientAddOptions add;
  client_add->add_option("NAME", add.name, "The client's name (a-z, 0-9, . _ -)")->required();
  client_add->add_option("--role", add.role, "switch | desktop | supervisor | site")->required();
  client_add->add_option("--network", add.networks,
                         "An IPv4 network it may connect from, A.B.C.D/N (repeatable; none: "
                         "anywhere)");
  client_add->add_option("--keys-dir", add.keys_dir, "Where NAME.key is written")
      ->capture_default_str();
  client_add
      ->add_option("--config", add.config,
                   "acdd's configuration ([security] key_file, the clients)")
      ->capture_default_str();
  CLI::App* key_cmd = app.add_subcommand("key", "acdd's own key pair");
  key_cmd->require_subcommand(1);
  CLI::App* key_generate = key_cmd->add_subcommand(
      "generate", "Write a new secret key (mode 0600); print its public key");
  std::string key_out;
  key_generate->add_option("--out", key_out, "The secret key file to create")->required();
  CLI::App* audit =
      app.add_subcommand("audit", "The audit log: show its records, verify its chain");
  audit->require_subcommand(1);
  CLI::App* audit_show = audit->add_subcommand(
      "show", "Records, oldest first (from acdd, or from the files with --dir)");
  acdctl::AuditShowOptions show_options;
  std::string since;
  std::size_t last = 0;
  audit_show->add_option("--since", since, "Only records at or after this UTC time or date");
  audit_show->add_option("--last", last, "Only the newest N records")
      ->transform(decimal(1, 100000));
  audit_show->add_option("--dir", show_options.dir,
                         "Read the audit files in DIR directly instead of asking acdd");
  CLI::App* audit_verify = audit->add_subcommand(
      "verify", "Check every record's hash and its link to the one before (reads the files)");
  std::string audit_dir;
  std::string audit_config = "/etc/acd/acd.toml";
  audit_verify->add_option("--dir", audit_dir,
                           "The audit directory (default: the configuration's)");
  audit_verify->add_option("--config", audit_config, "acd.toml naming [audit] dir")
      ->capture_default_str();
  std::string audit_match;
  audit_verify->add_option("--match", audit_match,
                           "The other node's audit directory: check that every record it made "
                           "itself is kept, unaltered, in this one (this node was its standby)");
  CLI::App* report = app.add_subcommand(
      "report", "History reports: intervals, agents, queues, calls, or one call's path "
                "(reads the history database; docs/reports.md)");
  acdctl::ReportOptions report_options;
  report_options.config_file = "/etc/acd/acd.toml";
  report->add_option("REPORT", report_options.what, "intervals | agents | queues | calls | call")
      ->required()
      ->check(CLI::IsMember({"intervals", "agents", "queues", "calls", "call"}));
  report->add_option("ID", report_options.call_id, "report call: the call's ID");
  report->add_option("--from", report_options.from,
                     "From this UTC date or time (YYYY-MM-DD[THH:MM[:SS]]), inclusive");
  report->add_option("--to", report_options.to, "To this UTC date or time, exclusive");
  report->add_option("--queue", report_options.queue, "Only this queue (name)");
  report->add_option("--agent", report_options.agent, "Only this agent (number)");
  report->add_flag("--csv", report_options.csv, "CSV instead of a table");
  report->add_option("--config", report_options.config_file,
                     "acd.toml naming [history] path, queues and agents")
      ->capture_default_str();
  report->add_option("--db", report_options.db,
                     "The history database (default: the configuration's [history] path)");
  // The first word that is not an option names the command; say which word is unknown.
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (word == "--socket") {
      ++i;
    } else if (!word.empty() && word[0] != '-') {
      const auto known = app.get_subcommands(
          [&](const CLI::App* sub) { return sub->check_name(std::string(word)); });
      if (known.empty()) {
        std::cerr << "acdctl: unknown command '" << word << "'; commands:";
        for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
          std::cerr << " " << sub->get_name();
        }
        std::cerr << " (acdctl --help)\n";
        return control::exit_status(control::ControlError::Usage);
      }
      break;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and succeeds; every other parse problem is a usage error (exit 2).
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (validate->parsed()) {
    const control::ConfigResult r = control::load_config(config_file);
    for (const std::string& e : r.errors) {
      std::cerr << e << "\n";
    }
    if (!r.ok()) {
      return 1;
    }
    const std::vector<std::string> groups = control::check_operator_groups(r.config);
    for (const std::string& e : groups) {
      std::cerr << e << "\n";
    }
    if (!groups.empty()) {
      return 1;
    }
    std::cout << config_file << ": valid (" << r.config.domain.queues.size() << " queues, "
              << r.config.domain.agents.size() << " agents)\n";
    return 0;
  }
  if (client_add->parsed()) {
    return acdctl::client_add(add);
  }
  if (import->parsed()) {
    return acdctl::run_agent_import(import_command);
  }
  if (key_generate->parsed()) {
    return acdctl::key_generate(key_out);
  }
  if (top->parsed()) {
    return acdctl::run_top({socket_path, interval_s, count, as_json});
  }
  if (report->parsed()) {
    report_options.json = as_json;
    return acdctl::run_report(report_options);
  }
  if (audit_show->parsed()) {
    show_options.socket_path = socket_path;
    show_options.as_json = as_json;
    if (!since.empty()) {
      show_options.since = since;
    }
    if (last != 0) {
      show_options.last = last;
    }
    return acdctl::run_audit_show(show_options);
  }
  if (audit_verify->parsed()) {
    if (audit_dir.empty()) {
      const std::optional<std::string> dir = acdctl::audit_dir_of(audit_config);
      if (!dir) {
        return control::exit_status(control::ControlError::Usage);
      }
      audit_dir = *dir;
    }
    if (!audit_match.empty()) {
      return acdctl::run_audit_match(audit_match, audit_dir, as_json);
    }
    return acdctl::run_audit_verify(audit_dir, as_json);
  }
  if (!passwd->parsed()) {
    json request;
    if (status->parsed()) {
      request = {{"cmd", "status"}};
    } else if (unlock->parsed()) {
      request = {{"cmd", "agents"}, {"action", "unlock"}, {"id", unlock_id}};
    } else if (revoke->parsed()) {
      request = {{"cmd", "agents"}, {"action", "revoke-tokens"}, {"id", revoke_id}};
    } else if (agents->parsed()) {
      request = {{"cmd", "agents"}, {"action", agents_action}};
      if (agents_action != "list") {
        if (agent_id == 0) {
          std::cerr << "acdctl: agents " << agents_action << " needs an agent ID\n";
          return 2;
        }
        request["id"] = agent_id;
      }
    } else if (queues->parsed()) {
      request = {{"cmd", "queues"}, {"action", queues_action}};
      if (queues_action == "show") {
        if (queue_name.empty()) {
          std::cerr << "acdctl: queues show needs a queue name\n";
          return 2;
        }
        json queue;
        if (!queue_argument(queue_name, queue)) {
          std::cerr << "acdctl: '" << queue_name << "' is neither a queue name nor an index\n";
          return 2;
        }
        request["id"] = queue;
      }
    } else if (calls->parsed()) {
      request = {{"cmd", "calls"}, {"action", calls_action}};
      if (calls_action == "show") {
        request["id"] = call_id;
      }
    } else if (stats->parsed()) {
      request = {{"cmd", "stats"}, {"what", stats_what}};
    } else if (route_test->parsed()) {
      json queue;
      if (!queue_argument(route_queue, queue)) {
        std::cerr << "acdctl: '" << route_queue << "' is neither a queue name nor an index\n";
        return 2;
      }
      request = {{"cmd", "route"},       {"action", "test"},       {"queue", queue},
                 {"priority", priority}, {"tier", tier},           {"verification", verification},
                 {"call", route_call},   {"skills", json::array()}};
      if (!language.empty()) {
        request["language"] = language;
      }
      for (const std::string& s : route_skills) {
        const auto colon = s.find(':');
        const std::string level = colon == std::string::npos ? "1" : s.substr(colon + 1);
        if (level.empty() || level.size() > 3 ||
            level.find_first_not_of("0123456789") != std::string::npos) {
          std::cerr << "acdctl: --skill takes NAME or NAME:LEVEL, not '" << s << "'\n";
          return 2;
        }
        request["skills"].push_back({{"skill", s.substr(0, colon)}, {"level", std::stoul(level)}});
      }
    } else if (ha->parsed()) {
      request = {{"cmd", "ha"}, {"action", ha_action}};
    } else if (dr->parsed()) {
      request = {{"cmd", "dr"}, {"action", dr_action}};
      if (dr_action != "status" && dr_action != "history") {
        request["timeout_ms"] = dr_timeout_ms;
      }
    } else if (surge->parsed()) {
      request = {{"cmd", "surge"}, {"action", surge_action}};
      if (!surge_queue.empty()) {
        json queue;
        if (!queue_argument(surge_queue, queue)) {
          std::cerr << "acdctl: '" << surge_queue << "' is neither a queue name nor an index\n";
          return 2;
        }
        request["queue"] = queue;
      }
    } else if (service->parsed()) {
      request = {{"cmd", "service"}, {"action", service_action}};
      if (service_action != "status") {
        if (service_name.empty()) {
          std::cerr << "acdctl: service " << service_action << " needs a service name\n";
          return 2;
        }
        request["name"] = service_name;
      }
    } else if (site->parsed()) {
      request = {{"cmd", "site"}, {"action", site_action}};
    } else if (client_list->parsed()) {
      request = {{"cmd", "client"}, {"action", "list"}};
    } else if (diff->parsed() || reload->parsed()) {
      request = {
          {"cmd", "config"}, {"action", diff->parsed() ? "diff" : "reload"}, {"dry_run", dry_run}};
      if (!config_file.empty()) {
        char resolved[4096];
        request["file"] = realpath(config_file.c_str(), resolved) != nullptr ? std::string(resolved)
                                                                             : config_file;
      }
    }
    const control::Result<json> asked = ask_result(socket_path, request);
    if (!asked.ok()) {
      std::cerr << "acdctl: " << asked.failure().message << "\n";
      return control::exit_status(asked.failure().code);
    }
    const json& result = asked.value();
    if (as_json) {
      std::cout << result.dump(2) << "\n";
    } else if (result.is_array() && agents->parsed()) {
      table(result, {"id", "state", "reason", "in_state_s", "device"});
    } else if (result.is_array() &&
               (queues->parsed() || (stats->parsed() && stats_what == "queues"))) {
      table(result,
            {"name", "media", "policy", "waiting", "ready_agents", "staffed", "oldest_wait_s",
             "ewt_s", "offered", "answered", "abandoned", "asa_s", "service_level"});
    } else if (result.is_array() && stats->parsed()) {
      table(result,
            {"id", "offered", "answered", "no_answer", "talk_s", "hold_s", "wrap_up_s", "ready_s"});
    } else if (result.is_array() && calls->parsed()) {
      table(result,
            {"id", "state", "in_state_s", "queue", "agent", "priority", "media", "total_s"});
    } else if (result.is_array() && client_list->parsed()) {
      json rows = result;
      for (json& row : rows) {
        std::string networks;
        for (const json& n : row.value("networks", json::array())) {
          networks += (networks.empty() ? "" : ",") + n.get<std::string>();
        }
        row["networks"] = networks.empty() ? "anywhere" : networks;
      }
      table(rows, {"name", "role", "networks", "public_key"});
    } else if (route_test->parsed()) {
      print_route_test(result);
    } else if (surge->parsed() && result.contains("queues")) {
      std::cout << "site-wide force: " << result["site_force"].get<std::string>() << "\n";
      json rows = result["queues"];
      for (json& row : rows) {
        std::string cause;
        for (const json& c : row["cause"]) {
          cause += (cause.empty() ? "" : ",") + c.get<std::string>();
        }
        row["cause"] = cause;
        // The exit hold in one column: "-" out of surge, "no" while a metric is above its exit
        // level, else how long the levels have held and what remains of the hold and the dwell.
        const json& hold = row["exit_hold"];
        std::string exit = "-";
        if (hold.is_object()) {
          char text[96];
          if (hold.value("holding", false)) {
            std::snprintf(text, sizeof text, "held %.1fs, hold left %.1fs, dwell left %.1fs",
                          hold["held_s"].get<double>(), hold["hold_left_s"].get<double>(),
                          hold["dwell_left_s"].get<double>());
          } else {
            std::snprintf(text, sizeof text, "no, dwell left %.1fs",
                          hold["dwell_left_s"].get<double>());
          }
          exit = text;
        }
        row["exit_hold"] = exit;
      }
      table(rows, {"queue", "surge", "force", "since_s", "cause", "offered_last_min", "waiting",
                   "ewt_s", "entries", "borrowed", "overflowed", "callbacks", "diverted",
                   "exit_hold"});
    } else if (service->parsed() && result.is_array()) {
      json rows = result;
      for (json& row : rows) {
        std::string names;
        for (const json& q : row["queues"]) {
          names += (names.empty() ? "" : ",") + q.get<std::string>();
        }
        row["queues"] = names;
      }
      table(rows, {"service", "down", "action", "target", "queues"});
    } else if (site->parsed() && result.contains("peers")) {
      std::cout << "site " << result["site"].get<std::string>() << " (number "
                << result["number"].dump() << "), summaries kept "
                << result["summaries_kept"].dump() << ", passed over "
                << result["summaries_ignored"].dump() << "\n";
      json rows = json::array();
      for (const json& p : result["peers"]) {
        for (json q : p["queues"]) {
          q["site"] = p["site"];
          q["role"] = p.value("role", std::string("-"));
          rows.push_back(std::move(q));
        }
      }
      table(rows, {"site", "role", "queue", "received", "age_s", "fresh", "accepts", "ewt_s",
                   "ready_agents", "service_level", "load"});
    } else if (unlock->parsed() || revoke->parsed()) {
      std::cout << result.value("message", std::string()) << "\n";
      if (result.contains("tokens")) {
        std::cout << "session tokens not revoked here: " << result["tokens"].get<std::string>()
                  << "\n";
      }
    } else if (status->parsed()) {
      print_status(result);
    } else if (dr->parsed() && result.is_object() && result.contains("events")) {
      for (const json& e : result["events"]) {
        const auto ms = e.value("at_unix_ms", std::uint64_t{0});
        const std::time_t t = static_cast<std::time_t>(ms / 1000);
        char when[32];
        std::tm tm{};
        gmtime_r(&t, &tm);
        std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        std::cout << when << "." << std::setw(3) << std::setfill('0') << ms % 1000 << "Z  "
                  << e.value("event", std::string()) << "\n";
      }
    } else if (dr->parsed() && result.is_object() && result.contains("done")) {
      for (const auto& [key, value] : result.items()) {
        std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
                  << "\n";
      }
    } else if ((ha->parsed() || dr->parsed()) && result.is_object()) {
      for (const auto& [key, value] : result.items()) {
        std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
                  << "\n";
      }
    } else if (result.is_object() && result.contains("done")) {
      std::cout << result["done"].get<std::string>() << "\n";
      for (const json& c : result.value("changes", json::array())) {
        std::cout << "  " << c.get<std::string>() << "\n";
      }
      for (const json& c : result.value("notes", json::array())) {
        std::cout << "note: " << c.get<std::string>() << "\n";
      }
    } else if (result.is_object() && result.contains("needs_restart")) {
      // Structure and parameters both apply live; restart-only differences refuse the reload.
      std::cout << "running configuration vs " << result.value("file", std::string("?")) << "\n";
      bool any = false;
      for (const char* kind : {"structure", "changes"}) {
        for (const json& c : result.value(kind, json::array())) {
          std::cout << "change:  " << c.get<std::string>() << "\n";
          any = true;
        }
      }
      for (const json& c : result["needs_restart"]) {
        std::cout << "restart: " << c.get<std::string>() << "\n";
        any = true;
      }
      for (const json& c : result.value("notes", json::array())) {
        std::cout << "note:    " << c.get<std::string>() << "\n";
      }
      if (!any) {
        std::cout << "no changes\n";
      }
    } else {
      object(result);
    }
    return 0;
  }

  if (passwd->parsed()) {
    std::string password = read_secret("New password: ");
    if (isatty(STDIN_FILENO) != 0) {
      std::string again = read_secret("Again: ");
      if (again != password) {
        std::cerr << "acdctl: the passwords differ; nothing changed\n";
        return 1;
      }
    }
    const control::Result<control::HashCost> cost =
        acdctl::hash_cost_of(cost_level, cost_config);
    if (!cost.ok()) {
      dataplane::wipe(password.data(), password.size());
      std::cerr << "acdctl: " << cost.failure().message << "\n";
      return 2;
    }
    const control::Result<void> set =
        control::CredentialStore::set_password(credentials, id, password, cost.value());
    dataplane::wipe(password.data(), password.size());
    if (!set.ok()) {
      std::cerr << "acdctl: " << set.failure().message << "\n";
      return 1;
    }
    std::cout << "password set for agent " << id << " in " << credentials << "\n";
    // A changed password ends the agent's session tokens: asked of the acdd on this host, if one
    // runs (its primary's revocation reaches a standby through the log).
    struct stat st {};
    const bool acdd_here = ::stat(socket_path.c_str(), &st) == 0;
    const control::Result<json> revoked =
        acdd_here ? ask_result(socket_path,
                               json{{"cmd", "agents"}, {"action", "revoke-tokens"}, {"id", id}})
                  : control::Result<json>(json::object());
    if (!revoked.ok()) {
      std::cerr << "acdctl: session tokens not revoked (" << revoked.failure().message
                << "): run acdctl agent revoke-tokens " << id << " on the primary\n";
    }
  }
  return 0;
}
