//! What the pipeline's integration tests share.

use banlog_core::{AuthKind, Stamp};
use banlog_runtime::{Event, EventKind};

/// A failed login of `user<n>` from `addr`, now.
pub fn failure(n: u32, addr: &str) -> Event {
    Event {
        stamp: Stamp::now(),
        kind: EventKind::Auth {
            kind: AuthKind::Failure,
            user: format!("user{n}").as_str().into(),
            addr: addr.parse().unwrap(),
        },
    }
}
