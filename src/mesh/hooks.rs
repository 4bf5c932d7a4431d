//! When the `on_change` program runs: the engine decides, the shell spawns and kills.
//!
//! Rules:
//! - Every change of a peer's state (offline; back online) asks for one run
//!   ([`Action::Hook`]), told the new state.
//! - At most one run per peer at a time, and at most [`MAX_RUNNING`] in all. A change that
//!   cannot start waits; a later change of the same peer replaces the waiting one (the
//!   run then says the peer's latest state, and `coalesced` counts the changes it
//!   replaced). Waiting peers start in the order their first waiting change came.
//! - A run still going `timeout` ms after it started is killed ([`Action::KillHook`]) and
//!   said on stderr; it still holds its peer's place until the shell reports it reaped
//!   ([`Engine::on_hook_exit`]).
//! - A peer removed by a reload loses its waiting change; a run already going finishes.

use std::collections::VecDeque;

use super::{Action, Engine, HookId, HookRun, Now, PeerId, PeerState, Timer};
use crate::timer::TimerId;

/// Most hook runs at once, whatever the number of peers (a router has little memory).
pub const MAX_RUNNING: usize = 8;

/// One run going on.
#[derive(Debug)]
struct Running {
    id: HookId,
    peer: usize,
    name: String,
    /// Its time limit (ms), as it was when it started.
    timeout: u64,
    /// The deadline's timer, until it fires.
    deadline: Option<TimerId>,
}

/// The engine's hook state.
#[derive(Debug, Default)]
pub(super) struct Hooks {
    /// How long a run may take (ms); `None`: no `on_change`, no runs.
    timeout: Option<u64>,
    running: Vec<Running>,
    /// Peers with a waiting change, oldest first.
    queue: VecDeque<usize>,
    next_id: u64,
}

impl Hooks {
    pub(super) fn new(timeout: Option<u64>) -> Hooks {
        Hooks {
            timeout,
            ..Hooks::default()
        }
    }

    pub(super) fn set_timeout(&mut self, timeout: Option<u64>) {
        self.timeout = timeout;
    }

    fn is_running(&self, peer: usize) -> bool {
        self.running.iter().any(|r| r.peer == peer)
    }
}

impl Engine {
    /// Hook runs going on (for tests and status).
    pub fn hooks_running(&self) -> usize {
        self.hooks.running.len()
    }

    /// The shell reaped hook run `id` (or could not start it): its peer's next waiting
    /// change may run.
    pub fn on_hook_exit(&mut self, id: HookId, now: Now) {
        let Some(i) = self.hooks.running.iter().position(|r| r.id == id) else {
            return;
        };
        let done = self.hooks.running.swap_remove(i);
        if let Some(t) = done.deadline {
            self.wheel.cancel(t);
        }
        self.start_waiting_hooks(now);
    }

    /// `peer` changed to `state`: run the hook, or queue the change behind a running one.
    /// With `on_change_when = "down"`, an offline change waits for its verdict to settle
    /// as down (`Engine::settled_hooks`), and a return online runs only after an offline
    /// run.
    pub(super) fn hook(&mut self, peer: usize, state: PeerState, timeouts: u32, now: Now) {
        if self.hooks.timeout.is_none() {
            return;
        }
        if self.settings.hook_only_down {
            let Some(p) = self.peers.get_mut(peer) else {
                return;
            };
            match state {
                PeerState::Offline => {
                    p.hook_waits_for_down = true;
                    return;
                }
                PeerState::Online => {
                    p.hook_waits_for_down = false;
                    if !std::mem::take(&mut p.hook_paged) {
                        return;
                    }
                }
            }
        }
        self.run_hook(peer, state, timeouts, now);
    }

    /// Runs the hook for `peer`'s change to `state`, or queues it behind a running one.
    pub(super) fn run_hook(&mut self, peer: usize, state: PeerState, timeouts: u32, now: Now) {
        if self.hooks.timeout.is_none() {
            return;
        }
        let (verdict, settled) = self.hook_verdict(peer);
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        let coalesced = p
            .hook_pending
            .take()
            .map_or(0, |old| old.coalesced.saturating_add(1));
        let run = HookRun {
            id: HookId(0), // given when it starts
            peer: PeerId(peer),
            name: p.name.clone(),
            addr: p.addr,
            state,
            timeouts,
            wall: now.wall,
            coalesced,
            verdict,
            settled,
        };
        // Boxed: rare, and inline it would grow every peer by its size.
        p.hook_pending = Some(Box::new(run));
        if !self.hooks.queue.contains(&peer) {
            self.hooks.queue.push_back(peer);
        }
        self.start_waiting_hooks(now);
    }

    /// Drops `peer`'s waiting change (the peer was removed).
    pub(super) fn forget_hook(&mut self, peer: usize) {
        self.hooks.queue.retain(|&p| p != peer);
        if let Some(p) = self.peers.get_mut(peer) {
            p.hook_pending = None;
            p.hook_waits_for_down = false;
            p.hook_paged = false;
        }
    }

    /// Starts waiting changes, oldest first, while there is room and their peer has no
    /// run going.
    fn start_waiting_hooks(&mut self, now: Now) {
        let Some(timeout) = self.hooks.timeout else {
            self.hooks.queue.clear();
            return;
        };
        let mut i = 0;
        while i < self.hooks.queue.len() && self.hooks.running.len() < MAX_RUNNING {
            let Some(&peer) = self.hooks.queue.get(i) else {
                break;
            };
            if self.hooks.is_running(peer) {
                i += 1;
                continue;
            }
            self.hooks.queue.remove(i);
            let Some(mut run) = self.peers.get_mut(peer).and_then(|p| p.hook_pending.take()) else {
                continue;
            };
            let id = HookId(self.hooks.next_id);
            self.hooks.next_id = self.hooks.next_id.wrapping_add(1);
            run.id = id;
            let deadline = self
                .wheel
                .schedule(now.mono.saturating_add(timeout), Timer::Hook(id));
            self.hooks.running.push(Running {
                id,
                peer,
                name: run.name.clone(),
                timeout,
                deadline: Some(deadline),
            });
            self.actions.push_back(Action::Hook(*run));
        }
    }

    /// Run `id` reached its deadline: kill it.
    pub(super) fn hook_deadline(&mut self, id: HookId) {
        let Some(r) = self.hooks.running.iter_mut().find(|r| r.id == id) else {
            return;
        };
        r.deadline = None;
        let msg = format!(
            "hook {}: still running after {} ms: killed",
            r.name, r.timeout
        );
        self.actions.push_back(Action::KillHook { id });
        self.say(msg);
    }
}
