//! The pipeline of the current process, following PHP's process model.
//!
//! PHP-FPM and Apache load the extension in a master process and fork workers; `pcntl_fork()`
//! forks a request. Threads do not survive a fork, so each process starts its own writer, lazily,
//! on its first event. A fork handler marks the child; the child forgets (without touching) the
//! parent's pipeline, whose queue and locks belong to threads it does not have, and whose events
//! the parent will write.

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Once};
use std::time::Duration;

use parking_lot::Mutex;

use crate::pipeline::{Pipeline, PipelineOptions};
use crate::queue::Producer;

static CURRENT: Mutex<Option<Arc<Pipeline>>> = Mutex::new(None);
thread_local! {
    /// This thread's producer for this process's pipeline: the hook path takes no lock.
    static PRODUCER: RefCell<Option<(Arc<Pipeline>, Producer)>> = const { RefCell::new(None) };
}

/// This process's pid, or 0 when it must be read again (set by the fork handler in a child).
static PID: AtomicU32 = AtomicU32::new(0);
static FORK_HANDLER: Once = Once::new();

extern "C" fn forked_child() {
    PID.store(0, SeqCst);
}

/// The pid of this process, without a system call on the hot path.
pub fn pid() -> u32 {
    let p = PID.load(SeqCst);
    if p != 0 {
        return p;
    }
    let p = std::process::id();
    PID.store(p, SeqCst);
    p
}

/// Registers the fork handler; call it once at module start-up.
pub fn register_fork_handler() {
    FORK_HANDLER.call_once(|| {
        // SAFETY: `forked_child` is async-signal-safe (one atomic store) and lives as long as this
        // library; glibc unregisters handlers of a shared object when it is unloaded.
        unsafe {
            libc::pthread_atfork(None, None, Some(forked_child));
        }
    });
}

/// This process's pipeline, started on first use (`opts` is called only then).
pub fn pipeline(opts: impl FnOnce(u32) -> PipelineOptions) -> io::Result<Arc<Pipeline>> {
    let me = pid();
    let mut cur = CURRENT.lock();
    if let Some(rt) = cur.as_ref() {
        if rt.pid() == me {
            return Ok(Arc::clone(rt));
        }
        // Inherited from the parent: its writer thread does not exist here.
        std::mem::forget(cur.take());
    }
    let rt = Arc::new(Pipeline::start(opts(me))?);
    *cur = Some(Arc::clone(&rt));
    Ok(rt)
}

/// Runs `f` with this thread's producer, starting the pipeline on first use. Err when the writer
/// thread cannot be started.
pub fn with_producer<R>(
    opts: impl FnOnce(u32) -> PipelineOptions,
    f: impl FnOnce(&mut Producer) -> R,
) -> io::Result<R> {
    PRODUCER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if let Some((pl, _)) = slot.as_ref() {
            if pl.pid() != pid() {
                // Inherited through a fork: the parent's pipeline is not ours to touch.
                std::mem::forget(slot.take());
            }
        }
        let (_, producer) = match slot.as_mut() {
            Some(s) => s,
            None => {
                let pl = pipeline(opts)?;
                let producer = pl.producer();
                slot.insert((pl, producer))
            }
        };
        Ok(f(producer))
    })
}

/// Ends this thread's request: waits (at most `timeout`) until its events are handled. True when
/// it made none or they all were.
pub fn finish_request(timeout: Duration) -> bool {
    PRODUCER.with(|cell| match cell.borrow_mut().as_mut() {
        Some((pl, p)) if pl.pid() == pid() => pl.finish_request(p, timeout),
        _ => true,
    })
}

/// The response of this thread's request is out: sends what its end left in journals.
pub fn after_response() {
    PRODUCER.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            if let Some((pl, p)) = slot.as_mut().filter(|(pl, _)| pl.pid() == pid()) {
                pl.after_response(p);
            }
        }
    })
}

/// This process's pipeline if it has started one.
pub fn existing() -> Option<Arc<Pipeline>> {
    let cur = CURRENT.lock();
    cur.as_ref().filter(|rt| rt.pid() == pid()).cloned()
}

/// Stops and drains the writer, only in the process that owns it. Returns whether everything
/// ended in time (true when there was nothing to stop).
pub fn shutdown(timeout: Duration) -> bool {
    let mut cur = CURRENT.lock();
    match cur.take() {
        Some(rt) if rt.pid() == pid() => rt.stop(timeout),
        Some(inherited) => {
            std::mem::forget(inherited);
            true
        }
        None => true,
    }
}
