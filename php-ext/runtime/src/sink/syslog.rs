//! A syslog daemon or collector. Nothing here blocks the writer for long: the name is resolved and
//! the connection made on a short-lived thread with timeouts, and the socket is non-blocking (the
//! writer thread waits at most [`ROOM_WAIT`] a round for a full one), so a dead or stalled target
//! delays neither the other sinks nor a request. What it cannot take waits
//! in the sink's [`Backlog`] (bounded memory, then a spool file) and is sent, in order, once it can.
//!
//! Resolution runs on a thread rather than through a resolver crate: the system's `getaddrinfo`
//! reads `/etc/hosts`, nsswitch and resolv.conf as every other program on the host does (a
//! pure-Rust resolver would not, and brings an async runtime along); a thread costs some 50 µs,
//! only when a connection is (re)made, and the writer never waits for it.

use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use banlog_core::clock::LocalTime;
use banlog_core::line::push_syslog_head;

use super::attempt::{unix_now, Mode, Outcome};
use super::journal::Journal;
use super::spool::{Backlog, SpoolConfig};
use crate::settings::SyslogTarget;
use crate::stats::{Figures, SinkStats};

/// Longest wait for a TCP connection (a listener whose backlog is full, a black-holed address).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for name resolution and connection together, after which the attempt counts as
/// failed (its thread may run on until `getaddrinfo` gives up; its result is then ignored).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connection threads a process runs at most at once (one per sink, plus ones given up on): a
/// resolver that never answers cannot make threads pile up.
const MAX_CONNECTING: usize = 4;
/// How long the writer holds a request's events while a connection is being made to a target not
/// known to be down (a local daemon answers in well under a millisecond): their lines are then
/// sent before the request ends. Past it, the target counts as down and nobody waits for it.
const CONNECT_PATIENCE: Duration = Duration::from_millis(200);
/// How long the writer thread waits, per round, for a full socket to take more.
const ROOM_WAIT: Duration = Duration::from_millis(5);
static CONNECTING: AtomicUsize = AtomicUsize::new(0);

/// syslog severities (RFC 5424).
const LOG_NOTICE: u8 = 5;
const LOG_INFO: u8 = 6;

/// A connected socket, non-blocking. Messages are formatted at push time (RFC 3164, as glibc's
/// `syslog()` sends them locally; remote collectors also get our host name); the framing is added
/// as they are sent. A datagram is one message. Over TCP each message goes octet-counted (RFC 6587
/// 3.4.1: its length in bytes, a space, the message), a framing rsyslog's `imtcp` reads: a message
/// cut short by a lost connection is then discarded by the collector, never logged as a shorter
/// line (whose last address could be another, valid one: `203.0.113.95` cut to `203.0.113.9`). A
/// local stream socket gets a newline after each message, as local daemons expect (non-transparent
/// framing; a message never holds a raw newline, core escapes them).
enum Link {
    Datagram(UnixDatagram),
    UnixStream(UnixStream),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

/// The octet count before a message over TCP: its length in decimal and a space.
struct OctetCount {
    buf: [u8; 21],
    len: usize,
}

impl OctetCount {
    fn new(n: usize) -> Self {
        let mut digits = [0u8; 20];
        let (mut i, mut n) = (digits.len(), n);
        loop {
            i -= 1;
            digits[i] = b"0123456789"[n % 10];
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut buf = [0u8; 21];
        let len = digits.len() - i;
        buf[..len].copy_from_slice(&digits[i..]);
        buf[len] = b' ';
        OctetCount { buf, len: len + 1 }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Writes `head`, `body` and `tail` as one stream of bytes, from byte `off` of the three, as far
/// as `w` takes them now. Returns the new offset.
fn send_parts(w: &mut impl Write, parts: [&[u8]; 3], off: usize) -> io::Result<usize> {
    let mut skip = off;
    let slices = parts.map(|p| {
        let from = skip.min(p.len());
        skip -= from;
        IoSlice::new(&p[from..])
    });
    let n = w.write_vectored(&slices)?;
    if n == 0 {
        return Err(io::ErrorKind::WriteZero.into());
    }
    Ok(off + n)
}

impl Link {
    /// Bytes that carry `frame` with its framing: `send` is done with it at this offset.
    fn wire_len(&self, frame: &[u8]) -> usize {
        match self {
            Link::Datagram(_) | Link::Udp(_) => frame.len(),
            Link::UnixStream(_) => frame.len() + 1,
            Link::Tcp(_) => OctetCount::new(frame.len()).len + frame.len(),
        }
    }

    /// Sends `frame` from byte `off` of its framed form (see [`Link::wire_len`]). Returns the new
    /// offset; a datagram goes whole or not at all.
    fn send(&mut self, frame: &[u8], off: usize) -> io::Result<usize> {
        match self {
            Link::Datagram(s) => s.send(frame).map(|_| frame.len()),
            Link::Udp(s) => s.send(frame).map(|_| frame.len()),
            Link::UnixStream(s) => send_parts(s, [b"", frame, b"\n"], off),
            Link::Tcp(s) => send_parts(s, [OctetCount::new(frame.len()).bytes(), frame, b""], off),
        }
    }

    /// Waits until the socket takes more (a local daemon has read, a collector's window opened),
    /// at most `timeout`. True when it does.
    fn wait_for_room(&self, timeout: Duration) -> bool {
        let fd = match self {
            Link::Datagram(s) => s.as_raw_fd(),
            Link::UnixStream(s) => s.as_raw_fd(),
            Link::Udp(s) => s.as_raw_fd(),
            Link::Tcp(s) => s.as_raw_fd(),
        };
        let mut pfd = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
        let ms = libc::c_int::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX);
        // SAFETY: one pollfd, valid for the call, on a descriptor this link owns.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        n == 1 && pfd.revents & libc::POLLOUT != 0
    }

    /// Whether a stream's peer has closed it (a collector stopped or restarted). Writing to such a
    /// socket still succeeds once, into the kernel's buffer, and that message is lost: asking first
    /// makes the sink reconnect (or spool) instead. Anything a collector sent us is read and
    /// ignored. A peer that goes away between this look and the write can still take one
    /// message with it: plain TCP syslog has no acknowledgment.
    fn peer_closed(&mut self) -> io::Result<bool> {
        let mut scratch = [0u8; 512];
        let s: &mut dyn Read = match self {
            Link::UnixStream(s) => s,
            Link::Tcp(s) => s,
            Link::Datagram(_) | Link::Udp(_) => return Ok(false),
        };
        // Bounded: a peer that keeps sending cannot keep the writer here.
        for _ in 0..16 {
            match s.read(&mut scratch) {
                Ok(0) => return Ok(true),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}

/// Where the connection stands.
enum Conn {
    None,
    /// A thread resolves and connects; its answer comes through the channel.
    Connecting(Receiver<io::Result<Link>>, Instant),
    Ready(Link),
}

pub struct SyslogSink {
    target: SyslogTarget,
    /// Our host name in each message, for remote collectors only (a local daemon adds its own).
    hostname: Option<String>,
    conn: Conn,
    /// Whole messages, formatted when their event was routed (time stamp of the hook call).
    backlog: Backlog,
    /// The first messages of the backlog again, on disk: kept at a request's end, until they
    /// are sent after the response.
    journal: Journal,
    /// Bytes of the oldest message already sent (a stream took part of it).
    sent_off: usize,
    new_dropped: u64,
    /// After a failure, no new attempt before this moment.
    retry_at: Option<Instant>,
    /// Known to be down: the last connection attempt failed (or took longer than
    /// [`CONNECT_PATIENCE`]) and none has worked since. Requests do not wait for such a sink.
    down: bool,
    stats: SinkStats,
    head: Head,
}

/// When an event happened: its Unix second and that second in local time.
#[derive(Clone, Copy)]
pub struct When<'a> {
    pub second: i64,
    pub local: &'a LocalTime,
}

/// The last message's head (all before its text: priority, time, host name, tag) and what it was
/// made of. The messages of one site within a second share it, and the date is most of its cost.
#[derive(Default)]
struct Head {
    of: Option<(i64, u8, u32)>,
    ident: String,
    bytes: Vec<u8>,
}

impl Head {
    fn get(&mut self, pri: u8, at: When<'_>, hostname: Option<&str>, ident: &str, pid: u32) -> &[u8] {
        let of = Some((at.second, pri, pid));
        if self.of != of || self.ident != ident {
            self.bytes.clear();
            push_syslog_head(&mut self.bytes, pri, at.local, hostname, ident, pid);
            self.of = of;
            self.ident.clear();
            self.ident.push_str(ident);
        }
        &self.bytes
    }
}

impl SyslogSink {
    pub fn new(target: SyslogTarget, hostname: String, spool: Arc<SpoolConfig>) -> Self {
        let name = target.to_string();
        let stats = SinkStats { kind: "syslog", target: name.clone(), ..Default::default() };
        let hostname = match target {
            SyslogTarget::Unix(_) => None,
            SyslogTarget::Udp(_) | SyslogTarget::Tcp(_) => Some(hostname),
        };
        let backlog = Backlog::new(spool, "syslog", &name);
        SyslogSink {
            target,
            hostname,
            conn: Conn::None,
            backlog,
            journal: Journal::default(),
            sent_off: 0,
            new_dropped: 0,
            retry_at: None,
            down: false,
            stats,
            head: Head::default(),
        }
    }

    /// Queues one message: `facility` as its code, `info` for a success (failures are notices,
    /// as sshd and WP fail2ban log them), the text appended by `message`.
    pub fn push(
        &mut self,
        facility: u8,
        info: bool,
        at: When<'_>,
        ident: &str,
        pid: u32,
        message: impl FnOnce(&mut Vec<u8>),
    ) {
        let severity = if info { LOG_INFO } else { LOG_NOTICE };
        let pri = (facility << 3) | severity;
        let mut frame = self.backlog.buffer();
        frame.extend_from_slice(self.head.get(pri, at, self.hostname.as_deref(), ident, pid));
        message(&mut frame);
        let dropped = self.backlog.counts.dropped;
        self.backlog.push(frame);
        let lost = self.backlog.counts.dropped - dropped;
        if lost > 0 {
            self.stats.dropped += lost;
            self.new_dropped += lost;
            self.note_spool_error();
        }
    }

    pub fn pending(&self) -> usize {
        self.backlog.len()
    }

    /// Whether the target is known to be down (see `down`).
    pub fn is_down(&self) -> bool {
        self.down
    }

    pub fn stats(&self) -> SinkStats {
        let mut s = self.stats.clone();
        self.figures().1.apply(&mut s);
        s
    }

    /// The stats as kept, and the figures they show (no text copied).
    pub(crate) fn figures(&self) -> (&SinkStats, Figures) {
        let c = self.backlog.counts;
        let f = Figures {
            pending: self.backlog.len() as u64,
            spooled: c.spooled,
            replayed: c.replayed,
            memory: self.backlog.memory() as u64,
            ..Figures::of(&self.stats)
        };
        (&self.stats, f)
    }

    /// Keeps what is unsent in the spool for a later process (or this one, when the target is used
    /// again) and closes the connection. Returns the lines that could not be kept.
    pub fn persist(&mut self) -> u64 {
        // A stream took part of the oldest message: the rest of it can only go over this
        // connection, and the whole message would come twice after a replay. Finish it if the
        // socket takes it now, else it is resent whole (over TCP the collector discards the
        // part it got, its octet count unmet; a local stream daemon logs it as a torn line).
        if self.sent_off > 0 {
            if let (Conn::Ready(link), Some(frame)) = (&mut self.conn, self.backlog.front()) {
                if let Ok(off) = link.send(frame, self.sent_off) {
                    if off >= link.wire_len(frame) {
                        self.backlog.pop_front();
                        self.journal.sent(1);
                    }
                }
            }
            self.sent_off = 0;
        }
        self.conn = Conn::None;
        let lost = self.backlog.persist();
        if lost == 0 {
            // They are all in the spool now.
            self.journal.clear();
        }
        self.stats.dropped += lost;
        self.note_spool_error();
        lost
    }

    fn note_spool_error(&mut self) {
        if let Some(e) = self.backlog.error.take() {
            self.stats.errors += 1;
            self.stats.last_error = Some(e);
            self.stats.last_error_at = Some(unix_now());
        }
    }

    /// Sends what is queued, as far as the socket takes it without waiting; after a failure,
    /// waits for `retry` before it tries again. In [`Mode::Inline`], puts the lines in the
    /// journal when the sink is in good health; else, and in [`Mode::Send`], sends only
    /// over a connection already made and leaves the rest to the writer thread, which also makes
    /// connections.
    pub fn write_pending(&mut self, now: Instant, retry: Duration, mode: Mode) -> Outcome {
        let mut out = Outcome { dropped: std::mem::take(&mut self.new_dropped), ..Default::default() };
        if self.backlog.is_empty() || self.retry_at.is_some_and(|t| now < t) {
            return out;
        }
        if mode == Mode::Inline && self.journal_rest() {
            return out;
        }
        if mode == Mode::Writer {
            self.retry_at = None;
            self.poll_connect(now, retry, &mut out);
        }
        let mut failure = None;
        {
            let link = match &mut self.conn {
                Conn::Ready(link) => link,
                Conn::Connecting(_, since) if mode == Mode::Writer => {
                    // A target not known to be down gets a moment to answer before the
                    // request's lines are left waiting.
                    let patient = now.duration_since(*since) < CONNECT_PATIENCE;
                    self.down |= !patient;
                    out.deferred = patient && !self.down;
                    return out;
                }
                _ => {
                    out.deferred = mode != Mode::Writer;
                    return out;
                }
            };
            match link.peer_closed() {
                Ok(false) => {}
                Ok(true) => {
                    failure = Some(io::Error::new(io::ErrorKind::ConnectionAborted, "the peer closed the connection"))
                }
                Err(e) => failure = Some(e),
            }
            while let (true, Some(frame)) = (failure.is_none(), self.backlog.front()) {
                match link.send(frame, self.sent_off) {
                    Ok(off) if off >= link.wire_len(frame) => {
                        self.backlog.pop_front();
                        self.journal.sent(1);
                        self.sent_off = 0;
                        out.written += 1;
                    }
                    Ok(off) => self.sent_off = off,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // A burst fills a local daemon's queue (ten datagrams) at once: the writer
                        // thread waits a moment for room, as a blocking send would, rather than
                        // nap. A daemon or collector that does not read costs it ROOM_WAIT per
                        // round, then the sink is tried again soon.
                        let left = ROOM_WAIT.saturating_sub(now.elapsed());
                        if mode == Mode::Writer && !left.is_zero() && link.wait_for_room(left) {
                            continue;
                        }
                        out.busy = true;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        if let Some(e) = failure {
            // Maybe the daemon restarted. A message cut short on a stream is resent whole on the
            // next connection (the collector saw its first part without an end).
            self.conn = Conn::None;
            self.sent_off = 0;
            if mode == Mode::Writer {
                self.fail(&mut out, format!("cannot send to syslog at {}: {e}", self.target));
                // One fresh connection at once: a daemon that restarted is back already.
                self.start_connect();
                self.retry_at = Some(now + retry.min(Duration::from_millis(20)));
                out.busy = true;
            }
        }
        self.note_spool_error();
        out.deferred |= mode != Mode::Writer && !self.backlog.is_empty();
        self.stats.written += out.written;
        out
    }

    /// At a request's end, for a sink in good health (connected, every waiting line in memory):
    /// puts the lines not in the journal yet there, to be sent after the response. False when the
    /// journal cannot keep them: the caller sends them now.
    fn journal_rest(&mut self) -> bool {
        if !matches!(self.conn, Conn::Ready(_)) || self.down || self.sent_off > 0 || self.backlog.on_disk() {
            return false;
        }
        let (cfg, stem) = self.backlog.config();
        let kept = self.journal.append(cfg, stem, self.backlog.in_memory().skip(self.journal.lines()));
        if let Some(e) = self.journal.error.take() {
            // Said once, not at every request: lines still go out, sent at once.
            if self.stats.last_error.as_ref() != Some(&e) {
                self.stats.errors += 1;
                self.stats.last_error = Some(e);
                self.stats.last_error_at = Some(unix_now());
            }
        }
        kept
    }

    /// Lines that wait in the journal, to be sent after the response.
    pub fn journaled(&self) -> usize {
        self.journal.lines()
    }

    /// Takes over lines an ended process left for this target.
    pub fn adopt_left(&mut self) {
        self.backlog.adopt();
    }

    /// Starts a connection when there is none, and picks up the one a thread has made.
    fn poll_connect(&mut self, now: Instant, retry: Duration, out: &mut Outcome) {
        if matches!(self.conn, Conn::None) {
            self.start_connect();
        }
        let Conn::Connecting(rx, since) = &self.conn else { return };
        let result = match rx.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Empty) if now.duration_since(*since) < ATTEMPT_TIMEOUT => {
                // Not known yet: look again soon (the thread also wakes the writer), without
                // waiting here.
                out.busy = true;
                return;
            }
            Err(TryRecvError::Empty) => Err(io::Error::new(io::ErrorKind::TimedOut, "no answer within 5 s")),
            Err(TryRecvError::Disconnected) => Err(io::Error::other("the connecting thread ended")),
        };
        match result {
            Ok(link) => {
                self.conn = Conn::Ready(link);
                self.down = false;
            }
            Err(e) => {
                self.conn = Conn::None;
                self.down = true;
                self.fail(out, format!("cannot connect to syslog at {}: {e}", self.target));
                self.retry_at = Some(now + retry);
            }
        }
    }

    fn start_connect(&mut self) {
        if CONNECTING.fetch_add(1, SeqCst) >= MAX_CONNECTING {
            CONNECTING.fetch_sub(1, SeqCst);
            let (_, rx) = sync_channel(1);
            // Counts as a failed attempt (the sender is gone), retried later.
            self.conn = Conn::Connecting(rx, Instant::now());
            return;
        }
        let (tx, rx) = sync_channel(1);
        let target = self.target.clone();
        let waker = std::thread::current();
        let spawned = std::thread::Builder::new().name("banlog-connect".into()).spawn(move || {
            let r = connect(&target);
            CONNECTING.fetch_sub(1, SeqCst);
            let _ = tx.send(r);
            // The writer looks at once rather than at its next round.
            waker.unpark();
        });
        if spawned.is_err() {
            CONNECTING.fetch_sub(1, SeqCst);
        }
        self.conn = Conn::Connecting(rx, Instant::now());
    }

    fn fail(&mut self, out: &mut Outcome, msg: String) {
        out.failed_attempts += 1;
        self.stats.errors += 1;
        self.stats.last_error = Some(msg);
        self.stats.last_error_at = Some(unix_now());
    }
}

/// Resolves and connects (on a connecting thread: both may take seconds), then makes the socket
/// non-blocking for the writer.
fn connect(target: &SyslogTarget) -> io::Result<Link> {
    let link = match target {
        SyslogTarget::Unix(path) => match UnixDatagram::unbound().and_then(|s| s.connect(path).map(|()| s)) {
            Ok(s) => Link::Datagram(s),
            // A stream socket (journald-less setups).
            Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => Link::UnixStream(UnixStream::connect(path)?),
            Err(e) => return Err(e),
        },
        SyslogTarget::Udp(addr) => {
            let server = resolve(addr)?.remove(0);
            let local = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let s = UdpSocket::bind(local)?;
            s.connect(server)?;
            Link::Udp(s)
        }
        SyslogTarget::Tcp(addr) => {
            let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{addr} has no address"));
            let mut found = None;
            for server in resolve(addr)? {
                match TcpStream::connect_timeout(&server, CONNECT_TIMEOUT) {
                    Ok(s) => {
                        found = Some(s);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            let s = found.ok_or(last)?;
            let _ = s.set_nodelay(true);
            Link::Tcp(s)
        }
    };
    match &link {
        Link::Datagram(s) => s.set_nonblocking(true)?,
        Link::UnixStream(s) => s.set_nonblocking(true)?,
        Link::Udp(s) => s.set_nonblocking(true)?,
        Link::Tcp(s) => s.set_nonblocking(true)?,
    }
    Ok(link)
}

/// The target's addresses (blocking `getaddrinfo`, honouring /etc/hosts and nsswitch as the rest
/// of the system does).
fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    let v: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if v.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{addr} has no address")));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes at most `max` bytes per write, as a full socket buffer does.
    struct Trickle {
        got: Vec<u8>,
        max: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.max);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_kept_head_is_the_head_formatted_afresh() {
        use banlog_core::{LocalZone, Stamp};
        let dir = tempfile::tempdir().unwrap();
        let spool = Arc::new(SpoolConfig::new(Some(dir.path().to_path_buf()), 0));
        let target = SyslogTarget::Udp("127.0.0.1:514".parse().unwrap());
        let mut sink = SyslogSink::new(target, "web1".into(), spool);
        let zone = LocalZone::named("Europe/Berlin").unwrap();
        let mut want = Vec::new();
        // Seconds, priorities, idents and pids changing one at a time, and back.
        let steps = [
            (1_795_241_962, 4, false, "wordpress(a.example)", 42),
            (1_795_241_962, 4, false, "wordpress(a.example)", 42),
            (1_795_241_963, 4, false, "wordpress(a.example)", 42),
            (1_795_241_963, 10, false, "wordpress(a.example)", 42),
            (1_795_241_963, 10, true, "wordpress(a.example)", 42),
            (1_795_241_963, 10, true, "wordpress(b.example)", 42),
            (1_795_241_963, 10, true, "wordpress(b.example)", 43),
            (1_795_241_963, 4, false, "wordpress(a.example)", 42),
            (1_798_761_599, 4, false, "wordpress(a.example)", 42),
        ];
        for (i, &(second, facility, info, ident, pid)) in steps.iter().enumerate() {
            let local = zone.local(Stamp { unix_secs: second, micros: 0 });
            sink.push(facility, info, When { second, local: &local }, ident, pid, |b| b.extend_from_slice(b"text"));
            let mut frame = Vec::new();
            let pri = (facility << 3) | if info { LOG_INFO } else { LOG_NOTICE };
            push_syslog_head(&mut frame, pri, &local, Some("web1"), ident, pid);
            frame.extend_from_slice(b"text");
            want.push(frame);
            let got: Vec<&[u8]> = sink.backlog.in_memory().collect();
            assert_eq!(got.last().copied(), Some(&want[i][..]), "step {i}");
        }
    }

    #[test]
    fn octet_counts_are_the_byte_length_in_decimal() {
        for n in [0usize, 1, 9, 10, 99, 100, 8191, usize::MAX] {
            assert_eq!(OctetCount::new(n).bytes(), format!("{n} ").as_bytes());
        }
    }

    #[test]
    fn a_frame_sent_in_pieces_arrives_framed_once() {
        let frame = "<37>Nov 30 21:01:23 web1 wordpress(example.com)[42]: Authentication failure for \u{e9}l\u{e8}ve from 2001:db8::1".as_bytes();
        let count = OctetCount::new(frame.len());
        for max in [1, 2, 3, 7, 1000] {
            for (head, tail, want) in [
                (count.bytes(), &b""[..], [count.bytes(), frame].concat()),
                (&b""[..], &b"\n"[..], [frame, b"\n"].concat()),
            ] {
                let mut w = Trickle { got: Vec::new(), max };
                let mut off = 0;
                while off < want.len() {
                    off = send_parts(&mut w, [head, frame, tail], off).unwrap();
                }
                assert_eq!(off, want.len());
                assert_eq!(w.got, want, "{max}");
            }
        }
    }
}
