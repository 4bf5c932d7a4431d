//! Small text helpers shared by the report's outputs: timestamps, durations, percentages,
//! and escaping for JSON, CSV and XML.
//!
//! Integer arithmetic only: no floating point, so no float-formatting code is linked into
//! a binary meant for routers. Nothing here panics.

use crate::logline;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as in the logs ([`logline::write_timestamp`]).
pub fn timestamp(ms: i64) -> String {
    let mut s = String::with_capacity(24);
    logline::write_timestamp(&mut s, ms);
    s
}

/// Milliseconds of the UTC midnight that starts day number `day` (saturating).
pub fn day_start(day: i64) -> i64 {
    day.saturating_mul(logline::DAY_MS)
}

/// A duration for people, floored: `850 ms`, `5.2 s`, `12 min 5 s`, `3 h 05 min`,
/// `2 d 03 h`. Negative durations are shown as `0 ms`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    let (s, m, h, d) = (ms / 1000, ms / 60_000, ms / 3_600_000, ms / 86_400_000);
    if ms < 1000 {
        format!("{ms} ms")
    } else if s < 60 {
        format!("{s}.{} s", ms % 1000 / 100)
    } else if m < 60 {
        match s % 60 {
            0 => format!("{m} min"),
            rest => format!("{m} min {rest} s"),
        }
    } else if h < 24 {
        format!("{h} h {:02} min", m % 60)
    } else {
        format!("{d} d {:02} h", h % 24)
    }
}

/// [`duration`] of `ms` rounded, not floored, to the precision it is shown with (a
/// minute from an hour up, a second from a minute, a tenth below): for sizes measured
/// from noisy differences, such as a clock's skew.
pub fn duration_rounded(ms: i64) -> String {
    let ms = ms.max(0);
    let unit = if ms >= 3_599_500 {
        60_000
    } else if ms >= 59_950 {
        1000
    } else if ms >= 1000 {
        100
    } else {
        1
    };
    duration(ms.saturating_add(unit / 2) / unit * unit)
}

/// `part / whole` as a percentage with three decimals, floored (so any down time shows
/// below `100.000`): `99.993`. `None` when `whole` is not positive.
pub fn percent(part: i64, whole: i64) -> Option<String> {
    if whole <= 0 {
        return None;
    }
    let part = i128::from(part.clamp(0, whole));
    let milli = part * 100_000 / i128::from(whole); // 0..=100_000
    Some(format!("{}.{:03}", milli / 1000, milli % 1000))
}

/// `s` as a JSON string literal, quotes included.
pub fn json_str(s: &str) -> String {
    crate::json::string(s)
}

/// `s` as one CSV field: quoted (quotes doubled) when it holds `,`, `"` or a line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `s` escaped for XML text and attribute values.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Parses a time given on the command line: `now`, a date `YYYY-MM-DD` (its 00:00 UTC),
/// or a UTC time `YYYY-MM-DDTHH:MM`, `...:SS` or `...:SS.mmm`, each with or without a
/// final `Z`. The missing parts are filled with zeros and the result is read by the log
/// format's own parser ([`logline::parse_timestamp`]). `now_ms` is the value of `now`.
pub fn parse_cli_time(s: &str, now_ms: i64) -> Result<i64, String> {
    if s == "now" {
        return Ok(now_ms);
    }
    let bare = s.strip_suffix('Z').unwrap_or(s);
    const FULL: &str = "0000-00-00T00:00:00.000";
    let fill = match bare.len() {
        10 | 16 | 19 | 23 => FULL.get(bare.len()..).unwrap_or(""),
        _ => return Err(bad_time(s)),
    };
    logline::parse_timestamp(&format!("{bare}{fill}Z")).map_err(|_| bad_time(s))
}

fn bad_time(s: &str) -> String {
    format!("bad time {s:?}: expected now, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.mmm]][Z] (UTC)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (ms, text) in [
            (-5, "0 ms"),
            (0, "0 ms"),
            (999, "999 ms"),
            (1000, "1.0 s"),
            (5_299, "5.2 s"),
            (59_999, "59.9 s"),
            (60_000, "1 min"),
            (725_000, "12 min 5 s"),
            (3_600_000, "1 h 00 min"),
            (11_100_000, "3 h 05 min"),
            (86_400_000, "1 d 00 h"),
            (183_600_000, "2 d 03 h"),
        ] {
            assert_eq!(duration(ms), text, "{ms}");
        }
    }

    #[test]
    fn percentages_floor() {
        assert_eq!(percent(1, 1).as_deref(), Some("100.000"));
        assert_eq!(percent(0, 7).as_deref(), Some("0.000"));
        assert_eq!(percent(2, 3).as_deref(), Some("66.666"));
        assert_eq!(
            percent(31_535_999_999, 31_536_000_000).as_deref(),
            Some("99.999")
        );
        assert_eq!(percent(5, 0), None);
        assert_eq!(percent(i64::MAX, i64::MAX).as_deref(), Some("100.000"));
    }

    #[test]
    fn escaping() {
        assert_eq!(json_str("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b\"c"), "\"a,b\"\"c\"");
        assert_eq!(xml("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
    }

    #[test]
    fn cli_times() {
        let at = |s| logline::parse_timestamp(s).unwrap();
        assert_eq!(parse_cli_time("now", 42), Ok(42));
        assert_eq!(
            parse_cli_time("2026-11-23", 0),
            Ok(at("2026-11-23T00:00:00.000Z"))
        );
        assert_eq!(
            parse_cli_time("2026-11-23T20:09", 0),
            Ok(at("2026-11-23T20:09:00.000Z"))
        );
        assert_eq!(
            parse_cli_time("2026-11-23T20:09:25Z", 0),
            Ok(at("2026-11-23T20:09:25.000Z"))
        );
        assert_eq!(
            parse_cli_time("2026-11-23T20:09:25.940Z", 0),
            Ok(at("2026-11-23T20:09:25.940Z"))
        );
        for bad in [
            "",
            "yesterday",
            "2026-11-31",
            "2026-11-23T25:00",
            "2026-11-23 20:09",
        ] {
            assert!(parse_cli_time(bad, 0).is_err(), "{bad}");
        }
    }
}
