//! The pipeline (queue and writer thread) with real files and a real datagram socket (no PHP needed).

mod common;

use std::collections::HashSet;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::Duration;

use banlog_core::{LocalZone, Stamp};
use banlog_runtime::{Event, EventKind, Pipeline, PipelineOptions, SettingValue, Settings, Submitted};

/// Settings that write the spam log `path` and nothing else (through the same rules as PHP's).
fn settings(path: &std::path::Path) -> Arc<Settings> {
    Arc::new(Settings::with(&[("syslog", "0"), ("spam_log", path.to_str().unwrap())]).unwrap())
}

fn spam(id: u64) -> Event {
    Event { stamp: Stamp::now(), kind: EventKind::Spam { comment_id: id, addr: "203.0.113.9".parse().unwrap() } }
}

/// Settings that send auth lines to the syslog socket `sock`, as `wordpress(example.com)`.
fn syslog_to(sock: &std::path::Path) -> Arc<Settings> {
    let mut st = Settings::default();
    st.set("syslog_target", &SettingValue::Str(sock.to_str().unwrap().into())).unwrap();
    st.set("ident_host", &SettingValue::Str(b"example.com".to_vec())).unwrap();
    Arc::new(st)
}

/// The comment ids of a spam log, in file order.
fn ids(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(" comment id=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap())
        .collect()
}

fn start(o: PipelineOptions) -> Arc<Pipeline> {
    Arc::new(Pipeline::start(o).unwrap())
}

fn opts() -> PipelineOptions {
    let mut o = PipelineOptions::new(LocalZone::named("Europe/Berlin").unwrap());
    o.retry_interval = Duration::from_millis(20);
    o
}

#[test]
fn every_event_becomes_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spam.log");
    let s = settings(&path);
    let rt = start(opts());
    let mut p = rt.producer();
    for id in 1..=1000 {
        assert_ne!(p.submit(&s, spam(id)), Submitted::Dropped);
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
    let s = settings(&path);
    let mut o = opts();
    o.capacity = 2;
    o.full_wait = Duration::from_micros(10);
    let rt = start(o);
    let mut p = rt.producer();
    for id in 1..=20_000 {
        p.submit(&s, spam(id));
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
    let s = settings(&path);
    let rt = start(opts());
    let mut p = rt.producer();
    p.submit(&s, spam(7));
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
    let s = syslog_to(&sock);
    let mut o = opts();
    o.pid = 4242;
    let rt = start(o);
    let mut p = rt.producer();
    // No daemon yet: the event waits.
    p.submit(&s, common::failure(1, "2001:db8::1"));
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
    p.submit(&s, common::failure(2, "2001:db8::1"));
    assert!(rt.flush(Duration::from_secs(5)));
    let n = daemon.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("for user2 from 2001:db8::1"));
    rt.stop(Duration::from_secs(5));
}

#[test]
fn stop_writes_what_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spam.log");
    let s = settings(&path);
    let rt = start(opts());
    let mut p = rt.producer();
    for id in 1..=500 {
        p.submit(&s, spam(id));
    }
    assert!(rt.stop(Duration::from_secs(5)));
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 500);
    assert_eq!(p.submit(&s, spam(501)), Submitted::Dropped);
}

#[test]
fn settings_changing_mid_stream_route_each_event_by_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let sa = settings(&a);
    let sb = settings(&b);
    let rt = start(opts());
    let mut p = rt.producer();
    for id in 1..=3000 {
        // Switch every few events, also to an equal but distinct Arc.
        let s = match id % 7 {
            0..=2 => Arc::clone(&sa),
            3..=5 => Arc::clone(&sb),
            _ => Arc::new((*sa).clone()),
        };
        p.submit(&s, spam(id));
    }
    assert!(rt.flush(Duration::from_secs(10)));
    let want_a: Vec<u64> = (1..=3000).filter(|id| !(3..=5).contains(&(id % 7))).collect();
    let want_b: Vec<u64> = (1..=3000).filter(|id| (3..=5).contains(&(id % 7))).collect();
    assert_eq!(ids(&a), want_a);
    assert_eq!(ids(&b), want_b);
    rt.stop(Duration::from_secs(5));
}

#[test]
fn producers_on_several_threads_keep_their_own_settings() {
    let dir = tempfile::tempdir().unwrap();
    let rt = start(opts());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let rt = Arc::clone(&rt);
            let path = dir.path().join(format!("site{t}.log"));
            std::thread::spawn(move || {
                let s = settings(&path);
                let mut p = rt.producer();
                for id in 1..=2000 {
                    assert_ne!(p.submit(&s, spam(t * 10_000 + id)), Submitted::Dropped);
                }
                assert!(rt.finish_request(&mut p, Duration::from_secs(10)));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for t in 0..4u64 {
        let got = ids(&dir.path().join(format!("site{t}.log")));
        assert_eq!(got, (1..=2000).map(|id| t * 10_000 + id).collect::<Vec<_>>(), "site{t}");
    }
    rt.stop(Duration::from_secs(5));
}

#[test]
fn a_full_queue_overflows_with_the_right_settings() {
    // A FIFO without a reader stalls the writer in open() (syslog no longer can: its sockets do
    // not block); meanwhile a queue of one and no wait send settings messages and events alike to
    // the overflow list.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stalled.log");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let stalled = settings(&fifo);
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let sa = settings(&a);
    let sb = settings(&b);
    let mut o = opts();
    o.capacity = 1;
    o.full_wait = Duration::ZERO;
    let rt = start(o);
    let mut p = rt.producer();
    for id in 3001..3051 {
        p.submit(&stalled, spam(id));
    }
    for id in 1..=2000 {
        p.submit(if id % 2 == 0 { &sa } else { &sb }, spam(id));
    }
    // A reader lets the writer go on.
    std::thread::spawn(move || {
        let mut f = std::fs::File::open(fifo).unwrap();
        let _ = std::io::copy(&mut f, &mut std::io::sink());
    });
    assert!(rt.wait_processed(2050, Duration::from_secs(30)));
    let count = |path: &std::path::Path, parity: u64| {
        let ids: HashSet<u64> = ids(path).into_iter().collect();
        assert!(ids.iter().all(|id| id % 2 == parity), "an event went to the other site's log");
        ids.len()
    };
    // Processed means written, for files that take every write.
    assert_eq!((count(&a, 0), count(&b, 1)), (1000, 1000));
    let st = rt.stats();
    assert!(st.overflowed > 0, "{st:?}");
    assert_eq!(st.dropped, 0);
    rt.stop(Duration::ZERO);
}

#[test]
fn an_event_nobody_flushes_is_still_written() {
    // Callers wake the writer only every few events; the writer also looks by itself.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spam.log");
    let s = settings(&path);
    let rt = start(opts());
    let mut p = rt.producer();
    p.submit(&s, spam(1));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&path).map(|t| t.lines().count()).unwrap_or(0) < 1 {
        assert!(std::time::Instant::now() < deadline, "the event was never written");
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.stop(Duration::from_secs(5));
}

#[test]
fn finish_request_waits_for_this_producers_events_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spam.log");
    let s = settings(&path);
    let rt = start(opts());
    let mut p = rt.producer();
    assert_eq!(p.last_accepted(), 0);
    for id in 1..=10 {
        p.submit(&s, spam(id));
    }
    assert_eq!(p.last_accepted(), 10);
    assert!(rt.finish_request(&mut p, Duration::from_secs(5)));
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 10);
    assert_eq!(p.last_accepted(), 0, "the next request starts with nothing to wait for");
    rt.stop(Duration::from_secs(5));
}

#[test]
fn finish_request_writes_whole_lines_in_order_across_rotations() {
    // A request's end writes its events on its own thread when it can, and leaves a rotated
    // file to the writer thread, which reopens it: every line lands once, in order, in the file
    // the path names when it is written.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spam.log");
    let s = settings(&path);
    let rt = start(opts());
    let mut p = rt.producer();
    let mut rotated = Vec::new();
    for id in 1..=300u64 {
        for k in 0..(id % 3) {
            p.submit(&s, spam(id * 10 + k));
        }
        assert!(rt.finish_request(&mut p, Duration::from_secs(5)));
        if id % 50 == 0 {
            let to = dir.path().join(format!("spam.log.{id}"));
            std::fs::rename(&path, &to).unwrap();
            rotated.push(to);
        }
    }
    let mut got = Vec::new();
    for f in rotated.iter().chain([&path]) {
        if f.exists() {
            got.extend(ids(f));
        }
    }
    let want: Vec<u64> = (1..=300u64).flat_map(|id| (0..(id % 3)).map(move |k| id * 10 + k)).collect();
    assert_eq!(got, want);
    let st = rt.stats();
    assert_eq!(
        (st.accepted, st.processed, st.written, st.dropped),
        (want.len() as u64, want.len() as u64, want.len() as u64, 0)
    );
    assert!(rt.stop(Duration::from_secs(5)));
}

#[test]
fn alternating_settings_keep_their_sinks_open() {
    // A worker serving two sites alternates between their settings, request by request. The
    // writer keeps both sites' sinks: neither file is closed and reopened, which would restart
    // its sink's count (and cost an open, or a connection, in the request that follows).
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let (sa, sb) = (settings(&a), settings(&b));
    let rt = start(opts());
    let mut p = rt.producer();
    for id in 1..=100u64 {
        p.submit(if id % 2 == 0 { &sa } else { &sb }, spam(id));
        assert!(rt.finish_request(&mut p, Duration::from_secs(5)));
        if id == 51 {
            // The writer thread's own round (it looks by itself every second): where it closes
            // the sinks that no settings use.
            std::thread::sleep(Duration::from_millis(1300));
        }
    }
    assert_eq!(ids(&a), (1..=100).filter(|id| id % 2 == 0).collect::<Vec<_>>());
    assert_eq!(ids(&b), (1..=100).filter(|id| id % 2 == 1).collect::<Vec<_>>());
    let st = rt.stats();
    let written: Vec<(String, u64)> = st.sinks.iter().map(|s| (s.target.clone(), s.written)).collect();
    let want = vec![(a.display().to_string(), 50), (b.display().to_string(), 50)];
    assert_eq!(written, want, "a sink was closed and opened again");
    rt.stop(Duration::from_secs(5));
}

#[test]
fn more_settings_than_slots_still_route_each_event_by_its_own() {
    // Twenty sites through one producer: the oldest settings make room for new ones, and events
    // still land in their own site's log, in order.
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (0..20).map(|i| dir.path().join(format!("site{i}.log"))).collect();
    let all: Vec<_> = paths.iter().map(|p| settings(p)).collect();
    let rt = start(opts());
    let mut p = rt.producer();
    for id in 0..2000u64 {
        // Runs over a few sites, then jumps: slots are reused, and some settings come back.
        let site = usize::try_from((id / 3 + id * id / 97) % 20).unwrap();
        p.submit(&all[site], spam(id * 100 + site as u64));
        if id % 5 == 0 {
            assert!(rt.finish_request(&mut p, Duration::from_secs(5)));
        }
    }
    assert!(rt.flush(Duration::from_secs(10)));
    let mut total = 0;
    for (site, path) in paths.iter().enumerate() {
        let got = if path.exists() { ids(path) } else { Vec::new() };
        assert!(got.iter().all(|id| id % 100 == site as u64), "site{site} got another site's event");
        assert!(got.windows(2).all(|w| w[0] < w[1]), "site{site} out of order");
        total += got.len();
    }
    assert_eq!(total, 2000);
    assert_eq!(rt.stats().dropped, 0);
    rt.stop(Duration::from_secs(5));
}

#[test]
fn a_syslog_target_in_trouble_is_closed_once_its_settings_are_left() {
    // One site's syslog target is down; the worker moves on to another site's settings. The dead
    // target's sink is closed (its line kept in its spool) rather than kept open in its slot,
    // where the writer would retry a target no request uses now. When the first site comes back
    // and its target is up, the spooled line is sent, then the new one.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("log.sock");
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let syslog = syslog_to(&sock);
    let file = dir.path().join("spam.log");
    let other_site = settings(&file);
    let mut o = opts();
    o.spool_dir = Some(spool);
    let rt = start(o);
    let mut p = rt.producer();
    p.submit(&syslog, common::failure(1, "192.0.2.1"));
    assert!(rt.finish_request(&mut p, Duration::from_secs(5)));
    assert_eq!(rt.stats().pending, 1, "no daemon: the line waits");
    for id in 1..=3 {
        p.submit(&other_site, spam(id));
        assert!(rt.finish_request(&mut p, Duration::from_secs(5)));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while rt.stats().sinks.iter().any(|s| s.kind == "syslog") {
        assert!(std::time::Instant::now() < deadline, "the dead target's sink stayed open: {:?}", rt.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(ids(&file), vec![1, 2, 3]);
    let daemon = UnixDatagram::bind(&sock).unwrap();
    daemon.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    p.submit(&syslog, common::failure(2, "192.0.2.1"));
    assert!(rt.flush(Duration::from_secs(5)));
    let mut buf = [0u8; 512];
    for n in 1..=2 {
        let got = daemon.recv(&mut buf).unwrap();
        let msg = String::from_utf8_lossy(&buf[..got]).to_string();
        assert!(msg.ends_with(&format!("Authentication failure for user{n} from 192.0.2.1")), "{msg}");
    }
    assert_eq!(rt.stats().dropped, 0);
    rt.stop(Duration::from_secs(5));
}

#[test]
fn a_requests_syslog_line_waits_in_the_journal_until_its_response_is_out() {
    // A healthy syslog sink: the request's end puts the line in the journal (on disk, in the
    // spool directory) and sends nothing; after the response the same thread sends it and the
    // journal is blanked. Lines of a producer killed in between would be in that file.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("log.sock");
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let daemon = UnixDatagram::bind(&sock).unwrap();
    daemon.set_nonblocking(true).unwrap();
    let s = syslog_to(&sock);
    let mut o = opts();
    o.spool_dir = Some(spool.clone());
    o.retry_interval = Duration::from_secs(30); // the writer thread does not come by itself
    let rt = start(o);
    let mut p = rt.producer();
    // The first event connects (the writer thread's work), then the sink is healthy.
    p.submit(&s, common::failure(0, "192.0.2.1"));
    assert!(rt.flush(Duration::from_secs(5)));
    let mut buf = [0u8; 512];
    assert!(daemon.recv(&mut buf).is_ok());
    let journal = || {
        let files: Vec<_> = std::fs::read_dir(&spool).unwrap().map(|e| e.unwrap().path()).collect();
        // Sent lines are blanked with zeros, which readers skip.
        let text = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect::<String>();
        text.replace('\0', "")
    };
    for n in 1..=3 {
        // The writer thread back asleep: a request's end finds the sinks free, as between requests.
        std::thread::sleep(Duration::from_millis(50));
        p.submit(&s, common::failure(n, "192.0.2.1"));
        assert!(rt.finish_request(&mut p, Duration::from_secs(5)));
        let kept = journal();
        assert!(kept.contains(&format!("for user{n} from 192.0.2.1\n")), "{kept:?}");
        rt.after_response(&mut p);
        let got = daemon.recv(&mut buf).expect("sent after the response");
        assert!(String::from_utf8_lossy(&buf[..got]).ends_with(&format!("for user{n} from 192.0.2.1")));
        assert_eq!(journal(), "", "the journal is blanked once its lines are sent");
    }
    assert!(daemon.recv(&mut buf).is_err(), "each line once");
    rt.stop(Duration::from_secs(5));
}
