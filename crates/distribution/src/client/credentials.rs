//! Registry credentials where users already have them: Docker's
//! `config.json` (`auths`, `credHelpers`, `credsStore`), then podman's and
//! skopeo's `auth.json` files. `login` writes Docker's format (or hands
//! the secret to the configured helper); the file is written 0600,
//! atomically.

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::auth::Credentials;
use super::error::{Error, Result};

/// Docker Hub's key in `auths`, as `docker login` writes it.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The key a registry host is stored under.
fn key_for(host: &str) -> &str {
    if host == "docker.io" {
        DOCKER_HUB_KEY
    } else {
        host
    }
}

/// The host an `auths` key names: keys may carry a scheme and a path
/// (`https://index.docker.io/v1/`, `http://host:5000`), as Docker accepts.
fn key_host(key: &str) -> &str {
    let k = key.split_once("://").map_or(key, |(_, rest)| rest);
    let k = k.split('/').next().unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        k => k,
    }
}

/// Docker's client configuration: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn docker_config_path() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => PathBuf::from(d).join("config.json"),
        None => home().join(".docker/config.json"),
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// podman's and skopeo's files, in their lookup order.
fn containers_auth_paths() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        v.push(PathBuf::from(p));
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
        v.push(PathBuf::from(d).join("containers/auth.json"));
    }
    v.push(home().join(".config/containers/auth.json"));
    v
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::msg(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::msg(format!("reading {}: {e}", path.display()))),
    }
}

/// `auths[…].auth` (base64 `user:pass`) for `host` in a config document.
fn from_auths(doc: &Value, host: &str, path: &Path) -> Result<Option<Credentials>> {
    let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let entry = auths.get(key_for(host)).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| key_host(k) == host)
            .map(|(_, v)| v)
    });
    let Some(entry) = entry else {
        return Ok(None);
    };
    let bad = |why: &str| Error::msg(format!("{}: credentials for {host}: {why}", path.display()));
    if let Some(a) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.trim())
            .map_err(|_| bad("auth is not base64"))?;
        let s = String::from_utf8(raw).map_err(|_| bad("auth is not UTF-8"))?;
        let (u, p) = s
            .split_once(':')
            .ok_or_else(|| bad("auth is not user:password"))?;
        return Ok(Some(Credentials {
            username: u.into(),
            password: p.into(),
        }));
    }
    // Older configs keep the two fields apart.
    match (
        entry.get("username").and_then(Value::as_str),
        entry.get("password").and_then(Value::as_str),
    ) {
        (Some(u), Some(p)) => Ok(Some(Credentials {
            username: u.into(),
            password: p.into(),
        })),
        _ => Ok(None),
    }
}

/// The helper configured for `host` (`credHelpers`, else `credsStore`).
fn helper_for(doc: &Value, host: &str) -> Option<String> {
    let per_host = doc
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|h| h.iter().find(|(k, _)| key_host(k) == host).map(|(_, v)| v));
    per_host
        .or_else(|| doc.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// Runs `docker-credential-NAME ACTION` with `input` on stdin.
fn run_helper(name: &str, action: &str, input: &[u8]) -> Result<(bool, Vec<u8>)> {
    let prog = format!("docker-credential-{name}");
    let mut child = Command::new(&prog)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::msg(format!("credential helper {prog}: {e}")))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .map_err(|e| Error::msg(format!("credential helper {prog}: {e}")))?;
    let out = child
        .wait_with_output()
        .map_err(|e| Error::msg(format!("credential helper {prog}: {e}")))?;
    let mut text = out.stdout;
    if !out.status.success() {
        text.extend_from_slice(&out.stderr);
    }
    Ok((out.status.success(), text))
}

/// Credentials for `host` from the first place that has them.
pub fn lookup(host: &str) -> Result<Option<Credentials>> {
    let docker = docker_config_path();
    if let Some(doc) = read_json(&docker)? {
        if let Some(helper) = helper_for(&doc, host) {
            let (ok, out) = run_helper(&helper, "get", key_for(host).as_bytes())?;
            if ok {
                let v: Value = serde_json::from_slice(&out)
                    .map_err(|e| Error::msg(format!("credential helper {helper}: {e}")))?;
                let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                return Ok(Some(Credentials {
                    username: field("Username"),
                    password: field("Secret"),
                }));
            }
            // "credentials not found": fall through to the files.
        }
        if let Some(c) = from_auths(&doc, host, &docker)? {
            return Ok(Some(c));
        }
    }
    for p in containers_auth_paths() {
        if let Some(doc) = read_json(&p)? {
            if let Some(c) = from_auths(&doc, host, &p)? {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

/// Stores credentials for `host`: through the configured helper if there
/// is one, else in `auths` of Docker's config. Returns where they went.
pub fn store(host: &str, c: &Credentials) -> Result<String> {
    let path = docker_config_path();
    let mut doc = read_json(&path)?.unwrap_or_else(|| json!({}));
    if let Some(helper) = helper_for(&doc, host) {
        let input =
            json!({"ServerURL": key_for(host), "Username": c.username, "Secret": c.password});
        let (ok, out) = run_helper(&helper, "store", input.to_string().as_bytes())?;
        if !ok {
            return Err(Error::msg(format!(
                "credential helper docker-credential-{helper}: {}",
                String::from_utf8_lossy(&out).trim()
            )));
        }
        return Ok(format!("docker-credential-{helper}"));
    }
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
    let obj = as_object(&mut doc, &path)?;
    let auths = obj.entry("auths").or_insert_with(|| json!({}));
    let auths = auths
        .as_object_mut()
        .ok_or_else(|| Error::msg(format!("{}: auths is not an object", path.display())))?;
    // One entry per host: drop other spellings of the same key.
    auths.retain(|k, _| key_host(k) != host);
    auths.insert(key_for(host).to_string(), json!({ "auth": auth }));
    write_config(&path, &doc)?;
    Ok(path.display().to_string())
}

/// Removes `host`'s credentials from Docker's config and its helper.
/// Returns false when there were none.
pub fn erase(host: &str) -> Result<bool> {
    let path = docker_config_path();
    let Some(mut doc) = read_json(&path)? else {
        return Ok(false);
    };
    let mut found = false;
    if let Some(helper) = helper_for(&doc, host) {
        let (ok, _) = run_helper(&helper, "erase", key_for(host).as_bytes())?;
        found |= ok;
    }
    let obj = as_object(&mut doc, &path)?;
    if let Some(auths) = obj.get_mut("auths").and_then(Value::as_object_mut) {
        let before = auths.len();
        auths.retain(|k, _| key_host(k) != host);
        if auths.len() != before {
            found = true;
            write_config(&path, &doc)?;
        }
    }
    Ok(found)
}

fn as_object<'a>(doc: &'a mut Value, path: &Path) -> Result<&'a mut Map<String, Value>> {
    doc.as_object_mut()
        .ok_or_else(|| Error::msg(format!("{}: not a JSON object", path.display())))
}

/// Writes the config through a 0600 temporary file renamed into place:
/// it holds secrets, and a crash must not leave half of it.
fn write_config(path: &Path, doc: &Value) -> Result<()> {
    let io = |what: &str, e: std::io::Error| Error::msg(format!("{what} {}: {e}", path.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io("creating the directory of", e))?;
    let mut tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| io("creating a temporary file for", e))?;
    let mut text = serde_json::to_string_pretty(doc).expect("JSON values serialise");
    text.push('\n');
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| io("writing", e))?;
    tmp.persist(path)
        .map_err(|e| io("renaming into", e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_hosts() {
        assert_eq!(key_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(key_host("http://127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(key_host("host:5000/v2/"), "host:5000");
        assert_eq!(key_for("docker.io"), DOCKER_HUB_KEY);
    }
}
