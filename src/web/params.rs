//! Parsing of query-string parameters shared by the handlers. Every parser
//! answers a bad value with a message that names the parameter; nothing here
//! panics on any input.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use crate::filter::Filter;
use crate::query::{OrderBy, StatField};
use crate::rollup::Dimension;

use super::error::{ApiError, ApiResult};

/// Longest window any request may cover (a little over a year).
pub const MAX_SPAN_S: u64 = 400 * 86_400;
/// Latest time accepted (year 9999), so arithmetic on seconds can never overflow.
const MAX_TIME_S: u64 = 253_402_300_799;
/// Longest filter text accepted.
const MAX_FILTER_LEN: usize = 4096;

/// Longest query string accepted.
const MAX_QUERY_LEN: usize = 16 * 1024;

/// The raw query string, by name (the last value wins when a name repeats).
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().map_or(0, str::len) > MAX_QUERY_LEN {
            return Err(ApiError::bad(format!("the query string is longer than {MAX_QUERY_LEN} bytes")));
        }
        let Query(map) = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::bad(format!("query string: {}", e.body_text())))?;
        Ok(Params(map))
    }
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// `[from, to)` in UTC seconds: `range=24h` (ending now), or `from`/`to` as Unix seconds or
    /// RFC 3339 (`to` defaults to now); neither gives the last `default_span` seconds.
    pub fn window(&self, now_s: u64, default_span: u64) -> ApiResult<(u64, u64)> {
        let (from, to) = match (self.get("range"), self.get("from")) {
            (Some(_), Some(_)) => return Err(ApiError::bad("give either range or from/to, not both")),
            (Some(range), None) => {
                let to = match self.get("to") {
                    Some(t) => parse_time("to", t)?,
                    None => now_s,
                };
                let span = parse_duration("range", range)?;
                (to.saturating_sub(span), to)
            }
            (None, Some(from)) => {
                let to = match self.get("to") {
                    Some(t) => parse_time("to", t)?,
                    None => now_s,
                };
                (parse_time("from", from)?, to)
            }
            (None, None) => {
                if self.get("to").is_some() {
                    return Err(ApiError::bad("to needs from (or range)"));
                }
                (now_s.saturating_sub(default_span), now_s)
            }
        };
        if from >= to {
            return Err(ApiError::bad(format!("from ({from}) must be before to ({to})")));
        }
        if to - from > MAX_SPAN_S {
            return Err(ApiError::bad(format!("the window may cover at most {} days", MAX_SPAN_S / 86_400)));
        }
        Ok((from, to))
    }

    pub fn unit(&self) -> ApiResult<Unit> {
        match self.get("unit").unwrap_or("bits") {
            "bits" | "bps" => Ok(Unit::Bits),
            "packets" | "pps" => Ok(Unit::Packets),
            "flows" | "fps" => Ok(Unit::Flows),
            other => Err(ApiError::bad(format!("unit {other:?}: use bits, packets or flows"))),
        }
    }

    pub fn order(&self) -> ApiResult<OrderBy> {
        match self.get("order").unwrap_or("bytes") {
            "flows" => Ok(OrderBy::Flows),
            "packets" => Ok(OrderBy::Packets),
            "bytes" => Ok(OrderBy::Bytes),
            "pps" => Ok(OrderBy::Pps),
            "bps" => Ok(OrderBy::Bps),
            "bpp" => Ok(OrderBy::Bpp),
            other => {
                Err(ApiError::bad(format!("order {other:?}: use flows, packets, bytes, pps, bps or bpp")))
            }
        }
    }

    pub fn dimension(&self) -> ApiResult<Dimension> {
        let name = self.get("dimension").ok_or_else(|| ApiError::bad("dimension is required"))?;
        Dimension::ALL.into_iter().find(|d| d.as_str() == name).ok_or_else(|| {
            let names: Vec<&str> = Dimension::ALL.iter().map(|d| d.as_str()).collect();
            ApiError::bad(format!("dimension {name:?}: use one of {}", names.join(", ")))
        })
    }

    /// `dimensions=src_addr,dst_port,...` (or `all`): several drill-down tables at once.
    /// None when the parameter is absent.
    pub fn dimensions(&self) -> ApiResult<Option<Vec<Dimension>>> {
        let Some(list) = self.get("dimensions") else { return Ok(None) };
        if list == "all" {
            return Ok(Some(Dimension::ALL.to_vec()));
        }
        let mut out = Vec::new();
        for name in list.split(',').map(str::trim) {
            let d = Dimension::ALL.into_iter().find(|d| d.as_str() == name).ok_or_else(|| {
                let names: Vec<&str> = Dimension::ALL.iter().map(|d| d.as_str()).collect();
                ApiError::bad(format!("dimensions: {name:?} is not one of {} (or all)", names.join(", ")))
            })?;
            if out.contains(&d) {
                return Err(ApiError::bad(format!("dimensions: {name:?} given twice")));
            }
            out.push(d);
        }
        Ok(Some(out))
    }

    /// `name` as a count in `1..=max`, `default` when absent.
    pub fn limit(&self, name: &str, default: usize, max: usize) -> ApiResult<usize> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad(format!("{name} {v:?}: use a whole number from 1 to {max}"))),
            },
        }
    }

    /// The compiled `filter` (nfdump syntax); absent or empty means everything.
    pub fn filter(&self) -> ApiResult<Filter> {
        match self.get("filter") {
            None => Ok(Filter::any()),
            Some(text) if text.len() > MAX_FILTER_LEN => {
                Err(ApiError::bad(format!("filter is longer than {MAX_FILTER_LEN} characters")))
            }
            Some(text) => Ok(Filter::compile(text)?),
        }
    }

    pub fn csv(&self) -> ApiResult<bool> {
        match self.get("format").unwrap_or("json") {
            "json" => Ok(false),
            "csv" => Ok(true),
            other => Err(ApiError::bad(format!("format {other:?}: use json or csv"))),
        }
    }

    pub fn profile(&self) -> ApiResult<&str> {
        self.get("profile").ok_or_else(|| ApiError::bad("profile is required"))
    }
}

/// What the overview graphs: bits, packets or flows per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Bits,
    Packets,
    Flows,
}

pub fn stat_field(d: Dimension) -> StatField {
    match d {
        Dimension::SrcAddr => StatField::SrcIp,
        Dimension::DstAddr => StatField::DstIp,
        Dimension::SrcPort => StatField::SrcPort,
        Dimension::DstPort => StatField::DstPort,
        Dimension::Protocol => StatField::Proto,
        Dimension::Exporter => StatField::Exporter,
        Dimension::InIf => StatField::InIf,
        Dimension::OutIf => StatField::OutIf,
        Dimension::SrcAs => StatField::SrcAs,
        Dimension::DstAs => StatField::DstAs,
    }
}

pub fn now_s() -> u64 {
    now_ms() / 1000
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Unix seconds or RFC 3339 (`2026-11-29T10:00:00Z`).
pub fn parse_time(name: &str, v: &str) -> ApiResult<u64> {
    let secs = if let Ok(n) = v.parse::<u64>() {
        n
    } else {
        match chrono::DateTime::parse_from_rfc3339(v) {
            Ok(t) if t.timestamp() >= 0 => t.timestamp() as u64,
            _ => {
                return Err(ApiError::bad(format!(
                    "{name} {v:?}: use Unix seconds or RFC 3339 (2026-11-29T10:00:00Z)"
                )))
            }
        }
    };
    if secs > MAX_TIME_S {
        return Err(ApiError::bad(format!("{name} {v:?} is after the year 9999")));
    }
    Ok(secs)
}

/// `90m`, `6h`, `7d`, `2w` or plain seconds.
pub fn parse_duration(name: &str, v: &str) -> ApiResult<u64> {
    let bad = || ApiError::bad(format!("{name} {v:?}: use a duration such as 1h, 6h, 24h, 7d or 30d"));
    let (digits, mult) = match v.char_indices().last() {
        Some((i, 'm')) => (&v[..i], 60),
        Some((i, 'h')) => (&v[..i], 3600),
        Some((i, 'd')) => (&v[..i], 86_400),
        Some((i, 'w')) => (&v[..i], 7 * 86_400),
        Some((_, c)) if c.is_ascii_digit() => (v, 1),
        _ => return Err(bad()),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    match n.checked_mul(mult) {
        Some(s) if s > 0 && s <= MAX_SPAN_S => Ok(s),
        Some(0) => Err(bad()),
        _ => Err(ApiError::bad(format!("{name} {v:?} is longer than {} days", MAX_SPAN_S / 86_400))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn windows() {
        let now = 1_800_000_000;
        assert_eq!(params(&[("range", "6h")]).window(now, 3600).unwrap(), (now - 6 * 3600, now));
        assert_eq!(params(&[]).window(now, 3600).unwrap(), (now - 3600, now));
        assert_eq!(params(&[("from", "100"), ("to", "400")]).window(now, 1).unwrap(), (100, 400));
        assert_eq!(
            params(&[("from", "2026-11-29T10:00:00Z"), ("to", "2026-11-29T12:00:00+01:00")])
                .window(now, 1)
                .unwrap(),
            (1_795_946_400, 1_795_950_000)
        );
    }

    #[test]
    fn bad_windows_are_refused() {
        let now = 1_800_000_000;
        for bad in [
            vec![("from", "400"), ("to", "100")],
            vec![("from", "x")],
            vec![("range", "0h")],
            vec![("range", "99999999999999999999d")],
            vec![("range", "1y")],
            vec![("range", "1h"), ("from", "1")],
            vec![("to", "5")],
            vec![("from", "0"), ("to", "99999999999999")],
            vec![("from", "1"), ("to", "100000000")],
        ] {
            assert!(params(&bad).window(now, 3600).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("r", "90m").unwrap(), 5400);
        assert_eq!(parse_duration("r", "30d").unwrap(), 30 * 86_400);
        assert_eq!(parse_duration("r", "120").unwrap(), 120);
        assert!(parse_duration("r", "h").is_err());
        assert!(parse_duration("r", "é").is_err());
        assert!(parse_duration("r", "").is_err());
    }

    #[test]
    fn limits_and_enums() {
        assert_eq!(params(&[("limit", "20")]).limit("limit", 10, 100).unwrap(), 20);
        assert_eq!(params(&[]).limit("limit", 10, 100).unwrap(), 10);
        assert!(params(&[("limit", "0")]).limit("limit", 10, 100).is_err());
        assert!(params(&[("limit", "101")]).limit("limit", 10, 100).is_err());
        assert!(params(&[("limit", "-1")]).limit("limit", 10, 100).is_err());
        assert_eq!(params(&[("unit", "packets")]).unit().unwrap(), Unit::Packets);
        assert!(params(&[("unit", "furlongs")]).unit().is_err());
        assert_eq!(params(&[("dimension", "dst_port")]).dimension().unwrap(), Dimension::DstPort);
        assert!(params(&[("dimension", "nope")]).dimension().is_err());
        assert!(params(&[]).dimension().is_err());
        let ds = params(&[("dimensions", "dst_port,src_addr")]).dimensions().unwrap().unwrap();
        assert_eq!(ds, vec![Dimension::DstPort, Dimension::SrcAddr]);
        assert_eq!(
            params(&[("dimensions", "all")]).dimensions().unwrap().unwrap().len(),
            Dimension::ALL.len()
        );
        assert!(params(&[("dimensions", "dst_port,nope")]).dimensions().is_err());
        assert!(params(&[("dimensions", "dst_port,dst_port")]).dimensions().is_err());
        assert_eq!(params(&[]).dimensions().unwrap(), None);
    }
}
