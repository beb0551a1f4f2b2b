//! The settings in force for this request: the php.ini defaults, or what `banlog_configure()` set.
//!
//! The plugin calls `banlog_configure()` early in every request with the site's options; doing so
//! with unchanged options costs a comparison, not an allocation per event. At the end of the
//! request the settings go back to the php.ini defaults, so one site's settings never apply to
//! the next request of the same worker, which may serve another site.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use banlog_runtime::{SettingValue, Settings, SettingsError};
use parking_lot::Mutex;

use crate::ini;

struct State {
    generation: u64,
    defaults: Arc<Settings>,
    current: Option<Arc<Settings>>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut guard = STATE.lock();
    let gen = ini::GENERATION.load(SeqCst);
    let state = guard.get_or_insert_with(|| State {
        generation: 0,
        defaults: Arc::new(Settings::default()),
        current: None,
    });
    if state.generation != gen {
        state.defaults = Arc::new(ini::settings());
        state.generation = gen;
    }
    f(state)
}

/// The settings for an event made now.
pub fn current() -> Arc<Settings> {
    with_state(|s| Arc::clone(s.current.as_ref().unwrap_or(&s.defaults)))
}

/// Applies `pairs` over the php.ini defaults. All or nothing: on error nothing changes.
pub fn configure(pairs: &[(String, SettingValue)]) -> Result<(), SettingsError> {
    with_state(|s| {
        let mut next = (*s.defaults).clone();
        for (key, value) in pairs {
            next.set(key, value)?;
        }
        let unchanged = s.current.as_deref().unwrap_or(&s.defaults) == &next;
        if !unchanged {
            s.current = Some(Arc::new(next));
        }
        Ok(())
    })
}

/// Back to the php.ini defaults (end of request).
pub fn reset() {
    with_state(|s| s.current = None);
}
