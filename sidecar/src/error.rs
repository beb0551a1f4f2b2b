//! What can stop a `banlog` command (exit code 2), each with what the user can do about it.

use std::io;

use crate::assets::RenderError;
use crate::install::InstallError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(transparent)]
    Stage(#[from] crate::stage::StageError),
    #[error(transparent)]
    Log(#[from] crate::check::LogError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error("cannot create {path}: {source}")]
    CreateDir { path: String, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error("unknown jail '{0}'; the jails are: {jails}", jails = crate::assets::JAILS.join(", "))]
    UnknownJail(String),
    #[error("the shipped jail file has no number for {key} in [{jail}]")]
    JailParam { jail: String, key: &'static str },
    #[error("--maxretry must be at least 1")]
    ZeroMaxretry,
    #[error("--findtime must not be negative")]
    NegativeFindtime,
    #[error("--addr: {0}")]
    Addr(banlog_core::AddrError),
    #[error("--user-hex: expected an even number of hex digits")]
    UserHex,
    #[error("--site-host: {0}")]
    SiteHost(banlog_core::IdentHostError),
    #[error("--time: {0} is outside the years 1970 to 9999")]
    Time(i64),
    #[error("cannot reload: fail2ban-client is not installed")]
    NoClient,
    #[error("fail2ban rejected the configuration and the roll-back failed: {0}")]
    RollBack(io::Error),
    #[error("cannot write the report: {0}")]
    Json(#[from] serde_json::Error),
}
