//! The writer thread: drains the queue in batches, writes them, retries what failed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use crate::event::Event;
use crate::runtime::{Msg, Shared};
use crate::sink::Sinks;
use crate::stats::Counters;

/// Events taken off the queue before one write per sink.
const MAX_BATCH: usize = 512;
/// How long the writer sleeps when it has nothing to do (it also wakes for every event).
const IDLE_WAKE: Duration = Duration::from_secs(1);

pub(crate) fn run(rx: Receiver<Msg>, shared: Arc<Shared>, mut sinks: Sinks, retry: Duration) {
    let mut stop_at: Option<Instant> = None;
    let mut batch: Vec<Event> = Vec::with_capacity(MAX_BATCH);
    loop {
        let wait = if sinks.pending() > 0 { retry } else { IDLE_WAKE };
        if stop_at.is_none() {
            match rx.recv_timeout(wait) {
                Ok(msg) => take(msg, &mut batch, &mut stop_at),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stop_at = Some(Instant::now()),
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(msg) => take(msg, &mut batch, &mut stop_at),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
            }
        }
        if shared.overflow_len.load(Relaxed) > 0 {
            let mut over = shared.overflow.lock();
            shared.overflow_len.store(0, Relaxed);
            batch.append(&mut over);
        }
        let events = batch.len() as u64;
        // A bug in formatting or writing must not kill the thread: the events would be lost.
        let step = catch_unwind(AssertUnwindSafe(|| {
            for ev in batch.drain(..) {
                sinks.route(&ev);
            }
            sinks.write_pending()
        }));
        batch.clear();
        let c = &shared.counters;
        match step {
            Ok(out) => {
                Counters::add(&c.written, out.written);
                Counters::add(&c.dropped, out.dropped);
                Counters::add(&c.retried, out.failed_attempts);
            }
            Err(_) => *shared.writer_panic.lock() = Some("the writer recovered from an internal error".into()),
        }
        c.pending.store(sinks.pending(), Relaxed);
        *shared.board.0.lock() = sinks.stats();
        shared.progress(|| {
            c.processed.fetch_add(events, SeqCst);
        });

        if let Some(deadline) = stop_at {
            let drained = rx.is_empty() && shared.overflow_len.load(Relaxed) == 0;
            if drained && (sinks.pending() == 0 || Instant::now() >= deadline) {
                let left = sinks.pending();
                Counters::add(&c.dropped, left);
                c.pending.store(0, Relaxed);
                break;
            }
            if drained {
                std::thread::sleep(retry.min(deadline.saturating_duration_since(Instant::now())));
            }
        }
    }
    shared.progress(|| shared.running.store(false, SeqCst));
}

fn take(msg: Msg, batch: &mut Vec<Event>, stop_at: &mut Option<Instant>) {
    match msg {
        Msg::Event(ev) => batch.push(*ev),
        Msg::Wake => {}
        Msg::Stop(deadline) => *stop_at = Some(deadline),
    }
}
