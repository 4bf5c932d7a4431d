//! uptime-tracker: every node of a mesh probes every other node over TCP and appends each
//! change of a peer's state to a per-day log file in format 0.0.3.
//!
//! The pure core ([`config`], [`wire`], [`timer`], [`tracker`], [`logline`], and the
//! engine [`mesh`] that decides everything a node does) does no I/O and reads no clock;
//! [`journal`] writes the files; [`daemon`] is the thin shell, the only code that touches
//! sockets, signals and the clocks; `sim` runs many engines over a simulated network.

#[cfg(feature = "auth")]
pub mod auth;
pub mod config;
pub mod daemon;
pub mod few;
pub mod http;
pub mod journal;
pub mod json;
pub mod legacy;
pub mod logline;
pub mod mesh;
pub mod metrics;
pub mod name;
pub mod page;
#[cfg(feature = "report")]
pub mod report;
#[cfg(feature = "simulate")]
pub mod sim;
pub mod status_client;
pub mod suggest;
pub mod timer;
pub mod tracker;
pub mod verdict;
pub mod wire;

/// `println!` that survives a closed stdout (`uptime-tracker --help | head`): the write
/// error is ignored instead of panicking (which, with `panic = "abort"`, would abort).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that survives a closed stderr, like [`outln!`].
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr().lock(), $($arg)*);
    }};
}
