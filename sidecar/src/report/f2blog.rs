//! fail2ban's own log lines, as Debian's fail2ban 1.0.2 writes them to its log file:
//!
//! ```text
//! 2026-11-30 21:05:01,123 fail2ban.filter         [812]: INFO    [banlog-spam] Found 203.0.113.9 - 2026-11-30 21:05:00
//! 2026-11-30 21:05:01,456 fail2ban.actions        [812]: NOTICE  [banlog-spam] Ban 203.0.113.9
//! 2026-11-30 21:05:31,789 fail2ban.actions        [812]: NOTICE  [banlog-spam] Unban 203.0.113.9
//! 2026-11-30 22:00:00,001 fail2ban.actions        [812]: NOTICE  [banlog-spam] Restore Ban 203.0.113.9
//! ```
//!
//! (`%(asctime)s %(name)-24s[%(process)d]: %(levelname)-7s %(message)s`; the same lines sent to
//! syslog, with a host name before the logger's name, are read too.) The time stamp is cut off by
//! [`crate::matcher::Matcher::cut_date`], as for banlog's lines; this module reads the rest.

use std::net::IpAddr;

use regex::Regex;

/// The longest jail name read; a longer one makes the line unreadable (fail2ban's own jail names
/// are section names of its configuration, a few words at most).
pub const MAX_JAIL: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// fail2ban counted a failure; with the time of the log line it read.
    Found,
    Ban,
    /// A ban taken over from fail2ban's database at start-up: not a new ban.
    RestoreBan,
    Unban,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub jail: String,
    pub action: Action,
    pub addr: IpAddr,
    /// For `Found`: the failure's own time (`YYYY-MM-DD HH:MM:SS`, local), as fail2ban prints it.
    pub found_at: Option<String>,
}

pub struct F2bParser {
    re: Regex,
}

impl Default for F2bParser {
    fn default() -> Self {
        Self::new()
    }
}

impl F2bParser {
    pub fn new() -> Self {
        // The jail is matched lazily up to the first `] <action> `, so that a `]` inside a jail
        // name cannot shift the action or the address.
        let re = Regex::new(&format!(
            r"^\s*(?:\S+\s+)?fail2ban\.(?:actions|filter)\s*\[\d+\]:\s+[A-Z]+\s+\[(?P<jail>.{{1,{MAX_JAIL}}}?)\] (?P<what>Restore Ban|Ban|Unban|Found) (?P<id>\S{{1,64}})(?: - (?P<at>\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d))?$"
        ))
        .expect("built-in expression");
        F2bParser { re }
    }

    /// Reads the part of a line after its time stamp; `None` for every other line of fail2ban's
    /// log (start-up, jail changes, warnings) and for an id that is not a host address.
    pub fn parse(&self, rest: &str) -> Option<Record> {
        let c = self.re.captures(rest)?;
        let action = match &c["what"] {
            "Found" => Action::Found,
            "Ban" => Action::Ban,
            "Restore Ban" => Action::RestoreBan,
            _ => Action::Unban,
        };
        let addr = banlog_core::parse_addr(c["id"].as_bytes()).ok()?;
        Some(Record {
            jail: c["jail"].to_owned(),
            action,
            addr,
            found_at: c.name("at").filter(|_| action == Action::Found).map(|m| m.as_str().to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::Matcher;

    fn read(line: &str) -> Option<Record> {
        let (rest, t) = Matcher::new().cut_date(line);
        assert!(t.is_some(), "{line}");
        F2bParser::new().parse(&rest)
    }

    #[test]
    fn debian_1_0_2_lines() {
        let ban = read("2026-11-30 21:05:01,456 fail2ban.actions        [812]: NOTICE  [banlog-spam] Ban 203.0.113.9")
            .unwrap();
        assert_eq!((ban.jail.as_str(), ban.action), ("banlog-spam", Action::Ban));
        assert_eq!(ban.addr, "203.0.113.9".parse::<IpAddr>().unwrap());
        let unban =
            read("2026-11-30 21:05:31,789 fail2ban.actions        [812]: NOTICE  [banlog-auth] Unban 2001:DB8::1")
                .unwrap();
        assert_eq!((unban.action, unban.addr.to_string()), (Action::Unban, "2001:db8::1".to_owned()));
        let restore =
            read("2026-11-30 22:00:00,001 fail2ban.actions        [812]: NOTICE  [sshd] Restore Ban 198.51.100.7")
                .unwrap();
        assert_eq!(restore.action, Action::RestoreBan);
        let found = read(
            "2026-11-30 21:05:01,123 fail2ban.filter         [812]: INFO    [banlog-spam] Found 203.0.113.9 - 2026-11-30 21:05:00",
        )
        .unwrap();
        assert_eq!((found.action, found.found_at.as_deref()), (Action::Found, Some("2026-11-30 21:05:00")));
        // Through syslog: a host name before the logger's name, no padding.
        let syslog = read("Nov 30 21:05:01 web1 fail2ban.actions[812]: NOTICE [banlog-spam] Ban 203.0.113.9").unwrap();
        assert_eq!(syslog.action, Action::Ban);
    }

    #[test]
    fn other_lines_and_hostile_ones_are_not_records() {
        for line in [
            "2026-11-30 21:05:01,456 fail2ban.server         [812]: INFO    Starting Fail2ban v1.0.2",
            "2026-11-30 21:05:01,456 fail2ban.jail           [812]: INFO    Jail 'banlog-spam' started",
            "2026-11-30 21:05:01,456 fail2ban.actions        [812]: WARNING [banlog-spam] 203.0.113.9 already banned",
            "2026-11-30 21:05:01,456 fail2ban.actions        [812]: NOTICE  [banlog-spam] Ban user@example.com",
            "2026-11-30 21:05:01,456 fail2ban.actions        [812]: NOTICE  [banlog-spam] Ban 203.0.113.9 extra",
            "2026-11-30 21:05:01,456 fail2ban.actions        [812]: NOTICE  [] Ban 203.0.113.9",
            "2026-11-30 21:05:01,456 wordpress[1]: NOTICE  [banlog-spam] Ban 203.0.113.9",
        ] {
            assert_eq!(read(line), None, "{line}");
        }
        let long =
            format!("2026-11-30 21:05:01,456 fail2ban.actions [1]: NOTICE [{}] Ban 1.2.3.4", "j".repeat(MAX_JAIL + 1));
        assert_eq!(read(&long), None);
        // Markup and a `]` in a jail name stay text; the action and address are still found.
        let odd =
            read("2026-11-30 21:05:01,456 fail2ban.actions [1]: NOTICE [<b>x] Ban 9.9.9.9</b>] Ban 1.2.3.4").unwrap();
        assert_eq!((odd.jail.as_str(), odd.addr.to_string()), ("<b>x] Ban 9.9.9.9</b>", "1.2.3.4".to_owned()));
        let odd =
            read("2026-11-30 21:05:01,456 fail2ban.actions [1]: NOTICE [<script>a]</script>] Unban 1.2.3.4").unwrap();
        assert_eq!((odd.jail.as_str(), odd.action), ("<script>a]</script>", Action::Unban));
    }
}
