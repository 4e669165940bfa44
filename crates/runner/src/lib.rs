//! Containers on a strata-fs root filesystem: lifecycle, namespaces,
//! cgroups, volumes, ports, terminals.
//!
//! A container lives in `ROOT/containers/ID/` (see [`state`]). The CLI side
//! ([`lifecycle::Runtime`]) writes its configuration and starts one
//! supervisor process per container (`strata-shim`, see [`supervisor`]). The
//! supervisor mounts the union in a private mount namespace, creates the
//! cgroup ([`cgroups`]), starts the container's pid 1 (which sets up its own
//! namespaces and root, see [`init`]), relays its output, input and signals
//! ([`relay`]), reaps it, records the exit code and cleans up.
//!
//! Where the root filesystem comes from is a [`RootfsSource`], opened into
//! `unionfs::Lower` layers by [`supervisor::open_lowers`]: the one place to
//! extend when the store's layer indexes arrive.

pub mod caps;
pub mod cgroups;
pub mod commit;
pub mod config;
pub mod console;
pub mod devices;
pub mod display;
pub mod entrypoint;
pub mod error;
pub mod exec;
pub mod exec_tty;
pub mod export;
pub mod init;
pub mod inroot;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod namespaces;
pub mod ports;
pub mod reaper;
pub mod relay;
pub mod rootfs;
pub mod shim;
pub mod state;
pub mod supervisor;
pub mod treetar;
pub mod udp_proxy;
pub mod user;
pub mod userns;
pub mod volumes;

pub use config::{ContainerConfig, ImageConfig, NetworkMode, Resources, RootfsSource, RunOptions};
pub use error::{Error, Result};
pub use lifecycle::Runtime;
