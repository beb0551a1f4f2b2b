//! `banlog`: ships, installs, checks and simulates the fail2ban filters for the lines banlog writes.

mod assets;
mod check;
mod doctor;
mod error;
mod f2bconf;
mod install;
mod matcher;
mod report;
mod sample;
mod simulate;
mod stage;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use error::Error;
use matcher::{FilterId, Matcher};

const EXIT_CODES: &str = "\
Exit codes:
  0  done; nothing to report
  1  done, with findings: check found lines that look like banlog's but match no filter;
     install left a file you changed alone, or fail2ban rejected or could not reload the result;
     doctor found a problem
  2  could not do it: bad arguments, a file that cannot be read or written";

#[derive(Parser)]
#[command(
    name = "banlog",
    version,
    about = "fail2ban filters and jails for banlog's WordPress spam and login lines: print, install, check, simulate, diagnose, report",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the filter, jail and action files with your paths filled in (and the web server
    /// snippets of the ban actions), or write them to a folder.
    #[command(after_help = EXIT_CODES)]
    Filters(FiltersArgs),
    /// Set the stage: the log folder and files (owned by the web server's user), the filters and
    /// jails (validated with fail2ban-client -t), a logrotate file; then reload fail2ban.
    #[command(after_help = EXIT_CODES)]
    Install(InstallArgs),
    /// Remove what `banlog install` wrote (its record); the logs and your .local files stay.
    #[command(after_help = EXIT_CODES)]
    Uninstall(UninstallArgs),
    /// Apply the shipped filters to logs: matched and missed lines, addresses with counts.
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Replay logs through the jails' counting: which addresses would be banned, when, how often.
    #[command(after_help = EXIT_CODES)]
    Simulate(SimulateArgs),
    /// Check a setup end to end: the extension (CLI and php-fpm), the plugin's paths against the
    /// installed and running jails and the files, the syslog daemon, the time zone.
    #[command(after_help = EXIT_CODES)]
    Doctor(DoctorArgs),
    /// Print example lines of every kind banlog writes, in every log layout, for trying filters.
    #[command(after_help = EXIT_CODES)]
    Sample(SampleArgs),
    /// Tell what happened, per day: events by kind, bans and unbans per jail, top addresses,
    /// repeat offenders, how long bans took; from fail2ban's log and banlog's logs. As text,
    /// JSON (--json) or a self-contained HTML page with charts (--html FILE).
    #[command(after_help = REPORT_HELP)]
    Report(ReportArgs),
}

const REPORT_HELP: &str = "\
The logs: fail2ban's log where its fail2ban.conf/.local (logtarget) says, banlog's spam and auth
logs where the enabled banlog jails of --fail2ban-dir read them (the journal for jails with
backend = systemd); each with its rotated files (FILE.1, FILE.2.gz, ...) unless --no-rotated.
Only regular files are read (a FIFO or a device is refused); lines are streamed, at most 64 KiB
of one held, and at most 100000 entries kept in each per-address table.

Exit codes:
  0  done
  2  could not do it: bad arguments, a log that cannot be read, a page that cannot be written";

#[derive(Args)]
struct PathArgs {
    /// The spam log the WordPress plugin writes (absolute path); fills in and enables banlog-spam.
    #[arg(long, value_name = "PATH")]
    spam_log: Option<String>,
    /// banlog's own auth log file, when auth lines go to a file instead of syslog; the auth jails
    /// then read it instead of the system auth log.
    #[arg(long, value_name = "PATH")]
    auth_log: Option<String>,
    /// Jails to enable (comma separated). Default: banlog-spam when --spam-log is given, and
    /// banlog-auth and banlog-auth-hard (banlog-pingback, banlog-comment-flood and
    /// banlog-user-enum only when named).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    enable: Option<Vec<String>>,
}

impl PathArgs {
    fn settings(&self) -> assets::Settings {
        let enable = self.enable.clone().unwrap_or_else(|| {
            let mut v: Vec<String> = Vec::new();
            if self.spam_log.is_some() {
                v.push("banlog-spam".into());
            }
            v.extend(assets::DEFAULT_AUTH_JAILS.map(String::from));
            v
        });
        assets::Settings { spam_log: self.spam_log.clone(), auth_log: self.auth_log.clone(), enable, journal: false }
    }
}

#[derive(Args)]
struct FiltersArgs {
    #[command(flatten)]
    paths: PathArgs,
    /// Write the files under this folder (filter.d/, jail.d/, action.d/, webserver/) instead of printing them.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Where the plugin writes its spam log when install prepares the folder.
const DEFAULT_SPAM_LOG: &str = "/var/log/wordpress/spam.log";

#[derive(Args)]
struct InstallArgs {
    /// fail2ban's configuration folder.
    #[arg(long, value_name = "DIR", default_value = "/etc/fail2ban")]
    fail2ban_dir: PathBuf,
    /// The spam log the WordPress plugin writes (absolute path). Default: /var/log/wordpress/spam.log
    /// (the plugin's default where that folder exists and the web server can write it).
    #[arg(long, value_name = "PATH", conflicts_with = "auth_only")]
    spam_log: Option<String>,
    /// banlog's own auth log file, when auth lines go to a file instead of syslog.
    #[arg(long, value_name = "PATH", conflicts_with = "spam_only")]
    auth_log: Option<String>,
    /// Install only the auth jails (failed logins); no spam log.
    #[arg(long, conflicts_with = "spam_only")]
    auth_only: bool,
    /// Install only the spam jail; the auth jails stay disabled.
    #[arg(long)]
    spam_only: bool,
    /// Jails to enable (comma separated). Default: banlog-spam, banlog-auth and banlog-auth-hard, or
    /// those --auth-only / --spam-only choose; the abuse jails (banlog-pingback,
    /// banlog-comment-flood, banlog-user-enum) only when named.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    enable: Option<Vec<String>>,
    /// The user PHP runs as, who must write the logs. Default: php-fpm's pool `user =`, else www-data.
    #[arg(long, value_name = "USER")]
    web_user: Option<String>,
    /// Where the auth lines reach fail2ban: `file` (rsyslog's auth log) or `journal` (backend = systemd).
    /// Default: journal on a host with journald and neither rsyslog nor /var/log/auth.log.
    #[arg(long, value_enum, value_name = "SOURCE")]
    auth_source: Option<stage::AuthSource>,
    /// Folder for the logrotate file. Default: logrotate.d next to the fail2ban folder
    /// (/etc/logrotate.d); skipped when that folder does not exist.
    #[arg(long, value_name = "DIR")]
    logrotate_dir: Option<PathBuf>,
    /// Replace files you changed (the old content is kept as FILE.banlog-old).
    #[arg(long)]
    force: bool,
    /// Ask the running fail2ban to reload its configuration afterwards.
    #[arg(long)]
    reload: bool,
    /// Do not run `fail2ban-client -c DIR -t` on the result.
    #[arg(long)]
    no_validate: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct UninstallArgs {
    /// fail2ban's configuration folder.
    #[arg(long, value_name = "DIR", default_value = "/etc/fail2ban")]
    fail2ban_dir: PathBuf,
    /// Remove files you changed since install wrote them, too.
    #[arg(long)]
    force: bool,
    /// Ask the running fail2ban to reload its configuration afterwards.
    #[arg(long)]
    reload: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CheckArgs {
    /// Log files to check: regular files, or `-` for standard input. They are streamed; a line
    /// over 64 KiB is skipped unread and counted as missed (banlog never writes one).
    #[arg(required = true, value_name = "LOG")]
    logs: Vec<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SimulateArgs {
    /// Log files to replay: regular files, or `-` for standard input (streamed, as by check).
    #[arg(required = true, value_name = "LOG")]
    logs: Vec<String>,
    /// Replay through this jail only (banlog-spam, banlog-auth, banlog-auth-hard, banlog-pingback,
    /// banlog-comment-flood, banlog-user-enum). Default: all.
    #[arg(long, value_name = "NAME")]
    jail: Option<String>,
    /// Failures that trigger a ban (default: the jail's).
    #[arg(long)]
    maxretry: Option<u32>,
    /// Seconds within which the failures must fall (default: the jail's).
    #[arg(long, value_name = "SECONDS")]
    findtime: Option<i64>,
    /// Seconds a ban lasts, negative for ever (default: the jail's).
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    bantime: Option<i64>,
    /// fail2ban's configuration folder: the jails' settings as fail2ban merges them (jail.conf,
    /// jail.d/*.conf, jail.local, jail.d/*.local); the shipped defaults when banlog is not installed there.
    #[arg(long, value_name = "DIR", default_value = "/etc/fail2ban")]
    fail2ban_dir: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DoctorArgs {
    /// The PHP command line to ask about the extension.
    #[arg(long, default_value = "php")]
    php: String,
    /// The spam log (default: PHP's banlog.spam_log).
    #[arg(long, value_name = "PATH")]
    spam_log: Option<String>,
    /// banlog's auth log file, if used (default: PHP's banlog.auth_log).
    #[arg(long, value_name = "PATH")]
    auth_log: Option<String>,
    /// The user PHP-FPM or Apache runs as. Default: php-fpm's pool `user =`, else www-data.
    #[arg(long, value_name = "USER")]
    web_user: Option<String>,
    /// fail2ban's configuration folder.
    #[arg(long, value_name = "DIR", default_value = "/etc/fail2ban")]
    fail2ban_dir: String,
    /// A WordPress folder (holding wp-load.php): the plugin's effective settings are read through
    /// PHP and compared with the jails and the files.
    #[arg(long, value_name = "DIR")]
    wp: Option<String>,
    /// The host name WordPress is loaded with (Debian's wordpress package picks its config by it).
    #[arg(long, value_name = "HOST", default_value = "localhost")]
    wp_host: String,
    /// The php-fpm to ask whether it loads the extension (default: every /usr/sbin/php-fpm*).
    #[arg(long, value_name = "PATH")]
    php_fpm: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SampleArgs {
    /// The client address (any form; printed canonically, as banlog would).
    #[arg(long, default_value = "203.0.113.9")]
    addr: String,
    /// The user name, raw (it is sanitized as banlog sanitizes it).
    #[arg(long, default_value = "admin")]
    user: String,
    /// The user name as hex bytes, for names with bytes a command line cannot carry.
    #[arg(long, value_name = "HEX", conflicts_with = "user")]
    user_hex: Option<String>,
    /// The site host in the syslog ident (empty: bare `wordpress`).
    #[arg(long, default_value = "example.com")]
    site_host: String,
    /// The host name syslog puts before the ident.
    #[arg(long, default_value = "web1")]
    hostname: String,
    #[arg(long, default_value_t = 4242)]
    pid: u32,
    #[arg(long, default_value_t = 527)]
    comment_id: u64,
    /// Seconds since the epoch (default: now).
    #[arg(long)]
    time: Option<i64>,
    /// Machine-readable output (one JSON array with kind, layout, line, addr, jails).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ReportArgs {
    /// fail2ban's log (repeatable). Default: its logtarget in --fail2ban-dir, else /var/log/fail2ban.log.
    #[arg(long, value_name = "PATH")]
    fail2ban_log: Vec<String>,
    /// banlog's spam log (repeatable). Default: what the enabled banlog-spam jail reads.
    #[arg(long, value_name = "PATH")]
    spam_log: Vec<String>,
    /// A log with banlog's auth lines: the system auth log or banlog's auth_log (repeatable).
    /// Default: what the enabled auth jails read.
    #[arg(long, value_name = "PATH")]
    auth_log: Vec<String>,
    /// Read the auth lines from the systemd journal (journalctl). Default: when an enabled auth
    /// jail has backend = systemd and no --auth-log is given.
    #[arg(long, conflicts_with = "no_journal")]
    journal: bool,
    /// Never read the journal.
    #[arg(long)]
    no_journal: bool,
    /// Read only the files named, not their rotated predecessors (FILE.1, FILE.2.gz, ...).
    #[arg(long)]
    no_rotated: bool,
    /// fail2ban's configuration folder: where the logs are found.
    #[arg(long, value_name = "DIR", default_value = "/etc/fail2ban")]
    fail2ban_dir: PathBuf,
    /// The first day (YYYY-MM-DD, local time). Default: the first of the last --days days.
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// How many days: the last N (today included), or N from --since. Default: 7; with --since,
    /// up to today.
    #[arg(long, value_name = "N")]
    days: Option<i64>,
    /// Machine-readable output (keys in the README's report section).
    #[arg(long)]
    json: bool,
    /// Also write the report as one self-contained HTML page with charts to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

fn main() -> ExitCode {
    // A reader that stops early (`banlog check … | head`) must end the command quietly, as it ends
    // any Unix tool, not make a print panic on the closed pipe: Rust's runtime ignores SIGPIPE.
    // SAFETY: called first in main, before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Filters(a) => cmd_filters(a),
        Cmd::Install(a) => cmd_install(a),
        Cmd::Uninstall(a) => cmd_uninstall(a),
        Cmd::Check(a) => cmd_check(a),
        Cmd::Simulate(a) => cmd_simulate(a),
        Cmd::Doctor(a) => cmd_doctor(a),
        Cmd::Sample(a) => cmd_sample(a),
        Cmd::Report(a) => cmd_report(a),
    };
    match res {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("banlog: {e}");
            ExitCode::from(2)
        }
    }
}

type Res = Result<u8, Error>;

fn cmd_filters(a: FiltersArgs) -> Res {
    let mut files = assets::render(&a.paths.settings())?;
    files.extend(assets::WEBSERVER_SNIPPETS.iter().map(|s| (s.rel, s.text.to_owned())));
    match a.out {
        None => {
            for (rel, text) in files {
                println!("# ===== {rel} =====");
                print!("{text}");
            }
        }
        Some(dir) => {
            for (rel, text) in files {
                let p = dir.join(rel);
                let parent = p.parent().unwrap_or(&dir);
                std::fs::create_dir_all(parent)
                    .map_err(|source| Error::CreateDir { path: parent.display().to_string(), source })?;
                install::write_atomic(&p, text.as_bytes())
                    .map_err(|source| Error::Write { path: p.display().to_string(), source })?;
                println!("wrote {}", p.display());
            }
        }
    }
    Ok(0)
}

fn cmd_install(a: InstallArgs) -> Res {
    let spam_log = if a.auth_only { None } else { Some(a.spam_log.unwrap_or_else(|| DEFAULT_SPAM_LOG.to_owned())) };
    let enable = a.enable.unwrap_or_else(|| {
        let mut v: Vec<String> = Vec::new();
        if !a.auth_only {
            v.push("banlog-spam".into());
        }
        if !a.spam_only {
            v.extend(assets::DEFAULT_AUTH_JAILS.map(String::from));
        }
        v
    });
    let (source, why) = match a.auth_source {
        Some(s) => (s, "--auth-source".to_owned()),
        None => stage::detect_auth_source(),
    };
    let journal = source == stage::AuthSource::Journal && a.auth_log.is_none();
    let settings = assets::Settings { spam_log: spam_log.clone(), auth_log: a.auth_log.clone(), enable, journal };
    let mut files: Vec<(String, String)> =
        assets::render(&settings)?.into_iter().map(|(rel, text)| (rel.to_owned(), text)).collect();
    let logs: Vec<String> = spam_log.iter().chain(a.auth_log.iter()).cloned().collect();
    let user = stage::web_user(a.web_user.as_deref())?;
    let rotate_dir = a
        .logrotate_dir
        .clone()
        .unwrap_or_else(|| a.fail2ban_dir.parent().unwrap_or(std::path::Path::new("/")).join("logrotate.d"));
    let rotate = rotate_dir.is_dir() && !logs.is_empty();
    if rotate {
        // An absolute key: install() joins it onto the fail2ban folder, which yields it unchanged.
        let p = std::path::absolute(rotate_dir.join("banlog")).unwrap_or_else(|_| rotate_dir.join("banlog"));
        files.push((p.display().to_string(), stage::logrotate(&logs, &user)));
    }
    let mut staged = stage::Staged::default();
    stage::stage_logs(&logs, &user, &mut staged).inspect_err(|_| staged.roll_back())?;
    let auth_jails = settings.enable.iter().any(|j| assets::AUTH_JAILS.contains(&j.as_str()));
    if auth_jails
        && a.auth_log.is_none()
        && source == stage::AuthSource::File
        && std::path::Path::new("/usr/sbin/rsyslogd").exists()
    {
        stage::stage_logs(&[stage::SYSTEM_AUTH_LOG.to_owned()], &stage::syslog_owner(), &mut staged)
            .inspect_err(|_| staged.roll_back())?;
    }
    let refs: Vec<(&str, String)> = files.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let mut done = install::install(&a.fail2ban_dir, &refs, a.force).inspect_err(|_| staged.roll_back())?;
    let mut code = 0;
    if done.results.iter().any(|r| r.outcome == install::Outcome::KeptChanged) {
        code = 1;
    }
    let mut report = serde_json::json!({
        "web_user": &user,
        "auth_source": source,
        "auth_source_why": why,
    });
    let mut validated = serde_json::Value::Null;
    let mut rejected = None;
    if !a.no_validate {
        match install::validate(&a.fail2ban_dir) {
            Ok(None) => {}
            Ok(Some(_)) => validated = true.into(),
            Err(out) => {
                done.roll_back_reported().map_err(Error::RollBack)?;
                staged.roll_back();
                validated = false.into();
                rejected = Some(out);
            }
        }
    }
    report["logs"] = serde_json::to_value(&staged.results)?;
    report["files"] = serde_json::to_value(&done.results)?;
    report["validated"] = validated.clone();
    if !a.json {
        println!("web server user: {} (from {}); logs owned by {}:{}", user.name, user.source, user.name, user.group);
        match (&a.auth_log, source, a.spam_only) {
            (_, _, true) => {}
            (Some(p), _, _) => println!("auth lines: read from {p} (banlog.auth_log)"),
            (None, stage::AuthSource::Journal, _) => {
                println!("auth lines: read from the systemd journal, backend = systemd ({why}); fail2ban needs python3-systemd")
            }
            (None, stage::AuthSource::File, _) => println!("auth lines: read from the system auth log ({why})"),
        }
        for r in &staged.results {
            let what = match r.outcome {
                stage::LogOutcome::Created => format!("created, owner {}, mode {}", r.owner, r.mode),
                stage::LogOutcome::Exists => format!("exists (left as it is: owner {}, mode {})", r.owner, r.mode),
                stage::LogOutcome::RolledBack => "rolled back (removed again)".to_owned(),
            };
            println!("{}: {what}", r.path);
            if !r.writable {
                println!("  WARNING: {} cannot write it: chown {} {}", user.name, user.name, r.path);
            }
        }
        for r in &done.results {
            println!("{}: {}", r.path, r.outcome.words());
        }
        if !rotate && !logs.is_empty() {
            println!("{}: no such folder: no logrotate file written", rotate_dir.display());
        }
        match &validated {
            serde_json::Value::Null if a.no_validate => println!("not validated (--no-validate)"),
            serde_json::Value::Null => println!("fail2ban-client not found: not validated (apt-get install fail2ban)"),
            serde_json::Value::Bool(true) => println!("fail2ban-client -c {} -t: OK", a.fail2ban_dir.display()),
            _ => {}
        }
    }
    if let Some(out) = rejected {
        report["error"] = out.clone().into();
        eprintln!(
            "banlog: fail2ban-client -c {} -t rejected the configuration; nothing was installed, every file is as it was:\n{out}",
            a.fail2ban_dir.display()
        );
        if a.json {
            println!("{report}");
        }
        return Ok(1);
    }
    if a.reload {
        match install::reload(&a.fail2ban_dir) {
            Ok(Some(_)) => {
                report["reloaded"] = true.into();
                if !a.json {
                    println!("fail2ban reloaded");
                }
            }
            Ok(None) => return Err(Error::NoClient),
            Err(out) => {
                report["reloaded"] = false.into();
                eprintln!(
                    "banlog: fail2ban-client reload failed (is fail2ban running? systemctl status fail2ban):\n{out}"
                );
                code = 1;
            }
        }
    } else if !a.json {
        println!("next: fail2ban-client reload (or rerun with --reload), then banlog doctor");
    }
    if a.json {
        println!("{report}");
    }
    Ok(code)
}

fn cmd_uninstall(a: UninstallArgs) -> Res {
    let results = install::uninstall(&a.fail2ban_dir, a.force)?;
    let mut code = u8::from(results.iter().any(|r| r.outcome == install::Outcome::KeptChanged));
    let mut report = serde_json::json!({ "files": &results });
    if !a.json {
        if results.is_empty() {
            println!("nothing recorded as installed in {}", a.fail2ban_dir.display());
        }
        for r in &results {
            println!(
                "{}: {}",
                r.path,
                r.outcome.words().replace("rerun with --force to replace it", "rerun with --force to remove it")
            );
        }
    }
    match install::validate(&a.fail2ban_dir) {
        Ok(None) => {}
        Ok(Some(_)) => report["validated"] = true.into(),
        Err(out) => {
            report["validated"] = false.into();
            report["error"] = out.clone().into();
            eprintln!("banlog: fail2ban-client -c {} -t rejects what is left (a .local file that still enables a banlog jail?):\n{out}", a.fail2ban_dir.display());
            code = 1;
        }
    }
    if a.reload && code == 0 {
        match install::reload(&a.fail2ban_dir) {
            Ok(Some(_)) => report["reloaded"] = true.into(),
            Ok(None) => return Err(Error::NoClient),
            Err(out) => {
                report["reloaded"] = false.into();
                eprintln!("banlog: fail2ban-client reload failed:\n{out}");
                code = 1;
            }
        }
    }
    if a.json {
        println!("{report}");
    } else if !a.reload {
        println!("the logs and your .local files stay; next: fail2ban-client reload");
    }
    Ok(code)
}

fn cmd_check(a: CheckArgs) -> Res {
    let m = Matcher::new();
    let mut reports = Vec::new();
    for log in &a.logs {
        reports.push(check::check_file(&m, log, |_| {})?);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for r in &reports {
            check::print_text(r);
        }
    }
    Ok(if reports.iter().any(|r| r.unrecognized > 0) { 1 } else { 0 })
}

/// maxretry, findtime and bantime of a jail as fail2ban would read them from `conf`.
fn jail_params(conf: &f2bconf::Conf, jail: &str) -> Result<simulate::JailParams, Error> {
    let get = |key: &'static str| {
        conf.get(jail, key).and_then(|v| f2bconf::seconds(&v)).ok_or(Error::JailParam { jail: jail.to_owned(), key })
    };
    let maxretry = u32::try_from(get("maxretry")?)
        .ok()
        .filter(|m| *m > 0)
        .ok_or(Error::JailParam { jail: jail.to_owned(), key: "maxretry" })?;
    Ok(simulate::JailParams { maxretry, findtime: get("findtime")?, bantime: get("bantime")? })
}

/// The jails' configuration: fail2ban's own merge under `dir` when banlog's jails are installed
/// there (`.local` overrides included), else the shipped jail file.
fn effective_jails(dir: &std::path::Path) -> (f2bconf::Conf, String) {
    let installed = f2bconf::Conf::load(dir);
    if assets::JAILS.iter().any(|j| installed.has_section(j)) {
        let files = installed.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        (installed, files)
    } else {
        let mut shipped = f2bconf::Conf::default();
        shipped.parse(assets::JAIL.text);
        (shipped, format!("the shipped jail.d/banlog.conf (no banlog jail in {})", dir.display()))
    }
}

fn cmd_simulate(a: SimulateArgs) -> Res {
    let jails: Vec<FilterId> = match &a.jail {
        None => FilterId::ALL.to_vec(),
        Some(j) => vec![FilterId::from_jail(j).ok_or_else(|| Error::UnknownJail(j.clone()))?],
    };
    let zone = banlog_core::LocalZone::load();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let (conf, source) = effective_jails(&a.fail2ban_dir);
    let m = Matcher::new();
    let mut events: BTreeMap<FilterId, (Vec<(i64, String)>, usize)> = BTreeMap::new();
    for log in &a.logs {
        check::check_file(&m, log, |t| {
            for (f, addr) in t.hits {
                let e = events.entry(f).or_default();
                match &t.time {
                    Some(lt) => e.0.push((simulate::unix_time(lt, &zone, now), addr)),
                    None => e.1 += 1,
                }
            }
        })?;
    }
    let mut results = Vec::new();
    for f in jails {
        let mut p = jail_params(&conf, f.jail())?;
        if let Some(x) = a.maxretry {
            if x == 0 {
                return Err(Error::ZeroMaxretry);
            }
            p.maxretry = x;
        }
        if a.findtime.is_some_and(|f| f < 0) {
            return Err(Error::NegativeFindtime);
        }
        p.findtime = a.findtime.unwrap_or(p.findtime);
        p.bantime = a.bantime.unwrap_or(p.bantime);
        let (ev, undated) = events.remove(&f).unwrap_or_default();
        results.push(simulate::simulate(f.jail(), p, ev, undated, &zone));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("jail settings from {source}");
        for r in &results {
            simulate::print_text(r);
        }
    }
    Ok(0)
}

fn cmd_doctor(a: DoctorArgs) -> Res {
    let findings = doctor::run(&doctor::Options {
        php: a.php,
        spam_log: a.spam_log,
        auth_log: a.auth_log,
        web_user: a.web_user,
        fail2ban_dir: a.fail2ban_dir,
        wp: a.wp,
        wp_host: a.wp_host,
        php_fpm: a.php_fpm,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else {
        doctor::print_text(&findings);
        println!("{}", doctor::summary(&findings));
    }
    // Warnings do not fail a setup that works; problems do.
    Ok(if findings.iter().any(|f| f.status == doctor::Status::Fail) { 1 } else { 0 })
}

fn cmd_sample(a: SampleArgs) -> Res {
    let addr = banlog_core::parse_addr(a.addr.as_bytes()).map_err(Error::Addr)?;
    let raw_user = match &a.user_hex {
        Some(h) => decode_hex(h).ok_or(Error::UserHex)?,
        None => a.user.clone().into_bytes(),
    };
    let site_host = banlog_core::sanitize_ident_host(&a.site_host).map_err(Error::SiteHost)?;
    let stamp = match a.time {
        // Years 1970 to 9999: what the line formats can write.
        Some(t) if !(0..=253_402_300_799).contains(&t) => return Err(Error::Time(t)),
        Some(t) => banlog_core::Stamp { unix_secs: t, micros: 0 },
        None => banlog_core::Stamp::now(),
    };
    let samples = sample::samples(&sample::Params {
        addr,
        user: banlog_core::sanitize_user(&raw_user),
        site_host,
        hostname: a.hostname,
        pid: a.pid,
        comment_id: a.comment_id,
        stamp,
        zone: banlog_core::LocalZone::load(),
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&samples)?);
    } else {
        for s in samples {
            println!("{}", s.line);
        }
    }
    Ok(0)
}

/// The logs a report reads.
struct ReportLogs {
    fail2ban: Vec<String>,
    spam: Vec<String>,
    auth: Vec<String>,
    journal: bool,
}

/// The logs a report reads: those given, else where fail2ban's configuration says.
fn report_sources(a: &ReportArgs, notes: &mut Vec<String>) -> Result<ReportLogs, Error> {
    let dir = a.fail2ban_dir.display().to_string();
    let f2b = if a.fail2ban_log.is_empty() {
        let mut c = f2bconf::Conf::default();
        for f in ["fail2ban.conf", "fail2ban.local"] {
            if let Ok(t) = std::fs::read_to_string(a.fail2ban_dir.join(f)) {
                c.parse(&t);
            }
        }
        match c.get("Definition", "logtarget").map(|t| t.trim().to_owned()) {
            Some(t) if t.starts_with('/') => vec![t],
            Some(t) if !t.is_empty() => {
                return Err(report::ReportError::LogTarget { target: t, dir }.into());
            }
            _ => vec!["/var/log/fail2ban.log".to_owned()],
        }
    } else {
        a.fail2ban_log.clone()
    };
    let (conf, _) = effective_jails(&a.fail2ban_dir);
    let installed = assets::JAILS.iter().any(|j| conf.enabled(j));
    let spam = if a.spam_log.is_empty() {
        let p = if conf.enabled("banlog-spam") { conf.logpaths("banlog-spam") } else { Vec::new() };
        if p.is_empty() {
            notes.push(format!("no spam log: none given (--spam-log) and no banlog-spam jail enabled in {dir}"));
        }
        p
    } else {
        a.spam_log.clone()
    };
    let auth_jails: Vec<&str> = ["banlog-auth", "banlog-auth-hard"].into_iter().filter(|j| conf.enabled(j)).collect();
    let jail_journal =
        auth_jails.iter().any(|j| conf.get(j, "backend").is_some_and(|b| b.trim().starts_with("systemd")));
    let auth = if a.auth_log.is_empty() {
        let mut p: Vec<String> = Vec::new();
        for j in &auth_jails {
            for l in conf.logpaths(j) {
                if !p.contains(&l) {
                    p.push(l);
                }
            }
        }
        if p.is_empty() && !jail_journal {
            notes.push(format!("no auth log: none given (--auth-log) and no auth jail enabled in {dir}"));
        }
        p
    } else {
        a.auth_log.clone()
    };
    // A logpath with a glob pattern names files fail2ban expands; the report reads named files only.
    let (spam, globbed_s): (Vec<String>, Vec<String>) = spam.into_iter().partition(|p| !p.contains(['*', '?', '[']));
    let (auth, globbed_a): (Vec<String>, Vec<String>) = auth.into_iter().partition(|p| !p.contains(['*', '?', '[']));
    for g in globbed_s.iter().chain(&globbed_a) {
        notes.push(format!("{g} is a pattern, not read: give the files with --spam-log or --auth-log"));
    }
    let journal = a.journal || (!a.no_journal && a.auth_log.is_empty() && jail_journal);
    if !installed && a.spam_log.is_empty() && a.auth_log.is_empty() {
        notes.push(format!("no banlog jail is enabled in {dir}: only fail2ban's log was read"));
    }
    Ok(ReportLogs { fail2ban: f2b, spam, auth, journal })
}

fn cmd_report(a: ReportArgs) -> Res {
    let zone = banlog_core::LocalZone::load();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let today = report::day_of(now, &zone);
    let (first_day, last_day) = report::period(a.since.as_deref(), a.days, today)?;
    let mut notes = Vec::new();
    let logs = report_sources(&a, &mut notes)?;
    let r = report::run(&report::Options {
        fail2ban_logs: logs.fail2ban,
        spam_logs: logs.spam,
        auth_logs: logs.auth,
        journal: logs.journal,
        rotated: !a.no_rotated,
        first_day,
        last_day,
        zone,
        now,
        notes,
    })?;
    if let Some(path) = &a.html {
        install::write_atomic(path, report::html::render(&r).as_bytes())
            .map_err(|source| report::ReportError::WriteHtml { path: path.display().to_string(), source })?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", report::text::render(&r));
        if let Some(path) = &a.html {
            println!("\nwrote {}", path.display());
        }
    }
    Ok(0)
}

fn decode_hex(h: &str) -> Option<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> f2bconf::Conf {
        let mut c = f2bconf::Conf::default();
        c.parse(text);
        c
    }

    #[test]
    fn jail_params_of_the_shipped_file() {
        let p = jail_params(&conf(assets::JAIL.text), "banlog-spam").unwrap();
        assert_eq!((p.maxretry, p.findtime, p.bantime), (5, 3600, 86400));
        for j in assets::JAILS {
            assert!(jail_params(&conf(assets::JAIL.text), j).is_ok(), "{j}");
        }
    }

    #[test]
    fn jail_params_of_a_broken_file_is_an_error() {
        for text in [
            "",
            "[banlog-spam]\nmaxretry = 5\nfindtime = 10\n",
            "[banlog-spam]\nmaxretry = x\nfindtime = 10\nbantime = 1\n",
            "[banlog-spam]\nmaxretry = 0\nfindtime = 10\nbantime = 1\n",
            "[banlog-spam]\nmaxretry = -3\nfindtime = 10\nbantime = 1\n",
            "[banlog-spam]\nmaxretry = 99999999999\nfindtime = 10\nbantime = 1\n",
            "[other]\nmaxretry = 5\nfindtime = 10\nbantime = 1\n",
        ] {
            let e = jail_params(&conf(text), "banlog-spam").unwrap_err();
            assert!(e.to_string().contains("[banlog-spam]"), "{e}");
        }
    }

    #[test]
    fn hex() {
        assert_eq!(decode_hex("41ff"), Some(vec![0x41, 0xff]));
        for bad in ["4", "zz", "é0", "0é"] {
            assert_eq!(decode_hex(bad), None, "{bad}");
        }
    }
}
