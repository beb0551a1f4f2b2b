//! banlog's PHP extension: thin glue between PHP and `banlog-runtime`.
//!
//! Lifecycle, named after PHP's phases:
//! - `minit`: php.ini directives, the fork handler, the pool's shared mapping (before the server
//!   forks its workers), the local time zone (while single-threaded), the step after the response;
//! - `rinit`: nothing to do: the writer starts on a process's first event, after any fork;
//! - `rshutdown`: in requests that made events, makes sure they are written (or, for syslog, kept
//!   in a journal on disk) before php-fpm ends the response: written here when the writer thread
//!   is idle, else a short bounded wait for it; then the settings go back to the php.ini defaults;
//! - after the response (the SAPI's `deactivate`, see `after_response`): the journal's lines are
//!   sent, so the syslog daemon wakes once the client has its answer;
//! - `mshutdown`: the process that owns the writer drains and stops it.
//!
//! Apache's graceful restart runs `mshutdown` and then `minit` again in the same parent process.
//! PHP dlcloses the library in between, but it is linked NODELETE (`build.rs`): it stays loaded,
//! and the second `minit` finds the pool's mapping and the fork handler of the first.

use std::ffi::c_int;
use std::panic::catch_unwind;
use std::time::Duration;

use banlog_runtime::{pool, process};
use ext_php_rs::prelude::*;
use ext_php_rs::zend::{IniEntryDef, ModuleEntry};
use ext_php_rs::{info_table_end, info_table_header, info_table_row, info_table_start};

use crate::host::{zone, VERSION};

mod after_response;
mod call_frame;
mod functions;
mod host;
mod php_ini;
mod request_settings;

const SUCCESS: i32 = 0;
/// How long a process's end may wait for the writer to drain.
const MSHUTDOWN_WAIT: Duration = Duration::from_secs(3);

extern "C" {
    // Both are exported by PHP itself; ext-php-rs does not bind them.
    fn zend_unregister_ini_entries(module_number: c_int);
    fn display_ini_entries(module: *mut ModuleEntry);
}

/// Runs a lifecycle step; a panic must never unwind into PHP.
fn guarded(f: impl FnOnce() + std::panic::UnwindSafe) -> i32 {
    let _ = catch_unwind(f);
    SUCCESS
}

unsafe extern "C" fn minit(_type: i32, module_number: i32) -> i32 {
    guarded(|| {
        IniEntryDef::register(php_ini::ENTRIES.as_slice(), module_number);
        process::register_fork_handler();
        // Before php-fpm or Apache fork their workers: they all inherit the one mapping.
        pool::init();
        zone();
        after_response::install();
    })
}

unsafe extern "C" fn rinit(_type: i32, _module_number: i32) -> i32 {
    SUCCESS
}

unsafe extern "C" fn rshutdown(_type: i32, _module_number: i32) -> i32 {
    guarded(|| {
        // A gate pass of this request that logged nothing for its client ends with it.
        crate::functions::resolve_pass(None);
        process::finish_request(Duration::from_millis(php_ini::request_wait_ms()));
        request_settings::reset();
    })
}

unsafe extern "C" fn mshutdown(_type: i32, module_number: i32) -> i32 {
    guarded(|| {
        after_response::uninstall();
        process::shutdown(MSHUTDOWN_WAIT);
    });
    // SAFETY: called once at module shutdown with the number PHP gave minit.
    unsafe { zend_unregister_ini_entries(module_number) };
    SUCCESS
}

unsafe extern "C" fn minfo(module: *mut ModuleEntry) {
    let _ = catch_unwind(|| {
        let stats = process::existing().map(|rt| rt.stats());
        info_table_start!();
        info_table_header!("banlog support", "enabled");
        info_table_row!("Version", VERSION);
        info_table_row!("Time zone", zone().source.as_str());
        match stats {
            Some(s) => {
                info_table_row!("Writer thread", if s.writer_running { "running" } else { "stopped" });
                info_table_row!("Events accepted", s.accepted.to_string());
                info_table_row!("Lines written", s.written.to_string());
                info_table_row!("Lines pending / dropped", format!("{} / {}", s.pending, s.dropped));
                for sink in s.sinks.iter().filter(|s| s.last_error.is_some()) {
                    let err = sink.last_error.clone().unwrap_or_default().replace('\0', "");
                    info_table_row!(format!("Last error ({})", sink.kind), err);
                }
            }
            None => info_table_row!("Writer thread", "not started in this process"),
        }
        info_table_end!();
    });
    // SAFETY: PHP passes its own module entry to the info function.
    unsafe { display_ini_entries(module) };
}

#[php_module]
pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
    let module = module
        .name("banlog")
        .version(VERSION)
        .startup_function(minit)
        .request_startup_function(rinit)
        .request_shutdown_function(rshutdown)
        .shutdown_function(mshutdown)
        .info_function(minfo);
    functions::register(module)
}
