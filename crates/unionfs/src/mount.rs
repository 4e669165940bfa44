//! Mounting a union and serving it, in the foreground or as a daemon that
//! reports success only once the mount is live.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fuser::{Config, MountOption, SessionACL};

use crate::ids::Ownership;
use crate::lower::{DirLower, Lower};
use crate::options::Options;
use crate::union::{UnionConfig, UnionFs};

/// Timeout for lower content when none is given: lower layers never change
/// under a mount and we see every change to the upper one.
const DEFAULT_TIMEOUT_SECS: f64 = 86_400.0;

fn absolute(p: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// Builds the union's configuration from parsed options (opening the layers).
pub fn union_config(o: &Options) -> Result<UnionConfig, String> {
    let mut lowers: Vec<Box<dyn Lower>> = Vec::new();
    for l in &o.lowerdirs {
        let p = absolute(l)?;
        let dir = DirLower::open(&p).map_err(|e| format!("lowerdir {}: {e}", p.display()))?;
        lowers.push(Box::new(dir));
    }
    union_config_with(o, lowers)
}

/// The union's configuration for these options over the given lower layers
/// (topmost first): how the store mounts an image from its layer indexes.
pub fn union_config_with(o: &Options, lowers: Vec<Box<dyn Lower>>) -> Result<UnionConfig, String> {
    let upper = match (&o.upperdir, &o.workdir) {
        (Some(u), Some(w)) => Some((absolute(u)?, absolute(w)?)),
        _ => None,
    };
    let euid_root = nix::unistd::geteuid().is_root();
    Ok(UnionConfig {
        lowers,
        upper,
        timeout: Duration::from_secs_f64(o.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS).max(0.0)),
        ownership: Ownership {
            uid_map: o.uid_map.clone(),
            gid_map: o.gid_map.clone(),
            squash_uid: o.squash_to_uid,
            squash_gid: o.squash_to_gid,
            use_override: !euid_root || o.xattr_permissions != 0,
        },
        passthrough: o.passthrough,
        fsync: o.fsync,
        static_nlink: o.static_nlink,
        noxattrs: o.noxattrs,
        posix_acl: !o.noacl,
    })
}

/// The FUSE session settings for these options.
pub fn fuse_config(o: &Options) -> Config {
    let mut opts = vec![
        MountOption::FSName(o.source.clone().unwrap_or_else(|| "strata-fs".into())),
        MountOption::Subtype("strata-fs".into()),
        MountOption::DefaultPermissions,
    ];
    opts.push(if o.ro {
        MountOption::RO
    } else {
        MountOption::RW
    });
    if o.dev {
        opts.push(MountOption::Dev);
    }
    if o.suid {
        opts.push(MountOption::Suid);
    }
    if o.noexec {
        opts.push(MountOption::NoExec);
    }
    if o.noatime {
        opts.push(MountOption::NoAtime);
    }
    let mut cfg = Config::default();
    cfg.mount_options = opts;
    cfg.acl = if o.allow_other {
        SessionACL::All
    } else if o.allow_root {
        SessionACL::RootAndOwner
    } else {
        SessionACL::Owner
    };
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    cfg.n_threads = Some(match o.threads {
        Some(1) => 1,
        _ => cpus.clamp(2, 8),
    });
    cfg.clone_fd = true;
    cfg
}

/// Opens the layers and mounts; the mount is live when this returns.
fn start(o: &Options, cfg: UnionConfig) -> Result<fuser::Session<UnionFs>, String> {
    let fs = UnionFs::new(cfg).map_err(|e| e.to_string())?;
    let mountpoint = absolute(&o.mountpoint)?;
    // Modes given to us are final: the kernel already applied the caller's umask.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let notifier = fs.notifier.clone();
    let session = fuser::Session::new(fs, &mountpoint, &fuse_config(o))
        .map_err(|e| format!("mount {}: {e}", mountpoint.display()))?;
    let _ = notifier.set(session.notifier());
    Ok(session)
}

/// Mounts a union from a library caller (the container runner) and serves
/// it on background threads of this process until the returned session is
/// dropped or the mountpoint unmounted. `allow_other` lets other users
/// (a container's mapped ids) in. It sets this process's umask to 0 (the
/// filesystem creates files with the modes the kernel hands it); processes
/// the caller starts afterwards should set their own (Docker uses 022).
pub fn spawn_union(
    cfg: UnionConfig,
    mountpoint: &Path,
    allow_other: bool,
) -> std::io::Result<fuser::BackgroundSession> {
    let fs = UnionFs::new(cfg)?;
    let opts = Options {
        allow_other,
        dev: true,
        suid: true,
        ..Default::default()
    };
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let notifier = fs.notifier.clone();
    let session = fuser::Session::new(fs, mountpoint, &fuse_config(&opts))?;
    let _ = notifier.set(session.notifier());
    session.spawn()
}

/// Mounts and serves in this process until unmounted (`-f`).
pub fn serve(o: &Options) -> Result<(), String> {
    start(o, union_config(o)?)?.run().map_err(|e| e.to_string())
}

/// Forks; the child mounts and serves, the parent returns once the mount
/// is live (Ok) or the child failed (Err with its message).
pub fn daemonize(o: &Options) -> Result<(), String> {
    daemonize_with(o, || union_config(o))
}

/// Like [`daemonize`], with the layers given by `layers` (called in the
/// daemon, so the layers' file descriptors are opened there).
pub fn daemonize_with(
    o: &Options,
    layers: impl FnOnce() -> Result<UnionConfig, String>,
) -> Result<(), String> {
    let (rd, wr) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    // SAFETY: single-threaded here (nothing has spawned threads yet), so the
    // child may run arbitrary code after fork.
    match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
        nix::unistd::ForkResult::Parent { child } => {
            drop(wr);
            let mut buf = Vec::new();
            let _ = std::fs::File::from(rd).read_to_end(&mut buf);
            if buf.first() == Some(&b'1') {
                return Ok(());
            }
            let _ = nix::sys::wait::waitpid(child, None);
            let msg = String::from_utf8_lossy(buf.get(1..).unwrap_or_default()).to_string();
            Err(if msg.is_empty() {
                "daemon exited before the mount was ready".into()
            } else {
                msg
            })
        }
        nix::unistd::ForkResult::Child => {
            drop(rd);
            let _ = nix::unistd::setsid();
            let mut report = std::fs::File::from(wr);
            let session = match layers().and_then(|cfg| start(o, cfg)) {
                Ok(s) => s,
                Err(msg) => {
                    let _ = report.write_all(format!("0{msg}").as_bytes());
                    std::process::exit(1);
                }
            };
            let _ = std::env::set_current_dir("/");
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                for fd in 0..3 {
                    // SAFETY: dup2 onto the standard fds; `null` stays open for the call.
                    unsafe { libc::dup2(null.as_raw_fd(), fd) };
                }
            }
            let _ = report.write_all(b"1");
            drop(report);
            let code = i32::from(session.run().is_err());
            std::process::exit(code);
        }
    }
}
