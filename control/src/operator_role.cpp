// Operator roles: the caller's groups (SO_PEERCRED, getgrouplist) mapped to viewer, operator or
// admin by [control]'s group names.
#include "acd/control/operator_role.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>

#include <algorithm>

namespace acd::control {

namespace {

std::optional<gid_t> gid_of(const std::string& name) {
  group entry{};
  group* found = nullptr;
  std::vector<char> buffer(16384);
  if (getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return found->gr_gid;
}

bool member(std::span<const gid_t> groups, const std::optional<gid_t>& gid) {
  return gid && std::find(groups.begin(), groups.end(), *gid) != groups.end();
}

}  // namespace

std::string_view role_name(OperatorRole role) {
  switch (role) {
    case OperatorRole::None:
      return "none";
    case OperatorRole::Viewer:
      return "viewer";
    case OperatorRole::Operator:
      return "operator";
    case OperatorRole::Admin:
      return "admin";
  }
  return "none";
}

RoleGids resolve_groups(const OperatorGroups& groups) {
  return RoleGids{gid_of(groups.viewer_group), gid_of(groups.operator_group),
                  gid_of(groups.admin_group), groups.any_local_may_view};
}

OperatorRole role_of(uid_t uid, std::span<const gid_t> groups, const RoleGids& gids) {
  if (uid == 0 || member(groups, gids.admin)) {
    return OperatorRole::Admin;
  }
  if (member(groups, gids.operator_)) {
    return OperatorRole::Operator;
  }
  if (member(groups, gids.viewer) || gids.any_local_may_view) {
    return OperatorRole::Viewer;
  }
  return OperatorRole::None;
}

std::vector<gid_t> groups_of(uid_t uid, gid_t gid) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return {gid};
  }
  std::vector<gid_t> groups(64);
  int count = static_cast<int>(groups.size());
  while (getgrouplist(found->pw_name, gid, groups.data(), &count) < 0) {
    // Too small: glibc set `count` to the number needed.
    groups.resize(static_cast<std::size_t>(std::max(count, static_cast<int>(groups.size()) * 2)));
    count = static_cast<int>(groups.size());
  }
  groups.resize(static_cast<std::size_t>(count));
  return groups;
}

OperatorRole peer_role(int fd, const OperatorGroups& groups) {
  ucred peer{};
  socklen_t len = sizeof(peer);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
    return OperatorRole::None;
  }
  const std::vector<gid_t> ids = groups_of(peer.uid, peer.gid);
  return role_of(peer.uid, ids, resolve_groups(groups));
}

std::string who_holds(OperatorRole role, const OperatorGroups& groups) {
  std::vector<std::string> names;
  if (role <= OperatorRole::Viewer) {
    names.push_back(groups.viewer_group);
  }
  if (role <= OperatorRole::Operator) {
    names.push_back(groups.operator_group);
  }
  names.push_back(groups.admin_group);
  std::string text = "the ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    text += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  }
  return text + " group, or root";
}

}  // namespace acd::control
