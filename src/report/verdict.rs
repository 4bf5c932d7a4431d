//! Several observers: outages of one peer seen by different observers are grouped into
//! incidents, and each incident gets a verdict.
//!
//! - Outages of the same peer are one incident when they overlap once each is widened by
//!   the clock tolerance on both sides (observers' clocks differ, and each notices at its
//!   own probe times), except that two outages of one observer separated by a stretch it
//!   logged as up (the first ended with its `|0`) are never one incident: an outage
//!   joins the earliest open incident it overlaps (within the tolerance) that holds no
//!   such earlier outage of its observer, else it begins a new one. An incident has a
//!   span (earliest start to latest end) and a down time (the time at least one of its
//!   observers had the peer down: the union of its outages).
//! - An observer *was running* during an incident when it knew about the peer at some
//!   time inside it (inside by more than the tolerance when the incident is long enough,
//!   else at its middle). Those that saw it are counted as running whatever.
//! - Verdicts by the rules of [`crate::verdict`] (the one definition the live view of
//!   the engine uses too): the peer or a lone observer that saw every one of its peers
//!   (at least two) down at once: **observer isolated**; every running observer saw it:
//!   **node down**; otherwise **partial** (a link or routing problem).
//!
//! Pure; works on the windowed [`PairReport`]s. Memory: the incidents.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::report::PairReport;
use crate::report::analyze::{End, Outage};
use crate::verdict::{self as rules, Decision};

/// What an incident most likely was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every observer that was running saw the peer down.
    NodeDown,
    /// Some running observers saw it down, others did not.
    Partial,
    /// This observer saw every one of its peers down at once: it was the one cut off.
    Isolated(Rc<str>),
}

impl Verdict {
    /// `node_down`, `partial` or `observer_isolated`, for JSON and CSV.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::NodeDown => "node_down",
            Verdict::Partial => "partial",
            Verdict::Isolated(_) => "observer_isolated",
        }
    }
}

/// Outages of one peer, seen by one or more observers, that overlap within the tolerance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// The peer seen down.
    pub peer: Rc<str>,
    /// Earliest start of its outages (Unix ms).
    pub start: i64,
    /// Latest end of its outages.
    pub end: i64,
    /// Time at least one observer had the peer down within it (the union of its
    /// outages), ms: at most `end - start`.
    pub down_ms: i64,
    /// The verdict.
    pub verdict: Verdict,
    /// Observers that saw it down (names shared between incidents: a year of a large
    /// mesh has thousands of incidents, each seen by dozens of observers, and a crash
    /// loop or a lossy link many more).
    pub seen_by: Rc<[Rc<str>]>,
    /// Observers that were running and did not.
    pub not_seen_by: Rc<[Rc<str>]>,
}

/// Groups the outages of `pairs` into incidents (ordered by start, then peer) and judges
/// each. `tolerance` is in ms.
pub fn incidents(pairs: &[PairReport], tolerance: i64) -> Vec<Incident> {
    let tolerance = tolerance.max(0);
    // (observer, peer) -> pair, and peer -> its pairs.
    let mut by_key: BTreeMap<(&str, &str), &PairReport> = BTreeMap::new();
    let mut by_peer: BTreeMap<&str, Vec<&PairReport>> = BTreeMap::new();
    let mut by_observer: BTreeMap<&str, Vec<Watched<'_>>> = BTreeMap::new();
    let mut names = Shared::default();
    for p in pairs {
        for name in [&p.observer, &p.peer] {
            names
                .names
                .entry(name)
                .or_insert_with(|| Rc::from(name.as_str()));
        }
        by_key.insert((&p.observer, &p.peer), p);
        by_peer.entry(&p.peer).or_default().push(p);
        by_observer
            .entry(&p.observer)
            .or_default()
            .push(Watched::new(p));
    }
    let mut out = Vec::new();
    for (&peer, seers) in &by_peer {
        let mut items: Vec<(i64, i64, bool, &str)> = seers
            .iter()
            .flat_map(|p| {
                p.outages.iter().map(|o| {
                    (
                        o.start,
                        o.end,
                        o.end_kind == End::Recovered,
                        p.observer.as_str(),
                    )
                })
            })
            .collect();
        items.sort_unstable();
        let mut open: Vec<Group<'_>> = Vec::new();
        for (start, end, recovered, observer) in items {
            // Incidents that cannot take this outage nor any later one are done.
            while let Some(k) = open
                .iter()
                .position(|g| start > g.end.saturating_add(tolerance))
            {
                let g = open.remove(k);
                out.push(g.judge(peer, seers, &by_observer, &mut names, tolerance));
            }
            let fits = open.iter_mut().find(|g| {
                !g.seen
                    .iter()
                    .any(|&(o, up_at)| o == observer && up_at.is_some_and(|t| t <= start))
            });
            let up_at = recovered.then_some(end);
            match fits {
                Some(g) => g.add(start, end, observer, up_at),
                None => open.push(Group::new(start, end, observer, up_at)),
            }
        }
        for g in open {
            out.push(g.judge(peer, seers, &by_observer, &mut names, tolerance));
        }
    }
    out.sort_by(|a, b| (a.start, &a.peer).cmp(&(b.start, &b.peer)));
    out
}

/// An incident being gathered: its span, the union of its outages so far (they come in
/// order of start), and per outage its observer and when it logged the peer up again.
struct Group<'a> {
    start: i64,
    end: i64,
    down: i64,
    union: (i64, i64),
    seen: Vec<(&'a str, Option<i64>)>,
}

impl<'a> Group<'a> {
    fn new(start: i64, end: i64, observer: &'a str, up_at: Option<i64>) -> Group<'a> {
        Group {
            start,
            end,
            down: 0,
            union: (start, end),
            seen: vec![(observer, up_at)],
        }
    }

    fn add(&mut self, start: i64, end: i64, observer: &'a str, up_at: Option<i64>) {
        self.end = self.end.max(end);
        if start > self.union.1 {
            self.down += self.union.1 - self.union.0;
            self.union = (start, end);
        } else {
            self.union.1 = self.union.1.max(end);
        }
        self.seen.push((observer, up_at));
    }

    fn judge(
        self,
        peer: &str,
        observers_of_peer: &[&'a PairReport],
        by_observer: &BTreeMap<&str, Vec<Watched<'_>>>,
        names: &mut Shared<'a>,
        tolerance: i64,
    ) -> Incident {
        let seen: BTreeSet<&str> = self.seen.iter().map(|&(o, _)| o).collect();
        let down = self.down + (self.union.1 - self.union.0);
        let mut incident = judge(
            peer,
            (self.start, self.end),
            seen,
            observers_of_peer,
            by_observer,
            names,
            tolerance,
        );
        incident.down_ms = down;
        incident
    }
}

/// Names, and lists of names, shared between incidents: a crash loop or a lossy link
/// makes hundreds of thousands of incidents, mostly seen by the same observers.
#[derive(Default)]
struct Shared<'a> {
    names: BTreeMap<&'a str, Rc<str>>,
    lists: BTreeMap<Vec<&'a str>, Rc<[Rc<str>]>>,
}

impl<'a> Shared<'a> {
    fn name(&self, n: &str) -> Rc<str> {
        self.names.get(n).cloned().unwrap_or_else(|| Rc::from(n))
    }

    fn list(&mut self, names: Vec<&'a str>) -> Rc<[Rc<str>]> {
        if let Some(list) = self.lists.get(&names) {
            return list.clone();
        }
        let list: Rc<[Rc<str>]> = names.iter().map(|n| self.name(n)).collect();
        self.lists.insert(names, list.clone());
        list
    }
}

fn judge<'a>(
    peer: &str,
    (start, end): (i64, i64),
    seen: BTreeSet<&'a str>,
    observers_of_peer: &[&'a PairReport],
    by_observer: &BTreeMap<&str, Vec<Watched<'_>>>,
    names: &mut Shared<'a>,
    tolerance: i64,
) -> Incident {
    let probe = if end - start > 2 * tolerance {
        (start + tolerance, end - tolerance)
    } else {
        let mid = start + (end - start) / 2;
        (mid, mid)
    };
    let mut running: BTreeSet<&str> = observers_of_peer
        .iter()
        .filter(|p| knew_during(p, probe))
        .map(|p| p.observer.as_str())
        .collect();
    running.extend(seen.iter().copied());
    let not_seen: Vec<&str> = running.difference(&seen).copied().collect();
    let saw_all_down = |observer: &str| {
        by_observer
            .get(observer)
            .is_some_and(|pairs| saw_every_peer_down(pairs, (start, end), tolerance))
    };
    let seen_list: Vec<&str> = seen.iter().copied().collect();
    let verdict = match rules::decide(peer, &seen_list, &not_seen, saw_all_down) {
        Decision::Isolated(who) => Verdict::Isolated(names.name(who)),
        Decision::NodeDown => Verdict::NodeDown,
        Decision::Partial => Verdict::Partial,
    };
    Incident {
        peer: names.name(peer),
        start,
        end,
        down_ms: end - start,
        verdict,
        seen_by: names.list(seen.into_iter().collect()),
        not_seen_by: names.list(not_seen),
    }
}

/// Whether `pair` has known time touching `(from, to)`.
fn knew_during(pair: &PairReport, (from, to): (i64, i64)) -> bool {
    pair.known.iter().any(|&(a, b)| a <= to && b >= from)
}

/// One pair of an observer, with its outages' latest end so far (outages are in order of
/// start; they may overlap a little where its clock stepped back), so that an outage
/// touching a moment is found by binary search.
struct Watched<'a> {
    pair: &'a PairReport,
    max_end: Vec<i64>,
}

impl<'a> Watched<'a> {
    fn new(pair: &'a PairReport) -> Watched<'a> {
        let mut latest = i64::MIN;
        let max_end = pair
            .outages
            .iter()
            .map(|o| {
                latest = latest.max(o.end);
                latest
            })
            .collect();
        Watched { pair, max_end }
    }

    /// The earliest outage that, widened by `tolerance`, touches `(from, to)`.
    fn touching(&self, (from, to): (i64, i64), tolerance: i64) -> Option<&'a Outage> {
        let first = self.max_end.partition_point(|&m| m + tolerance < from);
        self.pair
            .outages
            .get(first..)?
            .iter()
            .take_while(|o| o.start - tolerance <= to)
            .find(|o| o.end + tolerance >= from)
    }
}

/// Whether, among the peers `pairs` of one observer that it knew about during `span`
/// (at least two), every one has an outage, and all those outages (widened by the
/// tolerance) share a moment that also lies within `span` widened.
fn saw_every_peer_down(pairs: &[Watched<'_>], span: (i64, i64), tolerance: i64) -> bool {
    let mut common = (span.0 - tolerance, span.1 + tolerance);
    let mut watched = 0;
    for w in pairs.iter().filter(|w| knew_during(w.pair, span)) {
        watched += 1;
        match w.touching(common, tolerance) {
            Some(o) => {
                common = (
                    common.0.max(o.start - tolerance),
                    common.1.min(o.end + tolerance),
                )
            }
            None => return false,
        }
    }
    watched >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage(start: i64, end: i64) -> Outage {
        Outage {
            start,
            end,
            end_kind: End::Recovered,
            from_before: false,
            exact: true,
            segment: 0,
        }
    }

    fn pair(observer: &str, peer: &str, outages: &[(i64, i64)]) -> PairReport {
        PairReport {
            observer: observer.into(),
            peer: peer.into(),
            known: vec![(0, 1_000_000)],
            known_ms: 1_000_000,
            down_ms: outages.iter().map(|(a, b)| b - a).sum(),
            outages: outages
                .iter()
                .map(|&(start, end)| outage(start, end))
                .collect(),
            blips: 0,
        }
    }

    #[test]
    fn node_down_partial_and_isolated() {
        let pairs = vec![
            // c down at 100_000..160_000, seen by a and b (b's clock 2 s late)
            pair("a", "c", &[(100_000, 160_000)]),
            pair("b", "c", &[(102_000, 161_000)]),
            // b seen down by a only, at 300_000; c saw nothing
            pair("a", "b", &[(300_000, 310_000)]),
            pair("c", "b", &[]),
            // a isolated at 500_000: b and c saw a down, a saw both down
            pair("b", "a", &[(500_000, 560_000)]),
            pair("c", "a", &[(500_500, 560_000)]),
        ];
        let mut pairs = pairs;
        pairs[0].outages.push(outage(501_000, 559_000));
        pairs[2].outages.push(outage(500_800, 559_500));
        let got = incidents(&pairs, 5_000);
        type Row<'a> = (&'a str, i64, &'a Verdict, Vec<&'a str>, Vec<&'a str>);
        let summary: Vec<Row<'_>> = got
            .iter()
            .map(|i| {
                (
                    &*i.peer,
                    i.start,
                    &i.verdict,
                    i.seen_by.iter().map(|s| &**s).collect(),
                    i.not_seen_by.iter().map(|s| &**s).collect(),
                )
            })
            .collect();
        let isolated_a = Verdict::Isolated("a".into());
        assert_eq!(
            summary,
            vec![
                ("c", 100_000, &Verdict::NodeDown, vec!["a", "b"], vec![]),
                ("b", 300_000, &Verdict::Partial, vec!["a"], vec!["c"]),
                ("a", 500_000, &isolated_a, vec!["b", "c"], vec![]),
                ("b", 500_800, &isolated_a, vec!["a"], vec!["c"]),
                ("c", 501_000, &isolated_a, vec!["a"], vec!["b"]),
            ]
        );
        assert_eq!(got[0].end, 161_000);
    }

    #[test]
    fn observer_not_running_does_not_make_it_partial() {
        let mut quiet = pair("b", "c", &[]);
        quiet.known = vec![(0, 50_000), (200_000, 300_000)];
        let pairs = vec![pair("a", "c", &[(100_000, 150_000)]), quiet];
        let got = incidents(&pairs, 5_000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].verdict, Verdict::NodeDown);
        assert!(got[0].not_seen_by.is_empty());
    }

    #[test]
    fn one_observers_outages_with_up_between_are_never_one_incident() {
        // A crash loop: a and b log c down three times, 2 s down, 1.5 s up; within the
        // 5 s tolerance, but each observer logged c back in between.
        let times = [(0, 2_000), (3_500, 5_500), (7_000, 9_000)];
        let late: Vec<(i64, i64)> = times.iter().map(|&(s, e)| (s + 300, e + 400)).collect();
        let pairs = vec![pair("a", "c", &times), pair("b", "c", &late)];
        let got = incidents(&pairs, 5_000);
        assert_eq!(got.len(), 3, "{got:#?}");
        for (i, &(s, _)) in got.iter().zip(&times) {
            assert_eq!((i.start, i.end - i.start, i.down_ms), (s, 2_400, 2_400));
            assert_eq!(i.verdict, Verdict::NodeDown);
        }
        // An outage cut by the observer's restart (not logged up) still joins the next.
        let mut cut = pair("a", "c", &[(0, 2_000), (4_000, 6_000)]);
        cut.outages[0].end_kind = End::ObserverStopped;
        let got = incidents(&[cut, pair("b", "c", &[(100, 6_100)])], 5_000);
        assert_eq!(got.len(), 1, "{got:#?}");
        // Span 0 .. 6 100; down: the union, all of it (b saw it down throughout).
        assert_eq!((got[0].end, got[0].down_ms), (6_100, 6_100));
        // Two observers' outages joined by the tolerance alone: the gap is not down.
        let got = incidents(
            &[
                pair("a", "c", &[(0, 2_000)]),
                pair("b", "c", &[(5_000, 6_000)]),
            ],
            5_000,
        );
        assert_eq!(
            (got.len(), got[0].end - got[0].start, got[0].down_ms),
            (1, 6_000, 3_000)
        );
    }

    #[test]
    fn outages_apart_by_more_than_the_tolerance_are_two_incidents() {
        let pairs = vec![
            pair("a", "c", &[(100_000, 110_000)]),
            pair("b", "c", &[(116_000, 120_000)]),
        ];
        assert_eq!(incidents(&pairs, 5_000).len(), 2);
        assert_eq!(incidents(&pairs, 6_000).len(), 1);
    }
}
