//! The documentation's links resolve: every relative link in the repository's Markdown
//! files names a file that exists and, with a `#fragment`, a heading of that file (GitHub's
//! anchors); every `docs/NAME.md` or `FILE.md#anchor` that source, scripts and packaging
//! files point readers to exists too, as does every repository path (`src/...`,
//! `tests/...`, `scripts/...`) the Markdown files name. And the close reasons the metrics
//! export are the ones docs/operating.md lists. Reads files only: well under a second.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Folders never walked: build output, fuzzing's working files, git, and hidden ones
/// (but `.ci`, which holds CI's script).
fn skipped(dir: &Path) -> bool {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let rel = dir.strip_prefix(root()).unwrap_or(dir);
    name == "target"
        || (name.starts_with('.') && name != ".ci")
        || rel.starts_with("fuzz/corpus")
        || rel.starts_with("fuzz/artifacts")
        || rel.starts_with("tests/fixtures")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if !skipped(&path) {
                walk(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

fn files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(root(), &mut out);
    out
}

fn is_markdown(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "md")
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

/// The lines of a Markdown file outside fenced code blocks, with their numbers.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| t.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(f), Some(m)) if f == m => fence = None,
            (None, None) => out.push((i + 1, line)),
            _ => {}
        }
    }
    out
}

/// `line` without its inline code spans (a link inside one is an example, not a link).
fn without_code(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].chars().take_while(|&c| c == '`').count();
        let after = &rest[start + ticks..];
        match after.find(&"`".repeat(ticks)) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// GitHub's anchor for a heading: the rendered text lower-cased, anything but letters,
/// digits, `-`, `_` and spaces dropped, spaces made `-`.
fn slug(heading: &str) -> String {
    // Links render as their text.
    let mut text = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](") else {
            break;
        };
        let Some(close) = rest[open + mid..].find(')') else {
            break;
        };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..open + mid]);
        rest = &rest[open + mid + close + 1..];
    }
    text.push_str(rest);
    text.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor of a Markdown file: its headings' (with GitHub's `-1`, `-2` for repeats)
/// and explicit `id="..."`/`name="..."` ones.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let base = slug(line[hashes..].trim().trim_end_matches('#').trim());
            let n = seen.entry(base.clone()).or_insert(0);
            out.insert(if *n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            });
            *n += 1;
        }
        for attr in ["id=\"", "name=\""] {
            for part in line.split(attr).skip(1) {
                if let Some(end) = part.find('"') {
                    out.insert(part[..end].to_string());
                }
            }
        }
    }
    out
}

/// The link targets of one line of prose: inline links and images `[..](dest)`,
/// reference definitions `[..]: dest`, and HTML `href`/`src` attributes.
fn targets(line: &str) -> Vec<String> {
    let line = without_code(line);
    let mut out = Vec::new();
    let mut rest = line.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let mut depth = 0;
        let end = after
            .char_indices()
            .find(|&(_, c)| match c {
                '(' => {
                    depth += 1;
                    false
                }
                ')' if depth == 0 => true,
                ')' => {
                    depth -= 1;
                    false
                }
                _ => false,
            })
            .map_or(after.len(), |(j, _)| j);
        let dest = after[..end].split_whitespace().next().unwrap_or("");
        out.push(dest.trim_matches(['<', '>']).to_string());
        rest = &after[end..];
    }
    let t = line.trim_start();
    if t.starts_with('[')
        && let Some(def) = t.find("]:")
        && !t[..def].contains("](")
        && let Some(dest) = t[def + 2..].split_whitespace().next()
    {
        out.push(dest.trim_matches(['<', '>']).to_string());
    }
    for attr in ["href=\"", "src=\""] {
        for part in line.split(attr).skip(1) {
            if let Some(end) = part.find('"') {
                out.push(part[..end].to_string());
            }
        }
    }
    out
}

/// `base`'s folder joined with `path`, `.` and `..` folded, without touching the disk.
fn resolve(dir: &Path, path: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in dir.join(path).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Checks `file#fragment` (`fragment` may be empty), as linked from `from`.
fn check_target(
    target: &Path,
    fragment: &str,
    cache: &mut HashMap<PathBuf, BTreeSet<String>>,
) -> Result<(), String> {
    if !target.starts_with(root()) {
        return Err("points outside the repository".into());
    }
    if !target.exists() {
        return Err(format!("{} does not exist", rel(target)));
    }
    if fragment.is_empty() || !is_markdown(target) {
        return Ok(());
    }
    let known = cache
        .entry(target.to_path_buf())
        .or_insert_with(|| anchors(&fs::read_to_string(target).unwrap_or_default()));
    if known.contains(fragment) {
        Ok(())
    } else {
        Err(format!("{} has no heading #{fragment}", rel(target)))
    }
}

#[test]
fn relative_links_in_markdown_resolve() {
    let mut cache = HashMap::new();
    let mut errors = Vec::new();
    let mut checked = 0;
    for file in files().into_iter().filter(|f| is_markdown(f)) {
        let text = fs::read_to_string(&file).unwrap();
        let dir = file.parent().unwrap_or(root());
        for (n, line) in prose(&text) {
            for dest in targets(line) {
                if dest.is_empty() || dest.contains("://") || dest.starts_with("mailto:") {
                    continue;
                }
                let (path, fragment) = dest.split_once('#').unwrap_or((&dest, ""));
                let target = if path.is_empty() {
                    file.clone()
                } else {
                    resolve(dir, path)
                };
                checked += 1;
                if let Err(e) = check_target(&target, fragment, &mut cache) {
                    errors.push(format!("{}:{n}: ({dest}): {e}", rel(&file)));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the walk broken?"
    );
    assert!(errors.is_empty(), "broken links:\n{}", errors.join("\n"));
}

/// `docs/NAME.md` and `FILE.md#anchor` as written in comments and messages of the
/// code, scripts and packaging files (paths from the repository's root).
fn mentions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let path_char = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/');
    for (i, _) in text.match_indices(".md") {
        let mut start = i;
        while start > 0 && path_char(bytes[start - 1]) {
            start -= 1;
        }
        let path = &text[start..i + 3];
        let after = &text[i + 3..];
        if after.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            continue; // ".mdx" or the like
        }
        let fragment = after
            .strip_prefix('#')
            .map(|f| {
                f.chars()
                    .take_while(|c| c.is_alphanumeric() || matches!(c, '-' | '_'))
                    .collect::<String>()
            })
            .unwrap_or_default();
        if path.starts_with("docs/") || !fragment.is_empty() {
            out.push((path.to_string(), fragment));
        }
    }
    out
}

#[test]
fn docs_named_in_code_and_packaging_exist() {
    let mut cache = HashMap::new();
    let mut errors = Vec::new();
    let this = Path::new(file!()).file_name().unwrap();
    for file in files() {
        if is_markdown(&file) || file.file_name() == Some(this) {
            continue;
        }
        let Ok(text) = fs::read_to_string(&file) else {
            continue; // not text
        };
        for (path, fragment) in mentions(&text) {
            let target = resolve(root(), &path);
            if let Err(e) = check_target(&target, &fragment, &mut cache) {
                errors.push(format!("{}: {path}: {e}", rel(&file)));
            }
        }
    }
    assert!(
        errors.is_empty(),
        "dangling pointers:\n{}",
        errors.join("\n")
    );
}

/// Repository paths a Markdown file names (`src/...`, `tests/...`, `scripts/...`, ...),
/// outside links too: as written, with run-time folders (`target/`, fuzzing's working
/// corpus and findings) left out.
fn paths_named(text: &str) -> Vec<String> {
    const ROOTS: [&str; 7] = [
        "src/",
        "tests/",
        "scripts/",
        "benches/",
        "packaging/",
        "fuzz/",
        ".ci/",
    ];
    let path_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/');
    let mut out = Vec::new();
    for (i, _) in text.char_indices() {
        let rest = &text[i..];
        let Some(root) = ROOTS.iter().find(|r| rest.starts_with(*r)) else {
            continue;
        };
        if text[..i].chars().next_back().is_some_and(path_char) {
            continue; // part of a longer path or a URL
        }
        let end = rest.find(|c: char| !path_char(c)).unwrap_or(rest.len());
        let path = rest[..end].trim_end_matches(['.', '/']);
        if path.len() > root.len() - 1
            && !path.starts_with("fuzz/artifacts")
            && !path.starts_with("fuzz/target")
        {
            out.push(path.to_string());
        }
    }
    out
}

#[test]
fn paths_named_in_markdown_exist() {
    let mut errors = Vec::new();
    for file in files().into_iter().filter(|f| is_markdown(f)) {
        let text = fs::read_to_string(&file).unwrap();
        for path in paths_named(&text) {
            if !root().join(&path).exists() {
                errors.push(format!("{}: {path}", rel(&file)));
            }
        }
    }
    errors.dedup();
    assert!(
        errors.is_empty(),
        "paths named that do not exist:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_anchor_rule_is_githubs() {
    assert_eq!(slug("Hooks: `on_change`"), "hooks-on_change");
    assert_eq!(
        slug("The simulator: 50 nodes × 24 simulated hours"),
        "the-simulator-50-nodes--24-simulated-hours"
    );
    assert_eq!(
        slug("The authenticated handshake, version 2"),
        "the-authenticated-handshake-version-2"
    );
    assert_eq!(
        slug("See [RELEASE.md](../RELEASE.md) now"),
        "see-releasemd-now"
    );
    let a = anchors("# A\n```\n# not\n```\n## A\n<a id=\"x\"></a>\n");
    assert_eq!(a, BTreeSet::from(["a".into(), "a-1".into(), "x".into()]));
    assert_eq!(
        targets("[a](b.md#c) `[no](x.md)` ![i](d.svg \"t\") [r]: e.md"),
        vec!["b.md#c", "d.svg"]
    );
    assert_eq!(targets("[r]: e.md"), vec!["e.md"]);
    assert_eq!(
        paths_named("see `src/a.rs`, tests/b.rs. and https://x/rust-fuzz/cargo-fuzz fuzz/target/x"),
        vec!["src/a.rs", "tests/b.rs"]
    );
    assert_eq!(
        mentions("see docs/a.md, README.md#b-c and x.md"),
        vec![
            ("docs/a.md".to_string(), String::new()),
            ("README.md".to_string(), "b-c".to_string())
        ]
    );
}

/// docs/operating.md's table of close reasons names exactly the `reason` label values
/// the metrics export (`CloseReason::KINDS`), so a new reason cannot go undocumented.
#[test]
fn every_close_reason_is_documented() {
    let text = fs::read_to_string(root().join("docs/operating.md")).unwrap();
    let section = text
        .split("\n### Close reasons\n")
        .nth(1)
        .expect("docs/operating.md has a '### Close reasons' section");
    let section = section.split("\n#").next().unwrap_or(section);
    let mut listed = BTreeSet::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap_or("");
        listed.extend(first.split('`').skip(1).step_by(2).map(str::to_string));
    }
    let kinds: BTreeSet<String> = uptime_tracker::mesh::CloseReason::KINDS
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(
        listed, kinds,
        "docs/operating.md's close reasons against CloseReason::KINDS"
    );
}
