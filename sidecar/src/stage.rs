//! What `banlog install` prepares besides fail2ban's files: the log folder and files the web
//! server writes and fail2ban reads, the logrotate file, and which way the auth lines reach
//! fail2ban (a syslog file, or the systemd journal on hosts without rsyslog).
//!
//! A log file is created with O_CREAT|O_EXCL|O_NOFOLLOW and chowned through its descriptor: the
//! folder belongs to the web server's user, who could otherwise plant a link that makes root
//! chown a file of its choosing. An existing file or folder keeps its owner and mode.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

/// The logrotate file, with `@LOGS@`, `@USER@` and `@GROUP@` to fill in.
pub const LOGROTATE_TEMPLATE: &str = include_str!("../../packaging/logrotate/banlog");

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("cannot tell which user the web server runs as (no php-fpm pool names one, and there is no www-data user): pass --web-user USER")]
    NoWebUser,
    #[error("there is no user '{0}' on this host (--web-user)")]
    UnknownUser(String),
    #[error("{0} is a symbolic link: banlog does not create logs through links; remove it and run again")]
    Link(String),
    #[error("{0} exists and is not a regular file")]
    NotFile(String),
    #[error("{0} exists and is not a folder")]
    NotDir(String),
    #[error("cannot create {path}: {source}")]
    Create { path: String, source: io::Error },
    #[error("the log path '{0}' has no folder")]
    NoParent(String),
}

/// The user (and where it was found) that must be able to write the logs.
#[derive(Debug, Clone, Serialize)]
pub struct WebUser {
    pub name: String,
    pub uid: u32,
    /// The group the logs get: adm (Debian's log readers) when it exists, else the user's own.
    pub group: String,
    pub gid: u32,
    pub source: String,
}

fn id_of(user: &str) -> Option<(u32, u32)> {
    let run = |flag: &str| {
        Command::new("id")
            .args([flag, "--", user])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<u32>().ok())
    };
    Some((run("-u")?, run("-g")?))
}

fn gid_of(group: &str) -> Option<u32> {
    let o = Command::new("getent").args(["group", group]).output().ok().filter(|o| o.status.success())?;
    String::from_utf8_lossy(&o.stdout).split(':').nth(2)?.trim().parse().ok()
}

/// The `user =` of the php-fpm pools (every PHP version's), first found in name order.
pub fn fpm_pool_user() -> Option<(String, String)> {
    let mut pools: Vec<PathBuf> = Vec::new();
    for v in fs::read_dir("/etc/php").ok()?.flatten() {
        if let Ok(rd) = fs::read_dir(v.path().join("fpm/pool.d")) {
            pools.extend(rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "conf")));
        }
    }
    pools.sort();
    pools.iter().find_map(|p| {
        let text = fs::read_to_string(p).ok()?;
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "user").then(|| (v.trim().trim_matches('"').to_owned(), p.display().to_string()))
        })
    })
}

/// The web server's user: `given`, else php-fpm's pool user, else www-data (Debian's).
pub fn web_user(given: Option<&str>) -> Result<WebUser, StageError> {
    let (name, source) = match given {
        Some(u) => (u.to_owned(), "--web-user".to_owned()),
        None => match fpm_pool_user() {
            Some((u, pool)) => (u, format!("php-fpm pool {pool}")),
            None if id_of("www-data").is_some() => ("www-data".to_owned(), "Debian's web server user".to_owned()),
            None => return Err(StageError::NoWebUser),
        },
    };
    let (uid, own_gid) = id_of(&name).ok_or_else(|| StageError::UnknownUser(name.clone()))?;
    let (group, gid) = match gid_of("adm") {
        Some(g) => ("adm".to_owned(), g),
        None => (name.clone(), own_gid),
    };
    Ok(WebUser { name, uid, group, gid, source })
}

/// The owner Debian's rsyslog gives the files it creates (root:adm, 0640), for the system auth
/// log: rsyslog creates /var/log/auth.log only with its first auth message, and fail2ban refuses
/// a jail whose log file does not exist.
pub fn syslog_owner() -> WebUser {
    let gid = gid_of("adm").unwrap_or(0);
    WebUser {
        name: "root".into(),
        uid: 0,
        group: if gid == 0 { "root".into() } else { "adm".into() },
        gid,
        source: "rsyslog".into(),
    }
}

/// Where Debian's rsyslog writes auth lines (fail2ban's `%(syslog_authpriv)s` on Debian).
pub const SYSTEM_AUTH_LOG: &str = "/var/log/auth.log";

/// How the auth lines reach fail2ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthSource {
    /// rsyslog (or another syslog daemon) writes them to the system's auth log file.
    File,
    /// Only systemd-journald runs: fail2ban reads the journal (backend = systemd).
    Journal,
}

/// What this host has: rsyslog, /var/log/auth.log, a running journald.
pub fn detect_auth_source() -> (AuthSource, String) {
    let rsyslog = Path::new("/usr/sbin/rsyslogd").exists();
    let auth_log = Path::new("/var/log/auth.log").exists();
    let journald = Path::new("/run/systemd/journal/socket").exists();
    if !rsyslog && !auth_log && journald {
        (AuthSource::Journal, "no rsyslog and no /var/log/auth.log; systemd-journald runs".into())
    } else if rsyslog || auth_log {
        (
            AuthSource::File,
            format!("{} writes the system auth log", if rsyslog { "rsyslog" } else { "a syslog daemon" }),
        )
    } else {
        (
            AuthSource::File,
            "no syslog daemon found (no rsyslog, no journald): install rsyslog, or use --auth-log".into(),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogOutcome {
    Created,
    /// It was there: owner and mode left alone.
    Exists,
    /// Created, then removed again because fail2ban rejected the configuration.
    RolledBack,
}

#[derive(Debug, Serialize)]
pub struct LogResult {
    pub path: String,
    pub outcome: LogOutcome,
    pub owner: String,
    pub mode: String,
    /// Whether the web server's user can write it (an existing file may say no).
    pub writable: bool,
}

/// The folders and files `stage_logs` created, youngest last (for a roll-back).
#[derive(Default)]
pub struct Staged {
    pub results: Vec<LogResult>,
    created: Vec<(PathBuf, bool)>,
}

impl Staged {
    /// Removes what was created, files then folders (only if still empty).
    pub fn roll_back(&mut self) {
        for (p, is_dir) in self.created.iter().rev() {
            let _ = if *is_dir { fs::remove_dir(p) } else { fs::remove_file(p) };
        }
        for r in &mut self.results {
            if r.outcome == LogOutcome::Created {
                r.outcome = LogOutcome::RolledBack;
            }
        }
    }
}

fn can_write(m: &fs::Metadata, u: &WebUser) -> bool {
    let mode = m.mode();
    u.uid == 0
        || (m.uid() == u.uid && mode & 0o200 != 0)
        || (m.gid() == u.gid && mode & 0o020 != 0)
        || mode & 0o002 != 0
}

fn describe(m: &fs::Metadata) -> (String, String) {
    (format!("{}:{}", m.uid(), m.gid()), format!("{:04o}", m.mode() & 0o7777))
}

/// Creates each log's folder (0750) and the log (0640), both owned by the web user and its group,
/// where they do not exist yet.
pub fn stage_logs(logs: &[String], u: &WebUser, out: &mut Staged) -> Result<(), StageError> {
    let shown = |p: &Path| p.display().to_string();
    for log in logs {
        let path = Path::new(log);
        let dir =
            path.parent().filter(|d| !d.as_os_str().is_empty()).ok_or_else(|| StageError::NoParent(log.clone()))?;
        match fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() && fs::metadata(dir).is_ok_and(|t| t.is_dir()) => {}
            Ok(_) => return Err(StageError::NotDir(shown(dir))),
            Err(_) => {
                if let Some(up) = dir.parent() {
                    fs::create_dir_all(up).map_err(|source| StageError::Create { path: shown(up), source })?;
                }
                fs::DirBuilder::new()
                    .mode(0o750)
                    .create(dir)
                    .map_err(|source| StageError::Create { path: shown(dir), source })?;
                out.created.push((dir.to_owned(), true));
                std::os::unix::fs::lchown(dir, Some(u.uid), Some(u.gid))
                    .and_then(|()| fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o750)))
                    .map_err(|source| StageError::Create { path: shown(dir), source })?;
                let m = fs::symlink_metadata(dir).map_err(|source| StageError::Create { path: shown(dir), source })?;
                let (owner, mode) = describe(&m);
                out.results.push(LogResult {
                    path: shown(dir),
                    outcome: LogOutcome::Created,
                    owner: format!("{}:{} ({owner})", u.name, u.group),
                    mode,
                    writable: true,
                });
            }
        }
        let opened =
            fs::OpenOptions::new().write(true).create_new(true).mode(0o640).custom_flags(libc::O_NOFOLLOW).open(path);
        let (outcome, meta) = match opened {
            Ok(f) => {
                out.created.push((path.to_owned(), false));
                std::os::unix::fs::fchown(&f, Some(u.uid), Some(u.gid))
                    .and_then(|()| f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o640)))
                    .map_err(|source| StageError::Create { path: shown(path), source })?;
                (LogOutcome::Created, f.metadata().map_err(|source| StageError::Create { path: shown(path), source })?)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let m =
                    fs::symlink_metadata(path).map_err(|source| StageError::Create { path: shown(path), source })?;
                if m.file_type().is_symlink() {
                    return Err(StageError::Link(shown(path)));
                }
                if !m.is_file() {
                    return Err(StageError::NotFile(shown(path)));
                }
                (LogOutcome::Exists, m)
            }
            Err(source) => return Err(StageError::Create { path: shown(path), source }),
        };
        let (owner, mode) = describe(&meta);
        let owner = if outcome == LogOutcome::Created { format!("{}:{} ({owner})", u.name, u.group) } else { owner };
        out.results.push(LogResult { path: shown(path), outcome, owner, mode, writable: can_write(&meta, u) });
    }
    Ok(())
}

/// The logrotate file for these logs: `create` mode with the web user as owner, so a rotated log
/// is at once writable by PHP and readable by fail2ban.
pub fn logrotate(logs: &[String], u: &WebUser) -> String {
    // logrotate reads white space as a separator: a path holding some is quoted.
    let paths: Vec<String> =
        logs.iter().map(|l| if l.contains(char::is_whitespace) { format!("\"{l}\"") } else { l.clone() }).collect();
    LOGROTATE_TEMPLATE.replace("@LOGS@", &paths.join(" ")).replace("@USER@", &u.name).replace("@GROUP@", &u.group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logrotate_fills_in_and_quotes() {
        let u = WebUser { name: "www-data".into(), uid: 33, group: "adm".into(), gid: 4, source: String::new() };
        let t = logrotate(&["/var/log/wordpress/spam.log".into(), "/srv/my site/auth.log".into()], &u);
        assert!(t.contains("/var/log/wordpress/spam.log \"/srv/my site/auth.log\" {"));
        assert!(t.contains("create 0640 www-data adm"));
        assert!(!t.contains('@'));
    }
}
