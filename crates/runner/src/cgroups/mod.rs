//! A container's cgroup: detection of the host's layout, creation with
//! limits, membership, OOM status and removal.
//!
//! Three layouts exist in the wild: unified (cgroup2 holds the controllers,
//! [`v2`]), legacy (cgroup v1 only, [`v1`]) and hybrid (v1 controllers plus a
//! cgroup2 mount holding none or few, as here — crun refuses such hosts).
//! Hybrid hosts are driven through their v1 controllers. Each container
//! cgroup is created below the cgroup of the process that creates it
//! (`OWN/strata/ID`), so limits the host put on us still apply.

pub mod v1;
pub mod v2;

use std::path::{Path, PathBuf};

use crate::config::Resources;
use crate::error::Result;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Unified,
    Legacy,
    Hybrid,
}

/// The host's cgroup layout, from the filesystem types under /sys/fs/cgroup.
pub fn detect() -> Layout {
    let is_cgroup2 = |p: &str| {
        nix::sys::statfs::statfs(p)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    };
    if is_cgroup2(CGROUP_ROOT) {
        Layout::Unified
    } else if is_cgroup2(&format!("{CGROUP_ROOT}/unified")) {
        Layout::Hybrid
    } else {
        Layout::Legacy
    }
}

/// A container's cgroup, in whichever hierarchy the host uses.
#[derive(Debug)]
pub enum Cgroup {
    V1(v1::V1Cgroup),
    V2(v2::V2Cgroup),
}

impl Cgroup {
    /// Creates the cgroup for container `id` and applies `res`.
    pub fn create(id: &str, res: &Resources) -> Result<Cgroup> {
        match detect() {
            Layout::Unified => Ok(Cgroup::V2(v2::V2Cgroup::create(
                Path::new(CGROUP_ROOT),
                id,
                res,
            )?)),
            Layout::Legacy | Layout::Hybrid => Ok(Cgroup::V1(v1::V1Cgroup::create(id, res)?)),
        }
    }

    /// The directories this cgroup consists of (one per v1 hierarchy).
    pub fn dirs(&self) -> Vec<PathBuf> {
        match self {
            Cgroup::V1(c) => c.dirs().to_vec(),
            Cgroup::V2(c) => vec![c.dir().to_path_buf()],
        }
    }

    /// Moves process `pid` (and its future children) into the cgroup.
    pub fn add(&self, pid: i32) -> Result<()> {
        for d in self.dirs() {
            write(&d.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        match self {
            Cgroup::V1(c) => c.oom_kills() > 0,
            Cgroup::V2(c) => c.oom_kills() > 0,
        }
    }
}

/// Kills every process left in the cgroup `dirs` and removes them
/// (retrying while the kernel finishes reaping). Used at a normal end and by
/// `rm` after a supervisor crash.
pub fn destroy(dirs: &[PathBuf]) -> Result<()> {
    use nix::sys::signal::{kill, Signal};
    for _ in 0..200 {
        let mut left = false;
        for d in dirs {
            if !d.exists() {
                continue;
            }
            for pid in procs(d) {
                let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
            left |= std::fs::remove_dir(d).is_err() && d.exists();
        }
        if !left {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let d = dirs
        .iter()
        .find(|d| d.exists())
        .cloned()
        .unwrap_or_default();
    Err(crate::error::Error::path(
        "remove cgroup",
        &d,
        std::io::Error::from_raw_os_error(libc::EBUSY),
    ))
}

/// Moves this process into the cgroup directory `dir` (`exec`).
pub fn join(dir: &Path) -> Result<()> {
    write(&dir.join("cgroup.procs"), &std::process::id().to_string())
}

/// Pids in a cgroup directory.
pub fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Writes a control file, naming it in the error.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    use crate::error::PathContext;
    std::fs::write(path, value).at("write", path)
}

/// Reads a `key value` line from a flat-keyed control file.
pub(crate) fn read_key(path: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Creates `dir` and its missing ancestors below `base`, calling `init` on
/// each level, new or not: another container may have just made a shared
/// parent and not yet initialised it (v1 cpuset needs cpus and mems).
pub(crate) fn mkdir_below(
    base: &Path,
    dir: &Path,
    init: impl Fn(&Path) -> Result<()>,
) -> Result<()> {
    use crate::error::PathContext;
    let rel = dir.strip_prefix(base).unwrap_or(dir);
    let mut cur = base.to_path_buf();
    for comp in rel.components() {
        cur.push(comp);
        let made = {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().mode(0o755).create(&cur)
        };
        match made {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).at("create cgroup", &cur),
        }
        init(&cur)?;
    }
    Ok(())
}

/// CFS quota in microseconds per `period` for `cpus` CPUs.
pub fn cfs_quota(cpus: f64, period: u64) -> u64 {
    (cpus * period as f64).round().max(1000.0) as u64
}
