//! What `run` checks before it serves, shared with `check-config` so that a config
//! `check-config` passes is one `run` starts with: the listen address (the node's own ip
//! when it is an address of this machine, else all interfaces), whether that port can be
//! bound, whether the log folder can be written, and whether this node's ip is local.
//!
//! Each problem is a [`Finding`]: an error stops `run` (and makes `check-config` exit 1),
//! a warning is printed and the node runs. Nothing is left behind: the write test creates
//! and removes one file, the log folder itself is not created here.

use std::fmt;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mio::net::TcpListener;

use super::sys::{bind_listener, is_local};
use crate::config::Config;

/// How bad a [`Finding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// `run` would not start.
    Error,
    /// `run` starts, but probably not as intended.
    Warning,
}

/// One problem found before serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, and what to do about it.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "error: {}", self.message),
            Severity::Warning => write!(f, "warning: {}", self.message),
        }
    }
}

/// The outcome of the checks.
pub struct Preflight {
    /// Where the listener binds (see [`Config::listen_addr`]).
    pub listen: SocketAddr,
    /// Whether this node's configured ip is an address of this machine.
    pub own_ip_local: bool,
    /// Errors and warnings, in the order found.
    pub findings: Vec<Finding>,
    /// The bound listener, when binding succeeded: `run` serves on it.
    listener: Option<TcpListener>,
    /// The bound metrics listener (`metrics_listen`), when set and binding succeeded.
    metrics_listener: Option<TcpListener>,
    /// The shared secret read from `secret_file`, when one is set and could be read.
    #[cfg(feature = "auth")]
    secret: Option<crate::auth::Secret>,
}

impl Preflight {
    /// Runs every check for `cfg`.
    pub fn run(cfg: &Config) -> Preflight {
        let own = cfg.own().addr;
        let own_ip_local = is_local(own.ip());
        let listen = cfg.listen_addr(own_ip_local);
        let mut findings = Vec::new();
        if !own_ip_local {
            findings.push(not_local(cfg, listen));
        }
        let listener = bind_mesh(listen, &mut findings);
        let metrics_listener = cfg
            .metrics_listen
            .and_then(|addr| bind_metrics(addr, own, &mut findings));
        // Raises the soft limit as `run` does, so the same mesh passes or fails here.
        if let Err(message) = super::sys::raise_nofile(cfg.nodes.len().saturating_sub(1)) {
            findings.push(Finding {
                severity: Severity::Error,
                message,
            });
        }
        if let Err(message) = check_log_folder(&cfg.log_folder) {
            findings.push(Finding {
                severity: Severity::Error,
                message,
            });
        }
        #[cfg(feature = "auth")]
        let secret = load_secret(cfg, &mut findings);
        Preflight {
            listen,
            own_ip_local,
            findings,
            listener,
            metrics_listener,
            #[cfg(feature = "auth")]
            secret,
        }
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }

    /// The bound listener, once.
    pub(super) fn take_listener(&mut self) -> Option<TcpListener> {
        self.listener.take()
    }

    /// The bound metrics listener, once.
    pub(super) fn take_metrics_listener(&mut self) -> Option<TcpListener> {
        self.metrics_listener.take()
    }

    /// The secret read from `secret_file`, if any (taken: `run` hands it to the engine).
    #[cfg(feature = "auth")]
    pub(super) fn take_secret(&mut self) -> Option<crate::auth::Secret> {
        self.secret.take()
    }
}

/// The warning for a node whose ip is not an address of this machine, listening on
/// `listen` instead.
fn not_local(cfg: &Config, listen: SocketAddr) -> Finding {
    let own = cfg.own().addr;
    let how = if cfg.listen.is_some() {
        format!("it listens on {listen} (`listen`)")
    } else {
        format!("it listens on all interfaces ({listen})")
    };
    Finding {
        severity: Severity::Warning,
        message: format!(
            "this node's ip {ip} is not an address of this machine, so {how}. Its \
             peers will connect to {own} and accept its connections only from {ip}: \
             right if this machine is behind NAT that forwards {own} here and sends \
             its connections out from {ip}; otherwise the ip is wrong (a typo, or \
             another machine's entry?)",
            ip = own.ip(),
        ),
    }
}

/// The mesh listener on `listen`, or an error finding with a hint.
fn bind_mesh(listen: SocketAddr, findings: &mut Vec<Finding>) -> Option<TcpListener> {
    match bind_listener(listen) {
        Ok(l) => Some(l),
        Err(e) => {
            let hint = match e.kind() {
                io::ErrorKind::AddrInUse => format!(
                    " (port {} is taken: is this node already running, or another \
                     program on that port?)",
                    listen.port()
                ),
                io::ErrorKind::AddrNotAvailable => " (not an address of this machine)".to_string(),
                _ => String::new(),
            };
            findings.push(Finding {
                severity: Severity::Error,
                message: format!("cannot listen on {listen}: {e}{hint}"),
            });
            None
        }
    }
}

/// The metrics listener on `addr` (`own`: this node's address), or an error finding
/// with a hint.
fn bind_metrics(
    addr: SocketAddr,
    own: SocketAddr,
    findings: &mut Vec<Finding>,
) -> Option<TcpListener> {
    match bind_listener(addr) {
        Ok(l) => Some(l),
        Err(e) => {
            let hint = match e.kind() {
                io::ErrorKind::AddrInUse => {
                    " (the port is taken: by another program, this node's own \
                     `listen`, or another node of this machine with the same \
                     metrics_listen? \":PORT\" gives each node its own ip and that port)"
                }
                io::ErrorKind::AddrNotAvailable if addr.ip() == own.ip() => {
                    " (this node's ip is not an address of this machine: behind NAT, \
                     give metrics_listen an IP:PORT of this machine, e.g. \
                     \"127.0.0.1:9464\")"
                }
                io::ErrorKind::AddrNotAvailable => " (not an address of this machine)",
                _ => "",
            };
            findings.push(Finding {
                severity: Severity::Error,
                message: format!("cannot listen on {addr} (`metrics_listen`): {e}{hint}"),
            });
            None
        }
    }
}

/// The secret of `secret_file`, when set and readable. It is read (and its file's mode
/// checked) here, so check-config finds a bad file too; it is never printed.
#[cfg(feature = "auth")]
fn load_secret(cfg: &Config, findings: &mut Vec<Finding>) -> Option<crate::auth::Secret> {
    match cfg.secret_file.as_deref().map(crate::auth::Secret::load) {
        None => None,
        Some(Ok(secret)) => {
            let weak = cfg.secret_file.as_deref().and_then(|f| secret.weakness(f));
            if let Some(message) = weak {
                findings.push(Finding {
                    severity: Severity::Warning,
                    message,
                });
            }
            Some(secret)
        }
        Some(Err(message)) => {
            findings.push(Finding {
                severity: Severity::Error,
                message,
            });
            None
        }
    }
}

/// `Ok` when the log files can be written in `folder`: it is a writable folder, or it is
/// missing and its nearest existing ancestor is a writable folder (the journal creates it).
fn check_log_folder(folder: &Path) -> Result<(), String> {
    let shown = folder.display();
    match fs::metadata(folder) {
        Ok(m) if !m.is_dir() => Err(format!("log_folder {shown} is not a folder")),
        Ok(_) => {
            probe_write(folder).map_err(|e| format!("log_folder {shown} is not writable: {e}"))
        }
        Err(e) if is_missing(&e) => {
            for ancestor in folder.ancestors().skip(1) {
                let ancestor = if ancestor.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    ancestor
                };
                let above = ancestor.display();
                match fs::metadata(ancestor) {
                    Ok(m) if !m.is_dir() => {
                        return Err(format!(
                            "log_folder {shown} cannot be created: {above} is not a folder"
                        ));
                    }
                    Ok(_) => {
                        return probe_write(ancestor).map_err(|e| {
                            format!("log_folder {shown} cannot be created in {above}: {e}")
                        });
                    }
                    Err(e) if is_missing(&e) => {}
                    Err(e) => return Err(format!("log_folder {shown}: {above}: {e}")),
                }
            }
            Err(format!("log_folder {shown} cannot be created: {e}"))
        }
        Err(e) => Err(format!("log_folder {shown}: {e}")),
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Creates a file in `dir`, writes a line to disk and removes it: the only sure test
/// that log lines can be written there (permissions, read-only mounts, ACLs, a full inode
/// table, a full disk all show).
fn probe_write(dir: &Path) -> io::Result<()> {
    use std::io::Write as _;
    let path: PathBuf = dir.join(format!(".uptime-tracker-write-test-{}", std::process::id()));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| {
            f.write_all(b"---\n")?;
            f.sync_data()
        });
    let removed = fs::remove_file(&path);
    written.and(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!("ut-preflight-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn log_folder_checks_leave_nothing_behind() {
        let d = Dir::new("folder");
        assert_eq!(check_log_folder(&d.0), Ok(()));
        let missing = d.0.join("a").join("b");
        assert_eq!(check_log_folder(&missing), Ok(()));
        assert!(!d.0.join("a").exists(), "the check created the folder");
        assert_eq!(fs::read_dir(&d.0).unwrap().count(), 0, "junk left behind");

        let file = d.0.join("file");
        fs::write(&file, "x").unwrap();
        let e = check_log_folder(&file).unwrap_err();
        assert!(e.contains("is not a folder"), "{e}");
        let e = check_log_folder(&file.join("logs")).unwrap_err();
        assert!(e.contains("is not a folder"), "{e}");
        let e = check_log_folder(Path::new("/dev/null")).unwrap_err();
        assert!(e.contains("/dev/null is not a folder"), "{e}");
    }

    #[test]
    fn unwritable_folders_are_errors() {
        // /proc takes no new files, even from root.
        if Path::new("/proc/self").exists() {
            let e = check_log_folder(Path::new("/proc")).unwrap_err();
            assert!(e.contains("not writable"), "{e}");
            let e = check_log_folder(Path::new("/proc/uptime-tracker-logs")).unwrap_err();
            assert!(e.contains("cannot be created"), "{e}");
        }
    }
}
