//! `banlog check`: the shipped filters applied to logs, counted the way `fail2ban-regex` counts.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

use serde::Serialize;

use crate::matcher::{FilterId, LineTime, Matcher};

#[derive(Debug, Default, Serialize)]
pub struct FilterReport {
    /// The filter with its options, as fail2ban names it.
    pub filter: &'static str,
    pub matched: usize,
    /// Lines this filter did not match (`fail2ban-regex`'s "missed").
    pub missed: usize,
    /// Matches per address, as fail2ban reads it.
    pub addresses: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct FileReport {
    pub path: String,
    /// Lines tested: like `fail2ban-regex`, empty lines and lines starting with `#` are skipped.
    pub lines: usize,
    /// Per jail of `jail.d/banlog.conf`.
    pub jails: BTreeMap<&'static str, FilterReport>,
    /// Lines no filter matched.
    pub missed: usize,
    /// Lines longer than [`MAX_LINE`] bytes: counted as tested and missed, not read.
    pub too_long: usize,
    /// Lines that look like banlog's yet no filter matched: a format the filters do not know.
    pub unrecognized: usize,
    pub unrecognized_examples: Vec<String>,
}

/// A tested line: its time (if it has one) and what each filter read from it.
pub struct Tested {
    pub time: Option<LineTime>,
    pub hits: Vec<(FilterId, String)>,
}

/// The longest line read whole. banlog's own lines stay under 1 KiB (user names are capped); a
/// longer line is counted as tested and missed by every filter, and reported, without being held
/// in memory, so that a file without line breaks (a sparse file, a device) cannot exhaust it.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error(
        "{path} is {kind}, not a regular file: give a log file, or `-` to read standard input \
         (e.g. `zcat auth.log.2.gz | banlog check -`)"
    )]
    NotRegular { path: String, kind: &'static str },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
}

/// Opens a log: `-` is standard input, anything else must be a regular file (a link to one is
/// fine). It is opened without blocking, so that a FIFO without a writer is refused at once
/// instead of hanging.
pub fn open_log(path: &str) -> Result<Box<dyn BufRead>, LogError> {
    if path == "-" {
        return Ok(Box::new(BufReader::with_capacity(BUF, io::stdin().lock())));
    }
    let open = |source| LogError::Open { path: path.to_owned(), source };
    let f = fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(open)?;
    let ft = f.metadata().map_err(open)?.file_type();
    if !ft.is_file() {
        let kind = if ft.is_fifo() {
            "a FIFO (named pipe)"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_dir() {
            "a folder"
        } else {
            "not a file"
        };
        return Err(LogError::NotRegular { path: path.to_owned(), kind });
    }
    Ok(Box::new(BufReader::with_capacity(BUF, f)))
}

const BUF: usize = 64 * 1024;

/// One line of a log, without its line break (and a trailing `\r`).
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text(String),
    /// Longer than [`MAX_LINE`]: skipped. `comment`: it starts with `#`.
    TooLong {
        comment: bool,
    },
}

/// Splits a stream into lines holding at most [`MAX_LINE`] bytes of one in memory.
pub struct Lines<R> {
    r: R,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(r: R) -> Self {
        Lines { r, buf: Vec::new() }
    }

    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        self.buf.clear();
        let mut too_long: Option<bool> = None;
        let mut any = false;
        loop {
            let avail = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let nl = avail.iter().position(|b| *b == b'\n');
            let chunk = &avail[..nl.unwrap_or(avail.len())];
            if too_long.is_none() {
                if self.buf.len() + chunk.len() > MAX_LINE {
                    let first = self.buf.first().or(chunk.first()).copied();
                    too_long = Some(first == Some(b'#'));
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let used = nl.map_or(avail.len(), |i| i + 1);
            self.r.consume(used);
            if nl.is_some() {
                break;
            }
        }
        if let Some(comment) = too_long {
            return Ok(Some(Line::TooLong { comment }));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(Line::Text(String::from_utf8_lossy(&self.buf).into_owned())))
    }
}

/// Streams a log through every filter (as fail2ban-regex does: empty lines and lines starting
/// with `#` are skipped), calling `each` per tested line; memory stays bounded by [`MAX_LINE`]
/// plus what the report keeps (addresses, examples).
pub fn check_file(m: &Matcher, path: &str, mut each: impl FnMut(Tested)) -> Result<FileReport, LogError> {
    let mut lines = Lines::new(open_log(path)?);
    let mut jails: BTreeMap<&'static str, FilterReport> =
        FilterId::ALL.iter().map(|f| (f.jail(), FilterReport { filter: f.filter(), ..Default::default() })).collect();
    let (mut tested, mut missed, mut unrecognized, mut too_long, mut examples) = (0, 0, 0, 0, Vec::new());
    while let Some(line) = lines.next_line().map_err(|source| LogError::Read { path: path.to_owned(), source })? {
        let line = match line {
            Line::TooLong { comment: true } => continue,
            Line::TooLong { comment: false } => {
                tested += 1;
                missed += 1;
                too_long += 1;
                continue;
            }
            Line::Text(l) if l.is_empty() || l.starts_with('#') => continue,
            Line::Text(l) => l,
        };
        tested += 1;
        let lm = m.match_line(&line);
        for (f, addr) in &lm.hits {
            if let Some(r) = jails.get_mut(f.jail()) {
                r.matched += 1;
                *r.addresses.entry(addr.clone()).or_default() += 1;
            }
        }
        if lm.hits.is_empty() {
            missed += 1;
            if m.looks_like_banlog(&line) {
                unrecognized += 1;
                if examples.len() < 10 {
                    examples.push(line);
                }
            }
        }
        each(Tested { time: lm.time, hits: lm.hits });
    }
    for r in jails.values_mut() {
        r.missed = tested - r.matched;
    }
    Ok(FileReport {
        path: path.to_owned(),
        lines: tested,
        jails,
        missed,
        too_long,
        unrecognized,
        unrecognized_examples: examples,
    })
}

pub fn print_text(r: &FileReport) {
    println!("{}: {} lines tested, {} matched by no filter", r.path, r.lines, r.missed);
    for (jail, f) in &r.jails {
        println!("  {jail:<20} {:>7} matched  ({})", f.matched, f.filter);
        let mut addrs: Vec<_> = f.addresses.iter().collect();
        addrs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (a, n) in addrs.iter().take(20) {
            println!("      {n:>7}  {a}");
        }
        if addrs.len() > 20 {
            println!("      … and {} more addresses (use --json for all)", addrs.len() - 20);
        }
    }
    if r.too_long > 0 {
        println!(
            "  {} line(s) longer than {} KiB were skipped unread (banlog never writes one; counted as missed)",
            r.too_long,
            MAX_LINE / 1024
        );
    }
    if r.unrecognized > 0 {
        println!(
            "  {} line(s) look like banlog's but no filter matches them: is the log written by an older or \
             a modified banlog, or through a syslog template the filters do not know? For example:",
            r.unrecognized
        );
        for l in &r.unrecognized_examples {
            println!("      {l}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(data: &[u8], cap: usize) -> Vec<Line> {
        let mut l = Lines::new(BufReader::with_capacity(cap, data));
        std::iter::from_fn(|| l.next_line().unwrap()).collect()
    }

    #[test]
    fn lines_split_and_cap() {
        for cap in [1, 3, 7, 64 * 1024] {
            let t = |s: &str| Line::Text(s.to_owned());
            assert_eq!(all(b"a\r\n\nb", cap), vec![t("a"), t(""), t("b")]);
            assert_eq!(all(b"", cap), vec![]);
            let mut long = vec![b'x'; MAX_LINE + 1];
            long.extend_from_slice(b"\nafter\n#");
            long.extend(vec![b'y'; MAX_LINE + 5]);
            assert_eq!(
                all(&long, cap),
                vec![Line::TooLong { comment: false }, t("after"), Line::TooLong { comment: true }]
            );
            let exact = vec![b'z'; MAX_LINE];
            assert_eq!(all(&exact, cap), vec![Line::Text("z".repeat(MAX_LINE))]);
        }
    }
}
