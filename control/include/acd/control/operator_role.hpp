// Who may do what on the control socket: three operator roles, viewer < operator < admin, taken
// from the caller's Unix groups (SO_PEERCRED's uid and gid, and the uid's supplementary groups
// from the group database via getgrouplist). Root is always admin. Which groups stand for which
// role, and whether a local user in none of them may still read, is [control] in acd.toml
// (OperatorGroups, config.hpp); which role each command needs is the table in commands.cpp
// (control/DESIGN.md "Operator roles" says why).
//
// Thread-safety: role_of and role_name are pure; resolve_groups, groups_of and peer_role read the
// system's user and group databases (reentrant *_r calls) and may be called from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "acd/control/config.hpp"

namespace acd::control {

// Ordered: a role may do everything the roles below it may. None is a caller who may do nothing
// (in no role group, with [control] viewers = "group").
enum class OperatorRole : std::uint8_t { None, Viewer, Operator, Admin };

// "viewer", "operator", "admin", or "none".
std::string_view role_name(OperatorRole role);

// The groups of OperatorGroups as group IDs; a group the system does not know is nullopt (nobody
// but root holds that role then; acdd --check-config reports a group named in the file that does
// not exist, check_operator_groups in config.hpp).
struct RoleGids {
  std::optional<gid_t> viewer;
  std::optional<gid_t> operator_;
  std::optional<gid_t> admin;
  bool any_local_may_view = false;
};
RoleGids resolve_groups(const OperatorGroups& groups);

// The role of a caller with user ID `uid` in `groups` (its primary and supplementary group IDs):
// root is admin; otherwise the highest role whose group it is in; otherwise viewer if any local
// user may view, else None.
OperatorRole role_of(uid_t uid, std::span<const gid_t> groups, const RoleGids& gids);

// `gid` and the supplementary groups the group database gives user `uid` (getgrouplist); only
// `gid` when the user has no name (a uid without a passwd entry).
std::vector<gid_t> groups_of(uid_t uid, gid_t gid);

// The role of the process at the other end of the connected Unix socket `fd` (SO_PEERCRED).
// None when the credentials cannot be read.
OperatorRole peer_role(int fd, const OperatorGroups& groups);

// For refusals: "the acd-admin group, or root" for admin, "the acd or acd-admin group, or root"
// for operator, and so on (the groups whose members hold `role` or a higher one).
std::string who_holds(OperatorRole role, const OperatorGroups& groups);

}  // namespace acd::control
