//! The supervisor's event loop while a container runs: output to the log
//! (and to the user when attached), the user's input to a container
//! terminal, signals on to pid 1, and reaping.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::init::EXIT_ERROR;
use crate::logs::{LogWriter, Stream};

/// How long output may still arrive after pid 1 ended (from processes that
/// the kernel is still killing).
const DRAIN: Duration = Duration::from_secs(2);

/// The container's side of the conversation.
pub struct Io {
    /// Read ends of the container's stdout and stderr (with `-t`, stdout
    /// is the terminal's master and stderr is unused).
    pub outputs: [OwnedFd; 2],
    /// With `-t`: the terminal's master, which the user's input and window
    /// size go to.
    pub terminal: Option<OwnedFd>,
    /// Pass our stdin to the terminal (attached `-it`).
    pub forward_input: bool,
}

/// Runs until pid 1 has ended and its output is drained; its exit code.
/// `echo` copies output to our own stdout/stderr (attached).
pub fn run(pid1: Pid, mask: &SigSet, io: Io, log: &mut LogWriter, echo: bool) -> i32 {
    let sfd = match SignalFd::with_flags(mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("strata: signalfd: {e}");
            let _ = nix::sys::signal::kill(pid1, Signal::SIGKILL);
            return reap_blocking(pid1);
        }
    };
    if let Some(t) = &io.terminal {
        crate::console::copy_window_size(0, t);
    }
    let mut outs: [Option<OwnedFd>; 2] = io.outputs.map(Some);
    let mut input = io.forward_input && io.terminal.is_some();
    let mut code: Option<i32> = None;
    let mut deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if code.is_some()
            && (outs.iter().all(Option::is_none) || deadline.is_some_and(|d| Instant::now() >= d))
        {
            break;
        }
        let timeout = match deadline {
            Some(d) => PollTimeout::try_from(d.saturating_duration_since(Instant::now()))
                .unwrap_or(PollTimeout::ZERO),
            None => PollTimeout::NONE,
        };
        // Poll slots: signals, then the open outputs, then stdin.
        let stdin = std::io::stdin();
        let (ready, streams) = {
            let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
            let mut streams = Vec::new();
            for (i, o) in outs.iter().enumerate() {
                if let Some(fd) = o {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                    streams.push(i);
                }
            }
            if input {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            if poll(&mut fds, timeout).is_err() {
                continue;
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            (ready, streams)
        };
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                match (Signal::try_from(info.ssi_signo as i32), &io.terminal) {
                    (Ok(Signal::SIGCHLD), _) => {}
                    (Ok(Signal::SIGWINCH), Some(t)) => crate::console::copy_window_size(0, t),
                    (Ok(sig), _) if code.is_none() => {
                        let _ = nix::sys::signal::kill(pid1, sig);
                    }
                    _ => {}
                }
            }
            if let Some(c) = reap(pid1) {
                code.get_or_insert(c);
                deadline.get_or_insert(Instant::now() + DRAIN);
            }
        }
        for (k, &i) in streams.iter().enumerate() {
            if !ready[k + 1] {
                continue;
            }
            // A terminal's master reads EIO once the last slave is closed: an end too.
            let n = match &outs[i] {
                Some(fd) => nix::unistd::read(fd.as_raw_fd(), &mut buf).unwrap_or(0),
                None => 0,
            };
            if n == 0 {
                outs[i] = None;
                continue;
            }
            let stream = if i == 0 {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            log.write(stream, &buf[..n]);
            if echo {
                let _ = match stream {
                    Stream::Stdout => std::io::stdout()
                        .write_all(&buf[..n])
                        .and_then(|_| std::io::stdout().flush()),
                    Stream::Stderr => std::io::stderr().write_all(&buf[..n]),
                };
            }
        }
        if input && ready.get(streams.len() + 1) == Some(&true) {
            let n = nix::unistd::read(stdin.as_raw_fd(), &mut buf).unwrap_or(0);
            match (&io.terminal, n) {
                (Some(t), n) if n > 0 => {
                    let _ = nix::unistd::write(t, &buf[..n]);
                }
                _ => input = false,
            }
        }
    }
    code.unwrap_or(EXIT_ERROR)
}

/// Docker's exit code for a wait status.
fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Reaps every child that ended; pid 1's exit code if it was among them.
fn reap(pid1: Pid) -> Option<i32> {
    let mut code = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return code,
            Ok(st) => {
                if st.pid() == Some(pid1) {
                    code = exit_code(st);
                }
            }
        }
    }
}

fn reap_blocking(pid1: Pid) -> i32 {
    loop {
        match waitpid(pid1, None) {
            Ok(st) => {
                if let Some(c) = exit_code(st) {
                    return c;
                }
            }
            Err(_) => return EXIT_ERROR,
        }
    }
}
