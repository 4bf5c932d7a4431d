//! The operator's features in the engine: a config reload, `online_threshold`, hooks, and
//! log retention, driven by hand with exact simulated time.

use super::*;
use crate::config::OnChange;

fn harness(cfg: &Config) -> Harness {
    let now = Now {
        mono: 0,
        wall: WALL0 - 60_000,
        micros: 0,
    };
    let mut engine = Engine::new(cfg, now);
    engine.set_views(false);
    engine.set_links_per_peer(1);
    Harness {
        engine,
        now,
        cfg: cfg.clone(),
    }
}

impl Harness {
    /// Reloads `new` as the daemon does (it must be a valid reload of the config in
    /// force).
    fn reload(&mut self, new: &Config) {
        let reload = self
            .cfg
            .reload(new.clone())
            .expect("a reload, not a restart");
        self.engine.reconfigure(&reload, self.now);
        self.cfg = reload.into_config();
    }
}

const REFUSED: CloseReason = CloseReason::Io {
    op: IoOp::Connect,
    errno: 111,
};

/// The log record of a reload to the config in force: its header, and the counts carried.
fn reloaded(h: &Harness, carried: &[(&str, u32)]) -> LogRecord {
    LogRecord::Reconfigured {
        wall: h.now.wall,
        threshold: h.cfg.offline_threshold,
        nodes: h
            .cfg
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.addr))
            .collect(),
        carried: carried.iter().map(|&(n, c)| (n.to_string(), c)).collect(),
    }
}

fn records(actions: &[Action]) -> Vec<LogRecord> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn hooks(actions: &[Action]) -> Vec<HookRun> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Hook(run) => Some(run.clone()),
            _ => None,
        })
        .collect()
}

/// The link the engine holds to `peer` (a slot).
fn link_of(h: &Harness, peer: usize) -> ConnId {
    h.engine
        .peers
        .get(peer)
        .and_then(|p| p.link)
        .expect("a link")
}

/// Answers the last PING queued on `link`.
fn answer_last(h: &mut Harness, link: ConnId) -> Vec<Action> {
    let out = h.take_output(link);
    let seq = out
        .lines()
        .filter_map(|l| l.strip_prefix("PING "))
        .next_back()
        .expect("a PING");
    h.data(link, &format!("PONG {seq}\n"))
}

#[test]
fn a_reload_keeps_unchanged_peers_and_applies_the_rest() {
    let cfg = config(3, 3);
    let mut h = harness(&cfg);
    let links = connects(&h.actions());
    let (l2, l3) = (links[0].0, links[1].0);
    h.link_up(l2, 2);
    h.link_up(l3, 3);
    let inbound = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5000)), h.now)
        .unwrap();
    h.data(inbound, "HELLO 1 node2\n");
    h.take_output(inbound);
    // node2 misses PING 0 (its link stays: the reply may be on its way); node3 answers
    // it and has PING 1 in flight (a small mesh's peers take their turns together).
    h.at(INTERVAL);
    assert_eq!(h.take_output(l2), "PING 0\n");
    answer_last(&mut h, l3);
    h.at(2 * INTERVAL);
    assert_eq!(h.take_output(l2), "PING 1\n");
    assert_eq!(h.take_output(l3), "PING 1\n");
    let acts = h.at(INTERVAL + TIMEOUT);
    assert_eq!(events(&acts), vec![(2, 1)]);
    assert_eq!(link_of(&h, 1), l2);
    let l2b = l2;
    assert_eq!(h.engine.timeouts(PeerId(1)), 1);

    // The reload: node3 removed, node4 added, node2 unchanged, interval doubled.
    let mut new = config(4, 3);
    new.nodes.remove(2);
    new.interval_ms = 2 * INTERVAL;
    h.reload(&new);
    let acts = h.actions();
    assert_eq!(closes(&acts), vec![(l3, CloseReason::Reconfigured)]);
    assert_eq!(
        connects(&acts).iter().map(|c| c.1).collect::<Vec<_>>(),
        [addr(4)]
    );
    assert!(events(&acts).is_empty(), "{acts:?}");
    assert!(
        says(
            &acts,
            "config reloaded: added node4; removed node3; interval 200 -> 400 ms"
        ),
        "{acts:?}"
    );
    assert_eq!(records(&acts), [reloaded(&h, &[("node2", 1)])]);
    // node2 kept its link, inbound connection, count and probe in flight.
    assert_eq!(h.engine.link_state(PeerId(1)), Some(LinkState::Ready));
    assert_eq!(
        h.engine.connections(),
        3,
        "node2's link and inbound, node4's dial"
    );
    assert_eq!(
        h.engine.peer_ids().collect::<Vec<_>>(),
        [PeerId(1), PeerId(2)]
    );
    assert_eq!(
        h.engine.peer_name(PeerId(2)),
        "node4",
        "node3's slot reused"
    );
    assert_eq!(h.engine.timeouts(PeerId(2)), 0);
    let acts = h.data(l2b, "PONG 1\n");
    assert_eq!(events(&acts), vec![(2, 0)], "the count 1 was kept");
    // A HELLO in node3's name is now a stranger's.
    let c = h
        .engine
        .on_accepted(SocketAddr::from(([127, 0, 0, 2], 5001)), h.now);
    assert!(c.is_some(), "node2's ip is still configured");
    // node2's turn due at 3 * INTERVAL keeps its phase; the next is the new interval on.
    h.at(3 * INTERVAL);
    assert_eq!(h.take_output(l2b), "PING 2\n");
    h.data(l2b, "PONG 2\n");
    // node3's probe in flight is void: its deadline passes without a line.
    let acts = h.at(2 * INTERVAL + TIMEOUT);
    assert!(events(&acts).is_empty(), "{acts:?}");
    h.at(4 * INTERVAL);
    assert_eq!(h.take_output(l2b), "");
    h.at(5 * INTERVAL);
    assert_eq!(h.take_output(l2b), "PING 3\n");
}

#[test]
fn a_reload_redials_a_moved_peer_and_applies_a_lower_threshold_at_once() {
    let mut h = Harness::new(2, 3);
    let link = connects(&h.actions())[0].0;
    // Two refusals with a probe in flight: count 2.
    h.at(INTERVAL);
    h.engine.on_closed(link, REFUSED, h.now);
    let mut acts = h.actions();
    acts.extend(h.at(2 * INTERVAL));
    let link = link_of(&h, 1);
    h.engine.on_closed(link, REFUSED, h.now);
    acts.extend(h.actions());
    assert_eq!(events(&acts), vec![(2, 1), (2, 2)]);
    h.at(3 * INTERVAL);
    let dialling = link_of(&h, 1);

    let mut new = config(2, 2);
    let moved = SocketAddr::from(([127, 0, 0, 2], 48002));
    new.nodes[1].addr = moved;
    h.reload(&new);
    let acts = h.actions();
    assert_eq!(closes(&acts), vec![(dialling, CloseReason::Reconfigured)]);
    assert_eq!(
        connects(&acts).iter().map(|c| c.1).collect::<Vec<_>>(),
        [moved]
    );
    assert!(
        says(
            &acts,
            "config reloaded: new address for node2; offline_threshold 3 -> 2"
        ),
        "{acts:?}"
    );
    assert!(says(
        &acts,
        "peer node2 offline: its 2 timeouts reach the new offline_threshold"
    ));
    assert_eq!(records(&acts), [reloaded(&h, &[("node2", 2)])]);
    assert!(
        events(&acts).is_empty(),
        "the probe in flight is void: {acts:?}"
    );
    // Offline now: further misses log nothing; one reply brings it back with `0`.
    let link = link_of(&h, 1);
    h.at(4 * INTERVAL);
    h.engine.on_closed(link, REFUSED, h.now);
    assert!(events(&h.actions()).is_empty());
    h.at(5 * INTERVAL);
    let link = link_of(&h, 1);
    h.link_up(link, 2);
    let acts = answer_last(&mut h, link);
    assert_eq!(events(&acts), vec![(2, 0)]);
    assert!(says(&acts, "node2 back online"));
}

#[test]
fn a_reload_writes_a_header_only_when_the_header_changes() {
    let (mut h, link) = pair();
    let same = config(2, 3);
    h.reload(&same);
    let acts = h.actions();
    assert!(says(
        &acts,
        "config reloaded: no change to peers or timings"
    ));
    assert!(records(&acts).is_empty(), "{acts:?}");
    assert!(closes(&acts).is_empty() && connects(&acts).is_empty());
    // Timings alone: applied, no header (a reader would take it for a restart).
    let mut faster = config(2, 3);
    faster.timeout_ms = TIMEOUT / 2;
    faster.online_threshold = 2;
    h.reload(&faster);
    let acts = h.actions();
    assert!(
        says(
            &acts,
            "config reloaded: timeout 300 -> 150 ms; online_threshold 1 -> 2"
        ),
        "{acts:?}"
    );
    assert!(records(&acts).is_empty(), "{acts:?}");
    assert_eq!(h.engine.link_state(PeerId(1)), Some(LinkState::Ready));
    // The new timeout applies to the next probe: a miss 150 ms after it is sent.
    h.at(INTERVAL);
    assert_eq!(h.take_output(link), "PING 0\n");
    assert!(events(&h.at(INTERVAL + TIMEOUT / 2 - 1)).is_empty());
    assert_eq!(events(&h.at(INTERVAL + TIMEOUT / 2)), vec![(2, 1)]);
    // The same nodes in another order: the header changes.
    let mut reordered = faster.clone();
    reordered.nodes.reverse();
    reordered.me = 1;
    h.reload(&reordered);
    let acts = h.actions();
    assert_eq!(records(&acts), [reloaded(&h, &[("node2", 1)])]);
    assert!(
        acts.iter().any(|a| matches!(a, Action::Say(s)
            if s == "config reloaded: the nodes' order changed (a new log header)")),
        "{acts:?}"
    );
}

#[test]
fn an_offline_peer_needs_online_threshold_replies_in_a_row() {
    let mut cfg = config(2, 1);
    cfg.online_threshold = 2;
    let mut h = harness(&cfg);
    let link = connects(&h.actions())[0].0;
    h.at(INTERVAL);
    h.engine.on_closed(link, REFUSED, h.now);
    let acts = h.actions();
    assert_eq!(events(&acts), vec![(2, 1)]);
    assert!(says(&acts, "node2 offline after 1 timeouts"));
    h.at(2 * INTERVAL);
    let link = link_of(&h, 1);
    h.link_up(link, 2);
    let acts = answer_last(&mut h, link);
    assert!(
        events(&acts).is_empty(),
        "one reply is not enough: {acts:?}"
    );
    assert!(!says(&acts, "back online"));
    assert_eq!(h.engine.timeouts(PeerId(1)), 1);
    h.at(3 * INTERVAL);
    let acts = answer_last(&mut h, link);
    assert_eq!(events(&acts), vec![(2, 0)]);
    assert!(says(&acts, "node2 back online"));
}

fn hook_config(timeout_ms: u64) -> Config {
    let mut cfg = config(2, 1);
    cfg.on_change = Some(OnChange {
        program: "/bin/true".into(),
        timeout_ms,
        only_down: false,
    });
    cfg
}

/// Takes node2 (threshold 1) offline at `t` (a round time), returns the actions.
fn offline_at(h: &mut Harness, t: u64) -> Vec<Action> {
    let mut acts = h.at(t);
    let link = link_of(h, 1);
    h.engine.on_closed(link, REFUSED, h.now);
    acts.extend(h.actions());
    acts
}

/// Brings node2 back at `t` (a round time): its link comes up and answers.
fn online_at(h: &mut Harness, t: u64) -> Vec<Action> {
    let mut acts = h.at(t);
    let link = link_of(h, 1);
    h.link_up(link, 2);
    acts.extend(answer_last(h, link));
    acts
}

#[test]
fn hooks_run_one_per_peer_coalesce_and_are_killed_at_their_deadline() {
    let mut h = harness(&hook_config(1_000));
    h.actions();
    let acts = offline_at(&mut h, INTERVAL);
    let runs = hooks(&acts);
    assert_eq!(runs.len(), 1, "{acts:?}");
    let first = &runs[0];
    assert_eq!(
        (
            first.name.as_str(),
            first.state,
            first.timeouts,
            first.coalesced
        ),
        ("node2", PeerState::Offline, 1, 0)
    );
    assert_eq!(
        (first.peer, first.addr, first.wall),
        (PeerId(1), addr(2), h.now.wall)
    );
    // Back online, then offline again, while the first run goes on: nothing starts.
    let mut acts = online_at(&mut h, 2 * INTERVAL);
    acts.extend(offline_at(&mut h, 3 * INTERVAL));
    assert!(hooks(&acts).is_empty(), "{acts:?}");
    assert_eq!(h.engine.hooks_running(), 1);
    // The first ends: the latest state runs, saying one change was folded into it.
    h.engine.on_hook_exit(first.id, h.now);
    let acts = h.actions();
    let runs = hooks(&acts);
    assert_eq!(runs.len(), 1);
    let second = &runs[0];
    assert_eq!((second.state, second.coalesced), (PeerState::Offline, 1));
    assert_ne!(second.id, first.id);
    let started = h.now.mono;
    // It hangs: killed at its deadline, not before; it keeps its place until reaped.
    let acts = h.at(started + 999);
    assert!(!acts.iter().any(|a| matches!(a, Action::KillHook { .. })));
    let acts = h.at(started + 1_000);
    assert!(
        acts.contains(&Action::KillHook { id: second.id }),
        "{acts:?}"
    );
    assert!(says(
        &acts,
        "hook node2: still running after 1000 ms: killed"
    ));
    let acts = online_at(&mut h, 9 * INTERVAL);
    assert!(hooks(&acts).is_empty());
    h.engine.on_hook_exit(second.id, h.now);
    let runs = hooks(&h.actions());
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].state, runs[0].timeouts), (PeerState::Online, 0));
    // A stale or repeated exit changes nothing.
    h.engine.on_hook_exit(second.id, h.now);
    assert!(h.actions().is_empty());
}

#[test]
fn without_on_change_no_hook_runs() {
    let mut h = harness(&config(2, 1));
    h.actions();
    let acts = offline_at(&mut h, INTERVAL);
    assert_eq!(events(&acts), vec![(2, 1)]);
    assert!(hooks(&acts).is_empty());
}

#[test]
fn at_most_max_running_hooks_run_at_once() {
    let n = (MAX_RUNNING_HOOKS + 3) as u8;
    let mut cfg = config(n, 1);
    cfg.on_change = hook_config(60_000).on_change;
    let mut h = harness(&cfg);
    h.actions();
    // Nobody answers: every peer goes offline at its first probe's deadline.
    let mut runs = Vec::new();
    for t in (0..=INTERVAL * 10).step_by(10) {
        runs.extend(hooks(&h.at(t)));
    }
    assert_eq!(
        h.engine
            .peer_ids()
            .filter(|&p| h.engine.timeouts(p) == 1)
            .count(),
        usize::from(n) - 1
    );
    assert_eq!(runs.len(), MAX_RUNNING_HOOKS);
    h.engine.on_hook_exit(runs[0].id, h.now);
    assert_eq!(hooks(&h.actions()).len(), 1, "one waiting starts");
}

#[test]
fn retention_prunes_at_start_and_at_each_midnight() {
    let mut cfg = config(2, 3);
    cfg.log_retention_days = Some(2);
    let mut h = harness(&cfg);
    let today = logline::day_number(h.now.wall);
    let acts = h.actions();
    assert!(acts.contains(&Action::PruneLogs {
        before_day: today - 2
    }));
    let mut t = 0;
    let rolled = loop {
        t += INTERVAL;
        let acts = h.at(t);
        if acts
            .iter()
            .any(|a| matches!(a, Action::Log(LogRecord::NewDay { .. })))
        {
            break acts;
        }
        assert!(!acts.iter().any(|a| matches!(a, Action::PruneLogs { .. })));
    };
    let at = rolled
        .iter()
        .position(|a| matches!(a, Action::PruneLogs { .. }))
        .expect("a prune");
    assert_eq!(
        rolled.get(at),
        Some(&Action::PruneLogs {
            before_day: today + 1 - 2
        })
    );
    assert!(matches!(
        rolled.get(at - 1),
        Some(Action::Log(LogRecord::NewDay { .. }))
    ));
    // Without the setting, nothing is ever pruned.
    let mut h = harness(&config(2, 3));
    assert!(
        !h.actions()
            .iter()
            .any(|a| matches!(a, Action::PruneLogs { .. }))
    );
}
