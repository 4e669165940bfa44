//! Docker's ways of showing sizes and ages, shared by every command that
//! prints them so the CLI stays free of logic.

/// Decimal units as Docker prints them: `1.99MB`, `512B`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}B")
    } else {
        // Three significant digits, like Go's %.3g in docker/go-units.
        let decimals = if v >= 100.0 {
            0
        } else if v >= 10.0 {
            1
        } else {
            2
        };
        let s = format!("{v:.decimals$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            &s
        };
        format!("{s}{}", UNITS[u])
    }
}

/// `3 hours ago` for an RFC 3339 time; `N/A` when absent or unparsable.
pub fn human_age(rfc3339: Option<&str>) -> String {
    let Some(t) = rfc3339.and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()) else {
        return "N/A".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds();
    let (n, unit) = match secs {
        s if s < 1 => return "Less than a second ago".into(),
        s if s < 60 => (s, "second"),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86400 => (s / 3600, "hour"),
        s if s < 86400 * 14 => (s / 86400, "day"),
        s if s < 86400 * 60 => (s / (86400 * 7), "week"),
        s if s < 86400 * 365 * 2 => (s / (86400 * 30), "month"),
        s => (s / (86400 * 365), "year"),
    };
    if n == 1 {
        let article = if unit == "hour" { "An" } else { "A" };
        format!("{article} {unit} ago")
    } else {
        format!("{n} {unit}s ago")
    }
}

/// Left-aligned columns separated by three spaces, as Docker's tables.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1_986_560), "1.99MB");
        assert_eq!(human_size(4_300_000_000), "4.3GB");
        assert_eq!(human_size(10_000), "10kB");
        assert_eq!(human_age(None), "N/A");
        assert_eq!(
            human_age(Some("2001-01-01T00:00:00Z")).split(' ').nth(1),
            Some("years")
        );
    }
}
