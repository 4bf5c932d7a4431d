//! The engine driven by hand: no sockets, no clock. Each test plays the shell and the
//! peers, and reads the actions back.

use std::net::SocketAddr;

use super::link::REPLACED_SINGLE;
use super::output::encode_seq;
use super::*;
use crate::config::Node;
use crate::wire::framer::MAX_LINE;

const INTERVAL: u64 = 200;
const TIMEOUT: u64 = 300;
/// 2026-01-01T00:00:00Z minus 1 s, so a test can cross a UTC midnight.
const WALL0: i64 = 1_767_225_599_000;

pub(super) fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, i], 47000 + u16::from(i)))
}

pub(super) fn config(nodes: u8, threshold: u32) -> Config {
    let nodes = (1..=nodes).map(|i| Node::new(format!("node{i}"), addr(i)));
    Config {
        interval_ms: INTERVAL,
        timeout_ms: TIMEOUT,
        offline_threshold: threshold,
        ..Config::new(nodes.collect(), 0)
    }
}

mod duplex;
mod ops;
mod view;

struct Harness {
    engine: Engine,
    now: Now,
    /// The config in force.
    cfg: Config,
}

impl Harness {
    fn new(nodes: u8, threshold: u32) -> Harness {
        Harness::as_node(nodes, threshold, 0)
    }

    /// The harness as node `me + 1` of the mesh (slot `me`).
    fn as_node(nodes: u8, threshold: u32, me: usize) -> Harness {
        let cfg = Config {
            me,
            whoami: format!("node{}", me + 1),
            ..config(nodes, threshold)
        };
        let now = Now::ms(0, WALL0 - 60_000);
        let mut engine = Engine::new(&cfg, now);
        // These tests check every byte on the links: views are checked apart (view_tests).
        engine.set_views(false);
        // Most tests here check the rules of one link; `two_links` checks the second.
        engine.set_links_per_peer(1);
        Harness { engine, now, cfg }
    }

    /// Moves both clocks to `mono` and runs the due timers.
    fn at(&mut self, mono: u64) -> Vec<Action> {
        let step = mono - self.now.mono;
        self.now.mono = mono;
        self.now.wall += step as i64;
        self.engine.handle_timeout(self.now);
        self.actions()
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.engine.poll_action()).collect()
    }

    /// Takes everything queued on `conn` as if written.
    fn take_output(&mut self, conn: ConnId) -> String {
        let out = String::from_utf8(self.engine.output(conn).to_vec()).unwrap();
        self.engine.wrote(conn, out.len());
        out
    }

    fn data(&mut self, conn: ConnId, bytes: &str) -> Vec<Action> {
        self.engine.on_data(conn, bytes.as_bytes(), self.now);
        self.actions()
    }

    /// Brings our link to `peer` (1-based node number) up: connected, HELLO exchanged.
    fn link_up(&mut self, conn: ConnId, peer: u8) {
        self.engine.on_connected(conn, self.now);
        self.actions();
        let hello = format!("HELLO 1 node{}\n", self.cfg.me + 1);
        assert_eq!(self.take_output(conn), hello);
        self.data(conn, &format!("HELLO 1 node{peer}\n"));
        self.take_duplex(conn);
    }

    /// Takes the `DUPLEX` our link announces after its handshake, ahead of whatever
    /// follows it.
    fn take_duplex(&mut self, conn: ConnId) {
        let out = self.engine.output(conn);
        assert!(
            out.starts_with(b"DUPLEX\n"),
            "{:?}",
            String::from_utf8_lossy(out)
        );
        self.engine.wrote(conn, "DUPLEX\n".len());
    }
}

fn connects(actions: &[Action]) -> Vec<(ConnId, SocketAddr)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Connect { conn, addr } => Some((*conn, *addr)),
            _ => None,
        })
        .collect()
}

/// Event lines as (peer number, count).
fn events(actions: &[Action]) -> Vec<(usize, u32)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(LogRecord::Event { peer, timeouts, .. }) => Some((peer.0 + 1, *timeouts)),
            _ => None,
        })
        .collect()
}

fn closes(actions: &[Action]) -> Vec<(ConnId, CloseReason)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Close { conn, reason } => Some((*conn, *reason)),
            _ => None,
        })
        .collect()
}

fn says(actions: &[Action], needle: &str) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Say(s) if s.contains(needle)))
}

/// A two-node mesh whose link is up; returns the harness and the link.
fn pair() -> (Harness, ConnId) {
    let mut h = Harness::new(2, 3);
    let first = h.actions();
    let links = connects(&first);
    assert_eq!(links.len(), 1);
    let (link, to) = links[0];
    assert_eq!(to, addr(2));
    h.link_up(link, 2);
    assert_eq!(h.engine.link_state(PeerId(1)), Some(LinkState::Ready));
    (h, link)
}

#[test]
fn start_dials_every_peer_but_itself() {
    let mut h = Harness::new(4, 3);
    let dialled: Vec<SocketAddr> = connects(&h.actions()).into_iter().map(|c| c.1).collect();
    assert_eq!(dialled, vec![addr(2), addr(3), addr(4)]);
    assert_eq!(h.engine.poll_at(), Some(INTERVAL.min(DAY_CHECK_MS)));
}

#[test]
fn probes_answered_in_time_log_nothing() {
    let (mut h, link) = pair();
    for round in 1..=20u64 {
        let acts = h.at(round * INTERVAL);
        assert!(events(&acts).is_empty(), "{acts:?}");
        assert_eq!(h.take_output(link), format!("PING {}\n", round - 1));
        h.now.mono += 5;
        let acts = h.data(link, &format!("PONG {}\n", round - 1));
        assert!(events(&acts).is_empty());
        h.now.mono -= 5;
    }
    assert_eq!(h.engine.timeouts(PeerId(1)), 0);
}

#[test]
fn a_refusing_peer_counts_one_per_round_up_to_the_threshold_once() {
    let mut h = Harness::new(2, 3);
    let mut link = connects(&h.actions())[0].0;
    let mut logged = Vec::new();
    for round in 1..=6u64 {
        let refused = CloseReason::Io {
            op: IoOp::Connect,
            errno: 111,
        };
        h.engine.on_closed(link, refused, h.now);
        let acts = h.actions();
        logged.extend(events(&acts));
        let acts = h.at(round * INTERVAL);
        logged.extend(events(&acts));
        if let Some(&(c, _)) = connects(&acts).first() {
            link = c;
        }
    }
    assert_eq!(
        logged,
        vec![(2, 1), (2, 2), (2, 3)],
        "then nothing while offline"
    );
    assert_eq!(h.engine.timeouts(PeerId(1)), 3);
}

#[test]
fn a_silent_peer_is_counted_probe_by_probe_and_its_stuck_link_redialled() {
    let (mut h, link) = pair();
    let acts = h.at(INTERVAL);
    assert!(connects(&acts).is_empty());
    assert_eq!(h.take_output(link), "PING 0\n");
    h.at(2 * INTERVAL);
    assert_eq!(h.take_output(link), "PING 1\n");
    // No reply: at the probe's deadline the miss is logged; the link stays (TCP may be
    // repairing a loss, and the probes behind it would arrive with the repair).
    let acts = h.at(INTERVAL + TIMEOUT);
    assert_eq!(events(&acts), vec![(2, 1)]);
    assert!(
        closes(&acts).is_empty() && connects(&acts).is_empty(),
        "{acts:?}"
    );
    let acts = h.at(2 * INTERVAL + TIMEOUT - 1);
    assert!(events(&acts).is_empty(), "{acts:?}");
    let acts = h.at(2 * INTERVAL + TIMEOUT);
    assert_eq!(events(&acts), vec![(2, 2)]);
    // Still no answer once PING 0 has waited stuck_ms: at that turn the link is
    // abandoned and redialled, and not a turn before.
    let stuck = INTERVAL + stuck_ms(TIMEOUT);
    assert_eq!(stuck % INTERVAL, 0, "the bound ends on a turn here");
    let acts = h.at(stuck - INTERVAL);
    assert!(closes(&acts).is_empty(), "{acts:?}");
    h.take_output(link);
    let acts = h.at(stuck);
    assert_eq!(closes(&acts), vec![(link, CloseReason::ProbeTimeout)]);
    assert_eq!(connects(&acts).len(), 1, "redialled at once: {acts:?}");
}

#[test]
fn a_late_reply_keeps_the_link_and_the_next_probe_counts() {
    let (mut h, link) = pair();
    h.at(INTERVAL);
    h.take_output(link);
    // (The clocks only go forwards: the second turn comes before the first deadline.)
    assert!(events(&h.at(2 * INTERVAL)).is_empty());
    assert_eq!(h.take_output(link), "PING 1\n");
    let acts = h.at(INTERVAL + TIMEOUT);
    assert_eq!(events(&acts), vec![(2, 1)]);
    // Both PONGs arrive together, as after a retransmission: PING 0's is too late and
    // ignored, PING 1's is in time and brings the count back to 0; no redial.
    let acts = h.data(link, "PONG 0\nPONG 1\n");
    assert_eq!(events(&acts), vec![(2, 0)]);
    assert!(closes(&acts).is_empty() && connects(&acts).is_empty());
    // The link owes nothing now: it is not stuck later.
    let acts = h.at(INTERVAL + stuck_ms(TIMEOUT));
    assert!(!closes(&acts).contains(&(link, CloseReason::ProbeTimeout)));
}

#[test]
fn two_links_carry_every_probe_and_the_first_reply_counts() {
    let mut h = Harness::new(2, 3);
    h.engine.set_links_per_peer(LINKS_PER_PEER);
    let first = connects(&h.actions());
    assert_eq!(first.len(), 1, "one link at start");
    let a = first[0].0;
    h.link_up(a, 2);
    // The second link is dialled at the peer's first turn; that turn's probe goes on the
    // first, and on the second once it is up.
    let acts = h.at(INTERVAL);
    let b = connects(&acts)[0].0;
    assert_eq!(h.take_output(a), "PING 0\n");
    h.link_up(b, 2);
    assert_eq!(h.take_output(b), "PING 0\n");
    h.at(2 * INTERVAL);
    assert_eq!(h.take_output(a), "PING 1\n");
    assert_eq!(h.take_output(b), "PING 1\n");
    // Link a is stalled (a loss): b answers; nothing is logged.
    assert!(events(&h.data(b, "PONG 0\nPONG 1\n")).is_empty());
    // The same answers arriving late on a count for nothing.
    assert!(h.data(a, "PONG 0\nPONG 1\n").is_empty());
    assert_eq!(h.engine.peers().next().map(|p| p.stats.replied), Some(2));
    // A failed link does not fail the probes the other still carries.
    h.at(3 * INTERVAL);
    h.take_output(a);
    h.take_output(b);
    h.engine.on_closed(a, CloseReason::ClosedByPeer, h.now);
    let acts = h.actions();
    assert!(events(&acts).is_empty(), "{acts:?}");
    assert!(events(&h.data(b, "PONG 2\n")).is_empty());
    // The lost link is redialled at the next turn; with the other gone too, the probes
    // in flight wait for the redial (it carries them once up); when it fails as well,
    // nothing is left to carry them, and they count.
    let acts = h.at(4 * INTERVAL);
    let redial = connects(&acts)[0].0;
    assert_eq!(connects(&acts).len(), 1, "{acts:?}");
    h.engine.on_closed(b, CloseReason::ClosedByPeer, h.now);
    assert!(events(&h.actions()).is_empty());
    let refused = CloseReason::Io {
        op: IoOp::Connect,
        errno: libc::ECONNREFUSED,
    };
    h.engine.on_closed(redial, refused, h.now);
    assert_eq!(events(&h.actions()), vec![(2, 1)]);
}

/// A two-node mesh with both links to node2 up (`a` first, `b` second) and its round trip
/// known (2 ms: probe 0 answered on both at `INTERVAL + 2`): the peer is clean, so its
/// next probe (1, at `2 * INTERVAL`) goes on one link, hedged after [`hedge_ms`]: 25 ms.
fn clean_pair() -> (Harness, ConnId, ConnId) {
    let mut h = Harness::new(2, 3);
    h.engine.set_links_per_peer(LINKS_PER_PEER);
    let a = connects(&h.actions())[0].0;
    h.link_up(a, 2);
    let acts = h.at(INTERVAL);
    let b = connects(&acts)[0].0;
    // No round trip known yet: the first probe goes on every link.
    assert_eq!(h.take_output(a), "PING 0\n");
    h.link_up(b, 2);
    assert_eq!(h.take_output(b), "PING 0\n");
    h.at(INTERVAL + 2);
    assert!(h.data(a, "PONG 0\n").is_empty());
    assert!(h.data(b, "PONG 0\n").is_empty());
    assert_eq!(hedge_ms(2_000, 1_000, TIMEOUT), 25);
    (h, a, b)
}

fn hedge_of(h: &Harness) -> Option<crate::timer::TimerId> {
    h.engine.peers.get(1).and_then(|p| p.hedge)
}

#[test]
fn a_clean_peers_probes_go_on_one_link_alternating_and_a_reply_cancels_the_hedge() {
    let (mut h, a, b) = clean_pair();
    for round in 2..=5u64 {
        h.at(round * INTERVAL);
        let seq = round - 1;
        // Odd probes on the second link, even ones on the first: both carry traffic.
        let (on, off) = if seq % 2 == 1 { (b, a) } else { (a, b) };
        assert_eq!(h.take_output(on), format!("PING {seq}\n"), "round {round}");
        assert_eq!(h.take_output(off), "", "round {round}");
        assert!(hedge_of(&h).is_some(), "a hedge is armed");
        h.at(round * INTERVAL + 1);
        assert!(h.data(on, &format!("PONG {seq}\n")).is_empty());
        // The reply cancelled the hedge: nothing is left to wake for before the next turn.
        assert!(hedge_of(&h).is_none());
        assert_eq!(h.engine.poll_at(), Some((round + 1) * INTERVAL));
        assert!(h.at(round * INTERVAL + 30).is_empty());
        assert_eq!(h.take_output(off), "");
    }
    assert_eq!(h.engine.peers().next().map(|p| p.stats.replied), Some(5));
}

#[test]
fn an_unanswered_probe_is_hedged_on_the_other_link_and_the_peer_turns_dual() {
    let (mut h, a, b) = clean_pair();
    h.at(2 * INTERVAL);
    assert_eq!(h.take_output(b), "PING 1\n");
    // Not yet at 24 ms; at 25 ms the probe goes out on the other link.
    h.at(2 * INTERVAL + 24);
    assert_eq!(h.take_output(a), "");
    h.at(2 * INTERVAL + 25);
    assert_eq!(h.take_output(a), "PING 1\n");
    assert_eq!(h.take_output(b), "");
    assert_eq!(h.engine.peers.get(1).map(|p| p.dual), Some(DUAL_TURNS));
    // Its copy's reply counts: no miss.
    h.at(2 * INTERVAL + 27);
    assert!(events(&h.data(a, "PONG 1\n")).is_empty());
    // Dual: every probe goes on both links, for DUAL_TURNS turns (the first link's late
    // probe keeps it dual meanwhile, until its reply comes).
    h.at(3 * INTERVAL);
    assert_eq!(h.take_output(a), "PING 2\n");
    assert_eq!(h.take_output(b), "PING 2\n");
    h.at(3 * INTERVAL + 1);
    h.data(a, "PONG 2\n");
    h.data(b, "PONG 1\nPONG 2\n");
    for round in 4..(4 + u64::from(DUAL_TURNS)) {
        h.at(round * INTERVAL);
        let seq = round - 1;
        let ping = format!("PING {seq}\n");
        assert_eq!(h.take_output(a), ping, "round {round}");
        assert_eq!(h.take_output(b), ping, "round {round}");
        h.at(round * INTERVAL + 1);
        let pong = format!("PONG {seq}\n");
        h.data(a, &pong);
        h.data(b, &pong);
    }
    // Then clean again: one link.
    let round = 4 + u64::from(DUAL_TURNS);
    h.at(round * INTERVAL);
    let out = h.take_output(a) + &h.take_output(b);
    assert_eq!(out, format!("PING {}\n", round - 1));
    assert!(events(&h.actions()).is_empty());
}

#[test]
fn a_reply_later_than_the_hedge_delay_keeps_the_peer_dual() {
    let (mut h, a, b) = clean_pair();
    h.at(2 * INTERVAL);
    assert_eq!(h.take_output(b), "PING 1\n");
    h.at(2 * INTERVAL + 25);
    assert_eq!(h.take_output(a), "PING 1\n");
    h.at(2 * INTERVAL + 26);
    h.data(a, "PONG 1\n");
    h.data(b, "PONG 1\n");
    // Turns go by, twice DUAL_TURNS of them; every 16th reply on the second link comes
    // 45 ms late (a loss TCP repaired), the rest, and the first link's, in 1 ms: each late
    // one starts the count again, so every probe goes on both links all along.
    for round in 3..=(3 + 2 * u64::from(DUAL_TURNS)) {
        h.at(round * INTERVAL);
        let seq = round - 1;
        let ping = format!("PING {seq}\n");
        assert_eq!(h.take_output(a), ping, "round {round}");
        assert_eq!(h.take_output(b), ping, "round {round}");
        h.at(round * INTERVAL + 1);
        h.data(a, &format!("PONG {seq}\n"));
        if round % 16 == 0 {
            h.at(round * INTERVAL + 45);
        }
        h.data(b, &format!("PONG {seq}\n"));
        if round % 16 == 0 {
            assert_eq!(h.engine.peers.get(1).map(|p| p.dual), Some(DUAL_TURNS));
        }
    }
}

#[test]
fn a_probe_whose_only_link_fails_goes_out_on_the_other_at_once() {
    let (mut h, a, b) = clean_pair();
    h.at(2 * INTERVAL + 1);
    assert_eq!(h.take_output(b), "PING 1\n");
    assert_eq!(h.take_output(a), "");
    // The link carrying probe 1 is reset: not a miss, the probe goes on the other.
    h.engine.on_closed(
        b,
        CloseReason::Io {
            op: IoOp::Read,
            errno: 104,
        },
        h.now,
    );
    let acts = h.actions();
    assert!(events(&acts).is_empty(), "{acts:?}");
    assert_eq!(h.take_output(a), "PING 1\n");
    assert_eq!(h.engine.peers.get(1).map(|p| p.dual), Some(DUAL_TURNS));
    h.at(2 * INTERVAL + 3);
    assert!(events(&h.data(a, "PONG 1\n")).is_empty());
    assert!(hedge_of(&h).is_none());
    // Nothing was counted against the peer; the lost link is redialled at the next turn.
    let acts = h.at(3 * INTERVAL);
    assert_eq!(connects(&acts).len(), 1, "{acts:?}");
    assert_eq!(h.engine.tracker.timeouts(1), 0);
}

#[test]
fn a_peer_that_keeps_one_connection_gets_one_link() {
    let mut h = Harness::new(2, 3);
    h.engine.set_links_per_peer(LINKS_PER_PEER);
    let mut a = connects(&h.actions())[0].0;
    h.link_up(a, 2);
    // An earlier version closes the older of our connections when the newer's HELLO
    // comes: each turn our second link comes up and the first is closed.
    let (mut dials, mut told) = (0, false);
    let answer = |h: &mut Harness, link: ConnId| {
        let out = h.take_output(link);
        for seq in out.lines().filter_map(|l| l.strip_prefix("PING ")) {
            h.data(link, &format!("PONG {seq}\n"));
        }
    };
    for turn in 1..=6u64 {
        let acts = h.at(turn * INTERVAL);
        answer(&mut h, a);
        let Some(&(b, _)) = connects(&acts).first() else {
            continue;
        };
        dials += 1;
        h.link_up(b, 2);
        answer(&mut h, b);
        h.engine.on_closed(a, CloseReason::ClosedByPeer, h.now);
        let acts = h.actions();
        assert!(events(&acts).is_empty(), "{acts:?}");
        told |= says(&acts, "probing it on one link");
        a = b;
    }
    assert_eq!(dials, usize::from(REPLACED_SINGLE), "then one link only");
    assert!(told, "said once");
    let acts = h.at(8 * INTERVAL);
    assert!(connects(&acts).is_empty(), "{acts:?}");

    assert_eq!(h.engine.link_state(PeerId(1)), Some(LinkState::Ready));
}

#[test]
fn a_handshake_timeout_leaves_each_probe_its_own_deadline() {
    let mut h = Harness::new(2, 3);
    let link = connects(&h.actions())[0].0;
    h.engine.on_connected(link, h.now);
    h.actions();
    // The peer never answers HELLO. At TIMEOUT the link is dropped, but no probe is in
    // flight yet (the first round is at INTERVAL): nothing is counted.
    let acts = h.at(TIMEOUT.min(INTERVAL) - 1);
    assert!(events(&acts).is_empty());
    let mut at_deadline = Vec::new();
    for t in (INTERVAL..=INTERVAL * 6).step_by(50) {
        let acts = h.at(t);
        for e in events(&acts) {
            at_deadline.push((t, e));
        }
    }
    // Misses come one at a time, a round apart, never two in the same instant.
    let times: Vec<u64> = at_deadline.iter().map(|x| x.0).collect();
    let mut dedup = times.clone();
    dedup.dedup();
    assert_eq!(times, dedup, "{at_deadline:?}");
    assert_eq!(at_deadline.first().map(|x| x.1), Some((2, 1)));
}

#[test]
fn recovery_logs_zero_and_says_back_online() {
    let (mut h, link) = pair();
    for round in 1..=3u64 {
        h.at(round * INTERVAL);
        h.at(round * INTERVAL + TIMEOUT - 100);
    }
    let acts = h.at(4 * INTERVAL + TIMEOUT);
    assert!(events(&acts).contains(&(2, 3)), "{acts:?}");
    assert!(says(&acts, "node2 offline after 3 timeouts"));
    // The link stuck since PING 0 is redialled at the turn stuck_ms after it; the
    // redialled link comes up, the outstanding probes go out again and one answer
    // brings the peer back.
    let acts = h.at(INTERVAL + stuck_ms(TIMEOUT));
    assert!(closes(&acts).contains(&(link, CloseReason::ProbeTimeout)));
    let new_link = h
        .engine
        .peers
        .get(1)
        .and_then(|p| p.link)
        .expect("a link is being dialled");
    let _ = acts;
    h.engine.on_connected(new_link, h.now);
    h.actions();
    h.take_output(new_link);
    let acts = h.data(new_link, "HELLO 1 node2\n");
    assert!(says(&acts, "node2: connected"));
    let pings = h.take_output(new_link);
    let seq: u64 = pings
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("PING "))
        .and_then(|s| s.parse().ok())
        .expect("a PING");
    let acts = h.data(new_link, &format!("PONG {seq}\n"));
    assert_eq!(events(&acts), vec![(2, 0)]);
    assert!(says(&acts, "node2 back online"));
}

#[test]
fn the_listener_checks_who_is_calling() {
    let mut h = Harness::new(3, 3);
    h.actions();
    // A stranger is let in (for the earlier tool's HTTP), but a protocol line closes it,
    // and so does silence, sooner than a configured node's.
    let stranger = SocketAddr::from(([127, 0, 0, 9], 5000));
    let c = h.engine.on_accepted(stranger, h.now).unwrap();
    let acts = h.data(c, "HELLO 1 node2\n");
    assert_eq!(closes(&acts), vec![(c, CloseReason::WrongNode)]);
    assert!(says(&acts, "comes from 127.0.0.9"), "{acts:?}");
    let c = h.engine.on_accepted(stranger, h.now).unwrap();
    let acts = h.at(h.now.mono + STRANGER_TIMEOUT_MS);
    assert!(
        closes(&acts).contains(&(c, CloseReason::NoHello)),
        "{acts:?}"
    );
    h.now.mono += 2_000; // past the stranger-report quiet time

    // node3's address claiming to be node2.
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 3], 5000)), h.now)
        .unwrap();
    let acts = h.data(c, "HELLO 1 node2\n");
    assert_eq!(closes(&acts), vec![(c, CloseReason::WrongNode)]);
    h.now.mono += 2_000; // past the stranger-report quiet time

    // A PING before HELLO.
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5001)), h.now)
        .unwrap();
    assert_eq!(
        closes(&h.data(c, "PING 1\n")),
        vec![(c, CloseReason::Unexpected)]
    );

    // Garbage, and a line too long.
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5002)), h.now)
        .unwrap();
    assert!(matches!(
        closes(&h.data(c, "hello\n"))[..],
        [(_, CloseReason::Malformed(_))]
    ));
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5003)), h.now)
        .unwrap();
    let long = "A".repeat(MAX_LINE + 10);
    assert_eq!(
        closes(&h.data(c, &long)),
        vec![(c, CloseReason::LineTooLong)]
    );

    // The real node2: HELLO answered, PINGs answered, an unknown verb ignored.
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5004)), h.now)
        .unwrap();
    h.data(c, "HELLO 3 node2\n");
    assert_eq!(h.take_output(c), "HELLO 1 node1\n");
    let acts = h.data(c, "PING 7\nFUTURE stuff\nPING 8\n");
    assert!(closes(&acts).is_empty());
    assert_eq!(h.take_output(c), "PONG 7\nPONG 8\n");
    // A PONG on a listener connection is a protocol error.
    assert_eq!(
        closes(&h.data(c, "PONG 1\n")),
        vec![(c, CloseReason::Unexpected)]
    );
}

#[test]
fn a_connection_that_never_says_hello_is_closed() {
    let mut h = Harness::new(2, 3);
    h.actions();
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5000)), h.now)
        .unwrap();
    let acts = h.at(HANDSHAKE_TIMEOUT_MS - 1);
    assert!(!closes(&acts).iter().any(|x| x.0 == c));
    let acts = h.at(HANDSHAKE_TIMEOUT_MS);
    assert!(closes(&acts).contains(&(c, CloseReason::NoHello)));
}

#[test]
fn a_peer_that_does_not_read_is_cut_off() {
    let mut h = Harness::new(2, 3);
    h.actions();
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5000)), h.now)
        .unwrap();
    h.data(c, "HELLO 1 node2\n");
    let mut closed = Vec::new();
    for seq in 0..10_000 {
        // Never written out: the output only grows.
        closed.extend(closes(&h.data(c, &format!("PING {seq}\n"))));
        if !closed.is_empty() {
            break;
        }
    }
    assert_eq!(closed, vec![(c, CloseReason::NotReading)]);
    assert!(h.engine.output(c).is_empty(), "forgotten");
}

#[test]
fn a_newer_connection_from_a_peer_replaces_the_older() {
    let mut h = Harness::new(2, 3);
    h.actions();
    let old = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5000)), h.now)
        .unwrap();
    h.data(old, "HELLO 1 node2\n");
    let new = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5001)), h.now)
        .unwrap();
    // A peer keeps two links to us: the second is answered beside the first.
    let acts = h.data(new, "HELLO 1 node2\n");
    assert!(closes(&acts).is_empty(), "{acts:?}");
    h.data(new, "PING 0\n");
    // A third means it redialled one: the one it stopped probing on goes.
    let third = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5002)), h.now)
        .unwrap();
    let acts = h.data(third, "HELLO 1 node2\n");
    assert_eq!(closes(&acts), vec![(old, CloseReason::Replaced)]);
    // Stale ids are ignored everywhere.
    h.engine.on_data(old, b"PING 1\n", h.now);
    h.engine.on_closed(old, CloseReason::ClosedByPeer, h.now);
    assert!(h.actions().is_empty());
}

#[test]
fn a_flood_from_a_peers_address_does_not_lock_the_peer_out() {
    let mut h = Harness::new(2, 3);
    h.actions();
    let from = |port| SocketAddr::from(([127, 0, 0, 2], port));
    let flood: Vec<ConnId> = (0..100)
        .map(|p| {
            h.engine
                .on_accepted(from(1000 + p), h.now)
                .expect("accepted")
        })
        .collect();
    let evicted = closes(&h.actions());
    assert_eq!(evicted.len(), 100 - MAX_PENDING_PER_SOURCE);
    assert!(evicted.iter().all(|e| e.1 == CloseReason::Evicted));
    // The real peer gets in and completes its handshake.
    let real = h
        .engine
        .on_accepted(from(9999), h.now)
        .expect("the peer is let in");
    h.data(real, "HELLO 1 node2\n");
    assert_eq!(h.take_output(real), "HELLO 1 node1\n");
    assert!(flood.len() == 100);
}

#[test]
fn every_configured_address_has_places_of_its_own() {
    let mut h = Harness::new(255, 3);
    h.actions();
    // Every peer's address gets in, however many: none waits for another's place.
    for i in 2..=255u8 {
        h.engine
            .on_accepted(SocketAddr::from(([127, 0, 0, i], 5000)), h.now)
            .unwrap();
    }
    assert!(closes(&h.actions()).is_empty());
    assert_eq!(h.engine.waiting(), (254, 0));
    // A stranger flood fills the strangers' places only, and closes only strangers.
    for i in 0..1000u32 {
        let ip = [10, 1, (i % 250) as u8, (i / 250) as u8];
        h.engine
            .on_accepted(SocketAddr::from((ip, 5000)), h.now)
            .unwrap();
        h.now.mono += 1;
    }
    assert_eq!(closes(&h.actions()).len(), 1000 - MAX_STRANGERS);
    assert_eq!(h.engine.waiting(), (254, MAX_STRANGERS));
}

/// The property the admission rules exist for, over a long pseudo-random run: strangers'
/// connections (silent, HTTP, garbage, from few or many addresses) and configured nodes'
/// ones come and go in any order, and no stranger's arrival ever closes a configured
/// address's connection; each pool stays within its bounds; and the real peer's
/// connection, arriving at any point, completes its handshake.
#[test]
fn a_stranger_never_takes_a_configured_peers_place() {
    let mut h = Harness::new(3, 3);
    h.actions();
    let mut rng: u64 = 0x5eed;
    let mut next = move || {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (rng >> 33) as u32
    };
    let mut peer_conns: Vec<ConnId> = Vec::new();
    let mut handshakes = 0;
    for step in 0..20_000u32 {
        let r = next();
        match r % 8 {
            0..=3 => {
                // A stranger: private or public, few or many addresses.
                let ip = if r & 0x100 != 0 {
                    [127, 0, 0, 10 + (r >> 9) as u8 % 60]
                } else {
                    [203, 0, (r >> 9) as u8, (r >> 17) as u8]
                };
                let c = h
                    .engine
                    .on_accepted(SocketAddr::from((ip, 1000)), h.now)
                    .unwrap();
                let acts = h.actions();
                for (closed, _) in closes(&acts) {
                    assert!(
                        !peer_conns.contains(&closed),
                        "step {step}: a stranger from {ip:?} closed a peer's connection"
                    );
                }
                match (r >> 4) % 4 {
                    0 => {
                        h.data(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
                    }
                    1 => {
                        h.data(c, "FUTURE_VERB x\n");
                    }
                    _ => {}
                }
            }
            4 => {
                // Someone at a configured address, silent (another process there).
                let ip = [127, 0, 0, 2 + (r >> 4) as u8 % 2];
                let c = h
                    .engine
                    .on_accepted(SocketAddr::from((ip, 2000)), h.now)
                    .unwrap();
                peer_conns.push(c);
                h.actions();
            }
            5 => {
                // The real node2 or node3: its handshake completes at once.
                let n = 2 + (r >> 4) as u8 % 2;
                let c = h
                    .engine
                    .on_accepted(SocketAddr::from(([127, 0, 0, n], 3000)), h.now)
                    .unwrap();
                h.actions();
                h.data(c, &format!("HELLO 1 node{n}\n"));
                assert_eq!(h.take_output(c), "HELLO 1 node1\n", "step {step}");
                handshakes += 1;
            }
            _ => {
                h.at(h.now.mono + u64::from(r >> 4) % 700);
            }
        }
        let (at_peers, strangers) = h.engine.waiting();
        assert!(
            strangers <= MAX_STRANGERS,
            "step {step}: {strangers} strangers"
        );
        assert!(
            at_peers <= 2 * MAX_PENDING_PER_SOURCE,
            "step {step}: {at_peers}"
        );
        peer_conns.retain(|&c| h.engine.role(c).is_some());
    }
    assert!(handshakes > 1000, "{handshakes}");
}

#[test]
fn a_fresh_handshake_from_a_peer_redials_a_link_that_misses() {
    let (mut h, link) = pair();
    h.at(INTERVAL);
    h.take_output(link);
    let acts = h.at(INTERVAL + TIMEOUT);
    assert_eq!(events(&acts), vec![(2, 1)]);
    assert!(connects(&acts).is_empty());
    // The peer reaches us while our link leaves a probe overdue: that is news, redial now.
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5000)), h.now)
        .unwrap();
    let acts = h.data(c, "HELLO 1 node2\n");
    assert_eq!(closes(&acts), vec![(link, CloseReason::ProbeTimeout)]);
    let redial = connects(&acts)[0].0;
    // The redial's SYN is lost: the link waits for its handshake deadline...
    h.engine
        .on_closed(redial, CloseReason::HandshakeTimeout, h.now);
    h.actions();
    assert_eq!(h.engine.link_state(PeerId(1)), None);
    // ...but the peer reaches us again: redial now.
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5001)), h.now)
        .unwrap();
    let acts = h.data(c, "HELLO 1 node2\n");
    assert_eq!(connects(&acts).len(), 1, "{acts:?}");
}

#[test]
fn the_new_day_file_carries_counts_before_the_next_change() {
    let mut h = Harness::new(2, 3);
    let links = connects(&h.actions());
    // node2 refuses twice before midnight: count 2.
    let refused = CloseReason::Io {
        op: IoOp::Connect,
        errno: 111,
    };
    let mut link = links[0].0;
    let mut log = Vec::new();
    for round in 1..=3u64 {
        h.engine.on_closed(link, refused, h.now);
        log.extend(h.actions());
        if round == 3 {
            break;
        }
        let acts = h.at(round * INTERVAL);
        link = connects(&acts)
            .iter()
            .find(|c| c.1 == addr(2))
            .map(|c| c.0)
            .unwrap_or(link);
        log.extend(acts);
    }
    assert_eq!(events(&log), vec![(2, 1), (2, 2)]);
    // Past midnight (wall), the next refusal: the new file first carries 2, then 3.
    let acts = h.at(3 * INTERVAL);
    link = connects(&acts)
        .iter()
        .find(|c| c.1 == addr(2))
        .map(|c| c.0)
        .unwrap_or(link);
    h.now.wall = WALL0 + 1_500;
    h.engine.on_closed(link, refused, h.now);
    let acts = h.actions();
    let records: Vec<&LogRecord> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Log(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(
        records,
        vec![
            &LogRecord::NewDay {
                wall: WALL0 + 1_500,
                carried: vec![("node2".into(), 2)]
            },
            &LogRecord::Event {
                wall: WALL0 + 1_500,
                peer: PeerId(1),
                name: "node2".into(),
                timeouts: 3
            },
        ]
    );
}

#[test]
fn the_day_check_timer_switches_files_at_midnight_with_nothing_happening() {
    let mut h = Harness::new(2, 3);
    h.actions();
    let mut switched = None;
    let mut t = 0;
    while switched.is_none() && t < 120_000 {
        t += INTERVAL;
        let acts = h.at(t);
        switched = acts.into_iter().find_map(|a| match a {
            Action::Log(LogRecord::NewDay { wall, .. }) => Some(wall),
            _ => None,
        });
    }
    let wall = switched.expect("a day switch");
    assert!(
        wall >= WALL0 + 1_000 && wall < WALL0 + 1_000 + INTERVAL as i64,
        "{wall}"
    );
}

#[test]
fn rounds_keep_their_cadence_and_restart_after_a_stall() {
    let (mut h, link) = pair();
    h.at(INTERVAL);
    assert_eq!(h.take_output(link), "PING 0\n");
    h.data(link, "PONG 0\n");
    // Stalled for 10 s (SIGSTOP): one late round, then the cadence restarts from then.
    let acts = h.at(10_000);
    assert!(h.take_output(link).starts_with("PING 1\n"));
    let _ = acts;
    assert_eq!(h.engine.poll_at(), Some(10_000 + INTERVAL));
}

#[test]
fn a_link_hello_from_the_wrong_node_is_refused() {
    let mut h = Harness::new(2, 3);
    let link = connects(&h.actions())[0].0;
    h.engine.on_connected(link, h.now);
    h.actions();
    h.take_output(link);
    let acts = h.data(link, "HELLO 1 node7\n");
    assert_eq!(closes(&acts), vec![(link, CloseReason::WrongNode)]);
    assert!(says(&acts, "says it is \"node7\""));
    // The redials that follow meet the same node: refused, said no more.
    for turn in 1..=5u64 {
        let acts = h.at(turn * INTERVAL);
        let Some(&(relink, _)) = connects(&acts).first() else {
            continue;
        };
        h.engine.on_connected(relink, h.now);
        h.actions();
        h.take_output(relink);
        let acts = h.data(relink, "HELLO 1 node7\n");
        assert_eq!(closes(&acts), vec![(relink, CloseReason::WrongNode)]);
        assert!(!says(&acts, "says it is"), "turn {turn}: {acts:?}");
    }
}

#[test]
fn alternating_errors_are_one_trouble() {
    let mut h = Harness::new(2, 3);
    let mut link = connects(&h.actions())[0].0;
    let mut lines = 0;
    for turn in 1..=10u64 {
        // The peer's host resets some attempts and closes others (a node on the wrong
        // address is refused like this every round).
        let reason = if turn % 2 == 0 {
            CloseReason::ClosedByPeer
        } else {
            CloseReason::Io {
                op: IoOp::Read,
                errno: libc::ECONNRESET,
            }
        };
        h.engine.on_connected(link, h.now);
        h.actions();
        h.take_output(link);
        h.engine.on_closed(link, reason, h.now);
        lines += h
            .actions()
            .iter()
            .filter(|a| matches!(a, Action::Say(s) if s.starts_with("peer node2:")))
            .count();
        let acts = h.at(turn * INTERVAL);
        link = connects(&acts).first().map_or(link, |c| c.0);
    }
    assert_eq!(lines, 1);
}

#[test]
fn trouble_is_reported_once_per_kind() {
    let mut h = Harness::new(2, 3);
    let mut link = connects(&h.actions())[0].0;
    let mut reports = 0;
    for round in 1..=10u64 {
        let refused = CloseReason::Io {
            op: IoOp::Connect,
            errno: 111,
        };
        h.engine.on_closed(link, refused, h.now);
        reports += h
            .actions()
            .iter()
            .filter(|a| matches!(a, Action::Say(s) if s.contains("connect:")))
            .count();
        let acts = h.at(round * INTERVAL);
        link = connects(&acts).first().map_or(link, |c| c.0);
    }
    assert_eq!(reports, 1);
}

#[test]
fn close_reasons_have_stable_labels() {
    let all = [
        CloseReason::ClosedByPeer,
        CloseReason::Io {
            op: IoOp::Connect,
            errno: 111,
        },
        CloseReason::Io {
            op: IoOp::Read,
            errno: 104,
        },
        CloseReason::Io {
            op: IoOp::Write,
            errno: 32,
        },
        CloseReason::HandshakeTimeout,
        CloseReason::ProbeTimeout,
        CloseReason::NoHello,
        CloseReason::LineTooLong,
        CloseReason::Malformed(crate::wire::message::ParseError::Empty),
        CloseReason::Unexpected,
        CloseReason::WrongNode,
        CloseReason::NotReading,
        CloseReason::Replaced,
        CloseReason::Evicted,
        CloseReason::Reconfigured,
    ];
    let mut kinds: Vec<&str> = all.iter().map(|r| r.kind()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), all.len());
    assert!(
        kinds
            .iter()
            .all(|k| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    );
    assert_eq!(
        CloseReason::Io {
            op: IoOp::Connect,
            errno: 111
        }
        .to_string(),
        format!("connect: {}", std::io::Error::from_raw_os_error(111))
    );
}

#[test]
fn encode_seq_matches_the_wire_encoder() {
    for seq in [0, 1, 9, 10, 12345, u64::MAX] {
        let mut buf = [0u8; 64];
        let mut want = Vec::new();
        Message::Ping { seq }.encode(&mut want);
        assert_eq!(encode_seq(&mut buf, b"PING ", seq), &want[..]);
    }
}

#[test]
fn a_small_mesh_probes_its_peers_together_at_stable_phases() {
    // Four peers: all probed at the same instant of each 200 ms interval, the wall
    // clock's multiples of it (the harness starts on one).
    let mut h = Harness::new(5, 3);
    let links = connects(&h.actions());
    assert_eq!(links.len(), 4);
    for (k, &(conn, _)) in links.iter().enumerate() {
        h.link_up(conn, k as u8 + 2);
    }
    let mut sent_at: Vec<Vec<u64>> = vec![Vec::new(); 4];
    let record = |h: &mut Harness, sent_at: &mut Vec<Vec<u64>>, t: u64| {
        h.at(t);
        for (k, &(conn, _)) in links.iter().enumerate() {
            let out = h.take_output(conn);
            for line in out.lines() {
                let seq = line.strip_prefix("PING ").expect("only PINGs");
                h.data(conn, &format!("PONG {seq}\n"));
                sent_at[k].push(t);
            }
        }
    };
    for t in 1..=1_000u64 {
        record(&mut h, &mut sent_at, t);
    }
    let want: Vec<u64> = (1..=5).map(|r| r * INTERVAL).collect();
    for (k, times) in sent_at.iter().enumerate() {
        assert_eq!(times[..], want[..], "peer {k}: {times:?}");
    }
    // A 10 s stall: each peer probes once at the end of it, then keeps its phase.
    record(&mut h, &mut sent_at, 10_050);
    for t in 10_051..=10_450u64 {
        record(&mut h, &mut sent_at, t);
    }
    for (k, times) in sent_at.iter().enumerate() {
        let after: Vec<u64> = times.iter().copied().filter(|&t| t > 10_000).collect();
        assert_eq!(after, [10_050, 10_200, 10_400], "peer {k}");
    }
    assert!(events(&h.actions()).is_empty());
}

#[test]
fn a_wake_up_that_sent_probes_lingers_where_a_short_wait_is_small() {
    use super::probe::LINGER_MS;
    let mut h = Harness::new(5, 3);
    let links = connects(&h.actions());
    // Turns with no link ready send nothing: nothing is on its way, no linger.
    h.at(INTERVAL);
    assert_eq!(h.engine.take_linger(), None);
    for (k, &(conn, _)) in links.iter().enumerate() {
        h.link_up(conn, k as u8 + 2);
    }
    h.at(2 * INTERVAL - 1);
    assert_eq!(h.engine.take_linger(), None, "no turn, no linger");
    h.at(2 * INTERVAL);
    assert_eq!(h.engine.take_linger(), Some(2 * INTERVAL + LINGER_MS));
    assert_eq!(h.engine.take_linger(), None, "asked once");
    // Replies read and answered in the next wake-up: no turn, no linger.
    for &(conn, _) in &links {
        let out = h.take_output(conn);
        let seq = out.trim().strip_prefix("PING ").expect("a PING");
        h.data(conn, &format!("PONG {seq}\n"));
    }
    h.at(2 * INTERVAL + LINGER_MS);
    assert_eq!(h.engine.take_linger(), None);

    // Where the wait is not small: slots 12.5 ms apart (250 nodes at 200 ms: 16 slots),
    // or a timeout of 60 ms (the hedge delay's floor 5 ms).
    let start = Now::ms(0, WALL0 - 60_000);
    for cfg in [
        config(250, 3),
        Config {
            timeout_ms: 60,
            ..config(5, 3)
        },
    ] {
        let mut e = Engine::new(&cfg, start);
        e.set_links_per_peer(1);
        e.set_views(false);
        let dials: Vec<ConnId> = std::iter::from_fn(|| e.poll_action())
            .filter_map(|a| match a {
                Action::Connect { conn, .. } => Some(conn),
                _ => None,
            })
            .collect();
        for (k, &conn) in dials.iter().enumerate() {
            e.on_connected(conn, start);
            e.on_data(conn, format!("HELLO 1 node{}\n", k + 2).as_bytes(), start);
        }
        let mut linger = None;
        for t in 1..=cfg.interval_ms {
            e.handle_timeout(Now::ms(t, start.wall + t as i64));
            linger = linger.or(e.take_linger());
        }
        assert_eq!(
            linger,
            None,
            "{} nodes, timeout {}",
            cfg.nodes.len(),
            cfg.timeout_ms
        );
        let pinged = dials
            .iter()
            .filter(|&&c| e.output(c).windows(5).any(|w| w == b"PING "))
            .count();
        assert_eq!(pinged, dials.len(), "every link carries a probe");
    }
}

/// Every node's first turns in a mesh of `n` started at `now`, without the lag of a
/// pair's later node (checked here: half the slack): `turns[me][peer]`.
fn first_turns(n: u8, now: Now) -> Vec<Vec<Option<u64>>> {
    (0..usize::from(n))
        .map(|me| {
            let cfg = Config { me, ..config(n, 3) };
            let engine = Engine::new(&cfg, now);
            // Only where a round is one slot.
            let lag = if engine.slots() == 1 {
                engine.slack() / 2
            } else {
                0
            };
            assert!(lag > 0 || n > BURST as u8 + 1);
            (0..usize::from(n))
                .map(|peer| {
                    (peer != me).then(|| {
                        let t = engine.first_turn(peer, now);
                        if peer > me || lag == 0 {
                            return t;
                        }
                        // Lagged: the first slot's turn falls `lag` after the start,
                        // the others' `lag` after their phase.
                        match t - lag {
                            t if t == now.mono => t + INTERVAL,
                            t => t,
                        }
                    })
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_large_mesh_spreads_each_round_in_bursts_and_each_node_takes_its_own_rotation() {
    // 40 nodes, 39 peers each: 3 slots of at most BURST, at 0, 66 and 133 ms (started on
    // a beat, the first slot's turn is a whole interval ahead, never at the start).
    let now = Now::ms(0, WALL0 - 60_000);
    let turns = first_turns(40, now);
    let phases = [INTERVAL, INTERVAL / 3, 2 * INTERVAL / 3];
    for (me, row) in turns.iter().enumerate() {
        let mut per_slot = [0usize; 3];
        for &t in row.iter().flatten() {
            let slot = phases.iter().position(|&p| p == t).expect("a slot's phase");
            per_slot[slot] += 1;
        }
        assert!(
            per_slot.iter().all(|&c| c <= BURST),
            "node {me}: {per_slot:?}"
        );
        assert_eq!(per_slot.iter().sum::<usize>(), 39);
    }
    // Each node is probed by the others spread over the slots too, not all at once.
    for target in 0..40 {
        let mut per_slot = [0usize; 3];
        for row in &turns {
            if let Some(Some(t)) = row.get(target) {
                per_slot[phases.iter().position(|p| p == t).unwrap()] += 1;
            }
        }
        assert!(
            per_slot.iter().all(|&c| c <= 14),
            "node {target}: {per_slot:?}"
        );
    }
    // A mesh of BURST + 1 nodes still takes one slot.
    let small = first_turns(BURST as u8 + 1, now);
    assert!(small.iter().flatten().flatten().all(|&t| t == INTERVAL));
}

#[test]
fn nodes_started_apart_take_their_turns_on_the_same_beat_of_the_wall_clock() {
    // Started 73 ms and 1234 ms apart, on clocks that agree: the first turns fall on
    // the same wall instant, the first multiple of the interval after the start (within
    // one interval: a node restarted during an outage must log it within the bound).
    let mono0 = 5_000;
    let wall = |mono: u64| WALL0 - 60_000 + 37 + (mono - mono0) as i64;
    let mut at_wall = Vec::new();
    for start in [mono0, mono0 + 73, mono0 + 1234] {
        let now = Now::ms(start, wall(start));
        let engine = Engine::new(&config(3, 3), now);
        for peer in 1..3 {
            let due = engine.first_turn(peer, now);
            assert!(due > start && due <= start + INTERVAL, "{due}");
            let w = wall(due);
            assert_eq!(w % INTERVAL as i64, 0, "{w}");
            at_wall.push(w);
        }
    }
    assert_eq!(at_wall[..4], [at_wall[0]; 4], "{at_wall:?}");
    assert_eq!(at_wall[4], at_wall[0] + 6 * INTERVAL as i64, "{at_wall:?}");
}

#[test]
fn a_reply_owed_close_before_our_turn_takes_the_turn_with_it() {
    let (mut h, link) = pair();
    let inbound = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5000)), h.now)
        .unwrap();
    h.data(inbound, "HELLO 1 node2\n");
    h.take_output(inbound);
    let slack = h.engine.slack();
    assert_eq!(slack, INTERVAL / 8);
    // Node2's PING one ms before the slack: answered, and our turn waits for its time.
    h.at(INTERVAL - slack - 1);
    h.data(inbound, "PING 7\n");
    assert_eq!(h.engine.poll_at(), Some(INTERVAL));
    h.at(INTERVAL - slack - 1);
    assert_eq!(h.take_output(inbound), "PONG 7\n");
    assert_eq!(h.take_output(link), "");
    assert_eq!(h.engine.poll_at(), Some(INTERVAL));
    // Within the slack: the reply and our PING go out in the same wake-up, the PING once
    // the wake-up's input is all read (the shell's handle_timeout).
    h.at(INTERVAL - slack);
    h.data(inbound, "PING 8\n");
    assert_eq!(h.take_output(link), "");
    assert_eq!(h.engine.poll_at(), Some(INTERVAL - slack));
    h.at(INTERVAL - slack);
    assert_eq!(h.take_output(inbound), "PONG 8\n");
    assert_eq!(h.take_output(link), "PING 0\n");
    // No second PING when the turn's time comes; the next turn keeps the phase.
    h.at(INTERVAL);
    assert_eq!(h.take_output(link), "");
    h.data(link, "PONG 0\n");
    h.at(2 * INTERVAL - 1);
    assert_eq!(h.take_output(link), "");
    h.at(2 * INTERVAL);
    assert_eq!(h.take_output(link), "PING 1\n");
    assert!(events(&h.actions()).is_empty());
}

#[test]
fn this_machines_trouble_is_never_counted_against_a_peer() {
    let mut h = Harness::new(2, 3);
    let mut link = connects(&h.actions())[0].0;
    // As the shell tells it (daemon::sys::close_reason): this machine's trouble.
    let emfile = CloseReason::Local {
        op: IoOp::Connect,
        errno: libc::EMFILE,
    };
    assert!(emfile.is_local());
    let mut logged = Vec::new();
    let mut told = false;
    for turn in 1..=10u64 {
        h.engine.on_closed(link, emfile, h.now);
        let acts = h.actions();
        told |= says(&acts, "this machine");
        logged.extend(events(&acts));
        let acts = h.at(turn * INTERVAL);
        logged.extend(events(&acts));
        link = connects(&acts).first().map_or(link, |c| c.0);
    }
    assert!(logged.is_empty(), "{logged:?}");
    assert!(told);
    assert_eq!(h.engine.timeouts(PeerId(1)), 0);
    // Descriptors back, the peer really refuses: now it counts.
    let refused = CloseReason::Io {
        op: IoOp::Connect,
        errno: libc::ECONNREFUSED,
    };
    assert!(!refused.is_local());
    h.engine.on_closed(link, refused, h.now);
    assert_eq!(events(&h.actions()), vec![(2, 1)]);
}

/// Lines are read the same whatever the segment boundaries: whole lines straight from
/// the bytes, cut lines through the framer, with the same limit of MAX_LINE bytes.
#[test]
fn chunking_does_not_matter_and_the_line_limit_is_exact() {
    let mut stream = Vec::new();
    let mut want = String::new();
    for seq in 0..300u64 {
        let end = if seq % 3 == 0 { "\r\n" } else { "\n" };
        stream.extend_from_slice(format!("PING {seq}{end}").as_bytes());
        want.push_str(&format!("PONG {seq}\n"));
        if seq % 50 == 7 {
            // An unknown verb, as long as a line may be: MAX_LINE bytes with its "\n".
            let mut long = b"FUTURE ".to_vec();
            long.resize(MAX_LINE - 1, b'x');
            long.push(b'\n');
            stream.extend_from_slice(&long);
        }
    }
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..40 {
        let mut h = Harness::new(2, 3);
        h.actions();
        let c = h
            .engine
            .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5000)), h.now)
            .unwrap();
        h.data(c, "HELLO 1 node2\n");
        h.take_output(c);
        let mut got = String::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let n = if round == 0 {
                rest.len()
            } else {
                1 + (rng % 700) as usize
            }
            .min(rest.len());
            h.engine.on_data(c, &rest[..n], h.now);
            assert!(closes(&h.actions()).is_empty(), "round {round}");
            got.push_str(&h.take_output(c));
            rest = &rest[n..];
        }
        assert_eq!(got, want, "round {round}");
    }
    // One byte more than the limit closes the connection, whole or cut.
    for split in [None, Some(1), Some(300)] {
        let mut h = Harness::new(2, 3);
        h.actions();
        let c = h
            .engine
            .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5000)), h.now)
            .unwrap();
        h.data(c, "HELLO 1 node2\n");
        let mut long = b"FUTURE ".to_vec();
        long.resize(MAX_LINE, b'x');
        long.push(b'\n');
        let acts = match split {
            None => h.data(c, std::str::from_utf8(&long).unwrap()),
            Some(at) => {
                h.engine.on_data(c, &long[..at], h.now);
                h.engine.on_data(c, &long[at..], h.now);
                h.actions()
            }
        };
        assert_eq!(
            closes(&acts),
            vec![(c, CloseReason::LineTooLong)],
            "{split:?}"
        );
    }
}

#[test]
fn counters_follow_probes_transitions_and_closes() {
    let (mut h, link) = pair();
    let peer = |h: &Harness| {
        let p = h.engine.peers().next().unwrap();
        (p.name.to_string(), p.online, p.timeouts, p.stats.clone())
    };
    let (name, online, _, s) = peer(&h);
    assert_eq!(
        (name.as_str(), online, s.since_wall),
        ("node2", true, h.now.wall)
    );
    let start_wall = h.now.wall;

    // A probe answered 1.250 ms after it was written (sub-millisecond clock included).
    h.at(INTERVAL);
    assert_eq!(h.take_output(link), "PING 0\n");
    h.now.micros = 250;
    h.now.mono += 1;
    h.data(link, "PONG 0\n");
    h.now.micros = 0;
    let (_, _, _, s) = peer(&h);
    assert_eq!((s.started, s.replied, s.timed_out), (1, 1, 0));
    assert_eq!(s.last_rtt_us, Some(1_250));
    assert_eq!(s.rtt.count(), 1);
    assert_eq!(s.rtt.counts[2], 1, "1.25 ms is in the le=2.5ms bucket");
    assert_eq!(h.engine.conn_counts().out, [0, 0, 1]);

    // Silence: every probe times out until the peer is offline; its link is redialled
    // and refused in the meantime.
    let mut wall_offline = None;
    for round in 2..=8u64 {
        let acts = h.at(round * INTERVAL);
        for (c, _) in connects(&acts) {
            let refused = CloseReason::Io {
                op: IoOp::Connect,
                errno: 111,
            };
            h.engine.on_closed(c, refused, h.now);
            h.actions();
        }
        if wall_offline.is_none() && !peer(&h).1 {
            wall_offline = Some(h.now.wall);
        }
    }
    let (_, online, timeouts, s) = peer(&h);
    assert!(!online);
    assert_eq!(timeouts, 3);
    assert_eq!(s.transitions, 1);
    assert!(s.since_wall > start_wall);
    assert_eq!(Some(s.since_wall), wall_offline);
    assert!(s.timed_out >= 3, "{s:?}");
    let in_flight = h.engine.conn_counts();
    assert_eq!(in_flight.inbound, [0, 0]);
    // Every probe started is settled one way or another, or still in flight.
    let p = h.engine.peers().next().unwrap();
    assert_eq!(
        s.started,
        s.replied + s.timed_out + s.voided + p.in_flight as u64
    );
    let closed: u64 = h.engine.closes().iter().map(|k| k.1).sum();
    let by_kind = |kind: &str| h.engine.closes().iter().find(|k| k.0 == kind).unwrap().1;
    assert_eq!(by_kind("probe_timeout"), 1, "the silent link");
    assert!(by_kind("connect_error") >= 1);
    assert_eq!(closed, by_kind("probe_timeout") + by_kind("connect_error"));
}

// ---------------------------------------------------------------------------------------
// The earlier tool: its HTTP requests answered on the mesh port, its nodes probed by HTTP.

fn harness_with(cfg: Config) -> Harness {
    let now = Now {
        mono: 0,
        wall: WALL0 - 60_000,
        micros: 0,
    };
    Harness {
        engine: {
            let mut e = Engine::new(&cfg, now);
            e.set_views(false);
            e
        },
        now,
        cfg,
    }
}

const GET: &str = "GET / HTTP/1.1\r\nHost: 127.0.0.1:47001\r\nUser-Agent: Bun/1.1.34\r\nAccept: */*\r\nConnection: keep-alive\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n";

fn answer_bytes(body: &str, status: &str, close: bool) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain;charset=utf-8\r\nContent-Length: {}\r\n{}\r\n{body}",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
}

#[test]
fn http_requests_get_the_earlier_tools_answer_by_source() {
    let mut h = Harness::new(3, 3);
    h.actions();
    // A configured node (node2's ip): "still online", kept alive for the next request.
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5000)), h.now)
        .unwrap();
    let acts = h.data(c, GET);
    assert!(closes(&acts).is_empty(), "{acts:?}");
    assert_eq!(
        h.take_output(c),
        answer_bytes("still online", "200 OK", false)
    );
    // The next request on the same connection, cut across reads.
    let (a, b) = GET.split_at(20);
    h.data(c, a);
    assert_eq!(h.take_output(c), "");
    h.data(c, b);
    assert_eq!(
        h.take_output(c),
        answer_bytes("still online", "200 OK", false)
    );
    // Idle past HTTP_IDLE_MS: closed quietly.
    let acts = h.at(h.now.mono + HTTP_IDLE_MS - 1);
    assert!(!closes(&acts).iter().any(|x| x.0 == c), "{acts:?}");
    let acts = h.at(h.now.mono + 1);
    assert!(
        closes(&acts).contains(&(c, CloseReason::NoHello)),
        "{acts:?}"
    );
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, Action::Say(s) if s.contains("127.0.0.2:5000"))),
        "{acts:?}"
    );

    // A private address that is no node: "hello world"; Connection: close is honoured
    // once the answer is written.
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 9], 5001)), h.now)
        .unwrap();
    let acts = h.data(c, &GET.replace("keep-alive", "close"));
    assert!(closes(&acts).is_empty(), "{acts:?}");
    assert_eq!(
        h.take_output(c),
        answer_bytes("hello world", "200 OK", true)
    );
    assert_eq!(closes(&h.actions()), vec![(c, CloseReason::Done)]);

    // A public address (injected: loopback cannot have one): 401 and closed.
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([203, 0, 113, 7], 5002)), h.now)
        .unwrap();
    h.data(c, GET);
    assert_eq!(
        h.take_output(c),
        answer_bytes("Unauthorized", "401 Unauthorized", true)
    );
    assert_eq!(closes(&h.actions()), vec![(c, CloseReason::Done)]);

    // HTTP/1.0 without keep-alive, and HEAD: no body, closed.
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 3], 5003)), h.now)
        .unwrap();
    h.data(c, "HEAD /x HTTP/1.0\r\n\r\n");
    let out = h.take_output(c);
    assert!(out.ends_with("Connection: close\r\n\r\n"), "{out}");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert_eq!(closes(&h.actions()), vec![(c, CloseReason::Done)]);
}

#[test]
fn http_requests_are_bounded() {
    let mut h = Harness::new(3, 3);
    h.actions();
    let from = SocketAddr::from(([127, 0, 0, 2], 5000));
    // Too many header lines: 431, closed.
    let c = h.engine.on_accepted(from, h.now).unwrap();
    let mut req = String::from("GET / HTTP/1.1\r\n");
    for i in 0..70 {
        req.push_str(&format!("X-{i}: y\r\n"));
    }
    h.data(c, &req);
    assert!(h.take_output(c).starts_with("HTTP/1.1 431 "));
    assert_eq!(closes(&h.actions()), vec![(c, CloseReason::Done)]);
    // The limits are the one request parser's, the metrics port's: MAX_HEADERS header
    // lines are answered (the empty line is no header), one more is 431 at once.
    let head = |n: usize| {
        let mut req = String::from("GET / HTTP/1.1\r\n");
        for i in 0..n {
            req.push_str(&format!("X-{i}: y\r\n"));
        }
        req
    };
    let c = h.engine.on_accepted(from, h.now).unwrap();
    h.data(c, &(head(crate::http::request::MAX_HEADERS) + "\r\n"));
    assert!(h.take_output(c).starts_with("HTTP/1.1 200 OK\r\n"));
    let c = h.engine.on_accepted(from, h.now).unwrap();
    h.data(c, &head(crate::http::request::MAX_HEADERS + 1));
    assert!(h.take_output(c).starts_with("HTTP/1.1 431 "));
    assert_eq!(closes(&h.actions()), vec![(c, CloseReason::Done)]);
    // MAX_HEAD bytes with the empty line are answered, one byte more is 431.
    let sized = |total: usize| {
        let mut req = String::from("GET / HTTP/1.1\r\n");
        while total - req.len() - 2 > 400 {
            req.push_str(&format!("X: {}\r\n", "a".repeat(400 - 5)));
        }
        let last = total - req.len() - 2;
        req.push_str(&format!("Y: {}\r\n\r\n", "b".repeat(last - 5)));
        assert_eq!(req.len(), total);
        req
    };
    let max = crate::http::request::MAX_HEAD;
    assert_eq!(
        crate::http::request::parse(sized(max).as_bytes())
            .map(|s| s != crate::http::request::Status::Partial),
        Ok(true)
    );
    let c = h.engine.on_accepted(from, h.now).unwrap();
    h.data(c, &sized(max));
    assert!(h.take_output(c).starts_with("HTTP/1.1 200 OK\r\n"));
    let c = h.engine.on_accepted(from, h.now).unwrap();
    h.data(c, &sized(max + 1));
    assert!(h.take_output(c).starts_with("HTTP/1.1 431 "));
    assert_eq!(closes(&h.actions()), vec![(c, CloseReason::Done)]);
    // A malformed header is answered 400 once the whole head is in, not before.
    let c = h.engine.on_accepted(from, h.now).unwrap();
    h.data(c, "GET / HTTP/1.1\r\nno colon\r\nHost: x\r\n");
    assert_eq!(h.take_output(c), "");
    h.data(c, "\r\n");
    assert!(h.take_output(c).starts_with("HTTP/1.1 400 "));
    assert_eq!(closes(&h.actions()), vec![(c, CloseReason::Done)]);
    // A body: 400, closed. Bytes after the head are ignored while closing.
    let c = h.engine.on_accepted(from, h.now).unwrap();
    h.data(c, "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    assert!(h.take_output(c).starts_with("HTTP/1.1 400 "));
    assert_eq!(closes(&h.actions()), vec![(c, CloseReason::Done)]);
    // A line over the limit closes at once, as on the mesh protocol.
    let c = h.engine.on_accepted(from, h.now).unwrap();
    let long = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(600));
    assert_eq!(
        closes(&h.data(c, &long)),
        vec![(c, CloseReason::LineTooLong)]
    );
    // A head that never ends: closed at the deadline.
    let c = h.engine.on_accepted(from, h.now).unwrap();
    h.data(c, "GET / HTTP/1.1\r\nHost: x\r\n");
    let acts = h.at(h.now.mono + HANDSHAKE_TIMEOUT_MS);
    assert!(
        closes(&acts).contains(&(c, CloseReason::NoHello)),
        "{acts:?}"
    );
    // No PONG for a PING inside HTTP.
    let c = h.engine.on_accepted(from, h.now).unwrap();
    h.data(c, "GET / HTTP/1.1\r\nPING 1\r\n");
    assert_eq!(h.take_output(c), "");
}

#[test]
fn when_every_strangers_place_is_taken_the_oldest_stranger_goes_and_it_is_said_once() {
    let mut h = Harness::new(2, 3);
    h.actions();
    let stranger =
        |i: usize| SocketAddr::from(([10, 0, (i / 200) as u8, (i % 200) as u8 + 1], 5000));
    let mut strangers = Vec::new();
    for i in 0..MAX_STRANGERS {
        strangers.push(h.engine.on_accepted(stranger(i), h.now).unwrap());
        h.now.mono += 1;
    }
    assert!(closes(&h.actions()).is_empty());
    // A configured node's connection takes no stranger's place, nor makes one go.
    let node2 = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5000)), h.now)
        .unwrap();
    assert!(closes(&h.actions()).is_empty());
    // One more stranger: the oldest stranger goes, said once.
    let more = h.engine.on_accepted(stranger(1000), h.now).unwrap();
    let acts = h.actions();
    assert_eq!(closes(&acts), vec![(strangers[0], CloseReason::Evicted)]);
    assert!(says(&acts, "handshake slots full"), "{acts:?}");
    // A hundred more: each evicts the next oldest stranger, in silence.
    for i in 0..100 {
        h.engine.on_accepted(stranger(2000 + i), h.now).unwrap();
        h.now.mono += 1;
    }
    let acts = h.actions();
    assert_eq!(closes(&acts).len(), 100);
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Say(_))),
        "{acts:?}"
    );
    assert_eq!(h.engine.waiting(), (1, MAX_STRANGERS));
    let _ = more;
    h.data(node2, "HELLO 1 node2\n");
    assert_eq!(h.take_output(node2), "HELLO 1 node1\n");
    // The count comes at the end of the minute.
    let acts = h.at(QUIET_WINDOW_MS + 200);
    assert!(
        says(
            &acts,
            "handshake slots full: 100 more strangers refused in the last minute"
        ),
        "{acts:?}"
    );
}

fn legacy_pair() -> (Harness, ConnId) {
    let mut cfg = config(2, 2);
    cfg.nodes[1].legacy_http = true;
    let mut h = harness_with(cfg);
    let link = connects(&h.actions())[0].0;
    h.engine.on_connected(link, h.now);
    assert!(says(&h.actions(), "peer node2: connected"));
    assert_eq!(h.take_output(link), "", "no HELLO to an old node");
    assert_eq!(h.engine.link_state(PeerId(1)), Some(LinkState::Ready));
    (h, link)
}

const BUN_OK: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=utf-8\r\nDate: Tue, 25 Nov 2026 20:00:00 GMT\r\nContent-Length: 12\r\n\r\nstill online";

#[test]
fn an_old_node_is_probed_with_http_get() {
    let (mut h, link) = legacy_pair();
    h.at(INTERVAL);
    assert_eq!(
        h.take_output(link),
        format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: uptime-tracker\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n",
            addr(2)
        )
    );
    let acts = h.data(link, BUN_OK);
    assert!(
        events(&acts).is_empty() && closes(&acts).is_empty(),
        "{acts:?}"
    );
    // Unanswered: a timeout at the deadline; the link redialled once stuck.
    h.at(2 * INTERVAL);
    assert!(h.take_output(link).starts_with("GET / "));
    let acts = h.at(2 * INTERVAL + TIMEOUT);
    assert_eq!(events(&acts), vec![(2, 1)]);
    let acts = h.at(2 * INTERVAL + stuck_ms(TIMEOUT));
    let relink = connects(&acts)[0].0;
    h.engine.on_connected(relink, h.now);
    h.actions();
    assert!(h.take_output(relink).starts_with("GET / "));
    // Any response is a reply, a 401 too, and in pieces.
    let t = h.now.mono - h.now.mono % INTERVAL + INTERVAL;
    h.at(t);
    assert!(h.take_output(relink).starts_with("GET / "));
    let r = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nUnauthorized";
    h.data(relink, &r[..10]);
    let acts = h.data(relink, &r[10..]);
    assert_eq!(events(&acts), vec![(2, 0)]);
    // Garbage closes the link and fails the probes waiting on it.
    h.at(t + INTERVAL);
    h.take_output(relink);
    let acts = h.data(relink, "HELLO 1 node2\n");
    assert!(matches!(
        closes(&acts)[..],
        [(c, CloseReason::BadResponse(_))] if c == relink
    ));
    assert_eq!(events(&acts).first(), Some(&(2, 1)), "{acts:?}");
}

#[test]
fn an_old_node_closing_its_connection_between_probes_is_routine() {
    let (mut h, link) = legacy_pair();
    h.at(INTERVAL);
    h.take_output(link);
    h.data(
        link,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nstill online",
    );
    h.engine.on_closed(link, CloseReason::ClosedByPeer, h.now);
    let acts = h.actions();
    assert!(events(&acts).is_empty(), "{acts:?}");
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Say(_))),
        "{acts:?}"
    );
    // The next round redials and sends its GET on the new link.
    let acts = h.at(2 * INTERVAL);
    let relink = connects(&acts)[0].0;
    h.engine.on_connected(relink, h.now);
    h.actions();
    assert!(h.take_output(relink).starts_with("GET / "));
}
