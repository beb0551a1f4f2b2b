//! The report as text for a terminal. Addresses are canonical (parsed); jail names come from
//! fail2ban's log and are printed with control characters escaped, so that a log line cannot
//! move the cursor or colour the terminal.

use std::fmt::Write as _;

use super::{JailSummary, Report, Summary};

/// `45s`, `3m20s`, `2h05m`, `1d03h`.
pub fn duration(s: i64) -> String {
    let s = s.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// A name from a log, safe on a terminal: control characters as `\u{..}` escapes.
pub fn safe(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn jail_line(name: &str, j: &JailSummary) -> Option<String> {
    if j.bans + j.unbans + j.restored == 0 {
        return None;
    }
    let mut s = format!("{}: {}, {}", safe(name), plural(j.bans, "ban", "bans"), plural(j.unbans, "unban", "unbans"));
    if j.restored > 0 {
        let _ = write!(s, ", {} restored at a restart", j.restored);
    }
    if j.repeat_bans > 0 {
        let _ = write!(s, ", {} of an address banned before", j.repeat_bans);
    }
    if let Some(d) = &j.ban_delay {
        let _ = write!(
            s,
            "; ban after the first failure: median {}, max {}",
            duration(d.median_seconds),
            duration(d.max_seconds)
        );
    }
    Some(s)
}

fn summary(out: &mut String, s: &Summary, indent: &str) {
    // In report order (spam, then the auth kinds as core lists them), not the map's.
    let events: Vec<String> = super::kinds()
        .into_iter()
        .filter_map(|k| s.events.get(k).filter(|n| **n > 0).map(|n| format!("{k} {n}")))
        .collect();
    let total: u64 = s.events.values().sum();
    if total > 0 {
        let _ = writeln!(out, "{indent}events: {total} ({})", events.join(", "));
    }
    for (name, j) in &s.jails {
        if let Some(l) = jail_line(name, j) {
            let _ = writeln!(out, "{indent}{l}");
        }
    }
    if !s.top_addresses.is_empty() {
        let top: Vec<String> = s
            .top_addresses
            .iter()
            .map(|a| {
                if a.bans > 0 {
                    format!("{} ({}, {})", a.addr, plural(a.events, "event", "events"), plural(a.bans, "ban", "bans"))
                } else {
                    format!("{} ({})", a.addr, plural(a.events, "event", "events"))
                }
            })
            .collect();
        let _ = writeln!(out, "{indent}top addresses: {}", top.join(", "));
    }
    if !s.repeat_offenders.is_empty() {
        let r: Vec<String> = s
            .repeat_offenders
            .iter()
            .map(|r| format!("{} ({}, banned again {})", r.addr, safe(&r.jail), plural(r.repeat_bans, "time", "times")))
            .collect();
        let _ = writeln!(out, "{indent}repeat offenders: {}", r.join(", "));
    }
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let p = &r.period;
    let _ = writeln!(
        out,
        "banlog report, {} to {} ({}, time zone {})",
        p.first_day,
        p.last_day,
        plural(u64::try_from(p.days).unwrap_or(0), "day", "days"),
        p.time_zone
    );
    for s in &r.sources {
        let _ = writeln!(
            out,
            "  read {} ({}): {}, {}",
            safe(&s.path),
            s.role,
            plural(s.lines, "line", "lines"),
            plural(s.records, "record", "records")
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "  note: {}", safe(n));
    }
    out.push('\n');
    for d in &r.days {
        let mut day = String::new();
        summary(&mut day, &d.summary, "  ");
        if day.is_empty() {
            let _ = writeln!(out, "{}: nothing", d.date);
        } else {
            let _ = write!(out, "{}\n{day}", d.date);
        }
    }
    out.push('\n');
    let mut tot = String::new();
    summary(&mut tot, &r.totals, "  ");
    let _ = write!(out, "period\n{}", if tot.is_empty() { "  nothing\n".to_owned() } else { tot });
    let l = &r.limits;
    if l.untracked > 0 {
        let _ = writeln!(
            out,
            "  {} events or bans left out of the per-address figures (more than {} addresses)",
            l.untracked, l.max_tracked
        );
    }
    if l.undated > 0 {
        let _ = writeln!(out, "  {} lines without a time stamp left out", l.undated);
    }
    if l.untracked_lines > 0 {
        let _ = writeln!(
            out,
            "  {} fail2ban lines of jails beyond the first {} left out",
            l.untracked_lines,
            super::MAX_JAILS
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(200), "3m20s");
        assert_eq!(duration(7500), "2h05m");
        assert_eq!(duration(97200), "1d03h");
        assert_eq!(duration(-5), "0s");
        assert_eq!(safe("a\x1b[31mb\n"), "a\\u{1b}[31mb\\u{a}");
    }
}
