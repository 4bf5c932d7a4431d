//! `uptime-tracker report` and `demo` with the real binary.
//!
//! Hand-made logs whose figures are computed by hand in each test (a blip, an outage
//! across midnight, a restart gap, a missing day, observers disagreeing, an isolated
//! observer, malformed lines named by file:line), the output formats (CSV read back, JSON
//! and SVG checked for well-formedness by small checkers below), exit statuses, and the
//! demo: it must run, report exactly one outage incident, for the node it stopped, and
//! leave no process behind.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const NODES: &str = "a:127.0.0.1:47001!b:127.0.0.2:47002!c:127.0.0.3:47003";

/// `---` and a header of `whoami` (threshold 3, nodes a, b, c) at `time`.
fn start(time: &str, whoami: &str) -> String {
    format!("---\n0.0.3|{time}|3|{whoami}|{NODES}\n")
}

/// `<time>|<node>|<count>` lines from `(time, node, count)`.
fn events(list: &[(&str, &str, u32)]) -> String {
    list.iter()
        .map(|(t, n, c)| format!("{t}|{n}|{c}\n"))
        .collect()
}

fn write_log(dir: &Path, date: &str, whoami: &str, text: &str) -> String {
    let path = dir.join(format!("{date}-{whoami}.log"));
    fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// One CSV row as column name -> value.
type Row = BTreeMap<String, String>;

/// Runs `report --format csv ARGS` and reads the table back (names here need no quoting).
fn report_csv(args: &[&str], cwd: &Path) -> (Option<i32>, Vec<Row>, String) {
    let mut all = vec!["report", "--format", "csv"];
    all.extend_from_slice(args);
    let out = run_cli(&all, cwd);
    let mut lines = out.stdout.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), header.len(), "ragged CSV row {l:?}");
            header
                .iter()
                .cloned()
                .zip(cells.iter().map(|c| c.to_string()))
                .collect()
        })
        .collect();
    (out.code, rows, out.stderr)
}

fn rows<'a>(all: &'a [Row], record: &str) -> Vec<&'a Row> {
    all.iter().filter(|r| r["record"] == record).collect()
}

fn pair<'a>(all: &'a [Row], observer: &str, peer: &str) -> &'a Row {
    all.iter()
        .find(|r| r["record"] == "pair" && r["observer"] == observer && r["peer"] == peer)
        .unwrap_or_else(|| panic!("no pair row {observer} -> {peer} in {all:#?}"))
}

fn num(row: &Row, col: &str) -> i64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} of {row:?} is not a number"))
}

#[test]
fn a_blip_is_counted_and_costs_no_uptime() {
    let dir = TempDir::new("rep-blip");
    let text = start("2026-11-23T10:00:00.000Z", "a")
        + &events(&[
            ("2026-11-23T10:10:00.000Z", "b", 1),
            ("2026-11-23T10:10:01.000Z", "b", 2),
            ("2026-11-23T10:10:02.000Z", "b", 0),
        ]);
    write_log(dir.path(), "2026-11-23", "a", &text);
    let (code, all, stderr) = report_csv(
        &[
            "--since",
            "2026-11-23T10:00",
            "--until",
            "2026-11-23T11:00",
            ".",
        ],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let ab = pair(&all, "a", "b");
    // Known from the header (10:00, the window's start) to the window's end (11:00): the
    // file is of the window's last day, so the observer counts as running up to its end.
    assert_eq!(num(ab, "known_ms"), 3_600_000);
    assert_eq!(num(ab, "unknown_ms"), 0);
    assert_eq!(num(ab, "down_ms"), 0);
    assert_eq!(ab["uptime_pct"], "100.000");
    assert_eq!((num(ab, "outages"), num(ab, "blips")), (0, 1));
    assert_eq!(ab["longest_ms"], "");
    let ac = pair(&all, "a", "c");
    assert_eq!((num(ac, "outages"), num(ac, "blips")), (0, 0));
    assert!(rows(&all, "outage").is_empty() && rows(&all, "incident").is_empty());
}

#[test]
fn an_outage_across_midnight_is_one_outage() {
    let dir = TempDir::new("rep-midnight");
    let day1 = start("2026-11-23T00:00:00.000Z", "a")
        + &events(&[
            ("2026-11-23T23:50:00.000Z", "b", 1),
            ("2026-11-23T23:50:01.000Z", "b", 2),
            ("2026-11-23T23:50:02.000Z", "b", 3),
        ]);
    // The midnight switch: header and b's carried count at the same time, then recovery.
    let day2 = start("2026-11-24T00:00:00.004Z", "a")
        + &events(&[
            ("2026-11-24T00:00:00.004Z", "b", 3),
            ("2026-11-24T00:20:00.000Z", "b", 0),
        ]);
    write_log(dir.path(), "2026-11-23", "a", &day1);
    write_log(dir.path(), "2026-11-24", "a", &day2);
    let (code, all, stderr) = report_csv(
        &[
            "--since",
            "2026-11-23T23:00",
            "--until",
            "2026-11-24T01:00Z",
            ".",
        ],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let ab = pair(&all, "a", "b");
    // Window 2 h, all known; down from the |1 at 23:50:00 to the |0 at 00:20:00: 30 min.
    assert_eq!(num(ab, "known_ms"), 7_200_000);
    assert_eq!(num(ab, "down_ms"), 1_800_000);
    assert_eq!(ab["uptime_pct"], "75.000");
    assert_eq!(num(ab, "outages"), 1);
    assert_eq!(
        (num(ab, "longest_ms"), num(ab, "mttr_ms")),
        (1_800_000, 1_800_000)
    );
    let outages = rows(&all, "outage");
    assert_eq!(outages.len(), 1, "{outages:#?}");
    assert_eq!(outages[0]["start"], "2026-11-23T23:50:00.000Z");
    assert_eq!(outages[0]["end"], "2026-11-24T00:20:00.000Z");
    assert_eq!(outages[0]["end_kind"], "recovered");
    assert_eq!(pair(&all, "a", "c")["uptime_pct"], "100.000");
}

#[test]
fn a_restart_leaves_the_time_before_it_unknown() {
    let dir = TempDir::new("rep-restart");
    let text = start("2026-11-23T10:00:00.000Z", "a")
        + &events(&[
            ("2026-11-23T10:30:00.000Z", "c", 1),
            ("2026-11-23T10:30:01.000Z", "c", 0),
        ])
        + &start("2026-11-23T11:00:00.000Z", "a")
        + &events(&[
            ("2026-11-23T11:10:00.000Z", "c", 1),
            ("2026-11-23T11:10:01.000Z", "c", 2),
            ("2026-11-23T11:10:02.000Z", "c", 3),
            ("2026-11-23T11:20:00.000Z", "c", 0),
        ]);
    write_log(dir.path(), "2026-11-23", "a", &text);
    let (code, all, stderr) = report_csv(
        &[
            "--since",
            "2026-11-23T10:00",
            "--until",
            "2026-11-23T12:00",
            ".",
        ],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let ac = pair(&all, "a", "c");
    // Unknown: from the last line before the restart (10:30:01) to its header (11:00).
    let unknown = 30 * 60_000 - 1_000;
    assert_eq!(num(ac, "unknown_ms"), unknown);
    let known = 7_200_000 - unknown;
    assert_eq!(num(ac, "known_ms"), known);
    assert_eq!(num(ac, "down_ms"), 600_000);
    // (5 401 000 - 600 000) / 5 401 000 = 88.8909...%, floored to 3 decimals.
    assert_eq!(ac["uptime_pct"], "88.890");
    assert_eq!((num(ac, "outages"), num(ac, "blips")), (1, 1));
    let ab = pair(&all, "a", "b");
    assert_eq!((num(ab, "known_ms"), num(ab, "down_ms")), (known, 0));

    // The text report says over how much known time, and lists the unknown stretch.
    let out = run_cli(
        &[
            "report",
            "--since",
            "2026-11-23T10:00",
            "--until",
            "2026-11-23T12:00",
            ".",
        ],
        dir.path(),
    );
    assert_eq!(out.code, Some(0));
    assert!(
        out.stdout
            .contains("up 88.890% of 1 h 30 min known (unknown 29 min 59 s)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("a  29 min 59 s: 2026-11-23T10:30:01.000Z .. 2026-11-23T11:00:00.000Z"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_day_without_a_file_is_unknown() {
    let dir = TempDir::new("rep-missing-day");
    let day1 = start("2026-11-23T00:00:00.000Z", "a")
        + &events(&[
            ("2026-11-23T12:00:00.000Z", "b", 1),
            ("2026-11-23T12:00:01.000Z", "b", 0),
        ]);
    // No file for the 24th; the 25th starts at midnight (not a continuation: no file for
    // the day before).
    let day3 = start("2026-11-25T00:00:00.003Z", "a");
    write_log(dir.path(), "2026-11-23", "a", &day1);
    write_log(dir.path(), "2026-11-25", "a", &day3);
    let (code, all, stderr) = report_csv(
        &["--since", "2026-11-23", "--until", "2026-11-26", "."],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let ab = pair(&all, "a", "b");
    // Known: the 23rd up to its last line (12:00:01), and the 25th from its header to the
    // window's end (midnight ending the 25th).
    let known = 43_201_000 + (86_400_000 - 3);
    assert_eq!(num(ab, "known_ms"), known);
    assert_eq!(num(ab, "unknown_ms"), 3 * 86_400_000 - known);
    assert_eq!(ab["uptime_pct"], "100.000");
    assert_eq!(num(ab, "blips"), 1);
}

/// a saw c down for 5 minutes; b, running all along, did not; c itself was running.
fn disagreeing_logs(dir: &Path) {
    let a = start("2026-11-23T10:00:00.000Z", "a")
        + &events(&[
            ("2026-11-23T10:20:00.000Z", "c", 1),
            ("2026-11-23T10:20:01.000Z", "c", 2),
            ("2026-11-23T10:20:02.000Z", "c", 3),
            ("2026-11-23T10:25:00.000Z", "c", 0),
        ]);
    write_log(dir, "2026-11-23", "a", &a);
    write_log(
        dir,
        "2026-11-23",
        "b",
        &start("2026-11-23T10:00:00.500Z", "b"),
    );
    write_log(
        dir,
        "2026-11-23",
        "c",
        &start("2026-11-23T10:00:00.200Z", "c"),
    );
}

#[test]
fn two_observers_disagreeing_is_a_partial_incident() {
    let dir = TempDir::new("rep-disagree");
    disagreeing_logs(dir.path());
    let (code, all, stderr) = report_csv(
        &[
            "--since",
            "2026-11-23T10:00",
            "--until",
            "2026-11-23T11:00",
            ".",
        ],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let ac = pair(&all, "a", "c");
    assert_eq!(
        (num(ac, "known_ms"), num(ac, "down_ms")),
        (3_600_000, 300_000)
    );
    assert_eq!(ac["uptime_pct"], "91.666");
    let bc = pair(&all, "b", "c");
    // b started half a second into the window.
    assert_eq!((num(bc, "known_ms"), num(bc, "down_ms")), (3_599_500, 0));
    assert_eq!(bc["uptime_pct"], "100.000");
    let incidents = rows(&all, "incident");
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let i = incidents[0];
    assert_eq!(
        (
            i["peer"].as_str(),
            i["verdict"].as_str(),
            i["seen_by"].as_str(),
            i["not_seen_by"].as_str()
        ),
        ("c", "partial", "a", "b")
    );
    assert_eq!(num(i, "duration_ms"), 300_000);

    let out = run_cli(&["report", "."], dir.path());
    assert!(
        out.stdout.contains("partial: seen by a; not by b"),
        "{}",
        out.stdout
    );
    // The matrix: a saw c down once; nobody else saw anything.
    assert!(
        out.stdout.contains("  a      -      .      1\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  b      .      -      .\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn observers_that_all_saw_it_make_node_down_and_one_seeing_all_down_is_isolated() {
    let dir = TempDir::new("rep-verdicts");
    // 10:20-10:25 c is down for a and b (b's clock 2 s late): node down.
    // 10:40-10:45 a sees b and c down, b and c see a down: a was isolated.
    let a = start("2026-11-23T10:00:00.000Z", "a")
        + &events(&[
            ("2026-11-23T10:20:00.000Z", "c", 1),
            ("2026-11-23T10:20:01.000Z", "c", 2),
            ("2026-11-23T10:20:02.000Z", "c", 3),
            ("2026-11-23T10:25:00.000Z", "c", 0),
            ("2026-11-23T10:40:00.000Z", "b", 1),
            ("2026-11-23T10:40:00.100Z", "c", 1),
            ("2026-11-23T10:40:01.000Z", "b", 2),
            ("2026-11-23T10:40:01.100Z", "c", 2),
            ("2026-11-23T10:40:02.000Z", "b", 3),
            ("2026-11-23T10:40:02.100Z", "c", 3),
            ("2026-11-23T10:45:00.000Z", "b", 0),
            ("2026-11-23T10:45:00.100Z", "c", 0),
        ]);
    let b = start("2026-11-23T10:00:00.000Z", "b")
        + &events(&[
            ("2026-11-23T10:20:02.000Z", "c", 1),
            ("2026-11-23T10:20:03.000Z", "c", 2),
            ("2026-11-23T10:20:04.000Z", "c", 3),
            ("2026-11-23T10:25:02.000Z", "c", 0),
            ("2026-11-23T10:40:00.500Z", "a", 1),
            ("2026-11-23T10:40:01.500Z", "a", 2),
            ("2026-11-23T10:40:02.500Z", "a", 3),
            ("2026-11-23T10:45:00.500Z", "a", 0),
        ]);
    let c = start("2026-11-23T10:00:00.000Z", "c")
        + &events(&[
            ("2026-11-23T10:40:00.700Z", "a", 1),
            ("2026-11-23T10:40:01.700Z", "a", 2),
            ("2026-11-23T10:40:02.700Z", "a", 3),
            ("2026-11-23T10:45:00.700Z", "a", 0),
        ]);
    // c's log has a gap while it was down (restart at 10:25:30).
    let c = c.replace(
        "2026-11-23T10:40:00.700Z|a|1\n",
        &format!(
            "{}2026-11-23T10:40:00.700Z|a|1\n",
            start("2026-11-23T10:25:30.000Z", "c")
        ),
    );
    for (who, text) in [("a", &a), ("b", &b), ("c", &c)] {
        write_log(dir.path(), "2026-11-23", who, text);
    }
    let (code, all, stderr) = report_csv(
        &[
            "--since",
            "2026-11-23T10:00",
            "--until",
            "2026-11-23T11:00",
            ".",
        ],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let got: Vec<(String, String, String, String)> = rows(&all, "incident")
        .iter()
        .map(|i| {
            (
                i["peer"].clone(),
                i["verdict"].clone(),
                i["isolated_observer"].clone(),
                i["seen_by"].clone(),
            )
        })
        .collect();
    let row = |p: &str, v: &str, iso: &str, seen: &str| {
        (
            p.to_string(),
            v.to_string(),
            iso.to_string(),
            seen.to_string(),
        )
    };
    assert_eq!(
        got,
        vec![
            // c was not running (its log stops at its header, restarts at 10:25:30).
            row("c", "node_down", "", "a b"),
            // By start: a's outage of b (10:40:00.0), of c (.1), then b's and c's of a.
            row("b", "observer_isolated", "a", "a"),
            row("c", "observer_isolated", "a", "a"),
            row("a", "observer_isolated", "a", "b c"),
        ]
    );
    // The node-down incident spans both observers' views: 10:20:00 (a) to 10:25:02 (b).
    let first = rows(&all, "incident")[0];
    assert_eq!(first["start"], "2026-11-23T10:20:00.000Z");
    assert_eq!(first["end"], "2026-11-23T10:25:02.000Z");
    // A tolerance below b's 2 s lag still joins them: the outages overlap anyway.
    let (_, strict, _) = report_csv(&["--tolerance", "0", "."], dir.path());
    assert_eq!(rows(&strict, "incident").len(), 4);
}

#[test]
fn malformed_lines_are_named_by_file_and_line_and_the_rest_is_reported() {
    let dir = TempDir::new("rep-malformed");
    let text = start("2026-11-23T10:00:00.000Z", "a")
        + "2026-11-23T10:10:00.000Z|b|1\n"
        + "2026-11-23T25:00:00.000Z|b|2\n" // line 4: hour 25
        + "2026-11-23T10:10:02.000Z|b|0\n"
        + "2026-11-23T10:20:00.000Z|b|4\n" // line 6: above the threshold 3
        + "2026-11-23T10:20:00.000Z|zed|1\n" // line 7: not in the header
        + "2026-11-24T10:20:00.000Z|c|1\n" // line 8: not on the file's day
        + "2026-11-23T10:30:00.000Z|c|1"; // line 9: no final newline (cut)
    let path = write_log(dir.path(), "2026-11-23", "a", &text);
    let (code, all, stderr) = report_csv(
        &[
            "--since",
            "2026-11-23T10:00",
            "--until",
            "2026-11-23T11:00",
            &path,
        ],
        dir.path(),
    );
    assert_eq!(code, Some(1), "problems in the input: exit 1\n{stderr}");
    for (line, reason) in [
        (4, "bad timestamp: time of day out of range"),
        (
            6,
            "the event's timeouts count is above the header's threshold",
        ),
        (7, "the event's node is not in the header's node list"),
        (8, "the time is not on the file's day 2026-11-23"),
        (9, "the last line is not ended by \"\\n\""),
    ] {
        let expected = format!("{path}:{line}: {reason}");
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert_eq!(stderr.lines().count(), 5, "{stderr}");
    // The good lines still count: b's run 1 -> 0 is a blip; nothing else happened.
    let ab = pair(&all, "a", "b");
    assert_eq!((num(ab, "blips"), num(ab, "outages")), (1, 0));
    assert_eq!(num(ab, "known_ms"), 3_600_000);
    assert_eq!(num(pair(&all, "a", "c"), "blips"), 0);
    // The text report says so too.
    let out = run_cli(&["report", &path], dir.path());
    assert_eq!(out.code, Some(1));
    assert!(
        out.stdout.contains("5 problem(s) in the input"),
        "{}",
        out.stdout
    );
}

#[test]
fn exit_statuses_for_usage_and_missing_input() {
    let dir = TempDir::new("rep-exit");
    let out = run_cli(&["report"], dir.path());
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("no PATH given"), "{}", out.stderr);
    let out = run_cli(&["report", "--format", "xml", "."], dir.path());
    assert_eq!(out.code, Some(2));
    let out = run_cli(&["report", "--since", "tomorrow", "."], dir.path());
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("bad time \"tomorrow\""),
        "{}",
        out.stderr
    );
    let out = run_cli(&["report", "."], dir.path());
    assert_eq!(out.code, Some(3), "an empty folder: {}", out.stderr);
    assert!(out.stderr.contains("no log file"), "{}", out.stderr);
    // An empty log file (created, then a crash before the header) is a problem; the
    // other files are still reported.
    write_log(dir.path(), "2026-11-22", "a", "");
    write_log(
        dir.path(),
        "2026-11-23",
        "a",
        &start("2026-11-23T10:00:00.000Z", "a"),
    );
    let out = run_cli(&["report", "--until", "2026-11-23T11:00", "."], dir.path());
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(
        out.stderr.trim_end(),
        "./2026-11-22-a.log: empty file (no \"---\" and header)"
    );
    assert!(
        out.stdout.contains("by a  up 100.000% of 1 h 00 min known"),
        "{}",
        out.stdout
    );
    let out = run_cli(&["report", "--help"], dir.path());
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.contains("--tolerance MS"));
    let out = run_cli(&["--help"], dir.path());
    assert!(
        out.stdout.contains("uptime-tracker report") && out.stdout.contains("uptime-tracker demo"),
        "{}",
        out.stdout
    );
}

#[test]
fn json_is_well_formed_and_carries_the_figures() {
    let dir = TempDir::new("rep-json");
    disagreeing_logs(dir.path());
    let out = run_cli(
        &[
            "report",
            "--format",
            "json",
            "--since",
            "2026-11-23T10:00",
            "--until",
            "2026-11-23T11:00",
            ".",
        ],
        dir.path(),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    json::check(&out.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{}", out.stdout));
    for needle in [
        "\"window\": {\"since\": \"2026-11-23T10:00:00.000Z\", \"until\": \"2026-11-23T11:00:00.000Z\", \"ms\": 3600000, \"until_rule\": \"given\"}",
        "\"observer\": \"a\", \"peer\": \"c\", \"known_ms\": 3600000, \"unknown_ms\": 0, \"up_ms\": 3300000, \"down_ms\": 300000, \"uptime_pct\": 91.666",
        "\"verdict\": \"partial\", \"isolated_observer\": null, \"seen_by\": [\"a\"], \"not_seen_by\": [\"b\"]",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle}\n{}",
            out.stdout
        );
    }
}

#[test]
fn svg_is_well_formed_with_one_row_per_observed_node() {
    let dir = TempDir::new("rep-svg");
    disagreeing_logs(dir.path());
    let svg = dir.path().join("out.svg");
    let out = run_cli(&["report", "--svg", svg.to_str().unwrap(), "."], dir.path());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = fs::read_to_string(&svg).unwrap();
    let doc = xml::check(&text).unwrap_or_else(|e| panic!("bad XML ({e}):\n{text}"));
    assert_eq!(doc.root, "svg");
    assert_eq!(doc.rows, ["a", "b", "c"], "one row per observed node");
    // c's row shows the partial incident (orange) labelled with its duration.
    assert!(text.contains("fill=\"#fb8c00\""), "{text}");
    assert!(text.contains(">5 min<title>"), "{text}");
}

#[test]
fn svg_of_90_days_stays_small_and_shows_every_outage() {
    let dir = TempDir::new("rep-svg90");
    let first_day = 20_415; // 2025-11-23
    for d in 0..90 {
        let date = uptime_tracker::logline::day_string(d64(first_day + d));
        let mut text = start(&format!("{date}T00:00:00.002Z"), "a");
        if d % 10 == 3 {
            // A 30 s outage of b every ten days.
            text += &events(&[
                (&format!("{date}T12:00:00.000Z"), "b", 1),
                (&format!("{date}T12:00:01.000Z"), "b", 2),
                (&format!("{date}T12:00:02.000Z"), "b", 3),
                (&format!("{date}T12:00:30.000Z"), "b", 0),
            ]);
        }
        write_log(dir.path(), &date, "a", &text);
    }
    let svg = dir.path().join("out.svg");
    let out = run_cli(&["report", "--svg", svg.to_str().unwrap(), "."], dir.path());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = fs::read_to_string(&svg).unwrap();
    let doc = xml::check(&text).unwrap_or_else(|e| panic!("bad XML ({e})"));
    assert_eq!(doc.rows, ["b", "c"]);
    // Every 30 s outage is still at least one red pixel column at 90 days.
    let red = text.matches("fill=\"#e53935\"").count();
    assert_eq!(red, 9 + 1, "9 outages + the legend");
    assert!(text.len() < 40_000, "{} bytes", text.len());
    // Ticks are dates at this scale.
    assert!(text.contains(">2025-12-04</text>"), "{text}");
}

fn d64(day: i64) -> i64 {
    day * 86_400_000
}

#[test]
fn demo_runs_and_reports_exactly_one_outage_for_the_stopped_node() {
    let scratch = TempDir::new("rep-demo");
    let keep = scratch.path().join("kept");
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(["demo", "--keep", keep.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain both pipes in threads, and kill the demo if it hangs.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).ok();
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("demo still running after 90 s");
        }
        std::thread::sleep(POLL);
    };
    let elapsed = started.elapsed();
    let (out, err) = (out_thread.join().unwrap(), err_thread.join().unwrap());
    eprintln!("demo took {elapsed:?}");
    assert_eq!(status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("node3 is OFFLINE"), "{out}");
    assert!(out.contains("node3 is back online"), "{out}");
    assert!(
        out.contains("node down: seen by node1, node2"),
        "the report printed by the demo:\n{out}"
    );

    // No node left behind: no process runs with one of the demo's config files.
    let configs: Vec<String> = (1..=3)
        .map(|i| {
            keep.join(format!("node{i}.toml"))
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        for c in &configs {
            assert!(!cmdline.contains(c.as_str()), "left running: {cmdline}");
        }
    }

    // The logs, read again: exactly one incident, node3 down, seen by both others.
    let logs = keep.join("logs");
    let (code, all, stderr) = report_csv(&[logs.to_str().unwrap()], scratch.path());
    assert_eq!(code, Some(0), "{stderr}");
    let incidents = rows(&all, "incident");
    assert_eq!(incidents.len(), 1, "{incidents:#?}\n{out}");
    assert_eq!(
        (
            incidents[0]["peer"].as_str(),
            incidents[0]["verdict"].as_str(),
            incidents[0]["seen_by"].as_str()
        ),
        ("node3", "node_down", "node1 node2")
    );
    // Down about as long as it was stopped (5 s), give or take detection and restart.
    let down = num(incidents[0], "duration_ms");
    assert!((4_000..9_000).contains(&down), "{down} ms");
    let outages = rows(&all, "outage");
    assert_eq!(outages.len(), 2, "{outages:#?}");
    assert!(outages.iter().all(|o| o["peer"] == "node3"));

    // The picture: well-formed, one row per node.
    let text = fs::read_to_string(keep.join("report.svg")).unwrap();
    let doc = xml::check(&text).unwrap_or_else(|e| panic!("bad XML ({e})"));
    assert_eq!(doc.rows, ["node1", "node2", "node3"]);
    assert!(keep.join("report.txt").exists());

    // Read again without --until: the files are of today, so the window runs to now,
    // and node3, back before the mesh stopped, ends its row up (green), not down.
    let svg = scratch.path().join("again.svg");
    let again = run_cli(
        &[
            "report",
            "--svg",
            svg.to_str().unwrap(),
            logs.to_str().unwrap(),
        ],
        scratch.path(),
    );
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(
        again
            .stdout
            .contains(", to now: the newest file is of today)")
            || again
                .stdout
                .contains(", to the end of the newest file's day"),
        "{}",
        again.stdout
    );
    let text = fs::read_to_string(&svg).unwrap();
    let row = text
        .split("data-node=\"node3\"")
        .nth(1)
        .and_then(|r| r.split("</g>").next())
        .unwrap();
    let last_fill = row
        .rsplit("<rect ")
        .next()
        .and_then(|r| r.split("fill=\"").nth(1))
        .unwrap();
    assert!(
        last_fill.starts_with("#43a047"),
        "node3's row ends {last_fill}:\n{row}"
    );
    assert!(row.contains("#e53935"), "the outage is still drawn:\n{row}");
}

/// `---` and a header of `whoami` at Unix ms `t`, in the file of its day in `dir`
/// (appended).
fn start_at(dir: &Path, whoami: &str, t: i64) {
    let mut stamp = String::new();
    uptime_tracker::logline::write_timestamp(&mut stamp, t);
    let path = dir.join(format!("{}-{whoami}.log", &stamp[..10]));
    let mut text = fs::read_to_string(&path).unwrap_or_default();
    text += &start(&stamp, whoami);
    fs::write(path, text).unwrap();
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn the_default_window_ends_now_for_todays_files_and_at_midnight_otherwise() {
    let day = 86_400_000;
    let now = now_ms();
    let midnight = now - now.rem_euclid(day);
    // a started today (an hour ago, or just after midnight): the window runs to now.
    let dir = TempDir::new("rep-window-now");
    start_at(dir.path(), "a", (now - 3_600_000).max(midnight + 1));
    let out = run_cli(&["report", "--format", "json", "."], dir.path());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("\"until_rule\": \"now\""),
        "{}",
        out.stdout
    );
    let until = out.stdout.split("\"until\": \"").nth(1).unwrap();
    let until = uptime_tracker::logline::parse_timestamp(&until[..24]).unwrap();
    assert!((now..now + 60_000).contains(&until), "{until} vs {now}");
    // b, whose only run is stamped two hours after this machine's clock, has its clock
    // ahead by at least that: named and left out; the window still ends now.
    start_at(dir.path(), "b", now + 7_200_000);
    let out = run_cli(&["report", "."], dir.path());
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("b's clock was at least 1 h 59 min ahead of the other observers' (its lines are stamped after this machine's clock, other logs' are not)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout
            .contains(", to now: the newest file is of today)"),
        "{}",
        out.stdout
    );
    // With every log in the future it is this machine's clock that is behind: said, and
    // nothing is left out.
    fs::remove_dir_all(dir.path()).unwrap();
    fs::create_dir(dir.path()).unwrap();
    start_at(dir.path(), "b", now + 7_200_000);
    let out = run_cli(&["report", "."], dir.path());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("ahead of this machine's clock"),
        "{}",
        out.stdout
    );
    // A file of an earlier day: the window ends at the end of that day.
    let dir = TempDir::new("rep-window-day");
    start_at(dir.path(), "a", midnight - day + 3_600_000);
    let out = run_cli(&["report", "--format", "json", "."], dir.path());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut end = String::new();
    uptime_tracker::logline::write_timestamp(&mut end, midnight);
    assert!(
        out.stdout.contains(&format!("\"until\": \"{end}\""))
            && out.stdout.contains("\"until_rule\": \"end_of_day\""),
        "{}",
        out.stdout
    );
}

/// The fixtures of tests/fixtures/report (made by make.sh there from real runs of a
/// 5-node mesh on loopback: interval 500 ms, timeout 500 ms, threshold 3).
fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/report/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Every outage row lasts more than nothing, and no incident is shorter than its down
/// time.
fn no_zero_length(all: &[Row]) {
    for o in rows(all, "outage") {
        assert!(num(o, "duration_ms") > 0, "zero-length outage {o:?}");
    }
    for i in rows(all, "incident") {
        let (span, down) = (num(i, "duration_ms"), num(i, "down_ms"));
        assert!(down > 0 && down <= span, "incident {i:?}");
    }
}

#[test]
fn a_crash_loop_stays_one_outage_and_one_incident_per_crash() {
    // node3 crashed 17 times in about 64 s; node1, 2, 4 and 5 logged every outage. The
    // 5 s tolerance must not join them: each observer logged node3 back in between.
    let dir = TempDir::new("rep-crash-loop");
    let (code, all, stderr) = report_csv(&[&fixture("crash-loop")], dir.path());
    assert_eq!(code, Some(0), "{stderr}");
    no_zero_length(&all);
    for observer in ["node1", "node2", "node4", "node5"] {
        let p = pair(&all, observer, "node3");
        assert_eq!(num(p, "outages"), 17, "{p:?}");
    }
    let incidents = rows(&all, "incident");
    assert_eq!(incidents.len(), 17, "{incidents:#?}");
    let mut down_in_all = 0;
    for i in &incidents {
        assert_eq!(
            (
                i["peer"].as_str(),
                i["verdict"].as_str(),
                i["seen_by"].as_str()
            ),
            ("node3", "node_down", "node1 node2 node4 node5"),
            "{i:?}"
        );
        // Each crash: node3 down about 1.8 s, logged 1.5 to 2.1 s by each observer.
        let span = num(i, "duration_ms");
        assert!((1_000..3_000).contains(&span), "{i:?}");
        down_in_all += num(i, "down_ms");
    }
    assert!((25_000..40_000).contains(&down_in_all), "{down_in_all} ms");
    // In order, each after the one before.
    for w in incidents.windows(2) {
        assert!(w[0]["end"] < w[1]["start"], "{w:?}");
    }
    // No clock problem in a healthy mesh whose observers see the same crashes: the runs
    // of node1, 2, 4, 5 and node3's 17 restarts agree; node3's first run has nothing to
    // compare (nobody saw it start).
    let out = run_cli(&["report", &fixture("crash-loop")], dir.path());
    assert!(
        out.stdout.contains(
            "clocks     21 run(s) agree with the other observers', 1 without evidence either way\n"
        ),
        "{}",
        out.stdout
    );
}

/// The trial of issue 18 on `fixture`: node2 restarted with its clock two hours `dir`
/// (ahead or behind); while it ran so, node3 crashed five times and node4 once.
fn skewed_observer(name: &str, dir_word: &str, first: &str, last: &str) {
    let dir = TempDir::new(&format!("rep-{name}"));
    let path = fixture(name);
    let (code, all, stderr) = report_csv(&[&path], dir.path());
    assert_eq!(code, Some(1), "a clock problem is a problem: {stderr}");
    // Named on stderr: the file, its lines, the observer, the size of the skew.
    let expected = format!(
        "{path}/2026-11-24-node2.log:4-28: node2's clock was about 2 h 00 min {dir_word} the other observers' (7 of its 7 outages and restarts line up with node1, node3, node4, node5's at that offset, none at its own time); this run, {first} .. {last} by its clock, is left out"
    );
    assert_eq!(stderr.trim_end(), expected);
    // The window comes from the observers that agree: the day of the run, not two
    // hours on.
    let p = pair(&all, "node1", "node3");
    assert_eq!(
        p["start"],
        "2026-11-24T10:00:00.013Z".replace(".013", &p["start"][19..23])
    );
    assert_eq!(p["end"], "2026-11-25T00:00:00.000Z");
    // No phantom: every incident is seen by the three observers that ran, with node2's
    // own restart the only one all four others saw.
    no_zero_length(&all);
    let incidents = rows(&all, "incident");
    let got: Vec<(&str, &str, &str)> = incidents
        .iter()
        .map(|i| {
            (
                i["peer"].as_str(),
                i["verdict"].as_str(),
                i["seen_by"].as_str(),
            )
        })
        .collect();
    let mut want = vec![("node2", "node_down", "node1 node3 node4 node5")];
    want.extend([("node3", "node_down", "node1 node4 node5"); 5]);
    want.push(("node4", "node_down", "node1 node3 node5"));
    assert_eq!(got, want);
    assert!(
        incidents
            .iter()
            .all(|i| i["start"].starts_with("2026-11-24T10:00:"))
    );
    // node2's stretch is unknown, not up, and it is named in the CSV.
    let n2 = pair(&all, "node2", "node3");
    assert_eq!((num(n2, "outages"), n2["uptime_pct"].as_str()), (0, ""));
    let clock = rows(&all, "clock");
    assert_eq!(clock.len(), 1);
    assert_eq!(
        (
            clock[0]["observer"].as_str(),
            clock[0]["start"].as_str(),
            clock[0]["end_kind"].as_str()
        ),
        ("node2", first, "skewed")
    );
    let skew = num(clock[0], "duration_ms");
    let sign = if dir_word == "ahead of" { 1 } else { -1 };
    assert!((sign * skew - 7_200_000).abs() < 1_000, "{skew}");
}

#[test]
fn an_observer_two_hours_ahead_is_named_and_left_out() {
    skewed_observer(
        "ahead",
        "ahead of",
        "2026-11-24T12:00:07.034Z",
        "2026-11-24T12:00:34.286Z",
    );
}

#[test]
fn an_observer_two_hours_behind_is_named_and_left_out() {
    skewed_observer(
        "behind",
        "behind",
        "2026-11-24T08:00:07.019Z",
        "2026-11-24T08:00:34.271Z",
    );
}

#[test]
fn a_skew_across_midnight_makes_no_next_day_and_no_phantom() {
    // At 22:59 node2 restarted two hours ahead (into a file of the 25th), node3 crashed
    // five times; then node2 restarted two hours behind (back into its file of the 24th,
    // after its own later-stamped lines) and node4 crashed twice.
    let dir = TempDir::new("rep-midnight-skew");
    let path = fixture("midnight");
    let (code, all, stderr) = report_csv(&[&path], dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    let problems: Vec<&str> = stderr.lines().collect();
    assert_eq!(problems.len(), 2, "{stderr}");
    assert!(
        problems[0].starts_with(&format!(
            "{path}/2026-11-24-node2.log:4-13: node2's clock was about 2 h 00 min behind"
        )),
        "{stderr}"
    );
    assert!(
        problems[1].starts_with(&format!(
            "{path}/2026-11-25-node2.log:2-22: node2's clock was about 2 h 00 min ahead of"
        )),
        "{stderr}"
    );
    // The window ends with the 24th: nothing of the 25th, no incident there.
    assert_eq!(
        pair(&all, "node1", "node3")["end"],
        "2026-11-25T00:00:00.000Z"
    );
    no_zero_length(&all);
    let incidents = rows(&all, "incident");
    assert!(
        incidents
            .iter()
            .all(|i| i["start"].starts_with("2026-11-24T22:59:") && i["verdict"] == "node_down"),
        "{incidents:#?}"
    );
    let per_peer = |peer: &str| incidents.iter().filter(|i| i["peer"] == peer).count();
    assert_eq!(
        (per_peer("node2"), per_peer("node3"), per_peer("node4")),
        (2, 5, 2)
    );
    // The text report lists both stretches under "clocks".
    let out = run_cli(&["report", &path], dir.path());
    assert!(
        out.stdout.contains("; 2 left out (also on stderr):\n             node2 2026-11-24-node2.log:4-13: was about 2 h 00 min behind"),
        "{}",
        out.stdout
    );
    // With the window given, the same.
    let (code, all, _) = report_csv(
        &[
            "--since",
            "2026-11-24T22:00",
            "--until",
            "2026-11-25T02:00",
            &path,
        ],
        dir.path(),
    );
    assert_eq!(code, Some(1));
    assert!(
        rows(&all, "incident")
            .iter()
            .all(|i| i["start"].starts_with("2026-11-24T22:59:"))
    );
}

/// A small XML well-formedness checker: one root element, properly nested and closed
/// tags, quoted attributes without `<`, no duplicate attribute, known entities only, no
/// stray `<` or `&` in text. Also collects the `data-node` of `<g class="row">` elements.
mod xml {
    pub struct Doc {
        pub root: String,
        pub rows: Vec<String>,
    }

    fn is_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
    }

    fn check_text(t: &str) -> Result<(), String> {
        if t.contains('<') {
            return Err(format!("'<' in text {t:?}"));
        }
        let mut rest = t;
        while let Some(i) = rest.find('&') {
            let after = &rest[i + 1..];
            let end = after
                .find(';')
                .ok_or(format!("unterminated entity in {t:?}"))?;
            let name = &after[..end];
            let ok = matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
                || (name.starts_with("#x")
                    && name.len() > 2
                    && name[2..].chars().all(|c| c.is_ascii_hexdigit()))
                || (name.starts_with('#')
                    && name.len() > 1
                    && name[1..].chars().all(|c| c.is_ascii_digit()));
            if !ok {
                return Err(format!("unknown entity &{name}; in {t:?}"));
            }
            rest = &after[end + 1..];
        }
        Ok(())
    }

    pub fn check(doc: &str) -> Result<Doc, String> {
        let mut stack: Vec<String> = Vec::new();
        let mut root = None;
        let mut rows = Vec::new();
        let mut rest = doc;
        if let Some(r) = rest.strip_prefix("<?xml") {
            rest = &r[r.find("?>").ok_or("unterminated declaration")? + 2..];
        }
        loop {
            let lt = rest.find('<');
            let text = &rest[..lt.unwrap_or(rest.len())];
            if stack.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root: {text:?}"));
            }
            check_text(text)?;
            let Some(lt) = lt else { break };
            rest = &rest[lt..];
            if let Some(r) = rest.strip_prefix("<!--") {
                rest = &r[r.find("-->").ok_or("unterminated comment")? + 3..];
                continue;
            }
            let gt = rest.find('>').ok_or("unterminated tag")?;
            let tag = &rest[1..gt];
            rest = &rest[gt + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or(format!("</{name}> closes nothing"))?;
                if open != name.trim_end() {
                    return Err(format!("<{open}> closed by </{name}>"));
                }
                continue;
            }
            let (body, selfclosing) = match tag.strip_suffix('/') {
                Some(b) => (b, true),
                None => (tag, false),
            };
            let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
            let name = &body[..name_end];
            if !is_name(name) {
                return Err(format!("bad element name {name:?}"));
            }
            // Attributes: name="value" separated by whitespace.
            let mut attrs = Vec::new();
            let mut a = body[name_end..].trim_start();
            while !a.is_empty() {
                let eq = a
                    .find('=')
                    .ok_or(format!("attribute without value in <{tag}>"))?;
                let key = a[..eq].trim();
                if !is_name(key) {
                    return Err(format!("bad attribute name {key:?}"));
                }
                let after = &a[eq + 1..];
                let quote = after.chars().next().ok_or("missing attribute value")?;
                if quote != '"' && quote != '\'' {
                    return Err(format!("unquoted attribute {key} in <{tag}>"));
                }
                let close = after[1..].find(quote).ok_or("unterminated attribute")?;
                let value = &after[1..1 + close];
                check_text(value)?;
                if attrs.iter().any(|(k, _): &(String, String)| k == key) {
                    return Err(format!("duplicate attribute {key}"));
                }
                attrs.push((key.to_string(), value.to_string()));
                let next = &after[close + 2..];
                if !next.is_empty() && !next.starts_with(char::is_whitespace) {
                    return Err(format!("no space between attributes in <{tag}>"));
                }
                a = next.trim_start();
            }
            if stack.is_empty() {
                if root.is_some() {
                    return Err("a second root element".into());
                }
                root = Some(name.to_string());
            }
            let get = |k: &str| {
                attrs
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            if name == "g" && get("class").as_deref() == Some("row") {
                rows.push(get("data-node").ok_or("row without data-node")?);
            }
            if !selfclosing {
                stack.push(name.to_string());
            }
        }
        if let Some(open) = stack.pop() {
            return Err(format!("<{open}> never closed"));
        }
        Ok(Doc {
            root: root.ok_or("no root element")?,
            rows,
        })
    }

    #[test]
    fn the_checker_rejects_what_it_should() {
        assert!(check("<a><b x=\"1\"/>t &amp; u</a>").is_ok());
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "<a x=1/>",
            "<a x=\"1\" x=\"2\"/>",
            "<a>&nbsp;</a>",
            "<a>x & y</a>",
            "<a x=\"<\"/>",
            "text<a/>",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }
}

/// A small JSON validator (RFC 8259 grammar, values only, no duplicate-key check).
mod json {
    pub fn check(s: &str) -> Result<(), String> {
        let b = s.as_bytes();
        let mut i = 0;
        value(b, &mut i)?;
        ws(b, &mut i);
        if i != b.len() {
            return Err(format!("trailing data at byte {i}"));
        }
        Ok(())
    }

    fn ws(b: &[u8], i: &mut usize) {
        while b
            .get(*i)
            .is_some_and(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
        {
            *i += 1;
        }
    }

    fn expect(b: &[u8], i: &mut usize, c: u8) -> Result<(), String> {
        ws(b, i);
        if b.get(*i) == Some(&c) {
            *i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {i}", c as char))
        }
    }

    fn value(b: &[u8], i: &mut usize) -> Result<(), String> {
        ws(b, i);
        match b.get(*i) {
            Some(b'{') => {
                *i += 1;
                ws(b, i);
                if b.get(*i) == Some(&b'}') {
                    *i += 1;
                    return Ok(());
                }
                loop {
                    ws(b, i);
                    string(b, i)?;
                    expect(b, i, b':')?;
                    value(b, i)?;
                    ws(b, i);
                    match b.get(*i) {
                        Some(b',') => *i += 1,
                        Some(b'}') => {
                            *i += 1;
                            return Ok(());
                        }
                        _ => return Err(format!("expected , or }} at byte {i}")),
                    }
                }
            }
            Some(b'[') => {
                *i += 1;
                ws(b, i);
                if b.get(*i) == Some(&b']') {
                    *i += 1;
                    return Ok(());
                }
                loop {
                    value(b, i)?;
                    ws(b, i);
                    match b.get(*i) {
                        Some(b',') => *i += 1,
                        Some(b']') => {
                            *i += 1;
                            return Ok(());
                        }
                        _ => return Err(format!("expected , or ] at byte {i}")),
                    }
                }
            }
            Some(b'"') => string(b, i),
            Some(b't') => word(b, i, "true"),
            Some(b'f') => word(b, i, "false"),
            Some(b'n') => word(b, i, "null"),
            Some(c) if *c == b'-' || c.is_ascii_digit() => number(b, i),
            _ => Err(format!("unexpected byte at {i}")),
        }
    }

    fn word(b: &[u8], i: &mut usize, w: &str) -> Result<(), String> {
        if b.get(*i..*i + w.len()) == Some(w.as_bytes()) {
            *i += w.len();
            Ok(())
        } else {
            Err(format!("bad literal at byte {i}"))
        }
    }

    fn number(b: &[u8], i: &mut usize) -> Result<(), String> {
        let start = *i;
        if b.get(*i) == Some(&b'-') {
            *i += 1;
        }
        let digits = |i: &mut usize| {
            let s = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - s
        };
        let int_start = *i;
        let n = digits(i);
        if n == 0 || (n > 1 && b.get(int_start) == Some(&b'0')) {
            return Err(format!("bad number at byte {start}"));
        }
        if b.get(*i) == Some(&b'.') {
            *i += 1;
            if digits(i) == 0 {
                return Err(format!("bad fraction at byte {start}"));
            }
        }
        Ok(())
    }

    fn string(b: &[u8], i: &mut usize) -> Result<(), String> {
        if b.get(*i) != Some(&b'"') {
            return Err(format!("expected a string at byte {i}"));
        }
        *i += 1;
        loop {
            match b.get(*i) {
                None => return Err("unterminated string".into()),
                Some(b'"') => {
                    *i += 1;
                    return Ok(());
                }
                Some(b'\\') => match b.get(*i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => *i += 2,
                    Some(b'u') => *i += 6,
                    _ => return Err(format!("bad escape at byte {i}")),
                },
                Some(c) if *c < 0x20 => return Err(format!("control byte in string at {i}")),
                Some(_) => *i += 1,
            }
        }
    }

    #[test]
    fn the_checker_rejects_what_it_should() {
        assert!(check("{\"a\": [1, -2.5, true, null, \"x\\\"y\"], \"b\": {}}").is_ok());
        for bad in [
            "",
            "{",
            "{\"a\" 1}",
            "[1,]",
            "01",
            "{\"a\": 1,}",
            "\"\n\"",
            "[1] 2",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }
}
