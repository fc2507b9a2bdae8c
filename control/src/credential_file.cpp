// The credential file's format, its atomic replacement and the writers' lock.
#include "acd/control/credential_file.hpp"

#include "acd/dataplane/sign_in_verifier.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace acd::control {

std::string_view credential_flag_name(CredentialFlag flag) {
  switch (flag) {
    case CredentialFlag::MustChange:
      return "must-change";
    case CredentialFlag::Enrolment:
      return "enrolment";
    case CredentialFlag::EnrolmentUsed:
      return "enrolment-used";
    case CredentialFlag::None:
      break;
  }
  return "";
}

Result<CredentialTable> read_credential_file(const std::string& path, bool missing_ok) {
  std::ifstream in(path);
  if (!in) {
    if (missing_ok && errno == ENOENT) {
      return CredentialTable{};
    }
    return Failure{ControlError::Refused,
                   path + ": cannot be read; create it with 'acdctl agent passwd ID --credentials " +
                       path + "'"};
  }
  CredentialTable out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') {
      continue;
    }
    std::istringstream fields(line);
    router::AgentNumber agent = 0;
    CredentialEntry entry;
    std::string flag;
    std::string extra;
    const bool read = static_cast<bool>(fields >> agent >> entry.hash);
    if (read && (fields >> flag)) {
      entry.flag = flag == "must-change"      ? CredentialFlag::MustChange
                   : flag == "enrolment"      ? CredentialFlag::Enrolment
                   : flag == "enrolment-used" ? CredentialFlag::EnrolmentUsed
                                              : CredentialFlag::None;
    }
    // A generated code's fast hash only with an enrolment flag: never a password's.
    const bool code_hash = entry.hash.rfind(dataplane::kCodeHashPrefix, 0) == 0;
    if (!read || agent == 0 || (fields >> extra) ||
        (entry.hash.rfind("$argon2id$", 0) != 0 && !code_hash) ||
        (code_hash && entry.flag != CredentialFlag::Enrolment &&
         entry.flag != CredentialFlag::EnrolmentUsed) ||
        (!flag.empty() && entry.flag == CredentialFlag::None)) {
      return Failure{
          ControlError::Refused,
          path + ":" + std::to_string(number) +
              ": expected 'AGENT_ID $argon2id$... [must-change|enrolment|enrolment-used]'; set "
              "passwords with 'acdctl agent passwd ID' or 'acdctl agent import FILE'"};
    }
    if (!out.emplace(agent, std::move(entry)).second) {
      return Failure{ControlError::Refused, path + ":" + std::to_string(number) + ": agent " +
                                                std::to_string(agent) + " is listed twice"};
    }
  }
  return out;
}

namespace {

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

Result<void> write_credential_file(const std::string& path, const CredentialTable& table) {
  std::string text =
      "# acd agent credentials: AGENT_ID ARGON2ID_HASH [must-change|enrolment|enrolment-used]. "
      "Edit with "
      "'acdctl agent passwd ID' or 'acdctl agent import FILE'.\n";
  for (const auto& [id, entry] : table) {
    text += std::to_string(id);
    text += ' ';
    text += entry.hash;
    if (entry.flag != CredentialFlag::None) {
      text += ' ';
      text += credential_flag_name(entry.flag);
    }
    text += '\n';
  }
  struct stat old {};
  const bool existed = stat(path.c_str(), &old) == 0;
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Failure{ControlError::Refused, tmp + ": cannot be written (" + std::strerror(errno) +
                                              "); check the directory's permissions"};
  }
  bool ok = write_all(fd, text) && fchmod(fd, existed ? (old.st_mode & 07777) : 0600) == 0;
  if (ok && existed && (old.st_uid != geteuid() || old.st_gid != getegid())) {
    (void)fchown(fd, old.st_uid, old.st_gid);  // keeps the owner when allowed (root)
  }
  ok = ok && fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    return Failure{ControlError::Refused,
                   tmp + ": write failed (" + std::strerror(saved) + "); " + path + " unchanged"};
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Failure{ControlError::Refused, path + ": cannot be replaced"};
  }
  // The rename itself must survive a power cut: sync the directory.
  if (const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dir >= 0) {
    (void)fsync(dir);
    ::close(dir);
  }
  return {};
}

CredentialFileLock::CredentialFileLock(const std::string& path) {
  const std::string lock = path + ".lock";
  fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    why_ = lock + ": cannot be opened (" + std::strerror(errno) + ")";
    return;
  }
  while (flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      why_ = lock + ": cannot be locked (" + std::strerror(errno) + ")";
      ::close(fd_);
      fd_ = -1;
      return;
    }
  }
}

CredentialFileLock::~CredentialFileLock() {
  if (fd_ >= 0) {
    ::close(fd_);  // releases the lock
  }
}

}  // namespace acd::control
