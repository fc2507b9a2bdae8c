// acdctl: the operator's command line for acd.
//
//   acdctl agent passwd ID [--credentials FILE]     set an agent's password (read from stdin)
//
// The live commands (status, agents, queues, calls, stats, route test, config, top) arrive with the
// control socket.
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "acd/control/config.hpp"
#include "acd/control/credentials.hpp"

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

}  // namespace

int main(int argc, char** argv) {
  using namespace acd;
  CLI::App app{"acdctl: operate an acd appliance"};
  app.require_subcommand(1);
  CLI::App* agent = app.add_subcommand("agent", "Agents");
  agent->require_subcommand(1);
  CLI::App* passwd = agent->add_subcommand("passwd", "Set an agent's password (argon2id); reads it from stdin");
  router::AgentNumber id = 0;
  std::string credentials = control::ApplianceConfig{}.credentials;
  passwd->add_option("ID", id, "Agent ID")->required()->check(CLI::Range(1ull, 9'000'000'000'000'000ull));
  passwd->add_option("--credentials", credentials, "Credential file")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (passwd->parsed()) {
    std::string password = read_secret("New password: ");
    if (isatty(STDIN_FILENO) != 0) {
      std::string again = read_secret("Again: ");
      if (again != password) {
        std::cerr << "acdctl: the passwords differ; nothing changed\n";
        return 1;
      }
    }
    const std::string error = control::CredentialStore::set_password(credentials, id, password);
    dataplane::wipe(password.data(), password.size());
    if (!error.empty()) {
      std::cerr << "acdctl: " << error << "\n";
      return 1;
    }
    std::cout << "password set for agent " << id << " in " << credentials << "\n";
  }
  return 0;
}
