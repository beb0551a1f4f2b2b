//! What a sink holds while it cannot write: the oldest lines in memory, up to [`MEMORY_BOUND`]
//! bytes, the rest in a spool file on disk, read back in order when the sink recovers (rsyslog's
//! disk-assisted queues work the same way).
//!
//! Spool files live in one directory per user (see [`SpoolConfig::dir`]), one file per sink and
//! process, named `<sink>-<pid>-<nanos>.spool`, created with `O_EXCL | O_NOFOLLOW`, mode 0600, and
//! held under `flock` while in use. A process that ends with lines still unsent leaves its spool
//! behind (the unsent lines first); the next process that opens the same sink adopts it (once its
//! writer is gone and its lock is free) and replays it before its own lines, and writers that
//! have the sink open already look for such files every second. A syslog sink's journal
//! (`journal.rs`) is such a file too. An adopted file stays on disk until its last line is sent.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Bytes of lines one sink holds in memory: beyond them, lines go to its spool file.
pub const MEMORY_BOUND: usize = 2 * 1024 * 1024;
/// Bytes written to the spool at a time (part of [`MEMORY_BOUND`]'s budget: spooled lines wait in
/// this buffer before they reach the file).
const WRITE_CHUNK: usize = 64 * 1024;
/// Bytes read back from the spool at a time, once memory has emptied.
const READ_CHUNK: usize = 256 * 1024;
/// A generous bound on one record (a syslog frame: a header and a capped user name).
const MAX_RECORD: usize = 8 * 1024;

/// Where spool files go and how big one may grow (`banlog.spool_dir`, `banlog.spool_max_mb`).
#[derive(Debug, Default)]
pub struct SpoolConfig {
    /// The configured directory; `None` for the default, the system's temporary directory.
    pub base: Option<PathBuf>,
    /// Largest size of one spool file; 0 turns spooling off (lines beyond memory are dropped).
    pub max_bytes: u64,
    resolved: OnceLock<Result<PathBuf, String>>,
}

impl SpoolConfig {
    pub fn new(base: Option<PathBuf>, max_bytes: u64) -> Self {
        SpoolConfig { base, max_bytes, resolved: OnceLock::new() }
    }

    /// The directory this user's spool files go in, made on first use.
    ///
    /// A directory owned by this user and writable by no one else is used as it is. Any other
    /// (root's `/var/spool/banlog` made group-writable for the pool, or a shared `/tmp`) gets a
    /// subdirectory `banlog-<uid>`, mode 0700, that must be ours: one a local attacker planted
    /// (another owner, a symbolic link, wider modes) is refused, never used.
    pub fn dir(&self) -> Result<&Path, &str> {
        let r = self.resolved.get_or_init(|| {
            let base = self.base.clone().unwrap_or_else(std::env::temp_dir);
            resolve_dir(&base).map_err(|e| format!("cannot use the spool directory under {}: {e}", base.display()))
        });
        match r {
            Ok(p) => Ok(p),
            Err(e) => Err(e),
        }
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn private_dir(m: &std::fs::Metadata) -> bool {
    m.file_type().is_dir() && m.uid() == euid() && m.mode() & 0o022 == 0
}

fn resolve_dir(base: &Path) -> io::Result<PathBuf> {
    let m = std::fs::symlink_metadata(base)?;
    if private_dir(&m) {
        return Ok(base.to_path_buf());
    }
    let dir = base.join(format!("banlog-{}", euid()));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let m = std::fs::symlink_metadata(&dir)?;
    if !private_dir(&m) {
        return Err(io::Error::other(format!(
            "{} is not a directory of this user (uid {}) closed to others; remove it",
            dir.display(),
            euid()
        )));
    }
    Ok(dir)
}

/// What a record costs in memory: its heap block and its slot in the queue.
fn cost(frame: &Vec<u8>) -> usize {
    frame.capacity() + std::mem::size_of::<Held>()
}

/// One record waiting in memory, and whether it came back from the spool.
struct Held {
    frame: Vec<u8>,
    replayed: bool,
}

/// A spool file in use: records end in `\n`; those before `read_off` are back in memory.
struct Spool {
    file: File,
    path: PathBuf,
    read_off: u64,
    /// Bytes in the file.
    len: u64,
    /// Records in the file after `read_off`, and in `wbuf`.
    lines: u64,
    /// Records on their way into the file.
    wbuf: Vec<u8>,
}

/// What counts as spool activity, for the sink's stats.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpoolCounts {
    pub spooled: u64,
    pub replayed: u64,
    /// Lines lost: memory full and the spool full or unusable.
    pub dropped: u64,
}

/// A sink's backlog: records in memory, then in its spool file, oldest first.
pub struct Backlog {
    cfg: Arc<SpoolConfig>,
    /// The sink's part of spool file names (letters, digits and `_`, plus a hash of the target).
    stem: String,
    mem: VecDeque<Held>,
    mem_bytes: usize,
    spool: Option<Spool>,
    /// A spool read back to its end whose last records are still in memory, unsent: kept (and
    /// locked) until they are, so that a process killed before that leaves them on disk for the
    /// next one instead of losing them. The count is of those records.
    read_back: Option<(Spool, usize)>,
    pub counts: SpoolCounts,
    /// The last spool error, for the sink's `last_error`; taken by the sink.
    pub error: Option<String>,
    /// A sent record's buffer, kept for the next one: one line per request would otherwise be
    /// allocated and freed each time (at most `SPARE_MAX` bytes kept).
    spare: Vec<u8>,
}

/// The largest buffer kept for reuse; a record is at most a few hundred bytes.
const SPARE_MAX: usize = 1024;
/// The room a new record's buffer starts with.
const RECORD_CAPACITY: usize = 128;

impl Backlog {
    pub fn new(cfg: Arc<SpoolConfig>, kind: &str, target: &str) -> Self {
        let mut b = Backlog {
            cfg,
            stem: stem(kind, target),
            mem: VecDeque::new(),
            mem_bytes: 0,
            spool: None,
            read_back: None,
            counts: SpoolCounts::default(),
            error: None,
            spare: Vec::new(),
        };
        b.adopt();
        b
    }

    /// Where this backlog's files go, and its part of their names (for the sink's journal).
    pub fn config(&self) -> (&SpoolConfig, &str) {
        (&self.cfg, &self.stem)
    }

    /// The records held in memory, oldest first.
    pub fn in_memory(&self) -> impl Iterator<Item = &[u8]> {
        self.mem.iter().map(|h| &h.frame[..])
    }

    /// Whether some records wait in a spool file (or came from one and are not sent yet).
    pub fn on_disk(&self) -> bool {
        self.spool.is_some() || self.read_back.is_some()
    }

    /// Records waiting, in memory and on disk.
    pub fn len(&self) -> usize {
        let disk = self.spool.as_ref().map_or(0, |s| s.lines);
        self.mem.len() + usize::try_from(disk).unwrap_or(usize::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held in memory (records, the spare buffer and the spool's write buffer).
    pub fn memory(&self) -> usize {
        self.mem_bytes + self.spare.capacity() + self.spool.as_ref().map_or(0, |s| s.wbuf.capacity())
    }

    /// An empty buffer to format the next record in: the last sent record's when there is one.
    pub fn buffer(&mut self) -> Vec<u8> {
        match std::mem::take(&mut self.spare) {
            v if v.capacity() > 0 => v,
            _ => Vec::with_capacity(RECORD_CAPACITY),
        }
    }

    /// Adds a record at the back: in memory while it has room and nothing waits on disk (the order
    /// stays that of arrival), else in the spool.
    pub fn push(&mut self, frame: Vec<u8>) {
        let on_disk = self.spool.as_ref().is_some_and(|s| s.lines > 0);
        if !on_disk && self.mem_bytes + cost(&frame) <= MEMORY_BOUND {
            self.mem_bytes += cost(&frame);
            self.mem.push_back(Held { frame, replayed: false });
            return;
        }
        if self.spool_one(&frame) {
            self.counts.spooled += 1;
        } else {
            self.counts.dropped += 1;
        }
    }

    /// The oldest record, read back from the spool when memory is empty.
    pub fn front(&mut self) -> Option<&[u8]> {
        if self.mem.is_empty() {
            self.refill();
        }
        self.mem.front().map(|h| &h.frame[..])
    }

    /// Removes the oldest record (it was sent).
    pub fn pop_front(&mut self) {
        if let Some(mut h) = self.mem.pop_front() {
            self.mem_bytes -= cost(&h.frame);
            if self.spare.capacity() == 0 && h.frame.capacity() <= SPARE_MAX {
                h.frame.clear();
                self.spare = std::mem::take(&mut h.frame);
            }
            if h.replayed {
                self.counts.replayed += 1;
                // Replayed records in memory all come from the last refill (refills wait for an
                // empty memory): the last of them sent, its spool file is done with.
                if let Some((s, left)) = self.read_back.as_mut() {
                    *left -= 1;
                    if *left == 0 {
                        let _ = std::fs::remove_file(&s.path);
                        self.read_back = None;
                    }
                }
            }
        }
    }

    /// Moves everything in memory into the spool (unsent lines first) and lets go of the file, for
    /// a later process or sink to replay. Returns the records that could not be kept.
    pub fn persist(&mut self) -> u64 {
        if self.is_empty() {
            self.close_spool(true);
            return 0;
        }
        let n = self.len() as u64;
        match self.rewrite() {
            Ok(()) => {
                // The records read back from a spool are in the new one now.
                if let Some((s, _)) = self.read_back.take() {
                    let _ = std::fs::remove_file(&s.path);
                }
                self.close_spool(false);
                0
            }
            Err(e) => {
                // Those still in their old file stay there, for a later process.
                self.read_back = None;
                self.error = Some(format!("cannot keep {n} unsent lines in the spool: {e}"));
                self.close_spool(false);
                self.mem.clear();
                self.mem_bytes = 0;
                n
            }
        }
    }

    fn close_spool(&mut self, remove: bool) {
        if let Some(s) = self.spool.take() {
            if remove {
                let _ = std::fs::remove_file(&s.path);
            }
        }
        if !remove {
            self.mem.clear();
            self.mem_bytes = 0;
        }
    }

    /// A new spool file with the records in memory, then the unread rest of the old one.
    fn rewrite(&mut self) -> io::Result<()> {
        if let Some(s) = self.spool.as_mut() {
            flush(s)?;
        }
        let dir = self.cfg.dir().map_err(io::Error::other)?.to_path_buf();
        let (mut file, path) = create(&dir, &self.stem)?;
        let mut out = Vec::with_capacity(self.mem_bytes);
        for h in &self.mem {
            push_record(&mut out, &h.frame);
        }
        file.write_all(&out)?;
        if let Some(old) = self.spool.as_mut() {
            old.file.seek(SeekFrom::Start(old.read_off))?;
            io::copy(&mut (&old.file).take(old.len - old.read_off), &mut file)?;
            let _ = std::fs::remove_file(&old.path);
        }
        // Closing lets go of the lock: the file waits for whoever opens this sink next.
        drop((file, path));
        Ok(())
    }

    fn spool_one(&mut self, frame: &[u8]) -> bool {
        if self.cfg.max_bytes == 0 {
            self.error.get_or_insert_with(|| "memory bound reached and spooling is off; lines dropped".into());
            return false;
        }
        if self.spool.is_none() {
            match self.open_new() {
                Ok(s) => self.spool = Some(s),
                Err(e) => {
                    self.error = Some(e);
                    return false;
                }
            }
        }
        let max = self.cfg.max_bytes;
        let s = self.spool.as_mut().expect("opened above");
        if s.len + (s.wbuf.len() + frame.len() + 1) as u64 > max {
            self.error = Some(format!("spool {} full ({max} bytes); lines dropped", s.path.display()));
            return false;
        }
        if s.wbuf.capacity() == 0 {
            // Room for a chunk and the record that crosses its end, so that it never grows.
            s.wbuf.reserve_exact(WRITE_CHUNK + MAX_RECORD);
        }
        push_record(&mut s.wbuf, frame);
        s.lines += 1;
        if s.wbuf.len() >= WRITE_CHUNK {
            if let Err(e) = flush(s) {
                // The records stay in the write buffer; the next flush tries again.
                self.error = Some(format!("cannot write spool {}: {e}", s.path.display()));
            }
        }
        true
    }

    fn open_new(&self) -> Result<Spool, String> {
        let (file, path) = create_in(&self.cfg, &self.stem, "spool")?;
        Ok(Spool { file, path, read_off: 0, len: 0, lines: 0, wbuf: Vec::new() })
    }

    /// Reads records back from the spool into memory (at most [`READ_CHUNK`] bytes); removes the
    /// spool once all of it is back, and adopts a left-over one if there is any.
    fn refill(&mut self) {
        let Some(s) = self.spool.as_mut() else { return };
        if s.lines == 0 {
            if s.wbuf.is_empty() {
                self.close_spool(true);
                self.adopt();
            }
            return;
        }
        if let Err(e) = flush(s) {
            self.error = Some(format!("cannot write spool {}: {e}", s.path.display()));
            return;
        }
        let want = usize::try_from((s.len - s.read_off).min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
        let mut buf = vec![0u8; want];
        let got = match s.file.read_at(&mut buf, s.read_off) {
            Ok(n) => n,
            Err(e) => {
                self.error = Some(format!("cannot read spool {}: {e}", s.path.display()));
                return;
            }
        };
        buf.truncate(got);
        let mut whole = buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        if whole == 0 && got > 0 && s.read_off + got as u64 == s.len {
            // A last record without its newline (cut by a crash): taken as it is.
            buf.push(b'\n');
            whole = buf.len();
        }
        if whole == 0 {
            // Nothing readable: give up on this file rather than spin on it.
            self.error = Some(format!("spool {} is unreadable past byte {}; set aside", s.path.display(), s.read_off));
            self.counts.dropped += s.lines;
            self.spool = None;
            return;
        }
        let mut read = 0;
        for rec in buf[..whole].split(|&b| b == b'\n') {
            if rec.is_empty() {
                continue;
            }
            let frame = rec.to_vec();
            self.mem_bytes += cost(&frame);
            self.mem.push_back(Held { frame, replayed: true });
            s.lines = s.lines.saturating_sub(1);
            read += 1;
        }
        s.read_off += whole.min(got) as u64;
        if s.read_off >= s.len && s.wbuf.is_empty() {
            // Everything is back in memory: the file goes once those records are sent.
            s.lines = 0;
            let done = self.spool.take().expect("refilled from it");
            if read == 0 {
                let _ = std::fs::remove_file(&done.path);
            } else {
                self.read_back = Some((done, read));
            }
        }
    }

    /// Takes over a spool (or a journal) that an ended process left for the same sink. At a new
    /// backlog's start its records come first; called later (a worker killed after its response),
    /// they come after the records in memory, sent now rather than when a new process first
    /// writes to the target.
    pub fn adopt(&mut self) {
        if self.spool.is_some() || self.cfg.max_bytes == 0 {
            return;
        }
        let Ok(dir) = self.cfg.dir() else { return };
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let prefix = format!("{}-", self.stem);
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(&prefix) && n.ends_with(".spool"))
            .collect();
        // Oldest first: the name ends in its creation time.
        names.sort_by_key(|n| n.rsplit('-').next().and_then(|t| t.strip_suffix(".spool")?.parse::<u128>().ok()));
        let own = std::process::id();
        for name in names {
            let pid = name[prefix.len()..].split('-').next().and_then(|p| p.parse::<i32>().ok());
            // Our own left-overs (a sink dropped earlier) are guarded by the lock alone; another
            // process's spool only once that process is gone.
            match pid {
                Some(p) if i32::try_from(own) == Ok(p) || !alive(p) => {}
                _ => continue,
            }
            if let Some(s) = open_left(&dir.join(&name)) {
                if s.lines == 0 {
                    // Nothing unsent (a killed worker's journal, blanked): taken and removed now,
                    // so that it does not stand before the next file until this sink has a line.
                    let _ = std::fs::remove_file(&s.path);
                    continue;
                }
                self.spool = Some(s);
                return;
            }
        }
    }
}

/// Whether a process with this pid exists (a spool of a live process is its own business).
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for the process; no signal is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Opens a left-over spool: a regular file of ours, not a link, whose lock is free.
fn open_left(path: &Path) -> Option<Spool> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let m = file.metadata().ok()?;
    if !m.file_type().is_file() || m.uid() != euid() || !lock(&file) {
        return None;
    }
    // Another process took it over, sent it and removed it while this one opened it: its lines
    // must not go twice.
    if file.metadata().ok()?.nlink() == 0 {
        return None;
    }
    let mut lines = 0u64;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut off = 0u64;
    // The file ends at its last non-zero byte: a journal blanks its sent lines with zeros.
    let (mut end, mut last) = (0u64, b'\n');
    loop {
        let n = file.read_at(&mut buf, off).ok()?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        if let Some(p) = buf[..n].iter().rposition(|&b| b != 0) {
            (end, last) = (off + p as u64 + 1, buf[p]);
        }
        off += n as u64;
    }
    if last != b'\n' {
        lines += 1;
    }
    Some(Spool { file, path: path.to_path_buf(), read_off: 0, len: end, lines, wbuf: Vec::new() })
}

fn lock(file: &File) -> bool {
    // SAFETY: flock on a descriptor we own; no memory is passed.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// A new spool (or journal, `what`) file in the configured directory, or why there is none.
pub(super) fn create_in(cfg: &SpoolConfig, stem: &str, what: &str) -> Result<(File, PathBuf), String> {
    let dir = cfg.dir()?;
    create(dir, stem).map_err(|e| format!("cannot create a {what} file in {}: {e}", dir.display()))
}

/// One record of a spool file: the frame and its newline (a stray newline, which none should
/// have, must not split it).
pub(super) fn push_record(buf: &mut Vec<u8>, frame: &[u8]) {
    buf.extend(frame.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
    buf.push(b'\n');
}

/// Creates a new spool file: exclusively, never through a link, 0600, locked.
pub(super) fn create(dir: &Path, stem: &str) -> io::Result<(File, PathBuf)> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let path = dir.join(format!("{stem}-{}-{nanos}.spool", std::process::id()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    if !lock(&file) {
        return Err(io::Error::other("cannot lock the new spool file"));
    }
    Ok((file, path))
}

fn flush(s: &mut Spool) -> io::Result<()> {
    if s.wbuf.is_empty() {
        return Ok(());
    }
    s.file.write_all_at(&s.wbuf, s.len)?;
    s.len += s.wbuf.len() as u64;
    s.wbuf.clear();
    Ok(())
}

/// `syslog-127_0_0_1_514-<hash>`: readable, and distinct for distinct targets.
pub(super) fn stem(kind: &str, target: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in target.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let readable: String = target.chars().take(40).map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("{kind}-{readable}-{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, max: u64) -> Arc<SpoolConfig> {
        Arc::new(SpoolConfig::new(Some(dir.to_path_buf()), max))
    }

    fn drain(b: &mut Backlog) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(f) = b.front() {
            out.push(f.to_vec());
            b.pop_front();
        }
        out
    }

    #[test]
    fn beyond_memory_lines_go_to_disk_and_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut b = Backlog::new(cfg(dir.path(), 1 << 30), "syslog", "127.0.0.1:514");
        let n = 3 * MEMORY_BOUND / 100;
        // Each record costs more than its 99 bytes (its heap block, its slot): some 16,000 fit.
        for i in 0..n {
            b.push(format!("{i:099}").into_bytes());
            assert!(b.memory() <= MEMORY_BOUND + WRITE_CHUNK + MAX_RECORD);
        }
        assert_eq!(b.len(), n);
        assert!(b.counts.spooled > 0);
        let spool_files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(spool_files, 1);
        let got = drain(&mut b);
        let want: Vec<Vec<u8>> = (0..n).map(|i| format!("{i:099}").into_bytes()).collect();
        assert_eq!(got, want);
        assert_eq!(b.counts.replayed, b.counts.spooled);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the drained spool is removed");
    }

    #[test]
    fn a_sent_records_buffer_is_reused_and_counted_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Backlog::new(cfg(dir.path(), 0), "syslog", "reuse");
        let mut first = b.buffer();
        first.extend_from_slice(b"<37>one");
        let ptr = first.as_ptr();
        b.push(first);
        b.pop_front();
        assert_eq!(b.memory(), RECORD_CAPACITY, "the spare buffer is memory held");
        let again = b.buffer();
        assert!(again.is_empty() && again.as_ptr() == ptr, "the sent record's buffer comes back, emptied");
        // A record too large to keep is freed.
        b.push(vec![b'x'; SPARE_MAX + 1]);
        b.pop_front();
        assert_eq!((b.memory(), b.buffer().capacity()), (0, RECORD_CAPACITY));
    }

    #[test]
    fn a_full_spool_drops_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut b = Backlog::new(cfg(dir.path(), 1000), "syslog", "x");
        let mut n = 0;
        while b.counts.dropped < 11 {
            b.push(vec![b'a'; 100]);
            n += 1;
        }
        // 1000 bytes hold 9 records of 101 bytes.
        assert_eq!(b.counts.spooled, 9);
        assert_eq!(b.len() as u64, n - 11);
        assert!(b.error.as_deref().unwrap().contains("full"));
    }

    #[test]
    fn persisted_lines_are_adopted_by_the_next_backlog_unsent_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let c = cfg(dir.path(), 1 << 30);
        let mut b = Backlog::new(Arc::clone(&c), "syslog", "t");
        let n = MEMORY_BOUND / 50;
        for i in 0..n {
            b.push(format!("{i:099}").into_bytes());
        }
        // Send a few (some read back from memory only).
        for _ in 0..10 {
            b.front();
            b.pop_front();
        }
        assert_eq!(b.persist(), 0);
        // Left by a process that has ended: rename it to a pid that cannot be alive.
        let f = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
        let name =
            f.file_name().unwrap().to_str().unwrap().replace(&format!("-{}-", std::process::id()), "-2147483646-");
        std::fs::rename(&f, dir.path().join(name)).unwrap();
        let mut b2 = Backlog::new(c, "syslog", "t");
        assert_eq!(b2.len(), n - 10);
        let got = drain(&mut b2);
        let want: Vec<Vec<u8>> = (10..n).map(|i| format!("{i:099}").into_bytes()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn adopted_lines_stay_on_disk_until_they_are_sent() {
        // A live process takes over a file a killed one left (a journal), reads its lines back,
        // and is killed too before it sent them: the file is still there for the next one.
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let c = cfg(dir.path(), 1 << 30);
        let (mut f, path) = create(dir.path(), &stem("syslog", "t")).unwrap();
        f.write_all(b"one\ntwo\n").unwrap();
        drop(f);
        let mut taker = Backlog::new(Arc::clone(&c), "syslog", "t");
        assert_eq!(taker.front(), Some(&b"one"[..]));
        taker.pop_front();
        assert_eq!(taker.front(), Some(&b"two"[..]));
        // Killed: its descriptors close (and the lock with them); nothing is written or removed.
        drop(taker);
        assert!(path.exists(), "lines read back but unsent must stay on disk");
        // The next process: sends what is left, then the file is gone.
        let mut next = Backlog::new(Arc::clone(&c), "syslog", "t");
        let got = drain(&mut next);
        assert!(got.ends_with(&[b"two".to_vec()]), "{got:?}");
        assert!(!path.exists());
    }

    #[test]
    fn a_planted_spool_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let sub = dir.path().join(format!("banlog-{}", euid()));
        std::os::unix::fs::symlink("/", &sub).unwrap();
        let c = SpoolConfig::new(Some(dir.path().to_path_buf()), 1 << 20);
        assert!(c.dir().is_err());
    }
}
