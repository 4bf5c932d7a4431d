//! "Did you mean": the known word closest to a mistyped one, for error messages (config
//! fields, commands).

/// The candidate `word` most likely stands for, if one is close enough: the same letters
/// ignoring case, `_` and `-` (`offlineThreshold`, `OFFLINE-THRESHOLD`), else the nearest
/// by edit distance (a letter added, dropped, changed, or two swapped), at most one edit
/// per three letters of the candidate and at most three (ties go to the first candidate),
/// else the one candidate `word` begins (`check` for `check-config`; three letters at
/// least).
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // ASCII case only: the words compared are field and command names (and the
    // Unicode case tables would cost a router build kilobytes).
    let key = |s: &str| -> Vec<u8> {
        s.bytes()
            .filter(|b| *b != b'_' && *b != b'-')
            .map(|b| b.to_ascii_lowercase())
            .collect()
    };
    let wanted = key(word);
    if wanted.is_empty() || wanted.len() > 64 {
        return None;
    }
    let mut best: Option<(usize, &str)> = None;
    for &c in candidates {
        let have = key(c);
        let d = distance(&wanted, &have);
        let allowed = (have.len() / 3).clamp(1, 3);
        if d <= allowed && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    if let Some((_, c)) = best {
        return Some(c);
    }
    let mut begun = candidates
        .iter()
        .filter(|c| wanted.len() >= 3 && key(c).starts_with(&wanted));
    match (begun.next(), begun.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
/// two neighbours, each one edit.
fn distance(a: &[u8], b: &[u8]) -> usize {
    // Three rows suffice: the swap looks two rows back.
    let mut before = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0usize; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let mut d = (prev[j + 1] + 1).min(row[j] + 1).min(prev[j] + cost);
            if i > 0 && j > 0 && a[i - 1] == *cb && *ca == b[j - 1] {
                d = d.min(before[j - 1] + 1);
            }
            row[j + 1] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [&str; 4] = [
        "offline_threshold",
        "online_threshold",
        "interval",
        "timeout",
    ];

    #[test]
    fn case_and_separators_do_not_count() {
        for typed in ["offlinethreshold", "offlineThreshold", "OFFLINE-THRESHOLD"] {
            assert_eq!(
                closest(typed, &FIELDS),
                Some("offline_threshold"),
                "{typed}"
            );
        }
    }

    #[test]
    fn typos_within_reach_are_found() {
        assert_eq!(closest("intervall", &FIELDS), Some("interval"));
        assert_eq!(closest("inetrval", &FIELDS), Some("interval"));
        assert_eq!(closest("timout", &FIELDS), Some("timeout"));
        assert_eq!(
            closest("ofline_threshold", &FIELDS),
            Some("offline_threshold")
        );
        assert_eq!(closest("onlin_treshold", &FIELDS), Some("online_threshold"));
    }

    #[test]
    fn a_beginning_of_one_candidate_is_that_candidate() {
        assert_eq!(
            closest("check", &["run", "check-config"]),
            Some("check-config")
        );
        assert_eq!(closest("off", &FIELDS), Some("offline_threshold"));
        // Two candidates begin so: no guess.
        assert_eq!(closest("log", &["log_folder", "log_retention_days"]), None);
        assert_eq!(closest("of", &FIELDS), None);
    }

    #[test]
    fn unrelated_words_find_nothing() {
        for typed in ["colour", "", "x", "threshold", "port"] {
            assert_eq!(closest(typed, &FIELDS), None, "{typed}");
        }
        assert_eq!(closest(&"a".repeat(1000), &FIELDS), None);
    }

    #[test]
    fn distance_counts_each_kind_of_edit_once() {
        let d = |a: &str, b: &str| distance(a.as_bytes(), b.as_bytes());
        assert_eq!(d("", ""), 0);
        assert_eq!(d("abc", "abc"), 0);
        assert_eq!(d("abc", "abcd"), 1);
        assert_eq!(d("abc", "ab"), 1);
        assert_eq!(d("abc", "axc"), 1);
        assert_eq!(d("abc", "acb"), 1);
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("", "abc"), 3);
    }
}
