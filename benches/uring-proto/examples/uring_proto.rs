//! Mounts the prototype filesystem and serves it until it is unmounted.
//!
//! usage: uring_proto MOUNTPOINT [devfuse|uring] [THREADS_OR_DEPTH]
//!
//! `devfuse` (the default) serves /dev/fuse with THREADS reader threads
//! (default: one per CPU, as strata-fs does); `uring` registers DEPTH
//! entries (default 8) per CPU queue and keeps one /dev/fuse thread for
//! what the kernel still sends there. Prints "ready" on stderr once serving,
//! and the count of requests each transport answered on exit.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::{io, thread};

use uring_proto::devfuse::{self, Served};
use uring_proto::fs::MemFs;
use uring_proto::ring;

fn run(mnt: PathBuf, uring: bool, n: Option<u32>) -> io::Result<Arc<Served>> {
    let fs = Arc::new(MemFs::new(0, 0));
    let served = Arc::new(Served::default());
    let dev = Arc::new(devfuse::mount(&mnt)?);
    devfuse::negotiate_init(&dev, uring)?;
    if uring {
        ring::start(dev.clone(), fs.clone(), served.clone(), n.unwrap_or(8))?;
    } else {
        let threads = n.map_or_else(ring::possible_cpus, |n| Ok(n as usize))?;
        for _ in 1..threads {
            let (dev, fs, served) = (dev.clone(), fs.clone(), served.clone());
            thread::spawn(move || devfuse::serve(&dev, &fs, &served));
        }
    }
    eprintln!("ready");
    devfuse::serve(&dev, &fs, &served)?;
    Ok(served)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: uring_proto MOUNTPOINT [devfuse|uring] [THREADS_OR_DEPTH]";
    let (Some(mnt), uring, n) = (
        args.first().map(PathBuf::from),
        args.get(1).map(String::as_str),
        args.get(2).map(|s| s.parse::<u32>()),
    ) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let (uring, n) = match (uring, n.transpose()) {
        (None | Some("devfuse"), Ok(n)) => (false, n),
        (Some("uring"), Ok(n)) => (true, n),
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    match run(mnt, uring, n) {
        Ok(served) => {
            let (d, r) = (
                served.devfuse.load(Ordering::Relaxed),
                served.ring.load(Ordering::Relaxed),
            );
            eprintln!("served: /dev/fuse {d}, io_uring {r}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("uring-proto: {e}");
            ExitCode::FAILURE
        }
    }
}
