//! Where lines go: the settings an event carries to the writer.
//!
//! Settings come from php.ini (`banlog.*`) and are overridden per request by `banlog_configure()`.
//! The writer is sent the settings in force whenever they change, ahead of the events made under
//! them, so a process serving several sites writes each site's events to that site's log.

use std::fmt;
use std::path::{Path, PathBuf};

use banlog_core::rules::{self, Problem, RuleError, Target};
use banlog_core::sanitize_ident_host;

/// A setting's value as PHP passes it (an ini string, or a value of the configure array).
#[derive(Debug, Clone, PartialEq)]
pub enum SettingValue {
    Str(Vec<u8>),
    Bool(bool),
    Int(i64),
    Null,
    /// Anything else (an array, an object, a float): refused by every setting.
    Other,
}

/// Why a setting was refused. Each message names the setting and says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("unknown setting '{0}'; known: {known}", known = Settings::KEYS.join(", "))]
    UnknownKey(String),
    /// A rule of the rulebook (`banlog_core::rules`), which the plugin applies too.
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("setting 'ident_host': {0}")]
    IdentHost(#[from] banlog_core::IdentHostError),
}

/// Syslog facilities a WordPress admin may choose (the table in `banlog_core::rules::FACILITIES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Facility {
    name: &'static str,
    code: u8,
}

impl Facility {
    pub const AUTH: Facility = Facility { name: "auth", code: 4 };

    pub fn parse(s: &str) -> Option<Self> {
        rules::facility(s).map(|(name, code)| Facility { name, code })
    }

    /// The facility code (RFC 5424 §6.2.1).
    pub fn code(self) -> u8 {
        self.code
    }

    pub fn name(self) -> &'static str {
        self.name
    }
}

/// Where syslog messages go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SyslogTarget {
    /// A local socket such as `/dev/log` (datagram, or stream where the daemon offers that).
    Unix(PathBuf),
    /// A remote collector, `host:port`.
    Udp(String),
    Tcp(String),
}

impl SyslogTarget {
    pub fn parse(s: &str) -> Option<Self> {
        Self::check(s).ok()
    }

    fn check(s: &str) -> Result<Self, RuleError> {
        Ok(match rules::target("syslog_target", s)? {
            Target::Unix(p) => SyslogTarget::Unix(p.into()),
            Target::Udp(a) => SyslogTarget::Udp(a),
            Target::Tcp(a) => SyslogTarget::Tcp(a),
        })
    }
}

impl fmt::Display for SyslogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyslogTarget::Unix(p) => write!(f, "{}", p.display()),
            SyslogTarget::Udp(a) => write!(f, "udp://{a}"),
            SyslogTarget::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// The settings in force for an event. The fields are private: every value went through the
/// rules of [`Settings::set`], so a `Settings` is checked by construction.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The spam log; `None` disables it.
    spam_log: Option<PathBuf>,
    /// Send authentication events to syslog.
    syslog: bool,
    syslog_facility: Facility,
    syslog_target: SyslogTarget,
    /// The site host in the ident `wordpress(<host>)`.
    ident_host: String,
    /// Authentication lines to a file as well (hosts without a syslog daemon); `None` disables it.
    auth_log: Option<PathBuf>,
    /// Mirror spam events into syslog as `Spam comment <N> from <addr>`.
    syslog_spam: bool,
}

/// Equal when every value is the same text. Not derived: `PathBuf`'s own equality compares path
/// components, so `/a/./x.log` would equal `/a//x.log`, and a worker reusing settings it has
/// already made would then report (and keep) the other spelling of what it was given.
impl PartialEq for Settings {
    fn eq(&self, o: &Self) -> bool {
        fn text(p: &Option<PathBuf>) -> Option<&std::ffi::OsStr> {
            p.as_deref().map(Path::as_os_str)
        }
        // Destructured: a new field fails to compile here until it is compared.
        let Settings { spam_log, syslog, syslog_facility, syslog_target, ident_host, auth_log, syslog_spam } = self;
        let same_target = match (syslog_target, &o.syslog_target) {
            (SyslogTarget::Unix(a), SyslogTarget::Unix(b)) => a.as_os_str() == b.as_os_str(),
            (a, b) => a == b,
        };
        text(spam_log) == text(&o.spam_log)
            && text(auth_log) == text(&o.auth_log)
            && same_target
            && *syslog == o.syslog
            && *syslog_facility == o.syslog_facility
            && *ident_host == o.ident_host
            && *syslog_spam == o.syslog_spam
    }
}

impl Eq for Settings {}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            spam_log: None,
            syslog: true,
            syslog_facility: Facility::AUTH,
            syslog_target: SyslogTarget::Unix("/dev/log".into()),
            ident_host: String::new(),
            auth_log: None,
            syslog_spam: false,
        }
    }
}

impl Settings {
    pub const KEYS: [&'static str; 7] =
        ["spam_log", "syslog", "syslog_facility", "syslog_target", "ident_host", "auth_log", "syslog_spam"];

    /// Applies one setting; on error the settings are unchanged.
    pub fn set(&mut self, key: &str, value: &SettingValue) -> Result<(), SettingsError> {
        match key {
            "spam_log" => self.spam_log = log_path("spam_log", value)?,
            "auth_log" => self.auth_log = log_path("auth_log", value)?,
            "syslog" => self.syslog = flag("syslog", value)?,
            "syslog_spam" => self.syslog_spam = flag("syslog_spam", value)?,
            "syslog_facility" => {
                let s = text("syslog_facility", value)?;
                self.syslog_facility = Facility::parse(&s)
                    .ok_or_else(|| RuleError::new(Problem::Facility, "syslog_facility", rules::trim(&s)))?;
            }
            "syslog_target" => self.syslog_target = SyslogTarget::check(&text("syslog_target", value)?)?,
            "ident_host" => self.ident_host = sanitize_ident_host(rules::trim(&text("ident_host", value)?))?,
            other => return Err(SettingsError::UnknownKey(other.escape_default().to_string())),
        }
        Ok(())
    }

    /// [`Settings::set`] for several settings, from the defaults; a test and benchmark helper.
    pub fn with(pairs: &[(&str, &str)]) -> Result<Self, SettingsError> {
        let mut s = Settings::default();
        for (k, v) in pairs {
            s.set(k, &SettingValue::Str(v.as_bytes().to_vec()))?;
        }
        Ok(s)
    }

    pub fn spam_log(&self) -> Option<&Path> {
        self.spam_log.as_deref()
    }

    pub fn auth_log(&self) -> Option<&Path> {
        self.auth_log.as_deref()
    }

    pub fn syslog(&self) -> bool {
        self.syslog
    }

    pub fn syslog_spam(&self) -> bool {
        self.syslog_spam
    }

    pub fn syslog_facility(&self) -> Facility {
        self.syslog_facility
    }

    pub fn syslog_target(&self) -> &SyslogTarget {
        &self.syslog_target
    }

    /// The site host of the ident, checked by `sanitize_ident_host`.
    pub fn ident_host(&self) -> &str {
        &self.ident_host
    }

    /// Whether a spam event would be written anywhere.
    pub fn wants_spam(&self) -> bool {
        self.spam_log.is_some() || (self.syslog && self.syslog_spam)
    }

    /// Whether an authentication event would be written anywhere.
    pub fn wants_auth(&self) -> bool {
        self.syslog || self.auth_log.is_some()
    }
}

fn text(key: &'static str, value: &SettingValue) -> Result<String, RuleError> {
    match value {
        SettingValue::Str(b) => String::from_utf8(b.clone()).map_err(|_| RuleError::new(Problem::TypeUtf8, key, "")),
        SettingValue::Null => Ok(String::new()),
        _ => Err(RuleError::new(Problem::TypeString, key, "")),
    }
}

fn flag(key: &'static str, value: &SettingValue) -> Result<bool, RuleError> {
    let bad = || RuleError::new(Problem::TypeFlag, key, "");
    match value {
        SettingValue::Bool(b) => Ok(*b),
        SettingValue::Int(i) => Ok(*i != 0),
        SettingValue::Null => Ok(false),
        SettingValue::Other => Err(bad()),
        SettingValue::Str(b) => rules::flag_text(&String::from_utf8_lossy(b)).ok_or_else(bad),
    }
}

fn log_path(key: &'static str, value: &SettingValue) -> Result<Option<PathBuf>, RuleError> {
    Ok(rules::log_path(key, &text(key, value)?)?.map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    #[test]
    fn spellings_of_one_path_are_different_settings() {
        let with = |path: &str| {
            let mut s = Settings::default();
            s.set("spam_log", &SettingValue::Str(path.into())).unwrap();
            s
        };
        assert_ne!(with("/a/./x.log"), with("/a//x.log"));
        assert_eq!(with("/a/x.log"), with("/a/x.log"));
    }

    use super::*;

    fn s(v: &str) -> SettingValue {
        SettingValue::Str(v.as_bytes().to_vec())
    }

    #[test]
    fn defaults_and_overrides() {
        let mut st = Settings::default();
        assert!(st.syslog && st.spam_log.is_none());
        st.set("spam_log", &s("/var/log/wp/spam.log")).unwrap();
        st.set("syslog", &s("off")).unwrap();
        st.set("syslog_facility", &s("LOCAL3")).unwrap();
        st.set("syslog_target", &s("udp://127.0.0.1:5514")).unwrap();
        st.set("ident_host", &s("Example.com")).unwrap();
        assert_eq!(st.spam_log.as_deref(), Some(Path::new("/var/log/wp/spam.log")));
        assert!(!st.syslog);
        assert_eq!(st.syslog_facility.name(), "local3");
        assert_eq!(st.syslog_facility.code(), 19);
        assert_eq!(st.syslog_target, SyslogTarget::Udp("127.0.0.1:5514".into()));
        assert_eq!(st.ident_host, "example.com");
        st.set("spam_log", &SettingValue::Str(vec![])).unwrap();
        assert_eq!(st.spam_log, None);
    }

    #[test]
    fn refusals_leave_settings_unchanged() {
        let mut st = Settings::default();
        let before = st.clone();
        for (k, v) in [
            ("spam_log", s("relative/spam.log")),
            ("spam_log", s("/var/www/html/spam.php")),
            ("spam_log", s("/var/www/html/spam.PHTML")),
            ("spam_log", s("/var/www/html/spam.php.log")),
            ("auth_log", s("/srv/x.phar")),
            ("syslog", s("maybe")),
            ("syslog_facility", s("kern")),
            ("syslog_facility", s("local8")),
            ("syslog_target", s("udp://nohost")),
            ("syslog_target", s("http://x:1")),
            ("syslog_target", s("dev/log")),
            ("ident_host", s("evil) host")),
            ("nonsense", s("1")),
            ("spam_log", SettingValue::Int(3)),
            ("spam_log", s("/var/log/evil.php\0.log")),
            ("spam_log", s("/var/log/../www/spam.log")),
            ("spam_log", s("/var/log/banlog/..")),
            ("spam_log", s("/var/www/html/.user.ini")),
            ("auth_log", s("/var/www/html/.HTPASSWD")),
            ("spam_log", s("/var/log/new\nline.log")),
            ("spam_log", s("/var/log/tab\tname.log")),
            ("syslog", SettingValue::Other),
            ("syslog_target", SettingValue::Other),
        ] {
            let err = st.set(k, &v).unwrap_err();
            assert!(!err.to_string().is_empty());
            assert_eq!(st, before, "{k} changed settings");
        }
    }
}
