//! FUSE over io_uring (Linux 6.14+, Documentation/filesystems/fuse/
//! fuse-io-uring.rst). The kernel keeps one queue per possible CPU and puts
//! a request on the queue of the CPU its caller runs on; the ring is used
//! only once every queue has an entry. Each queue here is one thread pinned
//! to its CPU, with its own ring of 128-byte SQEs. An entry is a header
//! buffer (struct fuse_uring_req_header) and a payload buffer, handed to the
//! kernel once by FUSE_IO_URING_CMD_REGISTER; every answer is a
//! FUSE_IO_URING_CMD_COMMIT_AND_FETCH, which also re-arms the entry, so a
//! round trip costs the daemon one io_uring_enter instead of a write and a
//! read.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use io_uring::{cqueue, opcode, squeue::Entry128, types, IoUring};
use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;

use crate::abi::{self, InHeader};
use crate::devfuse::{Served, MAX_WRITE};
use crate::fs::{MemFs, Outcome, Request};

const CMD_REGISTER: u32 = 1;
const CMD_COMMIT_AND_FETCH: u32 = 2;
/// struct fuse_uring_req_header: in_out[128], op_in[128], then
/// struct fuse_uring_ent_in_out {flags, commit_id, payload_sz, ...}.
const HEADER_LEN: usize = 288;
const OP_IN: usize = 128;
const COMMIT_ID: usize = 264;
const PAYLOAD_SZ: usize = 272;

#[repr(C, align(8))]
struct HeaderBuf([u8; HEADER_LEN]);

/// One ring entry's buffers; the kernel writes requests into them and reads
/// replies from them for as long as the ring lives.
struct Slot {
    header: Box<HeaderBuf>,
    payload: Box<[u8]>,
}

/// The number of queues the kernel expects: num_possible_cpus().
pub fn possible_cpus() -> io::Result<usize> {
    let list = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    let mut n = 0;
    for range in list.trim().split(',') {
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let parse = |s: &str| s.parse::<usize>().map_err(io::Error::other);
        n += parse(b)? - parse(a)? + 1;
    }
    Ok(n)
}

/// Starts one queue thread per possible CPU, each with `depth` entries, and
/// returns once all of them are registered.
pub fn start(dev: Arc<File>, fs: Arc<MemFs>, served: Arc<Served>, depth: u32) -> io::Result<()> {
    let queues = possible_cpus()?;
    let (tx, rx) = mpsc::channel();
    for qid in 0..queues {
        let (dev, fs, served, tx) = (dev.clone(), fs.clone(), served.clone(), tx.clone());
        thread::Builder::new()
            .name(format!("ring{qid}"))
            .spawn(move || {
                let qid = u16::try_from(qid).expect("under 65536 CPUs");
                if let Err(e) = run_queue(dev.as_raw_fd(), qid, depth, &fs, &served, &tx) {
                    let e = io::Error::new(e.kind(), format!("queue {qid}: {e}"));
                    // Once every queue has registered nobody listens: say it here.
                    if let Err(mpsc::SendError(Err(e))) = tx.send(Err(e)) {
                        eprintln!("uring-proto: {e}");
                    }
                }
            })?;
    }
    for _ in 0..queues {
        rx.recv().map_err(io::Error::other)??;
    }
    Ok(())
}

/// struct fuse_uring_cmd_req, in the first bytes of the SQE's command area.
fn cmd_req(commit_id: u64, qid: u16) -> [u8; 80] {
    let mut cmd = [0; 80];
    cmd[8..16].copy_from_slice(&commit_id.to_ne_bytes());
    cmd[16..18].copy_from_slice(&qid.to_ne_bytes());
    cmd
}

/// Sets `sqe->len`, the iovec count REGISTER requires, which the io-uring
/// crate's UringCmd80 has no setter for.
fn with_len(sqe: Entry128, len: u32) -> Entry128 {
    // SAFETY: Entry128 is #[repr(C)]: a struct io_uring_sqe then 64 bytes,
    // the kernel's 128-byte SQE, made only of integers, so any bytes are a
    // valid value; `len` is the u32 at offset 24 of struct io_uring_sqe.
    let mut raw = unsafe { std::mem::transmute::<Entry128, [u8; 128]>(sqe) };
    raw[24..28].copy_from_slice(&len.to_ne_bytes());
    // SAFETY: as above, every 128-byte pattern is a valid Entry128.
    unsafe { std::mem::transmute::<[u8; 128], Entry128>(raw) }
}

fn pin_to_cpu(cpu: usize) {
    let mut set = CpuSet::new();
    // A CPU that is possible but offline: leave the thread unpinned.
    if set.set(cpu).is_ok() {
        let _ = sched_setaffinity(Pid::from_raw(0), &set);
    }
}

fn run_queue(
    dev: RawFd,
    qid: u16,
    depth: u32,
    fs: &MemFs,
    served: &Served,
    registered: &mpsc::Sender<io::Result<()>>,
) -> io::Result<()> {
    pin_to_cpu(usize::from(qid));
    let mut slots: Vec<Slot> = (0..depth)
        .map(|_| Slot {
            header: Box::new(HeaderBuf([0; HEADER_LEN])),
            payload: vec![0; MAX_WRITE as usize].into_boxed_slice(),
        })
        .collect();
    // Declared after `slots` so that it is dropped (and the kernel lets go of
    // the buffers) first.
    let mut ring: IoUring<Entry128, cqueue::Entry> = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(depth)?;
    let iovs: Vec<[libc::iovec; 2]> = slots
        .iter_mut()
        .map(|s| {
            [
                libc::iovec {
                    iov_base: s.header.0.as_mut_ptr().cast(),
                    iov_len: HEADER_LEN,
                },
                libc::iovec {
                    iov_base: s.payload.as_mut_ptr().cast(),
                    iov_len: s.payload.len(),
                },
            ]
        })
        .collect();
    for (i, iov) in iovs.iter().enumerate() {
        let sqe = opcode::UringCmd80::new(types::Fd(dev), CMD_REGISTER)
            .cmd(cmd_req(0, qid))
            .addr(Some(iov.as_ptr() as u64))
            .build()
            .user_data(i as u64);
        // SAFETY: the iovecs live until the submit below, which is when the
        // kernel imports them; the buffers they name live in `slots`, which
        // outlives the ring.
        unsafe { ring.submission().push(&with_len(sqe, 2)) }.map_err(io::Error::other)?;
    }
    ring.submit()?;
    // REGISTER either fails inline or stays pending until a request comes.
    if let Some(cqe) = ring.completion().next() {
        return Err(io::Error::from_raw_os_error(-cqe.result()));
    }
    let _ = registered.send(Ok(()));

    let mut done = Vec::with_capacity(depth as usize);
    let mut out = Vec::with_capacity(MAX_WRITE as usize);
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(e),
        }
        done.clear();
        done.extend(
            ring.completion()
                .map(|c| (c.user_data() as usize, c.result())),
        );
        for &(i, res) in &done {
            if res < 0 {
                // ENOTCONN: unmounted; the kernel tears the queues down.
                return match -res {
                    libc::ENOTCONN | libc::ECANCELED => Ok(()),
                    e => Err(io::Error::from_raw_os_error(e)),
                };
            }
            let commit_id = answer(&mut slots[i], fs, &mut out)?;
            served.ring.fetch_add(1, Ordering::Relaxed);
            let sqe = opcode::UringCmd80::new(types::Fd(dev), CMD_COMMIT_AND_FETCH)
                .cmd(cmd_req(commit_id, qid))
                .build()
                .user_data(i as u64);
            // SAFETY: COMMIT_AND_FETCH names no memory but the entry's
            // buffers registered above, which live in `slots`.
            unsafe { ring.submission().push(&sqe) }.map_err(io::Error::other)?;
        }
    }
}

/// Handles the request in a slot and leaves the reply in it; returns the
/// commit id the kernel expects back.
fn answer(slot: &mut Slot, fs: &MemFs, out: &mut Vec<u8>) -> io::Result<u64> {
    let h = &mut slot.header.0;
    let header = InHeader::parse(h).ok_or_else(|| io::Error::other("bad header"))?;
    let commit_id = abi::u64_at(h, COMMIT_ID);
    let payload_sz = abi::u32_at(h, PAYLOAD_SZ) as usize;
    let arg = &h[OP_IN..OP_IN + abi::op_header_len(header.opcode)];
    let rest = &slot.payload[..payload_sz];
    out.clear();
    let (error, len) = match fs.handle(&Request { header, arg, rest }, out) {
        Outcome::Reply | Outcome::NoReply => (0, out.len()),
        Outcome::Error(e) => (e, 0),
    };
    slot.payload[..len].copy_from_slice(&out[..len]);
    h[..abi::OUT_HEADER_LEN].copy_from_slice(&abi::out_header(header.unique, error, len));
    h[PAYLOAD_SZ..PAYLOAD_SZ + 4].copy_from_slice(&(len as u32).to_ne_bytes());
    Ok(commit_id)
}
