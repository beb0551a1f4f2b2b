//! The sinks an event's lines go to, and the router that picks them from the event's settings.

mod attempt;
pub mod file;
pub mod syslog;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use banlog_core::auth::{push_auth_message, push_spam_message};
use banlog_core::clock::LocalTime;
use banlog_core::line::{ident, push_auth_file_head, push_spam_tail, push_spam_time};
use banlog_core::{LocalZone, Stamp};

use crate::event::{Event, EventKind};
use crate::settings::{Settings, SyslogTarget};
use crate::stats::SinkStats;

pub use self::attempt::{Mode, Outcome, MAX_PENDING_LINES};
pub use self::file::FileSink;
pub use self::syslog::SyslogSink;

/// All sinks of one writer, created on first use and kept open.
pub struct Sinks {
    zone: LocalZone,
    hostname: String,
    /// The pid in syslog tags: the process that owns the writer.
    pid: u32,
    files: Vec<FileSink>,
    file_index: HashMap<PathBuf, usize>,
    syslogs: Vec<SyslogSink>,
    syslog_index: HashMap<SyslogTarget, usize>,
    clock: ClockCache,
}

/// Where the events made under one set of settings go: the sinks looked up once, when the
/// settings arrive, not for every line.
pub struct Route {
    settings: Arc<Settings>,
    spam_file: Option<usize>,
    auth_file: Option<usize>,
    syslog: Option<usize>,
    ident: String,
}

/// The local time of the last second seen, and the spam log's time text for it: formatting the
/// date is most of a line's cost, and a busy second has many lines.
struct ClockCache {
    secs: i64,
    local: LocalTime,
    spam_time: Vec<u8>,
}

impl Route {
    /// Whether this route was resolved from these very settings.
    pub fn is_for(&self, settings: &Arc<Settings>) -> bool {
        Arc::ptr_eq(&self.settings, settings)
    }
}

impl ClockCache {
    fn new(zone: &LocalZone) -> Self {
        // `secs` matches no stamp, so the first one fills the cache.
        ClockCache { secs: i64::MIN, local: zone.local(Stamp { unix_secs: 0, micros: 0 }), spam_time: Vec::new() }
    }

    fn at(&mut self, zone: &LocalZone, stamp: Stamp) -> LocalTime {
        if stamp.unix_secs != self.secs {
            self.secs = stamp.unix_secs;
            self.local = zone.local(stamp);
            self.spam_time.clear();
            push_spam_time(&mut self.spam_time, &self.local);
        }
        self.local.with_micros(stamp.micros)
    }
}

impl Sinks {
    pub fn new(zone: LocalZone, hostname: String, pid: u32) -> Self {
        let clock = ClockCache::new(&zone);
        Sinks {
            zone,
            hostname,
            pid,
            files: Vec::new(),
            file_index: HashMap::new(),
            syslogs: Vec::new(),
            syslog_index: HashMap::new(),
            clock,
        }
    }

    /// Looks up (or opens) the sinks that `settings` name.
    pub fn resolve(&mut self, settings: &Arc<Settings>) -> Route {
        let s = &**settings;
        let spam_file = s.spam_log().map(|p| self.file("spam_log", p));
        let auth_file = s.auth_log().map(|p| self.file("auth_log", p));
        let syslog = s.syslog().then(|| self.syslog(s.syslog_target()));
        Route { settings: Arc::clone(settings), spam_file, auth_file, syslog, ident: ident(s.ident_host()) }
    }

    /// Formats an event's lines into the buffers of its sinks.
    pub fn route(&mut self, r: &Route, ev: &Event) {
        let t = self.clock.at(&self.zone, ev.stamp);
        let s = &*r.settings;
        let pid = self.pid;
        match &ev.kind {
            &EventKind::Spam { comment_id, addr } => {
                if let Some(i) = r.spam_file {
                    let date = &self.clock.spam_time;
                    self.files[i].push_with(|buf| {
                        buf.extend_from_slice(date);
                        push_spam_tail(buf, comment_id, addr);
                    });
                }
                if let (Some(i), true) = (r.syslog, s.syslog_spam()) {
                    let facility = s.syslog_facility().code();
                    self.syslogs[i]
                        .push(facility, false, &t, &r.ident, pid, |buf| push_spam_message(buf, comment_id, addr));
                }
            }
            EventKind::Auth { kind, user, addr } => {
                let (kind, user, addr) = (*kind, user.as_str(), *addr);
                if let Some(i) = r.auth_file {
                    let hostname = &self.hostname;
                    self.files[i].push_with(|buf| {
                        push_auth_file_head(buf, &t, hostname, &r.ident, pid);
                        push_auth_message(buf, kind, user, addr)
                    });
                }
                if let Some(i) = r.syslog {
                    let facility = s.syslog_facility().code();
                    self.syslogs[i].push(facility, !kind.is_failure(), &t, &r.ident, pid, |buf| {
                        push_auth_message(buf, kind, user, addr)
                    });
                }
            }
        }
    }

    fn file(&mut self, kind: &'static str, path: &Path) -> usize {
        if let Some(&i) = self.file_index.get(path) {
            return i;
        }
        self.files.push(FileSink::new(kind, path.to_path_buf()));
        self.file_index.insert(path.to_path_buf(), self.files.len() - 1);
        self.files.len() - 1
    }

    fn syslog(&mut self, target: &SyslogTarget) -> usize {
        if let Some(&i) = self.syslog_index.get(target) {
            return i;
        }
        self.syslogs.push(SyslogSink::new(target.clone(), self.hostname.clone()));
        self.syslog_index.insert(target.clone(), self.syslogs.len() - 1);
        self.syslogs.len() - 1
    }

    /// Tries to write everything pending in every sink; a sink that failed is tried again only
    /// once `retry` has passed.
    pub fn write_pending(&mut self, retry: Duration, mode: Mode) -> Outcome {
        let now = Instant::now();
        let mut out = Outcome::default();
        for f in &mut self.files {
            out.add(f.write_pending(now, retry, mode));
        }
        for s in &mut self.syslogs {
            out.add(s.write_pending(now, retry, mode));
        }
        out
    }

    /// Lines still waiting in any sink.
    pub fn pending(&self) -> u64 {
        self.files.iter().map(|f| f.pending() as u64).sum::<u64>()
            + self.syslogs.iter().map(|s| s.pending() as u64).sum::<u64>()
    }

    pub fn stats(&self) -> Vec<SinkStats> {
        let mut v: Vec<SinkStats> = self.files.iter().map(|f| f.stats()).collect();
        v.extend(self.syslogs.iter().map(|s| s.stats()));
        v.sort_by(|a, b| (a.kind, &a.target).cmp(&(b.kind, &b.target)));
        v
    }
}
