//! The PHP functions. Each hook validates its input, stamps the time and hands an event to the
//! writer, with no I/O; `banlog_flush()` may write the queued lines itself when the writer thread
//! is idle. No I/O problem ever reaches the caller as an exception.

use std::cell::Cell;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use banlog_core::{parse_addr, sanitize_user_cow, AuthKind, Detail, Stamp};
use banlog_runtime::{
    gate, pool, process, Event, EventKind, PipelineOptions, SettingValue, Settings, StatsSnapshot, Submitted, UserName,
};
use ext_php_rs::args::Arg;
use ext_php_rs::binary_slice::BinarySlice;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::builders::FunctionBuilder;
use ext_php_rs::convert::IntoZval;
use ext_php_rs::exception::{PhpException, PhpResult};
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ArrayKey, ZendHashTable, Zval};
use ext_php_rs::zend::{ce, ExecuteData};

use crate::call_frame::{self, php_hooks, Exact, RawHandler};
use crate::host::{zone, VERSION};
use crate::{php_ini, request_settings};

/// Adds every PHP function of the extension.
pub fn register(module: ModuleBuilder<'_>) -> ModuleBuilder<'_> {
    let module = register_hooks(module).function(wrap_function!(banlog_configure));
    register_flush(module).function(wrap_function!(banlog_stats)).function(wrap_function!(banlog_recent))
}

fn value_error(msg: String) -> PhpException {
    PhpException::new(msg, 0, ce::value_error())
}

fn pipeline_options(pid: u32) -> PipelineOptions {
    let v = php_ini::values();
    let mut o = PipelineOptions::new(zone().clone());
    o.capacity = v.queue_capacity;
    o.full_wait = Duration::from_millis(v.queue_full_wait_ms);
    o.spool_dir = v.spool_dir;
    o.spool_max_bytes = v.spool_max_mb << 20;
    o.pid = pid;
    o
}

/// Hands an event to this thread's producer. False when the writer thread cannot be started
/// (then nothing can be written) or is gone; both are counted where they can be.
fn submit(settings: &Arc<Settings>, kind: EventKind) -> bool {
    let event = Event { stamp: Stamp::now(), kind };
    if let Some(area) = pool::global() {
        area.record_event(&event, host_hash_of(settings));
        // This request's gate pass for the same client is over: its event counts instead.
        // Resolved after the event is in the ring, so that a look-up in between counts this
        // request twice (for an instant), never not at all: concurrent guesses cannot slip past.
        let (EventKind::Spam { addr, .. } | EventKind::Auth { addr, .. }) = &event.kind;
        resolve_pass(Some(gate::ring_addr(*addr)));
    }
    process::with_producer(pipeline_options, |p| p.submit(settings, event) != Submitted::Dropped).unwrap_or(false)
}

thread_local! {
    /// This request's gate pass: its ticket and its client, until resolved.
    static PASS: Cell<Option<(u64, [u8; 16])>> = const { Cell::new(None) };
    /// The ident host's hash of the settings last seen on this thread (the same `Arc` for a whole
    /// request, and across requests with unchanged options).
    static HOST_HASH: Cell<(usize, u32)> = const { Cell::new((0, 0)) };
}

/// The ring's site tag for these settings, hashed once per settings object.
fn host_hash_of(settings: &Arc<Settings>) -> u32 {
    let key = Arc::as_ptr(settings) as usize;
    HOST_HASH.with(|c| {
        let (k, h) = c.get();
        if k == key {
            return h;
        }
        let h = pool::host_hash(settings.ident_host());
        c.set((key, h));
        h
    })
}

php_hooks! {
    /// Logs a comment marked as spam. Returns false when no spam log (or syslog mirror) is set.
    fn banlog_spam(comment_id: i64, ip: BinarySlice<u8>) => log_spam;
    /// Logs an authentication event of a fixed kind. The user name is escaped and capped, never
    /// refused: an attacker's attempt must be counted whatever name it used.
    fn banlog_auth(event: BinarySlice<u8>, user: BinarySlice<u8>, ip: BinarySlice<u8>) => log_auth;
    /// Whether a client has reached a jail's limit (maxretry events of the given kinds within
    /// findtime seconds), from the pool's ring of the last events. False without a shared mapping.
    fn banlog_gate(kinds: BinarySlice<u8>, ip: BinarySlice<u8>, maxretry: i64, findtime: i64) => gate_check;
    /// Marks this request as one the gate let through for a client, in flight until it logs an
    /// event for that client or ends. False without a shared mapping.
    fn banlog_gate_enter(ip: BinarySlice<u8>) => gate_enter;
}

/// What `banlog_gate()` does once its arguments are read: no lock, no allocation, no I/O.
fn gate_check(kinds: &[u8], ip: &[u8], maxretry: i64, findtime: i64) -> PhpResult<bool> {
    let rule =
        gate::GateRule::parse(kinds, maxretry, findtime).map_err(|e| value_error(format!("banlog_gate(): {e}")))?;
    let addr =
        parse_addr(ip).map_err(|e| value_error(format!("banlog_gate(): Argument #2 ($ip) is not valid: {e}")))?;
    let Some(area) = pool::global() else { return Ok(false) };
    let own = PASS.with(|p| p.get()).is_some_and(|(_, a)| a == gate::ring_addr(addr));
    Ok(gate::check(area, &rule, addr, gate::now_us(), own).reached)
}

/// What `banlog_gate_enter()` does once its argument is read.
fn gate_enter(ip: &[u8]) -> PhpResult<bool> {
    let addr =
        parse_addr(ip).map_err(|e| value_error(format!("banlog_gate_enter(): Argument #1 ($ip) is not valid: {e}")))?;
    let Some(area) = pool::global() else { return Ok(false) };
    resolve_pass(None);
    let ticket = gate::enter(area, addr, gate::now_us());
    PASS.with(|p| p.set(Some((ticket, gate::ring_addr(addr)))));
    Ok(true)
}

/// Ends this request's gate pass: the one for `addr`, or (None) whichever it is.
pub fn resolve_pass(addr: Option<[u8; 16]>) {
    let Some((ticket, a)) = PASS.with(Cell::get) else { return };
    if addr.is_some_and(|x| x != a) {
        return;
    }
    PASS.with(|p| p.set(None));
    if let Some(area) = pool::global() {
        area.resolve(ticket);
    }
}

/// What `banlog_spam()` does once its arguments are read.
fn log_spam(comment_id: i64, ip: &[u8]) -> PhpResult<bool> {
    // 0: a comment discarded (by Akismet) before it was stored, so before it had an id.
    let Ok(comment_id) = u64::try_from(comment_id) else {
        return Err(value_error(format!(
            "banlog_spam(): Argument #1 ($comment_id) must be a comment id (0 for a comment discarded before it was stored), {comment_id} given"
        )));
    };
    let addr =
        parse_addr(ip).map_err(|e| value_error(format!("banlog_spam(): Argument #2 ($ip) is not valid: {e}")))?;
    Ok(request_settings::with_current(|settings| {
        settings.wants_spam() && submit(settings, EventKind::Spam { comment_id, addr })
    }))
}

/// What `banlog_auth()` does once its arguments are read.
fn log_auth(event: &[u8], user: &[u8], ip: &[u8]) -> PhpResult<bool> {
    let kind = AuthKind::from_name(event)
        .map_err(|e| value_error(format!("banlog_auth(): Argument #1 ($event) is not valid: {e}")))?;
    // A pingback's fault code stands in for the user name. It is written as given, so it must be
    // the canonical text of an integer: nothing else from the request reaches the line.
    if kind.detail() == Detail::Code {
        kind.check_code(user)
            .map_err(|e| value_error(format!("banlog_auth(): Argument #2 ($user) is not valid: {e}")))?;
    }
    let addr =
        parse_addr(ip).map_err(|e| value_error(format!("banlog_auth(): Argument #3 ($ip) is not valid: {e}")))?;
    Ok(request_settings::with_current(|settings| {
        if !settings.wants_auth() {
            return false;
        }
        let user = match kind.detail() {
            // Checked above: ASCII digits and a sign, which sanitizing leaves as they are.
            Detail::Code | Detail::User => UserName::new(&sanitize_user_cow(user)),
            Detail::None => UserName::new(""),
        };
        submit(settings, EventKind::Auth { kind, user, addr })
    }))
}

/// Sets this request's settings over the php.ini defaults. Unknown keys and bad values are a
/// `ValueError` naming the key; then nothing changes.
#[php_function]
pub fn banlog_configure(settings: &ZendHashTable) -> PhpResult<()> {
    // The options of a recent call (this site's, in an earlier request of this worker): a lookup
    // per key, no copy of the array, no check of values already checked.
    let same = |pairs: &[(String, SettingValue)]| {
        pairs.len() == settings.len()
            && pairs.iter().all(|(k, v)| settings.get(ArrayKey::Str(k)).is_some_and(|z| same_value(z, v)))
    };
    if request_settings::reuse(same) {
        return Ok(());
    }
    let mut pairs = Vec::with_capacity(settings.len());
    for (key, value) in settings {
        let key = match key {
            ArrayKey::String(s) => s,
            ArrayKey::Str(s) => s.to_owned(),
            ArrayKey::ZendString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
            ArrayKey::Long(i) => {
                return Err(value_error(format!("banlog_configure(): setting names are strings, {i} given")))
            }
        };
        pairs.push((key, setting_value(value)));
    }
    request_settings::configure(&pairs).map_err(|e| value_error(format!("banlog_configure(): {e}")))
}

/// Whether `setting_value(z)` would be `v`, without copying a string.
fn same_value(z: &Zval, v: &SettingValue) -> bool {
    match (z.zend_str(), v) {
        (Some(s), SettingValue::Str(b)) => s.as_bytes() == b.as_slice(),
        (Some(_), _) => false,
        // Never among the recent options: every setting refuses it.
        (None, SettingValue::Other) => false,
        (None, v) => non_string_value(z) == *v,
    }
}

fn setting_value(z: &Zval) -> SettingValue {
    match z.zend_str() {
        Some(s) => SettingValue::Str(s.as_bytes().to_vec()),
        None => non_string_value(z),
    }
}

fn non_string_value(z: &Zval) -> SettingValue {
    if let Some(b) = z.bool() {
        SettingValue::Bool(b)
    } else if let Some(i) = z.long() {
        SettingValue::Int(i)
    } else if z.is_null() {
        SettingValue::Null
    } else {
        // Arrays, objects, floats: refused by the setting's own check with its expected type.
        SettingValue::Other
    }
}

/// Waits up to `$timeout_ms` until every event of this process is written (writes them itself when
/// the writer thread is idle and only a few are queued). False on timeout or while a sink is
/// failing (see `banlog_stats()`).
#[php_function]
#[php(defaults(timeout_ms = 1000))]
pub fn banlog_flush(timeout_ms: i64) -> bool {
    flush_for(timeout_ms)
}

fn flush_for(timeout_ms: i64) -> bool {
    match process::existing() {
        Some(rt) => rt.flush(Duration::from_millis(timeout_ms.clamp(0, 600_000).unsigned_abs())),
        None => true,
    }
}

/// `banlog_flush()`'s generated handler, for the calls its fast one does not take.
static FLUSH_GENERATED: OnceLock<RawHandler> = OnceLock::new();

/// `banlog_flush()` called with no argument or an int, as scripts call it, read straight from
/// the call frame like the hooks' arguments (see `call_frame`): the caller waits for the flush,
/// and ext-php-rs's argument parser and `setjmp` guard would be a good part of its cost.
extern "C" fn banlog_flush_fast(ex: &mut ExecuteData, retval: &mut Zval) {
    let timeout_ms = match call_frame::args::<1>(ex) {
        Some([z]) => i64::exact(z),
        None => call_frame::args::<0>(ex).map(|[]| FLUSH_DEFAULT_MS),
    };
    match timeout_ms.and_then(|t| std::panic::catch_unwind(|| flush_for(t)).ok()) {
        Some(done) => retval.set_bool(done),
        None => call_frame::call_generated(&FLUSH_GENERATED, ex, retval),
    }
}

/// `banlog_flush()`'s default timeout, as declared by `#[php(defaults)]` above.
const FLUSH_DEFAULT_MS: i64 = 1000;

fn register_flush(module: ModuleBuilder<'_>) -> ModuleBuilder<'_> {
    let fast = FunctionBuilder::new("banlog_flush", banlog_flush_fast)
        .not_required()
        .arg(Arg::of::<i64>("timeout_ms").default(FLUSH_DEFAULT_MS.to_string()))
        .returns(<bool as IntoZval>::TYPE, false, <bool as IntoZval>::NULLABLE);
    call_frame::register(module, || wrap_function!(banlog_flush), fast, &FLUSH_GENERATED)
}

/// Counters, queue depth and the state of each sink, for the status panel and monitoring.
#[php_function]
pub fn banlog_stats() -> PhpResult<ZBox<ZendHashTable>> {
    let snap = process::existing().map(|rt| rt.stats()).unwrap_or_else(|| StatsSnapshot {
        pid: process::pid(),
        time_zone: zone().source.clone(),
        queue_capacity: php_ini::values().queue_capacity as u64,
        ..Default::default()
    });
    stats_array(&snap).map_err(|e| PhpException::from(e.to_string()))
}

fn stats_array(s: &StatsSnapshot) -> ext_php_rs::error::Result<ZBox<ZendHashTable>> {
    let mut a = ZendHashTable::new();
    a.insert("version", VERSION)?;
    a.insert("pid", i64::from(s.pid))?;
    a.insert("writer_running", s.writer_running)?;
    for (k, v) in [
        ("accepted", s.accepted),
        ("processed", s.processed),
        ("written", s.written),
        ("retried", s.retried),
        ("dropped", s.dropped),
        ("queue_full", s.queue_full),
        ("overflowed", s.overflowed),
        ("pending", s.pending),
        ("queue_depth", s.queue_depth),
        ("queue_capacity", s.queue_capacity),
    ] {
        a.insert(k, php_int(v))?;
    }
    a.insert("time_zone", s.time_zone.as_str())?;
    match pool::global() {
        Some(area) => {
            a.insert("scope", "pool")?;
            a.insert("pool", pool_array(area)?)?;
        }
        None => {
            a.insert("scope", "worker")?;
            a.insert("pool", ())?;
        }
    }
    let cfg = request_settings::current();
    let path = |p: Option<&std::path::Path>| p.map(|p| p.display().to_string()).unwrap_or_default();
    let flag = |b: bool| if b { "1" } else { "0" };
    let mut st = ZendHashTable::new();
    st.insert("spam_log", path(cfg.spam_log()))?;
    st.insert("auth_log", path(cfg.auth_log()))?;
    st.insert("syslog", flag(cfg.syslog()))?;
    st.insert("syslog_facility", cfg.syslog_facility().name())?;
    st.insert("syslog_target", cfg.syslog_target().to_string())?;
    st.insert("ident_host", cfg.ident_host())?;
    st.insert("syslog_spam", flag(cfg.syslog_spam()))?;
    a.insert("settings", st)?;
    let mut sinks = ZendHashTable::new();
    for sink in &s.sinks {
        let mut e = ZendHashTable::new();
        e.insert("name", format!("{}:{}", sink.kind, sink.target))?;
        e.insert("kind", sink.kind)?;
        e.insert("target", sink.target.as_str())?;
        e.insert("written", php_int(sink.written))?;
        e.insert("errors", php_int(sink.errors))?;
        e.insert("pending", php_int(sink.pending))?;
        e.insert("dropped", php_int(sink.dropped))?;
        e.insert("spooled", php_int(sink.spooled))?;
        e.insert("replayed", php_int(sink.replayed))?;
        e.insert("memory", php_int(sink.memory))?;
        match &sink.last_error {
            Some(m) => e.insert("last_error", m.as_str())?,
            None => e.insert("last_error", ())?,
        }
        match sink.last_error_at {
            Some(t) => e.insert("last_error_at", t)?,
            None => e.insert("last_error_at", ())?,
        }
        sinks.push(e)?;
    }
    a.insert("sinks", sinks)?;
    Ok(a)
}

/// The pool-wide figures: every process forked from the one that loaded the extension.
fn pool_array(area: &pool::PoolArea) -> ext_php_rs::error::Result<ZBox<ZendHashTable>> {
    let c = area.counters();
    let mut p = ZendHashTable::new();
    for (k, v) in [
        ("accepted", c.accepted),
        ("written", c.written),
        ("spooled", c.spooled),
        ("dropped", c.dropped),
        ("retried", c.retried),
        ("sinks_untracked", c.sinks_untracked),
    ] {
        p.insert(k, php_int(v))?;
    }
    p.insert("since", c.since)?;
    p.insert("memory_bytes", php_int(pool::MAPPING_BYTES as u64))?;
    p.insert("ring_capacity", php_int(pool::RING_LEN as u64))?;
    let mut sinks = ZendHashTable::new();
    for sink in area.sinks() {
        let mut e = ZendHashTable::new();
        e.insert("name", format!("{}:{}", sink.kind, sink.target))?;
        e.insert("kind", sink.kind.as_str())?;
        e.insert("target", sink.target.as_str())?;
        e.insert("written", php_int(sink.written))?;
        e.insert("errors", php_int(sink.errors))?;
        e.insert("dropped", php_int(sink.dropped))?;
        match &sink.last_error {
            Some(m) => e.insert("last_error", m.as_str())?,
            None => e.insert("last_error", ())?,
        }
        for (k, v) in [("last_error_at", sink.last_error_at), ("last_ok_at", sink.last_ok_at)] {
            match v {
                Some(t) => e.insert(k, t)?,
                None => e.insert(k, ())?,
            }
        }
        sinks.push(e)?;
    }
    p.insert("sinks", sinks)?;
    Ok(p)
}

/// The pool's last events of this site (the ident host in force now), newest first: at most
/// `$limit`, only those with an id above `$since`. Empty without a shared mapping.
#[php_function]
#[php(defaults(limit = 100, since = 0))]
pub fn banlog_recent(limit: i64, since: i64) -> PhpResult<ZBox<ZendHashTable>> {
    recent_array(limit, since).map_err(|e| PhpException::from(e.to_string()))
}

fn recent_array(limit: i64, since: i64) -> ext_php_rs::error::Result<ZBox<ZendHashTable>> {
    let mut out = ZendHashTable::new();
    let Some(area) = pool::global() else { return Ok(out) };
    let limit = usize::try_from(limit).unwrap_or(0).min(pool::RING_LEN);
    let since = u64::try_from(since).unwrap_or(0);
    let host = host_hash_of(&request_settings::current());
    let mut taken = 0;
    // Newest first over the whole ring, keeping this site's: other sites of the same server
    // share the ring, not their visitors' addresses.
    for r in area.recent(pool::RING_LEN, since) {
        if taken >= limit {
            break;
        }
        if r.host != host {
            continue;
        }
        let mut e = ZendHashTable::new();
        let ip: IpAddr = r.ip();
        e.insert("id", php_int(r.id))?;
        e.insert("time", r.time_us.div_euclid(1_000_000))?;
        e.insert("time_us", r.time_us)?;
        e.insert("kind", r.kind_name())?;
        e.insert("ip", ip.to_string())?;
        out.push(e)?;
        taken += 1;
    }
    Ok(out)
}

/// A counter as a PHP int (PHP has no unsigned integers; a count past i64::MAX shows as i64::MAX).
fn php_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
