//! A node's log files in memory: the same 0.0.3 lines, file names and day switches the
//! real [`crate::journal::Journal`] writes, without a disk.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::logline::{self, RESTART};

/// One node's files, by file name.
#[derive(Debug, Clone)]
pub struct MemJournal {
    whoami: String,
    threshold: u32,
    nodes: Vec<(String, SocketAddr)>,
    day: i64,
    /// File name -> contents.
    pub files: BTreeMap<String, String>,
}

impl MemJournal {
    /// An empty journal for `whoami`.
    pub fn new(whoami: &str, threshold: u32, nodes: Vec<(String, SocketAddr)>) -> MemJournal {
        MemJournal {
            whoami: whoami.to_string(),
            threshold,
            nodes,
            day: i64::MIN,
            files: BTreeMap::new(),
        }
    }

    fn file(&mut self, wall: i64) -> &mut String {
        self.day = logline::day_number(wall);
        let name = format!("{}-{}.log", logline::day_string(wall), self.whoami);
        self.files.entry(name).or_default()
    }

    fn header(&mut self, wall: i64) {
        let (threshold, whoami) = (self.threshold, self.whoami.clone());
        let nodes: Vec<(&str, SocketAddr)> =
            self.nodes.iter().map(|(n, a)| (n.as_str(), *a)).collect();
        let mut line = String::new();
        logline::write_header(&mut line, wall, threshold, &whoami, &nodes);
        let file = self.file(wall);
        file.push_str(RESTART);
        file.push('\n');
        file.push_str(&line);
        file.push('\n');
    }

    /// A (re)start: `---` and the header.
    pub fn start(&mut self, wall: i64) {
        self.header(wall);
    }

    /// A day switch: the new day's file gets `---`, the header and the carried counts.
    pub fn new_day(&mut self, wall: i64, carried: &[(&str, u32)]) {
        self.header(wall);
        for &(name, n) in carried {
            self.event(wall, name, n);
        }
    }

    /// One event line, in the file of its own day (switching without carried lines if
    /// the engine did not ask first, as the real journal does).
    pub fn event(&mut self, wall: i64, name: &str, timeouts: u32) {
        if logline::day_number(wall) != self.day {
            self.header(wall);
        }
        let mut line = String::new();
        logline::write_event(&mut line, wall, name, timeouts);
        let file = self.file(wall);
        file.push_str(&line);
        file.push('\n');
    }
}
