//! The two hooks on the request path, with handlers that skip ext-php-rs's generic argument
//! parser when the arguments have exactly the declared types (every call the plugin makes). That
//! parser allocates every argument's name and two vectors per call, and sets up a `setjmp` guard,
//! which together cost more than the rest of a hook.
//!
//! Anything else (another type, a wrong count, an invalid value) goes to the handler ext-php-rs
//! generates for the same function, so coercions, `TypeError`s and `ValueError`s are exactly as
//! before. The fast path calls nothing that can reach PHP's allocator or throw, so it needs no
//! `setjmp` guard; a panic is caught and handed to the slow path.

use std::panic::catch_unwind;
use std::sync::OnceLock;

use ext_php_rs::args::Arg;
use ext_php_rs::builders::{FunctionBuilder, ModuleBuilder};
use ext_php_rs::ffi::{zend_execute_data, zval};
use ext_php_rs::flags::DataType;
use ext_php_rs::types::Zval;
use ext_php_rs::zend::ExecuteData;

use crate::api;

type RawHandler = unsafe extern "C" fn(*mut zend_execute_data, *mut zval);

/// The generated handlers, for every call the fast path does not take.
struct Generated {
    spam: RawHandler,
    auth: RawHandler,
}

static GENERATED: OnceLock<Generated> = OnceLock::new();

fn handler_of(f: FunctionBuilder<'static>) -> Option<RawHandler> {
    f.build().ok().and_then(|(entry, _arg_info)| entry.handler)
}

/// Adds `banlog_spam()` and `banlog_auth()` to the extension.
pub fn register(module: ModuleBuilder<'_>) -> ModuleBuilder<'_> {
    let [spam, auth] = api::generated_hooks();
    let generated =
        handler_of(spam).zip(handler_of(auth)).map(|(spam, auth)| GENERATED.get_or_init(|| Generated { spam, auth }));
    if generated.is_none() {
        // Cannot happen with a working ext-php-rs; then the generated handlers serve every call.
        let [spam, auth] = api::generated_hooks();
        return module.function(spam).function(auth);
    }
    let spam = FunctionBuilder::new("banlog_spam", spam_handler)
        .arg(Arg::new("comment_id", DataType::Long))
        .arg(Arg::new("ip", DataType::String))
        .returns(DataType::Bool, false, false);
    let auth = FunctionBuilder::new("banlog_auth", auth_handler)
        .arg(Arg::new("event", DataType::String))
        .arg(Arg::new("user", DataType::String))
        .arg(Arg::new("ip", DataType::String))
        .returns(DataType::Bool, false, false);
    module.function(spam).function(auth)
}

/// The arguments of this call when there are exactly `N` of them.
fn args<const N: usize>(ex: &ExecuteData) -> Option<[&Zval; N]> {
    // SAFETY: for a function's call frame the engine sets `num_args` in the `u2` union of `This`.
    let n = unsafe { ex.This.u2.num_args } as usize;
    if n != N {
        return None;
    }
    let mut out = [None; N];
    for (i, slot) in out.iter_mut().enumerate() {
        // SAFETY: the frame holds `n` arguments and `i < n`; they outlive this call.
        *slot = unsafe { ex.zend_call_arg(i) }.map(|z| &*z);
    }
    if out.iter().any(Option::is_none) {
        return None;
    }
    Some(out.map(|z| z.expect("checked above")))
}

fn string(z: &Zval) -> Option<&[u8]> {
    if z.is_string() {
        z.zend_str().map(|s| s.as_bytes())
    } else {
        None
    }
}

extern "C" fn spam_handler(ex: &mut ExecuteData, retval: &mut Zval) {
    let fast = args::<2>(ex).and_then(|[id, ip]| {
        let id = if id.is_long() { id.long()? } else { return None };
        let ip = string(ip)?;
        catch_unwind(|| api::log_spam(id, ip).ok()).ok().flatten()
    });
    match fast {
        Some(logged) => retval.set_bool(logged),
        None => call_generated(ex, retval, |g| g.spam),
    }
}

extern "C" fn auth_handler(ex: &mut ExecuteData, retval: &mut Zval) {
    let fast = args::<3>(ex).and_then(|[event, user, ip]| {
        let (event, user, ip) = (string(event)?, string(user)?, string(ip)?);
        catch_unwind(|| api::log_auth(event, user, ip).ok()).ok().flatten()
    });
    match fast {
        Some(logged) => retval.set_bool(logged),
        None => call_generated(ex, retval, |g| g.auth),
    }
}

fn call_generated(ex: &mut ExecuteData, retval: &mut Zval, pick: fn(&Generated) -> RawHandler) {
    if let Some(g) = GENERATED.get() {
        // SAFETY: the generated handler of the same function, called with the frame and return
        // value PHP gave us, as PHP would have called it.
        unsafe { pick(g)(ex, retval) };
    }
}
