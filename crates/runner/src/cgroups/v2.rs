//! cgroup v2 (unified hierarchy): one directory; controllers must be
//! enabled in each ancestor's `cgroup.subtree_control`.

use std::path::{Path, PathBuf};

use super::{cfs_quota, mkdir_below, read_key, write};
use crate::config::Resources;
use crate::error::Result;

const CFS_PERIOD: u64 = 100_000;

#[derive(Debug)]
pub struct V2Cgroup {
    dir: PathBuf,
}

/// Docker's mapping of cpu.shares (2..262144) onto cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// `memory.swap.max` from Docker's memory+swap total.
pub fn swap_max(memory: i64, memory_swap: Option<i64>) -> String {
    match memory_swap {
        Some(-1) => "max".into(),
        Some(total) => (total - memory).max(0).to_string(),
        None => memory.to_string(),
    }
}

/// The controllers that `res` needs.
fn needed(res: &Resources) -> Vec<&'static str> {
    let mut c = Vec::new();
    if res.memory.is_some() {
        c.push("memory");
    }
    if res.cpus.is_some() || res.cpu_shares.is_some() {
        c.push("cpu");
    }
    if res.cpuset_cpus.is_some() {
        c.push("cpuset");
    }
    if res.pids_limit.is_some_and(|p| p > 0) {
        c.push("pids");
    }
    c
}

fn own_path() -> String {
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        .unwrap_or_else(|| "/".into())
}

impl V2Cgroup {
    pub fn create(mount: &Path, id: &str, res: &Resources) -> Result<V2Cgroup> {
        let base = mount.join(own_path().trim_start_matches('/'));
        let parent = base.join("strata");
        let dir = parent.join(id);
        mkdir_below(&base, &dir, |_| Ok(()))?;
        let cg = V2Cgroup { dir };
        // Only the controllers the limits need are switched on. `strata`
        // holds no processes, so it may hand them down; our own cgroup may
        // hold processes and then cannot (the no-internal-processes rule):
        // then only what it already delegates works, and applying a limit
        // whose file is missing fails with that file named.
        for c in needed(res) {
            let _ = write(&base.join("cgroup.subtree_control"), &format!("+{c}"));
            let _ = write(&parent.join("cgroup.subtree_control"), &format!("+{c}"));
        }
        if let Err(e) = cg.apply(res) {
            let _ = super::destroy(std::slice::from_ref(&cg.dir));
            return Err(e);
        }
        Ok(cg)
    }

    fn apply(&self, res: &Resources) -> Result<()> {
        let set = |f: &str, v: &str| write(&self.dir.join(f), v);
        if let Some(m) = res.memory {
            set("memory.max", &m.to_string())?;
            if self.dir.join("memory.swap.max").exists() {
                set("memory.swap.max", &swap_max(m, res.memory_swap))?;
            }
        }
        if let Some(c) = res.cpus {
            set(
                "cpu.max",
                &format!("{} {CFS_PERIOD}", cfs_quota(c, CFS_PERIOD)),
            )?;
        }
        if let Some(s) = res.cpu_shares {
            set("cpu.weight", &shares_to_weight(s).to_string())?;
        }
        if let Some(cpus) = &res.cpuset_cpus {
            set("cpuset.cpus", cpus)?;
        }
        if let Some(p) = res.pids_limit.filter(|p| *p > 0) {
            set("pids.max", &p.to_string())?;
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn oom_kills(&self) -> u64 {
        read_key(&self.dir.join("memory.events"), "oom_kill").unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_conversions() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(swap_max(100, Some(-1)), "max");
        assert_eq!(swap_max(100, Some(300)), "200");
        assert_eq!(swap_max(100, None), "100");
        assert_eq!(cfs_quota(0.5, CFS_PERIOD), 50_000);
        assert_eq!(cfs_quota(1.5, CFS_PERIOD), 150_000);
        assert!(needed(&Resources::default()).is_empty());
        let res = Resources {
            memory: Some(1),
            cpu_shares: Some(2),
            pids_limit: Some(-1),
            ..Default::default()
        };
        assert_eq!(needed(&res), ["memory", "cpu"]);
    }
}
