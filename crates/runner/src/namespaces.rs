//! The namespaces a container gets, and the setup that only makes sense
//! inside them (hostname, loopback).

use std::io;

use nix::sched::CloneFlags;

use crate::config::NetworkMode;

/// New mount, pid, uts, ipc and cgroup namespaces, plus a network one
/// unless the container shares the host's or another container's.
pub fn flags(network: &NetworkMode) -> CloneFlags {
    let mut f = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    if network.own_namespace() {
        f |= CloneFlags::CLONE_NEWNET;
    }
    f
}

/// Enters new namespaces; the pid namespace applies to children created
/// afterwards, so the caller forks the container's pid 1 next.
pub fn unshare(network: &NetworkMode) -> nix::Result<()> {
    nix::sched::unshare(flags(network))
}

/// Brings up `lo` in this network namespace (it starts down).
pub fn loopback_up() -> io::Result<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
