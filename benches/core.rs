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
