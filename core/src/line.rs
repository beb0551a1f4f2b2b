//! The exact bytes of every line banlog writes. These are the contract with fail2ban: the filters
//! in `filters/` are tested against the output of these functions.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::clock::LocalTime;

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `YYYY-MM-DD HH:MM:SS`, the spam log's time.
pub fn spam_time(t: &LocalTime) -> String {
    let d = t.dt;
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        d.year(),
        d.month() as u8,
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

/// One spam log line, without the newline:
/// `2026-11-21 07:19:22 comment id=527 from host=203.0.113.9 marked as spam`.
///
/// The historic Spam Log filter `^\s*comment id=\d+ from host=<HOST> marked as spam$` matches it
/// after fail2ban has cut the time stamp off.
pub fn spam_line(t: &LocalTime, comment_id: u64, addr: IpAddr) -> String {
    format!("{} comment id={comment_id} from host={addr} marked as spam", spam_time(t))
}

/// `Nov 21 07:19:22` (RFC 3164: day padded with a space, as glibc's `syslog()` writes it).
pub fn rfc3164_time(t: &LocalTime) -> String {
    let d = t.dt;
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[d.month() as usize - 1],
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

/// `2026-11-21T07:19:22.123456+01:00`, rsyslog's `RSYSLOG_FileFormat` time.
pub fn rfc3339_time(t: &LocalTime) -> String {
    let d = t.dt;
    let off = t.offset_seconds();
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.unsigned_abs();
    let mut s = String::with_capacity(32);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}{:02}:{:02}",
        d.year(),
        d.month() as u8,
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        t.micros,
        sign,
        off / 3600,
        off % 3600 / 60
    );
    s
}

/// The syslog ident: `wordpress(example.com)`, or `wordpress` when no site host is known.
/// `site_host` must have passed [`crate::sanitize_ident_host`].
pub fn ident(site_host: &str) -> String {
    if site_host.is_empty() {
        "wordpress".to_owned()
    } else {
        format!("wordpress({site_host})")
    }
}

/// A line of the `auth_log` file (hosts without a syslog daemon), in rsyslog's file format, so
/// that the same auth filter reads it:
/// `2026-11-21T07:19:22.123456+01:00 web1 wordpress(example.com)[4242]: <message>`.
pub fn auth_file_line(t: &LocalTime, hostname: &str, ident: &str, pid: u32, message: &str) -> String {
    format!("{} {hostname} {ident}[{pid}]: {message}", rfc3339_time(t))
}

/// An RFC 3164 syslog message as sent to a syslog daemon:
/// `<PRI>Nov 21 07:19:22 [hostname ]wordpress(example.com)[4242]: <message>`.
/// Local sockets get no hostname (like glibc), remote collectors get one.
pub fn syslog_message(
    pri: u8,
    t: &LocalTime,
    hostname: Option<&str>,
    ident: &str,
    pid: u32,
    message: &str,
) -> String {
    match hostname {
        Some(h) => format!("<{pri}>{} {h} {ident}[{pid}]: {message}", rfc3164_time(t)),
        None => format!("<{pri}>{} {ident}[{pid}]: {message}", rfc3164_time(t)),
    }
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
        assert_eq!(
            spam_line(&t, 527, addr),
            "2026-11-21 07:19:22 comment id=527 from host=203.0.113.9 marked as spam"
        );
        let v6 = "2001:db8::2:1".parse().unwrap();
        assert_eq!(
            spam_line(&t, 1, v6),
            "2026-11-21 07:19:22 comment id=1 from host=2001:db8::2:1 marked as spam"
        );
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
