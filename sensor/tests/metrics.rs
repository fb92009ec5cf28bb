//! The sensor's `/metrics` endpoint under hostile clients: silent and
//! slow connections do not delay a scrape, many scrapers are served at once.

use pastmon::metrics::{serve, Health};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn scrape(addr: std::net::SocketAddr) -> (Duration, String) {
    let started = Instant::now();
    let body = ureq::get(&format!("http://{addr}/metrics"))
        .timeout(Duration::from_secs(5))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    (started.elapsed(), body)
}

#[test]
fn idle_and_slow_connections_do_not_delay_a_scrape() {
    let addr = serve("127.0.0.1:0".parse().unwrap(), Health::new(1, 1)).unwrap();
    // One silent connection, one that sends half a request, and a crowd.
    let _silent = TcpStream::connect(addr).unwrap();
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();
    let _crowd: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let (took, body) = scrape(addr);
    assert!(took < Duration::from_secs(1), "scrape took {took:?}");
    assert!(body.contains("pastmon_packets_total 0"), "{body}");
    // Scrapers at once.
    let scrapers: Vec<_> = (0..20).map(|_| std::thread::spawn(move || scrape(addr).0)).collect();
    for s in scrapers {
        assert!(s.join().unwrap() < Duration::from_secs(2));
    }
    // The half request is cut off once its head is overdue.
    half.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = [0; 64];
    assert!(matches!(half.read(&mut buf), Ok(0)), "a head that never ends is cut off");
}

#[test]
fn only_metrics_is_served() {
    let addr = serve("127.0.0.1:0".parse().unwrap(), Health::new(1, 1)).unwrap();
    let r = ureq::get(&format!("http://{addr}/other")).call();
    assert!(matches!(r, Err(ureq::Error::Status(404, _))));
}
