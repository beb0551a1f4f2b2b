//! The fixed set of authentication (and abuse) messages. A PHP caller picks one by name; it can
//! never pass message text of its own, so nothing but these sentences reaches auth.log: a user
//! name is escaped, a pingback's fault code must be an integer.

use std::fmt;
use std::net::IpAddr;

use crate::line::{push_addr, push_u64};

/// One kind of authentication event, as named by `banlog_auth()`'s `$event` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthKind {
    Failure,
    UnknownUser,
    XmlrpcFailure,
    XmlrpcUnknownUser,
    RestFailure,
    RestUnknownUser,
    MulticallFailure,
    Success,
    Logout,
    /// A failed XML-RPC `pingback.ping` (the fault code WordPress answered with).
    Pingback,
    /// A failed trackback (wp-trackback.php answered with an error).
    Trackback,
    /// WordPress refused a comment as posted too quickly after the last one from the address.
    CommentFlood,
    /// An anonymous `?author=N` scan or REST user listing that WordPress answered.
    UserEnumeration,
    /// The same, refused by banlog (403).
    UserEnumerationBlocked,
}

/// What a kind's message holds between its lead sentence and ` from <address>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Nothing.
    None,
    /// A user name (escaped and capped, never refused).
    User,
    /// An integer (a pingback's fault code), written in canonical decimal; anything else is refused.
    Code,
}

/// `$user` of a kind whose detail is a [`Detail::Code`] is not an integer in canonical decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event '{kind}' takes an integer code (such as 17) in place of the user name, '{given}' given")]
pub struct BadCode {
    pub kind: &'static str,
    pub given: String,
}

/// Parses a fault code: a 32-bit integer in canonical decimal (no sign but `-`, no leading zero,
/// no space), so that what is written is exactly what was given. The fallback writer applies the
/// same rule (`Banlog_Format::code()`; tests/wp/test_parity.py holds both over a table).
pub fn parse_code(text: &[u8]) -> Option<i32> {
    let s = std::str::from_utf8(text).ok()?;
    let n: i32 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

/// `$event` is not one of the names in [`AuthKind::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event '{0}'; expected one of: {names}", names = AuthKind::NAMES.join(", "))]
pub struct UnknownAuthKind(pub String);

impl AuthKind {
    pub const ALL: [AuthKind; 14] = [
        AuthKind::Failure,
        AuthKind::UnknownUser,
        AuthKind::XmlrpcFailure,
        AuthKind::XmlrpcUnknownUser,
        AuthKind::RestFailure,
        AuthKind::RestUnknownUser,
        AuthKind::MulticallFailure,
        AuthKind::Success,
        AuthKind::Logout,
        AuthKind::Pingback,
        AuthKind::Trackback,
        AuthKind::CommentFlood,
        AuthKind::UserEnumeration,
        AuthKind::UserEnumerationBlocked,
    ];

    pub const NAMES: [&'static str; 14] = [
        "failure",
        "unknown_user",
        "xmlrpc_failure",
        "xmlrpc_unknown_user",
        "rest_failure",
        "rest_unknown_user",
        "multicall_failure",
        "success",
        "logout",
        "pingback",
        "trackback",
        "comment_flood",
        "user_enumeration",
        "user_enumeration_blocked",
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn from_name(name: &[u8]) -> Result<Self, UnknownAuthKind> {
        Self::NAMES
            .iter()
            .position(|n| n.as_bytes() == name)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| UnknownAuthKind(String::from_utf8_lossy(name).escape_default().to_string()))
    }

    /// The sentence before the detail (or before ` from` when the kind has none).
    pub fn lead(self) -> &'static str {
        match self {
            AuthKind::Failure => "Authentication failure for ",
            AuthKind::UnknownUser => "Authentication attempt for unknown user ",
            AuthKind::XmlrpcFailure => "XML-RPC authentication failure for ",
            AuthKind::XmlrpcUnknownUser => "XML-RPC authentication attempt for unknown user ",
            AuthKind::RestFailure => "REST authentication failure for ",
            AuthKind::RestUnknownUser => "REST authentication attempt for unknown user ",
            AuthKind::MulticallFailure => "XML-RPC multicall authentication failure",
            AuthKind::Success => "Accepted password for ",
            AuthKind::Logout => "Logout for ",
            // WP fail2ban's words, so that its filters (`Pingback error .* generated from <HOST>`)
            // count banlog's lines too.
            AuthKind::Pingback => "Pingback error ",
            AuthKind::Trackback => "Trackback error",
            AuthKind::CommentFlood => "Comment flood",
            AuthKind::UserEnumeration => "User enumeration attempt",
            // WP fail2ban's words, written only when the request was refused.
            AuthKind::UserEnumerationBlocked => "Blocked user enumeration attempt",
        }
    }

    /// What the message holds after the lead.
    pub fn detail(self) -> Detail {
        match self {
            AuthKind::Pingback => Detail::Code,
            AuthKind::MulticallFailure
            | AuthKind::Trackback
            | AuthKind::CommentFlood
            | AuthKind::UserEnumeration
            | AuthKind::UserEnumerationBlocked => Detail::None,
            _ => Detail::User,
        }
    }

    /// What stands between the detail and the address.
    pub fn before_addr(self) -> &'static str {
        match self {
            AuthKind::Pingback => " generated from ",
            _ => " from ",
        }
    }

    /// Whether the message names the user.
    pub fn has_user(self) -> bool {
        self.detail() == Detail::User
    }

    /// Checks `$user` for a kind whose detail is a code: the canonical text of the integer.
    pub fn check_code(self, text: &[u8]) -> Result<i32, BadCode> {
        parse_code(text).ok_or_else(|| BadCode {
            kind: self.name(),
            given: String::from_utf8_lossy(&text[..text.len().min(64)]).escape_default().to_string(),
        })
    }

    /// A failure (to be counted by fail2ban, severity notice), as opposed to the informational
    /// audit events (a successful login, a logout: severity info, never counted).
    pub fn is_failure(self) -> bool {
        !matches!(self, AuthKind::Success | AuthKind::Logout)
    }
}

/// Which mode of the `banlog-auth` filter counts an event kind (`filters/filter.d/banlog-auth.conf`):
/// no two sets overlap; `aggressive` is soft and hard. The in-process gate counts by the
/// same sets; the sidecar's matcher test holds them to the filter's expressions kind by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterMode {
    Soft,
    Hard,
    /// Failed pingbacks and trackbacks (jail banlog-pingback).
    Pingback,
    /// Comment floods (jail banlog-comment-flood).
    Flood,
    /// User enumeration (jail banlog-user-enum).
    Enumeration,
}

impl AuthKind {
    /// The filter mode whose jail counts this kind; None for the audit events, which no jail counts.
    pub fn filter_mode(self) -> Option<FilterMode> {
        match self {
            AuthKind::Failure | AuthKind::UnknownUser | AuthKind::XmlrpcFailure | AuthKind::RestFailure => {
                Some(FilterMode::Soft)
            }
            AuthKind::XmlrpcUnknownUser | AuthKind::RestUnknownUser | AuthKind::MulticallFailure => {
                Some(FilterMode::Hard)
            }
            AuthKind::Pingback | AuthKind::Trackback => Some(FilterMode::Pingback),
            AuthKind::CommentFlood => Some(FilterMode::Flood),
            AuthKind::UserEnumeration | AuthKind::UserEnumerationBlocked => Some(FilterMode::Enumeration),
            AuthKind::Success | AuthKind::Logout => None,
        }
    }
}

impl fmt::Display for AuthKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Appends the message of an authentication event: `<sentence>[<detail>] from <addr>`.
///
/// `user` must already be sanitized (see [`crate::sanitize_user`]), or for a [`Detail::Code`]
/// kind be the code as [`AuthKind::check_code`] accepted it; the address is last.
pub fn push_auth_message(out: &mut Vec<u8>, kind: AuthKind, user: &str, addr: IpAddr) {
    out.extend_from_slice(kind.lead().as_bytes());
    if kind.detail() != Detail::None {
        out.extend_from_slice(user.as_bytes());
    }
    out.extend_from_slice(kind.before_addr().as_bytes());
    push_addr(out, addr);
}

/// The message of an authentication event; see [`push_auth_message`].
pub fn auth_message(kind: AuthKind, user: &str, addr: IpAddr) -> String {
    let mut out = Vec::with_capacity(64 + user.len());
    push_auth_message(&mut out, kind, user, addr);
    String::from_utf8(out).expect("sentences, a sanitized name and an address are UTF-8")
}

/// An authentication message read back by [`parse_auth_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthMessage<'a> {
    pub kind: AuthKind,
    /// The user name as logged (sanitized by the writer), a pingback's code; empty for a kind
    /// that names neither.
    pub user: &'a str,
    pub addr: IpAddr,
}

/// Reads back what [`push_auth_message`] writes, or `None` unless `msg` is exactly what it would
/// write for the kind, name and address it names (the address last, canonical).
pub fn parse_auth_message(msg: &str) -> Option<AuthMessage<'_>> {
    // The address is the last word and never holds " from "; a logged name may.
    let (head, addr) = msg.rsplit_once(" from ")?;
    let addr = crate::parse_addr(addr.as_bytes()).ok()?;
    AuthKind::ALL.into_iter().find_map(|kind| {
        // What stands between the detail and " from " (" generated" for a pingback).
        let tail = kind.before_addr().strip_suffix(" from ").unwrap_or("");
        let detail = head.strip_prefix(kind.lead())?.strip_suffix(tail)?;
        let user = match kind.detail() {
            Detail::User => detail,
            Detail::Code => parse_code(detail.as_bytes()).map(|_| detail)?,
            Detail::None => detail.is_empty().then_some("")?,
        };
        let mut again = Vec::with_capacity(msg.len());
        push_auth_message(&mut again, kind, user, addr);
        (again == msg.as_bytes()).then_some(AuthMessage { kind, user, addr })
    })
}

/// The fixed text of the spam message mirrored into syslog, for writing ([`push_spam_message`])
/// and reading it back ([`parse_spam_message`]).
const SPAM_MESSAGE: [&str; 3] = ["Spam comment ", " from ", ""];

/// Appends the message mirrored into syslog for a spam comment: `Spam comment N from ADDR`.
pub fn push_spam_message(out: &mut Vec<u8>, comment_id: u64, addr: IpAddr) {
    out.extend_from_slice(SPAM_MESSAGE[0].as_bytes());
    push_u64(out, comment_id);
    out.extend_from_slice(SPAM_MESSAGE[1].as_bytes());
    push_addr(out, addr);
    out.extend_from_slice(SPAM_MESSAGE[2].as_bytes());
}

/// Reads back what [`push_spam_message`] writes: the comment id and the address, or `None` unless
/// `msg` is exactly what it would write for them.
pub fn parse_spam_message(msg: &str) -> Option<(u64, IpAddr)> {
    let (id, addr) = crate::addr::split_fixed(msg, SPAM_MESSAGE)?;
    let (id, addr) = (crate::addr::parse_decimal(id)?, crate::parse_addr(addr.as_bytes()).ok()?);
    let mut again = Vec::with_capacity(msg.len());
    push_spam_message(&mut again, id, addr);
    (again == msg.as_bytes()).then_some((id, addr))
}

/// The message mirrored into syslog for a spam comment; see [`push_spam_message`].
pub fn spam_message(comment_id: u64, addr: IpAddr) -> String {
    let mut out = Vec::with_capacity(48);
    push_spam_message(&mut out, comment_id, addr);
    String::from_utf8(out).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in AuthKind::ALL {
            assert_eq!(AuthKind::from_name(kind.name().as_bytes()), Ok(kind));
        }
        let err = AuthKind::from_name(b"Failure").unwrap_err();
        assert!(err.to_string().contains("expected one of: failure, unknown_user"));
    }

    #[test]
    fn messages() {
        let a = "203.0.113.9".parse().unwrap();
        let cases = [
            (AuthKind::Failure, "Authentication failure for admin from 203.0.113.9"),
            (AuthKind::UnknownUser, "Authentication attempt for unknown user admin from 203.0.113.9"),
            (AuthKind::XmlrpcFailure, "XML-RPC authentication failure for admin from 203.0.113.9"),
            (AuthKind::XmlrpcUnknownUser, "XML-RPC authentication attempt for unknown user admin from 203.0.113.9"),
            (AuthKind::RestFailure, "REST authentication failure for admin from 203.0.113.9"),
            (AuthKind::RestUnknownUser, "REST authentication attempt for unknown user admin from 203.0.113.9"),
            (AuthKind::MulticallFailure, "XML-RPC multicall authentication failure from 203.0.113.9"),
            (AuthKind::Success, "Accepted password for admin from 203.0.113.9"),
            (AuthKind::Logout, "Logout for admin from 203.0.113.9"),
            (AuthKind::Trackback, "Trackback error from 203.0.113.9"),
            (AuthKind::CommentFlood, "Comment flood from 203.0.113.9"),
            (AuthKind::UserEnumeration, "User enumeration attempt from 203.0.113.9"),
            (AuthKind::UserEnumerationBlocked, "Blocked user enumeration attempt from 203.0.113.9"),
        ];
        for (kind, want) in cases {
            assert_eq!(auth_message(kind, "admin", a), want);
        }
        assert_eq!(auth_message(AuthKind::Pingback, "17", a), "Pingback error 17 generated from 203.0.113.9");
        assert_eq!(spam_message(527, a), "Spam comment 527 from 203.0.113.9");
    }

    #[test]
    fn messages_read_back() {
        let a: IpAddr = "2001:db8::7".parse().unwrap();
        for kind in AuthKind::ALL {
            for user in ["admin", "", "x from 6.6.6.6", "a\\x0d\\x0ab", "Authentication failure for y"] {
                // A pingback's detail is its code.
                let user = if kind.detail() == Detail::Code { "-32700" } else { user };
                let msg = auth_message(kind, user, a);
                let want = AuthMessage { kind, user: if kind.detail() == Detail::None { "" } else { user }, addr: a };
                assert_eq!(parse_auth_message(&msg), Some(want), "{msg}");
            }
        }
        assert_eq!(parse_spam_message(&spam_message(527, a)), Some((527, a)));
        for bad in [
            "Authentication failure for admin from 2001:DB8::7",
            "Authentication failure for admin from 203.0.113.9 port 22",
            "Authentication failure for admin",
            "authentication failure for admin from 203.0.113.9",
            "XML-RPC multicall authentication failure for x from 203.0.113.9",
            "Failed password for admin from 203.0.113.9",
            "Spam comment 05 from 203.0.113.9",
            "Spam comment 5 from 203.0.113.9 ",
            "Pingback error 017 generated from 203.0.113.9",
            "Pingback error x generated from 203.0.113.9",
            "Pingback error 17 from 203.0.113.9",
            "Comment flood for x from 203.0.113.9",
        ] {
            assert_eq!(parse_auth_message(bad), None, "{bad}");
            assert_eq!(parse_spam_message(bad), None, "{bad}");
        }
    }

    #[test]
    fn codes_are_canonical_integers() {
        for ok in ["0", "17", "-32700", "2147483647", "-2147483648"] {
            assert_eq!(parse_code(ok.as_bytes()).map(|n| n.to_string()), Some(ok.to_owned()));
        }
        for bad in ["", "+1", "017", "-0", " 1", "1 ", "1e3", "2147483648", "0x11", "17 from 6.6.6.6", "\u{663}"] {
            assert_eq!(parse_code(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse_code(b"\xff"), None);
        let err = AuthKind::Pingback.check_code(b"1\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "event 'pingback' takes an integer code (such as 17) in place of the user name, '1\\n' given"
        );
        let kinds: Vec<_> = AuthKind::ALL.into_iter().filter(|k| k.detail() == Detail::Code).collect();
        assert_eq!(kinds, [AuthKind::Pingback]);
    }

    #[test]
    fn only_the_audit_kinds_are_informational() {
        let info: Vec<_> = AuthKind::ALL.into_iter().filter(|k| !k.is_failure()).collect();
        assert_eq!(info, [AuthKind::Success, AuthKind::Logout]);
    }
}
