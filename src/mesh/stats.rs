//! What the engine counts for metrics and `status`: per peer, probes started, replied,
//! timed out and voided, state changes, the last round-trip time and a histogram of them;
//! for the node, connections closed by [`CloseReason::kind`]. Plain counters updated by
//! the engine where it decides; read through [`super::Engine::peers`] and
//! [`super::Engine::closes`]. Fixed size per peer, nothing grows with time but the
//! probes in flight (bounded like the tracker's).

use super::action::CloseReason;
use super::{Engine, PeerId, Role};
use crate::few::Few;
use crate::tracker::MAX_OUTSTANDING;

/// Upper bounds of the round-trip-time buckets, in microseconds (0.5 ms to 30 s); one
/// more bucket, `+Inf`, takes the rest.
pub const RTT_BUCKETS_US: [u64; 15] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000,
];

/// Round-trip times: a count per bucket (not cumulative; the last is above every bound)
/// and their sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Observations per bucket of [`RTT_BUCKETS_US`], then those above the last bound.
    pub counts: [u64; RTT_BUCKETS_US.len() + 1],
    /// Sum of every observation, microseconds.
    pub sum_us: u64,
}

impl Histogram {
    fn observe(&mut self, us: u64) {
        let bucket = RTT_BUCKETS_US
            .iter()
            .position(|&le| us <= le)
            .unwrap_or(RTT_BUCKETS_US.len());
        if let Some(c) = self.counts.get_mut(bucket) {
            *c += 1;
        }
        self.sum_us = self.sum_us.saturating_add(us);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// One peer's counters. `started == replied + timed_out + voided + (probes in flight)`.
#[derive(Debug, Clone, Default)]
pub struct PeerStats {
    /// Probes started (sent at once, or once the link is up).
    pub started: u64,
    /// Probes answered in time.
    pub replied: u64,
    /// Probes counted as a timeout: no reply in time, or failed with their connection.
    pub timed_out: u64,
    /// Probes dropped without counting: this machine's trouble (descriptors, buffers).
    pub voided: u64,
    /// Changes between online and offline.
    pub transitions: u64,
    /// Wall-clock ms of the last change between online and offline, or of the start.
    pub since_wall: i64,
    /// The last round-trip time, microseconds.
    pub last_rtt_us: Option<u64>,
    /// Every round-trip time.
    pub rtt: Histogram,
    /// The smoothed round-trip time of one link, microseconds (RFC 6298's `srtt`: each
    /// `PONG` moves it an eighth of the way to its round trip on its link); `None` before the first reply, or after
    /// the peer moved. What a reply normally takes: the hedge delay is made of it and
    /// `rttvar_us` ([`super::probe::hedge_ms`]).
    pub(super) srtt_us: Option<u64>,
    /// How far round trips stray from `srtt_us`, microseconds (RFC 6298's `rttvar`: a
    /// quarter of the way to each reply's distance from it).
    pub(super) rttvar_us: u64,
    /// Probes on the wire, in no order: (seq, when it was last written, µs on the
    /// monotonic clock).
    on_wire: Few<(u64, u64)>,
    /// Probes settled over the last minutes (see [`PeerStats::recent_loss`]).
    recent: Recent,
}

/// Minutes of probes [`PeerStats::recent_loss`] looks back over.
pub const RECENT_MINUTES: u64 = 5;

/// Replied and lost probes per minute of the monotonic clock, for the last
/// [`RECENT_MINUTES`] minutes with a probe (the current one included).
#[derive(Debug, Clone, Default)]
struct Recent {
    /// (minute, replied, lost), oldest first.
    minutes: std::collections::VecDeque<(u64, u32, u32)>,
}

impl Recent {
    fn note(&mut self, us: u64, lost: bool) {
        let minute = us / 60_000_000;
        while self
            .minutes
            .front()
            .is_some_and(|m| m.0 + RECENT_MINUTES <= minute)
        {
            self.minutes.pop_front();
        }
        if self.minutes.back().is_none_or(|m| m.0 < minute) {
            // It never holds more than RECENT_MINUTES: exactly that room, once, rather
            // than a queue doubled to 8 in every peer after five minutes.
            if self.minutes.capacity() == 0 {
                self.minutes.reserve_exact(RECENT_MINUTES as usize);
            }
            self.minutes.push_back((minute, 0, 0));
        }
        if let Some(m) = self.minutes.back_mut() {
            if lost {
                m.2 = m.2.saturating_add(1);
            } else {
                m.1 = m.1.saturating_add(1);
            }
        }
    }
}

impl PeerStats {
    pub(super) fn new(since_wall: i64) -> PeerStats {
        PeerStats {
            since_wall,
            ..PeerStats::default()
        }
    }

    /// Probe `seq` was written at `us` (again, if it is resent on a new link: the round
    /// trip counts from the last send).
    pub(super) fn sent(&mut self, seq: u64, us: u64) {
        if let Some(w) = self.on_wire.iter_mut().find(|w| w.0 == seq) {
            w.1 = us;
            return;
        }
        if self.on_wire.len() >= MAX_OUTSTANDING {
            self.on_wire.pop_front();
        }
        self.on_wire.push_back((seq, us));
    }

    /// The share of probes settled over the last [`RECENT_MINUTES`] minutes that got no
    /// reply within the timeout (late, missing, or failed with their connection), 0 to
    /// 1; `None` before any. A lossy link shows here long before, or without ever,
    /// reaching `offline_threshold` timeouts in a row.
    pub fn recent_loss(&self) -> Option<f64> {
        let (replied, lost) = self.recent.minutes.iter().fold((0u64, 0u64), |(r, l), m| {
            (r + u64::from(m.1), l + u64::from(m.2))
        });
        let all = replied + lost;
        (all > 0).then(|| lost as f64 / all as f64)
    }

    /// Probe `seq` was answered at `us`, in `rtt` µs if given (otherwise from its write
    /// to `us`).
    pub(super) fn replied(&mut self, seq: u64, us: u64, rtt: Option<u64>) {
        self.replied += 1;
        self.recent.note(us, false);
        if let Some(sent) = self.take(seq) {
            let rtt = rtt.unwrap_or_else(|| us.saturating_sub(sent));
            self.last_rtt_us = Some(rtt);
            self.rtt.observe(rtt);
        }
    }

    /// A reply took `rtt` µs on its link, from the write of its probe there: what one
    /// stream takes (the first of two copies' replies would understate it).
    pub(super) fn round_trip(&mut self, rtt: u64) {
        (self.srtt_us, self.rttvar_us) = match self.srtt_us {
            Some(srtt) => (
                Some(srtt - srtt / 8 + rtt / 8),
                self.rttvar_us - self.rttvar_us / 4 + srtt.abs_diff(rtt) / 4,
            ),
            None => (Some(rtt), rtt / 2),
        };
    }

    /// Probe `seq` timed out at `us`.
    pub(super) fn timed_out(&mut self, seq: u64, us: u64) {
        self.timed_out += 1;
        self.recent.note(us, true);
        self.take(seq);
    }

    /// `n` probes failed with their connection at `us` (`voided`: without counting).
    pub(super) fn settled_all(&mut self, n: u64, voided: bool, us: u64) {
        if voided {
            self.voided += n;
        } else {
            self.timed_out += n;
            for _ in 0..n {
                self.recent.note(us, true);
            }
        }
        self.on_wire.clear();
    }

    fn take(&mut self, seq: u64) -> Option<u64> {
        let i = self.on_wire.iter().position(|w| w.0 == seq)?;
        Some(self.on_wire.remove(i)?.1)
    }
}

/// Connections closed, by [`CloseReason::kind`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closes([u64; CloseReason::KINDS.len()]);

impl Closes {
    pub(super) fn count(&mut self, reason: CloseReason) {
        if let Some(n) = self.0.get_mut(reason.index()) {
            *n += 1;
        }
    }

    /// Every kind with its count, zeros included, in [`CloseReason::KINDS`] order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CloseReason::KINDS
            .iter()
            .copied()
            .zip(self.0.iter().copied())
    }
}

/// Open connections by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnCounts {
    /// Our links: connecting, handshaking, ready.
    pub out: [usize; 3],
    /// Accepted connections: waiting for `HELLO`, established.
    pub inbound: [usize; 2],
}

impl ConnCounts {
    /// Label values of [`ConnCounts::out`].
    pub const OUT: [&'static str; 3] = ["connecting", "handshaking", "ready"];
    /// Label values of [`ConnCounts::inbound`].
    pub const IN: [&'static str; 2] = ["awaiting_hello", "ready"];
}

/// A peer as metrics and `status` see it ([`Engine::peers`]).
#[derive(Debug, Clone, Copy)]
pub struct PeerView<'a> {
    /// Its id.
    pub id: PeerId,
    /// Its name.
    pub name: &'a str,
    /// Whether it is online (not yet declared offline).
    pub online: bool,
    /// Its consecutive timeouts (at most the threshold).
    pub timeouts: u32,
    /// Its probes in flight (started, not yet settled).
    pub in_flight: usize,
    /// Its counters.
    pub stats: &'a PeerStats,
}

impl Engine {
    /// Number of open connections (both directions).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Every peer (not this node), in config order, with its state and counters.
    pub fn peers(&self) -> impl Iterator<Item = PeerView<'_>> {
        self.peers
            .iter()
            .enumerate()
            .filter(|&(i, p)| i != self.me && p.active)
            .map(|(i, p)| PeerView {
                id: PeerId(i),
                name: &p.name,
                online: self.tracker.is_online(i),
                timeouts: self.tracker.timeouts(i),
                in_flight: self.tracker.outstanding_len(i),
                stats: &p.stats,
            })
    }

    /// Connections closed so far, by kind.
    pub fn closes(&self) -> &Closes {
        &self.closes
    }

    /// Open connections by state.
    pub fn conn_counts(&self) -> ConnCounts {
        let mut n = ConnCounts::default();
        for (_, c) in self.conns.iter() {
            let slot = match c.role() {
                Role::Out { state, .. } => n.out.get_mut(state as usize),
                Role::In { peer, .. } => n.inbound.get_mut(usize::from(peer.is_some())),
            };
            if let Some(slot) = slot {
                *slot += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_land_in_their_buckets() {
        let mut s = PeerStats::new(7);
        s.sent(1, 1_000);
        s.sent(2, 1_100);
        s.sent(1, 2_000); // resent on a new link: counts from here
        s.replied(1, 2_500, None);
        s.replied(2, 40_000_000, None);
        s.replied(9, 1, None); // never on the wire (or already settled): no round trip
        assert_eq!(s.replied, 3);
        assert_eq!(s.last_rtt_us, Some(39_998_900));
        assert_eq!(s.rtt.counts[0], 1, "500 µs is in the le=0.5ms bucket");
        assert_eq!(s.rtt.counts[RTT_BUCKETS_US.len()], 1, "40 s is above 30 s");
        assert_eq!(s.rtt.count(), 2);
        assert_eq!(s.rtt.sum_us, 500 + 39_998_900);
        s.sent(3, 0);
        s.timed_out(3, 40_000_000);
        s.replied(3, 40_000_005, None); // too late
        assert_eq!((s.timed_out, s.rtt.count()), (1, 2));
    }

    #[test]
    fn recent_loss_covers_the_last_five_minutes() {
        let mut s = PeerStats::new(0);
        assert_eq!(s.recent_loss(), None);
        let min = 60_000_000;
        for i in 0..7 {
            s.replied(i, i, None);
        }
        s.timed_out(7, 1);
        s.settled_all(2, false, min + 1);
        s.settled_all(5, true, min + 2); // voided: this machine's trouble, not loss
        assert_eq!(s.recent_loss(), Some(0.3));
        // Five minutes on, the first minute has left the window.
        s.replied(20, 5 * min, None);
        assert_eq!(s.recent_loss(), Some(2.0 / 3.0));
        // An hour of minutes, each with a probe: the window's room never grows.
        for m in 6..66 {
            s.replied(100 + m, m * min, None);
        }
        assert_eq!(s.recent.minutes.len(), RECENT_MINUTES as usize);
        assert_eq!(s.recent.minutes.capacity(), RECENT_MINUTES as usize);
    }

    #[test]
    fn closes_are_counted_by_kind() {
        let mut c = Closes::default();
        c.count(CloseReason::Evicted);
        c.count(CloseReason::Evicted);
        let all: Vec<_> = c.iter().collect();
        assert_eq!(all.len(), CloseReason::KINDS.len());
        assert_eq!(all.iter().find(|k| k.0 == "evicted"), Some(&("evicted", 2)));
        assert_eq!(all.iter().map(|k| k.1).sum::<u64>(), 2);
    }
}
