//! The settings in force for this request: the php.ini defaults, or what `banlog_configure()` set.
//!
//! The plugin calls `banlog_configure()` early in every request with the site's options. The
//! worker keeps the settings it made for the last [`RECENT`] different sets of options, with the
//! options they were made from: calling it again with one of them (the same site, or one of the
//! few sites of a multisite that this worker alternates between) costs a comparison of the
//! options, and gives back the very same `Arc` as before, whose sinks the writer already has. At
//! the end of the request the settings go back to the php.ini defaults, so one site's settings
//! never apply to the next request of the same worker, which may serve another site.
//!
//! The state is per thread: a request runs on one thread, and the hooks take no lock.

use std::cell::RefCell;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use banlog_runtime::{SettingValue, Settings, SettingsError};

use crate::php_ini;

/// How many sets of options `banlog_configure()` remembers (per thread: per php-fpm worker).
pub const RECENT: usize = 8;

struct State {
    generation: u64,
    defaults: Arc<Settings>,
    current: Option<Arc<Settings>>,
    /// What `banlog_configure()` made recently, most recently used first, at most [`RECENT`]:
    /// kept across requests for reuse, forgotten when the php.ini defaults change.
    recent: Vec<Configured>,
}

/// Settings made by `banlog_configure()`, and the options they were made from.
struct Configured {
    pairs: Vec<(String, SettingValue)>,
    settings: Arc<Settings>,
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
            recent: Vec::new(),
        });
        if state.generation != gen {
            state.defaults = Arc::new(php_ini::settings());
            state.generation = gen;
            // The same options over other defaults make other settings.
            state.recent.clear();
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

/// `banlog_configure()` with options it was given recently, which `same` recognizes: the settings
/// made from them then, found without copying the caller's options. False when none of the recent
/// options are these (then [`configure`] makes the settings).
pub fn reuse(same: impl Fn(&[(String, SettingValue)]) -> bool) -> bool {
    with_state(|s| {
        let Some(i) = s.recent.iter().position(|c| same(&c.pairs)) else { return false };
        s.recent[..=i].rotate_right(1);
        let made = Arc::clone(&s.recent[0].settings);
        s.make_current(made);
        true
    })
}

/// Applies `pairs` over the php.ini defaults. All or nothing: on error nothing changes.
pub fn configure(pairs: &[(String, SettingValue)]) -> Result<(), SettingsError> {
    with_state(|s| {
        let made = match s.recent.iter().position(|c| c.pairs == pairs) {
            Some(i) => {
                s.recent[..=i].rotate_right(1);
                Arc::clone(&s.recent[0].settings)
            }
            None => {
                let mut next = (*s.defaults).clone();
                for (key, value) in pairs {
                    next.set(key, value)?;
                }
                // Other options may make the same settings (keys in another order): one `Arc`.
                let made = match s.recent.iter().find(|c| *c.settings == next) {
                    Some(c) => Arc::clone(&c.settings),
                    None => Arc::new(next),
                };
                s.recent.truncate(RECENT - 1);
                s.recent.insert(0, Configured { pairs: pairs.to_vec(), settings: Arc::clone(&made) });
                made
            }
        };
        s.make_current(made);
        Ok(())
    })
}

impl State {
    /// The settings for the rest of the request, unless those in force are equal already.
    fn make_current(&mut self, made: Arc<Settings>) {
        let cur = self.current.as_ref().unwrap_or(&self.defaults);
        if !Arc::ptr_eq(cur, &made) && **cur != *made {
            self.current = Some(made);
        }
    }
}

/// Back to the php.ini defaults (end of request).
pub fn reset() {
    with_state(|s| s.current = None);
}
