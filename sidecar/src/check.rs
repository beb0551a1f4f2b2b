//! `banlog check`: the shipped filters applied to logs, counted the way `fail2ban-regex` counts.

use std::collections::BTreeMap;
use std::io::Read;

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
    /// Lines that look like banlog's yet no filter matched: a format the filters do not know.
    pub unrecognized: usize,
    pub unrecognized_examples: Vec<String>,
}

/// A tested line: its time (if it has one) and what each filter read from it.
pub struct Tested {
    pub time: Option<LineTime>,
    pub hits: Vec<(FilterId, String)>,
}

/// Reads a log (`-` is standard input) into its lines, as fail2ban-regex does.
pub fn read_lines(path: &str) -> Result<Vec<String>, String> {
    let mut bytes = Vec::new();
    let res = if path == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map(|_| ())
    };
    res.map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(String::from_utf8_lossy(&bytes)
        .split('\n')
        .map(|l| l.trim_end_matches(['\r', '\n']).to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect())
}

pub fn check_file(m: &Matcher, path: &str, mut each: impl FnMut(Tested)) -> Result<FileReport, String> {
    let lines = read_lines(path)?;
    let mut jails: BTreeMap<&'static str, FilterReport> =
        FilterId::ALL.iter().map(|f| (f.jail(), FilterReport { filter: f.filter(), ..Default::default() })).collect();
    let (mut missed, mut unrecognized, mut examples) = (0, 0, Vec::new());
    for line in &lines {
        let lm = m.match_line(line);
        for (f, addr) in &lm.hits {
            let r = jails.get_mut(f.jail()).unwrap();
            r.matched += 1;
            *r.addresses.entry(addr.clone()).or_default() += 1;
        }
        if lm.hits.is_empty() {
            missed += 1;
            if m.looks_like_banlog(line) {
                unrecognized += 1;
                if examples.len() < 10 {
                    examples.push(line.clone());
                }
            }
        }
        each(Tested { time: lm.time, hits: lm.hits });
    }
    for r in jails.values_mut() {
        r.missed = lines.len() - r.matched;
    }
    Ok(FileReport {
        path: path.to_owned(),
        lines: lines.len(),
        jails,
        missed,
        unrecognized,
        unrecognized_examples: examples,
    })
}

pub fn print_text(r: &FileReport) {
    println!("{}: {} lines tested, {} matched by no filter", r.path, r.lines, r.missed);
    for (jail, f) in &r.jails {
        println!("  {jail:<17} {:>7} matched  ({})", f.matched, f.filter);
        let mut addrs: Vec<_> = f.addresses.iter().collect();
        addrs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (a, n) in addrs.iter().take(20) {
            println!("      {n:>7}  {a}");
        }
        if addrs.len() > 20 {
            println!("      … and {} more addresses (use --json for all)", addrs.len() - 20);
        }
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
