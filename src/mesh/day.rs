//! The log's days: the switch to a new UTC day's file with the counts carried over, and
//! the pruning of old day files.
//!
//! The engine alone decides when a day ends: when the UTC day of the wall clock changes
//! (checked on entry to every event and at least every [`DAY_CHECK_MS`]), a
//! [`LogRecord::NewDay`] carries the non-zero counts into the new file before anything
//! else is logged; the journal follows it.

use super::{Action, Engine, LogRecord, Now, Timer, clock};
use crate::logline;

/// Longest time between two checks of the wall clock's UTC day (an NTP step is noticed
/// within it).
pub const DAY_CHECK_MS: u64 = 60_000;

impl Engine {
    pub(super) fn schedule_day_check(&mut self, now: Now) {
        let wait = logline::ms_until_next_midnight(now.wall).min(DAY_CHECK_MS);
        self.wheel.schedule(now.mono + wait.max(1), Timer::DayCheck);
    }

    /// If the wall clock's UTC day changed, asks for the new day's file with every peer's
    /// non-zero count carried over. Called on entry to every event, before anything can
    /// change a count, so each carried count is the one the new file's next line for that
    /// peer continues from: every day's file reads on its own. A wall clock that stepped
    /// since the last event ([`clock::step`]) is said first, once.
    pub(super) fn roll_day(&mut self, now: Now) {
        // Before the day's switch: a step across midnight is said, then its new file.
        if let Some(step) = clock::step(self.last, now) {
            self.say(clock::said(step, now));
        }
        self.last = now;
        let day = logline::day_number(now.wall);
        if day == self.day {
            return;
        }
        self.day = day;
        let carried = self.carried();
        self.actions.push_back(Action::Log(LogRecord::NewDay {
            wall: now.wall,
            carried,
        }));
        self.prune_logs(now);
    }

    /// Peers with a non-zero count, by name, and that count (capped at the threshold).
    pub(super) fn carried(&self) -> Vec<(String, u32)> {
        let threshold = self.tracker.threshold();
        self.peer_indices()
            .filter_map(|p| {
                let n = self.tracker.timeouts(p).min(threshold);
                (n != 0).then(|| (self.name(p).to_string(), n))
            })
            .collect()
    }

    /// With `log_retention_days` set, asks the shell to delete the day files older than
    /// that: those of days strictly before `today - days` (so `days` = 7 keeps today's
    /// file and the 7 before it).
    pub(super) fn prune_logs(&mut self, now: Now) {
        if let Some(days) = self.settings.retention_days {
            let before_day = logline::day_number(now.wall).saturating_sub(i64::from(days));
            self.actions.push_back(Action::PruneLogs { before_day });
        }
    }
}
