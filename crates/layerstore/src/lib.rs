//! The strata image store: blobs, a file-level content-addressed object pool,
//! per-layer indexes and image metadata. See DESIGN.md for the on-disk layout
//! and [`layout`] for the directory tree.
//!
//! Entry points: [`Store::open`], then [`archive`] (load, save), [`rootfs`]
//! (import, export), [`images`] (images, rmi, tag, inspect, history),
//! [`gc`] (system df, prune), [`fsck`], and the read API in [`view`] that a
//! union filesystem serves an image from without extracting it.

pub mod archive;
pub mod blobs;
pub mod changes;
pub mod commit;
pub mod compression;
pub mod db;
pub mod digest;
pub mod display;
pub mod error;
pub mod escape;
pub mod fsck;
pub mod gc;
pub mod images;
pub mod index;
pub mod layout;
pub mod objects;
pub mod origins;
mod pax;
mod progress;
pub mod rebuild;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod store;
mod tarimport;
pub mod view;

pub use digest::Digest;
pub use error::{Error, Result};
pub use index::{Entry, Kind, LayerIndex};
pub use reference::Reference;
pub use store::Store;
