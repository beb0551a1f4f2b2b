//! A step after the response: the SAPI's `deactivate`, which PHP calls at the very end of a
//! request, after every extension's `rshutdown`. php-fpm's ends the FastCGI request there (the
//! client has its whole response when it returns); ours calls it, then sends the syslog lines the
//! request's end left in journals (`banlog_runtime::process::after_response`). Apache's handler
//! has no `deactivate` (Apache ends the response after PHP is done): ours then sends them at that
//! same point, before the response ends, as the request's end did before journals.

use std::ffi::c_int;
use std::panic::catch_unwind;

use banlog_runtime::process;
use ext_php_rs::ffi::sapi_module;
use parking_lot::Mutex;

type Deactivate = Option<unsafe extern "C" fn() -> c_int>;

/// A function's address, to compare (function pointers themselves are not meant to be compared).
fn addr(f: Deactivate) -> usize {
    f.map_or(0, |f| f as usize)
}

/// The SAPI's own `deactivate`, called first by ours; `None` until `install` has run.
static ORIGINAL: Mutex<Option<Deactivate>> = Mutex::new(None);

unsafe extern "C" fn deactivate() -> c_int {
    let original = ORIGINAL.lock().flatten();
    // SAFETY: the SAPI's own function, called as PHP would have called it, with no arguments.
    let rc = original.map_or(0, |f| unsafe { f() });
    let _ = catch_unwind(process::after_response);
    rc
}

/// Puts ours in the SAPI's `deactivate`, at module start-up (single-threaded: before the server
/// forks or starts threads). Not again where it is in place already, nor where another extension
/// has put its own in front of ours since (it calls ours); again where the SAPI's table was made
/// afresh (a server that loads PHP anew at a restart).
pub fn install() {
    let mut original = ORIGINAL.lock();
    // SAFETY: PHP's SAPI table is only written at start-up, which is where this runs.
    let current = unsafe { sapi_module.deactivate };
    let ours: Deactivate = Some(deactivate);
    if addr(current) == addr(ours) {
        return;
    }
    if let Some(before) = *original {
        if addr(current) != addr(before) {
            return;
        }
    }
    *original = Some(current);
    // SAFETY: as above; `deactivate` lives as long as the process (the library is NODELETE).
    unsafe { sapi_module.deactivate = ours };
}

/// Puts the SAPI's own `deactivate` back at module shutdown, unless another extension put its
/// own in front of ours since (it still calls ours, which still calls the SAPI's).
pub fn uninstall() {
    let original = ORIGINAL.lock();
    let Some(before) = *original else { return };
    // SAFETY: module shutdown is single-threaded, as start-up is.
    unsafe {
        if addr(sapi_module.deactivate) == addr(Some(deactivate)) {
            sapi_module.deactivate = before;
        }
    }
}
