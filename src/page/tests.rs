use super::*;

fn row<'a>(name: &'a str, up: bool) -> PeerRow<'a> {
    PeerRow {
        name,
        up,
        timeouts: if up { 0 } else { 3 },
        rtt_us: Some(1_234),
        loss: Some(0.25),
        since_wall: 1_000,
        transitions: 1,
        offset_ms: None,
        verdict: Verdict::unknown(),
    }
}

/// A mesh of `names`, this node the first, seeing each peer as `up(i)`.
fn page<'a>(names: &[&'a str], up: impl Fn(usize) -> bool) -> Page<'a> {
    let own = (0..names.len())
        .map(|i| {
            if i == 0 || up(i) {
                Cell::Up
            } else {
                Cell::Down
            }
        })
        .collect();
    let mut rows = vec![None; names.len()];
    rows[0] = Some(own);
    Page {
        node: names[0],
        mine: 0,
        now_wall: 1_764_000_000_000,
        started_wall: 1_763_999_000_000,
        nodes: names.to_vec(),
        rows,
        peers: names[1..]
            .iter()
            .enumerate()
            .map(|(i, n)| row(n, up(i + 1)))
            .collect(),
        log: Ok(vec!["2026-12-03T10:00:00.000Z|node2|3".to_string()]),
        timeline: Timeline::NotBuilt,
    }
}

fn html(p: &Page<'_>) -> String {
    let mut out = String::new();
    render(p, &mut out);
    out
}

/// The `<td>` cells of the grid, row by row.
fn grid_cells(html: &str) -> Vec<Vec<String>> {
    let start = html.find("id=\"grid\"").expect("grid");
    let end = start + html[start..].find("</table>").expect("end of grid");
    html[start..end]
        .split("<tr>")
        .skip(2) // the table's opening, the header row
        .map(|r| {
            r.split("<td class=\"")
                .skip(1)
                .map(|c| c[..c.find('"').unwrap()].to_string())
                .collect()
        })
        .collect()
}

#[test]
fn one_cell_per_pair_and_own_row_from_peer_states() {
    let p = page(&["node1", "node2", "node3"], |i| i != 2);
    let h = html(&p);
    let cells = grid_cells(&h);
    assert_eq!(cells.len(), 3);
    assert!(cells.iter().all(|r| r.len() == 3), "{cells:?}");
    assert_eq!(cells[0], ["self", "up", "down"]);
    assert_eq!(cells[1], ["unknown", "self", "unknown"]);
    assert!(h.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
    assert!(h.contains("2 peer(s): 1 up, 1 down"));
    assert!(h.contains("1.234 ms") && h.contains("25.0 %"));
    assert!(!h.contains("<script"), "no scripts");
    assert!(
        !h.contains("http://") && !h.contains("https://"),
        "no assets"
    );
}

#[test]
fn names_and_lines_are_escaped() {
    // A valid node name (printable ASCII without '|', '!', ':', '/' or spaces).
    let evil = "<script>alert(1)<\"'&";
    crate::name::check(evil).expect("a valid node name");
    let mut p = page(&["node1", evil], |_| false);
    p.log = Ok(vec![format!("<script>{evil}</script>\u{7}")]);
    p.peers[0].verdict.text = "<i>".to_string();
    let h = html(&p);
    assert!(!h.contains("<script>"), "{h}");
    assert!(!h.contains("<i>") && h.contains("&lt;i&gt;"));
    assert!(h.contains("&lt;script&gt;alert(1)&lt;&quot;&#39;&amp;"));
    assert!(h.contains("\u{fffd}"), "control characters replaced");
    let mut out = String::new();
    p.log = Err("cannot read </pre><script>".to_string());
    render(&p, &mut out);
    assert!(!out.contains("</pre><script>"));
}

#[test]
fn a_huge_log_line_is_cut() {
    let mut p = page(&["node1", "node2"], |_| true);
    let line = "é".repeat(1_000_000);
    p.log = Ok(vec![line; 1_000]);
    let h = html(&p);
    assert!(h.len() < 64 * 1024, "{} bytes", h.len());
    let mark = format!("cut: the line is longer than {MAX_LOG_LINE} bytes]");
    assert_eq!(h.matches(&mark).count(), MAX_LOG_LINES);
}

#[test]
fn a_thousand_nodes_stay_bounded_and_show_the_down_ones() {
    let names: Vec<String> = (0..1024)
        .map(|i| format!("node-{i:04}-{}", "x".repeat(50)))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let down = [5usize, 700, 1023];
    let p = page(&names, |i| !down.contains(&i));
    let h = html(&p);
    let cells = grid_cells(&h);
    assert_eq!(cells.len(), MAX_GRID);
    assert!(cells.iter().all(|r| r.len() == MAX_GRID));
    assert!(h.contains(&format!("{MAX_GRID} of 1024 nodes shown")));
    for i in down {
        assert!(
            h.contains(&format!("<th class=\"col\">{}</th>", names[i])),
            "{i}"
        );
    }
    assert_eq!(cells[0].iter().filter(|c| *c == "down").count(), 3);
    // Every peer in the table: 1023 rows of about 330 bytes.
    assert_eq!(h.matches("<tr><td>").count(), 1023);
    assert!(h.len() < 512 * 1024, "{} bytes", h.len());
}

#[test]
fn timeline_is_inlined_without_its_declaration_or_left_out_when_too_large() {
    let mut p = page(&["node1", "node2"], |_| true);
    p.timeline = Timeline::Svg("<?xml version=\"1.0\"?>\n<svg id=\"t\"></svg>".to_string());
    let h = html(&p);
    assert!(h.contains("<div class=\"timeline\" id=\"timeline\"><svg id=\"t\"></svg>"));
    assert!(!h.contains("<?xml"));
    p.timeline = Timeline::Svg(format!("<svg>{}</svg>", "x".repeat(MAX_SVG)));
    let h = html(&p);
    assert!(!h.contains("xxxx") && h.contains("more than this page embeds"));
    p.timeline = Timeline::Missing("<none>".to_string());
    assert!(html(&p).contains("&lt;none&gt;"));
}

#[test]
fn verdicts_list_the_peers_with_a_problem() {
    let mut p = page(&["node1", "node2", "node3"], |i| i != 2);
    p.peers[0].verdict = Verdict {
        kind: VerdictKind::Up,
        text: "up".to_string(),
        settled: true,
    };
    p.peers[1].verdict = Verdict {
        kind: VerdictKind::Down,
        text: "down".to_string(),
        settled: true,
    };
    let h = html(&p);
    let start = h.find("id=\"verdicts\"").expect("list");
    let list = &h[start..start + h[start..].find("</ul>").unwrap()];
    assert!(
        list.contains(
            "<b>node3</b>: down from here; verdict <span class=\"down\">down</span></li>"
        )
    );
    assert!(!list.contains("node2"));
}

#[test]
fn ages_read_as_a_person_would() {
    assert_eq!(ago(-5), "0 s");
    assert_eq!(ago(119_999), "119 s");
    assert_eq!(ago(120_000), "2 min");
    assert_eq!(ago(7_200_000), "2 h");
    assert_eq!(ago(3 * 86_400_000), "3 d");
}
