//! A new config applied to a running engine (SIGHUP), peers matched by name.
//!
//! - A peer still configured at the same address keeps everything: its link and inbound
//!   connection, its count and online state, its probes in flight and its phase.
//! - A removed peer's connections are closed ([`CloseReason::Reconfigured`]), its probes
//!   in flight dropped uncounted, its waiting hook change dropped, its slot freed; nothing
//!   is logged for it (the new header no longer lists it).
//! - A peer whose ip or port changed keeps its count, online state and phase (it is the
//!   same node, reached another way); its link is closed and redialled at the new address,
//!   the probes in flight on the old one dropped uncounted; its inbound connection is
//!   closed too if the ip changed (it no longer comes from a configured address).
//! - A new peer starts online with no timeouts, is dialled at once, and takes its first
//!   turn one interval later.
//! - `interval` applies from each peer's next turn, `timeout` to probes and dials started
//!   from now (those in flight keep their deadline). A lower `offline_threshold` sends a
//!   peer whose count reaches it offline at once (its count capped to it: said on
//!   stderr, hook run); a peer already offline stays offline, its count now the new
//!   threshold. `online_threshold` applies to replies from now on.
//! - Then, if the header changes (the node list, in config order with addresses, or the
//!   offline threshold), the log gets `---` and the new header, carrying every non-zero
//!   count ([`LogRecord::Reconfigured`]): the file stays valid 0.0.3, counts after the
//!   header continue from those carried. Otherwise (timings, hooks, retention, or
//!   nothing changed: logrotate's daily SIGHUP) no header is written, since a reader
//!   takes every header after the first of a day for a restart, the time before it
//!   unknown.
//!
//! This node's name and address cannot change (the shell refuses such a config first:
//! [`Config::restart_needed`]).

use super::{Action, CloseReason, Engine, LogRecord, Now, Peer, PeerState, Timer};
use crate::config::Config;

impl Engine {
    /// Applies `cfg` (already validated) from `now`. Refuses, changing nothing, a config
    /// whose `whoami` or own address differs: those need a restart.
    pub fn reconfigure(&mut self, cfg: &Config, now: Now) -> Result<(), String> {
        let same_me = match (cfg.nodes.get(cfg.me), self.peers.get(self.me)) {
            (Some(new), Some(old)) => new.name == old.name && new.addr == old.addr,
            _ => false,
        };
        if !same_me {
            return Err("restart to change this node's name or address".into());
        }
        self.roll_day(now);
        let mut removed = Vec::new();
        let gone: Vec<usize> = self
            .peer_indices()
            .filter(|&i| {
                self.peers
                    .get(i)
                    .is_some_and(|p| !cfg.nodes.iter().any(|n| n.name == p.name))
            })
            .collect();
        for slot in gone {
            removed.push(self.name(slot).to_string());
            self.remove_peer(slot, now);
        }
        let (mut added, mut moved) = (Vec::new(), Vec::new());
        for (_, node) in cfg.peers() {
            let slot = self
                .peer_indices()
                .find(|&i| self.peers.get(i).is_some_and(|p| p.name == node.name));
            match slot {
                Some(slot) => {
                    if self
                        .peers
                        .get(slot)
                        .is_some_and(|p| p.addr != node.addr || p.legacy != node.legacy_http)
                    {
                        moved.push(node.name.clone());
                        self.readdress(slot, node.addr, node.legacy_http, now);
                    }
                }
                None => {
                    added.push(node.name.clone());
                    self.add_peer(node.name.clone(), node.addr, node.legacy_http, now);
                }
            }
        }

        let mut timing = Vec::new();
        let mut note = |what: &str, old: u64, new: u64, unit: &str| {
            if old != new {
                timing.push(format!("{what} {old} -> {new}{unit}"));
            }
        };
        note("interval", self.interval, cfg.interval_ms, " ms");
        note("timeout", self.timeout, cfg.timeout_ms, " ms");
        note(
            "offline_threshold",
            u64::from(self.tracker.threshold()),
            u64::from(cfg.offline_threshold),
            "",
        );
        note(
            "online_threshold",
            u64::from(self.tracker.online_threshold()),
            u64::from(cfg.online_threshold),
            "",
        );
        self.interval = cfg.interval_ms.max(1);
        self.timeout = cfg.timeout_ms.max(1);
        self.tracker.set_online_threshold(cfg.online_threshold);
        let old_threshold = self.tracker.threshold();
        let offline = self.tracker.set_threshold(cfg.offline_threshold, now.mono);
        self.peer_ips = cfg
            .nodes
            .iter()
            .map(|n| n.addr.ip().to_canonical())
            .collect();
        self.retention_days = cfg.log_retention_days;
        self.hooks
            .set_timeout(cfg.on_change.as_ref().map(|h| h.timeout_ms));
        if cfg.on_change.is_none() {
            // No hook any more: what waited will not run (runs going on finish).
            let slots: Vec<usize> = (0..self.peers.len()).collect();
            for slot in slots {
                self.forget_hook(slot);
            }
        }

        let mut parts = Vec::new();
        for (what, names) in [
            ("added", &added),
            ("removed", &removed),
            ("new address for", &moved),
        ] {
            if !names.is_empty() {
                parts.push(format!("{what} {}", names.join(", ")));
            }
        }
        parts.extend(timing);
        let header: Vec<_> = cfg.nodes.iter().map(|n| (n.name.clone(), n.addr)).collect();
        let new_header = header != self.header_nodes || old_threshold != self.tracker.threshold();
        if parts.is_empty() && new_header {
            parts.push("the nodes' order changed (a new log header)".into());
        }
        if parts.is_empty() {
            parts.push("no change to peers or timings".into());
        }
        self.say(format!("config reloaded: {}", parts.join("; ")));
        for change in offline {
            if !self.peers.get(change.peer).is_some_and(|p| p.active) || change.peer == self.me {
                continue;
            }
            let msg = format!(
                "peer {} offline: its {} timeouts reach the new offline_threshold",
                self.name(change.peer),
                change.timeouts
            );
            self.say(msg);
            self.hook(change.peer, PeerState::Offline, change.timeouts, now);
        }
        if new_header {
            self.header_nodes = header;
            let carried = self.carried();
            self.actions.push_back(Action::Log(LogRecord::Reconfigured {
                wall: now.wall,
                carried,
            }));
        }
        self.prune_logs(now);
        Ok(())
    }

    /// Closes `slot`'s connections, drops its probes and waiting hook change uncounted,
    /// and frees the slot.
    fn remove_peer(&mut self, slot: usize, now: Now) {
        let Some(p) = self.peers.get_mut(slot) else {
            return;
        };
        p.active = false;
        let (link, spare, round) = (p.link.take(), p.spare.take(), p.round.take());
        let (inbound, older) = (p.inbound.take(), p.inbound_older.take());
        for conn in [link, spare, inbound, older].into_iter().flatten() {
            self.close(conn, CloseReason::Reconfigured, now);
        }
        if let Some(t) = round {
            self.wheel.cancel(t);
        }
        let wheel = &mut self.wheel;
        self.tracker.reset_peer(slot, |t| {
            wheel.cancel(t);
        });
        self.forget_hook(slot);
    }

    /// `slot`'s node moved to `addr` (or to or from the earlier tool's HTTP): redial it
    /// there; count, state and phase kept.
    fn readdress(&mut self, slot: usize, addr: std::net::SocketAddr, legacy: bool, now: Now) {
        let Some(p) = self.peers.get_mut(slot) else {
            return;
        };
        let ip_changed = p.addr.ip().to_canonical() != addr.ip().to_canonical();
        p.addr = addr;
        p.legacy = legacy;
        p.trouble = None;
        p.ever_connected = false;
        p.single = false;
        p.replaced = 0;
        let (link, spare) = (p.link.take(), p.spare.take());
        let (inbound, older) = if ip_changed {
            (p.inbound.take(), p.inbound_older.take())
        } else {
            (None, None)
        };
        for conn in [link, spare, inbound, older].into_iter().flatten() {
            self.close(conn, CloseReason::Reconfigured, now);
        }
        // Probes started while the old link was down are void too.
        self.void_probes(slot, now);
        self.connect(slot, now);
    }

    /// A new peer in a free slot (or a new one): dialled now, first turn one interval on.
    fn add_peer(&mut self, name: String, addr: std::net::SocketAddr, legacy: bool, now: Now) {
        let free = self
            .peers
            .iter()
            .enumerate()
            .position(|(i, p)| i != self.me && !p.active);
        let slot = match free {
            Some(slot) => {
                if let Some(p) = self.peers.get_mut(slot) {
                    *p = Peer::new(name, addr, legacy, now.wall);
                }
                slot
            }
            None => {
                self.peers.push(Peer::new(name, addr, legacy, now.wall));
                // The tracker grows with the table: both hold one entry per slot.
                self.tracker.add_peer()
            }
        };
        self.connect(slot, now);
        let due = now.mono.saturating_add(self.interval);
        let timer = self.wheel.schedule(due, Timer::Round { peer: slot, due });
        if let Some(p) = self.peers.get_mut(slot) {
            p.round = Some(timer);
        }
    }
}
