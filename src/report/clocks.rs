//! The observers' clocks checked against each other, from the logs alone.
//!
//! Every line is stamped by its observer's wall clock; nothing in a log says whether that
//! clock was right. What the logs do hold is the same real events seen by several
//! observers:
//!
//! - **a peer going down and coming back**: when a node dies, every observer logs its
//!   `|1` within about one probe interval plus the timeout of the others, and its `|0`
//!   within about an interval of its return;
//! - **a node's own restart**: its `---` header is written as it starts, and the
//!   observers that had it down log it `|0` (back) shortly after.
//!
//! So each **segment** of a log (a stretch under one clock, see
//! [`crate::report::analyze`]) has *items* (the outages it logged with a `|1` start, and
//! its restart header if it began with one), and an item *matches* another observer's
//! item at offset `d` when, taking `d` off its stamps, its start lies within the tolerance
//! of the other's start (and its end of the other's end when both recovered), or its
//! header within the tolerance of the other's `|0` about this node.
//!
//! The rule:
//!
//! 1. **Agreement.** Two segments of different observers agree when an item of one
//!    matches an item of the other at offset 0. Segments joined by agreement form groups;
//!    the **reference** is the group with the most observers (at least two; a tie in
//!    observers and in matched items leaves no reference, and nothing is judged by
//!    matching). Its segments agree.
//! 2. **Skew.** Any other group is compared with the reference at every offset its items
//!    allow: the offset `d` (beyond the tolerance) that the most of its items match
//!    reference items at, refined to the median difference. The group's clock was `d`
//!    off when at least two of its items, half of them or more, and at least three of
//!    their moments (starts, ends, headers) match at `d`. Outage lengths must agree too,
//!    so a chance alignment needs several unrelated outages to line up at once.
//! 3. **Order.** Lines of one file were appended in real time order. Where a segment
//!    begins (after a restart or a step back) before the segment above it in the same
//!    file ended, by more than the tolerance, once the known skews are taken off, the one
//!    without evidence is off by at least that much; when neither has evidence, nothing
//!    says which is wrong: a step back of up to [`UNSETTLED_MIN_MS`] is accepted, a
//!    larger one leaves both unsettled.
//! 4. **Now.** A segment without evidence stamped after this machine's clock (by more
//!    than the tolerance) is ahead by at least that much, unless the reference is in the
//!    future too (then it is this machine's clock that is behind, and nothing is left
//!    out).
//!
//! The tolerance is `--tolerance`, at least [`MIN_TOLERANCE_MS`]. A segment found off or
//! unsettled is left out of the report; everything else is used.
//! A healthy mesh, whose observers see the same events within the tolerance, matches at
//! offset 0 and is never judged off: the tolerance must cover the detection spread
//! (about one interval plus the timeout).
//!
//! Cost: one index of all outages by peer and start (24 bytes per outage), a binary
//! search per outage; the search over offsets runs only for segments that match nothing
//! at offset 0, on at most [`SAMPLE_ITEMS`] of their items.

use std::collections::BTreeMap;

use crate::report::analyze::{Began, End, ObserverLog, Outage, Segment};

/// Items of a group used to propose offsets (all of them are then checked at the best).
pub const SAMPLE_ITEMS: usize = 64;

/// The least tolerance the check matches with: observers probe at their own phases, so
/// even a strict `--tolerance` (0 joins only outages that overlap) must not make their
/// detection spread look like a skew.
pub const MIN_TOLERANCE_MS: i64 = 1_000;

/// A step back of the clock between two stretches of one file that nothing settles is
/// accepted as it is up to this size (what NTP does to a drifting clock); beyond it both
/// stretches are left out.
pub const UNSETTLED_MIN_MS: i64 = 60_000;

/// The tolerance the check matches with, for `--tolerance` `tolerance`.
pub fn check_tolerance(tolerance: i64) -> i64 {
    tolerance.max(MIN_TOLERANCE_MS)
}

/// Why a segment's clock was found off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// `matched` of its group's `items` outages and restarts match those of `observers`
    /// at the offset.
    Matches {
        /// Items that matched.
        matched: u32,
        /// Items of the group.
        items: u32,
        /// The reference observers they matched.
        observers: Vec<String>,
    },
    /// The order of the lines in its file, against the segment before or after it.
    Order,
    /// Stamped after this machine's clock, while other logs are not.
    Future,
}

/// What the check says about one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It matched the reference at offset 0.
    Agrees,
    /// No evidence either way: used as it is.
    Unchecked,
    /// Its clock was `skew` ms ahead (positive) or behind (negative) of the reference's;
    /// `at_least`: only a bound is known. Left out.
    Skewed {
        /// The offset, ms.
        skew: i64,
        /// Only a bound.
        at_least: bool,
        /// The evidence.
        basis: Basis,
    },
    /// It and the segment next to it in the same file cannot both be right (the clock
    /// went back `back_ms` between them), and nothing says which is wrong. Left out.
    Unsettled {
        /// How far the clock went back, ms.
        back_ms: i64,
    },
}

impl Status {
    /// Whether the segment is left out of the report.
    pub fn left_out(&self) -> bool {
        matches!(self, Status::Skewed { .. } | Status::Unsettled { .. })
    }
}

/// The check's findings.
#[derive(Debug, Clone, Default)]
pub struct Clocks {
    /// Per observer (in the order of the logs), per segment.
    pub status: Vec<Vec<Status>>,
    /// The reference's latest stamp (without a reference: every log's, all being in the
    /// future) is this far after this machine's clock (ms), when more than the
    /// tolerance: this machine's clock is behind the logs'.
    pub reference_ahead_of_now: Option<i64>,
}

impl Clocks {
    /// The status of `observer`'s segment `segment` (unchecked when unknown).
    pub fn of(&self, observer: usize, segment: usize) -> &Status {
        self.status
            .get(observer)
            .and_then(|s| s.get(segment))
            .unwrap_or(&Status::Unchecked)
    }

    /// Whether `observer`'s segment `segment` is left out.
    pub fn left_out(&self, observer: usize, segment: usize) -> bool {
        self.of(observer, segment).left_out()
    }
}

/// An outage usable as evidence: (observer, pair, outage) into the logs.
#[derive(Debug, Clone, Copy)]
struct Ref {
    /// The outage's start, kept here so that sorting and searching need not look it up.
    start: i64,
    obs: u32,
    pair: u32,
    outage: u32,
}

/// Union-find over segments.
struct Groups {
    parent: Vec<u32>,
}

impl Groups {
    fn new(n: usize) -> Groups {
        Groups {
            parent: (0..n as u32).collect(),
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while let Some(&p) = self.parent.get(x as usize) {
            if p == x {
                break;
            }
            let grand = self.parent.get(p as usize).copied().unwrap_or(p);
            if let Some(slot) = self.parent.get_mut(x as usize) {
                *slot = grand;
            }
            x = grand;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            if let Some(slot) = self.parent.get_mut(hi as usize) {
                *slot = lo;
            }
        }
    }
}

/// The logs, indexed for the check.
struct Index<'a> {
    logs: &'a [ObserverLog],
    tol: i64,
    /// First global segment number of each observer.
    base: Vec<u32>,
    /// Observer of each global segment.
    seg_obs: Vec<u32>,
    /// Peer name -> outages about it with an exact start, by start.
    by_peer: BTreeMap<&'a str, Vec<Ref>>,
    /// Observer name -> its index.
    obs_of: BTreeMap<&'a str, u32>,
    /// Per observer, per pair: the number of its first outage in `corroborated`.
    pair_base: Vec<Vec<u32>>,
    /// Per outage: another observer's outage matched it at offset 0 (only such outages
    /// are evidence against another clock: one observer alone may be the wrong one).
    corroborated: Vec<bool>,
}

impl<'a> Index<'a> {
    fn new(logs: &'a [ObserverLog], tol: i64) -> Index<'a> {
        let mut base = Vec::with_capacity(logs.len());
        let mut seg_obs = Vec::new();
        // Exact sizes first: a lossy mesh logs millions of outages.
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for pair in logs.iter().flat_map(|l| &l.pairs) {
            *sizes.entry(pair.peer.as_str()).or_default() +=
                pair.outages.iter().filter(|o| o.exact).count();
        }
        let mut by_peer: BTreeMap<&str, Vec<Ref>> = sizes
            .into_iter()
            .map(|(peer, n)| (peer, Vec::with_capacity(n)))
            .collect();
        let mut obs_of = BTreeMap::new();
        let mut pair_base = Vec::with_capacity(logs.len());
        let mut outages = 0u32;
        for (o, log) in logs.iter().enumerate() {
            pair_base.push(
                log.pairs
                    .iter()
                    .map(|p| {
                        let first = outages;
                        outages = outages.saturating_add(p.outages.len() as u32);
                        first
                    })
                    .collect(),
            );
            base.push(seg_obs.len() as u32);
            seg_obs.extend(std::iter::repeat_n(o as u32, log.segments.len()));
            obs_of.insert(log.name.as_str(), o as u32);
            for (p, pair) in log.pairs.iter().enumerate() {
                let list = by_peer.entry(pair.peer.as_str()).or_default();
                for (i, out) in pair.outages.iter().enumerate() {
                    if out.exact {
                        list.push(Ref {
                            start: out.start,
                            obs: o as u32,
                            pair: p as u32,
                            outage: i as u32,
                        });
                    }
                }
            }
        }
        let mut index = Index {
            logs,
            tol,
            base,
            seg_obs,
            by_peer,
            obs_of,
            pair_base,
            corroborated: vec![false; outages as usize],
        };
        let mut by_peer = std::mem::take(&mut index.by_peer);
        for list in by_peer.values_mut() {
            list.sort_unstable_by_key(|r| r.start);
        }
        index.by_peer = by_peer;
        index
    }

    fn outage(&self, r: Ref) -> Option<&'a Outage> {
        self.logs
            .get(r.obs as usize)?
            .pairs
            .get(r.pair as usize)?
            .outages
            .get(r.outage as usize)
    }

    fn outage_number(&self, r: Ref) -> usize {
        self.pair_base
            .get(r.obs as usize)
            .and_then(|p| p.get(r.pair as usize))
            .map_or(usize::MAX, |&b| (b + r.outage) as usize)
    }

    fn is_corroborated(&self, r: Ref) -> bool {
        self.corroborated
            .get(self.outage_number(r))
            .copied()
            .unwrap_or(false)
    }

    fn global(&self, obs: u32, segment: u32) -> u32 {
        self.base.get(obs as usize).copied().unwrap_or(0) + segment
    }

    fn segments(&self) -> usize {
        self.seg_obs.len()
    }

    fn segment(&self, g: u32) -> Option<&'a Segment> {
        let obs = *self.seg_obs.get(g as usize)?;
        let local = g - self.base.get(obs as usize)?;
        self.logs.get(obs as usize)?.segments.get(local as usize)
    }

    /// Outages of `peer` by observers other than `obs` whose start lies within the
    /// tolerance of `start`.
    fn near(&self, peer: &str, start: i64, obs: u32) -> impl Iterator<Item = (Ref, &'a Outage)> {
        let list = self
            .by_peer
            .get(peer)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let lo = start.saturating_sub(self.tol);
        let hi = start.saturating_add(self.tol);
        let first = list.partition_point(|r| r.start < lo);
        list.get(first..)
            .unwrap_or_default()
            .iter()
            .take_while(move |r| r.start <= hi)
            .filter(move |r| r.obs != obs)
            .filter_map(move |&r| Some((r, self.outage(r)?)))
    }
}

/// Both recovered: their ends agree too (at offset `d` of `a`).
fn ends_agree(a: &Outage, b: &Outage, d: i64, tol: i64) -> bool {
    if a.end_kind != End::Recovered || b.end_kind != End::Recovered {
        return true;
    }
    (a.end - d - b.end).abs() <= tol
}

/// One item of a segment: an outage with an exact start, or its restart header.
#[derive(Debug, Clone, Copy)]
enum Item<'a> {
    Outage { peer: &'a str, outage: &'a Outage },
    Restart { obs: u32, at: i64 },
}

impl<'a> Item<'a> {
    /// The node it is about: the outage's peer, or the restarted observer (`g`: the
    /// item's segment).
    fn subject(&self, index: &Index<'a>, g: u32) -> &'a str {
        match self {
            Item::Outage { peer, .. } => peer,
            Item::Restart { .. } => index
                .seg_obs
                .get(g as usize)
                .and_then(|&o| index.logs.get(o as usize))
                .map_or("", |l| l.name.as_str()),
        }
    }

    /// Its moment: the outage's start, or the header's time.
    fn at(&self) -> i64 {
        match self {
            Item::Outage { outage, .. } => outage.start,
            Item::Restart { at, .. } => *at,
        }
    }
}

/// Checks the clocks of `logs` (read, not finished) against each other with the
/// tolerance `tolerance` (ms; at least [`MIN_TOLERANCE_MS`]) and, when given, this
/// machine's clock `now`.
pub fn check(logs: &[ObserverLog], tolerance: i64, now: Option<i64>) -> Clocks {
    let tol = check_tolerance(tolerance);
    let mut index = Index::new(logs, tol);
    let n = index.segments();
    let mut groups = Groups::new(n);
    let mut items = vec![0u32; n];
    let mut matched = vec![0u32; n];

    // 1. Agreement at offset 0.
    let mut corroborated = vec![false; index.corroborated.len()];
    for (o, log) in logs.iter().enumerate() {
        let o = o as u32;
        for (p, pair) in log.pairs.iter().enumerate() {
            for (i, out) in pair.outages.iter().enumerate() {
                if !out.exact {
                    continue;
                }
                let g = index.global(o, out.segment);
                if let Some(slot) = items.get_mut(g as usize) {
                    *slot += 1;
                }
                // One match is enough: the copies of one event all match each other, and
                // each joins the earliest other copy, so they end in one group (and
                // a mesh of n observers costs n, not n squared, per event).
                let first = index
                    .near(&pair.peer, out.start, o)
                    .find(|(_, other)| ends_agree(out, other, 0, tol));
                if let Some((r, other)) = first {
                    groups.union(g, index.global(r.obs, other.segment));
                    let number = index.outage_number(Ref {
                        start: out.start,
                        obs: o,
                        pair: p as u32,
                        outage: i as u32,
                    });
                    if let Some(slot) = corroborated.get_mut(number) {
                        *slot = true;
                    }
                    if let Some(slot) = matched.get_mut(g as usize) {
                        *slot += 1;
                    }
                }
            }
        }
    }
    index.corroborated = corroborated;
    // Restart headers against the others' `|0` about that node.
    let restarts = restart_headers(&index);
    let mut restart_matched = vec![false; n];
    for (o, log) in logs.iter().enumerate() {
        for pair in &log.pairs {
            let Some(&subject) = index.obs_of.get(pair.peer.as_str()) else {
                continue;
            };
            let Some(heads) = restarts.get(subject as usize) else {
                continue;
            };
            for out in pair
                .outages
                .iter()
                .filter(|out| out.end_kind == End::Recovered)
            {
                let first = heads.partition_point(|&(t, _)| t < out.end - tol);
                for &(t, g) in heads.get(first..).unwrap_or_default() {
                    if t > out.end + tol {
                        break;
                    }
                    groups.union(g, index.global(o as u32, out.segment));
                    if let Some(slot) = restart_matched.get_mut(g as usize) {
                        *slot = true;
                    }
                }
            }
        }
    }
    for heads in &restarts {
        for &(_, g) in heads {
            if let Some(slot) = items.get_mut(g as usize) {
                *slot += 1;
            }
            if restart_matched.get(g as usize) == Some(&true)
                && let Some(slot) = matched.get_mut(g as usize)
            {
                *slot += 1;
            }
        }
    }

    // The groups and the reference.
    let roots: Vec<u32> = (0..n as u32).map(|g| groups.find(g)).collect();
    // (root, its segments in order), by root.
    let mut by_root: Vec<(u32, u32)> = roots
        .iter()
        .enumerate()
        .map(|(g, &r)| (r, g as u32))
        .collect();
    by_root.sort_unstable();
    let members: Vec<(u32, Vec<u32>)> = by_root
        .chunk_by(|a, b| a.0 == b.0)
        .map(|chunk| {
            let root = chunk.first().map_or(0, |c| c.0);
            (root, chunk.iter().map(|c| c.1).collect())
        })
        .collect();
    let weight = |segs: &[u32]| {
        let mut observers: Vec<u32> = segs
            .iter()
            .filter_map(|&g| index.seg_obs.get(g as usize).copied())
            .collect();
        observers.sort_unstable();
        observers.dedup();
        let m: u32 = segs
            .iter()
            .map(|&g| matched.get(g as usize).copied().unwrap_or(0))
            .sum();
        (observers.len(), m)
    };
    let mut ranked: Vec<((usize, u32), u32)> = members
        .iter()
        .map(|(root, segs)| (weight(segs), *root))
        .collect();
    ranked.sort_unstable_by_key(|r| std::cmp::Reverse(r.0));
    let reference = match ranked.as_slice() {
        [(best, root), rest @ ..] if best.0 >= 2 && rest.first().is_none_or(|r| r.0 != *best) => {
            Some(*root)
        }
        _ => None,
    };
    let in_ref = |g: u32| reference.is_some_and(|r| roots.get(g as usize) == Some(&r));

    let mut status: Vec<Status> = (0..n as u32)
        .map(|g| {
            if in_ref(g) {
                Status::Agrees
            } else {
                Status::Unchecked
            }
        })
        .collect();

    // 2. Skew of every other group against the reference.
    if reference.is_some() {
        for (root, segs) in &members {
            if Some(*root) == reference {
                continue;
            }
            let group_items: u32 = segs
                .iter()
                .map(|&g| items.get(g as usize).copied().unwrap_or(0))
                .sum();
            if group_items < 2 {
                continue;
            }
            if let Some(found) = skew_of_group(&index, segs, &in_ref) {
                for &g in segs {
                    if let Some(slot) = status.get_mut(g as usize) {
                        *slot = found.clone();
                    }
                }
            }
        }
    }

    // 3. Line order within each file.
    order(&index, &mut status);

    // 4. Now.
    let mut reference_ahead_of_now = None;
    if let Some(now) = now {
        let future = |g: u32| index.segment(g).is_some_and(|s| s.last > now + tol);
        let ahead = (0..n as u32)
            .filter(|&g| in_ref(g))
            .filter_map(|g| index.segment(g).map(|s| s.last - now))
            .max()
            .filter(|&a| a > tol);
        let some_present = (0..n as u32)
            .any(|g| !future(g) && status.get(g as usize).is_some_and(|s| !s.left_out()));
        // With no reference, the logs all in the future: this machine's clock is behind.
        reference_ahead_of_now = match (reference, some_present) {
            (Some(_), _) => ahead,
            (None, false) => (0..n as u32)
                .filter_map(|g| index.segment(g).map(|s| s.last - now))
                .max(),
            (None, true) => None,
        };
        if ahead.is_none() && some_present {
            for g in 0..n as u32 {
                let Some(slot) = status.get_mut(g as usize) else {
                    continue;
                };
                if *slot == Status::Unchecked && future(g) {
                    let last = index.segment(g).map_or(now, |s| s.last);
                    *slot = Status::Skewed {
                        skew: last - now,
                        at_least: true,
                        basis: Basis::Future,
                    };
                }
            }
        }
    }

    let mut out = Clocks {
        status: Vec::with_capacity(logs.len()),
        reference_ahead_of_now,
    };
    let mut it = status.into_iter();
    for log in logs {
        out.status
            .push(it.by_ref().take(log.segments.len()).collect());
    }
    out
}

/// Per observer: the stamps of its headers that began a segment (a start, a reopened
/// file, a reload), with the segment's global number, by stamp.
fn restart_headers(index: &Index<'_>) -> Vec<Vec<(i64, u32)>> {
    index
        .logs
        .iter()
        .enumerate()
        .map(|(o, log)| {
            let mut heads: Vec<(i64, u32)> = log
                .segments
                .iter()
                .enumerate()
                .filter(|(_, s)| s.began == Began::Header)
                .map(|(i, s)| (s.first, index.global(o as u32, i as u32)))
                .collect();
            heads.sort_unstable();
            heads
        })
        .collect()
}

/// The items of the segments `segs` (global numbers, sorted), with their segment.
fn group_items<'a>(index: &Index<'a>, segs: &[u32]) -> Vec<(u32, Item<'a>)> {
    let mut out = Vec::new();
    let mut observers = Vec::new();
    for &g in segs {
        let Some(&o) = index.seg_obs.get(g as usize) else {
            continue;
        };
        observers.push(o);
        if let Some(seg) = index.segment(g).filter(|s| s.began == Began::Header) {
            out.push((
                g,
                Item::Restart {
                    obs: o,
                    at: seg.first,
                },
            ));
        }
    }
    observers.dedup();
    for o in observers {
        let Some(log) = index.logs.get(o as usize) else {
            continue;
        };
        for pair in &log.pairs {
            for outage in pair.outages.iter().filter(|out| out.exact) {
                let g = index.global(o, outage.segment);
                if segs.binary_search(&g).is_ok() {
                    out.push((
                        g,
                        Item::Outage {
                            peer: &pair.peer,
                            outage,
                        },
                    ));
                }
            }
        }
    }
    out
}

/// The reference's corroborated `|0` lines about observer `subject`: (time, global
/// segment).
fn recoveries_of(index: &Index<'_>, subject: u32, in_ref: &dyn Fn(u32) -> bool) -> Vec<(i64, u32)> {
    let Some(name) = index.logs.get(subject as usize).map(|l| l.name.as_str()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (o, log) in index.logs.iter().enumerate() {
        for (p, pair) in log.pairs.iter().enumerate() {
            if pair.peer != name {
                continue;
            }
            for (i, outage) in pair.outages.iter().enumerate() {
                let r = Ref {
                    start: outage.start,
                    obs: o as u32,
                    pair: p as u32,
                    outage: i as u32,
                };
                let g = index.global(o as u32, outage.segment);
                if outage.end_kind == End::Recovered && in_ref(g) && index.is_corroborated(r) {
                    out.push((outage.end, g));
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// What one item matches in the reference at offset `d`: the residuals of its moments
/// (stamp minus `d` minus the reference's), and the reference observers matched.
fn match_item(
    index: &Index<'_>,
    item: &Item<'_>,
    obs: u32,
    d: i64,
    in_ref: &dyn Fn(u32) -> bool,
    recoveries: &[(u32, Vec<(i64, u32)>)],
) -> Option<(Vec<i64>, Vec<u32>)> {
    let tol = index.tol;
    match *item {
        Item::Outage { peer, outage } => {
            let mut best: Option<(i64, Vec<i64>)> = None;
            let mut observers = Vec::new();
            for (r, other) in index.near(peer, outage.start - d, obs) {
                if !in_ref(index.global(r.obs, other.segment))
                    || !index.is_corroborated(r)
                    || !ends_agree(outage, other, d, tol)
                {
                    continue;
                }
                observers.push(r.obs);
                let mut res = vec![outage.start - d - other.start];
                if outage.end_kind == End::Recovered && other.end_kind == End::Recovered {
                    res.push(outage.end - d - other.end);
                }
                let err: i64 = res.iter().map(|x| x.abs()).sum::<i64>() / res.len() as i64;
                if best.as_ref().is_none_or(|(e, _)| err < *e) {
                    best = Some((err, res));
                }
            }
            best.map(|(_, res)| (res, observers))
        }
        Item::Restart { obs: subject, at } => {
            let list = &recoveries.iter().find(|(o, _)| *o == subject)?.1;
            let lo = at - d - tol;
            let first = list.partition_point(|&(t, _)| t < lo);
            let mut best: Option<i64> = None;
            let mut observers = Vec::new();
            for &(t, g) in list.get(first..).unwrap_or_default() {
                if t > at - d + tol {
                    break;
                }
                observers.extend(index.seg_obs.get(g as usize).copied());
                let res = at - d - t;
                if best.is_none_or(|b| res.abs() < b.abs()) {
                    best = Some(res);
                }
            }
            best.map(|res| (vec![res], observers))
        }
    }
}

fn median(v: &mut [i64]) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// The skew of the group `segs` against the reference, if its items say so (rule 2).
fn skew_of_group(index: &Index<'_>, segs: &[u32], in_ref: &dyn Fn(u32) -> bool) -> Option<Status> {
    let tol = index.tol;
    let mut items = group_items(index, segs);
    // Items of different peers whose moments lie within the tolerance of the first of
    // them are one event (an observer cut off sees every peer go down at once): evidence
    // counts such moments, not items. Two outages of one peer are always two moments.
    items.sort_unstable_by_key(|(_, item)| item.at());
    let mut moment = Vec::with_capacity(items.len());
    let mut current: Option<(i64, Vec<&str>)> = None;
    let mut moments = 0u32;
    for (g, item) in &items {
        let at = item.at();
        let subject = item.subject(index, *g);
        let same = current
            .as_ref()
            .is_some_and(|(first, subjects)| at - first <= tol && !subjects.contains(&subject));
        match &mut current {
            Some((_, subjects)) if same => subjects.push(subject),
            _ => {
                moments += 1;
                current = Some((at, vec![subject]));
            }
        }
        moment.push(moments - 1);
    }
    if moments < 2 {
        return None;
    }
    // The reference's `|0` lines about each restarted observer of the group.
    let mut recoveries: Vec<(u32, Vec<(i64, u32)>)> = Vec::new();
    for (_, item) in &items {
        if let Item::Restart { obs, .. } = *item
            && !recoveries.iter().any(|(o, _)| *o == obs)
        {
            recoveries.push((obs, recoveries_of(index, obs, in_ref)));
        }
    }
    // Offsets proposed by a sample of the items: every reference item of the same kind
    // (and, for outages, of about the same length) gives one.
    let step = items.len().div_ceil(SAMPLE_ITEMS).max(1);
    let mut proposals: Vec<(i64, u32)> = Vec::new();
    for (k, (_, item)) in items.iter().enumerate().step_by(step) {
        let k = moment.get(k).copied().unwrap_or(0) as usize;
        match *item {
            Item::Outage { peer, outage } => {
                for &r in index
                    .by_peer
                    .get(peer)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let Some(other) = index.outage(r) else {
                        continue;
                    };
                    if !in_ref(index.global(r.obs, other.segment)) || !index.is_corroborated(r) {
                        continue;
                    }
                    let both =
                        outage.end_kind == End::Recovered && other.end_kind == End::Recovered;
                    if both && (outage.duration() - other.duration()).abs() > 2 * tol {
                        continue;
                    }
                    proposals.push((outage.start - other.start, k as u32));
                }
            }
            Item::Restart { obs, at } => {
                let list = recoveries.iter().find(|(o, _)| *o == obs);
                for &(t, _) in list.map(|l| l.1.as_slice()).unwrap_or_default() {
                    proposals.push((at - t, k as u32));
                }
            }
        }
    }
    proposals.retain(|&(d, _)| d.abs() > tol);
    proposals.sort_unstable();
    // The window of width 2 * tolerance holding the most distinct moments, and of those
    // the most proposals (a crash loop's outages also align one period off, fewer).
    let mut seen = vec![0u32; moments as usize];
    let mut distinct = 0usize;
    let mut best: Option<((usize, usize), usize, usize)> = None; // (score, from, to)
    let mut lo = 0;
    for hi in 0..proposals.len() {
        let Some(&(dh, kh)) = proposals.get(hi) else {
            break;
        };
        if let Some(c) = seen.get_mut(kh as usize) {
            distinct += usize::from(*c == 0);
            *c += 1;
        }
        while let Some(&(dl, kl)) = proposals.get(lo) {
            if dh - dl <= 2 * tol {
                break;
            }
            if let Some(c) = seen.get_mut(kl as usize) {
                *c -= 1;
                distinct -= usize::from(*c == 0);
            }
            lo += 1;
        }
        let score = (distinct, hi + 1 - lo);
        if best.is_none_or(|(b, _, _)| score > b) {
            best = Some((score, lo, hi));
        }
    }
    let (_, from, to) = best?;
    let mut window: Vec<i64> = proposals.get(from..=to)?.iter().map(|p| p.0).collect();
    let mut d = median(&mut window)?;
    // Every item checked at that offset, then the offset refined to the median residual.
    let evaluate = |d: i64| {
        let mut supported: Vec<u32> = Vec::new();
        let mut support = 0u32;
        let mut stamps = 0usize;
        let mut residuals = Vec::new();
        let mut observers = Vec::new();
        for (k, (g, item)) in items.iter().enumerate() {
            let obs = index.seg_obs.get(*g as usize).copied().unwrap_or(0);
            if let Some((res, obs_matched)) = match_item(index, item, obs, d, in_ref, &recoveries) {
                support += 1;
                supported.extend(moment.get(k));
                stamps += res.len();
                residuals.extend(res);
                observers.extend(obs_matched);
            }
        }
        supported.dedup();
        (
            supported.len() as u32,
            support,
            stamps,
            residuals,
            observers,
        )
    };
    let (_, _, _, mut residuals, _) = evaluate(d);
    d += median(&mut residuals).unwrap_or(0);
    let (matched_moments, support, stamps, _, mut observers) = evaluate(d);
    observers.sort_unstable();
    observers.dedup();
    if matched_moments < 2
        || 2 * matched_moments < moments
        || stamps < 3
        || observers.len() < 2
        || d.abs() <= tol
    {
        return None;
    }
    let n = items.len() as u32;
    let names = observers
        .iter()
        .filter_map(|&o| index.logs.get(o as usize).map(|l| l.name.clone()))
        .collect();
    Some(Status::Skewed {
        skew: d,
        at_least: false,
        basis: Basis::Matches {
            matched: support,
            items: n,
            observers: names,
        },
    })
}

/// Rule 3: consecutive segments of one file in real time order.
fn order(index: &Index<'_>, status: &mut [Status]) {
    let tol = index.tol;
    for (o, log) in index.logs.iter().enumerate() {
        for k in 1..log.segments.len() {
            let (Some(a), Some(b)) = (log.segments.get(k - 1), log.segments.get(k)) else {
                continue;
            };
            if a.to.day != b.from.day {
                continue;
            }
            let ga = index.global(o as u32, k as u32 - 1) as usize;
            let gb = ga + 1;
            let offset = |s: Option<&Status>| match s {
                Some(Status::Agrees) => Some(0),
                Some(Status::Skewed {
                    skew,
                    at_least: false,
                    ..
                }) => Some(*skew),
                _ => None,
            };
            let (da, db) = (offset(status.get(ga)), offset(status.get(gb)));
            let (set, value) = match (da, db) {
                (Some(_), Some(_)) => continue,
                (Some(da), None) => {
                    let behind = b.first - (a.last - da);
                    if behind >= -tol {
                        continue;
                    }
                    (gb, order_skew(behind))
                }
                (None, Some(db)) => {
                    let ahead = a.last - (b.first - db);
                    if ahead <= tol {
                        continue;
                    }
                    (ga, order_skew(ahead))
                }
                (None, None) => {
                    let back = a.last - b.first;
                    if back <= tol.max(UNSETTLED_MIN_MS) {
                        continue;
                    }
                    for g in [ga, gb] {
                        if let Some(slot) = status.get_mut(g)
                            && !slot.left_out()
                        {
                            *slot = Status::Unsettled { back_ms: back };
                        }
                    }
                    continue;
                }
            };
            if let Some(slot) = status.get_mut(set)
                && !slot.left_out()
            {
                *slot = value;
            }
        }
    }
}

fn order_skew(skew: i64) -> Status {
    Status::Skewed {
        skew,
        at_least: true,
        basis: Basis::Order,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logline::Node;
    use crate::report::read::Sink;

    const TOL: i64 = 5_000;
    const H: i64 = 3_600_000;

    fn nodes(names: &[&'static str]) -> Vec<Node<'static>> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| Node {
                name: n,
                addr: format!("127.0.0.{}:1", i + 1).parse().unwrap(),
            })
            .collect()
    }

    /// Event lines: (time, peer, count).
    type Events<'a> = Vec<(i64, &'a str, u32)>;

    /// One observer's log, built run by run: `(header time, events)`, all in the file of
    /// day 0.
    fn log(me: &str, all: &[&'static str], runs: &[(i64, Events<'_>)]) -> ObserverLog {
        let mut o = ObserverLog::new(me, None, None, TOL);
        o.file_start(0);
        let mut line = 0;
        for (h, events) in runs {
            line += 2;
            o.header(line, *h, 3, &nodes(all), line == 2);
            for &(t, peer, n) in events {
                line += 1;
                o.event(line, t, peer, n);
            }
        }
        o
    }

    /// `peer` down from `s` to `e` as an observer logs it (interval 1 s), shifted by
    /// `jitter` ms.
    fn outage(peer: &'static str, s: i64, e: i64, jitter: i64) -> Events<'static> {
        vec![
            (s + jitter, peer, 1),
            (s + jitter + 1000, peer, 2),
            (s + jitter + 2000, peer, 3),
            (e + jitter, peer, 0),
        ]
    }

    const ALL: [&str; 4] = ["a", "b", "c", "d"];

    /// c crashes at these (start, end) times (ms since 1 h): a, b and d log them with
    /// their own detection delays, shifted by their clock offsets; c restarts at each
    /// end.
    fn mesh(crashes: &[(i64, i64)], offsets: [i64; 4]) -> Vec<ObserverLog> {
        let mut logs = Vec::new();
        for (k, me) in ALL.iter().enumerate() {
            let off = offsets[k];
            if *me == "c" {
                let mut runs = vec![(H + off, vec![])];
                runs.extend(crashes.iter().map(|&(_, e)| (H + e + off, vec![])));
                logs.push(log(me, &ALL, &runs));
            } else {
                let delay = 300 * k as i64; // each observer's probe phase
                let events = crashes
                    .iter()
                    .flat_map(|&(s, e)| outage("c", H + s + off, H + e + 200 + off, delay))
                    .collect();
                logs.push(log(me, &ALL, &[(H + off, events)]));
            }
        }
        logs
    }

    fn statuses(c: &Clocks) -> Vec<Vec<&'static str>> {
        c.status
            .iter()
            .map(|s| {
                s.iter()
                    .map(|s| match s {
                        Status::Agrees => "agrees",
                        Status::Unchecked => "unchecked",
                        Status::Skewed { .. } => "skewed",
                        Status::Unsettled { .. } => "unsettled",
                    })
                    .collect()
            })
            .collect()
    }

    const CRASHES: [(i64, i64); 4] = [
        (60_000, 75_000),
        (300_000, 302_500),
        (304_000, 306_500),
        (900_000, 960_000),
    ];

    #[test]
    fn a_healthy_mesh_agrees_whatever_the_detection_spread_within_the_tolerance() {
        let c = check(&mesh(&CRASHES, [0, 2_000, -1_500, 2_500]), TOL, None);
        let s = statuses(&c);
        assert!(
            s.iter()
                .flatten()
                .all(|s| *s != "skewed" && *s != "unsettled"),
            "{s:?}"
        );
        assert_eq!(s[0], ["agrees"]);
        // c's restarts agree with the others' |0 about it; its first start has no match.
        assert_eq!(s[2], ["unchecked", "agrees", "agrees", "agrees", "agrees"]);
    }

    #[test]
    fn an_observer_two_hours_ahead_is_found_with_its_size() {
        let c = check(&mesh(&CRASHES, [0, 2 * H, 0, 0]), TOL, None);
        match c.of(1, 0) {
            Status::Skewed {
                skew,
                at_least: false,
                basis:
                    Basis::Matches {
                        matched,
                        items,
                        observers,
                    },
            } => {
                assert!((skew - 2 * H).abs() <= 1_000, "{skew}");
                // Its four outages of c; its start (nobody saw it) matches nothing.
                assert_eq!((*matched, *items), (4, 5));
                assert_eq!(observers, &["a", "d"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.of(0, 0), &Status::Agrees);
        assert_eq!(c.of(3, 0), &Status::Agrees);
        // Ahead or behind, hours or seconds: the sign and size follow.
        let c = check(&mesh(&CRASHES, [0, 0, 0, -90_000]), TOL, None);
        assert!(
            matches!(c.of(3, 0), Status::Skewed { skew, .. } if (skew + 90_000).abs() <= 1_000),
            "{:?}",
            c.of(3, 0)
        );
    }

    #[test]
    fn one_event_is_not_enough_nor_one_observer() {
        // A single crash seen two hours off: one moment only, no claim.
        let c = check(&mesh(&CRASHES[..1], [0, 2 * H, 0, 0]), TOL, None);
        assert_eq!(c.of(1, 0), &Status::Unchecked);
        // Two observers only (c and d left out): nothing says which clock is right.
        let logs = mesh(&CRASHES, [0, 2 * H, 0, 0]);
        let two: Vec<ObserverLog> = logs.into_iter().take(2).collect();
        let c = check(&two, TOL, None);
        assert!(
            c.status.iter().flatten().all(|s| *s == Status::Unchecked),
            "{:?}",
            c.status
        );
    }

    #[test]
    fn a_restart_back_in_time_is_judged_by_the_order_of_its_file() {
        // b runs with evidence (agrees), then restarts an hour behind with no outage to
        // compare: its lines are out of order with the run above, so at least that far
        // behind.
        let mut logs = mesh(&CRASHES, [0; 4]);
        let late = log(
            "b",
            &ALL,
            &[
                (
                    H,
                    outage("c", H + CRASHES[0].0, H + CRASHES[0].1 + 200, 300),
                ),
                (H + 100_000 - H / 2, vec![]),
            ],
        );
        logs[1] = late;
        let c = check(&logs, TOL, None);
        assert_eq!(c.of(1, 0), &Status::Agrees);
        assert!(
            matches!(
                c.of(1, 1),
                Status::Skewed { skew, at_least: true, basis: Basis::Order } if *skew < -H / 2 + 80_000
            ),
            "{:?}",
            c.of(1, 1)
        );
        // Alone, nothing settles it: both runs are left out.
        let alone = vec![log("a", &ALL, &[(H, vec![]), (H / 2, vec![])])];
        let c = check(&alone, TOL, None);
        assert!(matches!(c.of(0, 0), Status::Unsettled { back_ms } if *back_ms == H / 2));
        assert!(c.of(0, 1).left_out());
        // Unless the step back is no more than NTP makes of a drifting clock.
        let alone = vec![log(
            "a",
            &ALL,
            &[(H, vec![]), (H - UNSETTLED_MIN_MS, vec![])],
        )];
        let c = check(&alone, TOL, None);
        assert!(c.status.iter().flatten().all(|s| *s == Status::Unchecked));
    }

    #[test]
    fn lines_after_now_are_ahead_unless_every_log_is() {
        let logs = vec![
            log("a", &ALL, &[(H, vec![])]),
            log("b", &ALL, &[(3 * H, vec![])]),
        ];
        let c = check(&logs, TOL, Some(H + 60_000));
        assert_eq!(c.of(0, 0), &Status::Unchecked);
        assert!(
            matches!(c.of(1, 0), Status::Skewed { skew, at_least: true, basis: Basis::Future } if *skew == 2 * H - 60_000)
        );
        let c = check(&logs, TOL, Some(H / 2));
        assert!(c.status.iter().flatten().all(|s| !s.left_out()));
        assert_eq!(c.reference_ahead_of_now, Some(3 * H - H / 2));
    }
}
