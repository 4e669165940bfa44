//! `exec`: another process in a running container. It runs in
//! `strata-shim --exec`, a fresh single-threaded process, because joining a
//! mount namespace with `setns` is refused to multi-threaded callers (such
//! as a test harness or a future threaded CLI).

use std::os::fd::AsFd;

use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use serde::{Deserialize, Serialize};

use crate::config::ProcessSpec;
use crate::error::Error;
use crate::init::{StartFailure, EXIT_ERROR};
use crate::state::{Status, Store};

/// What `exec` runs; unset fields default to the container's.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExecOptions {
    pub args: Vec<String>,
    /// `KEY=VALUE` added to (or replacing in) the container's environment.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// Pass stdin through (otherwise /dev/null, or nothing typed with `tty`).
    pub interactive: bool,
    /// `-t`: give the process a terminal of the container's (see
    /// [`crate::exec_tty`]).
    #[serde(default)]
    pub tty: bool,
}

/// Namespaces joined, in order: the mount namespace last, since after it
/// `/proc/PID/ns` would name the container's view of /proc.
const NAMESPACES: [(&str, CloneFlags); 6] = [
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

fn fail(e: impl std::fmt::Display) -> StartFailure {
    StartFailure {
        code: EXIT_ERROR,
        message: e.to_string(),
    }
}

/// Entry point of `strata-shim --exec`: the exit code of the process run,
/// or Docker's code for why it could not run.
pub fn main(store: &Store, id: &str, opts: &ExecOptions) -> i32 {
    match run(store, id, opts) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("strata: {}", f.message);
            f.code
        }
    }
}

fn run(store: &Store, id: &str, opts: &ExecOptions) -> Result<i32, StartFailure> {
    let cfg = store.config(id).map_err(fail)?;
    let st = store.state(id).map_err(fail)?;
    let pid1 = st
        .pid
        .filter(|p| st.status == Status::Running && p.alive())
        .ok_or_else(|| fail(Error::NotRunning(id.to_string())))?;
    if opts.args.is_empty() {
        return Err(fail(Error::NoCommand));
    }
    let process = ProcessSpec {
        args: opts.args.clone(),
        env: crate::entrypoint::environment(&cfg.process.env, &opts.env, &cfg.hostname),
        cwd: opts
            .workdir
            .clone()
            .unwrap_or_else(|| cfg.process.cwd.clone()),
        user: opts
            .user
            .clone()
            .unwrap_or_else(|| cfg.process.user.clone()),
        stdin: opts.interactive,
        tty: opts.tty,
        no_new_privileges: cfg.process.no_new_privileges,
    };
    let mut files = Vec::new();
    for (name, flag) in NAMESPACES {
        let path = format!("/proc/{}/ns/{name}", pid1.pid);
        let f = std::fs::File::open(&path).map_err(|e| fail(format!("{path}: {e}")))?;
        files.push((f, flag));
    }
    for dir in &st.cgroups {
        crate::cgroups::join(dir).map_err(fail)?;
    }
    // A rootless container's namespaces belong to its user namespace: join
    // that first, which gives the rights to join the others.
    let user_ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/user")).ok();
    if user_ns("self") != user_ns(&pid1.pid.to_string()) {
        let path = format!("/proc/{}/ns/user", pid1.pid);
        let f = std::fs::File::open(&path).map_err(|e| fail(format!("{path}: {e}")))?;
        nix::sched::setns(f.as_fd(), CloneFlags::CLONE_NEWUSER)
            .map_err(|e| fail(format!("join the container's user namespace: {e}")))?;
    }
    for (f, flag) in &files {
        nix::sched::setns(f.as_fd(), *flag)
            .map_err(|e| fail(format!("join the container's namespaces: {e}")))?;
    }
    // Opened in the container's mount namespace: its own devpts instance.
    let terminal = match opts.tty {
        true => Some(crate::console::open_pty().map_err(|e| fail(format!("terminal: {e}")))?),
        false => None,
    };
    if !opts.interactive && terminal.is_none() {
        let null = std::fs::File::open("/dev/null").map_err(|e| fail(format!("/dev/null: {e}")))?;
        nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0)
            .map_err(|e| fail(format!("stdin: {e}")))?;
    }
    // SAFETY: single-threaded, so the child may run any code.
    match unsafe { fork() }.map_err(|e| fail(format!("fork: {e}")))? {
        ForkResult::Child => {
            // Rust ignores SIGPIPE; an ignored signal stays ignored across exec.
            // SAFETY: restoring a default disposition installs no handler.
            let _ = unsafe {
                nix::sys::signal::signal(
                    nix::sys::signal::Signal::SIGPIPE,
                    nix::sys::signal::SigHandler::SigDfl,
                )
            };
            if let Some((_, slave, _)) = terminal {
                if let Err(e) = crate::console::take_terminal(slave) {
                    eprintln!("strata: terminal: {e}");
                    // SAFETY: leaving the forked child without the parent's exit handlers.
                    unsafe { libc::_exit(EXIT_ERROR) }
                }
            }
            let f = match crate::init::exec_process(&process, false) {
                Ok(never) => match never {},
                Err(f) => f,
            };
            eprintln!("strata: {}", f.message);
            // SAFETY: leaving the forked child without the parent's exit handlers.
            unsafe { libc::_exit(f.code) }
        }
        ForkResult::Parent { child } => {
            if let Some((master, slave, _)) = terminal {
                // Only the child holds the slave now, so the master reads
                // end-of-file (EIO) once the process and its heirs are done.
                drop(slave);
                crate::exec_tty::relay(&master, opts.interactive);
            }
            loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, c)) => return Ok(c),
                    Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                    Ok(_) => {}
                    Err(e) => return Err(fail(format!("wait: {e}"))),
                }
            }
        }
    }
}
