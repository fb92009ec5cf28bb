//! Real servers for the live tests, each started in the lab's server
//! namespace with its own folder under a temporary directory, and stopped
//! (the folder removed) when `Servers` is dropped.

use crate::lab::{wait_until, Lab};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Servers started in the lab's server namespace, each with its own folder;
/// stopped on drop.
pub struct Servers {
    pub dir: PathBuf,
    ns: String,
    ip: String,
    /// Pid files of what to stop.
    pids: Vec<PathBuf>,
    /// Commands (in the server namespace) that stop what a signal to a pid
    /// does not: PostgreSQL's postmaster, RabbitMQ's Erlang node and epmd.
    stops: Vec<Vec<String>>,
}

fn run(c: &mut Command) {
    let out = c.output().unwrap();
    assert!(out.status.success(), "{c:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Servers {
    pub fn new(lab: &Lab) -> Servers {
        let dir = std::env::temp_dir().join(format!("pastmon-servers-{}-{}", lab.name, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Servers { dir, ns: format!("{}-s", lab.name), ip: lab.server(2), pids: Vec::new(), stops: Vec::new() }
    }

    /// A new folder for one server.
    fn folder(&self, name: &str) -> String {
        let d = self.dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        d.display().to_string()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).args(args);
        c
    }

    /// Runs a program that stays in the foreground, in the background of a
    /// shell that exits; its pid goes to `folder/pid`.
    fn spawn(&mut self, folder: &str, command: &str) {
        run(&mut self.cmd(&["sh", "-c", &format!("{command} >{folder}/out 2>&1 & echo $! >{folder}/pid")]));
        self.pids.push(Path::new(folder).join("pid"));
    }

    pub fn redis(&mut self) {
        let d = self.folder("redis");
        run(self
            .cmd(&["redis-server", "--bind", &self.ip, "--port", "6379", "--protected-mode", "no", "--save", ""])
            .args(["--appendonly", "no", "--daemonize", "yes", "--dir", &d])
            .args(["--pidfile", &format!("{d}/pid"), "--logfile", &format!("{d}/log")]));
        self.pids.push(Path::new(&d).join("pid"));
    }

    pub fn postgres(&mut self) {
        let d = self.folder("pg");
        run(Command::new("chown").args(["postgres", &d]));
        let pg = format!("{d}/data");
        run(Command::new("runuser")
            .args(["-u", "postgres", "--", &pg_bin("initdb"), "-D", &pg, "-A", "trust"])
            .args(["-U", "postgres"]));
        std::fs::write(format!("{pg}/pg_hba.conf"), "local all all trust\nhost all all 0.0.0.0/0 trust\n").unwrap();
        let options = format!("-c listen_addresses={} -c unix_socket_directories={d}", self.ip);
        run(self.cmd(&["runuser", "-u", "postgres", "--", &pg_bin("pg_ctl"), "-D", &pg, "-o", &options]).args([
            "-l",
            &format!("{d}/log"),
            "-w",
            "start",
        ]));
        let stop = ["runuser", "-u", "postgres", "--", &pg_bin("pg_ctl"), "-D", &pg, "-m", "immediate", "stop"];
        self.stops.push(stop.iter().map(|a| a.to_string()).collect());
    }

    pub fn mariadb(&mut self) {
        let d = self.folder("mysql");
        run(Command::new("chown").args(["mysql", &d]));
        let data = format!("{d}/data");
        run(Command::new("mariadb-install-db").args([
            "--user=mysql",
            &format!("--datadir={data}"),
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]));
        // mariadbd writes its own pid file once it is ready.
        let command = format!(
            "runuser -u mysql -- mariadbd --datadir={data} --bind-address={} --port=3306 --socket={d}/sock \
             --pid-file={d}/pid --skip-grant-tables --log-error={d}/err",
            self.ip
        );
        run(&mut self.cmd(&["sh", "-c", &format!("{command} >/dev/null 2>&1 &")]));
        let pid = Path::new(&d).join("pid");
        wait_until("mariadbd", Duration::from_secs(30), || pid.exists());
        self.pids.push(pid);
    }

    /// nginx over TLS, certificate for lab.test.
    pub fn nginx_tls(&mut self) {
        let (tls, ip) = (self.folder("tls"), &self.ip);
        run(Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=lab.test"])
            .args(["-days", "1", "-keyout", &format!("{tls}/key.pem"), "-out", &format!("{tls}/cert.pem")]));
        std::fs::write(
            format!("{tls}/nginx.conf"),
            format!(
                "daemon on; worker_processes 1; pid {tls}/pid; error_log {tls}/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{ access_log off; client_body_temp_path {tls}; proxy_temp_path {tls}; fastcgi_temp_path {tls};\n\
                 uwsgi_temp_path {tls}; scgi_temp_path {tls};\n\
                 server {{ listen {ip}:443 ssl; ssl_certificate {tls}/cert.pem; ssl_certificate_key {tls}/key.pem;\n\
                 location / {{ return 200 \"tls ok\\n\"; }} }} }}\n"
            ),
        )
        .unwrap();
        run(&mut self.cmd(&["nginx", "-c", &format!("{tls}/nginx.conf")]));
        self.pids.push(Path::new(&tls).join("pid"));
    }

    pub fn ngircd(&mut self) {
        // ngircd drops to nobody: its folder must be open to it.
        let irc = self.folder("irc");
        run(Command::new("chmod").args(["0777", &irc]));
        std::fs::write(
            format!("{irc}/ngircd.conf"),
            format!(
                "[Global]\nName = irc.lab\nInfo = lab\nListen = {}\nPorts = 6667\nPidFile = {irc}/pid\n\
                 MotdPhrase = \"hello\"\nServerUID = nobody\nServerGID = nogroup\n[Options]\nPAM = no\nDNS = no\nIdent = no\n",
                self.ip
            ),
        )
        .unwrap();
        run(&mut self.cmd(&["sh", "-c", &format!("ngircd -n -f {irc}/ngircd.conf >/dev/null 2>&1 &")]));
        let pid = Path::new(&irc).join("pid");
        wait_until("ngircd", Duration::from_secs(10), || pid.exists());
        self.pids.push(pid);
    }

    /// aiosmtpd's sink: a real SMTP server that accepts every message and
    /// keeps none. Debian's module, so Debian's python.
    pub fn smtp_sink(&mut self) {
        let d = self.folder("smtp");
        let command = format!("/usr/bin/python3 -m aiosmtpd -n -l {}:25 -c aiosmtpd.handlers.Sink", self.ip);
        self.spawn(&d, &command);
        wait_until("aiosmtpd", Duration::from_secs(10), || self.listening(25));
    }

    /// Dovecot, IMAP and POP3 without TLS; any user with password `pass`,
    /// mail in `mail/USER` (alice has one message).
    pub fn dovecot(&mut self) {
        let (d, mail) = (self.folder("dovecot"), self.folder("mail"));
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(format!("{mail}/alice/{sub}")).unwrap();
        }
        std::fs::write(
            format!("{mail}/alice/new/1.lab"),
            "From: a@lab.test\r\nTo: alice@lab.test\r\nSubject: hello\r\n\r\nHello from the lab.\r\n",
        )
        .unwrap();
        run(Command::new("chmod").args(["-R", "0777", &mail]));
        std::fs::write(
            format!("{d}/dovecot.conf"),
            format!(
                "protocols = imap pop3\nlisten = {}\nbase_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/log\n\
                 ssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\nauth_failure_delay = 0\n\
                 mail_location = maildir:{mail}/%u\npassdb {{\n  driver = static\n  args = password=pass\n}}\n\
                 userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={mail}/%u\n}}\n",
                self.ip
            ),
        )
        .unwrap();
        self.spawn(&d, &format!("dovecot -F -c {d}/dovecot.conf"));
        wait_until("dovecot", Duration::from_secs(10), || self.listening(143) && self.listening(110));
    }

    /// vsftpd, anonymous and read-only: `pub/hello.txt`.
    pub fn vsftpd(&mut self) {
        let (d, root, empty) = (self.folder("ftp"), self.folder("ftp-root"), self.folder("ftp-empty"));
        std::fs::create_dir_all(format!("{root}/pub")).unwrap();
        std::fs::write(format!("{root}/pub/hello.txt"), "hello ftp\n").unwrap();
        std::fs::write(
            format!("{d}/vsftpd.conf"),
            format!(
                "listen=YES\nlisten_address={}\nbackground=NO\nanonymous_enable=YES\nno_anon_password=YES\n\
                 anon_root={root}\nlocal_enable=NO\nwrite_enable=NO\nsecure_chroot_dir={empty}\npasv_enable=YES\n\
                 seccomp_sandbox=NO\nxferlog_enable=NO\n",
                self.ip
            ),
        )
        .unwrap();
        self.spawn(&d, &format!("vsftpd {d}/vsftpd.conf"));
        wait_until("vsftpd", Duration::from_secs(10), || self.listening(21));
    }

    /// h2o, HTTP/1.1 and HTTP/2 without TLS on port 8080 (prior knowledge
    /// and `Upgrade: h2c`), serving `hello.txt`.
    pub fn h2o(&mut self) {
        let (d, root) = (self.folder("h2o"), self.folder("h2o-root"));
        std::fs::write(format!("{root}/hello.txt"), "hello h2\n").unwrap();
        std::fs::write(
            format!("{d}/h2o.conf"),
            format!(
                "listen:\n  host: {}\n  port: 8080\nerror-log: {d}/error.log\n\
                 hosts:\n  default:\n    paths:\n      /:\n        file.dir: {root}\n",
                self.ip
            ),
        )
        .unwrap();
        self.spawn(&d, &format!("h2o -c {d}/h2o.conf"));
        wait_until("h2o", Duration::from_secs(10), || self.listening(8080));
    }

    /// memcached on port 11211, text and binary protocols.
    pub fn memcached(&mut self) {
        let d = self.folder("memcached");
        self.spawn(&d, &format!("memcached -l {} -p 11211 -U 0 -u nobody", self.ip));
        wait_until("memcached", Duration::from_secs(10), || self.listening(11211));
    }

    /// mosquitto on port 1883, anonymous, logging every packet it receives
    /// to `mosquitto/log` (the truth of the MQTT test).
    pub fn mosquitto(&mut self) -> PathBuf {
        let d = self.folder("mosquitto");
        run(Command::new("chmod").args(["0777", &d]));
        std::fs::write(
            format!("{d}/mosquitto.conf"),
            format!(
                "listener 1883 {}\nallow_anonymous true\nlog_type all\nlog_dest file {d}/log\npersistence false\n",
                self.ip
            ),
        )
        .unwrap();
        self.spawn(&d, &format!("mosquitto -c {d}/mosquitto.conf"));
        wait_until("mosquitto", Duration::from_secs(10), || self.listening(1883));
        Path::new(&d).join("log")
    }

    /// RabbitMQ on port 5672 (its own node, `pastmon@localhost`, its data
    /// in the folder), the guest user allowed from the lab's client.
    pub fn rabbitmq(&mut self) {
        let d = self.folder("rabbitmq");
        run(Command::new("chmod").args(["0777", &d]));
        std::fs::write(format!("{d}/rabbitmq.conf"), "loopback_users = none\n").unwrap();
        let env = format!(
            "RABBITMQ_NODENAME=pastmon@localhost RABBITMQ_NODE_IP_ADDRESS={} RABBITMQ_MNESIA_BASE={d}/mnesia \
             RABBITMQ_LOG_BASE={d}/log RABBITMQ_CONFIG_FILE={d}/rabbitmq.conf RABBITMQ_ENABLED_PLUGINS_FILE={d}/plugins",
            self.ip
        );
        self.spawn(&d, &format!("runuser -u rabbitmq -- env {env} /usr/lib/rabbitmq/bin/rabbitmq-server"));
        for stop in [
            &["runuser", "-u", "rabbitmq", "--", "rabbitmqctl", "-n", "pastmon@localhost", "stop"][..],
            &["epmd", "-kill"],
        ] {
            self.stops.push(stop.iter().map(|a| a.to_string()).collect());
        }
        wait_until("RabbitMQ", Duration::from_secs(90), || self.listening(5672));
    }

    /// tests/lab/grpc_lab.py's gRPC server on port 50051 (Debian's
    /// python3-grpcio, so Debian's python).
    pub fn grpc(&mut self) {
        let d = self.folder("grpc");
        let script = crate::lab::root_dir().join("tests/lab/grpc_lab.py");
        self.spawn(&d, &format!("/usr/bin/python3 {} serve {} 50051", script.display(), self.ip));
        wait_until("the gRPC server", Duration::from_secs(20), || self.listening(50051));
    }

    fn listening(&self, port: u16) -> bool {
        let out = self.cmd(&["ss", "-Htln", &format!("sport = :{port}")]).output().unwrap();
        !out.stdout.is_empty()
    }
}

/// A PostgreSQL program of the newest installed version.
pub fn pg_bin(name: &str) -> String {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()).max())
        .unwrap_or(15);
    format!("/usr/lib/postgresql/{newest}/bin/{name}")
}

impl Drop for Servers {
    fn drop(&mut self) {
        for pid in &self.pids {
            if let Some(pid) = read_pid(pid) {
                // SAFETY: a signal to a server this test started.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        for stop in &self.stops {
            let args: Vec<&str> = stop.iter().map(String::as_str).collect();
            let _ = self.cmd(&args).output();
        }
        std::thread::sleep(Duration::from_millis(500));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Debian package of each program the tests run (`tests/lab/lab.sh
/// packages` installs them all).
const PACKAGES: &[(&str, &str)] = &[
    ("redis-server", "redis-server"),
    ("redis-benchmark", "redis-tools"),
    ("mariadbd", "mariadb-server"),
    ("mariadb-slap", "mariadb-client"),
    ("psql", "postgresql-client"),
    ("openssl", "openssl"),
    ("ngircd", "ngircd"),
    ("dovecot", "dovecot-imapd"),
    ("vsftpd", "vsftpd"),
    ("curl", "curl"),
    ("wrk", "wrk"),
    ("tcpdump", "tcpdump"),
    ("tc", "iproute2"),
    ("/usr/bin/python3", "python3"),
    ("h2o", "h2o"),
    ("memcached", "memcached"),
    ("memcslap", "libmemcached-tools"),
    ("mosquitto", "mosquitto"),
    ("mosquitto_pub", "mosquitto-clients"),
    ("rabbitmq-server", "rabbitmq-server"),
    ("h2load", "nghttp2-client"),
];

/// Fails the test when a program it needs is missing, naming its package.
pub fn require(tools: &[&str]) {
    for tool in tools {
        let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).stdout(Stdio::null()).status();
        let package = PACKAGES.iter().find(|(t, _)| t == tool).map_or("see tests/lab/lab.sh packages", |(_, p)| p);
        assert!(
            found.unwrap().success(),
            "{tool} is not installed: Debian package {package} (cargo xtask test installs it)"
        );
    }
}
