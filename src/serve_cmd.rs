//! `strata serve`: the store as an OCI registry (crate `distribution`,
//! module `server`). Parses flags and runs until killed.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use distribution::server::{self, Config};

/// Serve the store over the OCI distribution API (docker, podman, skopeo
/// and strata push to and pull from it)
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:5000")]
    addr: SocketAddr,
    /// TLS certificate chain (PEM); with --tls-key serves HTTPS
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require HTTP Basic auth from users in this htpasswd file (bcrypt, `htpasswd -B`)
    #[arg(long)]
    htpasswd: Option<PathBuf>,
    /// Refuse every push and delete (403 DENIED)
    #[arg(long)]
    read_only: bool,
    /// Largest blob one upload may carry, in bytes (suffixes K, M, G, T: powers of 1024)
    #[arg(long, default_value = "64G", value_parser = parse_size)]
    max_upload_size: u64,
    /// Seconds after which an idle upload session is dropped
    #[arg(long, default_value_t = 900)]
    upload_timeout: u64,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (num, shift) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("unknown size suffix {c:?}")),
            };
            (&s[..i], shift)
        }
        _ => (s, 0),
    };
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("size {s:?} too large"))
}

pub fn run(root: Option<PathBuf>, args: ServeArgs) -> anyhow::Result<i32> {
    let root = root.unwrap_or_else(layerstore::Store::default_root);
    let tls = args.tls_cert.zip(args.tls_key);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let config = Config {
        addr: args.addr,
        root: root.clone(),
        tls,
        htpasswd: args.htpasswd,
        read_only: args.read_only,
        max_upload: args.max_upload_size,
        upload_timeout: Duration::from_secs(args.upload_timeout),
    };
    server::serve(config, |addr| {
        // Scripts and tests read the address (port 0) from this line.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "serving {} on {scheme}://{addr}", root.display());
        let _ = out.flush();
    })?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("10"), Ok(10));
        assert_eq!(super::parse_size("2k"), Ok(2048));
        assert_eq!(super::parse_size("64G"), Ok(64 << 30));
        assert!(super::parse_size("1X").is_err());
        assert!(super::parse_size("G").is_err());
        assert!(super::parse_size("99999999999T").is_err());
    }
}
