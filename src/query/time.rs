//! Time windows as nfdump writes them (`-t 2026/11/29.10:00-2026/11/29.11:00`, local time),
//! ISO 8601, `--last 1h`, and printing times in local time or UTC.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Parses a duration like `90s`, `30m`, `1h`, `7d`, `2w` into milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .with_context(|| format!("bad duration {s:?}: expected a number and s, m, h, d or w, e.g. 1h"))?;
    let secs = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => bail!("bad duration {s:?}: the unit must be s, m, h, d or w (e.g. 30m, 1h, 7d)"),
    };
    n.checked_mul(secs * 1000).filter(|&v| v > 0).with_context(|| format!("bad duration {s:?}"))
}

/// Parses one point in time: nfdump's `yyyy/MM/dd[.hh[:mm[:ss]]]` (local time), or ISO 8601
/// `yyyy-MM-dd[Thh:mm[:ss]]` (local time, or UTC / an offset with a `Z` / `+hh:mm` suffix).
pub fn parse_time_ms(s: &str, utc: bool) -> Result<u64> {
    let s = s.trim();
    let bad = || format!("bad time {s:?}: use 2026/11/29.10:00[:00] or 2026-11-29T10:00[:00][Z]");
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return u64::try_from(t.timestamp_millis()).with_context(bad);
    }
    let (date, time) = match s.split_once(['.', 'T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let date = NaiveDate::parse_from_str(date, "%Y/%m/%d")
        .or_else(|_| NaiveDate::parse_from_str(date, "%Y-%m-%d"))
        .with_context(bad)?;
    let time = match time {
        None => NaiveTime::MIN,
        Some(t) => {
            let parts: Vec<&str> = t.split(':').collect();
            let num = |i: usize| -> Result<u32> {
                parts.get(i).map_or(Ok(0), |p| p.parse::<u32>().with_context(bad))
            };
            if parts.len() > 3 {
                bail!(bad());
            }
            NaiveTime::from_hms_opt(num(0)?, num(1)?, num(2)?).with_context(bad)?
        }
    };
    let naive = NaiveDateTime::new(date, time);
    let ms = if utc {
        Utc.from_utc_datetime(&naive).timestamp_millis()
    } else {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .with_context(|| format!("{s:?} does not exist in the local time zone (a DST gap?)"))?
            .timestamp_millis()
    };
    u64::try_from(ms).with_context(bad)
}

/// Parses a window `START-END` (nfdump style), `START--END` or `START..END` (any style), or just
/// `START` (until `now_ms`). Returns [from, to) in UTC ms.
pub fn parse_window(s: &str, utc: bool, now_ms: u64) -> Result<(u64, u64)> {
    let s = s.trim();
    let (a, b) = if let Some((a, b)) = s.split_once("--").or_else(|| s.split_once("..")) {
        (a, Some(b))
    } else if s.contains('/') {
        match s.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        }
    } else {
        (s, None)
    };
    let from = parse_time_ms(a, utc)?;
    let to = match b {
        Some(b) => parse_time_ms(b, utc)?,
        None => now_ms.max(from + 1),
    };
    if to <= from {
        bail!("bad time window {s:?}: the end must be after the start");
    }
    Ok((from, to))
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in local time or UTC.
pub fn format_ms(ms: u64, utc: bool) -> String {
    let t = DateTime::from_timestamp_millis(ms.min(i64::MAX as u64) as i64).unwrap_or_default();
    if utc {
        t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
    } else {
        t.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S%.3f").to_string()
    }
}

/// `YYYY-MM-DD HH:MM:SS` (as nfdump's CSV writes it).
pub fn format_s(ms: u64, utc: bool) -> String {
    let mut s = format_ms(ms, utc);
    s.truncate(19);
    s
}

/// A duration as nfdump prints it: `HH:MM:SS.mmm` (days prefixed when over 24 h).
pub fn format_duration(ms: u64) -> String {
    let (d, rem) = (ms / 86_400_000, ms % 86_400_000);
    let (h, m, s, f) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{s:02}.{f:03}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{f:03}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_in_every_accepted_spelling() {
        let want = (1_795_946_400_000, 1_795_950_000_000); // 10:00-11:00 UTC
        assert_eq!(parse_window("2026/11/29.10:00-2026/11/29.11:00", true, 0).unwrap(), want);
        assert_eq!(parse_window("2026/11/29.10:00:00-2026/11/29.11:00:00", true, 0).unwrap(), want);
        assert_eq!(parse_window("2026-11-29T10:00..2026-11-29T11:00", true, 0).unwrap(), want);
        assert_eq!(parse_window("2026-11-29T10:00:00Z--2026-11-29T12:00:00+01:00", false, 0).unwrap(), want);
        assert_eq!(parse_window("2026/11/29.10", true, want.1).unwrap(), want);
        assert!(parse_window("2026/11/29.11:00-2026/11/29.10:00", true, 0).is_err());
        assert!(parse_window("yesterday", true, 0).is_err());
        assert!(parse_window("2026/13/29", true, 0).is_err());
        assert!(parse_window("2026/11/29.25:00", true, 0).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("1h").unwrap(), 3_600_000);
        assert_eq!(parse_duration_ms("30m").unwrap(), 1_800_000);
        assert_eq!(parse_duration_ms("7d").unwrap(), 604_800_000);
        assert!(parse_duration_ms("1y").is_err());
        assert!(parse_duration_ms("h").is_err());
        assert!(parse_duration_ms("0s").is_err());
        assert!(parse_duration_ms("99999999999999999999d").is_err());
        assert_eq!(format_duration(4_000), "00:00:04.000");
        assert_eq!(format_duration(90_061_001), "1d 01:01:01.001");
        assert_eq!(format_ms(1_795_946_851_500, true), "2026-11-29 10:07:31.500");
    }
}
