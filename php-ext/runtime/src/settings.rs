//! Where lines go: the settings an event carries to the writer.
//!
//! Settings come from php.ini (`banlog.*`) and are overridden per request by `banlog_configure()`.
//! The writer is sent the settings in force whenever they change, ahead of the events made under
//! them, so a process serving several sites writes each site's events to that site's log.

use std::fmt;
use std::path::{Path, PathBuf};

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
    #[error("setting '{key}' must be {expected}")]
    WrongType { key: &'static str, expected: &'static str },
    #[error("setting '{key}': the path '{path}' must be absolute")]
    RelativePath { key: &'static str, path: String },
    #[error(
        "setting '{key}': '{path}' ends in an executable extension; a user name written into it could run as code"
    )]
    ExecutablePath { key: &'static str, path: String },
    #[error("setting '{key}': '{path}' is a file PHP or the web server reads as configuration; a user name written into it could change how the site runs")]
    ConfigPath { key: &'static str, path: String },
    #[error("setting '{key}': the path '{path}' must not contain \"..\"; name the directory itself")]
    Traversal { key: &'static str, path: String },
    #[error("setting '{key}': the path must not contain control characters")]
    ControlChar { key: &'static str },
    #[error("setting 'syslog_facility': '{0}' is not one of auth, authpriv, user, daemon, local0 .. local7")]
    Facility(String),
    #[error("setting 'syslog_target': '{0}' is not a socket path, udp://host:port or tcp://host:port")]
    Target(String),
    #[error("setting 'ident_host': {0}")]
    IdentHost(#[from] banlog_core::IdentHostError),
}

/// Syslog facilities a WordPress admin may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Facility {
    Auth,
    Authpriv,
    User,
    Daemon,
    Local(u8),
}

impl Facility {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_prefix("log_").unwrap_or(&s);
        Some(match s {
            "auth" => Facility::Auth,
            "authpriv" => Facility::Authpriv,
            "user" => Facility::User,
            "daemon" => Facility::Daemon,
            _ => {
                let n: u8 = s.strip_prefix("local")?.parse().ok()?;
                if n > 7 {
                    return None;
                }
                Facility::Local(n)
            }
        })
    }

    /// The facility code (RFC 5424 §6.2.1).
    pub fn code(self) -> u8 {
        match self {
            Facility::User => 1,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Authpriv => 10,
            Facility::Local(n) => 16 + n,
        }
    }

    pub fn name(self) -> String {
        match self {
            Facility::Auth => "auth".into(),
            Facility::Authpriv => "authpriv".into(),
            Facility::User => "user".into(),
            Facility::Daemon => "daemon".into(),
            Facility::Local(n) => format!("local{n}"),
        }
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
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("udp://") {
            return valid_host_port(rest).then(|| SyslogTarget::Udp(rest.to_owned()));
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            return valid_host_port(rest).then(|| SyslogTarget::Tcp(rest.to_owned()));
        }
        if let Some(rest) = s.strip_prefix("unix://") {
            return Path::new(rest).is_absolute().then(|| SyslogTarget::Unix(rest.into()));
        }
        Path::new(s).is_absolute().then(|| SyslogTarget::Unix(s.into()))
    }

    pub fn is_remote(&self) -> bool {
        !matches!(self, SyslogTarget::Unix(_))
    }
}

fn valid_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
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

/// The settings in force for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The spam log; `None` disables it.
    pub spam_log: Option<PathBuf>,
    /// Send authentication events to syslog.
    pub syslog: bool,
    pub syslog_facility: Facility,
    pub syslog_target: SyslogTarget,
    /// The site host in the ident `wordpress(<host>)`, already checked.
    pub ident_host: String,
    /// Authentication lines to a file as well (hosts without a syslog daemon); `None` disables it.
    pub auth_log: Option<PathBuf>,
    /// Mirror spam events into syslog as `Spam comment <N> from <addr>`.
    pub syslog_spam: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            spam_log: None,
            syslog: true,
            syslog_facility: Facility::Auth,
            syslog_target: SyslogTarget::Unix("/dev/log".into()),
            ident_host: String::new(),
            auth_log: None,
            syslog_spam: false,
        }
    }
}

/// File name endings a web server may execute. A log path must not end in one: a user name
/// written into `spam.php` would be code.
const EXECUTABLE_ENDINGS: &[&str] = &[
    ".php",
    ".php3",
    ".php4",
    ".php5",
    ".php7",
    ".php8",
    ".pht",
    ".phtml",
    ".phar",
    ".phps",
    ".inc",
    ".cgi",
    ".pl",
    ".py",
    ".sh",
    ".asp",
    ".aspx",
    ".jsp",
    ".shtml",
    ".htaccess",
];

/// Files PHP or a web server reads as configuration, by name.
const CONFIG_NAMES: &[&str] = &[".htaccess", ".htpasswd", ".user.ini", "php.ini"];

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
                self.syslog_facility = Facility::parse(&s).ok_or_else(|| SettingsError::Facility(s.clone()))?;
            }
            "syslog_target" => {
                let s = text("syslog_target", value)?;
                self.syslog_target = SyslogTarget::parse(&s).ok_or_else(|| SettingsError::Target(s.clone()))?;
            }
            "ident_host" => self.ident_host = sanitize_ident_host(text("ident_host", value)?.trim())?,
            other => return Err(SettingsError::UnknownKey(other.escape_default().to_string())),
        }
        Ok(())
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

fn text(key: &'static str, value: &SettingValue) -> Result<String, SettingsError> {
    match value {
        SettingValue::Str(b) => {
            String::from_utf8(b.clone()).map_err(|_| SettingsError::WrongType { key, expected: "UTF-8 text" })
        }
        SettingValue::Null => Ok(String::new()),
        _ => Err(SettingsError::WrongType { key, expected: "a string" }),
    }
}

fn flag(key: &'static str, value: &SettingValue) -> Result<bool, SettingsError> {
    let bad = SettingsError::WrongType { key, expected: "a boolean (true/false, 1/0, on/off)" };
    match value {
        SettingValue::Bool(b) => Ok(*b),
        SettingValue::Int(i) => Ok(*i != 0),
        SettingValue::Null => Ok(false),
        SettingValue::Other => Err(bad),
        SettingValue::Str(b) => match String::from_utf8_lossy(b).trim().to_ascii_lowercase().as_str() {
            "1" | "on" | "yes" | "true" => Ok(true),
            "" | "0" | "off" | "no" | "false" | "none" => Ok(false),
            _ => Err(bad),
        },
    }
}

fn log_path(key: &'static str, value: &SettingValue) -> Result<Option<PathBuf>, SettingsError> {
    let s = text(key, value)?;
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.contains('\0') {
        return Err(SettingsError::WrongType { key, expected: "a path without NUL bytes" });
    }
    // The same refusals as the plugin's options page (wp-plugin/banlog/includes/class-banlog-writer.php).
    if s.chars().any(char::is_control) {
        return Err(SettingsError::ControlChar { key });
    }
    if !s.starts_with('/') {
        return Err(SettingsError::RelativePath { key, path: s.to_owned() });
    }
    if s.split('/').any(|part| part == "..") {
        return Err(SettingsError::Traversal { key, path: s.to_owned() });
    }
    let lower = s.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or("");
    if name.is_empty() || EXECUTABLE_ENDINGS.iter().any(|e| name.ends_with(e) || name.contains(&format!("{e}."))) {
        return Err(SettingsError::ExecutablePath { key, path: s.to_owned() });
    }
    if CONFIG_NAMES.contains(&name) {
        return Err(SettingsError::ConfigPath { key, path: s.to_owned() });
    }
    Ok(Some(PathBuf::from(s)))
}

#[cfg(test)]
mod tests {
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
        assert_eq!(st.syslog_facility, Facility::Local(3));
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
