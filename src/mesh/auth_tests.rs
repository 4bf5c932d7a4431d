//! The authenticated handshake, engine against engine (and against recorded bytes), with
//! nonces from a counter so every run is the same.

use std::net::SocketAddr;

use super::*;
use crate::auth::Secret;
use crate::config::Config;
use crate::wire::message::{MAC_LEN, NONCE_LEN};

const INTERVAL: u64 = 1000;
const TIMEOUT: u64 = 500;
const WALL0: i64 = 1_764_000_000_000;

/// Node `i`'s address (1-based), as in the engine tests.
fn addr(i: usize) -> SocketAddr {
    super::tests::addr(i as u8)
}

/// The engine tests' mesh (same addresses), seen from `node{me + 1}`, with these
/// timings and no fixed listen address.
fn config(me: usize, nodes: usize) -> Config {
    let mut c = super::tests::config(nodes as u8, 2);
    c.whoami = format!("node{}", me + 1);
    c.me = me;
    c.interval_ms = INTERVAL;
    c.timeout_ms = TIMEOUT;
    c.listen = None;
    c
}

/// Nonces 1, 2, 3, ... (as big-endian u128), starting at `seed`: distinct per engine.
fn counter(seed: u128) -> NonceSource {
    let mut n = seed;
    Box::new(move |buf: &mut [u8]| {
        n += 1;
        let bytes = n.to_be_bytes();
        for (b, v) in buf.iter_mut().zip(bytes.iter().cycle()) {
            *b = *v;
        }
        Ok(())
    })
}

fn engine(me: usize, nodes: usize, secret: Option<&[u8]>, now: Now) -> Engine {
    let mut e = Engine::new(&config(me, nodes), now);
    if let Some(s) = secret {
        e.set_auth(Secret::new(s).unwrap(), counter(me as u128 * 1_000_000));
    }
    e
}

/// A few engines wired to each other by in-memory streams: what one queues, the other
/// reads; a close on one end reaches the other as `ClosedByPeer`.
struct Net {
    nodes: Vec<Engine>,
    now: Now,
    /// (node, conn) <-> (node, conn)
    pipes: Vec<((usize, ConnId), (usize, ConnId))>,
    /// Every action taken, per node.
    log: Vec<Vec<Action>>,
}

impl Net {
    fn new(secrets: &[Option<&[u8]>]) -> Net {
        let now = Now {
            mono: 0,
            wall: WALL0,
            micros: 0,
        };
        let n = secrets.len();
        Net {
            nodes: secrets
                .iter()
                .enumerate()
                .map(|(i, s)| engine(i, n, *s, now))
                .collect(),
            now,
            pipes: Vec::new(),
            log: vec![Vec::new(); n],
        }
    }

    fn other(&self, end: (usize, ConnId)) -> Option<(usize, ConnId)> {
        self.pipes.iter().find_map(|&(a, b)| {
            if a == end {
                Some(b)
            } else if b == end {
                Some(a)
            } else {
                None
            }
        })
    }

    /// Carries out actions and moves bytes until nothing moves.
    fn settle(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(action) = self.nodes[i].poll_action() {
                    moved = true;
                    self.log[i].push(action.clone());
                    match action {
                        Action::Connect { conn, addr: to } => {
                            let j = (1..=self.nodes.len()).find(|&j| addr(j) == to).unwrap() - 1;
                            let from = SocketAddr::new(addr(i + 1).ip(), 40000);
                            if let Some(acc) = self.nodes[j].on_accepted(from, self.now) {
                                self.pipes.push(((i, conn), (j, acc)));
                                self.nodes[i].on_connected(conn, self.now);
                            }
                        }
                        Action::Close { conn, .. } => {
                            if let Some((j, other)) = self.other((i, conn)) {
                                self.pipes
                                    .retain(|&(a, b)| a != (i, conn) && b != (i, conn));
                                self.nodes[j].on_closed(other, CloseReason::ClosedByPeer, self.now);
                            }
                        }
                        _ => {}
                    }
                }
            }
            for &(a, b) in &self.pipes.clone() {
                for (from, to) in [(a, b), (b, a)] {
                    let bytes = self.nodes[from.0].output(from.1).to_vec();
                    if !bytes.is_empty() {
                        moved = true;
                        self.nodes[from.0].wrote(from.1, bytes.len());
                        self.nodes[to.0].on_data(to.1, &bytes, self.now);
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the mesh never settles");
    }

    fn run_until(&mut self, mono: u64) {
        while self.now.mono < mono {
            self.now.mono += 10;
            self.now.wall += 10;
            for e in &mut self.nodes {
                e.handle_timeout(self.now);
            }
            self.settle();
        }
    }

    fn events(&self, node: usize) -> Vec<(usize, u32)> {
        self.log[node]
            .iter()
            .filter_map(|a| match a {
                Action::Log(LogRecord::Event { peer, timeouts, .. }) => {
                    Some((peer.0 + 1, *timeouts))
                }
                _ => None,
            })
            .collect()
    }

    fn closes(&self, node: usize) -> Vec<CloseReason> {
        self.log[node]
            .iter()
            .filter_map(|a| match a {
                Action::Close { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }

    fn says(&self, node: usize) -> Vec<String> {
        self.log[node]
            .iter()
            .filter_map(|a| match a {
                Action::Say(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn a_shared_secret_keeps_the_mesh_healthy_and_another_secret_is_offline_both_ways() {
    let mut net = Net::new(&[Some(b"one"), Some(b"one"), Some(b"two")]);
    net.settle();
    net.run_until(10 * INTERVAL);
    // node1 and node2 see each other; both see node3 offline (threshold 2), and node3
    // sees both offline.
    assert_eq!(net.events(0), vec![(3, 1), (3, 2)], "{:?}", net.says(0));
    assert_eq!(net.events(1), vec![(3, 1), (3, 2)], "{:?}", net.says(1));
    assert_eq!(
        net.events(2),
        vec![(1, 1), (2, 1), (1, 2), (2, 2)],
        "{:?}",
        net.says(2)
    );
    assert_eq!(net.nodes[0].link_state(PeerId(1)), Some(LinkState::Ready));
    assert_eq!(net.nodes[1].link_state(PeerId(0)), Some(LinkState::Ready));
    assert_ne!(net.nodes[2].link_state(PeerId(0)), Some(LinkState::Ready));
    for node in 0..3 {
        assert!(
            net.closes(node).contains(&CloseReason::AuthFailed),
            "node{}: {:?}",
            node + 1,
            net.closes(node)
        );
    }
    // Said once per peer and kind on our links, and within the rate limit on the
    // listener: not once per redial (ten rounds went by).
    let reports = |node: usize| {
        net.says(node)
            .iter()
            .filter(|s| {
                s.contains("authentication failed") || s.contains("authenticated handshake")
            })
            .count()
    };
    assert!((1..=3).contains(&reports(2)), "{:?}", net.says(2));
    assert!((1..=2).contains(&reports(0)), "{:?}", net.says(0));
}

#[test]
fn nodes_without_a_secret_and_with_one_cannot_talk() {
    let mut net = Net::new(&[Some(b"one"), None]);
    net.settle();
    net.run_until(5 * INTERVAL);
    assert_eq!(net.events(0), vec![(2, 1), (2, 2)]);
    assert_eq!(net.events(1), vec![(1, 1), (1, 2)]);
    assert!(
        net.closes(0).contains(&CloseReason::AuthRequired),
        "{:?}",
        net.closes(0)
    );
    assert!(
        net.closes(1).contains(&CloseReason::NoSecret),
        "{:?}",
        net.closes(1)
    );
}

fn t0() -> Now {
    Now {
        mono: 0,
        wall: WALL0,
        micros: 0,
    }
}

fn drain(e: &mut Engine) -> Vec<Action> {
    std::iter::from_fn(|| e.poll_action()).collect()
}

/// Takes what `e` queued on `conn`, as written.
fn take(e: &mut Engine, conn: ConnId) -> Vec<u8> {
    let out = e.output(conn).to_vec();
    e.wrote(conn, out.len());
    out
}

/// node1 (`a`, connecting, secret `one`) and node2 (`b`, listening, `secret`) by hand:
/// the four lines on the wire, each delivered as soon as it is sent.
struct ByHand {
    a: Engine,
    b: Engine,
    link: ConnId,
    acc: ConnId,
    challenge_c: Vec<u8>,
    challenge_l: Vec<u8>,
    proof_c: Vec<u8>,
    proof_l: Vec<u8>,
}

fn handshake_by_hand(secret: &[u8]) -> ByHand {
    let now = t0();
    let mut b = engine(1, 2, Some(secret), now);
    drain(&mut b);
    let mut a = engine(0, 2, Some(b"one"), now);
    let link = drain(&mut a)
        .into_iter()
        .find_map(|x| match x {
            Action::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .unwrap();
    a.on_connected(link, now);
    let acc = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40000), now)
        .unwrap();
    let challenge_c = take(&mut a, link);
    b.on_data(acc, &challenge_c, now);
    let challenge_l = take(&mut b, acc);
    a.on_data(link, &challenge_l, now);
    let proof_c = take(&mut a, link);
    b.on_data(acc, &proof_c, now);
    let proof_l = take(&mut b, acc);
    a.on_data(link, &proof_l, now);
    ByHand {
        a,
        b,
        link,
        acc,
        challenge_c,
        challenge_l,
        proof_c,
        proof_l,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_wire_bytes_and_a_replayed_handshake_is_refused() {
    let ByHand {
        a,
        mut b,
        link,
        acc,
        challenge_c,
        challenge_l,
        proof_c,
        proof_l,
    } = handshake_by_hand(b"one");
    // Both sides send CHALLENGE: name and nonce, no MAC.
    let line = text(&challenge_c);
    assert!(line.starts_with("CHALLENGE 2 node1 "), "{line}");
    assert_eq!(line.len(), "CHALLENGE 2 node1 ".len() + 32 + 1);
    let line = text(&challenge_l);
    assert!(line.starts_with("CHALLENGE 2 node2 "), "{line}");
    assert_eq!(line.len(), "CHALLENGE 2 node2 ".len() + 32 + 1, "{line}");
    // Then both prove, the connecting node first.
    for proof in [&proof_c, &proof_l] {
        assert!(text(proof).starts_with("PROOF "), "{}", text(proof));
        assert_eq!(proof.len(), "PROOF ".len() + 64 + 1);
    }
    assert_ne!(proof_c, proof_l);
    assert_eq!(a.link_state(PeerId(1)), Some(LinkState::Ready));
    assert!(matches!(b.role(acc), Some(Role::In { peer: Some(0), .. })));
    let _ = link;
    let now = Now {
        mono: 10,
        wall: WALL0 + 10,
        micros: 0,
    };
    b.on_data(acc, b"PING 7\n", now);
    assert_eq!(take(&mut b, acc), b"PONG 7\n");
    drain(&mut b);

    // The recorded CHALLENGE and PROOF, replayed from another connection from node1's
    // address: the listener's nonce is fresh, so the old proof does not match, and the
    // replayer gets no proof of the listener's.
    let replay = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40001), now)
        .unwrap();
    b.on_data(replay, &challenge_c, now);
    let answer = take(&mut b, replay);
    assert!(
        answer.starts_with(b"CHALLENGE 2 node2 "),
        "{}",
        text(&answer)
    );
    let mut all = proof_c.clone();
    all.extend_from_slice(b"PING 8\n");
    b.on_data(replay, &all, now);
    assert!(b.output(replay).is_empty(), "no proof, no PONG");
    let acts = drain(&mut b);
    assert!(
        acts.contains(&Action::Close {
            conn: replay,
            reason: CloseReason::AuthFailed
        }),
        "{acts:?}"
    );
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::Say(s) if s.contains("authentication failed")))
    );
    assert!(b.role(replay).is_none(), "closed");
    // The genuine connection is untouched.
    assert!(b.role(acc).is_some());

    // More failures within the minute are counted, not said, then summed up once.
    for port in 40002..40012 {
        let again = b
            .on_accepted(SocketAddr::new(addr(1).ip(), port), now)
            .unwrap();
        b.on_data(again, &challenge_c, now);
        b.on_data(again, &proof_c, now);
        let acts = drain(&mut b);
        assert!(acts.contains(&Action::Close {
            conn: again,
            reason: CloseReason::AuthFailed
        }));
        assert!(
            !acts.iter().any(|a| matches!(a, Action::Say(_))),
            "{acts:?}"
        );
    }
    let later = Now {
        mono: QUIET_WINDOW_MS + 10,
        wall: WALL0 + QUIET_WINDOW_MS as i64 + 10,
        micros: 0,
    };
    b.handle_timeout(later);
    let said: Vec<String> = drain(&mut b)
        .into_iter()
        .filter_map(|a| match a {
            Action::Say(s) => Some(s),
            _ => None,
        })
        .collect();
    assert!(
        said.iter()
            .any(|s| s.starts_with("10 similar lines suppressed")
                && s.contains("failed authentication")),
        "{said:?}"
    );
}

#[test]
fn a_caller_that_cannot_prove_gets_no_proof_from_the_listener() {
    // node2 has another secret: it refuses node1's PROOF and never sends its own, so
    // node1 (or anyone at node1's address) gets no MAC of node2's to guess from.
    let h = handshake_by_hand(b"two");
    assert!(text(&h.challenge_l).starts_with("CHALLENGE 2 node2 "));
    assert!(!h.proof_c.is_empty());
    assert!(h.proof_l.is_empty(), "{}", text(&h.proof_l));
    assert!(h.b.role(h.acc).is_none(), "closed");
    assert_ne!(h.a.link_state(PeerId(1)), Some(LinkState::Ready));
}

#[test]
fn a_listener_that_proves_wrongly_is_refused() {
    let h = handshake_by_hand(b"one");
    // node1 again, with other nonces, meeting a listener that answers with the recorded
    // CHALLENGE and PROOF of the handshake above.
    let now = t0();
    let mut a = Engine::new(&config(0, 2), now);
    a.set_auth(Secret::new(b"one").unwrap(), counter(777_000_000));
    let link = drain(&mut a)
        .into_iter()
        .find_map(|x| match x {
            Action::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .unwrap();
    a.on_connected(link, now);
    take(&mut a, link);
    a.on_data(link, &h.challenge_l, now);
    assert!(text(&take(&mut a, link)).starts_with("PROOF "));
    // The listener's proof from another handshake (other nonces) does not do.
    a.on_data(link, &h.proof_l, now);
    let acts = drain(&mut a);
    assert!(
        acts.contains(&Action::Close {
            conn: link,
            reason: CloseReason::AuthFailed
        }),
        "{acts:?}"
    );
    assert!(
        acts.iter().any(
            |x| matches!(x, Action::Say(s) if s.contains("peer node2: authentication failed"))
        ),
        "{acts:?}"
    );
}

#[test]
fn probes_go_out_behind_our_proof_and_count_only_after_the_listeners() {
    let now = t0();
    let mut b = engine(1, 2, Some(b"one"), now);
    drain(&mut b);
    let mut a = engine(0, 2, Some(b"one"), now);
    let link = drain(&mut a)
        .into_iter()
        .find_map(|x| match x {
            Action::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .unwrap();
    // The first link never connects; the first round starts before the redial is up:
    // its probe waits for the link.
    let _ = link;
    let at = Now {
        mono: INTERVAL,
        wall: WALL0 + INTERVAL as i64,
        micros: 0,
    };
    a.handle_timeout(at);
    let link = drain(&mut a)
        .into_iter()
        .rev()
        .find_map(|x| match x {
            Action::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .unwrap();
    a.on_connected(link, at);
    let acc = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40000), at)
        .unwrap();
    let challenge_c = take(&mut a, link);
    b.on_data(acc, &challenge_c, at);
    let challenge_l = take(&mut b, acc);
    a.on_data(link, &challenge_l, at);
    // Our PROOF and the waiting PING in one go: no round trip lost to the listener's
    // proof.
    let sent = text(&take(&mut a, link));
    let lines: Vec<&str> = sent.lines().collect();
    assert_eq!(lines.len(), 2, "{sent}");
    assert!(lines[0].starts_with("PROOF "));
    assert_eq!(lines[1], "PING 0");
    b.on_data(acc, sent.as_bytes(), at);
    let answer = text(&take(&mut b, acc));
    let lines: Vec<&str> = answer.lines().collect();
    assert_eq!(lines.len(), 2, "{answer}");
    assert!(lines[0].starts_with("PROOF "));
    assert_eq!(lines[1], "PONG 0");
    a.on_data(link, answer.as_bytes(), at);
    assert_eq!(a.link_state(PeerId(1)), Some(LinkState::Ready));
    let node2 = a.peers().find(|p| p.id == PeerId(1)).unwrap();
    assert_eq!((node2.stats.replied, node2.in_flight), (1, 0));
    // Our view and clock request leave only now, once the listener proved itself (none
    // went behind our own PROOF above); the listener takes the view on its proved
    // connection and answers the clock request.
    // So does our `DUPLEX` (we take the listener's probes on this link).
    let view = text(&take(&mut a, link));
    let lines: Vec<&str> = view.lines().collect();
    assert_eq!(lines.len(), 3, "{view}");
    assert_eq!(lines[0], "DUPLEX");
    assert!(lines[1].starts_with("VIEW "), "{view}");
    assert_eq!(lines[2], format!("CLOCK {}", at.wall));
    b.on_data(acc, view.as_bytes(), at);
    assert_eq!(
        text(&take(&mut b, acc)),
        format!("CLOCKED {} {}\n", at.wall, at.wall)
    );
    // The next round's PING goes out once, not again with the waiting ones.
    let next = Now {
        mono: 2 * INTERVAL,
        wall: WALL0 + 2 * INTERVAL as i64,
        micros: 0,
    };
    a.handle_timeout(next);
    assert_eq!(text(&take(&mut a, link)), "PING 1\n");
}

#[test]
fn a_pong_before_the_listeners_proof_closes_the_link() {
    let now = t0();
    let mut a = engine(0, 2, Some(b"one"), now);
    let link = drain(&mut a)
        .into_iter()
        .find_map(|x| match x {
            Action::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .unwrap();
    a.on_connected(link, now);
    take(&mut a, link);
    a.on_data(
        link,
        b"CHALLENGE 2 node2 00000000000000000000000000000001\nPONG 0\n",
        now,
    );
    let acts = drain(&mut a);
    assert!(
        acts.contains(&Action::Close {
            conn: link,
            reason: CloseReason::Unexpected
        }),
        "{acts:?}"
    );
}

#[test]
fn nothing_is_answered_before_the_proof() {
    let now = t0();
    let mut b = engine(1, 2, Some(b"one"), now);
    drain(&mut b);
    let acc = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40000), now)
        .unwrap();
    b.on_data(
        acc,
        b"CHALLENGE 2 node1 00000000000000000000000000000001\n",
        now,
    );
    // Only our name and nonce went out: no MAC.
    let out = text(&take(&mut b, acc));
    assert!(
        out.starts_with("CHALLENGE 2 node2 ") && out.lines().count() == 1,
        "{out}"
    );
    // A PING before the PROOF: no PONG, closed.
    b.on_data(acc, b"PING 1\n", now);
    assert!(b.output(acc).is_empty());
    let acts = drain(&mut b);
    assert!(acts.contains(&Action::Close {
        conn: acc,
        reason: CloseReason::Unexpected
    }));
    // A plain HELLO to a node with a secret.
    let acc = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40001), now)
        .unwrap();
    b.on_data(acc, b"HELLO 1 node1\n", now);
    assert!(b.output(acc).is_empty());
    let acts = drain(&mut b);
    assert!(acts.contains(&Action::Close {
        conn: acc,
        reason: CloseReason::AuthRequired
    }));
    // A CHALLENGE naming another node than its source is refused before any nonce.
    let acc = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40002), now)
        .unwrap();
    b.on_data(
        acc,
        b"CHALLENGE 2 node2 00000000000000000000000000000001\n",
        now,
    );
    assert!(b.output(acc).is_empty());
    assert!(b.role(acc).is_none());
    // A caller that hangs up after our nonce: said without blaming anyone's secret (we
    // proved nothing yet, and anyone at node1's address can do it). (A fresh node: the
    // lines above used up this kind's line for the minute.)
    let mut b = engine(1, 2, Some(b"one"), now);
    drain(&mut b);
    let acc = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40004), now)
        .unwrap();
    b.on_data(
        acc,
        b"CHALLENGE 2 node1 00000000000000000000000000000002\n",
        now,
    );
    drain(&mut b);
    b.on_closed(acc, CloseReason::ClosedByPeer, now);
    let said: Vec<Action> = drain(&mut b);
    assert!(
        said.iter().any(|x| matches!(x, Action::Say(s)
            if s.contains("(as peer node1) closed by the other side before it proved it knows the secret"))),
        "{said:?}"
    );
    // An unknown verb before the handshake closes the connection.
    let acc = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40003), now)
        .unwrap();
    b.on_data(acc, b"FUTURE_VERB 1\n", now);
    assert!(b.output(acc).is_empty());
    assert!(drain(&mut b).contains(&Action::Close {
        conn: acc,
        reason: CloseReason::Unexpected
    }));
}

#[test]
fn a_node_of_the_previous_release_is_told_apart_both_ways() {
    let now = t0();
    // It connects to us: CHALLENGE 1 gets no answer at all, and the operator is told.
    let mut b = engine(1, 2, Some(b"one"), now);
    drain(&mut b);
    let acc = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40000), now)
        .unwrap();
    b.on_data(
        acc,
        b"CHALLENGE 1 node1 00000000000000000000000000000001\n",
        now,
    );
    assert!(b.output(acc).is_empty(), "{}", text(b.output(acc)));
    let acts = drain(&mut b);
    assert!(acts.contains(&Action::Close {
        conn: acc,
        reason: CloseReason::OldVersion
    }));
    assert!(
        acts.iter().any(|x| matches!(x, Action::Say(s)
            if s.contains("previous release") && s.contains("upgrade node1"))),
        "{acts:?}"
    );
    // We connect to it: its RESPONSE (its proof first, version 1) gets no PROOF of ours.
    let mut a = engine(0, 2, Some(b"one"), now);
    let link = drain(&mut a)
        .into_iter()
        .find_map(|x| match x {
            Action::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .unwrap();
    a.on_connected(link, now);
    take(&mut a, link);
    let response = format!(
        "RESPONSE 1 node2 {} {}\n",
        "00".repeat(NONCE_LEN),
        "00".repeat(MAC_LEN)
    );
    a.on_data(link, response.as_bytes(), now);
    assert!(a.output(link).is_empty());
    let acts = drain(&mut a);
    assert!(acts.contains(&Action::Close {
        conn: link,
        reason: CloseReason::OldVersion
    }));
    assert!(
        acts.iter().any(|x| matches!(x, Action::Say(s)
            if s.contains("peer node2") && s.contains("previous release"))),
        "{acts:?}"
    );
}

#[test]
fn no_random_bytes_is_this_machines_trouble() {
    let now = Now {
        mono: 0,
        wall: WALL0,
        micros: 0,
    };
    let mut a = Engine::new(&config(0, 2), now);
    a.set_auth(
        Secret::new(b"one").unwrap(),
        Box::new(|_: &mut [u8]| Err(std::io::Error::from_raw_os_error(libc::ENOSYS))),
    );
    let link = std::iter::from_fn(|| a.poll_action())
        .find_map(|x| match x {
            Action::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .unwrap();
    a.on_connected(link, now);
    let acts: Vec<Action> = std::iter::from_fn(|| a.poll_action()).collect();
    assert!(acts.contains(&Action::Close {
        conn: link,
        reason: CloseReason::NoRandom
    }));
    assert_eq!(a.timeouts(PeerId(1)), 0);
}
