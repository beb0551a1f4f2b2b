//! Writer throughput for `make bench`: how many lines per second banlog's writer puts into a file,
//! against a plain buffered write(2) loop of the very same bytes (the ceiling on this machine).
//!
//! Usage: banlog-bench-writer DIR LINES RUNS
//! Prints one JSON object on stdout. Every variant runs RUNS times, interleaved, each time into a
//! fresh file; the median run is reported.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use banlog_core::{AuthKind, LocalZone, Stamp};
use banlog_runtime::pipeline::hostname;
use banlog_runtime::sink::{Mode, Sinks};
use banlog_runtime::{Event, EventKind, Pipeline, PipelineOptions, Settings};

/// What the writer thread takes off the queue at most before it writes the batch (runtime/src/writer.rs).
const WRITER_BATCH: usize = 512;

fn addrs() -> Vec<IpAddr> {
    [
        "203.0.113.9",
        "198.51.100.23",
        "192.0.2.200",
        "2001:db8::1",
        "2001:db8:85a3::8a2e:370:7334",
        "203.0.113.77",
        "198.51.100.4",
        "2001:db8:ffff::42",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect()
}

/// Settings through the same rules as `banlog_configure()` (the fields are private).
fn settings(pairs: &[(&str, &str)]) -> Settings {
    Settings::with(pairs).expect("benchmark settings (a log path must end in .log)")
}

fn spam_events(n: usize, path: &Path) -> (Arc<Settings>, Vec<Event>) {
    let settings = Arc::new(settings(&[("spam_log", path.to_str().expect("UTF-8 path")), ("syslog", "0")]));
    let a = addrs();
    let events = (0..n)
        .map(|i| Event {
            stamp: Stamp::now(),
            kind: EventKind::Spam { comment_id: 1000 + i as u64, addr: a[i % a.len()] },
        })
        .collect();
    (settings, events)
}

fn auth_events(n: usize, path: &Path) -> (Arc<Settings>, Vec<Event>) {
    let settings = Arc::new(settings(&[
        ("auth_log", path.to_str().expect("UTF-8 path")),
        ("syslog", "0"),
        ("ident_host", "example.com"),
    ]));
    let a = addrs();
    let events = (0..n)
        .map(|i| Event {
            stamp: Stamp::now(),
            kind: EventKind::Auth {
                kind: AuthKind::Failure,
                user: format!("admin{}", i % 97).as_str().into(),
                addr: a[i % a.len()],
            },
        })
        .collect();
    (settings, events)
}

/// The writer's own work, on this thread: format each event into its sink, then write the batch (in chunks of up to 64 KiB).
fn run_sinks(zone: &LocalZone, (settings, events): &(Arc<Settings>, Vec<Event>)) -> Duration {
    let mut sinks = Sinks::new(zone.clone(), hostname(), std::process::id(), Arc::default());
    let t = Instant::now();
    let route = sinks.resolve(settings);
    for batch in events.chunks(WRITER_BATCH) {
        for ev in batch {
            sinks.route(&route, ev);
        }
        let out = sinks.write_pending(Duration::from_millis(500), Mode::Writer);
        assert_eq!(out.written, batch.len() as u64, "every line written");
    }
    t.elapsed()
}

/// The real writer thread, fed by this thread through the real queue, until flushed.
fn run_runtime(zone: &LocalZone, (settings, events): (Arc<Settings>, Vec<Event>)) -> Duration {
    let rt = Arc::new(Pipeline::start(PipelineOptions::new(zone.clone())).expect("writer thread"));
    let mut producer = rt.producer();
    let n = events.len() as u64;
    let t = Instant::now();
    for ev in events {
        producer.submit(&settings, ev);
    }
    assert!(rt.flush(Duration::from_secs(120)), "flushed");
    let d = t.elapsed();
    let s = rt.stats();
    assert_eq!((s.written, s.overflowed, s.dropped), (n, 0, 0), "runtime stats {s:?}");
    rt.stop(Duration::from_secs(5));
    d
}

fn open_append(path: &Path) -> File {
    let _ = fs::remove_file(path);
    OpenOptions::new().append(true).create(true).mode(0o640).open(path).expect("open")
}

/// write(2) of the same bytes, one call per WRITER_BATCH lines (the writer's batching).
fn run_ceiling_batches(path: &Path, bytes: &[u8]) -> Duration {
    let mut chunks = Vec::new();
    let (mut start, mut lines) = (0, 0);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            lines += 1;
            if lines == WRITER_BATCH {
                chunks.push(&bytes[start..=i]);
                start = i + 1;
                lines = 0;
            }
        }
    }
    if start < bytes.len() {
        chunks.push(&bytes[start..]);
    }
    let mut f = open_append(path);
    let t = Instant::now();
    for c in chunks {
        f.write_all(c).expect("write");
    }
    t.elapsed()
}

/// A plain buffered loop: line by line into a 64 KiB buffer, write(2) when it is full.
fn run_ceiling_bufwriter(path: &Path, bytes: &[u8]) -> Duration {
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    let f = open_append(path);
    let t = Instant::now();
    let mut w = BufWriter::with_capacity(64 * 1024, f);
    for l in lines {
        w.write_all(l).expect("write");
    }
    w.flush().expect("flush");
    drop(w);
    t.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn count_lines(path: &Path) -> usize {
    fs::read(path).expect("read").iter().filter(|&&b| b == b'\n').count()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: {} DIR LINES RUNS", args[0]);
        std::process::exit(2);
    }
    let dir = PathBuf::from(&args[1]);
    let n: usize = args[2].parse().expect("LINES");
    let runs: usize = args[3].parse().expect("RUNS");
    fs::create_dir_all(&dir).expect("dir");
    let zone = LocalZone::load();

    let spam = dir.join("writer-spam.log");
    let auth = dir.join("writer-auth.log");
    let ceil = dir.join("ceiling.log");
    let spam_ev = spam_events(n, &spam);
    let auth_ev = auth_events(n, &auth);

    let mut t_sinks = Vec::new();
    let mut t_sinks_auth = Vec::new();
    let mut t_rt = Vec::new();
    let mut t_ceil_b = Vec::new();
    let mut t_ceil_w = Vec::new();
    let mut t_ceil_auth = Vec::new();
    let mut spam_bytes = 0;
    let mut auth_bytes = 0;
    for _ in 0..runs {
        let _ = fs::remove_file(&spam);
        t_sinks.push(run_sinks(&zone, &spam_ev).as_secs_f64());
        assert_eq!(count_lines(&spam), n);
        let bytes = fs::read(&spam).expect("read");
        spam_bytes = bytes.len();
        t_ceil_b.push(run_ceiling_batches(&ceil, &bytes).as_secs_f64());
        assert_eq!(fs::read(&ceil).expect("read"), bytes, "identical bytes");
        t_ceil_w.push(run_ceiling_bufwriter(&ceil, &bytes).as_secs_f64());
        assert_eq!(fs::read(&ceil).expect("read"), bytes, "identical bytes");

        let _ = fs::remove_file(&spam);
        t_rt.push(run_runtime(&zone, spam_ev.clone()).as_secs_f64());
        assert_eq!(count_lines(&spam), n);

        let _ = fs::remove_file(&auth);
        t_sinks_auth.push(run_sinks(&zone, &auth_ev).as_secs_f64());
        assert_eq!(count_lines(&auth), n);
        let abytes = fs::read(&auth).expect("read");
        auth_bytes = abytes.len();
        t_ceil_auth.push(run_ceiling_batches(&ceil, &abytes).as_secs_f64());
    }
    for p in [&spam, &auth, &ceil] {
        let _ = fs::remove_file(p);
    }
    let rate = |t: &Vec<f64>| n as f64 / median(t.clone());
    let ceiling = rate(&t_ceil_b).max(rate(&t_ceil_w));
    println!(
        "{{\"lines\": {n}, \"runs\": {runs}, \"batch_lines\": {WRITER_BATCH}, \
         \"spam_bytes_per_line\": {:.1}, \"auth_bytes_per_line\": {:.1}, \
         \"writer_sinks_spam_lps\": {:.0}, \"writer_thread_spam_lps\": {:.0}, \"writer_sinks_auth_file_lps\": {:.0}, \
         \"ceiling_batches_lps\": {:.0}, \"ceiling_bufwriter_lps\": {:.0}, \"ceiling_lps\": {:.0}, \
         \"ceiling_auth_batches_lps\": {:.0}}}",
        spam_bytes as f64 / n as f64,
        auth_bytes as f64 / n as f64,
        rate(&t_sinks),
        rate(&t_rt),
        rate(&t_sinks_auth),
        rate(&t_ceil_b),
        rate(&t_ceil_w),
        ceiling,
        rate(&t_ceil_auth),
    );
}
