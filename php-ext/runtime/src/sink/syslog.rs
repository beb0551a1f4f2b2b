//! A syslog daemon or collector, reached with the `syslog` crate; reconnected after the daemon
//! restarts, with what arrives meanwhile kept (bounded) and sent later.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use banlog_core::clock::LocalTime;
use banlog_core::line::{ident, syslog_message};
use syslog::{LogFormat, Logger, LoggerBackend, Severity};

use super::{unix_now, Outcome, MAX_PENDING_LINES};
use crate::settings::{Settings, SyslogTarget};
use crate::stats::SinkStats;

/// A blocked daemon must not stall the writer for ever.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// One message, with its time stamp taken when the hook was called (not when it is sent).
#[derive(Clone)]
pub struct SyslogRecord {
    facility: u8,
    severity: Severity,
    time: LocalTime,
    ident: String,
    pid: u32,
    message: String,
}

impl SyslogRecord {
    pub fn new(s: &Settings, pid: u32, time: LocalTime, info: bool, message: String) -> Self {
        SyslogRecord {
            facility: s.syslog_facility.code(),
            // Failures are notices, as sshd and WP fail2ban log them; a success is information.
            severity: if info { Severity::LOG_INFO } else { Severity::LOG_NOTICE },
            time,
            ident: ident(&s.ident_host),
            pid,
            message,
        }
    }
}

/// RFC 3164 as glibc's `syslog()` sends it locally; remote collectors also get our host name,
/// and TCP gets a newline to end each message (non-transparent framing).
#[derive(Debug, Clone)]
struct Rfc3164 {
    hostname: Option<String>,
    newline: bool,
}

impl LogFormat<&SyslogRecord> for Rfc3164 {
    fn format<W: Write>(&self, w: &mut W, severity: Severity, r: &SyslogRecord) -> syslog::Result<()> {
        let pri = (r.facility << 3) | severity as u8;
        let mut msg = syslog_message(pri, &r.time, self.hostname.as_deref(), &r.ident, r.pid, &r.message);
        if self.newline {
            msg.push('\n');
        }
        // One write: one datagram, or one whole frame on a stream.
        w.write_all(msg.as_bytes()).map_err(syslog::Error::Write)?;
        w.flush().map_err(syslog::Error::Write)
    }
}

pub struct SyslogSink {
    target: SyslogTarget,
    hostname: String,
    conn: Option<Logger<LoggerBackend, Rfc3164>>,
    queue: VecDeque<SyslogRecord>,
    new_dropped: u64,
    stats: SinkStats,
}

impl SyslogSink {
    pub fn new(target: SyslogTarget, hostname: String) -> Self {
        let stats = SinkStats { kind: "syslog", target: target.to_string(), ..Default::default() };
        SyslogSink { target, hostname, conn: None, queue: VecDeque::new(), new_dropped: 0, stats }
    }

    pub fn push(&mut self, r: SyslogRecord) {
        if self.queue.len() >= MAX_PENDING_LINES {
            self.stats.dropped += 1;
            self.new_dropped += 1;
            return;
        }
        self.queue.push_back(r);
    }

    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    pub fn stats(&self) -> SinkStats {
        SinkStats { pending: self.queue.len() as u64, ..self.stats.clone() }
    }

    pub fn write_pending(&mut self) -> Outcome {
        let mut out = Outcome { dropped: std::mem::take(&mut self.new_dropped), ..Default::default() };
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
                        break;
                    }
                }
            }
            let conn = self.conn.as_mut().expect("connected above");
            let sent = conn.formatter.format(&mut conn.backend, rec.severity, rec);
            match sent {
                Ok(()) => {
                    self.queue.pop_front();
                    out.written += 1;
                }
                Err(e) => {
                    self.conn = None;
                    if fresh_tried {
                        self.fail(&mut out, format!("cannot send to syslog at {}: {e}", self.target));
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

    fn connect(&self) -> io::Result<Logger<LoggerBackend, Rfc3164>> {
        let remote = Rfc3164 { hostname: Some(self.hostname.clone()), newline: false };
        let logger = match &self.target {
            SyslogTarget::Unix(path) => {
                let local = Rfc3164 { hostname: None, newline: false };
                let mut l = syslog::unix_custom(local, path).map_err(to_io)?;
                if let LoggerBackend::UnixStream(_) = l.backend {
                    // A stream socket (journald-less setups): frame with a newline as well.
                    l.formatter.newline = true;
                }
                l
            }
            SyslogTarget::Udp(addr) => {
                let server = resolve(addr)?;
                let local = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                syslog::udp(remote, local, server).map_err(to_io)?
            }
            SyslogTarget::Tcp(addr) => {
                let server = resolve(addr)?;
                syslog::tcp(Rfc3164 { newline: true, ..remote }, server).map_err(to_io)?
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
