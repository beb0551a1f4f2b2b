//! The syslog sink against a TCP collector (a listener of the test's own, no PHP needed): octet
//! counted frames, and no message lost to a connection the collector closed.

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use banlog_core::LocalZone;
use banlog_runtime::{Event, Pipeline, PipelineOptions, SettingValue, Settings};

fn tcp_settings(port: u16) -> Arc<Settings> {
    let mut st = Settings::default();
    st.set("syslog_target", &SettingValue::Str(format!("tcp://127.0.0.1:{port}").into_bytes())).unwrap();
    st.set("ident_host", &SettingValue::Str(b"example.com".to_vec())).unwrap();
    Arc::new(st)
}

fn failure(n: u32) -> Event {
    common::failure(n, "203.0.113.95")
}

fn pipeline() -> Arc<Pipeline> {
    let mut o = PipelineOptions::new(LocalZone::named("Europe/Berlin").unwrap());
    o.retry_interval = Duration::from_millis(20);
    o.pid = 4242;
    Arc::new(Pipeline::start(o).unwrap())
}

/// Reads octet-counted frames (`LEN SP MSG`, RFC 6587) until `n` have come; fails on anything else.
fn frames(conn: &mut TcpStream, n: usize) -> Vec<String> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (mut data, mut out) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 4096];
    while out.len() < n {
        let got = conn.read(&mut buf).expect("the frames within 5 s");
        assert!(got > 0, "the sender closed the connection after {} frames", out.len());
        data.extend_from_slice(&buf[..got]);
        while let Some(sp) = data.iter().position(|&b| b == b' ') {
            let len: usize = std::str::from_utf8(&data[..sp]).unwrap().parse().expect("an octet count");
            if data.len() < sp + 1 + len {
                break;
            }
            out.push(String::from_utf8(data[sp + 1..sp + 1 + len].to_vec()).unwrap());
            data.drain(..sp + 1 + len);
        }
    }
    assert!(data.is_empty(), "bytes beyond the frames: {data:?}");
    out
}

fn accept(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let t0 = Instant::now();
    loop {
        match l.accept() {
            Ok((c, _)) => {
                c.set_nonblocking(false).unwrap();
                return c;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && t0.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("no connection from the sink: {e}"),
        }
    }
}

#[test]
fn each_message_is_one_octet_counted_frame() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let s = tcp_settings(l.local_addr().unwrap().port());
    let rt = pipeline();
    let mut p = rt.producer();
    for n in 0..100 {
        p.submit(&s, failure(n));
    }
    assert!(rt.flush(Duration::from_secs(5)));
    let mut c = accept(&l);
    let got = frames(&mut c, 100);
    for (n, f) in got.iter().enumerate() {
        assert!(f.starts_with("<37>"), "{f}");
        assert!(
            f.ends_with(&format!(
                " wordpress(example.com)[4242]: Authentication failure for user{n} from 203.0.113.95"
            )),
            "{f}"
        );
        assert!(!f.contains('\n'), "{f}");
    }
    rt.stop(Duration::from_secs(5));
}

#[test]
fn a_connection_the_collector_closed_loses_no_message() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let s = tcp_settings(l.local_addr().unwrap().port());
    let rt = pipeline();
    let mut p = rt.producer();
    p.submit(&s, failure(1));
    assert!(rt.flush(Duration::from_secs(5)));
    let mut c = accept(&l);
    assert_eq!(frames(&mut c, 1).len(), 1);
    // The collector restarts: it closes the connection. A message written into it now would be
    // taken by the kernel and lost (the peer answers with a reset).
    drop(c);
    std::thread::sleep(Duration::from_millis(100));
    p.submit(&s, failure(2));
    assert!(rt.flush(Duration::from_secs(5)));
    let mut c = accept(&l);
    let got = frames(&mut c, 1);
    // (on a new connection: without the look at the socket it went into the closed one)
    assert!(got[0].ends_with(" for user2 from 203.0.113.95"), "{got:?}");
    rt.stop(Duration::from_secs(5));
}

#[test]
fn a_collector_down_a_while_gets_every_message_in_order_once() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let s = tcp_settings(addr.port());
    let rt = pipeline();
    let mut p = rt.producer();
    p.submit(&s, failure(0));
    assert!(rt.flush(Duration::from_secs(5)));
    let mut c = accept(&l);
    frames(&mut c, 1);
    // Stopped: the connection closes and the port refuses.
    drop((c, l));
    for n in 1..=500 {
        p.submit(&s, failure(n));
    }
    assert!(!rt.flush(Duration::from_millis(300)), "nobody listens: the messages wait");
    assert_eq!(rt.stats().pending, 500);
    // Back on the same port.
    let l = TcpListener::bind(addr).unwrap();
    let mut c = accept(&l);
    let got = frames(&mut c, 500);
    let users: Vec<String> =
        got.iter().map(|f| f.rsplit(" for ").next().unwrap().split(' ').next().unwrap().to_string()).collect();
    assert_eq!(users, (1..=500).map(|n| format!("user{n}")).collect::<Vec<_>>());
    assert!(rt.flush(Duration::from_secs(5)));
    // Nothing more comes (no message twice).
    c.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 64];
    assert!(c.read(&mut buf).is_err(), "more bytes after the 500 frames (or the connection closed)");
    rt.stop(Duration::from_secs(5));
}
