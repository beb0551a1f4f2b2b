//! Draining the queue: take messages, route the events to their sinks, write, retry what failed.
//!
//! The writer thread does it in batches. A request's own thread may do it too, at the request's
//! end, for the few events it has just queued ([`Writer::write_inline`]): waking another thread
//! and waiting for it costs more than the one `write` the lines need. The sinks sit behind one
//! lock, so whoever holds it writes the queue's messages in their order, whole.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use parking_lot::Mutex;

use crate::pool;
use crate::queue::{Msg, Overflow};
use crate::settings::Settings;
use crate::sink::{Mode, Route, Sinks};
use crate::state::SharedState;
use crate::stats::Counters;

/// Events taken off the queue at most before the sinks write what they were given.
const MAX_BATCH: usize = 512;
/// How long the writer sleeps when nobody wakes it. Callers wake it every few events and when
/// they wait for it; this bounds the delay of an event made early in a long request.
const IDLE_WAKE: Duration = Duration::from_secs(1);
/// Messages a request's thread writes itself at most; a longer queue is a burst, left to the
/// writer thread.
const INLINE_MAX: usize = 64;
/// How soon the writer looks again at a sink that is busy for a moment.
const BUSY_NAP: Duration = Duration::from_millis(5);
/// How often the writer looks for lines that killed processes left in their journals for its
/// syslog targets (a directory listing).
const ADOPT_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Writer {
    overflow: Arc<Overflow>,
    state: Arc<SharedState>,
    retry: Duration,
    sinks: Mutex<Drain>,
}

/// What the one who drains holds.
struct Drain {
    /// Dropped when the writer thread ends, so that later events are refused, not lost unseen.
    rx: Option<Receiver<Msg>>,
    sinks: Sinks,
    /// Each producer's settings by slot (at most `SETTINGS_SLOTS` per producer), resolved to
    /// their sinks. A PHP process has one producer (a thread-safe build one per thread), so a
    /// short list beats a hash map.
    routes: Vec<Slot>,
    stop_at: Option<Instant>,
    /// Events routed by a request's thread whose lines wait for the writer thread (a file to
    /// reopen, a socket to connect): counted as processed once it has written them.
    held: u64,
    /// Settings changed: sinks that no route uses any more are closed at the writer's next step.
    retain_due: bool,
    /// When the writer next looks for lines left by killed processes.
    adopt_at: Instant,
    /// A flush wrote lines without publishing the sinks' figures (see [`Publish::Later`]).
    board_stale: bool,
}

/// Whether a step publishes the sinks' figures (the process's board, the pool's counters) at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Publish {
    Now,
    /// Left to whoever steps next with `Now`: the writer thread's next round (within
    /// `IDLE_WAKE`), a request's end, or [`Writer::publish_stale`] (`banlog_stats()`). For
    /// `banlog_flush()`, whose caller waits: the bookkeeping is not the caller's to pay.
    Later,
}

/// The settings a producer sent for one slot, and their sinks.
///
/// The sinks of every slot stay open, so that a worker alternating between a few sites' settings
/// opens nothing per request. Only a syslog sink in trouble (lines waiting, the target down) is
/// closed once its producer has moved on to other settings, as before slots: its lines go to its
/// spool, and it does not keep the writer retrying a target no request uses now. A slot whose
/// sink was closed resolves its settings again at its next event.
struct Slot {
    producer: u32,
    slot: u8,
    settings: Arc<Settings>,
    route: Option<Route>,
    /// The slot of the producer's last event.
    current: bool,
}

/// What a request's thread did at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inline {
    /// Everything queued is written (or held for a retry, as the writer would have).
    Done,
    /// Everything queued is written or, for syslog, kept in a journal: those lines are sent once
    /// the response is out ([`Writer::send_now`]).
    Journaled,
    /// Left to the writer thread: it is busy, the queue is long, or a sink needs its care.
    Writer,
}

impl Writer {
    pub fn new(
        rx: Receiver<Msg>,
        overflow: Arc<Overflow>,
        state: Arc<SharedState>,
        sinks: Sinks,
        retry: Duration,
    ) -> Self {
        let drain = Drain {
            rx: Some(rx),
            sinks,
            routes: Vec::new(),
            stop_at: None,
            held: 0,
            retain_due: false,
            adopt_at: Instant::now(),
            board_stale: false,
        };
        Writer { overflow, state, retry, sinks: Mutex::new(drain) }
    }

    /// The writer thread's loop, until a stop message has been handled.
    pub fn run(&self) {
        loop {
            let mut d = self.sinks.lock();
            let Step { taken, busy, .. } = self.step(&mut d, Mode::Writer, Publish::Now);
            if std::mem::take(&mut d.retain_due) {
                // After the step has published its progress: closing a sink may write its spool,
                // and no request waits for that.
                let Drain { sinks, routes, .. } = &mut *d;
                let lost = catch_unwind(AssertUnwindSafe(|| {
                    let lost = sinks.retain(routes.iter().filter_map(|s| Some((s.route.as_ref()?, s.current))));
                    for s in routes.iter_mut() {
                        if s.route.as_ref().is_some_and(|r| !sinks.is_open(r)) {
                            s.route = None;
                        }
                    }
                    lost
                }))
                .unwrap_or(0);
                Counters::add(&self.state.counters.writer.dropped, lost);
                *self.state.board.0.lock() = sinks.stats();
            }
            let (pending, stop_at) = (d.sinks.pending(), d.stop_at);
            let queued = d.rx.as_ref().map_or(0, Receiver::len);
            if let Some(deadline) = stop_at {
                let drained = queued == 0 && self.overflow.is_empty();
                // Lines for a target known to be down are kept in its spool for the next process:
                // waiting out the deadline would only delay the end of this one.
                if drained && (pending == 0 || Instant::now() >= deadline || d.sinks.only_spoolable_pending()) {
                    let w = &self.state.counters.writer;
                    // Unsent syslog lines wait in their spool for the next process; what cannot
                    // be kept is counted as dropped.
                    let lost = catch_unwind(AssertUnwindSafe(|| d.sinks.persist())).unwrap_or(pending);
                    Counters::add(&w.dropped, lost);
                    *self.state.board.0.lock() = d.sinks.stats();
                    w.pending.store(0, Relaxed);
                    self.state.publish_to_pool();
                    d.rx = None;
                    break;
                }
                drop(d);
                if drained {
                    std::thread::sleep(self.retry.min(deadline.saturating_duration_since(Instant::now())));
                }
            } else if taken < MAX_BATCH {
                drop(d);
                // The queue is empty (or was a moment ago): sleep until a caller wakes us, a retry
                // is due, or the idle period ends.
                // A sink busy for a moment (a full socket, a connection under way) is looked at
                // again soon.
                let nap = match (pending > 0, busy) {
                    (true, true) => self.retry.min(BUSY_NAP),
                    (true, false) => self.retry,
                    (false, _) => IDLE_WAKE,
                };
                std::thread::park_timeout(nap);
            }
        }
        self.state.progress(|| self.state.running.store(false, SeqCst));
    }

    /// Writes what is queued on the calling thread, when that is quick and safe: the writer
    /// thread is not at it, the queue holds a few messages, nothing waits in the overflow list or
    /// for a retry. Returns [`Inline::Writer`] when the writer thread must finish the job.
    pub fn write_inline(&self) -> Inline {
        if !self.overflow.is_empty() {
            return Inline::Writer;
        }
        let Some(mut d) = self.sinks.try_lock() else { return Inline::Writer };
        let queued = d.rx.as_ref().map_or(usize::MAX, Receiver::len);
        // Lines a journal keeps are on their way; any other waiting line needs the writer.
        if queued > INLINE_MAX || d.sinks.unjournaled_pending() > 0 || d.held > 0 || d.stop_at.is_some() {
            return Inline::Writer;
        }
        let out = self.step(&mut d, Mode::Inline, Publish::Now);
        if out.deferred || d.sinks.unjournaled_pending() > 0 || d.stop_at.is_some() {
            Inline::Writer
        } else if d.sinks.pending() > 0 {
            Inline::Journaled
        } else {
            Inline::Done
        }
    }

    /// Writes what is queued and sends what journals keep, on the calling thread, unless the
    /// writer thread is at it: once a request's response is out, and for a flush. False when the
    /// writer thread must finish the job (it is busy, or a sink needs its care).
    pub fn send_now(&self, publish: Publish) -> bool {
        if !self.overflow.is_empty() {
            return false;
        }
        let Some(mut d) = self.sinks.try_lock() else { return false };
        if d.stop_at.is_some() || d.rx.as_ref().map_or(usize::MAX, Receiver::len) > INLINE_MAX {
            return false;
        }
        self.step(&mut d, Mode::Send, publish);
        d.sinks.pending() == 0 && d.held == 0
    }

    /// Publishes the sinks' figures a flush left unpublished. Whoever holds the sinks' lock now
    /// took it after that flush, and publishes as it lets go (a flush of another thread aside).
    pub fn publish_stale(&self) {
        let Some(mut d) = self.sinks.try_lock() else { return };
        if std::mem::take(&mut d.board_stale) {
            self.publish(&d.sinks);
        }
    }

    /// Brings the process's board and the pool's counters up to date with the sinks.
    fn publish(&self, sinks: &Sinks) {
        self.state.publish_to_pool();
        let area = pool::global();
        sinks.publish(&mut self.state.board.0.lock(), |before, now| {
            if let Some(area) = area {
                area.report_sink(before, now);
            }
        });
    }

    /// Takes a batch off the queue (and, for the writer thread, the overflow list), routes and
    /// writes it, and publishes the counters.
    fn step(&self, d: &mut Drain, mode: Mode, publish: Publish) -> Step {
        let mut taken = 0;
        let mut events = 0u64;
        let Drain { rx, sinks, routes, stop_at, held, retain_due, adopt_at, board_stale } = d;
        let Some(rx) = rx.as_ref() else { return Step { taken: 0, deferred: false, busy: false } };
        // A bug in formatting or writing must not kill the thread, nor unwind into PHP.
        let step = catch_unwind(AssertUnwindSafe(|| {
            while taken < MAX_BATCH {
                match rx.try_recv() {
                    Ok(Msg::Event { producer, slot, event }) => {
                        match routes.iter().position(|s| (s.producer, s.slot) == (producer, slot)) {
                            Some(i) => {
                                if !routes[i].current {
                                    // Another site's settings: sinks in trouble that only the
                                    // previous ones use may be closed.
                                    switch_to(routes, i);
                                    *retain_due = true;
                                }
                                let s = &mut routes[i];
                                let route = s.route.get_or_insert_with(|| sinks.resolve(&s.settings));
                                sinks.route(route, &event);
                            }
                            // Settings always precede a producer's events in the queue; should
                            // that ever break, the loss is counted, not hidden.
                            None => Counters::add(&self.state.counters.writer.dropped, 1),
                        }
                        events += 1;
                    }
                    Ok(Msg::Settings { producer, slot, settings }) => {
                        let route = Some(sinks.resolve(&settings));
                        let new = Slot { producer, slot, settings, route, current: false };
                        let i = match routes.iter().position(|s| (s.producer, s.slot) == (producer, slot)) {
                            Some(i) => {
                                routes[i] = new;
                                i
                            }
                            None => {
                                routes.push(new);
                                routes.len() - 1
                            }
                        };
                        switch_to(routes, i);
                        *retain_due = true;
                    }
                    Ok(Msg::Stop(deadline)) => *stop_at = Some(deadline),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        stop_at.get_or_insert_with(Instant::now);
                        break;
                    }
                }
                taken += 1;
            }
            if mode == Mode::Writer && !self.overflow.is_empty() {
                // Resolved again only when the settings change, not for each of (up to a million)
                // events: a lookup allocates the ident.
                let mut route: Option<Route> = None;
                for (settings, event) in self.overflow.take() {
                    let r = match route.take() {
                        Some(r) if r.is_for(&settings) => r,
                        _ => sinks.resolve(&settings),
                    };
                    sinks.route(&r, &event);
                    route = Some(r);
                    events += 1;
                }
            }
            if mode == Mode::Writer {
                let now = Instant::now();
                if now >= *adopt_at {
                    *adopt_at = now + ADOPT_EVERY;
                    sinks.adopt_left();
                }
            }
            sinks.write_pending(self.retry, mode)
        }));
        let w = &self.state.counters.writer;
        let (mut deferred, mut busy) = (false, false);
        // After a panic the batch's events are counted all the same (below), so no caller waits
        // for them.
        if let Ok(out) = step {
            Counters::add(&w.written, out.written);
            Counters::add(&w.dropped, out.dropped);
            Counters::add(&w.retried, out.failed_attempts);
            deferred = out.deferred;
            busy = out.busy;
        }
        if deferred {
            // Their lines wait in the sinks for the writer thread, which counts them once written.
            *held += events;
            events = 0;
        } else {
            events += std::mem::take(held);
        }
        w.pending.store(sinks.pending(), Relaxed);
        if publish == Publish::Later {
            *board_stale = true;
        } else if !(mode == Mode::Inline && events == 0 && taken == 0) {
            *board_stale = false;
            self.publish(sinks);
        } else {
            self.state.publish_to_pool();
        }
        if events > 0 || mode == Mode::Writer {
            self.state.progress(|| {
                w.processed.fetch_add(events, SeqCst);
            });
        }
        Step { taken, deferred, busy }
    }
}

/// Makes slot `i` its producer's current one.
fn switch_to(routes: &mut [Slot], i: usize) {
    let producer = routes[i].producer;
    for s in routes.iter_mut().filter(|s| s.producer == producer) {
        s.current = false;
    }
    routes[i].current = true;
}

struct Step {
    taken: usize,
    deferred: bool,
    busy: bool,
}
