//! The way in: the messages the writer takes, the producers that send them, and the overflow list
//! that holds events while the queue stays full.
//!
//! The hook side is built to cost little: an event travels by value (no heap block), the settings
//! travel once per change (not with every event), and the writer is woken only every few events
//! and when a caller flushes (it also looks by itself every second). A wake is a system call when
//! the writer sleeps, and it slept after nearly every event when every send woke it.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicU32, AtomicUsize};
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;

use crate::event::Event;
use crate::settings::Settings;
use crate::state::SharedState;
use crate::stats::Counters;

/// Events the overflow list holds, beyond the queue, while the writer is stalled.
const MAX_OVERFLOW: usize = 1_000_000;
/// A caller wakes the writer after this many events (at most; a quarter of a small queue).
const WAKE_EVERY: usize = 256;
/// Settings a producer keeps with the writer at once. A php-fpm worker serving the sites of a
/// multisite alternates between their settings; each is sent once, not at every change, and the
/// writer keeps the sinks of all of them open (see `writer.rs`).
pub(crate) const SETTINGS_SLOTS: usize = 8;

pub(crate) enum Msg {
    /// An event, made under the settings its producer sent for `slot`.
    Event { producer: u32, slot: u8, event: Event },
    /// The settings of a producer's following events that name `slot` (replacing what it held).
    Settings { producer: u32, slot: u8, settings: Arc<Settings> },
    /// Write what is queued, retry failures until the deadline, then end.
    Stop(Instant),
}

/// What became of a submitted event: queued, or held in the overflow list (bounded); `Dropped`, and
/// counted, when that list is full or the writer is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    Queued,
    /// The queue was full; it took a short wait.
    QueuedAfterWait,
    /// The queue stayed full; the event waits in the overflow list.
    Overflow,
    Dropped,
}

/// Events that found the queue full, with their settings (they bypass the queue's order).
#[derive(Default)]
pub(crate) struct Overflow {
    list: Mutex<Vec<(Arc<Settings>, Event)>>,
    len: AtomicUsize,
}

impl Overflow {
    pub fn is_empty(&self) -> bool {
        self.len.load(Relaxed) == 0
    }

    pub fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    /// Takes every event waiting (for the writer).
    pub fn take(&self) -> Vec<(Arc<Settings>, Event)> {
        let mut list = self.list.lock();
        self.len.store(0, Relaxed);
        std::mem::take(&mut *list)
    }

    /// Adds one event; false when the list is at its bound.
    fn push(&self, settings: &Arc<Settings>, event: Event) -> bool {
        let mut list = self.list.lock();
        if list.len() >= MAX_OVERFLOW {
            return false;
        }
        list.push((Arc::clone(settings), event));
        self.len.store(list.len(), Relaxed);
        true
    }
}

/// How a message fared on its way into the queue.
enum Enqueued {
    Now,
    AfterWait,
    Full(Msg),
    Gone,
}

/// The sending side of one process's queue.
pub(crate) struct Queue {
    pub tx: Sender<Msg>,
    pub overflow: Arc<Overflow>,
    pub state: Arc<SharedState>,
    /// The writer thread, to wake it.
    pub writer: Thread,
    /// How long a caller waits for room when the queue is full, before using the overflow list.
    pub full_wait: Duration,
    pub wake_every: usize,
}

impl Queue {
    pub fn wake_every(capacity: usize) -> usize {
        (capacity / 4).clamp(1, WAKE_EVERY)
    }

    /// Makes the writer look at the queue now.
    pub fn wake(&self) {
        self.writer.unpark();
    }

    /// Puts a message in the queue; waits at most `full_wait` when it is full.
    fn enqueue(&self, msg: Msg) -> Enqueued {
        let msg = match self.tx.try_send(msg) {
            Ok(()) => return Enqueued::Now,
            Err(TrySendError::Full(msg)) => msg,
            Err(TrySendError::Disconnected(_)) => return Enqueued::Gone,
        };
        Counters::add(&self.state.counters.hook.queue_full, 1);
        self.wake();
        match self.tx.send_timeout(msg, self.full_wait) {
            Ok(()) => Enqueued::AfterWait,
            Err(SendTimeoutError::Timeout(msg)) => Enqueued::Full(msg),
            Err(SendTimeoutError::Disconnected(_)) => Enqueued::Gone,
        }
    }

    /// The queue stayed full: the event waits in the overflow list (bounded), with its settings.
    fn overflow(&self, settings: &Arc<Settings>, event: Event) -> Submitted {
        if !self.overflow.push(settings, event) {
            return self.drop_event();
        }
        Counters::add(&self.state.counters.hook.overflowed, 1);
        self.wake();
        Submitted::Overflow
    }

    fn drop_event(&self) -> Submitted {
        let w = &self.state.counters.writer;
        Counters::add(&w.dropped, 1);
        self.state.publish_to_pool();
        self.state.progress(|| {
            w.processed.fetch_add(1, SeqCst);
        });
        Submitted::Dropped
    }
}

/// One calling thread's way into a pipeline. It remembers which settings the writer already has
/// from it, so that an event carries only their slot, and how many events it sent since it last
/// woke the writer.
pub struct Producer {
    queue: Arc<Queue>,
    id: u32,
    sent: SentSettings,
    unwoken: usize,
    last_accepted: u64,
    /// The last request's end left syslog lines in a journal, to send once its response is out.
    pub(crate) journaled: bool,
}

/// The settings a producer has sent the writer, by slot (at most [`SETTINGS_SLOTS`]).
#[derive(Default)]
struct SentSettings {
    /// The settings of each slot, with when each was last switched to.
    slots: Vec<(Arc<Settings>, u64)>,
    /// The slot of the last event's settings.
    current: u8,
    switches: u64,
}

impl SentSettings {
    /// The slot the writer holds `settings` in, if it does: the same `Arc` as before, or equal
    /// settings. Makes it the current slot.
    fn find(&mut self, settings: &Arc<Settings>) -> Option<u8> {
        if self.slots.get(usize::from(self.current)).is_some_and(|(s, _)| Arc::ptr_eq(s, settings)) {
            return Some(self.current);
        }
        let slots = || self.slots.iter().zip(0u8..);
        let (_, slot) = slots()
            .find(|((s, _), _)| Arc::ptr_eq(s, settings))
            .or_else(|| slots().find(|((s, _), _)| **s == **settings))?;
        self.switches += 1;
        self.slots[usize::from(slot)].1 = self.switches;
        self.current = slot;
        Some(slot)
    }

    /// The slot new settings go to: a free one, else the one switched to least recently.
    fn free(&self) -> u8 {
        let mut free = (0u8..).take(SETTINGS_SLOTS).skip(self.slots.len());
        free.next()
            .or_else(|| self.slots.iter().zip(0u8..).min_by_key(|((_, used), _)| *used).map(|(_, slot)| slot))
            .unwrap_or(0)
    }

    /// `settings` were sent for `slot`: the current slot from now on.
    fn remember(&mut self, slot: u8, settings: &Arc<Settings>) {
        self.switches += 1;
        let entry = (Arc::clone(settings), self.switches);
        match self.slots.get_mut(usize::from(slot)) {
            Some(e) => *e = entry,
            None => self.slots.push(entry),
        }
        self.current = slot;
    }
}

impl Producer {
    pub(crate) fn new(queue: Arc<Queue>) -> Self {
        static NEXT_ID: AtomicU32 = AtomicU32::new(1);
        let id = NEXT_ID.fetch_add(1, Relaxed);
        Producer { queue, id, sent: SentSettings::default(), unwoken: 0, last_accepted: 0, journaled: false }
    }

    /// The process-wide count of accepted events right after this producer's last event (0 before
    /// its first, and after each finished request): what a caller waits for to know its own events
    /// are written.
    pub fn last_accepted(&self) -> u64 {
        self.last_accepted
    }

    /// Starts counting afresh (a request ends); returns what [`Producer::last_accepted`] was.
    pub(crate) fn take_last_accepted(&mut self) -> u64 {
        self.unwoken = 0;
        std::mem::take(&mut self.last_accepted)
    }

    /// Hands an event to the writer; waits at most `full_wait` when the queue is full, then
    /// keeps the event in the overflow list.
    pub fn submit(&mut self, settings: &Arc<Settings>, event: Event) -> Submitted {
        let q = &*self.queue;
        self.last_accepted = q.state.counters.hook.accepted.fetch_add(1, Relaxed) + 1;
        let mut waited = false;
        let slot = match self.sent.find(settings) {
            Some(slot) => slot,
            None => {
                let slot = self.sent.free();
                let msg = Msg::Settings { producer: self.id, slot, settings: Arc::clone(settings) };
                match q.enqueue(msg) {
                    Enqueued::Now => {}
                    Enqueued::AfterWait => waited = true,
                    Enqueued::Full(_) => return q.overflow(settings, event),
                    Enqueued::Gone => return q.drop_event(),
                }
                self.sent.remember(slot, settings);
                slot
            }
        };
        let res = match q.enqueue(Msg::Event { producer: self.id, slot, event }) {
            Enqueued::Now if waited => Submitted::QueuedAfterWait,
            Enqueued::Now => Submitted::Queued,
            Enqueued::AfterWait => Submitted::QueuedAfterWait,
            Enqueued::Full(Msg::Event { event, .. }) => return q.overflow(settings, event),
            // A message comes back as it went in.
            Enqueued::Full(_) => return q.drop_event(),
            Enqueued::Gone => return q.drop_event(),
        };
        self.unwoken += 1;
        if self.unwoken >= q.wake_every {
            self.unwoken = 0;
            q.wake();
        }
        res
    }
}
