//! Views and clocks in the engine by hand: what a peer's `VIEW` may change, and what a
//! forged, garbled or foreign one may not; clock answers.

use super::*;
use crate::wire::view::{self as wire_view, Seen};

/// node1 of `n` with views on, node2's proved inbound connection, at `now`.
fn proved(n: u8) -> (Engine, ConnId, Now) {
    let now = Now::ms(0, WALL0);
    let mut e = Engine::new(&config(n, 3), now);
    let conn = e
        .on_accepted(SocketAddr::new(addr(2).ip(), 40000), now)
        .unwrap();
    e.on_data(conn, b"HELLO 1 node2\n", now);
    assert!(matches!(e.role(conn), Some(Role::In { peer: Some(_), .. })));
    let out = e.output(conn).len();
    e.wrote(conn, out);
    while e.poll_action().is_some() {}
    (e, conn, now)
}

fn digest_hex(names: &[&str]) -> String {
    wire_view::digest(names.iter().copied())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn row(e: &Engine, name: &str) -> ViewRow {
    let v = e.mesh_view();
    let k = v.nodes.iter().position(|n| n == name).unwrap();
    v.rows[k].clone()
}

#[test]
fn a_peers_view_fills_its_row_and_a_foreign_or_garbled_one_counts_for_nothing() {
    let (mut e, conn, now) = proved(3);
    let ours = digest_hex(&["node1", "node2", "node3"]);
    // node2 sees node1 up and node3 down.
    let states = wire_view::encode(&[Seen::Up, Seen::Unknown, Seen::Down]);
    e.on_data(conn, format!("VIEW {ours} {states}\n").as_bytes(), now);
    let r = row(&e, "node2");
    assert_eq!(r.kind, RowKind::Fresh(0));
    assert_eq!(r.seen, vec![Seen::Up, Seen::Unknown, Seen::Down]);
    // A config listing other nodes: "config differs", no states.
    let theirs = digest_hex(&["node1", "node2", "node3", "node4"]);
    let four = wire_view::encode(&[Seen::Down; 4]);
    e.on_data(conn, format!("VIEW {theirs} {four}\n").as_bytes(), now);
    assert_eq!(row(&e, "node2").kind, RowKind::ConfigDiffers);
    // Our digest with the wrong number of states (forged, or a bug): the row goes.
    e.on_data(conn, format!("VIEW {ours} {four}A\n").as_bytes(), now);
    assert_eq!(row(&e, "node2").kind, RowKind::None);
    assert!(
        e.role(conn).is_some(),
        "a wrong view is no reason to drop the peer"
    );
    // Not base64url: malformed, the connection goes (like any malformed line).
    e.on_data(conn, format!("VIEW {ours} w=\n").as_bytes(), now);
    assert!(e.role(conn).is_none());
}

#[test]
fn a_stranger_or_an_unproved_connection_cannot_inject_a_view() {
    let now = Now::ms(0, WALL0);
    let mut e = Engine::new(&config(3, 3), now);
    let ours = digest_hex(&["node1", "node2", "node3"]);
    let states = wire_view::encode(&[Seen::Down; 3]);
    let line = format!("VIEW {ours} {states}\n");
    // From node2's address, but before any handshake: closed, nothing kept.
    let c = e
        .on_accepted(SocketAddr::new(addr(2).ip(), 40001), now)
        .unwrap();
    e.on_data(c, line.as_bytes(), now);
    assert!(e.role(c).is_none());
    // From an address that is no node's: closed.
    let s = e
        .on_accepted(SocketAddr::from(([192, 0, 2, 1], 40002)), now)
        .unwrap();
    e.on_data(s, line.as_bytes(), now);
    assert!(e.role(s).is_none());
    for name in ["node2", "node3"] {
        assert_eq!(row(&e, name).kind, RowKind::None, "{name}");
    }
}

#[test]
fn a_clock_request_is_answered_on_a_proved_connection_only() {
    let (mut e, conn, now) = proved(3);
    e.on_data(conn, b"CLOCK 12345\n", now);
    assert_eq!(
        e.output(conn),
        format!("CLOCKED 12345 {WALL0}\n").as_bytes()
    );
    let c = e
        .on_accepted(SocketAddr::new(addr(3).ip(), 40003), now)
        .unwrap();
    e.on_data(c, b"CLOCK 12345\n", now);
    assert!(e.role(c).is_none(), "unproved: closed, unanswered");
}

#[test]
fn the_verdict_needs_two_observers_and_follows_the_rules() {
    // node1 of 3 sees node3 down after three timeouts (no link ever comes up).
    let (mut e, conn, mut now) = proved(3);
    let ours = digest_hex(&["node1", "node2", "node3"]);
    let send = |e: &mut Engine, seen: [Seen; 3], now: Now| {
        let line = format!("VIEW {ours} {}\n", wire_view::encode(&seen));
        e.on_data(conn, line.as_bytes(), now);
    };
    send(&mut e, [Seen::Up, Seen::Unknown, Seen::Up], now);
    // Rounds with no link ever connected: node2 and node3 go offline in node1's eyes,
    // though node2's view is only a second old.
    for k in 1..=8 {
        now = Now::ms(k * INTERVAL, WALL0 + (k * INTERVAL) as i64);
        e.handle_timeout(now);
    }
    while e.poll_action().is_some() {}
    let v = e.mesh_view();
    // node1 sees both peers down and node2's view does not count (node1 cannot reach
    // node2 now): too few views, and this node sees everyone down: isolated.
    for k in [1, 2] {
        let verdict = &v.verdicts[k].as_ref().unwrap().judged.verdict;
        assert_eq!(*verdict, Verdict::Isolated(None), "{k}: {v:?}");
    }
    assert_eq!(
        crate::metrics::mesh::summary(&v).0,
        crate::metrics::mesh::EXIT_ISOLATED
    );
}

#[test]
fn random_views_and_clock_lines_never_break_the_engine() {
    // Views on, two proved peers sending whatever, time moving: no panic, the matrix
    // keeps its shape, and a verdict is one of the five.
    let (mut e, mut conn, mut now) = proved(4);
    let mut c3 = e
        .on_accepted(SocketAddr::new(addr(3).ip(), 40005), now)
        .unwrap();
    let mut closes = 0;
    e.on_data(c3, b"HELLO 1 node3\n", now);
    let ours = digest_hex(&["node1", "node2", "node3", "node4"]);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/";
    for _ in 0..5_000 {
        let r = next();
        let digits: String = (0..(r >> 8) % 5)
            .map(|k| char::from(DIGITS[((r >> (16 + 6 * k)) % DIGITS.len() as u64) as usize]))
            .collect();
        let line = match r % 6 {
            0 => format!("VIEW {ours} {digits}\n"),
            1 => format!("VIEW {:016x} {digits}\n", next()),
            2 => format!("CLOCK {}\n", next()),
            3 => format!("CLOCKED {} {}\n", next(), next()),
            4 => {
                let seen: Vec<Seen> = (0..4)
                    .map(|k| match (r >> (8 + 2 * k)) & 3 {
                        0 => Seen::Unknown,
                        1 => Seen::Up,
                        2 => Seen::Missing,
                        _ => Seen::Down,
                    })
                    .collect();
                format!("VIEW {ours} {}\n", wire_view::encode(&seen))
            }
            _ => {
                now = Now::ms(
                    now.mono + (r >> 20) % 700,
                    now.wall + ((r >> 20) % 700) as i64,
                );
                e.handle_timeout(now);
                String::new()
            }
        };
        for (c, peer) in [(&mut conn, 2u8), (&mut c3, 3)] {
            // A connection closed for a malformed line comes back, proved again.
            if e.role(*c).is_none() {
                let port = 41000 + (next() % 20_000) as u16;
                let Some(again) = e.on_accepted(SocketAddr::new(addr(peer).ip(), port), now) else {
                    continue;
                };
                e.on_data(again, format!("HELLO 1 node{peer}\n").as_bytes(), now);
                *c = again;
                closes += 1;
            }
            e.on_data(*c, line.as_bytes(), now);
            let n = e.output(*c).len();
            e.wrote(*c, n);
        }
        while e.poll_action().is_some() {}
        let v = e.mesh_view();
        assert_eq!((v.nodes.len(), v.rows.len(), v.verdicts.len()), (4, 4, 4));
        assert!(v.rows.iter().all(|r| r.seen.len() == 4));
        for j in v.verdicts.iter().flatten() {
            assert!(Verdict::CODES.contains(&j.judged.verdict.code()));
        }
    }
    // Malformed views closed connections, well-formed ones did not (all kinds came).
    assert!(closes > 100, "{closes}");
    assert!(
        e.mesh_view()
            .rows
            .iter()
            .any(|r| matches!(r.kind, RowKind::Fresh(_) | RowKind::Stale(_)))
    );
}
