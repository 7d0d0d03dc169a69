//! The live input policy: one slot per camera holding only the newest frame.
//!
//! The subscription side [`Slots::put`]s a frame into its camera's slot; a frame still waiting
//! there is replaced and counted as dropped. The engine side [`Slots::take`]s the next waiting
//! frame, visiting cameras round-robin so that a fast camera cannot starve a slow one. Memory
//! is bounded by one frame per camera whatever the input rate; nothing is ever queued.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

struct State<T> {
    waiting: Vec<Option<T>>,
    dropped: Vec<u64>,
    /// The camera `take` looks at first next time (round-robin fairness).
    next: usize,
    closed: bool,
}

/// Newest-frame-wins slots for `n` cameras, shared by the subscription and engine threads.
pub struct Slots<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

/// What [`Slots::take`] found.
#[derive(Debug, PartialEq)]
pub enum Taken<T> {
    /// A frame of camera `camera`.
    Frame { camera: usize, item: T },
    /// Nothing arrived within the timeout.
    Timeout,
    /// [`Slots::close`] was called and every slot is empty.
    Closed,
}

impl<T> Slots<T> {
    pub fn new(cameras: usize) -> Self {
        Self {
            state: Mutex::new(State {
                waiting: (0..cameras).map(|_| None).collect(),
                dropped: vec![0; cameras],
                next: 0,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock leaves only plain values behind (no invariant spans
        // several fields mid-update), so the data is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Offers a frame of `camera`; returns true when it replaced (dropped) an older one.
    /// Frames for an unknown camera index are ignored (returns false).
    pub fn put(&self, camera: usize, item: T) -> bool {
        let mut state = self.lock();
        let Some(slot) = state.waiting.get_mut(camera) else {
            return false;
        };
        let replaced = slot.replace(item).is_some();
        if replaced {
            state.dropped[camera] += 1;
        }
        drop(state);
        self.ready.notify_one();
        replaced
    }

    /// Waits up to `timeout` for a frame and takes it.
    pub fn take(&self, timeout: Duration) -> Taken<T> {
        let mut state = self.lock();
        loop {
            let n = state.waiting.len();
            for k in 0..n {
                let camera = (state.next + k) % n;
                if let Some(item) = state.waiting[camera].take() {
                    state.next = (camera + 1) % n;
                    return Taken::Frame { camera, item };
                }
            }
            if state.closed {
                return Taken::Closed;
            }
            let (next_state, wait) = self
                .ready
                .wait_timeout(state, timeout)
                .unwrap_or_else(PoisonError::into_inner);
            state = next_state;
            if wait.timed_out() && state.waiting.iter().all(Option::is_none) {
                return if state.closed {
                    Taken::Closed
                } else {
                    Taken::Timeout
                };
            }
        }
    }

    /// Frames of `camera` replaced before the engine took them, since the start.
    pub fn dropped(&self, camera: usize) -> u64 {
        self.lock().dropped.get(camera).copied().unwrap_or(0)
    }

    /// No more frames will come: `take` drains what is waiting, then returns `Closed`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn newest_wins_and_drops_are_counted() {
        let slots = Slots::new(2);
        assert!(!slots.put(0, 1));
        assert!(slots.put(0, 2));
        assert!(slots.put(0, 3));
        assert_eq!(slots.dropped(0), 2);
        assert_eq!(slots.dropped(1), 0);
        assert_eq!(
            slots.take(Duration::ZERO),
            Taken::Frame { camera: 0, item: 3 }
        );
        assert_eq!(slots.take(Duration::from_millis(1)), Taken::Timeout);
    }

    #[test]
    fn round_robin_between_cameras() {
        let slots = Slots::new(3);
        for round in 0..3 {
            for camera in 0..3 {
                slots.put(camera, (round, camera));
            }
            let mut order = Vec::new();
            for _ in 0..3 {
                match slots.take(Duration::ZERO) {
                    Taken::Frame { camera, .. } => order.push(camera),
                    other => panic!("expected a frame, got {other:?}"),
                }
            }
            order.sort_unstable();
            assert_eq!(order, vec![0, 1, 2]);
        }
    }

    #[test]
    fn unknown_camera_is_ignored() {
        let slots = Slots::new(1);
        assert!(!slots.put(5, 1));
        assert_eq!(slots.take(Duration::ZERO), Taken::Timeout);
    }

    #[test]
    fn close_drains_then_reports_closed() {
        let slots = Arc::new(Slots::new(1));
        slots.put(0, 7);
        slots.close();
        assert_eq!(
            slots.take(Duration::from_secs(1)),
            Taken::Frame { camera: 0, item: 7 }
        );
        assert_eq!(slots.take(Duration::from_secs(1)), Taken::Closed);
    }

    #[test]
    fn wakes_a_waiting_consumer() {
        let slots = Arc::new(Slots::new(1));
        let consumer = {
            let slots = Arc::clone(&slots);
            std::thread::spawn(move || slots.take(Duration::from_secs(30)))
        };
        slots.put(0, 42);
        assert_eq!(
            consumer.join().expect("consumer thread"),
            Taken::Frame {
                camera: 0,
                item: 42
            }
        );
    }
}
