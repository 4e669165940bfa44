//! Rootless containers: the supervisor of an unprivileged user enters a
//! user namespace in which that user is root (one id mapped: 0 → the user),
//! so it may mount the union (FUSE mounts are allowed there), create the
//! other namespaces and mount /proc, tmpfs and binds. Only root exists
//! inside; file ownership the kernel cannot record goes into the union's
//! `user.containers.override_stat` xattrs.

use std::io;

/// Whether containers started by this process run rootless.
pub fn needed() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// Enters a new user namespace and mount namespace, mapping root to the
/// caller. Must be called while single-threaded.
pub fn enter() -> io::Result<()> {
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    nix::sched::unshare(
        nix::sched::CloneFlags::CLONE_NEWUSER | nix::sched::CloneFlags::CLONE_NEWNS,
    )?;
    // An unprivileged mapping of our gid requires setgroups to be denied.
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    Ok(())
}

/// Whether this process may call setgroups (not in a rootless namespace).
pub fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() != "deny")
}

/// Whether this process is in a rootless namespace made by [`enter`]
/// (the ids it maps are not the host's).
pub fn active() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| !m.split_whitespace().eq(["0", "0", "4294967295"]))
}
