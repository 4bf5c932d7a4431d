//! What the engine takes from a [`Config`]: built in one place, [`Settings::new`], at
//! start and at every reload, so both read the same values the same way.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use crate::config::{Config, Node};

/// The engine's settings: the config's nodes and timings, as the engine uses them.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    /// Every node, this one included, in config order: what the log header lists.
    pub(super) nodes: Vec<Node>,
    /// Milliseconds between two turns of a peer (at least 1).
    pub(super) interval: u64,
    /// Milliseconds a probe waits for its reply, and a dial for its handshake (at least 1).
    pub(super) timeout: u64,
    /// Consecutive timeouts after which a peer is offline.
    pub(super) offline_threshold: u32,
    /// Consecutive replies after which an offline peer is back online.
    pub(super) online_threshold: u32,
    /// How long one run of the hook may take (ms); `None`: no `on_change`.
    pub(super) hook_timeout: Option<u64>,
    /// `on_change_when = "down"`: a peer's offline run waits for its verdict to settle
    /// as down (none for a broken link, or when this node is the one cut off).
    pub(super) hook_only_down: bool,
    /// `log_retention_days`, if set.
    pub(super) retention_days: Option<u32>,
}

impl Settings {
    pub(super) fn new(cfg: &Config) -> Settings {
        Settings {
            nodes: cfg.nodes.clone(),
            interval: cfg.interval_ms.max(1),
            timeout: cfg.timeout_ms.max(1),
            offline_threshold: cfg.offline_threshold,
            online_threshold: cfg.online_threshold,
            hook_timeout: cfg.on_change.as_ref().map(|h| h.timeout_ms),
            hook_only_down: cfg.on_change.as_ref().is_some_and(|h| h.only_down),
            retention_days: cfg.log_retention_days,
        }
    }

    /// Every configured node's ip (canonical), for the stranger check on each accept.
    pub(super) fn ips(&self) -> HashSet<IpAddr> {
        self.nodes
            .iter()
            .map(|n| n.addr.ip().to_canonical())
            .collect()
    }

    /// What the log header lists: every node's name and address, in config order.
    pub(super) fn header(&self) -> Vec<(String, SocketAddr)> {
        self.nodes
            .iter()
            .map(|n| (n.name.clone(), n.addr))
            .collect()
    }
}
