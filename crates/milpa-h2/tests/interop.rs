//! Interoperability with independent HTTP/2 clients (curl, nghttp, h2load from nghttp2)
//! over real TCP, h2c with prior knowledge. The server is the state machine behind a small
//! blocking driver written with `std::net` only — also an example of embedding the crate.
//!
//! A missing client fails the test with a note: `scripts/test.sh` installs them.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use milpa_h2::frame::StreamId;
use milpa_h2::{Config, Connection, Event, SendError};

/// Bytes of the body served for `/big`.
const BIG: usize = 5 * 1024 * 1024;

/// The application: `/big` is 5 MiB, a POST is answered with its body length, anything
/// else with `hello <path>`.
#[derive(Default)]
struct App {
    uploads: HashMap<StreamId, usize>,
    /// Streams with body left to send, and how much.
    pending: HashMap<StreamId, usize>,
}

impl App {
    fn on_event(&mut self, conn: &mut Connection, event: Event) {
        match event {
            Event::Request { stream, request, end_stream } => {
                if request.method() == http::Method::POST && !end_stream {
                    self.uploads.insert(stream, 0);
                } else if request.path() == Some(b"/push") {
                    let promised = [
                        (":method", "GET"),
                        (":scheme", "http"),
                        (
                            ":authority",
                            std::str::from_utf8(request.authority().unwrap_or_default()).unwrap_or(""),
                        ),
                        (":path", "/pushed.css"),
                    ];
                    let pushed = conn.push_promise(stream, promised).expect("push");
                    conn.send_response(stream, StatusCode::OK, [("content-type", "text/html")], false)
                        .expect("response");
                    conn.send_data(
                        stream,
                        Bytes::from_static(b"<link rel=stylesheet href=/pushed.css>"),
                        true,
                    )
                    .expect("body");
                    conn.send_response(pushed, StatusCode::OK, [("content-type", "text/css")], false)
                        .expect("push");
                    conn.send_data(pushed, Bytes::from_static(b"body { color: green }"), true).expect("push");
                } else if request.path() == Some(b"/big") {
                    conn.send_response(stream, StatusCode::OK, [("content-length", BIG.to_string())], false)
                        .expect("response");
                    self.pending.insert(stream, BIG);
                    self.push_body(conn, stream);
                } else {
                    let body =
                        format!("hello {}", String::from_utf8_lossy(request.path().unwrap_or_default()));
                    let length = body.len().to_string();
                    conn.send_response(stream, StatusCode::OK, [("content-length", length.as_str())], false)
                        .expect("response");
                    conn.send_data(stream, Bytes::from(body), true).expect("body");
                }
            }
            Event::Data { stream, data, end_stream } => {
                conn.release_capacity(stream, data.len()).expect("release");
                let total = self.uploads.entry(stream).or_default();
                *total += data.len();
                if end_stream {
                    let body = format!("received {total}");
                    conn.send_response(stream, StatusCode::OK, [("x-upload", "1")], false).expect("response");
                    conn.send_data(stream, Bytes::from(body), true).expect("body");
                }
            }
            Event::Writable { stream } => self.push_body(conn, stream),
            _ => {}
        }
    }

    /// Queues `/big` in 64 KiB pieces until the send buffer pushes back.
    fn push_body(&mut self, conn: &mut Connection, stream: StreamId) {
        let Some(left) = self.pending.get_mut(&stream) else { return };
        while *left > 0 {
            let n = (*left).min(64 * 1024);
            let end = n == *left;
            match conn.send_data(stream, Bytes::from(vec![b'x'; n]), end) {
                Ok(()) => *left -= n,
                Err(SendError::BufferFull(_)) => return,
                Err(_) => break,
            }
        }
        self.pending.remove(&stream);
    }
}

/// Drives one connection until it is finished or the client goes away.
fn drive(mut socket: TcpStream) {
    socket.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
    socket.set_nodelay(true).expect("nodelay");
    let mut conn = Connection::new(Config::default(), Instant::now());
    let mut app = App::default();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let now = Instant::now();
        loop {
            let mut progress = false;
            while let Some(event) = conn.poll_event() {
                app.on_event(&mut conn, event);
                progress = true;
            }
            while let Some(bytes) = conn.poll_transmit(now) {
                if socket.write_all(&bytes).is_err() {
                    return;
                }
                progress = true;
            }
            if !progress {
                break;
            }
        }
        if conn.is_finished() {
            return;
        }
        if conn.poll_timeout().is_some_and(|at| at <= now) {
            conn.handle_timeout(now);
            continue;
        }
        if !conn.wants_read() {
            continue;
        }
        match socket.read(&mut buf) {
            Ok(0) => conn.receive_eof(),
            Ok(n) => conn.receive(Instant::now(), &buf[..n]),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => conn.receive_eof(),
        }
    }
}

/// Serves connections on an ephemeral port; returns the port.
fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            thread::spawn(move || drive(socket));
        }
    });
    port
}

/// Runs a client with a time limit. A missing client is a failure, not a skip.
fn run(program: &str, args: &[&str]) -> Option<std::process::Output> {
    assert!(
        Command::new(program).arg("--version").output().is_ok(),
        "{program} is not installed: run the tests with scripts/test.sh, which installs it"
    );
    let output = Command::new("timeout").arg("60").arg(program).args(args).output().expect("run client");
    Some(output)
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn curl_prior_knowledge_get() {
    let port = serve();
    let url = format!("http://127.0.0.1:{port}/hello?x=1");
    let Some(output) = run("curl", &["-sS", "--http2-prior-knowledge", &url]) else { return };
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "hello /hello?x=1");
}

#[test]
fn curl_upload_is_flow_controlled() {
    let port = serve();
    let url = format!("http://127.0.0.1:{port}/upload");
    let body = std::env::temp_dir().join(format!("milpa-h2-upload-{port}"));
    std::fs::write(&body, vec![b'u'; 3 * 1024 * 1024 + 7]).expect("write upload");
    let data = format!("@{}", body.display());
    let Some(output) = run("curl", &["-sS", "--http2-prior-knowledge", "--data-binary", &data, &url]) else {
        return;
    };
    let _ = std::fs::remove_file(&body);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), format!("received {}", 3 * 1024 * 1024 + 7));
}

#[test]
fn nghttp_downloads_a_large_body_and_concurrent_streams() {
    let port = serve();
    let big = format!("http://127.0.0.1:{port}/big");
    let one = format!("http://127.0.0.1:{port}/small/1");
    let two = format!("http://127.0.0.1:{port}/small/2");
    let Some(output) = run("nghttp", &["-n", "-s", &big, &one, &two]) else { return };
    assert!(output.status.success(), "{output:?}");
    // Without -n the bodies would be printed; with -s, a summary line per stream.
    let summary = stdout(&output);
    assert_eq!(summary.matches("/small").count(), 2, "{summary}");
    assert!(summary.contains("/big"), "{summary}");

    let Some(output) = run("nghttp", &[&big]) else { return };
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout.len(), BIG);
}

#[test]
fn h2load_many_streams_all_succeed() {
    let port = serve();
    let url = format!("http://127.0.0.1:{port}/load");
    let Some(output) = run("h2load", &["-n", "2000", "-c", "4", "-m", "20", &url]) else { return };
    let report = stdout(&output);
    assert!(report.contains("2000 succeeded, 0 failed, 0 errored"), "{report}");
}

#[test]
fn nghttp_accepts_a_pushed_response() {
    let port = serve();
    let url = format!("http://127.0.0.1:{port}/push");
    let Some(output) = run("nghttp", &["-n", "-s", &url]) else { return };
    assert!(output.status.success(), "{output:?}");
    let summary = stdout(&output);
    let pushed = summary.lines().find(|line| line.contains("/pushed.css")).unwrap_or_default();
    assert!(pushed.contains('*'), "pushed stream marked with '*': {summary}");
}
