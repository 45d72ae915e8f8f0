//! milpa-h1 on its own: a blocking `std::net` HTTP/1.1 server, one thread per
//! connection, no async runtime — the sans-IO state machine does the protocol
//! (keep-alive, pipelining, chunked bodies, limits, timeouts), this file the IO.
//!
//! `cargo run -p milpa-examples --example blocking_h1`, then
//! `curl -d hello http://127.0.0.1:8001/anything`.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use milpa_h1::{Config, Connection, Event};

fn main() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:8001")?;
    println!("listening on http://127.0.0.1:8001");
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || {
            if let Err(error) = serve(stream) {
                eprintln!("connection ended: {error}");
            }
        });
    }
    Ok(())
}

fn serve(mut stream: TcpStream) -> io::Result<()> {
    let mut conn = Connection::new(Config::default(), Instant::now());
    let mut buf = vec![0u8; 16 * 1024];
    // The request being read: its path and the body so far.
    let mut current: Option<(String, Vec<u8>)> = None;
    loop {
        // Answer every request the bytes read so far completed.
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Request(request) => {
                    let path = String::from_utf8_lossy(request.path()).into_owned();
                    current = Some((path, Vec::new()));
                    // Say `100 Continue` if the client waits for it: we read every body.
                    conn.want_body();
                }
                Event::Data(data) => {
                    if let Some((_, body)) = &mut current {
                        body.extend_from_slice(&data);
                    }
                }
                Event::EndOfMessage { .. } => {
                    if let Some((path, body)) = current.take() {
                        respond(&mut conn, &path, &body);
                    }
                }
                // Malformed input: the machine queued the right error response.
                Event::Error(error) => eprintln!("bad request: {error}"),
                _ => {}
            }
        }
        let now = Instant::now();
        while let Some(bytes) = conn.poll_transmit(now) {
            stream.write_all(&bytes)?;
        }
        if conn.is_finished() {
            return Ok(());
        }
        // Read with the machine's next deadline as the socket timeout.
        let wait = conn.poll_timeout().map(|deadline| deadline.saturating_duration_since(now));
        stream
            .set_read_timeout(Some(wait.unwrap_or(Duration::from_secs(60)).max(Duration::from_millis(1))))?;
        match stream.read(&mut buf) {
            Ok(0) => conn.receive_eof(),
            Ok(n) => conn.receive(Instant::now(), &buf[..n]),
            Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                conn.handle_timeout(Instant::now());
            }
            Err(error) => return Err(error),
        }
    }
}

fn respond(conn: &mut Connection, path: &str, body: &[u8]) {
    let text = format!("{path}: {} bytes received\n", body.len());
    let fields = [("content-type", "text/plain"), ("server", "blocking-milpa-h1")];
    let sent = conn
        .send_response(StatusCode::OK, fields, Some(text.len() as u64))
        .and_then(|()| conn.send_data(Bytes::from(text)))
        .and_then(|()| conn.send_end(None::<(&str, &str)>));
    if let Err(error) = sent {
        eprintln!("response refused: {error}");
    }
}
