//! The logs a report reads: regular files only (opened as `banlog check` opens them: never
//! blocking on a FIFO, refusing devices and folders), each with its rotated predecessors
//! (`P.1`, `P.2.gz`, …, as logrotate names them), gzip files decompressed while they stream; or
//! the systemd journal through `journalctl`.

use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::check::{open_log, Lines, LogError};

/// The most rotated files looked for behind one log (logrotate's `rotate 52`: a year of weeks).
pub const MAX_ROTATED: u32 = 60;

/// The files of one log, oldest first: `P.N[.gz]` … `P.1[.gz]`, then `P` itself. Rotated files
/// are taken while they exist (logrotate numbers them without gaps); `-` has none.
pub fn with_rotated(path: &str, rotated: bool) -> Vec<String> {
    let mut older = Vec::new();
    if rotated && path != "-" {
        for n in 1..=MAX_ROTATED {
            let plain = format!("{path}.{n}");
            let gz = format!("{plain}.gz");
            if Path::new(&plain).exists() {
                older.push(plain);
            } else if Path::new(&gz).exists() {
                older.push(gz);
            } else {
                break;
            }
        }
    }
    older.reverse();
    older.push(path.to_owned());
    older
}

/// Opens one file of a log: a `.gz` name is decompressed (every gzip member, as zcat does).
pub fn open(path: &str) -> Result<Lines<Box<dyn BufRead>>, LogError> {
    let r = open_log(path)?;
    let r: Box<dyn BufRead> = if path.ends_with(".gz") {
        Box::new(BufReader::with_capacity(64 * 1024, flate2::bufread::MultiGzDecoder::new(r)))
    } else {
        r
    };
    Ok(Lines::new(r))
}

/// What the auth jails read from the journal (`journalmatch`), from `since` (seconds since the
/// epoch) on, one line per entry with its time as seconds since the epoch (`-o short-unix`),
/// which [`crate::matcher::Matcher::cut_date`] reads.
pub struct Journal {
    child: Child,
    pub lines: Lines<BufReader<std::process::ChildStdout>>,
}

impl Journal {
    pub fn spawn(since: i64) -> io::Result<Journal> {
        let mut cmd = Command::new("journalctl");
        let since = format!("@{since}");
        cmd.args(["--quiet", "--no-pager", "--output=short-unix", "--since", since.as_str()]);
        // `A + B`: either facility, as the jails' journalmatch says.
        cmd.args(crate::assets::JOURNALMATCH.split_whitespace());
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
        let out = child.stdout.take().ok_or_else(|| io::Error::other("journalctl has no output pipe"))?;
        Ok(Journal { child, lines: Lines::new(BufReader::with_capacity(64 * 1024, out)) })
    }

    /// Waits for journalctl; an error when it failed (no journal, no permission).
    pub fn finish(mut self) -> io::Result<()> {
        let status = self.child.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("journalctl exited with {status}")))
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Ended early (a read error): do not leave journalctl behind.
        if let Ok(None) = self.child.try_wait() {
            drop(self.child.kill());
            drop(self.child.wait());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn rotated_files_come_oldest_first_and_gz_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.log");
        let p = p.to_str().unwrap();
        std::fs::write(p, "now\n").unwrap();
        std::fs::write(format!("{p}.1"), "yesterday\n").unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"two days ago\n").unwrap();
        std::fs::write(format!("{p}.2.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(format!("{p}.4.gz"), b"after a gap: not taken").unwrap();
        let files = with_rotated(p, true);
        assert_eq!(files, vec![format!("{p}.2.gz"), format!("{p}.1"), p.to_owned()]);
        assert_eq!(with_rotated(p, false), vec![p.to_owned()]);
        let mut l = open(&files[0]).unwrap();
        assert_eq!(l.next_line().unwrap(), Some(crate::check::Line::Text("two days ago".into())));
        assert_eq!(l.next_line().unwrap(), None);
        // Not gzip: a clear read error, not a panic.
        std::fs::write(format!("{p}.bad.gz"), b"plain text").unwrap();
        assert!(open(&format!("{p}.bad.gz")).unwrap().next_line().is_err());
    }
}
