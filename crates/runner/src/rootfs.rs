//! The container's view of the filesystem: everything mounted inside the
//! union root before `pivot_root` (resolved inside it, see [`crate::inroot`]),
//! then the switch, then Docker's masked and read-only paths.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, PathContext, Result};
use crate::inroot::{fd_path, Root};
use crate::volumes::Resolved;

/// Files of the container directory bind-mounted over the image's, so the
/// runner can provide them without writing into any layer.
pub const ETC_FILES: [&str; 3] = ["hosts", "hostname", "resolv.conf"];

/// Whether `rel` (relative to the root) is a mount point [`enter`] makes:
/// `proc`, `dev`, `sys` and the [`ETC_FILES`]. They may appear in a
/// container's upper dir, but the container can never change them (each is
/// mounted over), so they are the runtime's, not the container's changes:
/// `commit` leaves them out, as Docker keeps them in a separate init layer.
pub fn is_runtime_mount_point(rel: &Path) -> bool {
    let top = ["proc", "dev", "sys"].iter().any(|d| rel == Path::new(d));
    top || ETC_FILES
        .iter()
        .any(|f| rel.parent() == Some(Path::new("etc")) && rel.file_name() == Some(f.as_ref()))
}

/// Paths Docker hides from containers (a tmpfs or /dev/null on top).
const MASKED: [&str; 10] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker leaves visible but read-only.
const READ_ONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

const NONE: Option<&str> = None;

/// Sets up the mounts of the root at `rootfs` (a mount point) and pivots
/// into it. `etc` holds [`ETC_FILES`]. Runs in the container's new mount
/// and pid namespaces.
pub fn enter(rootfs: &Path, etc: &Path, mounts: &[Resolved], read_only: bool) -> Result<()> {
    // Nothing we mount may propagate back to the host.
    mount(NONE, "/", NONE, MsFlags::MS_REC | MsFlags::MS_PRIVATE, NONE)
        .at("make private", Path::new("/"))?;
    let root = Root::open(rootfs).at("open", rootfs)?;
    let safe = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;

    let proc_dir = root
        .mkdir_all(Path::new("/proc"), 0o555)
        .at("create", Path::new("/proc"))?;
    mount(Some("proc"), &fd_path(&proc_dir), Some("proc"), safe, NONE)
        .at("mount proc on", Path::new("/proc"))?;

    crate::devices::setup(&root)?;

    let sys_dir = root
        .mkdir_all(Path::new("/sys"), 0o555)
        .at("create", Path::new("/sys"))?;
    let sys = fd_path(&sys_dir);
    if mount(
        Some("sysfs"),
        &sys,
        Some("sysfs"),
        safe | MsFlags::MS_RDONLY,
        NONE,
    )
    .is_err()
    {
        // A new sysfs needs our own network namespace; with the host's, bind
        // the host's /sys read-only instead.
        mount(
            Some("/sys"),
            &sys,
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        )
        .at("bind /sys on", Path::new("/sys"))?;
        remount_read_only(&sys).at("remount read-only", Path::new("/sys"))?;
    }

    for name in ETC_FILES {
        let inside = Path::new("/etc").join(name);
        let target = root.ensure_file(&inside).at("create", &inside)?;
        mount(
            Some(&etc.join(name)),
            &fd_path(&target),
            NONE,
            MsFlags::MS_BIND,
            NONE,
        )
        .at("bind-mount", &inside)?;
    }

    crate::volumes::mount_all(&root, mounts)?;

    pivot(rootfs)?;
    for p in MASKED {
        mask(Path::new(p))?;
    }
    for p in READ_ONLY {
        read_only_bind(Path::new(p))?;
    }
    if read_only {
        remount_read_only(Path::new("/")).at("remount read-only", Path::new("/"))?;
    }
    Ok(())
}

/// `pivot_root(".", ".")` then detaching the old root: no temporary
/// directory inside the container is needed.
fn pivot(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).at("chdir", rootfs)?;
    nix::unistd::pivot_root(".", ".").at("pivot_root to", rootfs)?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("detach the old root", e))?;
    nix::unistd::chdir("/").at("chdir", Path::new("/"))
}

fn mask(p: &Path) -> Result<()> {
    let Ok(meta) = std::fs::metadata(p) else {
        return Ok(());
    };
    let r = if meta.is_dir() {
        mount(Some("tmpfs"), p, Some("tmpfs"), MsFlags::MS_RDONLY, NONE)
    } else {
        mount(Some("/dev/null"), p, NONE, MsFlags::MS_BIND, NONE)
    };
    r.at("mask", p)
}

fn read_only_bind(p: &Path) -> Result<()> {
    if !p.exists() {
        return Ok(());
    }
    mount(Some(p), p, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE).at("bind", p)?;
    remount_read_only(p).at("remount read-only", p)
}

/// Makes the mount at `p` read-only, keeping its other flags: in a user
/// namespace, flags such as nosuid that the mount had are locked, and a
/// remount that drops them is refused.
pub fn remount_read_only(p: &Path) -> nix::Result<()> {
    use nix::sys::statvfs::FsFlags;
    let have = nix::sys::statvfs::statvfs(p)?.flags();
    let keep = [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    for (st, ms) in keep {
        if have.contains(st) {
            flags |= ms;
        }
    }
    mount(NONE, p, NONE, flags, NONE)
}
