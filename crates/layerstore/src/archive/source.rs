//! Random access to the members of an image archive, whether it is a
//! directory (OCI layout) or a tar file (docker-archive, oci-archive).
//!
//! A tar archive is indexed once (member name → offset and size) and its
//! members are then read in place with `pread`, so a load reads each layer
//! once whatever order the archive stores them in. Compressed archives and
//! stdin are first spooled to a temporary file in the store's `tmp/`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::compression::{decompress, detect, Compression};
use crate::error::{one_line, Error, IoContext, Result};
use crate::tarimport::normalise;

/// Symlink hops followed when resolving a member name.
const MAX_LINK_HOPS: usize = 16;

pub(crate) enum Member {
    Data { offset: u64, size: u64 },
    Link(String),
}

/// An archive to read members from.
pub(crate) enum Source {
    Dir(PathBuf),
    Tar {
        name: String,
        file: File,
        members: HashMap<String, Member>,
    },
}

/// Normalises an archive member name; names that leave the archive root
/// (`..`) are refused, since a manifest must not point outside it.
fn member_name(archive: &str, name: &str) -> Result<String> {
    let n = normalise(name.as_bytes()).map_err(|why| Error::BadArchive {
        archive: archive.to_string(),
        reason: format!("member name {name:?}: {why}"),
    })?;
    String::from_utf8(n).map_err(|_| Error::BadArchive {
        archive: archive.to_string(),
        reason: format!("member name {name:?} is not UTF-8"),
    })
}

impl Source {
    /// Opens `path` (a directory or an archive file); `-` reads stdin.
    /// `tmp` holds spooled copies; it must outlive the source.
    pub fn open(path: &Path, tmp: &Path) -> Result<Source> {
        let name = path.display().to_string();
        if path == Path::new("-") {
            let stdin = io::stdin().lock();
            return Source::spool(&name, stdin, tmp);
        }
        if path.is_dir() {
            return Ok(Source::Dir(path.to_path_buf()));
        }
        let mut file = File::open(path).ctx(|| format!("opening {name}"))?;
        let mut magic = [0u8; 4];
        let n = file.read(&mut magic).ctx(|| format!("reading {name}"))?;
        file.seek(SeekFrom::Start(0))
            .ctx(|| format!("rewinding {name}"))?;
        if detect(&magic[..n]) != Compression::None {
            return Source::spool(&name, file, tmp);
        }
        Source::index_tar(name, file)
    }

    fn spool(name: &str, input: impl Read, tmp: &Path) -> Result<Source> {
        let (c, mut r) = decompress(input).ctx(|| format!("reading {name}"))?;
        let mut f = tempfile::tempfile_in(tmp)
            .ctx(|| format!("creating spool file in {}", tmp.display()))?;
        io::copy(&mut r, &mut f).ctx(|| {
            format!(
                "reading {name}{}",
                if c == Compression::None {
                    ""
                } else {
                    " (decompressing)"
                }
            )
        })?;
        f.seek(SeekFrom::Start(0))
            .ctx(|| format!("rewinding spool of {name}"))?;
        Source::index_tar(name.to_string(), f)
    }

    fn index_tar(name: String, file: File) -> Result<Source> {
        let bad = |e: io::Error| Error::BadArchive {
            archive: name.clone(),
            reason: format!("not a readable tar archive: {}", one_line(e)),
        };
        let mut members = HashMap::new();
        {
            let mut ar = tar::Archive::new(&file);
            for e in ar.entries_with_seek().map_err(bad)? {
                let e = e.map_err(bad)?;
                let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                let n = member_name(&name, &raw)?;
                let et = e.header().entry_type();
                if et.is_file() {
                    members.insert(
                        n,
                        Member::Data {
                            offset: e.raw_file_position(),
                            size: e.size(),
                        },
                    );
                } else if et.is_symlink() || et.is_hard_link() {
                    let target = e
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    let joined = if et.is_symlink() && !target.starts_with('/') {
                        match n.rfind('/') {
                            Some(i) => format!("{}/{}", &n[..i], target),
                            None => target,
                        }
                    } else {
                        target
                    };
                    members.insert(n, Member::Link(joined));
                }
            }
        }
        let file_len = file.metadata().ctx(|| format!("stat {name}"))?.len();
        for m in members.values() {
            if let Member::Data { offset, size } = m {
                if offset + size > file_len {
                    return Err(Error::BadArchive {
                        archive: name,
                        reason: "truncated: a member extends past the end of the file".into(),
                    });
                }
            }
        }
        Ok(Source::Tar {
            name,
            file,
            members,
        })
    }

    /// The archive's name for messages.
    pub fn name(&self) -> String {
        match self {
            Source::Dir(p) => p.display().to_string(),
            Source::Tar { name, .. } => name.clone(),
        }
    }

    /// Whether a member exists.
    pub fn exists(&self, member: &str) -> bool {
        self.open_member(member).is_ok()
    }

    /// Opens a member for reading.
    pub fn open_member(&self, member: &str) -> Result<Box<dyn Read + '_>> {
        let archive = self.name();
        let mut n = member_name(&archive, member)?;
        let missing = |m: &str| Error::MissingMember {
            archive: archive.clone(),
            member: m.to_string(),
        };
        match self {
            Source::Dir(root) => {
                let p = root.join(&n);
                // Symlinks inside the layout could point anywhere.
                let canon_root = root
                    .canonicalize()
                    .ctx(|| format!("resolving {}", root.display()))?;
                let canon = p.canonicalize().map_err(|_| missing(member))?;
                if !canon.starts_with(&canon_root) {
                    return Err(Error::BadArchive {
                        archive,
                        reason: format!("member {member:?} resolves outside the layout"),
                    });
                }
                let f = File::open(&canon).map_err(|_| missing(member))?;
                Ok(Box::new(f))
            }
            Source::Tar { file, members, .. } => {
                for _ in 0..MAX_LINK_HOPS {
                    match members.get(&n) {
                        Some(Member::Data { offset, size }) => {
                            return Ok(Box::new(Section {
                                file,
                                pos: *offset,
                                end: offset + size,
                            }))
                        }
                        Some(Member::Link(t)) => n = member_name(&archive, t)?,
                        None => return Err(missing(member)),
                    }
                }
                Err(Error::BadArchive {
                    archive,
                    reason: format!("member {member:?}: too many levels of links"),
                })
            }
        }
    }
}

/// A byte range of a file, read with `pread` so sections are independent.
struct Section<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive member truncated",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}
