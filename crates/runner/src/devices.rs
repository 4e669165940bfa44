//! The container's minimal /dev: a fresh tmpfs with only the harmless
//! character devices Docker gives every container, a private devpts
//! instance, shm and mqueue, and the usual fd links.

use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::sys::stat::{mknod, Mode, SFlag};

use crate::error::{PathContext, Result};
use crate::inroot::{fd_path, Root};

/// (name, major, minor) of the device nodes created.
const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const LINKS: [(&str, &str); 6] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("core", "/proc/kcore"),
    ("ptmx", "pts/ptmx"),
];

/// Mounts and fills `/dev` inside `root` (before pivot_root).
pub fn setup(root: &Root) -> Result<()> {
    let target = root
        .mkdir_all(Path::new("/dev"), 0o755)
        .at("create", Path::new("/dev"))?;
    let at = fd_path(&target);
    mount(
        Some("tmpfs"),
        &at,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )
    .at("mount tmpfs on", Path::new("/dev"))?;
    // The fd still names the directory under the mount: open the new tmpfs.
    let dev_fd = root
        .open_in(Path::new("/dev"), libc::O_PATH | libc::O_DIRECTORY, 0)
        .at("open", Path::new("/dev"))?;
    let dev = fd_path(&dev_fd);
    for (name, major, minor) in DEVICES {
        make_device(&dev.join(name), name, major, minor)?;
    }
    for (name, to) in LINKS {
        std::os::unix::fs::symlink(to, dev.join(name))
            .at("symlink", &Path::new("/dev").join(name))?;
    }
    let sub = |name: &str, fstype: &str, flags: MsFlags, data: &str| -> Result<()> {
        let p = dev.join(name);
        std::fs::create_dir(&p).at("create", &Path::new("/dev").join(name))?;
        mount(Some(fstype), &p, Some(fstype), flags, Some(data))
            .at("mount", &Path::new("/dev").join(name))
    };
    let safe = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    // gid 5 (tty) is not mapped in a rootless user namespace.
    let pts_gid = if crate::userns::active() {
        ""
    } else {
        ",gid=5"
    };
    sub(
        "pts",
        "devpts",
        safe,
        &format!("newinstance,ptmxmode=0666,mode=0620{pts_gid}"),
    )?;
    sub(
        "shm",
        "tmpfs",
        safe | MsFlags::MS_NODEV,
        "mode=1777,size=65536k",
    )?;
    sub("mqueue", "mqueue", safe | MsFlags::MS_NODEV, "")?;
    Ok(())
}

/// Creates device `name` at `p` (in the new /dev tmpfs). In a rootless user
/// namespace mknod is refused, so the host's node is bind-mounted instead,
/// as rootless Docker and podman do.
fn make_device(p: &Path, name: &str, major: u64, minor: u64) -> Result<()> {
    let shown = Path::new("/dev").join(name);
    let dev = nix::sys::stat::makedev(major, minor);
    match mknod(p, SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), dev) {
        Ok(()) => {
            // mknod honours the umask; the mode must be exactly 0666.
            nix::sys::stat::fchmodat(
                None,
                p,
                Mode::from_bits_truncate(0o666),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .at("chmod", &shown)
        }
        Err(nix::errno::Errno::EPERM) => {
            std::fs::File::create(p).at("create", &shown)?;
            mount(
                Some(&shown),
                p,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .at("bind-mount", &shown)
        }
        Err(e) => Err(e).at("mknod", &shown),
    }
}
