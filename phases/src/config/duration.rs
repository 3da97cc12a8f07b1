//! Go-style durations as kubeadm's config files and flags spell them (`24h0m0s`, `4m`, `1.5h`),
//! read with the rules of Go's `time.ParseDuration`: units ns, us (µs, μs), ms, s, m, h; a number
//! may have a fraction (`.5h`, `1.h`); the sum is whole nanoseconds and at most
//! 2562047h47m16.854775807s (a signed 64-bit count), beyond which kubeadm refuses it too.

use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};

/// The longest duration Go (and so kubeadm) accepts, in nanoseconds: `i64::MAX`.
const MAX_NANOS: u64 = i64::MAX as u64;

/// How Go prints [`MAX_NANOS`].
pub const MAX_TEXT: &str = "2562047h47m16.854775807s";

/// Parses a non-negative Go duration such as `24h0m0s`, `90s` or `1h30m`.
pub fn parse(text: &str) -> Result<Duration> {
    let (negative, nanos) = parse_signed(text)?;
    if negative && nanos > 0 {
        bail!("invalid duration {text:?}: expected a non-negative duration such as 24h0m0s or 90s");
    }
    Ok(Duration::from_nanos(nanos))
}

/// Parses a Go duration that may carry a sign: whether it is negative, and its size in
/// nanoseconds (at most [`MAX_NANOS`], or one more when negative, as in Go).
pub fn parse_signed(text: &str) -> Result<(bool, u64)> {
    let invalid = |why: &str| anyhow::anyhow!("invalid duration {text:?}: {why}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok((negative, 0));
    }
    if rest.is_empty() {
        return Err(invalid(
            "expected a duration such as 24h0m0s or 90s (units h, m, s, ms, us, ns)",
        ));
    }
    let limit = if negative { MAX_NANOS + 1 } else { MAX_NANOS };
    let too_long = || {
        anyhow::anyhow!(
            "invalid duration {text:?}: longer than {MAX_TEXT}, the longest duration kubeadm accepts (kubeadm: time: invalid duration {text:?})"
        )
    };
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        let whole_len = digits(rest);
        let whole = &rest[..whole_len];
        rest = &rest[whole_len..];
        let mut fraction = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let len = digits(after_dot);
            fraction = &after_dot[..len];
            rest = &after_dot[len..];
        } else if whole_len == 0 {
            return Err(invalid("expected a number before each unit"));
        }
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid("expected a number before each unit"));
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit: u64 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(invalid("missing unit (h, m, s, ms, us or ns)")),
            other => return Err(invalid(&format!("unknown unit {other:?}"))),
        };
        rest = &rest[unit_len..];
        // Digits past u128's reach add nothing a nanosecond can show; Go drops them too.
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_long())?
        };
        let kept = &fraction[..fraction.len().min(30)];
        let part = if kept.is_empty() {
            0
        } else {
            let numerator: u128 = kept.parse().map_err(|_| too_long())?;
            numerator * u128::from(unit) / 10u128.pow(kept.len() as u32)
        };
        let nanos = whole
            .checked_mul(u128::from(unit))
            .and_then(|n| n.checked_add(part))
            .and_then(|n| n.checked_add(u128::from(total)))
            .filter(|n| *n <= u128::from(limit))
            .ok_or_else(too_long)?;
        total = u64::try_from(nanos).map_err(|_| too_long())?;
    }
    Ok((negative, total))
}

/// `start + length`, refused when the sum is past what a clock can say (it never is for a
/// duration kubeadm accepts, but a sum must not panic).
pub fn later(start: SystemTime, length: Duration) -> Result<SystemTime> {
    start
        .checked_add(length)
        .with_context(|| format!("{} after now is past the end of time", format(length)))
}

/// Formats a duration the way Go's `time.Duration.String` does for whole seconds: `24h0m0s`,
/// `4m0s`, `30s`; under a second, in milliseconds (`300ms`).
pub fn format(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 && d.subsec_millis() > 0 {
        return format!("{}ms", d.subsec_millis());
    }
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
        assert_eq!(parse(".5h").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse("1.h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("+90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse("-0").unwrap(), Duration::ZERO);
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("3µs2μs1us").unwrap(), Duration::from_micros(6));
        assert_eq!(parse("1.000000001s").unwrap(), Duration::new(1, 1));
        assert_eq!(
            parse("0.1234567890123456789012345678901234567890s").unwrap(),
            Duration::from_nanos(123_456_789)
        );
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in [
            "", "10", "5x", "h", "-1h", "1d", ".", ".s", "1h 2m", " 1h", "1e3s", "+",
        ] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
        assert_eq!(parse_signed("-1h").unwrap(), (true, 3_600_000_000_000));
    }

    #[test]
    fn the_longest_duration_is_go_s() {
        assert_eq!(
            parse(MAX_TEXT).unwrap(),
            Duration::from_nanos(i64::MAX as u64)
        );
        assert_eq!(
            parse("9223372036854775807ns").unwrap().as_nanos(),
            i64::MAX as u128
        );
        assert_eq!(
            parse_signed("-9223372036854775808ns").unwrap().1,
            MAX_NANOS + 1
        );
        for over in [
            "2562047h47m16.854775808s",
            "9223372036854775808ns",
            "2562048h",
            "99999999999999999999h",
            "1e400h",
            &format!("{}h", "9".repeat(400)),
            "2562047h2562047h",
        ] {
            let err = parse(over).map(|_| ()).unwrap_err().to_string();
            assert!(
                err.contains("longer than 2562047h47m16.854775807s")
                    || err.contains("unknown unit"),
                "{over}: {err}"
            );
        }
    }

    #[test]
    fn sums_with_a_clock_are_checked() {
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 40);
        assert!(later(far, Duration::from_secs(u64::MAX)).is_err());
        assert!(later(SystemTime::UNIX_EPOCH, parse(MAX_TEXT).unwrap()).is_ok());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::from_secs(86400)), "24h0m0s");
        assert_eq!(format(Duration::from_secs(240)), "4m0s");
        assert_eq!(format(Duration::from_secs(87600 * 3600)), "87600h0m0s");
        assert_eq!(format(Duration::from_secs(30)), "30s");
    }
}
