//! `banlog sample`: example lines of every kind banlog writes, in every layout they reach a log
//! in, made by the same core functions the extension uses. For trying a filter or a jail once the
//! filters are installed (`banlog sample > s.log; fail2ban-regex s.log banlog-auth`; the RFC 5424
//! lines need `banlog-auth[logtype=rfc5424]`) and for banlog's own filter tests.

use std::net::IpAddr;

use banlog_core::auth::{auth_message, spam_message};
use banlog_core::clock::{LocalZone, Stamp};
use banlog_core::line::{auth_file_line, ident, rfc3164_time, rfc3339_time, spam_line};
use banlog_core::{AuthKind, Detail};
use serde::Serialize;

/// Where a line is read from, and so what precedes the message.
pub const LAYOUTS: [&str; 6] = ["traditional", "rsyslog-file", "auth-log", "short-iso", "journal", "rfc5424"];

#[derive(Debug, Serialize)]
pub struct Sample {
    /// `spam`, `spam_mirror` or an auth event name (`failure`, `unknown_user`, …).
    pub kind: String,
    /// `spam-log` or one of [`LAYOUTS`].
    pub layout: String,
    pub line: String,
    /// The address fail2ban must read from the line.
    pub addr: String,
    /// The jails whose filter must match the line (none for a successful login or a logout).
    pub jails: Vec<&'static str>,
}

pub struct Params {
    pub addr: IpAddr,
    /// Already sanitized.
    pub user: String,
    pub site_host: String,
    pub hostname: String,
    pub pid: u32,
    pub comment_id: u64,
    pub stamp: Stamp,
    pub zone: LocalZone,
}

/// The jail meant to count each kind of event: the contract between the line kinds and
/// `jail.d/banlog.conf`.
pub fn jails_for(kind: &str) -> Vec<&'static str> {
    match kind {
        "spam" | "spam_mirror" => vec!["banlog-spam"],
        "failure" | "unknown_user" | "xmlrpc_failure" | "rest_failure" => vec!["banlog-auth"],
        "xmlrpc_unknown_user" | "rest_unknown_user" | "multicall_failure" => vec!["banlog-auth-hard"],
        "pingback" | "trackback" => vec!["banlog-pingback"],
        "comment_flood" => vec!["banlog-comment-flood"],
        "user_enumeration" | "user_enumeration_blocked" => vec!["banlog-user-enum"],
        _ => vec![],
    }
}

pub fn samples(p: &Params) -> Vec<Sample> {
    let t = p.zone.local(p.stamp);
    let ident = ident(&p.site_host);
    // A pingback's detail is its fault code, not the user name.
    let detail = |k: AuthKind| if k.detail() == Detail::Code { "17" } else { p.user.as_str() };
    let mut messages: Vec<(String, String)> =
        AuthKind::ALL.iter().map(|k| (k.name().to_owned(), auth_message(*k, detail(*k), p.addr))).collect();
    messages.push(("spam_mirror".into(), spam_message(p.comment_id, p.addr)));

    let mut out = vec![Sample {
        kind: "spam".into(),
        layout: "spam-log".into(),
        line: spam_line(&t, p.comment_id, p.addr),
        addr: p.addr.to_string(),
        jails: jails_for("spam"),
    }];
    let iso = rfc3339_time(&t);
    // journalctl -o short-iso: seconds, and the offset without a colon.
    let short_iso = format!("{}{}", &iso[..19], iso[26..].replace(':', ""));
    for (kind, msg) in &messages {
        let (h, id, pid) = (&p.hostname, &ident, p.pid);
        let app = ident.as_str();
        for layout in LAYOUTS {
            let line = match layout {
                "traditional" => format!("{} {h} {id}[{pid}]: {msg}", rfc3164_time(&t)),
                "rsyslog-file" => format!("{iso} {h} {id}[{pid}]: {msg}"),
                "auth-log" => auth_file_line(&t, h, id, pid, msg),
                "short-iso" => format!("{short_iso} {h} {id}[{pid}]: {msg}"),
                // What fail2ban's systemd backend hands its filter (the time travels apart).
                "journal" => format!("{h} {id}[{pid}]: {msg}"),
                // RSYSLOG_SyslogProtocol23Format. The PRI the extension sends with its default
                // facility auth (4): severity notice (5), info (6) for a successful login or a
                // logout (tests/filters/test_sample_pri.py holds the two together).
                "rfc5424" => {
                    let info = AuthKind::from_name(kind.as_bytes()).is_ok_and(|k| !k.is_failure());
                    let pri = 4 * 8 + if info { 6 } else { 5 };
                    format!("<{pri}>1 {iso} {h} {app} {pid} - - {msg}")
                }
                _ => unreachable!(),
            };
            out.push(Sample {
                kind: kind.clone(),
                layout: layout.into(),
                line,
                addr: p.addr.to_string(),
                jails: jails_for(kind),
            });
        }
    }
    out
}
