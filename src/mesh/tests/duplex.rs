//! Duplex probes: a responder's probe taken with its `PONG` on the prober's connection,
//! nothing more written, answered by TCP's acknowledgement of that write (`ack.rs`); only
//! where the prober said `DUPLEX`.
//! Node1 probes first in each pair; these tests are mostly node2 (slot 1), the responder
//! to node1 (slot 0).

use super::*;

/// Node1's connection to us (node2), proved; `duplex`: it said `DUPLEX`.
fn inbound_from_node1(h: &mut Harness, port: u16, duplex: bool) -> ConnId {
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 1], port)), h.now)
        .unwrap();
    h.data(c, "HELLO 1 node1\n");
    assert_eq!(h.take_output(c), "HELLO 1 node2\n");
    if duplex {
        assert!(closes(&h.data(c, "DUPLEX\n")).is_empty());
    }
    c
}

/// Node2 with both links to node1 up (`a`, `b`) and node1's round trip known (probe 0
/// answered on both 2 ms after its turn), so node1 is clean; returns the harness, the
/// links and the due time of node2's next turn for node1 (probe 1).
fn clean_responder() -> (Harness, ConnId, ConnId, u64) {
    let mut h = Harness::as_node(2, 3, 1);
    h.engine.set_links_per_peer(LINKS_PER_PEER);
    let a = connects(&h.actions())[0].0;
    h.link_up(a, 1);
    // Node2 is the later of the pair: its turn for node1 lags half the slack.
    let first = h.engine.first_turn(0, Now::ms(0, WALL0 - 60_000));
    assert_eq!(first, h.engine.slack() / 2);
    assert_eq!(h.engine.poll_at(), Some(first));
    let acts = h.at(first);
    let b = connects(&acts)[0].0;
    assert_eq!(h.take_output(a), "PING 0\n");
    h.link_up(b, 1);
    assert_eq!(h.take_output(b), "PING 0\n");
    h.at(first + 2);
    assert!(h.data(a, "PONG 0\n").is_empty());
    assert!(h.data(b, "PONG 0\n").is_empty());
    (h, a, b, first + INTERVAL)
}

/// Node1's connection to us, proved with `DUPLEX`, brings `PING 9` 5 ms before our turn
/// for node1 (due at `due`): the turn rides on the `PONG`, the only thing written there.
/// Returns that connection, its output taken.
fn ride_on_ping(h: &mut Harness, due: u64) -> ConnId {
    let c = inbound_from_node1(h, 5000, true);
    h.at(due - 5);
    h.data(c, "PING 9\n");
    h.at(due - 5);
    assert_eq!(h.take_output(c), "PONG 9\n");
    c
}

fn replied(h: &Harness) -> u64 {
    h.engine
        .peers()
        .find(|p| p.id == PeerId(0))
        .unwrap()
        .stats
        .replied
}

/// Nothing went out on our two links `a` and `b`.
#[track_caller]
fn assert_links_silent(h: &mut Harness, a: ConnId, b: ConnId) {
    assert_eq!(
        (h.take_output(a), h.take_output(b)),
        (String::new(), String::new())
    );
}

fn hedge(h: &Harness) -> Option<crate::timer::TimerId> {
    h.engine.peers.first().and_then(|p| p.hedge)
}

#[test]
fn a_link_says_duplex_once_after_its_handshake() {
    let (mut h, link) = pair();
    // `pair` took the DUPLEX after the HELLO (Harness::link_up); nothing more of it.
    for round in 1..=3 {
        h.at(round * INTERVAL);
        let out = h.take_output(link);
        assert_eq!(out, format!("PING {}\n", round - 1));
        h.data(link, &format!("PONG {}\n", round - 1));
    }
    // Off (as an earlier build): none.
    let mut h = Harness::new(2, 3);
    h.engine.set_duplex(false);
    let link = connects(&h.actions())[0].0;
    h.engine.on_connected(link, h.now);
    h.actions();
    assert_eq!(h.take_output(link), "HELLO 1 node1\n");
    h.data(link, "HELLO 1 node2\n");
    assert_eq!(h.take_output(link), "");
}

#[test]
fn a_ping_on_our_link_is_answered_there() {
    let (mut h, link) = pair();
    let acts = h.data(link, "PING 5\nPING 6\n");
    assert!(closes(&acts).is_empty(), "{acts:?}");
    assert_eq!(h.take_output(link), "PONG 5\nPONG 6\n");
}

#[test]
fn a_ping_near_our_turn_takes_our_probe_and_the_acknowledgement_answers_it() {
    let (mut h, a, b, due) = clean_responder();
    let srtt = h.engine.peers.first().unwrap().stats.srtt_us;
    let c = inbound_from_node1(&mut h, 5000, true);
    // Node1's PING a little before our turn (within the slack): our turn is taken with
    // the PONG, which is all that is written; none on our links.
    h.at(due - 5);
    h.data(c, "PING 9\n");
    h.at(due - 5);
    assert!(h.engine.rides(c, 1));
    assert_eq!(h.engine.acks(), &[c]);
    assert!(hedge(&h).is_some(), "hedged as on a link");
    // Not yet written: an acknowledgement cannot be of it.
    let before = replied(&h);
    h.engine.on_acked(c, Some(800), h.now);
    assert_eq!((replied(&h), h.engine.acks()), (before, &[c][..]));
    assert_eq!(h.take_output(c), "PONG 9\n");
    assert_links_silent(&mut h, a, b);
    // A PONG there, another connection's acknowledgement, or one on another of node1's
    // connections answers nothing.
    h.at(due - 2);
    let other = inbound_from_node1(&mut h, 5001, true);
    assert!(h.data(c, "PONG 1\n").is_empty());
    h.engine.on_acked(other, Some(800), h.now);
    h.engine.on_acked(a, Some(800), h.now);
    assert!(h.actions().is_empty());
    assert_eq!(replied(&h), before);
    assert!(hedge(&h).is_some());
    // The acknowledgement of the PONG settles it: the kernel's round trip shown, the
    // hedge cancelled, nothing logged; the hedge delay's round trip is the links' own.
    h.engine.on_acked(c, Some(800), h.now);
    assert!(events(&h.actions()).is_empty());
    assert_eq!(replied(&h), before + 1);
    assert!(hedge(&h).is_none());
    assert!(h.engine.acks().is_empty());
    let stats = &h.engine.peers.first().unwrap().stats;
    assert_eq!((stats.last_rtt_us, stats.srtt_us), (Some(800), srtt));
    // The turn is not taken again at its due time; the next keeps the phase.
    h.at(due);
    assert_links_silent(&mut h, a, b);
    assert_eq!(h.engine.poll_at(), Some(due + INTERVAL));
}

#[test]
fn a_probe_left_unacknowledged_is_hedged_on_our_links_and_counted_once() {
    let (mut h, a, b, due) = clean_responder();
    let c = ride_on_ping(&mut h, due);
    // No acknowledgement (our path to node1 lost it): at the hedge delay the probe goes
    // out as a PING on both links, and node1 turns dual.
    let at = h.engine.poll_at().unwrap();
    assert!(at > due - 5 && at < due - 5 + TIMEOUT, "hedge at {at}");
    h.at(at);
    assert_eq!(h.take_output(a), "PING 1\n");
    assert_eq!(h.take_output(b), "PING 1\n");
    assert_eq!(h.engine.peers.first().unwrap().dual, DUAL_TURNS);
    // The acknowledgement, late, and both PONGs: one reply counted, nothing logged.
    let before = replied(&h);
    h.engine.on_acked(c, None, h.now);
    assert!(events(&h.data(a, "PONG 1\n")).is_empty());
    assert!(events(&h.data(b, "PONG 1\n")).is_empty());
    assert_eq!(replied(&h), before + 1);
    assert!(h.engine.acks().is_empty());
}

#[test]
fn a_probe_never_acknowledged_or_answered_is_a_timeout() {
    let (mut h, a, b, due) = clean_responder();
    ride_on_ping(&mut h, due);
    let hedge_at = h.engine.poll_at().unwrap();
    h.at(hedge_at);
    h.take_output(a);
    h.take_output(b);
    // A one-way path: node1's PINGs come, nothing of ours gets there. The probe's
    // deadline counts it, as any probe's.
    let acts = h.at(due - 5 + TIMEOUT);
    assert_eq!(events(&acts), vec![(1, 1)]);
}

#[test]
fn a_connection_that_did_not_say_duplex_gets_only_pongs() {
    let (mut h, a, b, due) = clean_responder();
    let c = inbound_from_node1(&mut h, 5000, false);
    h.at(due - 5);
    h.data(c, "PING 9\n");
    h.at(due - 5);
    // An earlier build would close its link on a PING: ours waits for its time, on a link.
    assert_eq!(h.take_output(c), "PONG 9\n");
    assert_links_silent(&mut h, a, b);
    assert_eq!(h.engine.poll_at().map(|t| t <= due), Some(true));
    h.at(due);
    assert_eq!(h.take_output(b), "PING 1\n");
    // A PONG on it is a protocol error, as before.
    assert_eq!(
        closes(&h.data(c, "PONG 1\n")),
        vec![(c, CloseReason::Unexpected)]
    );
}

#[test]
fn a_probe_whose_connection_closes_is_hedged_on_our_links_and_counted_once() {
    let (mut h, a, b, due) = clean_responder();
    let c = ride_on_ping(&mut h, due);
    // Node1 closes that connection (it redialled): the probe is left to its hedge, and
    // nothing waits for that connection's acknowledgement.
    h.engine.on_closed(c, CloseReason::ClosedByPeer, h.now);
    let acts = h.actions();
    assert!(events(&acts).is_empty(), "{acts:?}");
    assert!(h.engine.acks().is_empty());
    h.engine.on_acked(c, None, h.now);
    assert!(h.actions().is_empty());
    let at = h.engine.poll_at().unwrap();
    assert!(at > due - 5 && at < due - 5 + TIMEOUT, "hedge at {at}");
    h.at(at);
    assert_eq!(h.take_output(a), "PING 1\n");
    assert_eq!(h.take_output(b), "PING 1\n");
    // Both copies answered: one reply counted, nothing logged.
    let before = replied(&h);
    assert!(events(&h.data(a, "PONG 1\n")).is_empty());
    assert!(events(&h.data(b, "PONG 1\n")).is_empty());
    assert_eq!(replied(&h), before + 1);
}

#[test]
fn a_responder_turn_is_pulled_only_by_that_peers_ping() {
    // Node2 of three: node1 (slot 0) probes us first, we probe node3 (slot 2) first.
    let mut h = Harness::as_node(3, 3, 1);
    let dials = connects(&h.actions());
    let (to1, to3) = (dials[0].0, dials[1].0);
    assert_eq!((dials[0].1, dials[1].1), (addr(1), addr(3)));
    h.link_up(to1, 1);
    h.link_up(to3, 3);
    let slack = h.engine.slack();
    let c1 = inbound_from_node1(&mut h, 5000, true);
    let c3 = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 3], 5000)), h.now)
        .unwrap();
    h.data(c3, "HELLO 1 node3\nDUPLEX\n");
    assert_eq!(h.take_output(c3), "HELLO 1 node2\n");
    // Our turns: node3's on the beat, node1's half the slack after it.
    let beat = INTERVAL;
    let to_node1 = beat + slack / 2;
    // Node3's PING just before the beat: node3's turn (ours to start) goes with this
    // wake-up; node1's, though within the slack too, waits for node1's PING.
    // (The first round: our turn for node1 is half the slack after the start.)
    assert_eq!(h.engine.poll_at(), Some(slack / 2));
    h.at(slack / 2);
    assert_eq!(h.take_output(to1), "PING 0\n");
    h.data(to1, "PONG 0\n");
    h.at(beat - 3);
    h.data(c3, "PING 4\n");
    h.at(beat - 3);
    assert_eq!(h.take_output(c3), "PONG 4\n");
    assert_eq!(h.take_output(to3), "PING 0\n");
    assert_eq!(h.take_output(to1), "");
    assert_eq!(h.engine.poll_at(), Some(to_node1));
    // Node1's PING: our turn for it is taken now (one link each here: on the link).
    h.at(beat + 1);
    h.data(c1, "PING 6\n");
    h.at(beat + 1);
    assert_eq!(h.take_output(c1), "PONG 6\n");
    assert_eq!(h.take_output(to1), "PING 1\n");
    // Without node1's PING, the turn goes at its due time: the next round.
    h.at(beat + INTERVAL - 3);
    h.data(c3, "PING 5\n");
    h.at(beat + INTERVAL - 3);
    assert_eq!(h.take_output(to3), "PING 1\n");
    assert_eq!(h.take_output(to1), "");
    h.at(to_node1 + INTERVAL - 1);
    assert_eq!(h.take_output(to1), "");
    h.at(to_node1 + INTERVAL);
    assert_eq!(h.take_output(to1), "PING 2\n");
}

#[test]
fn a_mesh_spread_over_slots_takes_no_duplex() {
    // 20 nodes: two slots; the pair's turns fall in different slots, so nothing rides
    // and a DUPLEX is not kept (no memory per connection for it).
    let mut h = Harness::as_node(20, 3, 1);
    assert!(h.engine.slots() > 1);
    let c = inbound_from_node1(&mut h, 5000, true);
    assert_eq!(
        closes(&h.data(c, "PONG 1\n")),
        vec![(c, CloseReason::Unexpected)]
    );
}

#[test]
fn a_probe_riding_on_an_open_connection_survives_our_links_failing() {
    let (mut h, a, b, due) = clean_responder();
    let c = ride_on_ping(&mut h, due);
    // Both our links fail one after the other (node1 replaced them, or a middlebox reset
    // them) before the acknowledgement is seen: the probe rides on node1's connection,
    // still open, so neither failure counts it.
    h.engine.on_closed(b, CloseReason::ClosedByPeer, h.now);
    assert!(events(&h.actions()).is_empty());
    h.engine.on_closed(a, CloseReason::ClosedByPeer, h.now);
    let acts = h.actions();
    assert!(events(&acts).is_empty(), "{acts:?}");
    assert!(h.engine.rides(c, 1));
    let before = replied(&h);
    h.engine.on_acked(c, None, h.now);
    assert!(events(&h.actions()).is_empty());
    assert_eq!(replied(&h), before + 1);
}
