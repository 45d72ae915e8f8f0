//! The attack matrix over real sockets, against the `milpa` binary on every
//! runtime. Each attack comes from a hand-written client (raw HTTP/2 frames and
//! HPACK literals, raw HTTP/1.1 bytes, raw TLS records), not from milpa's own
//! state machines; each asserts what the server answers, that a bystander
//! keep-alive connection and fresh connections are still served, and that the
//! server's resident memory stays bounded. The rows are written to
//! `target/attack-matrix-<runtime>.txt` (the table in the issue note).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RUNTIMES: [&str; 3] = ["tokio", "smol", "async-std"];

/// RSS growth an attack may cause in the server, in KiB.
const RSS_BOUND_KIB: u64 = 64 * 1024;

// HTTP/2 frame types, flags and error codes (RFC 9113).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const CANCEL: u32 = 0x8;
const REFUSED_STREAM: u32 = 0x7;
const ENHANCE_YOUR_CALM: u32 = 0xb;

struct Server {
    child: Child,
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    rows: Vec<String>,
    class: &'static str,
}

impl Server {
    fn start(class: &'static str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_milpa"))
            .args(["-k", class, "--insecure-bind", "127.0.0.1:0"])
            // The default 1000 requests per connection would end the MadeYouReset
            // flood (2000 streams) with a graceful GOAWAY(NO_ERROR) before the
            // 1024-reset rule, or the rule on applications running for reset streams,
            // could answer; which came first depended on how fast the applications ran.
            .args(["--keep-alive-max-requests", "0"])
            .args(extra)
            .env("NO_COLOR", "1")
            .env("MILPA_HEADER_READ_TIMEOUT", "3")
            // The bystander waits between attacks longer than the default 5 s.
            .env("MILPA_KEEP_ALIVE_TIMEOUT", "300")
            .env("MILPA_BODY_IDLE_TIMEOUT", "2")
            .env("MILPA_SEND_TIMEOUT", "5")
            .env("MILPA_TLS_HANDSHAKE_TIMEOUT", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (mut addr, mut tls_addr) = (None, None);
        let tls = extra.contains(&"--self-signed");
        while addr.is_none() || (tls && tls_addr.is_none()) {
            let line = lines.next().expect("milpa exited before listening").unwrap();
            for (scheme, slot) in [("http://", &mut addr), ("https://", &mut tls_addr)] {
                if let Some(at) = line.find(&format!("listening on {scheme}")) {
                    *slot = Some(line[at + 13 + scheme.len()..].trim().parse().unwrap());
                }
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, addr: addr.unwrap(), tls_addr, rows: Vec::new(), class }
    }

    /// Resident memory of the server process, in KiB.
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// CPU time (user and system) the server process has used, in milliseconds.
    fn cpu_ms(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // `pid (comm) state …`: utime and stime are the 12th and 13th fields after `comm`,
        // in clock ticks of 1/100 s (Linux's USER_HZ).
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks * 10
    }

    /// Runs `attack`, which returns what the server answered, and checks that the
    /// bystander and a fresh connection are served and memory stayed bounded.
    fn attack(
        &mut self,
        bystander: &mut Bystander,
        name: &str,
        sent: &str,
        attack: impl FnOnce(&Server) -> String,
    ) {
        self.attack_bounded(bystander, name, sent, RSS_BOUND_KIB, attack);
    }

    /// [`Server::attack`] with its own bound on RSS growth, in KiB.
    fn attack_bounded(
        &mut self,
        bystander: &mut Bystander,
        name: &str,
        sent: &str,
        bound: u64,
        attack: impl FnOnce(&Server) -> String,
    ) {
        let before = self.rss();
        let answer = attack(self);
        let after = self.rss();
        bystander.check(&format!("{}: {name}", self.class));
        let fresh = get(self.addr, "/message/7/");
        assert!(fresh.ends_with("{\"message\": 7}"), "{}: {name}: a fresh connection: {fresh}", self.class);
        assert!(after < before + bound, "{}: {name}: RSS grew from {before} KiB to {after} KiB", self.class);
        self.rows.push(format!("| {name} | {sent} | {answer} | {} | {} |", before / 1024, after / 1024));
    }

    fn finish(mut self) {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("attack-matrix-{}.txt", self.class));
        let mut table = String::from(
            "| scenario | sent | answer | RSS before (MiB) | RSS after (MiB) |\n|---|---|---|---|---|\n",
        );
        for row in &self.rows {
            table.push_str(row);
            table.push('\n');
        }
        std::fs::write(&path, &table).unwrap();
        eprintln!("{}:\n{table}", self.class);
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{}: shut down cleanly after the attacks: {status}", self.class);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A keep-alive HTTP/1.1 connection opened before the attacks and used after each.
struct Bystander {
    stream: TcpStream,
    count: u32,
}

impl Bystander {
    fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Self { stream, count: 0 }
    }

    fn check(&mut self, context: &str) {
        self.count += 1;
        let n = self.count;
        write!(self.stream, "GET /message/{n}/ HTTP/1.1\r\nHost: bystander\r\n\r\n").unwrap();
        let want = format!("{{\"message\": {n}}}");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).ends_with(&want) {
            let n = self.stream.read(&mut buf).unwrap_or_else(|e| panic!("{context}: bystander: {e}"));
            assert!(n > 0, "{context}: the bystander connection was closed");
            got.extend_from_slice(&buf[..n]);
        }
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK integer with an `n`-bit prefix whose high bits are `first`.
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A literal field; `index` adds it to the dynamic table.
fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &[u8], index: bool) {
    out.push(if index { 0x40 } else { 0x00 });
    hpack_int(out, 0, 7, name.len());
    out.extend_from_slice(name.as_bytes());
    hpack_int(out, 0, 7, value.len());
    out.extend_from_slice(value);
}

/// `GET path` with `:scheme http` and `:authority x`.
fn request_block(path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86]; // :method GET, :scheme http (static table)
    block.push(0x04); // :path, name from the static table, not indexed
    hpack_int(&mut block, 0, 7, path.len());
    block.extend_from_slice(path.as_bytes());
    block.push(0x01); // :authority
    hpack_int(&mut block, 0, 7, 1);
    block.push(b'x');
    block
}

/// A raw HTTP/2 connection: the preface, empty SETTINGS and an ACK of the server's.
struct H2 {
    stream: TcpStream,
}

impl H2 {
    fn connect(addr: SocketAddr, settings: &[u8]) -> Self {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        hello.extend(frame(SETTINGS, 0, 0, settings));
        hello.extend(frame(SETTINGS, ACK, 0, &[]));
        stream.write_all(&hello).unwrap();
        Self { stream }
    }

    /// The next frame, or `None` at EOF or on timeout.
    fn read_frame(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
        let mut head = [0u8; 9];
        self.stream.read_exact(&mut head).ok()?;
        let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        self.stream.read_exact(&mut payload).ok()?;
        Some((head[3], head[4], stream, payload))
    }

    /// Reads until GOAWAY (its error code) or the end.
    fn goaway(&mut self) -> Option<u32> {
        while let Some((kind, _, _, payload)) = self.read_frame() {
            if kind == GOAWAY {
                return Some(u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]));
            }
        }
        None
    }

    /// Reads until a HEADERS frame on `id` (true) or a GOAWAY/RST_STREAM/end (false).
    fn response_on(&mut self, id: u32) -> bool {
        while let Some((kind, _, stream, _)) = self.read_frame() {
            match kind {
                HEADERS if stream == id => return true,
                GOAWAY => return false,
                RST_STREAM if stream == id => return false,
                _ => {}
            }
        }
        false
    }
}

/// Floods `wire` and expects GOAWAY(ENHANCE_YOUR_CALM) back; returns the answer's name.
fn calmed(h2: &mut H2, wire: Vec<u8>) -> String {
    let writer = flood(&h2.stream, wire);
    let code = h2.goaway();
    writer.join().unwrap();
    assert_eq!(code, Some(ENHANCE_YOUR_CALM));
    reason(code)
}

fn reason(code: Option<u32>) -> String {
    match code {
        Some(ENHANCE_YOUR_CALM) => "GOAWAY(ENHANCE_YOUR_CALM)".to_owned(),
        Some(code) => format!("GOAWAY(0x{code:x})"),
        None => "connection closed without GOAWAY".to_owned(),
    }
}

/// Writes `bytes` on a thread of its own (the server may stop reading), for at
/// most `limit`; returns how much was written.
fn flood(stream: &TcpStream, bytes: Vec<u8>) -> std::thread::JoinHandle<usize> {
    let mut stream = stream.try_clone().unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    std::thread::spawn(move || {
        let mut written = 0;
        for chunk in bytes.chunks(64 * 1024) {
            match stream.write(chunk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        written
    })
}

fn http2_attacks(server: &mut Server, bystander: &mut Bystander) {
    let addr = server.addr;
    server.attack(
        bystander,
        "HTTP/2 rapid reset",
        "1000 × (HEADERS for a 10 s request + RST_STREAM(CANCEL))",
        |_| {
            let mut h2 = H2::connect(addr, &[]);
            let mut wire = Vec::new();
            for i in 0..1000u32 {
                let id = 2 * i + 1;
                wire.extend(frame(
                    HEADERS,
                    END_STREAM | END_HEADERS,
                    id,
                    &request_block("/message/1/?delay_ms=10000"),
                ));
                wire.extend(frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()));
            }
            // Read in batches, most resets arrive before their request was taken:
            // milpa-h2's own rapid-reset rule.
            calmed(&mut h2, wire)
        },
    );
    server.attack(
        bystander,
        "HTTP/2 rapid reset, requests taken first",
        "25 × (HEADERS for a 10 s request, reset once a PING after it is answered), then 1100 × HEADERS",
        |_| {
            let mut h2 = H2::connect(addr, &[]);
            let mut refused = 0;
            for i in 0..25u32 {
                let id = 2 * i + 1;
                let mut wire = frame(
                    HEADERS,
                    END_STREAM | END_HEADERS,
                    id,
                    &request_block("/message/1/?delay_ms=10000"),
                );
                wire.extend(frame(PING, 0, 0, &[0; 8]));
                h2.stream.write_all(&wire).unwrap();
                // The PING's ACK goes out after the request reached the application
                // (or was refused, from the 22nd on).
                while let Some((kind, flags, _, payload)) = h2.read_frame() {
                    match kind {
                        RST_STREAM if payload == REFUSED_STREAM.to_be_bytes() => refused += 1,
                        PING if flags & ACK != 0 => break,
                        _ => {}
                    }
                }
                h2.stream.write_all(&frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes())).unwrap();
            }
            // 21 applications now run on for reset streams: new requests are refused
            // (REFUSED_STREAM), and a client that goes on is told to calm down. Sent
            // 50 at a time (under the 100 concurrent streams), each batch with a PING.
            let (mut code, mut next) = (None, 51u32);
            'batches: for _ in 0..22 {
                let mut wire = Vec::new();
                for _ in 0..50 {
                    wire.extend(frame(
                        HEADERS,
                        END_STREAM | END_HEADERS,
                        next,
                        &request_block("/message/1/"),
                    ));
                    next += 2;
                }
                wire.extend(frame(PING, 0, 0, &[0; 8]));
                if h2.stream.write_all(&wire).is_err() {
                    break;
                }
                while let Some((kind, flags, _, payload)) = h2.read_frame() {
                    match kind {
                        RST_STREAM if payload == REFUSED_STREAM.to_be_bytes() => refused += 1,
                        PING if flags & ACK != 0 => break,
                        GOAWAY => {
                            code = Some(u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]));
                            break 'batches;
                        }
                        _ => {}
                    }
                }
            }
            assert_eq!(code, Some(ENHANCE_YOUR_CALM), "{refused} refused");
            assert!(refused > 1000, "{refused} refused");
            format!("{} after {refused} requests refused with REFUSED_STREAM", reason(code))
        },
    );
    server.attack(
        bystander,
        "HTTP/2 rapid reset, instant requests",
        "1000 × (HEADERS + RST_STREAM(CANCEL))",
        |_| {
            // Read in the same batches as their requests, the resets come before the
            // requests reach the application: h2's own rapid-reset rule.
            let mut h2 = H2::connect(addr, &[]);
            let mut wire = Vec::new();
            for i in 0..1000u32 {
                let id = 2 * i + 1;
                wire.extend(frame(HEADERS, END_STREAM | END_HEADERS, id, &request_block("/message/1/")));
                wire.extend(frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()));
            }
            let writer = flood(&h2.stream, wire);
            let mut answered = 0;
            let mut code = None;
            while let Some((kind, _, _, payload)) = h2.read_frame() {
                if kind == HEADERS {
                    answered += 1;
                }
                if kind == GOAWAY && code.is_none() {
                    code = Some(u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]));
                }
            }
            writer.join().unwrap();
            assert_eq!(code, Some(ENHANCE_YOUR_CALM));
            format!("{} after {answered} answers (21 resets before the requests were taken)", reason(code))
        },
    );
    server.attack(bystander, "HTTP/2 MadeYouReset", "2000 × (HEADERS + WINDOW_UPDATE(stream, 0))", |_| {
        // A zero increment on a stream is a stream error: the server resets it.
        let mut h2 = H2::connect(addr, &[]);
        let mut wire = Vec::new();
        for i in 0..2000u32 {
            let id = 2 * i + 1;
            wire.extend(frame(HEADERS, END_HEADERS, id, &request_block("/message/1/")));
            wire.extend(frame(WINDOW_UPDATE, 0, id, &0u32.to_be_bytes()));
        }
        calmed(&mut h2, wire)
    });
    server.attack(
        bystander,
        "HTTP/2 CONTINUATION flood",
        "HEADERS then 100 000 CONTINUATION, never END_HEADERS",
        |_| {
            let mut h2 = H2::connect(addr, &[]);
            let mut wire = frame(HEADERS, 0, 1, &request_block("/"));
            for _ in 0..100_000 {
                wire.extend(frame(CONTINUATION, 0, 1, &[0x00, 0x01, b'a', 0x01, b'b']));
            }
            calmed(&mut h2, wire)
        },
    );
    server.attack(
        bystander,
        "HPACK bomb",
        "a 4 KiB field indexed, then referenced 4000 times in one block",
        |_| {
            let mut h2 = H2::connect(addr, &[]);
            let mut block = request_block("/");
            hpack_literal(&mut block, "bomb", &[b'x'; 4000], true);
            // Index 62: the newest dynamic-table entry; 1 byte each, 4 KiB decoded each.
            for _ in 0..4000 {
                block.push(0x80 | 62);
            }
            let mut wire = Vec::new();
            let mut chunks = block.chunks(16 * 1024).peekable();
            let first = chunks.next().unwrap();
            let flags = if chunks.peek().is_none() { END_HEADERS | END_STREAM } else { END_STREAM };
            wire.extend(frame(HEADERS, flags, 1, first));
            while let Some(chunk) = chunks.next() {
                let flags = if chunks.peek().is_none() { END_HEADERS } else { 0 };
                wire.extend(frame(CONTINUATION, flags, 1, chunk));
            }
            let _ = h2.stream.write_all(&wire);
            let code = h2.goaway();
            assert_eq!(code, Some(ENHANCE_YOUR_CALM), "16 MB decoded is far over 4 × the 16 KiB list limit");
            reason(code)
        },
    );
    for (name, kind, payload) in [
        ("PING flood, client never reads", PING, &[0u8; 8][..]),
        ("SETTINGS flood, client never reads", SETTINGS, &[][..]),
    ] {
        server.attack(
            bystander,
            name,
            "5 000 000 frames (85 MB of PING, 45 MB of SETTINGS) without reading a byte",
            |server| {
                let h2 = H2::connect(addr, &[]);
                let mut wire = Vec::new();
                for _ in 0..5_000_000 {
                    wire.extend(frame(kind, 0, 0, payload));
                }
                let writer = flood(&h2.stream, wire);
                std::thread::sleep(Duration::from_millis(1500));
                // While the flood is stuck, the server still serves others, and holds
                // at most one pending acknowledgement (it stopped reading).
                assert!(get(server.addr, "/message/3/").ends_with("{\"message\": 3}"));
                let written = writer.join().unwrap();
                assert!(
                    written < wire_len(5_000_000, payload.len()),
                    "the server stopped reading ({written} bytes taken)"
                );
                format!("stopped reading after {} KiB; others served", written / 1024)
            },
        );
    }
    server.attack(bystander, "empty DATA flood", "HEADERS then 1000 empty DATA frames", |_| {
        let mut h2 = H2::connect(addr, &[]);
        let mut wire = frame(HEADERS, END_HEADERS, 1, &request_block("/message/1/"));
        for _ in 0..1000 {
            wire.extend(frame(DATA, 0, 1, &[]));
        }
        calmed(&mut h2, wire)
    });
    server.attack(
        bystander,
        "HTTP/2 body a byte per DATA frame",
        "3 connections × HEADERS for a 2 s request + 1 000 000 × DATA of 1 byte (within the window)",
        |server| {
            // The window bounds the bytes, not the frames: a million of them must
            // not become a million queued pieces (about 50 MB per connection).
            let before = server.rss();
            let mut conns: Vec<H2> = (0..3).map(|_| H2::connect(addr, &[])).collect();
            let writers: Vec<_> = conns
                .iter()
                .map(|h2| {
                    let mut wire =
                        frame(HEADERS, END_HEADERS, 1, &request_block("/message/1/?delay_ms=2000"));
                    for _ in 0..1_000_000 {
                        wire.extend(frame(DATA, 0, 1, b"x"));
                    }
                    (wire.len(), flood(&h2.stream, wire))
                })
                .collect();
            for (length, writer) in writers {
                assert_eq!(writer.join().unwrap(), length, "the server read it all");
            }
            let during = server.rss();
            for h2 in &mut conns {
                assert!(h2.response_on(1), "answered after its delay");
            }
            assert!(during < before + 16 * 1024, "RSS grew from {before} KiB to {during} KiB");
            format!(
                "answered after the delay, the bodies held in copied pieces (RSS {} MiB while held)",
                during / 1024
            )
        },
    );
    server.attack(
        bystander,
        "zero-window slow reader",
        "INITIAL_WINDOW_SIZE 0, 100 streams × GET /bytes/100000000, never a WINDOW_UPDATE",
        |server| {
            // SETTINGS_INITIAL_WINDOW_SIZE = 0.
            let mut h2 = H2::connect(addr, &[0, 4, 0, 0, 0, 0]);
            let mut wire = Vec::new();
            for i in 0..100u32 {
                wire.extend(frame(
                    HEADERS,
                    END_STREAM | END_HEADERS,
                    2 * i + 1,
                    &request_block("/bytes/100000000"),
                ));
            }
            h2.stream.write_all(&wire).unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            let rss = server.rss();
            assert!(get(server.addr, "/message/4/").ends_with("{\"message\": 4}"));
            // The server keeps serving the connection: PING is answered.
            h2.stream.write_all(&frame(PING, 0, 0, b"stillup!")).unwrap();
            let mut answered = false;
            while let Some((kind, flags, _, payload)) = h2.read_frame() {
                if kind == PING && flags == ACK && payload == b"stillup!" {
                    answered = true;
                    break;
                }
                assert_ne!(kind, DATA, "no DATA without window");
            }
            assert!(answered);
            format!(
                "no DATA sent, responses held by backpressure (RSS {} MiB while stalled); PING answered",
                rss / 1024
            )
        },
    );
    server.attack(
        bystander,
        "stalled request bodies",
        "50 × POST HEADERS without END_STREAM, no DATA for 1.5 s, then each body",
        |server| {
            // The demo application waits in `receive` for each body: waiting must
            // cost the server nothing (it once spun, re-polling the waiting streams).
            let mut h2 = H2::connect(addr, &[]);
            let mut wire = Vec::new();
            for i in 0..50u32 {
                let mut block = request_block("/message/1/");
                block[0] = 0x83; // :method POST (static table)
                wire.extend(frame(HEADERS, END_HEADERS, 2 * i + 1, &block));
            }
            h2.stream.write_all(&wire).unwrap();
            let before = server.cpu_ms();
            std::thread::sleep(Duration::from_millis(1500));
            let spent = server.cpu_ms() - before;
            assert!(spent < 500, "the server used {spent} ms of CPU in 1.5 s waiting for request bodies");
            let bodies: Vec<u8> = (0..50u32).flat_map(|i| frame(DATA, END_STREAM, 2 * i + 1, b"x")).collect();
            h2.stream.write_all(&bodies).unwrap();
            let mut answered = std::collections::BTreeSet::new();
            while answered.len() < 50 {
                match h2.read_frame() {
                    Some((HEADERS, _, stream, _)) => answered.insert(stream),
                    Some((GOAWAY | RST_STREAM, ..)) | None => break,
                    Some(_) => continue,
                };
            }
            assert_eq!(answered.len(), 50, "every stream is answered once its body came");
            format!("server CPU {spent} ms while waiting; all 50 answered once the bodies came")
        },
    );
    server.attack(bystander, "1 M PRIORITY frames", "1 000 000 PRIORITY frames, then a request", |_| {
        let mut h2 = H2::connect(addr, &[]);
        let mut wire = Vec::with_capacity(14_000_000);
        for i in 0..1_000_000u32 {
            wire.extend(frame(PRIORITY, 0, 2 * (i % 1000) + 1001, &[0, 0, 0, 0, 16]));
        }
        wire.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &request_block("/message/1/")));
        let started = Instant::now();
        let writer = flood(&h2.stream, wire);
        assert!(h2.response_on(1), "the request after the flood is answered");
        writer.join().unwrap();
        format!("request after them answered in {} ms", started.elapsed().as_millis())
    });
}

fn wire_len(frames: usize, payload: usize) -> usize {
    frames * (9 + payload)
}

fn http1_attacks(server: &mut Server, bystander: &mut Bystander) {
    let addr = server.addr;
    // Memory grows with the connections held (each costs a task and its state:
    // under 10 KiB in this debug build, 5–7 KiB in a release one), and no further.
    server.attack_bounded(
        bystander,
        "slowloris",
        "10 000 connections, one header byte each every second",
        10_000 * 10,
        |server| {
            let mut idle: Vec<TcpStream> = Vec::with_capacity(10_000);
            for _ in 0..10_000 {
                match TcpStream::connect(addr) {
                    Ok(stream) => idle.push(stream),
                    Err(e) => panic!("connect {}: {e}", idle.len()),
                }
            }
            let request = b"GET / HTTP/1.1\r\nHost: slow\r\n";
            for (round, byte) in request.iter().take(2).enumerate() {
                for stream in &mut idle {
                    let _ = stream.write(&[*byte]);
                }
                let started = Instant::now();
                let out = get(server.addr, "/message/5/");
                assert!(out.ends_with("{\"message\": 5}"), "round {round}: {out}");
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "a normal client waited {:?}",
                    started.elapsed()
                );
                std::thread::sleep(Duration::from_secs(1));
            }
            // The header read timeout (3 s here) answers and closes them.
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut closed = 0;
            for stream in &mut idle {
                stream.set_nonblocking(true).unwrap();
            }
            while closed < 10_000 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(500));
                idle.retain_mut(|stream| {
                    let mut buf = [0u8; 512];
                    match stream.read(&mut buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
                        _ => {
                            closed += 1;
                            false
                        }
                    }
                });
            }
            assert!(closed >= 9_900, "{closed} of 10000 closed by the header read timeout");
            format!("others answered within 2 s; {closed} closed at the header read timeout (408 or close)")
        },
    );
    server.attack(bystander, "slow body", "Content-Length 1 MB, 10 bytes, then silence", |_| {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream
            .write_all(b"POST /message/1/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n0123456789")
            .unwrap();
        let started = Instant::now();
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
        format!("408 after {} ms of silence (body idle timeout 2 s)", started.elapsed().as_millis())
    });
    server.attack(bystander, "pipelining, never reading", "10 000 pipelined GET /bytes/100000", |server| {
        let stream = TcpStream::connect(addr).unwrap();
        let mut wire = Vec::new();
        for _ in 0..10_000 {
            wire.extend_from_slice(b"GET /bytes/100000 HTTP/1.1\r\nHost: x\r\n\r\n");
        }
        let writer = flood(&stream, wire);
        std::thread::sleep(Duration::from_millis(1500));
        assert!(get(server.addr, "/message/6/").ends_with("{\"message\": 6}"));
        let written = writer.join().unwrap();
        format!(
            "{} KiB of requests taken; responses wait for the reader (RSS flat); others served",
            written / 1024
        )
    });
    let cases: [(&str, Vec<u8>, &str); 7] = [
        ("request head over 16 KiB", format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000)).into_bytes(), "HTTP/1.1 431"),
        ("target over the head limit", format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(20_000)).into_bytes(), "HTTP/1.1 414"),
        ("101 header fields", format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", "X-A: 1\r\n".repeat(101)).into_bytes(), "HTTP/1.1 431"),
        ("smuggling: Content-Length and Transfer-Encoding", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("smuggling: two different Content-Length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcdGET /smuggled HTTP/1.1\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("smuggling: Transfer-Encoding not ending in chunked", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("chunk extension over 16 KiB", format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;{}\r\na\r\n0\r\n\r\n", "e".repeat(20_000)).into_bytes(), "HTTP/1.1 400"),
    ];
    for (name, request, want) in cases {
        server.attack(bystander, name, "one request", |_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = stream.write_all(&request);
            let mut out = Vec::new();
            let _ = stream.read_to_end(&mut out);
            let out = String::from_utf8_lossy(&out);
            assert!(out.starts_with(want), "{name}: {out}");
            assert!(
                !out.contains("smuggled") && out.matches("HTTP/1.1 ").count() == 1,
                "{name}: one answer, then close: {out}"
            );
            format!("{} and close", &want[9..])
        });
    }
}

fn tls_attacks(server: &mut Server, bystander: &mut Bystander) {
    let tls = server.tls_addr.unwrap();
    server.attack(bystander, "TLS: silent TCP connections", "100 connections that send nothing", |_| {
        let started = Instant::now();
        let mut silent: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(tls).unwrap()).collect();
        for stream in &mut silent {
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 16];
            assert!(matches!(stream.read(&mut buf), Ok(0)), "closed by the handshake timeout");
        }
        format!("all closed after {} ms (handshake timeout 1 s)", started.elapsed().as_millis())
    });
    server.attack(bystander, "TLS: ALPN mismatch", "a ClientHello offering only ALPN \"spdy/3\"", |_| {
        let alert = client_hello_alert(tls, 0x0303, Some(b"spdy/3"));
        assert_eq!(alert, Some(120), "no_application_protocol");
        "alert 120 (no_application_protocol)".to_owned()
    });
    server.attack(bystander, "TLS: version 1.1", "a ClientHello with TLS 1.1 at most", |_| {
        let alert = client_hello_alert(tls, 0x0302, None);
        assert_eq!(alert, Some(70), "protocol_version");
        "alert 70 (protocol_version)".to_owned()
    });
}

/// Sends a minimal ClientHello (`version` as the highest offered; TLS 1.3 adds
/// supported_versions and a key share) and returns the alert the server sends.
fn client_hello_alert(addr: SocketAddr, version: u16, alpn: Option<&[u8]>) -> Option<u8> {
    let mut extensions = Vec::new();
    let mut push_ext = |kind: u16, body: &[u8]| {
        extensions.extend_from_slice(&kind.to_be_bytes());
        extensions.extend_from_slice(&(body.len() as u16).to_be_bytes());
        extensions.extend_from_slice(body);
    };
    // supported_groups: x25519, secp256r1; ec_point_formats; signature_algorithms.
    push_ext(0x000a, &[0, 4, 0, 0x1d, 0, 0x17]);
    push_ext(0x000b, &[1, 0]);
    push_ext(0x000d, &[0, 8, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x08, 0x07]);
    if let Some(protocol) = alpn {
        let mut body = ((protocol.len() + 1) as u16).to_be_bytes().to_vec();
        body.push(protocol.len() as u8);
        body.extend_from_slice(protocol);
        push_ext(0x0010, &body);
    }
    let mut hello = version.to_be_bytes().to_vec();
    hello.extend_from_slice(&[7u8; 32]); // random
    hello.push(0); // no session id
    // Cipher suites: ECDHE-ECDSA/RSA-AES128-GCM-SHA256 (TLS 1.2).
    hello.extend_from_slice(&[0, 4, 0xc0, 0x2b, 0xc0, 0x2f]);
    hello.extend_from_slice(&[1, 0]); // null compression
    hello.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    hello.extend_from_slice(&extensions);
    let mut message = vec![1u8];
    message.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    message.extend_from_slice(&hello);
    let mut record = vec![22, 3, 1];
    record.extend_from_slice(&(message.len() as u16).to_be_bytes());
    record.extend_from_slice(&message);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(&record).unwrap();
    // Skip records until an alert (type 21): [21, major, minor, len, len, level, description].
    loop {
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).ok()?;
        let mut body = vec![0; usize::from(u16::from_be_bytes([head[3], head[4]]))];
        stream.read_exact(&mut body).ok()?;
        if head[0] == 21 {
            return body.get(1).copied();
        }
    }
}

fn websocket_attacks(server: &mut Server, bystander: &mut Bystander) {
    let addr = server.addr;
    let open = || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream
            .write_all(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
        stream
    };
    /// The close code of the first Close frame the server sends.
    fn close_code(stream: &mut TcpStream) -> Option<u16> {
        loop {
            let mut head = [0u8; 2];
            stream.read_exact(&mut head).ok()?;
            let mut len = u64::from(head[1] & 0x7f);
            if len == 126 {
                let mut ext = [0u8; 2];
                stream.read_exact(&mut ext).ok()?;
                len = u64::from(u16::from_be_bytes(ext));
            } else if len == 127 {
                let mut ext = [0u8; 8];
                stream.read_exact(&mut ext).ok()?;
                len = u64::from_be_bytes(ext);
            }
            let mut payload = vec![0; len as usize];
            stream.read_exact(&mut payload).ok()?;
            if head[0] & 0x0f == 0x8 {
                return payload.get(..2).map(|code| u16::from_be_bytes([code[0], code[1]]));
            }
        }
    }
    server.attack(
        bystander,
        "WebSocket: oversize message",
        "a 17 MiB binary frame header (limit 16 MiB)",
        |_| {
            let mut ws = open();
            let mut frame = vec![0x82, 0x80 | 127];
            frame.extend_from_slice(&(17u64 << 20).to_be_bytes());
            frame.extend_from_slice(&[1, 2, 3, 4]);
            ws.write_all(&frame).unwrap();
            let code = close_code(&mut ws);
            assert_eq!(code, Some(1009));
            "close 1009 before reading the payload".to_owned()
        },
    );
    server.attack(bystander, "WebSocket: unmasked frame", "a client text frame without a mask", |_| {
        let mut ws = open();
        ws.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
        let code = close_code(&mut ws);
        assert_eq!(code, Some(1002));
        "close 1002".to_owned()
    });
    server.attack(
        bystander,
        "WebSocket: client never reads",
        "5000 × 64 KiB messages to the echo, reading nothing",
        |server| {
            let ws = open();
            let mut wire = Vec::new();
            let mut message = vec![0x82, 0x80 | 127];
            message.extend_from_slice(&(64u64 * 1024).to_be_bytes());
            message.extend_from_slice(&[0, 0, 0, 0]);
            message.extend(std::iter::repeat_n(b'z', 64 * 1024));
            for _ in 0..5000 {
                wire.extend_from_slice(&message);
            }
            let writer = flood(&ws, wire);
            std::thread::sleep(Duration::from_millis(1500));
            assert!(get(server.addr, "/message/8/").ends_with("{\"message\": 8}"));
            let written = writer.join().unwrap();
            assert!(written < 5000 * message.len(), "the echo stopped reading");
            format!("echo stopped reading after {} MiB; others served", written >> 20)
        },
    );
}

#[test]
fn attack_matrix_on_every_runtime() {
    for class in RUNTIMES {
        let mut server = Server::start(class, &["--self-signed", "--bind", "127.0.0.1:0"]);
        let mut bystander = Bystander::open(server.addr);
        bystander.check(class);
        http2_attacks(&mut server, &mut bystander);
        http1_attacks(&mut server, &mut bystander);
        tls_attacks(&mut server, &mut bystander);
        websocket_attacks(&mut server, &mut bystander);
        server.finish();
    }
}
