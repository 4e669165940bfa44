//! The slice of the FUSE wire protocol (include/uapi/linux/fuse.h, 7.42)
//! the prototype speaks, encoded field by field in native byte order so that
//! no kernel struct is ever reinterpreted from raw bytes.

/// Protocol version answered in INIT: 7.42 is the first with io_uring.
pub const MAJOR: u32 = 7;
pub const MINOR: u32 = 42;

pub const IN_HEADER_LEN: usize = 40;
pub const OUT_HEADER_LEN: usize = 16;

/// Opcodes the prototype answers (or, for the forgets, swallows).
pub mod op {
    pub const LOOKUP: u32 = 1;
    pub const FORGET: u32 = 2;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const UNLINK: u32 = 10;
    pub const OPEN: u32 = 14;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FLUSH: u32 = 25;
    pub const INIT: u32 = 26;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const CREATE: u32 = 35;
    pub const INTERRUPT: u32 = 36;
    pub const DESTROY: u32 = 38;
    pub const BATCH_FORGET: u32 = 42;
}

/// INIT flags (flags2 holds bits 32..63 once FUSE_INIT_EXT is set).
pub mod init {
    pub const ASYNC_READ: u64 = 1 << 0;
    pub const BIG_WRITES: u64 = 1 << 5;
    pub const INIT_EXT: u64 = 1 << 30;
    pub const OVER_IO_URING: u64 = 1 << 41;
}

/// SETATTR `valid` bits.
pub mod fattr {
    pub const MODE: u32 = 1 << 0;
    pub const UID: u32 = 1 << 1;
    pub const GID: u32 = 1 << 2;
    pub const SIZE: u32 = 1 << 3;
    pub const ATIME: u32 = 1 << 4;
    pub const MTIME: u32 = 1 << 5;
    pub const ATIME_NOW: u32 = 1 << 7;
    pub const MTIME_NOW: u32 = 1 << 8;
}

/// Length of the fixed per-opcode struct that precedes any names. Over
/// io_uring the kernel puts that struct in the header buffer's `op_in` and
/// only what follows in the payload buffer, so both transports split a
/// request body here.
pub fn op_header_len(opcode: u32) -> usize {
    match opcode {
        op::FORGET | op::OPEN | op::OPENDIR | op::BATCH_FORGET | op::INTERRUPT => 8,
        op::GETATTR | op::CREATE => 16,
        op::RELEASE | op::RELEASEDIR | op::FLUSH => 24,
        op::READDIR => 40,
        op::INIT => 64,
        op::SETATTR => 88,
        _ => 0,
    }
}

pub fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

pub fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// struct fuse_in_header, minus the extension length and padding.
#[derive(Clone, Copy, Debug)]
pub struct InHeader {
    pub opcode: u32,
    pub unique: u64,
    pub nodeid: u64,
    pub uid: u32,
    pub gid: u32,
}

impl InHeader {
    pub fn parse(b: &[u8]) -> Option<Self> {
        (b.len() >= IN_HEADER_LEN).then(|| Self {
            opcode: u32_at(b, 4),
            unique: u64_at(b, 8),
            nodeid: u64_at(b, 16),
            uid: u32_at(b, 24),
            gid: u32_at(b, 28),
        })
    }
}

/// struct fuse_out_header for a reply of `payload_len` bytes.
pub fn out_header(unique: u64, error: i32, payload_len: usize) -> [u8; OUT_HEADER_LEN] {
    let mut h = [0; OUT_HEADER_LEN];
    let len = u32::try_from(OUT_HEADER_LEN + payload_len).expect("reply under 4 GiB");
    h[0..4].copy_from_slice(&len.to_ne_bytes());
    h[4..8].copy_from_slice(&error.to_ne_bytes());
    h[8..16].copy_from_slice(&unique.to_ne_bytes());
    h
}

/// Appends native-endian fields to a reply payload.
pub struct Enc<'a>(pub &'a mut Vec<u8>);

impl Enc<'_> {
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
}

/// The `flags`/`flags2` pair of fuse_init_in as one 64-bit set.
pub fn init_flags(init_in: &[u8]) -> u64 {
    let flags = u64::from(u32_at(init_in, 12));
    if flags & init::INIT_EXT != 0 && init_in.len() >= 20 {
        flags | u64::from(u32_at(init_in, 16)) << 32
    } else {
        flags
    }
}

/// struct fuse_init_out (64 bytes, 7.42).
pub fn init_out(out: &mut Vec<u8>, flags: u64, max_write: u32) {
    Enc(out)
        .u32(MAJOR)
        .u32(MINOR)
        .u32(max_write) // max_readahead
        .u32(flags as u32)
        .u16(16) // max_background
        .u16(12) // congestion_threshold
        .u32(max_write)
        .u32(1) // time_gran
        .u16(0) // max_pages: the kernel's default
        .u16(0) // map_alignment
        .u32((flags >> 32) as u32)
        .u32(0) // max_stack_depth
        .u16(0) // request_timeout
        .zeros(22);
}

/// The fields of struct fuse_attr the filesystem keeps.
#[derive(Clone, Copy, Debug)]
pub struct Attr {
    pub ino: u64,
    pub size: u64,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: (u64, u32),
    pub mtime: (u64, u32),
    pub ctime: (u64, u32),
}

/// struct fuse_attr (88 bytes).
fn attr(out: &mut Vec<u8>, a: &Attr) {
    Enc(out)
        .u64(a.ino)
        .u64(a.size)
        .u64(a.size.div_ceil(512))
        .u64(a.atime.0)
        .u64(a.mtime.0)
        .u64(a.ctime.0)
        .u32(a.atime.1)
        .u32(a.mtime.1)
        .u32(a.ctime.1)
        .u32(a.mode)
        .u32(a.nlink)
        .u32(a.uid)
        .u32(a.gid)
        .u32(0) // rdev
        .u32(4096) // blksize
        .u32(0); // flags
}

/// struct fuse_entry_out (128 bytes).
pub fn entry_out(out: &mut Vec<u8>, a: &Attr, ttl_secs: u64) {
    Enc(out)
        .u64(a.ino)
        .u64(0)
        .u64(ttl_secs)
        .u64(ttl_secs)
        .u32(0)
        .u32(0);
    attr(out, a);
}

/// struct fuse_attr_out (104 bytes).
pub fn attr_out(out: &mut Vec<u8>, a: &Attr, ttl_secs: u64) {
    Enc(out).u64(ttl_secs).u32(0).u32(0);
    attr(out, a);
}

/// struct fuse_open_out (16 bytes): no file handle, no flags.
pub fn open_out(out: &mut Vec<u8>) {
    Enc(out).zeros(16);
}

/// struct fuse_kstatfs inside fuse_statfs_out (80 bytes).
pub fn statfs_out(out: &mut Vec<u8>, files: u64) {
    Enc(out)
        .u64(1 << 20) // blocks
        .u64(1 << 20) // bfree
        .u64(1 << 20) // bavail
        .u64(files)
        .u64(u64::from(u32::MAX) - files) // ffree
        .u32(4096) // bsize
        .u32(255) // namelen
        .u32(4096) // frsize
        .zeros(4 + 24);
}

/// One struct fuse_dirent with its name, padded to 8 bytes; false when it
/// would not fit in `limit` bytes.
pub fn dirent(
    out: &mut Vec<u8>,
    limit: usize,
    ino: u64,
    next: u64,
    dtype: u32,
    name: &[u8],
) -> bool {
    let len = (24 + name.len()).next_multiple_of(8);
    if out.len() + len > limit {
        return false;
    }
    let end = out.len() + len;
    Enc(out)
        .u64(ino)
        .u64(next)
        .u32(name.len() as u32)
        .u32(dtype)
        .bytes(name);
    out.resize(end, 0);
    true
}
