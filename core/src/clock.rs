//! Time stamps in the host's local time, without asking libc.
//!
//! fail2ban reads a log's times in the host's zone, so lines carry local time, DST included.
//! `localtime_r` and the `time` crate's local offset both read the environment, which is not safe
//! once a process has threads (a PHP extension never knows who calls `setenv`). Instead the zone
//! is loaded once, from `TZ` or `/etc/localtime`, while the process is still single-threaded
//! (at module start-up), and offsets are computed from its rules in pure Rust.

use std::time::{SystemTime, UNIX_EPOCH};

use time::{OffsetDateTime, UtcOffset};
use tz::TimeZone;

/// The moment a hook was called, taken on the caller's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    pub unix_secs: i64,
    pub micros: u32,
}

impl Stamp {
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }
}

impl From<SystemTime> for Stamp {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Stamp { unix_secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), micros: d.subsec_micros() },
            Err(e) => {
                let d = e.duration();
                let mut secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                let mut micros = d.subsec_micros();
                if micros > 0 {
                    secs -= 1;
                    micros = 1_000_000 - micros;
                }
                Stamp { unix_secs: secs, micros }
            }
        }
    }
}

/// A time zone's rules, loaded once.
#[derive(Debug, Clone)]
pub struct LocalZone {
    tz: TimeZone,
    /// Where the rules came from, for diagnostics (`banlog_stats()`, `phpinfo()`).
    pub source: String,
}

impl LocalZone {
    /// The host's zone: `$TZ` when set (as libc would), else `/etc/localtime`, else UTC.
    ///
    /// Reads the environment: call it before the process starts threads.
    pub fn load() -> Self {
        if let Ok(tz) = std::env::var("TZ") {
            if !tz.is_empty() {
                if let Ok(zone) = Self::named(&tz) {
                    return zone;
                }
            }
        }
        match TimeZone::local() {
            Ok(tz) => LocalZone { tz, source: "/etc/localtime".into() },
            Err(_) => Self::utc(),
        }
    }

    /// A zone by TZ name (`Europe/Berlin`) or POSIX rule (`CET-1CEST,M3.5.0,M10.5.0/3`).
    pub fn named(name: &str) -> Result<Self, String> {
        TimeZone::from_posix_tz(name)
            .map(|tz| LocalZone { tz, source: format!("TZ={name}") })
            .map_err(|e| format!("unknown time zone '{name}': {e}"))
    }

    pub fn utc() -> Self {
        LocalZone { tz: TimeZone::utc(), source: "UTC (no zone found)".into() }
    }

    /// Offset from UTC, in seconds, in force at `unix_secs`.
    pub fn offset_at(&self, unix_secs: i64) -> i32 {
        self.tz.find_local_time_type(unix_secs).map(|t| t.ut_offset()).unwrap_or(0)
    }

    /// The civil local time of a stamp.
    pub fn local(&self, stamp: Stamp) -> LocalTime {
        let offset = self.offset_at(stamp.unix_secs);
        let utc = OffsetDateTime::from_unix_timestamp(stamp.unix_secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let offset_t = UtcOffset::from_whole_seconds(offset).unwrap_or(UtcOffset::UTC);
        LocalTime { dt: utc.to_offset(offset_t), micros: stamp.micros }
    }
}

/// A stamp in local civil time, ready to be formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub(crate) dt: OffsetDateTime,
    pub(crate) micros: u32,
}

impl LocalTime {
    /// The same second with other microseconds (for a cache of the second's civil time).
    pub fn with_micros(self, micros: u32) -> Self {
        LocalTime { micros, ..self }
    }

    pub fn offset_seconds(&self) -> i32 {
        self.dt.offset().whole_seconds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::spam_time;

    #[test]
    fn stamp_before_epoch() {
        let t = UNIX_EPOCH - std::time::Duration::from_micros(1_500_000);
        assert_eq!(Stamp::from(t), Stamp { unix_secs: -2, micros: 500_000 });
    }

    #[test]
    fn dst_is_applied() {
        let berlin = LocalZone::named("Europe/Berlin").unwrap();
        // 2026-01-15 12:00:00 UTC is winter (CET, +1); 2026-07-15 12:00:00 UTC is summer (CEST, +2).
        let winter = Stamp { unix_secs: 1_768_478_400, micros: 0 };
        let summer = Stamp { unix_secs: 1_784_116_800, micros: 0 };
        assert_eq!(spam_time(&berlin.local(winter)), "2026-01-15 13:00:00");
        assert_eq!(spam_time(&berlin.local(summer)), "2026-07-15 14:00:00");
        // The switch on 2026-03-29: 00:59:59 UTC is 01:59:59 CET, one second later 03:00:00 CEST.
        let before = Stamp { unix_secs: 1_774_745_999, micros: 0 };
        assert_eq!(spam_time(&berlin.local(before)), "2026-03-29 01:59:59");
        let after = Stamp { unix_secs: 1_774_746_000, micros: 0 };
        assert_eq!(spam_time(&berlin.local(after)), "2026-03-29 03:00:00");
    }

    #[test]
    fn posix_rule_and_utc() {
        let ny = LocalZone::named("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(ny.offset_at(1_784_116_800), -4 * 3600);
        assert_eq!(LocalZone::utc().offset_at(1_784_116_800), 0);
        assert!(LocalZone::named("Not/AZone").is_err());
    }
}
