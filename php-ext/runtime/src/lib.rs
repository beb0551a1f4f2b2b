//! The machinery behind the banlog PHP extension, in pure Rust so that it is tested without PHP.
//!
//! A hook call builds an [`Event`] on the caller's thread (validated, sanitized, time-stamped) and
//! hands it through its [`Producer`] to the process's [`Pipeline`]: a bounded queue (`queue`)
//! drained by one named writer thread (`writer`), which formats the lines and appends them to
//! files and syslog (`sink`). Both sides count what they do in shared state (`state`, `stats`).
//! `pool` keeps the figures shared by every process of a php-fpm pool or Apache (counters, the
//! sinks' errors, the last events) in a shared mapping; `gate` answers from it whether a client has
//! reached a jail's limit. `process` follows PHP's process model (fork after start-up, one pipeline per process);
//! `directives` holds the php.ini names and defaults, `settings` what they mean.

pub mod directives;
pub mod event;
pub mod gate;
pub mod pipeline;
pub mod pool;
pub mod process;
mod queue;
pub mod settings;
pub mod sink;
mod state;
pub mod stats;
mod writer;

pub use event::{Event, EventKind, UserName};
pub use pipeline::{Pipeline, PipelineOptions};
pub use queue::{Producer, Submitted};
pub use settings::{Facility, SettingValue, Settings, SettingsError, SyslogTarget};
pub use stats::{SinkStats, StatsSnapshot};
