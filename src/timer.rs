//! Hierarchical timer wheel: O(1) schedule and cancel, exact next deadline for the poll
//! timeout, expired timers popped in deadline order.
//!
//! Pure code: the wheel never reads a clock. Time is a `u64` count of milliseconds from any
//! monotonic origin, passed in by the caller ([`Wheel::new`], [`Wheel::pop_expired`]).
//!
//! # Structure
//!
//! The shape follows tokio's `runtime/time/wheel`: 6 levels of 64 slots. A slot of level
//! `L` spans `64^L` ms, so level `L` as a whole spans `64^(L+1)` ms and the wheel covers
//! `64^6` ms (about 2.2 years). Each level keeps a `u64` `occupied` bitfield, so its first
//! non-empty slot is one `trailing_zeros` away.
//!
//! Timers live in a slab (`Vec` plus a free list threaded through the vacant entries) and
//! are linked into their slot by an intrusive doubly-linked list of `u32` indices: cancel
//! unlinks in O(1) and the wheel itself holds only list heads. Each entry keeps its exact
//! deadline, so nothing ever fires early because of slot rounding. A [`TimerId`] is
//! (slab index, generation); the generation is bumped whenever an entry is freed, so a
//! handle to a fired or cancelled timer cannot touch a newer timer that reuses the entry.
//!
//! The wheel has its own notion of time, `elapsed` (never ahead of the largest `now` seen).
//! A timer with deadline `d` is placed relative to `elapsed`:
//!
//! - `d < elapsed`: on the *overdue* list (it was scheduled in the past);
//! - `d` in a later `64^6`-aligned block than `elapsed`: on the *far* slot, slot 0 of the
//!   top level (deadlines beyond the horizon are clamped there);
//! - otherwise at the level of the highest bit in which `elapsed` and `d` differ (tokio's
//!   `level_for`), in slot `(d >> 6L) & 63`. `d == elapsed` lands in level 0's current slot.
//!
//! # Invariants
//!
//! These are what make the lowest non-empty level hold the earliest timers, and what the
//! test-only `check_invariants` verifies after every step of the model test:
//!
//! 1. An entry on the overdue list has `deadline < elapsed`; all other entries have
//!    `deadline >= elapsed`.
//! 2. An entry at level `L`, slot `s` (other than the far slot) lies in the same
//!    `64^(L+1)`-aligned block as `elapsed`, and `s` is `(deadline >> 6L) & 63`: at or
//!    after elapsed's own slot at level 0, strictly after it at higher levels. Hence a
//!    level-0 slot holds only timers of one exact deadline: its start.
//! 3. Far entries lie in a later `64^6` block than `elapsed`. Ordinary top-level entries
//!    sit strictly after elapsed's top-level slot, so never in slot 0, which is therefore
//!    free to mean "the start of the next `64^6` block".
//! 4. `elapsed` never passes an armed deadline nor the start of an occupied slot: it only
//!    moves to the start of the earliest occupied slot (to fire or cascade it), to the
//!    earliest far deadline (when only far timers remain), or, once nothing is due, to
//!    `now`.
//!
//! Because of (2), every timer at level `L` is due no earlier than the next level-`L` slot
//! boundary after `elapsed`, which is later than anything at a level below `L`.
//!
//! # Cascading
//!
//! [`Wheel::pop_expired`] repeatedly takes the earliest occupied slot. If it starts after
//! `now`, nothing is due: `elapsed` moves to `now`. A level-0 slot gives up one timer. A
//! slot of a higher level is emptied and its timers are placed again from its start, which
//! puts them at lower levels; so timers fire only from level 0 (or the overdue list), which
//! is what yields deadline order. The far slot is re-placed from `min(now, earliest far
//! deadline)` rather than from the next block start, so a jump of `now` across many
//! empty `64^6` blocks costs one pass over the far timers instead of one per block.
//!
//! # Complexity
//!
//! - [`Wheel::schedule`], [`Wheel::cancel`], [`Wheel::is_armed`], [`Wheel::len`]: O(1)
//!   (schedule amortised over slab growth).
//! - [`Wheel::pop_expired`]: O(1) to pop from level 0, plus cascading. Each cascade moves
//!   every timer of a slot down at least one level, so a timer is re-placed at most six
//!   times per `64^6` ms block it waits through; a far timer is re-placed once per occupied
//!   block that `now` crosses.
//! - [`Wheel::next_deadline`]: O(1). The wheel keeps its 16 earliest timers in order
//!   (scheduling one earlier than the last of them inserts it there); when removals have
//!   taken all 16, the one slot that holds the earliest timers is scanned for the next
//!   16 (all timers sharing that 64 ms, 4 s, 4.4 min, ... slot, or all far timers, or the
//!   overdue ones), since higher-level slots do not order their timers. A shell asks
//!   after every event, a timer is removed far less often, and one scan serves 16.
//! - Overdue timers (scheduled with a deadline earlier than the wheel's time) are kept
//!   unordered: while any exist, popping one or asking for the next deadline scans them,
//!   so draining `k` of them costs O(k^2). They only arise from deadlines computed from a
//!   stale clock reading, and are few.
//! - Memory: [`Wheel::new`] does not allocate (the slot heads are an inline ~1.6 KiB
//!   array); the slab grows to the largest number of timers armed at once and reuses freed
//!   entries.
//!
//! # Panics
//!
//! No sequence of calls on the public API panics through indexing, unwrapping or
//! arithmetic overflow: slab accesses go through `get`, array indices are reduced modulo
//! the array length, and time arithmetic cannot overflow (or saturates). Internal
//! invariants are checked with `debug_assert!` only. The two exceptions are resource
//! exhaustion: growing the slab can fail to allocate like any `Vec`, and arming more than
//! `u32::MAX - 1` timers at once (about 100 GiB of entries) panics, as slab indices are
//! `u32`.
//!
//! A [`TimerId`] is only meaningful for the wheel that issued it, and the `u32` generation
//! wraps after 2^32 reuses of one slab entry; within those limits stale handles are always
//! detected.

use std::fmt;

/// Bits of a slot index: 64 slots per level.
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const LEVELS: usize = 6;
const TOP: usize = LEVELS - 1;
/// Bits of time covered by the whole wheel: `64^6` ms.
const HORIZON_BITS: u32 = SLOT_BITS * LEVELS as u32;
/// End-of-list / no-entry marker for the `u32` links.
const NIL: u32 = u32::MAX;
/// How many of the earliest timers the wheel keeps in deadline order (`soonest`).
const SOONEST: usize = 16;

/// Handle to a scheduled timer. Stale handles (already fired or cancelled) are detected by
/// a generation counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    index: u32,
    generation: u32,
}

/// Which list an entry is linked into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loc {
    /// Vacant entry, on the free list.
    Free,
    /// Deadline earlier than `elapsed` when scheduled.
    Overdue,
    Slot {
        level: u8,
        slot: u8,
    },
}

/// The slot for deadlines in a later `64^6` block than `elapsed` (see invariant 3).
const FAR: Loc = Loc::Slot {
    level: TOP as u8,
    slot: 0,
};

struct Entry<T> {
    deadline: u64,
    /// `None` exactly when the entry is vacant.
    value: Option<T>,
    prev: u32,
    /// Next in the slot list, or in the free list while vacant.
    next: u32,
    generation: u32,
    loc: Loc,
}

/// A hierarchical timer wheel holding values of type `T`, with millisecond resolution.
///
/// See the [module documentation](self) for the structure, costs and guarantees.
pub struct Wheel<T> {
    /// The wheel's time: every slot before it has been processed.
    elapsed: u64,
    /// The largest `now` seen, so that time never runs backwards.
    now: u64,
    len: usize,
    occupied: [u64; LEVELS],
    heads: [[u32; SLOTS]; LEVELS],
    overdue: u32,
    entries: Vec<Entry<T>>,
    free: u32,
    /// The earliest armed timers as (deadline, slab index), in deadline order: every armed
    /// timer not among them is due no earlier than the last. Empty only when nothing is
    /// armed. [`Wheel::next_deadline`] reads it, so a shell asking after every event does
    /// not scan a higher level's slot each time (the earliest timers often share one with
    /// a whole round of others: a tenth of a simulation's time went there); the slot is
    /// scanned again only once `SOONEST` of them were removed.
    soonest: [(u64, u32); SOONEST],
    soonest_len: usize,
}

impl<T> fmt::Debug for Wheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are not required to be `Debug`; a summary is what a log line needs.
        f.debug_struct("Wheel")
            .field("elapsed", &self.elapsed)
            .field("now", &self.now)
            .field("len", &self.len)
            .field("next_deadline", &self.next_deadline())
            .finish_non_exhaustive()
    }
}

/// Where a timer due at `deadline` belongs when the wheel's time is `elapsed`.
fn place(elapsed: u64, deadline: u64) -> Loc {
    if deadline < elapsed {
        return Loc::Overdue;
    }
    let diff = elapsed ^ deadline;
    if diff >> HORIZON_BITS != 0 {
        return FAR;
    }
    // `| SLOT_MASK` keeps differences within one 64 ms block at level 0 (and makes the
    // value non-zero); `diff < 2^36` bounds the level by 5.
    let significant = u64::BITS - 1 - (diff | SLOT_MASK).leading_zeros();
    let level = significant / SLOT_BITS;
    let slot = (deadline >> (level * SLOT_BITS)) & SLOT_MASK;
    debug_assert!((level as usize) < LEVELS);
    Loc::Slot {
        level: level as u8,
        slot: slot as u8,
    }
}

impl<T> Wheel<T> {
    /// A wheel whose clock starts at `now` (milliseconds, any monotonic origin).
    ///
    /// Does not allocate.
    #[must_use]
    pub fn new(now: u64) -> Self {
        Wheel {
            elapsed: now,
            now,
            len: 0,
            occupied: [0; LEVELS],
            heads: [[NIL; SLOTS]; LEVELS],
            overdue: NIL,
            entries: Vec::new(),
            free: NIL,
            soonest: [(0, NIL); SOONEST],
            soonest_len: 0,
        }
    }

    /// Arms a timer for `deadline` (ms). O(1). A deadline at or before the wheel's current
    /// time fires at the next [`pop_expired`](Self::pop_expired).
    ///
    /// Any `u64` is accepted; deadlines beyond the wheel's ~2.2-year horizon still fire at
    /// exactly their deadline.
    pub fn schedule(&mut self, deadline: u64, value: T) -> TimerId {
        let id = self.alloc(deadline, value);
        self.link(id.index, place(self.elapsed, deadline));
        self.len += 1;
        // Kept only if due before the last kept one (or the first armed): one due no
        // earlier may stand behind timers that are not kept.
        let last = self
            .soonest_len
            .checked_sub(1)
            .and_then(|i| self.soonest.get(i));
        if last.is_none_or(|&(d, _)| deadline < d) {
            self.keep_soonest(deadline, id.index);
        }
        id
    }

    /// Disarms a timer. O(1). Returns its value, or `None` if the handle is stale (fired,
    /// cancelled, or from slot reuse).
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        if !self.is_armed(id) {
            return None;
        }
        self.remove(id.index).map(|(_, value)| value)
    }

    /// The deadline of armed timer `id`, or `None` if the handle is stale. O(1).
    #[must_use]
    pub fn deadline(&self, id: TimerId) -> Option<u64> {
        self.entries
            .get(id.index as usize)
            .filter(|e| e.generation == id.generation && e.value.is_some())
            .map(|e| e.deadline)
    }

    /// Whether `id` is still armed. O(1).
    #[must_use]
    pub fn is_armed(&self, id: TimerId) -> bool {
        self.entries
            .get(id.index as usize)
            .is_some_and(|e| e.generation == id.generation && e.value.is_some())
    }

    /// The exact earliest deadline of all armed timers (not a slot boundary
    /// approximation), or `None` when empty.
    ///
    /// The poll loop can sleep until exactly this; it is never later than the true
    /// earliest deadline (nor earlier). The result can be in the past, e.g. for a timer
    /// scheduled with a past deadline or not yet popped.
    ///
    /// Cost: O(1): the wheel keeps its earliest timers in order (see the module's
    /// complexity notes for what that costs [`Wheel::cancel`] and [`Wheel::pop_expired`]).
    #[must_use]
    pub fn next_deadline(&self) -> Option<u64> {
        if self.soonest_len == 0 {
            return None;
        }
        self.soonest.first().map(|&(deadline, _)| deadline)
    }

    /// [`Wheel::next_deadline`] worked out from the slots (what `soonest` is checked
    /// against).
    #[cfg(test)]
    fn find_next_deadline(&self) -> Option<u64> {
        if self.overdue != NIL {
            return self.list_min(self.overdue).map(|(_, deadline)| deadline);
        }
        let (level, slot, start) = self.earliest_slot()?;
        if level == 0 {
            // Invariant 2: a level-0 slot holds only timers due exactly at its start.
            return Some(start);
        }
        self.list_min(self.head(level, slot))
            .map(|(_, deadline)| deadline)
    }

    /// Removes and returns one timer whose deadline is `<= now`, in deadline order (ties in
    /// any order), or `None`.
    ///
    /// Callers loop: `while let Some((id, v)) = wheel.pop_expired(now) { ... }` and may
    /// schedule new timers inside the loop. A `now` earlier than a previous `now` is
    /// treated as the previous one (time never runs backwards).
    #[must_use]
    pub fn pop_expired(&mut self, now: u64) -> Option<(TimerId, T)> {
        let now = now.max(self.now);
        self.now = now;
        if self.overdue != NIL {
            // Overdue timers are due before everything on the wheel proper (invariant 1).
            let (index, _) = self.list_min(self.overdue)?;
            return self.remove(index);
        }
        while let Some((level, slot, start)) = self.earliest_slot() {
            if start > now {
                break;
            }
            debug_assert!(start >= self.elapsed);
            if level == 0 {
                self.elapsed = start;
                return self.remove(self.head(0, slot));
            }
            if level == TOP && slot == 0 {
                // Only far timers are left (the far slot is the earliest occupied one), so
                // the wheel may jump straight to the earliest of them, or to `now`, without
                // passing any timer; stepping one 64^6 block at a time could take 2^28
                // iterations for a jump across the whole u64 range.
                let head = self.head(level, slot);
                let earliest = self.list_min(head).map_or(start, |(_, d)| d);
                debug_assert!(earliest >= start);
                self.elapsed = earliest.min(now);
            } else {
                self.elapsed = start;
            }
            self.cascade(level, slot);
        }
        // Nothing is due, so every occupied slot starts after `now` (invariant 4).
        debug_assert!(now >= self.elapsed);
        self.elapsed = now;
        None
    }

    /// Number of armed timers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is armed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The earliest occupied slot of the wheel proper, as (level, slot, start time).
    ///
    /// The lowest non-empty level holds the earliest timers (see the module invariants), so
    /// this looks at no more than one bitfield per level.
    fn earliest_slot(&self) -> Option<(usize, u8, u64)> {
        (0..LEVELS).find_map(|level| {
            let occupied = self.occupied[level % LEVELS];
            if occupied == 0 {
                return None;
            }
            let shift = level as u32 * SLOT_BITS;
            let block_mask = (1u64 << (shift + SLOT_BITS)) - 1;
            let block_start = self.elapsed & !block_mask;
            let current = (self.elapsed >> shift) & SLOT_MASK;
            // At the top level slot 0 is the far slot; ordinary slots come before it.
            let ordinary = if level == TOP {
                occupied & !1
            } else {
                occupied
            };
            if ordinary != 0 {
                let slot = u64::from(ordinary.trailing_zeros());
                debug_assert!(slot >= current && (level == 0 || slot > current));
                // `slot << shift` is below the block size, so `|` cannot overflow.
                return Some((level, slot as u8, block_start | (slot << shift)));
            }
            // Invariant 3 keeps far timers out of the last block of the u64 range, so the
            // saturation never happens; it only keeps the arithmetic panic-free.
            let next_block = block_start.saturating_add(1 << HORIZON_BITS);
            Some((level, 0, next_block))
        })
    }

    fn head(&self, level: usize, slot: u8) -> u32 {
        self.heads[level % LEVELS][usize::from(slot) % SLOTS]
    }

    fn head_mut(&mut self, loc: Loc) -> Option<&mut u32> {
        match loc {
            Loc::Free => None,
            Loc::Overdue => Some(&mut self.overdue),
            Loc::Slot { level, slot } => {
                Some(&mut self.heads[usize::from(level) % LEVELS][usize::from(slot) % SLOTS])
            }
        }
    }

    /// The entry with the smallest deadline in the list starting at `head`.
    fn list_min(&self, head: u32) -> Option<(u32, u64)> {
        let mut best: Option<(u32, u64)> = None;
        let mut index = head;
        while index != NIL {
            let entry = self.entries.get(index as usize)?;
            if best.is_none_or(|(_, d)| entry.deadline < d) {
                best = Some((index, entry.deadline));
            }
            index = entry.next;
        }
        best
    }

    /// Puts (deadline, index) among the kept earliest timers, in order after those due
    /// no later; the last one drops out when they are `SOONEST`.
    fn keep_soonest(&mut self, deadline: u64, index: u32) {
        let kept = self.soonest.get(..self.soonest_len).unwrap_or_default();
        let at = kept.partition_point(|&(d, _)| d <= deadline);
        if at >= SOONEST {
            return;
        }
        let end = (self.soonest_len + 1).min(SOONEST);
        if let Some(tail) = self.soonest.get_mut(at..end) {
            tail.rotate_right(1);
            if let Some(first) = tail.first_mut() {
                *first = (deadline, index);
            }
        }
        self.soonest_len = end;
    }

    /// Forgets entry `index` among the kept earliest timers (it was removed); when none
    /// is left, keeps the earliest of the slot that holds the earliest timers (or of the
    /// overdue list): every timer elsewhere is due no earlier than all of them.
    fn forget_soonest(&mut self, index: u32) {
        let kept = self.soonest.get(..self.soonest_len).unwrap_or_default();
        let Some(at) = kept.iter().position(|&(_, i)| i == index) else {
            return;
        };
        if let Some(tail) = self.soonest.get_mut(at..self.soonest_len) {
            tail.rotate_left(1);
        }
        self.soonest_len -= 1;
        if self.soonest_len > 0 || self.len == 0 {
            return;
        }
        let mut index = if self.overdue != NIL {
            self.overdue
        } else {
            match self.earliest_slot() {
                Some((level, slot, _)) => self.head(level, slot),
                None => NIL,
            }
        };
        while let Some(entry) = self.entries.get(index as usize) {
            let (deadline, next) = (entry.deadline, entry.next);
            self.keep_soonest(deadline, index);
            index = next;
        }
    }

    /// Takes a vacant entry (or grows the slab) and fills it; the entry is not yet linked.
    fn alloc(&mut self, deadline: u64, value: T) -> TimerId {
        if self.free != NIL {
            let index = self.free;
            if let Some(entry) = self.entries.get_mut(index as usize) {
                debug_assert!(entry.value.is_none() && entry.loc == Loc::Free);
                self.free = entry.next;
                entry.deadline = deadline;
                entry.value = Some(value);
                entry.prev = NIL;
                entry.next = NIL;
                return TimerId {
                    index,
                    generation: entry.generation,
                };
            }
            debug_assert!(false, "free list points outside the slab");
            self.free = NIL;
        }
        let index = match u32::try_from(self.entries.len()) {
            Ok(index) if index != NIL => index,
            // Documented in the module's panic section: needs about 100 GiB of armed timers.
            _ => panic!("timer wheel: more than u32::MAX - 1 timers armed at once"),
        };
        self.entries.push(Entry {
            deadline,
            value: Some(value),
            prev: NIL,
            next: NIL,
            generation: 0,
            loc: Loc::Free,
        });
        TimerId {
            index,
            generation: 0,
        }
    }

    /// Pushes entry `index` onto the front of list `loc`.
    fn link(&mut self, index: u32, loc: Loc) {
        let Some(head) = self.head_mut(loc).map(|h| *h) else {
            debug_assert!(false, "linking into the free list");
            return;
        };
        let Some(entry) = self.entries.get_mut(index as usize) else {
            debug_assert!(false, "linking an entry outside the slab");
            return;
        };
        entry.prev = NIL;
        entry.next = head;
        entry.loc = loc;
        if let Some(old) = self.entries.get_mut(head as usize) {
            old.prev = index;
        }
        if let Some(h) = self.head_mut(loc) {
            *h = index;
        }
        if let Loc::Slot { level, slot } = loc {
            self.occupied[usize::from(level) % LEVELS] |= 1 << (slot % SLOTS as u8);
        }
    }

    /// Unlinks entry `index` from whatever list holds it, in O(1).
    fn unlink(&mut self, index: u32) {
        let Some(entry) = self.entries.get_mut(index as usize) else {
            return;
        };
        let (prev, next, loc) = (entry.prev, entry.next, entry.loc);
        entry.prev = NIL;
        entry.next = NIL;
        entry.loc = Loc::Free;
        if let Some(p) = self.entries.get_mut(prev as usize) {
            p.next = next;
        } else if let Some(h) = self.head_mut(loc) {
            debug_assert_eq!(*h, index);
            *h = next;
            if next == NIL
                && let Loc::Slot { level, slot } = loc
            {
                self.occupied[usize::from(level) % LEVELS] &= !(1 << (slot % SLOTS as u8));
            }
        }
        if let Some(n) = self.entries.get_mut(next as usize) {
            n.prev = prev;
        }
    }

    /// Unlinks and frees entry `index`, returning its handle and value.
    fn remove(&mut self, index: u32) -> Option<(TimerId, T)> {
        self.unlink(index);
        let entry = self.entries.get_mut(index as usize)?;
        let value = entry.value.take()?;
        let id = TimerId {
            index,
            generation: entry.generation,
        };
        // A new generation invalidates every handle to this use of the entry.
        entry.generation = entry.generation.wrapping_add(1);
        entry.next = self.free;
        self.free = index;
        self.len -= 1;
        self.forget_soonest(index);
        Some((id, value))
    }

    /// Empties a slot and places its timers again relative to the (already advanced)
    /// `elapsed`, which moves them to lower levels (far timers may stay far).
    fn cascade(&mut self, level: usize, slot: u8) {
        let loc = Loc::Slot {
            level: level as u8,
            slot,
        };
        let mut index = match self.head_mut(loc) {
            Some(h) => std::mem::replace(h, NIL),
            None => NIL,
        };
        self.occupied[level % LEVELS] &= !(1 << (slot % SLOTS as u8));
        while index != NIL {
            let Some(entry) = self.entries.get(index as usize) else {
                debug_assert!(false, "slot list points outside the slab");
                return;
            };
            let (next, deadline) = (entry.next, entry.deadline);
            let target = place(self.elapsed, deadline);
            debug_assert!(target != loc || loc == FAR);
            self.link(index, target);
            index = next;
        }
    }
}

#[cfg(test)]
impl<T> Wheel<T> {
    /// Verifies every structural invariant of the module documentation.
    fn check_invariants(&self) {
        assert!(self.elapsed <= self.now);
        let mut armed = 0;
        let mut check_list = |head: u32, loc: Loc| {
            let mut prev = NIL;
            let mut index = head;
            while index != NIL {
                let e = &self.entries[index as usize];
                assert_eq!(e.loc, loc);
                assert_eq!(e.prev, prev);
                assert!(e.value.is_some());
                let d = e.deadline;
                match loc {
                    Loc::Free => unreachable!(),
                    Loc::Overdue => assert!(d < self.elapsed),
                    l if l == FAR => assert!(d >> HORIZON_BITS > self.elapsed >> HORIZON_BITS),
                    Loc::Slot { level, slot } => {
                        let shift = u32::from(level) * SLOT_BITS;
                        assert!(d >= self.elapsed);
                        assert_eq!(d >> shift >> SLOT_BITS, self.elapsed >> shift >> SLOT_BITS);
                        assert_eq!((d >> shift) & SLOT_MASK, u64::from(slot));
                        let current = (self.elapsed >> shift) & SLOT_MASK;
                        if level == 0 {
                            assert!(u64::from(slot) >= current);
                        } else {
                            assert!(u64::from(slot) > current);
                        }
                    }
                }
                armed += 1;
                prev = index;
                index = e.next;
            }
        };
        check_list(self.overdue, Loc::Overdue);
        for level in 0..LEVELS {
            for slot in 0..SLOTS {
                let head = self.heads[level][slot];
                let bit = self.occupied[level] >> slot & 1 == 1;
                assert_eq!(
                    head != NIL,
                    bit,
                    "occupied bit of level {level} slot {slot}"
                );
                let loc = Loc::Slot {
                    level: level as u8,
                    slot: slot as u8,
                };
                check_list(head, loc);
            }
        }
        assert_eq!(armed, self.len);
        // The kept earliest timers: armed, in order, the earliest of all, and none
        // elsewhere due before the last of them.
        let kept = &self.soonest[..self.soonest_len];
        assert_eq!(kept.is_empty(), self.len == 0);
        assert_eq!(kept.first().map(|k| k.0), self.find_next_deadline());
        assert!(kept.windows(2).all(|w| w[0].0 <= w[1].0));
        for &(d, i) in kept {
            let e = &self.entries[i as usize];
            assert!(e.value.is_some());
            assert_eq!(e.deadline, d);
        }
        if let Some(&(last, _)) = kept.last() {
            for (i, e) in self.entries.iter().enumerate() {
                if e.value.is_some() && !kept.iter().any(|k| k.1 as usize == i) {
                    assert!(
                        e.deadline >= last,
                        "a timer not kept is due before the last kept"
                    );
                }
            }
        }
        let mut vacant = 0;
        let mut index = self.free;
        while index != NIL {
            let e = &self.entries[index as usize];
            assert!(e.value.is_none());
            assert_eq!(e.loc, Loc::Free);
            vacant += 1;
            index = e.next;
        }
        assert_eq!(armed + vacant, self.entries.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const DAY: u64 = 86_400_000;
    const HORIZON: u64 = 1 << HORIZON_BITS;

    /// Drains everything due at `now`, checking order and that nothing fires early.
    fn drain<T>(wheel: &mut Wheel<T>, now: u64) -> Vec<(u64, T)>
    where
        T: Copy + Into<u64>,
    {
        let mut out: Vec<(u64, T)> = Vec::new();
        let asked = now;
        let now = now.max(wheel.now);
        while let Some((id, v)) = wheel.pop_expired(asked) {
            assert!(!wheel.is_armed(id));
            let deadline: u64 = v.into();
            assert!(
                deadline <= now,
                "fired early: deadline {deadline}, now {now}"
            );
            if let Some(&(last, _)) = out.last() {
                assert!(last <= deadline, "out of order: {last} then {deadline}");
            }
            out.push((deadline, v));
            wheel.check_invariants();
        }
        out
    }

    #[test]
    fn new_is_empty_and_does_not_allocate() {
        let wheel: Wheel<u64> = Wheel::new(12_345);
        assert!(wheel.is_empty());
        assert_eq!(wheel.len(), 0);
        assert_eq!(wheel.next_deadline(), None);
        assert_eq!(wheel.entries.capacity(), 0);
        assert!(std::mem::size_of::<Wheel<u64>>() < 2048);
        wheel.check_invariants();
    }

    #[test]
    fn schedule_cancel_pop_basics() {
        let mut wheel = Wheel::new(1_000);
        let a = wheel.schedule(1_010, "a");
        let b = wheel.schedule(1_005, "b");
        let c = wheel.schedule(1_200, "c");
        assert_eq!(wheel.len(), 3);
        assert!(wheel.is_armed(a) && wheel.is_armed(b) && wheel.is_armed(c));
        assert_eq!(wheel.next_deadline(), Some(1_005));

        assert_eq!(wheel.pop_expired(1_004), None);
        assert_eq!(wheel.cancel(a), Some("a"));
        assert!(!wheel.is_armed(a));
        assert_eq!(wheel.len(), 2);

        assert_eq!(wheel.pop_expired(1_100), Some((b, "b")));
        assert_eq!(wheel.pop_expired(1_100), None);
        assert!(!wheel.is_armed(b));
        assert_eq!(wheel.next_deadline(), Some(1_200));
        assert_eq!(wheel.pop_expired(1_199), None);
        assert_eq!(wheel.pop_expired(1_200), Some((c, "c")));
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_deadline(), None);
        wheel.check_invariants();
    }

    #[test]
    fn stale_handles_are_rejected_and_harmless() {
        let mut wheel = Wheel::new(0);
        let old = wheel.schedule(50, 1u32);
        assert_eq!(wheel.cancel(old), Some(1));
        assert_eq!(wheel.cancel(old), None);

        // The freed entry is reused, under a new generation.
        let new = wheel.schedule(60, 2u32);
        assert_eq!(new.index, old.index);
        assert_ne!(new, old);
        assert!(!wheel.is_armed(old));
        assert_eq!(wheel.cancel(old), None);
        assert!(wheel.is_armed(new));
        assert_eq!(wheel.len(), 1);

        // A fired timer's handle goes stale as well.
        assert_eq!(wheel.pop_expired(60), Some((new, 2)));
        let newer = wheel.schedule(70, 3u32);
        assert_eq!(wheel.cancel(new), None);
        assert!(wheel.is_armed(newer));
        assert_eq!(wheel.pop_expired(70), Some((newer, 3)));

        // A handle the wheel never issued.
        let bogus = TimerId {
            index: 999,
            generation: 0,
        };
        assert!(!wheel.is_armed(bogus));
        assert_eq!(wheel.cancel(bogus), None);
        wheel.check_invariants();
    }

    #[test]
    fn slab_reuses_entries() {
        let mut wheel = Wheel::new(0);
        for i in 0..1_000u64 {
            let id = wheel.schedule(i * 7_919, i);
            assert_eq!(wheel.cancel(id), Some(i));
        }
        assert_eq!(wheel.entries.len(), 1);
        for i in 0..100u64 {
            wheel.schedule(i, i);
        }
        assert_eq!(drain(&mut wheel, 100).len(), 100);
        for i in 0..100u64 {
            wheel.schedule(200 + i, i);
        }
        assert_eq!(wheel.entries.len(), 100);
        wheel.check_invariants();
    }

    #[test]
    fn next_deadline_is_exact_at_every_level() {
        let offsets = [
            0,
            1,
            63,
            64,
            65,
            4_095,
            4_096,
            4_097,
            262_143,
            262_144,
            16_777_215,
            16_777_216,
            DAY,
            7 * DAY,
            HORIZON - 1,
            HORIZON,
            HORIZON + 1,
            3 * HORIZON + 12_345,
        ];
        for base in [0, 1, 63, 4_000, 1 << 35, HORIZON - 1, 5 * HORIZON + 77] {
            for &offset in &offsets {
                let mut wheel = Wheel::new(base);
                let deadline = base + offset;
                wheel.schedule(deadline, deadline);
                wheel.schedule(deadline + 1, deadline + 1);
                wheel.schedule(deadline.saturating_add(HORIZON), 0);
                assert_eq!(
                    wheel.next_deadline(),
                    Some(deadline),
                    "base {base} +{offset}"
                );
                if deadline > base {
                    assert_eq!(wheel.pop_expired(deadline - 1), None);
                    assert_eq!(
                        wheel.next_deadline(),
                        Some(deadline),
                        "base {base} +{offset}"
                    );
                }
                wheel.check_invariants();
                let (_, v) = wheel.pop_expired(deadline).expect("due");
                assert_eq!(v, deadline);
                assert_eq!(wheel.pop_expired(deadline), None);
                assert_eq!(wheel.next_deadline(), Some(deadline + 1));
            }
        }
        let mut wheel = Wheel::new(0);
        wheel.schedule(u64::MAX, ());
        assert_eq!(wheel.next_deadline(), Some(u64::MAX));
    }

    #[test]
    fn past_deadlines_fire_next_in_deadline_order() {
        let mut wheel = Wheel::new(1_000);
        wheel.schedule(1_000, 1_000u64);
        wheel.schedule(400, 400);
        wheel.schedule(900, 900);
        wheel.schedule(0, 0);
        wheel.schedule(1_001, 1_001);
        assert_eq!(wheel.next_deadline(), Some(0));
        // Even a `now` that went backwards counts as the latest one.
        let fired: Vec<u64> = drain(&mut wheel, 10).into_iter().map(|(d, _)| d).collect();
        assert_eq!(fired, [0, 400, 900, 1_000]);
        assert_eq!(wheel.next_deadline(), Some(1_001));
    }

    #[test]
    fn time_never_runs_backwards() {
        let mut wheel = Wheel::new(0);
        wheel.schedule(500, 500u64);
        assert_eq!(wheel.pop_expired(100), None);
        wheel.schedule(300, 300);
        // Stop mid-burst: the wheel's time lags the latest `now` until drained.
        assert_eq!(wheel.pop_expired(600).map(|(_, v)| v), Some(300));
        wheel.schedule(550, 550);
        let fired: Vec<u64> = drain(&mut wheel, 0).into_iter().map(|(d, _)| d).collect();
        assert_eq!(fired, [500, 550]);
        wheel.schedule(590, 590);
        assert_eq!(wheel.pop_expired(1).map(|(_, v)| v), Some(590));
    }

    #[test]
    fn schedule_inside_pop_loop() {
        let mut wheel = Wheel::new(0);
        for d in [10u64, 20, 30] {
            wheel.schedule(d, d);
        }
        let mut fired = Vec::new();
        while let Some((_, d)) = wheel.pop_expired(25) {
            fired.push(d);
            if d == 10 {
                wheel.schedule(15, 15); // due within this burst
                wheel.schedule(26, 26); // not yet
                wheel.schedule(5, 5); // already past: fires next
            }
        }
        assert_eq!(fired, [10, 5, 15, 20]);
        assert_eq!(wheel.next_deadline(), Some(26));
        wheel.check_invariants();
    }

    #[test]
    fn jump_of_several_days_fires_everything_in_order_and_nothing_early() {
        let mut wheel = Wheel::new(0);
        let mut deadlines = Vec::new();
        let mut x = 1u64;
        for _ in 0..2_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let d = (x >> 11) % (10 * DAY);
            deadlines.push(d);
            wheel.schedule(d, d);
        }
        deadlines.sort_unstable();
        let mut fired = Vec::new();
        for now in [0, 1, 2 * DAY, 2 * DAY + 1, 5 * DAY, 30 * DAY] {
            for (d, _) in drain(&mut wheel, now) {
                fired.push(d);
            }
            let pending = deadlines.iter().find(|&&d| d > now).copied();
            assert_eq!(wheel.next_deadline(), pending);
        }
        assert_eq!(fired, deadlines);
        assert!(wheel.is_empty());
    }

    #[test]
    fn far_timers_cascade_without_firing_early() {
        let mut wheel = Wheel::new(0);
        let far = [HORIZON + 5, 3 * HORIZON - 1, 3 * HORIZON, 40 * HORIZON + 9];
        for d in far {
            wheel.schedule(d, d);
        }
        wheel.schedule(u64::MAX, u64::MAX);
        let mut now = 0;
        let mut fired = Vec::new();
        // Walk in strides that do not align with slot boundaries.
        while now < 41 * HORIZON {
            now += HORIZON / 3 + 12_345;
            for (d, _) in drain(&mut wheel, now) {
                fired.push(d);
            }
            let expected = far.iter().chain([u64::MAX].iter()).find(|&&d| d > now);
            assert_eq!(wheel.next_deadline(), expected.copied());
        }
        assert_eq!(fired, far);
        // A jump across the whole remaining range is cheap (no per-block stepping).
        assert_eq!(drain(&mut wheel, u64::MAX - 1).len(), 0);
        assert_eq!(wheel.next_deadline(), Some(u64::MAX));
        assert_eq!(drain(&mut wheel, u64::MAX).len(), 1);
    }

    #[test]
    fn extreme_clock_values() {
        let mut wheel = Wheel::new(u64::MAX - 10);
        wheel.schedule(u64::MAX, 1u64);
        wheel.schedule(u64::MAX - 20, 2);
        wheel.schedule(0, 3);
        assert_eq!(wheel.next_deadline(), Some(0));
        let fired: Vec<u64> = std::iter::from_fn(|| wheel.pop_expired(u64::MAX))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(fired, [3, 2, 1]);
        assert_eq!(wheel.pop_expired(u64::MAX), None);
        wheel.schedule(u64::MAX, 4);
        assert_eq!(wheel.pop_expired(0).map(|(_, v)| v), Some(4));
        wheel.check_invariants();
    }

    /// xorshift64*: deterministic randomness without dependencies.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Reference model: armed timers ordered by deadline, plus a list to pick from.
    struct Model {
        now: u64,
        by_deadline: BTreeSet<(u64, u64)>,
        live: Vec<(TimerId, u64, u64)>,
        dead: Vec<TimerId>,
        next_value: u64,
    }

    impl Model {
        fn min(&self) -> Option<u64> {
            self.by_deadline.first().map(|&(d, _)| d)
        }

        fn schedule(&mut self, wheel: &mut Wheel<u64>, deadline: u64) {
            let value = self.next_value;
            self.next_value += 1;
            let id = wheel.schedule(deadline, value);
            assert!(wheel.is_armed(id));
            self.by_deadline.insert((deadline, value));
            self.live.push((id, deadline, value));
        }

        fn forget(&mut self, position: usize) -> (TimerId, u64, u64) {
            let (id, deadline, value) = self.live.swap_remove(position);
            assert!(self.by_deadline.remove(&(deadline, value)));
            self.dead.push(id);
            (id, deadline, value)
        }
    }

    fn random_deadline(rng: &mut Rng, now: u64) -> u64 {
        match rng.below(20) {
            0..=1 => now.saturating_sub(rng.below(300)),
            2..=6 => now.saturating_add(rng.below(70)),
            7..=10 => now.saturating_add(rng.below(5_000)),
            11..=12 => now.saturating_add(rng.below(1 << 26)),
            13..=14 => now.saturating_add(rng.below(5 * DAY)),
            15 => now.saturating_add(rng.below(4 * HORIZON)),
            16 => (now | (HORIZON - 1)).saturating_add(rng.below(3)),
            17 => u64::MAX - rng.below(3),
            18 => rng.next(),
            _ => now,
        }
    }

    fn random_now(rng: &mut Rng, wheel: &Wheel<u64>, now: u64) -> u64 {
        match rng.below(16) {
            0..=1 => now,
            2..=6 => now.saturating_add(rng.below(70)),
            7..=8 => now.saturating_add(rng.below(10_000)),
            9 => now.saturating_add(rng.below(3 * DAY)),
            10 => now.saturating_add(rng.below(3 * HORIZON)),
            11 => now.saturating_sub(rng.below(1_000)),
            12..=13 => wheel.next_deadline().unwrap_or(now),
            14 => wheel.next_deadline().unwrap_or(now).saturating_sub(1),
            _ => {
                if rng.below(50) == 0 {
                    u64::MAX
                } else {
                    now.saturating_add(1)
                }
            }
        }
    }

    fn run_model(seed: u64, steps: usize) {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let start = match rng.below(4) {
            0 => 0,
            1 => HORIZON - rng.below(100),
            2 => rng.below(1 << 50),
            _ => u64::MAX - rng.below(1 << 20),
        };
        let mut wheel = Wheel::new(start);
        let mut model = Model {
            now: start,
            by_deadline: BTreeSet::new(),
            live: Vec::new(),
            dead: Vec::new(),
            next_value: 0,
        };
        for _ in 0..steps {
            match rng.below(10) {
                0..=3 => {
                    for _ in 0..=rng.below(4) {
                        let deadline = random_deadline(&mut rng, model.now);
                        model.schedule(&mut wheel, deadline);
                    }
                }
                4..=5 if !model.live.is_empty() => {
                    let position = rng.below(model.live.len() as u64) as usize;
                    let (id, _, value) = model.forget(position);
                    assert_eq!(wheel.cancel(id), Some(value));
                    assert!(!wheel.is_armed(id));
                    assert_eq!(wheel.cancel(id), None);
                }
                6 if !model.dead.is_empty() => {
                    let id = model.dead[rng.below(model.dead.len() as u64) as usize];
                    let len = wheel.len();
                    assert!(!wheel.is_armed(id));
                    assert_eq!(wheel.cancel(id), None);
                    assert_eq!(wheel.len(), len);
                }
                _ => {
                    let now = random_now(&mut rng, &wheel, model.now);
                    model.now = model.now.max(now);
                    // Sometimes stop early, as a caller that handles a bounded burst would.
                    let budget = if rng.below(4) == 0 {
                        1 + rng.below(3)
                    } else {
                        u64::MAX
                    };
                    let mut popped = 0;
                    loop {
                        if popped == budget {
                            break;
                        }
                        let Some((id, value)) = wheel.pop_expired(now) else {
                            if let Some(min) = model.min() {
                                assert!(min > model.now, "timer at {min} lost at {}", model.now);
                            }
                            break;
                        };
                        popped += 1;
                        let position = model
                            .live
                            .iter()
                            .position(|&(_, _, v)| v == value)
                            .expect("fired timer is armed in the model");
                        let (live_id, deadline, _) = model.live[position];
                        assert_eq!(id, live_id);
                        assert!(
                            deadline <= model.now,
                            "fired early: {deadline} > {}",
                            model.now
                        );
                        assert_eq!(Some(deadline), model.min(), "not in deadline order");
                        model.forget(position);
                        assert!(!wheel.is_armed(id));
                        if rng.below(8) == 0 {
                            let deadline = random_deadline(&mut rng, model.now);
                            model.schedule(&mut wheel, deadline);
                        }
                        assert_eq!(wheel.next_deadline(), model.min());
                    }
                }
            }
            assert_eq!(wheel.len(), model.live.len());
            assert_eq!(wheel.is_empty(), model.live.is_empty());
            assert_eq!(wheel.next_deadline(), model.min());
            wheel.check_invariants();
        }
        // Everything left fires at the end of time, in order.
        while let Some((_, value)) = wheel.pop_expired(u64::MAX) {
            let position = model
                .live
                .iter()
                .position(|&(_, _, v)| v == value)
                .expect("fired timer is armed in the model");
            assert_eq!(Some(model.live[position].1), model.min());
            model.forget(position);
        }
        assert!(model.live.is_empty());
        assert!(wheel.is_empty());
        wheel.check_invariants();
    }

    /// A round of timers in one higher-level slot (a mesh's probe turns or timeouts, many
    /// more than the 16 the wheel keeps in order), taken off by cancels in any order and
    /// by pops: the next deadline is the earliest left after every step, across refills.
    #[test]
    fn next_deadline_through_a_round_in_one_slot() {
        let mut rng = Rng(0x5eed);
        let mut wheel = Wheel::new(4_000);
        let mut armed: Vec<(TimerId, u64)> = (0..100)
            .map(|_| {
                let deadline = 4_100 + rng.below(1_000);
                (wheel.schedule(deadline, deadline), deadline)
            })
            .collect();
        let mut now = 4_000;
        while !armed.is_empty() {
            let earliest = armed.iter().map(|&(_, d)| d).min();
            assert_eq!(wheel.next_deadline(), earliest);
            wheel.check_invariants();
            if rng.below(2) == 0 {
                let (id, deadline) = armed.swap_remove(rng.below(armed.len() as u64) as usize);
                assert_eq!(wheel.cancel(id), Some(deadline));
            } else {
                now = now.max(earliest.unwrap_or(now));
                let (id, deadline) = wheel.pop_expired(now).expect("the earliest is due");
                let at = armed.iter().position(|&(i, _)| i == id).expect("armed");
                assert_eq!(armed.swap_remove(at).1, deadline);
            }
        }
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn randomized_against_reference_model() {
        for seed in 0..60 {
            run_model(seed, 3_000);
        }
    }
}
