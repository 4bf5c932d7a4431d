//! The configuration file: TOML in, a validated [`Config`] out.
//!
//! Every check runs here, before any socket opens or any log file is touched, and every
//! error names the file and, where the value can be located, the line and column.
//! Field names are those of the earlier TypeScript tool, in snake_case, with its camelCase
//! spellings accepted as aliases.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::name;

mod explain;

/// Largest `interval` or `timeout`: one day, in milliseconds.
pub const MAX_PERIOD_MS: u64 = 86_400_000;
/// Largest mesh. Each peer costs one outbound and at most one inbound connection.
pub const MAX_NODES: usize = 1024;
/// Largest `timeout / interval`: bounds the probes outstanding per peer (see
/// [`crate::tracker::MAX_OUTSTANDING`]).
pub const MAX_TIMEOUT_PER_INTERVAL: u64 = 250;
/// Largest file accepted as a config, so a wrong path (a log, a device) fails fast.
pub const MAX_FILE_LEN: u64 = 1 << 20;
/// Default `on_change_timeout_ms`: how long a hook may run before it is killed.
pub const DEFAULT_HOOK_TIMEOUT_MS: u64 = 10_000;
/// Largest `log_retention_days` (about a century).
pub const MAX_RETENTION_DAYS: u32 = 36_500;
/// `online_threshold` when the file leaves it out: the earlier tool's rule, one reply.
pub const DEFAULT_ONLINE_THRESHOLD: u32 = 1;

/// The program run on every change of a peer's state (`on_change`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnChange {
    /// The program; a relative path in the file is resolved against the file's folder.
    pub program: PathBuf,
    /// Milliseconds it may run before it is killed (`on_change_timeout_ms`).
    pub timeout_ms: u64,
    /// `on_change_when = "down"`: a peer's offline run waits until the mesh's verdict
    /// on it has settled as down (no run for a broken link, or when this node is the one
    /// cut off), and its online run follows only an offline run. Default `"change"`:
    /// every change runs at once.
    pub only_down: bool,
}

/// One node of the mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The node's name, valid per [`crate::name::check`].
    pub name: String,
    /// Where the node listens and, for source checks, the address it connects from.
    pub addr: SocketAddr,
    /// The node runs the earlier tool: probe it with HTTP `GET /` instead of the line
    /// protocol (no authentication for it).
    pub legacy_http: bool,
}

impl Node {
    /// A node of the line protocol (not `legacy_http`).
    pub fn new(name: impl Into<String>, addr: SocketAddr) -> Node {
        Node {
            name: name.into(),
            addr,
            legacy_http: false,
        }
    }
}

/// A validated configuration. [`Config::load`] reads one from a file; [`Config::new`]
/// makes one in code (tests, the simulator), which then says only what it means:
/// `Config { timeout_ms: 500, ..Config::new(nodes, 0) }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This node's name.
    pub whoami: String,
    /// Index of this node in `nodes`.
    pub me: usize,
    /// Milliseconds between probe rounds (1 ..= one day).
    pub interval_ms: u64,
    /// Milliseconds to wait for one reply (1 ..= one day, at most 250 intervals).
    pub timeout_ms: u64,
    /// Consecutive timeouts after which a peer is offline (>= 1).
    pub offline_threshold: u32,
    /// Where log files go; a relative path in the file is resolved against the file's folder.
    pub log_folder: PathBuf,
    /// The file's `listen`, kept as is; `None`: the default, which depends on this machine
    /// (see [`Config::listen_addr`]).
    pub listen: Option<SocketAddr>,
    /// Where the metrics responder (`GET /metrics`, `GET /status`) listens; `None`: off.
    pub metrics_listen: Option<SocketAddr>,
    /// Every node of the mesh, this one included, in file order.
    pub nodes: Vec<Node>,
    /// Consecutive replies after which an offline peer counts as back online (>= 1;
    /// 1, the earlier tool's rule, when the file leaves it out).
    pub online_threshold: u32,
    /// The program run on every change of a peer's state, if any.
    pub on_change: Option<OnChange>,
    /// Day files of this node older than this many days are deleted at each UTC
    /// midnight (and at start and reload); `None`: kept forever.
    pub log_retention_days: Option<u32>,
    /// The file holding the mesh's shared secret (authenticated handshakes), resolved
    /// like `log_folder`; read by the daemon, not here.
    pub secret_file: Option<PathBuf>,
}

impl Config {
    /// The mesh `nodes` seen from node `me` (an index into `nodes`), with the example
    /// config's timings (interval 1000 ms, timeout 1500 ms, offline after 3 timeouts),
    /// `log_folder` "logs", and every optional field at its default. Not validated: for
    /// tests and the simulator, which build their meshes in code.
    pub fn new(nodes: Vec<Node>, me: usize) -> Config {
        Config {
            whoami: nodes.get(me).map(|n| n.name.clone()).unwrap_or_default(),
            me,
            interval_ms: 1000,
            timeout_ms: 1500,
            offline_threshold: 3,
            log_folder: "logs".into(),
            listen: None,
            metrics_listen: None,
            nodes,
            online_threshold: DEFAULT_ONLINE_THRESHOLD,
            on_change: None,
            log_retention_days: None,
            secret_file: None,
        }
    }

    /// Reads and validates the config file at `path`; `whoami` overrides the file's `whoami`.
    pub fn load(path: &Path, whoami: Option<&str>) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            path: path.to_path_buf(),
            position: None,
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
        if !meta.is_file() {
            return Err(err("not a regular file".into()));
        }
        if meta.len() > MAX_FILE_LEN {
            return Err(err(format!("larger than {MAX_FILE_LEN} bytes")));
        }
        let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            err(format!(
                "not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        let cfg = Config::parse(&text, path, whoami)?;
        if let Some(hook) = &cfg.on_change {
            check_program(&hook.program).map_err(|m| ConfigError {
                path: path.to_path_buf(),
                position: find_key(&text, &["on_change", "onChange"]),
                message: m,
            })?;
        }
        Ok(cfg)
    }

    /// Validates config `text`; `path` is used in errors and to resolve a relative `log_folder`.
    pub fn parse(text: &str, path: &Path, whoami: Option<&str>) -> Result<Config, ConfigError> {
        let parsed = match parse_by_node(text) {
            Some(raw) => Ok(raw),
            None => toml::from_str::<RawConfig>(text),
        };
        let raw = parsed.map_err(|e| {
            let (span, message) = explain::toml_error(text, e.message(), e.span());
            ConfigError {
                path: path.to_path_buf(),
                position: span.map(|s| line_col(text, s.start)),
                message,
            }
        })?;
        let src = Source { text, path };
        let nodes = src.nodes(&raw.nodes)?;
        let (whoami, me) = src.whoami(whoami, raw.whoami.as_ref(), &nodes)?;
        let (interval_ms, timeout_ms, offline_threshold) = src.timings(&raw)?;
        let folder = &raw.log_folder;
        let log_folder = src
            .path_beside(folder.get_ref())
            .ok_or_else(|| src.at(folder.span(), "log_folder must be a non-empty path".into()))?;
        let listen = src.address("listen", raw.listen.as_ref())?;
        let metrics_listen = match &raw.metrics_listen {
            None => None,
            Some(m) => {
                let addr = metrics_address(m.get_ref(), &nodes, me);
                Some(addr.map_err(|e| src.at(m.span(), e))?)
            }
        };
        let online_threshold = match &raw.online_threshold {
            None => DEFAULT_ONLINE_THRESHOLD,
            Some(t) => match u32::try_from(*t.get_ref()) {
                Ok(n) if n >= 1 => n,
                _ => {
                    let message =
                        format!("online_threshold {} is not in 1..=4294967295", t.get_ref());
                    return Err(src.at(t.span(), message));
                }
            },
        };
        Ok(Config {
            on_change: src.on_change(&raw)?,
            log_retention_days: src.retention(raw.log_retention_days.as_ref())?,
            secret_file: src.secret_file(raw.secret_file.as_ref())?,
            whoami,
            me,
            interval_ms,
            timeout_ms,
            offline_threshold,
            log_folder,
            listen,
            metrics_listen,
            nodes,
            online_threshold,
        })
    }

    /// `new` as a reload of this config, the one in force, or why it cannot be one: the
    /// rules of what needs a restart are here alone.
    pub fn reload(&self, new: Config) -> Result<Reload, String> {
        match self.restart_needed(&new) {
            Some(why) => Err(why),
            None => Ok(Reload(new)),
        }
    }

    /// Why `new` cannot replace this config in a running daemon (a reload), if it
    /// cannot: what a reload cannot change without a restart (this node's name and
    /// address, where it listens, where it logs, its secret).
    fn restart_needed(&self, new: &Config) -> Option<String> {
        let mut what = Vec::new();
        if self.whoami != new.whoami {
            what.push(format!("whoami ({} -> {})", self.whoami, new.whoami));
        }
        if self.whoami == new.whoami && self.own().addr != new.own().addr {
            what.push(format!(
                "this node's address ({} -> {})",
                self.own().addr,
                new.own().addr
            ));
        }
        if self.listen != new.listen {
            what.push("listen".to_string());
        }
        if self.metrics_listen != new.metrics_listen {
            what.push("metrics_listen".to_string());
        }
        if self.secret_file != new.secret_file {
            what.push("secret_file".to_string());
        }
        if self.log_folder != new.log_folder {
            what.push(format!(
                "log_folder ({} -> {})",
                self.log_folder.display(),
                new.log_folder.display()
            ));
        }
        (!what.is_empty()).then(|| format!("restart to change {}", what.join(", ")))
    }

    /// The peers: every node but this one, with their indices in `nodes`.
    pub fn peers(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != self.me)
    }

    /// Where the listener binds: the file's `listen` if given; else this node's own
    /// address when its ip is an address of this machine (`own_ip_is_local`, which only
    /// the daemon can find out), so several nodes of one host can share a port; else all
    /// interfaces (`0.0.0.0` or `[::]`, after the ip's family) on this node's port.
    pub fn listen_addr(&self, own_ip_is_local: bool) -> SocketAddr {
        let own = self.own().addr;
        match self.listen {
            Some(addr) => addr,
            None if own_ip_is_local => own,
            None => {
                let any = match own.ip() {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                SocketAddr::new(any, own.port())
            }
        }
    }

    /// This node.
    pub fn own(&self) -> &Node {
        // `me` is an index that `parse` found in `nodes`, and nodes is never emptied.
        &self.nodes[self.me]
    }
}

/// A config that may replace the one in force without a restart: made only by
/// [`Config::reload`], so whatever takes one (the engine) needs no rules of its own.
#[derive(Debug, Clone)]
pub struct Reload(Config);

impl Reload {
    /// The new config.
    pub fn config(&self) -> &Config {
        &self.0
    }

    /// The new config, to keep as the one in force.
    pub fn into_config(self) -> Config {
        self.0
    }
}

/// A config error: the file, where in it (when known), and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config file.
    pub path: PathBuf,
    /// 1-based line and column of the offending value, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.path.display(), self.message)
            }
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    whoami: Option<Spanned<String>>,
    interval: Spanned<i64>,
    timeout: Spanned<i64>,
    #[serde(alias = "offlineThreshold")]
    offline_threshold: Spanned<i64>,
    #[serde(alias = "logFolder")]
    log_folder: Spanned<String>,
    listen: Option<Spanned<String>>,
    metrics_listen: Option<Spanned<String>>,
    #[serde(alias = "secretFile")]
    secret_file: Option<Spanned<String>>,
    nodes: Vec<RawNode>,
    #[serde(alias = "onlineThreshold")]
    online_threshold: Option<Spanned<i64>>,
    #[serde(alias = "onChange")]
    on_change: Option<Spanned<String>>,
    #[serde(alias = "onChangeTimeoutMs")]
    on_change_timeout_ms: Option<Spanned<i64>>,
    on_change_when: Option<Spanned<String>>,
    #[serde(alias = "logRetentionDays")]
    log_retention_days: Option<Spanned<i64>>,
}

/// The `[[nodes]]` tables of one piece of the file (see [`parse_by_node`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNodes {
    nodes: Vec<RawNode>,
}

/// Where the file's first line that is exactly `[[nodes]]` (spaces around it aside)
/// starts and ends, searching from byte `from`.
fn next_nodes_header(text: &str, from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    for line in text.get(from..)?.split_inclusive('\n') {
        if line.trim() == "[[nodes]]" {
            return Some((at, at + line.len()));
        }
        at += line.len();
    }
    None
}

/// `text` parsed a piece at a time: the top-level fields (everything before the first
/// `[[nodes]]` line), then each run of `[[nodes]]` tables up to the next `[[nodes]]` line,
/// each into its own small document tree, dropped before the next is built. Parsed
/// whole, a 1000-node file (60 KB) becomes a tree of about 2.5 MB, the daemon's peak
/// memory; this way the peak is one node's tree. `None` unless every piece parses as
/// what it must hold alone (the top-level fields without `nodes`; then nothing but
/// `[[nodes]]` tables): then the pieces mean what the whole file means, because a
/// `[[nodes]]` header only starts a new table of the array (a piece ending inside a
/// multi-line string or array does not parse). On `None` the caller parses the whole file,
/// which gives every error its message and position as before.
fn parse_by_node(text: &str) -> Option<RawConfig> {
    let (first, mut after) = next_nodes_header(text, 0)?;
    // The top-level fields, with an empty node list after them so that they deserialize
    // as a `RawConfig` (one definition of the fields). Should the head define `nodes`
    // itself, or end inside a table or a string, this does not parse.
    let mut head = text.get(..first)?.to_string();
    head.push_str("\nnodes = []\n");
    let mut raw: RawConfig = toml::from_str(&head).ok()?;
    drop(head);
    let mut start = first;
    while start < text.len() {
        let (end, next) = next_nodes_header(text, after).unwrap_or((text.len(), text.len()));
        let piece: RawNodes = toml::from_str(text.get(start..end)?).ok()?;
        // Positions in the piece are positions in the file once shifted by its start.
        let shift = |r: Range<usize>| r.start + start..r.end + start;
        raw.nodes.extend(piece.nodes.into_iter().map(|n| {
            let (name, ip, port) = (n.name.span(), n.ip.span(), n.port.span());
            RawNode {
                name: Spanned::new(shift(name), n.name.into_inner()),
                ip: Spanned::new(shift(ip), n.ip.into_inner()),
                port: Spanned::new(shift(port), n.port.into_inner()),
                legacy_http: n.legacy_http,
            }
        }));
        (start, after) = (end, next);
    }
    Some(raw)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Spanned<String>,
    ip: Spanned<String>,
    port: Spanned<i64>,
    #[serde(alias = "legacyHttp")]
    legacy_http: Option<bool>,
}

/// The text being parsed and its file: what every error names, and what a relative
/// path in it is resolved against.
struct Source<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Source<'_> {
    /// An error at `span` of the text (its line and column).
    fn at(&self, span: Range<usize>, message: String) -> ConfigError {
        ConfigError {
            path: self.path.to_path_buf(),
            position: Some(line_col(self.text, span.start)),
            message,
        }
    }

    /// An error of the file as a whole.
    fn whole(&self, message: String) -> ConfigError {
        ConfigError {
            path: self.path.to_path_buf(),
            position: None,
            message,
        }
    }

    /// `file` from the config, a relative path resolved against the config's folder;
    /// `None` for an empty path (or one with a NUL byte).
    fn path_beside(&self, file: &str) -> Option<PathBuf> {
        if file.is_empty() || file.contains('\0') {
            return None;
        }
        Some(match self.path.parent() {
            Some(dir) if Path::new(file).is_relative() => dir.join(file),
            _ => PathBuf::from(file),
        })
    }

    /// The `[[nodes]]`: valid names and addresses, none twice.
    fn nodes(&self, raw: &[RawNode]) -> Result<Vec<Node>, ConfigError> {
        if raw.is_empty() {
            let message = "no [[nodes]]: list every node of the mesh, this one included";
            return Err(self.whole(message.into()));
        }
        if raw.len() > MAX_NODES {
            let message = format!("{} nodes; at most {MAX_NODES} are supported", raw.len());
            return Err(self.whole(message));
        }
        let mut nodes: Vec<Node> = Vec::with_capacity(raw.len());
        let mut names = HashSet::new();
        // Keyed by the canonical address: an IPv4-mapped IPv6 address is its IPv4 address.
        let mut addrs: HashMap<SocketAddr, usize> = HashMap::new();
        for n in raw {
            let name = n.name.get_ref();
            name::check(name)
                .map_err(|e| self.at(n.name.span(), format!("node name {name:?}: {e}")))?;
            if !names.insert(name.as_str()) {
                let message = format!("duplicate node name {name:?}");
                return Err(self.at(n.name.span(), message));
            }
            let ip = parse_ip(n.ip.get_ref()).map_err(|m| self.at(n.ip.span(), m))?;
            let port = match u16::try_from(*n.port.get_ref()) {
                Ok(0) | Err(_) => {
                    let message = format!("port {} is not in 1..=65535", n.port.get_ref());
                    return Err(self.at(n.port.span(), message));
                }
                Ok(p) => p,
            };
            let addr = SocketAddr::new(ip, port);
            let canonical = SocketAddr::new(ip.to_canonical(), port);
            if let Some(other) = addrs.get(&canonical).and_then(|&i| nodes.get(i)) {
                let first = &other.name;
                let message = if other.addr == addr {
                    format!("duplicate node address {addr}: {first:?} and {name:?}")
                } else {
                    format!(
                        "duplicate node address: {first:?} ({}) and {name:?} ({addr}) are both \
                         {canonical} (an IPv4-mapped IPv6 address is its IPv4 address)",
                        other.addr
                    )
                };
                return Err(self.at(n.ip.span(), message));
            }
            addrs.insert(canonical, nodes.len());
            nodes.push(Node {
                name: name.clone(),
                addr,
                legacy_http: n.legacy_http.unwrap_or(false),
            });
        }
        Ok(nodes)
    }

    /// This node: `--whoami` (`given`), else the file's `whoami`; its name and index.
    fn whoami(
        &self,
        given: Option<&str>,
        raw: Option<&Spanned<String>>,
        nodes: &[Node],
    ) -> Result<(String, usize), ConfigError> {
        let (whoami, span) = match (given, raw) {
            (Some(w), _) => (w.to_string(), None),
            (None, Some(w)) => (w.get_ref().clone(), Some(w.span())),
            (None, None) => {
                let message = "whoami is missing: set it in the file or pass --whoami NAME";
                return Err(self.whole(message.into()));
            }
        };
        let Some(me) = nodes.iter().position(|n| n.name == whoami) else {
            let message = format!(
                "whoami {whoami:?} is not one of the [[nodes]]: {}",
                name_list(nodes)
            );
            return Err(match span {
                Some(span) => self.at(span, message),
                None => self.whole(format!("--whoami: {message}")),
            });
        };
        Ok((whoami, me))
    }

    /// `interval`, `timeout` (at most [`MAX_TIMEOUT_PER_INTERVAL`] intervals) and
    /// `offline_threshold`.
    fn timings(&self, raw: &RawConfig) -> Result<(u64, u64, u32), ConfigError> {
        let interval_ms =
            period(&raw.interval, "interval").map_err(|m| self.at(raw.interval.span(), m))?;
        let timeout_ms =
            period(&raw.timeout, "timeout").map_err(|m| self.at(raw.timeout.span(), m))?;
        if timeout_ms > interval_ms.saturating_mul(MAX_TIMEOUT_PER_INTERVAL) {
            let message = format!(
                "timeout {timeout_ms} ms is more than {MAX_TIMEOUT_PER_INTERVAL} intervals \
                 ({interval_ms} ms): too many probes would be outstanding"
            );
            return Err(self.at(raw.timeout.span(), message));
        }
        let threshold = &raw.offline_threshold;
        let offline_threshold = match u32::try_from(*threshold.get_ref()) {
            Ok(0) | Err(_) => {
                let message = format!(
                    "offline_threshold {} is not in 1..=4294967295",
                    threshold.get_ref()
                );
                return Err(self.at(threshold.span(), message));
            }
            Ok(t) => t,
        };
        Ok((interval_ms, timeout_ms, offline_threshold))
    }

    /// An optional `IP:PORT` field.
    fn address(
        &self,
        field: &str,
        value: Option<&Spanned<String>>,
    ) -> Result<Option<SocketAddr>, ConfigError> {
        let Some(l) = value else {
            return Ok(None);
        };
        match l.get_ref().parse::<SocketAddr>() {
            Ok(a) if a.port() != 0 => Ok(Some(a)),
            _ => Err(self.at(
                l.span(),
                format!(
                    "{field} {:?} is not IP:PORT (IPv6 as [addr]:port, port 1..=65535)",
                    l.get_ref()
                ),
            )),
        }
    }

    /// `on_change` and its `on_change_timeout_ms`.
    fn on_change(&self, raw: &RawConfig) -> Result<Option<OnChange>, ConfigError> {
        let Some(program) = &raw.on_change else {
            if let Some(t) = &raw.on_change_timeout_ms {
                let message = "on_change_timeout_ms is set but on_change is not";
                return Err(self.at(t.span(), message.into()));
            }
            if let Some(w) = &raw.on_change_when {
                let message = "on_change_when is set but on_change is not";
                return Err(self.at(w.span(), message.into()));
            }
            return Ok(None);
        };
        let text = program.get_ref();
        // `--config mesh.toml` has the parent "": "./hook.sh", never "hook.sh", which the
        // spawn would look up in $PATH instead of the file checked.
        let bare = self.path.parent().is_some_and(|d| d.as_os_str().is_empty());
        let program_path = if bare && Path::new(text).is_relative() {
            Some(Path::new(".").join(text)).filter(|_| !text.is_empty() && !text.contains('\0'))
        } else {
            self.path_beside(text)
        };
        let Some(program_path) = program_path else {
            let message = "on_change must be the path of a program";
            return Err(self.at(program.span(), message.into()));
        };
        let timeout_ms = match &raw.on_change_timeout_ms {
            None => DEFAULT_HOOK_TIMEOUT_MS,
            Some(t) => period(t, "on_change_timeout_ms").map_err(|m| self.at(t.span(), m))?,
        };
        let only_down = match raw
            .on_change_when
            .as_ref()
            .map(|w| (w, w.get_ref().as_str()))
        {
            None | Some((_, "change")) => false,
            Some((_, "down")) => true,
            Some((w, other)) => {
                let message = format!(
                    "on_change_when {other:?} is neither \"change\" (every change, at once) nor \"down\" (offline once the mesh's verdict settled as down)"
                );
                return Err(self.at(w.span(), message));
            }
        };
        Ok(Some(OnChange {
            program: program_path,
            timeout_ms,
            only_down,
        }))
    }

    /// `log_retention_days`.
    fn retention(&self, raw: Option<&Spanned<i64>>) -> Result<Option<u32>, ConfigError> {
        let Some(d) = raw else {
            return Ok(None);
        };
        match u32::try_from(*d.get_ref()) {
            Ok(n) if (1..=MAX_RETENTION_DAYS).contains(&n) => Ok(Some(n)),
            _ => Err(self.at(
                d.span(),
                format!(
                    "log_retention_days {} is not in 1..={MAX_RETENTION_DAYS}",
                    d.get_ref()
                ),
            )),
        }
    }

    /// `secret_file`, refused by a build without `auth`.
    fn secret_file(&self, raw: Option<&Spanned<String>>) -> Result<Option<PathBuf>, ConfigError> {
        let Some(f) = raw else {
            return Ok(None);
        };
        if !cfg!(feature = "auth") {
            let message = "secret_file is set, but this binary was built without authenticated \
                           handshakes (cargo feature `auth`): build it with that feature, or \
                           leave secret_file out";
            return Err(self.at(f.span(), message.into()));
        }
        let path = self.path_beside(f.get_ref());
        let message = "secret_file must be a non-empty path";
        path.map(Some)
            .ok_or_else(|| self.at(f.span(), message.into()))
    }
}

fn period(value: &Spanned<i64>, field: &str) -> Result<u64, String> {
    match u64::try_from(*value.get_ref()) {
        Ok(ms) if (1..=MAX_PERIOD_MS).contains(&ms) => Ok(ms),
        _ => Err(format!(
            "{field} {} ms is not in 1..={MAX_PERIOD_MS} (one day)",
            value.get_ref()
        )),
    }
}

/// `metrics_listen` of node `me`: `IP:PORT` as given, or `:PORT`, which is this node's
/// own ip and that port, so that one file gives every node of a mesh its own address
/// (several nodes on one machine, each on its own ip). For `:PORT` every node that runs
/// this daemon (not `legacy_http`) must then get an address of its own that is no
/// node's mesh address: the same ip twice would make two nodes of one machine share it.
fn metrics_address(text: &str, nodes: &[Node], me: usize) -> Result<SocketAddr, String> {
    let Some(port) = text.strip_prefix(':') else {
        return match text.parse::<SocketAddr>() {
            Ok(a) if a.port() != 0 => Ok(a),
            _ if text.parse::<u16>().is_ok() => Err(format!(
                "metrics_listen {text:?} is a port alone: write \":{text}\" for this node's \
                 own ip and that port, or IP:PORT (e.g. \"127.0.0.1:{text}\")"
            )),
            _ => Err(format!(
                "metrics_listen {text:?} is not IP:PORT (IPv6 as [addr]:port) or :PORT (this \
                 node's own ip), port 1..=65535"
            )),
        };
    };
    let port = match port.parse::<u16>() {
        Ok(p) if p != 0 => p,
        _ => {
            return Err(format!(
                "metrics_listen {text:?}: the port after ':' must be 1..=65535"
            ));
        }
    };
    let taken: HashMap<SocketAddr, &Node> = nodes
        .iter()
        .map(|n| {
            (
                SocketAddr::new(n.addr.ip().to_canonical(), n.addr.port()),
                n,
            )
        })
        .collect();
    let mut metrics: HashMap<SocketAddr, &Node> = HashMap::new();
    for n in nodes.iter().filter(|n| !n.legacy_http) {
        let addr = SocketAddr::new(n.addr.ip().to_canonical(), port);
        if let Some(other) = taken.get(&addr) {
            return Err(format!(
                "metrics_listen {text:?} gives {:?} {addr}, the mesh address of {:?}: choose \
                 another port",
                n.name, other.name
            ));
        }
        if let Some(other) = metrics.insert(addr, n) {
            return Err(format!(
                "metrics_listen {text:?} gives {:?} and {:?} the same address {addr} (they \
                 share an ip): give each node its own ip, or each its own file with \
                 metrics_listen = IP:PORT",
                other.name, n.name
            ));
        }
    }
    let own = nodes.get(me).ok_or("no node of this name")?;
    Ok(SocketAddr::new(own.addr.ip(), port))
}

/// Names shown in an error that lists the nodes; the rest are counted.
const LISTED_NAMES: usize = 20;

/// The nodes' names, comma-separated, the first [`LISTED_NAMES`] of them.
fn name_list(nodes: &[Node]) -> String {
    let mut list: Vec<&str> = nodes
        .iter()
        .take(LISTED_NAMES)
        .map(|n| n.name.as_str())
        .collect();
    let more = nodes.len().saturating_sub(LISTED_NAMES);
    let more = format!("and {more} more");
    if nodes.len() > LISTED_NAMES {
        list.push(&more);
    }
    list.join(", ")
}

fn parse_ip(text: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = text.parse().map_err(|_| {
        let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'));
        if let Some(ip) = bare.and_then(|b| b.parse::<IpAddr>().ok()) {
            format!("ip {text:?}: write the address without brackets, ip = \"{ip}\" (the port goes in `port`)")
        } else if let Ok(addr) = text.parse::<SocketAddr>() {
            format!(
                "ip {text:?} includes a port: write ip = \"{}\" and port = {}",
                addr.ip(),
                addr.port()
            )
        } else {
            format!("ip {text:?} is not an IPv4 or IPv6 address (host names are not resolved)")
        }
    })?;
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(format!(
            "ip {text:?} cannot be probed (unspecified or multicast)"
        ));
    }
    Ok(ip)
}

/// Whether `program` can be run: a regular file with an execute bit.
pub fn check_program(program: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = program.display();
    let meta = std::fs::metadata(program).map_err(|e| format!("on_change program {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("on_change program {shown}: not a regular file"));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!(
            "on_change program {shown}: not executable (chmod +x)"
        ));
    }
    Ok(())
}

/// Line and column of the first line of `text` that sets one of `keys` (a top-level
/// `key = ...`), for errors found after parsing.
fn find_key(text: &str, keys: &[&str]) -> Option<(usize, usize)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let hit = keys.iter().any(|k| {
            trimmed
                .strip_prefix(k)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        if hit {
            let indent = line.len() - trimmed.len();
            return Some(line_col(text, offset + indent));
        }
        offset += line.len();
    }
    None
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
whoami = "node2"
interval = 1000
timeout = 1500
offline_threshold = 3
log_folder = "logs"

[[nodes]]
name = "node1"
ip = "127.0.0.1"
port = 47001

[[nodes]]
name = "node2"
ip = "127.0.0.1"
port = 47002

[[nodes]]
name = "node3"
ip = "::1"
port = 47003
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/ut/mesh.toml"), None)
    }

    fn error(text: &str) -> ConfigError {
        match parse(text) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn secret_file_and_legacy_http() {
        let text = GOOD
            .replace("log_folder", "secret_file = \"secret\"\nlog_folder")
            .replace("port = 47001", "port = 47001\nlegacy_http = true");
        let c = Config::parse(&text, Path::new("/etc/ut/mesh.toml"), None);
        if cfg!(feature = "auth") {
            let c = c.unwrap();
            assert_eq!(c.secret_file, Some(PathBuf::from("/etc/ut/secret")));
            assert!(c.nodes[0].legacy_http && !c.nodes[1].legacy_http);
            let e =
                parse(&GOOD.replace("log_folder", "secret_file = \"\"\nlog_folder")).unwrap_err();
            assert!(e.message.contains("non-empty"), "{e}");
        } else {
            let e = c.unwrap_err();
            assert!(
                e.message.contains("without authenticated handshakes"),
                "{e}"
            );
            assert_eq!(e.position, Some((6, 15)), "{e}");
        }
        let c = parse(GOOD).unwrap();
        assert_eq!(c.secret_file, None);
        assert!(c.nodes.iter().all(|n| !n.legacy_http));
    }

    #[test]
    fn parses_a_good_file() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.whoami, "node2");
        assert_eq!(c.me, 1);
        assert_eq!(
            (c.interval_ms, c.timeout_ms, c.offline_threshold),
            (1000, 1500, 3)
        );
        assert_eq!(c.log_folder, PathBuf::from("/etc/ut/logs"));
        assert_eq!(c.listen, None);
        assert_eq!(c.listen_addr(true), "127.0.0.1:47002".parse().unwrap());
        assert_eq!(c.listen_addr(false), "0.0.0.0:47002".parse().unwrap());
        assert_eq!(c.nodes.len(), 3);
        assert_eq!(c.nodes[2].addr, "[::1]:47003".parse().unwrap());
        let peers: Vec<&str> = c.peers().map(|(_, n)| n.name.as_str()).collect();
        assert_eq!(peers, ["node1", "node3"]);
        assert_eq!(c.own().name, "node2");
    }

    #[test]
    fn accepts_the_earlier_tools_camel_case_names() {
        let text = GOOD
            .replace("offline_threshold", "offlineThreshold")
            .replace("log_folder = \"logs\"", "logFolder = \"/var/log/ut\"");
        let c = parse(&text).unwrap();
        assert_eq!(c.offline_threshold, 3);
        assert_eq!(c.log_folder, PathBuf::from("/var/log/ut"));
    }

    #[test]
    fn whoami_override_and_listen() {
        let c = Config::parse(GOOD, Path::new("m.toml"), Some("node3")).unwrap();
        assert_eq!(
            (c.me, c.listen_addr(false)),
            (2, "[::]:47003".parse().unwrap())
        );
        assert_eq!(c.listen_addr(true), "[::1]:47003".parse().unwrap());
        assert_eq!(c.log_folder, PathBuf::from("logs"));
        let c =
            parse(&GOOD.replace("log_folder", "listen = \"127.0.0.2:9000\"\nlog_folder")).unwrap();
        assert_eq!(c.listen, Some("127.0.0.2:9000".parse().unwrap()));
        assert_eq!(c.metrics_listen, None);
        let m = parse(&GOOD.replace(
            "log_folder",
            "metrics_listen = \"127.0.0.1:9464\"\nlog_folder",
        ))
        .unwrap();
        assert_eq!(m.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        for local in [true, false] {
            assert_eq!(c.listen_addr(local), "127.0.0.2:9000".parse().unwrap());
        }
        let e = Config::parse(GOOD, Path::new("m.toml"), Some("node9")).unwrap_err();
        assert!(e.to_string().contains("--whoami"), "{e}");
        assert!(e.message.ends_with(": node1, node2, node3"), "{e}");
        let e = parse(&GOOD.replace("whoami = \"node2\"", "")).unwrap_err();
        assert!(e.message.contains("whoami is missing"), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = error(&GOOD.replace("port = 47002", "port = 0"));
        assert_eq!(e.position, Some((16, 8)), "{e}");
        assert!(
            e.to_string().starts_with("/etc/ut/mesh.toml:16:8: port 0"),
            "{e}"
        );

        let e = error(&GOOD.replace("timeout = 1500", "timeout = 1500\ncolour = 1"));
        assert_eq!(e.position.map(|p| p.0), Some(5), "{e}");
        assert!(e.message.contains("colour"), "{e}");
    }

    #[test]
    fn rejects_each_invalid_value() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "name = \"node3\"",
                "name = \"node1\"",
                "duplicate node name",
            ),
            (
                "ip = \"::1\"\nport = 47003",
                "ip = \"127.0.0.1\"\nport = 47001",
                "duplicate node address",
            ),
            (
                "name = \"node3\"",
                "name = \"no|de\"",
                "must not contain '|'",
            ),
            ("name = \"node3\"", "name = \"a b\"", "must not contain ' '"),
            ("name = \"node3\"", "name = \"\"", "must not be empty"),
            (
                "whoami = \"node2\"",
                "whoami = \"node7\"",
                "not one of the [[nodes]]",
            ),
            ("port = 47003", "port = 70000", "not in 1..=65535"),
            ("port = 47003", "port = -1", "not in 1..=65535"),
            (
                "ip = \"::1\"",
                "ip = \"localhost\"",
                "host names are not resolved",
            ),
            ("ip = \"::1\"", "ip = \"0.0.0.0\"", "cannot be probed"),
            ("interval = 1000", "interval = 0", "interval 0 ms"),
            (
                "interval = 1000",
                "interval = 86400001",
                "interval 86400001 ms",
            ),
            ("timeout = 1500", "timeout = 0", "timeout 0 ms"),
            (
                "timeout = 1500",
                "timeout = 250001",
                "more than 250 intervals",
            ),
            (
                "offline_threshold = 3",
                "offline_threshold = 0",
                "offline_threshold 0",
            ),
            ("log_folder = \"logs\"", "log_folder = \"\"", "non-empty"),
            (
                "log_folder = \"logs\"",
                "log_folder = 5",
                "log_folder must be a string in quotes, not 5",
            ),
            ("log_folder = \"logs\"", "", "log_folder is missing"),
            (
                "interval = 1000",
                "interval = \"fast\"",
                "interval must be a whole number of milliseconds",
            ),
            (
                "log_folder = \"logs\"",
                "log_folder = \"logs\"\nlisten = \"nowhere\"",
                "listen",
            ),
            (
                "log_folder = \"logs\"",
                "log_folder = \"logs\"\nmetrics_listen = \"127.0.0.1:0\"",
                "metrics_listen \"127.0.0.1:0\" is not IP:PORT",
            ),
        ];
        for (from, to, expect) in cases {
            assert!(GOOD.contains(from), "{from}");
            let e = error(&GOOD.replacen(from, to, 1));
            assert!(e.message.contains(expect), "{to}: {e}");
        }
        assert!(
            error("nodes = []\n")
                .message
                .contains("interval is missing")
        );
        let e = error(&GOOD.replace(
            "offline_threshold",
            "offlineThreshold = 3\noffline_threshold",
        ));
        assert!(e.message.contains("set twice"), "{e}");
    }

    #[test]
    fn a_metrics_port_alone_follows_each_nodes_own_ip() {
        let metrics = |m: &str| format!("metrics_listen = \"{m}\"\nlog_folder");
        let spread = GOOD.replacen(
            "ip = \"127.0.0.1\"\nport = 47002",
            "ip = \"127.0.0.2\"\nport = 47002",
            1,
        );
        let text = spread.replace("log_folder", &metrics(":9464"));
        for (who, addr) in [
            ("node1", "127.0.0.1:9464"),
            ("node2", "127.0.0.2:9464"),
            ("node3", "[::1]:9464"),
        ] {
            let c = Config::parse(&text, Path::new("m.toml"), Some(who)).unwrap();
            assert_eq!(c.metrics_listen, Some(addr.parse().unwrap()), "{who}");
        }
        // IP:PORT is taken as given, by every node.
        let c = parse(&spread.replace("log_folder", &metrics("127.0.0.1:9464"))).unwrap();
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));

        // node1 and node2 share 127.0.0.1 in GOOD: one port alone cannot serve both...
        let e = error(&GOOD.replace("log_folder", &metrics(":9464")));
        assert_eq!(
            e.to_string(),
            "/etc/ut/mesh.toml:6:18: metrics_listen \":9464\" gives \"node1\" and \"node2\" the \
             same address 127.0.0.1:9464 (they share an ip): give each node its own ip, or each \
             its own file with metrics_listen = IP:PORT"
        );
        // ...unless one of them runs the earlier tool (which serves no metrics).
        let legacy = GOOD.replace("port = 47001", "port = 47001\nlegacy_http = true");
        parse(&legacy.replace("log_folder", &metrics(":9464"))).unwrap();
        let e = error(&spread.replace("log_folder", &metrics(":47001")));
        assert!(
            e.message.ends_with("gives \"node1\" 127.0.0.1:47001, the mesh address of \"node1\": choose another port"),
            "{e}"
        );
        for (m, expect) in [
            (
                "9464",
                "metrics_listen \"9464\" is a port alone: write \":9464\" for this node's own ip and that port, or IP:PORT (e.g. \"127.0.0.1:9464\")",
            ),
            (
                ":0",
                "metrics_listen \":0\": the port after ':' must be 1..=65535",
            ),
            (
                ":x",
                "metrics_listen \":x\": the port after ':' must be 1..=65535",
            ),
            (
                "localhost:9464",
                "metrics_listen \"localhost:9464\" is not IP:PORT (IPv6 as [addr]:port) or :PORT (this node's own ip), port 1..=65535",
            ),
        ] {
            assert_eq!(
                error(&spread.replace("log_folder", &metrics(m))).message,
                expect
            );
        }
    }

    #[test]
    fn ipv4_mapped_addresses_are_their_ipv4_address() {
        let e = error(&GOOD.replace(
            "ip = \"::1\"\nport = 47003",
            "ip = \"::ffff:127.0.0.1\"\nport = 47002",
        ));
        assert!(e.message.contains("duplicate node address"), "{e}");
        assert!(
            e.message.contains("\"node2\"") && e.message.contains("\"node3\""),
            "{e}"
        );
        // Another port, or another address, is another node.
        parse(&GOOD.replace("ip = \"::1\"", "ip = \"::ffff:127.0.0.1\"")).unwrap();
        parse(&GOOD.replace(
            "ip = \"::1\"\nport = 47003",
            "ip = \"::ffff:127.0.0.3\"\nport = 47002",
        ))
        .unwrap();
    }

    #[test]
    fn bracketed_or_ported_ips_say_how_to_write_them() {
        let e = error(&GOOD.replace("ip = \"::1\"", "ip = \"[::1]\""));
        assert!(e.message.contains("without brackets, ip = \"::1\""), "{e}");
        let e = error(&GOOD.replace("ip = \"::1\"", "ip = \"127.0.0.3:47003\""));
        assert!(e.message.contains("includes a port"), "{e}");
        let e = error(&GOOD.replace("ip = \"::1\"", "ip = \"[::1]:47003\""));
        assert!(e.message.contains("ip = \"::1\" and port = 47003"), "{e}");
    }

    #[test]
    fn an_unknown_whoami_lists_at_most_20_names() {
        let mut text = String::from(
            "whoami = \"n99\"\ninterval = 1000\ntimeout = 1000\noffline_threshold = 3\nlog_folder = \"l\"\n",
        );
        for i in 0..25 {
            text += &format!("[[nodes]]\nname = \"n{i}\"\nip = \"10.0.0.{i}\"\nport = 7000\n");
        }
        let e = error(&text);
        assert!(e.message.ends_with(": n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11, n12, n13, n14, n15, n16, n17, n18, n19, and 5 more"), "{e}");
    }

    #[test]
    fn garbage_is_a_clean_error() {
        for text in [
            "",
            "=",
            "[[nodes]]\nname = 1",
            "whoami = \"a\"\nwhoami = \"b\"",
            "\u{0}",
        ] {
            let e = error(text);
            assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn load_reports_missing_and_oversized_files() {
        let e = Config::load(Path::new("/nonexistent/ut.toml"), None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/ut.toml: cannot read"),
            "{e}"
        );
        let e = Config::load(Path::new("/"), None).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("x", 99), (1, 2));
    }

    #[test]
    fn operator_fields_default_and_parse_in_both_spellings() {
        let c = parse(GOOD).unwrap();
        assert_eq!(
            (
                c.online_threshold,
                c.on_change.clone(),
                c.log_retention_days
            ),
            (1, None, None)
        );
        let text = GOOD.replace(
            "log_folder",
            "online_threshold = 3\non_change = \"hooks/alert.sh\"\n\
             on_change_timeout_ms = 2500\nlog_retention_days = 14\nlog_folder",
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.online_threshold, 3);
        assert_eq!(
            c.on_change,
            Some(OnChange {
                program: PathBuf::from("/etc/ut/hooks/alert.sh"),
                timeout_ms: 2500,
                only_down: false
            })
        );
        assert_eq!(c.log_retention_days, Some(14));
        let camel = GOOD.replace(
            "log_folder",
            "onlineThreshold = 2\nonChange = \"/bin/true\"\nonChangeTimeoutMs = 9\n\
             logRetentionDays = 1\nlog_folder",
        );
        let c = parse(&camel).unwrap();
        assert_eq!(
            (
                c.online_threshold,
                c.on_change.map(|h| (h.program, h.timeout_ms)),
                c.log_retention_days
            ),
            (2, Some((PathBuf::from("/bin/true"), 9)), Some(1))
        );
        let text = GOOD.replace("log_folder", "on_change = \"/bin/true\"\nlog_folder");
        let hook = parse(&text).unwrap().on_change.unwrap();
        assert_eq!(hook.timeout_ms, DEFAULT_HOOK_TIMEOUT_MS);
    }

    #[test]
    fn operator_fields_reject_bad_values_naming_the_line() {
        for (line, expect) in [
            ("online_threshold = 0", "online_threshold 0 is not in"),
            (
                "log_retention_days = 0",
                "log_retention_days 0 is not in 1..=36500",
            ),
            ("log_retention_days = 99999", "log_retention_days 99999"),
            (
                "on_change = \"\"",
                "on_change must be the path of a program",
            ),
            (
                "on_change_timeout_ms = 5",
                "on_change_timeout_ms is set but on_change is not",
            ),
        ] {
            let e = error(&GOOD.replace("log_folder", &format!("{line}\nlog_folder")));
            assert!(e.message.contains(expect), "{line}: {e}");
            assert_eq!(e.position.map(|p| p.0), Some(6), "{line}: {e}");
        }
    }

    #[test]
    fn load_checks_that_the_hook_can_run() {
        let dir = std::env::temp_dir().join(format!("ut-config-hook-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("mesh.toml");
        let script = dir.join("hook.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let text = GOOD.replace("log_folder", "on_change = \"hook.sh\"\nlog_folder");
        std::fs::write(&file, &text).unwrap();
        let e = Config::load(&file, None).unwrap_err();
        assert!(e.message.contains("not executable"), "{e}");
        assert_eq!(e.position, Some((6, 1)), "{e}");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(Config::load(&file, None).is_ok());
        std::fs::remove_file(&script).unwrap();
        let e = Config::load(&file, None).unwrap_err();
        assert!(e.to_string().contains("hook.sh: No such file"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_relative_hook_beside_a_bare_config_name_is_not_looked_up_in_path() {
        let text = GOOD.replace("log_folder", "on_change = \"hook.sh\"\nlog_folder");
        let c = Config::parse(&text, Path::new("mesh.toml"), None).unwrap();
        let program = c.on_change.unwrap().program;
        assert_eq!(program, Path::new("./hook.sh"));
        // What spawning sees: a path with a slash, so $PATH plays no part.
        assert!(program.to_string_lossy().contains('/'));
    }

    #[test]
    fn a_reload_cannot_change_who_or_where() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.restart_needed(&c.clone()), None);
        let mut timings = c.clone();
        timings.interval_ms = 5;
        timings.nodes.pop();
        assert_eq!(c.restart_needed(&timings), None);
        let other = Config::parse(GOOD, Path::new("/etc/ut/mesh.toml"), Some("node1")).unwrap();
        assert!(
            c.restart_needed(&other)
                .unwrap()
                .contains("whoami (node2 -> node1)")
        );
        let moved = parse(&GOOD.replace("port = 47002", "port = 47009")).unwrap();
        assert!(
            c.restart_needed(&moved)
                .unwrap()
                .contains("this node's address (127.0.0.1:47002 -> 127.0.0.1:47009)")
        );
        let folder = parse(&GOOD.replace("\"logs\"", "\"other\"")).unwrap();
        let why = c.restart_needed(&folder).unwrap();
        assert!(why.starts_with("restart to change log_folder"), "{why}");
        let listen =
            parse(&GOOD.replace("log_folder", "listen = \"127.0.0.1:9\"\nlog_folder")).unwrap();
        assert!(c.restart_needed(&listen).unwrap().contains("listen"));
        // A reload is made only of a config that needs no restart.
        assert_eq!(c.reload(timings.clone()).unwrap().config(), &timings);
        assert!(
            c.reload(other)
                .unwrap_err()
                .starts_with("restart to change whoami")
        );
        assert!(c.reload(moved).is_err());
    }

    /// A parse's top-level values and each node's values with their positions.
    fn summary(raw: &RawConfig) -> String {
        let mut out = format!(
            "{:?} {} {} {} {:?} {:?} {:?} {:?}",
            raw.whoami.as_ref().map(|w| (w.get_ref(), w.span())),
            raw.interval.get_ref(),
            raw.timeout.get_ref(),
            raw.offline_threshold.get_ref(),
            raw.log_folder.span(),
            raw.listen.as_ref().map(|l| l.get_ref()),
            raw.metrics_listen.as_ref().map(|l| l.get_ref()),
            raw.online_threshold.as_ref().map(|t| t.get_ref()),
        );
        for n in &raw.nodes {
            out.push_str(&format!(
                "\n{:?} {:?} {:?} {:?}",
                (n.name.get_ref(), n.name.span()),
                (n.ip.get_ref(), n.ip.span()),
                (n.port.get_ref(), n.port.span()),
                n.legacy_http
            ));
        }
        out
    }

    /// A mesh of `n` nodes as the load harness writes it.
    fn big(n: usize) -> String {
        let mut text = "whoami = \"node7\"\ninterval = 1000\ntimeout = 1500\n\
                        offline_threshold = 3\nlog_folder = \"logs\"\n"
            .to_string();
        for k in 1..=n {
            text.push_str(&format!(
                "\n[[nodes]]\nname = \"node{k}\"\nip = \"10.0.{}.{}\"\nport = 47001\n",
                k / 250,
                k % 250 + 1
            ));
        }
        text
    }

    #[test]
    fn parsed_by_node_it_means_what_it_means_whole() {
        let crlf = GOOD.replace('\n', "\r\n");
        let camel = GOOD
            .replace("offline_threshold", "offlineThreshold")
            .replace(
                "port = 47003",
                "port = 47003\nlegacyHttp = true # old\n\n# end",
            );
        let spaced = GOOD.replace("[[nodes]]", "  [[nodes]]  ");
        // One piece holding two nodes: a header spelled otherwise is no piece boundary.
        let odd = GOOD
            .replace("[[nodes]]", "[[ nodes ]]")
            .replacen("[[ nodes ]]", "[[nodes]]", 1);
        let big = big(1000);
        for text in [GOOD, &crlf, &camel, &spaced, &odd, &big] {
            let whole: RawConfig = toml::from_str(text).unwrap();
            let pieces =
                parse_by_node(text).unwrap_or_else(|| panic!("not parsed by node: {text}"));
            assert_eq!(summary(&pieces), summary(&whole), "{text}");
        }
    }

    #[test]
    fn what_pieces_cannot_mean_alone_is_parsed_whole() {
        let cases = [
            // A [[nodes]] line inside a multi-line string is no header.
            GOOD.replace(
                "log_folder = \"logs\"",
                "log_folder = \"\"\"\n[[nodes]]\nname = \"x\"\n\"\"\"",
            ),
            GOOD.replace(
                "log_folder = \"logs\"",
                "log_folder = \'\'\'\n[[nodes]]\n\'\'\'",
            ),
            // Nodes before the first header, or another table among the nodes.
            GOOD.replace("log_folder = \"logs\"", "log_folder = \"logs\"\nnodes = []"),
            GOOD.replace("port = 47001", "port = 47001\n[extra]"),
            GOOD.replace("port = 47002", "port = 47002\n[[other]]"),
            GOOD.replace("port = 47001", "port = 47001\nwhoami = \"node1\""),
            // Errors: the whole parse says them.
            GOOD.replace("port = 47002", "port = \"47002\""),
            GOOD.replace("interval = 1000", "interval = \"1000\""),
        ];
        for text in &cases {
            assert!(parse_by_node(text).is_none(), "{text}");
            let whole = toml::from_str::<RawConfig>(text).map(|r| summary(&r));
            let parsed = parse(text).map(|c| c.nodes.len());
            match whole {
                Ok(_) => assert!(parsed.is_ok(), "{text}: {parsed:?}"),
                Err(_) => assert!(parsed.is_err(), "{text}"),
            }
        }
        // The string holding a header line is the folder's name, as whole.
        let c = parse(&cases[0]).unwrap();
        assert!(c.log_folder.ends_with("[[nodes]]\nname = \"x\"\n"), "{c:?}");
        assert_eq!(c.nodes.len(), 3);
    }

    #[test]
    fn errors_in_a_later_node_keep_their_position() {
        let text = big(600).replace("name = \"node500\"", "name = \"node499\"");
        let e = error(&text);
        let line = text
            .lines()
            .position(|l| l == "name = \"node499\"")
            .unwrap();
        let second = text
            .lines()
            .enumerate()
            .filter(|(_, l)| *l == "name = \"node499\"")
            .nth(1)
            .map(|(i, _)| i + 1)
            .unwrap();
        assert!(second > line + 1);
        assert_eq!(e.position, Some((second, 8)), "{e}");
        assert!(e.message.contains("duplicate node name"), "{e}");
        let text = big(600).replace(
            "port = 47001\n\n[[nodes]]\nname = \"node600\"",
            "port = 0\n\n[[nodes]]\nname = \"node600\"",
        );
        let e = error(&text);
        assert!(e.message.contains("port 0 is not in 1..=65535"), "{e}");
        let at = text.find("port = 0").unwrap();
        assert_eq!(e.position, Some((text[..at].lines().count() + 1, 8)), "{e}");
    }
}
