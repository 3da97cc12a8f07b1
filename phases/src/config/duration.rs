//! Go-style durations as kubeadm's config files spell them (`24h0m0s`, `4m`, `1.5h`).

use std::time::Duration;

use anyhow::{Result, bail};

/// Parses a Go duration string such as `24h0m0s`, `90s` or `1h30m`.
pub fn parse(text: &str) -> Result<Duration> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        bail!("invalid duration {text:?}: expected a non-negative duration such as 24h0m0s or 90s");
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            bail!("invalid duration {text:?}: expected a number before each unit");
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid duration {text:?}: bad number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            "" => bail!("invalid duration {text:?}: missing unit (h, m, s, ms, us or ns)"),
            other => bail!("invalid duration {text:?}: unknown unit {other:?}"),
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a duration the way Go's `time.Duration.String` does for whole seconds: `24h0m0s`, `4m0s`, `30s`.
pub fn format(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("24h0m0s").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse("4m").unwrap(), Duration::from_secs(240));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "10", "5x", "h", "-1h", "1d"] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::from_secs(86400)), "24h0m0s");
        assert_eq!(format(Duration::from_secs(240)), "4m0s");
        assert_eq!(format(Duration::from_secs(87600 * 3600)), "87600h0m0s");
        assert_eq!(format(Duration::from_secs(30)), "30s");
    }
}
