//! Directory listings: the upper directory merged over the lower stack's
//! index, whiteouts and opaque directories applied.

use std::collections::HashSet;
use std::io;

use fuser::FileType;

use crate::handles::DirEntry;
use crate::inode::{Key, Node};
use crate::lower::{kind_of_dtype, kind_of_mode};
use crate::sys;
use crate::union::UnionFs;

impl UnionFs {
    /// The node `..` of directory `node` names: the parent its path goes
    /// through (the root's is the root).
    pub(crate) fn parent_id(&self, node: &Node) -> u64 {
        let parent = node.state.lock().links.first().map(|l| l.0);
        parent.filter(|&p| p != 0).unwrap_or(node.ino)
    }

    /// The merged listing of a directory node, with `.` and `..` first.
    /// Entries carry the inode numbers they show (readdir's `d_ino`), taken
    /// now: a listing may be read on after a name in it is removed.
    pub(crate) fn list_dir(&self, node: &Node) -> io::Result<Vec<DirEntry>> {
        let _g = self.tree.read();
        let (upper, lower, opaque) = {
            let s = node.state.lock();
            (s.upper, s.lower, s.opaque)
        };
        let path = self.path_of(node.ino)?;
        let mut out = vec![
            DirEntry {
                ino: self.inodes.shown(node.ino),
                kind: FileType::Directory,
                name: b".".to_vec(),
            },
            DirEntry {
                ino: self.inodes.shown(self.parent_id(node)),
                kind: FileType::Directory,
                name: b"..".to_vec(),
            },
        ];
        let lower_idx = if lower.is_some() && !(upper && opaque) {
            let idx = self.lowers.dir(&path)?;
            self.readahead.listed(&path, &idx);
            Some(idx)
        } else {
            None
        };
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        if upper {
            let up = self.upper()?;
            let (real, whiteouts) = up.list(&path)?;
            for w in whiteouts {
                seen.insert(w);
            }
            for d in real {
                let st_kind = kind_of_dtype(d.dtype).map_or_else(
                    || {
                        up.at(&sys::join(&path, &d.name))
                            .and_then(|a| a.lstat())
                            .map(|s| kind_of_mode(s.st_mode))
                    },
                    Ok,
                )?;
                let hit = lower_idx.as_ref().and_then(|i| i.entries.get(&d.name));
                let ukey = Key::real(up.dev, d.ino);
                let p = sys::join(&path, &d.name);
                let own = || self.upper_shown(&p, d.ino, st_kind);
                let id = match hit {
                    Some(h) if st_kind == FileType::Directory && h.kind == FileType::Directory => {
                        // The same id lookup gives, unless the upper copy is
                        // opaque (then it is a new directory).
                        if up.is_opaque(&p)? {
                            self.inodes.ino_for(ukey, own)
                        } else {
                            self.merged_dir_ino(ukey, self.lower_key(h, &p), h)
                        }
                    }
                    _ => self.inodes.ino_for(ukey, own),
                };
                seen.insert(d.name.clone());
                out.push(DirEntry {
                    ino: self.inodes.shown(id),
                    kind: st_kind,
                    name: d.name,
                });
            }
        }
        if let Some(idx) = lower_idx {
            for name in &idx.order {
                if seen.contains(name) {
                    continue;
                }
                let h = &idx.entries[name];
                let id = self
                    .inodes
                    .ino_for(self.lower_key(h, &sys::join(&path, name)), || {
                        self.lower_shown(h)
                    });
                out.push(DirEntry {
                    ino: self.inodes.shown(id),
                    kind: h.kind,
                    name: name.clone(),
                });
            }
        }
        Ok(out)
    }
}
