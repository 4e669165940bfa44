//! The inode numbers the union shows (`st_ino`, readdir's `d_ino`), laid
//! out as kernel overlayfs lays them out. With every layer on one
//! filesystem a file shows its real inode number. With layers on several
//! filesystems the number is xino's: the high bits say which filesystem
//! the low bits come from (the upper's is 0), so two files of different
//! filesystems never share a number. FUSE gives every file the mount's
//! `st_dev`, so the kernel's other fallback (the layer's own `st_dev`) is
//! not open to us: a number that does not fit below those bits gets one
//! from a range of its own instead, as the kernel does for directories.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

pub struct InoSpace {
    /// `st_dev` of each filesystem the layers are on, by fsid: 0 is the
    /// upper's (reserved even without an upper, as in the kernel), then
    /// the lowers' in stacking order.
    devs: Vec<Option<u64>>,
    /// `st_dev` of each lower layer.
    lowers: Vec<u64>,
    /// High bits taken for the fsid plus the one that marks the range of
    /// numbers handed out here; 0 when every layer shares one filesystem.
    bits: u32,
    /// Numbers handed out for (device, inode) pairs that cannot be laid
    /// out: kept for the life of the mount, so they stay stable as long as
    /// the kernel can ask.
    assigned: DashMap<(u64, u64), u64>,
    next: AtomicU64,
}

impl InoSpace {
    /// `upper` and `lowers` (topmost first) are the layers' root `st_dev`.
    pub fn new(upper: Option<u64>, lowers: &[u64]) -> InoSpace {
        let mut devs = vec![upper];
        for &d in lowers {
            if !devs.contains(&Some(d)) {
                devs.push(Some(d));
            }
        }
        let filesystems = devs.len() - usize::from(upper.is_none());
        let bits = if filesystems <= 1 {
            0
        } else {
            // Enough bits for the largest fsid, plus one for our own range.
            (devs.len() - 1).ilog2() + 2
        };
        InoSpace {
            devs,
            lowers: lowers.to_vec(),
            bits,
            assigned: DashMap::new(),
            next: AtomicU64::new(1),
        }
    }

    /// The number shown for inode `ino` of the filesystem `dev`.
    pub fn map(&self, dev: u64, ino: u64) -> u64 {
        self.laid_out(dev, ino)
            .unwrap_or_else(|| self.assign(dev, ino))
    }

    /// Like [`InoSpace::map`], but `None` for a device no lower layer is
    /// on: a record of where a copy came from that no longer applies.
    pub fn map_lower(&self, dev: u64, ino: u64) -> Option<u64> {
        self.lowers.contains(&dev).then(|| self.map(dev, ino))
    }

    fn laid_out(&self, dev: u64, ino: u64) -> Option<u64> {
        let fsid = self.devs.iter().position(|d| *d == Some(dev))? as u64;
        if self.bits == 0 {
            return Some(ino);
        }
        let shift = 64 - self.bits;
        (ino >> shift == 0).then(|| ino | fsid << (shift + 1))
    }

    /// A number from our own range: below the fsid bits with only the
    /// lowest of them set, which no laid-out number has. With all layers on
    /// one filesystem there are no spare bits, and the top bit, which real
    /// inode numbers do not reach, marks the range instead.
    fn assign(&self, dev: u64, ino: u64) -> u64 {
        *self.assigned.entry((dev, ino)).or_insert_with(|| {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let shift = 64 - self.bits.max(1);
            n & (u64::MAX >> self.bits.max(1)) | 1 << shift
        })
    }
}

#[cfg(test)]
mod tests {
    use super::InoSpace;

    #[test]
    fn one_filesystem_shows_real_numbers() {
        let s = InoSpace::new(Some(7), &[7, 7]);
        assert_eq!(s.map(7, 12345), 12345);
        let s = InoSpace::new(None, &[9, 9]);
        assert_eq!(s.map(9, 42), 42);
        assert_eq!(s.map_lower(9, 42), Some(42));
        assert_eq!(s.map_lower(8, 42), None);
    }

    #[test]
    fn several_filesystems_use_xino_layout() {
        // As the kernel with xino=on: upper fsid 0, then lowers; 3 bits
        // for three filesystems (fsid up to 2, plus the overflow bit).
        let s = InoSpace::new(Some(1), &[2, 3, 2]);
        assert_eq!(s.map(1, 8), 8);
        assert_eq!(s.map(2, 4), 1 << 62 | 4);
        assert_eq!(s.map(3, 4), 2 << 62 | 4);
        assert_eq!(s.map_lower(3, 4), Some(2 << 62 | 4));
        assert_eq!(s.map_lower(99, 4), None);
    }

    #[test]
    fn numbers_that_do_not_fit_get_their_own_range() {
        let s = InoSpace::new(Some(1), &[2]);
        let big = 1 << 63 | 5;
        let a = s.map(2, big);
        let b = s.map(1, big);
        assert_ne!(a, b);
        assert_eq!(a, s.map(2, big), "stable for the life of the mount");
        assert_eq!(a >> 62, 1, "the overflow bit, fsid 0");
        let unknown = s.map(77, 5);
        assert!(![a, b, 5].contains(&unknown));
    }
}
