//! The php.ini directives (`banlog.*`, named with their defaults in `banlog_runtime::directives`)
//! registered with PHP, and their current values: the defaults that `banlog_configure()` overrides.
//!
//! PHP calls [`on_modify`] whenever a directive changes (start-up, per-directory values, the end
//! of a request that changed one); the value is checked there, so a bad php.ini line is refused by
//! PHP with a startup warning and the previous value stays.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use banlog_runtime::directives::{self, DIRECTIVES, QUEUE_CAPACITY, QUEUE_FULL_WAIT_MS, REQUEST_WAIT_MS, SPOOL_MAX_MB};
use banlog_runtime::{SettingValue, Settings};
use ext_php_rs::ffi::{zend_ini_entry, zend_string};
use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::types::ZendStr;
use ext_php_rs::zend::{IniEntryDef, IniEntryDefs};
use parking_lot::Mutex;

const SUCCESS: c_int = 0;
const FAILURE: c_int = -1;

/// Set by the server's configuration (php.ini, pool files, `.user.ini`), not by `ini_set()`:
/// where a site's logs go is the admin's decision.
const PERM: IniEntryPermission = IniEntryPermission::System.union(IniEntryPermission::PerDir);

const fn entry(d: directives::Directive) -> IniEntryDef {
    let mut e = IniEntryDef::new(d.name, d.default, PERM);
    e.on_modify = Some(on_modify);
    e
}

pub static ENTRIES: IniEntryDefs<13> = IniEntryDefs::new([
    entry(DIRECTIVES[0]),
    entry(DIRECTIVES[1]),
    entry(DIRECTIVES[2]),
    entry(DIRECTIVES[3]),
    entry(DIRECTIVES[4]),
    entry(DIRECTIVES[5]),
    entry(DIRECTIVES[6]),
    entry(DIRECTIVES[7]),
    entry(DIRECTIVES[8]),
    entry(DIRECTIVES[9]),
    entry(DIRECTIVES[10]),
    entry(DIRECTIVES[11]),
    IniEntryDef::end(),
]);

/// The current directive values, as checked by [`on_modify`].
#[derive(Debug, Clone)]
pub struct IniValues {
    /// `banlog.<setting>` values for the keys of [`Settings::KEYS`].
    pub settings: Vec<(&'static str, Vec<u8>)>,
    pub queue_capacity: usize,
    pub request_wait_ms: u64,
    pub queue_full_wait_ms: u64,
    /// `banlog.spool_dir`; `None` for the default (the system's temporary directory).
    pub spool_dir: Option<std::path::PathBuf>,
    pub spool_max_mb: u64,
}

static VALUES: Mutex<IniValues> = Mutex::new(IniValues {
    settings: Vec::new(),
    queue_capacity: QUEUE_CAPACITY,
    request_wait_ms: REQUEST_WAIT_MS,
    queue_full_wait_ms: QUEUE_FULL_WAIT_MS,
    spool_dir: None,
    spool_max_mb: SPOOL_MAX_MB,
});
/// Bumped on every change, so that the hooks rebuild their defaults only when needed.
pub static GENERATION: AtomicU64 = AtomicU64::new(1);

pub fn values() -> IniValues {
    VALUES.lock().clone()
}

/// `banlog.request_wait_ms`, without copying the other values (read at every request's end).
pub fn request_wait_ms() -> u64 {
    VALUES.lock().request_wait_ms
}

/// The settings the directives describe.
pub fn settings() -> Settings {
    let mut s = Settings::default();
    for (key, value) in &values().settings {
        // Checked in on_modify; a failure here cannot happen, and would keep the default.
        let _ = s.set(key, &SettingValue::Str(value.clone()));
    }
    s
}

/// Applies one directive; `Err` explains a refused value.
pub fn apply(name: &str, value: &[u8]) -> Result<(), String> {
    let key = name.strip_prefix("banlog.").ok_or("not a banlog directive")?;
    let int = |min: u64, max: u64| -> Result<u64, String> {
        std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| format!("{name} must be a whole number from {min} to {max}"))
    };
    let mut v = VALUES.lock();
    match key {
        "queue_capacity" => v.queue_capacity = usize::try_from(int(1, 1 << 24)?).map_err(|e| e.to_string())?,
        "request_wait_ms" => v.request_wait_ms = int(0, 60_000)?,
        "queue_full_wait_ms" => v.queue_full_wait_ms = int(0, 10_000)?,
        "spool_max_mb" => v.spool_max_mb = int(0, 1 << 20)?,
        "spool_dir" => v.spool_dir = spool_dir(value)?,
        _ => {
            let key = Settings::KEYS.iter().find(|k| **k == key).ok_or("unknown directive")?;
            Settings::default().set(key, &SettingValue::Str(value.to_vec())).map_err(|e| e.to_string())?;
            v.settings.retain(|(k, _)| k != key);
            v.settings.push((key, value.to_vec()));
        }
    }
    GENERATION.fetch_add(1, SeqCst);
    Ok(())
}

/// An absolute directory path, or none; whether it is usable is checked when a sink first
/// spools (the directory may be created after PHP starts).
fn spool_dir(value: &[u8]) -> Result<Option<std::path::PathBuf>, String> {
    use std::os::unix::ffi::OsStrExt;
    if value.is_empty() {
        return Ok(None);
    }
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(value));
    if !path.is_absolute() || value.contains(&0) {
        return Err("banlog.spool_dir must be an absolute path".into());
    }
    Ok(Some(path.to_path_buf()))
}

/// PHP's `on_modify` handler for every `banlog.*` directive.
unsafe extern "C" fn on_modify(
    entry: *mut zend_ini_entry,
    new_value: *mut zend_string,
    _a1: *mut c_void,
    _a2: *mut c_void,
    _a3: *mut c_void,
    _stage: c_int,
) -> c_int {
    let result = std::panic::catch_unwind(|| {
        // SAFETY: PHP passes the live entry being modified and its new value (or null).
        let (name, value) = unsafe {
            let name: &ZendStr = &*(*entry).name;
            let value: &[u8] = if new_value.is_null() { b"" } else { (*new_value).as_bytes() };
            (String::from_utf8_lossy(name.as_bytes()).into_owned(), value.to_vec())
        };
        apply(&name, &value)
    });
    match result {
        Ok(Ok(())) => SUCCESS,
        // PHP reports "Invalid value for ..." itself; the previous value stays.
        _ => FAILURE,
    }
}
