//! One process's pipeline: the queue, the writer thread that drains it, and the waits on it
//! (a request's end, a flush, the process's end).

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use banlog_core::LocalZone;
use crossbeam_channel::bounded;
use parking_lot::Mutex;

use crate::directives;
use crate::queue::{Msg, Overflow, Producer, Queue};
use crate::sink::{Sinks, SpoolConfig};
use crate::state::SharedState;
use crate::stats::StatsSnapshot;
use crate::writer::{Inline, Publish, Writer};

/// How a pipeline is started.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
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
    /// `banlog.spool_dir`: where sinks keep lines beyond their memory bound (`None`: the
    /// system's temporary directory).
    pub spool_dir: Option<PathBuf>,
    /// `banlog.spool_max_mb` in bytes: the largest spool file of one sink (0: no spool).
    pub spool_max_bytes: u64,
}

impl PipelineOptions {
    pub fn new(zone: LocalZone) -> Self {
        PipelineOptions {
            capacity: directives::QUEUE_CAPACITY,
            full_wait: Duration::from_millis(directives::QUEUE_FULL_WAIT_MS),
            retry_interval: Duration::from_millis(500),
            zone,
            hostname: hostname(),
            pid: std::process::id(),
            spool_dir: None,
            spool_max_bytes: directives::SPOOL_MAX_MB << 20,
        }
    }
}

pub struct Pipeline {
    queue: Arc<Queue>,
    writer: Arc<Writer>,
    thread: Mutex<Option<JoinHandle<()>>>,
    opts: PipelineOptions,
}

impl Pipeline {
    /// Starts the writer thread `banlog-writer`.
    pub fn start(opts: PipelineOptions) -> io::Result<Pipeline> {
        let capacity = opts.capacity.max(1);
        let (tx, rx) = bounded(capacity);
        let state = Arc::new(SharedState::new());
        let overflow = Arc::new(Overflow::default());
        let spool = Arc::new(SpoolConfig::new(opts.spool_dir.clone(), opts.spool_max_bytes));
        let sinks = Sinks::new(opts.zone.clone(), opts.hostname.clone(), opts.pid, spool);
        let retry = opts.retry_interval;
        let writer = Arc::new(Writer::new(rx, Arc::clone(&overflow), Arc::clone(&state), sinks, retry));
        let for_thread = Arc::clone(&writer);
        let thread = std::thread::Builder::new().name("banlog-writer".into()).spawn(move || for_thread.run())?;
        let queue = Arc::new(Queue {
            tx,
            overflow,
            state,
            writer: thread.thread().clone(),
            full_wait: opts.full_wait,
            wake_every: Queue::wake_every(capacity),
        });
        Ok(Pipeline { queue, writer, thread: Mutex::new(Some(thread)), opts })
    }

    pub fn pid(&self) -> u32 {
        self.opts.pid
    }

    /// A handle for one calling thread to submit events with.
    pub fn producer(&self) -> Producer {
        Producer::new(Arc::clone(&self.queue))
    }

    fn state(&self) -> &SharedState {
        &self.queue.state
    }

    /// Events accepted so far in this process: a target for [`Pipeline::wait_processed`].
    pub fn accepted(&self) -> u64 {
        self.state().counters.hook.accepted.load(SeqCst)
    }

    /// Waits until the first `target` events have been handled by the writer: written, or held
    /// for a retry because their sink failed. Returns false on timeout.
    pub fn wait_processed(&self, target: u64, timeout: Duration) -> bool {
        let w = &self.state().counters.writer;
        if w.processed.load(SeqCst) >= target {
            return true;
        }
        self.queue.wake();
        self.state().wait_until(Instant::now() + timeout, || w.processed.load(SeqCst) >= target)
    }

    /// Ends a request of `producer`'s thread: makes sure its events are handled (written, or
    /// held for a retry), then it starts counting afresh. True when there were none.
    ///
    /// The calling thread writes them itself when the writer thread has not taken them yet and
    /// is not busy (see [`Writer::write_inline`]); syslog lines go to their sink's journal, and
    /// [`Pipeline::after_response`] sends them. Else it wakes the writer and waits.
    pub fn finish_request(&self, producer: &mut Producer, timeout: Duration) -> bool {
        let target = producer.take_last_accepted();
        if target == 0 || self.state().counters.writer.processed.load(SeqCst) >= target {
            return true;
        }
        match self.writer.write_inline() {
            Inline::Done if self.state().counters.writer.processed.load(SeqCst) >= target => return true,
            Inline::Journaled if self.state().counters.writer.processed.load(SeqCst) >= target => {
                producer.journaled = true;
                return true;
            }
            Inline::Done | Inline::Journaled => {}
            // Lines held for a retry, a file to reopen: the writer thread's work, now.
            Inline::Writer => self.queue.wake(),
        }
        self.wait_processed(target, timeout)
    }

    /// Once the response of `producer`'s request is out (PHP's SAPI deactivation, after php-fpm
    /// has ended the response): sends the syslog lines the request's end left in journals, on
    /// this thread, or wakes the writer thread to do it. The syslog daemon is woken by this send,
    /// after the response rather than while the client waits for it.
    pub fn after_response(&self, producer: &mut Producer) {
        if std::mem::take(&mut producer.journaled) && !self.writer.send_now(Publish::Now) {
            self.queue.wake();
        }
    }

    /// Waits until every event accepted so far is written and nothing waits for a retry.
    pub fn flush(&self, timeout: Duration) -> bool {
        let target = self.accepted();
        let w = &self.state().counters.writer;
        let done = || w.processed.load(SeqCst) >= target && w.pending.load(SeqCst) == 0;
        if done() {
            return true;
        }
        // A few events queued by this process's threads: written and sent here; their figures
        // are published later, off the caller's wait.
        if self.writer.send_now(Publish::Later) && done() {
            return true;
        }
        self.queue.wake();
        self.state().wait_until(Instant::now() + timeout, done)
    }

    /// Stops the writer after it has written what it can within `timeout`; what is left is
    /// counted as dropped. Returns whether the thread ended in time.
    pub fn stop(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let q = &self.queue;
        q.wake();
        if q.tx.send_deadline(Msg::Stop(deadline), deadline).is_err() && !q.tx.is_empty() {
            return false;
        }
        q.wake();
        let running = &self.state().running;
        // A little slack past the deadline for the writer to notice it.
        let ended = self.state().wait_until(deadline + Duration::from_millis(200), || !running.load(SeqCst));
        if ended {
            if let Some(t) = self.thread.lock().take() {
                let _ = t.join();
            }
        }
        ended
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.writer.publish_stale();
        let st = self.state();
        let (h, w) = (&st.counters.hook, &st.counters.writer);
        StatsSnapshot {
            pid: self.opts.pid,
            writer_running: st.running.load(Relaxed),
            accepted: h.accepted.load(Relaxed),
            processed: w.processed.load(Relaxed),
            written: w.written.load(Relaxed),
            retried: w.retried.load(Relaxed),
            dropped: w.dropped.load(Relaxed),
            queue_full: h.queue_full.load(Relaxed),
            overflowed: h.overflowed.load(Relaxed),
            pending: w.pending.load(Relaxed),
            queue_depth: (self.queue.tx.len() + self.queue.overflow.len()) as u64,
            queue_capacity: self.opts.capacity as u64,
            time_zone: self.opts.zone.source.clone(),
            sinks: st.board.0.lock().clone(),
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
