//! The per-container supervisor (`strata-shim`): it owns the container's
//! union mount and its pid 1.
//!
//! Order matters here. The supervisor blocks the signals it handles before
//! any thread exists (so the FUSE threads never take them), moves into a
//! private mount namespace (the union is then visible only to it and the
//! container, and vanishes with them), mounts the union, and creates the
//! cgroup. It then forks an intermediate process, which is single-threaded
//! and so may unshare the container's namespaces; the intermediate forks
//! pid 1 into the new pid namespace and exits. The supervisor is a child
//! subreaper, so pid 1 becomes its child: it reaps it, records the exit code
//! and tears everything down.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};

use crate::cgroups::Cgroup;
use crate::config::{ContainerConfig, NetworkMode, RootfsSource};
use crate::init::{StartFailure, EXIT_ERROR};
use crate::logs::{LogWriter, LOG_FILE};
use crate::state::{now, ProcRef, State, Status, Store};

/// A detached supervisor's own messages.
pub const SUPERVISOR_LOG: &str = "supervisor.log";

/// Signals the supervisor passes on to pid 1.
const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Opens the read-only layers of a container's root filesystem.
pub fn open_lowers(src: &RootfsSource) -> std::io::Result<Vec<Box<dyn unionfs::Lower>>> {
    match src {
        RootfsSource::Dirs(dirs) => dirs
            .iter()
            .map(|d| {
                unionfs::DirLower::open(d)
                    .map(|l| Box::new(l) as Box<dyn unionfs::Lower>)
                    .map_err(|e| {
                        std::io::Error::new(e.kind(), format!("layer {}: {e}", d.display()))
                    })
            })
            .collect(),
        RootfsSource::Image { store, image } => {
            let s = layerstore::Store::open(store).map_err(std::io::Error::other)?;
            imagefs::image_lowers(&s, image).map_err(std::io::Error::other)
        }
    }
}

fn fail(e: impl std::fmt::Display) -> StartFailure {
    StartFailure {
        code: EXIT_ERROR,
        message: e.to_string(),
    }
}

/// Entry point of `strata-shim`. Attached: stdio is the user's and the exit
/// code is the container's. Detached: the process detaches itself, reports
/// `ok` or `error CODE MESSAGE` on stdout once the command runs (or could
/// not), then keeps only the log.
pub fn main(store: &Store, id: &str, detached: bool) -> i32 {
    if detached {
        // SAFETY: single-threaded here (a fresh process), so the child may
        // run any code.
        match unsafe { fork() } {
            Ok(ForkResult::Parent { .. }) => return 0,
            Ok(ForkResult::Child) => {
                let _ = nix::unistd::setsid();
            }
            Err(e) => {
                println!("error {EXIT_ERROR} fork the supervisor: {e}");
                return EXIT_ERROR;
            }
        }
    }
    let _ = std::env::set_current_dir("/");
    match supervise(store, id, detached) {
        Ok(code) => code,
        Err(f) => {
            if detached {
                println!("error {}", f.encode());
            } else {
                eprintln!("strata: {}", f.message);
            }
            f.code
        }
    }
}

/// What must be undone when the container ends.
struct Held {
    session: Option<fuser::BackgroundSession>,
    cgroup: Option<Cgroup>,
    listeners: Option<crate::ports::Listeners>,
}

impl Held {
    /// Kills what is left, removes the cgroup, unmounts; says whether the
    /// OOM killer struck.
    fn teardown(&mut self, rootfs: &Path) -> bool {
        let mut oom = false;
        if let Some(cg) = self.cgroup.take() {
            oom = cg.oom_killed();
            if let Err(e) = crate::cgroups::destroy(&cg.dirs()) {
                eprintln!("strata: {e}");
            }
        }
        drop(self.session.take());
        let _ = nix::mount::umount2(rootfs, nix::mount::MntFlags::MNT_DETACH);
        oom
    }
}

fn block_signals() -> nix::Result<SigSet> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in FORWARDED {
        set.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    Ok(set)
}

fn supervise(store: &Store, id: &str, detached: bool) -> Result<i32, StartFailure> {
    let cfg = store.config(id).map_err(fail)?;
    let dir = store.dir(id);
    // One supervisor per container: held until this process ends.
    let lock = crate::state::private_file(&dir.join("supervisor.lock"), 0o600).map_err(fail)?;
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|_| fail(crate::error::Error::AlreadyStarted(id.to_string())))?;
    let mut state = store.state(id).map_err(fail)?;
    if state.status == Status::Running {
        return Err(fail(crate::error::Error::AlreadyStarted(id.to_string())));
    }
    state = State {
        supervisor: ProcRef::of(std::process::id() as i32),
        ..State::created()
    };
    store.save_state(id, &state).map_err(fail)?;

    if crate::userns::needed() {
        crate::userns::enter()
            .map_err(|e| fail(format!("enter a user namespace (rootless): {e}")))?;
    }
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mask = block_signals().map_err(|e| fail(format!("block signals: {e}")))?;
    let rootfs = dir.join("rootfs");
    // Exists before the container runs, so `logs -f` right after start finds it.
    let mut log = LogWriter::open(&dir.join(LOG_FILE)).map_err(fail)?;
    let mut held = Held {
        session: None,
        cgroup: None,
        listeners: None,
    };
    let started = start(store, &cfg, &rootfs, detached, &mut held);
    let (pid1, io) = match started {
        Ok(s) => s,
        Err(f) => {
            abandon(store, &cfg, &mut state, &mut held, &rootfs, &f);
            return Err(f);
        }
    };
    state.status = Status::Running;
    state.pid = ProcRef::of(pid1.as_raw());
    state.started_at = Some(now());
    state.cgroups = held.cgroup.as_ref().map(Cgroup::dirs).unwrap_or_default();
    if let Err(f) = announce(store, id, &mut state, pid1, &mut held) {
        let _ = nix::sys::signal::kill(pid1, Signal::SIGKILL);
        let _ = waitpid(pid1, None);
        abandon(store, &cfg, &mut state, &mut held, &rootfs, &f);
        return Err(f);
    }
    if detached {
        println!("ok");
        let _ = std::io::stdout().flush();
        detach_stdio(&dir.join(SUPERVISOR_LOG));
    }

    // Raw mode only for a user's terminal that the container's now stands in for.
    let raw = (cfg.process.tty && !detached)
        .then(crate::console::RawMode::stdin)
        .flatten();
    let code = crate::relay::run(pid1, &mask, io, &mut log, !detached);
    drop(raw);
    log.finish();
    tracing::info!("pid 1 of {id} ended with {code}");
    let oom = held.teardown(&rootfs);
    tracing::info!("torn down {id}");
    finish(store, &cfg, &mut state, code, oom, None);
    tracing::info!("recorded the end of {id}");
    Ok(code)
}

/// Starts serving published ports and records the container as running.
fn announce(
    store: &Store,
    id: &str,
    state: &mut State,
    pid1: Pid,
    held: &mut Held,
) -> Result<(), StartFailure> {
    if let Some(listeners) = held.listeners.take() {
        state.ports = listeners.published();
        let netns = std::fs::File::open(format!("/proc/{pid1}/ns/net"))
            .map_err(|e| fail(format!("open the container's network namespace: {e}")))?;
        listeners.serve(netns.into());
    }
    store.save_state(id, state).map_err(fail)
}

/// A start that failed part way: release what was set up and record the
/// failure as the container's end.
fn abandon(
    store: &Store,
    cfg: &ContainerConfig,
    state: &mut State,
    held: &mut Held,
    rootfs: &Path,
    f: &StartFailure,
) {
    let oom = held.teardown(rootfs);
    finish(store, cfg, state, f.code, oom, Some(f.message.clone()));
}

/// Records the end, or removes the container (`--rm`).
fn finish(
    store: &Store,
    cfg: &ContainerConfig,
    state: &mut State,
    code: i32,
    oom: bool,
    error: Option<String>,
) {
    if cfg.auto_remove {
        let _ = std::fs::remove_dir_all(store.dir(&cfg.id));
        return;
    }
    state.status = Status::Exited;
    state.exit_code = Some(code);
    state.oom_killed = oom;
    state.finished_at = Some(now());
    state.error = error;
    if let Err(e) = store.save_state(&cfg.id, state) {
        tracing::warn!("record the end of {}: {e}", cfg.id);
    }
}

/// Leaves the starter's pipe: stdin and stdout on /dev/null, stderr (our
/// own diagnostics, a panic included) appended to `log`.
fn detach_stdio(log: &Path) {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
        let err = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o640)
                .open(log)
        };
        let _ = nix::unistd::dup2(err.as_ref().map_or(null.as_raw_fd(), |f| f.as_raw_fd()), 2);
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), StartFailure> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail(format!("pipe: {e}")))
}

/// How the union shows and records file owners. Rootless, only root exists
/// in the container (one id is mapped), so every file shows as root's, and
/// owners the kernel cannot record go to `user.containers.override_stat`,
/// as fuse-overlayfs does for rootless podman.
pub(crate) fn ownership() -> unionfs::ids::Ownership {
    if !crate::userns::active() {
        return Default::default();
    }
    unionfs::ids::Ownership {
        use_override: true,
        squash_uid: Some(0),
        squash_gid: Some(0),
        ..Default::default()
    }
}

/// The network namespace of running container `id` (`container:ID`).
fn network_of(store: &Store, id: &str) -> Result<OwnedFd, StartFailure> {
    let st = store.state(id).map_err(fail)?;
    let pid = st
        .pid
        .filter(|p| st.status == Status::Running && p.alive())
        .ok_or_else(|| fail(format!("network container {id} is not running")))?;
    let f = std::fs::File::open(format!("/proc/{}/ns/net", pid.pid))
        .map_err(|e| fail(format!("network of container {id}: {e}")))?;
    Ok(f.into())
}

/// What the intermediate process and pid 1 receive from the supervisor.
struct ChildEnds {
    go: OwnedFd,
    info: OwnedFd,
    exec: OwnedFd,
    stdio: [OwnedFd; 3],
    join_net: Option<OwnedFd>,
    console: Option<OwnedFd>,
}

/// Mounts, creates the cgroup and starts pid 1; returns it once its command
/// runs, with its output (and terminal).
fn start(
    store: &Store,
    cfg: &ContainerConfig,
    rootfs: &Path,
    detached: bool,
    held: &mut Held,
) -> Result<(Pid, crate::relay::Io), StartFailure> {
    let dir = store.dir(&cfg.id);
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| fail(format!("unshare mount namespace: {e}")))?;
    let none: Option<&str> = None;
    nix::mount::mount(
        none,
        "/",
        none,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_SLAVE,
        none,
    )
    .map_err(|e| fail(format!("make / a slave mount: {e}")))?;

    let lowers = open_lowers(&cfg.rootfs).map_err(fail)?;
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    for (d, mode) in [
        (&upper, 0o755),
        (&work, 0o700),
        (&rootfs.to_path_buf(), 0o755),
    ] {
        crate::state::create_dirs(d, mode)
            .map_err(|e| fail(format!("create {}: {e}", d.display())))?;
    }
    let union = unionfs::UnionConfig {
        lowers,
        upper: Some((upper, work)),
        timeout: Duration::from_secs(86_400),
        ownership: ownership(),
        passthrough: true,
        fsync: true,
        static_nlink: false,
        noxattrs: false,
        posix_acl: true,
    };
    // allow_other: the container's processes may run as any user.
    held.session = Some(
        unionfs::mount::spawn_union(union, rootfs, true)
            .map_err(|e| fail(format!("mount the union on {}: {e}", rootfs.display())))?,
    );

    // Volume sources are made here: the container process only mounts.
    let image = crate::inroot::Root::open(rootfs)
        .map_err(|e| fail(format!("open {}: {e}", rootfs.display())))?;
    let mut mounts = Vec::new();
    for m in &cfg.mounts {
        mounts.push((
            m.clone(),
            crate::volumes::host_source(m, store.root(), &dir, &image).map_err(fail)?,
        ));
    }

    let join_net = match &cfg.network {
        NetworkMode::Container(other) => Some(network_of(store, other)?),
        _ => None,
    };
    if !cfg.ports.is_empty() {
        held.listeners = Some(crate::ports::Listeners::bind(&cfg.ports).map_err(fail)?);
    }

    match Cgroup::create(&cfg.id, &cfg.resources) {
        Ok(cg) => held.cgroup = Some(cg),
        Err(e) if crate::userns::active() => {
            eprintln!("strata: warning: resource limits not applied (cgroups not delegated to this user): {e}");
        }
        Err(e) => return Err(fail(e)),
    }

    let (go_r, go_w) = pipe()?;
    let (info_r, info_w) = pipe()?;
    let (exec_r, exec_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let stdin: OwnedFd = if cfg.process.stdin && !detached {
        std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| fail(format!("stdin: {e}")))?
    } else {
        std::fs::File::open("/dev/null")
            .map_err(|e| fail(format!("/dev/null: {e}")))?
            .into()
    };

    let (console_sup, console_ctr) = match cfg.process.tty {
        true => {
            let (a, b) =
                crate::console::socket_pair().map_err(|e| fail(format!("socketpair: {e}")))?;
            (Some(a), Some(b))
        }
        false => (None, None),
    };
    let ends = ChildEnds {
        go: go_r,
        info: info_w,
        exec: exec_w,
        stdio: [stdin, out_w, err_w],
        join_net,
        console: console_ctr,
    };

    // SAFETY: the FUSE threads exist, so the child runs only simple code
    // (glibc keeps malloc usable across fork) until it forks again.
    let mid = match unsafe { fork() }.map_err(|e| fail(format!("fork: {e}")))? {
        ForkResult::Child => intermediate(cfg, &dir, &mounts, ends),
        ForkResult::Parent { child } => child,
    };
    drop(ends);

    let placed = match &held.cgroup {
        Some(cg) => cg.add(mid.as_raw()),
        None => Ok(()),
    };
    if let Err(e) = placed {
        let _ = nix::sys::signal::kill(mid, Signal::SIGKILL);
        let _ = waitpid(mid, None);
        return Err(fail(e));
    }
    let _ = std::fs::File::from(go_w).write_all(b"g");
    let mut info = String::new();
    let _ = std::fs::File::from(info_r).read_to_string(&mut info);
    let _ = waitpid(mid, None);
    let pid1 = match info.strip_prefix("P ").and_then(|p| p.parse().ok()) {
        Some(p) => Pid::from_raw(p),
        None => {
            let why = info
                .strip_prefix("E ")
                .unwrap_or("the namespace setup process failed");
            return Err(fail(why));
        }
    };
    let mut report = String::new();
    let _ = std::fs::File::from(exec_r).read_to_string(&mut report);
    if !report.is_empty() {
        let _ = waitpid(pid1, None);
        return Err(StartFailure::decode(&report));
    }
    let terminal = match &console_sup {
        Some(sock) => {
            Some(crate::console::receive_master(sock).map_err(|e| fail(format!("terminal: {e}")))?)
        }
        None => None,
    };
    let stdout = match &terminal {
        Some(t) => t.try_clone().map_err(|e| fail(format!("terminal: {e}")))?,
        None => out_r,
    };
    Ok((
        pid1,
        crate::relay::Io {
            outputs: [stdout, err_r],
            terminal,
            forward_input: cfg.process.stdin && !detached,
        },
    ))
}

/// The intermediate process: waits until it is in the cgroup, enters the new
/// namespaces and forks pid 1 into them.
fn intermediate(
    cfg: &ContainerConfig,
    dir: &Path,
    mounts: &[crate::volumes::Resolved],
    ends: ChildEnds,
) -> ! {
    let ChildEnds {
        go,
        info,
        exec,
        stdio,
        join_net,
        console,
    } = ends;
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let mut info = std::fs::File::from(info);
    let mut byte = [0u8; 1];
    if std::fs::File::from(go).read_exact(&mut byte).is_err() {
        // SAFETY: leaving the forked child without running the parent's exit handlers.
        unsafe { libc::_exit(1) };
    }
    if let Some(net) = join_net {
        if let Err(e) = nix::sched::setns(net, nix::sched::CloneFlags::CLONE_NEWNET) {
            let _ = write!(
                info,
                "E join the network namespace of {}: {e}",
                cfg.network.name()
            );
            // SAFETY: as above.
            unsafe { libc::_exit(1) };
        }
    }
    if let Err(e) = crate::namespaces::unshare(&cfg.network) {
        let _ = write!(info, "E unshare namespaces: {e}");
        // SAFETY: as above.
        unsafe { libc::_exit(1) };
    }
    // SAFETY: this process is single-threaded.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            for (fd, target) in stdio.iter().zip(0..) {
                let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(fd), target);
            }
            drop(stdio);
            // Rust ignores SIGPIPE; an ignored signal stays ignored across exec.
            // SAFETY: restoring a default disposition installs no handler.
            let _ = unsafe {
                nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl)
            };
            crate::init::container_main(cfg, dir, mounts, console, std::fs::File::from(exec))
        }
        Ok(ForkResult::Parent { child }) => {
            let _ = write!(info, "P {child}");
        }
        Err(e) => {
            let _ = write!(info, "E fork the container process: {e}");
        }
    }
    // SAFETY: as above.
    unsafe { libc::_exit(0) }
}
