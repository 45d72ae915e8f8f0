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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cost_no_cpu_on_every_runtime() {
    RUNTIME.scope(Rt::Tokio, closing_after_a_bad_body_waits_for_the_client()).await;
    #[cfg(feature = "smol")]
    RUNTIME.scope(Rt::Smol, closing_after_a_bad_body_waits_for_the_client()).await;
    #[cfg(feature = "async-std")]
    RUNTIME.scope(Rt::AsyncStd, closing_after_a_bad_body_waits_for_the_client()).await;
}
