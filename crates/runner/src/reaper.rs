//! `--init`: pid 1 as a minimal init, as Docker's `--init` (tini). The
//! container's pid 1 forks before it execs: the child goes on to become the
//! command, and pid 1 stays behind running this loop. No init binary has to
//! be in (or be mounted into) the image, since pid 1 is already running our
//! code. It forwards every signal it receives to the command, reaps every
//! process the kernel reparents to it (orphans of the command become its
//! children, and nobody else would wait for them), and exits with the
//! command's status, 128+N for a death by signal N.

use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, getpid, setpgid, tcsetpgrp, ForkResult, Pid};

use crate::init::{StartFailure, EXIT_ERROR};

/// Signals that mean a fault of the process itself (or a terminal stopping
/// a background job); tini leaves these unblocked too.
const NOT_FORWARDED: [Signal; 9] = [
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

/// Forks the command off pid 1. Returns in the child, which then execs the
/// command; pid 1 never returns from here. With a terminal, the command gets
/// its own process group and the foreground, so keys like ^C reach it once
/// (not once from the terminal and again forwarded by pid 1).
pub fn fork_command(tty: bool) -> Result<(), StartFailure> {
    let mut caught = SigSet::all();
    for s in NOT_FORWARDED {
        caught.remove(s);
    }
    // Blocked before the fork, so no signal (nor the child's SIGCHLD) can
    // arrive before pid 1 waits for it.
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&caught), Some(&mut old)).map_err(fail)?;
    // SAFETY: pid 1 is single-threaded, so the child may run any code.
    match unsafe { fork() }.map_err(fail)? {
        ForkResult::Child => {
            let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
            if tty {
                // Taking the foreground from outside it raises SIGTTOU
                // unless that is blocked.
                let ttou = SigSet::from(Signal::SIGTTOU);
                sigprocmask(SigmaskHow::SIG_BLOCK, Some(&ttou), None).map_err(fail)?;
                let _ = tcsetpgrp(std::io::stdin(), getpid());
            }
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None).map_err(fail)?;
            Ok(())
        }
        ForkResult::Parent { child } => {
            // Every descriptor but stdio: the setup-report pipe (so the
            // supervisor sees end-of-file once the command execs) and
            // anything inherited from the supervisor.
            // SAFETY: close_range with integer arguments only.
            unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
            // Best effort, and no failure is worth ending the command for:
            // pid 1 keeps no more privilege than a root command would have
            // (CAP_KILL among it, to signal a command run as another user).
            let _ = crate::caps::drop_bounding(&crate::caps::DEFAULT)
                .and_then(|_| crate::caps::set(&crate::caps::DEFAULT))
                .and_then(|_| crate::caps::no_new_privs());
            let code = supervise(child, &caught);
            // SAFETY: leaving pid 1 without the exit handlers of the
            // process it was forked from.
            unsafe { libc::_exit(code) }
        }
    }
}

fn fail(e: nix::Error) -> StartFailure {
    StartFailure {
        code: EXIT_ERROR,
        message: format!("init: {e}"),
    }
}

/// Waits for signals until the command has ended; its exit code.
fn supervise(command: Pid, caught: &SigSet) -> i32 {
    loop {
        match caught.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(code) = reap(command) {
                    return code;
                }
            }
            Ok(sig) => {
                let _ = kill(command, sig);
            }
            Err(_) => {}
        }
    }
}

/// Reaps every child that ended; the command's exit code if it was one.
fn reap(command: Pid) -> Option<i32> {
    let mut code = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, c)) if pid == command => code = Some(c),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == command => {
                code = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return code,
            Ok(_) => {}
        }
    }
}
