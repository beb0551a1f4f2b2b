//! The sinks an event's lines go to, and the router that picks them from the event's settings.

pub mod file;
pub mod syslog;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use banlog_core::auth::{auth_message, spam_message};
use banlog_core::line::{auth_file_line, ident, spam_line};
use banlog_core::LocalZone;

use crate::event::{Event, EventKind};
use crate::settings::SyslogTarget;
use crate::stats::SinkStats;

pub use self::file::FileSink;
pub use self::syslog::{SyslogRecord, SyslogSink};

/// Lines a sink holds for a retry before it drops new ones (about 100 MB of lines at most).
pub const MAX_PENDING_LINES: usize = 1_000_000;

/// All sinks of one writer, created on first use and kept open.
pub struct Sinks {
    zone: LocalZone,
    hostname: String,
    files: HashMap<PathBuf, FileSink>,
    syslogs: HashMap<SyslogTarget, SyslogSink>,
}

impl Sinks {
    pub fn new(zone: LocalZone, hostname: String) -> Self {
        Sinks { zone, hostname, files: HashMap::new(), syslogs: HashMap::new() }
    }

    /// Formats an event's lines into the buffers of its sinks; returns the number of lines.
    pub fn route(&mut self, ev: &Event) -> u64 {
        let t = self.zone.local(ev.stamp);
        let s = &*ev.settings;
        let mut lines = 0;
        match &ev.kind {
            EventKind::Spam { comment_id, addr } => {
                if let Some(path) = &s.spam_log {
                    self.file("spam_log", path).push_line(&spam_line(&t, *comment_id, *addr));
                    lines += 1;
                }
                if s.syslog && s.syslog_spam {
                    let rec = SyslogRecord::new(s, ev.pid, t, false, spam_message(*comment_id, *addr));
                    self.syslog(&s.syslog_target).push(rec);
                    lines += 1;
                }
            }
            EventKind::Auth { kind, user, addr } => {
                let message = auth_message(*kind, user, *addr);
                if let Some(path) = &s.auth_log {
                    let tag = ident(&s.ident_host);
                    let line = auth_file_line(&t, &self.hostname, &tag, ev.pid, &message);
                    self.file("auth_log", path).push_line(&line);
                    lines += 1;
                }
                if s.syslog {
                    let rec = SyslogRecord::new(s, ev.pid, t, !kind.is_failure(), message);
                    self.syslog(&s.syslog_target).push(rec);
                    lines += 1;
                }
            }
        }
        lines
    }

    fn file(&mut self, kind: &'static str, path: &Path) -> &mut FileSink {
        self.files.entry(path.to_path_buf()).or_insert_with(|| FileSink::new(kind, path.to_path_buf()))
    }

    fn syslog(&mut self, target: &SyslogTarget) -> &mut SyslogSink {
        let hostname = &self.hostname;
        self.syslogs
            .entry(target.clone())
            .or_insert_with(|| SyslogSink::new(target.clone(), hostname.clone()))
    }

    /// Tries to write everything pending in every sink.
    pub fn write_pending(&mut self) -> Outcome {
        let mut out = Outcome::default();
        for f in self.files.values_mut() {
            out.add(f.write_pending());
        }
        for s in self.syslogs.values_mut() {
            out.add(s.write_pending());
        }
        out
    }

    /// Lines still waiting in any sink.
    pub fn pending(&self) -> u64 {
        self.files.values().map(|f| f.pending() as u64).sum::<u64>()
            + self.syslogs.values().map(|s| s.pending() as u64).sum::<u64>()
    }

    pub fn stats(&self) -> Vec<SinkStats> {
        let mut v: Vec<SinkStats> = self.files.values().map(|f| f.stats()).collect();
        v.extend(self.syslogs.values().map(|s| s.stats()));
        v.sort_by(|a, b| (a.kind, &a.target).cmp(&(b.kind, &b.target)));
        v
    }
}

/// What one write attempt over the sinks achieved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub written: u64,
    pub dropped: u64,
    pub failed_attempts: u64,
}

impl Outcome {
    fn add(&mut self, o: Outcome) {
        self.written += o.written;
        self.dropped += o.dropped;
        self.failed_attempts += o.failed_attempts;
    }
}

/// Seconds since the epoch, for `last_error_at`.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
