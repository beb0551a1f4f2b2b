//! One process's queue and writer thread.
//!
//! The hook side is built to cost little: an event travels by value (no heap block), the settings
//! travel once per change (not with every event), and the writer is woken only every few events,
//! when a caller flushes, and at the end of a request (it also looks by itself every second). A
//! wake is a system call when the writer sleeps, and it slept after nearly every event when every
//! send woke it.

use std::io;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use banlog_core::LocalZone;
use crossbeam_channel::{bounded, SendTimeoutError, Sender, TrySendError};
use parking_lot::{Condvar, Mutex};

use crate::event::Event;
use crate::settings::Settings;
use crate::sink::Sinks;
use crate::stats::{Counters, SinkBoard, StatsSnapshot};
use crate::writer;

/// Events the overflow list holds, beyond the queue, while the writer is stalled.
const MAX_OVERFLOW: usize = 1_000_000;
/// A caller wakes the writer after this many events (at most; a quarter of a small queue).
const WAKE_EVERY: usize = 256;

pub(crate) enum Msg {
    Event {
        producer: u32,
        event: Event,
    },
    /// The settings of a producer's following events.
    Settings {
        producer: u32,
        settings: Arc<Settings>,
    },
    /// Write what is queued, retry failures until the deadline, then end.
    Stop(Instant),
}

/// How a runtime is started.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Events the queue holds (`banlog.queue_capacity`).
    pub capacity: usize,
    /// How long a caller waits for room when the queue is full, before using the overflow list.
    pub full_wait: Duration,
    /// How often a failed sink is retried.
    pub retry_interval: Duration,
    pub zone: LocalZone,
    /// Host name for remote syslog and the auth_log file.
    pub hostname: String,
    /// Pid of the process that owns the writer: the pid in syslog tags.
    pub pid: u32,
}

impl RuntimeOptions {
    pub fn new(zone: LocalZone) -> Self {
        RuntimeOptions {
            capacity: 1024,
            full_wait: Duration::from_millis(50),
            retry_interval: Duration::from_millis(500),
            zone,
            hostname: hostname(),
            pid: std::process::id(),
        }
    }
}

/// What became of a submitted event. Never lost: only `Dropped` when the writer is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    Queued,
    /// The queue was full; it took a short wait.
    QueuedAfterWait,
    /// The queue stayed full; the event waits in the overflow list.
    Overflow,
    Dropped,
}

pub(crate) struct Shared {
    pub counters: Counters,
    pub board: SinkBoard,
    /// Events that found the queue full, with their settings (they bypass the queue's order).
    pub overflow: Mutex<Vec<(Arc<Settings>, Event)>>,
    pub overflow_len: AtomicUsize,
    pub running: AtomicBool,
    pub writer_panic: Mutex<Option<String>>,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Shared {
    /// Runs `f` (which publishes progress) and wakes whoever waits for progress.
    pub fn progress(&self, f: impl FnOnce()) {
        let _g = self.lock.lock();
        f();
        self.cv.notify_all();
    }

    /// Waits until `done()` or the deadline; returns `done()`.
    fn wait_until(&self, deadline: Instant, done: impl Fn() -> bool) -> bool {
        let mut g = self.lock.lock();
        while !done() {
            if self.cv.wait_until(&mut g, deadline).timed_out() {
                return done();
            }
        }
        true
    }
}

/// How a message fared on its way into the queue.
enum Enqueued {
    Now,
    AfterWait,
    Full(Msg),
    Gone,
}

pub struct Runtime {
    tx: Sender<Msg>,
    shared: Arc<Shared>,
    writer: Thread,
    thread: Mutex<Option<JoinHandle<()>>>,
    opts: RuntimeOptions,
    wake_every: usize,
}

impl Runtime {
    /// Starts the writer thread `banlog-writer`.
    pub fn start(opts: RuntimeOptions) -> io::Result<Runtime> {
        let capacity = opts.capacity.max(1);
        let (tx, rx) = bounded(capacity);
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            board: SinkBoard::default(),
            overflow: Mutex::new(Vec::new()),
            overflow_len: AtomicUsize::new(0),
            running: AtomicBool::new(true),
            writer_panic: Mutex::new(None),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        });
        let sinks = Sinks::new(opts.zone.clone(), opts.hostname.clone(), opts.pid);
        let retry = opts.retry_interval;
        let for_writer = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("banlog-writer".into())
            .spawn(move || writer::run(rx, for_writer, sinks, retry))?;
        let writer = thread.thread().clone();
        let wake_every = (capacity / 4).clamp(1, WAKE_EVERY);
        Ok(Runtime { tx, shared, writer, thread: Mutex::new(Some(thread)), opts, wake_every })
    }

    pub fn pid(&self) -> u32 {
        self.opts.pid
    }

    /// A handle for one calling thread to submit events with.
    pub fn producer(self: &Arc<Self>) -> Producer {
        static NEXT_ID: AtomicU32 = AtomicU32::new(1);
        Producer { rt: Arc::clone(self), id: NEXT_ID.fetch_add(1, Relaxed), sent: None, unwoken: 0, last_accepted: 0 }
    }

    /// Makes the writer look at the queue now.
    pub fn wake(&self) {
        self.writer.unpark();
    }

    /// Puts a message in the queue; waits at most `full_wait` when it is full.
    fn enqueue(&self, msg: Msg) -> Enqueued {
        let msg = match self.tx.try_send(msg) {
            Ok(()) => return Enqueued::Now,
            Err(TrySendError::Full(msg)) => msg,
            Err(TrySendError::Disconnected(_)) => return Enqueued::Gone,
        };
        Counters::add(&self.shared.counters.hook.queue_full, 1);
        self.wake();
        match self.tx.send_timeout(msg, self.opts.full_wait) {
            Ok(()) => Enqueued::AfterWait,
            Err(SendTimeoutError::Timeout(msg)) => Enqueued::Full(msg),
            Err(SendTimeoutError::Disconnected(_)) => Enqueued::Gone,
        }
    }

    /// The queue stayed full: the event waits in the overflow list (bounded), with its settings.
    fn overflow(&self, settings: &Arc<Settings>, event: Event) -> Submitted {
        let mut over = self.shared.overflow.lock();
        if over.len() >= MAX_OVERFLOW {
            drop(over);
            return self.drop_event();
        }
        over.push((Arc::clone(settings), event));
        self.shared.overflow_len.store(over.len(), Relaxed);
        drop(over);
        Counters::add(&self.shared.counters.hook.overflowed, 1);
        self.wake();
        Submitted::Overflow
    }

    fn drop_event(&self) -> Submitted {
        let w = &self.shared.counters.writer;
        Counters::add(&w.dropped, 1);
        self.shared.progress(|| {
            w.processed.fetch_add(1, SeqCst);
        });
        Submitted::Dropped
    }

    /// Events accepted so far in this process: a target for [`Runtime::wait_processed`].
    pub fn accepted(&self) -> u64 {
        self.shared.counters.hook.accepted.load(SeqCst)
    }

    /// Waits until the first `target` events have been handled by the writer: written, or held
    /// for a retry because their sink failed. Returns false on timeout.
    pub fn wait_processed(&self, target: u64, timeout: Duration) -> bool {
        let w = &self.shared.counters.writer;
        if w.processed.load(SeqCst) >= target {
            return true;
        }
        self.wake();
        self.shared.wait_until(Instant::now() + timeout, || w.processed.load(SeqCst) >= target)
    }

    /// Waits until every event accepted so far is written and nothing waits for a retry.
    pub fn flush(&self, timeout: Duration) -> bool {
        let target = self.accepted();
        let w = &self.shared.counters.writer;
        let done = || w.processed.load(SeqCst) >= target && w.pending.load(SeqCst) == 0;
        if done() {
            return true;
        }
        self.wake();
        self.shared.wait_until(Instant::now() + timeout, done)
    }

    /// Stops the writer after it has written what it can within `timeout`; what is left is
    /// counted as dropped. Returns whether the thread ended in time.
    pub fn stop(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.wake();
        if self.tx.send_deadline(Msg::Stop(deadline), deadline).is_err() && !self.tx.is_empty() {
            return false;
        }
        self.wake();
        let running = &self.shared.running;
        // A little slack past the deadline for the writer to notice it.
        let ended = self.shared.wait_until(deadline + Duration::from_millis(200), || !running.load(SeqCst));
        if ended {
            if let Some(t) = self.thread.lock().take() {
                let _ = t.join();
            }
        }
        ended
    }

    pub fn stats(&self) -> StatsSnapshot {
        let (h, w) = (&self.shared.counters.hook, &self.shared.counters.writer);
        StatsSnapshot {
            pid: self.opts.pid,
            writer_running: self.shared.running.load(Relaxed),
            accepted: h.accepted.load(Relaxed),
            processed: w.processed.load(Relaxed),
            written: w.written.load(Relaxed),
            retried: w.retried.load(Relaxed),
            dropped: w.dropped.load(Relaxed),
            queue_full: h.queue_full.load(Relaxed),
            overflowed: h.overflowed.load(Relaxed),
            pending: w.pending.load(Relaxed),
            queue_depth: (self.tx.len() + self.shared.overflow_len.load(Relaxed)) as u64,
            queue_capacity: self.opts.capacity as u64,
            time_zone: self.opts.zone.source.clone(),
            sinks: self.shared.board.0.lock().clone(),
        }
    }
}

/// One calling thread's way into a runtime. It remembers which settings the writer already has
/// from it, so that an event carries none, and how many events it sent since it last woke the
/// writer.
pub struct Producer {
    rt: Arc<Runtime>,
    id: u32,
    sent: Option<Arc<Settings>>,
    unwoken: usize,
    last_accepted: u64,
}

impl Producer {
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.rt
    }

    /// [`Runtime::accepted`] right after this producer's last event (0 before its first): what
    /// a caller waits for to know its own events are written.
    pub fn last_accepted(&self) -> u64 {
        self.last_accepted
    }

    /// Hands an event to the writer; waits at most `full_wait` when the queue is full, then
    /// keeps the event in the overflow list.
    pub fn submit(&mut self, settings: &Arc<Settings>, event: Event) -> Submitted {
        let rt = &*self.rt;
        self.last_accepted = rt.shared.counters.hook.accepted.fetch_add(1, Relaxed) + 1;
        let mut waited = false;
        if !self.sent.as_ref().is_some_and(|s| Arc::ptr_eq(s, settings)) {
            let msg = Msg::Settings { producer: self.id, settings: Arc::clone(settings) };
            match rt.enqueue(msg) {
                Enqueued::Now => {}
                Enqueued::AfterWait => waited = true,
                Enqueued::Full(_) => return rt.overflow(settings, event),
                Enqueued::Gone => return rt.drop_event(),
            }
            self.sent = Some(Arc::clone(settings));
        }
        let res = match rt.enqueue(Msg::Event { producer: self.id, event }) {
            Enqueued::Now if waited => Submitted::QueuedAfterWait,
            Enqueued::Now => Submitted::Queued,
            Enqueued::AfterWait => Submitted::QueuedAfterWait,
            Enqueued::Full(Msg::Event { event, .. }) => return rt.overflow(settings, event),
            Enqueued::Full(_) => unreachable!("an event was enqueued"),
            Enqueued::Gone => return rt.drop_event(),
        };
        self.unwoken += 1;
        if self.unwoken >= rt.wake_every {
            self.unwoken = 0;
            rt.wake();
        }
        res
    }

    /// Wakes the writer and waits until this producer's events are handled (written, or held
    /// for a retry); then starts counting afresh. True when there were none.
    pub fn finish_request(&mut self, timeout: Duration) -> bool {
        let target = std::mem::take(&mut self.last_accepted);
        self.unwoken = 0;
        target == 0 || self.rt.wait_processed(target, timeout)
    }
}

/// This machine's host name, as syslog daemons print it (no domain).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]);
    let short = name.split('.').next().unwrap_or("");
    if short.is_empty() || !short.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        "localhost".into()
    } else {
        short.to_owned()
    }
}
