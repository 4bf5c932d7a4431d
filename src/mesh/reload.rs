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
//!   turn one to two intervals later, on the wall clock's beat in its slot (as at start).
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
//! This node's name and address cannot change: [`Config::reload`], which makes the only
//! thing this takes, refuses such a config (they need a restart).
//!
//! [`Config::reload`]: crate::config::Config::reload

use super::settings::Settings;
use super::{Action, CloseReason, Engine, LogRecord, Now, Peer, PeerState};
use crate::config::Reload;

impl Engine {
    /// Applies `reload` (a config checked by [`Config::reload`] against the one in force:
    /// this node's name and address are the same) from `now`.
    ///
    /// [`Config::reload`]: crate::config::Config::reload
    pub fn reconfigure(&mut self, reload: &Reload, now: Now) {
        self.roll_day(now);
        let new = Settings::new(reload.config());
        let mut said = self.reconcile_peers(&new, now);
        said.extend(self.timing_changes(&new));
        self.tracker.set_online_threshold(new.online_threshold);
        let old_threshold = self.tracker.threshold();
        let offline = self.tracker.set_threshold(new.offline_threshold, now.mono);
        self.peer_ips = new.ips();
        self.hooks.set_timeout(new.hook_timeout);
        if new.hook_timeout.is_none() {
            // No hook any more: what waited will not run (runs going on finish).
            let slots: Vec<usize> = (0..self.peers.len()).collect();
            for slot in slots {
                self.forget_hook(slot);
            }
        }
        let new_header =
            new.header() != self.settings.header() || old_threshold != self.tracker.threshold();
        self.settings = new;
        self.view_reset();
        self.arm_judge(now);
        if said.is_empty() && new_header {
            said.push("the nodes' order changed (a new log header)".into());
        }
        if said.is_empty() {
            said.push("no change to peers or timings".into());
        }
        self.say(format!("config reloaded: {}", said.join("; ")));
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
            let carried = self.carried();
            self.actions.push_back(Action::Log(LogRecord::Reconfigured {
                wall: now.wall,
                threshold: self.tracker.threshold(),
                nodes: self.settings.header(),
                carried,
            }));
        }
        self.prune_logs(now);
    }

    /// Matches the peers of `new` to ours by name: removes, readdresses and adds (see the
    /// [module documentation](self)). Returns what it did, for the operator.
    fn reconcile_peers(&mut self, new: &Settings, now: Now) -> Vec<String> {
        let gone: Vec<usize> = self
            .peer_indices()
            .filter(|&i| {
                self.peers
                    .get(i)
                    .is_some_and(|p| !new.nodes.iter().any(|n| n.name == p.name))
            })
            .collect();
        let mut removed = Vec::new();
        for slot in gone {
            removed.push(self.name(slot).to_string());
            self.remove_peer(slot, now);
        }
        let (mut added, mut moved) = (Vec::new(), Vec::new());
        for node in &new.nodes {
            if node.name == self.whoami {
                continue;
            }
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
        [
            ("added", &added),
            ("removed", &removed),
            ("new address for", &moved),
        ]
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(what, names)| format!("{what} {}", names.join(", ")))
        .collect()
    }

    /// The timings and thresholds `new` changes, as the operator is told them.
    fn timing_changes(&self, new: &Settings) -> Vec<String> {
        let old = &self.settings;
        [
            ("interval", old.interval, new.interval, " ms"),
            ("timeout", old.timeout, new.timeout, " ms"),
            (
                "offline_threshold",
                u64::from(self.tracker.threshold()),
                u64::from(new.offline_threshold),
                "",
            ),
            (
                "online_threshold",
                u64::from(self.tracker.online_threshold()),
                u64::from(new.online_threshold),
                "",
            ),
        ]
        .into_iter()
        .filter(|(_, old, new, _)| old != new)
        .map(|(what, old, new, unit)| format!("{what} {old} -> {new}{unit}"))
        .collect()
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
            self.cancel_turn(slot, t);
        }
        let wheel = &mut self.wheel;
        self.tracker.reset_peer(slot, |t| {
            wheel.cancel(t);
        });
        self.settle_hedge(slot);
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
        // A new path: its round trip is to be learnt (probes go dual until then).
        p.stats.srtt_us = None;
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

    /// A new peer in a free slot (or a new one): dialled now, first turn at least one
    /// interval on.
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
        let due = self.first_turn(slot, now);
        self.schedule_turn(slot, due);
    }
}
