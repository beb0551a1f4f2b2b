//! Counters for `banlog_stats()`: shared between the hook callers and the writer thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// Process-wide counters. Lines, not events: a spam event mirrored into syslog is two lines.
///
/// The callers' counters and the writer's sit on separate cache lines, so that a hook call does
/// not wait for a line the writer has just written to.
#[derive(Debug, Default)]
pub struct Counters {
    pub hook: Padded<HookCounters>,
    pub writer: Padded<WriterCounters>,
}

/// Counted by the hook callers.
#[derive(Debug, Default)]
pub struct HookCounters {
    /// Events taken in by the hooks.
    pub accepted: AtomicU64,
    /// Hook calls that found the queue full.
    pub queue_full: AtomicU64,
    /// Events that went to the overflow list because the queue stayed full.
    pub overflowed: AtomicU64,
}

/// Counted by the writer thread (and by a caller that drops an event when the writer is gone).
#[derive(Debug, Default)]
pub struct WriterCounters {
    /// Events the writer has turned into lines (written, or held for a retry).
    pub processed: AtomicU64,
    /// Lines written to their sink.
    pub written: AtomicU64,
    /// Failed write attempts that were kept for a retry.
    pub retried: AtomicU64,
    /// Lines given up on (a retry buffer over its bound, or the process ending with a sink down).
    pub dropped: AtomicU64,
    /// Lines waiting in retry buffers right now.
    pub pending: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}

/// A value alone on its cache line (two, for the adjacent-line prefetcher).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// What one sink has done, for the status panel and `banlog_stats()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// `spam_log`, `auth_log` or `syslog`.
    pub kind: &'static str,
    /// The file path or syslog target.
    pub target: String,
    pub written: u64,
    pub errors: u64,
    pub pending: u64,
    pub dropped: u64,
    /// Lines that went to the spool file because the memory bound was reached.
    pub spooled: u64,
    /// Spooled lines read back and written to the sink.
    pub replayed: u64,
    /// Bytes of lines the sink holds in memory now.
    pub memory: u64,
    pub last_error: Option<String>,
    /// Unix time of the last error.
    pub last_error_at: Option<i64>,
}

/// A sink's figures without its texts: what one write changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Figures {
    pub written: u64,
    pub errors: u64,
    pub pending: u64,
    pub dropped: u64,
    pub spooled: u64,
    pub replayed: u64,
    pub memory: u64,
    pub last_error_at: Option<i64>,
}

impl Figures {
    pub fn of(s: &SinkStats) -> Self {
        Figures {
            written: s.written,
            errors: s.errors,
            pending: s.pending,
            dropped: s.dropped,
            spooled: s.spooled,
            replayed: s.replayed,
            memory: s.memory,
            last_error_at: s.last_error_at,
        }
    }

    pub fn apply(self, s: &mut SinkStats) {
        s.written = self.written;
        s.errors = self.errors;
        s.pending = self.pending;
        s.dropped = self.dropped;
        s.spooled = self.spooled;
        s.replayed = self.replayed;
        s.memory = self.memory;
        s.last_error_at = self.last_error_at;
    }
}

/// Per-sink stats, published by the writer after each batch.
#[derive(Debug, Default)]
pub struct SinkBoard(pub Mutex<Vec<SinkStats>>);

/// A consistent copy of everything, for `banlog_stats()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub pid: u32,
    pub writer_running: bool,
    pub accepted: u64,
    pub processed: u64,
    pub written: u64,
    pub retried: u64,
    pub dropped: u64,
    pub queue_full: u64,
    pub overflowed: u64,
    pub pending: u64,
    pub queue_depth: u64,
    pub queue_capacity: u64,
    pub time_zone: String,
    pub sinks: Vec<SinkStats>,
}
