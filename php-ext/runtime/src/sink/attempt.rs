//! One write attempt of a sink: who makes it, and what it achieved.

/// Who writes: the writer thread, or a request's thread at its end ([`crate::writer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Writer,
    /// Writes only to sinks that are ready: a file open and not rotated away, a syslog socket
    /// connected. Opening, reconnecting and retrying are left to the writer thread
    /// ([`Outcome::deferred`]), which sleeps between retries. Syslog lines go to their sink's
    /// journal, to be sent once the response is out.
    Inline,
    /// A caller's thread that wants the lines out now (a request's response is out, a flush): as
    /// [`Mode::Inline`], but syslog lines are sent, the journal's first.
    Send,
}

/// What one write attempt over the sinks achieved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub written: u64,
    pub dropped: u64,
    pub failed_attempts: u64,
    /// Lines were left for the writer thread ([`Mode::Inline`]), or wait for a connection being
    /// made (the writer thread holds their events a moment: see the syslog sink).
    pub deferred: bool,
    /// A sink is waiting for something that comes soon (a socket with room again, a connection
    /// being made): the writer looks again after a short nap rather than the retry interval.
    pub busy: bool,
}

impl Outcome {
    pub(crate) fn add(&mut self, o: Outcome) {
        self.written += o.written;
        self.dropped += o.dropped;
        self.failed_attempts += o.failed_attempts;
        self.deferred |= o.deferred;
        self.busy |= o.busy;
    }
}

/// Seconds since the epoch, for `last_error_at`.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
