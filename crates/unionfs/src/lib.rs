//! strata-fs: a copy-on-write union filesystem on FUSE that reads and writes
//! the kernel overlayfs on-disk format, so it can stand in for
//! fuse-overlayfs (and a kernel overlay mount of the same upper sees the same tree).
//!
//! Module map: [`lower`] layer sources, [`lowerindex`] the merged lower view,
//! [`readahead`] metadata readahead for walks,
//! [`upper`] the writable layer, [`whiteout`] the whiteout/opaque rules,
//! [`copyup`] copy-up, [`namespace`] create/remove/rename, [`dirs`] merged
//! listings, [`ids`] ownership and overrides, [`inode`] the inode table,
//! [`unlinked`] files the kernel holds after their last name went,
//! [`xino`] the inode numbers shown, [`origin`] where a copy-up came from,
//! [`fuse`] the kernel-facing glue, [`options`] the command line.

pub mod copyup;
pub mod dirs;
pub mod files;
pub mod fuse;
pub mod handles;
pub mod ids;
pub mod inode;
pub mod logging;
pub mod lower;
pub mod lowerindex;
pub mod mount;
pub mod namespace;
pub mod options;
pub mod origin;
pub mod readahead;
pub mod sys;
pub mod union;
pub mod unlinked;
pub mod upper;
pub mod whiteout;
pub mod xino;

pub use lower::{DirLower, Lower};
pub use union::{UnionConfig, UnionFs};
