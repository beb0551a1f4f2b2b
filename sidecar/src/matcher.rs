//! The shipped filters, as Rust regular expressions.
//!
//! fail2ban first finds the time stamp at the start of a line and cuts it out, then applies the
//! filter's prefregex and failregex to what is left. This module does the same, with the same
//! expressions the filter files expand to (common.conf's `<ADDR>`, `<__hostname>`, `<__pid_re>`
//! and fail2ban's default date templates for the time stamps syslog, rsyslog, journald and banlog
//! write). `banlog check` uses it so that it works where fail2ban is not installed; the tests hold
//! its counts against the real `fail2ban-regex` on the same files.

use regex::{Captures, Regex};

/// The filters (and filter modes) a line is checked against, in jail order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FilterId {
    /// `banlog-spam`
    Spam,
    /// `banlog-auth[mode=soft]`
    AuthSoft,
    /// `banlog-auth[mode=hard]`
    AuthHard,
    /// `banlog-auth[mode=pingback]`
    Pingback,
    /// `banlog-auth[mode=flood]`
    Flood,
    /// `banlog-auth[mode=enumeration]`
    Enumeration,
}

impl FilterId {
    pub const ALL: [FilterId; 6] = [
        FilterId::Spam,
        FilterId::AuthSoft,
        FilterId::AuthHard,
        FilterId::Pingback,
        FilterId::Flood,
        FilterId::Enumeration,
    ];

    /// The filter as fail2ban names it (with its options).
    pub fn filter(self) -> &'static str {
        match self {
            FilterId::Spam => "banlog-spam",
            FilterId::AuthSoft => "banlog-auth[mode=soft]",
            FilterId::AuthHard => "banlog-auth[mode=hard]",
            FilterId::Pingback => "banlog-auth[mode=pingback]",
            FilterId::Flood => "banlog-auth[mode=flood]",
            FilterId::Enumeration => "banlog-auth[mode=enumeration]",
        }
    }

    /// The jail in `jail.d/banlog.conf` that uses it.
    pub fn jail(self) -> &'static str {
        match self {
            FilterId::Spam => "banlog-spam",
            FilterId::AuthSoft => "banlog-auth",
            FilterId::AuthHard => "banlog-auth-hard",
            FilterId::Pingback => "banlog-pingback",
            FilterId::Flood => "banlog-comment-flood",
            FilterId::Enumeration => "banlog-user-enum",
        }
    }

    pub fn from_jail(name: &str) -> Option<FilterId> {
        Self::ALL.into_iter().find(|f| f.jail() == name)
    }
}

/// A time stamp as written at the start of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTime {
    /// Absent in RFC 3164 stamps (`Nov 21 07:19:22`).
    pub year: Option<i32>,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Seconds east of UTC when the stamp names its zone; None: the reader's local time.
    pub offset: Option<i32>,
    /// Seconds since the epoch, for a stamp that is one (`journalctl -o short-unix`); the
    /// fields above are then unused.
    pub epoch: Option<i64>,
}

/// What the filters make of one line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineMatch {
    pub time: Option<LineTime>,
    /// The address each matching filter reads from the line.
    pub hits: Vec<(FilterId, String)>,
}

/// fail2ban's `<ADDR>` (`failregex.py`: an IPv4 or IPv6 address, optionally in brackets).
/// fail2ban's IPv6 expression ends in `(?<=:):`; every repetition before it ends in a colon, so
/// the look-behind always holds and a plain `:` is equivalent.
const ADDR: &str = r"\[?(?:(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})|(?P<ip6>(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|:)))\]?";

/// `\s*(?:<__hostname>\s+)?<__banlog_ident><__pid_re>?:\s+` with `_daemon = wordpress`.
const PREFIX: &str = r"^\s*(?:\S+\s+)?wordpress(?:\([^\s()]*\))?(?:\[\d+\])?:\s+";

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

pub struct Matcher {
    /// `{^LN-BEG}(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`
    date_bsd: Regex,
    /// `{^LN-BEG}%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?`
    date_iso: Regex,
    /// fail2ban's `EPOCH` at the line's start (`journalctl -o short-unix`): `1732990000.123456`.
    date_epoch: Regex,
    spam: Vec<Regex>,
    prefix: Regex,
    soft: Vec<Regex>,
    hard: Vec<Regex>,
    /// The abuse modes of banlog-auth, each with its filter.
    abuse: Vec<(FilterId, Vec<Regex>)>,
}

impl Default for Matcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Matcher {
    pub fn new() -> Self {
        let re = |s: &str| Regex::new(&s.replace("<ADDR>", ADDR)).expect("built-in expression");
        let user_lines =
            |leads: &[&str]| -> Vec<Regex> { leads.iter().map(|l| re(&format!("^{l} .* from <ADDR>$"))).collect() };
        let mut hard = user_lines(&[
            "XML-RPC authentication attempt for unknown user",
            "REST authentication attempt for unknown user",
        ]);
        hard.push(re("^XML-RPC multicall authentication failure from <ADDR>$"));
        Matcher {
            // A zone-name-like word (fail2ban's `%Z`, case-insensitive) may precede the month.
            // `\b` stands for fail2ban's `(?=\b|\W|$)`: a stamp always ends in a digit.
            date_bsd: Regex::new(
                r"(?i)^\W{0,2}((?:(?:Z|[A-Z]{3,5}) )?(?:(?:mon|tue|wed|thu|fri|sat|sun) )?(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) ([1-2]\d|[0 ]?[1-9]|3[0-1])  ?([0-2]?\d):([0-5]?\d):([0-5]?\d|6[0-1])(?:\.[0-9]{1,6})?(?: (20[012]\d))?)\b",
            )
            .unwrap(),
            date_iso: Regex::new(
                r"^\W{0,2}((20[012]\d)([-/.])(0?[1-9]|1[0-2])([-/.])([1-2]\d|[0 ]?[1-9]|3[0-1])(?:T|  ?)([0-1]?\d|2[0-3]):([0-5]?\d):([0-5]?\d|6[0-1])(?:[.,][0-9]{1,6})?(?:\s*(Z|UTC|GMT|[+-][01]\d(?::?\d{2})?))?)\b",
            )
            .unwrap(),
            date_epoch: Regex::new(r"^\[?((\d{10,11})\b(?:\.\d{3,6})?)").unwrap(),
            spam: vec![
                re(r"^\s*comment id=\d+ from host=<ADDR> marked as spam$"),
                re(&format!(r"{PREFIX}Spam comment \d+ from <ADDR>$")),
            ],
            prefix: Regex::new(&format!("{PREFIX}(?P<content>.+)$")).unwrap(),
            soft: user_lines(&[
                "Authentication failure for",
                "Authentication attempt for unknown user",
                "XML-RPC authentication failure for",
                "REST authentication failure for",
            ]),
            hard,
            abuse: vec![
                (
                    FilterId::Pingback,
                    vec![re(r"^Pingback error -?\d+ generated from <ADDR>$"), re("^Trackback error from <ADDR>$")],
                ),
                (FilterId::Flood, vec![re("^Comment flood from <ADDR>$")]),
                (FilterId::Enumeration, vec![re("^(?:Blocked u|U)ser enumeration attempt from <ADDR>$")]),
            ],
        }
    }

    /// Finds the time stamp at the start of `line` and returns the line without it, as fail2ban
    /// does before it applies a filter. A line without a stamp is matched whole.
    pub fn cut_date(&self, line: &str) -> (String, Option<LineTime>) {
        if let Some(c) = self.date_bsd.captures(line) {
            // The regex admits only these twelve names.
            let month = MONTHS.iter().zip(1u8..).find(|(m, _)| m.eq_ignore_ascii_case(&c[2])).map_or(1, |(_, n)| n);
            let t = LineTime {
                year: c.get(7).map(|y| y.as_str().parse().unwrap()),
                month,
                day: c[3].trim().parse().unwrap(),
                hour: c[4].parse().unwrap(),
                minute: c[5].parse().unwrap(),
                second: c[6].parse().unwrap(),
                offset: None,
                epoch: None,
            };
            return (cut(line, &c), Some(t));
        }
        if let Some(c) = self.date_iso.captures(line) {
            // fail2ban requires the same separator twice (a back-reference).
            if c[3] == c[5] {
                let t = LineTime {
                    year: Some(c[2].parse().unwrap()),
                    month: c[4].parse().unwrap(),
                    day: c[6].trim().parse().unwrap(),
                    hour: c[7].parse().unwrap(),
                    minute: c[8].parse().unwrap(),
                    second: c[9].parse().unwrap(),
                    offset: c.get(10).map(|z| zone_offset(z.as_str())),
                    epoch: None,
                };
                return (cut(line, &c), Some(t));
            }
        }
        if let Some(c) = self.date_epoch.captures(line) {
            if let Ok(e) = c[2].parse::<i64>() {
                let t = LineTime {
                    year: None,
                    month: 1,
                    day: 1,
                    hour: 0,
                    minute: 0,
                    second: 0,
                    offset: Some(0),
                    epoch: Some(e),
                };
                return (cut(line, &c), Some(t));
            }
        }
        (line.to_owned(), None)
    }

    /// Applies every filter to one line (without its line break).
    pub fn match_line(&self, line: &str) -> LineMatch {
        let (rest, time) = self.cut_date(line);
        LineMatch { time, hits: self.match_cut(&rest) }
    }

    /// The message of a syslog line of banlog's (`wordpress(host)[pid]: <message>`), given the
    /// line without its time stamp ([`Matcher::cut_date`]).
    pub fn message<'a>(&self, rest: &'a str) -> Option<&'a str> {
        self.prefix.captures(rest).and_then(|c| c.name("content")).map(|m| m.as_str())
    }

    /// Applies every filter to a line without its time stamp.
    pub fn match_cut(&self, rest: &str) -> Vec<(FilterId, String)> {
        let mut hits = Vec::new();
        if let Some(a) = first_addr(&self.spam, rest) {
            hits.push((FilterId::Spam, a));
        }
        if let Some(c) = self.prefix.captures(rest) {
            let content = &c["content"];
            if let Some(a) = first_addr(&self.soft, content) {
                hits.push((FilterId::AuthSoft, a));
            }
            if let Some(a) = first_addr(&self.hard, content) {
                hits.push((FilterId::AuthHard, a));
            }
            for (id, res) in &self.abuse {
                if let Some(a) = first_addr(res, content) {
                    hits.push((*id, a));
                }
            }
        }
        hits
    }

    /// Whether a line that no filter matched still looks like one banlog wrote: a sign of a
    /// format or filter mismatch. The informational `Accepted password` and `Logout` are expected
    /// to miss.
    pub fn looks_like_banlog(&self, line: &str) -> bool {
        let (rest, _) = self.cut_date(line);
        if let Some(c) = self.prefix.captures(&rest) {
            let content = &c["content"];
            return !(content.starts_with("Accepted password for ") || content.starts_with("Logout for "));
        }
        rest.contains("comment id=") && rest.contains("marked as spam")
    }
}

fn cut(line: &str, c: &Captures) -> String {
    let m = c.get(1).unwrap();
    format!("{}{}", &line[..m.start()], &line[m.end()..])
}

fn zone_offset(z: &str) -> i32 {
    let Some(sign) = z.chars().next().filter(|c| *c == '+' || *c == '-') else {
        return 0; // Z, UTC, GMT
    };
    let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
    let h: i32 = digits[..2].parse().unwrap_or(0);
    let m: i32 = digits.get(2..4).and_then(|m| m.parse().ok()).unwrap_or(0);
    let off = h * 3600 + m * 60;
    if sign == '-' {
        -off
    } else {
        off
    }
}

/// The address of the first failregex that matches, printed as fail2ban prints it (IPv6 in
/// its canonical form, anything unparsable as written).
fn first_addr(res: &[Regex], text: &str) -> Option<String> {
    res.iter().find_map(|re| re.captures(text)).map(|c| {
        let raw = c.name("ip4").or_else(|| c.name("ip6")).unwrap().as_str();
        match raw.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(a)) => a.to_string(),
            _ => raw.to_owned(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(line: &str) -> Vec<(FilterId, String)> {
        Matcher::new().match_line(line).hits
    }

    #[test]
    fn spam_file_line() {
        let m = Matcher::new().match_line("2026-11-21 07:19:22 comment id=527 from host=203.0.113.9 marked as spam");
        assert_eq!(m.hits, vec![(FilterId::Spam, "203.0.113.9".to_owned())]);
        let t = m.time.unwrap();
        assert_eq!((t.year, t.month, t.day, t.hour, t.offset), (Some(2026), 11, 21, 7, None));
    }

    #[test]
    fn auth_lines_through_prefixes() {
        let soft = "Authentication failure for x from 6.6.6.6 from 203.0.113.7";
        for line in [
            format!("Nov 21 07:19:22 web1 wordpress(example.com)[4242]: {soft}"),
            format!("2026-11-21T07:19:22.123456+01:00 web1 wordpress[4242]: {soft}"),
            format!("Nov  1 07:19:22 web1 wordpress([2001:db8::1]:8080)[1]: {soft}"),
        ] {
            assert_eq!(hits(&line), vec![(FilterId::AuthSoft, "203.0.113.7".to_owned())], "{line}");
        }
        let hard = "Nov 21 07:19:22 web1 wordpress[1]: XML-RPC multicall authentication failure from 2001:DB8::1";
        assert_eq!(hits(hard), vec![(FilterId::AuthHard, "2001:db8::1".to_owned())]);
        assert!(hits("Nov 21 07:19:22 web1 wordpress[1]: Accepted password for a from 1.2.3.4").is_empty());
        assert!(hits("Nov 21 07:19:22 web1 sshd[1]: Authentication failure for a from 1.2.3.4").is_empty());
    }

    #[test]
    fn each_auth_kind_is_counted_by_the_filter_mode_the_gate_counts_it_by() {
        use banlog_core::{auth::auth_message, AuthKind, Detail, FilterMode};
        for kind in AuthKind::ALL {
            let line = format!(
                "Nov 21 07:19:22 web1 wordpress(example.com)[1]: {}",
                auth_message(
                    kind,
                    if kind.detail() == Detail::Code { "17" } else { "admin" },
                    "203.0.113.7".parse().unwrap()
                )
            );
            let want = match kind.filter_mode() {
                Some(FilterMode::Soft) => vec![(FilterId::AuthSoft, "203.0.113.7".to_owned())],
                Some(FilterMode::Hard) => vec![(FilterId::AuthHard, "203.0.113.7".to_owned())],
                Some(FilterMode::Pingback) => vec![(FilterId::Pingback, "203.0.113.7".to_owned())],
                Some(FilterMode::Flood) => vec![(FilterId::Flood, "203.0.113.7".to_owned())],
                Some(FilterMode::Enumeration) => vec![(FilterId::Enumeration, "203.0.113.7".to_owned())],
                None => vec![],
            };
            assert_eq!(hits(&line), want, "{kind}");
        }
    }

    #[test]
    fn abuse_lines() {
        let cases = [
            ("Pingback error 17 generated from 203.0.113.7", FilterId::Pingback),
            ("Pingback error -32700 generated from 203.0.113.7", FilterId::Pingback),
            ("Trackback error from 203.0.113.7", FilterId::Pingback),
            ("Comment flood from 203.0.113.7", FilterId::Flood),
            ("User enumeration attempt from 203.0.113.7", FilterId::Enumeration),
            ("Blocked user enumeration attempt from 203.0.113.7", FilterId::Enumeration),
        ];
        for (msg, id) in cases {
            let line = format!("Nov 21 07:19:22 web1 wordpress(example.com)[4242]: {msg}");
            assert_eq!(hits(&line), vec![(id, "203.0.113.7".to_owned())], "{line}");
        }
        for msg in ["Pingback error 17 from 203.0.113.7", "Pingback error x generated from 203.0.113.7"] {
            assert!(hits(&format!("Nov 21 07:19:22 web1 wordpress[1]: {msg}")).is_empty(), "{msg}");
        }
    }

    #[test]
    fn offsets() {
        let (rest, t) = Matcher::new().cut_date("2026-03-31T21:03:20.000000-02:30 h wordpress[1]: x");
        assert_eq!(rest, " h wordpress[1]: x");
        assert_eq!(t.unwrap().offset, Some(-9000));
    }
}
