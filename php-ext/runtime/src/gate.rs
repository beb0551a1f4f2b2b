//! The in-process gate: whether a client address has already reached a jail's limit (maxretry
//! events of the jail's kinds within findtime), answered from the pool's ring of the last events
//! ([`crate::pool`]), so that the plugin can refuse the address's next login, XML-RPC or comment
//! request before fail2ban's firewall rule is in place.
//!
//! A look-up scans the ring newest first and stops at the first event older than the window, at
//! the limit, or after [`crate::pool::RING_LEN`] slots: no lock, no allocation, bounded work whatever the
//! traffic. It compares whole addresses, so it has no collisions. It can only count short: an
//! event it cannot read (being written, mixed by two writers) or one the ring no longer holds
//! (more than [`crate::pool::RING_LEN`] events of the pool since) is not counted, and then the request goes
//! through (fail open); fail2ban still counts it from the log.

use std::net::IpAddr;

use banlog_core::{AuthKind, FilterMode};

use crate::pool::PoolArea;

/// The longest window accepted, in seconds (ten years).
pub const MAX_FINDTIME: i64 = 10 * 365 * 86_400;

/// A jail's rule as the gate applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateRule {
    /// Kind codes counted ([`crate::pool::kind_name`]), bit `1 << code`.
    pub kinds: u16,
    pub maxretry: u32,
    pub findtime: i64,
}

/// Why a rule is refused; names the PHP argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    #[error("Argument #1 ($kinds) names no event kind; give a comma-separated list of soft, hard, aggressive, spam or event names")]
    NoKinds,
    #[error(
        "Argument #1 ($kinds): unknown kind '{0}'; expected soft, hard, aggressive, spam or one of: {names}",
        names = AuthKind::NAMES.join(", ")
    )]
    UnknownKind(String),
    #[error("Argument #3 ($maxretry) must be at least 1, {0} given")]
    MaxRetry(i64),
    #[error("Argument #4 ($findtime) must be from 1 to {MAX_FINDTIME} seconds, {0} given")]
    FindTime(i64),
}

/// The kind code of spam in the ring.
const SPAM: u16 = 1;

// Every event kind's code (spam 0, each AuthKind its index + 1) must have a bit in the mask.
const _: () = assert!(AuthKind::ALL.len() < u16::BITS as usize, "GateRule::kinds needs a wider mask");

fn auth_bit(kind: AuthKind) -> u16 {
    1u16 << crate::pool::auth_code(kind)
}

/// The kinds a mode of the `banlog-auth` filter counts.
pub fn mode_kinds(mode: FilterMode) -> u16 {
    AuthKind::ALL.iter().filter(|k| k.filter_mode() == Some(mode)).fold(0, |m, k| m | auth_bit(*k))
}

impl GateRule {
    /// A rule from the PHP arguments: `kinds` a comma-separated list of `soft`, `hard`,
    /// `aggressive` (the `banlog-auth` filter's modes), `spam`, or event names of `banlog_auth()`.
    pub fn parse(kinds: &[u8], maxretry: i64, findtime: i64) -> Result<GateRule, GateError> {
        let mut mask = 0u16;
        for token in kinds.split(|b| *b == b',') {
            let token = token.trim_ascii();
            if token.is_empty() {
                continue;
            }
            mask |=
                match token {
                    b"soft" => mode_kinds(FilterMode::Soft),
                    b"hard" => mode_kinds(FilterMode::Hard),
                    b"aggressive" => mode_kinds(FilterMode::Soft) | mode_kinds(FilterMode::Hard),
                    b"spam" => SPAM,
                    name => auth_bit(AuthKind::from_name(name).map_err(|_| {
                        GateError::UnknownKind(String::from_utf8_lossy(name).escape_default().to_string())
                    })?),
                };
        }
        if mask == 0 {
            return Err(GateError::NoKinds);
        }
        let maxretry = u32::try_from(maxretry).ok().filter(|m| *m >= 1).ok_or(GateError::MaxRetry(maxretry))?;
        if !(1..=MAX_FINDTIME).contains(&findtime) {
            return Err(GateError::FindTime(findtime));
        }
        Ok(GateRule { kinds: mask, maxretry, findtime })
    }
}

/// What a look-up found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The address has maxretry counted events in the window: refuse it.
    pub reached: bool,
    /// Events counted (at most maxretry).
    pub count: u32,
    /// The address's requests in flight (through the gate, not yet over).
    pub in_flight: u32,
    /// False when the window reached back past the ring's oldest event (the count may be short).
    pub complete: bool,
}

/// The address as the ring stores it (IPv4 as IPv4-mapped IPv6).
pub fn ring_addr(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(|| v6.octets(), |v4| v4.to_ipv6_mapped().octets()),
    }
}

/// How long a gate pass counts as in flight at most, in seconds: longer than a login request
/// takes; a pass whose request died unresolved stops counting after it.
pub const PASS_TTL_SECS: i64 = 60;

/// Whether `addr` has reached `rule`'s limit at `now_us` (microseconds since the epoch): it has
/// maxretry counted events in the window, or it has at least one and its other requests in
/// flight (let through, not yet over) would bring it to maxretry. An address without a counted
/// event is never refused, however many requests it has in flight. `own_pass`: the calling
/// request has entered ([`enter`]) for this address (its own pass is not held against it).
///
/// A request enters before it asks, so that of two requests asking at the same moment each sees
/// the other: together they never exceed the limit (short of a writer preempted between taking
/// its ticket and storing its slot, nanoseconds, which is missed: fail open).
pub fn check(area: &PoolArea, rule: &GateRule, addr: IpAddr, now_us: i64, own_pass: bool) -> Verdict {
    let since = now_us.saturating_sub(rule.findtime.saturating_mul(1_000_000));
    let pass_since = now_us.saturating_sub(PASS_TTL_SECS * 1_000_000);
    let c = area.count_addr(ring_addr(addr), rule.kinds, since, pass_since, rule.maxretry);
    let others = c.in_flight.saturating_sub(u32::from(own_pass));
    let reached = c.count >= rule.maxretry || (c.count >= 1 && c.count.saturating_add(others) >= rule.maxretry);
    Verdict { reached, count: c.count, in_flight: c.in_flight, complete: c.complete }
}

/// Records that a guarded request from `addr` went through the gate at `now_us`; returns the
/// ticket to [`PoolArea::resolve`] once the request logged an event for `addr` or ended.
pub fn enter(area: &PoolArea, addr: IpAddr, now_us: i64) -> u64 {
    area.record_pass(now_us, ring_addr(addr))
}

/// Microseconds since the epoch now.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::kind_name;

    /// The ring's length, as the tests count.
    const RING: i64 = 4096;

    const NOW: i64 = 1_800_000_000_000_000;
    const SEC: i64 = 1_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn code(name: &str) -> u8 {
        (0..16u8).find(|c| kind_name(*c) == name).unwrap()
    }

    fn add(area: &PoolArea, at: i64, kind: &str, addr: &str) {
        area.record(at, code(kind), 7, ring_addr(ip(addr)));
    }

    /// A look-up by a request that has not entered.
    fn check_(area: &PoolArea, rule: &GateRule, addr: IpAddr, now: i64) -> Verdict {
        check(area, rule, addr, now, false)
    }

    fn soft5() -> GateRule {
        GateRule::parse(b"soft", 5, 600).unwrap()
    }

    #[test]
    fn rules_parse_modes_names_and_bounds() {
        let soft = GateRule::parse(b"soft", 5, 600).unwrap();
        for k in AuthKind::ALL {
            let counted = soft.kinds & auth_bit(k) != 0;
            assert_eq!(counted, k.filter_mode() == Some(FilterMode::Soft), "{k}");
        }
        let all = GateRule::parse(b" soft , hard,spam ", 1, 1).unwrap();
        assert_eq!(all.kinds, GateRule::parse(b"aggressive,spam", 1, 1).unwrap().kinds);
        assert_eq!(GateRule::parse(b"spam", 1, 1).unwrap().kinds, SPAM);
        assert_eq!(GateRule::parse(b"multicall_failure", 1, 1).unwrap().kinds, auth_bit(AuthKind::MulticallFailure));
        assert_eq!(GateRule::parse(b"", 5, 600), Err(GateError::NoKinds));
        assert_eq!(GateRule::parse(b" , ", 5, 600), Err(GateError::NoKinds));
        let e = GateRule::parse(b"soft,Fail\x01ure", 5, 600).unwrap_err();
        assert_eq!(e, GateError::UnknownKind("Fail\\u{1}ure".into()));
        assert!(e.to_string().contains("expected soft, hard, aggressive, spam or one of: failure,"));
        assert_eq!(GateRule::parse(b"soft", 0, 600), Err(GateError::MaxRetry(0)));
        assert_eq!(GateRule::parse(b"soft", -1, 600), Err(GateError::MaxRetry(-1)));
        assert_eq!(GateRule::parse(b"soft", i64::MAX, 600), Err(GateError::MaxRetry(i64::MAX)));
        assert_eq!(GateRule::parse(b"soft", 5, 0), Err(GateError::FindTime(0)));
        assert_eq!(GateRule::parse(b"soft", 5, MAX_FINDTIME + 1), Err(GateError::FindTime(MAX_FINDTIME + 1)));
        assert!(GateRule::parse(b"soft", 5, MAX_FINDTIME).is_ok());
    }

    #[test]
    fn counts_the_address_s_events_of_the_rule_s_kinds_in_the_window() {
        let area = PoolArea::map().unwrap();
        let rule = soft5();
        // Outside the window, another kind (hard, spam, audit), another address: none count.
        add(area, NOW - 601 * SEC, "failure", "203.0.113.9");
        add(area, NOW - 10 * SEC, "xmlrpc_unknown_user", "203.0.113.9");
        add(area, NOW - 10 * SEC, "spam", "203.0.113.9");
        add(area, NOW - 10 * SEC, "success", "203.0.113.9");
        add(area, NOW - 10 * SEC, "failure", "203.0.113.10");
        add(area, NOW - 10 * SEC, "failure", "2001:db8::cb00:7109");
        for (i, kind) in (0..).zip(["failure", "unknown_user", "xmlrpc_failure", "rest_failure"]) {
            add(area, NOW - 500 * SEC + i, kind, "203.0.113.9");
        }
        let v = check_(area, &rule, ip("203.0.113.9"), NOW);
        assert_eq!((v.reached, v.count, v.complete), (false, 4, true));
        add(area, NOW - SEC, "failure", "203.0.113.9");
        assert_eq!(
            check_(area, &rule, ip("203.0.113.9"), NOW),
            Verdict { reached: true, count: 5, in_flight: 0, complete: true }
        );
        // The same address written as IPv4-mapped IPv6 is the same client.
        assert!(check_(area, &rule, ip("::ffff:203.0.113.9"), NOW).reached);
        // As time passes the oldest fall out of the window.
        assert!(!check_(area, &rule, ip("203.0.113.9"), NOW + 101 * SEC).reached);
        // The hard jail counts its own kinds, with its own limit.
        let hard = GateRule::parse(b"hard", 1, 3600).unwrap();
        assert!(check_(area, &hard, ip("203.0.113.9"), NOW).reached);
        assert!(!check_(area, &hard, ip("203.0.113.10"), NOW).reached);
        assert_eq!(check_(area, &rule, ip("203.0.113.10"), NOW).count, 1);
    }

    #[test]
    fn an_innocent_is_never_counted_whatever_an_attacker_sends() {
        let area = PoolArea::map().unwrap();
        // Attackers next door in address space, and the innocent's IPv4 address inside an
        // IPv4-compatible (not mapped) IPv6 address: other clients.
        for i in 0..RING {
            add(area, NOW - SEC + i % 1000, "failure", "198.51.100.8");
            add(area, NOW - SEC, "xmlrpc_unknown_user", "::c633:6407");
        }
        add(area, NOW - 5 * SEC, "failure", "198.51.100.7"); // one typo of the innocent
        let rule = GateRule::parse(b"aggressive,spam", 2, 600).unwrap();
        let v = check_(area, &rule, ip("198.51.100.7"), NOW);
        assert_eq!((v.reached, v.count), (false, 1));
        assert!(check_(area, &rule, ip("198.51.100.8"), NOW).reached);
        assert!(check_(area, &rule, ip("::c633:6407"), NOW).reached);
    }

    #[test]
    fn beyond_the_ring_the_gate_fails_open() {
        let area = PoolArea::map().unwrap();
        let rule = soft5();
        for i in 0..5 {
            add(area, NOW - 60 * SEC + i, "failure", "203.0.113.9");
        }
        assert!(check_(area, &rule, ip("203.0.113.9"), NOW).reached);
        // Other clients' events (a botnet, busy sites) push the attacker's out of the ring: the
        // gate no longer sees them and lets it through; the log still holds them for fail2ban.
        for i in 0..RING - 2 {
            add(area, NOW - 30 * SEC, "spam", &format!("10.0.{}.{}", i / 250, i % 250));
        }
        let v = check_(area, &rule, ip("203.0.113.9"), NOW);
        assert_eq!((v.reached, v.count, v.complete), (false, 2, false));
        add(area, NOW - 30 * SEC, "spam", "10.9.9.9");
        add(area, NOW - 30 * SEC, "spam", "10.9.9.9");
        assert_eq!(check_(area, &rule, ip("203.0.113.9"), NOW).count, 0);
        // A window (and the in-flight window) newer than the ring's newest event is complete again.
        let later = NOW + 100 * SEC;
        assert!(check_(area, &GateRule::parse(b"soft", 5, 10).unwrap(), ip("203.0.113.9"), later).complete);
    }

    #[test]
    fn a_scan_reads_at_most_the_ring_and_stops_at_the_window() {
        let area = PoolArea::map().unwrap();
        for i in 0..2 * RING {
            add(area, NOW - 3600 * SEC + i, "failure", "192.0.2.1");
        }
        for _ in 0..10 {
            add(area, NOW - SEC, "failure", "192.0.2.2");
        }
        let c = area.count_addr(ring_addr(ip("192.0.2.3")), soft5().kinds, NOW - 600 * SEC, NOW, 5);
        // The ten recent ones, then the first event older than the window (and its slack) ends it.
        assert_eq!((c.count, c.scanned, c.complete), (0, 11, true));
        let c = area.count_addr(ring_addr(ip("192.0.2.1")), soft5().kinds, 0, 0, u32::MAX);
        assert_eq!((c.count, c.scanned, c.complete), (4096 - 10, 4096, false));
    }

    #[test]
    fn concurrent_writers_are_counted_exactly_and_never_against_an_innocent() {
        let area = PoolArea::map().unwrap();
        let rule = GateRule::parse(b"soft", 3, 600).unwrap();
        add(area, NOW - SEC, "failure", "198.51.100.7");
        add(area, NOW - SEC, "failure", "198.51.100.7");
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (threads, each) = (6u32, 300u32);
        std::thread::scope(|s| {
            let mut writers = Vec::new();
            for t in 0..threads {
                writers.push(s.spawn(move || {
                    for i in 0..each {
                        add(area, NOW - SEC, "failure", "203.0.113.9");
                        add(area, NOW - SEC, "unknown_user", &format!("10.{t}.{}.{}", i / 200, i % 200));
                    }
                }));
            }
            let stop = &stop;
            let reader = s.spawn(move || loop {
                assert!(!check_(area, &rule, ip("198.51.100.7"), NOW).reached);
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
            });
            for w in writers {
                w.join().unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            reader.join().unwrap();
        });
        let all = GateRule::parse(b"soft", i64::from(u32::MAX), 600).unwrap();
        let v = check_(area, &all, ip("203.0.113.9"), NOW);
        assert_eq!((v.count, v.complete), (threads * each, true));
        assert_eq!(check_(area, &all, ip("198.51.100.7"), NOW).count, 2);
    }

    #[test]
    fn requests_in_flight_hold_places_once_the_client_has_failed() {
        let area = PoolArea::map().unwrap();
        let rule = soft5();
        let attacker = ip("203.0.113.9");
        // No failure yet: however many requests are in flight, none is refused (an innocent's
        // parallel requests never are).
        let first: Vec<u64> = (0..6).map(|_| enter(area, attacker, NOW - SEC)).collect();
        let v = check_(area, &rule, attacker, NOW);
        assert_eq!((v.reached, v.count, v.in_flight), (false, 0, 6));
        // One of them fails: its pass is over, its failure counts; 1 + 5 in flight reach 5.
        area.resolve(first[0]);
        add(area, NOW - SEC, "failure", "203.0.113.9");
        let v = check_(area, &rule, attacker, NOW);
        assert_eq!((v.reached, v.count, v.in_flight), (true, 1, 5));
        // Three end without an event (resolved at their end): 1 + 2 in flight, below 5.
        for t in &first[1..4] {
            area.resolve(*t);
        }
        assert_eq!(check_(area, &rule, attacker, NOW).in_flight, 2);
        assert!(!check_(area, &rule, attacker, NOW).reached);
        // A pass whose request died unresolved stops counting after PASS_TTL_SECS.
        assert_eq!(check_(area, &rule, attacker, NOW + PASS_TTL_SECS * SEC).in_flight, 0);
        // Passes are no events: not in recent(), not accepted.
        assert!(area.recent(100, 0).iter().all(|r| r.kind_name() == "failure"));
        assert_eq!(area.counters().accepted, 1);
        // Resolving twice, or a ticket the ring has overwritten, changes nothing.
        area.resolve(first[0]);
        for _ in 0..RING {
            add(area, NOW - SEC, "spam", "10.1.1.1");
        }
        area.resolve(first[5]);
        assert_eq!(area.recent(1, 0)[0].kind_name(), "spam");
    }

    #[test]
    fn concurrent_requests_never_let_more_than_maxretry_reach_the_check() {
        // The client has failed once. Eight workers at once, each round: enter, ask the gate,
        // "check the password" (count it), then log the failure (and resolve its pass then, as the
        // extension does), 200 rounds each. 1 + 4 more checks reach the limit of 5.
        let area = PoolArea::map().unwrap();
        let rule = soft5();
        let attacker = ip("203.0.113.9");
        add(area, now_us(), "failure", "203.0.113.9");
        let checked = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..200 {
                        let t = enter(area, attacker, now_us());
                        if check(area, &rule, attacker, now_us(), true).reached {
                            area.resolve(t);
                            continue;
                        }
                        checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        std::thread::yield_now();
                        area.record(now_us(), 1, 7, ring_addr(attacker));
                        area.resolve(t);
                    }
                });
            }
        });
        let n = checked.load(std::sync::atomic::Ordering::Relaxed);
        assert!((1..=4).contains(&n), "{n} reached the check");
        assert_eq!(check_(area, &rule, attacker, now_us()).count, 1 + n);
    }

    #[test]
    fn forked_workers_share_what_the_gate_sees() {
        let area = PoolArea::map().unwrap();
        crate::pool::tests::in_forked_children(3, |c| {
            let addr = ring_addr(IpAddr::from([203, 0, 113, 9]));
            area.record(NOW - SEC - i64::from(c), 1 + 1, 7, addr); // unknown_user
        });
        assert_eq!(kind_name(2), "unknown_user");
        let rule = GateRule::parse(b"soft", 3, 600).unwrap();
        assert!(check_(area, &rule, ip("203.0.113.9"), NOW).reached);
    }
}
