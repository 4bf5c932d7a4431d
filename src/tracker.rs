//! The per-peer rules of the earlier tool, as a pure state machine.
//!
//! No sockets and no clock: the daemon passes `now` (monotonic milliseconds) and tells the
//! tracker what happened to each probe; the tracker answers with the [`Change`]s to log.
//! Each probe is counted exactly once, as a reply or as a miss (timed out, or failed with
//! its connection), whatever order the events arrive in. A reply whose probe was already
//! counted as a miss is ignored: the peer answered too late.
//!
//! Rules (DESIGN.md §2), per peer, with `timeouts` starting at 0 and `online` true:
//! - a miss: `timeouts += 1`; below the threshold it logs the new count; reaching the
//!   threshold while online it logs the threshold once and marks the peer offline; while
//!   offline it logs nothing (the count stays at the threshold);
//! - a reply: if `timeouts` was not 0 it logs `0`; then `timeouts = 0`, online.
//! - with an online threshold N above 1 (`online_threshold`), an offline peer needs N
//!   consecutive replies to count as back: the first N-1 log nothing and change nothing
//!   (the count stays at the offline threshold); a miss among them starts the run of
//!   replies over (and, the peer being offline, logs nothing). The N-th reply is the
//!   reply above: it logs `0`. A peer that is online (even with misses) recovers on one
//!   reply, as before, so the log stays format 0.0.3 (counts step by one or drop to 0).
//!
//! Nothing here panics on any sequence of calls: an unknown peer index is ignored.

use crate::few::Few;

/// Most probes a peer can have in flight. Config validation keeps `timeout / interval`
/// well below this, so the cap is only reached if the caller misbehaves.
pub const MAX_OUTSTANDING: usize = 256;

/// What kind of state change a [`Change`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A miss below the threshold.
    Missed,
    /// The miss that reached the threshold: the peer is now offline.
    WentOffline,
    /// A reply after misses; `was_offline` tells whether the peer had been declared offline.
    Recovered {
        /// Whether the peer had reached the threshold before this reply.
        was_offline: bool,
    },
}

/// A change of a peer's state: one log line `<time>|<peer>|<timeouts>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The peer's index (as given to the tracker).
    pub peer: usize,
    /// The count to log: 0 on recovery, else the new number of consecutive timeouts.
    pub timeouts: u32,
    /// What happened.
    pub kind: ChangeKind,
    /// The `now` at which it happened.
    pub at: u64,
}

/// One probe in flight: its sequence number and the caller's handle (its timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Probe<H> {
    seq: u64,
    handle: H,
}

#[derive(Debug, Clone)]
struct Peer<H> {
    timeouts: u32,
    online: bool,
    /// Consecutive replies while offline.
    replies: u32,
    next_seq: u64,
    outstanding: Few<Probe<H>>,
}

impl<H> Peer<H> {
    fn new() -> Self {
        Peer {
            timeouts: 0,
            online: true,
            replies: 0,
            next_seq: 0,
            outstanding: Few::Empty,
        }
    }
}

/// Per-peer probe accounting. `H` is the caller's handle for a probe's timer, handed back
/// when the probe is settled so the caller can cancel it.
#[derive(Debug, Clone)]
pub struct Tracker<H> {
    threshold: u32,
    online_threshold: u32,
    peers: Vec<Peer<H>>,
}

impl<H: Copy> Tracker<H> {
    /// A tracker for `peers` peers (indices `0..peers`), all online with no timeouts.
    /// A threshold of 0 is treated as 1.
    pub fn new(peers: usize, threshold: u32) -> Self {
        Tracker {
            threshold: threshold.max(1),
            online_threshold: 1,
            peers: (0..peers).map(|_| Peer::new()).collect(),
        }
    }

    /// Sets the consecutive replies an offline peer needs to count as back (0 is taken
    /// as 1). Runs of replies already counted keep counting toward the new value.
    pub fn set_online_threshold(&mut self, n: u32) {
        self.online_threshold = n.max(1);
    }

    /// The online threshold.
    pub fn online_threshold(&self) -> u32 {
        self.online_threshold
    }

    /// Changes the offline threshold (0 is taken as 1), e.g. on a config reload. An
    /// offline peer stays offline, its count now the new threshold; an online peer whose
    /// count reaches the new threshold goes offline at once, with its count capped to it:
    /// each such change is returned ([`ChangeKind::WentOffline`], at `now`). Nothing is
    /// logged for them here: the caller writes a new header carrying every count.
    pub fn set_threshold(&mut self, threshold: u32, now: u64) -> Vec<Change> {
        let threshold = threshold.max(1);
        self.threshold = threshold;
        let mut changes = Vec::new();
        for (peer, p) in self.peers.iter_mut().enumerate() {
            if !p.online {
                p.timeouts = threshold;
            } else if p.timeouts >= threshold {
                p.timeouts = threshold;
                p.online = false;
                p.replies = 0;
                changes.push(Change {
                    peer,
                    timeouts: threshold,
                    kind: ChangeKind::WentOffline,
                    at: now,
                });
            }
        }
        changes
    }

    /// Makes `peer` new again (online, no timeouts), for a slot that now holds another
    /// peer. Its probes in flight are dropped without counting, `voided` getting each
    /// handle; sequence numbers go on from where they were, so a late reply meant for
    /// the old peer matches nothing.
    pub fn reset_peer(&mut self, peer: usize, voided: impl FnMut(H)) {
        self.void_all(peer, voided);
        if let Some(p) = self.peers.get_mut(peer) {
            p.timeouts = 0;
            p.online = true;
            p.replies = 0;
        }
    }

    /// Adds a peer, online with no timeouts, and returns its index.
    pub fn add_peer(&mut self) -> usize {
        self.peers.push(Peer::new());
        self.peers.len() - 1
    }

    /// Number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether the tracker has no peers.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The offline threshold.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// A peer's consecutive timeouts (at most the threshold); 0 for an unknown peer.
    pub fn timeouts(&self, peer: usize) -> u32 {
        self.peers.get(peer).map_or(0, |p| p.timeouts)
    }

    /// Whether a peer is online (unknown peers count as online).
    pub fn is_online(&self, peer: usize) -> bool {
        self.peers.get(peer).is_none_or(|p| p.online)
    }

    /// Sequence numbers of a peer's probes in flight, oldest first.
    pub fn outstanding(&self, peer: usize) -> impl Iterator<Item = u64> + '_ {
        self.peers
            .get(peer)
            .into_iter()
            .flat_map(|p| p.outstanding.iter().map(|probe| probe.seq))
    }

    /// Number of a peer's probes in flight.
    pub fn outstanding_len(&self, peer: usize) -> usize {
        self.peers.get(peer).map_or(0, |p| p.outstanding.len())
    }

    /// Starts a probe: takes the peer's next sequence number, lets `arm` create the
    /// probe's timer for it, and records the probe. Returns the sequence number, or None
    /// (without calling `arm`) for an unknown peer or one with [`MAX_OUTSTANDING`] probes
    /// in flight.
    pub fn start_probe(&mut self, peer: usize, arm: impl FnOnce(u64) -> H) -> Option<u64> {
        let p = self.peers.get_mut(peer)?;
        if p.outstanding.len() >= MAX_OUTSTANDING {
            return None;
        }
        let seq = p.next_seq;
        p.next_seq = p.next_seq.wrapping_add(1);
        p.outstanding.push_back(Probe {
            seq,
            handle: arm(seq),
        });
        Some(seq)
    }

    /// A reply to probe `seq`. Returns None if that probe is not in flight (already
    /// counted as a miss, answered twice, or never sent): the reply is ignored. Otherwise
    /// returns the probe's handle and the change to log, if any.
    pub fn reply(&mut self, peer: usize, seq: u64, now: u64) -> Option<(H, Option<Change>)> {
        let p = self.peers.get_mut(peer)?;
        let handle = take_probe(&mut p.outstanding, seq)?;
        if !p.online {
            p.replies = p.replies.saturating_add(1);
            if p.replies < self.online_threshold {
                return Some((handle, None));
            }
        }
        p.replies = 0;
        let change = (p.timeouts != 0).then_some(Change {
            peer,
            timeouts: 0,
            kind: ChangeKind::Recovered {
                was_offline: !p.online,
            },
            at: now,
        });
        p.timeouts = 0;
        p.online = true;
        Some((handle, change))
    }

    /// Probe `seq` timed out or failed. Returns None if it is not in flight (settled
    /// already). Otherwise returns its handle and the change to log, if any.
    pub fn miss(&mut self, peer: usize, seq: u64, now: u64) -> Option<(H, Option<Change>)> {
        let p = self.peers.get_mut(peer)?;
        let handle = take_probe(&mut p.outstanding, seq)?;
        Some((handle, count_miss(p, peer, self.threshold, now)))
    }

    /// The peer's connection failed: every probe in flight is a miss. `settled` is called
    /// for each, oldest first, with the probe's handle and the change to log, if any.
    pub fn miss_all(&mut self, peer: usize, now: u64, mut settled: impl FnMut(H, Option<Change>)) {
        let threshold = self.threshold;
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        while let Some(probe) = p.outstanding.pop_front() {
            let change = count_miss(p, peer, threshold, now);
            settled(probe.handle, change);
        }
    }

    /// Every probe in flight to `peer` is void: dropped without counting, neither reply
    /// nor miss. For failures of this machine (out of descriptors or buffers), which say
    /// nothing about the peer: its count holds. `voided` gets each probe's handle.
    pub fn void_all(&mut self, peer: usize, mut voided: impl FnMut(H)) {
        if let Some(p) = self.peers.get_mut(peer) {
            while let Some(probe) = p.outstanding.pop_front() {
                voided(probe.handle);
            }
        }
    }
}

fn take_probe<H: Copy>(outstanding: &mut Few<Probe<H>>, seq: u64) -> Option<H> {
    // Replies come in order, so the probe is almost always at the front.
    let i = outstanding.iter().position(|p| p.seq == seq)?;
    outstanding.remove(i).map(|p| p.handle)
}

fn count_miss<H>(p: &mut Peer<H>, peer: usize, threshold: u32, now: u64) -> Option<Change> {
    if !p.online {
        p.replies = 0;
        return None;
    }
    p.timeouts = p.timeouts.saturating_add(1).min(threshold);
    let kind = if p.timeouts < threshold {
        ChangeKind::Missed
    } else {
        p.online = false;
        ChangeKind::WentOffline
    };
    Some(Change {
        peer,
        timeouts: p.timeouts,
        kind,
        at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voided_probes_count_neither_way() {
        let mut t: Tracker<u32> = Tracker::new(1, 3);
        t.start_probe(0, |_| 1);
        t.miss(0, 0, 5);
        t.start_probe(0, |_| 2);
        t.start_probe(0, |_| 3);
        let mut handles = Vec::new();
        t.void_all(0, |h| handles.push(h));
        assert_eq!(handles, vec![2, 3]);
        assert_eq!(t.timeouts(0), 1, "the count holds");
        assert_eq!(t.outstanding_len(0), 0);
        assert!(t.miss(0, 1, 9).is_none() && t.reply(0, 2, 9).is_none());
    }

    /// Handles are the probe's seq, so tests can check which timer comes back.
    fn tracker(peers: usize, threshold: u32) -> Tracker<u64> {
        Tracker::new(peers, threshold)
    }

    fn probe(t: &mut Tracker<u64>, peer: usize) -> u64 {
        t.start_probe(peer, |seq| seq).unwrap()
    }

    fn logged(c: Option<Change>) -> Option<u32> {
        c.map(|c| c.timeouts)
    }

    #[test]
    fn replies_while_healthy_log_nothing() {
        let mut t = tracker(2, 3);
        for now in 0..10 {
            let s = probe(&mut t, 0);
            assert_eq!(t.reply(0, s, now), Some((s, None)));
        }
        assert_eq!((t.timeouts(0), t.is_online(0)), (0, true));
    }

    #[test]
    fn misses_count_up_to_the_threshold_then_go_silent() {
        let mut t = tracker(1, 3);
        let mut lines = Vec::new();
        for now in 0..6 {
            let s = probe(&mut t, 0);
            let (h, c) = t.miss(0, s, now).unwrap();
            assert_eq!(h, s);
            lines.push(logged(c));
        }
        assert_eq!(lines, [Some(1), Some(2), Some(3), None, None, None]);
        assert!(!t.is_online(0));
        assert_eq!(t.timeouts(0), 3);
        let s = probe(&mut t, 0);
        let (_, c) = t.reply(0, s, 9).unwrap();
        let c = c.unwrap();
        assert_eq!(
            (c.timeouts, c.kind, c.at),
            (0, ChangeKind::Recovered { was_offline: true }, 9)
        );
        assert!(t.is_online(0));
    }

    #[test]
    fn the_offline_line_carries_the_kind() {
        let mut t = tracker(1, 2);
        let s = probe(&mut t, 0);
        assert_eq!(t.miss(0, s, 1).unwrap().1.unwrap().kind, ChangeKind::Missed);
        let s = probe(&mut t, 0);
        assert_eq!(
            t.miss(0, s, 2).unwrap().1.unwrap().kind,
            ChangeKind::WentOffline
        );
    }

    #[test]
    fn a_reply_after_misses_below_the_threshold_logs_zero() {
        let mut t = tracker(1, 3);
        let s = probe(&mut t, 0);
        assert_eq!(logged(t.miss(0, s, 0).unwrap().1), Some(1));
        let s = probe(&mut t, 0);
        let c = t.reply(0, s, 1).unwrap().1.unwrap();
        assert_eq!(
            (c.timeouts, c.kind),
            (0, ChangeKind::Recovered { was_offline: false })
        );
        let s = probe(&mut t, 0);
        assert_eq!(
            logged(t.miss(0, s, 2).unwrap().1),
            Some(1),
            "count restarts at 1"
        );
    }

    #[test]
    fn threshold_one_goes_offline_at_the_first_miss() {
        let mut t = tracker(1, 1);
        let s = probe(&mut t, 0);
        let c = t.miss(0, s, 0).unwrap().1.unwrap();
        assert_eq!((c.timeouts, c.kind), (1, ChangeKind::WentOffline));
    }

    #[test]
    fn several_probes_in_flight_when_timeout_exceeds_interval() {
        // interval 100, timeout 250: probes at 0, 100, 200 are all in flight at 200.
        let mut t = tracker(1, 3);
        let a = probe(&mut t, 0);
        let b = probe(&mut t, 0);
        let c = probe(&mut t, 0);
        assert_eq!(t.outstanding(0).collect::<Vec<_>>(), [a, b, c]);
        assert_eq!(logged(t.miss(0, a, 250).unwrap().1), Some(1));
        // b is answered before its deadline: recovery.
        assert_eq!(logged(t.reply(0, b, 260).unwrap().1), Some(0));
        assert_eq!(t.reply(0, c, 270), Some((c, None)));
        assert_eq!(t.outstanding_len(0), 0);
    }

    #[test]
    fn a_reply_after_its_probe_timed_out_is_ignored() {
        let mut t = tracker(1, 3);
        let s = probe(&mut t, 0);
        assert_eq!(logged(t.miss(0, s, 300).unwrap().1), Some(1));
        assert_eq!(t.reply(0, s, 301), None, "late reply");
        assert_eq!(t.timeouts(0), 1, "the late reply does not reset the count");
        assert_eq!(t.miss(0, s, 302), None, "a probe is counted once");
        assert_eq!(t.reply(0, 999, 303), None, "never sent");
    }

    #[test]
    fn a_reply_is_counted_once() {
        let mut t = tracker(1, 3);
        let s = probe(&mut t, 0);
        assert!(t.reply(0, s, 1).is_some());
        assert_eq!(t.reply(0, s, 2), None);
        assert_eq!(
            t.miss(0, s, 3),
            None,
            "its timer firing later changes nothing"
        );
    }

    #[test]
    fn a_lost_connection_fails_every_probe_in_flight_once() {
        let mut t = tracker(2, 3);
        let a = probe(&mut t, 1);
        let b = probe(&mut t, 1);
        let other = probe(&mut t, 0);
        let mut seen = Vec::new();
        t.miss_all(1, 50, |h, c| seen.push((h, logged(c))));
        assert_eq!(seen, [(a, Some(1)), (b, Some(2))]);
        assert_eq!(t.miss(1, a, 51), None);
        assert_eq!(t.outstanding_len(1), 0);
        assert_eq!(t.outstanding_len(0), 1, "other peers untouched");
        assert_eq!(t.reply(0, other, 52), Some((other, None)));
    }

    #[test]
    fn peers_are_independent_and_unknown_peers_are_ignored() {
        let mut t = tracker(2, 2);
        let s = probe(&mut t, 0);
        t.miss(0, s, 0);
        assert_eq!((t.timeouts(0), t.timeouts(1)), (1, 0));
        assert_eq!(t.start_probe(7, |s| s), None);
        assert_eq!(t.reply(7, 0, 0), None);
        assert_eq!(t.miss(7, 0, 0), None);
        t.miss_all(7, 0, |_, _| panic!("no probes"));
        assert_eq!(t.add_peer(), 2);
        assert_eq!(t.len(), 3);
        assert!(t.is_online(2));
    }

    #[test]
    fn outstanding_probes_are_capped() {
        let mut t = tracker(1, 3);
        for _ in 0..MAX_OUTSTANDING {
            assert!(t.start_probe(0, |s| s).is_some());
        }
        let mut armed = false;
        assert_eq!(
            t.start_probe(0, |s| {
                armed = true;
                s
            }),
            None
        );
        assert!(!armed, "no timer is armed for a refused probe");
    }

    /// Misses `peer` until offline.
    fn take_offline(t: &mut Tracker<u64>, threshold: u32) {
        for now in 0..u64::from(threshold) {
            let s = probe(t, 0);
            t.miss(0, s, now);
        }
        assert!(!t.is_online(0));
    }

    #[test]
    fn an_offline_peer_needs_online_threshold_replies_in_a_row() {
        let mut t = tracker(1, 2);
        t.set_online_threshold(3);
        take_offline(&mut t, 2);
        // Two replies, a miss (logs nothing: offline), then three replies.
        let mut lines = Vec::new();
        for answer in [true, true, false, true, true, true, true] {
            let s = probe(&mut t, 0);
            let (_, c) = if answer {
                t.reply(0, s, 10).unwrap()
            } else {
                t.miss(0, s, 10).unwrap()
            };
            lines.push(logged(c));
            if lines.len() < 6 {
                assert!(!t.is_online(0), "after {lines:?}");
                assert_eq!(t.timeouts(0), 2);
            }
        }
        assert_eq!(lines, [None, None, None, None, None, Some(0), None]);
        assert!(t.is_online(0));
        // An online peer with misses recovers on one reply, as before.
        let s = probe(&mut t, 0);
        assert_eq!(logged(t.miss(0, s, 11).unwrap().1), Some(1));
        let s = probe(&mut t, 0);
        assert_eq!(logged(t.reply(0, s, 12).unwrap().1), Some(0));
    }

    #[test]
    fn online_threshold_one_is_the_earlier_rule() {
        let mut t = tracker(1, 2);
        assert_eq!(t.online_threshold(), 1);
        take_offline(&mut t, 2);
        let s = probe(&mut t, 0);
        assert_eq!(logged(t.reply(0, s, 5).unwrap().1), Some(0));
    }

    #[test]
    fn changing_the_threshold_caps_counts_and_keeps_offline_peers_offline() {
        let mut t = tracker(3, 5);
        for _ in 0..3 {
            let s = probe(&mut t, 0);
            t.miss(0, s, 1);
        }
        let s = probe(&mut t, 1);
        t.miss(1, s, 1);
        // Lowered to 2: peer 0 (3 misses) goes offline at 2; peer 1 (1 miss) stays.
        let changes = t.set_threshold(2, 7);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (
                changes[0].peer,
                changes[0].timeouts,
                changes[0].kind,
                changes[0].at
            ),
            (0, 2, ChangeKind::WentOffline, 7)
        );
        assert_eq!((t.timeouts(0), t.is_online(0)), (2, false));
        assert_eq!((t.timeouts(1), t.is_online(1)), (1, true));
        // Raised to 4: the offline peer stays offline, at the new threshold.
        assert!(t.set_threshold(4, 8).is_empty());
        assert_eq!((t.timeouts(0), t.is_online(0)), (4, false));
        let s = probe(&mut t, 1);
        assert_eq!(logged(t.miss(1, s, 9).unwrap().1), Some(2));
        // A reset slot is new again; its old probes are void.
        let s = probe(&mut t, 0);
        let mut voided = Vec::new();
        t.reset_peer(0, |h| voided.push(h));
        assert_eq!(voided, [s]);
        assert_eq!((t.timeouts(0), t.is_online(0)), (0, true));
        assert_eq!(t.reply(0, s, 10), None);
    }

    #[test]
    fn sequence_numbers_wrap_without_panicking() {
        let mut t = tracker(1, 3);
        if let Some(p) = t.peers.get_mut(0) {
            p.next_seq = u64::MAX;
        }
        assert_eq!(probe(&mut t, 0), u64::MAX);
        assert_eq!(probe(&mut t, 0), 0);
    }
}
