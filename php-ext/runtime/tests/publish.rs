//! A flush writes and sends on the caller's thread but leaves publishing the sinks' figures to
//! others: `Pipeline::stats()` (`banlog_stats()`) shows them at once, and the writer thread's idle
//! round brings the pool's within a second. Its own test binary: it makes the process's pool area.

mod common;

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::{Duration, Instant};

use banlog_core::LocalZone;
use banlog_runtime::{pool, Event, Pipeline, PipelineOptions, SettingValue, Settings};

fn failure(n: u32) -> Event {
    common::failure(n, "192.0.2.7")
}

/// What the pool shows as written to the syslog target `sock`.
fn pool_written(sock: &str) -> u64 {
    let area = pool::global().expect("the pool area");
    area.sinks().iter().filter(|s| s.kind == "syslog" && s.target.ends_with(sock)).map(|s| s.written).sum()
}

#[test]
fn a_flushs_figures_reach_stats_at_once_and_the_pool_within_a_second() {
    assert!(pool::init(), "no shared mapping could be made");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("log.sock");
    let daemon = UnixDatagram::bind(&sock).unwrap();
    daemon.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut st = Settings::default();
    st.set("syslog_target", &SettingValue::Str(sock.to_str().unwrap().into())).unwrap();
    let s = Arc::new(st);
    let rt = Pipeline::start(PipelineOptions::new(LocalZone::utc())).unwrap();
    let mut p = rt.producer();
    let mut buf = [0u8; 512];

    // The first line connects the sink (the writer thread's work).
    p.submit(&s, failure(1));
    assert!(rt.flush(Duration::from_secs(5)));
    assert!(daemon.recv(&mut buf).is_ok());
    assert_eq!(rt.stats().written, 1);

    // Nobody asks for the figures: the writer thread publishes them on its own. (It is idle by
    // then, so that the flush sends the line itself.)
    std::thread::sleep(Duration::from_millis(100));
    p.submit(&s, failure(2));
    assert!(rt.flush(Duration::from_secs(5)));
    assert!(daemon.recv(&mut buf).is_ok());
    let flushed = Instant::now();
    while pool_written(sock.to_str().unwrap()) < 2 {
        assert!(flushed.elapsed() < Duration::from_secs(3), "the pool never showed the flushed line");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Asked for right after a flush: they are current.
    p.submit(&s, failure(3));
    assert!(rt.flush(Duration::from_secs(5)));
    let stats = rt.stats();
    let sink = stats.sinks.iter().find(|x| x.kind == "syslog").expect("the syslog sink");
    assert_eq!((stats.written, sink.written, sink.pending), (3, 3, 0), "{stats:?}");
    assert_eq!(pool_written(sock.to_str().unwrap()), 3);
    assert!(daemon.recv(&mut buf).is_ok());
    rt.stop(Duration::from_secs(5));
}
