//! An event as it travels from a hook to the writer: already validated and sanitized, so the
//! writer only formats and writes.
//!
//! Events travel by value through the queue, and hold no heap block in the common case: a block
//! allocated on the PHP thread and freed on the writer thread costs both sides glibc's arena lock
//! (measured: a quarter of the hook's time when events were boxed).

use std::fmt;
use std::net::IpAddr;

use banlog_core::{AuthKind, Stamp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A comment marked as spam.
    Spam { comment_id: u64, addr: IpAddr },
    /// An authentication event; `user` is already sanitized.
    Auth { kind: AuthKind, user: UserName, addr: IpAddr },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When the hook was called.
    pub stamp: Stamp,
    pub kind: EventKind,
}

/// Bytes of a user name kept inside the event; WordPress logins are rarely longer.
const INLINE: usize = 22;

/// A sanitized user name: inline when short, on the heap otherwise.
#[derive(Clone, PartialEq, Eq)]
pub struct UserName(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl UserName {
    pub fn new(name: &str) -> Self {
        if name.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            #[expect(clippy::cast_possible_truncation, reason = "name.len() <= INLINE, which is below 256")]
            let len = name.len() as u8;
            UserName(Repr::Inline { len, bytes })
        } else {
            UserName(Repr::Heap(name.into()))
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: the bytes were copied whole from a `&str` in `new`, so they are UTF-8.
            Repr::Inline { len, bytes } => unsafe { std::str::from_utf8_unchecked(&bytes[..*len as usize]) },
            Repr::Heap(s) => s,
        }
    }
}

impl From<&str> for UserName {
    fn from(name: &str) -> Self {
        UserName::new(name)
    }
}

impl fmt::Debug for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_inline_and_on_the_heap() {
        for name in ["", "admin", "é", &"x".repeat(INLINE), &"é".repeat(INLINE), &"y".repeat(500)] {
            assert_eq!(UserName::new(name).as_str(), name);
        }
        assert!(matches!(UserName::new(&"x".repeat(INLINE)).0, Repr::Inline { .. }));
        assert!(matches!(UserName::new(&"x".repeat(INLINE + 1)).0, Repr::Heap(_)));
    }
}
