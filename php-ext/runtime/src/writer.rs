//! The writer thread: drains the queue in batches, writes them, retries what failed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};

use crate::queue::{Msg, Overflow};
use crate::sink::{Route, Sinks};
use crate::state::SharedState;
use crate::stats::Counters;

/// Events taken off the queue before one write per sink.
const MAX_BATCH: usize = 512;
/// How long the writer sleeps when nobody wakes it. Callers wake it every few events and at the
/// end of each request; this bounds the delay of an event made early in a long request.
const IDLE_WAKE: Duration = Duration::from_secs(1);

pub(crate) fn run(
    rx: Receiver<Msg>,
    overflow: Arc<Overflow>,
    shared: Arc<SharedState>,
    mut sinks: Sinks,
    retry: Duration,
) {
    let mut stop_at: Option<Instant> = None;
    // Each producer's settings, resolved to its sinks when they arrive. A PHP process has one
    // producer (a thread-safe build one per thread), so a short list beats a hash map.
    let mut routes: Vec<(u32, Route)> = Vec::new();
    loop {
        let mut taken = 0;
        let mut events = 0u64;
        // A bug in formatting or writing must not kill the thread: the events would be lost.
        let step = catch_unwind(AssertUnwindSafe(|| {
            while taken < MAX_BATCH {
                match rx.try_recv() {
                    Ok(Msg::Event { producer, event }) => {
                        match routes.iter().find(|(p, _)| *p == producer) {
                            Some((_, route)) => {
                                sinks.route(route, &event);
                            }
                            // Settings always precede a producer's events in the queue; should
                            // that ever break, the loss is counted, not hidden.
                            None => Counters::add(&shared.counters.writer.dropped, 1),
                        }
                        events += 1;
                    }
                    Ok(Msg::Settings { producer, settings }) => {
                        let route = sinks.resolve(&settings);
                        match routes.iter_mut().find(|(p, _)| *p == producer) {
                            Some((_, r)) => *r = route,
                            None => routes.push((producer, route)),
                        }
                    }
                    Ok(Msg::Stop(deadline)) => stop_at = Some(deadline),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        stop_at.get_or_insert_with(Instant::now);
                        break;
                    }
                }
                taken += 1;
            }
            if !overflow.is_empty() {
                let over = overflow.take();
                // Resolved again only when the settings change, not for each of (up to a million)
                // events: a lookup allocates the ident.
                let mut route: Option<Route> = None;
                for (settings, event) in over {
                    let r = match route.take() {
                        Some(r) if r.is_for(&settings) => r,
                        _ => sinks.resolve(&settings),
                    };
                    sinks.route(&r, &event);
                    route = Some(r);
                    events += 1;
                }
            }
            sinks.write_pending(retry)
        }));
        let w = &shared.counters.writer;
        // After a panic the batch's events are counted all the same (below), so no caller waits
        // for them.
        if let Ok(out) = step {
            Counters::add(&w.written, out.written);
            Counters::add(&w.dropped, out.dropped);
            Counters::add(&w.retried, out.failed_attempts);
        }
        w.pending.store(sinks.pending(), Relaxed);
        *shared.board.0.lock() = sinks.stats();
        shared.progress(|| {
            w.processed.fetch_add(events, SeqCst);
        });

        if let Some(deadline) = stop_at {
            let drained = rx.is_empty() && overflow.is_empty();
            if drained && (sinks.pending() == 0 || Instant::now() >= deadline) {
                let left = sinks.pending();
                Counters::add(&w.dropped, left);
                w.pending.store(0, Relaxed);
                break;
            }
            if drained {
                std::thread::sleep(retry.min(deadline.saturating_duration_since(Instant::now())));
            }
        } else if taken < MAX_BATCH {
            // The queue is empty (or was a moment ago): sleep until a caller wakes us, a retry is
            // due, or the idle period ends.
            std::thread::park_timeout(if sinks.pending() > 0 { retry } else { IDLE_WAKE });
        }
    }
    shared.progress(|| shared.running.store(false, SeqCst));
}
