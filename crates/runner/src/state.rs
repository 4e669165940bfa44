//! The on-disk record of containers.
//!
//! ```text
//! ROOT/containers/ID/
//!     config.json     ContainerConfig: written once by create (rename edits the name)
//!     state.json      State: written by the CLI at create, then only by the supervisor
//!     upper/ work/    the union's writable layer and its scratch dir
//!     rootfs/         where the supervisor mounts the union (in its own mount namespace)
//!     hosts hostname resolv.conf   bind-mounted over the container's /etc files
//!     container.log   output, one JSON object per line (Docker's json-file format)
//! ```
//! Every JSON file is replaced by rename, so a reader never sees half of one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::config::ContainerConfig;
use crate::error::{Error, PathContext, Result};

/// A process identified by pid and kernel start time, so a recycled pid is
/// never mistaken for the process we started.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcRef {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcRef {
    /// The running process `pid`, if any.
    pub fn of(pid: i32) -> Option<ProcRef> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised command name, which may hold spaces.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        if fields.first() == Some(&"Z") {
            return None;
        }
        // Field 22 of stat(5) is the 20th after the name.
        let start_time = fields.get(19)?.parse().ok()?;
        Some(ProcRef { pid, start_time })
    }

    pub fn alive(&self) -> bool {
        ProcRef::of(self.pid).is_some_and(|p| p.start_time == self.start_time)
    }

    /// Sends `sig` if the process is still the one recorded.
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> Result<()> {
        if !self.alive() {
            return Err(Error::sys(
                format!("kill {}", self.pid),
                std::io::Error::from_raw_os_error(libc::ESRCH),
            ));
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), sig)
            .map_err(|e| Error::sys(format!("kill {}", self.pid), e))
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
    /// Recorded as running but its supervisor is gone (crashed or killed).
    Dead,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct State {
    pub status: Status,
    pub supervisor: Option<ProcRef>,
    /// The container's pid 1, as the host sees it.
    pub pid: Option<ProcRef>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    pub oom_killed: bool,
    pub error: Option<String>,
    /// cgroup directories the supervisor made, for cleanup after a crash.
    pub cgroups: Vec<PathBuf>,
    /// Published ports with the host ports actually bound.
    #[serde(default)]
    pub ports: Vec<crate::ports::PortSpec>,
}

impl State {
    pub fn created() -> State {
        State {
            status: Status::Created,
            supervisor: None,
            pid: None,
            started_at: None,
            finished_at: None,
            exit_code: None,
            oom_killed: false,
            error: None,
            cgroups: Vec::new(),
            ports: Vec::new(),
        }
    }
}

/// Creates (truncating) a file with exactly `mode`. The supervisor runs with
/// umask 0 (its FUSE threads must not mask the modes containers ask for),
/// so whatever it creates states its mode.
pub fn private_file(path: &Path, mode: u32) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
}

/// Creates a directory and its missing parents with exactly `mode` (see
/// [`private_file`]).
pub fn create_dirs(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
}

/// Now, as RFC 3339 with nanoseconds (Docker's format).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The store of containers under a strata root.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// `--root`, else `STRATA_ROOT`, else `/var/lib/strata` as root and
    /// `$XDG_DATA_HOME/strata` (`~/.local/share/strata`) otherwise.
    /// Containers live beside the images, so it is the image store's root.
    pub fn default_root(root: Option<PathBuf>) -> PathBuf {
        root.unwrap_or_else(layerstore::Store::default_root)
    }

    pub fn new(root: PathBuf) -> Store {
        Store { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }

    /// A new random 64-hex-digit id.
    pub fn new_id() -> Result<String> {
        let mut bytes = [0u8; 32];
        let mut f = fs::File::open("/dev/urandom").at("open", Path::new("/dev/urandom"))?;
        std::io::Read::read_exact(&mut f, &mut bytes).at("read", Path::new("/dev/urandom"))?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Ids of all containers, oldest first.
    pub fn ids(&self) -> Result<Vec<String>> {
        let dir = self.containers();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::path("read", &dir, e)),
        };
        let mut found = Vec::new();
        for entry in rd {
            let entry = entry.at("read", &dir)?;
            let name = entry.file_name().to_string_lossy().to_string();
            if let Ok(cfg) = self.config(&name) {
                found.push((cfg.created, name));
            }
        }
        found.sort();
        Ok(found.into_iter().map(|(_, id)| id).collect())
    }

    fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
        let bytes = fs::read(path).at("read", path)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::State {
            path: path.to_path_buf(),
            why: e.to_string(),
        })
    }

    fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::State {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        let mut f = private_file(&tmp, 0o644).at("create", &tmp)?;
        f.write_all(&bytes).at("write", &tmp)?;
        fs::rename(&tmp, path).at("rename", path)
    }

    pub fn config(&self, id: &str) -> Result<ContainerConfig> {
        Self::read_json(&self.dir(id).join("config.json"))
    }

    pub fn save_config(&self, cfg: &ContainerConfig) -> Result<()> {
        Self::write_json(&self.dir(&cfg.id).join("config.json"), cfg)
    }

    /// The state, with [`Status::Dead`] for a running record whose
    /// supervisor is gone. A supervisor records the end before it exits, so
    /// then the record is read once more: it may have been read just before
    /// the end was written (it says exited now), or the supervisor crashed
    /// (it still says running). Liveness is checked once, between the two
    /// reads, so a container that ends meanwhile is never taken for dead.
    pub fn state(&self, id: &str) -> Result<State> {
        let path = self.dir(id).join("state.json");
        let st: State = Self::read_json(&path)?;
        if st.status != Status::Running || st.supervisor.is_some_and(|s| s.alive()) {
            return Ok(st);
        }
        let mut again: State = Self::read_json(&path)?;
        if again.status == Status::Running {
            again.status = Status::Dead;
        }
        Ok(again)
    }

    pub fn save_state(&self, id: &str, state: &State) -> Result<()> {
        Self::write_json(&self.dir(id).join("state.json"), state)
    }

    /// The id of the container called `name`, with that id, or (uniquely)
    /// with an id starting with it.
    pub fn resolve(&self, name: &str) -> Result<String> {
        let ids = self.ids()?;
        if ids.iter().any(|id| id == name) {
            return Ok(name.to_string());
        }
        for id in &ids {
            if self.config(id).is_ok_and(|c| c.name == name) {
                return Ok(id.clone());
            }
        }
        let mut prefixed = ids
            .iter()
            .filter(|id| !name.is_empty() && id.starts_with(name));
        match (prefixed.next(), prefixed.next()) {
            (Some(id), None) => Ok(id.clone()),
            _ => Err(Error::NoSuchContainer(name.to_string())),
        }
    }

    /// Whether some container other than `except` is called `name`.
    pub fn name_taken(&self, name: &str, except: &str) -> Result<bool> {
        Ok(self
            .ids()?
            .iter()
            .any(|id| id != except && self.config(id).is_ok_and(|c| c.name == name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_ref_tells_live_from_recycled() {
        let me = ProcRef::of(std::process::id() as i32).unwrap();
        assert!(me.alive());
        let other = ProcRef {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!other.alive());
    }

    #[test]
    fn running_without_supervisor_is_dead() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::new(t.path().to_path_buf());
        std::fs::create_dir_all(store.dir("c")).unwrap();
        let mut st = State::created();
        st.status = Status::Running;
        st.supervisor = Some(ProcRef {
            pid: i32::MAX,
            start_time: 1,
        });
        store.save_state("c", &st).unwrap();
        assert_eq!(store.state("c").unwrap().status, Status::Dead);
        st.supervisor = ProcRef::of(std::process::id() as i32);
        store.save_state("c", &st).unwrap();
        assert_eq!(store.state("c").unwrap().status, Status::Running);
    }
}
