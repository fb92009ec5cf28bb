//! Protocol plugins on live traffic of real servers and their real clients:
//! Redis (redis-cli), PostgreSQL (psql), MariaDB (mariadb), nginx over TLS
//! with a self-made certificate (curl) and ngircd (a scripted IRC client,
//! there being no packaged command-line one), in the lab network, the sensor
//! attached with XDP to the mirror port. The transactions equal the
//! commands the clients sent, with the right names and outcomes, and a
//! tcpdump capture of the same port replayed through `pastmon raw --pcap`
//! gives the same. Needs root (as CI runs it); skipped with a message
//! otherwise.

mod common;

use common::lab::{finish, interrupt, is_root, read_jsonl, wait_until, Lab, ONE_LAB_AT_A_TIME};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The servers, started in the lab's server namespace; stopped on drop.
struct Servers {
    dir: PathBuf,
    ns: String,
}

fn run(c: &mut Command) {
    let out = c.output().unwrap();
    assert!(out.status.success(), "{c:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Servers {
    fn start(lab: &Lab) -> Servers {
        let dir = std::env::temp_dir().join(format!("pastmon-servers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["redis", "pg", "mysql", "tls", "irc"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        run(Command::new("chown").args(["postgres", dir.join("pg").to_str().unwrap()]));
        run(Command::new("chown").args(["mysql", dir.join("mysql").to_str().unwrap()]));
        let s = Servers { dir, ns: format!("{}-s", lab.name) };
        let ip = lab.server(2);
        let d = |sub: &str| s.dir.join(sub).display().to_string();
        run(s
            .cmd(&["redis-server", "--bind", &ip, "--port", "6379", "--protected-mode", "no", "--save", ""])
            .args(["--appendonly", "no", "--daemonize", "yes", "--dir", &d("redis")])
            .args(["--pidfile", &format!("{}/pid", d("redis")), "--logfile", &format!("{}/log", d("redis"))]));
        let pg = format!("{}/data", d("pg"));
        run(Command::new("runuser").args([
            "-u",
            "postgres",
            "--",
            &pg_bin("initdb"),
            "-D",
            &pg,
            "-A",
            "trust",
            "-U",
            "postgres",
        ]));
        std::fs::write(format!("{pg}/pg_hba.conf"), "local all all trust\nhost all all 0.0.0.0/0 trust\n").unwrap();
        let options = format!("-c listen_addresses={ip} -c unix_socket_directories={}", d("pg"));
        run(s.cmd(&["runuser", "-u", "postgres", "--", &pg_bin("pg_ctl"), "-D", &pg, "-o", &options]).args([
            "-l",
            &format!("{}/log", d("pg")),
            "-w",
            "start",
        ]));
        let my = format!("{}/data", d("mysql"));
        run(Command::new("mariadb-install-db").args([
            "--user=mysql",
            &format!("--datadir={my}"),
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]));
        // In the background of a shell that exits: mariadbd has no daemon mode.
        let mariadbd = format!(
            "runuser -u mysql -- mariadbd --datadir={my} --bind-address={ip} --port=3306 --socket={m}/sock \
             --pid-file={m}/pid --skip-grant-tables --log-error={m}/err >/dev/null 2>&1 &",
            m = d("mysql")
        );
        run(&mut s.cmd(&["sh", "-c", &mariadbd]));
        // nginx over TLS, certificate for lab.test.
        let tls = d("tls");
        run(Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=lab.test"])
            .args(["-days", "1", "-keyout", &format!("{tls}/key.pem"), "-out", &format!("{tls}/cert.pem")]));
        std::fs::write(
            format!("{tls}/nginx.conf"),
            format!(
                "daemon on; worker_processes 1; pid {tls}/nginx.pid; error_log {tls}/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{ access_log off; client_body_temp_path {tls}; proxy_temp_path {tls}; fastcgi_temp_path {tls};\n\
                 uwsgi_temp_path {tls}; scgi_temp_path {tls};\n\
                 server {{ listen {ip}:443 ssl; ssl_certificate {tls}/cert.pem; ssl_certificate_key {tls}/key.pem;\n\
                 location / {{ return 200 \"tls ok\\n\"; }} }} }}\n"
            ),
        )
        .unwrap();
        run(&mut s.cmd(&["nginx", "-c", &format!("{tls}/nginx.conf")]));
        // ngircd drops to nobody: its folder must be open to it.
        let irc = d("irc");
        run(Command::new("chmod").args(["0777", &irc]));
        std::fs::write(
            format!("{irc}/ngircd.conf"),
            format!(
                "[Global]\nName = irc.lab\nInfo = lab\nListen = {ip}\nPorts = 6667\nPidFile = {irc}/pid\n\
                 MotdPhrase = \"hello\"\nServerUID = nobody\nServerGID = nogroup\n[Options]\nPAM = no\nDNS = no\nIdent = no\n"
            ),
        )
        .unwrap();
        run(&mut s.cmd(&["sh", "-c", &format!("ngircd -n -f {irc}/ngircd.conf >/dev/null 2>&1 &")]));
        let mysql_sock = s.dir.join("mysql/pid");
        wait_until("mariadbd", Duration::from_secs(30), || mysql_sock.exists());
        let irc_pid = s.dir.join("irc/pid");
        wait_until("ngircd", Duration::from_secs(10), || irc_pid.exists());
        s
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).args(args);
        c
    }
}

/// A PostgreSQL server program of the newest installed version.
fn pg_bin(name: &str) -> String {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()).max())
        .unwrap_or(15);
    format!("/usr/lib/postgresql/{newest}/bin/{name}")
}

impl Drop for Servers {
    fn drop(&mut self) {
        for pid in ["redis/pid", "mysql/pid", "tls/nginx.pid", "irc/pid"] {
            if let Some(pid) = read_pid(&self.dir.join(pid)) {
                // SAFETY: a signal to a server this test started.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        let pg = self.dir.join("pg/data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &pg_bin("pg_ctl"), "-D", pg.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
        std::thread::sleep(Duration::from_millis(500));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Transactions by (plugin, signature, outcome).
fn tally(txs: &[Value]) -> BTreeMap<(String, String, String), usize> {
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
fn real_servers_are_timed_by_their_plugins() {
    if !is_root() {
        eprintln!("live servers test skipped: needs root (CI runs it as root)");
        return;
    }
    for tool in ["redis-server", "mariadbd", "openssl", "psql", "ngircd"] {
        if !Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            panic!("{tool} is not installed (tests/lab/lab.sh install)");
        }
    }
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up("pmls", 86, "ns");
    let servers = Servers::start(&lab);
    let ip = lab.server(2);
    let dir = servers.dir.join("capture");
    std::fs::create_dir_all(&dir).unwrap();
    let (pcap, live_jsonl, replay_jsonl) = (dir.join("mirror.pcap"), dir.join("live.jsonl"), dir.join("replay.jsonl"));
    let ports = "6379,5432,3306,443,6667";
    let tcpdump = lab
        .ns("sw", &["tcpdump", "-i", "pmls-sws", "-s", "0", "-U", "-w", pcap.to_str().unwrap()])
        .args(["tcp", "and", "(port", "6379", "or", "port", "5432", "or", "port", "3306", "or", "port", "443"])
        .args(["or", "port", "6667)"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sensor = lab
        .ns("mon", &[env!("CARGO_BIN_EXE_pastmon"), "raw", "--iface", "pmls-mon1", "--watch", &format!("{ip}:{ports}")])
        .args(["--interval", "60", "--transactions", live_jsonl.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the XDP program", Duration::from_secs(20), || lab.xdp_attached(Some("pmls-mon")));
    std::thread::sleep(Duration::from_millis(500));

    let client = |args: &[&str]| {
        let out = lab.ns("c", args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
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
    let script = common::lab::root_dir().join("sensor/tests/irc_client.py");
    let out = lab.ns("c", &["python3", script.to_str().unwrap(), &ip]).output().unwrap();
    assert!(out.status.success(), "IRC client: {}", String::from_utf8_lossy(&out.stderr));
    std::thread::sleep(Duration::from_millis(500));
    interrupt(&sensor);
    finish(sensor, "pastmon raw --iface");
    interrupt(&tcpdump);
    finish(tcpdump, "tcpdump");

    let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    let want: BTreeMap<(String, String, String), usize> = [
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
    let live = read_jsonl(&live_jsonl);
    assert_eq!(tally(&live), want, "live");

    let replay = Command::new(env!("CARGO_BIN_EXE_pastmon"))
        .args([
            "raw",
            "--pcap",
            pcap.to_str().unwrap(),
            "--interval",
            "60",
            "--transactions",
            replay_jsonl.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    assert_eq!(tally(&read_jsonl(&replay_jsonl)), want, "replayed capture");
    drop(servers);
}
