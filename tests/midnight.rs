//! UTC midnight with the real binary: the daemon's wall clock is shifted (the
//! `UPTIME_TRACKER_WALL_OFFSET_MS` test hook) to start two seconds before a midnight, with
//! its only peer down. At midnight it must open the new day's file at once, with `---`, the
//! header and the peer's current count, and later events must go to that file.
//!
//! Then a wall clock that steps across midnight during a run (the same hook's schedule):
//! two hours forward, then back. The daemon says each step once, with its size, and every
//! line stays in the file of its own day. About 8 s.

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

/// `name`'s lines on stderr that say the wall clock stepped.
fn steps_said(m: &mut Mesh, name: &str) -> Vec<String> {
    m.daemon(name)
        .stderr()
        .lines()
        .filter(|l| l.contains("wall clock stepped"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_clock_step_across_midnight_is_said_once_and_lines_keep_to_their_days() {
    let mut m = Mesh::new("clockstep", &[IP1, IP2], 200, 300, 3);
    let real = real_now_ms();
    // An hour before a midnight at start; two hours on (past that midnight) after 2.5 s;
    // back to the first offset after 5 s.
    let midnight = (real.div_euclid(DAY_MS) + 2) * DAY_MS;
    let before = midnight - 3_600_000 - real;
    let ahead = before + 7_200_000;
    let schedule = format!("{before},{ahead}@2500,{before}@5000");
    m.start_with_env("node1", &[("UPTIME_TRACKER_WALL_OFFSET_MS", &schedule)]);
    let day1 = m
        .log_dir
        .join(format!("{}-node1.log", logline::day_string(midnight - 1)));
    let day2 = m
        .log_dir
        .join(format!("{}-node1.log", logline::day_string(midnight)));
    // node2 down: node1 logs it |1 |2 |3 on the first day, steps to the next (carrying the
    // 3), and back.
    wait_for("both steps said", DEADLINE, || {
        (steps_said(&mut m, "node1").len() >= 2).then_some(())
    });
    m.start("node2");
    wait_for("node2|0 back in the first day's file", DEADLINE, || {
        let text = fs::read_to_string(&day1).ok()?;
        text.trim_end().ends_with("|node2|0").then_some(())
    });
    let said = steps_said(&mut m, "node1");
    for line in &said {
        println!("{line}");
    }
    assert_eq!(said.len(), 2, "once per step: {said:?}");
    assert!(
        said[0].contains("wall clock stepped 2 h 0 min forward")
            && said[0].contains(&format!("in the file of {}", logline::day_string(midnight))),
        "{said:?}"
    );
    assert!(
        said[1].contains("wall clock stepped 2 h 0 min back")
            && said[1].contains(&format!(
                "in the file of {}",
                logline::day_string(midnight - 1)
            )),
        "{said:?}"
    );
    for (path, day) in [(&day1, midnight - 1), (&day2, midnight)] {
        let text = fs::read_to_string(path).unwrap();
        println!("{}:\n{text}", path.display());
        for line in lines_of(&text) {
            let time = match line {
                Line::Header { time, .. } | Line::Event { time, .. } => time,
                Line::Restart => continue,
            };
            assert_eq!(
                logline::day_string(time),
                logline::day_string(day),
                "a line of another day:\n{text}"
            );
        }
    }
    // The second day's file: one run, the carried 3, nothing after it (the clock went back).
    let next = fs::read_to_string(&day2).unwrap();
    let next_lines = lines_of(&next);
    assert_eq!(next_lines.len(), 3, "{next}");
    assert!(
        matches!(
            next_lines[2],
            Line::Event {
                node: "node2",
                timeouts: 3,
                ..
            }
        ),
        "{next}"
    );
    // The first day's file: the start, |1 |2 |3, the return (a new run carrying the 3),
    // then |0.
    let first = fs::read_to_string(&day1).unwrap();
    let counts: Vec<u32> = lines_of(&first)
        .iter()
        .filter_map(|l| match l {
            Line::Event { timeouts, .. } => Some(*timeouts),
            _ => None,
        })
        .collect();
    assert_eq!(counts, [1, 2, 3, 3, 0], "{first}");
    m.daemon("node1").terminate_ok();
    m.daemon("node2").terminate_ok();
}
