//! A node's log files in memory: the real journal's planner ([`Planner`]) over a store
//! that keeps the files in a map, so the simulator writes the same 0.0.3 lines, file names,
//! headers and day switches as the daemon, without a disk.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;

use crate::journal::{Plan, Planner, Store, Written};
use crate::logline;

/// Files by name; a disk that never fails.
#[derive(Debug, Clone, Default)]
struct MemStore {
    files: BTreeMap<String, String>,
    /// The file the running process has open (`None` after a (re)start).
    open: Option<String>,
}

impl Store for MemStore {
    fn write(&mut self, plan: &Plan) -> Written {
        let name = plan
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fresh = self.open.as_deref() != Some(name.as_str());
        let file = self.files.entry(name.clone()).or_default();
        if fresh {
            file.push_str(&plan.lead);
        }
        file.push_str(&plan.text);
        self.open = Some(name);
        Written {
            items: plan.ends.len(),
            ..Written::default()
        }
    }

    fn prune(&mut self, before_day: i64) -> Vec<String> {
        let old: Vec<String> = self
            .files
            .keys()
            .filter(|name| {
                name.get(..10)
                    .and_then(|d| logline::parse_timestamp(&format!("{d}T00:00:00.000Z")).ok())
                    .is_some_and(|wall| logline::day_number(wall) < before_day)
            })
            .cloned()
            .collect();
        old.into_iter()
            .map(|name| {
                self.files.remove(&name);
                format!("{name}: deleted (log_retention_days)")
            })
            .collect()
    }

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One node's files.
#[derive(Debug)]
pub struct MemJournal {
    whoami: String,
    threshold: u32,
    nodes: Vec<(String, SocketAddr)>,
    /// The running process's planner (`None` before the first start).
    planner: Option<Planner>,
    store: MemStore,
}

impl MemJournal {
    /// An empty journal for `whoami`.
    pub fn new(whoami: &str, threshold: u32, nodes: Vec<(String, SocketAddr)>) -> MemJournal {
        MemJournal {
            whoami: whoami.to_string(),
            threshold,
            nodes,
            planner: None,
            store: MemStore::default(),
        }
    }

    /// File name -> contents.
    pub fn files(&self) -> &BTreeMap<String, String> {
        &self.store.files
    }

    /// The files, taken.
    pub fn into_files(self) -> BTreeMap<String, String> {
        self.store.files
    }

    /// A (re)start at `wall`: a new process, a new planner; `---` and the header.
    pub fn start(&mut self, mono: u64, wall: i64) {
        let nodes: Vec<(&str, SocketAddr)> =
            self.nodes.iter().map(|(n, a)| (n.as_str(), *a)).collect();
        self.store.open = None;
        self.planner = Planner::new(
            Path::new(""),
            &self.whoami,
            self.threshold,
            &nodes,
            wall,
            mono,
        )
        .ok();
        self.pump(mono, wall);
    }

    /// A day switch: the new day's file gets `---`, the header and the carried counts.
    pub fn new_day(&mut self, mono: u64, wall: i64, carried: &[(&str, u32)]) {
        if let Some(p) = &mut self.planner {
            let _ = p.new_day(mono, wall, carried);
        }
        self.pump(mono, wall);
    }

    /// One event line, in the file of its own day.
    pub fn event(&mut self, mono: u64, wall: i64, name: &str, timeouts: u32) {
        if let Some(p) = &mut self.planner {
            let _ = p.record(mono, wall, name, timeouts);
        }
        self.pump(mono, wall);
    }

    fn pump(&mut self, mono: u64, wall: i64) {
        let Some(planner) = &mut self.planner else {
            return;
        };
        while let Some(plan) = planner.next_plan(mono, wall) {
            let written = self.store.write(&plan);
            planner.done(plan, written, mono);
        }
        // Nobody reads the notes of a disk that never fails.
        while planner.take_note().is_some() {}
    }
}
