//! The live view's properties in the simulator (issue 19): every running node's verdicts
//! and clock offsets sampled every 50 ms of simulated time while one fault is scripted.
//!
//! - a node partitioned alone says *isolated* of every peer, and never *down*;
//! - a crashed node is *down* on every other node within the detection bound plus one
//!   settle time (views travel an interval after each node's own detection);
//! - a link cut between two nodes that stay up is *link*, never *down*, on every node;
//! - skewed wall clocks are measured within 10 ms plus the latency's jitter.
//!
//! Cost: 4 scenarios × 3 seeds × 40 s of a 5-node mesh, about a second in release.

use uptime_tracker::sim::check::detection_bound;
use uptime_tracker::sim::fault::{Fault, FaultKind};
use uptime_tracker::sim::{self, Options, ViewSample};

const N: usize = 5;
const INTERVAL: u64 = 200;
const TIMEOUT: u64 = 300;
const THRESHOLD: u32 = 3;
const LATENCY: (u64, u64) = (1, 20);
const START: u64 = 15_000;
const END: u64 = 30_000;
const SEEDS: [u64; 3] = [1, 2, 3];

fn fault(kind: FaultKind, node: usize, other: Option<usize>) -> Fault {
    Fault {
        kind,
        node,
        other,
        start: START,
        end: END,
        step_ms: 0,
    }
}

fn run(seed: u64, faults: Vec<Fault>, skews: Vec<i64>) -> Vec<ViewSample> {
    let cfg = sim::mesh_config(N, INTERVAL, TIMEOUT, THRESHOLD);
    let mut opts = Options::quick(seed);
    opts.duration_ms = 40_000;
    opts.latency = LATENCY;
    opts.scripted = Some(faults);
    opts.skews = skews;
    opts.view_every = Some(50);
    let out = sim::run(&cfg, &opts);
    assert!(
        out.report.violations.is_empty(),
        "seed {seed}: {:#?}",
        out.report.violations
    );
    assert!(!out.views.is_empty());
    out.views
}

/// When a fault must have been noticed and its views judged: the detection bound, then
/// the settle time (other observers' views an interval and a timeout later, held back
/// up to one interval).
fn deadline() -> u64 {
    START
        + detection_bound(INTERVAL, TIMEOUT, THRESHOLD, LATENCY.1)
        + uptime_tracker::mesh::settle_ms(INTERVAL, TIMEOUT)
}

fn verdict(s: &ViewSample, peer: usize) -> Option<&'static str> {
    s.peers.get(peer).copied().flatten().map(|(v, _, _)| v)
}

/// The first time from which `node` says `want` of `peer` at every sample until the
/// fault ends.
fn holds_from(views: &[ViewSample], node: usize, peer: usize, want: &str) -> Option<u64> {
    let mine: Vec<&ViewSample> = views
        .iter()
        .filter(|s| s.node == node && s.at >= START && s.at < END)
        .collect();
    let last_other = mine.iter().rposition(|s| verdict(s, peer) != Some(want));
    match last_other {
        None => mine.first().map(|s| s.at),
        Some(i) => mine.get(i + 1).map(|s| s.at),
    }
}

#[test]
fn a_node_alone_in_a_partition_says_isolated_never_down() {
    for seed in SEEDS {
        let views = run(seed, vec![fault(FaultKind::Partition, 0, None)], vec![]);
        for s in views.iter().filter(|s| s.node == 0) {
            for peer in 1..N {
                assert_ne!(
                    verdict(s, peer),
                    Some("down"),
                    "seed {seed}: node1 at {} ms says node{} is down",
                    s.at,
                    peer + 1
                );
            }
        }
        for peer in 1..N {
            let from = holds_from(&views, 0, peer, "isolated");
            let from = from.unwrap_or_else(|| panic!("seed {seed}: never isolated"));
            assert!(from <= deadline(), "seed {seed}: isolated from {from} ms");
            eprintln!(
                "seed {seed}: node1 isolated about node{} {} ms after the cut",
                peer + 1,
                from - START
            );
        }
    }
}

#[test]
fn a_crashed_node_is_down_on_every_other_node() {
    for seed in SEEDS {
        let views = run(seed, vec![fault(FaultKind::Crash, N - 1, None)], vec![]);
        for node in 0..N - 1 {
            let from = holds_from(&views, node, N - 1, "down")
                .unwrap_or_else(|| panic!("seed {seed}: node{} never says down", node + 1));
            assert!(from <= deadline(), "seed {seed}: down from {from} ms");
            eprintln!(
                "seed {seed}: node{} says node{N} down {} ms after the crash (deadline {})",
                node + 1,
                from - START,
                deadline() - START
            );
        }
        // Before the crash, nobody is down.
        for s in views
            .iter()
            .filter(|s| s.node != N - 1 && s.at > 5_000 && s.at < START)
        {
            assert_eq!(verdict(s, N - 1), Some("up"), "seed {seed} at {}", s.at);
        }
    }
}

#[test]
fn a_cut_link_between_up_nodes_is_link_never_down() {
    for seed in SEEDS {
        let views = run(seed, vec![fault(FaultKind::Cut, 1, Some(2))], vec![]);
        for s in &views {
            for peer in [1, 2] {
                assert_ne!(
                    verdict(s, peer),
                    Some("down"),
                    "seed {seed}: node{} at {} ms says node{} is down",
                    s.node + 1,
                    s.at,
                    peer + 1
                );
            }
        }
        for (node, peer) in [(1, 2), (2, 1), (0, 1), (0, 2), (4, 2)] {
            let from = holds_from(&views, node, peer, "link")
                .unwrap_or_else(|| panic!("seed {seed}: node{} never says link", node + 1));
            assert!(from <= deadline(), "seed {seed}: link from {from} ms");
            eprintln!(
                "seed {seed}: node{} says link about node{} {} ms after the cut",
                node + 1,
                peer + 1,
                from - START
            );
        }
    }
}

#[test]
fn skewed_clocks_are_measured() {
    // node2 two hours ahead, node3 3 s behind, node4 50 ms ahead.
    let skews = vec![0, 7_200_000, -3_000, 50, 0];
    let jitter = (LATENCY.1 - LATENCY.0) as i64;
    for seed in SEEDS {
        let views = run(seed, vec![], skews.clone());
        let late: Vec<&ViewSample> = views.iter().filter(|s| s.at >= 5_000).collect();
        assert!(!late.is_empty());
        let mut worst = 0;
        for s in late {
            for (peer, want) in skews.iter().enumerate() {
                let Some(Some((_, _, offset))) = s.peers.get(peer) else {
                    continue;
                };
                let Some(offset) = offset else {
                    panic!(
                        "seed {seed}: node{} has no offset for node{}",
                        s.node + 1,
                        peer + 1
                    );
                };
                let want = want - skews[s.node];
                let err = (offset - want).abs();
                worst = worst.max(err);
                assert!(
                    err <= 10 + jitter,
                    "seed {seed}: node{} measures node{} at {offset} ms, truly {want}",
                    s.node + 1,
                    peer + 1
                );
            }
        }
        eprintln!(
            "seed {seed}: worst clock offset error {worst} ms (bound {})",
            10 + jitter
        );
    }
}
