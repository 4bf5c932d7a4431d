//! The wall clock against the monotonic clock. Every event brings both; between two events
//! they advance alike, unless the wall clock was stepped (NTP after a late sync, an
//! operator's `date -s`, a VM restored) or the machine was suspended (the monotonic clock
//! stops then). Log lines carry the wall clock, so a step moves their stamps and may move
//! them to another day's file: the engine says so once per step, with its size.

use super::Now;
use crate::logline;

/// Smallest difference between the two clocks' advance that counts as a step (NTP slews
/// smaller errors, at most 0.5 ms per second).
pub const STEP_MS: u64 = 1_000;

/// How the operator's line about a step begins.
pub const SAID: &str = "wall clock stepped";

/// The wall clock's step between two readings of both clocks (`last`, then `now`): the
/// wall clock's advance minus the monotonic clock's, in ms (forward > 0), if at least
/// [`STEP_MS`] either way.
pub fn step(last: Now, now: Now) -> Option<i64> {
    let mono = i64::try_from(now.mono.saturating_sub(last.mono)).unwrap_or(i64::MAX);
    let step = now.wall.saturating_sub(last.wall).saturating_sub(mono);
    (step.unsigned_abs() >= STEP_MS).then_some(step)
}

/// What the operator is told of a step of `step` ms found at `now` (see [`step`]):
/// `wall clock stepped 2 h 0 min forward: ...`.
pub fn said(step: i64, now: Now) -> String {
    let expected = now.wall.saturating_sub(step);
    let mut text = format!(
        "{SAID} {}: the monotonic clock makes it {}, the wall clock says {}; \
         log lines carry the wall clock",
        size_and_direction(step),
        timestamp(expected),
        timestamp(now.wall),
    );
    if logline::day_number(expected) != logline::day_number(now.wall) {
        text.push_str(&format!(
            ", from now on in the file of {}",
            logline::day_string(now.wall)
        ));
    }
    if step > 0 {
        text.push_str(" (or this machine was suspended that long)");
    }
    text
}

/// `2 h 0 min forward`, `4.2 s back`.
pub fn size_and_direction(step: i64) -> String {
    let direction = if step > 0 { "forward" } else { "back" };
    format!("{} {direction}", size(step.unsigned_abs()))
}

/// `4.2 s`, `3 min 5 s`, `2 h 0 min`, `3 d 2 h`, to the nearest of its last unit: the
/// two clocks are read a moment apart, so a step of 2 h measures a few ms either side.
fn size(ms: u64) -> String {
    const MIN: u64 = 60_000;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    let near = |unit: u64| ms.saturating_add(unit / 2) / unit * unit;
    if near(100) < MIN {
        let ms = near(100);
        format!("{}.{} s", ms / 1000, ms % 1000 / 100)
    } else if near(1000) < HOUR {
        let ms = near(1000);
        format!("{} min {} s", ms / MIN, ms % MIN / 1000)
    } else if near(MIN) < DAY {
        let ms = near(MIN);
        format!("{} h {} min", ms / HOUR, ms % HOUR / MIN)
    } else {
        let ms = near(HOUR);
        format!("{} d {} h", ms / DAY, ms % DAY / HOUR)
    }
}

fn timestamp(wall: i64) -> String {
    let mut s = String::with_capacity(24);
    logline::write_timestamp(&mut s, wall);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        logline::parse_timestamp(s).unwrap()
    }

    #[test]
    fn a_step_is_the_wall_clocks_advance_beyond_the_monotonic_clocks() {
        let last = Now::ms(10_000, at("2026-12-03T22:30:00.000Z"));
        // Both clocks a minute on: no step, whatever the gap between events.
        assert_eq!(
            step(last, Now::ms(70_000, at("2026-12-03T22:31:00.000Z"))),
            None
        );
        // Jitter and slewing below a second: no step.
        assert_eq!(
            step(last, Now::ms(70_000, at("2026-12-03T22:31:00.999Z"))),
            None
        );
        assert_eq!(
            step(last, Now::ms(70_000, at("2026-12-03T22:30:59.001Z"))),
            None
        );
        assert_eq!(
            step(last, Now::ms(70_000, at("2026-12-03T22:31:01.000Z"))),
            Some(1_000)
        );
        assert_eq!(
            step(last, Now::ms(11_000, at("2026-12-04T00:30:01.000Z"))),
            Some(7_200_000)
        );
        assert_eq!(
            step(last, Now::ms(10_500, at("2026-12-03T20:30:00.500Z"))),
            Some(-7_200_000)
        );
        // A monotonic reading older than the last (an earlier pass's): no wrap.
        assert_eq!(
            step(last, Now::ms(9_000, at("2026-12-03T22:30:00.000Z"))),
            None
        );
        assert_eq!(step(last, Now::ms(u64::MAX, i64::MIN)), Some(i64::MIN));
    }

    #[test]
    fn the_operator_reads_the_size_the_direction_and_the_file() {
        let now = Now::ms(11_000, at("2026-12-04T00:30:01.000Z"));
        assert_eq!(
            said(7_200_000, now),
            "wall clock stepped 2 h 0 min forward: the monotonic clock makes it \
             2026-12-03T22:30:01.000Z, the wall clock says 2026-12-04T00:30:01.000Z; log lines \
             carry the wall clock, from now on in the file of 2026-12-04 (or this machine was \
             suspended that long)"
        );
        let now = Now::ms(11_000, at("2026-12-03T22:29:56.800Z"));
        assert_eq!(
            said(-4_200, now),
            "wall clock stepped 4.2 s back: the monotonic clock makes it \
             2026-12-03T22:30:01.000Z, the wall clock says 2026-12-03T22:29:56.800Z; log lines \
             carry the wall clock"
        );
        assert_eq!(size(185_000), "3 min 5 s");
        // Either side of a round step, as two clocks read a moment apart measure it.
        assert_eq!(size(7_199_998), "2 h 0 min");
        assert_eq!(size(7_200_003), "2 h 0 min");
        assert_eq!(size(59_960), "1 min 0 s");
        assert_eq!(size(4_249), "4.2 s");
        assert_eq!(size(4_250), "4.3 s");
        assert_eq!(size(3 * 86_400_000 + 2 * 3_600_000 + 5), "3 d 2 h");
        assert_eq!(size(u64::MAX), "213503982334 d 14 h");
    }
}
