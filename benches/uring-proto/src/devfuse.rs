//! The classic transport: mount(2) on an open /dev/fuse, then one read(2)
//! per request and one write(2) per reply. Also the control path of the
//! io_uring transport, which needs it for INIT, for the forgets and for
//! whatever arrives before every queue has registered.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::mount::{mount as mount2, MsFlags};

use crate::abi::{self, op, InHeader};
use crate::fs::{MemFs, Outcome, Request};

/// Largest WRITE the kernel may send; also the io_uring payload size.
pub const MAX_WRITE: u32 = 128 * 1024;
/// A read(2) on /dev/fuse must fit the largest request whole.
const READ_BUF: usize = MAX_WRITE as usize + 4096;

/// Opens /dev/fuse and mounts it at `mnt` as root would (no fusermount).
pub fn mount(mnt: &Path) -> io::Result<File> {
    let dev = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")?;
    let opts = format!(
        "fd={},rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other",
        dev.as_raw_fd()
    );
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount2(
        Some("uring-proto"),
        mnt,
        Some("fuse"),
        flags,
        Some(opts.as_str()),
    )?;
    Ok(dev)
}

/// Reads the kernel's INIT and answers it, asking for FUSE_OVER_IO_URING if
/// `uring`; fails if the kernel did not offer it (enable_uring=N).
pub fn negotiate_init(dev: &File, uring: bool) -> io::Result<()> {
    let mut buf = vec![0; READ_BUF];
    let n = (&*dev).read(&mut buf)?;
    let h = InHeader::parse(&buf[..n]).filter(|h| h.opcode == op::INIT);
    let h = h.ok_or_else(|| io::Error::other("first request is not INIT"))?;
    let init_in = &buf[abi::IN_HEADER_LEN..n];
    let (major, minor) = (abi::u32_at(init_in, 0), abi::u32_at(init_in, 4));
    if major != abi::MAJOR || minor < abi::MINOR {
        return Err(io::Error::other(format!(
            "kernel speaks FUSE {major}.{minor}"
        )));
    }
    let offered = abi::init_flags(init_in);
    let mut flags = offered & (abi::init::ASYNC_READ | abi::init::BIG_WRITES | abi::init::INIT_EXT);
    if uring {
        if offered & abi::init::OVER_IO_URING == 0 {
            return Err(io::Error::other(
                "kernel does not offer FUSE_OVER_IO_URING (/sys/module/fuse/parameters/enable_uring)",
            ));
        }
        flags |= abi::init::OVER_IO_URING;
    }
    let mut out = Vec::with_capacity(64);
    abi::init_out(&mut out, flags, MAX_WRITE);
    reply(dev, h.unique, Outcome::Reply, &out)
}

/// Requests answered per transport, to show the ring really carried them.
#[derive(Default)]
pub struct Served {
    pub devfuse: AtomicU64,
    pub ring: AtomicU64,
}

/// Serves requests from /dev/fuse until the filesystem is unmounted.
pub fn serve(dev: &File, fs: &MemFs, served: &Served) -> io::Result<()> {
    let mut buf = vec![0; READ_BUF];
    let mut out = Vec::with_capacity(READ_BUF);
    loop {
        let n = match (&*dev).read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Ok(()),
            // ENOENT: the request was interrupted before we read it.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::EINTR | libc::EAGAIN)
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        let header = InHeader::parse(&buf[..n]).ok_or_else(|| io::Error::other("short request"))?;
        let body = &buf[abi::IN_HEADER_LEN..n];
        let (arg, rest) = body.split_at(abi::op_header_len(header.opcode).min(body.len()));
        out.clear();
        let outcome = fs.handle(&Request { header, arg, rest }, &mut out);
        served.devfuse.fetch_add(1, Ordering::Relaxed);
        reply(dev, header.unique, outcome, &out)?;
    }
}

/// Writes one reply (header and payload in a single writev, as the device
/// requires); a reply to a request interrupted meanwhile is dropped.
fn reply(dev: &File, unique: u64, outcome: Outcome, payload: &[u8]) -> io::Result<()> {
    let (error, payload) = match outcome {
        Outcome::NoReply => return Ok(()),
        Outcome::Reply => (0, payload),
        Outcome::Error(e) => (e, &[][..]),
    };
    let header = abi::out_header(unique, error, payload.len());
    match (&*dev).write_vectored(&[IoSlice::new(&header), IoSlice::new(payload)]) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}
