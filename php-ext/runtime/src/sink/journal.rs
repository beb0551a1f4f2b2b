//! A syslog sink's journal: the lines a request's end handed over that are not sent yet.
//!
//! Sending to a syslog daemon wakes it, and on a small machine the daemon then competes with the
//! response for the cores: sent before the response, the line cost the request as much as the
//! anchors' whole open-send-close. So a request's end writes its lines to this file (one `pwrite`
//! into the page cache, which outlives the process) and sends them once php-fpm has ended the
//! response (`Pipeline::after_response`; the writer thread when that thread cannot). A worker
//! killed in between leaves the file behind; it is named and locked as a spool file is, so another
//! process writing to the same target takes it over and sends its lines (`spool.rs`; writers look
//! for such files every second).
//!
//! Each time all its lines are sent, the file is blanked: its bytes are overwritten with zeros,
//! which readers skip (`spool.rs` ends a file at its last non-zero byte). Blanking keeps the
//! file's page and disk block, so the next request's `pwrite` overwrites a page in place; writing
//! into a file just truncated to nothing costs about three times as much on ext4, which must
//! allocate a page and a block for it again. A journal that held more than a page is truncated
//! instead. A process killed after sending some lines but before blanking leaves lines that are
//! sent twice: delivery is at least once, never lost.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::spool::{create_in, push_record, SpoolConfig};

/// Most bytes blanked in place: one page from the file's start, which one `pwrite` overwrites
/// whole (a kill cannot leave it half blanked). A longer journal (a burst) is truncated.
const BLANK_MAX: usize = 4096;
static ZEROS: [u8; BLANK_MAX] = [0; BLANK_MAX];

#[derive(Default)]
pub struct Journal {
    file: Option<(File, PathBuf)>,
    /// Bytes of unsent lines, from the file's start; past them the file holds only zeros.
    len: u64,
    /// Lines in the file, all still unsent: the first ones of the sink's backlog.
    lines: usize,
    buf: Vec<u8>,
    /// Why the last append failed (the sink then sends at once, as without a journal).
    pub error: Option<String>,
}

impl Journal {
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// Appends `frames` with one write. False when they could not be kept (no usable spool
    /// directory, spooling off, the file full or failing): nothing of them is in the file then.
    pub fn append<'a>(&mut self, cfg: &SpoolConfig, stem: &str, frames: impl Iterator<Item = &'a [u8]>) -> bool {
        if cfg.max_bytes == 0 {
            return false;
        }
        if self.file.is_none() {
            match create_in(cfg, stem, "journal") {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    self.error = Some(e);
                    return false;
                }
            }
        }
        let (file, path) = self.file.as_ref().expect("made above");
        self.buf.clear();
        let mut n = 0;
        for frame in frames {
            push_record(&mut self.buf, frame);
            n += 1;
        }
        if self.len + self.buf.len() as u64 > cfg.max_bytes {
            self.error = Some(format!("journal {} full ({} bytes)", path.display(), cfg.max_bytes));
            return false;
        }
        if let Err(e) = file.write_all_at(&self.buf, self.len) {
            // A part may have reached the file: cut it off, so that no line is half kept.
            let _ = file.set_len(self.len);
            self.error = Some(format!("cannot write journal {}: {e}", path.display()));
            return false;
        }
        self.len += self.buf.len() as u64;
        self.lines += n;
        true
    }

    /// The first `n` of the journal's lines were sent; once all are, the file is emptied.
    pub fn sent(&mut self, n: usize) {
        if self.lines == 0 {
            return;
        }
        self.lines = self.lines.saturating_sub(n);
        if self.lines == 0 {
            self.empty();
        }
    }

    /// The lines are kept elsewhere now (the spool, at the process's end): the file lets go of
    /// them.
    pub fn clear(&mut self) {
        self.lines = 0;
        self.empty();
    }

    fn empty(&mut self) {
        let Some((file, _)) = &self.file else { return };
        let len = usize::try_from(self.len).unwrap_or(usize::MAX);
        if len == 0 {
            return;
        }
        if (len <= BLANK_MAX && file.write_all_at(&ZEROS[..len], 0).is_ok()) || file.set_len(0).is_ok() {
            self.len = 0;
        }
    }
}

impl Drop for Journal {
    /// An empty journal goes; one with unsent lines stays for another process to send them.
    fn drop(&mut self) {
        if let (Some((_, path)), 0) = (&self.file, self.lines) {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::spool::{stem, Backlog};
    use std::sync::Arc;

    fn frames(v: &[&'static str]) -> Vec<&'static [u8]> {
        v.iter().map(|s| s.as_bytes()).collect()
    }

    #[test]
    fn unsent_lines_outlive_the_journal_and_are_taken_over_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Arc::new(SpoolConfig::new(Some(dir.path().to_path_buf()), 1 << 20));
        let mut j = Journal::default();
        assert!(j.append(&cfg, &stem("syslog", "test"), frames(&["one", "two"]).into_iter()));
        assert!(j.append(&cfg, &stem("syslog", "test"), frames(&["three"]).into_iter()));
        j.sent(1);
        assert_eq!(j.lines(), 2);
        // The process ends before the rest is sent (a SIGKILL leaves the file the same way).
        drop(j);
        let mut next = Backlog::new(cfg, "syslog", "test");
        let mut got = Vec::new();
        while let Some(f) = next.front() {
            got.push(String::from_utf8(f.to_vec()).unwrap());
            next.pop_front();
        }
        // "one" was sent but the file still held it: it goes again (at least once, never lost).
        assert_eq!(got, ["one", "two", "three"]);
    }

    #[test]
    fn a_journal_whose_lines_were_all_sent_leaves_nothing_to_replay() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Arc::new(SpoolConfig::new(Some(dir.path().to_path_buf()), 1 << 20));
        let stem = &stem("syslog", "test2");
        let mut j = Journal::default();
        assert!(j.append(&cfg, stem, frames(&["one", "two"]).into_iter()));
        j.sent(2);
        assert!(j.append(&cfg, stem, frames(&["three"]).into_iter()));
        // Kept alive (a worker killed now): the file holds the unsent line, then the blanked
        // rest of the sent ones.
        let path = j.file.as_ref().unwrap().1.clone();
        assert_eq!(std::fs::read(&path).unwrap(), b"three\n\0\0");
        j.sent(1);
        assert_eq!(std::fs::read(&path).unwrap(), [0u8; 8]);
        drop(j);
        assert!(!path.exists(), "an empty journal is removed at the end");
    }

    #[test]
    fn a_journal_longer_than_a_page_is_truncated_once_sent() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Arc::new(SpoolConfig::new(Some(dir.path().to_path_buf()), 1 << 20));
        let line = [b'x'; 1000];
        let mut j = Journal::default();
        assert!(j.append(&cfg, &stem("syslog", "test3"), std::iter::repeat_n(&line[..], 5)));
        let path = j.file.as_ref().unwrap().1.clone();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 5005);
        j.sent(5);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn blanked_bytes_left_by_a_killed_process_are_not_lines() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Arc::new(SpoolConfig::new(Some(dir.path().to_path_buf()), 1 << 20));
        let stem = stem("syslog", "test4");
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        // What a worker killed right after its request's end leaves: its line over the zeros of
        // earlier, sent ones; and one killed after blanking leaves only zeros.
        let file = |n: u128, bytes: &[u8]| {
            let p = dir.path().join(format!("{stem}-{}-{n}.spool", std::process::id()));
            std::fs::write(&p, bytes).unwrap();
            p
        };
        // The blanked one is older: it is removed on the way and does not stand before the other.
        let blank = file(nanos, &[0u8; 12]);
        let live = file(nanos + 1, b"three\n\0\0\0\0\0\0");
        let mut next = Backlog::new(Arc::clone(&cfg), "syslog", "test4");
        assert!(!blank.exists());
        assert_eq!(next.len(), 1);
        assert_eq!(next.front(), Some(&b"three"[..]));
        next.pop_front();
        next.adopt();
        assert_eq!(next.front(), None);
        assert!(next.is_empty());
        assert!(!live.exists() && !blank.exists());
    }

    #[test]
    fn without_a_spool_directory_nothing_is_kept_and_the_caller_is_told() {
        let cfg = SpoolConfig::new(Some("/nonexistent/banlog-journal".into()), 1 << 20);
        let mut j = Journal::default();
        assert!(!j.append(&cfg, "syslog-x", frames(&["one"]).into_iter()));
        assert_eq!(j.lines(), 0);
        assert!(j.error.is_some());
        let off = SpoolConfig::new(None, 0);
        assert!(!Journal::default().append(&off, "syslog-x", frames(&["one"]).into_iter()));
    }
}
