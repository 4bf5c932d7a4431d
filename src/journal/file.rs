//! The journal's file calls: open (creating the folder), append a plan in one `write`,
//! truncate a partial append back to its last whole line, check that the path still
//! names the open file (device and inode), reopen, prune old day files, sync. It decides
//! nothing about lines: [`super::plan::Planner`] does. The daemon runs it on the writer
//! thread ([`super::thread`]), so a stuck disk stops this and nothing else.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::plan::{Plan, Store, Written};
use crate::logline;

/// The open file and what it was when opened.
#[derive(Debug)]
struct OpenFile {
    file: File,
    path: PathBuf,
    /// UTC day number ([`logline::day_number`]) of the file.
    day: i64,
    dev: u64,
    ino: u64,
    /// The file's length after our last write (or when opened): shorter than this, it was
    /// truncated by another program (logrotate's `copytruncate`).
    end: u64,
}

/// One node's day files on disk.
#[derive(Debug)]
pub struct FileStore {
    folder: PathBuf,
    whoami: String,
    file: Option<OpenFile>,
    /// The open file must start a new run: the plan's lead goes first.
    need_header: bool,
    /// The open file may end in a cut line: check its last byte before the next append.
    maybe_cut: bool,
    /// What one append hands to the kernel, reused.
    buf: Vec<u8>,
    /// Test hook: how many more bytes the "disk" accepts (`None`: no limit).
    #[cfg(test)]
    pub room: Option<usize>,
}

impl FileStore {
    /// The store of `<folder>/<YYYY-MM-DD>-<whoami>.log`; opens nothing yet.
    pub fn new(folder: &Path, whoami: &str) -> FileStore {
        FileStore {
            folder: folder.to_path_buf(),
            whoami: whoami.to_owned(),
            file: None,
            need_header: true,
            maybe_cut: true,
            buf: Vec::new(),
            #[cfg(test)]
            room: None,
        }
    }

    /// Whether the open file is `day`'s and its path no longer names it (deleted, renamed,
    /// replaced). A path that cannot be checked for another reason counts as fine: the
    /// open file is then still the best place for the lines.
    fn replaced(&self) -> bool {
        let Some(f) = &self.file else {
            return false;
        };
        match fs::metadata(&f.path) {
            Ok(m) => m.dev() != f.dev || m.ino() != f.ino,
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        }
    }

    /// Makes `path` (of `day`) the open file: keeps the open file if it is that day's and
    /// its path still names it; otherwise opens (creating) it, a new run due.
    fn ensure_file(&mut self, path: &Path, day: i64, notes: &mut Vec<String>) -> io::Result<()> {
        if self.file.as_ref().is_some_and(|f| f.day == day) {
            if !self.replaced() {
                return Ok(());
            }
            self.file = None;
            notes.push(format!(
                "{}: the path no longer names the file being written (deleted, renamed or replaced): \
                 creating it again, `---` and header first",
                path.display()
            ));
        }
        self.file = None;
        self.need_header = true;
        self.maybe_cut = true;
        self.file = Some(open_file(&self.folder, path, day)?);
        Ok(())
    }

    /// [`Store::write`], with `?` for the calls before anything is written.
    fn append(&mut self, plan: &Plan, out: &mut Written) -> io::Result<()> {
        self.ensure_file(&plan.path, plan.day, &mut out.notes)?;
        let Some(f) = &self.file else {
            return Ok(()); // ensure_file opened it
        };
        let path = &f.path;
        let len = f
            .file
            .metadata()
            .map_err(|e| with_path(path, "cannot stat", e))?
            .len();
        let cut = self.maybe_cut
            && !ends_with_newline(&f.file, len).map_err(|e| with_path(path, "cannot read", e))?;
        if len < f.end && !self.need_header {
            // Emptied or cut under us: whatever follows must read on its own.
            self.need_header = true;
            out.notes.push(format!(
                "{}: the file was truncated by another program (copytruncate?): `---` and header first",
                path.display()
            ));
        }
        self.buf.clear();
        if cut {
            self.buf.push(b'\n');
        }
        if self.need_header {
            self.buf.extend_from_slice(plan.lead.as_bytes());
        }
        // Where each item ends in `buf`: the lead and the cut line's end belong to the first.
        let base = self.buf.len();
        self.buf.extend_from_slice(plan.text.as_bytes());
        let (written, result) = if self.buf.is_empty() {
            (0, Ok(()))
        } else {
            #[cfg(test)]
            let out = write_limited(&f.file, &self.buf, &mut self.room);
            #[cfg(not(test))]
            let out = write_fully(&f.file, &self.buf);
            out
        };
        let whole = plan
            .ends
            .iter()
            .take_while(|&&end| base + end <= written)
            .count();
        let kept = whole
            .checked_sub(1)
            .and_then(|i| plan.ends.get(i))
            .map_or(0, |end| base + end);
        let mut truncate_error = None;
        if result.is_err() && written > kept {
            let to = len.saturating_add(u64::try_from(kept).unwrap_or(u64::MAX));
            if let Err(e) = f.file.set_len(to) {
                truncate_error = Some(e);
            }
        }
        let path = path.clone();
        if whole > 0 {
            self.need_header = false;
            self.maybe_cut = false;
        }
        let reached = if result.is_ok() { written } else { kept };
        if let Some(f) = self.file.as_mut() {
            f.end = len.saturating_add(u64::try_from(reached).unwrap_or(u64::MAX));
        }
        out.items = whole;
        // Bound the buffer kept between appends.
        if self.buf.capacity() > 4 * super::plan::MAX_BATCH {
            self.buf = Vec::new();
        }
        if let Some(e) = truncate_error {
            self.maybe_cut = true;
            out.notes.push(format!(
                "{}: cannot undo a partial write (truncate: {e}): the file may end in a cut line",
                path.display()
            ));
        }
        result.map_err(|e| with_path(&path, "cannot append", e))
    }
}

impl Store for FileStore {
    fn write(&mut self, plan: &Plan) -> Written {
        let mut out = Written::default();
        if let Err(e) = self.append(plan, &mut out) {
            out.error = Some(e);
        }
        out
    }

    fn prune(&mut self, before_day: i64) -> Vec<String> {
        prune(&self.folder, &self.whoami, before_day)
    }

    fn sync(&mut self) -> io::Result<()> {
        match &self.file {
            Some(f) => f
                .file
                .sync_data()
                .map_err(|e| with_path(&f.path, "cannot sync", e)),
            None => Ok(()),
        }
    }
}

/// Deletes this node's day files in `folder` of UTC days before `before_day` (a
/// [`logline::day_number`]): only names exactly `YYYY-MM-DD-<whoami>.log`, a valid date,
/// regular files. Returns one line per file deleted or that could not be (each naming
/// the file); an unreadable folder is one line. Never fails otherwise.
pub fn prune(folder: &Path, whoami: &str, before_day: i64) -> Vec<String> {
    let mut said = Vec::new();
    let entries = match fs::read_dir(folder) {
        Ok(e) => e,
        Err(e) => {
            said.push(format!(
                "{}: cannot list the folder to delete old logs: {e}",
                folder.display()
            ));
            return said;
        }
    };
    let suffix = format!("-{whoami}.log");
    let mut old: Vec<(i64, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(day) = name
            .to_str()
            .and_then(|n| n.strip_suffix(suffix.as_str()))
            .and_then(parse_day)
        else {
            continue;
        };
        if day < before_day && entry.file_type().is_ok_and(|t| t.is_file()) {
            old.push((day, entry.path()));
        }
    }
    old.sort();
    for (_, path) in old {
        match fs::remove_file(&path) {
            Ok(()) => said.push(format!("{}: deleted (log_retention_days)", path.display())),
            Err(e) => said.push(format!(
                "{}: cannot delete an old log (log_retention_days): {e}",
                path.display()
            )),
        }
    }
    said
}

/// Removes `path` if it is an empty file (a start that could not write its header leaves
/// nothing a reader would take for a damaged log).
pub fn remove_if_empty(path: &Path) {
    if fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
        let _ = fs::remove_file(path);
    }
}

/// The day number of `YYYY-MM-DD`, only if written exactly so.
fn parse_day(date: &str) -> Option<i64> {
    if date.len() != 10 {
        return None;
    }
    let wall = logline::parse_timestamp(&format!("{date}T00:00:00.000Z")).ok()?;
    (logline::day_string(wall) == date).then(|| logline::day_number(wall))
}

/// Creates `folder` if needed and opens `path` (of UTC day `day`) for append (never
/// truncating) and read, noting its device and inode.
fn open_file(folder: &Path, path: &Path, day: i64) -> io::Result<OpenFile> {
    fs::create_dir_all(folder).map_err(|e| with_path(folder, "cannot create the log folder", e))?;
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| with_path(path, "cannot open", e))?;
    let meta = file
        .metadata()
        .map_err(|e| with_path(path, "cannot stat", e))?;
    Ok(OpenFile {
        file,
        path: path.to_path_buf(),
        day,
        dev: meta.dev(),
        ino: meta.ino(),
        end: meta.len(),
    })
}

/// Whether `file`, `len` bytes long, is empty or ends with `"\n"`.
fn ends_with_newline(mut file: &File, len: u64) -> io::Result<bool> {
    if len == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::Start(len.saturating_sub(1)))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last == [b'\n'])
}

/// Writes all of `bytes` with as few `write` calls as the kernel allows (one, normally),
/// retrying on `Interrupted`. Returns how many bytes were written, and the error if not all.
fn write_fully(mut file: &File, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut written = 0;
    while let Some(rest) = bytes.get(written..).filter(|r| !r.is_empty()) {
        match file.write(rest) {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::WriteZero, "the file accepted no more bytes");
                return (written, Err(e));
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Err(e)),
        }
    }
    (written, Ok(()))
}

/// Test hook: [`write_fully`] on a "disk" that accepts `room` more bytes (all if `None`),
/// then fails with `ENOSPC`, as a full file system does after a short write.
#[cfg(test)]
fn write_limited(file: &File, bytes: &[u8], room: &mut Option<usize>) -> (usize, io::Result<()>) {
    let Some(left) = *room else {
        return write_fully(file, bytes);
    };
    let n = left.min(bytes.len());
    let (written, result) = write_fully(file, bytes.get(..n).unwrap_or_default());
    *room = Some(left.saturating_sub(written));
    match result {
        Ok(()) if written < bytes.len() => {
            (written, Err(io::Error::from_raw_os_error(libc::ENOSPC)))
        }
        other => (written, other),
    }
}

/// `<path>: <what>: <error>`, keeping the error's kind.
fn with_path(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {what}: {e}", path.display()))
}
