//! Operating the real `milpa` binary: worker processes and their signals, binds,
//! the configuration's sources, admission limits, StatsD and Prometheus.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RUNTIMES: [&str; 3] = ["tokio", "smol", "async-std"];

/// A `milpa` process and every line it wrote to stderr.
struct Milpa {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Milpa {
    fn start(args: &[&str]) -> Self {
        Self::start_with(Command::new(env!("CARGO_BIN_EXE_milpa")).args(args))
    }

    fn start_with(command: &mut Command) -> Self {
        let mut child =
            command.env("NO_COLOR", "1").stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("milpa exited before listening").unwrap();
            log.lock().unwrap().push(line.clone());
            if let Some(at) = line.find("listening on http://") {
                break line[at + "listening on http://".len()..].trim().parse().unwrap();
            }
        };
        let sink = log.clone();
        std::thread::spawn(move || {
            lines.map_while(Result::ok).for_each(|line| sink.lock().unwrap().push(line))
        });
        Self { child, addr, log }
    }

    /// Waits for a stderr line containing `text`, and returns it.
    fn wait_for_log(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|line| line.contains(text)) {
                return line.clone();
            }
            assert!(Instant::now() < deadline, "no log line with {text:?}: {:?}", self.log.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn get(&self, path: &str) -> String {
        get_from(self.addr, path, "localhost")
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// The worker processes: the supervisor's children.
    fn workers(&self) -> BTreeSet<u32> {
        children(self.child.id())
    }

    /// Waits until `count` workers run, none of them in `not`.
    fn wait_for_workers(&self, count: usize, not: &BTreeSet<u32>) -> BTreeSet<u32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let workers = self.workers();
            if workers.len() == count && workers.is_disjoint(not) {
                return workers;
            }
            assert!(Instant::now() < deadline, "workers {workers:?}, wanted {count} not in {not:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        self.wait()
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "milpa did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Milpa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get_from(addr: SocketAddr, path: &str, host: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

/// The processes whose parent is `parent`, from `/proc`.
fn children(parent: u32) -> BTreeSet<u32> {
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // `pid (comm) state ppid …`; comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else { continue };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        if state != Some("Z") && fields.next().and_then(|ppid| ppid.parse().ok()) == Some(parent) {
            found.insert(pid);
        }
    }
    found
}

/// A fresh directory for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("milpa-ops-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs h2load (HTTP/2 over cleartext) and returns (succeeded, failed).
fn h2load(addr: SocketAddr, args: &[&str]) -> (u64, u64) {
    let found = Command::new("h2load").arg("--version").output();
    assert!(found.is_ok(), "h2load is not installed: run the tests with scripts/test.sh, which installs it");
    let output = Command::new("h2load").args(args).arg(format!("http://{addr}/message/1/")).output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let line = out.lines().find(|line| line.starts_with("requests:")).unwrap_or_else(|| panic!("{out}"));
    let number = |label: &str| -> u64 {
        let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let at = words.iter().position(|w| *w == label).unwrap();
        words[at - 1].parse().unwrap()
    };
    (number("succeeded"), number("failed"))
}

#[test]
fn workers_share_the_listener_and_sighup_replaces_them_under_load_on_every_runtime() {
    for class in RUNTIMES {
        let dir = scratch(&format!("hup-{class}"));
        let log = dir.join("access.log");
        let milpa = Milpa::start(&[
            "-w",
            "2",
            "-k",
            class,
            "--bind",
            "127.0.0.1:0",
            "--keep-alive-max-requests",
            "0",
            "--graceful-timeout",
            "30",
            "--access-logfile",
            log.to_str().unwrap(),
            "--access-logformat",
            "%(p)s",
        ]);
        milpa.wait_for_log("2 workers serving");
        let first = milpa.wait_for_workers(2, &BTreeSet::new());
        // Both workers accept from the one socket.
        // Both workers accept from the one socket (a connection per request; a
        // burst of simultaneous connections may all go to the first worker awake).
        for i in 0..40 {
            assert!(milpa.get(&format!("/message/{i}/")).starts_with("HTTP/1.1 200"), "{class}");
        }
        let pids: BTreeSet<String> =
            std::fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect();
        assert_eq!(pids.len(), 2, "{class}: requests served by both workers: {pids:?}");

        let addr = milpa.addr;
        let load = std::thread::spawn(move || h2load(addr, &["-c20", "-n40000", "-m5"]));
        std::thread::sleep(Duration::from_millis(700));
        milpa.signal("-HUP");
        let (ok, failed) = load.join().unwrap();
        assert_eq!((ok, failed), (40000, 0), "{class}: SIGHUP under load loses nothing");
        let second = milpa.wait_for_workers(2, &first);
        assert!(second.is_disjoint(&first), "{class}: {first:?} replaced by {second:?}");
        assert!(milpa.get("/message/2/").ends_with("{\"message\": 2}"));
        assert!(milpa.terminate().success(), "{class}");
    }
}

#[test]
fn a_killed_worker_is_respawned_and_the_others_keep_serving() {
    let milpa = Milpa::start(&["-w", "2", "--bind", "127.0.0.1:0"]);
    milpa.wait_for_log("2 workers serving");
    let first = milpa.wait_for_workers(2, &BTreeSet::new());
    let victim = *first.iter().next().unwrap();
    let addr = milpa.addr;
    let load = std::thread::spawn(move || {
        let mut failures = 0;
        for i in 0..300 {
            let ok = std::panic::catch_unwind(|| get_from(addr, &format!("/message/{i}/"), "localhost"))
                .is_ok_and(|out| out.starts_with("HTTP/1.1 200"));
            failures += u32::from(!ok);
        }
        failures
    });
    std::thread::sleep(Duration::from_millis(100));
    Command::new("kill").args(["-KILL", &victim.to_string()]).status().unwrap();
    let failures = load.join().unwrap();
    // Only a request in flight on the killed worker can fail (one connection at a time here).
    assert!(failures <= 1, "{failures} failed");
    let mut not = BTreeSet::new();
    not.insert(victim);
    let now = milpa.wait_for_workers(2, &not);
    assert!(now.contains(first.iter().nth(1).unwrap()), "the other worker kept running");
    milpa.wait_for_log("worker died");
    assert!(milpa.get("/message/5/").ends_with("{\"message\": 5}"));
    assert!(milpa.terminate().success());
}

#[test]
fn sigterm_lets_long_requests_finish_then_exits_0() {
    for workers in ["0", "2"] {
        let milpa = Milpa::start(&["-w", workers, "--bind", "127.0.0.1:0", "--graceful-timeout", "10"]);
        if workers == "2" {
            milpa.wait_for_log("2 workers serving");
        }
        let addr = milpa.addr;
        let slow: Vec<_> = (0..4)
            .map(|i| std::thread::spawn(move || get_from(addr, &format!("/message/{i}/?delay_ms=1500"), "x")))
            .collect();
        std::thread::sleep(Duration::from_millis(400));
        let started = Instant::now();
        let mut milpa = milpa;
        milpa.signal("-TERM");
        for (i, request) in slow.into_iter().enumerate() {
            let out = request.join().unwrap();
            assert!(out.ends_with(&format!("{{\"message\": {i}}}")), "workers {workers}: {out}");
        }
        let status = milpa.wait();
        assert!(status.success(), "workers {workers}: {status}");
        assert!(started.elapsed() < Duration::from_secs(10), "exited within the graceful timeout");
    }
}

#[test]
fn max_requests_recycles_workers_under_load_without_failures() {
    let milpa = Milpa::start(&[
        "-w",
        "2",
        "--bind",
        "127.0.0.1:0",
        "--max-requests",
        "3000",
        "--max-requests-jitter",
        "500",
        "--keep-alive-max-requests",
        "0",
        "--graceful-timeout",
        "30",
    ]);
    milpa.wait_for_log("2 workers serving");
    let first = milpa.wait_for_workers(2, &BTreeSet::new());
    let (ok, failed) = h2load(milpa.addr, &["-c10", "-n8000", "-m5"]);
    assert_eq!((ok, failed), (8000, 0));
    // Each worker served at least 3000 of the 8000 (else the other served over 5000 and retired).
    milpa.wait_for_log("max requests; replacing it");
    let (ok, failed) = h2load(milpa.addr, &["-c10", "-n2000", "-m5"]);
    assert_eq!((ok, failed), (2000, 0), "the replacements serve");
    let now = milpa.wait_for_workers(2, &BTreeSet::new());
    assert_ne!(now, first, "a worker was replaced");
    assert!(milpa.terminate().success());
}

#[test]
fn a_retiring_worker_closes_its_busy_keep_alive_connections_after_their_response() {
    let milpa = Milpa::start(&[
        "-w",
        "1",
        "--bind",
        "127.0.0.1:0",
        "--max-requests",
        "50",
        "--keep-alive-max-requests",
        "0",
        "--graceful-timeout",
        "60",
    ]);
    milpa.wait_for_log("1 workers serving");
    let mut stream = TcpStream::connect(milpa.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut served = 0;
    let closed = loop {
        assert!(started.elapsed() < Duration::from_secs(20), "still open after {served} requests");
        stream.write_all(b"GET /message/1/ HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        while !response.ends_with(b"}") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "closed without an answer after {served}");
            response.extend_from_slice(&buf[..n]);
        }
        served += 1;
        if String::from_utf8_lossy(&response).contains("connection: close") {
            break served;
        }
    };
    // The successor starts within a second or two; the graceful phase is a minute away.
    assert!(started.elapsed() < Duration::from_secs(20), "closed after {closed} requests");
    assert!(milpa.terminate().success());
}

#[test]
fn reloads_racing_max_requests_leave_one_worker_per_slot() {
    let milpa = Milpa::start(&[
        "-w",
        "2",
        "--bind",
        "127.0.0.1:0",
        "--max-requests",
        "200",
        "--graceful-timeout",
        "5",
    ]);
    milpa.wait_for_log("2 workers serving");
    let addr = milpa.addr;
    // Workers retire every 200 requests while SIGHUPs replace them: a worker may
    // retire while its reload successor starts.
    let load = std::thread::spawn(move || h2load(addr, &["-D", "6", "-c", "8", "--h1"]));
    for _ in 0..3 {
        std::thread::sleep(Duration::from_secs(1));
        milpa.signal("-HUP");
    }
    let (_, failed) = load.join().unwrap();
    assert_eq!(failed, 0);
    let settled = milpa.wait_for_workers(2, &BTreeSet::new());
    std::thread::sleep(Duration::from_secs(3));
    let workers = milpa.workers();
    assert_eq!(workers.len(), 2, "{workers:?} (settled at {settled:?})");
    assert!(milpa.terminate().success());
}

#[test]
fn threads_1_means_one_task_thread_on_every_runtime() {
    for runtime in RUNTIMES {
        let milpa = Milpa::start(&["--bind", "127.0.0.1:0", "-k", runtime, "--threads", "1"]);
        assert!(milpa.get("/message/1/").ends_with("{\"message\": 1}"));
        let threads = std::fs::read_dir(format!("/proc/{}/task", milpa.child.id())).unwrap().count();
        // The one running tasks, and at most an IO reactor's and a signal watcher's.
        assert!(threads <= 3, "{runtime}: {threads} threads");
        assert!(milpa.terminate().success());
    }
}

#[test]
fn a_worker_that_cannot_start_stops_the_supervisor_with_the_reason() {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_milpa"))
        .args(["-w", "2", "--bind", "127.0.0.1:0", "--access-logfile", "/nonexistent/dir/access.log"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("worker failed to start") && stderr.contains("/nonexistent/dir"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "no respawn loop");
}

#[test]
fn unix_socket_with_umask_and_pid_file_served_to_curl() {
    let dir = scratch("unix");
    let socket = dir.join("milpa.sock");
    let pid = dir.join("milpa.pid");
    let mut milpa = Milpa::start(&[
        "--bind",
        &format!("unix:{}", socket.display()),
        "--insecure-bind",
        "127.0.0.1:0",
        "--umask",
        "077",
        "--pid",
        pid.to_str().unwrap(),
    ]);
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let metadata = std::fs::metadata(&socket).unwrap();
    assert!(metadata.file_type().is_socket());
    assert_eq!(metadata.permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::read_to_string(&pid).unwrap().trim(), milpa.child.id().to_string());
    let output = Command::new("curl")
        .args(["-s", "--unix-socket", socket.to_str().unwrap(), "http://localhost/message/4/"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "{\"message\": 4}");
    milpa.signal("-TERM");
    assert!(milpa.wait().success());
    assert!(!pid.exists(), "the pid file is removed on exit");
}

#[test]
fn a_failed_second_start_and_a_successor_on_the_socket_leave_the_running_servers_files() {
    let dir = scratch("handover");
    let socket = dir.join("milpa.sock");
    let pid = dir.join("milpa.pid");
    let unix = format!("unix:{}", socket.display());
    let first = Milpa::start(&[
        "-w",
        "1",
        "--bind",
        &unix,
        "--insecure-bind",
        "127.0.0.1:0",
        "--pid",
        pid.to_str().unwrap(),
    ]);
    first.wait_for_log("1 workers serving");
    let taken = first.addr.to_string();
    let second = Command::new(env!("CARGO_BIN_EXE_milpa"))
        .args(["--bind", &taken, "--pid", pid.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!second.status.success(), "the address is taken");
    assert_eq!(
        std::fs::read_to_string(&pid).unwrap().trim(),
        first.child.id().to_string(),
        "the pid file is kept"
    );
    // A successor takes the socket's path over (blue/green); the first then stops.
    let successor = Milpa::start(&["--bind", &unix, "--insecure-bind", "127.0.0.1:0"]);
    assert!(first.terminate().success());
    let output = Command::new("curl")
        .args(["-s", "--unix-socket", socket.to_str().unwrap(), "http://localhost/message/5/"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "{\"message\": 5}",
        "the successor's socket is left alone"
    );
    assert!(successor.terminate().success());
}

#[test]
fn fd_bind_serves_a_socket_passed_by_socket_activation() {
    use command_fds::{CommandFdExt, FdMapping};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_milpa"));
    command
        .args(["--bind", "fd://3", "--insecure-bind", "127.0.0.1:0"])
        .env("LISTEN_FDS", "1")
        .fd_mappings(vec![FdMapping { parent_fd: listener.into(), child_fd: 3 }])
        .unwrap();
    let milpa = Milpa::start_with(&mut command);
    let curl = Command::new("curl").args(["-s", &format!("http://{addr}/message/9/")]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "{\"message\": 9}");
    assert!(milpa.terminate().success());
    let output = Command::new(env!("CARGO_BIN_EXE_milpa")).args(["--bind", "fd://7"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("fd://7"), "{stderr}");
}

#[test]
fn config_sources_in_order_and_print_config_round_trips() {
    let dir = scratch("config");
    let file = dir.join("milpa.toml");
    std::fs::write(&file, "keep_alive_timeout = 7.5\nworkers = 3\nroot_path = \"/from-file\"\n").unwrap();
    let print = |extra: &[&str], env: &[(&str, &str)]| {
        let output = Command::new(env!("CARGO_BIN_EXE_milpa"))
            .args(["--config", file.to_str().unwrap(), "--print-config"])
            .args(extra)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let printed = print(&["--workers", "4"], &[("MILPA_WORKERS", "5"), ("MILPA_ROOT_PATH", "/from-env")]);
    assert!(printed.contains("keep_alive_timeout = 7.5\n"), "file over defaults: {printed}");
    assert!(printed.contains("root_path = \"/from-env\"\n"), "env over file: {printed}");
    assert!(printed.contains("workers = 4\n"), "flags over env: {printed}");
    assert!(printed.contains("bind = [\"127.0.0.1:8000\"]"), "defaults shown: {printed}");
    // What --print-config shows reads back as the same configuration.
    std::fs::write(&file, &printed).unwrap();
    assert_eq!(print(&[], &[]), printed);
    // Key by key: a flag for the key leaves the certificate from the environment.
    let printed = print(&["--keyfile", "key.pem", "--umask", "007"], &[("MILPA_CERTFILE", "cert.pem")]);
    assert!(
        printed.contains("certfile = \"cert.pem\"\n") && printed.contains("keyfile = \"key.pem\"\n"),
        "{printed}"
    );
    assert!(printed.contains("umask = \"0o007\"\n"), "octal, as written: {printed}");

    let output = Command::new(env!("CARGO_BIN_EXE_milpa"))
        .arg("--print-config")
        .env("MILPA_KEEP_ALIVE", "3")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("MILPA_KEEP_ALIVE"));
}

#[test]
fn limit_concurrency_answers_503_and_server_names_421() {
    let milpa = Milpa::start(&[
        "--bind",
        "127.0.0.1:0",
        "--limit-concurrency",
        "1",
        "--server-name",
        "example.com",
        "--server-name",
        "localhost",
    ]);
    let addr = milpa.addr;
    let slow = std::thread::spawn(move || get_from(addr, "/message/1/?delay_ms=1500", "example.com"));
    std::thread::sleep(Duration::from_millis(400));
    let refused = get_from(addr, "/message/2/", "example.com:8000");
    assert!(refused.starts_with("HTTP/1.1 503 Service Unavailable"), "{refused}");
    assert!(refused.contains("retry-after: 1"), "{refused}");
    assert!(slow.join().unwrap().ends_with("{\"message\": 1}"));
    assert!(get_from(addr, "/message/3/", "EXAMPLE.com").ends_with("{\"message\": 3}"));
    let other = get_from(addr, "/message/4/", "evil.example");
    assert!(other.starts_with("HTTP/1.1 421 Misdirected Request"), "{other}");
    assert!(milpa.terminate().success());
}

#[test]
fn max_connections_holds_new_clients_in_the_backlog_until_one_leaves() {
    for class in RUNTIMES {
        let milpa = Milpa::start(&["-k", class, "--bind", "127.0.0.1:0", "--max-connections", "1"]);
        let mut first = TcpStream::connect(milpa.addr).unwrap();
        write!(first, "GET /message/1/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 256];
        assert!(first.read(&mut buf).unwrap() > 0, "the first connection is served");
        let mut second = TcpStream::connect(milpa.addr).unwrap();
        second.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        write!(second, "GET /message/2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        assert!(second.read(&mut buf).is_err(), "{class}: the second waits while the first is open");
        drop(first);
        second.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = String::new();
        second.read_to_string(&mut out).unwrap();
        assert!(out.ends_with("{\"message\": 2}"), "{class}: {out}");
        assert!(milpa.terminate().success());
    }
}

#[test]
fn statsd_datagrams_carry_hypercorns_metrics() {
    let statsd = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    statsd.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let target = statsd.local_addr().unwrap().to_string();
    let milpa = Milpa::start(&["--bind", "127.0.0.1:0", "--statsd-host", &target, "--statsd-prefix", "edge"]);
    assert!(milpa.get("/nope").starts_with("HTTP/1.1 404"));
    let mut buf = [0u8; 1024];
    let n = statsd.recv(&mut buf).unwrap();
    let datagram = String::from_utf8_lossy(&buf[..n]);
    let lines: Vec<&str> = datagram.lines().collect();
    assert!(lines[0].starts_with("edge.milpa.request.duration:") && lines[0].ends_with("|ms"), "{datagram}");
    assert_eq!(lines[1..], ["edge.milpa.requests:1|c|@1.0", "edge.milpa.request.status.404:1|c|@1.0"]);
    assert!(milpa.terminate().success());
}

/// `name{labels} value` lines of a Prometheus text page, comments skipped.
fn samples(page: &str) -> Vec<(String, f64)> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample {line:?}"));
            (name.to_owned(), value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")))
        })
        .collect()
}

fn sample(page: &[(String, f64)], name: &str) -> f64 {
    page.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}: {page:?}")).1
}

#[test]
fn prometheus_endpoint_sums_the_workers() {
    for workers in ["0", "2"] {
        let milpa = Milpa::start(&["-w", workers, "--bind", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0"]);
        let line = milpa.wait_for_log("metrics at http://");
        let metrics: SocketAddr =
            line[line.find("http://").unwrap() + 7..].trim().trim_end_matches("/metrics").parse().unwrap();
        if workers == "2" {
            milpa.wait_for_log("2 workers serving");
        }
        for i in 0..20 {
            assert!(milpa.get(&format!("/message/{i}/")).starts_with("HTTP/1.1 200"));
        }
        assert!(milpa.get("/nope").starts_with("HTTP/1.1 404"));
        // Workers report every second.
        let deadline = Instant::now() + Duration::from_secs(10);
        let page = loop {
            let response = get_from(metrics, "/metrics", "x");
            assert!(response.contains("content-type: text/plain; version=0.0.4"), "{response}");
            let page = samples(response.split("\r\n\r\n").nth(1).unwrap());
            if sample(&page, "milpa_requests_total") >= 21.0 || Instant::now() > deadline {
                break page;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(sample(&page, "milpa_requests_total"), 21.0, "workers {workers}");
        assert_eq!(sample(&page, "milpa_responses_total{code=\"200\"}"), 20.0);
        assert_eq!(sample(&page, "milpa_responses_total{code=\"404\"}"), 1.0);
        assert_eq!(sample(&page, "milpa_request_duration_seconds_count"), 21.0);
        assert_eq!(sample(&page, "milpa_request_duration_seconds_bucket{le=\"+Inf\"}"), 21.0);
        assert_eq!(sample(&page, "milpa_connections_total{protocol=\"http1\"}"), 21.0);
        assert!(sample(&page, "milpa_sent_bytes_total") > 0.0);
        if workers == "2" {
            assert_eq!(sample(&page, "milpa_workers"), 2.0);
        }
        assert!(get_from(metrics, "/other", "x").starts_with("HTTP/1.1 404"));
        assert!(milpa.terminate().success(), "workers {workers}");
    }
}

#[test]
fn out_of_file_descriptors_the_server_backs_off_serves_and_recovers() {
    for class in RUNTIMES {
        // 256 descriptors, 1000 clients at once: accept fails with EMFILE until
        // connections end; the clients wait in the backlog meanwhile.
        let script =
            format!("ulimit -n 256 && exec {} -k {class} --bind 127.0.0.1:0", env!("CARGO_BIN_EXE_milpa"));
        let milpa = Milpa::start_with(Command::new("sh").args(["-c", &script]));
        let (ok, failed) = h2load(milpa.addr, &["-c1000", "-n10000", "-m1"]);
        assert_eq!((ok, failed), (10000, 0), "{class}");
        milpa.wait_for_log("accept failed; backing off");
        assert!(milpa.get("/message/1/").ends_with("{\"message\": 1}"), "{class}: serves on afterwards");
        assert!(milpa.terminate().success(), "{class}");
    }
}
