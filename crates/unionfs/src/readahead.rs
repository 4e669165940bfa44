//! Metadata readahead for tree walks over the lower layers.
//!
//! A cold `find`, `du` or `chown -R` waits on the disk once per directory:
//! its listing in every layer, then the inode of every entry. Through FUSE
//! each of those waits also sits behind a round trip, and the reader's own
//! work never overlaps them. When a directory is listed for a reader, one
//! background thread reads ahead the directories a walk lists next (the
//! listed directory's subdirectories, then its following siblings, a window
//! of each), so their listings and inodes are in memory when the walk
//! arrives.
//!
//! It only warms caches: the merged index it builds is the one the first
//! lookup would build (lower layers never change under a mount), and a race
//! with the reader costs one duplicate listing. The queue is a bounded
//! stack, newest first, because walks are depth-first; what falls off the
//! bottom is dropped.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use fuser::FileType;

use crate::lowerindex::{split, DirIndex, LowerStack};
use crate::sys;

/// Directories read ahead per listing, of children and of siblings each.
const WINDOW: usize = 32;
/// Most directories waiting; the oldest go first when it is full.
const QUEUE: usize = 1024;

#[derive(Default)]
struct Queue {
    stack: Vec<Vec<u8>>,
    queued: HashSet<Vec<u8>>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

pub struct Readahead {
    stack: Arc<LowerStack>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Readahead {
    /// Starts the reader thread; without lower layers there is nothing to read.
    pub fn start(stack: Arc<LowerStack>) -> Readahead {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
        });
        let thread = (!stack.is_empty()).then(|| {
            let (stack, shared) = (stack.clone(), shared.clone());
            std::thread::Builder::new()
                .name("strata-readahead".into())
                .spawn(move || work(&stack, &shared))
                .expect("spawn readahead thread")
        });
        Readahead {
            stack,
            shared,
            thread,
        }
    }

    /// `dir` (merged lower index `idx`) was just listed for a reader.
    pub fn listed(&self, dir: &[u8], idx: &DirIndex) {
        if self.thread.is_none() {
            return;
        }
        let mut wanted = Vec::new();
        // Pushed last is read first: siblings below, children on top.
        if !dir.is_empty() {
            let (parent, name) = split(dir);
            if let Some(pidx) = self.stack.cached(parent) {
                if let Some(me) = pidx.entries.get(name) {
                    wanted.extend(subdirs(parent, &pidx, me.pos + 1).rev());
                }
            }
        }
        wanted.extend(subdirs(dir, idx, 0).rev());
        wanted.retain(|p| self.stack.cached(p).is_none());
        if wanted.is_empty() {
            return;
        }
        let mut q = self.shared.queue.lock().unwrap();
        for p in wanted {
            if q.queued.insert(p.clone()) {
                q.stack.push(p);
            }
        }
        while q.stack.len() > QUEUE {
            let old = q.stack.remove(0);
            q.queued.remove(&old);
        }
        drop(q);
        self.shared.ready.notify_one();
    }
}

/// Paths of up to [`WINDOW`] subdirectories of `dir` from position `from` on.
fn subdirs<'a>(
    dir: &'a [u8],
    idx: &'a DirIndex,
    from: usize,
) -> impl DoubleEndedIterator<Item = Vec<u8>> + 'a {
    idx.order
        .iter()
        .skip(from)
        .filter(|n| idx.entries[*n].kind == FileType::Directory)
        .take(WINDOW)
        .map(|n| sys::join(dir, n))
        .collect::<Vec<_>>()
        .into_iter()
}

fn work(stack: &LowerStack, shared: &Shared) {
    loop {
        let path = {
            let mut q = shared.queue.lock().unwrap();
            loop {
                if q.closed {
                    return;
                }
                if let Some(p) = q.stack.pop() {
                    q.queued.remove(&p);
                    break p;
                }
                q = shared.ready.wait(q).unwrap();
            }
        };
        if stack.cached(&path).is_some() {
            continue;
        }
        // Errors are the reader's to meet when it gets there.
        if let Ok(idx) = stack.dir(&path) {
            for name in &idx.order {
                // Unmount does not wait for a whole directory.
                if shared.queue.lock().unwrap().closed {
                    return;
                }
                let hit = &idx.entries[name];
                let _ = stack.layers[hit.layer].stat(&sys::join(&path, name));
            }
        }
    }
}

impl Drop for Readahead {
    /// Stops and joins the thread, so no layer is held open after unmount.
    fn drop(&mut self) {
        self.shared.queue.lock().unwrap().closed = true;
        self.shared.ready.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::{DirLower, Lower};
    use std::time::{Duration, Instant};

    fn wait_cached(stack: &LowerStack, path: &[u8]) -> bool {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if stack.cached(path).is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn listing_reads_ahead_children_and_following_siblings() {
        let t = tempfile::tempdir().unwrap();
        for l in ["l1", "l2"] {
            for d in ["a/x", "b", "c", "d"] {
                std::fs::create_dir_all(t.path().join(l).join(d)).unwrap();
            }
            std::fs::write(t.path().join(l).join("b/f"), "data").unwrap();
        }
        let layers: Vec<Box<dyn Lower>> = ["l1", "l2"]
            .iter()
            .map(|l| Box::new(DirLower::open(&t.path().join(l)).unwrap()) as Box<dyn Lower>)
            .collect();
        let stack = Arc::new(LowerStack::new(layers));
        let ra = Readahead::start(stack.clone());
        let root = stack.dir(b"").unwrap();
        assert!(stack.cached(b"a").is_none());
        ra.listed(b"", &root);
        for d in [&b"a"[..], b"b", b"c", b"d"] {
            assert!(
                wait_cached(&stack, d),
                "{} not read ahead",
                String::from_utf8_lossy(d)
            );
        }
        // A grandchild is only read once its parent is listed.
        assert!(stack.cached(b"a/x").is_none());
        let a = stack.cached(b"a").unwrap();
        ra.listed(b"a", &a);
        assert!(wait_cached(&stack, b"a/x"));
        // The merge read ahead is the one a lookup builds.
        let b = stack.cached(b"b").unwrap();
        assert_eq!(b.order, vec![b"f".to_vec()]);
        assert_eq!(b.entries[&b"f"[..]].layer, 0);
        drop(ra);
        assert_eq!(Arc::strong_count(&stack), 1, "thread let go of the layers");
    }
}
