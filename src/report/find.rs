//! Finding log files: the command line's paths (files, folders searched a few levels
//! deep) become each observer's files, ordered by the UTC day in their names
//! (`YYYY-MM-DD-<whoami>.log`). Only a folder number is kept per file (the name is
//! rebuilt from the day and the observer), so the index of a year of a large mesh stays
//! small. Nothing here panics.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::logline;
use crate::name;
use crate::report::read::Problems;
use crate::report::units;

/// How deep [`find`] looks into folders.
pub const MAX_DEPTH: usize = 8;

/// One observer's log file for one UTC day.
#[derive(Debug, Clone)]
pub struct LogFile {
    /// The UTC day number of the file name's date (0 = 1970-01-01).
    pub day: i64,
    /// Where it is.
    pub path: PathBuf,
}

/// The log files found: per observer, per day, the folder holding the file. A file's name
/// is `<date>-<whoami>.log`, so it is rebuilt from the day and the observer rather than
/// kept: the index of a year of a 50-node mesh (18 250 files) stays well under a MiB.
#[derive(Debug, Default)]
pub struct Inputs {
    folders: Vec<PathBuf>,
    /// whoami -> day -> index into `folders`.
    observers: BTreeMap<String, BTreeMap<i64, u32>>,
}

impl Inputs {
    /// Whether no log file was found.
    pub fn is_empty(&self) -> bool {
        self.observers.is_empty()
    }

    /// The observers (by name) and their number of files.
    pub fn observers(&self) -> impl Iterator<Item = (&str, usize)> {
        self.observers
            .iter()
            .map(|(w, days)| (w.as_str(), days.len()))
    }

    /// `whoami`'s files of days `from..=to`, in day order.
    pub fn files<'a>(
        &'a self,
        whoami: &'a str,
        from: i64,
        to: i64,
    ) -> impl Iterator<Item = LogFile> + 'a {
        self.observers
            .get(whoami)
            .into_iter()
            .flat_map(move |days| days.range(from..=to))
            .map(move |(&day, &folder)| LogFile {
                day,
                path: self.path(whoami, day, folder),
            })
    }

    /// The path of `whoami`'s file of day `day` as found (its bare name if none was).
    pub fn path_of(&self, whoami: &str, day: i64) -> PathBuf {
        match self.observers.get(whoami).and_then(|d| d.get(&day)) {
            Some(&folder) => self.path(whoami, day, folder),
            None => PathBuf::from(file_name(whoami, day)),
        }
    }

    fn path(&self, whoami: &str, day: i64, folder: u32) -> PathBuf {
        let name = file_name(whoami, day);
        match self.folders.get(folder as usize) {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    fn folder_index(&mut self, dir: &Path) -> u32 {
        match self.folders.last() {
            Some(last) if last == dir => {}
            _ => self.folders.push(dir.to_path_buf()),
        }
        u32::try_from(self.folders.len().saturating_sub(1)).unwrap_or(u32::MAX)
    }

    /// Adds the file `name` (a log file name: `day`, `whoami`) of folder `dir`; a second
    /// file for the same observer and day is a problem, unless it is the same file.
    fn add(&mut self, dir: &Path, whoami: &str, day: i64, problems: &mut Problems<'_>) {
        let existing = self
            .observers
            .get(whoami)
            .and_then(|d| d.get(&day))
            .copied();
        match existing {
            None => {
                let folder = self.folder_index(dir);
                self.observers
                    .entry(whoami.to_string())
                    .or_default()
                    .insert(day, folder);
            }
            Some(folder) => {
                let first = self.path(whoami, day, folder);
                let second = dir.join(file_name(whoami, day));
                if !same_file(&first, &second) {
                    problems.report(
                        &second,
                        None,
                        format_args!(
                            "another log file of {whoami} for this day is read already ({}); skipped",
                            first.display()
                        ),
                    );
                }
            }
        }
    }
}

/// `<YYYY-MM-DD>-<whoami>.log`: the name of `whoami`'s file of day number `day`.
pub fn file_name(whoami: &str, day: i64) -> String {
    format!(
        "{}-{whoami}.log",
        logline::day_string(units::day_start(day))
    )
}

/// `Some((day, whoami))` if `file_name` is `YYYY-MM-DD-<whoami>.log` with a real date and
/// a valid node name.
pub fn parse_file_name(file_name: &str) -> Option<(i64, &str)> {
    let stem = file_name.strip_suffix(".log")?;
    let date = stem.get(..10)?;
    let whoami = stem.get(10..)?.strip_prefix('-')?;
    name::check(whoami).ok()?;
    let midnight = logline::parse_timestamp(&format!("{date}T00:00:00.000Z")).ok()?;
    Some((logline::day_number(midnight), whoami))
}

/// Collects the log files under `paths`. A folder is searched [`MAX_DEPTH`] levels deep
/// (symbolic links to folders are not followed) and files in it whose names are not log
/// file names are ignored; a file named on the command line must have a log file name.
/// Unreadable paths, and a second file for the same observer and day, are problems.
pub fn find(paths: &[PathBuf], problems: &mut Problems<'_>) -> Inputs {
    let mut inputs = Inputs::default();
    for path in paths {
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, 0, &mut inputs, problems),
            Ok(_) => {
                let file_name = path.file_name().map(|n| n.to_string_lossy());
                match file_name.as_deref().and_then(parse_file_name) {
                    Some((day, whoami)) => {
                        let dir = path.parent().unwrap_or(Path::new(""));
                        inputs.add(dir, whoami, day, problems);
                    }
                    None => problems.report(
                        path,
                        None,
                        "not a log file name (expected YYYY-MM-DD-<whoami>.log); skipped",
                    ),
                }
            }
            Err(e) => problems.report(path, None, format_args!("cannot read: {e}")),
        }
    }
    inputs
}

/// Adds the log files of `dir`, then searches its subfolders (in name order, so that
/// which of two copies of a file counts is the same on every run).
fn walk(dir: &Path, depth: usize, inputs: &mut Inputs, problems: &mut Problems<'_>) {
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => return problems.report(dir, None, format_args!("cannot read folder: {e}")),
    };
    let mut subfolders: Vec<PathBuf> = Vec::new();
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            subfolders.push(entry.path());
            continue;
        }
        let name = entry.file_name();
        let Some((day, whoami)) = name.to_str().and_then(parse_file_name) else {
            continue;
        };
        if kind.is_file() || fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
            inputs.add(dir, whoami, day, problems);
        }
    }
    if depth < MAX_DEPTH {
        subfolders.sort();
        for sub in subfolders {
            walk(&sub, depth + 1, inputs, problems);
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let day = |s: &str| logline::day_number(logline::parse_timestamp(s).unwrap());
        assert_eq!(
            parse_file_name("2026-11-23-node1.log"),
            Some((day("2026-11-23T00:00:00.000Z"), "node1"))
        );
        assert_eq!(
            parse_file_name("2026-11-23-a-b.log"),
            Some((day("2026-11-23T00:00:00.000Z"), "a-b"))
        );
        for bad in [
            "2026-11-23-.log",
            "2026-11-23node1.log",
            "2026-02-30-node1.log",
            "2026-11-23-node1.txt",
            "node1.log",
            "2026-11-23-no de.log",
            "é026-11-23-node1.log",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }
}
