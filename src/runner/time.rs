//! Timestamps as docker writes them (RFC 3339 with nanoseconds, UTC) and
//! the human durations of `ps` ("Up 5 minutes", "Exited (0) 2 hours ago").

use crate::image::human;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// docker's zero time, shown for never-started containers.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// Parses what [`rfc3339`] wrote; `None` for empty or the zero time.
pub fn parse(s: &str) -> Option<SystemTime> {
    if s.is_empty() || s == ZERO_TIME {
        return None;
    }
    humantime::parse_rfc3339(s).ok()
}

/// Seconds since the epoch of `s` (0 when unset).
pub fn unix_seconds(s: &str) -> i64 {
    parse(s)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// How long ago `s` was, in docker's words ("5 seconds", "About a minute").
pub fn since(s: &str, now: SystemTime) -> String {
    let d = parse(s)
        .and_then(|t| now.duration_since(t).ok())
        .unwrap_or(Duration::ZERO);
    human::duration(d)
}

/// `--since` / `--until` values: RFC 3339, unix seconds, or a duration
/// relative to now ("10m", "1h30m").
pub fn parse_since(s: &str, now: SystemTime) -> Option<SystemTime> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs >= 0.0 {
            return Some(UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    if let Ok(d) = humantime::parse_duration(s) {
        return now.checked_sub(d);
    }
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_since() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let s = rfc3339(t);
        assert_eq!(s, "2023-11-14T22:13:20.123456789Z");
        assert_eq!(parse(&s), Some(t));
        assert_eq!(parse(ZERO_TIME), None);
        assert_eq!(unix_seconds(&s), 1_700_000_000);
        let now = t + Duration::from_secs(5);
        assert_eq!(parse_since("5s", now), Some(t));
        assert_eq!(
            parse_since("1700000000", now),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert!(parse_since("2023-11-14T22:13:20Z", now).is_some());
        assert!(parse_since("soon", now).is_none());
    }
}
