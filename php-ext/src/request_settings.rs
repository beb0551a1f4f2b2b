//! The settings in force for this request: the php.ini defaults, or what `banlog_configure()` set.
//!
//! The plugin calls `banlog_configure()` early in every request with the site's options; doing so
//! with unchanged options costs a comparison, not an allocation, and gives back the very same
//! `Arc` as in the worker's earlier requests, so the writer is not sent the settings again. At the
//! end of the request the settings go back to the php.ini defaults, so one site's settings never
//! apply to the next request of the same worker, which may serve another site.
//!
//! The state is per thread: a request runs on one thread, and the hooks take no lock.

use std::cell::RefCell;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use banlog_runtime::{SettingValue, Settings, SettingsError};

use crate::php_ini;

struct State {
    generation: u64,
    defaults: Arc<Settings>,
    current: Option<Arc<Settings>>,
    /// The settings `banlog_configure()` made last, kept across requests for reuse.
    last_configured: Option<Arc<Settings>>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let gen = php_ini::GENERATION.load(Relaxed);
        let state = slot.get_or_insert_with(|| State {
            generation: 0,
            defaults: Arc::new(Settings::default()),
            current: None,
            last_configured: None,
        });
        if state.generation != gen {
            state.defaults = Arc::new(php_ini::settings());
            state.generation = gen;
        }
        f(state)
    })
}

/// Runs `f` with the settings for an event made now.
pub fn with_current<R>(f: impl FnOnce(&Arc<Settings>) -> R) -> R {
    with_state(|s| f(s.current.as_ref().unwrap_or(&s.defaults)))
}

/// The settings for an event made now.
pub fn current() -> Arc<Settings> {
    with_current(Arc::clone)
}

/// Applies `pairs` over the php.ini defaults. All or nothing: on error nothing changes.
pub fn configure(pairs: &[(String, SettingValue)]) -> Result<(), SettingsError> {
    with_state(|s| {
        let mut next = (*s.defaults).clone();
        for (key, value) in pairs {
            next.set(key, value)?;
        }
        if s.current.as_deref().unwrap_or(&s.defaults) == &next {
            return Ok(());
        }
        s.current = Some(match &s.last_configured {
            Some(last) if **last == next => Arc::clone(last),
            _ => {
                let made = Arc::new(next);
                s.last_configured = Some(Arc::clone(&made));
                made
            }
        });
        Ok(())
    })
}

/// Back to the php.ini defaults (end of request).
pub fn reset() {
    with_state(|s| s.current = None);
}
