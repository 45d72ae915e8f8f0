//! `ws-load ws://HOST:PORT/PATH CONNECTIONS MESSAGES`: opens CONNECTIONS WebSockets to an echo
//! endpoint at once, sends MESSAGES text messages on each (one at a time, each
//! waiting for its echo), and reports round trips, failures and the time taken.
//! Exits 1 if any connection failed or any echo differed.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

async fn session(url: String, id: usize, messages: usize) -> Result<usize, String> {
    let authority = url.strip_prefix("ws://").and_then(|rest| rest.split('/').next()).unwrap_or_default();
    let tcp = tokio::net::TcpStream::connect(authority).await.map_err(|e| format!("connect: {e}"))?;
    let (mut ws, _) =
        tokio_tungstenite::client_async(url.as_str(), tcp).await.map_err(|e| format!("handshake: {e}"))?;
    for n in 0..messages {
        let text = format!("connection {id} message {n}");
        ws.send(Message::text(text.clone())).await.map_err(|e| format!("send: {e}"))?;
        loop {
            match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
                Ok(Some(Ok(Message::Text(echo)))) if echo.as_str() == text => break,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                other => return Err(format!("bad echo: {other:?}")),
            }
        }
    }
    ws.close(None).await.map_err(|e| format!("close: {e}"))?;
    Ok(messages)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, connections, messages] = &args[..] else {
        eprintln!("usage: ws-load URL CONNECTIONS MESSAGES");
        std::process::exit(2);
    };
    let (Ok(connections), Ok(messages)) = (connections.parse::<usize>(), messages.parse::<usize>()) else {
        eprintln!("CONNECTIONS and MESSAGES are numbers");
        std::process::exit(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ws-load: {error}");
            std::process::exit(1);
        }
    };
    let started = Instant::now();
    let results = runtime.block_on(async {
        let tasks: Vec<_> =
            (0..connections).map(|id| tokio::spawn(session(url.clone(), id, messages))).collect();
        let mut results = Vec::with_capacity(connections);
        for task in tasks {
            results.push(task.await.unwrap_or_else(|e| Err(e.to_string())));
        }
        results
    });
    let elapsed = started.elapsed();
    let round_trips: usize = results.iter().filter_map(|r| r.as_ref().ok()).sum();
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    println!(
        "connections: {connections}, round trips: {round_trips}, failed connections: {}, {:.1} s, {:.0} round trips/s",
        failures.len(),
        elapsed.as_secs_f64(),
        round_trips as f64 / elapsed.as_secs_f64()
    );
    if let Some(first) = failures.first() {
        eprintln!("first failure: {first}");
        std::process::exit(1);
    }
}
