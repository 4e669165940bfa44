//! `strata login` / `logout`: credentials are checked against the registry
//! before they are stored.

use super::auth::Credentials;
use super::credentials;
use super::error::Result;
use super::transport::{Options, Registry};

/// The registry a `login HOST` argument names: Docker Hub by default and
/// for its legacy URL; a scheme or path is dropped.
pub fn normalise_host(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        s => s.to_string(),
    }
}

/// Checks `creds` against `host` and stores them. Returns where they went.
pub fn login(host: &str, creds: Credentials, net: &Options) -> Result<String> {
    let reg = Registry::connect(host, net, Some(creds.clone()))?;
    reg.check_login()?;
    credentials::store(host, &creds)
}

/// Removes stored credentials; false when there were none.
pub fn logout(host: &str) -> Result<bool> {
    credentials::erase(host)
}
