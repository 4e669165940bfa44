//! HTTP Basic authentication against an htpasswd file of bcrypt hashes
//! (`htpasswd -B`), as docker-registry's `htpasswd` auth. bcrypt is slow
//! by design, so a successful check is remembered (by a sha256 of the
//! credentials, never the password) and later requests cost a hash lookup.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine;
use sha2::{Digest as _, Sha256};

/// Remembered successful logins; cleared when full.
const MAX_CACHED: usize = 1024;

pub struct Htpasswd {
    users: HashMap<String, String>,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl Htpasswd {
    /// Reads `user:bcrypt-hash` lines; blank lines and `#` comments are
    /// skipped; any other hash kind is refused (they are weak or unsalted).
    pub fn load(path: &Path) -> anyhow::Result<Htpasswd> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line.split_once(':').ok_or_else(|| {
                anyhow::anyhow!("{} line {}: expected user:hash", path.display(), i + 1)
            })?;
            if !["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p)) {
                anyhow::bail!(
                    "{} line {}: user {user:?} has no bcrypt hash (create it with htpasswd -B)",
                    path.display(),
                    i + 1
                );
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Whether an `Authorization` header value names a known user with the
    /// right password. Blocking (bcrypt) on a cache miss.
    pub fn check(self: &Arc<Self>, authorization: Option<&str>) -> bool {
        let Some(creds) = authorization
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
        else {
            return false;
        };
        let key: [u8; 32] = Sha256::digest(&creds).into();
        if self.verified.lock().expect("auth cache").contains(&key) {
            return true;
        }
        let Ok(creds) = std::str::from_utf8(&creds) else {
            return false;
        };
        let Some((user, pass)) = creds.split_once(':') else {
            return false;
        };
        let ok = self
            .users
            .get(user)
            .is_some_and(|h| bcrypt::verify(pass, h).unwrap_or(false));
        if ok {
            let mut cache = self.verified.lock().expect("auth cache");
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(key);
        }
        ok
    }
}
