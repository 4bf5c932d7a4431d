//! Disk trouble under a running mesh, with the real binary (interval 200 ms, timeout 300 ms,
//! threshold 3, on 127.0.0.1-3):
//!
//! - a full disk (the log folder on a 64 KiB tmpfs, filled with a junk file) while a peer
//!   goes down: the lines wait and go out, stamped when they happened, once space is freed,
//!   and no cut line is left;
//! - the day's file deleted under a running node: the next event lands in a fresh file
//!   that starts with `---` and a header.

mod common;

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use uptime_tracker::logline;

const INTERVAL: u64 = 200;
const TIMEOUT: u64 = 300;
const THRESHOLD: u32 = 3;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn timestamp(ms: i64) -> String {
    let mut s = String::new();
    logline::write_timestamp(&mut s, ms);
    s
}

/// Waits out the last minute before a UTC midnight, so a test's files stay on one day.
fn not_near_midnight() {
    let left = logline::ms_until_next_midnight(now_ms());
    if left < 60_000 {
        sleep(Duration::from_millis(left + 1_000));
    }
}

/// A tmpfs mounted on a folder; unmounted (lazily, so open files do not block it) on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `64k`) on `dir`, creating `dir`. `Err` says why not.
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(format!(
                "not root (euid {euid}): mounting a tmpfs needs root"
            ));
        }
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs on {} failed ({}): {}",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Fills the file system of `dir` with `dir/junk` until it refuses more.
fn fill(dir: &Path) -> PathBuf {
    let junk = dir.join("junk");
    let mut f = File::create(&junk).expect("create the junk file");
    let block = [b'x'; 4096];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("{}: {e}", junk.display()),
        }
    }
    junk
}

/// The lines of `name`'s stderr that contain `what`.
fn said<'a>(stderr: &'a str, what: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.contains(what)).collect()
}

#[test]
fn full_disk_keeps_the_lines_and_writes_them_stamped_when_they_happened() {
    not_near_midnight();
    let mut m = Mesh::new("disk-full", &[IP1, IP2, IP3], INTERVAL, TIMEOUT, THRESHOLD);
    let _tmpfs = match Tmpfs::mount(&m.log_dir, "64k") {
        Ok(t) => t,
        Err(why) => {
            skip_or_fail(&why);
            return;
        }
    };

    // node1's file ends, once node1 has written its header, a few bytes (1..=32) short
    // of a 4 KiB page: with the disk full, its next line (33 bytes) gets those bytes and
    // then ENOSPC, the short write that used to leave a cut line. The padding is an earlier
    // run of node1 (`---`, header, `|node2|0` lines): valid 0.0.3.
    let start = now_ms();
    let header = format!(
        "0.0.3|{}|{}\n",
        timestamp(start),
        header_tail(THRESHOLD, "node1", &m.nodes)
    );
    let run_len = 4 + header.len();
    let event = format!("{}|node2|0\n", timestamp(start));
    let k = (0..200)
        .find(|k| {
            let room = 4096 - (2 * run_len + k * event.len()) % 4096;
            (1..event.len()).contains(&room)
        })
        .expect("a padding that leaves less than a line");
    let path = m
        .log_dir
        .join(format!("{}-node1.log", logline::day_string(start)));
    fs::write(&path, format!("---\n{header}{}", event.repeat(k))).unwrap();

    m.start_all();
    m.wait_runs("node1", 2);
    m.wait_runs("node2", 1);
    m.wait_runs("node3", 1);
    sleep(Duration::from_millis(1_000));
    let before = fs::read_to_string(&path).unwrap();
    assert_eq!(
        events(&before).len(),
        k,
        "node1 logged events in a healthy mesh:\n{before}"
    );

    let junk = fill(&m.log_dir);
    let killed = now_ms();
    m.daemon("node3").kill_hard();
    wait_for("node1 to declare node3 offline", DEADLINE, || {
        let err = m.daemon("node1").stderr();
        (!said(&err, "peer node3 offline").is_empty()).then_some(())
    });
    sleep(Duration::from_millis(500));
    let during = fs::read_to_string(&path).unwrap();
    assert!(
        during == before,
        "with the disk full, node1's file must not change (no cut line); it now ends with {:?}",
        during
            .get(before.len().min(during.len())..)
            .unwrap_or_default()
    );

    let freed = now_ms();
    fs::remove_file(&junk).unwrap();
    wait_for("node1 to write node3 |1 |2 |3", DEADLINE, || {
        let text = fs::read_to_string(&path).ok()?;
        (peer_counts(&text, "node3") == [1, 2, 3]).then_some(())
    });
    m.start("node3");
    wait_for("node1 to write node3|0", DEADLINE, || {
        let text = fs::read_to_string(&path).ok()?;
        (peer_counts(&text, "node3") == [1, 2, 3, 0]).then_some(())
    });

    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(&before), "earlier bytes kept:\n{text}");
    let node3: Vec<Event> = events(&text)
        .into_iter()
        .filter(|e| e.node == "node3")
        .collect();
    let times: Vec<i64> = node3
        .iter()
        .map(|e| parse_iso_ms(&e.time).unwrap())
        .collect();
    for (e, &t) in node3.iter().zip(&times).take(3) {
        assert!(
            killed <= t && t < freed,
            "{e:?} must be stamped when it happened (node3 killed {}, space freed {}):\n{text}",
            timestamp(killed),
            timestamp(freed)
        );
    }
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{text}");
    assert!(times[3] > freed, "{text}");
    assert!(
        text.ends_with("|node3|0\n"),
        "node3|0 is the last line:\n{text}"
    );
    validate_log_file(&path, &m.nodes);

    m.stop_all_ok();
    m.validate_logs();
    let err = m.daemon("node1").stderr();
    println!("node1's stderr:\n{err}");
    let waiting = said(&err, "waiting in memory");
    assert_eq!(waiting.len(), 1, "said once that lines wait:\n{err}");
    assert!(
        waiting[0].contains("No space left on device")
            && waiting[0].contains(&*path.to_string_lossy()),
        "the reason and the file:\n{err}"
    );
    let out = said(&err, "the waiting lines went out");
    assert_eq!(out.len(), 1, "said once that they went out:\n{err}");
    assert!(out[0].contains(": 3 lines written"), "{err}");
}

#[test]
fn a_deleted_day_file_is_created_again_with_a_header() {
    not_near_midnight();
    let mut m = Mesh::new("disk-deleted", &[IP1, IP2], INTERVAL, TIMEOUT, THRESHOLD);
    m.start_all();
    m.wait_runs("node1", 1);
    m.wait_runs("node2", 1);
    sleep(Duration::from_millis(1_000));
    let files = node_log_files(&m.log_dir, "node1");
    assert_eq!(files.len(), 1);
    let path = &files[0];
    assert!(events(&fs::read_to_string(path).unwrap()).is_empty());

    fs::remove_file(path).unwrap();
    m.daemon("node2").kill_hard();
    wait_for("node1's file back, with node2 |1 |2 |3", DEADLINE, || {
        let text = fs::read_to_string(path).ok()?;
        (peer_counts(&text, "node2") == [1, 2, 3]).then_some(())
    });
    let text = fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[0], "---", "{text}");
    assert!(
        lines[1].starts_with("0.0.3|")
            && lines[1].ends_with(&header_tail(THRESHOLD, "node1", &m.nodes)),
        "{text}"
    );
    validate_log_file(path, &m.nodes);

    m.start("node2");
    wait_for("node1 to log node2|0", DEADLINE, || {
        let text = fs::read_to_string(path).ok()?;
        (peer_counts(&text, "node2") == [1, 2, 3, 0]).then_some(())
    });
    m.stop_all_ok();
    m.validate_logs();
    let err = m.daemon("node1").stderr();
    let reopened = said(&err, "creating it again");
    assert_eq!(reopened.len(), 1, "{err}");
    assert!(reopened[0].contains(&*path.to_string_lossy()), "{err}");
}

/// A full disk at start: `check-config` says so as `run` does, and the failed start
/// leaves no empty day file behind.
#[test]
fn a_full_disk_at_start_is_an_error_for_both_and_leaves_no_empty_file() {
    let m = Mesh::new("disk-start", &[IP1, IP2], 200, 300, 3);
    let tmpfs = match Tmpfs::mount(&m.log_dir, "64k") {
        Ok(t) => t,
        Err(why) => {
            skip_or_fail(&why);
            return;
        }
    };
    let _junk = fill(&m.log_dir);
    let config = m.config.to_str().unwrap().to_string();
    for command in ["check-config", "run"] {
        let out = run_cli(
            &[command, "--config", &config, "--whoami", "node1"],
            m.dir.path(),
        );
        assert_eq!(out.code, Some(1), "{command}: {}", out.stderr);
        assert!(
            out.stderr.contains("No space left on device"),
            "{command}: {}",
            out.stderr
        );
    }
    let logs: Vec<_> = fs::read_dir(&m.log_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert!(logs.is_empty(), "left behind: {logs:?}");
    drop(tmpfs);
}
