//! The tracker driven like the daemon drives it, against a shadow model.
//!
//! Like sozu's `fuzz_udp_flow`: the clock advances by amounts read from the input, and
//! the target asserts invariants, not only "no panic".
//!
//! Setup, as the daemon does it: a `Tracker<TimerId>` whose probe handles are the
//! `TimerId`s of a `Wheel<(peer, seq)>`; each probe's timer is armed at `now + timeout`
//! by `start_probe`'s callback; a reply cancels its timer; a connection failure
//! (`miss_all`) cancels every timer it settles; an expired timer is a miss.
//!
//! Input: 4 setup bytes (threshold, initial peers and online threshold, timeout, start
//! time), then ops, each an op byte and its arguments: start a probe, a probe round over
//! every peer, a reply (to any probe in flight), a late or bogus reply and a stale timer
//! (must be rejected), a connection failure, a new peer or new thresholds (a config
//! reload), clock advances (small, large, exactly onto the next deadline or one short of
//! it), each followed by popping every expired timer.
//!
//! Checks:
//! - every `Change` equals the one a shadow model computes from the rules of the
//!   tracker's module doc (per peer: count, online flag, replies in a row while offline
//!   against the online threshold), and every handle handed back is the probe's own
//!   timer; a threshold change sends offline exactly the online peers the model says;
//! - independently of the model: a logged count never exceeds the threshold; a count
//!   below the threshold is one more than the peer's previous line; the offline line
//!   carries the threshold and comes exactly at the threshold-th consecutive miss; a `0`
//!   line only follows a non-zero line for that peer, and says whether it was offline;
//!   `Change.at` is the current time and never decreases;
//! - the wheel holds exactly the probes in flight: its `len` is the total of the
//!   tracker's outstanding probes, every probe's timer is armed, a settled probe's timer
//!   is cancelled (a timer left for a settled probe would be caught by `len`), and
//!   `next_deadline` is the earliest deadline of a probe in flight;
//! - expired timers come in deadline order, never early, and each is a probe in flight
//!   that the tracker settles as a miss; once drained nothing left is due;
//! - replies and timers for probes not in flight (late, duplicate, never sent, unknown
//!   peer) are rejected and change nothing;
//! - after every op, the tracker's view (peer count, counts, online flags, number of
//!   probes in flight) equals the model's, and the wheel's `len` their total; the
//!   checks that cost a step per probe in flight (outstanding sequence numbers oldest
//!   first, every timer armed, `next_deadline`) run after every op while at most 32
//!   probes are in flight, else every 8 ops, and at the end.

#![no_main]

mod common;

use std::collections::{BTreeSet, VecDeque};

use common::Input;
use libfuzzer_sys::fuzz_target;
use uptime_tracker::timer::{TimerId, Wheel};
use uptime_tracker::tracker::{Change, ChangeKind, MAX_OUTSTANDING, Tracker};

/// More peers only make the input longer, not the state machine richer.
const MAX_PEERS: usize = 16;
/// Settled sequence numbers remembered per peer, to replay as late replies.
const SETTLED_KEPT: usize = 8;

#[derive(Debug)]
struct Probe {
    seq: u64,
    timer: TimerId,
    deadline: u64,
}

/// What the rules say about one peer, plus what the checks need.
#[derive(Debug, Default)]
struct PeerModel {
    /// The rules' `timeouts`.
    count: u32,
    /// The rules' `online` (starts true).
    online: bool,
    next_seq: u64,
    /// Probes in flight, oldest first.
    outstanding: VecDeque<Probe>,
    /// Recently settled sequence numbers.
    settled: VecDeque<u64>,
    /// Misses since the last reply, not capped at the threshold.
    consecutive: u64,
    /// The count of the peer's last logged line.
    last_logged: Option<u32>,
    /// Replies in a row while offline.
    replies: u32,
}

impl PeerModel {
    fn new() -> Self {
        PeerModel {
            online: true,
            ..PeerModel::default()
        }
    }

    fn settle(&mut self, seq: u64) -> Probe {
        let i = self
            .outstanding
            .iter()
            .position(|p| p.seq == seq)
            .expect("model: probe in flight");
        let probe = self.outstanding.remove(i).expect("index in range");
        if self.settled.len() == SETTLED_KEPT {
            self.settled.pop_front();
        }
        self.settled.push_back(seq);
        probe
    }
}

struct Sim {
    threshold: u32,
    online_threshold: u32,
    timeout: u64,
    now: u64,
    tracker: Tracker<TimerId>,
    wheel: Wheel<(usize, u64)>,
    peers: Vec<PeerModel>,
    /// (deadline, peer, seq) of every probe in flight.
    deadlines: BTreeSet<(u64, usize, u64)>,
    last_at: u64,
    last_fired: u64,
}

impl Sim {
    /// The rules on a miss (module doc): `timeouts += 1`; below the threshold log the
    /// count; reaching it while online log it once and go offline; offline: nothing.
    fn model_miss(&mut self, peer: usize) -> Option<Change> {
        let p = &mut self.peers[peer];
        p.consecutive += 1;
        if !p.online {
            p.replies = 0;
            return None;
        }
        p.count += 1;
        let kind = if p.count < self.threshold {
            ChangeKind::Missed
        } else {
            p.online = false;
            ChangeKind::WentOffline
        };
        Some(Change {
            peer,
            timeouts: p.count,
            kind,
            at: self.now,
        })
    }

    /// The rules on a reply: offline, only the online threshold's reply in a row counts;
    /// then log `0` if the count was not 0; count 0, online.
    fn model_reply(&mut self, peer: usize) -> Option<Change> {
        let p = &mut self.peers[peer];
        if !p.online {
            p.replies += 1;
            if p.replies < self.online_threshold {
                return None;
            }
        }
        p.replies = 0;
        let change = (p.count != 0).then_some(Change {
            peer,
            timeouts: 0,
            kind: ChangeKind::Recovered {
                was_offline: !p.online,
            },
            at: self.now,
        });
        p.count = 0;
        p.online = true;
        p.consecutive = 0;
        change
    }

    /// Checks a change the tracker emitted against the model's and against the log's
    /// invariants, which are stated without the model.
    fn observe(&mut self, peer: usize, got: Option<Change>, want: Option<Change>) {
        assert_eq!(got, want, "peer {peer} at {}", self.now);
        let Some(c) = got else { return };
        let threshold = self.threshold;
        let p = &mut self.peers[peer];
        assert_eq!(c.peer, peer);
        assert_eq!(c.at, self.now);
        assert!(
            c.at >= self.last_at,
            "time ran backwards: {} < {}",
            c.at,
            self.last_at
        );
        self.last_at = c.at;
        assert!(
            c.timeouts <= threshold,
            "logged {} > threshold {threshold}",
            c.timeouts
        );
        match c.kind {
            ChangeKind::Missed => {
                assert!(c.timeouts >= 1 && c.timeouts < threshold);
                assert_eq!(c.timeouts, p.last_logged.unwrap_or(0) + 1, "count skipped");
                assert_eq!(u64::from(c.timeouts), p.consecutive);
            }
            ChangeKind::WentOffline => {
                assert_eq!(c.timeouts, threshold);
                assert_eq!(
                    p.consecutive,
                    u64::from(threshold),
                    "offline too early or late"
                );
                assert_eq!(p.last_logged.unwrap_or(0), threshold - 1);
            }
            ChangeKind::Recovered { was_offline } => {
                assert_eq!(c.timeouts, 0);
                let last = p.last_logged.expect("a 0 line with no line before it");
                assert_ne!(last, 0, "a 0 line after a 0 line");
                assert_eq!(was_offline, last == threshold);
            }
        }
        p.last_logged = Some(c.timeouts);
    }

    fn start_probe(&mut self, peer: usize) {
        let deadline = self.now.saturating_add(self.timeout);
        let mut armed = None;
        let wheel = &mut self.wheel;
        let got = self.tracker.start_probe(peer, |seq| {
            assert!(armed.is_none(), "arm called twice");
            let id = wheel.schedule(deadline, (peer, seq));
            armed = Some((seq, id));
            id
        });
        match self.peers.get_mut(peer) {
            Some(p) if p.outstanding.len() < MAX_OUTSTANDING => {
                let seq = p.next_seq;
                p.next_seq = seq.wrapping_add(1);
                assert_eq!(got, Some(seq));
                let (armed_seq, timer) = armed.expect("arm not called");
                assert_eq!(armed_seq, seq);
                p.outstanding.push_back(Probe {
                    seq,
                    timer,
                    deadline,
                });
                self.deadlines.insert((deadline, peer, seq));
            }
            _ => {
                assert_eq!(got, None, "probe started for peer {peer}");
                assert!(armed.is_none(), "timer armed for a refused probe");
            }
        }
    }

    fn reply(&mut self, peer: usize, pick: u8) {
        let Some(p) = self.peers.get(peer) else {
            return;
        };
        if p.outstanding.is_empty() {
            return;
        }
        let seq = p.outstanding[usize::from(pick) % p.outstanding.len()].seq;
        let got = self.tracker.reply(peer, seq, self.now);
        let probe = self.peers[peer].settle(seq);
        self.deadlines.remove(&(probe.deadline, peer, seq));
        let want = self.model_reply(peer);
        let (handle, change) = got.expect("reply to a probe in flight rejected");
        assert_eq!(handle, probe.timer, "wrong handle");
        assert_eq!(
            self.wheel.cancel(handle),
            Some((peer, seq)),
            "timer not armed"
        );
        assert!(!self.wheel.is_armed(handle));
        self.observe(peer, change, want);
    }

    /// Replies and timers for probes that are not in flight: all rejected.
    fn stale(&mut self, peer: usize, pick: u8) {
        let seq = match self.peers.get(peer) {
            Some(p) if !p.settled.is_empty() && pick & 1 == 0 => {
                p.settled[usize::from(pick >> 1) % p.settled.len()]
            }
            // Never sent (unless the fuzzer wrapped 2^64 sequence numbers).
            Some(p) => p.next_seq.wrapping_add(u64::from(pick >> 1)),
            None => u64::from(pick),
        };
        assert_eq!(
            self.tracker.reply(peer, seq, self.now),
            None,
            "late reply accepted"
        );
        assert_eq!(
            self.tracker.miss(peer, seq, self.now),
            None,
            "stale timer accepted"
        );
    }

    fn miss_all(&mut self, peer: usize) {
        let mut got = Vec::new();
        self.tracker
            .miss_all(peer, self.now, |h, c| got.push((h, c)));
        let Some(p) = self.peers.get_mut(peer) else {
            assert!(got.is_empty(), "unknown peer {peer} had probes");
            return;
        };
        let probes: Vec<Probe> = p.outstanding.drain(..).collect();
        assert_eq!(got.len(), probes.len(), "miss_all settled the wrong number");
        for ((handle, change), probe) in got.into_iter().zip(probes) {
            let p = &mut self.peers[peer];
            if p.settled.len() == SETTLED_KEPT {
                p.settled.pop_front();
            }
            p.settled.push_back(probe.seq);
            self.deadlines.remove(&(probe.deadline, peer, probe.seq));
            assert_eq!(handle, probe.timer, "miss_all out of order");
            assert_eq!(self.wheel.cancel(handle), Some((peer, probe.seq)));
            let want = self.model_miss(peer);
            self.observe(peer, change, want);
        }
    }

    /// A reload's new thresholds: offline peers stay offline at the new threshold; online
    /// ones at or above it go offline (returned, not logged: the new header carries the
    /// counts, so each peer's last line is now its count).
    fn set_thresholds(&mut self, threshold: u32, online: u32) {
        let threshold = threshold.max(1);
        self.online_threshold = online.max(1);
        self.tracker.set_online_threshold(online);
        assert_eq!(self.tracker.online_threshold(), self.online_threshold);
        let got = self.tracker.set_threshold(threshold, self.now);
        self.threshold = threshold;
        let mut want = Vec::new();
        for (peer, p) in self.peers.iter_mut().enumerate() {
            if !p.online {
                p.count = threshold;
            } else if p.count >= threshold {
                p.count = threshold;
                p.online = false;
                p.replies = 0;
                want.push(Change {
                    peer,
                    timeouts: threshold,
                    kind: ChangeKind::WentOffline,
                    at: self.now,
                });
            }
            p.consecutive = u64::from(p.count);
            p.last_logged = (p.count != 0).then_some(p.count);
        }
        assert_eq!(got, want);
    }

    fn add_peer(&mut self) {
        if self.peers.len() >= MAX_PEERS {
            return;
        }
        assert_eq!(self.tracker.add_peer(), self.peers.len());
        self.peers.push(PeerModel::new());
    }

    /// Moves the clock to `now` (never backwards) and fires every expired timer.
    fn advance(&mut self, now: u64) {
        assert!(now >= self.now);
        self.now = now;
        while let Some((id, (peer, seq))) = self.wheel.pop_expired(self.now) {
            let p = self.peers.get(peer).expect("timer for a peer that is gone");
            let probe = p
                .outstanding
                .iter()
                .find(|p| p.seq == seq)
                .expect("expired timer for a probe not in flight");
            assert_eq!(probe.timer, id);
            let deadline = probe.deadline;
            assert!(
                deadline <= self.now,
                "fired early: {deadline} > {}",
                self.now
            );
            assert!(
                deadline >= self.last_fired,
                "out of order: {deadline} < {}",
                self.last_fired
            );
            assert_eq!(
                self.deadlines.first().map(|d| d.0),
                Some(deadline),
                "not the earliest"
            );
            self.last_fired = deadline;
            assert!(!self.wheel.is_armed(id));

            let got = self.tracker.miss(peer, seq, self.now);
            self.peers[peer].settle(seq);
            self.deadlines.remove(&(deadline, peer, seq));
            let want = self.model_miss(peer);
            let (handle, change) = got.expect("the tracker rejected a probe in flight");
            assert_eq!(handle, id);
            self.observe(peer, change, want);
        }
        if let Some(d) = self.wheel.next_deadline() {
            assert!(d > self.now, "timer due at {d} left at {}", self.now);
        }
    }

    /// The tracker and the wheel agree with the model. `full` adds the checks that cost
    /// up to one step per probe in flight (sequence numbers, armed timers, next deadline).
    fn check(&self, full: bool) {
        assert_eq!(self.tracker.len(), self.peers.len());
        assert_eq!(self.tracker.threshold(), self.threshold);
        let mut total = 0;
        for (i, p) in self.peers.iter().enumerate() {
            assert_eq!(self.tracker.timeouts(i), p.count, "peer {i} count");
            assert_eq!(self.tracker.is_online(i), p.online, "peer {i} online");
            assert!(p.count <= self.threshold);
            assert_eq!(p.online, p.count < self.threshold);
            assert_eq!(self.tracker.outstanding_len(i), p.outstanding.len());
            if full {
                assert!(
                    self.tracker
                        .outstanding(i)
                        .eq(p.outstanding.iter().map(|p| p.seq))
                );
                for probe in &p.outstanding {
                    assert!(
                        self.wheel.is_armed(probe.timer),
                        "peer {i} seq {} unarmed",
                        probe.seq
                    );
                }
            }
            total += p.outstanding.len();
        }
        assert_eq!(
            self.wheel.len(),
            total,
            "wheel holds timers of settled probes"
        );
        assert_eq!(self.deadlines.len(), total);
        if full {
            // Linear in the timers sharing the earliest slot: checked with the others.
            assert_eq!(
                self.wheel.next_deadline(),
                self.deadlines.first().map(|d| d.0)
            );
        }
        // Unknown peers read as healthy and empty.
        let unknown = self.peers.len();
        assert_eq!(self.tracker.timeouts(unknown), 0);
        assert!(self.tracker.is_online(unknown));
        assert_eq!(self.tracker.outstanding_len(unknown), 0);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let t = input.u8_or0();
    let threshold = match t {
        0xf8..=0xff => u32::MAX,
        _ => u32::from(t % 8), // 0 is treated as 1
    };
    let p = input.u8_or0();
    let peers = usize::from(p) % 5;
    let online_threshold = 1 + u32::from(p >> 5);
    let timeout = 1 + u64::from(input.u8_or0()) * 4;
    let start = match input.u8_or0() % 4 {
        0 => 0,
        1 => (1 << 36) - 1_000, // just before the wheel's horizon
        2 => 1_000_000_000,
        _ => u64::MAX - 20_000, // the clock saturates at the end of time
    };
    let mut tracker = Tracker::new(peers, threshold);
    tracker.set_online_threshold(online_threshold);
    let mut sim = Sim {
        threshold: threshold.max(1),
        online_threshold,
        timeout,
        now: start,
        tracker,
        wheel: Wheel::new(start),
        peers: (0..peers).map(|_| PeerModel::new()).collect(),
        deadlines: BTreeSet::new(),
        last_at: start,
        last_fired: 0,
    };
    sim.check(true);

    let mut ops = 0u32;
    while let Some(op) = input.u8() {
        // Peer arguments may name one past the last peer: an unknown peer.
        let n = sim.peers.len() + 1;
        match op % 12 {
            0 | 1 => {
                let peer = usize::from(input.u8_or0()) % n;
                sim.start_probe(peer);
            }
            2 => {
                // A probe round: every peer, as the daemon's round timer does.
                for peer in 0..sim.peers.len() {
                    sim.start_probe(peer);
                }
            }
            3 | 4 => {
                let peer = usize::from(input.u8_or0()) % n;
                let pick = input.u8_or0();
                sim.reply(peer, pick);
            }
            5 => {
                let peer = usize::from(input.u8_or0()) % n;
                let pick = input.u8_or0();
                sim.stale(peer, pick);
            }
            6 => {
                let peer = usize::from(input.u8_or0()) % n;
                sim.miss_all(peer);
            }
            7 => {
                let b = input.u8_or0();
                if b & 0x80 == 0 {
                    sim.add_peer();
                } else {
                    sim.set_thresholds(u32::from(b & 7), u32::from((b >> 3) & 7));
                }
            }
            8 | 9 => {
                let a = input.u8_or0();
                let step = u64::from(a & 0x3f);
                let by = match a >> 6 {
                    0 => step,
                    1 => step * 64,
                    2 => timeout,
                    _ => step * 100_000,
                };
                sim.advance(sim.now.saturating_add(by));
            }
            10 => {
                // Exactly onto the next deadline, or one short of it (nothing may fire).
                let short = input.u8_or0() & 1;
                if let Some(d) = sim.wheel.next_deadline() {
                    let target = d.saturating_sub(u64::from(short)).max(sim.now);
                    let before = sim.wheel.len();
                    sim.advance(target);
                    if short == 1 && d > target {
                        assert_eq!(sim.wheel.len(), before, "fired before its deadline");
                    }
                }
            }
            _ => {
                let by = u64::from(input.u16());
                sim.advance(sim.now.saturating_add(by));
            }
        }
        ops += 1;
        // The per-probe checks every 8 ops keep long inputs fast; the totals (wheel length,
        // next deadline, counts) are checked after every op.
        sim.check(ops.is_multiple_of(8) || sim.deadlines.len() <= 32);
    }
    sim.check(true);
    // The end of time: every probe in flight times out, in deadline order.
    sim.advance(u64::MAX);
    sim.check(true);
    assert!(sim.wheel.is_empty());
});
