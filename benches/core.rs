//! Micro-benchmarks of the pure core: `cargo bench --bench core`.
//!
//! Hand-rolled (std::time + black_box) rather than criterion, to keep the dev-dependency
//! tree empty. Each case runs for a fixed number of iterations after a warm-up and prints
//! nanoseconds per operation; figures are indicative, for comparing changes on one machine.

use std::hint::black_box;
use std::time::Instant;

use uptime_tracker::logline;
use uptime_tracker::timer::Wheel;
use uptime_tracker::tracker::Tracker;
use uptime_tracker::wire::framer::Framer;
use uptime_tracker::wire::message::{self, Message};

fn bench(name: &str, ops: u64, mut f: impl FnMut()) {
    f();
    let start = Instant::now();
    f();
    let ns = start.elapsed().as_nanos() as f64 / ops as f64;
    println!("{name:<44} {ns:>9.1} ns/op  ({ops} ops)");
}

fn main() {
    const LINES: u64 = 1_000_000;
    let mut stream = Vec::new();
    for seq in 0..1000u64 {
        Message::Ping { seq: seq * 7919 }.encode(&mut stream);
    }
    #[cfg(feature = "simulate")]
    {
        // Ten engines for ten minutes of their time: 54,000 probes.
        let start = Instant::now();
        let probes = engines_in_memory(10, 600);
        let ns = start.elapsed().as_nanos() as f64 / probes.max(1) as f64;
        println!(
            "{:<44} {ns:>9.1} ns/op  ({probes} ops)",
            "engines: a probe, both ends, in memory"
        );
    }

    bench("framer+parse, PING lines fed in 1 KiB reads", LINES, || {
        let mut framer = Framer::new();
        let mut sum = 0u64;
        for _ in 0..LINES / 1000 {
            for chunk in stream.chunks(1024) {
                let mut rest = chunk;
                while !rest.is_empty() {
                    let n = framer.push(rest);
                    rest = rest.get(n..).unwrap_or_default();
                    while let Ok(Some(line)) = framer.next_line() {
                        if let Ok(Message::Ping { seq }) = message::parse(line) {
                            sum = sum.wrapping_add(seq);
                        }
                    }
                }
            }
        }
        black_box(sum);
    });

    let mut out = Vec::with_capacity(64);
    bench("encode PONG", LINES, || {
        for seq in 0..LINES {
            out.clear();
            Message::Pong { seq }.encode(&mut out);
            black_box(&out);
        }
    });

    const TIMERS: u64 = 1_000_000;
    bench("wheel: schedule + cancel (1000 armed)", TIMERS, || {
        let mut wheel = Wheel::new(0);
        let mut ids = Vec::with_capacity(1000);
        for i in 0..1000u64 {
            ids.push(wheel.schedule(100 + i * 37 % 5000, i));
        }
        for i in 0..TIMERS {
            let slot = (i % 1000) as usize;
            if let Some(id) = ids.get_mut(slot) {
                wheel.cancel(*id);
                *id = wheel.schedule(100 + i * 37 % 5000, i);
            }
        }
        black_box(wheel.len());
    });

    bench("wheel: schedule + expire, 1 ms steps", TIMERS, || {
        let mut wheel = Wheel::new(0);
        let mut fired = 0u64;
        for now in 0..TIMERS {
            wheel.schedule(now + 300, now);
            while let Some((_, v)) = wheel.pop_expired(now) {
                fired = fired.wrapping_add(v);
            }
            black_box(wheel.next_deadline());
        }
        black_box(fired);
    });

    const PROBES: u64 = 1_000_000;
    bench("tracker: probe + reply, 64 peers", PROBES, || {
        let mut t: Tracker<u64> = Tracker::new(64, 3);
        for i in 0..PROBES {
            let peer = (i % 64) as usize;
            if let Some(seq) = t.start_probe(peer, |s| s) {
                black_box(t.reply(peer, seq, i));
            }
        }
    });

    let mut line = String::with_capacity(64);
    bench("logline: format an event line", LINES, || {
        for i in 0..LINES {
            line.clear();
            logline::write_event(
                &mut line,
                1_795_000_000_000 + i as i64,
                "node1",
                (i % 4) as u32,
            );
            black_box(&line);
        }
    });
}

/// `n` engines probing one another in memory for `secs` seconds of their time, every
/// byte handed over at once (no network, no checker): the engines' own cost per probe,
/// the floor under what `simulate` can reach. Returns the probes answered.
#[cfg(feature = "simulate")]
fn engines_in_memory(n: usize, secs: u64) -> u64 {
    use std::net::{IpAddr, SocketAddr};
    use uptime_tracker::mesh::{Action, ConnId, Engine, Now};

    let cfg = uptime_tracker::sim::mesh_config(n, 1000, 1500, 3);
    let start = Now::ms(0, 1_767_225_600_000);
    let mut engines: Vec<Engine> = (0..n)
        .map(|me| {
            let mut c = cfg.clone();
            c.me = me;
            c.whoami = format!("node{}", me + 1);
            Engine::new(&c, start)
        })
        .collect();
    let ip = |i: usize| cfg.nodes.get(i).map(|node| node.addr.ip());
    // wires[node][conn slot]: the other end, (node, conn).
    let mut wires: Vec<Vec<Option<(usize, ConnId)>>> = vec![Vec::new(); n];
    let wire = |wires: &mut Vec<Vec<Option<(usize, ConnId)>>>, a: (usize, ConnId), b| {
        if let Some(w) = wires.get_mut(a.0) {
            if w.len() <= a.1.index() {
                w.resize(a.1.index() + 1, None);
            }
            if let Some(slot) = w.get_mut(a.1.index()) {
                *slot = Some(b);
            }
        }
    };
    let mut bytes = Vec::new();
    let mut now = start;
    let mut port = 40_000u16;
    while now.mono < secs * 1000 {
        let mut busy = true;
        while busy {
            busy = false;
            for i in 0..n {
                while let Some(action) = engines.get_mut(i).and_then(Engine::poll_action) {
                    busy = true;
                    match action {
                        Action::Connect { conn, addr } => {
                            let Some(j) = cfg.nodes.iter().position(|x| x.addr == addr) else {
                                continue;
                            };
                            port = port.wrapping_add(1);
                            let from = SocketAddr::new(ip(i).unwrap_or(IpAddr::from([0; 4])), port);
                            if let Some(acc) =
                                engines.get_mut(j).and_then(|e| e.on_accepted(from, now))
                            {
                                wire(&mut wires, (i, conn), (j, acc));
                                wire(&mut wires, (j, acc), (i, conn));
                                if let Some(e) = engines.get_mut(i) {
                                    e.on_connected(conn, now);
                                }
                            }
                        }
                        Action::Send { conn } => {
                            let Some(e) = engines.get_mut(i) else {
                                continue;
                            };
                            bytes.clear();
                            bytes.extend_from_slice(e.output(conn));
                            e.wrote(conn, bytes.len());
                            let to = wires
                                .get(i)
                                .and_then(|w| w.get(conn.index()))
                                .copied()
                                .flatten();
                            if let Some((j, c)) = to
                                && let Some(other) = engines.get_mut(j)
                            {
                                other.on_data(c, &bytes, now);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        let next = engines
            .iter()
            .filter_map(Engine::poll_at)
            .min()
            .unwrap_or(now.mono + 1);
        let step = next.max(now.mono + 1) - now.mono;
        now = Now::ms(now.mono + step, now.wall + step as i64);
        for e in &mut engines {
            e.handle_timeout(now);
        }
    }
    engines
        .iter()
        .flat_map(|e| e.peers().map(|p| p.stats.replied).collect::<Vec<_>>())
        .sum()
}
