//! A log collector that stops reading must not stop the daemon: with stderr a full pipe
//! nobody reads, a node still probes, logs its peer's outage, and stops on SIGTERM; once
//! the pipe is read again, it says how many lines were lost.

mod common;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_stderr_pipe_nobody_reads_does_not_stop_the_daemon() {
    let mut m = Mesh::new("stderr", &[IP1, IP2], 200, 300, 3);
    let mut fds = [0; 2];
    // SAFETY: plain pipe and fcntl calls on descriptors this test owns.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 4096);
        libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK);
        // Fill it: the reader is "stuck" from the start.
        let junk = [b'x'; 512];
        while libc::write(fds[1], junk.as_ptr().cast(), junk.len()) > 0 {}
        // Blocking again, as a collector's pipe is: the daemon must cope by itself.
        libc::fcntl(fds[1], libc::F_SETFL, 0);
    }
    let (mut read_end, write_end) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            OwnedFd::from_raw_fd(fds[1]),
        )
    };
    let config = m.config.to_str().unwrap().to_string();
    let mut node1 = Command::new(BIN)
        .args(["run", "--config", &config, "--whoami", "node1"])
        .current_dir(m.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(write_end))
        .spawn()
        .expect("spawn node1");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let guard = Kill(&mut node1);
    m.start("node2");
    m.wait_runs("node1", 1);
    m.wait_runs("node2", 1);
    sleep(Duration::from_millis(800));
    // node2 dies: node1, whose every report is stuck, must still log it.
    m.daemon("node2").kill_hard();
    wait_for("node1 to log node2 offline", DEADLINE, || {
        peer_counts(&m.log("node1"), "node2")
            .ends_with(&[1, 2, 3])
            .then_some(())
    });
    // Drain the pipe: the next report says what was lost. SIGTERM gives one ("stopping").
    let mut buf = vec![0u8; 1 << 16];
    let mut drained = 0;
    // SAFETY: setting O_NONBLOCK on our own read end.
    unsafe { libc::fcntl(fds[0], libc::F_SETFL, libc::O_NONBLOCK) };
    while let Ok(n) = read_end.read(&mut buf) {
        if n == 0 {
            break;
        }
        drained += n;
    }
    assert!(drained >= 4096);
    let pid = guard.0.id();
    send_signal(pid, libc::SIGTERM);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = guard.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "node1 does not stop on SIGTERM"
        );
        sleep(POLL);
    };
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    let _ = read_end.read_to_string(&mut rest);
    assert!(
        rest.contains("earlier lines lost: stderr was not being read") && rest.contains("stopping"),
        "{rest}"
    );
    drop(guard);
    m.validate_logs();
}
