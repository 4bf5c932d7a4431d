//! The authenticated handshake, engine against engine (and against recorded bytes), with
//! nonces from a counter so every run is the same.

use std::net::SocketAddr;

use super::*;
use crate::auth::Secret;
use crate::config::Config;

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
    // Reported once per peer (per kind), not once per redial.
    let reports = |node: usize| {
        net.says(node)
            .iter()
            .filter(|s| s.contains("authentication failed"))
            .count()
    };
    assert!(reports(2) <= 4, "{:?}", net.says(2));
    assert!(reports(0) <= 2, "{:?}", net.says(0));
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

/// node1 (connecting) and node2 (listening) by hand: the bytes on the wire.
fn handshake_by_hand(secret: &[u8]) -> (Engine, ConnId, Vec<u8>, Vec<u8>) {
    let now = Now {
        mono: 0,
        wall: WALL0,
        micros: 0,
    };
    let mut b = engine(1, 2, Some(secret), now);
    while b.poll_action().is_some() {}
    let mut a = engine(0, 2, Some(b"one"), now);
    let link = std::iter::from_fn(|| a.poll_action())
        .find_map(|x| match x {
            Action::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .unwrap();
    a.on_connected(link, now);
    let acc = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40000), now)
        .unwrap();
    let challenge = a.output(link).to_vec();
    a.wrote(link, challenge.len());
    b.on_data(acc, &challenge, now);
    let response = b.output(acc).to_vec();
    b.wrote(acc, response.len());
    a.on_data(link, &response, now);
    let proof = a.output(link).to_vec();
    a.wrote(link, proof.len());
    b.on_data(acc, &proof, now);
    (b, acc, challenge, proof)
}

#[test]
fn the_wire_bytes_and_a_replayed_handshake_is_refused() {
    let (mut b, acc, challenge, proof) = handshake_by_hand(b"one");
    let line = String::from_utf8(challenge.clone()).unwrap();
    assert!(line.starts_with("CHALLENGE 1 node1 "), "{line}");
    assert_eq!(line.len(), "CHALLENGE 1 node1 ".len() + 32 + 1);
    assert!(
        String::from_utf8(proof.clone())
            .unwrap()
            .starts_with("PROOF ")
    );
    assert_eq!(proof.len(), "PROOF ".len() + 64 + 1);
    assert!(matches!(b.role(acc), Some(Role::In { peer: Some(0), .. })));
    let now = Now {
        mono: 10,
        wall: WALL0 + 10,
        micros: 0,
    };
    b.on_data(acc, b"PING 7\n", now);
    assert_eq!(
        b.output(acc),
        b"PING 7\n".map(|c| if c == b'I' { b'O' } else { c })
    );
    while b.poll_action().is_some() {}

    // The recorded CHALLENGE and PROOF, replayed from another connection from node1's
    // address: the listener's nonce is fresh, so the old proof does not match.
    let replay = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40001), now)
        .unwrap();
    b.on_data(replay, &challenge, now);
    assert!(b.output(replay).starts_with(b"RESPONSE 1 node2 "));
    let mut all = proof.clone();
    all.extend_from_slice(b"PING 8\n");
    b.on_data(replay, &all, now);
    let acts: Vec<Action> = std::iter::from_fn(|| b.poll_action()).collect();
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

    // A second failure from the same source is not reported again.
    let again = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40002), now)
        .unwrap();
    b.on_data(again, &challenge, now);
    b.on_data(again, &proof, now);
    let acts: Vec<Action> = std::iter::from_fn(|| b.poll_action()).collect();
    assert!(acts.contains(&Action::Close {
        conn: again,
        reason: CloseReason::AuthFailed
    }));
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Say(_))),
        "{acts:?}"
    );
}

#[test]
fn a_listener_with_another_secret_gets_no_proof_from_us() {
    // node2 has another secret: node1 refuses its RESPONSE and never sends a PROOF.
    let (b, acc, _, proof) = handshake_by_hand(b"two");
    assert!(proof.is_empty(), "{}", String::from_utf8_lossy(&proof));
    assert!(matches!(b.role(acc), Some(Role::In { peer: None, .. })));
}

#[test]
fn nothing_is_answered_before_the_proof() {
    let now = Now {
        mono: 0,
        wall: WALL0,
        micros: 0,
    };
    let mut b = engine(1, 2, Some(b"one"), now);
    while b.poll_action().is_some() {}
    let acc = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40000), now)
        .unwrap();
    b.on_data(
        acc,
        b"CHALLENGE 1 node1 00000000000000000000000000000001\nPING 1\n",
        now,
    );
    let acts: Vec<Action> = std::iter::from_fn(|| b.poll_action()).collect();
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
    let acts: Vec<Action> = std::iter::from_fn(|| b.poll_action()).collect();
    assert!(acts.contains(&Action::Close {
        conn: acc,
        reason: CloseReason::AuthRequired
    }));
    // A CHALLENGE naming another node than its source is refused before any proof.
    let acc = b
        .on_accepted(SocketAddr::new(addr(1).ip(), 40002), now)
        .unwrap();
    b.on_data(
        acc,
        b"CHALLENGE 1 node2 00000000000000000000000000000001\n",
        now,
    );
    assert!(b.output(acc).is_empty());
    assert!(b.role(acc).is_none());
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
