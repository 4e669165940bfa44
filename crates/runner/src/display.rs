//! Human-readable times and statuses as `docker ps` shows them.

use crate::lifecycle::Summary;
use crate::state::Status;

/// "3 seconds", "About a minute", "5 minutes", "About an hour", "2 hours", "3 days".
pub fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 172_800 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// Seconds from an RFC 3339 time until now.
fn since(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time).map_or(0, |t| {
        (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds()
    })
}

/// "5 minutes ago".
pub fn ago(time: &str) -> String {
    format!("{} ago", human_duration(since(time)))
}

/// The STATUS column of `ps`.
pub fn status(s: &Summary) -> String {
    match s.status {
        Status::Created => "Created".into(),
        Status::Running => format!(
            "Up {}",
            human_duration(since(s.started_at.as_deref().unwrap_or(&s.created)))
        ),
        Status::Exited => format!(
            "Exited ({}) {}",
            s.exit_code.unwrap_or(0),
            ago(s.finished_at.as_deref().unwrap_or(&s.created))
        ),
        Status::Dead => "Dead".into(),
    }
}

/// The PORTS column of `ps`: `127.0.0.1:8080->80/tcp, …`.
pub fn ports(s: &Summary) -> String {
    s.ports
        .iter()
        .map(|p| {
            format!(
                "{}:{}->{}/{}",
                p.host_ip, p.host_port, p.container_port, p.protocol
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(42), "42 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3 * 86_400), "3 days");
        assert!(ago(&crate::state::now()).ends_with(" ago"));
    }
}
