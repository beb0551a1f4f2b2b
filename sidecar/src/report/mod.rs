//! `banlog report`: what happened, per day, from fail2ban's log (bans, unbans, the failures it
//! found) and banlog's own logs (the spam log, the auth lines in a file or the journal).
//!
//! Two passes, both streaming: fail2ban's log first (bans, unbans and `Found` lines, in file
//! order), then banlog's logs (every event, read back with core's parsers, and matched with the
//! jails' filters to find the event each ban came after). Memory is bounded: lines as in
//! `banlog check` (64 KiB at most), and at most [`MAX_TRACKED`] entries in each table kept per
//! address (addresses, address-days, jail-address pairs, bans); what does not fit is still counted
//! in the totals and reported under `limits`.

pub mod f2blog;
pub mod html;
pub mod input;
pub mod text;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use banlog_core::auth::{parse_auth_message, parse_spam_message};
use banlog_core::line::parse_spam_tail;
use banlog_core::{AuthKind, LocalZone};
use serde::Serialize;

use crate::check::{Line, LogError};
use crate::matcher::{FilterId, LineTime, Matcher};
use crate::simulate::{civil_from_days, days_from_civil, unix_time};
use f2blog::{Action, F2bParser};

/// The most entries kept in each per-address table (see the module's documentation): about
/// 100 bytes each, so a few tens of MiB at most however many addresses a log holds.
pub const MAX_TRACKED: usize = 100_000;
/// The most jails told apart; the lines of any further jail count under `limits.untracked_lines`.
pub const MAX_JAILS: usize = 256;
/// The most days one report covers (ten years).
pub const MAX_DAYS: i64 = 3660; // said in ReportError::Days
/// Addresses listed as the top ones: over the period, and per day.
pub const TOP_PERIOD: usize = 10;
pub const TOP_DAY: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("--since '{0}': expected a date as YYYY-MM-DD")]
    Since(String),
    #[error("--days {0}: expected 1 to 3660")]
    Days(i64),
    #[error("--since {0} is after today")]
    SinceFuture(String),
    #[error(
        "fail2ban writes its log to {target} (logtarget in {dir}/fail2ban.conf or fail2ban.local), not to a file: \
         give the file that holds its lines with --fail2ban-log"
    )]
    LogTarget { target: String, dir: String },
    #[error("cannot read the journal (journalctl): {0}; give the auth log with --auth-log, or --no-journal")]
    Journal(std::io::Error),
    #[error("cannot write {path}: {source}")]
    WriteHtml { path: String, source: std::io::Error },
}

/// Where the report reads and what it covers.
pub struct Options {
    pub fail2ban_logs: Vec<String>,
    pub spam_logs: Vec<String>,
    pub auth_logs: Vec<String>,
    /// Read the auth lines from the journal too.
    pub journal: bool,
    /// Read each log's rotated predecessors too.
    pub rotated: bool,
    /// The first and last day (days since 1970-01-01, local).
    pub first_day: i64,
    pub last_day: i64,
    pub zone: LocalZone,
    pub now: i64,
    /// How the logs were found, for the report's notes.
    pub notes: Vec<String>,
}

/// Day number (days since 1970-01-01) of a moment, in the local zone.
pub fn day_of(t: i64, zone: &LocalZone) -> i64 {
    t.saturating_add(i64::from(zone.offset_at(t))).div_euclid(86400)
}

pub fn date_text(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD` as a day number.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u16> {
        s.get(r).filter(|x| x.bytes().all(|c| c.is_ascii_digit()))?.parse().ok()
    };
    let (y, m, d) = (num(0..4)?, u8::try_from(num(5..7)?).ok()?, u8::try_from(num(8..10)?).ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let day = days_from_civil(i32::from(y), m, d);
    // Refuses 2026-02-30 and the like: the day must print back as given.
    (date_text(day) == s).then_some(day)
}

/// The period: `--since` and `--days` as the help describes them.
pub fn period(since: Option<&str>, days: Option<i64>, today: i64) -> Result<(i64, i64), ReportError> {
    if let Some(n) = days {
        if !(1..=MAX_DAYS).contains(&n) {
            return Err(ReportError::Days(n));
        }
    }
    match since {
        Some(s) => {
            let first = parse_date(s).ok_or_else(|| ReportError::Since(s.to_owned()))?;
            if first > today {
                return Err(ReportError::SinceFuture(s.to_owned()));
            }
            let last = match days {
                Some(n) => first + n - 1,
                None => today,
            };
            if last - first >= MAX_DAYS {
                return Err(ReportError::Days(last - first + 1));
            }
            Ok((first, last))
        }
        None => Ok((today - days.unwrap_or(7) + 1, today)),
    }
}

/// The kinds of banlog's events, in report order: spam, then every auth kind.
pub fn kinds() -> Vec<&'static str> {
    std::iter::once("spam").chain(AuthKind::NAMES).collect()
}

// ------------------------------------------------------------------------------------ the report

#[derive(Debug, Serialize)]
pub struct Report {
    /// Bumped when a key changes meaning or goes away.
    pub version: u32,
    pub period: Period,
    pub sources: Vec<SourceStats>,
    /// Every event kind, in order; `events` maps hold each of them (0 when none).
    pub kinds: Vec<&'static str>,
    /// Every jail seen in fail2ban's log, sorted; `jails` maps hold each of them.
    pub jails: Vec<String>,
    pub totals: Summary,
    /// Every day of the period, oldest first, empty ones too.
    pub days: Vec<DaySummary>,
    pub limits: Limits,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Period {
    pub first_day: String,
    pub last_day: String,
    pub days: i64,
    pub time_zone: String,
}

#[derive(Debug, Serialize)]
pub struct SourceStats {
    pub path: String,
    /// `fail2ban`, `spam`, `auth` or `journal`.
    pub role: &'static str,
    pub lines: u64,
    /// Lines read as events (banlog's logs) or as bans, unbans and failures (fail2ban's log).
    pub records: u64,
    /// Lines longer than 64 KiB, skipped unread.
    pub too_long: u64,
    /// Spam lines mirrored into syslog (`syslog_spam`) not counted, because a spam log was read.
    pub mirrored: u64,
}

impl SourceStats {
    fn new(path: &str, role: &'static str) -> Self {
        SourceStats { path: path.to_owned(), role, lines: 0, records: 0, too_long: 0, mirrored: 0 }
    }

    /// The next line that can be read as text, counting every line and the too long ones skipped.
    fn next_text<R: std::io::BufRead>(
        &mut self,
        lines: &mut crate::check::Lines<R>,
    ) -> Result<Option<String>, LogError> {
        loop {
            let line = lines.next_line().map_err(|source| LogError::Read { path: self.path.clone(), source })?;
            match line {
                None => return Ok(None),
                Some(Line::Text(l)) => {
                    self.lines += 1;
                    return Ok(Some(l));
                }
                Some(Line::TooLong { .. }) => {
                    self.lines += 1;
                    self.too_long += 1;
                }
            }
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub events: BTreeMap<&'static str, u64>,
    pub jails: BTreeMap<String, JailSummary>,
    pub top_addresses: Vec<AddrCount>,
    pub repeat_offenders: Vec<Repeat>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct JailSummary {
    pub bans: u64,
    pub unbans: u64,
    /// Bans taken over at a fail2ban start (`Restore Ban`): not new bans.
    pub restored: u64,
    /// Bans of an address this jail had banned and unbanned before.
    pub repeat_bans: u64,
    /// Seconds from an address's first failure (since its previous ban in the jail) to its ban.
    pub ban_delay: Option<Delay>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delay {
    /// Bans whose first failure was found (in banlog's logs or as fail2ban's `Found`).
    pub bans: u64,
    /// The lower median.
    pub median_seconds: i64,
    pub max_seconds: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddrCount {
    pub addr: String,
    pub events: u64,
    pub bans: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Repeat {
    pub addr: String,
    pub jail: String,
    /// Bans in the period after an earlier unban of the address in that jail.
    pub repeat_bans: u64,
}

#[derive(Debug, Serialize)]
pub struct DaySummary {
    pub date: String,
    #[serde(flatten)]
    pub summary: Summary,
}

#[derive(Debug, Default, Serialize)]
pub struct Limits {
    pub max_tracked: usize,
    /// Events and bans counted in the totals but left out of the per-address figures (top
    /// addresses, repeat offenders, delays) because a table was full.
    pub untracked: u64,
    /// fail2ban lines of jails beyond the first [`MAX_JAILS`], not counted.
    pub untracked_lines: u64,
    /// Matched lines without a time stamp (no day to count them on).
    pub undated: u64,
}

// ------------------------------------------------------------------------------------ collecting

/// An address's events and bans.
type Counts = (u64, u64);

/// One ban, as fail2ban's log tells it.
struct Ban {
    jail: u16,
    addr: IpAddr,
    at: i64,
    /// The previous ban of the address in the jail: failures after it lead to this ban.
    prev: Option<i64>,
    /// The first failure after `prev`: fail2ban's `Found`, or banlog's line the jail's filter reads.
    first: Option<i64>,
    repeat: bool,
}

#[derive(Default)]
struct PairState {
    last_ban: Option<i64>,
    unbanned: bool,
    first_found: Option<i64>,
}

#[derive(Default)]
struct DayAcc {
    events: HashMap<usize, u64>,
    jails: BTreeMap<u16, JailSummary>,
}

struct Collector<'a> {
    o: &'a Options,
    m: Matcher,
    jails: Vec<String>,
    jail_ids: HashMap<String, u16>,
    pairs: HashMap<(u16, IpAddr), PairState>,
    bans: Vec<Ban>,
    /// Ban indexes per jail and address, in time order.
    ban_index: HashMap<(u16, IpAddr), Vec<usize>>,
    days: BTreeMap<i64, DayAcc>,
    addr_total: HashMap<IpAddr, Counts>,
    addr_day: HashMap<(i64, IpAddr), Counts>,
    limits: Limits,
    sources: Vec<SourceStats>,
}

fn full<K, V>(m: &HashMap<K, V>, k: &K) -> bool
where
    K: std::hash::Hash + Eq,
{
    m.len() >= MAX_TRACKED && !m.contains_key(k)
}

impl<'a> Collector<'a> {
    fn new(o: &'a Options) -> Self {
        Collector {
            o,
            m: Matcher::new(),
            jails: Vec::new(),
            jail_ids: HashMap::new(),
            pairs: HashMap::new(),
            bans: Vec::new(),
            ban_index: HashMap::new(),
            days: BTreeMap::new(),
            addr_total: HashMap::new(),
            addr_day: HashMap::new(),
            limits: Limits { max_tracked: MAX_TRACKED, ..Default::default() },
            sources: Vec::new(),
        }
    }

    fn jail_id(&mut self, name: &str) -> Option<u16> {
        if let Some(id) = self.jail_ids.get(name) {
            return Some(*id);
        }
        if self.jails.len() >= MAX_JAILS {
            return None;
        }
        let id = u16::try_from(self.jails.len()).ok()?;
        self.jails.push(name.to_owned());
        self.jail_ids.insert(name.to_owned(), id);
        Some(id)
    }

    fn in_period(&self, day: i64) -> bool {
        (self.o.first_day..=self.o.last_day).contains(&day)
    }

    fn time(&self, t: &LineTime) -> i64 {
        unix_time(t, &self.o.zone, self.o.now)
    }

    /// Counts one address's event or ban on a day and over the period.
    fn count_addr(&mut self, day: i64, addr: IpAddr, events: u64, bans: u64) {
        if full(&self.addr_total, &addr) || full(&self.addr_day, &(day, addr)) {
            self.limits.untracked += 1;
            return;
        }
        let t = self.addr_total.entry(addr).or_default();
        (t.0, t.1) = (t.0 + events, t.1 + bans);
        let d = self.addr_day.entry((day, addr)).or_default();
        (d.0, d.1) = (d.0 + events, d.1 + bans);
    }

    // ---- pass 1: fail2ban's log

    fn fail2ban_file(&mut self, path: &str) -> Result<(), LogError> {
        let p = F2bParser::new();
        let mut st = SourceStats::new(path, "fail2ban");
        let mut lines = input::open(path)?;
        while let Some(line) = st.next_text(&mut lines)? {
            let (rest, time) = self.m.cut_date(&line);
            let Some(r) = p.parse(&rest) else { continue };
            st.records += 1;
            let Some(time) = time else {
                self.limits.undated += 1;
                continue;
            };
            let at = self.time(&time);
            let Some(jail) = self.jail_id(&r.jail) else {
                self.limits.untracked_lines += 1;
                continue;
            };
            let key = (jail, r.addr);
            let tracked = !full(&self.pairs, &key);
            if !tracked {
                self.limits.untracked += 1;
            }
            let day = day_of(at, &self.o.zone);
            match r.action {
                Action::Found => {
                    let found = r.found_at.as_deref().and_then(|s| self.m.cut_date(s).1).map_or(at, |t| self.time(&t));
                    if tracked {
                        let s = self.pairs.entry(key).or_default();
                        s.first_found = Some(s.first_found.map_or(found, |f| f.min(found)));
                    }
                }
                Action::Ban => {
                    let mut repeat = false;
                    if tracked {
                        let s = self.pairs.entry(key).or_default();
                        repeat = s.unbanned;
                        if self.bans.len() < MAX_TRACKED {
                            self.ban_index.entry(key).or_default().push(self.bans.len());
                            self.bans.push(Ban {
                                jail,
                                addr: r.addr,
                                at,
                                prev: s.last_ban,
                                first: s.first_found,
                                repeat,
                            });
                        } else {
                            self.limits.untracked += 1;
                        }
                        s.last_ban = Some(at);
                        s.first_found = None;
                    }
                    if self.in_period(day) {
                        let j = self.days.entry(day).or_default().jails.entry(jail).or_default();
                        j.bans += 1;
                        j.repeat_bans += u64::from(repeat);
                        self.count_addr(day, r.addr, 0, 1);
                    }
                }
                Action::RestoreBan => {
                    if tracked {
                        let s = self.pairs.entry(key).or_default();
                        s.last_ban = Some(at);
                        s.first_found = None;
                    }
                    if self.in_period(day) {
                        self.days.entry(day).or_default().jails.entry(jail).or_default().restored += 1;
                    }
                }
                Action::Unban => {
                    if tracked {
                        self.pairs.entry(key).or_default().unbanned = true;
                    }
                    if self.in_period(day) {
                        self.days.entry(day).or_default().jails.entry(jail).or_default().unbans += 1;
                    }
                }
            }
        }
        self.sources.push(st);
        Ok(())
    }

    // ---- pass 2: banlog's logs

    fn banlog_lines<R: std::io::BufRead>(
        &mut self,
        path: &str,
        role: &'static str,
        lines: &mut crate::check::Lines<R>,
        spam_logs_read: bool,
    ) -> Result<(), LogError> {
        let mut st = SourceStats::new(path, role);
        let kinds = kinds();
        while let Some(line) = st.next_text(lines)? {
            let (rest, time) = self.m.cut_date(&line);
            // The kind through core's own parsers: the spam log's tail, or a syslog message.
            let (kind, addr) = if let Some((_, addr)) = parse_spam_tail(&rest) {
                (0, addr)
            } else if let Some(msg) = self.m.message(&rest) {
                if let Some(a) = parse_auth_message(msg) {
                    (1 + a.kind as usize, a.addr)
                } else if let Some((_, addr)) = parse_spam_message(msg) {
                    if spam_logs_read {
                        st.mirrored += 1;
                        continue;
                    }
                    (0, addr)
                } else {
                    continue;
                }
            } else {
                continue;
            };
            debug_assert!(kind < kinds.len());
            st.records += 1;
            let Some(time) = time else {
                self.limits.undated += 1;
                continue;
            };
            let at = self.time(&time);
            let day = day_of(at, &self.o.zone);
            if self.in_period(day) {
                *self.days.entry(day).or_default().events.entry(kind).or_default() += 1;
                self.count_addr(day, addr, 1, 0);
            }
            // The first failure before each ban: the line as the jail's filter reads it.
            for (f, _) in self.m.match_cut(&rest) {
                self.mark_failure(f, addr, at);
            }
        }
        self.sources.push(st);
        Ok(())
    }

    fn mark_failure(&mut self, f: FilterId, addr: IpAddr, at: i64) {
        let Some(&jail) = self.jail_ids.get(f.jail()) else { return };
        let Some(idx) = self.ban_index.get(&(jail, addr)) else { return };
        // The first ban at or after the failure, if the failure came after the ban before it.
        let i = idx.partition_point(|&b| self.bans[b].at < at);
        if let Some(&b) = idx.get(i) {
            let ban = &mut self.bans[b];
            if ban.prev.is_none_or(|p| p < at) {
                ban.first = Some(ban.first.map_or(at, |x| x.min(at)));
            }
        }
    }

    // ---- the summaries

    fn finish(mut self) -> Report {
        let kinds = kinds();
        let o = self.o;
        // Ban delays and repeat offenders per day and jail.
        let mut delays: BTreeMap<(i64, u16), Vec<i64>> = BTreeMap::new();
        let mut repeats: BTreeMap<(i64, u16, IpAddr), u64> = BTreeMap::new();
        for b in &self.bans {
            let day = day_of(b.at, &o.zone);
            if !self.in_period(day) {
                continue;
            }
            if let Some(first) = b.first {
                delays.entry((day, b.jail)).or_default().push((b.at - first).max(0));
            }
            if b.repeat {
                *repeats.entry((day, b.jail, b.addr)).or_default() += 1;
            }
        }
        let mut sorted_jails: Vec<(String, u16)> =
            self.jails.iter().enumerate().filter_map(|(i, j)| Some((j.clone(), u16::try_from(i).ok()?))).collect();
        sorted_jails.sort();
        let empty_summary = || Summary {
            events: kinds.iter().map(|k| (*k, 0)).collect(),
            jails: sorted_jails.iter().map(|(j, _)| (j.clone(), JailSummary::default())).collect(),
            top_addresses: Vec::new(),
            repeat_offenders: Vec::new(),
        };
        let mut totals = empty_summary();
        let mut total_delays: BTreeMap<u16, Vec<i64>> = BTreeMap::new();
        let mut total_repeats: BTreeMap<(u16, IpAddr), u64> = BTreeMap::new();
        let mut by_day: BTreeMap<i64, Vec<(IpAddr, Counts)>> = BTreeMap::new();
        for ((d, a), c) in std::mem::take(&mut self.addr_day) {
            by_day.entry(d).or_default().push((a, c));
        }
        let mut days = Vec::new();
        for day in o.first_day..=o.last_day {
            let mut s = empty_summary();
            if let Some(acc) = self.days.remove(&day) {
                for (k, n) in acc.events {
                    *s.events.entry(kinds[k]).or_default() += n;
                    *totals.events.entry(kinds[k]).or_default() += n;
                }
                for (j, js) in acc.jails {
                    let name = &self.jails[usize::from(j)];
                    let mut js = js;
                    if let Some(d) = delays.get(&(day, j)) {
                        total_delays.entry(j).or_default().extend(d);
                        js.ban_delay = delay(d.clone());
                    }
                    let t = totals.jails.entry(name.clone()).or_default();
                    t.bans += js.bans;
                    t.unbans += js.unbans;
                    t.restored += js.restored;
                    t.repeat_bans += js.repeat_bans;
                    s.jails.insert(name.clone(), js);
                }
            }
            s.repeat_offenders = repeats
                .range((day, 0, IpAddr::from([0u8; 4]))..)
                .take_while(|((d, _, _), _)| *d == day)
                .map(|((_, j, a), n)| {
                    *total_repeats.entry((*j, *a)).or_default() += n;
                    Repeat { addr: a.to_string(), jail: self.jails[usize::from(*j)].clone(), repeat_bans: *n }
                })
                .collect();
            s.top_addresses = top(by_day.remove(&day).unwrap_or_default().into_iter(), TOP_DAY);
            days.push(DaySummary { date: date_text(day), summary: s });
        }
        for (j, d) in total_delays {
            if let Some(t) = totals.jails.get_mut(&self.jails[usize::from(j)]) {
                t.ban_delay = delay(d);
            }
        }
        let mut rep: Vec<Repeat> = total_repeats
            .into_iter()
            .map(|((j, a), n)| Repeat { addr: a.to_string(), jail: self.jails[usize::from(j)].clone(), repeat_bans: n })
            .collect();
        rep.sort_by(|a, b| b.repeat_bans.cmp(&a.repeat_bans).then_with(|| a.jail.cmp(&b.jail)));
        totals.repeat_offenders = rep;
        totals.top_addresses = top(self.addr_total.iter().map(|(a, c)| (*a, *c)), TOP_PERIOD);
        Report {
            version: 1,
            period: Period {
                first_day: date_text(o.first_day),
                last_day: date_text(o.last_day),
                days: o.last_day - o.first_day + 1,
                time_zone: o.zone.source.clone(),
            },
            sources: self.sources,
            kinds,
            jails: sorted_jails.into_iter().map(|(j, _)| j).collect(),
            totals,
            days,
            limits: self.limits,
            notes: o.notes.clone(),
        }
    }
}

fn delay(mut d: Vec<i64>) -> Option<Delay> {
    if d.is_empty() {
        return None;
    }
    d.sort_unstable();
    Some(Delay {
        bans: d.len() as u64,
        median_seconds: d[(d.len() - 1) / 2],
        max_seconds: d.last().copied().unwrap_or(0),
    })
}

/// The `n` addresses with the most events (then bans; then in address order).
fn top(it: impl Iterator<Item = (IpAddr, Counts)>, n: usize) -> Vec<AddrCount> {
    let mut v: Vec<(IpAddr, Counts)> = it.collect();
    v.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(b.1 .1.cmp(&a.1 .1)).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v.into_iter().map(|(a, (events, bans))| AddrCount { addr: a.to_string(), events, bans }).collect()
}

/// Reads every log and builds the report.
pub fn run(o: &Options) -> Result<Report, ReportError> {
    let mut c = Collector::new(o);
    for log in &o.fail2ban_logs {
        for f in input::with_rotated(log, o.rotated) {
            c.fail2ban_file(&f)?;
        }
    }
    for idx in c.ban_index.values_mut() {
        // Files are read oldest first, so this is already in order but for equal seconds.
        idx.sort_by_key(|&b| c.bans[b].at);
    }
    let spam_read = !o.spam_logs.is_empty();
    let mut seen = BTreeSet::new();
    for (role, logs) in [("spam", &o.spam_logs), ("auth", &o.auth_logs)] {
        for log in logs {
            for f in input::with_rotated(log, o.rotated) {
                // The same file behind two roles (or two jails) is read once.
                let key = std::fs::canonicalize(&f).map_or_else(|_| f.clone(), |p| p.display().to_string());
                if !seen.insert(key) {
                    continue;
                }
                let mut lines = input::open(&f)?;
                c.banlog_lines(&f, role, &mut lines, spam_read && role == "auth")?;
            }
        }
    }
    if o.journal {
        // From two days before the period (a zone's offset aside, failures of the day before
        // can lead to bans in it).
        let since = (o.first_day - 2) * 86400;
        let mut j = input::Journal::spawn(since).map_err(ReportError::Journal)?;
        let res = c.banlog_lines("journal", "journal", &mut j.lines, spam_read);
        res.map_err(|e| match e {
            LogError::Read { source, .. } => ReportError::Journal(source),
            e => ReportError::Log(e),
        })?;
        j.finish().map_err(ReportError::Journal)?;
    }
    Ok(c.finish())
}

#[cfg(test)]
mod tests;
