//! A directory tree written as a tar, for `export` and `commit`.
//!
//! Both walk a real directory without following symlinks (every name is
//! opened relative to its parent's fd with `O_NOFOLLOW`, so a tree that
//! changes during the walk, as a running container's can, never leads out
//! of it), in name order,
//! each directory before its contents, and write a hard-linked inode's data
//! once (later names become links to the first). Overlay bookkeeping
//! xattrs and `user.containers.override_stat` never reach the tar. Sockets
//! cannot be archived and are left out, as GNU tar does.
//!
//! The two forms differ in what the tree is:
//! - [`Form::Flat`]: a merged root filesystem (a read-only union mount), so
//!   every entry is what it looks like;
//! - [`Form::Layer`]: a container's overlayfs upper dir, written as an OCI
//!   layer diff. A kernel whiteout (char 0/0) becomes an empty `.wh.NAME`,
//!   an opaque directory gets a `.wh..wh..opq` entry, and ownership kept in
//!   the override xattr (rootless uppers) is the one recorded. Whiteouts and
//!   markers already in `.wh.` form are OCI's form and stay as they are.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use layerstore::rootfs::append_symlink;
use unionfs::ids::{Override, OVERRIDE_XATTR};
use unionfs::sys::{read_dir_fd, At};
use unionfs::whiteout::{
    has_opaque_xattr, is_private_xattr, is_whiteout_stat, OPAQUE_MARKER, WH_PREFIX,
};

/// What the tree is, and so how it becomes a tar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A merged root filesystem: entries as they are.
    Flat,
    /// An overlayfs upper dir: an OCI layer with `.wh.` whiteouts.
    Layer,
}

/// Writes the tree under `root` (not `root` itself) as a tar to `out`,
/// leaving out the paths (relative to `root`) for which `skip` is true, and
/// everything below them.
pub fn write_tree<W: Write>(
    root: &Path,
    form: Form,
    skip: &dyn Fn(&Path) -> bool,
    out: W,
) -> io::Result<W> {
    let root_fd: OwnedFd = File::open(root).map_err(|e| at_path(root, e))?.into();
    let mut w = Walker {
        form,
        skip,
        tar: tar::Builder::new(out),
        links: HashMap::new(),
    };
    w.tar.follow_symlinks(false);
    w.dir(&root_fd, Path::new(""))?;
    w.tar.into_inner()
}

/// How messages name `rel`: as the tree's own absolute path (`/etc/x`);
/// the caller says which tree.
fn in_tree(rel: &Path) -> PathBuf {
    Path::new("/").join(rel)
}

fn at_path(p: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", p.display()))
}

struct Walker<'a, W: Write> {
    form: Form,
    skip: &'a dyn Fn(&Path) -> bool,
    tar: tar::Builder<W>,
    /// First path written for each multiply-linked (dev, ino).
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> Walker<'_, W> {
    /// Writes the contents of directory `fd`, which is at `rel`.
    fn dir(&mut self, fd: &OwnedFd, rel: &Path) -> io::Result<()> {
        let mut names: Vec<Vec<u8>> = read_dir_fd(fd.try_clone()?)
            .map_err(|e| at_path(&in_tree(rel), e))?
            .into_iter()
            .map(|d| d.name)
            .collect();
        names.sort();
        for name in names {
            let path = rel.join(OsStr::from_bytes(&name));
            if (self.skip)(&path) {
                continue;
            }
            let sub = self
                .entry(fd, &name, &path)
                .map_err(|e| at_path(&in_tree(&path), e))?;
            if let Some(sub) = sub {
                self.dir(&sub, &path)?;
            }
        }
        Ok(())
    }

    /// Writes entry `name` of directory `parent` (at `rel`); for a
    /// directory, returns it opened, to descend into.
    fn entry(&mut self, parent: &OwnedFd, name: &[u8], rel: &Path) -> io::Result<Option<OwnedFd>> {
        let at = At::resolve(parent.as_fd(), name)?;
        let mut st = at.lstat()?;
        let mut xattrs = Vec::new();
        for name in at.list_xattr()? {
            if name == OVERRIDE_XATTR {
                if self.form == Form::Layer {
                    if let Some(o) = at.get_xattr(&name)?.as_deref().and_then(Override::parse) {
                        o.apply(&mut st);
                    }
                }
                continue;
            }
            if is_private_xattr(&name) {
                continue;
            }
            if let Some(v) = at.get_xattr(&name)? {
                let key = format!("SCHILY.xattr.{}", String::from_utf8_lossy(&name));
                xattrs.push((key, v));
            }
        }
        let opaque = self.form == Form::Layer
            && st.st_mode & libc::S_IFMT == libc::S_IFDIR
            && has_opaque_xattr(&at)?;

        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid.into());
        h.set_gid(st.st_gid.into());
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);

        if self.form == Form::Layer && is_whiteout_stat(&st) {
            let mut wh = WH_PREFIX.to_vec();
            wh.extend_from_slice(name);
            let path = rel.with_file_name(OsStr::from_bytes(&wh));
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o600);
            self.tar.append_data(&mut h, path, io::empty())?;
            return Ok(None);
        }
        let kind = st.st_mode & libc::S_IFMT;
        if kind == libc::S_IFSOCK {
            tracing::debug!(path = %rel.display(), "socket left out of the tar");
            return Ok(None);
        }
        if kind != libc::S_IFDIR && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                self.tar.append_link(&mut h, rel, first.clone())?;
                return Ok(None);
            }
            self.links.insert(key, rel.to_path_buf());
        }
        if !xattrs.is_empty() {
            self.tar
                .append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        let nofollow = libc::O_RDONLY | libc::O_NOFOLLOW;
        match kind {
            libc::S_IFDIR => {
                let dir = at.open(nofollow | libc::O_DIRECTORY, 0)?;
                h.set_entry_type(tar::EntryType::Directory);
                self.tar.append_data(&mut h, rel, io::empty())?;
                let has_marker = || {
                    At::resolve(dir.as_fd(), OPAQUE_MARKER)
                        .and_then(|m| m.lstat())
                        .is_ok()
                };
                if opaque && !has_marker() {
                    let mut m = tar::Header::new_gnu();
                    m.set_entry_type(tar::EntryType::Regular);
                    m.set_mode(0o600);
                    m.set_uid(0);
                    m.set_gid(0);
                    m.set_mtime(st.st_mtime.max(0) as u64);
                    m.set_size(0);
                    let marker = rel.join(OsStr::from_bytes(OPAQUE_MARKER));
                    self.tar.append_data(&mut m, marker, io::empty())?;
                }
                return Ok(Some(dir));
            }
            libc::S_IFLNK => {
                let target = at.readlink()?;
                append_symlink(&mut self.tar, &mut h, rel, &target)?;
            }
            libc::S_IFREG => {
                let f = File::from(at.open(nofollow, 0)?);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                // A file that changes while it is read (a running container)
                // must still fill exactly the size in its header.
                let data = io::Read::chain(io::Read::take(f, st.st_size as u64), io::repeat(0));
                self.tar
                    .append_data(&mut h, rel, io::Read::take(data, st.st_size as u64))?;
            }
            _ => {
                h.set_entry_type(match kind {
                    libc::S_IFCHR => tar::EntryType::Char,
                    libc::S_IFBLK => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                h.set_device_major(libc::major(st.st_rdev))?;
                h.set_device_minor(libc::minor(st.st_rdev))?;
                self.tar.append_data(&mut h, rel, io::empty())?;
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// (path, entry type, mode, uid, link name) of each entry, in order.
    fn entries(tar: &[u8]) -> Vec<(String, tar::EntryType, u32, u64, String)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default();
                (
                    e.path().unwrap().display().to_string(),
                    h.entry_type(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    link,
                )
            })
            .collect()
    }

    fn set_xattr(p: &Path, name: &str, value: &str) {
        let fd = unionfs::sys::open_dir_path(p.parent().unwrap()).unwrap();
        let at = At::resolve(fd.as_fd(), p.file_name().unwrap().as_bytes()).unwrap();
        at.set_xattr(name.as_bytes(), value.as_bytes(), 0).unwrap();
    }

    /// An upper dir in both whiteout forms becomes an OCI layer: `.wh.`
    /// entries, an opaque marker once, owners from the override xattr,
    /// overlay xattrs gone, a hard link once, skipped paths absent.
    #[test]
    fn upper_dir_becomes_an_oci_layer() {
        if !nix::unistd::geteuid().is_root() {
            panic!("needs root: mknod of a 0/0 whiteout and trusted.* xattrs");
        }
        let t = tempfile::tempdir().unwrap();
        let u = t.path();
        fs::create_dir_all(u.join("opaque/keep")).unwrap();
        fs::create_dir(u.join("marked")).unwrap();
        fs::write(u.join("marked/.wh..wh..opq"), "").unwrap();
        fs::write(u.join(".wh.old"), "").unwrap();
        nix::sys::stat::mknod(
            &u.join("gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        set_xattr(&u.join("opaque"), "trusted.overlay.opaque", "y");
        fs::write(u.join("owned"), "data").unwrap();
        set_xattr(
            &u.join("owned"),
            "user.containers.override_stat",
            "33:44:0640:file",
        );
        set_xattr(&u.join("owned"), "user.kept", "v");
        fs::hard_link(u.join("owned"), u.join("owned2")).unwrap();
        std::os::unix::fs::symlink("/", u.join("root")).unwrap();
        fs::create_dir(u.join("proc")).unwrap();
        // Modes independent of the umask the tests run with.
        for (p, mode) in [
            ("marked", 0o755),
            ("marked/.wh..wh..opq", 0o644),
            (".wh.old", 0o644),
            ("opaque", 0o755),
            ("opaque/keep", 0o755),
        ] {
            fs::set_permissions(u.join(p), fs::Permissions::from_mode(mode)).unwrap();
        }

        let skip = |p: &Path| p == Path::new("proc");
        let tar = write_tree(u, Form::Layer, &skip, Vec::new()).unwrap();
        use tar::EntryType::{Directory as D, Link as L, Regular as F, Symlink as S};
        let want: Vec<(&str, tar::EntryType, u32, u64, &str)> = vec![
            (".wh.old", F, 0o644, 0, ""),
            (".wh.gone", F, 0o600, 0, ""),
            ("marked", D, 0o755, 0, ""),
            ("marked/.wh..wh..opq", F, 0o644, 0, ""),
            ("opaque", D, 0o755, 0, ""),
            ("opaque/.wh..wh..opq", F, 0o600, 0, ""),
            ("opaque/keep", D, 0o755, 0, ""),
            ("owned", F, 0o640, 33, ""),
            ("owned2", L, 0o640, 33, "owned"),
            ("root", S, 0o777, 0, "/"),
        ];
        let got = entries(&tar);
        let got: Vec<_> = got
            .iter()
            .map(|(p, t, m, u, l)| (p.as_str(), *t, *m, *u, l.as_str()))
            .collect();
        assert_eq!(got, want);

        // xattrs: the user one kept, overlay and override ones never written.
        let raw = String::from_utf8_lossy(&tar);
        assert!(raw.contains("SCHILY.xattr.user.kept"));
        assert!(!raw.contains("overlay") && !raw.contains("override_stat"));
    }
}
