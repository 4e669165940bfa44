//! cgroup v1 (legacy and hybrid hosts): one directory per controller
//! hierarchy, found through /proc/self/mountinfo and /proc/self/cgroup.

use std::path::{Path, PathBuf};

use super::{cfs_quota, mkdir_below, read_key, write};
use crate::config::Resources;
use crate::error::{Error, Result};

/// The controllers a container gets a cgroup in.
const CONTROLLERS: [&str; 5] = ["memory", "cpu", "cpuacct", "cpuset", "pids"];
const CFS_PERIOD: u64 = 100_000;

#[derive(Debug)]
pub struct V1Cgroup {
    /// One per hierarchy (co-mounted controllers share one).
    dirs: Vec<PathBuf>,
    memory: Option<PathBuf>,
}

/// (mount point, controllers) of each mounted v1 hierarchy.
fn hierarchies() -> Vec<(PathBuf, Vec<String>)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let mut post = post.split(' ');
            if post.next()? != "cgroup" {
                return None;
            }
            let opts = post.nth(1)?;
            let mnt = pre.split(' ').nth(4)?;
            let ctrls = opts.split(',').map(str::to_string).collect();
            Some((PathBuf::from(mnt), ctrls))
        })
        .collect()
}

/// This process's path in the hierarchy holding `controller`.
fn own_path(controller: &str) -> Option<String> {
    std::fs::read_to_string("/proc/self/cgroup")
        .ok()?
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let _ = f.next()?;
            let ctrls = f.next()?;
            let path = f.next()?;
            ctrls
                .split(',')
                .any(|c| c == controller)
                .then(|| path.to_string())
        })
}

/// Copies cpuset.cpus/mems from the parent where they are still empty: a
/// v1 cpuset cgroup starts empty and refuses tasks until they are set.
/// Levels are initialised top-down, so the parent's are already set.
fn init_cpuset(dir: &Path) -> Result<()> {
    let parent = dir.parent().unwrap_or(dir);
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let own = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        if own.trim().is_empty() {
            let v = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
            write(&dir.join(f), v.trim())?;
        }
    }
    Ok(())
}

impl V1Cgroup {
    pub fn create(id: &str, res: &Resources) -> Result<V1Cgroup> {
        let mut cg = V1Cgroup {
            dirs: Vec::new(),
            memory: None,
        };
        let mounted = hierarchies();
        for ctrl in CONTROLLERS {
            let Some((mnt, ctrls)) = mounted.iter().find(|(_, c)| c.iter().any(|c| c == ctrl))
            else {
                continue;
            };
            let own = own_path(ctrl).unwrap_or_else(|| "/".into());
            let base = mnt.join(own.trim_start_matches('/'));
            let dir = base.join("strata").join(id);
            if !cg.dirs.contains(&dir) {
                let is_cpuset = ctrls.iter().any(|c| c == "cpuset");
                let res = mkdir_below(
                    &base,
                    &dir,
                    |d| if is_cpuset { init_cpuset(d) } else { Ok(()) },
                );
                if let Err(e) = res {
                    let _ = super::destroy(&cg.dirs);
                    return Err(e);
                }
                cg.dirs.push(dir.clone());
            }
            if ctrl == "memory" {
                cg.memory = Some(dir);
            }
        }
        if let Err(e) = cg.apply(res) {
            let _ = super::destroy(&cg.dirs);
            return Err(e);
        }
        Ok(cg)
    }

    fn dir_of(&self, file: &str) -> Result<&PathBuf> {
        let ctrl = file.split('.').next().unwrap_or(file);
        self.dirs
            .iter()
            .find(|d| d.join(file).exists())
            .ok_or_else(|| {
                Error::invalid(
                    "resource limit",
                    ctrl,
                    "the cgroup v1 controller is not mounted",
                )
            })
    }

    fn set(&self, file: &str, value: &str) -> Result<()> {
        write(&self.dir_of(file)?.join(file), value)
    }

    fn apply(&self, res: &Resources) -> Result<()> {
        if let Some(m) = res.memory {
            self.set("memory.limit_in_bytes", &m.to_string())?;
            let swap = match res.memory_swap {
                Some(s) => s,
                None => m.saturating_mul(2),
            };
            // Without swap accounting (no memsw files) there is nothing to set.
            if self.dir_of("memory.memsw.limit_in_bytes").is_ok() {
                self.set("memory.memsw.limit_in_bytes", &swap.to_string())?;
            } else if res.memory_swap.is_some_and(|s| s != -1) {
                tracing::warn!("--memory-swap not applied: the kernel has no swap accounting");
            }
        }
        if let Some(c) = res.cpus {
            self.set("cpu.cfs_period_us", &CFS_PERIOD.to_string())?;
            self.set("cpu.cfs_quota_us", &cfs_quota(c, CFS_PERIOD).to_string())?;
        }
        if let Some(s) = res.cpu_shares {
            self.set("cpu.shares", &s.to_string())?;
        }
        if let Some(cpus) = &res.cpuset_cpus {
            self.set("cpuset.cpus", cpus)?;
        }
        if let Some(p) = res.pids_limit.filter(|p| *p > 0) {
            self.set("pids.max", &p.to_string())?;
        }
        Ok(())
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The memory controller's OOM kill count (kernel 4.13+).
    pub fn oom_kills(&self) -> u64 {
        self.memory
            .as_ref()
            .and_then(|d| read_key(&d.join("memory.oom_control"), "oom_kill"))
            .unwrap_or(0)
    }
}
