//! A log file: appended to in whole lines, one `write` per batch, reopened after rotation.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use inotify::WatchDescriptor;

use super::attempt::{unix_now, Mode, Outcome};
use super::rotation::{Change, RotationWatch, RECHECK};
use super::spool::MEMORY_BOUND;
use crate::stats::{Figures, SinkStats};

/// Mode of a log file banlog creates: the web server writes, the adm group (fail2ban) reads.
const CREATE_MODE: u32 = 0o640;

pub struct FileSink {
    path: PathBuf,
    /// The open file and the (device, inode) it had when opened.
    file: Option<(File, u64, u64)>,
    /// The inotify watch on the open file (see `rotation.rs`).
    watch: Option<WatchDescriptor>,
    /// Until then the open file is taken to be the one the path names, unless the watch reports
    /// a change: set when a look-up has found it there after the watch was set.
    trusted_until: Option<Instant>,
    /// Whole lines waiting to be written, each ending in `\n`.
    buf: Vec<u8>,
    lines: usize,
    /// The file may end in a partial line of ours (a write cut short by a full disk): the next
    /// write starts with a newline, so that the line rewritten whole stands on a line of its own.
    torn: bool,
    /// Lines dropped since the last write attempt (the retry buffer was full).
    new_dropped: u64,
    /// After a failure, no new attempt before this moment.
    retry_at: Option<Instant>,
    stats: SinkStats,
}

impl FileSink {
    pub fn new(kind: &'static str, path: PathBuf) -> Self {
        let stats = SinkStats { kind, target: path.display().to_string(), ..Default::default() };
        FileSink {
            path,
            file: None,
            watch: None,
            trusted_until: None,
            buf: Vec::new(),
            lines: 0,
            torn: false,
            new_dropped: 0,
            retry_at: None,
            stats,
        }
    }

    /// Appends one line, written by `line` straight into the buffer (no newline in it).
    pub fn push_with(&mut self, line: impl FnOnce(&mut Vec<u8>)) {
        // Bounded in bytes: a file that cannot be written (a missing directory, a full disk) holds
        // at most this much; later lines are dropped and counted.
        if self.buf.len() >= MEMORY_BOUND {
            self.stats.dropped += 1;
            self.new_dropped += 1;
            return;
        }
        line(&mut self.buf);
        self.buf.push(b'\n');
        self.lines += 1;
    }

    pub fn pending(&self) -> usize {
        self.lines
    }

    pub fn stats(&self) -> SinkStats {
        let mut s = self.stats.clone();
        self.figures().1.apply(&mut s);
        s
    }

    /// The stats as kept, and the figures they show (no text copied).
    pub(crate) fn figures(&self) -> (&SinkStats, Figures) {
        let f = Figures { pending: self.lines as u64, memory: self.buf.capacity() as u64, ..Figures::of(&self.stats) };
        (&self.stats, f)
    }

    /// What the rotation watch reported for `wd` (see [`RotationWatch::changes`]); `None` stands
    /// for every watch (the queue could not be read).
    pub fn noticed(&mut self, wd: Option<&WatchDescriptor>, change: Change) {
        if wd.is_none() || self.watch.as_ref() == wd {
            self.trusted_until = None;
            if change == Change::Gone {
                self.watch = None;
            }
        }
    }

    /// The watch on the file, given back when the sink closes.
    pub fn take_watch(&mut self) -> Option<WatchDescriptor> {
        self.watch.take()
    }

    /// Writes the pending lines in one `write` call (more only if the kernel takes part of it).
    /// After a failure, waits for `retry` before it tries again. In [`Mode::Inline`], writes only
    /// to the file already open at the path, else leaves the lines for the writer thread, which
    /// (re)opens files and sets `rotation`'s watch on them.
    pub fn write_pending(
        &mut self,
        now: Instant,
        retry: Duration,
        mode: Mode,
        rotation: &mut RotationWatch,
    ) -> Outcome {
        let dropped = std::mem::take(&mut self.new_dropped);
        let mut out = Outcome { dropped, ..Default::default() };
        if self.buf.is_empty() || self.retry_at.is_some_and(|t| now < t) {
            return out;
        }
        if mode != Mode::Writer {
            match self.current_size(now) {
                Some(size) => {
                    let result = self.write_buf(size);
                    return self.settle(result, now, retry, out);
                }
                None => {
                    out.deferred = true;
                    return out;
                }
            }
        }
        let result = self.ensure_open(now, rotation).and_then(|size| self.write_buf(size));
        self.settle(result, now, retry, out)
    }

    /// The size of the open file when the path still names it (no reopen needed). While the
    /// watch vouches for the file, the path is not looked up.
    fn current_size(&mut self, now: Instant) -> Option<u64> {
        let (file, dev, ino) = self.file.as_ref()?;
        if self.trusted_until.is_some_and(|t| now < t) {
            // Appends go to the end whatever the offset: moving it there only reads the size.
            if let Ok(size) = (&*file).seek(SeekFrom::End(0)) {
                return Some(size);
            }
        }
        let m = std::fs::metadata(&self.path).ok()?;
        let same = (m.dev(), m.ino()) == (*dev, *ino);
        self.trust(same, now);
        same.then_some(m.len())
    }

    /// A look-up found the open file at the path (`same`), after the watch was set.
    fn trust(&mut self, same: bool, now: Instant) {
        self.trusted_until = (same && self.watch.is_some()).then(|| now + RECHECK);
    }

    /// Counts a write attempt's result.
    fn settle(
        &mut self,
        result: Result<u64, (u64, io::Error)>,
        now: Instant,
        retry: Duration,
        mut out: Outcome,
    ) -> Outcome {
        self.retry_at = None;
        match result {
            Ok(n) => out.written = n,
            Err((n, e)) => {
                out.written = n;
                out.failed_attempts = 1;
                self.retry_at = Some(now + retry);
                self.stats.errors += 1;
                self.stats.last_error = Some(describe(&self.path, &e));
                self.stats.last_error_at = Some(unix_now());
                // A descriptor that failed may point at a file that is gone; open afresh next time.
                if !matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) {
                    self.file = None;
                    self.trusted_until = None;
                }
            }
        }
        self.stats.written += out.written;
        out
    }

    /// Opens the file, or reopens it when the path now names another file (rotated away) or none,
    /// and watches the file opened. Returns the file's size.
    fn ensure_open(&mut self, now: Instant, rotation: &mut RotationWatch) -> Result<u64, (u64, io::Error)> {
        let current = match std::fs::metadata(&self.path) {
            Ok(m) => Some((m.dev(), m.ino(), m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err((0, e)),
        };
        if let (Some((_, dev, ino)), Some((cur_dev, cur_ino, size))) = (&self.file, current) {
            if (*dev, *ino) == (cur_dev, cur_ino) {
                self.trust(true, now);
                return Ok(size);
            }
        }
        let file = open_append(&self.path).map_err(|e| (0, e))?;
        let m = file.metadata().map_err(|e| (0, e))?;
        if self.file.is_some() {
            self.torn = false; // a partial line of ours is in the old file, not this one
        }
        self.file = Some((file, m.dev(), m.ino()));
        if let Some(old) = self.watch.take() {
            rotation.unwatch(old);
        }
        // Set after the open: the next look-up that finds this file at the path makes it trusted.
        self.watch = rotation.watch(&self.path);
        self.trusted_until = None;
        Ok(m.len())
    }

    /// Returns the number of whole lines written, also on error. `size` is the file's size.
    ///
    /// Writes chunks of whole lines, each after reserving its blocks: on a full disk a chunk then
    /// fails whole instead of leaving a torn line, to which another process appending to the
    /// same log would glue its own line (and fail2ban would match neither).
    ///
    /// A chunk that lies within one page of the file is written without a reservation: the kernel
    /// copies a page at a time and allocates its blocks before copying, so a full disk fails such
    /// a write whole, and the reservation (a system call as dear as the write) buys nothing.
    fn write_buf(&mut self, size: u64) -> Result<u64, (u64, io::Error)> {
        let (file, _, _) = self.file.as_mut().expect("opened by ensure_open");
        let prefixed = self.torn;
        if prefixed {
            self.buf.insert(0, b'\n');
        }
        let mut done = 0;
        // Where the reserved chunk ends; `usize::MAX` once the file system turns out not to
        // support reservations (then writes are plain, and a full disk may tear a line).
        let mut reserved = 0;
        let result = loop {
            if done == self.buf.len() {
                break Ok(());
            }
            if reserved <= done {
                let end = chunk_end(&self.buf, done);
                let at = size + done as u64;
                if within_one_page(at, end - done) {
                    reserved = end;
                } else {
                    match reserve(file, at, end - done) {
                        Ok(true) => reserved = end,
                        Ok(false) => reserved = usize::MAX,
                        Err(e) => break Err(e),
                    }
                }
            }
            match file.write(&self.buf[done..reserved.min(self.buf.len())]) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        if result.is_ok() && !prefixed {
            // All of it, as nearly always: no need to look for where lines end.
            let whole = std::mem::take(&mut self.lines);
            self.buf.clear();
            if self.buf.capacity() > 4 * CHUNK {
                // A backlog has been written: give its memory back.
                self.buf = Vec::new();
            }
            self.torn = false;
            return Ok(whole as u64);
        }
        // Keep every line that did not reach the file whole, and remember a torn tail.
        let mut cut = self.buf[..done].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let newlines = self.buf[..cut].iter().filter(|&&b| b == b'\n').count();
        // Cut short just before a newline: the line is all there but for its end. Keep only that
        // newline pending (the line stays counted as pending until it is written); rewriting the
        // line whole would log it twice.
        let newline_owed = done > cut && done < self.buf.len() && self.buf[done] == b'\n';
        if newline_owed {
            cut = done;
        }
        let whole = newlines - usize::from(prefixed && cut > 0);
        self.torn = !newline_owed && (done > cut || (cut == 0 && self.torn));
        if cut == 0 && prefixed {
            self.buf.remove(0);
        } else {
            self.buf.drain(..cut);
        }
        self.lines -= whole;
        match result {
            Ok(()) => Ok(whole as u64),
            Err(e) => Err((whole as u64, e)),
        }
    }
}

/// Bytes reserved and written at a time: a full disk must only have this much free for the
/// pending lines to make progress.
const CHUNK: usize = 64 * 1024;

/// The end of the next chunk of whole lines from `start`: at most [`CHUNK`] bytes, but always at
/// least one line.
fn chunk_end(buf: &[u8], start: usize) -> usize {
    let limit = (start + CHUNK).min(buf.len());
    if limit == buf.len() {
        return limit;
    }
    match buf[start..limit].iter().rposition(|&b| b == b'\n') {
        Some(p) => start + p + 1,
        None => buf[limit..].iter().position(|&b| b == b'\n').map_or(buf.len(), |p| limit + p + 1),
    }
}

/// The smallest page size Linux uses: a write inside one such page is inside one page of any size.
const PAGE: u64 = 4096;

/// Whether `len` bytes written at `offset` stay within one page.
fn within_one_page(offset: u64, len: usize) -> bool {
    offset % PAGE + len as u64 <= PAGE
}

/// Reserves `len` bytes of blocks at `offset` without changing the file's size. Ok(false) when the
/// file system cannot (then nothing is reserved); Err only for a lack of space.
fn reserve(file: &File, offset: u64, len: usize) -> Result<bool, io::Error> {
    let too_far = |_| io::Error::new(io::ErrorKind::InvalidInput, "file offset beyond off_t");
    let (offset, len) = (libc::off_t::try_from(offset).map_err(too_far)?, libc::off_t::try_from(len).map_err(too_far)?);
    // SAFETY: plain system call on a descriptor this sink owns; no memory is passed.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, offset, len) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => Err(e),
        _ => Ok(false),
    }
}

/// Opens (or creates) the log for appending. Never through a symbolic link in the last component
/// (`O_NOFOLLOW`): a link planted where the log should be (`auth.log -> uploads/shell.php`) would
/// make banlog write user names into a file of the attacker's choosing. The open fails with ELOOP.
fn open_append(path: &Path) -> io::Result<File> {
    let flags = libc::O_CLOEXEC | libc::O_NOFOLLOW;
    let mut opts = OpenOptions::new();
    opts.append(true).custom_flags(flags);
    match opts.open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    // A dangling link is not NotFound: it exists, so this fails (AlreadyExists), and the retry
    // below then fails with ELOOP.
    match OpenOptions::new().append(true).create_new(true).mode(CREATE_MODE).custom_flags(flags).open(path) {
        Ok(f) => {
            // The umask may have taken bits away; the mode is part of the contract.
            f.set_permissions(Permissions::from_mode(CREATE_MODE))?;
            Ok(f)
        }
        // Another process created it in between: append to theirs.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => opts.open(path),
        Err(e) => Err(e),
    }
}

/// An error message that says what to do about it.
fn describe(path: &Path, e: &io::Error) -> String {
    let p = path.display();
    match e.raw_os_error() {
        Some(libc::ENOENT) => format!("cannot open {p}: the directory does not exist; create it"),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            format!("cannot write {p}: permission denied; let the web server's user write it")
        }
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
            format!("cannot write {p}: no space left on the device; lines are kept and retried")
        }
        Some(libc::EISDIR) => format!("cannot write {p}: it is a directory; set a file path"),
        Some(libc::ELOOP) => {
            format!(
                "cannot open {p}: it is a symbolic link, and banlog never writes through one; set the real file's path"
            )
        }
        _ => format!("cannot write {p}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl FileSink {
        fn push_line(&mut self, line: &str) {
            self.push_with(|buf| buf.extend_from_slice(line.as_bytes()));
        }

        fn write_as_writer(&mut self) -> Outcome {
            self.write_pending(Instant::now(), Duration::ZERO, Mode::Writer, &mut RotationWatch::default())
        }
    }

    #[test]
    fn a_request_end_trusts_the_watch_for_a_while_and_notices_a_rename_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let path = logs.join("spam.log");
        let mut w = RotationWatch::default();
        let mut s = FileSink::new("spam_log", path.clone());
        let t = Instant::now();
        let write = |w: &mut RotationWatch, s: &mut FileSink, line: &str, mode: Mode, now: Instant| {
            w.changes(|wd, c| s.noticed(Some(wd), c)).unwrap();
            s.push_line(line);
            let out = s.write_pending(now, Duration::ZERO, mode, w);
            (out.written, out.deferred)
        };
        assert_eq!(write(&mut w, &mut s, "opened", Mode::Writer, t), (1, false));
        assert_eq!(write(&mut w, &mut s, "one", Mode::Inline, t), (1, false));
        // Renamed away (logrotate): the next request's end leaves its line to the writer thread,
        // which writes it to the new file.
        std::fs::rename(&path, logs.join("spam.log.1")).unwrap();
        assert_eq!(write(&mut w, &mut s, "two", Mode::Inline, t), (0, true));
        assert_eq!(s.write_pending(t, Duration::ZERO, Mode::Writer, &mut w).written, 1);
        assert_eq!(write(&mut w, &mut s, "three", Mode::Inline, t), (1, false));
        // A directory of the path swapped tells the file nothing: the open file is still trusted
        // until RECHECK has passed, then the path is looked up again.
        std::fs::rename(&logs, dir.path().join("old-logs")).unwrap();
        std::fs::create_dir(&logs).unwrap();
        assert_eq!(write(&mut w, &mut s, "four", Mode::Inline, t), (1, false));
        assert_eq!(write(&mut w, &mut s, "five", Mode::Inline, t + RECHECK), (0, true));
        assert_eq!(s.write_pending(t + RECHECK, Duration::ZERO, Mode::Writer, &mut w).written, 1);
        let old = dir.path().join("old-logs");
        assert_eq!(std::fs::read_to_string(old.join("spam.log.1")).unwrap(), "opened\none\n");
        assert_eq!(std::fs::read_to_string(old.join("spam.log")).unwrap(), "two\nthree\nfour\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "five\n");
    }

    #[test]
    fn never_writes_through_a_symbolic_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("shell.php");
        std::fs::write(&target, "<?php // target\n").unwrap();
        for (name, to) in [("live.log", target.clone()), ("dangling.log", dir.path().join("missing.php"))] {
            let link = dir.path().join(name);
            std::os::unix::fs::symlink(&to, &link).unwrap();
            let mut s = FileSink::new("auth_log", link.clone());
            s.push_line("<?php system('id'); ?>");
            let out = s.write_as_writer();
            assert_eq!((out.written, out.failed_attempts), (0, 1), "{name}");
            let err = s.stats().last_error.unwrap();
            assert!(err.contains("symbolic link"), "{err}");
            assert!(!dir.path().join("missing.php").exists(), "created through a dangling link");
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "<?php // target\n");
    }

    #[test]
    fn appends_whole_lines_and_creates_0640() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spam.log");
        let mut s = FileSink::new("spam_log", path.clone());
        s.push_line("one");
        s.push_line("two");
        assert_eq!(s.write_as_writer().written, 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn reopens_after_rename_and_follows_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spam.log");
        let mut s = FileSink::new("spam_log", path.clone());
        s.push_line("before");
        s.write_as_writer();
        std::fs::rename(&path, dir.path().join("spam.log.1")).unwrap();
        s.push_line("after rename");
        s.write_as_writer();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after rename\n");
        assert_eq!(std::fs::read_to_string(dir.path().join("spam.log.1")).unwrap(), "before\n");
        // copytruncate: the same inode emptied in place
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
        s.push_line("after truncate");
        s.write_as_writer();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after truncate\n");
    }

    #[test]
    fn missing_directory_keeps_lines_until_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later/spam.log");
        let mut s = FileSink::new("spam_log", path.clone());
        s.push_line("kept");
        let out = s.write_as_writer();
        assert_eq!((out.written, out.failed_attempts), (0, 1));
        assert!(s.stats().last_error.unwrap().contains("directory does not exist"));
        assert_eq!(s.pending(), 1);
        std::fs::create_dir(dir.path().join("later")).unwrap();
        assert_eq!(s.write_as_writer().written, 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept\n");
    }

    #[test]
    fn a_full_disk_keeps_the_line_and_says_why() {
        // /dev/full fails every write with ENOSPC, like a full disk.
        let mut s = FileSink::new("spam_log", "/dev/full".into());
        s.push_line("x");
        let out = s.write_as_writer();
        assert_eq!((out.written, out.failed_attempts), (0, 1));
        assert!(s.stats().last_error.unwrap().contains("no space left"));
        assert_eq!(s.pending(), 1);
    }
}
