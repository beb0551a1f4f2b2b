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
    /// None: found as install finds it (php-fpm's pool user, else www-data).
    pub web_user: Option<String>,
    pub fail2ban_dir: String,
    /// A WordPress folder whose plugin settings to read through PHP.
    pub wp: Option<String>,
    /// The Host header WordPress is loaded with (Debian's wordpress picks its config by it).
    pub wp_host: String,
    /// The php-fpm to ask (default: every /usr/sbin/php-fpm*).
    pub php_fpm: Option<String>,
}

fn ok(check: &'static str, detail: String) -> Finding {
    Finding { check, status: Status::Ok, detail, fix: String::new() }
}
fn bad(check: &'static str, status: Status, detail: String, fix: impl Into<String>) -> Finding {
    Finding { check, status, detail, fix: fix.into() }
}

pub fn run(o: &Options) -> Vec<Finding> {
    let mut f = Vec::new();
    let web_user = match crate::stage::web_user(o.web_user.as_deref()) {
        Ok(u) => u.name,
        Err(e) => {
            f.push(bad("web user", Status::Warn, e.to_string(), "pass --web-user USER"));
            o.web_user.clone().unwrap_or_else(|| "www-data".into())
        }
    };
    let ini = php_extension(o, &mut f);
    fpm_extension(o.php_fpm.as_deref(), &mut f);
    let dir = Path::new(&o.fail2ban_dir);
    installed(dir, &mut f);
    let conf = crate::f2bconf::Conf::load(dir);
    let running = running_jails(o, &conf, &mut f);

    // The paths the jails read: spam, and auth (a file, or the journal).
    let jail_spam: Vec<String> = if conf.enabled("banlog-spam") { conf.logpaths("banlog-spam") } else { Vec::new() };
    let auth_jails: Vec<&str> = assets::AUTH_JAILS.into_iter().filter(|j| conf.enabled(j)).collect();
    let auth_journal =
        auth_jails.iter().any(|j| conf.get(j, "backend").is_some_and(|b| b.trim().starts_with("systemd")));
    let jail_auth: Vec<String> = auth_jails.first().map(|j| conf.logpaths(j)).unwrap_or_default();
    for (jail, paths) in &running {
        let want = conf.logpaths(jail);
        if !paths.is_empty() && paths != &want {
            f.push(bad(
                "jail paths",
                Status::Fail,
                format!(
                    "the running {jail} reads {} but its configuration says {}: fail2ban was not reloaded",
                    paths.join(", "),
                    want.join(", ")
                ),
                "fail2ban-client reload",
            ));
        }
    }

    // What WordPress writes: --wp (the plugin's effective settings), else the options, else PHP's ini.
    let wp = o.wp.as_ref().and_then(|w| wordpress(o, w, &mut f));
    let setting = |k: &str| -> Option<String> {
        wp.as_ref()
            .and_then(|v| v.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .or_else(|| ini.as_ref().and_then(|i| ini_value(i, &format!("banlog.{k}"))))
            .filter(|s| !s.is_empty())
    };
    let spam_log = o.spam_log.clone().or_else(|| setting("spam_log"));
    let auth_log = o.auth_log.clone().or_else(|| setting("auth_log"));
    let syslog_on = wp.as_ref().and_then(|v| v.get("syslog")).map(|v| v.as_bool().unwrap_or(true)).unwrap_or(true);
    let target = setting("syslog_target").unwrap_or_else(|| "/dev/log".into());

    // Spam: the plugin's file, the jail's file, the file itself.
    match (&spam_log, jail_spam.is_empty()) {
        (Some(p), false) if !jail_spam.contains(p) => f.push(bad(
            "paths agree",
            Status::Fail,
            format!("WordPress writes spam to {p} but the banlog-spam jail reads {}", jail_spam.join(", ")),
            format!("banlog install --spam-log {p} --reload, or set the plugin's spam log to {}", jail_spam[0]),
        )),
        (Some(p), false) => f.push(ok("paths agree", format!("WordPress writes spam to {p}, which banlog-spam reads"))),
        (Some(p), true) if o.wp.is_some() || o.spam_log.is_some() => f.push(bad(
            "paths agree",
            Status::Warn,
            format!("WordPress writes spam to {p} but no banlog-spam jail is enabled"),
            format!("banlog install --spam-log {p} --reload"),
        )),
        (None, false) if o.wp.is_none() => f.push(ok(
            "paths agree",
            format!(
                "banlog-spam reads {}; pass --wp /path/to/wordpress to compare it with the plugin's path",
                jail_spam.join(", ")
            ),
        )),
        _ => {}
    }
    let spam_files: Vec<String> =
        spam_log.iter().cloned().chain(jail_spam.iter().filter(|p| Some(*p) != spam_log.as_ref()).cloned()).collect();
    for p in &spam_files {
        f.push(writable(p, &web_user));
        f.push(time_zone(p));
    }

    // Auth: banlog's own file, or syslog behind the target.
    if let Some(p) = &auth_log {
        f.push(writable(p, &web_user));
        if !auth_jails.is_empty() && !jail_auth.contains(p) {
            f.push(bad(
                "paths agree",
                Status::Fail,
                format!(
                    "WordPress writes auth lines to {p} but the auth jails read {}",
                    if auth_journal { "the journal".to_owned() } else { jail_auth.join(", ") }
                ),
                format!("banlog install --auth-log {p} --reload"),
            ));
        }
    } else if !auth_jails.is_empty() && syslog_on {
        syslog(&target, auth_journal, &jail_auth, &mut f);
    }
    if auth_journal {
        journal_reader(&mut f);
    }
    f
}

/// Which daemon receives what PHP sends to `target`, and whether it ends where the jails read.
fn syslog(target: &str, journal_jails: bool, jail_files: &[String], f: &mut Vec<Finding>) {
    const C: &str = "syslog";
    if !target.starts_with('/') {
        return f.push(ok(
            C,
            format!("auth lines go to {target} (a network syslog target: its receiver must write what the jails read)"),
        ));
    }
    let sock = Path::new(target);
    let is_socket = fs::metadata(sock).is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_socket()
    });
    if !is_socket {
        return f.push(bad(C, Status::Fail, format!("{target} is not a socket: no syslog daemon listens, the auth lines are lost"),
            "apt-get install rsyslog (or start systemd-journald), or set banlog.auth_log to a file and banlog install --auth-log FILE"));
    }
    let journald_owns = fs::canonicalize(sock).is_ok_and(|p| p.starts_with("/run/systemd/journal"));
    let rsyslog = process_running("rsyslogd");
    if journald_owns {
        if journal_jails {
            f.push(ok(C, format!("{target} belongs to systemd-journald; the auth jails read the journal")));
        } else if rsyslog && rsyslog_writes_auth(jail_files) {
            f.push(ok(
                C,
                format!(
                    "{target} belongs to systemd-journald, which forwards to rsyslog; rsyslog writes auth to {}",
                    jail_files.join(", ")
                ),
            ));
        } else {
            f.push(bad(
                C,
                Status::Fail,
                format!(
                    "{target} belongs to systemd-journald, but the auth jails read {} and no rsyslog writes it",
                    jail_files.join(", ")
                ),
                "banlog install --auth-source journal --reload (or apt-get install rsyslog)",
            ));
        }
    } else if rsyslog {
        if journal_jails {
            f.push(bad(
                C,
                Status::Fail,
                format!("rsyslog owns {target}, but the auth jails read the journal"),
                "banlog install --auth-source file --reload",
            ));
        } else if rsyslog_writes_auth(jail_files) {
            f.push(ok(
                C,
                format!(
                    "rsyslog owns {target} and writes auth to {}, which the auth jails read",
                    jail_files.join(", ")
                ),
            ));
        } else {
            f.push(bad(
                C,
                Status::Fail,
                format!(
                    "rsyslog owns {target}, but no rule of its configuration writes facility auth to {}",
                    jail_files.join(", ")
                ),
                "add `auth,authpriv.* /var/log/auth.log` to /etc/rsyslog.d/ and restart rsyslog",
            ));
        }
    } else {
        f.push(bad(
            C,
            Status::Warn,
            format!("{target} is a socket, but neither rsyslogd nor systemd-journald is seen behind it"),
            "check which daemon listens: ss -xlp | grep log",
        ));
    }
}

fn process_running(name: &str) -> bool {
    fs::read_dir("/proc")
        .is_ok_and(|rd| rd.flatten().any(|e| fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name)))
}

/// Whether some rsyslog rule sends facility auth (or authpriv) to one of `files`.
fn rsyslog_writes_auth(files: &[String]) -> bool {
    let mut confs = vec![std::path::PathBuf::from("/etc/rsyslog.conf")];
    if let Ok(rd) = fs::read_dir("/etc/rsyslog.d") {
        confs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "conf")));
    }
    confs.iter().filter_map(|p| fs::read_to_string(p).ok()).any(|t| {
        t.lines().any(|l| {
            let l = l.trim();
            let mut parts = l.split_whitespace();
            let (Some(sel), Some(dest)) = (parts.next(), parts.next()) else { return false };
            !l.starts_with('#')
                && sel.split(';').any(|s| {
                    s.split('.')
                        .next()
                        .is_some_and(|fac| fac.split(',').any(|x| x == "auth" || x == "authpriv" || x == "*"))
                        && !s.ends_with(".none")
                })
                && files.iter().any(|fl| dest.trim_start_matches('-') == fl)
        })
    })
}

/// fail2ban's systemd backend needs python3-systemd, and a journal to read.
fn journal_reader(f: &mut Vec<Finding>) {
    const C: &str = "journal";
    let py = Command::new("/usr/bin/python3").args(["-c", "import systemd.journal"]).output();
    match py {
        Ok(o) if o.status.success() => {
            f.push(ok(C, "python3-systemd is installed (fail2ban's systemd backend)".into()))
        }
        _ => f.push(bad(
            C,
            Status::Fail,
            "the auth jails read the journal, but python3-systemd is missing: fail2ban cannot start them".into(),
            "apt-get install python3-systemd, then fail2ban-client reload",
        )),
    }
    if !Path::new("/run/systemd/journal/socket").exists() {
        f.push(bad(
            C,
            Status::Fail,
            "systemd-journald does not run: nothing to read".into(),
            "start systemd-journald, or install rsyslog and banlog install --auth-source file",
        ));
    }
}

/// The plugin's effective settings, read through PHP from a WordPress install.
fn wordpress(o: &Options, wp: &str, f: &mut Vec<Finding>) -> Option<serde_json::Map<String, serde_json::Value>> {
    const C: &str = "wordpress";
    let code = r#"
$_SERVER['HTTP_HOST'] = $argv[2]; $_SERVER['REQUEST_URI'] = '/'; $_SERVER['SERVER_NAME'] = $argv[2];
define('WP_USE_THEMES', false);
require rtrim($argv[1], '/') . '/wp-load.php';
$o = array('active' => class_exists('Banlog_Plugin'), 'stored' => get_option('banlog_options', null));
if (class_exists('Banlog_Plugin') && method_exists('Banlog_Plugin', 'writer_settings')) { $o['settings'] = Banlog_Plugin::writer_settings(); }
echo "\nBANLOG-DOCTOR " . json_encode($o) . "\n";
"#;
    let out = Command::new(&o.php).args(["-r", code, "--", wp, &o.wp_host]).output();
    let out = match out {
        Ok(x) => x,
        Err(e) => {
            f.push(bad(C, Status::Fail, format!("cannot run {}: {e}", o.php), "pass --php PATH"));
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(v) = text
        .lines()
        .find_map(|l| l.strip_prefix("BANLOG-DOCTOR "))
        .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
    else {
        f.push(bad(
            C,
            Status::Fail,
            format!(
                "cannot load WordPress from {wp}: {}",
                format!("{}{}", text.trim(), String::from_utf8_lossy(&out.stderr).trim())
                    .chars()
                    .take(400)
                    .collect::<String>()
            ),
            "pass --wp the folder holding wp-load.php (and --wp-host the site's host name)",
        ));
        return None;
    };
    if v["active"] != true {
        f.push(bad(
            C,
            Status::Fail,
            format!("the banlog plugin is not active in {wp}"),
            "activate it under Plugins (upload dist/banlog-plugin-*.zip)",
        ));
        return None;
    }
    let s = v["settings"].as_object().cloned().or_else(|| v["stored"].as_object().cloned()).unwrap_or_default();
    f.push(ok(
        C,
        format!(
            "the plugin is active in {wp}; it writes spam to {}",
            s.get("spam_log").and_then(|x| x.as_str()).unwrap_or("(nowhere)")
        ),
    ));
    Some(s)
}

/// The extension in php-fpm's own configuration (its php.ini and conf.d, not the CLI's).
fn fpm_extension(given: Option<&str>, f: &mut Vec<Finding>) {
    const C: &str = "php-fpm extension";
    let mut fpms: Vec<String> = match given {
        Some(g) => vec![g.to_owned()],
        None => fs::read_dir("/usr/sbin")
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.starts_with("php-fpm"))
                    .map(|n| format!("/usr/sbin/{n}"))
                    .collect()
            })
            .unwrap_or_default(),
    };
    fpms.sort();
    for fpm in fpms {
        match Command::new(&fpm).arg("-m").output() {
            Ok(o) if String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "banlog") => {
                f.push(ok(C, format!("{fpm} loads banlog (restart it after installing or upgrading the extension)")))
            }
            Ok(_) => f.push(bad(
                C,
                Status::Fail,
                format!("{fpm} does not load the banlog extension (the plugin falls back to its pure-PHP writer)"),
                format!("apt-get install php8.2-banlog (or phpenmod -s fpm banlog), then service {fpm} restart"),
            )),
            Err(_) => {}
        }
    }
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
            Ok(_) => f.push(bad(
                C,
                Status::Warn,
                format!("{} differs from the filter this banlog ships", p.display()),
                format!("banlog install --fail2ban-dir {} --force (put local changes in a .local file)", dir.display()),
            )),
            Err(_) => f.push(bad(
                C,
                Status::Fail,
                format!("{} is missing", p.display()),
                format!("banlog install --fail2ban-dir {}", dir.display()),
            )),
        }
    }
    let jail = dir.join(assets::JAIL.rel);
    if !jail.exists() {
        f.push(bad(
            C,
            Status::Fail,
            format!("{} is missing", jail.display()),
            format!("banlog install --fail2ban-dir {}", dir.display()),
        ));
    }
}

/// The banlog jails the running fail2ban has, and the files each reads (`get JAIL logpath`).
/// An enabled jail that does not run is a problem; a disabled one is fine.
fn running_jails(o: &Options, conf: &crate::f2bconf::Conf, f: &mut Vec<Finding>) -> Vec<(String, Vec<String>)> {
    const C: &str = "jails running";
    let client = |args: &[&str]| Command::new("fail2ban-client").args(["-c", &o.fail2ban_dir]).args(args).output();
    let text = match client(&["status"]) {
        Err(_) => {
            f.push(bad(C, Status::Fail, "fail2ban-client is not installed".into(), "apt-get install fail2ban"));
            return Vec::new();
        }
        Ok(out) if !out.status.success() => {
            f.push(bad(
                C,
                Status::Fail,
                format!("fail2ban is not running: {}", String::from_utf8_lossy(&out.stderr).trim()),
                "systemctl start fail2ban, or without systemd: fail2ban-client start (its log: /var/log/fail2ban.log)",
            ));
            return Vec::new();
        }
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
    };
    let list: Vec<String> = text
        .lines()
        .find_map(|l| l.split_once("Jail list:").map(|(_, r)| r.split(',').map(|j| j.trim().to_owned()).collect()))
        .unwrap_or_default();
    let mut out = Vec::new();
    for j in assets::JAILS {
        let runs = list.iter().any(|l| l == j);
        match (conf.enabled(j), runs) {
            (true, true) => {
                let paths = client(&["get", j, "logpath"])
                    .ok()
                    .map(|o| {
                        String::from_utf8_lossy(&o.stdout)
                            .lines()
                            .filter_map(|l| {
                                l.trim().strip_prefix("|- ").or_else(|| l.trim().strip_prefix("`- ")).map(str::to_owned)
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                f.push(ok(
                    C,
                    if paths.is_empty() {
                        format!("jail {j} runs")
                    } else {
                        format!("jail {j} runs, reading {}", paths.join(", "))
                    },
                ));
                out.push((j.to_owned(), paths));
            }
            (true, false) => f.push(bad(
                C,
                Status::Fail,
                format!("jail {j} is enabled but not running"),
                "fail2ban-client reload (then fail2ban-client status; /var/log/fail2ban.log says why a jail failed)",
            )),
            (false, true) => f.push(bad(
                C,
                Status::Warn,
                format!("jail {j} runs but its configuration disables it"),
                "fail2ban-client reload",
            )),
            (false, false) => {}
        }
    }
    if !assets::JAILS.iter().any(|j| conf.enabled(j)) {
        f.push(bad(C, Status::Fail, "no banlog jail is enabled".into(), "banlog install --reload"));
    }
    out
}

/// `doctor: all good`, or how many problems (fail) and warnings.
pub fn summary(findings: &[Finding]) -> String {
    let fails = findings.iter().filter(|x| x.status == Status::Fail).count();
    let warns = findings.iter().filter(|x| x.status == Status::Warn).count();
    if fails + warns == 0 {
        "doctor: all good".into()
    } else {
        format!(
            "doctor: {fails} problem{}, {warns} warning{}",
            if fails == 1 { "" } else { "s" },
            if warns == 1 { "" } else { "s" }
        )
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
