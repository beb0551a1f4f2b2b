//! Noticing that a log file was rotated away, without looking its path up for every write.
//!
//! A line belongs in the file its path names: once logrotate has renamed the log, lines written to
//! the old file are lost to fail2ban. Looking the path up (`statx`) before each write costs a
//! request more than the write itself when it comes cold, after the idle gap between requests (a
//! walk over each directory of the path). So the writer watches each open log file with inotify
//! (one instance per process, a watch per file): a rename, a removal or a change of the file's
//! attributes queues an event, and a write first reads that queue, one `read` that nearly always
//! finds it empty. The path is still looked up after an event, when no watch could be set (the
//! user's `fs.inotify.max_user_instances` reached, a file system without inotify), and at least
//! once every [`RECHECK`]: a directory of the path renamed or mounted over tells the file nothing.

use std::io;
use std::path::Path;
use std::time::Duration;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

/// How long a file a watch vouches for is trusted without looking its path up.
pub const RECHECK: Duration = Duration::from_secs(1);

/// What the queue said about one watch since the last look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The file was renamed, removed or had its attributes changed: look its path up.
    Touched,
    /// The watch is gone (its file system unmounted): the file must be looked up each time.
    Gone,
}

#[derive(Default)]
pub struct RotationWatch {
    /// Made on the first watch: a process that writes no file uses no inotify instance.
    inotify: Option<Inotify>,
    /// The instance could not be made: do not try at every file opened.
    unavailable: bool,
}

impl RotationWatch {
    /// Watches the file at `path` (never through a symbolic link). None when it cannot be watched:
    /// the file's path is then looked up at every write, as without inotify.
    pub fn watch(&mut self, path: &Path) -> Option<WatchDescriptor> {
        if self.inotify.is_none() && !self.unavailable {
            match Inotify::init() {
                Ok(i) => self.inotify = Some(i),
                Err(_) => self.unavailable = true,
            }
        }
        let mask = WatchMask::MOVE_SELF | WatchMask::DELETE_SELF | WatchMask::ATTRIB | WatchMask::DONT_FOLLOW;
        self.inotify.as_ref()?.watches().add(path, mask).ok()
    }

    /// Stops watching a file no longer written to.
    pub fn unwatch(&mut self, wd: WatchDescriptor) {
        if let Some(i) = &self.inotify {
            // Fails only for a watch the kernel has dropped already.
            let _ = i.watches().remove(wd);
        }
    }

    /// Reads what happened to the watched files since the last call: `seen` is called for each
    /// watch an event names. Err when the queue could not be read or had overflowed: then every
    /// watched file must be looked up.
    pub fn changes(&mut self, mut seen: impl FnMut(&WatchDescriptor, Change)) -> io::Result<()> {
        let Some(inotify) = self.inotify.as_mut() else { return Ok(()) };
        // Room for many events (16 bytes each: a watched file's events carry no name).
        let mut buf = [0u8; 1024];
        loop {
            let events = match inotify.read_events(&mut buf) {
                Ok(events) => events,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            for ev in events {
                if ev.mask.contains(EventMask::Q_OVERFLOW) {
                    return Err(io::Error::other("inotify queue overflowed"));
                }
                let change = if ev.mask.contains(EventMask::IGNORED) { Change::Gone } else { Change::Touched };
                seen(&ev.wd, change);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(w: &mut RotationWatch) -> Vec<(WatchDescriptor, Change)> {
        let mut v = Vec::new();
        w.changes(|wd, c| v.push((wd.clone(), c))).unwrap();
        v
    }

    #[test]
    fn a_rename_or_removal_is_reported_and_writes_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spam.log");
        std::fs::write(&path, "").unwrap();
        let mut w = RotationWatch::default();
        let wd = w.watch(&path).expect("inotify works here");
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        io::Write::write_all(&mut f, b"a line\n").unwrap();
        assert!(seen(&mut w).is_empty(), "a write is no reason to look the path up");
        std::fs::rename(&path, dir.path().join("spam.log.1")).unwrap();
        assert_eq!(seen(&mut w), [(wd.clone(), Change::Touched)]);
        assert!(seen(&mut w).is_empty(), "each event is reported once");
        std::fs::remove_file(dir.path().join("spam.log.1")).unwrap();
        let after_removal = seen(&mut w);
        assert!(after_removal.contains(&(wd.clone(), Change::Touched)), "{after_removal:?}");
        drop(f);
        // The last link and descriptor gone, the kernel drops the watch.
        let gone = seen(&mut w);
        assert!(gone.contains(&(wd, Change::Gone)), "{gone:?}");
    }

    #[test]
    fn a_symbolic_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.log");
        std::fs::write(&target, "").unwrap();
        let link = dir.path().join("spam.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut w = RotationWatch::default();
        let wd = w.watch(&link).expect("the link itself is watched");
        std::fs::rename(&target, dir.path().join("moved.log")).unwrap();
        assert!(seen(&mut w).iter().all(|(w, _)| *w != wd), "the link's target is not watched");
    }
}
