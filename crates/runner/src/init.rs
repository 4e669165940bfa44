//! The container's pid 1 between fork and exec: mounts and root, hostname,
//! loopback, user, working directory, privileges, then execve. A failure is
//! reported to the supervisor through a close-on-exec pipe as Docker's exit
//! code and one line, so a successful exec shows as end-of-file.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::config::{ContainerConfig, ProcessSpec};
use crate::entrypoint::{env_get, DEFAULT_PATH};
use crate::volumes::Resolved;

/// Docker's exit codes for a container that did not start.
pub const EXIT_ERROR: i32 = 125;
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

/// Why the container's command did not start.
#[derive(Debug)]
pub struct StartFailure {
    pub code: i32,
    pub message: String,
}

impl StartFailure {
    fn new(code: i32, message: impl std::fmt::Display) -> Self {
        StartFailure {
            code,
            message: message.to_string(),
        }
    }

    /// `CODE MESSAGE`, as sent through the pipe.
    pub fn encode(&self) -> String {
        format!("{} {}", self.code, self.message)
    }

    pub fn decode(s: &str) -> StartFailure {
        let (code, msg) = s.split_once(' ').unwrap_or(("125", s));
        StartFailure::new(code.parse().unwrap_or(EXIT_ERROR), msg)
    }
}

fn setup<E: std::fmt::Display>(r: Result<(), E>) -> Result<(), StartFailure> {
    r.map_err(|e| StartFailure::new(EXIT_ERROR, e))
}

/// Runs in the container's pid 1: never returns.
pub fn container_main(
    cfg: &ContainerConfig,
    dir: &Path,
    mounts: &[Resolved],
    console: Option<OwnedFd>,
    mut report: std::fs::File,
) -> ! {
    let failure = match setup_and_exec(cfg, dir, mounts, console) {
        Ok(never) => match never {},
        Err(f) => f,
    };
    let _ = report.write_all(failure.encode().as_bytes());
    // SAFETY: _exit ends this forked process without running the parent's
    // atexit handlers or flushing its copied stdio buffers.
    unsafe { libc::_exit(failure.code) }
}

/// What `execve` returns on success.
pub enum Never {}

fn setup_and_exec(
    cfg: &ContainerConfig,
    dir: &Path,
    mounts: &[Resolved],
    console: Option<OwnedFd>,
) -> Result<Never, StartFailure> {
    // The supervisor runs with umask 0 for the union; the container gets
    // Docker's, for everything it creates from here on.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    setup(crate::rootfs::enter(
        &dir.join("rootfs"),
        dir,
        mounts,
        cfg.read_only,
    ))?;
    setup(nix::unistd::sethostname(&cfg.hostname).map_err(|e| format!("sethostname: {e}")))?;
    if cfg.network.own_namespace() {
        setup(crate::namespaces::loopback_up().map_err(|e| format!("bring up lo: {e}")))?;
    }
    if let Some(socket) = console {
        setup(crate::console::attach_in_container(&socket).map_err(|e| format!("terminal: {e}")))?;
    }
    if cfg.init {
        // Only the forked command returns here; pid 1 stays behind as its init.
        crate::reaper::fork_command(cfg.process.tty)?;
    }
    exec_process(&cfg.process, true)
}

/// Becomes the process's user in the current (container) root and execs
/// it: shared by a container's pid 1 and `exec`. `make_cwd` creates a
/// missing working directory first, as Docker does at container start.
pub fn exec_process(process: &ProcessSpec, make_cwd: bool) -> Result<Never, StartFailure> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let creds = crate::user::resolve(&process.user, &passwd, &group)
        .map_err(|e| StartFailure::new(EXIT_ERROR, e))?;
    let mut env = process.env.clone();
    if env_get(&env, "HOME").is_none() {
        env.push(format!("HOME={}", creds.home));
    }
    // Docker creates a missing working directory (as root, before the switch).
    if make_cwd {
        setup(
            std::fs::create_dir_all(&process.cwd)
                .map_err(|e| format!("working directory {}: {e}", process.cwd)),
        )?;
    }

    let argv0 = process
        .args
        .first()
        .ok_or_else(|| StartFailure::new(EXIT_ERROR, crate::error::Error::NoCommand))?;
    let program =
        find_program(argv0, env_get(&env, "PATH").unwrap_or(DEFAULT_PATH)).ok_or_else(|| {
            StartFailure::new(
                EXIT_NOT_FOUND,
                format!("exec: {argv0:?}: executable file not found in $PATH"),
            )
        })?;

    setup(
        crate::caps::drop_bounding(&crate::caps::DEFAULT)
            .map_err(|e| format!("drop capabilities: {e}")),
    )?;
    let gids: Vec<nix::unistd::Gid> = creds
        .groups
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    // Rootless, setgroups is denied and the only group is the mapped one.
    if crate::userns::setgroups_allowed() {
        setup(nix::unistd::setgroups(&gids).map_err(|e| format!("setgroups: {e}")))?;
    }
    setup(
        nix::unistd::setgid(nix::unistd::Gid::from_raw(creds.gid))
            .map_err(|e| format!("setgid {}: {e}", creds.gid)),
    )?;
    setup(
        nix::unistd::setuid(nix::unistd::Uid::from_raw(creds.uid))
            .map_err(|e| format!("setuid {}: {e}", creds.uid)),
    )?;
    if creds.uid == 0 {
        setup(
            crate::caps::set(&crate::caps::DEFAULT).map_err(|e| format!("set capabilities: {e}")),
        )?;
    }
    if process.no_new_privileges {
        setup(crate::caps::no_new_privs().map_err(|e| format!("no_new_privs: {e}")))?;
    }
    // The supervisor runs with umask 0 for the union; containers get Docker's.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    setup(
        std::env::set_current_dir(&process.cwd).map_err(|e| format!("chdir {}: {e}", process.cwd)),
    )?;
    close_inherited_fds();

    let cstrings = |v: &[String]| -> Result<Vec<CString>, StartFailure> {
        v.iter()
            .map(|s| {
                CString::new(s.as_bytes())
                    .map_err(|_| StartFailure::new(EXIT_ERROR, format!("NUL byte in {s:?}")))
            })
            .collect()
    };
    let path = CString::new(program.as_os_str().as_bytes())
        .map_err(|_| StartFailure::new(EXIT_ERROR, "NUL byte in path"))?;
    let err = match nix::unistd::execve(&path, &cstrings(&process.args)?, &cstrings(&env)?) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let code = match err {
        nix::errno::Errno::ENOENT => EXIT_NOT_FOUND,
        _ => EXIT_NOT_EXECUTABLE,
    };
    Err(StartFailure::new(
        code,
        format!("exec {}: {}", program.display(), err.desc()),
    ))
}

/// Docker's lookup (Go's `exec.LookPath`): a name with a `/` is taken as
/// is; otherwise the first executable regular file of that name in PATH.
fn find_program(name: &str, path: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    path.split(':')
        .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Marks every descriptor above stderr close-on-exec, so the supervisor's
/// (such as its /dev/fuse connection) never reach the container.
fn close_inherited_fds() {
    // SAFETY: close_range with integer arguments only.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
}
