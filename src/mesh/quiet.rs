//! Rate limits for the operator's lines that anyone can cause (strangers, floods, failed
//! handshakes) or that this machine's trouble can repeat: one limit per [`Topic`], so a
//! flood of one kind cannot hide a line of another.
//!
//! A topic's first line is said at once and opens a window of [`WINDOW_MS`]; lines of the
//! same topic within it are held back and counted. When the window ends with lines held
//! back, one summary says how many, and a new window opens (so a flood that goes on costs
//! one line a window); a window that ends with none held back closes, and the next line
//! is said at once again.

use super::{Engine, Now, Timer};

/// How long a topic stays quiet after a line.
pub const WINDOW_MS: u64 = 60_000;

/// A kind of operator line with its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    /// Every stranger's place was taken: the oldest stranger's connection was closed.
    SlotsFull,
    /// Connections from addresses that are no configured node's, closed.
    Strangers,
    /// Connections from configured nodes' addresses closed before their handshake
    /// completed (wrong name, silence, garbage, newer ones from the same address).
    Unproved,
    /// Connections whose proof did not match this node's secret.
    AuthFailed,
    /// Connections asking for the previous release's authenticated handshake.
    OldVersion,
    /// Authenticated (or `HELLO`-proved) peers' connections closed for a protocol fault.
    PeerConns,
    /// This machine's trouble: `accept` failing, no descriptors, no random bytes.
    Local,
}

impl Topic {
    /// Every topic.
    pub(crate) const ALL: [Topic; 7] = [
        Topic::SlotsFull,
        Topic::Strangers,
        Topic::Unproved,
        Topic::AuthFailed,
        Topic::OldVersion,
        Topic::PeerConns,
        Topic::Local,
    ];

    fn index(self) -> usize {
        match self {
            Topic::SlotsFull => 0,
            Topic::Strangers => 1,
            Topic::Unproved => 2,
            Topic::AuthFailed => 3,
            Topic::OldVersion => 4,
            Topic::PeerConns => 5,
            Topic::Local => 6,
        }
    }

    /// The summary of `n` lines held back in the window that just ended, `span_ms` long
    /// (a minute, unless the daemon is stopping).
    pub(crate) fn summary(self, n: u64, span_ms: u64) -> String {
        let span = if span_ms >= WINDOW_MS {
            "the last minute".to_string()
        } else {
            format!("the last {} s", span_ms.div_ceil(1000))
        };
        let what = match self {
            // A reader decides by this one whether the port is being flooded.
            Topic::SlotsFull => {
                return format!(
                    "handshake slots full: {n} more strangers refused in {span} (their \
                     oldest connections closed to make room; configured nodes' addresses \
                     have places of their own)"
                );
            }
            Topic::Strangers => "closed connections from addresses that are no configured node's",
            Topic::Unproved => {
                "closed connections from configured nodes' addresses that did not complete a handshake"
            }
            Topic::AuthFailed => "connections that failed authentication",
            Topic::OldVersion => "connections asking for the previous release's handshake",
            Topic::PeerConns => "peers' connections closed",
            Topic::Local => "lines about this machine's trouble",
        };
        format!("{n} similar lines suppressed in {span} ({what}; counted in the metrics)")
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Window {
    /// When the open window ends (0: none open).
    until: u64,
    /// When it opened.
    opened: u64,
    /// Lines held back in it.
    held: u64,
}

/// What to do with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Say it; a window opened, ending at `until`: call [`Quiet::window_ended`] then.
    SayAndWait { until: u64 },
    /// Held back and counted.
    Held,
}

/// Every topic's window.
#[derive(Debug, Default)]
pub(crate) struct Quiet([Window; Topic::ALL.len()]);

impl Quiet {
    /// A line of `topic` at `now`.
    pub(crate) fn line(&mut self, topic: Topic, now: u64) -> Verdict {
        let Some(w) = self.0.get_mut(topic.index()) else {
            return Verdict::Held;
        };
        if w.until != 0 {
            w.held = w.held.saturating_add(1);
            return Verdict::Held;
        }
        w.until = now.saturating_add(WINDOW_MS).max(1);
        w.opened = now;
        Verdict::SayAndWait { until: w.until }
    }

    /// `topic`'s window ended at `now`: the number of lines held back in it and how long
    /// it was open, if any were (then a new window opened, ending at the third value:
    /// call again then).
    pub(crate) fn window_ended(&mut self, topic: Topic, now: u64) -> Option<(u64, u64, u64)> {
        let w = self.0.get_mut(topic.index())?;
        let held = std::mem::take(&mut w.held);
        let span = now.saturating_sub(w.opened);
        if held == 0 {
            w.until = 0;
            return None;
        }
        w.until = now.saturating_add(WINDOW_MS).max(1);
        w.opened = now;
        Some((held, span, w.until))
    }
}

impl Engine {
    /// Says `msg` unless `topic`'s rate limit holds it back (see above): strangers and
    /// floods cannot flood stderr, nor hide one kind of line behind another.
    pub(super) fn say_limited(&mut self, topic: Topic, now: Now, msg: String) {
        match self.quiet.line(topic, now.mono) {
            Verdict::Held => {}
            Verdict::SayAndWait { until } => {
                self.say(msg);
                self.wheel.schedule(until, Timer::Quiet(topic));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_costs_a_line_and_a_summary_per_window_and_topics_are_apart() {
        let mut q = Quiet::default();
        assert_eq!(
            q.line(Topic::Strangers, 10),
            Verdict::SayAndWait {
                until: 10 + WINDOW_MS
            }
        );
        for t in 11..100 {
            assert_eq!(q.line(Topic::Strangers, t), Verdict::Held);
        }
        // Another topic is not held back by the flood.
        assert!(matches!(
            q.line(Topic::PeerConns, 50),
            Verdict::SayAndWait { .. }
        ));
        let end = 10 + WINDOW_MS;
        assert_eq!(
            q.window_ended(Topic::Strangers, end),
            Some((89, WINDOW_MS, end + WINDOW_MS))
        );
        // The flood goes on: still held, summarised again at the next window's end.
        assert_eq!(q.line(Topic::Strangers, end + 1), Verdict::Held);
        assert_eq!(
            q.window_ended(Topic::Strangers, end + WINDOW_MS),
            Some((1, WINDOW_MS, end + 2 * WINDOW_MS))
        );
        // A window with nothing held closes; the next line is said at once.
        assert_eq!(q.window_ended(Topic::Strangers, end + 2 * WINDOW_MS), None);
        assert!(matches!(
            q.line(Topic::Strangers, end + 2 * WINDOW_MS + 5),
            Verdict::SayAndWait { .. }
        ));
        assert_eq!(q.window_ended(Topic::PeerConns, 50 + WINDOW_MS), None);
        assert!(
            Topic::SlotsFull
                .summary(7, WINDOW_MS)
                .contains("7 more strangers refused in the last minute")
        );
        assert!(
            Topic::Local
                .summary(3, 2_500)
                .starts_with("3 similar lines suppressed in the last 3 s")
        );
    }
}
