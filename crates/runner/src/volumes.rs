//! Volumes: `-v /host:/ctr[:ro]` binds, named volumes kept in
//! `ROOT/volumes/NAME/_data` across containers, anonymous volumes (`-v /ctr`
//! and the image's VOLUMEs) kept in the container's own directory, and
//! `--tmpfs`. Targets are resolved inside the container's root, so a symlink
//! in the image can never send a mount outside it.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use serde::{Deserialize, Serialize};

use crate::error::{Error, PathContext, Result};
use crate::inroot::{fd_path, Root};

/// A mount with its host source (`None` for tmpfs), ready to mount.
pub type Resolved = (MountSpec, Option<PathBuf>);

/// Where a mount's content comes from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A host path.
    Bind(PathBuf),
    /// A named volume, shared and kept after the container.
    Named(String),
    /// A volume of this container only (removed with it).
    Anonymous(String),
    /// A fresh tmpfs with these mount options.
    Tmpfs(String),
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountSpec {
    pub source: Source,
    /// Absolute path inside the container.
    pub target: String,
    pub read_only: bool,
}

fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn absolute_target(target: &str, spec: &str) -> Result<String> {
    if !target.starts_with('/') || target == "/" {
        return Err(Error::invalid(
            "volume",
            spec,
            "the container path must be absolute and not /",
        ));
    }
    Ok(target.to_string())
}

/// Parses `-v SPEC`: `/host:/ctr[:ro|rw]`, `NAME:/ctr[:ro|rw]` or `/ctr`.
pub fn parse_volume(spec: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, m] => (Some(*s), *t, Some(*m)),
        _ => {
            return Err(Error::invalid(
                "volume",
                spec,
                "expected SOURCE:TARGET[:ro]",
            ))
        }
    };
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(m) => {
            return Err(Error::invalid(
                "volume",
                spec,
                format!("unknown mode {m:?} (ro or rw)"),
            ))
        }
    };
    let target = absolute_target(target, spec)?;
    let source = match source {
        None => Source::Anonymous(String::new()),
        Some(s) if s.starts_with('/') => Source::Bind(PathBuf::from(s)),
        Some(s) if valid_volume_name(s) => Source::Named(s.to_string()),
        Some(s) => {
            return Err(Error::invalid(
                "volume name",
                s,
                "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            ))
        }
    };
    Ok(MountSpec {
        source,
        target,
        read_only,
    })
}

/// Parses `--tmpfs /ctr[:OPTIONS]` (Docker's defaults: noexec, nosuid, nodev).
pub fn parse_tmpfs(spec: &str) -> Result<MountSpec> {
    let (target, opts) = spec.split_once(':').unwrap_or((spec, ""));
    Ok(MountSpec {
        source: Source::Tmpfs(opts.to_string()),
        target: absolute_target(target, spec)?,
        read_only: false,
    })
}

/// The mounts of another container for `--volumes-from`: its binds and
/// named volumes as they are, its anonymous volumes bound from its
/// directory `from_dir`; `read_only` overrides each mount's mode.
pub fn inherit(from: &[MountSpec], from_dir: &Path, read_only: Option<bool>) -> Vec<MountSpec> {
    from.iter()
        .filter_map(|m| {
            let source = match &m.source {
                Source::Tmpfs(_) => return None,
                Source::Anonymous(n) => Source::Bind(from_dir.join("volumes").join(n)),
                other => other.clone(),
            };
            Some(MountSpec {
                source,
                target: m.target.clone(),
                read_only: read_only.unwrap_or(m.read_only),
            })
        })
        .collect()
}

/// The host directory of a named volume (`ROOT/volumes/NAME/_data`).
pub fn named_dir(root: &Path, name: &str) -> PathBuf {
    root.join("volumes").join(name).join("_data")
}

/// The host path behind a mount (`None` for tmpfs), created if missing:
/// Docker's `-v` creates a missing host directory, and a new volume starts
/// with a copy of what the image has at the mount point (`image`, the
/// container's root before anything is mounted on it).
pub fn host_source(
    spec: &MountSpec,
    root: &Path,
    container_dir: &Path,
    image: &Root,
) -> Result<Option<PathBuf>> {
    let (p, volume) = match &spec.source {
        Source::Bind(p) => (p.clone(), false),
        Source::Named(n) => (named_dir(root, n), true),
        Source::Anonymous(n) => (container_dir.join("volumes").join(n), true),
        Source::Tmpfs(_) => return Ok(None),
    };
    if !p.exists() {
        crate::state::create_dirs(&p, 0o755).at("create", &p)?;
        if volume {
            populate(image, Path::new(&spec.target), &p)?;
        }
    }
    Ok(Some(p))
}

/// Copies the image's directory `target` (resolved inside the root) into
/// the new volume `to`, keeping modes, owners and symlinks.
fn populate(image: &Root, target: &Path, to: &Path) -> Result<()> {
    let Ok(dir) = image.open_in(target, libc::O_PATH | libc::O_DIRECTORY, 0) else {
        return Ok(()); // nothing there, or not a directory
    };
    let from = fd_path(&dir);
    let meta = std::fs::metadata(&from).at("stat", target)?;
    copy_attrs(&meta, to)?;
    copy_tree(&from, to).at("copy the image's content of", target)
}

/// Recursive copy that never follows a symlink (so stays inside `from`).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{lchown, MetadataExt};
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
            lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
            continue;
        } else if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
        } else {
            continue; // devices, fifos and sockets are not volume content
        }
        copy_attrs(&meta, &dst).map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    Ok(())
}

fn copy_attrs(meta: &std::fs::Metadata, to: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid())).at("chown", to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .at("chmod", to)
}

/// Mounts `specs` (with their host sources) inside `root`, parents first.
pub fn mount_all(root: &Root, specs: &[Resolved]) -> Result<()> {
    let mut ordered: Vec<&Resolved> = specs.iter().collect();
    ordered.sort_by_key(|(s, _)| Path::new(&s.target).components().count());
    for (spec, source) in ordered {
        let target = Path::new(&spec.target);
        let is_dir = source.as_ref().is_none_or(|s| s.is_dir());
        let fd = if is_dir {
            root.mkdir_all(target, 0o755)
        } else {
            root.ensure_file(target)
        }
        .at("create", target)?;
        match (&spec.source, source) {
            (Source::Tmpfs(opts), _) => {
                let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
                mount(
                    Some("tmpfs"),
                    &fd_path(&fd),
                    Some("tmpfs"),
                    flags,
                    Some(opts.as_str()),
                )
                .at("mount tmpfs on", target)?;
            }
            (_, Some(src)) => {
                let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
                mount(Some(src), &fd_path(&fd), None::<&str>, flags, None::<&str>)
                    .at("bind-mount", target)?;
                if spec.read_only {
                    // The remount must name the new mount, not the directory under it.
                    let mounted = root.open_in(target, libc::O_PATH, 0).at("open", target)?;
                    crate::rootfs::remount_read_only(&fd_path(&mounted))
                        .at("remount read-only", target)?;
                }
            }
            (_, None) => return Err(Error::invalid("volume", &spec.target, "no source")),
        }
    }
    Ok(())
}

/// Named volumes under a strata root (`volume create/ls/rm/inspect`).
pub struct NamedVolumes<'a> {
    store: &'a crate::state::Store,
}

impl<'a> NamedVolumes<'a> {
    pub fn new(store: &'a crate::state::Store) -> Self {
        NamedVolumes { store }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.store.root().join("volumes").join(name)
    }

    pub fn create(&self, name: &str) -> Result<()> {
        if !valid_volume_name(name) {
            return Err(Error::invalid(
                "volume name",
                name,
                "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            ));
        }
        let data = named_dir(self.store.root(), name);
        crate::state::create_dirs(&data, 0o755).at("create", &data)
    }

    /// Names, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let dir = self.store.root().join("volumes");
        let mut names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join("_data").is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::path("read", &dir, e)),
        };
        names.sort();
        Ok(names)
    }

    fn exists(&self, name: &str) -> Result<()> {
        if valid_volume_name(name) && self.dir(name).join("_data").is_dir() {
            Ok(())
        } else {
            Err(Error::invalid("volume", name, "no such volume"))
        }
    }

    /// Containers (any state) that mount the volume.
    pub fn users(&self, name: &str) -> Result<Vec<String>> {
        let mut users = Vec::new();
        for id in self.store.ids()? {
            let Ok(cfg) = self.store.config(&id) else {
                continue;
            };
            if cfg
                .mounts
                .iter()
                .any(|m| m.source == Source::Named(name.to_string()))
            {
                users.push(cfg.name);
            }
        }
        Ok(users)
    }

    /// Removes a volume no container uses (Docker refuses even stopped ones).
    pub fn remove(&self, name: &str) -> Result<()> {
        self.exists(name)?;
        let users = self.users(name)?;
        if !users.is_empty() {
            return Err(Error::invalid(
                "volume",
                name,
                format!("in use by container {}", users.join(", ")),
            ));
        }
        let dir = self.dir(name);
        std::fs::remove_dir_all(&dir).at("remove", &dir)
    }

    /// Docker-shaped `volume inspect`.
    pub fn inspect(&self, name: &str) -> Result<serde_json::Value> {
        self.exists(name)?;
        let data = named_dir(self.store.root(), name);
        let created = std::fs::metadata(self.dir(name))
            .and_then(|m| m.modified())
            .map(|t| {
                chrono::DateTime::<chrono::Utc>::from(t)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
            .unwrap_or_default();
        Ok(serde_json::json!({
            "Name": name,
            "Driver": "local",
            "Mountpoint": data,
            "CreatedAt": created,
            "Scope": "local",
            "UsedBy": self.users(name)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_specs() {
        let b = parse_volume("/srv/data:/data:ro").unwrap();
        assert_eq!(
            (b.source, b.target.as_str(), b.read_only),
            (Source::Bind("/srv/data".into()), "/data", true)
        );
        let n = parse_volume("cache:/var/cache").unwrap();
        assert_eq!(n.source, Source::Named("cache".into()));
        assert_eq!(
            parse_volume("/scratch").unwrap().source,
            Source::Anonymous(String::new())
        );
        assert!(parse_volume("/a:relative").is_err());
        assert!(parse_volume("/a:/b:rx").is_err());
        assert!(parse_volume("bad name:/b").is_err());
        let t = parse_tmpfs("/run:size=1m").unwrap();
        assert_eq!(
            (t.source, t.target.as_str()),
            (Source::Tmpfs("size=1m".into()), "/run")
        );
    }
}
