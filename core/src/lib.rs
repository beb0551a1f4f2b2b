//! The single source of truth for what banlog writes.
//!
//! The extension formats lines with these functions, the sidecar checks logs against filters that
//! are tested against these functions, and the pure-PHP fallback is tested byte for byte against
//! them. Nothing here does I/O except loading the local time zone.

pub mod addr;
pub mod auth;
pub mod clock;
pub mod line;
pub mod rules;
pub mod sanitize;

pub use addr::{parse_addr, AddrError};
pub use auth::{AuthKind, BadCode, Detail, FilterMode, UnknownAuthKind};
pub use clock::{LocalZone, Stamp};
pub use rules::{Problem, RuleError};
pub use sanitize::{sanitize_ident_host, sanitize_user, sanitize_user_cow, IdentHostError, MAX_USER_CHARS};
