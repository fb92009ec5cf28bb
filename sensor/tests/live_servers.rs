//! Protocol plugins on live traffic of real servers and their real clients,
//! in the lab network, the sensor attached with XDP to the mirror port:
//! Redis (redis-cli), PostgreSQL (psql), MariaDB (mariadb), nginx over TLS
//! with a self-made certificate (curl) and ngircd (a scripted IRC client,
//! there being no packaged command-line one); then an SMTP sink (aiosmtpd),
//! Dovecot (IMAP and POP3) and vsftpd, all three with curl. The
//! transactions equal the commands the clients sent, with the right names
//! and outcomes, and a tcpdump capture of the same port replayed through
//! `pastmon raw --pcap` gives the same. Needs root: ignored by a plain
//! `cargo test`, run by `cargo xtask test`, failing when run without root.

mod common;

use pastmon_testbed::lab::{finish, interrupt, read_jsonl, require_root, stop_tcpdump, Lab};
use pastmon_testbed::servers::{require, Servers};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

/// The sensor on the lab's mirror port and tcpdump on the switch port
/// beside it, watching the server's `ports`.
struct Watch {
    sensor: Child,
    tcpdump: Child,
    pcap: PathBuf,
    live: PathBuf,
    replay: PathBuf,
}

impl Watch {
    fn start(lab: &Lab, dir: &Path, ports: &[u16]) -> Watch {
        std::fs::create_dir_all(dir).unwrap();
        let (pcap, live, replay) = (dir.join("mirror.pcap"), dir.join("live.jsonl"), dir.join("replay.jsonl"));
        let filter = ports.iter().map(|p| format!("port {p}")).collect::<Vec<_>>().join(" or ");
        let tcpdump = lab.record_mirror(&pcap, &format!("tcp and ({filter})"));
        let watch = format!("{}:{}", lab.server(2), ports.iter().map(u16::to_string).collect::<Vec<_>>().join(","));
        let args = ["--watch", &watch, "--interval", "60", "--transactions", live.to_str().unwrap()];
        let sensor = lab.raw_sensor(env!("CARGO_BIN_EXE_pastmon"), &args);
        Watch { sensor, tcpdump, pcap, live, replay }
    }

    /// Stops both; the transactions seen live, and those of the capture
    /// replayed through `pastmon raw --pcap`.
    fn stop(self) -> (Vec<Value>, Vec<Value>) {
        std::thread::sleep(Duration::from_millis(500));
        interrupt(&self.sensor);
        finish(self.sensor, "pastmon raw --iface");
        stop_tcpdump(self.tcpdump, &self.pcap);
        let replay = Command::new(env!("CARGO_BIN_EXE_pastmon"))
            .args(["raw", "--pcap", self.pcap.to_str().unwrap(), "--interval", "60", "--transactions"])
            .arg(&self.replay)
            .output()
            .unwrap();
        assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
        (read_jsonl(&self.live), read_jsonl(&self.replay))
    }
}

/// What a client run in the lab's client namespace printed, both streams.
fn client(lab: &Lab, args: &[&str]) -> String {
    let out = lab.ns("c", args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// A (plugin, signature, outcome) key of `tally`.
fn s(plugin: &str, signature: &str, outcome: &str) -> (String, String, String) {
    (plugin.to_owned(), signature.to_owned(), outcome.to_owned())
}

type Tally = BTreeMap<(String, String, String), usize>;

/// Fails with the keys whose counts differ, the first place to look.
fn assert_tally(got: &Tally, want: &Tally, what: &str) {
    let keys: std::collections::BTreeSet<_> = got.keys().chain(want.keys()).collect();
    let differ: Vec<String> = keys
        .into_iter()
        .filter(|k| got.get(*k) != want.get(*k))
        .map(|k| format!("{k:?}: got {:?}, want {:?}", got.get(k), want.get(k)))
        .collect();
    assert!(differ.is_empty(), "{what}: {}", differ.join("; "));
}

/// Transactions by (plugin, signature, outcome).
fn tally(txs: &[Value]) -> Tally {
    let mut t = BTreeMap::new();
    for tx in txs {
        let key = (
            tx["plugin"].as_str().unwrap().to_owned(),
            tx["signature"].as_str().unwrap().to_owned(),
            tx["outcome"].as_str().unwrap().to_owned(),
        );
        *t.entry(key).or_default() += 1;
    }
    t
}

#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn real_servers_are_timed_by_their_plugins() {
    require_root("live servers test");
    require(&["redis-server", "mariadbd", "openssl", "psql", "ngircd"]);
    let lab = Lab::up("pmls", 86, "ns");
    let mut servers = Servers::new(&lab);
    servers.redis();
    servers.postgres();
    servers.mariadb();
    servers.nginx_tls();
    servers.ngircd();
    let ip = lab.server(2);
    let watch = Watch::start(&lab, &servers.dir.join("capture"), &[6379, 5432, 3306, 443, 6667]);

    let client = |args: &[&str]| client(&lab, args);
    // redis-cli, one connection per command: 7 commands, LPUSH without
    // arguments is refused (an error reply).
    for command in ["SET a 1", "GET a", "INCR n", "INCR n", "PING", "GET missing", "LPUSH"] {
        let mut args = vec!["redis-cli", "-h", &ip];
        args.extend(command.split(' '));
        client(&args);
    }
    // psql: its startup (after an SSLRequest the server declines), then five
    // simple queries, the last on a missing table.
    let out = client(&[
        "psql",
        "-h",
        &ip,
        "-U",
        "postgres",
        "-c",
        "SELECT 1",
        "-c",
        "CREATE TABLE t (x int)",
        "-c",
        "INSERT INTO t VALUES (1)",
        "-c",
        "SELECT * FROM t",
        "-c",
        "SELECT * FROM missing",
    ]);
    assert!(out.contains("does not exist"), "{out}");
    // mariadb: login, six statements, the last failing.
    let out = client(&["mariadb", "-h", &ip, "-u", "root", "-e", "SELECT 1; CREATE DATABASE d; CREATE TABLE d.t (x INT); INSERT INTO d.t VALUES (1); SELECT * FROM d.t; SELECT * FROM nope"]);
    assert!(out.contains("ERROR"), "{out}");
    // curl over TLS, three connections to lab.test (SNI): a handshake and one
    // request each.
    let resolve = format!("lab.test:443:{ip}");
    for _ in 0..3 {
        let out = client(&["curl", "-sk", "--resolve", &resolve, "https://lab.test/"]);
        assert_eq!(out, "tls ok\n");
    }
    // IRC: registration, a JOIN, a WHOIS of nobody (an error numeric, then
    // the end of WHOIS), our PING; the client answers the server's PINGs
    // (not ours to time) and quits.
    let script = pastmon_testbed::lab::root_dir().join("sensor/tests/irc_client.py");
    let out = lab.ns("c", &["python3", script.to_str().unwrap(), &ip]).output().unwrap();
    assert!(out.status.success(), "IRC client: {}", String::from_utf8_lossy(&out.stderr));
    let (live, replay) = watch.stop();

    let want: Tally = [
        (s("redis", "REDIS_SET", "ok"), 1),
        (s("redis", "REDIS_GET", "ok"), 2),
        (s("redis", "REDIS_INCR", "ok"), 2),
        (s("redis", "REDIS_PING", "ok"), 1),
        (s("redis", "REDIS_LPUSH", "error"), 1),
        (s("pg", "PG_STARTUP", "ok"), 1),
        (s("pg", "PG_SELECT", "ok"), 2),
        (s("pg", "PG_SELECT", "error"), 1),
        (s("pg", "PG_CREATE", "ok"), 1),
        (s("pg", "PG_INSERT", "ok"), 1),
        (s("mysql", "MYSQL_LOGIN", "ok"), 1),
        (s("mysql", "MYSQL_SELECT", "ok"), 2),
        (s("mysql", "MYSQL_SELECT", "error"), 1),
        (s("mysql", "MYSQL_CREATE", "ok"), 2),
        (s("mysql", "MYSQL_INSERT", "ok"), 1),
        (s("tls", "TLS_HANDSHAKE_lab.test", "ok"), 3),
        (s("tls", "TLS_lab.test", "ok"), 3),
        (s("irc", "IRC_REGISTER", "ok"), 1),
        (s("irc", "IRC_JOIN", "ok"), 1),
        (s("irc", "IRC_WHOIS", "error"), 1),
        (s("irc", "IRC_PING", "ok"), 1),
    ]
    .into_iter()
    .collect();
    assert_tally(&tally(&live), &want, "live");
    assert_tally(&tally(&replay), &want, "replayed capture");
}

/// Mail and file transfer: curl is the client of all three servers. What it
/// sends is in its `-v` transcript, except the QUIT or LOGOUT it sends when
/// it closes a connection at exit (seen in the capture with tshark).
#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn mail_and_ftp_servers_are_timed_by_their_plugins() {
    require_root("live mail and FTP test");
    require(&["dovecot", "vsftpd", "curl", "/usr/bin/python3"]);
    let lab = Lab::up("pmlm", 88, "ns");
    let mut servers = Servers::new(&lab);
    servers.smtp_sink();
    servers.dovecot();
    servers.vsftpd();
    let ip = lab.server(2);
    let watch = Watch::start(&lab, &servers.dir.join("capture"), &[25, 110, 143, 21]);
    let curl = |args: &[&str]| client(&lab, &[&["curl", "-sS"], args].concat());

    // SMTP: a message to two recipients (EHLO, MAIL, RCPT, RCPT, DATA with
    // the message, QUIT), then EXPN, which the sink does not implement (502).
    let smtp = format!("smtp://{ip}");
    let message = servers.dir.join("message.txt");
    std::fs::write(&message, "From: a@lab.test\r\nTo: b@lab.test\r\nSubject: hi\r\n\r\nHello.\r\n").unwrap();
    let out = curl(
        &[&smtp, "--mail-from", "a@lab.test", "--mail-rcpt", "b@lab.test", "--mail-rcpt", "c@lab.test"]
            .iter()
            .copied()
            .chain(["-T", message.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    assert_eq!(out, "");
    let out = curl(&[&smtp, "--mail-rcpt", "postmaster", "-X", "EXPN"]);
    assert!(out.contains("502"), "{out}");

    // IMAP: CAPABILITY, AUTHENTICATE PLAIN (SASL-IR), SELECT, UID FETCH of
    // alice's message (a literal), LOGOUT; then a wrong password (NO).
    let out = curl(&[&format!("imap://{ip}/INBOX;UID=1"), "-u", "alice:pass"]);
    assert!(out.contains("Hello from the lab."), "{out}");
    let out = curl(&[&format!("imap://{ip}/INBOX"), "-u", "alice:wrong"]);
    assert!(out.contains("Login denied"), "{out}");

    // POP3: CAPA, AUTH PLAIN (its credentials on the line after the "+ "),
    // RETR, QUIT; then a listing (LIST); then a wrong password (-ERR).
    let out = curl(&[&format!("pop3://{ip}/1"), "-u", "alice:pass"]);
    assert!(out.contains("Hello from the lab."), "{out}");
    let out = curl(&[&format!("pop3://{ip}/"), "-u", "alice:pass"]);
    assert!(out.starts_with("1 "), "{out}");
    let out = curl(&[&format!("pop3://{ip}/"), "-u", "alice:wrong"]);
    assert!(out.contains("Login denied"), "{out}");

    // FTP, anonymous: a download (USER, PWD, CWD, EPSV, TYPE, SIZE, RETR with
    // its 150 and 226, QUIT), a missing file (SIZE 550) and a listing.
    let out = curl(&[&format!("ftp://{ip}/pub/hello.txt")]);
    assert_eq!(out, "hello ftp\n");
    let out = curl(&[&format!("ftp://{ip}/pub/missing.txt")]);
    assert!(out.contains("does not exist"), "{out}");
    let out = curl(&[&format!("ftp://{ip}/pub/")]);
    assert!(out.contains("hello.txt"), "{out}");
    let (live, replay) = watch.stop();

    // The commands as curl's transcripts and tshark's view of the capture
    // list them (tshark also counts the POP3 SASL lines as commands; they
    // continue AUTH). curl ends a session with QUIT or LOGOUT, except after
    // a refused login.
    let want: Tally = [
        (s("smtp", "SMTP_EHLO", "2xx"), 2),
        (s("smtp", "SMTP_MAIL", "2xx"), 1),
        (s("smtp", "SMTP_RCPT", "2xx"), 2),
        (s("smtp", "SMTP_DATA", "2xx"), 1),
        (s("smtp", "SMTP_EXPN", "5xx"), 1),
        (s("smtp", "SMTP_QUIT", "2xx"), 2),
        (s("imap", "IMAP_CAPABILITY", "ok"), 2),
        (s("imap", "IMAP_AUTHENTICATE", "ok"), 1),
        (s("imap", "IMAP_AUTHENTICATE", "no"), 1),
        (s("imap", "IMAP_SELECT", "ok"), 1),
        (s("imap", "IMAP_UID_FETCH", "ok"), 1),
        (s("imap", "IMAP_LOGOUT", "ok"), 1),
        (s("pop3", "POP3_CAPA", "ok"), 3),
        (s("pop3", "POP3_AUTH", "ok"), 2),
        (s("pop3", "POP3_AUTH", "error"), 1),
        (s("pop3", "POP3_RETR", "ok"), 1),
        (s("pop3", "POP3_LIST", "ok"), 1),
        (s("pop3", "POP3_QUIT", "ok"), 2),
        (s("ftp", "FTP_USER", "2xx"), 3),
        (s("ftp", "FTP_PWD", "2xx"), 3),
        (s("ftp", "FTP_CWD", "2xx"), 3),
        (s("ftp", "FTP_EPSV", "2xx"), 3),
        (s("ftp", "FTP_TYPE", "2xx"), 3),
        (s("ftp", "FTP_SIZE", "2xx"), 1),
        (s("ftp", "FTP_SIZE", "5xx"), 1),
        (s("ftp", "FTP_RETR", "2xx"), 1),
        (s("ftp", "FTP_LIST", "2xx"), 1),
        (s("ftp", "FTP_QUIT", "2xx"), 3),
    ]
    .into_iter()
    .collect();
    assert_tally(&tally(&live), &want, "live");
    assert_tally(&tally(&replay), &want, "replayed capture");
}

/// HTTP/2 and gRPC: h2o (no TLS) with curl, by prior knowledge and by
/// HTTP/1.1's `Upgrade: h2c`, and h2load's multiplexed streams; a gRPC
/// server (tests/lab/grpc_lab.py, python3-grpcio) with unary, refused and
/// server-streaming calls on one channel.
#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn http2_and_grpc_are_timed_per_stream() {
    require_root("live HTTP/2 test");
    require(&["h2o", "h2load", "curl", "/usr/bin/python3"]);
    let grpc = Command::new("/usr/bin/python3").args(["-c", "import grpc"]).status().unwrap();
    assert!(
        grpc.success(),
        "python3's grpc is not installed: Debian package python3-grpcio (cargo xtask test installs it)"
    );
    let lab = Lab::up("pmh2", 92, "ns");
    let mut servers = Servers::new(&lab);
    servers.h2o();
    servers.grpc();
    let ip = lab.server(2);
    let watch = Watch::start(&lab, &servers.dir.join("capture"), &[8080, 50051]);
    let client = |args: &[&str]| client(&lab, args);
    let url = |path: &str| format!("http://{ip}:8080{path}");
    let curl = |how: &str, path: &str| {
        client(&["curl", "-sS", how, "-o", "/dev/null", "-w", "%{http_version} %{http_code}", &url(path)])
    };

    for _ in 0..3 {
        assert_eq!(curl("--http2-prior-knowledge", "/hello.txt"), "2 200");
    }
    for _ in 0..2 {
        assert_eq!(curl("--http2-prior-knowledge", "/missing"), "2 404");
    }
    assert_eq!(curl("--http2", "/hello.txt"), "2 200", "the h2c upgrade");
    // Two connections, ten streams in flight on each.
    let out = client(&["h2load", "-n", "100", "-c", "2", "-m", "10", &url("/hello.txt")]);
    assert!(out.contains("100 succeeded"), "{out}");
    let script = pastmon_testbed::lab::root_dir().join("tests/lab/grpc_lab.py");
    let out = client(&["/usr/bin/python3", script.to_str().unwrap(), "call", &ip, "50051"]);
    assert_eq!(out, "hello a\nhello b\nhello c\nrefused: NOT_FOUND\npart 0, part 1, part 2\n");
    let (live, replay) = watch.stop();

    let want: Tally = [
        (s("http2", "GET", "2xx"), 3 + 1 + 100),
        (s("http2", "GET", "4xx"), 2),
        (s("http2", "/helloworld.Greeter/SayHello", "ok"), 3),
        (s("http2", "/helloworld.Greeter/SayHello", "error"), 1),
        (s("http2", "/helloworld.Greeter/Stream", "ok"), 1),
    ]
    .into_iter()
    .collect();
    assert_tally(&tally(&live), &want, "live");
    assert_tally(&tally(&replay), &want, "replayed capture");
    // The server's delays: SayHello answers after 20 ms, Stream's three
    // messages are 10 ms apart.
    for tx in &live {
        let us = |m: &str| tx[m].as_f64().unwrap_or_else(|| panic!("{m} missing: {tx}"));
        match (tx["signature"].as_str().unwrap(), tx["outcome"].as_str().unwrap()) {
            ("/helloworld.Greeter/SayHello", "ok") => {
                assert!((20_000.0..40_000.0).contains(&us("first_response")), "{tx}")
            }
            ("/helloworld.Greeter/Stream", _) => {
                assert!(us("last_response") - us("first_response") >= 20_000.0, "{tx}")
            }
            _ => {}
        }
    }
}

/// memcached with libmemcached's clients: memccp, memccat and memcrm in the
/// text and the binary protocol, and memcslap's load. Truth: the server's
/// own statistics (memcstat, itself one `stats` request at the end).
#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn memcached_is_timed_by_command_against_its_own_statistics() {
    require_root("live memcached test");
    require(&["memcached", "memcslap"]);
    let lab = Lab::up("pmmc", 93, "ns");
    let mut servers = Servers::new(&lab);
    servers.memcached();
    let ip = lab.server(2);
    let watch = Watch::start(&lab, &servers.dir.join("capture"), &[11211]);
    let server = format!("--servers={ip}:11211");
    let file = servers.dir.join("greeting");
    std::fs::write(&file, "hello memcached\n").unwrap();
    let run = |args: &[&str]| client(&lab, &[args, &[&server]].concat());
    for binary in [false, true] {
        let protocol: &[&str] = if binary { &["--binary"] } else { &[] };
        let with = |tool: &str, args: &[&str]| run(&[&[tool][..], protocol, args].concat());
        with("memccp", &[file.to_str().unwrap()]);
        for _ in 0..3 {
            assert_eq!(with("memccat", &["greeting"]).trim_end(), "hello memcached");
        }
        with("memccat", &["missing"]);
        with("memcrm", &["greeting"]);
        with("memcrm", &["greeting"]);
    }
    let out = run(&["memcslap", "--concurrency=2", "--execute-number=200", "--test=get"]);
    assert!(!out.contains("rror"), "{out}");
    let stats = run(&["memcstat"]);
    let (live, replay) = watch.stop();

    let stat = |name: &str| -> usize {
        stats
            .lines()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(": ")?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} not in memcstat's\n{stats}"))
    };
    let want: Tally = [
        (s("memcached", "MEMCACHED_SET", "ok"), stat("cmd_set")),
        (s("memcached", "MEMCACHED_GET", "ok"), stat("get_hits")),
        (s("memcached", "MEMCACHED_GET", "no"), stat("get_misses")),
        (s("memcached", "MEMCACHED_DELETE", "ok"), stat("delete_hits")),
        (s("memcached", "MEMCACHED_DELETE", "no"), stat("delete_misses")),
        (s("memcached", "MEMCACHED_STATS", "ok"), 1),
        // memcslap asks the server's version before its load.
        (s("memcached", "MEMCACHED_VERSION", "ok"), 1),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect();
    assert_tally(&tally(&live), &want, "live");
    assert_tally(&tally(&replay), &want, "replayed capture");
}

/// MQTT: mosquitto with mosquitto_pub at QoS 0, 1 and 2 (MQTT 3.1.1 and
/// 5) and two mosquitto_sub, one receiving a message, one idle long enough
/// to ping. Truth: the broker's log of every packet it received.
#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn mqtt_is_timed_by_packet_against_the_brokers_log() {
    require_root("live MQTT test");
    require(&["mosquitto", "mosquitto_pub"]);
    let lab = Lab::up("pmmq", 94, "ns");
    let mut servers = Servers::new(&lab);
    let log = servers.mosquitto();
    let ip = lab.server(2);
    let watch = Watch::start(&lab, &servers.dir.join("capture"), &[1883]);
    let sub = |args: &[&str]| lab.ns("c", &[&["mosquitto_sub", "-h", &ip, "-q", "1"], args].concat()).output().unwrap();
    std::thread::scope(|s| {
        // Exits after one message; the other after 7 s idle, keep-alive 5 s.
        let first = s.spawn(|| sub(&["-t", "lab/#", "-C", "1", "-V", "mqttv5"]));
        let idle = s.spawn(|| sub(&["-t", "lab/idle", "-W", "7", "-k", "5"]));
        std::thread::sleep(Duration::from_millis(500));
        for (qos, version, times) in [("0", "mqttv311", 2), ("1", "mqttv311", 3), ("2", "mqttv5", 2)] {
            for _ in 0..times {
                client(&lab, &["mosquitto_pub", "-h", &ip, "-t", "lab/t", "-m", "hello", "-q", qos, "-V", version]);
            }
        }
        assert_eq!(String::from_utf8_lossy(&first.join().unwrap().stdout), "hello\n");
        idle.join().unwrap();
    });
    let (live, replay) = watch.stop();

    let log = std::fs::read_to_string(log).unwrap();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    let publishes = log.lines().filter(|l| l.contains("Received PUBLISH from") && !l.contains(", q0,")).count();
    assert_eq!(publishes, 5, "{log}");
    let want: Tally = [
        (s("mqtt", "MQTT_CONNECT", "ok"), count("New client connected")),
        (s("mqtt", "MQTT_PUBLISH_lab", "ok"), publishes),
        (s("mqtt", "MQTT_SUBSCRIBE_lab", "ok"), count("Received SUBSCRIBE from")),
        (s("mqtt", "MQTT_PINGREQ", "ok"), count("Received PINGREQ from")),
    ]
    .into_iter()
    .collect();
    assert!(want.values().all(|n| *n > 0), "{want:?}\n{log}");
    assert_tally(&tally(&live), &want, "live");
    assert_tally(&tally(&replay), &want, "replayed capture");
}

/// AMQP 0-9-1: RabbitMQ with a python3-pika client (tests/lab/amqp_lab.py:
/// declares, confirmed publishes, gets until the queue is empty, a passive
/// declare the broker refuses by closing the channel, a delete).
#[test]
#[ignore = "needs root (network namespaces): cargo xtask test runs it"]
fn amqp_methods_are_paired_with_their_answers() {
    require_root("live AMQP test");
    require(&["rabbitmq-server", "/usr/bin/python3"]);
    let pika = Command::new("/usr/bin/python3").args(["-c", "import pika"]).status().unwrap();
    assert!(
        pika.success(),
        "python3's pika is not installed: Debian package python3-pika (cargo xtask test installs it)"
    );
    let lab = Lab::up("pmaq", 95, "ns");
    let mut servers = Servers::new(&lab);
    servers.rabbitmq();
    let ip = lab.server(2);
    let watch = Watch::start(&lab, &servers.dir.join("capture"), &[5672]);
    let script = pastmon_testbed::lab::root_dir().join("tests/lab/amqp_lab.py");
    let out = client(&lab, &["/usr/bin/python3", script.to_str().unwrap(), &ip]);
    assert_eq!(out, "got [b'job 0', b'job 1', b'job 2', None]\nrefused 404\n");
    let (live, replay) = watch.stop();

    // The client's methods, as the script makes them (its docstring).
    let want: Tally = [
        (s("amqp", "AMQP_CONNECTION_OPEN", "ok"), 1),
        (s("amqp", "AMQP_CHANNEL_OPEN", "ok"), 2),
        (s("amqp", "AMQP_QUEUE_DECLARE_jobs", "ok"), 1),
        (s("amqp", "AMQP_CONFIRM_SELECT", "ok"), 1),
        (s("amqp", "AMQP_BASIC_PUBLISH_jobs", "ok"), 3),
        (s("amqp", "AMQP_BASIC_GET_jobs", "ok"), 3),
        (s("amqp", "AMQP_BASIC_GET_jobs", "no"), 1),
        (s("amqp", "AMQP_QUEUE_DECLARE_missing", "error"), 1),
        (s("amqp", "AMQP_QUEUE_DELETE_jobs", "ok"), 1),
        (s("amqp", "AMQP_CHANNEL_CLOSE", "ok"), 1),
        (s("amqp", "AMQP_CONNECTION_CLOSE", "ok"), 1),
    ]
    .into_iter()
    .collect();
    assert_tally(&tally(&live), &want, "live");
    assert_tally(&tally(&replay), &want, "replayed capture");
}
