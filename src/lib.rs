//! uptime-tracker: every node of a mesh probes every other node over TCP and appends each
//! change of a peer's state to a per-day log file in format 0.0.3.
//!
//! The pure core ([`config`], [`wire`], [`timer`], [`tracker`], [`logline`]) does no I/O
//! and reads no clock; [`journal`] writes the files; [`daemon`] is the only code that
//! touches sockets, signals and the clock.

pub mod config;
pub mod daemon;
pub mod journal;
pub mod logline;
pub mod name;
#[cfg(feature = "report")]
pub mod report;
pub mod timer;
pub mod tracker;
pub mod wire;
