//! The queue and writer thread with real files and a real datagram socket (no PHP needed).

use std::collections::HashSet;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::Duration;

use banlog_core::{AuthKind, LocalZone, Stamp};
use banlog_runtime::{Event, EventKind, Runtime, RuntimeOptions, SettingValue, Settings, Submitted};

fn settings(f: impl FnOnce(&mut Settings)) -> Arc<Settings> {
    let mut s = Settings::default();
    s.syslog = false;
    f(&mut s);
    Arc::new(s)
}

fn spam(s: &Arc<Settings>, id: u64) -> Event {
    Event {
        stamp: Stamp::now(),
        pid: 42,
        settings: Arc::clone(s),
        kind: EventKind::Spam { comment_id: id, addr: "203.0.113.9".parse().unwrap() },
    }
}

fn opts() -> RuntimeOptions {
    let mut o = RuntimeOptions::new(LocalZone::named("Europe/Berlin").unwrap());
    o.retry_interval = Duration::from_millis(20);
    o
}

#[test]
fn every_event_becomes_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spam.log");
    let s = settings(|s| s.spam_log = Some(path.clone()));
    let rt = Runtime::start(opts()).unwrap();
    for id in 1..=1000 {
        assert_ne!(rt.submit(spam(&s, id)), Submitted::Dropped);
    }
    assert!(rt.flush(Duration::from_secs(10)));
    let text = std::fs::read_to_string(&path).unwrap();
    let ids: HashSet<u64> = text
        .lines()
        .map(|l| {
            let rest = l.split(" comment id=").nth(1).unwrap();
            assert!(rest.ends_with(" from host=203.0.113.9 marked as spam"), "{l}");
            rest.split(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 1000);
    let st = rt.stats();
    assert_eq!((st.accepted, st.processed, st.written, st.dropped), (1000, 1000, 1000, 0));
    assert!(rt.stop(Duration::from_secs(5)));
}

#[test]
fn a_full_queue_loses_nothing_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spam.log");
    let s = settings(|s| s.spam_log = Some(path.clone()));
    let mut o = opts();
    o.capacity = 2;
    o.full_wait = Duration::from_micros(10);
    let rt = Runtime::start(o).unwrap();
    for id in 1..=20_000 {
        rt.submit(spam(&s, id));
    }
    assert!(rt.flush(Duration::from_secs(20)));
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 20_000);
    let st = rt.stats();
    assert!(st.queue_full > 0, "the queue never filled: {st:?}");
    assert_eq!((st.written, st.dropped), (20_000, 0));
    rt.stop(Duration::from_secs(5));
}

#[test]
fn a_missing_directory_is_retried_until_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later/spam.log");
    let s = settings(|s| s.spam_log = Some(path.clone()));
    let rt = Runtime::start(opts()).unwrap();
    rt.submit(spam(&s, 7));
    assert!(rt.wait_processed(1, Duration::from_secs(5)));
    assert!(!rt.flush(Duration::from_millis(100)), "flush claimed success with no directory");
    let st = rt.stats();
    assert_eq!(st.pending, 1);
    assert!(st.sinks[0].last_error.as_deref().unwrap().contains("does not exist"));
    std::fs::create_dir(dir.path().join("later")).unwrap();
    assert!(rt.flush(Duration::from_secs(5)));
    assert!(std::fs::read_to_string(&path).unwrap().contains("comment id=7 "));
    rt.stop(Duration::from_secs(5));
}

#[test]
fn syslog_reconnects_after_the_daemon_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("log.sock");
    let mut st = Settings::default();
    st.set("syslog_target", &SettingValue::Str(sock.to_str().unwrap().into())).unwrap();
    st.set("ident_host", &SettingValue::Str(b"example.com".to_vec())).unwrap();
    let s = Arc::new(st);
    let auth = |n: u8| Event {
        stamp: Stamp::now(),
        pid: 4242,
        settings: Arc::clone(&s),
        kind: EventKind::Auth {
            kind: AuthKind::Failure,
            user: format!("user{n}"),
            addr: "2001:db8::1".parse().unwrap(),
        },
    };
    let rt = Runtime::start(opts()).unwrap();
    // No daemon yet: the event waits.
    rt.submit(auth(1));
    assert!(rt.wait_processed(1, Duration::from_secs(5)));
    assert_eq!(rt.stats().pending, 1);
    let daemon = UnixDatagram::bind(&sock).unwrap();
    daemon.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(rt.flush(Duration::from_secs(5)));
    let mut buf = [0u8; 512];
    let n = daemon.recv(&mut buf).unwrap();
    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(msg.starts_with("<37>"), "{msg}"); // auth (4) * 8 + notice (5)
    assert!(msg.ends_with(" wordpress(example.com)[4242]: Authentication failure for user1 from 2001:db8::1"), "{msg}");
    // The daemon restarts: a new socket at the same path.
    drop(daemon);
    std::fs::remove_file(&sock).unwrap();
    let daemon = UnixDatagram::bind(&sock).unwrap();
    daemon.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    rt.submit(auth(2));
    assert!(rt.flush(Duration::from_secs(5)));
    let n = daemon.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("for user2 from 2001:db8::1"));
    rt.stop(Duration::from_secs(5));
}

#[test]
fn stop_writes_what_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spam.log");
    let s = settings(|s| s.spam_log = Some(path.clone()));
    let rt = Runtime::start(opts()).unwrap();
    for id in 1..=500 {
        rt.submit(spam(&s, id));
    }
    assert!(rt.stop(Duration::from_secs(5)));
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 500);
    assert_eq!(rt.submit(spam(&s, 501)), Submitted::Dropped);
}
