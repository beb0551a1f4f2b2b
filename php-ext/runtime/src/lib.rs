//! The machinery behind the banlog PHP extension, in pure Rust so that it is tested without PHP.
//!
//! A hook call builds an [`Event`] on the caller's thread (validated, sanitized, time-stamped) and
//! hands it to the process's [`Runtime`]: a bounded crossbeam channel drained by one named writer
//! thread, which formats the lines and appends them to files and syslog. See `process` for how the
//! runtime follows PHP's process model (fork after start-up, one writer per process).

pub mod event;
pub mod process;
pub mod runtime;
pub mod settings;
pub mod sink;
pub mod stats;
mod writer;

pub use event::{Event, EventKind, UserName};
pub use runtime::{Producer, Runtime, RuntimeOptions, Submitted};
pub use settings::{Facility, SettingValue, Settings, SettingsError, SyslogTarget};
pub use stats::{SinkStats, StatsSnapshot};
