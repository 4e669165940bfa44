//! Image references, normalised as Docker does: `busybox` is
//! `docker.io/library/busybox:latest`, a first component with a `.` or `:`
//! or equal to `localhost` is a registry host, `@sha256:` pins a digest.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::Error;

const DEFAULT_DOMAIN: &str = "docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";

/// A fully normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// `docker.io/library/busybox`: the repository without tag or digest.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The registry host (`docker.io`, `host:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The same repository at `tag` (no digest).
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository pinned to `digest` (no tag).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The repository as Docker prints it (`busybox`, `user/app`,
    /// `host:5000/app`).
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix(OFFICIAL_PREFIX)
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.repository()
        }
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Adds the default `latest` tag when the reference has neither tag nor
    /// digest, as `docker pull`/`tag` do.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// Familiar `repo:tag` (as `docker images` would print it), if tagged.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

impl fmt::Display for Reference {
    /// The fully qualified form, which is also how tags are keyed in the db.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+ separated by '.', '_', '__' or runs of '-'.
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut prev_sep = String::new();
    for &ch in b {
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            prev_sep.clear();
        } else if matches!(ch, b'.' | b'_' | b'-') {
            prev_sep.push(ch as char);
            let ok = prev_sep == "."
                || prev_sep == "_"
                || prev_sep == "__"
                || prev_sep.bytes().all(|c| c == b'-');
            if !ok {
                return false;
            }
        } else {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-'))
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(s: &str) -> Result<Reference, Error> {
        let bad = |why| Error::InvalidReference(s.to_string(), why);
        if s.is_empty() {
            return Err(bad("empty reference"));
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d.parse::<Digest>()?)),
            None => (s, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => {
                let t = &name[last_slash + i + 1..];
                if !valid_tag(t) {
                    return Err(bad("invalid tag"));
                }
                (&name[..last_slash + i], Some(t.to_string()))
            }
            None => (name, None),
        };
        let (domain, mut path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        let domain = if domain == "index.docker.io" {
            DEFAULT_DOMAIN.to_string()
        } else {
            domain
        };
        if !valid_domain(&domain) {
            return Err(bad("invalid registry host"));
        }
        if name.bytes().any(|c| c.is_ascii_uppercase())
            && !domain.bytes().any(|c| c.is_ascii_uppercase())
        {
            return Err(bad("repository name must be lowercase"));
        }
        if domain == DEFAULT_DOMAIN && !path.contains('/') {
            path = format!("{OFFICIAL_PREFIX}{path}");
        }
        if !path.split('/').all(valid_path_component) {
            return Err(bad("invalid repository name"));
        }
        if domain.len() + path.len() + 1 > 255 {
            return Err(bad("repository name too long"));
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        s.parse::<Reference>()
            .unwrap()
            .with_default_tag()
            .to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("user/app:1.0"), "docker.io/user/app:1.0");
        assert_eq!(full("host:5000/ns/name:tag"), "host:5000/ns/name:tag");
        assert_eq!(full("localhost/x"), "localhost/x:latest");
        assert_eq!(
            full("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            full(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        let r: Reference = "host:5000/ns/name:tag".parse().unwrap();
        assert_eq!(r.familiar(), "host:5000/ns/name:tag");
        let r: Reference = "docker.io/library/busybox:1".parse().unwrap();
        assert_eq!(r.familiar(), "busybox:1");
    }

    #[test]
    fn rejects_invalid() {
        for s in [
            "",
            "UPPER",
            "a//b",
            "a:",
            "-a",
            "a@sha256:12",
            "a:b:c/d",
            "x/y:bad tag",
        ] {
            assert!(s.parse::<Reference>().is_err(), "{s} accepted");
        }
    }
}
