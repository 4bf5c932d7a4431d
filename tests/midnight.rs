//! UTC midnight with the real binary: the daemon's wall clock is shifted (the
//! `UPTIME_TRACKER_WALL_OFFSET_MS` test hook) to start two seconds before a midnight, with
//! its only peer down. At midnight it must open the new day's file at once, with `---`, the
//! header and the peer's current count, and later events must go to that file.

mod common;

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use uptime_tracker::logline::{self, Line};

const DAY_MS: i64 = 86_400_000;

fn real_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parses a whole file, asserting the strict 0.0.3 grammar first.
fn lines_of(text: &str) -> Vec<Line<'_>> {
    if let Err((line, e)) = logline::check_file(text) {
        panic!("line {line}: {e}\n{text}");
    }
    text.lines()
        .map(|l| logline::parse_line(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[test]
fn midnight_opens_the_new_days_file_with_header_and_carried_counts() {
    let mut m = Mesh::new("midnight", &[IP1, IP2], 200, 300, 3);
    let real = real_now_ms();
    // The day after tomorrow's midnight, minus 2 s: a positive offset whatever the real time.
    let midnight = (real.div_euclid(DAY_MS) + 2) * DAY_MS;
    let offset = (midnight - 2_000 - real).to_string();
    m.start_with_env("node1", &[("UPTIME_TRACKER_WALL_OFFSET_MS", &offset)]);

    let before = m
        .log_dir
        .join(format!("{}-node1.log", logline::day_string(midnight - 1)));
    let after = m
        .log_dir
        .join(format!("{}-node1.log", logline::day_string(midnight)));
    // node2 never started: |1 |2 |3 before midnight, then the new file with the carried 3.
    wait_for("the new day's file with its carried line", DEADLINE, || {
        let text = fs::read_to_string(&after).ok()?;
        (text.lines().count() >= 3).then_some(())
    });

    let old = fs::read_to_string(&before).unwrap();
    let old_lines = lines_of(&old);
    assert!(matches!(old_lines[0], Line::Restart), "{old}");
    let counts: Vec<u32> = old_lines
        .iter()
        .filter_map(|l| match l {
            Line::Event {
                time,
                node,
                timeouts,
            } => {
                assert_eq!(*node, "node2");
                assert!(
                    *time < midnight,
                    "event after midnight in the old file:\n{old}"
                );
                Some(*timeouts)
            }
            _ => None,
        })
        .collect();
    assert_eq!(counts, [1, 2, 3], "{old}");

    let new = fs::read_to_string(&after).unwrap();
    let new_lines = lines_of(&new);
    assert_eq!(new_lines.len(), 3, "{new}");
    assert!(matches!(new_lines[0], Line::Restart), "{new}");
    match &new_lines[1] {
        Line::Header {
            time,
            threshold,
            whoami,
            nodes,
        } => {
            assert!(*time >= midnight && *time < midnight + 5_000, "{new}");
            assert_eq!((*threshold, *whoami, nodes.len()), (3, "node1", 2), "{new}");
        }
        other => panic!("want a header, got {other:?}\n{new}"),
    }
    match new_lines[2] {
        Line::Event {
            time,
            node,
            timeouts,
        } => {
            assert!(time >= midnight, "{new}");
            assert_eq!((node, timeouts), ("node2", 3), "carried count:\n{new}");
        }
        ref other => panic!("want the carried line, got {other:?}\n{new}"),
    }

    // The peer comes up: its recovery goes to the new day's file, and the old one is done.
    m.start("node2");
    wait_for("node2|0 in the new file", DEADLINE, || {
        let text = fs::read_to_string(&after).ok()?;
        text.trim_end().ends_with("|node2|0").then_some(())
    });
    assert_eq!(
        fs::read_to_string(&before).unwrap(),
        old,
        "old day's file changed"
    );
    lines_of(&fs::read_to_string(&after).unwrap());
    m.daemon("node1").terminate_ok();
    m.daemon("node2").terminate_ok();
}
