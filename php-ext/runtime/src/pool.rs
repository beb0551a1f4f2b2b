//! Pool-wide figures: counters, the sinks' errors and a ring of the last events, in one anonymous
//! shared mapping (`mmap(MAP_SHARED | MAP_ANONYMOUS)`) made at module start-up, before php-fpm or
//! Apache fork their workers. Every process forked from the one that made it updates the same
//! memory; a process that made its own (the CLI) or has none sees only its own events.
//!
//! Only atomics, no lock: a hook adds one event with one `fetch_add` (its ticket, which is also
//! the count of accepted events) and five stores into the ring slot the ticket names. Readers
//! check each slot's sequence word before and after reading it (a seqlock), so a slot being
//! rewritten is skipped, never returned half-written. Two hooks whose tickets are 4096 apart
//! writing the same slot at the same moment (a hook descheduled between its `fetch_add` and its
//! stores while 4096 other events pass) can pass that check with the slot's fields mixed; a
//! 24-bit check word over the ticket, time and address (stored with the kind) catches such an
//! entry but for one chance in 16.7 million, and a caught entry is skipped like one being written.
//! The gate ([`crate::gate`]) relies on it: a mixed entry must not count against an address that
//! never sent it. The sinks' error texts sit behind a seqlock too; their writers are the
//! processes' writer threads, never a request's hook.
//!
//! The memory is all zero at first, which is the empty state: nothing to initialise. Its size is
//! a constant, [`MAPPING_BYTES`], whatever the traffic.

use std::net::IpAddr;
use std::ptr;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{fence, AtomicPtr, AtomicU64};

use banlog_core::AuthKind;

use crate::event::{Event, EventKind};
use crate::stats::{Padded, SinkStats};

/// Events the ring keeps; the oldest is overwritten by the next.
pub const RING_LEN: usize = 4096;
/// Sinks (kind and target) the pool keeps figures for; more are counted in `sinks_untracked`.
pub const SINK_SLOTS: usize = 16;
/// Bytes of a sink's name (`kind:target`) kept; longer ones are cut.
const NAME_WORDS: usize = 16;
/// Bytes of a sink's last error message kept; longer ones are cut.
const ERROR_WORDS: usize = 32;
/// Tries a reader makes on a slot being rewritten before it gives up on it.
const READ_TRIES: usize = 64;

/// What the shared mapping costs, in bytes: the area rounded up to whole 4 KiB pages. Stated in
/// the README and the stub; a test holds them to it.
pub const MAPPING_BYTES: usize = std::mem::size_of::<PoolArea>().div_ceil(4096) * 4096;

/// The kind code of a gate pass: a guarded request the gate let through, in flight until it logs
/// an event for its client or ends ([`PoolArea::resolve`]). Not an event: [`PoolArea::recent`]
/// and the `accepted` counter leave it out. Far above the event codes (spam, then one per
/// [`AuthKind`]), so that a new kind never takes it.
pub const PASS_KIND: u8 = 0xf0;
/// A gate pass that is over.
pub const RESOLVED_KIND: u8 = 0xf1;
const _: () = assert!(AuthKind::ALL.len() < PASS_KIND as usize, "event kind codes must stay below the gate's");

/// The name of a kind code: 0 is spam, then each [`AuthKind`] in its order (its index + 1).
pub fn kind_name(code: u8) -> &'static str {
    match code {
        0 => "spam",
        PASS_KIND => "gate_pass",
        RESOLVED_KIND => "gate_resolved",
        c => AuthKind::NAMES.get(usize::from(c) - 1).copied().unwrap_or("unknown"),
    }
}

/// The counters the hooks bump: one cache line, one atomic add per event.
#[repr(C)]
#[derive(Default)]
struct HookSide {
    /// Tickets handed out: events accepted by every process of the pool, and gate passes.
    head: AtomicU64,
    /// Tickets that went to gate passes.
    passes: AtomicU64,
}

/// The counters the writer threads publish.
#[repr(C)]
#[derive(Default)]
struct WriterSide {
    written: AtomicU64,
    dropped: AtomicU64,
    retried: AtomicU64,
    spooled: AtomicU64,
    sinks_untracked: AtomicU64,
}

#[repr(C)]
struct RingSlot {
    /// `2 * ticket + 1` while being written, `2 * ticket + 2` once written; 0 never written.
    seq: AtomicU64,
    /// Microseconds since the epoch.
    time_us: AtomicU64,
    /// The kind (low byte), the check word ([`check_word`], bits 8 to 31) and the site's ident
    /// host hash (high 32 bits).
    meta: AtomicU64,
    addr: [AtomicU64; 2],
}

#[repr(C)]
struct SinkSlot {
    /// A hash of `kind:target` (never 0); 0 for a free slot.
    key: AtomicU64,
    written: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
    /// Unix time of the last successful write.
    last_ok_at: AtomicU64,
    /// Seqlock over the name, the error text and its time: odd while one writer holds it.
    seq: AtomicU64,
    last_error_at: AtomicU64,
    /// Name length (low 32 bits) and error length (high 32 bits).
    lens: AtomicU64,
    name: [AtomicU64; NAME_WORDS],
    error: [AtomicU64; ERROR_WORDS],
}

/// The shared area. All zero is its empty state.
#[repr(C)]
pub struct PoolArea {
    hook: Padded<HookSide>,
    writer: Padded<WriterSide>,
    /// Unix time the mapping was made.
    created: AtomicU64,
    sinks: [SinkSlot; SINK_SLOTS],
    ring: [RingSlot; RING_LEN],
}

/// The pool's counters at one moment (each read on its own: not a snapshot across counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolCounters {
    pub accepted: u64,
    pub written: u64,
    pub dropped: u64,
    pub retried: u64,
    pub spooled: u64,
    pub sinks_untracked: u64,
    /// Unix time the mapping was made (php-fpm's or Apache's start, a CLI process's start).
    pub since: i64,
}

/// One sink's figures over the pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolSink {
    pub kind: String,
    pub target: String,
    pub written: u64,
    pub errors: u64,
    pub dropped: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub last_ok_at: Option<i64>,
}

/// How far an event's ticket order may disagree with its time stamp, in microseconds.
pub const STAMP_SLACK_US: i64 = 2_000_000;
/// Rounds a look-up reads the tickets added while it ran, at most (see [`PoolArea::count_addr`]).
const CATCH_UP_ROUNDS: usize = 4;

/// What [`PoolArea::count_addr`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrCount {
    /// Matching events (up to the limit asked for).
    pub count: u32,
    /// Gate passes of the address still in flight (newer than the scan's end).
    pub in_flight: u32,
    /// Ring slots read.
    pub scanned: u32,
    /// False when the window reaches back past the ring's oldest event: events of the window
    /// may have been overwritten, so the count may be short (never long).
    pub complete: bool,
}

/// One event of the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recent {
    /// Its ticket plus one: 1 for the pool's first event; increasing.
    pub id: u64,
    pub time_us: i64,
    /// A kind code ([`kind_name`]).
    pub kind: u8,
    /// The site's ident host hash ([`host_hash`]).
    pub host: u32,
    /// The address; IPv4 as an IPv4-mapped IPv6 address.
    pub addr: [u8; 16],
}

impl Recent {
    pub fn kind_name(&self) -> &'static str {
        kind_name(self.kind)
    }

    pub fn ip(&self) -> IpAddr {
        let v6 = std::net::Ipv6Addr::from(self.addr);
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    }
}

/// The kind code of an event.
pub fn kind_code(kind: &EventKind) -> u8 {
    match kind {
        EventKind::Spam { .. } => 0,
        // AuthKind has 14 variants; their index + 1 fits a byte.
        EventKind::Auth { kind, .. } => auth_code(*kind),
    }
}

pub(crate) fn auth_code(kind: AuthKind) -> u8 {
    let i = AuthKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    u8::try_from(i + 1).unwrap_or(u8::MAX)
}

/// FNV-1a, 32 bits: the ident host's hash in ring entries (0 for no host).
pub fn host_hash(host: &str) -> u32 {
    if host.is_empty() {
        return 0;
    }
    let mut h: u32 = 0x811c_9dc5;
    for b in host.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h.max(1)
}

/// 24 bits over an entry's ticket, time and address: a slot whose fields two writers mixed
/// fails it (but for one chance in 2^24).
fn check_word(ticket: u64, time_us: u64, a0: u64, a1: u64) -> u64 {
    let mut h = ticket ^ 0x9e37_79b9_7f4a_7c15;
    for v in [time_us, a0, a1] {
        h = (h ^ v).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 31;
    }
    (h >> 40) & 0xff_ffff
}

/// The hash of a sink's name `<kind>:<target>`, from its parts (no string made for it).
fn name_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h.max(1)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Stores `text` (cut to the words' size) into `words`; returns the length kept.
fn store_text(words: &[AtomicU64], text: &[u8]) -> usize {
    let len = text.len().min(words.len() * 8);
    for (i, w) in words.iter().enumerate() {
        let mut b = [0u8; 8];
        let start = (i * 8).min(len);
        let end = (start + 8).min(len);
        b[..end - start].copy_from_slice(&text[start..end]);
        w.store(u64::from_le_bytes(b), Relaxed);
    }
    len
}

fn load_text(words: &[AtomicU64], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(words.len() * 8);
    for w in words {
        out.extend_from_slice(&w.load(Relaxed).to_le_bytes());
    }
    out.truncate(len.min(words.len() * 8));
    out
}

impl PoolArea {
    /// A fresh area in its own shared anonymous mapping, never unmapped (a writer thread that
    /// outlived its process's end may still touch it). None when the kernel refuses.
    pub fn map() -> Option<&'static PoolArea> {
        // SAFETY: a new anonymous mapping; no file, no address hint, checked for failure below.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                MAPPING_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED || p.is_null() {
            return None;
        }
        // SAFETY: the mapping is page-aligned (more than PoolArea's alignment), MAPPING_BYTES
        // long (at least its size), zero-filled (all zero is a valid PoolArea: only atomics),
        // and lives for the rest of the process, as the returned reference says.
        let area = unsafe { &*p.cast::<PoolArea>() };
        area.created.store(unix_now(), Relaxed);
        Some(area)
    }

    /// Adds one accepted event (or a gate pass) to the counters and the ring; returns its ticket.
    pub fn record(&self, time_us: i64, kind: u8, host: u32, addr: [u8; 16]) -> u64 {
        let ticket = self.hook.head.fetch_add(1, Relaxed);
        // RING_LEN is a power of two far below u64's range; the index fits usize.
        let slot = &self.ring[usize::try_from(ticket % RING_LEN as u64).unwrap_or(0)];
        let time = u64::try_from(time_us).unwrap_or(0);
        let a0 = u64::from_be_bytes(addr[..8].try_into().unwrap_or_default());
        let a1 = u64::from_be_bytes(addr[8..].try_into().unwrap_or_default());
        let meta = u64::from(kind) | (check_word(ticket, time, a0, a1) << 8) | (u64::from(host) << 32);
        slot.seq.store(ticket.wrapping_mul(2).wrapping_add(1), Relaxed);
        fence(Release);
        slot.time_us.store(time, Relaxed);
        slot.meta.store(meta, Relaxed);
        slot.addr[0].store(a0, Relaxed);
        slot.addr[1].store(a1, Relaxed);
        slot.seq.store(ticket.wrapping_mul(2).wrapping_add(2), Release);
        ticket
    }

    /// Records a gate pass: a guarded request from `addr` let through at `time_us`.
    pub fn record_pass(&self, time_us: i64, addr: [u8; 16]) -> u64 {
        self.hook.passes.fetch_add(1, Relaxed);
        self.record(time_us, PASS_KIND, 0, addr)
    }

    /// Ends the gate pass `ticket`: one compare-and-swap of its kind, nothing when the ring has
    /// overwritten it since.
    pub fn resolve(&self, ticket: u64) {
        let Ok(i) = usize::try_from(ticket % RING_LEN as u64) else { return };
        let slot = &self.ring[i];
        if slot.seq.load(Acquire) != ticket.wrapping_mul(2).wrapping_add(2) {
            return;
        }
        let meta = slot.meta.load(Relaxed);
        if meta & 0xff == u64::from(PASS_KIND) {
            // Fails when a writer of a later ticket changed the slot meanwhile: then it is gone.
            let _ = slot.meta.compare_exchange(meta, (meta & !0xff) | u64::from(RESOLVED_KIND), Release, Relaxed);
        }
    }

    /// Adds an event made by a hook.
    pub fn record_event(&self, event: &Event, host: u32) {
        let (EventKind::Spam { addr, .. } | EventKind::Auth { addr, .. }) = &event.kind;
        let bytes = match addr {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        let us = event.stamp.unix_secs.saturating_mul(1_000_000).saturating_add(i64::from(event.stamp.micros));
        self.record(us, kind_code(&event.kind), host, bytes);
    }

    /// Up to `limit` events, newest first, of those with an id above `since`. An event being
    /// written right now (or rewritten by a wrap of the ring) is left out.
    pub fn recent(&self, limit: usize, since: u64) -> Vec<Recent> {
        let head = self.hook.head.load(Acquire);
        let oldest = head.saturating_sub(RING_LEN as u64).max(since);
        let mut out = Vec::with_capacity(limit.min(RING_LEN));
        let mut ticket = head;
        while ticket > oldest && out.len() < limit {
            ticket -= 1;
            if let Some(r) = self.read_slot(ticket).filter(|r| r.kind < PASS_KIND) {
                out.push(r);
            }
        }
        out
    }

    /// A slot's words (time, meta, address halves) as written for `ticket`, under the seqlock but
    /// without the check word: None while being written or after a later ticket took the slot.
    fn read_raw(&self, ticket: u64) -> Option<(u64, u64, u64, u64)> {
        let slot = &self.ring[usize::try_from(ticket % RING_LEN as u64).ok()?];
        let done = ticket.wrapping_mul(2).wrapping_add(2);
        let s1 = slot.seq.load(Acquire);
        if s1 != done {
            return None;
        }
        let time_us = slot.time_us.load(Relaxed);
        let meta = slot.meta.load(Relaxed);
        let a0 = slot.addr[0].load(Relaxed);
        let a1 = slot.addr[1].load(Relaxed);
        fence(Acquire);
        (slot.seq.load(Relaxed) == s1).then_some((time_us, meta, a0, a1))
    }

    fn read_slot(&self, ticket: u64) -> Option<Recent> {
        let (time_us, meta, a0, a1) = self.read_raw(ticket)?;
        if (meta >> 8) & 0xff_ffff != check_word(ticket, time_us, a0, a1) {
            return None;
        }
        let mut addr = [0u8; 16];
        addr[..8].copy_from_slice(&a0.to_be_bytes());
        addr[8..].copy_from_slice(&a1.to_be_bytes());
        Some(Recent {
            id: ticket + 1,
            time_us: to_i64(time_us),
            kind: (meta & 0xff) as u8,
            host: (meta >> 32) as u32,
            addr,
        })
    }

    /// Counts, newest first, the ring's events from `addr` whose kind code is in `kinds` (bit
    /// `1 << code`) and whose time is at or after `since_us`; stops at `limit` of them. Counts too
    /// the gate passes of `addr` at or after `pass_since_us` that are still in flight. Never
    /// allocates, never waits: a slot being written is skipped. The scan ends at the first event
    /// older than both windows by more than [`STAMP_SLACK_US`] (tickets follow the time stamps
    /// but for a hook descheduled between stamping and taking its ticket).
    ///
    /// A scan is no snapshot: a request may log its event (a newer ticket than the scan began
    /// with) and then resolve its pass (which the scan reads later) while the scan runs. So the
    /// scan then reads the tickets added meanwhile, until the head stands still (a few rounds at
    /// most): the event, stored before the pass was resolved, is among them.
    pub fn count_addr(&self, addr: [u8; 16], kinds: u16, since_us: i64, pass_since_us: i64, limit: u32) -> AddrCount {
        let stop_before = since_us.min(pass_since_us).saturating_sub(STAMP_SLACK_US);
        let mut out = AddrCount { count: 0, in_flight: 0, scanned: 0, complete: true };
        // Reads one ticket's slot into `out`; Some(true) at the limit, Some(false) for an event
        // older than the windows, None otherwise.
        let want = (
            u64::from_be_bytes(addr[..8].try_into().unwrap_or_default()),
            u64::from_be_bytes(addr[8..].try_into().unwrap_or_default()),
        );
        let visit = |ticket: u64, out: &mut AddrCount| -> Option<bool> {
            out.scanned += 1;
            let (time, meta, a0, a1) = self.read_raw(ticket)?;
            let time_us = to_i64(time);
            // Another client's slot is not hashed: its time only ends the scan (a mixed one could
            // end it early: then the count is short, which lets the request through).
            if time_us < stop_before {
                return Some(false);
            }
            if (a0, a1) != want || (meta >> 8) & 0xff_ffff != check_word(ticket, time, a0, a1) {
                return None;
            }
            let kind = (meta & 0xff) as u8;
            if kind == PASS_KIND {
                if time_us >= pass_since_us {
                    out.in_flight += 1;
                }
            } else if time_us >= since_us && kind < 16 && kinds & (1u16 << kind) != 0 {
                out.count += 1;
                if out.count >= limit {
                    return Some(true);
                }
            }
            None
        };
        let mut head = self.hook.head.load(Acquire);
        let oldest = head.saturating_sub(RING_LEN as u64);
        let mut ticket = head;
        let mut ended = false;
        while ticket > oldest {
            ticket -= 1;
            match visit(ticket, &mut out) {
                Some(true) => return out,
                Some(false) => {
                    ended = true;
                    break;
                }
                None => {}
            }
        }
        // The whole ring lay in the window: older events of the window were overwritten.
        out.complete = ended || oldest == 0;
        for _ in 0..CATCH_UP_ROUNDS {
            let now = self.hook.head.load(Acquire);
            if now == head {
                break;
            }
            for t in head.max(now.saturating_sub(RING_LEN as u64))..now {
                if visit(t, &mut out) == Some(true) {
                    return out;
                }
            }
            head = now;
        }
        out
    }

    pub fn counters(&self) -> PoolCounters {
        let w = &self.writer;
        PoolCounters {
            accepted: self.hook.head.load(Relaxed).saturating_sub(self.hook.passes.load(Relaxed)),
            written: w.written.load(Relaxed),
            dropped: w.dropped.load(Relaxed),
            retried: w.retried.load(Relaxed),
            spooled: w.spooled.load(Relaxed),
            sinks_untracked: w.sinks_untracked.load(Relaxed),
            since: to_i64(self.created.load(Relaxed)),
        }
    }

    /// Adds lines a writer thread wrote, dropped, retried or spooled.
    pub fn add_written(&self, n: u64) {
        self.writer.written.fetch_add(n, Relaxed);
    }
    pub fn add_dropped(&self, n: u64) {
        self.writer.dropped.fetch_add(n, Relaxed);
    }
    pub fn add_retried(&self, n: u64) {
        self.writer.retried.fetch_add(n, Relaxed);
    }
    pub fn add_spooled(&self, n: u64) {
        self.writer.spooled.fetch_add(n, Relaxed);
    }

    /// The slot of sink `name` (`kind:target`), claimed when new. None when the table is full.
    fn sink_slot(&self, kind: &str, target: &str) -> Option<&SinkSlot> {
        let key = name_hash(&[kind.as_bytes(), b":", target.as_bytes()]);
        for slot in &self.sinks {
            let k = slot.key.load(Acquire);
            if k == key {
                return Some(slot);
            }
            if k == 0 {
                match slot.key.compare_exchange(0, key, Acquire, Acquire) {
                    Ok(_) => {
                        slot.set_text(Some(format!("{kind}:{target}").as_bytes()), None, None);
                        return Some(slot);
                    }
                    Err(k) if k == key => return Some(slot),
                    Err(_) => {}
                }
            }
        }
        None
    }

    /// Adds what one process's sink did since its last report: `before` is that report (or None),
    /// `now` the sink's figures now (both cumulative for the process).
    pub fn report_sink(&self, before: Option<&SinkStats>, now: &SinkStats) {
        let delta = |b: fn(&SinkStats) -> u64| {
            let old = before.map_or(0, b);
            let new = b(now);
            // A process's figures only grow; a smaller one is a new sink set in its place.
            if new >= old {
                new - old
            } else {
                new
            }
        };
        let (written, errors, dropped) = (delta(|s| s.written), delta(|s| s.errors), delta(|s| s.dropped));
        let spooled = delta(|s| s.spooled);
        // Lines that went to a sink's spool file: a pool-wide counter (not per sink).
        self.add_spooled(spooled);
        let new_error =
            now.last_error_at.is_some() && before.and_then(|b| b.last_error_at) != now.last_error_at || errors > 0;
        if written == 0 && errors == 0 && dropped == 0 && !new_error {
            return;
        }
        let Some(slot) = self.sink_slot(now.kind, &now.target) else {
            self.writer.sinks_untracked.fetch_add(1, Relaxed);
            return;
        };
        slot.written.fetch_add(written, Relaxed);
        slot.dropped.fetch_add(dropped, Relaxed);
        if written > 0 {
            slot.last_ok_at.fetch_max(unix_now(), Relaxed);
        }
        if new_error {
            let at = now.last_error_at.map_or_else(unix_now, |t| u64::try_from(t).unwrap_or(0));
            let text = now.last_error.as_deref().unwrap_or("");
            slot.set_text(None, Some(text.as_bytes()), Some(at));
        }
        // Last, so that a reader who sees the count sees the error text too (unless a writer
        // of another process holds the text's lock this very moment).
        slot.errors.fetch_add(errors, Release);
    }

    /// Every sink the pool has figures for.
    pub fn sinks(&self) -> Vec<PoolSink> {
        let mut out = Vec::new();
        for slot in &self.sinks {
            if slot.key.load(Acquire) == 0 {
                continue;
            }
            let errors = slot.errors.load(Acquire);
            let Some((name, error, at)) = slot.read_text() else { continue };
            let name = String::from_utf8_lossy(&name).into_owned();
            let (kind, target) = name.split_once(':').unwrap_or((name.as_str(), ""));
            let last_ok = slot.last_ok_at.load(Relaxed);
            out.push(PoolSink {
                kind: kind.to_owned(),
                target: target.to_owned(),
                written: slot.written.load(Relaxed),
                errors,
                dropped: slot.dropped.load(Relaxed),
                last_error: (at != 0).then(|| String::from_utf8_lossy(&error).into_owned()),
                last_error_at: (at != 0).then(|| to_i64(at)),
                last_ok_at: (last_ok != 0).then(|| to_i64(last_ok)),
            });
        }
        out.sort_by(|a, b| (&a.kind, &a.target).cmp(&(&b.kind, &b.target)));
        out
    }
}

impl SinkSlot {
    /// Writes the parts given, under the seqlock. A writer that finds it held gives up: the
    /// holder is another process's writer thread with news as fresh.
    fn set_text(&self, name: Option<&[u8]>, error: Option<&[u8]>, at: Option<u64>) {
        let s = self.seq.load(Relaxed);
        if s % 2 == 1 || self.seq.compare_exchange(s, s + 1, Acquire, Relaxed).is_err() {
            return;
        }
        fence(Release);
        let lens = self.lens.load(Relaxed);
        let (mut name_len, mut err_len) = (lens & 0xffff_ffff, lens >> 32);
        if let Some(n) = name {
            name_len = store_text(&self.name, n) as u64;
        }
        if let Some(e) = error {
            err_len = store_text(&self.error, e) as u64;
        }
        if let Some(at) = at {
            self.last_error_at.store(at, Relaxed);
        }
        self.lens.store(name_len | (err_len << 32), Relaxed);
        self.seq.store(s + 2, Release);
    }

    /// The name, the last error and its time (0: none), or None while a writer keeps it busy.
    fn read_text(&self) -> Option<(Vec<u8>, Vec<u8>, u64)> {
        for _ in 0..READ_TRIES {
            let s1 = self.seq.load(Acquire);
            if s1 % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let lens = self.lens.load(Relaxed);
            let name_len = usize::try_from(lens & 0xffff_ffff).unwrap_or(0);
            let err_len = usize::try_from(lens >> 32).unwrap_or(0);
            let name = load_text(&self.name, name_len);
            let error = load_text(&self.error, err_len);
            let at = self.last_error_at.load(Relaxed);
            fence(Acquire);
            if self.seq.load(Relaxed) == s1 {
                return Some((name, error, at));
            }
        }
        None
    }
}

/// The process's area: made by [`init`], inherited through fork.
static GLOBAL: AtomicPtr<PoolArea> = AtomicPtr::new(ptr::null_mut());

/// Makes the shared area, once per process image (a second call, as after Apache's graceful
/// restart re-runs module start-up, keeps the first: the extension is linked NODELETE, see
/// php-ext/build.rs, so PHP's dlclose leaves this static in place). Call it before the server forks.
pub fn init() -> bool {
    if !GLOBAL.load(Acquire).is_null() {
        return true;
    }
    match PoolArea::map() {
        Some(area) => {
            GLOBAL.store(ptr::from_ref(area).cast_mut(), Release);
            true
        }
        None => false,
    }
}

/// The area this process shares with its pool, if [`init`] made one here or in a parent.
pub fn global() -> Option<&'static PoolArea> {
    let p = GLOBAL.load(Acquire);
    // SAFETY: GLOBAL is null or points to a mapping made by `PoolArea::map`, never unmapped.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// How far a process has told the pool about its counters (they are published as differences).
#[derive(Debug, Default)]
pub(crate) struct Published {
    written: AtomicU64,
    dropped: AtomicU64,
    retried: AtomicU64,
}

impl Published {
    /// Adds to the pool what this process's counters gained since the last call. Any thread may
    /// call it: `fetch_max` makes each gain counted once.
    pub fn publish(&self, written: u64, dropped: u64, retried: u64) {
        let Some(area) = global() else { return };
        let gain = |mark: &AtomicU64, now: u64| now.saturating_sub(mark.fetch_max(now, Relaxed));
        area.add_written(gain(&self.written, written));
        area.add_dropped(gain(&self.dropped, dropped));
        area.add_retried(gain(&self.retried, retried));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    fn addr(i: u32) -> [u8; 16] {
        std::net::Ipv4Addr::from(0xc000_0200 | (i & 0xff)).to_ipv6_mapped().octets()
    }

    #[test]
    fn the_mapping_costs_what_the_docs_say() {
        assert_eq!(MAPPING_BYTES, 172_032);
        let readme = include_str!("../../../README.md");
        let stub = include_str!("../../banlog.stub.php");
        for doc in [readme, stub] {
            assert!(doc.contains("172,032 bytes"), "the docs state the mapping's size");
        }
        assert!(std::mem::size_of::<PoolArea>() <= MAPPING_BYTES);
    }

    #[test]
    fn a_second_start_up_keeps_the_first_area() {
        // Apache's graceful restart runs minit again in the same process (the library kept loaded:
        // php-ext/build.rs): the children of both generations must share one area.
        assert!(init());
        let first = global().unwrap();
        first.record(1, 0, 0, addr(1));
        let seen = first.counters().accepted;
        assert!(init());
        let second = global().unwrap();
        assert!(ptr::eq(first, second));
        assert!(second.counters().accepted >= seen);
    }

    #[test]
    fn kinds_follow_auth_kinds() {
        assert_eq!(kind_name(0), "spam");
        for k in AuthKind::ALL {
            assert_eq!(kind_name(auth_code(k)), k.name());
        }
        assert_eq!(kind_name(u8::MAX), "unknown");
    }

    #[test]
    fn ring_keeps_the_last_events_across_wraparound() {
        let area = PoolArea::map().unwrap();
        let total = RING_LEN as u64 * 2 + 123;
        for i in 0..total {
            area.record(i64::try_from(i).unwrap(), 1, 7, addr(u32::try_from(i % 200).unwrap()));
        }
        assert_eq!(area.counters().accepted, total);
        let all = area.recent(usize::MAX, 0);
        assert_eq!(all.len(), RING_LEN);
        assert_eq!(all[0].id, total);
        assert_eq!(all[RING_LEN - 1].id, total - RING_LEN as u64 + 1);
        for r in &all {
            assert_eq!(r.time_us, i64::try_from(r.id - 1).unwrap());
            assert_eq!(r.addr, addr(u32::try_from((r.id - 1) % 200).unwrap()));
            assert_eq!((r.kind, r.host, r.kind_name()), (1, 7, "failure"));
        }
        let newer = area.recent(10, total - 3);
        assert_eq!(newer.iter().map(|r| r.id).collect::<Vec<_>>(), vec![total, total - 1, total - 2]);
        assert_eq!(area.recent(5, 0).len(), 5);
        assert_eq!(all[0].ip().to_string(), format!("192.0.2.{}", (total - 1) % 200));
    }

    #[test]
    fn events_keep_their_address_and_kind() {
        let area = PoolArea::map().unwrap();
        let ev = |kind| Event { stamp: banlog_core::Stamp { unix_secs: 1_700_000_000, micros: 5 }, kind };
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        area.record_event(&ev(EventKind::Spam { comment_id: 1, addr: v6 }), host_hash("example.com"));
        let v4: IpAddr = "203.0.113.9".parse().unwrap();
        let user = crate::event::UserName::new("bob");
        area.record_event(&ev(EventKind::Auth { kind: AuthKind::RestUnknownUser, user, addr: v4 }), 0);
        let r = area.recent(10, 0);
        assert_eq!(
            (r[0].ip(), r[0].kind_name(), r[0].host, r[0].time_us),
            (v4, "rest_unknown_user", 0, 1_700_000_000_000_005)
        );
        assert_eq!((r[1].ip(), r[1].kind_name(), r[1].host), (v6, "spam", host_hash("example.com")));
    }

    #[test]
    fn an_entry_whose_fields_two_writers_mixed_is_skipped() {
        let area = PoolArea::map().unwrap();
        area.record(1_000, 1, 7, addr(1));
        area.record(2_000, 1, 7, addr(2));
        // As if a late writer of the same slot (ticket 1 + RING_LEN) had stored its address half
        // into ticket 1's finished entry: the sequence word still says "ticket 1, written".
        let other = addr(3);
        area.ring[1].addr[1].store(u64::from_be_bytes(other[8..].try_into().unwrap()), Relaxed);
        let r = area.recent(10, 0);
        assert_eq!(r.iter().map(|e| e.id).collect::<Vec<_>>(), vec![1]);
        // The same with its time.
        area.ring[0].time_us.store(2_000, Relaxed);
        assert!(area.recent(10, 0).is_empty());
    }

    #[test]
    fn concurrent_threads_lose_no_event() {
        let area = PoolArea::map().unwrap();
        let threads = 8u64;
        let each = 20_000u64;
        std::thread::scope(|s| {
            for t in 0..threads {
                s.spawn(move || {
                    for i in 0..each {
                        area.record(
                            i64::try_from(i).unwrap(),
                            u8::try_from(t).unwrap(),
                            0,
                            addr(u32::try_from(t).unwrap()),
                        );
                    }
                });
            }
        });
        assert_eq!(area.counters().accepted, threads * each);
        let r = area.recent(usize::MAX, 0);
        // A writer descheduled between its ticket and its stores while 4096 others pass leaves its
        // slot to a later ticket, which readers then skip (the race the module's comment states):
        // at most one slot per writer thread, so at least RING_LEN - threads entries are whole.
        let floor = RING_LEN - usize::try_from(threads).unwrap();
        assert!(r.len() >= floor && r.len() <= RING_LEN, "{} entries", r.len());
        // Every entry whole: the kind and the address were written by the same thread.
        for e in &r {
            assert_eq!(e.addr, addr(u32::from(e.kind)));
        }
    }

    #[test]
    fn readers_never_see_a_torn_entry_while_writers_wrap() {
        let area = PoolArea::map().unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        std::thread::scope(|s| {
            for t in 0..3u32 {
                let stop = Arc::clone(&stop);
                s.spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(Relaxed) {
                        // time, kind and address all derive from one number.
                        let n = i * 3 + u64::from(t);
                        area.record(
                            i64::try_from(n).unwrap(),
                            u8::try_from(n % 9).unwrap(),
                            0,
                            addr(u32::try_from(n % 251).unwrap()),
                        );
                        i += 1;
                    }
                });
            }
            for _ in 0..200 {
                for e in area.recent(usize::MAX, 0) {
                    let n = u64::try_from(e.time_us).unwrap();
                    assert_eq!(u64::from(e.kind), n % 9);
                    assert_eq!(e.addr, addr(u32::try_from(n % 251).unwrap()));
                }
            }
            stop.store(true, Relaxed);
        });
    }

    /// Runs `child(c)` in `children` forked processes (`c` = 0, 1, …) and waits until each has
    /// ended well. `child` must only touch the shared mapping: no allocation, no lock.
    pub(crate) fn in_forked_children(children: u8, child: impl Fn(u8)) {
        let mut pids = Vec::new();
        for c in 0..children {
            // SAFETY: the child only does atomic stores into the shared mapping (the caller's
            // promise: no allocation, no lock) and leaves with _exit.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                child(c);
                // SAFETY: ends the child without running the parent's atexit handlers or tests.
                unsafe { libc::_exit(0) };
            }
            pids.push(pid);
        }
        for pid in pids {
            let mut status = 0;
            // SAFETY: waits for a child of this process; status is a valid out-pointer.
            assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
    }

    #[test]
    fn forked_processes_share_the_counters() {
        let area = PoolArea::map().unwrap();
        let children = 4;
        let each = 5_000u64;
        in_forked_children(children, |c| {
            for i in 0..each {
                area.record(i64::try_from(i).unwrap_or(0), c, 0, [c; 16]);
            }
            area.add_written(each);
        });
        let c = area.counters();
        assert_eq!((c.accepted, c.written), (u64::from(children) * each, u64::from(children) * each));
        for e in area.recent(usize::MAX, 0) {
            assert_eq!(e.addr, [e.kind; 16]);
        }
    }

    fn sink(kind: &'static str, target: &str, written: u64, errors: u64, err: Option<(&str, i64)>) -> SinkStats {
        SinkStats {
            kind,
            target: target.into(),
            written,
            errors,
            last_error: err.map(|e| e.0.to_owned()),
            last_error_at: err.map(|e| e.1),
            ..Default::default()
        }
    }

    #[test]
    fn sinks_add_up_over_processes_and_keep_the_last_error() {
        let area = PoolArea::map().unwrap();
        let a1 = sink("syslog", "/dev/log", 5, 0, None);
        area.report_sink(None, &a1);
        let a2 = sink("syslog", "/dev/log", 7, 2, Some(("connection refused", 1_700_000_100)));
        area.report_sink(Some(&a1), &a2);
        // Another worker: its own cumulative figures.
        let mut b1 = sink("syslog", "/dev/log", 3, 1, Some(("no such file", 1_700_000_200)));
        b1.spooled = 4;
        area.report_sink(None, &b1);
        area.report_sink(None, &sink("spam_log", "/var/log/x.log", 4, 0, None));
        let s = area.sinks();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].kind.as_str(), s[0].target.as_str(), s[0].written), ("spam_log", "/var/log/x.log", 4));
        assert_eq!(s[0].last_error, None);
        assert_eq!((s[1].kind.as_str(), s[1].written, s[1].errors), ("syslog", 10, 3));
        assert_eq!((s[1].last_error.as_deref(), s[1].last_error_at), (Some("no such file"), Some(1_700_000_200)));
        assert!(s[1].last_ok_at.is_some());
        assert_eq!(area.counters().spooled, 4);
        // Unchanged figures: nothing to do, the error stays.
        area.report_sink(Some(&b1), &b1);
        assert_eq!(area.sinks()[1].errors, 3);
    }

    #[test]
    fn long_texts_are_cut_and_a_full_table_is_counted() {
        let area = PoolArea::map().unwrap();
        let long = "e".repeat(1000);
        area.report_sink(None, &sink("auth_log", &"/p".repeat(200), 1, 1, Some((&long, 5))));
        let s = area.sinks();
        assert_eq!(s[0].last_error.as_ref().unwrap().len(), ERROR_WORDS * 8);
        assert_eq!(s[0].kind, "auth_log");
        assert_eq!(s[0].target.len(), NAME_WORDS * 8 - "auth_log:".len());
        for i in 0..SINK_SLOTS + 3 {
            area.report_sink(None, &sink("spam_log", &format!("/f{i}"), 1, 0, None));
        }
        assert_eq!(area.sinks().len(), SINK_SLOTS);
        assert_eq!(area.counters().sinks_untracked, 4);
    }

    #[test]
    fn concurrent_error_reports_stay_whole() {
        let area = PoolArea::map().unwrap();
        std::thread::scope(|s| {
            for t in 0..4u8 {
                s.spawn(move || {
                    let text = char::from(b'a' + t).to_string().repeat(100 + usize::from(t));
                    for i in 0..2_000u64 {
                        let before = sink("syslog", "/dev/log", i, i, Some((&text, 1)));
                        let now =
                            sink("syslog", "/dev/log", i + 1, i + 1, Some((&text, i64::try_from(i).unwrap() + 2)));
                        area.report_sink(Some(&before), &now);
                    }
                });
            }
            for _ in 0..2_000 {
                if let Some(e) = area.sinks().first().and_then(|s| s.last_error.clone()) {
                    let c = e.as_bytes()[0];
                    assert_eq!(e.len(), 100 + usize::from(c - b'a'));
                    assert!(e.bytes().all(|b| b == c));
                }
            }
        });
        let s = &area.sinks()[0];
        assert_eq!((s.written, s.errors), (8_000, 8_000));
    }
}
