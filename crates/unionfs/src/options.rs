//! The fuse-overlayfs command line, so every tool that runs fuse-overlayfs
//! can run strata-fs unchanged. Three call shapes exist in the wild:
//! - podman: `strata-fs -o lowerdir=…,upperdir=…,workdir=…, MOUNTPOINT`
//! - mount.fuse3: `strata-fs SOURCE MOUNTPOINT -o rw,lowerdir=…,dev,suid`
//! - a read-only union: `strata-fs -o lowerdir=A:B MOUNTPOINT`

use std::path::PathBuf;

use crate::ids::IdMap;

#[derive(Debug, Default, Clone)]
pub struct Options {
    pub source: Option<String>,
    pub mountpoint: PathBuf,
    /// Topmost first, as given.
    pub lowerdirs: Vec<PathBuf>,
    pub upperdir: Option<PathBuf>,
    pub workdir: Option<PathBuf>,
    pub foreground: bool,
    pub debug: bool,
    pub squash_to_root: bool,
    pub squash_to_uid: Option<u32>,
    pub squash_to_gid: Option<u32>,
    pub uid_map: IdMap,
    pub gid_map: IdMap,
    pub xattr_permissions: u32,
    pub timeout: Option<f64>,
    pub threads: Option<usize>,
    pub fsync: bool,
    pub noxattrs: bool,
    /// `noacl`: do not let the kernel enforce POSIX ACLs.
    pub noacl: bool,
    pub static_nlink: bool,
    pub passthrough: bool,
    pub allow_other: bool,
    pub allow_root: bool,
    pub ro: bool,
    pub dev: bool,
    pub suid: bool,
    pub noexec: bool,
    pub noatime: bool,
    pub max_write: Option<u32>,
    /// Things the user should hear about (unknown options).
    pub warnings: Vec<String>,
}

/// What the command line asked for.
pub enum Command {
    Mount(Box<Options>),
    Help,
    Version,
}

pub const USAGE: &str = "usage: strata-fs [-f] [-d] [-o OPTS] [SOURCE] MOUNTPOINT [-o OPTS]
  -o lowerdir=DIR[:DIR...]   read-only layers, topmost first (\\: escapes a colon)
  -o upperdir=DIR,workdir=DIR  writable layer and its scratch dir (same filesystem)
  -o squash_to_root|squash_to_uid=N|squash_to_gid=N|uidmapping=D:S:L|gidmapping=D:S:L
  -o timeout=SECS,threaded=0|1,fsync=0|1,volatile,noxattrs=1,noacl,static_nlink,xattr_permissions=N
  -o allow_other,allow_root,ro,rw,dev,nodev,suid,nosuid,exec,noexec,atime,noatime,max_write=N
  -f  stay in the foreground     -d, --debug  log every request";

/// Splits on `sep` unless escaped with a backslash; removes the escapes.
fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                if n != sep && n != '\\' && n != ',' && n != ':' {
                    cur.push('\\');
                }
                cur.push(n);
            }
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// Splits an `-o` value on commas not escaped, keeping escapes for the
/// second pass (lowerdir's colons).
fn split_options(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push('\\');
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ',' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("invalid value {v:?} for option {key}"))
}

fn flag(v: &str) -> bool {
    !matches!(v, "0" | "off" | "false" | "no")
}

impl Options {
    fn apply(&mut self, opt: &str) -> Result<(), String> {
        let opt = opt.trim();
        if opt.is_empty() {
            return Ok(());
        }
        let (key, val) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt, None),
        };
        let v = val.unwrap_or("");
        match key {
            "lowerdir" => {
                self.lowerdirs = split_escaped(v, ':')
                    .into_iter()
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .collect();
            }
            "upperdir" => self.upperdir = Some(PathBuf::from(split_escaped(v, '\0').concat())),
            "workdir" => self.workdir = Some(PathBuf::from(split_escaped(v, '\0').concat())),
            "squash_to_root" => self.squash_to_root = true,
            "squash_to_uid" => self.squash_to_uid = Some(num(key, v)?),
            "squash_to_gid" => self.squash_to_gid = Some(num(key, v)?),
            "uidmapping" => self.uid_map = IdMap::parse(v)?,
            "gidmapping" => self.gid_map = IdMap::parse(v)?,
            "xattr_permissions" => self.xattr_permissions = num(key, v)?,
            "timeout" => self.timeout = Some(num(key, v)?),
            "threaded" => self.threads = Some(if flag(v) { 0 } else { 1 }),
            "fsync" => self.fsync = flag(v),
            "volatile" => self.fsync = false,
            "noxattrs" => self.noxattrs = val.is_none_or(flag),
            "static_nlink" => self.static_nlink = true,
            "passthrough" => self.passthrough = val.is_none_or(flag),
            "allow_other" => self.allow_other = true,
            "allow_root" => self.allow_root = true,
            "ro" => self.ro = true,
            "rw" => self.ro = false,
            "dev" => self.dev = true,
            "nodev" => self.dev = false,
            "suid" => self.suid = true,
            "nosuid" => self.suid = false,
            "exec" => self.noexec = false,
            "noexec" => self.noexec = true,
            "atime" | "relatime" | "strictatime" => self.noatime = false,
            "noatime" => self.noatime = true,
            "max_write" => self.max_write = Some(num(key, v)?),
            // Accepted for compatibility; they need no action here.
            "noacl" => self.noacl = true,
            "ino32_t"
            | "xino"
            | "writeback"
            | "redirect_dir"
            | "context"
            | "fscontext"
            | "defcontext"
            | "rootcontext"
            | "kernel_cache"
            | "default_permissions"
            | "plugins"
            | "debug"
            | "fast_ino"
            | "auto_cache"
            | "sync"
            | "async"
            | "dirsync"
            | "nofail"
            | "_netdev"
            | "user"
            | "users"
            | "auto"
            | "noauto"
            | "big_writes"
            | "metacopy"
            | "index"
            | "userxattr" => {}
            k if k.starts_with("splice_") || k.starts_with("x-") => {}
            _ => self
                .warnings
                .push(format!("strata-fs: unknown option {opt:?} ignored")),
        }
        Ok(())
    }

    /// Parses the arguments after the program name, with the defaults of
    /// this process's effective uid.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
        Self::parse_as(args, nix::unistd::geteuid().is_root())
    }

    /// The defaults, fuse-overlayfs's: access times are not kept (so
    /// reading a directory does not make the kernel ask for its attributes
    /// again), and as root `allow_other,suid` are on, so a container's
    /// non-root users can reach their own root filesystem and setuid
    /// programs work (podman passes neither).
    pub fn defaults(euid_root: bool) -> Options {
        Options {
            fsync: true,
            passthrough: true,
            noatime: true,
            allow_other: euid_root,
            suid: euid_root,
            ..Default::default()
        }
    }

    /// Parses over [`Options::defaults`]; `nosuid` and the like still
    /// override them.
    pub fn parse_as<I: IntoIterator<Item = String>>(
        args: I,
        euid_root: bool,
    ) -> Result<Command, String> {
        let mut o = Options::defaults(euid_root);
        let mut positional = Vec::new();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-h" | "--help" => return Ok(Command::Help),
                "-V" | "--version" => return Ok(Command::Version),
                "-f" => o.foreground = true,
                "-d" | "--debug" => {
                    o.debug = true;
                    o.foreground = true;
                }
                "-s" => {}
                "-o" => {
                    let v = it.next().ok_or("option -o needs a value")?;
                    for opt in split_options(&v) {
                        o.apply(&opt)?;
                    }
                }
                s if s.starts_with("-o") => {
                    for opt in split_options(&s[2..]) {
                        o.apply(&opt)?;
                    }
                }
                s if s.starts_with('-') && s.len() > 1 => {
                    o.warnings
                        .push(format!("strata-fs: unknown flag {s:?} ignored"));
                }
                _ => positional.push(a),
            }
        }
        match positional.len() {
            1 => o.mountpoint = PathBuf::from(&positional[0]),
            2 => {
                o.source = Some(positional[0].clone());
                o.mountpoint = PathBuf::from(&positional[1]);
            }
            0 => return Err("no mountpoint given".into()),
            _ => return Err(format!("too many arguments: {}", positional.join(" "))),
        }
        if o.lowerdirs.is_empty() && o.upperdir.is_none() {
            return Err("no lowerdir given (-o lowerdir=DIR[:DIR...])".into());
        }
        if o.upperdir.is_some() != o.workdir.is_some() {
            return Err("upperdir and workdir must be given together".into());
        }
        if o.squash_to_root {
            o.squash_to_uid = Some(0);
            o.squash_to_gid = Some(0);
        }
        Ok(Command::Mount(Box::new(o)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        parse_as(args, false)
    }

    fn parse_as(args: &[&str], root: bool) -> Options {
        match Options::parse_as(args.iter().map(|s| s.to_string()), root).unwrap() {
            Command::Mount(o) => *o,
            _ => panic!("not a mount"),
        }
    }

    #[test]
    fn podman_shape_with_trailing_comma() {
        let o = parse(&[
            "-o",
            "lowerdir=/l/a:/l/b,upperdir=/u,workdir=/w,,volatile,",
            "/mnt",
        ]);
        assert_eq!(
            o.lowerdirs,
            vec![PathBuf::from("/l/a"), PathBuf::from("/l/b")]
        );
        assert_eq!(o.upperdir, Some(PathBuf::from("/u")));
        assert_eq!(o.mountpoint, PathBuf::from("/mnt"));
        assert!(!o.fsync);
        assert!(o.warnings.is_empty());
    }

    #[test]
    fn root_defaults_are_fuse_overlayfs_ones() {
        let root = parse_as(&["-o", "lowerdir=/a", "/m"], true);
        assert!(root.allow_other && root.suid && root.noatime && !root.dev);
        let user = parse_as(&["-o", "lowerdir=/a", "/m"], false);
        assert!(!user.allow_other && !user.suid && user.noatime);
        assert!(!parse_as(&["-o", "lowerdir=/a,nosuid", "/m"], true).suid);
    }

    #[test]
    fn noacl_turns_kernel_acls_off() {
        assert!(!parse(&["-o", "lowerdir=/a", "/m"]).noacl);
        assert!(parse(&["-o", "lowerdir=/a,noacl", "/m"]).noacl);
    }

    #[test]
    fn mount_fuse3_shape() {
        let o = parse(&["strata", "/mnt", "-o", "rw,lowerdir=/x\\:y:/z,dev,suid"]);
        assert_eq!(o.source.as_deref(), Some("strata"));
        assert_eq!(
            o.lowerdirs,
            vec![PathBuf::from("/x:y"), PathBuf::from("/z")]
        );
        assert!(o.dev && o.suid && !o.ro);
    }

    #[test]
    fn unknown_options_warn_bad_values_fail() {
        let o = parse(&["-o", "lowerdir=/a,frobnicate=3", "/m"]);
        assert_eq!(o.warnings.len(), 1);
        assert!(Options::parse(["-o", "lowerdir=/a,timeout=x", "/m"].map(String::from)).is_err());
        assert!(Options::parse(["-o", "upperdir=/u", "/m"].map(String::from)).is_err());
        assert!(Options::parse(["-o", "lowerdir=/a"].map(String::from)).is_err());
    }

    #[test]
    fn mappings_and_squash() {
        let o = parse(&[
            "-ouidmapping=0:1000:1:1:100000:65536,squash_to_root,lowerdir=/a",
            "/m",
        ]);
        assert_eq!(o.uid_map.to_shown(0), 1000);
        assert_eq!(o.squash_to_uid, Some(0));
    }
}
