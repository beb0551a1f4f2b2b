//! The exact bytes of every line banlog writes. These are the contract with fail2ban: the filters
//! in `filters/` are tested against the output of these functions.

use std::io::Write as _;
use std::net::{IpAddr, Ipv6Addr};

use crate::clock::LocalTime;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// The writer formats every line straight into its sink's buffer with the `push_*` functions
// (no `format!`, no allocation per line); the `String` functions wrap them for everyone else,
// so both are the same bytes by construction.

/// Appends `n` in decimal.
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `n` (< 100) as two digits.
fn push_2(out: &mut Vec<u8>, n: u8) {
    out.extend_from_slice(&[b'0' + n / 10, b'0' + n % 10]);
}

/// Appends an address in its canonical form (dotted quad, RFC 5952), as `Display` prints it.
pub fn push_addr(out: &mut Vec<u8>, addr: IpAddr) {
    match addr {
        IpAddr::V4(a) => {
            for (i, octet) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(a) => push_ipv6(out, a),
    }
}

/// RFC 5952: lower-case hex groups without leading zeros, the longest run of two or more zero
/// groups (the first of equals) as `::`.
fn push_ipv6(out: &mut Vec<u8>, a: Ipv6Addr) {
    if a.to_ipv4_mapped().is_some() {
        // Never logged (parse_addr turns these into IPv4), but printed as `Display` would.
        drop(write!(out, "{a}"));
        return;
    }
    let groups = a.segments();
    let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        if g == 0 {
            if run_len == 0 {
                run = i;
            }
            run_len += 1;
            if run_len > best_len {
                (best, best_len) = (run, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    let hex = |out: &mut Vec<u8>, g: u16| {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut started = false;
        for shift in [12, 8, 4, 0] {
            let d = (g >> shift) & 0xf;
            if d != 0 || started || shift == 0 {
                out.push(DIGITS[d as usize]);
                started = true;
            }
        }
    };
    if best_len < 2 {
        for (i, &g) in groups.iter().enumerate() {
            if i > 0 {
                out.push(b':');
            }
            hex(out, g);
        }
        return;
    }
    for (i, &g) in groups[..best].iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        hex(out, g);
    }
    out.extend_from_slice(b"::");
    for (i, &g) in groups[best + best_len..].iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        hex(out, g);
    }
}

/// Appends `YYYY-MM-DD HH:MM:SS`, the spam log's time.
pub fn push_spam_time(out: &mut Vec<u8>, t: &LocalTime) {
    push_date_time(out, t, b' ');
}

/// `YYYY-MM-DD<sep>HH:MM:SS`.
fn push_date_time(out: &mut Vec<u8>, t: &LocalTime, sep: u8) {
    let d = t.dt;
    push_u64(out, u64::from(d.year().clamp(0, 9999).unsigned_abs()));
    out.push(b'-');
    push_2(out, d.month() as u8);
    out.push(b'-');
    push_2(out, d.day());
    out.push(sep);
    push_2(out, d.hour());
    out.push(b':');
    push_2(out, d.minute());
    out.push(b':');
    push_2(out, d.second());
}

/// The fixed text around the comment id and the address on a spam log line, for writing it
/// ([`push_spam_tail`]) and reading it back ([`parse_spam_tail`]).
const SPAM_TAIL: [&str; 3] = [" comment id=", " from host=", " marked as spam"];

/// Appends what follows the time on a spam log line: ` comment id=N from host=ADDR marked as spam`.
pub fn push_spam_tail(out: &mut Vec<u8>, comment_id: u64, addr: IpAddr) {
    out.extend_from_slice(SPAM_TAIL[0].as_bytes());
    push_u64(out, comment_id);
    out.extend_from_slice(SPAM_TAIL[1].as_bytes());
    push_addr(out, addr);
    out.extend_from_slice(SPAM_TAIL[2].as_bytes());
}

/// Reads back what [`push_spam_tail`] writes: the comment id and the address, or `None` unless
/// `tail` is exactly what it would write for them (canonical number and address, nothing more).
pub fn parse_spam_tail(tail: &str) -> Option<(u64, IpAddr)> {
    let (id, addr) = crate::addr::split_fixed(tail, SPAM_TAIL)?;
    let (id, addr) = (crate::addr::parse_decimal(id)?, crate::parse_addr(addr.as_bytes()).ok()?);
    let mut again = Vec::with_capacity(tail.len());
    push_spam_tail(&mut again, id, addr);
    (again == tail.as_bytes()).then_some((id, addr))
}

/// Appends `Nov 21 07:19:22` (RFC 3164: day padded with a space, as glibc's `syslog()` writes it).
pub fn push_rfc3164_time(out: &mut Vec<u8>, t: &LocalTime) {
    let d = t.dt;
    out.extend_from_slice(MONTHS[d.month() as usize - 1].as_bytes());
    out.push(b' ');
    let day = d.day();
    out.push(if day >= 10 { b'0' + day / 10 } else { b' ' });
    out.push(b'0' + day % 10);
    out.push(b' ');
    push_2(out, d.hour());
    out.push(b':');
    push_2(out, d.minute());
    out.push(b':');
    push_2(out, d.second());
}

/// Appends `2026-11-21T07:19:22.123456+01:00`, rsyslog's `RSYSLOG_FileFormat` time.
pub fn push_rfc3339_time(out: &mut Vec<u8>, t: &LocalTime) {
    push_date_time(out, t, b'T');
    out.push(b'.');
    let micros = t.micros.min(999_999);
    for div in [100_000, 10_000, 1_000, 100, 10, 1] {
        out.push(b'0' + (micros / div % 10) as u8);
    }
    let off = t.offset_seconds();
    out.push(if off < 0 { b'-' } else { b'+' });
    let off = off.unsigned_abs();
    push_2(out, (off / 3600 % 100) as u8);
    out.push(b':');
    push_2(out, (off % 3600 / 60) as u8);
}

/// Appends the syslog ident: `wordpress(example.com)`, or `wordpress` when no site host is known.
/// `site_host` must have passed [`crate::sanitize_ident_host`].
pub fn push_ident(out: &mut Vec<u8>, site_host: &str) {
    out.extend_from_slice(b"wordpress");
    if !site_host.is_empty() {
        out.push(b'(');
        out.extend_from_slice(site_host.as_bytes());
        out.push(b')');
    }
}

/// Appends `<ident>[<pid>]: `, the tag of a syslog message or an auth_log line.
pub fn push_tag(out: &mut Vec<u8>, ident: &str, pid: u32) {
    out.extend_from_slice(ident.as_bytes());
    out.push(b'[');
    push_u64(out, pid.into());
    out.extend_from_slice(b"]: ");
}

fn text(bytes: Vec<u8>) -> String {
    // Every push_* function appends UTF-8: ASCII, or text that was already a `str`.
    String::from_utf8(bytes).expect("line formatting produced UTF-8")
}

/// `YYYY-MM-DD HH:MM:SS`, the spam log's time.
pub fn spam_time(t: &LocalTime) -> String {
    let mut out = Vec::with_capacity(19);
    push_spam_time(&mut out, t);
    text(out)
}

/// One spam log line, without the newline:
/// `2026-11-21 07:19:22 comment id=527 from host=203.0.113.9 marked as spam`.
///
/// The historic Spam Log filter `^\s*comment id=\d+ from host=<HOST> marked as spam$` matches it
/// after fail2ban has cut the time stamp off.
pub fn spam_line(t: &LocalTime, comment_id: u64, addr: IpAddr) -> String {
    let mut out = Vec::with_capacity(80);
    push_spam_time(&mut out, t);
    push_spam_tail(&mut out, comment_id, addr);
    text(out)
}

/// `Nov 21 07:19:22` (RFC 3164: day padded with a space, as glibc's `syslog()` writes it).
pub fn rfc3164_time(t: &LocalTime) -> String {
    let mut out = Vec::with_capacity(15);
    push_rfc3164_time(&mut out, t);
    text(out)
}

/// `2026-11-21T07:19:22.123456+01:00`, rsyslog's `RSYSLOG_FileFormat` time.
pub fn rfc3339_time(t: &LocalTime) -> String {
    let mut out = Vec::with_capacity(32);
    push_rfc3339_time(&mut out, t);
    text(out)
}

/// The syslog ident: `wordpress(example.com)`, or `wordpress` when no site host is known.
/// `site_host` must have passed [`crate::sanitize_ident_host`].
pub fn ident(site_host: &str) -> String {
    let mut out = Vec::with_capacity(11 + site_host.len());
    push_ident(&mut out, site_host);
    text(out)
}

/// Appends a line of the `auth_log` file (hosts without a syslog daemon), in rsyslog's file
/// format, so that the same auth filter reads it:
/// `2026-11-21T07:19:22.123456+01:00 web1 wordpress(example.com)[4242]: <message>`.
pub fn push_auth_file_line(out: &mut Vec<u8>, t: &LocalTime, hostname: &str, ident: &str, pid: u32, message: &str) {
    push_auth_file_head(out, t, hostname, ident, pid);
    out.extend_from_slice(message.as_bytes());
}

/// Appends what precedes the message in [`push_auth_file_line`].
pub fn push_auth_file_head(out: &mut Vec<u8>, t: &LocalTime, hostname: &str, ident: &str, pid: u32) {
    push_rfc3339_time(out, t);
    out.push(b' ');
    out.extend_from_slice(hostname.as_bytes());
    out.push(b' ');
    push_tag(out, ident, pid);
}

/// A line of the `auth_log` file; see [`push_auth_file_line`].
pub fn auth_file_line(t: &LocalTime, hostname: &str, ident: &str, pid: u32, message: &str) -> String {
    let mut out = Vec::with_capacity(96 + message.len());
    push_auth_file_line(&mut out, t, hostname, ident, pid, message);
    text(out)
}

/// Appends an RFC 3164 syslog message as sent to a syslog daemon:
/// `<PRI>Nov 21 07:19:22 [hostname ]wordpress(example.com)[4242]: <message>`.
/// Local sockets get no hostname (like glibc), remote collectors get one.
pub fn push_syslog_message(
    out: &mut Vec<u8>,
    pri: u8,
    t: &LocalTime,
    hostname: Option<&str>,
    ident: &str,
    pid: u32,
    message: &str,
) {
    push_syslog_head(out, pri, t, hostname, ident, pid);
    out.extend_from_slice(message.as_bytes());
}

/// Appends what precedes the message in [`push_syslog_message`].
pub fn push_syslog_head(out: &mut Vec<u8>, pri: u8, t: &LocalTime, hostname: Option<&str>, ident: &str, pid: u32) {
    out.push(b'<');
    push_u64(out, pri.into());
    out.push(b'>');
    push_rfc3164_time(out, t);
    out.push(b' ');
    if let Some(h) = hostname {
        out.extend_from_slice(h.as_bytes());
        out.push(b' ');
    }
    push_tag(out, ident, pid);
}

/// An RFC 3164 syslog message; see [`push_syslog_message`].
pub fn syslog_message(pri: u8, t: &LocalTime, hostname: Option<&str>, ident: &str, pid: u32, message: &str) -> String {
    let mut out = Vec::with_capacity(64 + message.len());
    push_syslog_message(&mut out, pri, t, hostname, ident, pid, message);
    text(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{LocalZone, Stamp};

    fn at(zone: &str, secs: i64, micros: u32) -> LocalTime {
        LocalZone::named(zone).unwrap().local(Stamp { unix_secs: secs, micros })
    }

    #[test]
    fn spam_line_is_the_historic_format() {
        // 2026-11-21 06:19:22 UTC
        let t = at("Europe/Berlin", 1_795_241_962, 0);
        let addr = "203.0.113.9".parse().unwrap();
        assert_eq!(spam_line(&t, 527, addr), "2026-11-21 07:19:22 comment id=527 from host=203.0.113.9 marked as spam");
        let v6 = "2001:db8::2:1".parse().unwrap();
        assert_eq!(spam_line(&t, 1, v6), "2026-11-21 07:19:22 comment id=1 from host=2001:db8::2:1 marked as spam");
    }

    #[test]
    fn spam_tails_read_back() {
        let a: IpAddr = "2001:db8::2:1".parse().unwrap();
        let mut tail = Vec::new();
        push_spam_tail(&mut tail, 527, a);
        assert_eq!(parse_spam_tail(std::str::from_utf8(&tail).unwrap()), Some((527, a)));
        for bad in [
            " comment id=0527 from host=203.0.113.9 marked as spam",
            " comment id=+5 from host=203.0.113.9 marked as spam",
            " comment id= from host=203.0.113.9 marked as spam",
            " comment id=5 from host=2001:DB8::1 marked as spam",
            " comment id=5 from host=203.0.113.9 marked as spam!",
            " comment id=5 from host=203.0.113.9 from host=1.2.3.4 marked as spam",
            " comment id=99999999999999999999 from host=203.0.113.9 marked as spam",
            "comment id=5 from host=203.0.113.9 marked as spam",
        ] {
            assert_eq!(parse_spam_tail(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn spam_tails_round_trip(id: u64, v4: u32, v6: u128) {
            for addr in [IpAddr::from(std::net::Ipv4Addr::from(v4)), IpAddr::from(Ipv6Addr::from(v6))] {
                let Ok(addr) = crate::parse_addr(addr.to_string().as_bytes()) else { continue };
                let mut tail = Vec::new();
                push_spam_tail(&mut tail, id, addr);
                proptest::prop_assert_eq!(parse_spam_tail(std::str::from_utf8(&tail).unwrap()), Some((id, addr)));
            }
        }

        #[test]
        fn pushed_numbers_and_addresses_print_as_display_does(
            n: u64,
            v4: u32,
            v6: u128,
            mapped: u32,
            sparse in proptest::collection::vec(proptest::sample::select(vec![0u16, 0, 0, 1, 0xab, 0xffff]), 8),
        ) {
            let sparse: [u16; 8] = sparse.try_into().unwrap();
            let sparse = std::net::Ipv6Addr::from(sparse);
            let mut out = Vec::new();
            push_u64(&mut out, n);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
            let mapped = std::net::Ipv4Addr::from(mapped).to_ipv6_mapped();
            for addr in [
                IpAddr::from(std::net::Ipv4Addr::from(v4)),
                IpAddr::from(std::net::Ipv6Addr::from(v6)),
                mapped.into(),
                sparse.into(),
            ] {
                let mut out = Vec::new();
                push_addr(&mut out, addr);
                proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), addr.to_string());
            }
        }

        #[test]
        fn times_print_as_the_time_crate_does(secs in -2_000_000_000i64..8_000_000_000, micros in 0u32..1_000_000) {
            let t = LocalZone::named("America/St_Johns").unwrap().local(Stamp { unix_secs: secs, micros });
            let d = t.dt;
            let want = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                d.year(), d.month() as u8, d.day(), d.hour(), d.minute(), d.second()
            );
            proptest::prop_assert_eq!(spam_time(&t), want.clone());
            let off = t.offset_seconds();
            let want3339 = format!(
                "{}.{:06}{}{:02}:{:02}",
                want.replace(' ', "T"), micros, if off < 0 { '-' } else { '+' },
                off.unsigned_abs() / 3600, off.unsigned_abs() % 3600 / 60
            );
            proptest::prop_assert_eq!(rfc3339_time(&t), want3339);
            let want3164 = format!("{} {:>2} {}", MONTHS[d.month() as usize - 1], d.day(), &want[11..]);
            proptest::prop_assert_eq!(rfc3164_time(&t), want3164);
        }
    }

    #[test]
    fn every_pattern_of_zero_groups_prints_as_display_does() {
        for mask in 0u32..256 {
            let groups: [u16; 8] =
                std::array::from_fn(|i| if mask >> i & 1 == 1 { 0x0a0 + u16::try_from(i).unwrap() } else { 0 });
            let addr = IpAddr::from(Ipv6Addr::from(groups));
            let mut out = Vec::new();
            push_addr(&mut out, addr);
            assert_eq!(String::from_utf8(out).unwrap(), addr.to_string());
        }
    }

    #[test]
    fn syslog_times() {
        let t = at("Europe/Berlin", 1_795_241_962, 42);
        assert_eq!(rfc3164_time(&t), "Nov 21 07:19:22");
        assert_eq!(rfc3339_time(&t), "2026-11-21T07:19:22.000042+01:00");
        let early = at("America/St_Johns", 1_775_000_000, 0); // 2026-04-01, NDT = -02:30
        assert_eq!(rfc3164_time(&early), "Mar 31 21:03:20");
        assert_eq!(rfc3339_time(&early), "2026-03-31T21:03:20.000000-02:30");
        let first = at("UTC", 1_793_491_200, 0); // 2026-11-01
        assert_eq!(rfc3164_time(&first), "Nov  1 00:00:00");
    }

    #[test]
    fn auth_lines() {
        let t = at("Europe/Berlin", 1_795_241_962, 0);
        let msg = "Authentication failure for admin from 203.0.113.9";
        assert_eq!(ident("example.com"), "wordpress(example.com)");
        assert_eq!(ident(""), "wordpress");
        assert_eq!(
            auth_file_line(&t, "web1", &ident("example.com"), 4242, msg),
            "2026-11-21T07:19:22.000000+01:00 web1 wordpress(example.com)[4242]: \
             Authentication failure for admin from 203.0.113.9"
        );
        assert_eq!(
            syslog_message(36, &t, None, "wordpress(example.com)", 4242, msg),
            "<36>Nov 21 07:19:22 wordpress(example.com)[4242]: \
             Authentication failure for admin from 203.0.113.9"
        );
        assert_eq!(
            syslog_message(36, &t, Some("web1"), "wordpress", 7, msg),
            "<36>Nov 21 07:19:22 web1 wordpress[7]: Authentication failure for admin from 203.0.113.9"
        );
    }
}
