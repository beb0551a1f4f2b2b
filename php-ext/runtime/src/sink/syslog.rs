//! A syslog daemon or collector, reached with the `syslog` crate; reconnected after the daemon
//! restarts, with what arrives meanwhile kept (bounded) and sent later.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use banlog_core::clock::LocalTime;
use banlog_core::line::push_syslog_head;
use syslog::{LogFormat, Logger, LoggerBackend, Severity};

use super::attempt::{unix_now, Mode, Outcome, MAX_PENDING_LINES};
use crate::settings::SyslogTarget;
use crate::stats::SinkStats;

/// A blocked daemon must not stall the writer for ever.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends frames formatted at push time (RFC 3164, as glibc's `syslog()` sends them locally;
/// remote collectors also get our host name). TCP and unix stream sockets get a newline to end
/// each message (non-transparent framing). One write per message: one datagram, or one whole
/// frame on a stream.
#[derive(Debug, Clone)]
struct Framing {
    newline: bool,
}

impl LogFormat<&[u8]> for Framing {
    fn format<W: Write>(&self, w: &mut W, _severity: Severity, frame: &[u8]) -> syslog::Result<()> {
        if self.newline {
            let mut framed = Vec::with_capacity(frame.len() + 1);
            framed.extend_from_slice(frame);
            framed.push(b'\n');
            w.write_all(&framed).map_err(syslog::Error::Write)?;
        } else {
            w.write_all(frame).map_err(syslog::Error::Write)?;
        }
        w.flush().map_err(syslog::Error::Write)
    }
}

pub struct SyslogSink {
    target: SyslogTarget,
    /// Our host name in each message, for remote collectors only (a local daemon adds its own).
    hostname: Option<String>,
    conn: Option<Logger<LoggerBackend, Framing>>,
    /// Whole messages, formatted when their event was routed (time stamp of the hook call).
    queue: VecDeque<Vec<u8>>,
    new_dropped: u64,
    /// After a failure, no new attempt before this moment.
    retry_at: Option<Instant>,
    stats: SinkStats,
}

impl SyslogSink {
    pub fn new(target: SyslogTarget, hostname: String) -> Self {
        let stats = SinkStats { kind: "syslog", target: target.to_string(), ..Default::default() };
        let hostname = match target {
            SyslogTarget::Unix(_) => None,
            SyslogTarget::Udp(_) | SyslogTarget::Tcp(_) => Some(hostname),
        };
        SyslogSink { target, hostname, conn: None, queue: VecDeque::new(), new_dropped: 0, retry_at: None, stats }
    }

    /// Queues one message: `facility` as its code, `info` for a success (failures are notices,
    /// as sshd and WP fail2ban log them), the text appended by `message`.
    pub fn push(
        &mut self,
        facility: u8,
        info: bool,
        t: &LocalTime,
        ident: &str,
        pid: u32,
        message: impl FnOnce(&mut Vec<u8>),
    ) {
        if self.queue.len() >= MAX_PENDING_LINES {
            self.stats.dropped += 1;
            self.new_dropped += 1;
            return;
        }
        let severity = if info { Severity::LOG_INFO } else { Severity::LOG_NOTICE };
        let pri = (facility << 3) | severity as u8;
        let mut frame = Vec::with_capacity(128);
        push_syslog_head(&mut frame, pri, t, self.hostname.as_deref(), ident, pid);
        message(&mut frame);
        self.queue.push_back(frame);
    }

    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    pub fn stats(&self) -> SinkStats {
        SinkStats { pending: self.queue.len() as u64, ..self.stats.clone() }
    }

    /// Sends what is queued; after a failure, waits for `retry` before it tries again. In
    /// [`Mode::Inline`], sends only over a connection already made, and leaves what it cannot
    /// send to the writer thread.
    pub fn write_pending(&mut self, now: Instant, retry: Duration, mode: Mode) -> Outcome {
        let mut out = Outcome { dropped: std::mem::take(&mut self.new_dropped), ..Default::default() };
        if self.queue.is_empty() || self.retry_at.is_some_and(|t| now < t) {
            return out;
        }
        if mode == Mode::Inline {
            while let (Some(rec), Some(conn)) = (self.queue.front(), self.conn.as_mut()) {
                match conn.formatter.format(&mut conn.backend, Severity::LOG_NOTICE, &rec[..]) {
                    Ok(()) => {
                        self.queue.pop_front();
                        out.written += 1;
                    }
                    // Maybe the daemon restarted: the writer thread reconnects.
                    Err(_) => self.conn = None,
                }
            }
            out.deferred = !self.queue.is_empty();
            self.stats.written += out.written;
            return out;
        }
        self.retry_at = None;
        // A connection that worked before may be stale (the daemon restarted): one fresh
        // connection is tried at once before the records wait for the next retry.
        let mut fresh_tried = false;
        while let Some(rec) = self.queue.front() {
            if self.conn.is_none() {
                fresh_tried = true;
                match self.connect() {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => {
                        self.fail(&mut out, format!("cannot connect to syslog at {}: {e}", self.target));
                        self.retry_at = Some(now + retry);
                        break;
                    }
                }
            }
            let conn = self.conn.as_mut().expect("connected above");
            let sent = conn.formatter.format(&mut conn.backend, Severity::LOG_NOTICE, &rec[..]);
            match sent {
                Ok(()) => {
                    self.queue.pop_front();
                    out.written += 1;
                }
                Err(e) => {
                    self.conn = None;
                    if fresh_tried {
                        self.fail(&mut out, format!("cannot send to syslog at {}: {e}", self.target));
                        self.retry_at = Some(now + retry);
                        break;
                    }
                }
            }
        }
        self.stats.written += out.written;
        out
    }

    fn fail(&mut self, out: &mut Outcome, msg: String) {
        out.failed_attempts += 1;
        self.stats.errors += 1;
        self.stats.last_error = Some(msg);
        self.stats.last_error_at = Some(unix_now());
    }

    fn connect(&self) -> io::Result<Logger<LoggerBackend, Framing>> {
        let logger = match &self.target {
            SyslogTarget::Unix(path) => {
                let mut l = syslog::unix_custom(Framing { newline: false }, path).map_err(to_io)?;
                if let LoggerBackend::UnixStream(_) = l.backend {
                    // A stream socket (journald-less setups): frame with a newline as well.
                    l.formatter.newline = true;
                }
                l
            }
            SyslogTarget::Udp(addr) => {
                let server = resolve(addr)?;
                let local = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                syslog::udp(Framing { newline: false }, local, server).map_err(to_io)?
            }
            SyslogTarget::Tcp(addr) => {
                let server = resolve(addr)?;
                syslog::tcp(Framing { newline: true }, server).map_err(to_io)?
            }
        };
        match &logger.backend {
            LoggerBackend::Unix(s) => s.set_write_timeout(Some(SEND_TIMEOUT))?,
            LoggerBackend::UnixStream(s) => s.get_ref().set_write_timeout(Some(SEND_TIMEOUT))?,
            LoggerBackend::Tcp(s) => s.get_ref().set_write_timeout(Some(SEND_TIMEOUT))?,
            LoggerBackend::Udp(..) => {}
        }
        Ok(logger)
    }
}

fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{addr} has no address")))
}

fn to_io(e: syslog::Error) -> io::Error {
    match e {
        syslog::Error::Io(e) | syslog::Error::Write(e) => e,
        syslog::Error::Initialization(e) => io::Error::other(e.to_string()),
    }
}
