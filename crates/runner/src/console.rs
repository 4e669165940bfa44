//! `-t`: the container's terminal. Like runc, the pseudo-terminal is
//! allocated inside the container (from its own devpts instance, so `tty`
//! there names `/dev/pts/0`) and its master end is handed to the supervisor
//! over a unix socket; the supervisor relays it to the user's terminal,
//! which it puts in raw mode while attached.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

/// The socket pair the master travels through: (supervisor end, container end).
pub fn socket_pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

/// A new pseudo-terminal from the current root's /dev/ptmx (the
/// container's own devpts instance): master, slave and the slave's path.
pub fn open_pty() -> nix::Result<(nix::pty::PtyMaster, OwnedFd, String)> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    nix::pty::grantpt(&master)?;
    nix::pty::unlockpt(&master)?;
    let slave_path = nix::pty::ptsname_r(&master)?;
    let slave = nix::fcntl::open(
        Path::new(&slave_path),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: open just returned this descriptor, owned by nothing else.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    Ok((master, slave, slave_path))
}

/// Makes `slave` this process's controlling terminal (in a new session)
/// and its stdin, stdout and stderr.
pub fn take_terminal(slave: OwnedFd) -> nix::Result<()> {
    nix::unistd::setsid()?;
    // SAFETY: TIOCSCTTY on a terminal we hold open, with an integer argument.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(nix::errno::Errno::last());
    }
    for target in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), target)?;
    }
    Ok(())
}

/// In the container's pid 1, after pivot_root: opens a pty from the
/// container's /dev/ptmx, sends its master through `socket`, makes the
/// slave the controlling terminal and stdio, and binds it on /dev/console.
pub fn attach_in_container(socket: &OwnedFd) -> nix::Result<()> {
    let (master, slave, slave_path) = open_pty()?;
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(b"m")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    drop(master);
    take_terminal(slave)?;
    std::fs::File::create("/dev/console")
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    mount(
        Some(Path::new(&slave_path)),
        "/dev/console",
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
}

/// In the supervisor: receives the master end sent by [`attach_in_container`].
pub fn receive_master(socket: &OwnedFd) -> nix::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(nix::errno::Errno::ENOTTY)
}

/// Gives the pty the window size of the user's terminal `from`.
pub fn copy_window_size(from: RawFd, to: &impl AsRawFd) {
    // SAFETY: winsize is plain data; TIOCGWINSZ/TIOCSWINSZ read and write it.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// The user's terminal in raw mode until dropped, so keys reach the
/// container's terminal unprocessed.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Raw mode on stdin, if it is a terminal.
    pub fn stdin() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}
