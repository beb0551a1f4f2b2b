//! One process's queue and writer thread.

use std::io;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use banlog_core::LocalZone;
use crossbeam_channel::{bounded, SendTimeoutError, Sender, TrySendError};
use parking_lot::{Condvar, Mutex};

use crate::event::Event;
use crate::sink::Sinks;
use crate::stats::{Counters, SinkBoard, StatsSnapshot};
use crate::writer;

/// Events the overflow list holds, beyond the queue, while the writer is stalled.
const MAX_OVERFLOW: usize = 1_000_000;

pub(crate) enum Msg {
    // Boxed: the queue's slots stay small whatever an event holds.
    Event(Box<Event>),
    /// Sent after an event went to the overflow list, so a writer that just emptied the queue
    /// and went to sleep picks it up.
    Wake,
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
    /// Pid of the process that owns the writer.
    pub pid: u32,
}

impl RuntimeOptions {
    pub fn new(zone: LocalZone) -> Self {
        RuntimeOptions {
            capacity: 4096,
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
    pub overflow: Mutex<Vec<Event>>,
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

pub struct Runtime {
    tx: Sender<Msg>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    opts: RuntimeOptions,
}

impl Runtime {
    /// Starts the writer thread `banlog-writer`.
    pub fn start(opts: RuntimeOptions) -> io::Result<Runtime> {
        let (tx, rx) = bounded(opts.capacity.max(1));
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
        let sinks = Sinks::new(opts.zone.clone(), opts.hostname.clone());
        let retry = opts.retry_interval;
        let for_writer = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("banlog-writer".into())
            .spawn(move || writer::run(rx, for_writer, sinks, retry))?;
        Ok(Runtime { tx, shared, thread: Mutex::new(Some(thread)), opts })
    }

    pub fn pid(&self) -> u32 {
        self.opts.pid
    }

    /// Hands an event to the writer; waits at most `full_wait` when the queue is full.
    pub fn submit(&self, ev: Event) -> Submitted {
        let c = &self.shared.counters;
        Counters::add(&c.accepted, 1);
        let msg = match self.tx.try_send(Msg::Event(Box::new(ev))) {
            Ok(()) => return Submitted::Queued,
            Err(TrySendError::Full(msg)) => msg,
            Err(TrySendError::Disconnected(msg)) => return self.drop_event(msg),
        };
        Counters::add(&c.queue_full, 1);
        let msg = match self.tx.send_timeout(msg, self.opts.full_wait) {
            Ok(()) => return Submitted::QueuedAfterWait,
            Err(SendTimeoutError::Timeout(msg)) => msg,
            Err(SendTimeoutError::Disconnected(msg)) => return self.drop_event(msg),
        };
        let Msg::Event(ev) = msg else { unreachable!("only events are submitted") };
        let mut over = self.shared.overflow.lock();
        if over.len() >= MAX_OVERFLOW {
            drop(over);
            return self.drop_event(Msg::Event(ev));
        }
        over.push(*ev);
        self.shared.overflow_len.store(over.len(), Relaxed);
        drop(over);
        Counters::add(&c.overflowed, 1);
        let _ = self.tx.try_send(Msg::Wake);
        Submitted::Overflow
    }

    fn drop_event(&self, _msg: Msg) -> Submitted {
        let c = &self.shared.counters;
        Counters::add(&c.dropped, 1);
        self.shared.progress(|| {
            c.processed.fetch_add(1, SeqCst);
        });
        Submitted::Dropped
    }

    /// Events accepted so far in this process: a target for [`Runtime::wait_processed`].
    pub fn accepted(&self) -> u64 {
        self.shared.counters.accepted.load(SeqCst)
    }

    /// Waits until the first `target` events have been handled by the writer: written, or held
    /// for a retry because their sink failed. Returns false on timeout.
    pub fn wait_processed(&self, target: u64, timeout: Duration) -> bool {
        let c = &self.shared.counters;
        self.shared.wait_until(Instant::now() + timeout, || c.processed.load(SeqCst) >= target)
    }

    /// Waits until every event accepted so far is written and nothing waits for a retry.
    pub fn flush(&self, timeout: Duration) -> bool {
        let target = self.accepted();
        let c = &self.shared.counters;
        self.shared.wait_until(Instant::now() + timeout, || {
            c.processed.load(SeqCst) >= target && c.pending.load(SeqCst) == 0
        })
    }

    /// Stops the writer after it has written what it can within `timeout`; what is left is
    /// counted as dropped. Returns whether the thread ended in time.
    pub fn stop(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if self.tx.send_deadline(Msg::Stop(deadline), deadline).is_err() && !self.tx.is_empty() {
            return false;
        }
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
        let c = &self.shared.counters;
        StatsSnapshot {
            pid: self.opts.pid,
            writer_running: self.shared.running.load(Relaxed),
            accepted: c.accepted.load(Relaxed),
            processed: c.processed.load(Relaxed),
            written: c.written.load(Relaxed),
            retried: c.retried.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            queue_full: c.queue_full.load(Relaxed),
            overflowed: c.overflowed.load(Relaxed),
            pending: c.pending.load(Relaxed),
            queue_depth: (self.tx.len() + self.shared.overflow_len.load(Relaxed)) as u64,
            queue_capacity: self.opts.capacity as u64,
            time_zone: self.opts.zone.source.clone(),
            sinks: self.shared.board.0.lock().clone(),
        }
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
