//! A log disk that hangs, with the real binary (interval 200 ms, timeout 300 ms, threshold
//! 3, on 127.0.0.1-3): node1's log folder is an ext4 image on a loop device, frozen with
//! `fsfreeze -f` for 15 s while node3 is killed for 3 s.
//!
//! - node1's file then holds `node3|1 |2 |3` and `|0`, each stamped when it happened (the
//!   kill and the restart), not when the disk came back; no peer logs node1 offline (its
//!   poll loop never waited for the disk); node1's stderr says once that writes stalled
//!   and once that they went on, nothing lost.
//! - SIGTERM while the disk is frozen: node1 closes its connections at once, gives the
//!   stuck writer its grace (5 s), says what stays unwritten, and ends when the kernel
//!   lets go of the writer (at the thaw).
//!
//! Needs root, loop devices, `mkfs.ext4` (e2fsprogs) and `fsfreeze` (util-linux):
//! SKIPPED without them, a failure under CI. Costs about 27 s (15 s + 7 s of freezes).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use uptime_tracker::logline;

const INTERVAL: u64 = 200;
const TIMEOUT: u64 = 300;
const THRESHOLD: u32 = 3;
/// How long the disk stays frozen while node3 goes down and comes back.
const FROZEN: Duration = Duration::from_secs(15);
/// How long node3 stays down.
const DOWN: Duration = Duration::from_secs(3);
/// The daemon's shutdown grace for a stuck writer (`journal::SHUTDOWN_GRACE`).
const GRACE: Duration = Duration::from_secs(5);

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

/// An ext4 image mounted on a loop device. On drop: thawed, unmounted (lazily, a daemon
/// may still hold a file), the image removed. Drop it before any daemon that writes there
/// (a process blocked on a frozen disk cannot be reaped).
struct LoopDisk {
    image: PathBuf,
    dir: PathBuf,
}

impl LoopDisk {
    /// Makes a 16 MiB ext4 image at `image` and mounts it on `dir` (created). `Err` says
    /// why not (not root, a tool or loop devices missing).
    fn mount(image: &Path, dir: &Path) -> Result<LoopDisk, String> {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(format!(
                "not root (euid {euid}): loop mounts and fsfreeze need root"
            ));
        }
        for (tool, package) in [
            ("fsfreeze", "util-linux"),
            ("mkfs.ext4", "e2fsprogs"),
            ("mount", "mount"),
        ] {
            if Command::new(tool).arg("--version").output().is_err() {
                return Err(format!("{tool} is missing (package {package})"));
            }
        }
        let run = |program: &str, args: &[&str], path: &Path| -> Result<(), String> {
            let out = Command::new(program)
                .args(args)
                .arg(path)
                .output()
                .map_err(|e| format!("cannot run {program}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{program} {} {} failed ({}): {}",
                    args.join(" "),
                    path.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        fs::File::create(image)
            .and_then(|f| f.set_len(16 << 20))
            .map_err(|e| format!("cannot create {}: {e}", image.display()))?;
        run("mkfs.ext4", &["-q", "-F"], image)?;
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-o", "loop"])
            .arg(image)
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            let _ = fs::remove_file(image);
            return Err(format!(
                "mount -o loop {} failed ({}; no loop devices here?): {}",
                image.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(LoopDisk {
            image: image.to_path_buf(),
            dir: dir.to_path_buf(),
        })
    }

    fn fsfreeze(&self, flag: &str) {
        let out = Command::new("fsfreeze")
            .arg(flag)
            .arg(&self.dir)
            .output()
            .expect("run fsfreeze");
        assert!(
            out.status.success(),
            "fsfreeze {flag} {}: {}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn freeze(&self) {
        self.fsfreeze("-f");
    }

    fn thaw(&self) {
        self.fsfreeze("-u");
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        // Thawed first whatever happened (a no-op error if it is not frozen), so nothing
        // stays blocked on it; `mount -o loop` frees the loop device at the unmount.
        let _ = Command::new("fsfreeze").arg("-u").arg(&self.dir).output();
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = fs::remove_file(&self.image);
    }
}

/// The stamps (Unix ms) of `peer`'s lines in `text`, with their counts.
fn stamped(text: &str, peer: &str) -> Vec<(u32, i64)> {
    events(text)
        .into_iter()
        .filter(|e| e.node == peer)
        .map(|e| (e.timeouts, parse_iso_ms(&e.time).expect("a valid stamp")))
        .collect()
}

fn said<'a>(stderr: &'a str, what: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.contains(what)).collect()
}

#[test]
fn a_frozen_log_disk_holds_no_probe_and_loses_no_line() {
    // Lines stay on one day's file (a midnight in the middle would split them).
    let left = logline::ms_until_next_midnight(now_ms());
    if left < 60_000 {
        sleep(Duration::from_millis(left + 1_000));
    }
    let mut m = Mesh::new("jou-freeze", &[IP1, IP2, IP3], INTERVAL, TIMEOUT, THRESHOLD);
    // node1 alone logs to the loop-mounted disk: its own config beside the image.
    let node1_dir = m.dir.path().join("node1");
    let node1_logs = node1_dir.join("logs");
    fs::create_dir_all(&node1_dir).unwrap();
    let node1_config = node1_dir.join("node1.toml");
    fs::write(
        &node1_config,
        config_text("node1", INTERVAL, TIMEOUT, THRESHOLD, &m.nodes),
    )
    .unwrap();
    let cwd = m.dir.path().join("cwd");
    // Declared before the disk: dropped (killed, reaped) after it is thawed.
    let mut node1_slot: Option<Daemon> = None;
    let disk = match LoopDisk::mount(&m.dir.path().join("jou-freeze.img"), &node1_logs) {
        Ok(d) => d,
        Err(why) => {
            skip_or_fail(&why);
            return;
        }
    };
    let node1 = node1_slot.insert(Daemon::spawn(
        "node1",
        &["run", "--config", node1_config.to_str().unwrap()],
        &cwd,
        m.dir.path(),
    ));
    m.start("node2");
    m.start("node3");
    let path = node1_logs.join(format!("{}-node1.log", logline::day_string(now_ms())));
    wait_for("node1's header", DEADLINE, || {
        fs::read_to_string(&path)
            .ok()
            .filter(|t| t.contains("0.0.3|"))
    });
    m.wait_runs("node2", 1);
    m.wait_runs("node3", 1);
    sleep(Duration::from_millis(1_000));
    let before = fs::read_to_string(&path).unwrap();

    // The freeze, and node3 down for 3 s in the middle of it.
    let frozen_at = Instant::now();
    let froze = now_ms();
    disk.freeze();
    sleep(Duration::from_millis(1_000));
    let killed = now_ms();
    m.daemon("node3").kill_hard();
    sleep(DOWN);
    let restarted = now_ms();
    m.start("node3");
    // node1 goes on probing: it sees node3 back while its disk is still frozen.
    wait_for("node1 to say node3 is back", DEADLINE, || {
        let err = node1.stderr();
        (!said(&err, "peer node3 back online").is_empty()).then_some(())
    });
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        before,
        "nothing reaches the frozen disk"
    );
    let waited = FROZEN.saturating_sub(frozen_at.elapsed());
    sleep(waited);
    let thawed = now_ms();
    disk.thaw();

    wait_for("node1 to write node3 |1 |2 |3 |0", DEADLINE, || {
        let text = fs::read_to_string(&path).ok()?;
        (peer_counts(&text, "node3") == [1, 2, 3, 0]).then_some(text)
    });
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(&before), "earlier bytes kept:\n{text}");
    let node3 = stamped(&text, "node3");
    println!(
        "froze {}, node3 killed {}, restarted {}, thawed {}",
        timestamp(froze),
        timestamp(killed),
        timestamp(restarted),
        timestamp(thawed)
    );
    for (count, t) in &node3 {
        println!(
            "node3|{count} stamped {} ({:+} ms from the kill)",
            timestamp(*t),
            t - killed
        );
    }
    // Stamped when they happened: the outage between the kill and the restart (its
    // offline line within a detection bound of about 1.1 s, 2.5 s allowed), the recovery
    // soon after the restart, all long before the thaw.
    for &(count, t) in node3.iter().take(3) {
        assert!(
            killed <= t && t < restarted,
            "node3|{count} at {} is not within the outage:\n{text}",
            timestamp(t)
        );
    }
    assert!(node3[2].1 <= killed + 2_500, "{text}");
    let back = node3[3].1;
    assert!(
        restarted <= back && back <= restarted + 3_000,
        "node3|0 at {} is not near the restart:\n{text}",
        timestamp(back)
    );
    assert!(back + 5_000 < thawed, "{text}");
    validate_log_file(&path, &m.nodes);

    // No peer took node1 for down: it answered probes all along.
    for peer in ["node2", "node3"] {
        let log = m.log(peer);
        let counts = peer_counts(&log, "node1");
        println!("{peer}'s lines about node1: {counts:?}");
        assert!(
            !counts.contains(&THRESHOLD),
            "{peer} logged node1 offline:\n{log}"
        );
    }

    // The writer tells the loop once the lines are on disk, and the loop says so after:
    // wait for its word rather than read stderr the moment the lines appear.
    let err = wait_for("node1 to say its writes went on", DEADLINE, || {
        let err = node1.stderr();
        (!said(&err, "went on after").is_empty()).then_some(err)
    });
    let stalled: Vec<&str> = said(&err, "stalled since")
        .into_iter()
        .filter(|l| !l.contains("went on"))
        .collect();
    let went_on = said(&err, "went on after");
    for line in stalled.iter().chain(&went_on) {
        println!("node1: {line}");
    }
    assert_eq!(stalled.len(), 1, "said once:\n{err}");
    assert!(stalled[0].contains(&*path.to_string_lossy()), "{err}");
    assert_eq!(went_on.len(), 1, "said once:\n{err}");
    assert!(went_on[0].contains("none lost"), "{err}");

    // SIGTERM on a frozen disk: the grace, what stays unwritten, then the end once the
    // kernel lets go of the stuck writer (at the thaw).
    disk.freeze();
    m.daemon("node2").kill_hard();
    wait_for("node1 to say node2 is offline", DEADLINE, || {
        (!said(&node1.stderr(), "peer node2 offline").is_empty()).then_some(())
    });
    let term = Instant::now();
    node1.signal(libc::SIGTERM);
    // Its connections close at once, not after the grace.
    let left = wait_for("node3 to see node1 leave", DEADLINE, || {
        let err = m.daemon("node3").stderr();
        (!said(&err, "peer node1: closed by the other side").is_empty()).then(|| term.elapsed())
    });
    println!("node3 saw node1 close {left:?} after SIGTERM");
    assert!(left < GRACE, "{left:?}");
    let lost = wait_for("node1 to say what stays unwritten", DEADLINE, || {
        let err = node1.stderr();
        said(&err, "could not be written")
            .first()
            .map(|l| (l.to_string(), term.elapsed()))
    });
    println!("node1, {:?} after SIGTERM: {}", lost.1, lost.0);
    assert!(
        lost.1 >= GRACE - Duration::from_millis(500) && lost.1 < GRACE + Duration::from_secs(3),
        "the grace: {:?}",
        lost.1
    );
    assert!(lost.0.contains("stalled since"), "{}", lost.0);
    sleep(Duration::from_millis(1_000));
    let stuck = node1.try_exit();
    println!(
        "node1 {:?} after SIGTERM: {}",
        term.elapsed(),
        if stuck.is_none() {
            "still there, its writer held by the frozen disk"
        } else {
            "gone"
        }
    );
    let thaw = Instant::now();
    disk.thaw();
    let status = node1.wait_exit(DEADLINE);
    println!(
        "node1 ended {:?} after the thaw: {status:?}",
        thaw.elapsed()
    );
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", node1.stderr());
    let text = fs::read_to_string(&path).unwrap();
    println!(
        "node1's lines about node2 after the thaw: {:?}",
        peer_counts(&text, "node2")
    );
    validate_log_file(&path, &m.nodes);
    drop(disk);
}
