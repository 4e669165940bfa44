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
    /// The merged listing of a directory node, with `.` and `..` first.
    pub(crate) fn list_dir(&self, node: &Node) -> io::Result<Vec<DirEntry>> {
        let _g = self.tree.read();
        let (upper, lower, opaque, parent) = {
            let s = node.state.lock();
            (s.upper, s.lower, s.opaque, s.links.first().map(|l| l.0))
        };
        let path = self.path_of(node.ino)?;
        let mut out = vec![
            DirEntry {
                ino: node.ino,
                kind: FileType::Directory,
                name: b".".to_vec(),
            },
            DirEntry {
                ino: parent.filter(|&p| p != 0).unwrap_or(node.ino),
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
                let ino = match hit {
                    Some(h) if st_kind == FileType::Directory && h.kind == FileType::Directory => {
                        // The same id lookup gives, unless the upper copy is
                        // opaque (then it is a new directory).
                        let p = sys::join(&path, &d.name);
                        if up.is_opaque(&p)? {
                            self.inodes.ino_for(ukey)
                        } else {
                            self.merged_dir_ino(ukey, self.lower_key(h, &p))
                        }
                    }
                    _ => self.inodes.ino_for(ukey),
                };
                seen.insert(d.name.clone());
                out.push(DirEntry {
                    ino,
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
                out.push(DirEntry {
                    ino: self
                        .inodes
                        .ino_for(self.lower_key(h, &sys::join(&path, name))),
                    kind: h.kind,
                    name: name.clone(),
                });
            }
        }
        Ok(out)
    }
}
