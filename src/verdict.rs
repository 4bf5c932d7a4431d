//! The verdict rules: what an outage of one peer most likely was, given who saw it down.
//! One definition for `report` (afterwards, from the logs of several observers:
//! `report::verdict` gathers the incidents and asks [`decide`]) and for the engine (live,
//! from the views peers share: `mesh::view` asks [`decide`] about each peer).
//!
//! The rules, first match wins:
//! 1. the peer itself saw every one of its peers (at least two) down at once: **observer
//!    isolated** (that peer was cut off, not down);
//! 2. exactly one observer saw it, others running did not, and that observer saw every
//!    one of its peers (at least two) down at once: **observer isolated** (that one);
//! 3. every observer that was running saw it: **node down**;
//! 4. otherwise **partial** (a link or routing problem), naming who saw it and who not.
//!
//! What "running" and "saw every peer down" mean is the caller's: over an incident's span
//! with a clock tolerance for `report`, at this moment from fresh views for the engine.

/// The clock tolerance between observers, in ms, that `report` matches logs with by
/// default; also the clock offset beyond which a node warns about a peer's clock (the
/// multi-observer report of their logs would mismatch). Log headers carry the threshold
/// but not the probe interval, so the tolerance cannot be derived from them; 5 s covers a
/// few intervals of a typical mesh (1 s) and ordinary NTP-synchronised clocks.
pub const DEFAULT_TOLERANCE_MS: i64 = 5_000;

/// What the rules conclude about one peer's outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<T> {
    /// Rule 3: every running observer saw the peer down.
    NodeDown,
    /// Rule 4: some running observers saw it down, others did not.
    Partial,
    /// Rules 1 and 2: this observer saw every one of its peers down at once: it was the
    /// one cut off.
    Isolated(T),
}

/// Applies the rules to an outage of `peer`: `seen` are the observers that saw it down,
/// `not_seen` those running that did not, and `saw_all_down(x)` says whether observer `x`
/// saw every one of its peers (at least two) down at once.
pub fn decide<T: Copy>(
    peer: T,
    seen: &[T],
    not_seen: &[T],
    saw_all_down: impl Fn(T) -> bool,
) -> Decision<T> {
    if saw_all_down(peer) {
        return Decision::Isolated(peer);
    }
    if let [one] = seen
        && !not_seen.is_empty()
        && saw_all_down(*one)
    {
        return Decision::Isolated(*one);
    }
    if not_seen.is_empty() {
        Decision::NodeDown
    } else {
        Decision::Partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_wins() {
        let none = |_: u8| false;
        assert_eq!(decide(9, &[1, 2], &[], none), Decision::NodeDown);
        assert_eq!(decide(9, &[1], &[2], none), Decision::Partial);
        // The lone observer that saw everyone down was the one cut off.
        assert_eq!(decide(9, &[1], &[2], |x| x == 1), Decision::Isolated(1));
        // ... but not when nobody contradicts it (rule 3 before a lone observer).
        assert_eq!(decide(9, &[1], &[], |x| x == 1), Decision::NodeDown);
        // The peer itself saw everyone down: it was cut off.
        assert_eq!(decide(9, &[1, 2], &[], |x| x == 9), Decision::Isolated(9));
        // Two observers that saw it: not a lone observer's isolation.
        assert_eq!(decide(9, &[1, 2], &[3], |x| x == 1), Decision::Partial);
    }
}
