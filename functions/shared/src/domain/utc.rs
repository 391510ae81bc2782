//! EventBridge's event times (`YYYY-MM-DDThh:mm:ssZ`, UTC, optional fraction) in epoch
//! milliseconds, without a date-time crate.

/// `None` for anything that is not such a time.
pub fn parse_ms(t: &str) -> Option<u64> {
    let b = t.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    // Digits only (`u64::from_str` would take a sign).
    let num = |r: std::ops::Range<usize>| {
        let digits = t.get(r)?;
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse::<u64>().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &t[19..];
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(f) => f.split_at(f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len())),
        None => ("", rest),
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days_in_month = match mo {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if zone != "Z"
        || (rest.starts_with('.') && frac.is_empty())
        || y < 1970
        || !(1..=12).contains(&mo)
        || !(1..=days_in_month).contains(&d)
        || h > 23
        || mi > 59
        || s > 60
    {
        return None;
    }
    let ms = frac
        .get(..frac.len().min(3))
        .map(|f| format!("{f:0<3}"))
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(0);
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's algorithm.
    let (y, mo) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

/// A moment as an operator types it (`rotate-token audit --since`): `YYYY-MM-DDThh:mmZ`,
/// or with seconds and a fraction as [`parse_ms`] takes them; UTC only (`Z`), so that a
/// moment means the same in every shell. `None` for anything else.
pub fn parse_instant(t: &str) -> Option<u64> {
    let t = t.trim();
    match t.len() {
        // Minutes only: 2026-01-04T10:00Z.
        17 if t.ends_with('Z') => parse_ms(&format!("{}:00Z", &t[..16])),
        _ => parse_ms(t),
    }
}

/// Epoch milliseconds as `YYYY-MM-DDThh:mm:ssZ` (UTC), the form [`parse_ms`] reads.
pub fn format_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // The civil date from days since 1970-01-01, Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operators_moment_is_read_to_the_minute_or_the_second_in_utc_only() {
        let minute = parse_instant("2026-01-04T10:00Z").unwrap();
        assert_eq!(parse_instant("2026-01-04T10:00:00Z"), Some(minute));
        assert_eq!(format_ms(minute), "2026-01-04T10:00:00Z");
        assert_eq!(
            parse_instant("2026-01-04T10:00:30.5Z"),
            Some(minute + 30_500)
        );
        for bad in [
            "yesterday",
            "0000-01-01T00:00Z",
            "2026-02-31T10:00Z",
            "2026-+1-04T10:00Z",
            "2026-01-04T10:00:00.Z",
            "2026-01-04",
            "2026-01-04T10:00",
            "2026-01-04T10:00+01:00",
            "2026-13-04T10:00Z",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn formatting_reads_back_the_same_moment() {
        for t in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2026-12-06T04:20:00Z",
            "2100-03-01T00:00:00Z",
        ] {
            assert_eq!(format_ms(parse_ms(t).unwrap()), t);
        }
    }
}
