//! What the hook callers and the writer share besides the queue: the counters, the sinks' board,
//! whether the writer runs, and a way to wait for its progress.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::pool::Published;
use crate::stats::{Counters, SinkBoard};

pub(crate) struct SharedState {
    pub counters: Counters,
    pub board: SinkBoard,
    pub running: AtomicBool,
    /// How much of `counters` the pool-wide figures already hold.
    pub published: Published,
    lock: Mutex<()>,
    cv: Condvar,
}

impl SharedState {
    pub fn new() -> Self {
        SharedState {
            counters: Counters::default(),
            board: SinkBoard::default(),
            running: AtomicBool::new(true),
            published: Published::default(),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// Runs `f` (which publishes progress) and wakes whoever waits for progress.
    pub fn progress(&self, f: impl FnOnce()) {
        let _g = self.lock.lock();
        f();
        self.cv.notify_all();
    }

    /// Adds to the pool-wide counters what this process's writer counted since the last call.
    pub fn publish_to_pool(&self) {
        let w = &self.counters.writer;
        self.published.publish(w.written.load(Relaxed), w.dropped.load(Relaxed), w.retried.load(Relaxed));
    }

    /// Waits until `done()` or the deadline; returns `done()`.
    pub fn wait_until(&self, deadline: Instant, done: impl Fn() -> bool) -> bool {
        let mut g = self.lock.lock();
        while !done() {
            if self.cv.wait_until(&mut g, deadline).timed_out() {
                return done();
            }
        }
        true
    }
}
