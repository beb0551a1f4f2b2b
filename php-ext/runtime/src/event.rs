//! An event as it travels from a hook to the writer: already validated and sanitized, so the
//! writer only formats and writes.

use std::net::IpAddr;
use std::sync::Arc;

use banlog_core::{AuthKind, Stamp};

use crate::settings::Settings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A comment marked as spam.
    Spam { comment_id: u64, addr: IpAddr },
    /// An authentication event; `user` is already sanitized.
    Auth { kind: AuthKind, user: String, addr: IpAddr },
}

#[derive(Debug, Clone)]
pub struct Event {
    /// When the hook was called.
    pub stamp: Stamp,
    /// The PHP process that called it (the pid in the syslog tag).
    pub pid: u32,
    /// Where its lines go.
    pub settings: Arc<Settings>,
    pub kind: EventKind,
}
