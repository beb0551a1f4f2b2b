//! `banlog simulate`: a log replayed through a jail's counting, to tune maxretry, findtime and
//! bantime before a jail is enabled.
//!
//! The counting is fail2ban's (FailManager): an address's count restarts when its first counted
//! failure is older than findtime; when the count reaches maxretry the address is banned for
//! bantime and its count starts over. Failures while banned are listed apart (a ban drops the
//! connection, so a live server would not see most of them).

use std::collections::BTreeMap;

use banlog_core::clock::LocalZone;
use serde::Serialize;

use crate::matcher::LineTime;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct JailParams {
    pub maxretry: u32,
    pub findtime: i64,
    /// Negative: forever, as in fail2ban.
    pub bantime: i64,
}

#[derive(Debug, Serialize)]
pub struct Ban {
    pub addr: String,
    pub at: i64,
    pub at_text: String,
    /// None: a permanent ban.
    pub until: Option<i64>,
    pub until_text: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct AddrSummary {
    pub failures: usize,
    pub bans: usize,
    pub while_banned: usize,
}

#[derive(Debug, Serialize)]
pub struct JailResult {
    pub jail: String,
    pub params: JailParams,
    pub failures: usize,
    /// Matched lines without a usable time stamp (fail2ban would date them "now").
    pub undated: usize,
    pub bans: Vec<Ban>,
    pub addresses: BTreeMap<String, AddrSummary>,
}

/// Seconds since the epoch for a stamp. A stamp without a zone is the reader's local time; a
/// stamp without a year is in the current year, or the previous one if that would put it more
/// than a day into the future (as fail2ban guesses).
pub fn unix_time(t: &LineTime, zone: &LocalZone, now: i64) -> i64 {
    if let Some(e) = t.epoch {
        return e;
    }
    let naive = |year: i32| {
        days_from_civil(year, t.month, t.day) * 86400 + t.hour as i64 * 3600 + t.minute as i64 * 60 + t.second as i64
    };
    let year = t.year.unwrap_or_else(|| civil_year(now));
    let to_utc = |n: i64| match t.offset {
        Some(off) => n - off as i64,
        // Two steps: the offset at the local reading is right except within the DST switch hour.
        None => n - zone.offset_at(n - zone.offset_at(n) as i64) as i64,
    };
    let mut u = to_utc(naive(year));
    if t.year.is_none() && u > now + 86400 {
        u = to_utc(naive(year - 1));
    }
    u
}

pub fn simulate(
    jail: &str,
    p: JailParams,
    mut events: Vec<(i64, String)>,
    undated: usize,
    zone: &LocalZone,
) -> JailResult {
    events.sort_by_key(|e| e.0); // stable: lines of the same second keep their order
    struct State {
        retry: u32,
        last_reset: i64,
        banned_until: Option<Option<i64>>,
    }
    let mut st: BTreeMap<String, State> = BTreeMap::new();
    let mut res = JailResult {
        jail: jail.to_owned(),
        params: p,
        failures: events.len(),
        undated,
        bans: Vec::new(),
        addresses: BTreeMap::new(),
    };
    for (t, addr) in events {
        let sum = res.addresses.entry(addr.clone()).or_default();
        sum.failures += 1;
        let s = st.entry(addr.clone()).or_insert(State { retry: 0, last_reset: t, banned_until: None });
        match s.banned_until {
            Some(None) => {
                sum.while_banned += 1;
                continue;
            }
            Some(Some(until)) if t < until => {
                sum.while_banned += 1;
                continue;
            }
            _ => s.banned_until = None,
        }
        if s.last_reset < t.saturating_sub(p.findtime) || s.retry == 0 {
            s.last_reset = t;
            s.retry = 0;
        }
        s.retry += 1;
        if s.retry >= p.maxretry {
            let until = (p.bantime >= 0).then(|| t.saturating_add(p.bantime));
            res.bans.push(Ban {
                addr: addr.clone(),
                at: t,
                at_text: local_text(t, zone),
                until,
                until_text: until.map(|u| local_text(u, zone)),
            });
            sum.bans += 1;
            s.banned_until = Some(until);
            s.retry = 0;
        }
    }
    res
}

pub fn print_text(r: &JailResult) {
    let p = r.params;
    println!(
        "{}: maxretry {}, findtime {}s, bantime {}: {} failures from {} addresses, {} ban(s)",
        r.jail,
        p.maxretry,
        p.findtime,
        if p.bantime < 0 { "forever".to_owned() } else { format!("{}s", p.bantime) },
        r.failures,
        r.addresses.len(),
        r.bans.len()
    );
    for b in &r.bans {
        match &b.until_text {
            Some(u) => println!("  ban {:<39} at {}  until {}", b.addr, b.at_text, u),
            None => println!("  ban {:<39} at {}  for good", b.addr, b.at_text),
        }
    }
    let never: Vec<_> = r.addresses.iter().filter(|(_, s)| s.bans == 0).collect();
    if !never.is_empty() {
        println!("  not banned: {} address(es), most failures: {}", never.len(), {
            let mut v = never.clone();
            v.sort_by_key(|x| std::cmp::Reverse(x.1.failures));
            v.iter().take(5).map(|(a, s)| format!("{a} ({})", s.failures)).collect::<Vec<_>>().join(", ")
        });
    }
    if r.undated > 0 {
        println!("  {} matched line(s) had no time stamp and were left out", r.undated);
    }
}

pub(crate) fn local_text(t: i64, zone: &LocalZone) -> String {
    let off = zone.offset_at(t) as i64;
    let l = t.saturating_add(off);
    let (y, m, d) = civil_from_days(l.div_euclid(86400));
    let s = l.rem_euclid(86400);
    let sign = if off < 0 { '-' } else { '+' };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}{sign}{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        off.abs() / 3600,
        off.abs() % 3600 / 60
    )
}

pub(crate) fn civil_year(unix: i64) -> i32 {
    civil_from_days(unix.div_euclid(86400)).0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

pub(crate) fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // In range by construction: d is 1..=31, m 1..=12, and y fits i32 for any i64 day count / 365.
    let d = u8::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u8::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = i32::try_from(yoe + era * 400 + if m <= 2 { 1 } else { 0 }).unwrap_or(i32::MAX);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> LocalZone {
        LocalZone::utc()
    }

    #[test]
    fn calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 11, 21) * 86400, 1_795_219_200);
        assert_eq!(civil_from_days(20778), (2026, 11, 21));
    }

    #[test]
    fn stamps_to_unix() {
        let now = 1_795_246_000; // 2026-11-21 07:26:40 UTC
        let t = LineTime { year: None, month: 11, day: 21, hour: 7, minute: 19, second: 22, offset: None, epoch: None };
        assert_eq!(unix_time(&t, &utc(), now), 1_795_245_562);
        let berlin = LocalZone::named("Europe/Berlin").unwrap();
        assert_eq!(unix_time(&t, &berlin, now), 1_795_241_962);
        let dec = LineTime { month: 12, ..t }; // in the future: last year
        assert_eq!(civil_year(unix_time(&dec, &utc(), now)), 2025);
        let iso = LineTime { year: Some(2026), offset: Some(3600), ..t };
        assert_eq!(unix_time(&iso, &utc(), now), 1_795_241_962);
    }

    #[test]
    fn counting_is_fail2bans() {
        let p = JailParams { maxretry: 3, findtime: 60, bantime: 100 };
        let ev = |ts: &[i64]| ts.iter().map(|t| (*t, "a".to_owned())).collect::<Vec<_>>();
        // two failures, then the window restarts at 100: banned at the third within it
        let r = simulate("j", p, ev(&[0, 10, 100, 110, 120, 130, 300]), 0, &utc());
        assert_eq!(r.bans.iter().map(|b| (b.at, b.until)).collect::<Vec<_>>(), vec![(120, Some(220))]);
        assert_eq!(r.addresses["a"].while_banned, 1);
        let forever = simulate("j", JailParams { bantime: -1, ..p }, ev(&[0, 1, 2, 500]), 0, &utc());
        assert_eq!(forever.bans[0].until, None);
        assert_eq!(forever.addresses["a"].while_banned, 1);
    }
}
