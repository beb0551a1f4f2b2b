//! The sinks an event's lines go to, and the router that picks them from the event's settings.

mod attempt;
pub mod file;
mod journal;
mod rotation;
pub mod spool;
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
use crate::stats::{Figures, SinkStats};

pub use self::attempt::{Mode, Outcome};
pub use self::file::FileSink;
pub use self::rotation::RotationWatch;
pub use self::spool::{SpoolConfig, MEMORY_BOUND};
pub use self::syslog::SyslogSink;
use self::syslog::When;

/// All sinks of one writer, created on first use and kept open.
pub struct Sinks {
    zone: LocalZone,
    hostname: String,
    /// The pid in syslog tags: the process that owns the writer.
    pid: u32,
    /// Slots, emptied when no settings use a sink any more ([`Sinks::retain`]).
    files: Vec<Option<FileSink>>,
    file_index: HashMap<PathBuf, usize>,
    syslogs: Vec<Option<SyslogSink>>,
    syslog_index: HashMap<SyslogTarget, usize>,
    spool: Arc<SpoolConfig>,
    clock: ClockCache,
    /// Tells the file sinks when their files are renamed or removed.
    rotation: RotationWatch,
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
    pub fn new(zone: LocalZone, hostname: String, pid: u32, spool: Arc<SpoolConfig>) -> Self {
        let clock = ClockCache::new(&zone);
        Sinks {
            zone,
            hostname,
            pid,
            files: Vec::new(),
            file_index: HashMap::new(),
            syslogs: Vec::new(),
            syslog_index: HashMap::new(),
            spool,
            clock,
            rotation: RotationWatch::default(),
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
                if let Some(f) = slot(&mut self.files, r.spam_file) {
                    let date = &self.clock.spam_time;
                    f.push_with(|buf| {
                        buf.extend_from_slice(date);
                        push_spam_tail(buf, comment_id, addr);
                    });
                }
                if let (Some(sink), true) = (slot(&mut self.syslogs, r.syslog), s.syslog_spam()) {
                    let facility = s.syslog_facility().code();
                    sink.push(facility, false, When { second: ev.stamp.unix_secs, local: &t }, &r.ident, pid, |buf| {
                        push_spam_message(buf, comment_id, addr)
                    });
                }
            }
            EventKind::Auth { kind, user, addr } => {
                let (kind, user, addr) = (*kind, user.as_str(), *addr);
                if let Some(f) = slot(&mut self.files, r.auth_file) {
                    let hostname = &self.hostname;
                    f.push_with(|buf| {
                        push_auth_file_head(buf, &t, hostname, &r.ident, pid);
                        push_auth_message(buf, kind, user, addr)
                    });
                }
                if let Some(sink) = slot(&mut self.syslogs, r.syslog) {
                    let facility = s.syslog_facility().code();
                    let at = When { second: ev.stamp.unix_secs, local: &t };
                    sink.push(facility, !kind.is_failure(), at, &r.ident, pid, |buf| {
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
        let i = place(&mut self.files, FileSink::new(kind, path.to_path_buf()));
        self.file_index.insert(path.to_path_buf(), i);
        i
    }

    fn syslog(&mut self, target: &SyslogTarget) -> usize {
        if let Some(&i) = self.syslog_index.get(target) {
            return i;
        }
        let sink = SyslogSink::new(target.clone(), self.hostname.clone(), Arc::clone(&self.spool));
        let i = place(&mut self.syslogs, sink);
        self.syslog_index.insert(target.clone(), i);
        i
    }

    /// Closes the sinks that none of `routes` uses any more (settings given up), and the syslog
    /// sinks in trouble (lines waiting, the target down) that no current route uses (`true`: the
    /// settings of a producer's last event): settings a worker moved on from do not keep the
    /// writer retrying their target. A syslog sink's unsent lines go to its spool, for whoever
    /// uses the target next; a file sink with lines still pending stays until they are written.
    /// Returns the lines that could not be kept.
    pub fn retain<'a>(&mut self, routes: impl Iterator<Item = (&'a Route, bool)>) -> u64 {
        let (mut files, mut syslogs) = (vec![false; self.files.len()], vec![None; self.syslogs.len()]);
        for (r, current) in routes {
            for i in [r.spam_file, r.auth_file].into_iter().flatten() {
                files[i] = true;
            }
            if let Some(i) = r.syslog {
                syslogs[i] = Some(current || syslogs[i] == Some(true));
            }
        }
        for (i, used) in files.into_iter().enumerate() {
            if !used && self.files[i].as_ref().is_some_and(|f| f.pending() == 0) {
                if let Some(wd) = self.files[i].take().and_then(|mut f| f.take_watch()) {
                    self.rotation.unwatch(wd);
                }
                self.file_index.retain(|_, v| *v != i);
            }
        }
        let mut lost = 0;
        for (i, used) in syslogs.into_iter().enumerate() {
            let Some(s) = self.syslogs[i].as_mut() else { continue };
            let keep = match used {
                Some(true) => true,
                Some(false) => s.pending() == 0 && !s.is_down(),
                None => false,
            };
            if !keep {
                lost += s.persist();
                self.syslogs[i] = None;
                self.syslog_index.retain(|_, v| *v != i);
            }
        }
        lost
    }

    /// Whether every sink `r` names is still open (not closed by [`Sinks::retain`]).
    pub fn is_open(&self, r: &Route) -> bool {
        let file = |i: Option<usize>| i.is_none_or(|i| self.files.get(i).is_some_and(Option::is_some));
        file(r.spam_file)
            && file(r.auth_file)
            && r.syslog.is_none_or(|i| self.syslogs.get(i).is_some_and(Option::is_some))
    }

    /// At the process's end: keeps the syslog sinks' unsent lines in their spools. Returns the
    /// lines lost (those of files that could not be written, and any the spool refused).
    pub fn persist(&mut self) -> u64 {
        let files: u64 = self.files.iter().flatten().map(|f| f.pending() as u64).sum();
        files + self.syslogs.iter_mut().flatten().map(SyslogSink::persist).sum::<u64>()
    }

    /// Whether every line still pending waits for a syslog target known to be down: at the
    /// process's end they go to the spool at once instead of after the stop's whole wait.
    pub fn only_spoolable_pending(&self) -> bool {
        self.files.iter().flatten().all(|f| f.pending() == 0)
            && self.syslogs.iter().flatten().all(|s| s.pending() == 0 || s.is_down())
    }

    /// Tries to write everything pending in every sink; a sink that failed is tried again only
    /// once `retry` has passed.
    pub fn write_pending(&mut self, retry: Duration, mode: Mode) -> Outcome {
        let now = Instant::now();
        let mut out = Outcome::default();
        // First what happened to the files since the last write: a file renamed is looked up.
        // The writer thread looks every path up anyway; the events wait for the next request's end.
        let files = &mut self.files;
        if mode != Mode::Writer && files.iter().flatten().any(|f| f.pending() > 0) {
            let read = self
                .rotation
                .changes(|wd, change| files.iter_mut().flatten().for_each(|f| f.noticed(Some(wd), change)));
            if read.is_err() {
                files.iter_mut().flatten().for_each(|f| f.noticed(None, rotation::Change::Touched));
            }
        }
        for f in self.files.iter_mut().flatten() {
            out.add(f.write_pending(now, retry, mode, &mut self.rotation));
        }
        for s in self.syslogs.iter_mut().flatten() {
            out.add(s.write_pending(now, retry, mode));
        }
        out
    }

    /// Lines waiting that no journal keeps: a request's end must see to them.
    pub fn unjournaled_pending(&self) -> u64 {
        let journaled = self.syslogs.iter().flatten().map(|s| s.journaled().min(s.pending()) as u64).sum::<u64>();
        self.pending() - journaled
    }

    /// Takes over lines that ended processes left for this writer's syslog targets (see
    /// [`SyslogSink::adopt_left`]).
    pub fn adopt_left(&mut self) {
        self.syslogs.iter_mut().flatten().for_each(SyslogSink::adopt_left);
    }

    /// Lines still waiting in any sink.
    pub fn pending(&self) -> u64 {
        self.files.iter().flatten().map(|f| f.pending() as u64).sum::<u64>()
            + self.syslogs.iter().flatten().map(|s| s.pending() as u64).sum::<u64>()
    }

    /// Brings `board` (the sinks' stats as last published) up to date, and hands `report` each
    /// sink's stats before and now where they changed. At a request's end one sink has written a
    /// line: its figures are updated in place, no text is copied, nothing allocated; the list is
    /// made afresh only when the set of sinks changed.
    pub fn publish(&self, board: &mut Vec<SinkStats>, mut report: impl FnMut(Option<&SinkStats>, &SinkStats)) {
        let views = || {
            (self.files.iter().flatten().map(FileSink::figures))
                .chain(self.syslogs.iter().flatten().map(SyslogSink::figures))
        };
        let same_set = views().count() == board.len()
            && views().all(|(s, _)| board.iter().any(|b| b.kind == s.kind && b.target == s.target));
        if !same_set {
            let now = self.stats();
            for s in &now {
                report(board.iter().find(|b| b.kind == s.kind && b.target == s.target), s);
            }
            *board = now;
            return;
        }
        for (s, figures) in views() {
            let Some(entry) = board.iter_mut().find(|b| b.kind == s.kind && b.target == s.target) else { continue };
            if Figures::of(entry) == figures && entry.last_error == s.last_error {
                continue;
            }
            // Only the figures of `before` count (the texts are the sink's own, compared apart).
            let mut before = SinkStats { kind: entry.kind, ..SinkStats::default() };
            Figures::of(entry).apply(&mut before);
            figures.apply(entry);
            if entry.last_error != s.last_error {
                entry.last_error.clone_from(&s.last_error);
            }
            report(Some(&before), entry);
        }
    }

    pub fn stats(&self) -> Vec<SinkStats> {
        let mut v: Vec<SinkStats> = self.files.iter().flatten().map(FileSink::stats).collect();
        v.extend(self.syslogs.iter().flatten().map(SyslogSink::stats));
        v.sort_by(|a, b| (a.kind, &a.target).cmp(&(b.kind, &b.target)));
        v
    }
}

/// The sink in slot `i` of a route (routes only name sinks that [`Sinks::retain`] kept).
fn slot<T>(v: &mut [Option<T>], i: Option<usize>) -> Option<&mut T> {
    v.get_mut(i?)?.as_mut()
}

/// Puts a sink in the first free slot.
fn place<T>(v: &mut Vec<Option<T>>, sink: T) -> usize {
    match v.iter().position(Option::is_none) {
        Some(i) => {
            v[i] = Some(sink);
            i
        }
        None => {
            v.push(Some(sink));
            v.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use banlog_core::Stamp;

    #[test]
    fn publish_keeps_the_board_equal_to_the_stats_and_reports_each_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Arc::new(SpoolConfig::new(Some(dir.path().to_path_buf()), 0));
        let mut sinks = Sinks::new(LocalZone::utc(), "host".into(), 1, spool);
        let site =
            |path: &Path| Arc::new(Settings::with(&[("syslog", "0"), ("spam_log", path.to_str().unwrap())]).unwrap());
        let (a, b) = (site(&dir.path().join("a.log")), site(&dir.path().join("later/b.log")));
        let (ra, rb) = (sinks.resolve(&a), sinks.resolve(&b));
        let spam = |id| Event {
            stamp: Stamp::now(),
            kind: EventKind::Spam { comment_id: id, addr: "192.0.2.1".parse().unwrap() },
        };
        let (mut board, mut reported) = (Vec::new(), 0);
        for id in 0..20u64 {
            if id == 10 {
                std::fs::create_dir(dir.path().join("later")).unwrap();
            }
            sinks.route(if id % 3 == 0 { &rb } else { &ra }, &spam(id));
            sinks.write_pending(Duration::ZERO, Mode::Writer);
            sinks.publish(&mut board, |before, now| {
                reported += now.written - before.map_or(0, |b| b.written);
            });
            assert_eq!(board, sinks.stats(), "after event {id}");
        }
        // b's directory was missing for its first 4 lines: an error, then all 7 written.
        assert!(board.iter().any(|s| s.target.ends_with("b.log") && s.last_error.is_some() && s.written == 7));
        assert_eq!(reported, 20);
    }
}
