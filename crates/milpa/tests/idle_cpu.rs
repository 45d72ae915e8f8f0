//! A connection with nothing to do must cost no CPU, whatever state it waits in.
//! These checks read the CPU time of this whole test process, so this file holds
//! one test that runs its cases one after another, on every runtime in turn.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use milpa::{AppError, Receiver, Scope, SendEvent, Sender};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// CPU time (user and system) this process has used, in milliseconds.
fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // `pid (comm) state …`: utime and stime are the 12th and 13th fields after
    // `comm`, in ticks of 1/100 s (Linux's USER_HZ).
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    (fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()) * 10
}

/// Answers at once, without reading the request body, with a long streamed body.
async fn early_stream(scope: Scope, _receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    if let Scope::Http(_) = scope {
        send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers: vec![], trailers: false })
            .await?;
        let piece = Bytes::from(vec![b'e'; 64 * 1024]);
        for _ in 0..1000 {
            send.body(piece.clone(), true).await?;
        }
        send.body(Bytes::new(), false).await?;
    }
    Ok(())
}

/// A request body turns out malformed while the response streams out: the
/// connection closes once what it queued is written. A Unix socket's small buffers
/// make that take many partial writes, each waiting for the client to read; in
/// between, the connection must sleep (it once spun, for up to the send timeout,
/// on the events the application had queued before the error).
async fn closing_after_a_bad_body_waits_for_the_client() {
    let path = std::env::temp_dir().join(format!("milpa-idle-{}-{}.sock", std::process::id(), unique()));
    let mut config = test_config();
    config.bind.push(format!("unix:{}", path.display()));
    let server = TestServer::start_with(config, early_stream).await;
    let mut stream = UnixStream::connect(&path).await.unwrap();
    stream.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(b"ZZZZ\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut total = 0;
    let mut buf = vec![0; 16 * 1024];
    'reading: for _ in 0..40 {
        let mut got = 0;
        while got < 32_000 {
            match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
                Ok(Ok(0)) => break 'reading,
                Ok(Ok(n)) => got += n,
                Ok(Err(error)) => panic!("read failed: {error}"),
                Err(_) => break,
            }
        }
        total += got;
        let before = cpu_ms();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let spent = cpu_ms() - before;
        assert!(
            spent < 200,
            "{spent} ms of CPU in 400 ms waiting for the client, after it read {total} bytes"
        );
    }
    assert!(total > 0, "the response started");
    drop(stream);
    server.stop().await.unwrap();
    let _ = std::fs::remove_file(&path);
}

/// A file response with trailers, to a client whose window stops it: the
/// trailers wait in the queue behind the file, and the connection must sleep
/// until the window opens (it once went round, unable to park while they waited).
async fn a_file_and_its_trailers_wait_for_the_window() {
    let dir = std::env::temp_dir().join(format!("milpa-idle-file-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.bin");
    std::fs::write(&path, vec![b'f'; 1_000_000]).unwrap();
    let file = path.clone();
    let app = move |scope: Scope, _receive: Receiver, mut send: Sender| {
        let file = file.clone();
        async move {
            if let Scope::Http(_) = scope {
                send.send(SendEvent::ResponseStart {
                    status: StatusCode::OK,
                    headers: vec![],
                    trailers: true,
                })
                .await?;
                send.send(SendEvent::ResponseFile { path: file, range: None }).await?;
                let trailers = vec![(Bytes::from_static(b"x-done"), Bytes::from_static(b"1"))];
                send.send(SendEvent::ResponseTrailers { headers: trailers, more_trailers: false }).await?;
            }
            Ok::<(), AppError>(())
        }
    };
    let server = TestServer::start(app).await;
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (client, connection) =
        h2::client::Builder::new().initial_window_size(65_535).handshake::<_, Bytes>(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::get(server.url("/")).header("te", "trailers").body(()).unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    // Headers and the first 64 KiB arrive; the client never gives the window back.
    let response = response.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = cpu_ms();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let spent = cpu_ms() - before;
    assert!(spent < 200, "{spent} ms of CPU in 400 ms waiting for the client's window");
    drop(response);
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

async fn every_case() {
    closing_after_a_bad_body_waits_for_the_client().await;
    a_file_and_its_trailers_wait_for_the_window().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cost_no_cpu_on_every_runtime() {
    RUNTIME.scope(Rt::Tokio, every_case()).await;
    #[cfg(feature = "smol")]
    RUNTIME.scope(Rt::Smol, every_case()).await;
    #[cfg(feature = "async-std")]
    RUNTIME.scope(Rt::AsyncStd, every_case()).await;
}
