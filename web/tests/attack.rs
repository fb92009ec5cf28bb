//! The console under attack, each finding of the hostile-clients review
//! replayed against the real server (in process, or the `pastmon-web`
//! binary where its log matters), asserting the safe answer.

mod common;

use common::{fill, frame, get, get_json, serve, serve_with};
use pastmon_testbed::clickhouse::ClickHouse;
use pastmon_web::params::Params;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A request with headers of our choosing: (status, headers, body).
fn raw_get(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

#[test]
fn huge_ranges_and_counts_get_a_400_and_the_console_keeps_serving() {
    let ch = ClickHouse::start("attackrange");
    let report = fill(&ch, "attackrange");
    let base = serve(&ch.url(), "attackrange", Vec::new());
    for q in [
        // The request that made the console allocate 277 GB.
        "from=0&to=1000000000000000&series=GET&step=86400",
        "from=0&to=1000000000000&series=GET",
        // Past 2106, where ClickHouse's DateTime wraps.
        "from=0&to=99999999999",
        // Six series with the previous period at the finest step over a
        // century (a client filter reads level1 whatever the range).
        "client=10.0.0.1&from=0&to=3000000000&step=60&compare=1&series=a&series=b&series=c&series=d&series=e&series=f",
    ] {
        for path in ["/graph", "/api/v1/graph"] {
            let started = Instant::now();
            let (status, body) = get(&format!("{base}{path}?{q}"));
            assert_eq!(status, 400, "{path}?{q}: {body}");
            assert!(started.elapsed() < Duration::from_secs(2), "{path}?{q} took {:?}", started.elapsed());
            assert!(body.len() < 20_000, "{path}?{q}: {} bytes", body.len());
        }
    }
    let (_, body) = get(&format!("{base}/api/v1/graph?from=0&to=1000000000000000&series=GET&step=86400"));
    assert!(body.contains("after 4294967295"), "the limit is named: {body}");
    let (_, body) = get(&format!("{base}/api/v1/graph?client=10.0.0.1&from=0&to=3000000000&step=60"));
    assert!(body.contains("at most 5000"), "the limit is named: {body}");
    // And it still answers.
    let v = get_json(&format!("{base}/api/v1/signatures?{}", frame(&report)));
    assert!(!v["signatures"].as_array().unwrap().is_empty());
}

#[test]
fn foreign_hosts_and_other_sites_pages_are_refused_and_every_answer_has_the_headers() {
    let ch = ClickHouse::start("attackhost");
    let base = serve(&ch.url(), "attackhost", Vec::new());
    let (status, _, _) = raw_get(&base, "/api/v1/sensors", &[("Host", "evil.example")]);
    assert_eq!(status, 421, "DNS rebinding: a foreign name");
    let (status, _, _) = raw_get(&base, "/api/v1/openapi.json", &[("Host", "localhost:8080")]);
    assert_eq!(status, 200);
    let (status, _, _) = raw_get(&base, "/api/v1/sensors", &[("Origin", "http://evil.example")]);
    assert_eq!(status, 403, "a script of another site");
    let (status, _, _) =
        raw_get(&base, "/api/v1/graph", &[("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "no-cors")]);
    assert_eq!(status, 403, "an image tag of another site");
    let (status, _, _) =
        raw_get(&base, "/api/v1/openapi.json", &[("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "navigate")]);
    assert_eq!(status, 200, "a link the user follows");
    for path in ["/", "/api/v1/sensors", "/assets/console.js", "/nothing-here"] {
        let (_, head, _) = raw_get(&base, path, &[]);
        let head = head.to_ascii_lowercase();
        for h in [
            "content-security-policy: default-src 'none'; script-src 'self'",
            "frame-ancestors 'none'",
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
            "referrer-policy: no-referrer",
        ] {
            assert!(head.contains(h), "{path}: {h} missing in\n{head}");
        }
    }
    let (_, _, page) = raw_get(&base, "/", &[]);
    assert!(!page.contains("<script>") && page.contains("<script src=\"/assets/console.js\">"), "no inline script");
}

/// `pastmon-web serve` as its own process, with its log.
struct Console {
    child: Child,
    base: String,
    dir: std::path::PathBuf,
}

impl Console {
    fn start(name: &str, config: &str) -> Console {
        let dir = std::env::temp_dir().join(format!("pastmon-attack-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let path = dir.join("web.toml");
        std::fs::write(&path, format!("listen = \"127.0.0.1:{port}\"\n{config}")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pastmon-web"))
            .args(["serve", "--config", path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while TcpStream::connect(base.trim_start_matches("http://")).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "pastmon-web did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Console { child, base, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A "ClickHouse" that accepts connections and never answers.
fn hanging_server() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

#[test]
fn no_answer_or_log_line_holds_the_password_when_the_database_is_down_or_hangs() {
    let secret = "Sup3rSecret";
    let (_hanging, hanging_url) = hanging_server();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://reader:{secret}@{}", l.local_addr().unwrap())
    };
    for (name, url) in [("down", closed), ("hanging", hanging_url)] {
        let console = Console::start(
            name,
            &format!(
                "[limits]\nquery_seconds = 1\n[clickhouse]\nurl = \"{url}\"\nuser = \"reader\"\npassword = \"{secret}\"\ntimeout = 1\n"
            ),
        );
        for path in ["/api/v1/signatures?last=1h", "/?last=1h", "/graph?last=1h", "/api/v1/sensors"] {
            let (status, body) = get(&format!("{}{path}", console.base));
            assert_eq!(status, 502, "{name} {path}: {body}");
            assert!(!body.contains(secret) && !body.contains("127.0.0.1:"), "{name} {path}: {body}");
            assert!(body.contains("the database did not answer"), "{name} {path}: {body}");
        }
        let log = console.log();
        assert!(log.contains("unreachable"), "{name}: the detail is logged: {log}");
        assert!(!log.contains(secret), "{name}: {log}");
    }
}

#[test]
fn idle_and_slow_connections_do_not_keep_others_out() {
    let ch = ClickHouse::start("attackidle");
    let console = Console::start(
        "idle",
        &format!(
            "[limits]\nheader_timeout = 2\nidle_timeout = 2\n[clickhouse]\nurl = \"{}\"\ndatabase = \"attackidle\"\n",
            ch.url()
        ),
    );
    let addr = console.base.trim_start_matches("http://").to_owned();
    let idle: Vec<TcpStream> = (0..2_000).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    let started = Instant::now();
    let (status, _) = get(&format!("{}/api/v1/openapi.json", console.base));
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(1), "answered in {:?}", started.elapsed());
    // A slowloris: a header line every half second never completes a head.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(8) && !closed {
        let mut buf = [0; 512];
        closed = slow.write_all(b"X-Slow: 1\r\n").is_err()
            || match slow.read(&mut buf) {
                Ok(_) => true, // end of stream, or the server's last word before closing
                Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            };
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(closed, "the slow client was never cut off");
    // The idle ones are closed too, by the idle timeout or to make room.
    std::thread::sleep(Duration::from_secs(3));
    let mut still_open = 0;
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut buf = [0; 16];
        if !matches!(s.read(&mut buf), Ok(0)) {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "idle connections left open");
}

#[test]
fn past_the_queue_views_are_refused_at_once_with_a_503() {
    let (_hanging, url) = hanging_server();
    let base = serve_with(
        &url,
        "attackbusy",
        Vec::new(),
        "[limits]\nconcurrent_queries = 1\nqueued_queries = 0\nquery_seconds = 3",
    );
    let first = {
        let base = base.clone();
        std::thread::spawn(move || get(&format!("{base}/api/v1/sensors")))
    };
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let (status, body) = get(&format!("{base}/api/v1/signatures"));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("busy"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(first.join().unwrap().0, 502, "the first view waited for the database, then gave up");
}

#[test]
fn the_console_speaks_tls_with_its_certificate() {
    let ch = ClickHouse::start("attacktls");
    let dir = ch.dir.join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl (Debian package openssl)");
    assert!(made.success());
    let tls = format!("[tls]\ncertificate = \"{}\"\nkey = \"{}\"", cert.display(), key.display());
    let base = serve_with(&ch.url(), "attacktls", Vec::new(), &tls);
    assert!(base.starts_with("https://"));
    let out = Command::new("curl")
        .args(["-sS", "--cacert", cert.to_str().unwrap(), "--resolve"])
        .arg(format!("localhost:{}:127.0.0.1", base.rsplit(':').next().unwrap()))
        .arg(base.replace("127.0.0.1", "localhost") + "/api/v1/openapi.json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["paths"].is_object());
    // Plain HTTP on the TLS port gets nothing.
    let plain = ureq::get(&base.replace("https://", "http://")).timeout(Duration::from_secs(3)).call();
    assert!(plain.is_err());
}

/// Query strings of random keys and hostile values never panic a view and
/// never get past the bounds: every one is refused or answered (here by an
/// unreachable database) quickly.
#[test]
fn random_query_strings_are_refused_or_bounded() {
    let client = pastmon_clickhouse::Client::new(pastmon_clickhouse::ClickHouseConfig {
        url: "http://127.0.0.1:1".into(),
        timeout: 1,
        ..Default::default()
    });
    let keys = [
        "from",
        "to",
        "last",
        "step",
        "series",
        "metric",
        "stat",
        "limit",
        "by",
        "order",
        "server",
        "client",
        "signature",
        "plugin",
        "sensor",
        "compare",
        "format",
        "part",
        "x",
    ];
    let values = [
        "0",
        "1",
        "60",
        "-1",
        "18446744073709551615",
        "99999999999",
        "4294967295",
        "4294967296",
        "1e12",
        "24h",
        "365d",
        "1970-01-01T00:00",
        "2106-02-07T06:28",
        "9999-12-31T23:59",
        "'",
        "\\",
        "%00",
        "[::1]:80",
        "1.2.3.4:99999",
        "first_response",
        "p99",
        "count",
        "server",
        "client",
        "slow",
        "1000",
        "1001",
        "csv",
        "a@b@c",
        "@",
        "",
        "GET_x@[::1]:443",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let now = 1_795_000_000;
    for _ in 0..3_000 {
        let pairs: Vec<(String, String)> =
            (0..next(8)).map(|_| (keys[next(keys.len())].to_owned(), values[next(values.len())].to_owned())).collect();
        let started = Instant::now();
        let p = Params(pairs.clone());
        let _ = pastmon_web::views::graph(&client, "db", &p, now);
        let _ = pastmon_web::views::signatures(&client, "db", &p, now);
        let _ = pastmon_web::views::drill(&client, "db", &p, now);
        assert!(started.elapsed() < Duration::from_secs(5), "{pairs:?}");
        if let Ok(r) = p.range(now) {
            assert!(r.from < r.to && r.to <= u64::from(u32::MAX), "{pairs:?}: {r:?}");
        }
    }
}
