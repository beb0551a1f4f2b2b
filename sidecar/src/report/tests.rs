use super::*;

use banlog_core::auth::auth_message;
use banlog_core::line::{auth_file_line, ident, spam_line};
use banlog_core::Stamp;

const T0: i64 = 1_795_245_562; // 2026-11-21 07:19:22 UTC

fn utc_at(t: i64) -> banlog_core::clock::LocalTime {
    LocalZone::utc().local(Stamp { unix_secs: t, micros: 0 })
}

fn f2b(t: i64, jail: &str, what: &str, addr: &str) -> String {
    let stamp = crate::simulate::local_text(t, &LocalZone::utc());
    format!("{},123 fail2ban.actions        [812]: NOTICE  [{jail}] {what} {addr}", &stamp[..19])
}

fn options(dir: &std::path::Path, first_day: i64, last_day: i64) -> Options {
    let p = |n: &str| dir.join(n).display().to_string();
    Options {
        fail2ban_logs: vec![p("fail2ban.log")],
        spam_logs: vec![p("spam.log")],
        auth_logs: vec![p("auth.log")],
        journal: false,
        rotated: true,
        first_day,
        last_day,
        zone: LocalZone::utc(),
        now: T0 + 86400,
        notes: Vec::new(),
    }
}

/// Day 1: 5 spam from A, banned 60 s after the first, unbanned, 5 more, banned again; 5 failed
/// logins from B, banned; a success from C. Day 2: one unknown XML-RPC user from B, banned at
/// once. fail2ban's log also holds another jail with markup in its name.
fn write_logs(dir: &std::path::Path) {
    let (a, b, c) = ("203.0.113.9", "2001:db8::7", "198.51.100.23");
    let ap = a.parse().unwrap();
    let bp = b.parse().unwrap();
    let mut spam = String::new();
    for (i, id) in (0..5).zip(100..) {
        spam += &format!("{}\n", spam_line(&utc_at(T0 + 15 * i), id, ap));
    }
    for (i, id) in (0..5).zip(200..) {
        spam += &format!("{}\n", spam_line(&utc_at(T0 + 600 + i), id, ap));
    }
    std::fs::write(dir.join("spam.log"), spam).unwrap();
    let id = ident("example.com");
    let mut auth = String::from("Nov 21 07:00:00 web1 sshd[1]: Failed password for root from 6.6.6.6 port 22 ssh2\n");
    for i in 0..5 {
        let msg = auth_message(AuthKind::Failure, "admin", bp);
        auth += &format!("{}\n", auth_file_line(&utc_at(T0 + 10 * i), "web1", &id, 42, &msg));
    }
    auth += &format!(
        "{}\n",
        auth_file_line(&utc_at(T0 + 100), "web1", &id, 42, &auth_message(AuthKind::Success, "ed", c.parse().unwrap()))
    );
    auth += &format!(
        "{}\n",
        auth_file_line(&utc_at(T0 + 86400), "web1", &id, 42, &auth_message(AuthKind::XmlrpcUnknownUser, "x", bp))
    );
    // The syslog mirror of a spam line: not counted twice, a spam log is read.
    auth += &format!("{}\n", auth_file_line(&utc_at(T0), "web1", &id, 42, &banlog_core::auth::spam_message(100, ap)));
    std::fs::write(dir.join("auth.log"), auth).unwrap();
    let f2b_log = [
        f2b(T0 + 60, "banlog-spam", "Ban", a),
        f2b(T0 + 40, "banlog-auth", "Ban", "2001:DB8::7"),
        f2b(T0 + 120, "banlog-spam", "Unban", a),
        f2b(T0 + 604, "banlog-spam", "Ban", a),
        f2b(T0 + 700, "banlog-spam", "Unban", a),
        f2b(T0 + 3640, "banlog-auth", "Unban", b),
        f2b(T0 + 86400, "banlog-auth-hard", "Ban", b),
        f2b(T0 + 86400 + 5, "<b>x</b>", "Restore Ban", "192.0.2.1"),
        "2026-11-21 07:00:00,000 fail2ban.server         [812]: INFO    Starting Fail2ban v1.0.2".to_owned(),
    ];
    std::fs::write(dir.join("fail2ban.log"), f2b_log.join("\n") + "\n").unwrap();
}

#[test]
fn figures_of_a_ban_run() {
    let dir = tempfile::tempdir().unwrap();
    write_logs(dir.path());
    let day1 = day_of(T0, &LocalZone::utc());
    let r = run(&options(dir.path(), day1, day1 + 1)).unwrap();
    assert_eq!(r.days.len(), 2);
    assert_eq!(r.days[0].date, "2026-11-21");
    let d1 = &r.days[0].summary;
    assert_eq!(d1.events["spam"], 10);
    assert_eq!(d1.events["failure"], 5);
    assert_eq!(d1.events["success"], 1);
    assert_eq!(d1.events["xmlrpc_unknown_user"], 0);
    let spam = &d1.jails["banlog-spam"];
    assert_eq!((spam.bans, spam.unbans, spam.repeat_bans), (2, 2, 1));
    // First ban 60 s after the first spam; the second 4 s after the first spam since the first ban.
    let d = spam.ban_delay.as_ref().unwrap();
    assert_eq!((d.bans, d.median_seconds, d.max_seconds), (2, 4, 60));
    assert_eq!(d1.jails["banlog-auth"].ban_delay.as_ref().unwrap().max_seconds, 40);
    assert_eq!(d1.top_addresses[0].addr, "203.0.113.9");
    assert_eq!((d1.top_addresses[0].events, d1.top_addresses[0].bans), (10, 2));
    assert_eq!(d1.repeat_offenders.len(), 1);
    assert_eq!(
        (d1.repeat_offenders[0].addr.as_str(), d1.repeat_offenders[0].jail.as_str()),
        ("203.0.113.9", "banlog-spam")
    );
    let d2 = &r.days[1].summary;
    assert_eq!(d2.events["xmlrpc_unknown_user"], 1);
    assert_eq!(d2.jails["banlog-auth-hard"].bans, 1);
    assert_eq!(d2.jails["banlog-auth-hard"].ban_delay.as_ref().unwrap().max_seconds, 0);
    assert_eq!(d2.jails["<b>x</b>"].restored, 1);
    assert_eq!(r.totals.events["spam"], 10);
    assert_eq!(r.totals.jails["banlog-spam"].bans, 2);
    assert_eq!(r.totals.jails["banlog-auth"].unbans, 1);
    assert_eq!(r.totals.top_addresses[0].addr, "203.0.113.9");
    let auth = r.sources.iter().find(|s| s.role == "auth").unwrap();
    assert_eq!((auth.lines, auth.records, auth.mirrored), (9, 7, 1));
    // Every day's maps hold every kind and every jail.
    for d in &r.days {
        assert_eq!(d.summary.events.len(), kinds().len());
        assert_eq!(d.summary.jails.len(), r.jails.len());
    }
    let text = text::render(&r);
    assert!(text.contains("banlog-spam: 2 bans, 2 unbans, 1 of an address banned before"), "{text}");
    let page = html::render(&r);
    assert!(!page.contains("<b>x</b>") && page.contains("&lt;b&gt;x&lt;/b&gt;"));
}

#[test]
fn the_period_leaves_out_other_days_but_not_their_failures() {
    let dir = tempfile::tempdir().unwrap();
    write_logs(dir.path());
    let day2 = day_of(T0, &LocalZone::utc()) + 1;
    let r = run(&options(dir.path(), day2, day2)).unwrap();
    assert_eq!(r.totals.events["spam"], 0);
    assert_eq!(r.totals.jails["banlog-spam"].bans, 0);
    assert_eq!(r.totals.jails["banlog-auth-hard"].bans, 1);
    // The hard jail's ban came for the line of that day; B's failures of the day before led to
    // the soft jail's ban, which is outside the period.
    assert_eq!(r.totals.jails["banlog-auth-hard"].ban_delay.as_ref().unwrap().median_seconds, 0);
}

#[test]
fn missing_logs_and_fifos_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_logs(dir.path());
    let mut o = options(dir.path(), 0, 0);
    o.spam_logs = vec![dir.path().join("nope.log").display().to_string()];
    let e = run(&o).unwrap_err().to_string();
    assert!(e.contains("nope.log") && e.contains("No such file"), "{e}");
    let fifo = dir.path().join("fifo.log");
    let c = std::ffi::CString::new(fifo.display().to_string()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    o.spam_logs = vec![fifo.display().to_string()];
    let e = run(&o).unwrap_err().to_string();
    assert!(e.contains("is a FIFO (named pipe), not a regular file"), "{e}");
}

#[test]
fn periods() {
    let today = parse_date("2026-11-30").unwrap();
    assert_eq!(period(None, None, today).unwrap(), (today - 6, today));
    assert_eq!(period(None, Some(1), today).unwrap(), (today, today));
    assert_eq!(period(Some("2026-11-01"), None, today).unwrap(), (today - 29, today));
    assert_eq!(period(Some("2026-11-01"), Some(2), today).unwrap(), (today - 29, today - 28));
    for (since, days) in [(Some("2026-02-30"), None), (Some("2026-12-01"), None), (None, Some(0)), (None, Some(99999))]
    {
        assert!(period(since, days, today).is_err(), "{since:?} {days:?}");
    }
    assert!(parse_date("2026-1-01").is_none());
    assert!(parse_date("２026-11-01").is_none());
}
