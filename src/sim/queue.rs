//! The simulator's pending events, taken in `(time, order of scheduling)` order: the
//! order a binary heap keyed on `(at, seq)` gives, at a fraction of its cost.
//!
//! Almost every event of a run is due within a few tens of milliseconds (segment
//! latencies; an engine's next timer, its probe turns being spread over the interval), so
//! those go into a ring of one bucket per millisecond, each bucket a list in the order the
//! events were scheduled: scheduling is a push, taking the next is a read. The ring is
//! short (256 ms) so the buckets in use stay in cache. Events further ahead (faults,
//! retransmission backoffs, the timers of a slow mesh) wait in a heap. Both keep the heap's order: an event that went to the far heap was scheduled
//! while its millisecond was still out of the ring's reach, so before every event that
//! went straight to that millisecond's bucket, and the far events of a millisecond are
//! taken first.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Milliseconds the ring covers (a power of two).
const RING: u64 = 256;

/// A queue of `T` keyed on a time in ms that never goes back.
pub(crate) struct Queue<T> {
    ring: Vec<Vec<T>>,
    /// The millisecond being taken; the ring holds events due in `now..now + RING`.
    now: u64,
    /// How many of the current bucket's events were taken.
    taken: usize,
    /// Events in the ring, taken ones of the current bucket included.
    in_ring: usize,
    far: BinaryHeap<Far<T>>,
    seq: u64,
}

struct Far<T> {
    at: u64,
    seq: u64,
    what: T,
}

impl<T> Ord for Far<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        // A max-heap: the earliest (then the first scheduled) on top.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl<T> PartialOrd for Far<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> PartialEq for Far<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<T> Eq for Far<T> {}

impl<T: Copy> Queue<T> {
    pub(crate) fn new() -> Queue<T> {
        Queue {
            ring: (0..RING).map(|_| Vec::new()).collect(),
            now: 0,
            taken: 0,
            in_ring: 0,
            far: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Schedules `what` at `at` ms; a time already past is taken as now.
    pub(crate) fn push(&mut self, at: u64, what: T) {
        let at = at.max(self.now);
        if at - self.now < RING {
            if let Some(bucket) = self.ring.get_mut((at % RING) as usize) {
                bucket.push(what);
                self.in_ring += 1;
            }
        } else {
            self.seq += 1;
            self.far.push(Far {
                at,
                seq: self.seq,
                what,
            });
        }
    }

    /// The earliest event and its time.
    pub(crate) fn pop(&mut self) -> Option<(u64, T)> {
        loop {
            if let Some(top) = self.far.peek()
                && top.at <= self.now
            {
                return self.far.pop().map(|f| (f.at, f.what));
            }
            let idx = (self.now % RING) as usize;
            let bucket = self.ring.get_mut(idx)?;
            if let Some(&what) = bucket.get(self.taken) {
                self.taken += 1;
                return Some((self.now, what));
            }
            self.in_ring -= bucket.len();
            bucket.clear();
            self.taken = 0;
            if self.in_ring > 0 {
                self.now += 1;
            } else {
                self.now = self.far.peek()?.at;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;

    /// The queue gives exactly the order of a heap on `(at, seq)`, with events scheduled
    /// while others are taken, near and far, and several at one millisecond.
    #[test]
    fn same_order_as_a_heap_on_time_then_scheduling() {
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let mut q = Queue::new();
            let mut heap = BinaryHeap::new();
            let mut seq = 0u64;
            let mut now = 0u64;
            let mut id = 0u32;
            let mut push = |q: &mut Queue<u32>, heap: &mut BinaryHeap<Far<u32>>, at: u64| {
                seq += 1;
                id += 1;
                q.push(at, id);
                heap.push(Far { at, seq, what: id });
            };
            for _ in 0..50 {
                let at = rng.range(0, 10_000);
                push(&mut q, &mut heap, at);
            }
            let mut taken = 0;
            while let Some((at, what)) = q.pop() {
                let want = heap.pop().map(|f| (f.at, f.what));
                assert_eq!(Some((at, what)), want, "seed {seed}");
                assert!(at >= now);
                now = at;
                taken += 1;
                if taken < 5_000 {
                    for _ in 0..rng.range(1, 2) {
                        let ahead = match rng.range(0, 9) {
                            0 => 0,
                            1 => rng.range(RING - 2, RING + 2),
                            2 => rng.range(0, 70_000),
                            _ => rng.range(1, 30),
                        };
                        push(&mut q, &mut heap, now + ahead);
                    }
                }
            }
            assert!(heap.is_empty(), "seed {seed}: the heap has more");
            assert!(taken > 1_000);
        }
    }
}
