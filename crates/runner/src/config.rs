//! What a container is made of, as stored in `ROOT/containers/ID/config.json`:
//! where its root filesystem comes from, the image's run defaults, and what
//! `run`/`create` asked for.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ports::PortSpec;
use crate::volumes::MountSpec;

/// The read-only layers of a container's root filesystem, topmost first.
/// It is stored (not the opened layers) because the supervisor, a separate
/// process, opens them itself; see [`crate::supervisor::open_lowers`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RootfsSource {
    /// Plain directories in overlayfs format (an unpacked image).
    Dirs(Vec<PathBuf>),
    /// A stored image: its layers are served from the store's layer indexes
    /// and object pool (see the `imagefs` crate), nothing extracted.
    Image { store: PathBuf, image: String },
}

/// The parts of an OCI image configuration that decide how a container runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub stop_signal: Option<String>,
    pub volumes: Vec<String>,
    pub exposed_ports: Vec<String>,
}

impl From<&oci_spec::image::ImageConfiguration> for ImageConfig {
    fn from(img: &oci_spec::image::ImageConfiguration) -> Self {
        let Some(c) = img.config() else {
            return ImageConfig::default();
        };
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        ImageConfig {
            entrypoint: c.entrypoint().clone(),
            cmd: c.cmd().clone(),
            env: c.env().clone().unwrap_or_default(),
            working_dir: nonempty(c.working_dir()),
            user: nonempty(c.user()),
            stop_signal: nonempty(c.stop_signal()),
            volumes: c.volumes().clone().unwrap_or_default(),
            exposed_ports: c.exposed_ports().clone().unwrap_or_default(),
        }
    }
}

/// `--network`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// A new network namespace with only loopback, up.
    #[default]
    None,
    /// A new network namespace (loopback up) that ports are published into.
    Private,
    /// The host's network namespace.
    Host,
    /// Another container's network namespace (`container:NAME`; its id
    /// once created).
    Container(String),
}

impl NetworkMode {
    pub fn name(&self) -> String {
        match self {
            NetworkMode::None => "none".into(),
            NetworkMode::Private => "private".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Container(c) => format!("container:{c}"),
        }
    }

    /// Whether the container gets a network namespace of its own.
    pub fn own_namespace(&self) -> bool {
        matches!(self, NetworkMode::None | NetworkMode::Private)
    }
}

/// cgroup limits; `None` leaves a resource unlimited.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    /// Bytes of memory.
    pub memory: Option<i64>,
    /// Bytes of memory plus swap; -1 is unlimited; unset with `memory` set
    /// means twice `memory`, as Docker does.
    pub memory_swap: Option<i64>,
    /// Number of CPUs worth of time per period (CFS quota).
    pub cpus: Option<f64>,
    /// Relative weight (Docker's 2..262144, default 1024).
    pub cpu_shares: Option<u64>,
    /// CPUs the container may run on, in cpuset list syntax ("0-1,3").
    pub cpuset_cpus: Option<String>,
    /// Maximum number of tasks; -1 or 0 is unlimited.
    pub pids_limit: Option<i64>,
}

impl Resources {
    pub fn any(&self) -> bool {
        *self != Resources::default()
    }
}

/// What `run`/`create` asked for, before Docker's rules turn it into a
/// [`ContainerConfig`].
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub name: Option<String>,
    /// The image as the user named it (shown by `ps` and `inspect`).
    pub image: String,
    pub rootfs: Option<RootfsSource>,
    pub image_config: ImageConfig,
    /// Arguments after the image: they replace CMD.
    pub args: Vec<String>,
    /// `--entrypoint`: replaces ENTRYPOINT and clears CMD; `""` clears both.
    pub entrypoint: Option<String>,
    /// `-e`: `KEY=VALUE`, or `KEY` to copy from the caller's environment.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub network: NetworkMode,
    pub resources: Resources,
    pub auto_remove: bool,
    pub interactive: bool,
    /// `-t`: a terminal for the container.
    pub tty: bool,
    pub read_only: bool,
    /// Seconds `stop` waits before SIGKILL (default 10).
    pub stop_timeout: Option<u64>,
    /// `-v` and `--tmpfs`, parsed by [`crate::volumes`].
    pub mounts: Vec<MountSpec>,
    /// `--volumes-from NAME[:ro|rw]`: the volumes of other containers.
    pub volumes_from: Vec<String>,
    /// `-p` (parsed by [`crate::ports`]); needs [`NetworkMode::Private`].
    pub ports: Vec<PortSpec>,
    /// `-P`: publish every ExposedPort of the image on a free host port.
    pub publish_all: bool,
    /// `--init`: pid 1 is a minimal init that runs the command as its child.
    pub init: bool,
    /// `--security-opt no-new-privileges`: setuid binaries gain nothing.
    /// Off by default, as in Docker (setuid tools such as `su` and `ping`
    /// in images rely on it).
    pub no_new_privileges: bool,
}

/// The process a container runs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcessSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// Absolute path inside the container.
    pub cwd: String,
    /// `user[:group]` as names or ids, resolved inside the container.
    pub user: String,
    /// Keep the starter's stdin open for the container.
    pub stdin: bool,
    /// Give the process a terminal (`-t`).
    #[serde(default)]
    pub tty: bool,
    /// Set no_new_privs before exec (`--security-opt no-new-privileges`).
    #[serde(default)]
    pub no_new_privileges: bool,
}

/// Everything the supervisor needs to start a container.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ContainerConfig {
    pub id: String,
    pub name: String,
    pub image: String,
    /// RFC 3339.
    pub created: String,
    pub rootfs: RootfsSource,
    pub image_config: ImageConfig,
    pub process: ProcessSpec,
    pub hostname: String,
    pub network: NetworkMode,
    pub resources: Resources,
    pub auto_remove: bool,
    pub read_only: bool,
    pub stop_signal: String,
    pub stop_timeout: u64,
    /// Volumes and tmpfs mounts, anonymous ones named.
    pub mounts: Vec<MountSpec>,
    pub ports: Vec<PortSpec>,
    /// `--init` (see [`crate::reaper`]).
    #[serde(default)]
    pub init: bool,
}
