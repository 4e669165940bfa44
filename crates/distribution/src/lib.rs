//! The OCI distribution protocol for strata: a registry client (`pull`,
//! `push`, `login`) and a registry server (`strata serve`), both over the
//! same store. Module map in README.md.

pub mod client;
pub mod manifest;
pub mod names;
pub mod server;
