//! The rulebook for settings: which log paths, syslog facilities, syslog destinations and ident
//! hosts are accepted, and what is said when one is refused.
//!
//! This is the one source of these rules. The extension applies them through
//! `banlog-runtime`'s `Settings`; the WordPress plugin's pure-PHP writer and its options page use
//! `wp-plugin/banlog/includes/class-banlog-rules.php`, which [`render_php`] generates from the
//! tables below (regenerate it with `make rules-php`; a test fails while the committed file is
//! stale). The PHP functions in that file are a transcription of the functions here, tested rule
//! by rule against the real extension by `tests/wp/test_rules_parity.py`.
//!
//! One more rule exists only in the plugin: a log path must not lie under WordPress's uploads
//! folder, which only WordPress knows (see `Banlog_Plugin::path_problem()`).

use crate::addr::parse_addr;

/// Characters cut from both ends of a text setting (ASCII white space, as PHP's `trim` with this
/// list): a path pasted with a trailing newline still names the same file.
pub const TRIM: &[char] = &[' ', '\t', '\n', '\r', '\x0b', '\x0c'];

/// What a log file's name must end in (compared without regard to ASCII case).
pub const LOG_SUFFIX: &str = ".log";

/// Extensions a web server may run as a program. Refused anywhere among the inner extensions of
/// a log file's name: Apache's mod_mime uses every extension of a name, so `x.php.log` may run as
/// PHP. `php` followed by digits (`php5`, `php74`) counts as `php` too ([`is_executable`]).
pub const EXECUTABLE_EXTENSIONS: &[&str] = &[
    "php", "phtml", "phtm", "pht", "phar", "phps", "pgif", "inc", "cgi", "fcgi", "pl", "pm", "py", "rb", "sh", "bash",
    "asp", "aspx", "ashx", "asmx", "jsp", "jspx", "cfm", "shtml", "shtm", "stm",
];

/// Extensions a web server may serve as a page, a script or an image that runs script in a
/// browser. Refused among the inner extensions, like [`EXECUTABLE_EXTENSIONS`].
pub const MARKUP_EXTENSIONS: &[&str] =
    &["html", "htm", "xhtml", "xht", "xml", "xsl", "xslt", "svg", "svgz", "js", "mjs", "mht", "mhtml", "swf"];

/// Files PHP or a web server reads as configuration, by name (compared in lower case).
pub const CONFIG_NAMES: &[&str] = &[".htaccess", ".htpasswd", ".user.ini", "php.ini"];

/// Syslog facilities a WordPress admin may choose, with their codes (RFC 5424 §6.2.1), in the
/// order the options page lists them. A name may also be written in upper case or as `LOG_AUTH`.
pub const FACILITIES: &[(&str, u8)] = &[
    ("auth", 4),
    ("authpriv", 10),
    ("user", 1),
    ("daemon", 3),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// Longest host name of a syslog destination (RFC 1035), and of one of its labels.
pub const MAX_HOST_LEN: usize = 253;
pub const MAX_LABEL_LEN: usize = 63;

/// Why a setting's value was refused. The code names the rule; the template is the message, with
/// `{key}` (the setting), `{value}` (the value, trimmed) and `{ext}` (the offending extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Problem {
    TypeString,
    TypeUtf8,
    TypeFlag,
    PathControl,
    PathRelative,
    PathTraversal,
    PathDirectory,
    PathConfig,
    PathNotLog,
    PathExecutable,
    PathMarkup,
    Facility,
    TargetControl,
    TargetForm,
    TargetHost,
    TargetPort,
}

impl Problem {
    pub const ALL: [Problem; 16] = [
        Problem::TypeString,
        Problem::TypeUtf8,
        Problem::TypeFlag,
        Problem::PathControl,
        Problem::PathRelative,
        Problem::PathTraversal,
        Problem::PathDirectory,
        Problem::PathConfig,
        Problem::PathNotLog,
        Problem::PathExecutable,
        Problem::PathMarkup,
        Problem::Facility,
        Problem::TargetControl,
        Problem::TargetForm,
        Problem::TargetHost,
        Problem::TargetPort,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Problem::TypeString => "type_string",
            Problem::TypeUtf8 => "type_utf8",
            Problem::TypeFlag => "type_flag",
            Problem::PathControl => "path_control",
            Problem::PathRelative => "path_relative",
            Problem::PathTraversal => "path_traversal",
            Problem::PathDirectory => "path_directory",
            Problem::PathConfig => "path_config",
            Problem::PathNotLog => "path_not_log",
            Problem::PathExecutable => "path_executable",
            Problem::PathMarkup => "path_markup",
            Problem::Facility => "facility",
            Problem::TargetControl => "target_control",
            Problem::TargetForm => "target_form",
            Problem::TargetHost => "target_host",
            Problem::TargetPort => "target_port",
        }
    }

    pub fn template(self) -> &'static str {
        match self {
            Problem::TypeString => "setting '{key}' must be a string",
            Problem::TypeUtf8 => "setting '{key}' must be UTF-8 text",
            Problem::TypeFlag => "setting '{key}' must be a boolean (true/false, 1/0, on/off)",
            Problem::PathControl => "setting '{key}': the path must not contain control characters",
            Problem::PathRelative => "setting '{key}': the path '{value}' must be absolute (start with /)",
            Problem::PathTraversal => {
                "setting '{key}': the path '{value}' must not contain \"..\"; name the directory itself"
            }
            Problem::PathDirectory => {
                "setting '{key}': '{value}' ends in / and so names a directory; give a file name ending in .log"
            }
            Problem::PathConfig => {
                "setting '{key}': '{value}' is a file PHP or the web server reads as configuration; a user name written into it could change how the site runs"
            }
            Problem::PathNotLog => {
                "setting '{key}': the file name of '{value}' must end in .log (such as /var/log/wordpress/auth.log), so that no web server runs it or serves it as a page"
            }
            Problem::PathExecutable => {
                "setting '{key}': the file name of '{value}' contains the extension .{ext}, which a web server may run as a program (Apache runs x.php.log as PHP); a user name written into it could run as code"
            }
            Problem::PathMarkup => {
                "setting '{key}': the file name of '{value}' contains the extension .{ext}, which a web server may serve as a page or script (Apache takes the type from any extension of a name); a user name written into it could run in a browser"
            }
            Problem::Facility => {
                "setting '{key}': '{value}' is not one of auth, authpriv, user, daemon, local0 .. local7"
            }
            Problem::TargetControl => "setting '{key}': the destination must not contain control characters",
            Problem::TargetForm => {
                "setting '{key}': '{value}' is not a socket path (/dev/log, unix:///run/x.sock), udp://host:port or tcp://host:port"
            }
            Problem::TargetHost => {
                "setting '{key}': in '{value}' the host must be a host name, an IPv4 address or an IPv6 address in brackets (udp://[2001:db8::1]:514)"
            }
            Problem::TargetPort => "setting '{key}': in '{value}' the port must be a number from 1 to 65535",
        }
    }
}

/// A refused setting value, with the message of its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_message(*.problem, .key, .value, .ext))]
pub struct RuleError {
    pub problem: Problem,
    pub key: &'static str,
    /// The value (trimmed); empty where the message does not show it.
    pub value: String,
    /// The offending extension, for the path rules that name one.
    pub ext: String,
}

impl RuleError {
    pub fn new(problem: Problem, key: &'static str, value: &str) -> Self {
        RuleError { problem, key, value: value.to_owned(), ext: String::new() }
    }
}

/// The message: the template filled in. A control character of the shown value becomes U+FFFD,
/// so that a message is always one line of text (PHP cannot carry a NUL in an exception).
fn render_message(problem: Problem, key: &str, value: &str, ext: &str) -> String {
    let value: String = value.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
    problem.template().replace("{key}", key).replace("{value}", &value).replace("{ext}", ext)
}

/// Cuts [`TRIM`] characters from both ends.
pub fn trim(s: &str) -> &str {
    s.trim_matches(TRIM)
}

/// Whether `ext` (lower case, without the dot) is an executable extension.
pub fn is_executable(ext: &str) -> bool {
    if EXECUTABLE_EXTENSIONS.contains(&ext) {
        return true;
    }
    ext.strip_prefix("php").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a log file path. `Ok(None)`: empty, the log is off.
pub fn log_path(key: &'static str, raw: &str) -> Result<Option<String>, RuleError> {
    let s = trim(raw);
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().any(char::is_control) {
        return Err(RuleError::new(Problem::PathControl, key, ""));
    }
    let err = |p: Problem| RuleError::new(p, key, s);
    if !s.starts_with('/') {
        return Err(err(Problem::PathRelative));
    }
    if s.split('/').any(|part| part == "..") {
        return Err(err(Problem::PathTraversal));
    }
    let name = s.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
    if name.is_empty() {
        return Err(err(Problem::PathDirectory));
    }
    if CONFIG_NAMES.contains(&name.as_str()) {
        return Err(err(Problem::PathConfig));
    }
    if name.len() <= LOG_SUFFIX.len() || !name.ends_with(LOG_SUFFIX) {
        return Err(err(Problem::PathNotLog));
    }
    // Inner extensions: the parts between the first dot and the final `.log`.
    let parts: Vec<&str> = name.split('.').collect();
    let inner = &parts[1..parts.len() - 1];
    for (test, problem) in
        [(is_executable as fn(&str) -> bool, Problem::PathExecutable), (is_markup, Problem::PathMarkup)]
    {
        if let Some(ext) = inner.iter().find(|e| test(e)) {
            return Err(RuleError { ext: (*ext).to_owned(), ..err(problem) });
        }
    }
    Ok(Some(s.to_owned()))
}

fn is_markup(ext: &str) -> bool {
    MARKUP_EXTENSIONS.contains(&ext)
}

/// A facility by name: its canonical name and code.
pub fn facility(raw: &str) -> Option<(&'static str, u8)> {
    let s = trim(raw).to_ascii_lowercase();
    let s = s.strip_prefix("log_").unwrap_or(&s);
    FACILITIES.iter().find(|(name, _)| *name == s).copied()
}

/// The forms of a syslog destination.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A local socket path (`/dev/log`, or `unix:///path`, kept without the scheme).
    Unix(String),
    /// `host:port`, the host a name, an IPv4 address or `[IPv6]`.
    Udp(String),
    Tcp(String),
}

/// Checks a syslog destination.
pub fn target(key: &'static str, raw: &str) -> Result<Target, RuleError> {
    let s = trim(raw);
    if s.chars().any(char::is_control) {
        return Err(RuleError::new(Problem::TargetControl, key, ""));
    }
    let err = |p: Problem| RuleError::new(p, key, s);
    for (scheme, make) in [("udp://", Target::Udp as fn(String) -> Target), ("tcp://", Target::Tcp)] {
        if let Some(rest) = s.strip_prefix(scheme) {
            return host_port(rest).map(|()| make(rest.to_owned())).map_err(err);
        }
    }
    let path = s.strip_prefix("unix://").unwrap_or(s);
    if !path.starts_with('/') {
        return Err(err(Problem::TargetForm));
    }
    Ok(Target::Unix(path.to_owned()))
}

fn host_port(s: &str) -> Result<(), Problem> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or(Problem::TargetHost)?;
        if !v6.contains(':') || parse_addr(v6.as_bytes()).is_err() {
            return Err(Problem::TargetHost);
        }
        (None, after.strip_prefix(':').ok_or(Problem::TargetPort)?)
    } else {
        let (host, port) = s.rsplit_once(':').ok_or(Problem::TargetPort)?;
        (Some(host), port)
    };
    if let Some(host) = host {
        if !host_name(host) {
            return Err(Problem::TargetHost);
        }
    }
    let digits_ok = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok || !(1..=65535).contains(&port.parse::<u32>().unwrap_or(0)) {
        return Err(Problem::TargetPort);
    }
    Ok(())
}

/// A host name or IPv4 address: dot-separated labels of letters, digits, `-` and `_`, none empty,
/// none starting with `-`.
fn host_name(h: &str) -> bool {
    h.len() <= MAX_HOST_LEN
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= MAX_LABEL_LEN
                && !l.starts_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A boolean setting written as text: `Some(true)` for 1/on/yes/true, `Some(false)` for
/// ""/0/off/no/false/none (after trimming, any case), `None` for anything else.
pub fn flag_text(raw: &str) -> Option<bool> {
    match trim(raw).to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "" | "0" | "off" | "no" | "false" | "none" => Some(false),
        _ => None,
    }
}

/// Flag words, for the PHP rendering.
const FLAG_TRUE: &[&str] = &["1", "on", "yes", "true"];
const FLAG_FALSE: &[&str] = &["", "0", "off", "no", "false", "none"];

// ------------------------------------------------------------------------------------ PHP

/// Where the rendered PHP file lives, relative to the repository root.
pub const PHP_FILE: &str = "wp-plugin/banlog/includes/class-banlog-rules.php";

fn php_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn php_list(items: &[&str]) -> String {
    let items: Vec<String> = items.iter().map(|s| php_str(s)).collect();
    format!("array( {} )", items.join(", "))
}

/// The PHP transcription of this module, with its tables filled in.
pub fn render_php() -> String {
    let facilities: Vec<String> = FACILITIES.iter().map(|(n, c)| format!("\t\t{:<10} => {c},", php_str(n))).collect();
    let messages: Vec<String> =
        Problem::ALL.iter().map(|p| format!("\t\t{} => {},", php_str(p.code()), php_str(p.template()))).collect();
    let trim: String = TRIM.iter().map(|c| format!("\\x{:02X}", *c as u32)).collect();
    PHP_TEMPLATE
        .replace("{{TRIM}}", &format!("\"{trim}\""))
        .replace("{{LOG_SUFFIX}}", &php_str(LOG_SUFFIX))
        .replace("{{EXECUTABLE}}", &php_list(EXECUTABLE_EXTENSIONS))
        .replace("{{MARKUP}}", &php_list(MARKUP_EXTENSIONS))
        .replace("{{CONFIG}}", &php_list(CONFIG_NAMES))
        .replace("{{FLAG_TRUE}}", &php_list(FLAG_TRUE))
        .replace("{{FLAG_FALSE}}", &php_list(FLAG_FALSE))
        .replace("{{MAX_HOST_LEN}}", &MAX_HOST_LEN.to_string())
        .replace("{{MAX_LABEL_LEN}}", &MAX_LABEL_LEN.to_string())
        .replace("{{FACILITIES}}", &facilities.join("\n"))
        .replace("{{MESSAGES}}", &messages.join("\n"))
}

const PHP_TEMPLATE: &str = include_str!("rules.php.in");

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(path: &str) -> Option<Problem> {
        log_path("auth_log", path).err().map(|e| e.problem)
    }

    #[test]
    fn log_paths() {
        assert_eq!(log_path("spam_log", "  /var/log/wp/spam.log\n").unwrap().as_deref(), Some("/var/log/wp/spam.log"));
        assert_eq!(log_path("spam_log", " \t").unwrap(), None);
        assert_eq!(refused("/var/log/"), Some(Problem::PathDirectory));
        assert_eq!(refused("var/x.log"), Some(Problem::PathRelative));
        assert_eq!(refused("/var/log/../x.log"), Some(Problem::PathTraversal));
        assert_eq!(refused("/var/log/x\u{85}.log"), Some(Problem::PathControl));
        assert_eq!(refused("/srv/.htaccess"), Some(Problem::PathConfig));
        assert_eq!(refused("/srv/x.txt"), Some(Problem::PathNotLog));
        assert_eq!(refused("/srv/.log"), Some(Problem::PathNotLog));
        assert_eq!(refused("/srv/x.php.log"), Some(Problem::PathExecutable));
        assert_eq!(refused("/srv/x.PHP74.log"), Some(Problem::PathExecutable));
        assert_eq!(refused("/srv/x.html.log"), Some(Problem::PathMarkup));
        assert_eq!(refused("/srv/php.log"), None);
        assert_eq!(refused("/srv/x.phpx.log"), None);
        assert_eq!(refused("/srv/X.LOG"), None);
        let e = log_path("auth_log", "/srv/a.inc.log").unwrap_err();
        assert!(e.to_string().contains("extension .inc, which a web server may run"), "{e}");
        let e = log_path("auth_log", "/var/log/").unwrap_err();
        assert!(!e.to_string().contains("executable"), "{e}");
    }

    #[test]
    fn every_extension_of_the_tables_is_refused_inside_a_name() {
        for ext in EXECUTABLE_EXTENSIONS.iter().chain(MARKUP_EXTENSIONS) {
            assert!(refused(&format!("/srv/a.{ext}.log")).is_some(), "{ext}");
            assert!(refused(&format!("/srv/a.{}.b.log", ext.to_ascii_uppercase())).is_some(), "{ext}");
            assert!(refused(&format!("/srv/a.{ext}")).is_some(), "{ext}");
            assert_eq!(refused(&format!("/srv/{ext}.log")), None, "{ext} as a base name is fine");
        }
    }

    #[test]
    fn facilities_and_targets() {
        assert_eq!(facility(" LOG_Daemon "), Some(("daemon", 3)));
        assert_eq!(facility("local07"), None);
        assert_eq!(facility("local8"), None);
        let t = |s| target("syslog_target", s);
        assert_eq!(t("unix:///dev/log").unwrap(), Target::Unix("/dev/log".into()));
        assert_eq!(t("udp://[::1]:514").unwrap(), Target::Udp("[::1]:514".into()));
        assert_eq!(t("tcp://log.example.com:6514").unwrap(), Target::Tcp("log.example.com:6514".into()));
        for (bad, p) in [
            ("udp://::1:514", Problem::TargetHost),
            ("udp://h:+514", Problem::TargetPort),
            ("udp://h:0", Problem::TargetPort),
            ("udp://h:65536", Problem::TargetPort),
            ("udp://h", Problem::TargetPort),
            ("udp://[::1]", Problem::TargetPort),
            ("udp://[1.2.3.4]:5", Problem::TargetHost),
            ("udp://a b:5", Problem::TargetHost),
            ("dev/log", Problem::TargetForm),
            ("", Problem::TargetForm),
            ("/dev/l\nog", Problem::TargetControl),
        ] {
            assert_eq!(t(bad).unwrap_err().problem, p, "{bad}");
        }
    }

    #[test]
    fn the_committed_php_file_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(PHP_FILE);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == render_php(), "{PHP_FILE} is stale: run `make rules-php` and commit the result");
    }
}
