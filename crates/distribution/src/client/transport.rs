//! One registry over HTTP: which scheme it speaks (HTTPS, or plain HTTP
//! where Docker's rule allows), its TLS trust (system roots plus Docker's
//! and podman's per-registry CA directories), authentication, and retries
//! with backoff for 5xx answers, timeouts and refused connections.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::auth::{AuthState, Challenge, Credentials};
use super::error::{chain, Error, Result};

/// Docker Hub's references say `docker.io`; its API lives here.
const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Docker's daemon configuration, read for its `insecure-registries`.
const DOCKER_DAEMON_JSON: &str = "/etc/docker/daemon.json";
/// Where Docker and podman keep per-registry CAs and client certificates.
const CERTS_DIRS: [&str; 2] = ["/etc/docker/certs.d", "/etc/containers/certs.d"];

/// Network settings shared by every registry of one command.
#[derive(Clone, Debug)]
pub struct Options {
    /// Registries (host[:port]) to reach over plain HTTP or unverified TLS.
    pub insecure: Vec<String>,
    /// Longest wait for a connection, an answer or the next bytes.
    pub timeout: Duration,
    /// Attempts after the first for a request that failed transiently.
    pub retries: u32,
    /// First backoff delay; doubled per attempt.
    pub backoff: Duration,
    pub certs_dirs: Vec<PathBuf>,
}

impl Options {
    /// `--insecure-registry` hosts plus Docker's `insecure-registries`
    /// (`/etc/docker/daemon.json`); the timeout from
    /// `$STRATA_REGISTRY_TIMEOUT` (seconds, default 30).
    pub fn new(insecure: Vec<String>) -> Options {
        let mut insecure = insecure;
        if let Ok(b) = std::fs::read(DOCKER_DAEMON_JSON) {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b) {
                let list = v.get("insecure-registries").and_then(|l| l.as_array());
                insecure.extend(
                    list.into_iter()
                        .flatten()
                        .filter_map(|h| h.as_str().map(String::from)),
                );
            }
        }
        let timeout = std::env::var("STRATA_REGISTRY_TIMEOUT")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .map_or(Duration::from_secs(30), Duration::from_secs_f64);
        Options {
            insecure,
            timeout,
            retries: 3,
            backoff: Duration::from_millis(500),
            certs_dirs: CERTS_DIRS.iter().map(PathBuf::from).collect(),
        }
    }
}

/// The key Docker's tools use for a registry host: `docker.io` is Docker
/// Hub, reached at its API host.
pub fn api_host(host: &str) -> &str {
    if host == "docker.io" {
        DOCKER_HUB_API
    } else {
        host
    }
}

/// Docker's rule: plain HTTP is tried only for loopback registries.
fn is_loopback(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return true;
    }
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One registry, reachable and with its authentication state.
pub struct Registry {
    /// As in references: `docker.io`, `host:5000`.
    host: String,
    /// `https://host` or `http://host`.
    base: String,
    http: Client,
    creds: Option<Credentials>,
    auth: Mutex<AuthState>,
    opts: Options,
}

/// A request to send: everything needed to send it again.
pub struct Req<'a> {
    pub method: Method,
    /// A path (`/v2/…`) or an absolute URL (an upload's `Location`).
    pub url: String,
    pub scopes: &'a [String],
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<bytes::Bytes>,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, url: impl Into<String>, scopes: &'a [String]) -> Req<'a> {
        Req {
            method,
            url: url.into(),
            scopes,
            headers: Vec::new(),
            body: None,
        }
    }
    pub fn header(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }
    pub fn body(mut self, b: impl Into<bytes::Bytes>) -> Self {
        self.body = Some(b.into());
        self
    }
}

fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // ring is the provider the workspace builds (no aws-lc); rustls
        // deprecates its constructor only for lacking post-quantum key
        // exchange. Another part of the process may have installed one.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Registry {
    /// Finds how to talk to `host`: HTTPS first; plain HTTP only for a
    /// loopback registry or one named insecure, when HTTPS fails. The
    /// ping's challenge, if any, is kept so the first request is sent
    /// authenticated.
    pub fn connect(host: &str, opts: &Options, creds: Option<Credentials>) -> Result<Registry> {
        install_crypto_provider();
        let insecure = opts.insecure.iter().any(|h| h == host);
        let http = client(host, opts, insecure)?;
        let api = api_host(host);
        let mut reg = Registry {
            host: host.to_string(),
            base: format!("https://{api}"),
            http,
            creds,
            auth: Mutex::new(AuthState::default()),
            opts: opts.clone(),
        };
        let fallback = insecure || is_loopback(host);
        // With a plain-HTTP fallback, a failed TLS handshake is an answer,
        // not a transient failure to retry.
        let tls_err = match reg.ping(if fallback { 0 } else { opts.retries }) {
            Ok(()) => return Ok(reg),
            Err(e) => e,
        };
        if !fallback {
            return Err(tls_err);
        }
        reg.base = format!("http://{api}");
        match reg.ping(opts.retries) {
            Ok(()) => {
                tracing::info!(host, "registry speaks plain HTTP");
                Ok(reg)
            }
            // The HTTPS failure is the informative one (a TLS server
            // answers plain HTTP with a 400).
            Err(_) => Err(tls_err),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// `GET /v2/`: 200, or 401 with the challenge to remember.
    fn ping(&self, retries: u32) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self.with_retries(&url, retries, || self.http.get(&url))?;
        match resp.status() {
            StatusCode::OK => Ok(()),
            StatusCode::UNAUTHORIZED => {
                let c = challenge(resp.headers());
                self.auth.lock().expect("auth lock").challenge = c;
                Ok(())
            }
            s => Err(Error::msg(format!(
                "{}: {url} answered {s}: not a registry (distribution API v2)",
                self.host
            ))),
        }
    }

    /// Checks that the credentials (or anonymous access) are accepted:
    /// `login`'s test. A Bearer registry must issue a token, a Basic one
    /// must answer `/v2/` with 200.
    pub fn check_login(&self) -> Result<()> {
        let resp = self.send(Req::new(Method::GET, "/v2/", &[]))?;
        match resp.status() {
            StatusCode::OK => Ok(()),
            StatusCode::UNAUTHORIZED => Err(Error::msg(format!(
                "unauthorized: {} refused the username or password",
                self.host
            ))),
            s => Err(Error::msg(format!("{}: /v2/ answered {s}", self.host))),
        }
    }

    /// Sends `req`, authenticating as the registry asks and retrying
    /// transient failures. Any final status is returned for the caller to
    /// judge, except that transport failures are errors.
    pub fn send(&self, req: Req) -> Result<Response> {
        let url = if req.url.starts_with('/') {
            format!("{}{}", self.base, req.url)
        } else {
            req.url.clone()
        };
        let mut auth_rounds = 0;
        loop {
            let header = self.auth.lock().expect("auth lock").header(
                &self.http,
                self.creds.as_ref(),
                req.scopes,
            )?;
            let resp = self.with_retries(&url, self.opts.retries, || {
                let mut b = self.http.request(req.method.clone(), &url);
                if let Some(h) = &header {
                    b = b.header(AUTHORIZATION, h);
                }
                for (k, v) in &req.headers {
                    b = b.header(*k, v);
                }
                if let Some(body) = &req.body {
                    b = b.body(body.clone());
                }
                b
            })?;
            if resp.status() != StatusCode::UNAUTHORIZED || auth_rounds == 2 {
                return Ok(resp);
            }
            auth_rounds += 1;
            let Some(c) = challenge(resp.headers()) else {
                return Ok(resp);
            };
            let retry = (c != Challenge::Basic || self.creds.is_some())
                && self
                    .auth
                    .lock()
                    .expect("auth lock")
                    .on_challenge(c, header.is_some());
            if !retry {
                return Ok(resp);
            }
        }
    }

    /// Sends what `build` makes, again after a backoff while the failure
    /// is transient (connection refused or reset, timeout, 5xx, 429).
    fn with_retries(
        &self,
        url: &str,
        retries: u32,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response> {
        let mut delay = self.opts.backoff;
        for attempt in 0.. {
            let last = attempt == retries;
            match build().send() {
                Ok(r)
                    if (r.status().is_server_error()
                        || r.status() == StatusCode::TOO_MANY_REQUESTS)
                        && !last =>
                {
                    tracing::info!(url, status = %r.status(), "retrying");
                }
                Ok(r) => return Ok(r),
                Err(e) if !last && (e.is_timeout() || e.is_connect() || is_reset(&e)) => {
                    tracing::info!(url, error = %chain(&e), "retrying");
                }
                Err(e) => return Err(Error::msg(format!("{}: {}", self.host, chain(&e)))),
            }
            std::thread::sleep(delay);
            delay *= 2;
        }
        unreachable!("the last attempt returns")
    }

    /// Time to wait before resuming a dropped download, by attempt.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.opts.backoff * 2u32.saturating_pow(attempt.min(6))
    }
}

/// A connection closed or reset under a request (not an HTTP answer).
fn is_reset(e: &reqwest::Error) -> bool {
    e.is_request() && !e.is_builder() && !e.is_redirect() && {
        let s = chain(e);
        s.contains("connection closed") || s.contains("reset") || s.contains("broken pipe")
    }
}

fn challenge(h: &HeaderMap) -> Option<Challenge> {
    h.get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(Challenge::parse)
        .next()
}

/// The HTTP client for `host`: rustls with the system roots and the
/// host's CA files; client certificates Docker-style (`client.cert` +
/// `client.key`); certificate checks off only for a registry named
/// insecure. Redirects (blob storage elsewhere) are followed up to 10
/// deep; reqwest drops the `Authorization` header when one leaves the host.
fn client(host: &str, opts: &Options, insecure: bool) -> Result<Client> {
    let mut b = Client::builder()
        .use_rustls_tls()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .redirect(reqwest::redirect::Policy::limited(10))
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
        .danger_accept_invalid_certs(insecure);
    for dir in &opts.certs_dirs {
        let dir = dir.join(host);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for p in &names {
            let ext = p.extension().and_then(|e| e.to_str());
            if ext == Some("crt") {
                for c in read_pem(p, reqwest::Certificate::from_pem_bundle)? {
                    b = b.add_root_certificate(c);
                }
            } else if ext == Some("cert") {
                let key = p.with_extension("key");
                let mut pem = read(p)?;
                pem.extend(read(&key)?);
                let id = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| Error::msg(format!("{}: {}", p.display(), chain(&e))))?;
                b = b.identity(id);
            }
        }
    }
    b.build()
        .map_err(|e| Error::msg(format!("{host}: building the HTTP client: {}", chain(&e))))
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| Error::msg(format!("reading {}: {e}", p.display())))
}

fn read_pem<T>(p: &Path, parse: impl Fn(&[u8]) -> reqwest::Result<T>) -> Result<T> {
    parse(&read(p)?).map_err(|e| Error::msg(format!("{}: {}", p.display(), chain(&e))))
}

/// Turns a registry's error answer into one line: the status and the
/// spec's `errors[].code`/`message` when the body has them.
pub fn registry_error(what: &str, resp: Response) -> Error {
    let status = resp.status();
    let mut body = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::Read::take(resp, 64 << 10), &mut body);
    let detail = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = v.get("errors")?.as_array()?.first()?.clone();
            let code = e
                .get("code")
                .and_then(|c| c.as_str())
                .unwrap_or("")
                .to_lowercase()
                .replace('_', " ");
            let msg = e
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("")
                .to_string();
            Some(if msg.is_empty() || msg == code {
                code
            } else {
                format!("{code}: {msg}")
            })
        });
    let reason = status.canonical_reason().unwrap_or("");
    // A HEAD answer has no body to say why.
    let detail = detail.or_else(|| {
        (status == StatusCode::UNAUTHORIZED)
            .then(|| "unauthorized: authentication required".to_string())
    });
    match detail {
        Some(d) => Error::msg(format!("{what}: {d} ({} {reason})", status.as_u16())),
        None => Error::msg(format!("{what}: {} {reason}", status.as_u16())),
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_rule() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.9.9.9",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1:5000",
            "docker.io",
            "localhost.example:5000",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
