//! What the extension knows of where it runs: its own version and the host's time zone.

use std::sync::OnceLock;

use banlog_core::LocalZone;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

static ZONE: OnceLock<LocalZone> = OnceLock::new();

/// The host's time zone, loaded at start-up.
pub fn zone() -> &'static LocalZone {
    ZONE.get_or_init(LocalZone::load)
}
