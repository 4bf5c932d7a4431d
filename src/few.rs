//! [`Few`]: a queue that nearly always holds none or one, kept inline; only more spill
//! to the heap, given back once it empties.
//!
//! For what is in flight per peer or per link (probes awaiting their reply): a reply
//! comes back well within the interval, so there is rarely more than one. At 1000 peers,
//! a `VecDeque` each (one per link, one for the tracker, one for the counters) kept
//! ~5,000 small allocations alive, ~400 KiB with the allocator's overhead; allocating
//! and freeing one per probe instead would cost the simulator's hot path.

use std::collections::VecDeque;

/// A FIFO queue of `Copy` items, inline while it holds at most one.
#[derive(Debug, Clone, Default)]
pub enum Few<T> {
    /// Nothing.
    #[default]
    Empty,
    /// One item, inline.
    One(T),
    /// Two or more (at times one, until it empties: no reallocation back and forth).
    Many(Box<VecDeque<T>>),
}

impl<T: Copy> Few<T> {
    /// How many it holds.
    pub fn len(&self) -> usize {
        match self {
            Few::Empty => 0,
            Few::One(_) => 1,
            Few::Many(q) => q.len(),
        }
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The oldest.
    pub fn front(&self) -> Option<&T> {
        self.iter().next()
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        let (one, many) = match self {
            Few::Empty => (None, None),
            Few::One(x) => (Some(x), None),
            Few::Many(q) => (None, Some(q.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// Oldest first, to change in place.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        let (one, many) = match self {
            Few::Empty => (None, None),
            Few::One(x) => (Some(x), None),
            Few::Many(q) => (None, Some(q.iter_mut())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// Adds the newest.
    pub fn push_back(&mut self, item: T) {
        match self {
            Few::Empty => *self = Few::One(item),
            Few::One(first) => {
                let first = *first;
                *self = Few::Many(Box::new(VecDeque::from([first, item])));
            }
            Few::Many(q) => q.push_back(item),
        }
    }

    /// Takes the oldest.
    pub fn pop_front(&mut self) -> Option<T> {
        self.remove(0)
    }

    /// Takes the one at `index` (0: the oldest); the order of the rest is kept.
    pub fn remove(&mut self, index: usize) -> Option<T> {
        let taken = match self {
            Few::Empty => None,
            Few::One(x) => (index == 0).then_some(*x),
            Few::Many(q) => q.remove(index),
        };
        match self {
            Few::One(_) if taken.is_some() => *self = Few::Empty,
            Few::Many(q) if q.len() <= 1 => {
                // Down to its last (or none): back inline, the heap given back.
                let last = q.front().copied();
                *self = last.map_or(Few::Empty, Few::One);
            }
            _ => {}
        }
        taken
    }

    /// Empties it, giving back any heap.
    pub fn clear(&mut self) {
        *self = Few::Empty;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain queue: pushes, pops and removals from the middle, through growth
    /// past one, back to empty and again.
    #[test]
    fn behaves_as_a_queue() {
        let mut few = Few::default();
        let mut model = VecDeque::new();
        // 0: push, 1: pop, 2: remove the second, 3: bump every item.
        let ops = [
            0, 0, 1, 0, 0, 2, 1, 1, 1, 0, 3, 1, 0, 0, 0, 2, 3, 1, 0, 1, 1, 1, 1,
        ];
        for (i, &op) in ops.iter().enumerate() {
            match op {
                0 => {
                    few.push_back(i as u64);
                    model.push_back(i as u64);
                }
                1 => assert_eq!(few.pop_front(), model.pop_front(), "op {i}"),
                2 => assert_eq!(few.remove(1), model.remove(1), "op {i}"),
                _ => {
                    few.iter_mut().for_each(|x| *x += 100);
                    model.iter_mut().for_each(|x| *x += 100);
                }
            }
            assert_eq!(few.len(), model.len(), "op {i}");
            assert_eq!(few.front(), model.front(), "op {i}");
            assert!(few.iter().eq(model.iter()), "op {i}");
            // At most one is always inline: the heap only holds two or more.
            assert_eq!(matches!(few, Few::Many(_)), model.len() > 1, "op {i}");
        }
        assert!(few.is_empty());
        few.push_back(7);
        few.push_back(8);
        few.clear();
        assert!(matches!(few, Few::Empty));
    }

    /// Held inline, it is smaller than the queue it replaces, in every peer and link.
    #[test]
    fn smaller_than_a_queue() {
        assert!(size_of::<Few<(u64, u64)>>() < size_of::<VecDeque<(u64, u64)>>());
    }
}
