//! `banlog doctor`: a setup checked end to end; every finding says what to do.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::assets;
use crate::matcher::Matcher;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about it (empty when all is well).
    pub fix: String,
}

pub struct Options {
    pub php: String,
    pub spam_log: Option<String>,
    pub auth_log: Option<String>,
    pub web_user: String,
    pub fail2ban_dir: String,
}

fn ok(check: &'static str, detail: String) -> Finding {
    Finding { check, status: Status::Ok, detail, fix: String::new() }
}
fn bad(check: &'static str, status: Status, detail: String, fix: impl Into<String>) -> Finding {
    Finding { check, status, detail, fix: fix.into() }
}

pub fn run(o: &Options) -> Vec<Finding> {
    let mut f = Vec::new();
    let ini = php_extension(o, &mut f);
    let spam_log = o.spam_log.clone().or_else(|| ini.as_ref().and_then(|i| ini_value(i, "banlog.spam_log")));
    let auth_log = o.auth_log.clone().or_else(|| ini.as_ref().and_then(|i| ini_value(i, "banlog.auth_log")));
    match &spam_log {
        Some(p) => {
            f.push(writable(p, &o.web_user));
            f.push(time_zone(p));
        }
        None => f.push(bad(
            "spam log",
            Status::Warn,
            "no spam log path known (banlog.spam_log is empty and --spam-log was not given)".into(),
            "pass --spam-log PATH, the path on the plugin's options page",
        )),
    }
    if let Some(p) = &auth_log {
        f.push(writable(p, &o.web_user));
        f.push(time_zone(p));
    }
    installed(Path::new(&o.fail2ban_dir), &mut f);
    jails(o, &mut f);
    f
}

/// Whether the PHP CLI loads the extension; its `banlog.*` settings as JSON.
fn php_extension(o: &Options, f: &mut Vec<Finding>) -> Option<serde_json::Value> {
    let code = r#"echo json_encode(["loaded" => extension_loaded("banlog"), "version" => phpversion("banlog"), "ini" => extension_loaded("banlog") ? ini_get_all("banlog", false) : null]);"#;
    let out = match Command::new(&o.php).args(["-r", code]).output() {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            f.push(bad(
                "php extension",
                Status::Fail,
                format!("{} failed: {}", o.php, String::from_utf8_lossy(&out.stderr).trim()),
                "check the PHP installation (php -v)",
            ));
            return None;
        }
        Err(e) => {
            f.push(bad(
                "php extension",
                Status::Fail,
                format!("cannot run {}: {e}", o.php),
                "install PHP's command line (apt-get install php8.2-cli) or pass --php PATH",
            ));
            return None;
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if v["loaded"] == true {
        f.push(ok("php extension", format!("banlog {} loaded in {}", v["version"].as_str().unwrap_or("?"), o.php)));
        Some(v["ini"].clone())
    } else {
        f.push(bad(
            "php extension",
            Status::Warn,
            format!(
                "the banlog extension is not loaded in {} (the plugin falls back to its slower pure-PHP writer)",
                o.php
            ),
            "make install-ext, then phpenmod banlog and restart php-fpm; check with php -m | grep banlog",
        ));
        None
    }
}

fn ini_value(ini: &serde_json::Value, key: &str) -> Option<String> {
    ini.get(key).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The user's uid and groups, from `id`.
fn user_ids(user: &str) -> Option<(u32, Vec<u32>)> {
    let run = |flag: &str| Command::new("id").args([flag, user]).output().ok().filter(|o| o.status.success());
    let uid = String::from_utf8_lossy(&run("-u")?.stdout).trim().parse().ok()?;
    let groups =
        String::from_utf8_lossy(&run("-G")?.stdout).split_whitespace().filter_map(|g| g.parse().ok()).collect();
    Some((uid, groups))
}

fn can_write(meta: &fs::Metadata, uid: u32, groups: &[u32]) -> bool {
    let mode = meta.mode();
    uid == 0
        || (meta.uid() == uid && mode & 0o200 != 0)
        || (groups.contains(&meta.gid()) && mode & 0o020 != 0)
        || mode & 0o002 != 0
}

fn writable(path: &str, user: &str) -> Finding {
    const C: &str = "log writable";
    let Some((uid, groups)) = user_ids(user) else {
        return bad(
            C,
            Status::Warn,
            format!("there is no user '{user}' to check {path} for"),
            "pass --web-user, the user PHP-FPM or Apache runs as",
        );
    };
    let p = Path::new(path);
    match fs::metadata(p) {
        Ok(m) if can_write(&m, uid, &groups) => ok(C, format!("{path} is writable by {user}")),
        Ok(_) => bad(
            C,
            Status::Fail,
            format!("{path} is not writable by {user}"),
            format!("chown {user} {path} (or chgrp a group {user} is in, and chmod g+w)"),
        ),
        Err(_) => {
            let dir = p.parent().unwrap_or(Path::new("/"));
            match fs::metadata(dir) {
                Ok(m) if can_write(&m, uid, &groups) && m.mode() & 0o100 != 0 => {
                    ok(C, format!("{path} does not exist yet; {user} can create it in {}", dir.display()))
                }
                Ok(_) => bad(
                    C,
                    Status::Fail,
                    format!("{path} does not exist and {user} cannot create it in {}", dir.display()),
                    format!("install -o {user} -m 0640 /dev/null {path}"),
                ),
                Err(_) => bad(
                    C,
                    Status::Fail,
                    format!("the folder {} does not exist", dir.display()),
                    format!("mkdir -p {} and give {user} write access", dir.display()),
                ),
            }
        }
    }
}

/// The last time stamp in a log against the file's modification time: a difference of whole
/// hours means the writer and fail2ban disagree on the time zone, which delays or prevents bans.
fn time_zone(path: &str) -> Finding {
    const C: &str = "time zone";
    let (Ok(meta), Some(text)) = (fs::metadata(path), tail(path)) else {
        return ok(C, format!("{path} is not a readable file or empty yet: nothing to compare"));
    };
    let m = Matcher::new();
    let Some(t) = text.lines().rev().find_map(|l| m.cut_date(l).1) else {
        return ok(C, format!("{path} holds no time stamp yet"));
    };
    let zone = banlog_core::LocalZone::load();
    let mtime = meta.mtime();
    let line = crate::simulate::unix_time(&t, &zone, mtime);
    let diff = mtime - line;
    if diff.abs() < 1800 {
        ok(C, format!("the last line of {path} is in this host's time zone ({})", zone.source))
    } else if diff.abs() % 1800 < 120 || diff.abs() % 1800 > 1680 {
        bad(C, Status::Fail, format!("the last line of {path} is {:+.1} h off the file's modification time: the writer uses another time zone than this host ({})", diff as f64 / -3600.0, zone.source),
            "give PHP and fail2ban the same zone (TZ of php-fpm, /etc/localtime), then restart php-fpm")
    } else {
        ok(C, format!("{path} was last written {}s after its last line: no time zone mismatch visible", diff))
    }
}

/// The last 64 KiB of a regular file (never a FIFO or a device: opened without blocking, and
/// only read when it is a file), enough for its last lines whatever its size.
fn tail(path: &str) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    f.seek(SeekFrom::Start(meta.len().saturating_sub(64 * 1024))).ok()?;
    let mut buf = Vec::new();
    f.take(64 * 1024).read_to_end(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn installed(dir: &Path, f: &mut Vec<Finding>) {
    const C: &str = "filters installed";
    for a in assets::FILTERS {
        let p = dir.join(a.rel);
        match fs::read_to_string(&p) {
            Ok(t) if t == a.text => f.push(ok(C, format!("{} is the shipped filter", p.display()))),
            Ok(_) => f.push(bad(C, Status::Warn, format!("{} differs from the filter this banlog ships", p.display()),
                format!("banlog install --fail2ban-dir {} --spam-log PATH (add --force to replace your changes; put local changes in a .local file)", dir.display()))),
            Err(_) => f.push(bad(C, Status::Fail, format!("{} is missing", p.display()), format!("banlog install --fail2ban-dir {} --spam-log PATH", dir.display()))),
        }
    }
    let jail = dir.join(assets::JAIL.rel);
    if !jail.exists() {
        f.push(bad(
            C,
            Status::Fail,
            format!("{} is missing", jail.display()),
            format!("banlog install --fail2ban-dir {} --spam-log PATH", dir.display()),
        ));
    }
}

fn jails(o: &Options, f: &mut Vec<Finding>) {
    const C: &str = "jails enabled";
    let out = Command::new("fail2ban-client").args(["-c", &o.fail2ban_dir, "status"]).output();
    let text = match out {
        Err(_) => {
            return f.push(bad(C, Status::Fail, "fail2ban-client is not installed".into(), "apt-get install fail2ban"))
        }
        Ok(o) if !o.status.success() => {
            return f.push(bad(
                C,
                Status::Fail,
                format!("fail2ban is not running: {}", String::from_utf8_lossy(&o.stderr).trim()),
                "systemctl start fail2ban (journalctl -u fail2ban says why it stopped)",
            ))
        }
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
    };
    let list: Vec<String> = text
        .lines()
        .find_map(|l| l.split_once("Jail list:").map(|(_, r)| r.split(',').map(|j| j.trim().to_owned()).collect()))
        .unwrap_or_default();
    for j in assets::JAILS {
        if list.iter().any(|l| l == j) {
            f.push(ok(C, format!("jail {j} is running")));
        } else {
            f.push(bad(
                C,
                Status::Warn,
                format!("jail {j} is not running"),
                format!("set enabled = true in [{j}] of jail.d/banlog.local, then fail2ban-client reload"),
            ));
        }
    }
}

pub fn print_text(findings: &[Finding]) {
    for x in findings {
        let tag = match x.status {
            Status::Ok => "ok  ",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        };
        println!("[{tag}] {:<18} {}", x.check, x.detail);
        if !x.fix.is_empty() {
            println!("       {:<18} fix: {}", "", x.fix);
        }
    }
}
