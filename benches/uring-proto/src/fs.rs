//! A flat in-memory filesystem: one root directory holding regular files,
//! enough for `touch`, `stat`, `find -delete` and `rm`. Its answers are
//! cheap on purpose, so that what the benchmark sees is the transport.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::abi::{self, fattr, op, Attr, InHeader};

const ROOT: u64 = 1;
/// Entry and attribute validity: strata-fs's default timeout (one day).
const TTL_SECS: u64 = 86_400;
const DT_DIR: u32 = 4;
const DT_REG: u32 = 8;

/// One request as either transport delivers it: the fixed per-opcode struct
/// (`arg`) and the names after it (`rest`).
pub struct Request<'a> {
    pub header: InHeader,
    pub arg: &'a [u8],
    pub rest: &'a [u8],
}

/// What to send back; the reply payload itself is in the caller's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Reply,
    Error(i32),
    /// FORGET and friends take no answer.
    NoReply,
}

pub struct MemFs {
    state: Mutex<State>,
}

struct State {
    nodes: HashMap<u64, Attr>,
    /// Root's entries by name, and by readdir cookie so that offsets stay
    /// valid while `find -delete` unlinks behind the listing.
    by_name: HashMap<Vec<u8>, (u64, u64)>,
    by_cookie: BTreeMap<u64, Vec<u8>>,
    next_ino: u64,
    next_cookie: u64,
}

fn now() -> (u64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_nanos())
}

/// A NUL-terminated name from a request.
fn name(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or(b)
}

impl MemFs {
    pub fn new(uid: u32, gid: u32) -> Self {
        let t = now();
        let root = Attr {
            ino: ROOT,
            size: 4096,
            mode: libc::S_IFDIR | 0o755,
            nlink: 2,
            uid,
            gid,
            atime: t,
            mtime: t,
            ctime: t,
        };
        Self {
            state: Mutex::new(State {
                nodes: HashMap::from([(ROOT, root)]),
                by_name: HashMap::new(),
                by_cookie: BTreeMap::new(),
                next_ino: ROOT + 1,
                // 0 is the start of a listing; 1 and 2 follow "." and "..".
                next_cookie: 3,
            }),
        }
    }

    /// Answers one request, appending the reply payload to `out`.
    pub fn handle(&self, req: &Request, out: &mut Vec<u8>) -> Outcome {
        let h = &req.header;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match h.opcode {
            op::LOOKUP | op::UNLINK | op::CREATE if h.nodeid != ROOT => {
                return Outcome::Error(-libc::ENOTDIR)
            }
            op::LOOKUP => match s.by_name.get(name(req.rest)) {
                Some(&(ino, _)) => abi::entry_out(out, &s.nodes[&ino], TTL_SECS),
                None => return Outcome::Error(-libc::ENOENT),
            },
            op::GETATTR => match s.nodes.get(&h.nodeid) {
                Some(a) => abi::attr_out(out, a, TTL_SECS),
                None => return Outcome::Error(-libc::ENOENT),
            },
            op::SETATTR => match s.nodes.get_mut(&h.nodeid) {
                Some(a) => {
                    setattr(a, req.arg);
                    abi::attr_out(out, a, TTL_SECS);
                }
                None => return Outcome::Error(-libc::ENOENT),
            },
            op::CREATE => {
                let n = name(req.rest);
                let ino = match s.by_name.get(n) {
                    Some(&(ino, _)) => ino,
                    None => s.create(n, abi::u32_at(req.arg, 4), h),
                };
                abi::entry_out(out, &s.nodes[&ino], TTL_SECS);
                abi::open_out(out);
            }
            op::UNLINK => match s.by_name.remove(name(req.rest)) {
                Some((ino, cookie)) => {
                    s.by_cookie.remove(&cookie);
                    s.nodes.remove(&ino);
                    let t = now();
                    let root = s.nodes.get_mut(&ROOT).expect("root");
                    (root.mtime, root.ctime) = (t, t);
                }
                None => return Outcome::Error(-libc::ENOENT),
            },
            op::OPEN | op::OPENDIR => abi::open_out(out),
            op::READDIR => s.readdir(req.arg, out),
            op::STATFS => abi::statfs_out(out, s.nodes.len() as u64),
            op::RELEASE | op::RELEASEDIR | op::FLUSH | op::DESTROY => {}
            op::FORGET | op::BATCH_FORGET | op::INTERRUPT => return Outcome::NoReply,
            _ => return Outcome::Error(-libc::ENOSYS),
        }
        Outcome::Reply
    }
}

impl State {
    fn create(&mut self, n: &[u8], mode: u32, h: &InHeader) -> u64 {
        let (ino, cookie) = (self.next_ino, self.next_cookie);
        self.next_ino += 1;
        self.next_cookie += 1;
        let t = now();
        let attr = Attr {
            ino,
            size: 0,
            mode: libc::S_IFREG | (mode & 0o7777),
            nlink: 1,
            uid: h.uid,
            gid: h.gid,
            atime: t,
            mtime: t,
            ctime: t,
        };
        self.nodes.insert(ino, attr);
        self.by_name.insert(n.to_vec(), (ino, cookie));
        self.by_cookie.insert(cookie, n.to_vec());
        let root = self.nodes.get_mut(&ROOT).expect("root");
        (root.mtime, root.ctime) = (t, t);
        ino
    }

    /// fuse_read_in: offset at 8, size at 16. Offsets are cookies: each
    /// dirent carries the cookie to resume after it.
    fn readdir(&self, arg: &[u8], out: &mut Vec<u8>) {
        let (offset, limit) = (abi::u64_at(arg, 8), abi::u32_at(arg, 16) as usize);
        let dots: [(u64, &[u8]); 2] = [(1, b"."), (2, b"..")];
        for (cookie, n) in dots.into_iter().filter(|&(c, _)| c > offset) {
            if !abi::dirent(out, limit, ROOT, cookie, DT_DIR, n) {
                return;
            }
        }
        for (&cookie, n) in self.by_cookie.range(offset.max(2) + 1..) {
            let ino = self.by_name[n].0;
            if !abi::dirent(out, limit, ino, cookie, DT_REG, n) {
                return;
            }
        }
    }
}

/// Applies a fuse_setattr_in to an inode.
fn setattr(a: &mut Attr, arg: &[u8]) {
    let valid = abi::u32_at(arg, 0);
    let t = now();
    if valid & fattr::MODE != 0 {
        a.mode = (a.mode & libc::S_IFMT) | (abi::u32_at(arg, 68) & 0o7777);
    }
    if valid & fattr::UID != 0 {
        a.uid = abi::u32_at(arg, 76);
    }
    if valid & fattr::GID != 0 {
        a.gid = abi::u32_at(arg, 80);
    }
    if valid & fattr::SIZE != 0 {
        a.size = abi::u64_at(arg, 16);
        a.mtime = t;
    }
    if valid & fattr::ATIME_NOW != 0 {
        a.atime = t;
    } else if valid & fattr::ATIME != 0 {
        a.atime = (abi::u64_at(arg, 32), abi::u32_at(arg, 56));
    }
    if valid & fattr::MTIME_NOW != 0 {
        a.mtime = t;
    } else if valid & fattr::MTIME != 0 {
        a.mtime = (abi::u64_at(arg, 40), abi::u32_at(arg, 60));
    }
    a.ctime = t;
}
