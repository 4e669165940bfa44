//! Ownership as the union shows it: uid/gid mappings, squashing, and the
//! `user.containers.override_stat` xattr that keeps ownership and modes a
//! rootless process cannot set for real (the format containers/storage and
//! fuse-overlayfs use: `uid:gid:0MODE[:type]`).

/// The id the kernel shows for ids outside every mapping.
pub const OVERFLOW_ID: u32 = 65534;

/// Where strata-fs writes ownership overrides.
pub const OVERRIDE_XATTR: &[u8] = b"user.containers.override_stat";

/// Where overrides are read from, first found wins: ours (also today's
/// fuse-overlayfs's), then older fuse-overlayfs's unprivileged and
/// `xattr_permissions=1` names.
pub const OVERRIDE_XATTRS: [&[u8]; 3] = [
    OVERRIDE_XATTR,
    b"user.fuseoverlayfs.override_stat",
    b"security.fuseoverlayfs.override_stat",
];

/// The override a file carries under any of [`OVERRIDE_XATTRS`].
pub fn read_override(
    get: impl Fn(&[u8]) -> std::io::Result<Option<Vec<u8>>>,
) -> std::io::Result<Option<Override>> {
    for name in OVERRIDE_XATTRS {
        if let Some(v) = get(name)? {
            return Ok(Override::parse(&v));
        }
    }
    Ok(None)
}

/// One `disk:shown:len` range of an `-o uidmapping=`/`gidmapping=` value.
/// The direction is fuse-overlayfs's: containers/storage passes
/// `CONTAINER:HOST:SIZE`, the image's files carry container ids on disk and
/// the mount shows them as the host ids the container's user namespace maps
/// back, so `uidmapping=0:1000:1` shows a file owned by 0 on disk as 1000.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRange {
    pub disk: u32,
    pub shown: u32,
    pub len: u32,
}

/// A list of ranges; empty means identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMap(pub Vec<IdRange>);

impl IdMap {
    /// Parses `disk:shown:len[:disk:shown:len...]` (fuse-overlayfs also
    /// accepts `,` between triples inside one option value; the caller
    /// splits options first).
    pub fn parse(s: &str) -> Result<Self, String> {
        let nums: Result<Vec<u32>, _> = s
            .split([':', ','])
            .filter(|p| !p.is_empty())
            .map(str::parse::<u32>)
            .collect();
        let nums = nums.map_err(|_| format!("invalid id mapping {s:?}"))?;
        if nums.is_empty() || nums.len() % 3 != 0 {
            return Err(format!(
                "invalid id mapping {s:?}: expected disk:shown:len triples"
            ));
        }
        Ok(IdMap(
            nums.chunks(3)
                .map(|c| IdRange {
                    disk: c[0],
                    shown: c[1],
                    len: c[2],
                })
                .collect(),
        ))
    }

    /// The id on disk as the mount shows it; ids outside every range show
    /// as the overflow id.
    pub fn to_shown(&self, disk: u32) -> u32 {
        if self.0.is_empty() {
            return disk;
        }
        self.0
            .iter()
            .find(|r| disk >= r.disk && disk - r.disk < r.len)
            .map_or(OVERFLOW_ID, |r| r.shown + (disk - r.disk))
    }

    /// An id given through the mount as written on disk; unmapped ids are
    /// written as the overflow id, as fuse-overlayfs does (podman's runtime
    /// creates `/etc/mtab` and the like as the host's root, outside the map).
    pub fn to_disk(&self, shown: u32) -> u32 {
        if self.0.is_empty() {
            return shown;
        }
        self.0
            .iter()
            .find(|r| shown >= r.shown && shown - r.shown < r.len)
            .map_or(OVERFLOW_ID, |r| r.disk + (shown - r.shown))
    }
}

/// Ownership and mode kept in the override xattr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Override {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits including setuid/setgid/sticky (not the file type).
    pub mode: u32,
    /// File type bits and device number when the real file cannot be one
    /// (a device node stored as a regular file), else `None`.
    pub kind: Option<(u32, u64)>,
}

impl Override {
    pub fn parse(v: &[u8]) -> Option<Self> {
        let s = std::str::from_utf8(v).ok()?;
        let mut parts = s.trim_end_matches('\0').split(':');
        let uid = parts.next()?.parse().ok()?;
        let gid = parts.next()?.parse().ok()?;
        let mode = u32::from_str_radix(parts.next()?, 8).ok()? & 0o7777;
        let kind = match parts.next() {
            None | Some("file") | Some("dir") | Some("symlink") => None,
            Some("pipe") => Some((libc::S_IFIFO, 0)),
            Some("socket") => Some((libc::S_IFSOCK, 0)),
            Some(dev) => {
                let (t, rest) = if let Some(r) = dev.strip_prefix("block-") {
                    (libc::S_IFBLK, r)
                } else {
                    (libc::S_IFCHR, dev.strip_prefix("char-")?)
                };
                let (maj, min) = rest.split_once('-')?;
                Some((t, libc::makedev(maj.parse().ok()?, min.parse().ok()?)))
            }
        };
        Some(Override {
            uid,
            gid,
            mode,
            kind,
        })
    }

    pub fn format(&self, file_mode: u32) -> String {
        let ty = match self.kind {
            Some((t, rdev)) if t == libc::S_IFBLK || t == libc::S_IFCHR => {
                let name = if t == libc::S_IFBLK { "block" } else { "char" };
                format!("{name}-{}-{}", libc::major(rdev), libc::minor(rdev))
            }
            Some((t, _)) if t == libc::S_IFIFO => "pipe".into(),
            Some((t, _)) if t == libc::S_IFSOCK => "socket".into(),
            _ => match file_mode & libc::S_IFMT {
                libc::S_IFDIR => "dir".into(),
                libc::S_IFLNK => "symlink".into(),
                libc::S_IFIFO => "pipe".into(),
                libc::S_IFSOCK => "socket".into(),
                _ => "file".into(),
            },
        };
        format!("{}:{}:0{:o}:{}", self.uid, self.gid, self.mode & 0o7777, ty)
    }

    /// Applies this override to a real stat.
    pub fn apply(&self, st: &mut libc::stat) {
        st.st_uid = self.uid;
        st.st_gid = self.gid;
        let ty = match self.kind {
            Some((t, rdev)) => {
                st.st_rdev = rdev;
                t
            }
            None => st.st_mode & libc::S_IFMT,
        };
        st.st_mode = ty | (self.mode & 0o7777);
    }
}

/// How on-disk ownership becomes what the mount shows.
#[derive(Clone, Debug, Default)]
pub struct Ownership {
    pub uid_map: IdMap,
    pub gid_map: IdMap,
    pub squash_uid: Option<u32>,
    pub squash_gid: Option<u32>,
    /// Read and write `user.containers.override_stat`.
    pub use_override: bool,
}

impl Ownership {
    /// Ids and modes on disk are the ones shown.
    pub fn is_plain(&self) -> bool {
        self.uid_map.0.is_empty()
            && self.gid_map.0.is_empty()
            && self.squash_uid.is_none()
            && self.squash_gid.is_none()
            && !self.use_override
    }

    pub fn show(&self, st: &mut libc::stat) {
        st.st_uid = self
            .squash_uid
            .unwrap_or_else(|| self.uid_map.to_shown(st.st_uid));
        st.st_gid = self
            .squash_gid
            .unwrap_or_else(|| self.gid_map.to_shown(st.st_gid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_round_trips_and_overflows() {
        // podman's shape: container ids on disk shown as host ids.
        let m = IdMap::parse("0:1000:1:1:100000:65536").unwrap();
        assert_eq!(m.to_shown(0), 1000);
        assert_eq!(m.to_shown(5), 100004);
        assert_eq!(m.to_shown(70000), OVERFLOW_ID);
        assert_eq!(m.to_disk(1000), 0);
        assert_eq!(m.to_disk(100004), 5);
        assert_eq!(m.to_disk(7), OVERFLOW_ID);
        assert!(IdMap::parse("0:1").is_err());
        assert!(IdMap::parse("a:b:c").is_err());
    }

    #[test]
    fn override_stat_parses_what_it_writes() {
        let o = Override {
            uid: 33,
            gid: 44,
            mode: 0o4755,
            kind: None,
        };
        let s = o.format(libc::S_IFREG);
        assert_eq!(s, "33:44:04755:file");
        assert_eq!(Override::parse(s.as_bytes()), Some(o));
        let dev = Override::parse(b"0:0:0660:char-1-3").unwrap();
        assert_eq!(dev.kind, Some((libc::S_IFCHR, libc::makedev(1, 3))));
        assert_eq!(dev.format(libc::S_IFREG), "0:0:0660:char-1-3");
        assert!(Override::parse(b"garbage").is_none());
    }
}
