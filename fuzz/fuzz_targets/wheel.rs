//! The timer wheel against a plain ordered-set model.
//!
//! Input: 2 setup bytes (start time), then ops: schedule (deadlines in the past, within
//! the next 64 ms slot, at slot and level boundaries, beyond the ~2.2-year horizon, at
//! the end of `u64`), cancel a live timer, cancel a stale handle, pop expired timers at a
//! `now` that may go forwards a little or a lot, stay, or go backwards, optionally in
//! bounded bursts and scheduling new timers from inside the pop loop.
//!
//! Checks:
//! - `schedule` arms (`is_armed`); `cancel` of a live handle returns its value once,
//!   then the handle is stale; a stale handle cancels nothing and changes nothing;
//! - `pop_expired` returns only timers due at the latest `now` seen (never early, even
//!   for a `now` that went backwards), always the earliest armed deadline (so in deadline
//!   order), with its own handle and value; when it returns `None` nothing armed is due;
//! - after every op: `len`/`is_empty` match the model and `next_deadline` is exactly
//!   the earliest armed deadline;
//! - at the end, popping at `u64::MAX` drains every timer in deadline order.

#![no_main]

mod common;

use std::collections::{BTreeSet, HashMap};

use common::Input;
use libfuzzer_sys::fuzz_target;
use uptime_tracker::timer::{TimerId, Wheel};

/// 64^6 ms: what the wheel's levels cover before the far slot.
const HORIZON: u64 = 1 << 36;
const STALE_KEPT: usize = 64;

struct Model {
    wheel: Wheel<u64>,
    /// The latest `now` given to `pop_expired` (or the start).
    now: u64,
    /// (deadline, value) of every armed timer.
    by_deadline: BTreeSet<(u64, u64)>,
    /// value -> (handle, deadline, index in `live`).
    armed: HashMap<u64, (TimerId, u64, usize)>,
    /// Values of armed timers, to pick one by index.
    live: Vec<u64>,
    stale: Vec<TimerId>,
    next_value: u64,
}

impl Model {
    fn schedule(&mut self, deadline: u64) {
        let value = self.next_value;
        self.next_value += 1;
        let id = self.wheel.schedule(deadline, value);
        assert!(self.wheel.is_armed(id));
        self.by_deadline.insert((deadline, value));
        self.armed.insert(value, (id, deadline, self.live.len()));
        self.live.push(value);
    }

    /// Forgets an armed timer that the wheel gave up (cancelled or fired).
    fn forget(&mut self, value: u64) -> (TimerId, u64) {
        let (id, deadline, index) = self.armed.remove(&value).expect("model: armed");
        assert!(self.by_deadline.remove(&(deadline, value)));
        self.live.swap_remove(index);
        if let Some(&moved) = self.live.get(index) {
            self.armed.get_mut(&moved).expect("model: moved").2 = index;
        }
        if self.stale.len() < STALE_KEPT {
            self.stale.push(id);
        } else {
            self.stale[(value as usize) % STALE_KEPT] = id;
        }
        (id, deadline)
    }

    fn min(&self) -> Option<u64> {
        self.by_deadline.first().map(|&(d, _)| d)
    }

    fn check(&self) {
        assert_eq!(self.wheel.len(), self.live.len());
        assert_eq!(self.wheel.is_empty(), self.live.is_empty());
        assert_eq!(self.wheel.next_deadline(), self.min(), "next_deadline");
    }
}

/// A deadline relative to `now`, aimed at the wheel's edges.
fn deadline(input: &mut Input<'_>, now: u64) -> u64 {
    let kind = input.u8_or0();
    let b = input.u8_or0();
    match kind % 12 {
        0 => now.saturating_sub(u64::from(input.u16())),
        1 => now.saturating_add(u64::from(b & 63)),
        2 => now.saturating_add(u64::from(input.u16())),
        3 => now.saturating_add(u64::from(input.u32())),
        4 => now.saturating_add(input.uint(5)), // up to 16 horizons ahead
        5 => (now | (HORIZON - 1)).saturating_add(u64::from(b % 3)),
        6 => u64::MAX - u64::from(b % 3),
        7 => input.u64(),
        8 => now,
        9 => {
            // Around a slot boundary of some level above `now`.
            let level = u32::from(b % 7) * 6;
            let unit = 1u64 << level;
            (now | (unit - 1)).saturating_add(u64::from(b >> 6))
        }
        10 => now.saturating_add(1),
        _ => now.saturating_add(u64::from(b) * 1000),
    }
}

/// The `now` of a pop: forwards a little or a lot, the same, or backwards.
fn pop_now(input: &mut Input<'_>, m: &Model) -> u64 {
    let kind = input.u8_or0();
    let b = input.u8_or0();
    let now = m.now;
    match kind % 10 {
        0 => now,
        1 => now.saturating_add(u64::from(b)),
        2 => now.saturating_add(u64::from(input.u16()) * 16),
        3 => now.saturating_add(input.uint(5)),
        4 => now.saturating_sub(u64::from(input.u16())), // backwards: treated as `now`
        5 => m.wheel.next_deadline().unwrap_or(now),
        6 => m.wheel.next_deadline().unwrap_or(now).saturating_sub(1),
        7 => u64::MAX - u64::from(b % 2),
        8 => now.saturating_add(u64::from(b) * HORIZON / 16),
        _ => now.saturating_add(1),
    }
}

fn pop(m: &mut Model, now: u64, budget: usize, input: &mut Input<'_>, reschedule: bool) {
    m.now = m.now.max(now);
    let mut popped = 0;
    while popped < budget {
        let Some((id, value)) = m.wheel.pop_expired(now) else {
            if let Some(min) = m.min() {
                assert!(min > m.now, "timer due at {min} not popped at {}", m.now);
            }
            break;
        };
        popped += 1;
        let earliest = m.min();
        let (armed_id, d) = m.forget(value);
        assert_eq!(id, armed_id, "fired timer's handle");
        assert!(d <= m.now, "fired early: {d} > {}", m.now);
        assert_eq!(Some(d), earliest, "not in deadline order");
        assert!(!m.wheel.is_armed(id));
        // At most one new timer per input byte, so the loop always ends.
        if reschedule && matches!(input.u8(), Some(b) if b & 3 == 0) {
            let d = deadline(input, m.now);
            m.schedule(d);
        }
        assert_eq!(m.wheel.next_deadline(), m.min());
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let s = input.u8_or0();
    let start = match s % 5 {
        0 => 0,
        1 => HORIZON - u64::from(input.u8_or0()),
        2 => input.uint(6),
        3 => u64::MAX - u64::from(input.u16()),
        _ => 1_000_000_000,
    };
    let mut m = Model {
        wheel: Wheel::new(start),
        now: start,
        by_deadline: BTreeSet::new(),
        armed: HashMap::new(),
        live: Vec::new(),
        stale: Vec::new(),
        next_value: 0,
    };
    m.check();
    while let Some(op) = input.u8() {
        match op % 8 {
            0..=2 => {
                let d = deadline(&mut input, m.now);
                m.schedule(d);
            }
            3 => {
                if !m.live.is_empty() {
                    let value = m.live[usize::from(input.u16()) % m.live.len()];
                    let (id, _) = m.forget(value);
                    assert_eq!(m.wheel.cancel(id), Some(value));
                    assert!(!m.wheel.is_armed(id));
                    assert_eq!(m.wheel.cancel(id), None, "cancelled twice");
                }
            }
            4 => {
                if !m.stale.is_empty() {
                    let id = m.stale[usize::from(input.u8_or0()) % m.stale.len()];
                    let len = m.wheel.len();
                    assert!(!m.wheel.is_armed(id));
                    assert_eq!(m.wheel.cancel(id), None, "stale handle cancelled a timer");
                    assert_eq!(m.wheel.len(), len);
                }
            }
            5 | 6 => {
                let now = pop_now(&mut input, &m);
                pop(&mut m, now, usize::MAX, &mut input, op & 8 != 0);
            }
            _ => {
                // A bounded burst, as a caller that handles a few timers per wakeup.
                let now = pop_now(&mut input, &m);
                let budget = 1 + usize::from(input.u8_or0() % 3);
                pop(&mut m, now, budget, &mut input, op & 8 != 0);
            }
        }
        m.check();
    }
    // Everything left fires at the end of time, in deadline order.
    pop(&mut m, u64::MAX, usize::MAX, &mut input, false);
    m.check();
    assert!(m.wheel.is_empty());
});
