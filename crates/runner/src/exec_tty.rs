//! `exec -t`: the exec'd process's terminal. As for `run -t` the pty comes
//! from the container's own devpts (so `tty` inside names `/dev/pts/N`);
//! the `strata-shim --exec` process holds its master and copies between it
//! and the user's stdio, with the user's terminal in raw mode for `-it`.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::PtyMaster;

/// Copies the terminal's output to stdout (and, with `input`, stdin to the
/// terminal) until every holder of the slave has closed it.
pub fn relay(master: &PtyMaster, input: bool) {
    // The window the user sees: stdin's, or stdout's when stdin is no terminal.
    let sized_from = if nix::unistd::isatty(0).unwrap_or(false) {
        0
    } else {
        1
    };
    crate::console::copy_window_size(sized_from, master);
    let raw = input.then(crate::console::RawMode::stdin).flatten();
    copy(master, input);
    drop(raw);
}

fn copy(master: &PtyMaster, mut input: bool) {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if input {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(_) => return,
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        if ready[0] {
            // EIO: the last slave was closed.
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(n) if n > 0 => {
                    let _ = stdout.write_all(&buf[..n]).and_then(|_| stdout.flush());
                }
                _ => return,
            }
        }
        if input && ready.get(1) == Some(&true) {
            match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(n) if n > 0 => {
                    let _ = nix::unistd::write(master.as_fd(), &buf[..n]);
                }
                _ => input = false,
            }
        }
    }
}
