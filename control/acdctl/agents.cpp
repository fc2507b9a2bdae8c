// acdctl's agent commands: the cost of new hashes from --cost or a configuration's [signin].
#include "agents.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>

#include "acd/control/config.hpp"
#include "acd/control/credential_import.hpp"

namespace acd::acdctl {

control::Result<control::HashCost> hash_cost_of(const std::string& level,
                                                const std::string& config_file) {
  if (!level.empty()) {
    return control::HashCost::named(level);
  }
  if (config_file.empty()) {
    return control::HashCost::named("interactive");
  }
  const control::ConfigResult r = control::load_config(config_file);
  if (!r.ok()) {
    return control::Failure{control::ControlError::Usage, r.errors.front()};
  }
  return control::HashCost{r.config.signin.opslimit,
                           static_cast<std::size_t>(r.config.signin.memlimit_kib) << 10};
}

namespace {

// "1001 1002 1003 ... (and 97 more)"
std::string some_ids(const std::vector<router::AgentNumber>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size() && i < 10; ++i) {
    out += (i == 0 ? "" : " ") + std::to_string(ids[i]);
  }
  if (ids.size() > 10) {
    out += " ... (and " + std::to_string(ids.size() - 10) + " more)";
  }
  return out;
}

}  // namespace

int run_agent_import(const ImportCommand& command) {
  const control::Result<control::HashCost> cost =
      hash_cost_of(command.cost_level, command.config_file);
  if (!cost.ok()) {
    std::cerr << "acdctl: " << cost.failure().message << "\n";
    return 2;
  }
  std::optional<control::HashCost> temporary;
  if (command.temporary_cost_level == "import") {
    temporary = control::kTemporarySecretCost;
  } else if (command.temporary_cost_level != "same") {
    const control::Result<control::HashCost> named =
        control::HashCost::named(command.temporary_cost_level);
    if (!named.ok()) {
      std::cerr << "acdctl: --temporary-cost: " << named.failure().message
                << "; or import (1 pass, 8 MiB) or same (--cost's)\n";
      return 2;
    }
    temporary = named.value();
  }
  std::ifstream file;
  if (command.csv != "-") {
    file.open(command.csv);
    if (!file) {
      std::cerr << "acdctl: " << command.csv << ": cannot be read\n";
      return 1;
    }
  }
  std::istream& in = command.csv == "-" ? std::cin : file;
  control::Result<std::vector<control::ImportRow>> rows =
      control::parse_import_csv(in, command.csv == "-" ? "<stdin>" : command.csv);
  if (!rows.ok()) {
    std::cerr << "acdctl: " << rows.failure().message << "\n";
    return 2;
  }
  // Generated codes need somewhere to go, made before anything is imported: a code nobody can
  // read would lock its agent out.
  const bool generates = std::any_of(rows.value().begin(), rows.value().end(),
                                     [](const control::ImportRow& r) { return r.generate; });
  int codes_fd = -1;
  if (generates && !command.dry_run) {
    if (command.codes_out.empty()) {
      std::cerr << "acdctl: rows with secret \"*\" generate enrolment codes: give --codes-out "
                   "FILE for them\n";
      return 2;
    }
    codes_fd = ::open(command.codes_out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (codes_fd < 0) {
      std::cerr << "acdctl: --codes-out " << command.codes_out << ": " << std::strerror(errno)
                << " (it must not exist yet)\n";
      return 1;
    }
  }
  const bool terminal = isatty(STDERR_FILENO) != 0;
  const auto began = std::chrono::steady_clock::now();
  int last_tenth = -1;
  control::ImportOptions options;
  options.cost = cost.value();
  options.temporary_cost = temporary;
  options.remove_missing = command.remove_missing;
  options.dry_run = command.dry_run;
  options.threads = command.threads;
  options.progress = [&](std::size_t done, std::size_t total) {
    const double part = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    if (terminal) {
      constexpr int kWidth = 40;
      const int filled = static_cast<int>(part * kWidth);
      std::fprintf(stderr, "\r[%s%s] %zu/%zu %3.0f%% %.0f s", std::string(filled, '#').c_str(),
                   std::string(kWidth - filled, ' ').c_str(), done, total, part * 100, seconds);
      if (done == total) {
        std::fprintf(stderr, "\n");
      }
    } else if (const int tenth = static_cast<int>(part * 10); tenth > last_tenth) {
      last_tenth = tenth;
      std::fprintf(stderr, "acdctl: %zu of %zu checked or hashed (%d%%, %.0f s)\n", done, total,
                   tenth * 10, seconds);
    }
  };
  std::cerr << "acdctl: importing " << rows.value().size() << " agents: passwords at "
            << control::to_string(cost.value()) << ", must-change and enrolment secrets at "
            << control::to_string(temporary.value_or(cost.value())) << "\n";
  const control::Result<control::ImportReport> report =
      control::import_credentials(command.credentials, rows.value(), options);
  if (!report.ok()) {
    std::cerr << "acdctl: " << report.failure().message << "\n";
    if (codes_fd >= 0) {
      ::close(codes_fd);
      ::unlink(command.codes_out.c_str());
    }
    return 1;
  }
  const control::ImportReport& r = report.value();
  if (codes_fd >= 0) {
    std::string text = "id,code\n";
    for (const auto& [agent, code] : r.codes) {
      text += std::to_string(agent) + "," + code + "\n";
    }
    const bool written = ::write(codes_fd, text.data(), text.size()) ==
                             static_cast<ssize_t>(text.size()) &&
                         ::fsync(codes_fd) == 0;
    sodium_memzero(text.data(), text.size());
    for (const auto& entry : r.codes) {
      sodium_memzero(const_cast<char*>(entry.second.data()), entry.second.size());
    }
    ::close(codes_fd);
    if (!written) {
      std::cerr << "acdctl: --codes-out " << command.codes_out
                << ": could not be written; the codes are imported but unknown: import those "
                   "agents again with \"*\"\n";
      return 1;
    }
    std::cout << r.codes.size() << " enrolment codes generated into " << command.codes_out
              << " (hand them out, then delete it)\n";
  }
  std::cout << (command.dry_run ? "would change " : "") << command.credentials << ": "
            << r.added.size() << " added, " << r.changed.size() << " changed, "
            << r.unchanged.size() << " unchanged, " << r.removed.size() << " removed\n";
  const std::pair<const char*, const std::vector<router::AgentNumber>*> lists[] = {
      {"added", &r.added}, {"changed", &r.changed}, {"removed", &r.removed}};
  for (const auto& [what, ids] : lists) {
    if (!ids->empty()) {
      std::cout << "  " << what << ": " << some_ids(*ids) << "\n";
    }
  }
  return 0;
}

}  // namespace acd::acdctl
