//! The registry client: `pull`, `push`, `login`, `logout`. Transport and
//! authentication are per registry ([`transport::Registry`]); pull and
//! push drive the store through layerstore's API.

pub mod auth;
mod blob_reader;
pub mod credentials;
mod error;
pub mod login;
pub mod platform;
mod progress;
pub mod pull;
pub mod push;
mod registry_api;
pub mod transport;

pub use error::{Error, Result};
pub use transport::Options;
