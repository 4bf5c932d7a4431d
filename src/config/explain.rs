//! The TOML reader's errors in the user's words: the field meant for an unknown one
//! (`offlinethreshold`: did you mean `offline_threshold`?), what a field must hold
//! instead of serde's type names (`expected i64`), and a number written with a unit
//! (`interval = "1500ms"`) rewritten as the file wants it (`interval = 1500`).
//!
//! The fields and their kinds are listed here once more than in `RawConfig`, for the
//! wording only; a test checks both lists agree.

use std::ops::Range;

use crate::suggest;

/// What a field holds, as the user is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A whole number of milliseconds.
    Millis,
    /// A whole number of days.
    Days,
    /// A whole number of something else (said in the text).
    Count(&'static str),
    /// A string, in quotes.
    Text,
    /// `true` or `false`.
    Bool,
    /// The `[[nodes]]` tables.
    Nodes,
}

/// One field of the file.
struct Field {
    name: &'static str,
    /// The earlier tool's camelCase spelling, accepted too.
    camel: Option<&'static str>,
    kind: Kind,
    /// A value as it is written in the file, for examples.
    example: &'static str,
}

const fn field(
    name: &'static str,
    camel: Option<&'static str>,
    kind: Kind,
    example: &'static str,
) -> Field {
    Field {
        name,
        camel,
        kind,
        example,
    }
}

/// The top-level fields, in `RawConfig`'s order.
const TOP: &[Field] = &[
    field("whoami", None, Kind::Text, "\"node1\""),
    field("interval", None, Kind::Millis, "1000"),
    field("timeout", None, Kind::Millis, "1500"),
    field(
        "offline_threshold",
        Some("offlineThreshold"),
        Kind::Count("of consecutive timeouts"),
        "3",
    ),
    field("log_folder", Some("logFolder"), Kind::Text, "\"logs\""),
    field("listen", None, Kind::Text, "\"0.0.0.0:7101\""),
    field("metrics_listen", None, Kind::Text, "\":9464\""),
    field("secret_file", Some("secretFile"), Kind::Text, "\"secret\""),
    field("nodes", None, Kind::Nodes, ""),
    field(
        "online_threshold",
        Some("onlineThreshold"),
        Kind::Count("of consecutive replies"),
        "2",
    ),
    field(
        "on_change",
        Some("onChange"),
        Kind::Text,
        "\"/usr/local/bin/uptime-alert\"",
    ),
    field(
        "on_change_timeout_ms",
        Some("onChangeTimeoutMs"),
        Kind::Millis,
        "10000",
    ),
    field("on_change_when", None, Kind::Text, "\"down\""),
    field(
        "log_retention_days",
        Some("logRetentionDays"),
        Kind::Days,
        "14",
    ),
];

/// The fields of one `[[nodes]]` table, in `RawNode`'s order.
const NODE: &[Field] = &[
    field("name", None, Kind::Text, "\"node1\""),
    field("ip", None, Kind::Text, "\"10.0.0.1\""),
    field(
        "port",
        None,
        Kind::Count("(the TCP port, 1 to 65535)"),
        "7101",
    ),
    field("legacy_http", Some("legacyHttp"), Kind::Bool, "true"),
];

/// Most characters of the user's value quoted back in a message.
const QUOTED_MAX: usize = 40;

/// The TOML reader's error `message` at `span` of `text`, reworded: the span to report
/// (when known) and the message.
pub(super) fn toml_error(
    text: &str,
    message: &str,
    span: Option<Range<usize>>,
) -> (Option<Range<usize>>, String) {
    let message = message.trim_end();
    let reworded = if let Some(rest) = message.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or_default();
        let header = span
            .clone()
            .is_some_and(|s| line_at(text, s.start).0.trim_start().starts_with('['));
        Some(unknown_field(
            key,
            message.contains("`legacy_http`"),
            header,
        ))
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or_default();
        let (reworded, top) = missing_field(key);
        // A top-level field missing has no place in the file to point at.
        return (if top { None } else { span }, reworded);
    } else if let Some(rest) = message.strip_prefix("duplicate field `") {
        let key = rest.split('`').next().unwrap_or_default();
        let (second, reworded) = duplicate_field(text, key);
        return (second.or(span), reworded);
    } else if message.starts_with("invalid type: ") {
        span.clone().and_then(|s| wrong_type(text, s))
    } else if message.starts_with("duplicate key") {
        // `[nodes]` and `[[nodes]]`: the error is at the second; the mistake is the first.
        let single = key_lines_of_headers(text).find(|(h, _)| *h == "[nodes]");
        let span = single.map(|(_, at)| at..at).or(span);
        let reworded = span.clone().and_then(|s| duplicate_key(text, s.start));
        return (span, reworded.unwrap_or_else(|| message.to_string()));
    } else {
        // A syntax error: explained when its line sets a known field.
        span.clone().and_then(|s| bad_line(text, s.start))
    };
    (span, reworded.unwrap_or_else(|| message.to_string()))
}

/// The field spelled `key` (either spelling) and whether it belongs to a node.
fn lookup(key: &str) -> Option<(&'static Field, bool)> {
    let find = |list: &'static [Field]| list.iter().find(|f| f.name == key || f.camel == Some(key));
    find(TOP)
        .map(|f| (f, false))
        .or_else(|| find(NODE).map(|f| (f, true)))
}

/// An unknown `key` at the top level or in a node (`in_node`), set on a line or named by
/// a table `header` (`[[node]]`).
fn unknown_field(key: &str, in_node: bool, header: bool) -> String {
    let (here, there) = if in_node { (NODE, TOP) } else { (TOP, NODE) };
    let names: Vec<&str> = here.iter().map(|f| f.name).collect();
    if header {
        return match suggest::closest(key, &["nodes"]) {
            Some(_) => format!("unknown table `{key}`: did you mean [[nodes]]?"),
            None => format!("unknown table `{key}`: the only table is [[nodes]], one per node"),
        };
    }
    if let Some(meant) = suggest::closest(key, &names) {
        let place = if in_node { " in [[nodes]]" } else { "" };
        return format!("unknown field `{key}`{place}: did you mean `{meant}`?");
    }
    let elsewhere: Vec<&str> = there.iter().map(|f| f.name).collect();
    match suggest::closest(key, &elsewhere) {
        Some(meant) if in_node => format!(
            "`{meant}` is a top-level field, but this line is inside the [[nodes]] table \
             above it (every line after a [[nodes]] belongs to that node): move it above \
             the first [[nodes]]"
        ),
        Some(meant) => format!(
            "`{meant}` belongs to a node: put it under a [[nodes]] line, with that node's \
             name, ip and port"
        ),
        None if in_node => format!(
            "unknown field `{key}` in [[nodes]]; a node has {}",
            names.join(", ")
        ),
        None => format!(
            "unknown field `{key}`; the fields are {} (see config.example.toml)",
            names.join(", ")
        ),
    }
}

/// The message for a missing field, and whether the field is a top-level one.
fn missing_field(key: &str) -> (String, bool) {
    match lookup(key) {
        Some((f, false)) if f.kind == Kind::Nodes => (
            "no [[nodes]]: list every node of the mesh, this one included, each as a \
             [[nodes]] table with its name, ip and port"
                .into(),
            true,
        ),
        Some((f, false)) => (
            format!("{key} is missing: add it, e.g. {key} = {}", f.example),
            true,
        ),
        Some((f, true)) => (
            format!(
                "this [[nodes]] table has no {key}: every node needs name, ip and port \
                 (e.g. {key} = {})",
                f.example
            ),
            false,
        ),
        None => (format!("{key} is missing"), true),
    }
}

/// `key` set under both its spellings: where the second one is, and the message.
fn duplicate_field(text: &str, key: &str) -> (Option<Range<usize>>, String) {
    let Some((f, _)) = lookup(key) else {
        return (None, format!("{key} is set twice"));
    };
    let spellings: Vec<&str> = std::iter::once(f.name).chain(f.camel).collect();
    let second = key_lines(text)
        .filter(|(k, _)| spellings.contains(k))
        .nth(1)
        .map(|(_, at)| at..at);
    let other = spellings.iter().find(|s| **s != f.name).unwrap_or(&f.name);
    let message = format!(
        "{} is set twice ({other} is another spelling of it): keep one",
        f.name
    );
    (second, message)
}

/// Each line of `text` of the form `key = ...`: the key and its byte offset.
fn key_lines(text: &str) -> impl Iterator<Item = (&str, usize)> {
    let mut offset = 0;
    text.split_inclusive('\n').filter_map(move |line| {
        let start = offset;
        offset += line.len();
        let (key, _) = line.split_once('=')?;
        let key = key.trim();
        let indent = line.len() - line.trim_start().len();
        is_bare_key(key).then_some((key, start + indent))
    })
}

/// Each `[name]` table header of `text` (single brackets, trimmed) and its byte offset.
fn key_lines_of_headers(text: &str) -> impl Iterator<Item = (&str, usize)> {
    let mut offset = 0;
    text.split_inclusive('\n').filter_map(move |line| {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim();
        let single = trimmed.starts_with('[') && !trimmed.starts_with("[[");
        single.then_some((trimmed, start + line.len() - line.trim_start().len()))
    })
}

fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The line of `text` around byte `at`, and where it starts.
fn line_at(text: &str, at: usize) -> (&str, usize) {
    let at = at.min(text.len());
    let start = text
        .get(..at)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let end = text
        .get(at..)
        .and_then(|t| t.find('\n'))
        .map_or(text.len(), |i| at + i);
    (text.get(start..end).unwrap_or_default(), start)
}

/// The key whose value starts at byte `at`: the bare key before the last `=` ahead of it
/// on its line (also inside an inline table), or the name of a `[table]` header.
fn key_before(text: &str, at: usize) -> Option<&str> {
    let (line, start) = line_at(text, at);
    let trimmed = line.trim_start();
    if trimmed.starts_with('[') {
        let name = trimmed.trim_start_matches('[').split(']').next()?.trim();
        return is_bare_key(name).then_some(name);
    }
    let before = text
        .get(start..at)?
        .trim_end()
        .strip_suffix('=')?
        .trim_end();
    let key_start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .map_or(0, |i| i + 1);
    let key = before.get(key_start..)?;
    is_bare_key(key).then_some(key)
}

/// What `f` must hold, as a phrase after "must be".
fn must_be(f: &Field) -> String {
    match f.kind {
        Kind::Millis => "a whole number of milliseconds".into(),
        Kind::Days => "a whole number of days".into(),
        Kind::Count(what) => format!("a whole number {what}"),
        Kind::Text => "a string in quotes".into(),
        Kind::Bool => "true or false (without quotes)".into(),
        Kind::Nodes => "[[nodes]] tables (two brackets), one per node".into(),
    }
}

/// The user's value starting at `span`, on one line and at most [`QUOTED_MAX`] characters.
fn shown(text: &str, span: Range<usize>) -> String {
    let value = text.get(span).unwrap_or_default();
    let line = value.lines().next().unwrap_or_default().trim();
    let mut out: String = line.chars().take(QUOTED_MAX).collect();
    if out.len() < value.trim().len() {
        out.push_str("...");
    }
    out
}

/// A value of the wrong type at `span`: which field, what it must be, and how to write it.
fn wrong_type(text: &str, span: Range<usize>) -> Option<String> {
    let key = key_before(text, span.start)?;
    let (f, _) = lookup(key)?;
    if f.kind == Kind::Nodes {
        return Some(
            "nodes must be [[nodes]] tables (two brackets): write [[nodes]] above each \
             node's name, ip and port"
                .into(),
        );
    }
    let value = shown(text, span);
    let hint = match rewrite(key, f.kind, &value) {
        Some(fixed) => format!(": write {fixed}"),
        // A bare fraction of milliseconds was probably meant as seconds.
        None => match (f.kind, times(&value, 1), times(&value, 1_000)) {
            (Kind::Millis | Kind::Days | Kind::Count(_), Some(whole), _) => {
                format!(": write {key} = {whole}")
            }
            (Kind::Millis, None, Some(ms)) => {
                format!(" (if you mean {value} seconds, write {key} = {ms})")
            }
            (Kind::Text, ..) => format!(" (e.g. {key} = {})", f.example),
            _ => String::new(),
        },
    };
    Some(format!("{key} must be {}, not {value}{hint}", must_be(f)))
}

/// A `duplicate key` at byte `at`: which key, and for `[nodes]` how to write a list.
fn duplicate_key(text: &str, at: usize) -> Option<String> {
    let (line, _) = line_at(text, at);
    let header = line.trim_start().starts_with('[');
    match key_before(text, at).filter(|_| header) {
        Some("nodes") => {
            return Some(
                "[nodes] is written [[nodes]] (two brackets): one [[nodes]] table per node".into(),
            );
        }
        Some(name) => return Some(unknown_field(name, false, true)),
        None => {}
    }
    let rest = text.get(at..)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    let key = rest.get(..end).filter(|k| !k.is_empty())?;
    Some(format!("{key} is set twice: keep one"))
}

/// A syntax error on a line that sets a known field (`interval = 1500ms`, `ip = 10.0.0.1`).
fn bad_line(text: &str, at: usize) -> Option<String> {
    let (line, _) = line_at(text, at);
    let (key, value) = line.split_once('=')?;
    let key = key.trim();
    let (f, _) = lookup(key)?;
    // The value up to a comment: the syntax error means it holds no string with a '#'.
    let value = value.split('#').next().unwrap_or_default().trim();
    if value.is_empty() {
        return Some(format!("{key} has no value (e.g. {key} = {})", f.example));
    }
    let quote = value.chars().next().filter(|c| matches!(c, '"' | '\''));
    if let (Kind::Text, Some(q)) = (f.kind, quote) {
        let inside = value.trim_matches(q);
        return Some(format!(
            "the string of {key} is not closed: write {key} = {q}{inside}{q}"
        ));
    }
    let fix = match f.kind {
        Kind::Text if !value.is_empty() && !value.contains(['"', '\'']) => {
            Some(format!("{key} = \"{value}\""))
        }
        kind => rewrite(key, kind, value),
    };
    let fix = fix.map(|r| format!(": write {r}")).unwrap_or_default();
    let quoted: String = value.chars().take(QUOTED_MAX).collect();
    Some(format!("{key} must be {}, not {quoted}{fix}", must_be(f)))
}

/// `value` (as written, maybe in quotes, maybe with a unit) rewritten as field `key` of
/// `kind` takes it, when it can be: `interval = "1.5s"` -> `interval = 1500`.
fn rewrite(key: &str, kind: Kind, value: &str) -> Option<String> {
    let bare = value.trim_matches(|c| c == '"' || c == '\'').trim();
    let split = bare
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(bare.len());
    let (number, unit) = bare.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let factor: u64 = match (kind, unit.as_str()) {
        (Kind::Bool, _) => {
            return matches!(bare, "true" | "false").then(|| format!("{key} = {bare}"));
        }
        (Kind::Text | Kind::Nodes, _) => return None,
        (_, "") => 1,
        (Kind::Millis, "ms" | "msec" | "millisecond" | "milliseconds") => 1,
        (Kind::Millis, "s" | "sec" | "secs" | "second" | "seconds") => 1_000,
        (Kind::Millis, "m" | "min" | "mins" | "minute" | "minutes") => 60_000,
        (Kind::Millis, "h" | "hour" | "hours") => 3_600_000,
        (Kind::Millis, "d" | "day" | "days") => 86_400_000,
        (Kind::Days, "d" | "day" | "days") => 1,
        (Kind::Days, "w" | "week" | "weeks") => 7,
        _ => return None,
    };
    let whole = times(number, factor)?;
    // A plain number needs only its quotes taken off; one without quotes is a fraction.
    if unit.is_empty() && bare == value {
        return None;
    }
    Some(format!("{key} = {whole}"))
}

/// The decimal `number` (digits, at most one `.`, `_` separators) times `factor`, when
/// that is a whole number.
fn times(number: &str, factor: u64) -> Option<u64> {
    let digits: String = number.chars().filter(|c| *c != '_').collect();
    let (int, frac) = digits.split_once('.').unwrap_or((&digits, ""));
    if int.is_empty() && frac.is_empty() || digits.len() > 18 {
        return None;
    }
    // At most 18 digits: below 10^18, within u64.
    let scale = 10u64.checked_pow(u32::try_from(frac.len()).ok()?)?;
    let all: u64 = format!("{int}{frac}").parse().ok()?;
    let scaled = all.checked_mul(factor)?;
    (scaled % scale == 0).then_some(scaled / scale)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Config, ConfigError, RawConfig};

    const BASE: &str = "whoami = \"a\"
interval = 1000
timeout = 1500
offline_threshold = 3
log_folder = \"logs\"

[[nodes]]
name = \"a\"
ip = \"127.0.0.1\"
port = 7101

[[nodes]]
name = \"b\"
ip = \"127.0.0.2\"
port = 7102
";

    /// The error of `BASE` with `from` replaced by `to`, as `check-config` prints it.
    fn error(from: &str, to: &str) -> String {
        assert!(BASE.contains(from), "{from}");
        match Config::parse(&BASE.replacen(from, to, 1), Path::new("m.toml"), None) {
            Ok(_) => panic!("accepted: {to}"),
            Err(e) => e.to_string(),
        }
    }

    /// Each message a newcomer's first mistakes get, in full, with its position.
    #[test]
    fn errors_speak_the_users_words() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "offline_threshold = 3",
                "offlinethreshold = 3",
                "m.toml:4:1: unknown field `offlinethreshold`: did you mean `offline_threshold`?",
            ),
            (
                "timeout = 1500",
                "timeuot = 1500",
                "m.toml:3:1: unknown field `timeuot`: did you mean `timeout`?",
            ),
            (
                "port = 7101",
                "prot = 7101",
                "m.toml:10:1: unknown field `prot` in [[nodes]]: did you mean `port`?",
            ),
            (
                "interval = 1000",
                "interval = \"1500ms\"",
                "m.toml:2:12: interval must be a whole number of milliseconds, not \"1500ms\": \
                 write interval = 1500",
            ),
            (
                "interval = 1000",
                "interval = \"1.5s\"",
                "m.toml:2:12: interval must be a whole number of milliseconds, not \"1.5s\": \
                 write interval = 1500",
            ),
            (
                "timeout = 1500",
                "timeout = 1500ms",
                "m.toml:3:11: timeout must be a whole number of milliseconds, not 1500ms: \
                 write timeout = 1500",
            ),
            (
                "interval = 1000",
                "interval = 1.5",
                "m.toml:2:12: interval must be a whole number of milliseconds, not 1.5 \
                 (if you mean 1.5 seconds, write interval = 1500)",
            ),
            (
                "interval = 1000",
                "interval = \"fast\"",
                "m.toml:2:12: interval must be a whole number of milliseconds, not \"fast\"",
            ),
            (
                "port = 7102",
                "port = \"7102\"",
                "m.toml:15:8: port must be a whole number (the TCP port, 1 to 65535), not \
                 \"7102\": write port = 7102",
            ),
            (
                "log_folder = \"logs\"",
                "log_folder = \"logs\"\nlog_retention_days = \"2w\"",
                "m.toml:6:22: log_retention_days must be a whole number of days, not \"2w\": \
                 write log_retention_days = 14",
            ),
            (
                "ip = \"127.0.0.2\"",
                "ip = 127.0.0.2",
                "m.toml:14:11: ip must be a string in quotes, not 127.0.0.2: \
                 write ip = \"127.0.0.2\"",
            ),
            (
                "whoami = \"a\"",
                "whoami = a",
                "m.toml:1:10: whoami must be a string in quotes, not a: write whoami = \"a\"",
            ),
            (
                "whoami = \"a\"",
                "whoami = 1",
                "m.toml:1:10: whoami must be a string in quotes, not 1 (e.g. whoami = \"node1\")",
            ),
            (
                "whoami = \"a\"",
                "whoami = \"a",
                "m.toml:1:12: the string of whoami is not closed: write whoami = \"a\"",
            ),
            (
                "port = 7102",
                "port = 7102\nlegacy_http = \"yes\"",
                "m.toml:16:15: legacy_http must be true or false (without quotes), not \"yes\"",
            ),
            (
                "log_folder = \"logs\"\n",
                "",
                "m.toml: log_folder is missing: add it, e.g. log_folder = \"logs\"",
            ),
            (
                "ip = \"127.0.0.2\"\n",
                "",
                "m.toml:12:1: this [[nodes]] table has no ip: every node needs name, ip and \
                 port (e.g. ip = \"10.0.0.1\")",
            ),
            (
                "offline_threshold = 3",
                "offline_threshold = 3\nofflineThreshold = 3",
                "m.toml:5:1: offline_threshold is set twice (offlineThreshold is another \
                 spelling of it): keep one",
            ),
            (
                "timeout = 1500",
                "timeout = 1500\ntimeout = 9",
                "m.toml:4:1: timeout is set twice: keep one",
            ),
            (
                "port = 7102",
                "port = 7102\nmetrics_listen = \"127.0.0.1:9464\"",
                "m.toml:16:1: `metrics_listen` is a top-level field, but this line is inside \
                 the [[nodes]] table above it (every line after a [[nodes]] belongs to that \
                 node): move it above the first [[nodes]]",
            ),
            (
                "timeout = 1500",
                "timeout = 1500\nport = 1",
                "m.toml:4:1: `port` belongs to a node: put it under a [[nodes]] line, with \
                 that node's name, ip and port",
            ),
            (
                "timeout = 1500",
                "timeout = 1500\ncolour = 1",
                "m.toml:4:1: unknown field `colour`; the fields are whoami, interval, timeout, \
                 offline_threshold, log_folder, listen, metrics_listen, secret_file, nodes, \
                 online_threshold, on_change, on_change_timeout_ms, on_change_when, \
                 log_retention_days (see config.example.toml)",
            ),
            (
                "[[nodes]]\nname = \"a\"",
                "[[node]]\nname = \"a\"",
                "m.toml:7:3: unknown table `node`: did you mean [[nodes]]?",
            ),
            (
                "[[nodes]]\nname = \"a\"",
                "[nodes]\nname = \"a\"",
                "m.toml:7:1: [nodes] is written [[nodes]] (two brackets): one [[nodes]] table \
                 per node",
            ),
            (
                "[[nodes]]\nname = \"a\"\nip = \"127.0.0.1\"\nport = 7101\n\n[[nodes]]",
                "[nodes]",
                "m.toml:7:1: nodes must be [[nodes]] tables (two brackets): write [[nodes]] \
                 above each node's name, ip and port",
            ),
        ];
        for (from, to, expect) in cases {
            assert_eq!(error(from, to), *expect, "{to}");
        }
    }

    /// The lists here are `RawConfig`'s: every field serde knows (both spellings) is
    /// listed, and each field's example is of the type serde wants.
    #[test]
    fn the_fields_listed_here_are_those_of_the_file() {
        let serde_list = |text: &str| -> Vec<String> {
            let Err(e) = toml::from_str::<RawConfig>(text) else {
                panic!("accepted");
            };
            let message = e.message().to_string();
            let list = message.split("expected one of ").nth(1).unwrap_or_default();
            list.split(", ")
                .map(|n| n.trim_matches('`').to_string())
                .collect()
        };
        let ours = |list: &[Field]| -> Vec<String> {
            let mut names: Vec<String> = list
                .iter()
                .flat_map(|f| f.camel.into_iter().chain([f.name]))
                .map(String::from)
                .collect();
            names.sort();
            names
        };
        let mut top = serde_list(&format!("unknown_key = 1\n{BASE}"));
        top.sort();
        assert_eq!(top, ours(TOP));
        let mut node = serde_list(&format!("{BASE}unknown_key = 1\n"));
        node.sort();
        assert_eq!(node, ours(NODE));

        // BASE with `name = value` instead of its own line for that field, at the top or
        // in the last node.
        let with = |name: &str, value: &str, node: bool| -> String {
            let split = BASE.rfind("[[nodes]]").unwrap_or(0);
            let (head, tail) = BASE.split_at(split);
            let drop = |part: &str| -> String {
                part.lines()
                    .filter(|l| !l.starts_with(&format!("{name} =")))
                    .map(|l| format!("{l}\n"))
                    .collect()
            };
            if node {
                format!("{head}{}{name} = {value}\n", drop(tail))
            } else {
                format!("{name} = {value}\n{}{tail}", drop(head))
            }
        };
        let parse = |text: &str| Config::parse(text, Path::new("m"), None);
        for f in TOP.iter().filter(|f| f.kind != Kind::Nodes).chain(NODE) {
            let (name, example) = (f.name, f.example);
            let node = lookup(name).is_some_and(|(_, node)| node);
            let Err(ConfigError { message, .. }) = parse(&with(name, "[1]", node)) else {
                panic!("{name} = [1] accepted");
            };
            assert!(
                message.starts_with(&format!("{name} must be ")),
                "{message}"
            );
            if let Err(ConfigError { message, .. }) = parse(&with(name, example, node)) {
                assert!(
                    !message.contains(" must be "),
                    "{name} = {example}: {message}"
                );
            }
        }
    }

    #[test]
    fn numbers_with_units_are_rewritten() {
        let r = |kind, value| rewrite("interval", kind, value);
        assert_eq!(
            r(Kind::Millis, "\"1500ms\""),
            Some("interval = 1500".into())
        );
        assert_eq!(r(Kind::Millis, "\"1.5s\""), Some("interval = 1500".into()));
        assert_eq!(r(Kind::Millis, "1.5s"), Some("interval = 1500".into()));
        assert_eq!(
            r(Kind::Millis, "\"2 min\""),
            Some("interval = 120000".into())
        );
        assert_eq!(r(Kind::Millis, "\"1500\""), Some("interval = 1500".into()));
        assert_eq!(r(Kind::Millis, "'0.1s'"), Some("interval = 100".into()));
        assert_eq!(
            r(Kind::Millis, "\"1_500 ms\""),
            Some("interval = 1500".into())
        );
        assert_eq!(r(Kind::Days, "\"2w\""), Some("interval = 14".into()));
        assert_eq!(r(Kind::Count("x"), "\"3\""), Some("interval = 3".into()));
        assert_eq!(r(Kind::Bool, "\"true\""), Some("interval = true".into()));
        // A fraction of a millisecond, an unknown unit, a unit the field cannot take, a
        // bare fraction (1.5 is not 1500 without a unit), no number at all: no rewrite.
        for (kind, value) in [
            (Kind::Millis, "\"1.5ms\""),
            (Kind::Millis, "\"15 parsecs\""),
            (Kind::Days, "\"3h\""),
            (Kind::Count("x"), "\"3s\""),
            (Kind::Millis, "1.5"),
            (Kind::Millis, "\"fast\""),
            (Kind::Millis, "\".\""),
            (Kind::Millis, "\"99999999999999999999s\""),
            (Kind::Text, "\"5s\""),
        ] {
            assert_eq!(r(kind, value), None, "{value}");
        }
    }

    #[test]
    fn the_key_of_a_value_is_found_on_its_line() {
        let text = "a = 1\ninterval = \"x\"\nnodes = [{ name = \"n\", port = \"1\" }]\n[nodes]\n";
        let at = |s: &str| text.find(s).unwrap();
        assert_eq!(key_before(text, at("\"x\"")), Some("interval"));
        assert_eq!(key_before(text, at("\"1\"")), Some("port"));
        assert_eq!(key_before(text, at("[nodes]")), Some("nodes"));
        assert_eq!(key_before(text, at("[{")), Some("nodes"));
        assert_eq!(key_before(text, 0), None);
        assert_eq!(key_before(text, 999), None);
    }

    #[test]
    fn lookups_know_both_spellings_and_the_table() {
        assert!(
            matches!(lookup("offlineThreshold"), Some((f, false)) if f.name == "offline_threshold")
        );
        assert!(matches!(lookup("legacyHttp"), Some((f, true)) if f.name == "legacy_http"));
        assert!(lookup("offlinethreshold").is_none());
    }
}
