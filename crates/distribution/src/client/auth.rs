//! Registry authentication: the `WWW-Authenticate` challenge, Basic
//! credentials, and Docker's Bearer token flow (a token endpoint trades
//! credentials, or nothing, for a token good for some scopes).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

use super::error::{chain, Error, Result};

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({})", self.username)
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let b = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password));
        format!("Basic {b}")
    }
}

/// What a registry asked for in its 401.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// Scopes the registry said the request needs.
        scopes: Vec<String>,
        /// `error="insufficient_scope"`: the token lacked a scope.
        insufficient: bool,
    },
}

impl Challenge {
    /// Parses a `WWW-Authenticate` value (`Bearer realm="…",service="…"`).
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let params = parse_params(rest);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: params.get("realm")?.clone(),
                service: params.get("service").cloned(),
                scopes: params
                    .get("scope")
                    .map(|s| {
                        s.split(' ')
                            .filter(|x| !x.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
                insufficient: params.get("error").map(String::as_str) == Some("insufficient_scope"),
            }),
            _ => None,
        }
    }
}

/// `k="v", k2=v2` with quoted strings that may hold commas.
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    out
}

/// The token endpoint's answer (Docker's `token`, OAuth's `access_token`).
#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Tokens last 60 s unless the endpoint says otherwise (Docker's spec).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;

/// A registry's authentication state, shared by the threads of one pull
/// or push. One token covers every scope asked for so far, so a re-
/// challenge for a new scope (a mount's source repository, a token that
/// came back with less than asked) widens it instead of replacing it.
#[derive(Default)]
pub struct AuthState {
    pub challenge: Option<Challenge>,
    scopes: BTreeSet<String>,
    token: Option<(String, Instant, BTreeSet<String>)>,
}

impl AuthState {
    /// The `Authorization` value for a request needing `scopes`, fetching
    /// a token if the current one does not cover them.
    pub fn header(
        &mut self,
        http: &reqwest::blocking::Client,
        creds: Option<&Credentials>,
        scopes: &[String],
    ) -> Result<Option<String>> {
        match self.challenge.clone() {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(creds.map(Credentials::basic_header)),
            Some(Challenge::Bearer { realm, service, .. }) => {
                self.scopes.extend(scopes.iter().cloned());
                let fresh = self.token.as_ref().is_some_and(|(_, until, covered)| {
                    Instant::now() < *until && self.scopes.is_subset(covered)
                });
                if !fresh {
                    let token = fetch_token(http, creds, &realm, service.as_deref(), &self.scopes)?;
                    self.token = Some((token.0, token.1, self.scopes.clone()));
                }
                Ok(self.token.as_ref().map(|(t, ..)| format!("Bearer {t}")))
            }
        }
    }

    /// Takes in a 401's challenge. Returns false when retrying cannot help
    /// (the same challenge again after a token for every scope it names).
    pub fn on_challenge(&mut self, c: Challenge, had_auth: bool) -> bool {
        let progress = match &c {
            Challenge::Basic => !had_auth,
            Challenge::Bearer {
                scopes,
                insufficient,
                ..
            } => {
                let new = scopes.iter().any(|s| !self.scopes.contains(s));
                self.scopes.extend(scopes.iter().cloned());
                // The next request fetches a token for the widened set.
                self.token = None;
                !had_auth || new || *insufficient
            }
        };
        self.challenge = Some(c);
        progress
    }
}

/// GETs a token for `scopes` from `realm`, with Basic credentials if known.
pub fn fetch_token(
    http: &reqwest::blocking::Client,
    creds: Option<&Credentials>,
    realm: &str,
    service: Option<&str>,
    scopes: &BTreeSet<String>,
) -> Result<(String, Instant)> {
    let mut q: Vec<(&str, &str)> = Vec::new();
    if let Some(s) = service {
        q.push(("service", s));
    }
    for s in scopes {
        q.push(("scope", s));
    }
    let mut req = http.get(realm).query(&q);
    if let Some(c) = creds {
        req = req.header(reqwest::header::AUTHORIZATION, c.basic_header());
    }
    let resp = req
        .send()
        .map_err(|e| Error::msg(format!("token request to {realm}: {}", chain(&e))))?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(Error::msg(format!(
            "unauthorized: the token service {realm} refused {} ({status})",
            if creds.is_some() {
                "the username or password"
            } else {
                "anonymous access"
            }
        )));
    }
    if !status.is_success() {
        return Err(Error::msg(format!("token request to {realm}: {status}")));
    }
    let body = resp
        .bytes()
        .map_err(|e| Error::msg(format!("token request to {realm}: {}", chain(&e))))?;
    let t: TokenResponse = serde_json::from_slice(&body)
        .map_err(|e| Error::msg(format!("token from {realm}: {e}")))?;
    let token = t
        .token
        .or(t.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::msg(format!("token service {realm} returned no token")))?;
    // Renew a little early so a token never expires in flight.
    let life = t.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME).max(10);
    Ok((
        token,
        Instant::now() + Duration::from_secs(life - life / 10),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push repository:a/b:pull",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scopes: vec![
                    "repository:library/busybox:pull,push".into(),
                    "repository:a/b:pull".into()
                ],
                insufficient: true,
            }
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }
}
