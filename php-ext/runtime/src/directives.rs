//! The php.ini directives (`banlog.*`): their names and defaults, in this one place.
//!
//! The extension registers them from [`DIRECTIVES`]; the README's table and `php-ext/banlog.ini`
//! are checked against it by the tests below, and [`crate::Settings`]' defaults too.

use std::ffi::CStr;

/// One `banlog.*` directive.
#[derive(Debug, Clone, Copy)]
pub struct Directive {
    /// The full name, `banlog.<key>`.
    pub name: &'static CStr,
    /// The default value as php.ini would spell it ("" for none).
    pub default: &'static CStr,
}

impl Directive {
    /// The name without `banlog.`: a [`crate::Settings`] key for the settings directives.
    pub fn key(&self) -> &'static str {
        let name = self.name.to_str().unwrap_or("");
        name.strip_prefix("banlog.").unwrap_or(name)
    }

    pub fn default_str(&self) -> &'static str {
        self.default.to_str().unwrap_or("")
    }
}

/// `banlog.queue_capacity`: events queued per PHP process before callers wait.
pub const QUEUE_CAPACITY: usize = 1024;
/// `banlog.request_wait_ms`: how long a request's end waits for its lines to be written.
pub const REQUEST_WAIT_MS: u64 = 1000;
/// `banlog.queue_full_wait_ms`: how long a caller waits for room in a full queue.
pub const QUEUE_FULL_WAIT_MS: u64 = 50;
/// `banlog.spool_max_mb`: the largest spool file of one sink of one process, in MiB.
pub const SPOOL_MAX_MB: u64 = 64;

/// Every directive, in the order the README and `banlog.ini` list them. The first seven are the
/// settings `banlog_configure()` overrides per request ([`crate::Settings::KEYS`]); the next
/// three shape the process's queue, the last two where and how much a sink spools.
pub const DIRECTIVES: [Directive; 12] = [
    Directive { name: c"banlog.spam_log", default: c"" },
    Directive { name: c"banlog.syslog", default: c"1" },
    Directive { name: c"banlog.syslog_facility", default: c"auth" },
    Directive { name: c"banlog.syslog_target", default: c"/dev/log" },
    Directive { name: c"banlog.syslog_spam", default: c"0" },
    Directive { name: c"banlog.ident_host", default: c"" },
    Directive { name: c"banlog.auth_log", default: c"" },
    Directive { name: c"banlog.queue_capacity", default: c"1024" },
    Directive { name: c"banlog.request_wait_ms", default: c"1000" },
    Directive { name: c"banlog.queue_full_wait_ms", default: c"50" },
    Directive { name: c"banlog.spool_dir", default: c"" },
    Directive { name: c"banlog.spool_max_mb", default: c"64" },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SettingValue, Settings};

    fn repo_file(rel: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn table() -> Vec<(String, String)> {
        DIRECTIVES.iter().map(|d| (format!("banlog.{}", d.key()), d.default_str().to_owned())).collect()
    }

    #[test]
    fn the_settings_directives_are_the_settings_and_their_defaults_are_settings_defaults() {
        let keys: Vec<&str> = DIRECTIVES[..7].iter().map(|d| d.key()).collect();
        let mut want = Settings::KEYS.to_vec();
        let mut got = keys.clone();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
        // Setting a key replaces its field: a directive default that differed from the field's
        // default would show here.
        let mut s = Settings::default();
        for d in &DIRECTIVES[..7] {
            s.set(d.key(), &SettingValue::Str(d.default_str().into())).unwrap();
        }
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn the_numeric_defaults_match_their_constants() {
        let num =
            |key: &str| -> u64 { DIRECTIVES.iter().find(|d| d.key() == key).unwrap().default_str().parse().unwrap() };
        assert_eq!(num("queue_capacity"), u64::try_from(QUEUE_CAPACITY).unwrap());
        assert_eq!(num("request_wait_ms"), REQUEST_WAIT_MS);
        assert_eq!(num("queue_full_wait_ms"), QUEUE_FULL_WAIT_MS);
        assert_eq!(num("spool_max_mb"), SPOOL_MAX_MB);
    }

    #[test]
    fn the_readme_table_lists_every_directive_with_its_default() {
        // Rows like "| `banlog.spam_log` | (none) | ... |".
        let readme = repo_file("README.md");
        let rows: Vec<(String, String)> = readme
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let name = cells.get(1)?.strip_prefix("`banlog.")?.strip_suffix('`')?;
                let default = match *cells.get(2)? {
                    "(none)" => String::new(),
                    d => d.strip_prefix('`')?.strip_suffix('`')?.to_owned(),
                };
                Some((format!("banlog.{name}"), default))
            })
            .collect();
        assert_eq!(rows, table());
    }

    #[test]
    fn banlog_ini_lists_every_directive_with_its_default() {
        // Lines like ";banlog.syslog = 1".
        let ini = repo_file("php-ext/banlog.ini");
        let rows: Vec<(String, String)> = ini
            .lines()
            .filter_map(|l| {
                let (name, value) = l.strip_prefix(';')?.split_once('=')?;
                let name = name.trim();
                name.starts_with("banlog.").then(|| (name.to_owned(), value.trim().to_owned()))
            })
            .collect();
        assert_eq!(rows, table());
    }
}
