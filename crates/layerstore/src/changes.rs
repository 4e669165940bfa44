//! `import --change`: the Dockerfile instructions `docker commit`/`import`
//! accept, applied to the `config` object of an image config (Docker's
//! JSON keys, so `OnBuild` and `Healthcheck`, which the OCI spec lacks,
//! survive).

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

/// Applies one `--change` line to `config`.
pub fn apply(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let bad = |why: &str| Error::BadChange(change.to_string(), why.to_string());
    let change_t = change.trim();
    let (instr, rest) = change_t
        .split_once(char::is_whitespace)
        .unwrap_or((change_t, ""));
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(bad("missing arguments"));
    }
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.insert("Cmd".into(), json!(command(rest)));
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), json!(command(rest)));
        }
        "ENV" => {
            let env = array(config, "Env");
            for (k, v) in pairs(rest).map_err(&bad)? {
                let prefix = format!("{k}=");
                env.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&prefix)));
                env.push(json!(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let labels = object(config, "Labels");
            for (k, v) in pairs(rest).map_err(&bad)? {
                labels.insert(k, json!(v));
            }
        }
        "EXPOSE" => {
            let ports = object(config, "ExposedPorts");
            for p in rest.split_whitespace() {
                let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                let valid = !num.is_empty()
                    && num.split('-').all(|n| n.parse::<u16>().is_ok())
                    && matches!(proto, "tcp" | "udp" | "sctp");
                if !valid {
                    return Err(bad(&format!("invalid port {p:?}")));
                }
                ports.insert(format!("{num}/{proto}"), json!({}));
            }
        }
        "USER" => {
            config.insert("User".into(), json!(rest));
        }
        "WORKDIR" => {
            if !rest.starts_with('/') {
                return Err(bad("WORKDIR must be an absolute path"));
            }
            config.insert("WorkingDir".into(), json!(rest));
        }
        "VOLUME" => {
            let vols = object(config, "Volumes");
            let list = serde_json::from_str::<Vec<String>>(rest)
                .unwrap_or_else(|_| rest.split_whitespace().map(String::from).collect());
            for v in list {
                vols.insert(v, json!({}));
            }
        }
        "ONBUILD" => array(config, "OnBuild").push(json!(rest)),
        "HEALTHCHECK" => {
            config.insert(
                "Healthcheck".into(),
                healthcheck(rest).map_err(|e| bad(&e))?,
            );
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), json!(rest));
        }
        _ => return Err(bad("unsupported instruction")),
    }
    Ok(())
}

/// Exec form (a JSON array) or shell form (`/bin/sh -c ...`).
fn command(s: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(s)
        .unwrap_or_else(|_| vec!["/bin/sh".into(), "-c".into(), s.into()])
}

fn array<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let v = config.entry(key).or_insert_with(|| json!([]));
    if !v.is_array() {
        *v = json!([]);
    }
    v.as_array_mut().expect("just made an array")
}

fn object<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = config.entry(key).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    v.as_object_mut().expect("just made an object")
}

/// `k=v k2="v 2"` pairs, or the legacy single `k v` form.
fn pairs(s: &str) -> std::result::Result<Vec<(String, String)>, &'static str> {
    let first = s.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = s
            .split_once(char::is_whitespace)
            .ok_or("expected KEY=VALUE or KEY VALUE")?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err("expected KEY=VALUE");
        }
        let mut val = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            match (quote, c) {
                (None, c) if c.is_whitespace() => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => {
                    chars.next();
                    if let Some(n) = chars.peek() {
                        val.push(*n);
                    }
                }
                _ => val.push(c),
            }
            chars.next();
        }
        if quote.is_some() {
            return Err("unterminated quote");
        }
        out.push((key, val));
    }
    Ok(out)
}

/// Go-style duration (`30s`, `1m30s`, `500ms`) in nanoseconds.
fn duration_ns(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while chars.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            unit.push(chars.next()?);
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
    }
    num.is_empty().then_some(total as i64)
}

fn healthcheck(s: &str) -> std::result::Result<Value, String> {
    if s.eq_ignore_ascii_case("NONE") {
        return Ok(json!({ "Test": ["NONE"] }));
    }
    let mut hc = Map::new();
    let mut rest = s;
    while let Some(opt) = rest.strip_prefix("--") {
        let (flag, after) = opt
            .split_once(char::is_whitespace)
            .ok_or("HEALTHCHECK needs CMD")?;
        let (name, value) = flag
            .split_once('=')
            .ok_or(format!("option --{flag} needs a value"))?;
        let key = match name {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => "Retries",
            _ => return Err(format!("unknown HEALTHCHECK option --{name}")),
        };
        let v = if key == "Retries" {
            json!(value
                .parse::<u32>()
                .map_err(|_| format!("invalid --retries {value:?}"))?)
        } else {
            json!(duration_ns(value).ok_or(format!("invalid duration {value:?}"))?)
        };
        hc.insert(key.into(), v);
        rest = after.trim_start();
    }
    let cmd = rest
        .strip_prefix("CMD")
        .or_else(|| rest.strip_prefix("cmd"))
        .ok_or("HEALTHCHECK needs CMD or NONE")?
        .trim();
    let test = match serde_json::from_str::<Vec<String>>(cmd) {
        Ok(args) => std::iter::once("CMD".to_string()).chain(args).collect(),
        Err(_) => vec!["CMD-SHELL".to_string(), cmd.to_string()],
    };
    hc.insert("Test".into(), json!(test));
    Ok(Value::Object(hc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(changes: &[&str]) -> Value {
        let mut m = Map::new();
        for c in changes {
            apply(&mut m, c).unwrap();
        }
        Value::Object(m)
    }

    #[test]
    fn applies_docker_instructions() {
        let c = run(&[
            "CMD [\"/bin/sh\", \"-c\", \"echo hi\"]",
            "ENTRYPOINT /entry.sh",
            "ENV A=1 B=\"two words\"",
            "ENV C 3",
            "ENV A=9",
            "EXPOSE 80 53/udp",
            "LABEL a=b",
            "USER 1000:1000",
            "WORKDIR /app",
            "VOLUME [\"/data\"]",
            "ONBUILD RUN true",
            "HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://x/",
        ]);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/entry.sh"]));
        assert_eq!(c["Env"], json!(["B=two words", "C=3", "A=9"]));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"a": "b"}));
        assert_eq!(c["User"], json!("1000:1000"));
        assert_eq!(c["WorkingDir"], json!("/app"));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["OnBuild"], json!(["RUN true"]));
        assert_eq!(
            c["Healthcheck"],
            json!({"Interval": 30_000_000_000i64, "Retries": 3, "Test": ["CMD-SHELL", "curl -f http://x/"]})
        );
    }

    #[test]
    fn rejects_bad_changes() {
        let mut m = Map::new();
        for c in [
            "FROM x",
            "CMD",
            "EXPOSE http",
            "WORKDIR rel",
            "HEALTHCHECK --interval=x CMD a",
        ] {
            assert!(apply(&mut m, c).is_err(), "{c} accepted");
        }
    }
}
