//! The fail2ban files banlog ships, embedded so that the binary alone can install them, and their
//! rendering with an installation's paths filled in.

/// One file of the fail2ban configuration, relative to the configuration folder.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub rel: &'static str,
    pub text: &'static str,
}

/// What both filters include (`[INCLUDES] before = banlog-common.conf`): the ident and the prefixes.
pub const COMMON_FILTER: Asset =
    Asset { rel: "filter.d/banlog-common.conf", text: include_str!("../../filters/filter.d/banlog-common.conf") };
pub const SPAM_FILTER: Asset =
    Asset { rel: "filter.d/banlog-spam.conf", text: include_str!("../../filters/filter.d/banlog-spam.conf") };
pub const AUTH_FILTER: Asset =
    Asset { rel: "filter.d/banlog-auth.conf", text: include_str!("../../filters/filter.d/banlog-auth.conf") };
pub const JAIL: Asset = Asset { rel: "jail.d/banlog.conf", text: include_str!("../../filters/jail.d/banlog.conf") };
/// The actions banlog ships: banning at the web server (behind a proxy), with the part those share,
/// and posting bans to a webhook.
pub const ACTIONS: [Asset; 4] = [
    Asset { rel: "action.d/banlog-webserver.conf", text: include_str!("../../filters/action.d/banlog-webserver.conf") },
    Asset { rel: "action.d/banlog-nginx.conf", text: include_str!("../../filters/action.d/banlog-nginx.conf") },
    Asset { rel: "action.d/banlog-apache.conf", text: include_str!("../../filters/action.d/banlog-apache.conf") },
    Asset { rel: "action.d/banlog-webhook.conf", text: include_str!("../../filters/action.d/banlog-webhook.conf") },
];
/// What the web server's configuration needs for those actions: printed by `banlog filters`,
/// never written into fail2ban's folder.
pub const WEBSERVER_SNIPPETS: [Asset; 2] = [
    Asset { rel: "webserver/nginx-banlog.conf", text: include_str!("../../filters/webserver/nginx-banlog.conf") },
    Asset { rel: "webserver/apache-banlog.conf", text: include_str!("../../filters/webserver/apache-banlog.conf") },
];

/// The filter files, the include first (fail2ban reads it whenever it reads a filter).
pub const FILTERS: [Asset; 3] = [COMMON_FILTER, SPAM_FILTER, AUTH_FILTER];

/// The jails in `jail.d/banlog.conf`.
pub const JAILS: [&str; 6] =
    ["banlog-spam", "banlog-auth", "banlog-auth-hard", "banlog-pingback", "banlog-comment-flood", "banlog-user-enum"];

/// The jails that read the auth lines (syslog's auth log, banlog's auth_log file or the journal).
pub const AUTH_JAILS: [&str; 5] =
    ["banlog-auth", "banlog-auth-hard", "banlog-pingback", "banlog-comment-flood", "banlog-user-enum"];

/// The jails enabled when none are named: the abuse jails are off by default, like upstream's
/// optional jails; `--enable` turns them on.
pub const DEFAULT_AUTH_JAILS: [&str; 2] = ["banlog-auth", "banlog-auth-hard"];

/// What `banlog filters` and `banlog install` fill in.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub spam_log: Option<String>,
    pub auth_log: Option<String>,
    /// Jails written with `enabled = true`.
    pub enable: Vec<String>,
    /// The auth jails read the systemd journal (a host without rsyslog) instead of a file.
    pub journal: bool,
}

/// What the auth jails match in the journal: the syslog facilities auth (4) and authpriv (10),
/// which banlog.syslog_facility chooses between; the filter picks banlog's lines out of them.
pub const JOURNALMATCH: &str = "SYSLOG_FACILITY=4 + SYSLOG_FACILITY=10";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "{what} '{path}' must be an absolute path (fail2ban resolves relative paths against its own working folder)"
    )]
    NotAbsolute { what: &'static str, path: String },
    #[error("{what} must be one line: it may not contain a line break or a NUL")]
    NotOneLine { what: &'static str },
    #[error("{what} '{path}' may not hold a ';' after a space: fail2ban reads the rest of the line as a comment")]
    CommentCut { what: &'static str, path: String },
    #[error("unknown jail '{0}'; the jails are: {jails}", jails = JAILS.join(", "))]
    UnknownJail(String),
}

/// A log path as a `logpath` value that fail2ban reads back as exactly that path. The rules
/// (the plugin's Banlog_Snippet::logpath applies the same ones; tests/filters/test_snippets.py
/// holds the two to the same bytes and verdicts):
/// 1. one line, absolute, no white space followed by `;` (an inline comment to fail2ban): else refused;
/// 2. `%` doubled (fail2ban interpolates `%(name)s`);
/// 3. `*`, `?` and `[` bracketed (fail2ban globs logpath): `[*]`, `[?]`, `[[]`;
/// 4. a path holding white space gets ` head` appended (fail2ban splits an optional `head`/`tail`
///    off at the last space, and trims the value's end).
///
/// White space is Python's (`str.isspace`), as fail2ban's configuration reader sees it.
pub fn logpath(what: &'static str, path: &str) -> Result<String, RenderError> {
    if path.contains(['\n', '\r', '\0']) {
        return Err(RenderError::NotOneLine { what });
    }
    if !path.starts_with('/') {
        return Err(RenderError::NotAbsolute { what, path: path.to_owned() });
    }
    let chars: Vec<char> = path.chars().collect();
    if chars.windows(2).any(|w| py_space(w[0]) && w[1] == ';') {
        return Err(RenderError::CommentCut { what, path: path.to_owned() });
    }
    let mut out = String::with_capacity(path.len() + 8);
    for c in chars {
        match c {
            '%' => out.push_str("%%"),
            '*' | '?' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    if path.chars().any(py_space) {
        out.push_str(" head");
    }
    Ok(out)
}

/// Python's `str.isspace()`: what fail2ban's configuration reader trims and splits on.
fn py_space(c: char) -> bool {
    matches!(c, '\u{9}'..='\u{d}' | '\u{1c}'..='\u{20}' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}'
        | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// The files as they are to be written, paths filled in: (relative path, content).
pub fn render(settings: &Settings) -> Result<Vec<(&'static str, String)>, RenderError> {
    for j in &settings.enable {
        if !JAILS.contains(&j.as_str()) {
            return Err(RenderError::UnknownJail(j.clone()));
        }
    }
    let spam = settings.spam_log.as_deref().map(|p| logpath("the spam log path", p)).transpose()?;
    let auth = settings.auth_log.as_deref().map(|p| logpath("the auth log path", p)).transpose()?;
    let mut files: Vec<(&'static str, String)> = FILTERS.iter().map(|a| (a.rel, a.text.to_owned())).collect();
    files.push((JAIL.rel, render_jail(spam.as_deref(), auth.as_deref(), settings.journal, &settings.enable)));
    files.extend(ACTIONS.iter().map(|a| (a.rel, a.text.to_owned())));
    Ok(files)
}

/// The first lines of a rendered jail file.
pub const RENDERED_HEADER: &str =
    "# Written by banlog for this host from its jail.d/banlog.conf: paths filled in, chosen jails\n\
     # enabled. Local changes belong in jail.d/banlog.local (banlog install leaves that file alone).\n#\n";

/// Rewrites `enabled`, `logpath` and `backend` inside the banlog sections of the shipped jail file;
/// everything else (comments included) stays as shipped, so a diff against it shows only the
/// installation's choices. `spam` and `auth` are [`logpath`] values.
fn render_jail(spam: Option<&str>, auth: Option<&str>, journal: bool, enable: &[String]) -> String {
    let mut out = String::with_capacity(JAIL.text.len() + 256);
    out.push_str(RENDERED_HEADER);
    let mut section = String::new();
    for line in JAIL.text.lines() {
        let t = line.trim();
        if t.starts_with('[') && t.ends_with(']') {
            section = t[1..t.len() - 1].to_owned();
        }
        let key = t.split('=').next().unwrap_or("").trim();
        let replaced = match (section.as_str(), key) {
            (s, "enabled") if JAILS.contains(&s) => Some(format!("enabled  = {}", enable.iter().any(|e| e == s))),
            ("banlog-spam", "logpath") => spam.map(|p| format!("logpath  = {p}")),
            (s, "logpath") if AUTH_JAILS.contains(&s) => match auth {
                Some(p) => Some(format!("logpath  = {p}")),
                // The systemd backend reads no file: it matches journal fields instead.
                None if journal => Some(format!("journalmatch = {JOURNALMATCH}")),
                None => None,
            },
            // banlog's own auth_log is a plain file: read it by polling or inotify, not from the journal.
            (s, "backend") if AUTH_JAILS.contains(&s) => match auth {
                Some(_) => Some("backend  = auto".to_owned()),
                None if journal => Some("backend  = systemd".to_owned()),
                None => None,
            },
            _ => None,
        };
        out.push_str(replaced.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_jails_are_disabled_and_rendering_fills_in() {
        assert_eq!(JAIL.text.matches("enabled  = false").count(), JAILS.len());
        let files = render(&Settings {
            spam_log: Some("/srv/wp/100%/spam.log".into()),
            auth_log: Some("/var/log/wp-auth.log".into()),
            enable: vec!["banlog-spam".into(), "banlog-auth-hard".into()],
            journal: false,
        })
        .unwrap();
        let jail = &files[3].1;
        assert!(jail.contains("logpath  = /srv/wp/100%%/spam.log\n"));
        assert_eq!(jail.matches("logpath  = /var/log/wp-auth.log\n").count(), AUTH_JAILS.len());
        assert_eq!(jail.matches("backend  = auto\n").count(), JAILS.len());
        assert_eq!(jail.matches("enabled  = true\n").count(), 2);
        assert!(jail.contains("[banlog-auth]\n# Password failures a person can cause (wrong password, mistyped login name): a few tries.\nenabled  = false\n"));
        assert!(!jail.contains("syslog_authpriv"));
        let journal = render(&Settings { journal: true, enable: vec!["banlog-auth".into()], ..Default::default() })
            .unwrap()
            .remove(3)
            .1;
        assert_eq!(journal.matches("backend  = systemd\n").count(), AUTH_JAILS.len());
        assert_eq!(journal.matches(&format!("journalmatch = {JOURNALMATCH}\n")).count(), AUTH_JAILS.len());
        assert!(!journal.contains("syslog_authpriv"));
    }

    #[test]
    fn the_web_server_actions_are_installed_as_shipped() {
        let files = render(&Settings::default()).unwrap();
        for a in ACTIONS {
            assert!(files.iter().any(|(rel, text)| *rel == a.rel && text == a.text), "{}", a.rel);
        }
        assert!(!files.iter().any(|(rel, _)| rel.starts_with("webserver/")));
    }

    #[test]
    fn refuses_paths_that_would_break_the_file() {
        let bad = |p: &str| render(&Settings { spam_log: Some(p.into()), ..Default::default() }).is_err();
        assert!(bad("relative/spam.log"));
        assert!(bad("/tmp/a\nenabled = true"));
        assert!(bad("/tmp/a ;b.log"));
        assert!(bad("/tmp/a\t;b.log"));
        assert!(render(&Settings { enable: vec!["sshd".into()], ..Default::default() }).is_err());
    }

    #[test]
    fn logpath_rules() {
        let lp = |p: &str| logpath("p", p).unwrap();
        assert_eq!(lp("/srv/spam.log"), "/srv/spam.log");
        assert_eq!(lp("/srv/100%/a;b.log"), "/srv/100%%/a;b.log");
        assert_eq!(lp("/srv/a*b?[c]/x.log"), "/srv/a[*]b[?][[]c]/x.log");
        assert_eq!(lp("/srv/my site/spam.log"), "/srv/my site/spam.log head");
        assert_eq!(lp("/srv/x.log "), "/srv/x.log  head");
    }
}
