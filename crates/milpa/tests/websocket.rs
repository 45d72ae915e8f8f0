//! WebSockets end to end: `tokio-tungstenite` over HTTP/1.1 (plain and TLS), the
//! `h2` crate's extended CONNECT (RFC 8441) with tungstenite's framing on top,
//! raw handshakes for the refusals.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, StatusCode};
use milpa::{AppError, Message, ReceiveEvent, Receiver, Scope, SendEvent, Sender, WebSocket};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{WebSocketStream, client_async};

/// The WebSocket routes under test; HTTP requests go to the shared `test_app`.
async fn ws_app(scope: Scope, receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    let Scope::WebSocket(ws) = scope else { return test_app(scope, receive, send).await };
    match ws.path.as_str() {
        "/echo" => {
            let mut socket = WebSocket::accept(receive, send, None).await?;
            while let Some(message) = socket.recv().await {
                if message == Message::Text("close-me".into()) {
                    socket.close(4001, "asked to").await?;
                    return Ok(());
                }
                if message == Message::Text("fail".into()) {
                    return Err("the application failed on purpose".into());
                }
                socket.send(message).await?;
            }
            Ok(())
        }
        "/protocol" => {
            let chosen = ws.subprotocols.last().cloned();
            let mut socket = WebSocket::accept(receive, send, chosen).await?;
            let version = format!("{:?} {}", ws.http_version, ws.scheme);
            socket.send(version).await?;
            while socket.recv().await.is_some() {}
            Ok(())
        }
        "/early-send" => {
            // A message before the handshake is answered is refused, and nothing is sent.
            let mut receive = receive;
            let _ = receive.receive().await;
            let early = send.send(SendEvent::WebSocketSend(Message::Text("too soon".into()))).await;
            send.send(SendEvent::WebSocketAccept { subprotocol: None, headers: vec![] }).await?;
            let verdict = match early {
                Err(milpa::SendError::Unexpected(why)) => format!("refused: {why}"),
                other => format!("unexpected: {other:?}"),
            };
            send.send(SendEvent::WebSocketSend(Message::Text(verdict))).await?;
            while receive.receive().await.is_some() {}
            Ok(())
        }
        "/say-and-go" => {
            // Accepts, sends, and returns at once: all in the application's first poll.
            let mut receive = receive;
            let _ = receive.receive().await;
            send.send(SendEvent::WebSocketAccept { subprotocol: None, headers: vec![] }).await?;
            send.send(SendEvent::WebSocketSend(Message::Text("hi".into()))).await?;
            Ok(())
        }
        "/big-then-close" => {
            // On the client's word, more than the session's output budget, then its own
            // close, then return: all in one poll of the application.
            let mut socket = WebSocket::accept(receive, send, None).await?;
            let _ = socket.recv().await;
            socket.send(Message::Binary(Bytes::from(vec![7u8; 300_000]))).await?;
            socket.send(Message::Text("done".into())).await?;
            socket.close(4000, "bye").await?;
            Ok(())
        }
        "/long-reason" => {
            let socket = WebSocket::accept(receive, send, None).await?;
            socket.close(4002, &"é".repeat(100)).await?;
            Ok(())
        }
        "/unoffered-protocol" => {
            let _socket = WebSocket::accept(receive, send, Some("not-offered".into())).await?;
            Ok(())
        }
        "/deny-with-200" => {
            // A denial response with a success status: over HTTP/2 that would read as accepted.
            let headers = vec![(Bytes::from_static(b"content-type"), Bytes::from_static(b"text/plain"))];
            send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers, trailers: false }).await?;
            send.send(SendEvent::ResponseBody {
                body: Bytes::from_static(b"not a socket"),
                more_body: false,
            })
            .await?;
            Ok(())
        }
        "/deny" => {
            let headers = vec![(Bytes::from_static(b"content-type"), Bytes::from_static(b"text/plain"))];
            send.send(SendEvent::ResponseStart {
                status: StatusCode::UNAUTHORIZED,
                headers,
                trailers: false,
            })
            .await?;
            send.send(SendEvent::ResponseBody { body: Bytes::from_static(b"no entry"), more_body: false })
                .await?;
            Ok(())
        }
        "/disconnect-code" => {
            // Records the code and reason of the client's close, as the disconnect event gives them.
            let mut receive = receive;
            let _ = receive.receive().await;
            send.send(SendEvent::WebSocketAccept { subprotocol: None, headers: vec![] }).await?;
            loop {
                match receive.receive().await {
                    Some(ReceiveEvent::WebSocketDisconnect { code, reason }) => {
                        DISCONNECTS.lock().unwrap().push((code, reason));
                        return Ok(());
                    }
                    Some(_) => {}
                    None => return Ok(()),
                }
            }
        }
        _ => {
            send.send(SendEvent::WebSocketClose { code: 1000, reason: String::new() }).await?;
            Ok(())
        }
    }
}

static DISCONNECTS: std::sync::Mutex<Vec<(u16, String)>> = std::sync::Mutex::new(Vec::new());

async fn connect(server: &TestServer, path: &str) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (socket, response) = client_async(format!("ws://{}{path}", server.addr), tcp).await.unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    socket
}

async fn next<S>(socket: &mut WebSocketStream<S>) -> WsMessage
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap()
}

fn close_code(message: &WsMessage) -> Option<u16> {
    match message {
        WsMessage::Close(Some(frame)) => Some(frame.code.into()),
        _ => None,
    }
}

/// A raw handshake with the given extra header lines; returns the response head.
async fn raw_handshake(server: &TestServer, lines: &str) -> String {
    let request = format!(
        "GET /echo HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{lines}\r\n"
    );
    raw(server.addr, request.as_bytes(), Duration::from_secs(2)).await
}

on_every_runtime! {
    async fn tungstenite_echoes_text_and_binary_over_http1() {
        let server = TestServer::start(ws_app).await;
        let mut socket = connect(&server, "/echo").await;
        socket.send(WsMessage::text("héllo")).await.unwrap();
        assert_eq!(next(&mut socket).await, WsMessage::text("héllo"));
        let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        socket.send(WsMessage::binary(big.clone())).await.unwrap();
        assert_eq!(next(&mut socket).await, WsMessage::binary(big));
        socket.send(WsMessage::Ping(Bytes::from_static(b"p"))).await.unwrap();
        assert_eq!(next(&mut socket).await, WsMessage::Pong(Bytes::from_static(b"p")));
        socket.close(None).await.unwrap();
        server.stop().await.unwrap();
    }

    async fn the_application_closes_with_its_code() {
        let server = TestServer::start(ws_app).await;
        let mut socket = connect(&server, "/echo").await;
        socket.send(WsMessage::text("close-me")).await.unwrap();
        let close = next(&mut socket).await;
        assert_eq!(close_code(&close), Some(4001));
        server.stop().await.unwrap();
    }

    async fn an_application_error_closes_with_1011() {
        let server = TestServer::start(ws_app).await;
        let mut socket = connect(&server, "/echo").await;
        socket.send(WsMessage::text("fail")).await.unwrap();
        assert_eq!(close_code(&next(&mut socket).await), Some(1011));
        // The server carries on.
        let mut other = connect(&server, "/echo").await;
        other.send(WsMessage::text("still here")).await.unwrap();
        assert_eq!(next(&mut other).await, WsMessage::text("still here"));
        server.stop().await.unwrap();
    }

    async fn the_client_close_code_reaches_the_application() {
        let server = TestServer::start(ws_app).await;
        let mut socket = connect(&server, "/disconnect-code").await;
        // A reason of its own, as the three runtimes' runs of this test share the list.
        let reason = format!("done {:?}", std::time::SystemTime::now());
        let frame = CloseFrame { code: CloseCode::Library(4321), reason: reason.clone().into() };
        socket.close(Some(frame)).await.unwrap();
        // The server answers the close and ends the connection.
        while let Some(Ok(_)) = socket.next().await {}
        tokio::time::timeout(Duration::from_secs(5), async {
            while !DISCONNECTS.lock().unwrap().contains(&(4321, reason.clone())) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        server.stop().await.unwrap();
    }

    async fn subprotocol_is_chosen_by_the_application() {
        let server = TestServer::start(ws_app).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let mut request = format!("ws://{}/protocol", server.addr).into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "chat, superchat".parse().unwrap());
        let (mut socket, response) = client_async(request, tcp).await.unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "superchat");
        assert_eq!(next(&mut socket).await, WsMessage::text("HTTP/1.1 ws"));
        server.stop().await.unwrap();
    }

    async fn an_application_that_returns_right_after_accepting_closes_with_1000() {
        let server = TestServer::start(ws_app).await;
        let mut socket = connect(&server, "/say-and-go").await;
        assert_eq!(next(&mut socket).await, WsMessage::text("hi"));
        assert_eq!(close_code(&next(&mut socket).await), Some(1000));
        server.stop().await.unwrap();
    }

    async fn messages_sent_before_returning_all_go_out_before_the_close() {
        let server = TestServer::start(ws_app).await;
        let mut socket = connect(&server, "/big-then-close").await;
        socket.send(WsMessage::text("go")).await.unwrap();
        assert_eq!(next(&mut socket).await, WsMessage::binary(vec![7u8; 300_000]));
        assert_eq!(next(&mut socket).await, WsMessage::text("done"));
        match next(&mut socket).await {
            WsMessage::Close(Some(frame)) => assert_eq!((u16::from(frame.code), frame.reason.as_str()), (4000, "bye")),
            other => panic!("expected the application's close, got {other:?}"),
        }
        server.stop().await.unwrap();
    }

    async fn a_close_reason_over_123_bytes_is_cut_at_a_character() {
        let server = TestServer::start(ws_app).await;
        let mut socket = connect(&server, "/long-reason").await;
        match next(&mut socket).await {
            WsMessage::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 4002);
                assert_eq!(frame.reason.as_str(), "é".repeat(61));
            }
            other => panic!("expected the application's close, got {other:?}"),
        }
        server.stop().await.unwrap();
    }

    async fn a_subprotocol_the_client_did_not_offer_is_not_sent() {
        let server = TestServer::start(ws_app).await;
        let request = "GET /unoffered-protocol HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let out = raw(server.addr, request.as_bytes(), Duration::from_secs(2)).await;
        assert!(out.starts_with("HTTP/1.1 101 "), "{out}");
        assert!(!out.to_ascii_lowercase().contains("sec-websocket-protocol"), "{out}");
        server.stop().await.unwrap();
    }

    async fn messages_before_accept_are_refused() {
        let server = TestServer::start(ws_app).await;
        let mut socket = connect(&server, "/early-send").await;
        assert_eq!(next(&mut socket).await, WsMessage::text("refused: the websocket has not been accepted"));
        socket.close(None).await.unwrap();
        server.stop().await.unwrap();
    }

    async fn denial_response_and_refusal_are_plain_http() {
        let server = TestServer::start(ws_app).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        match client_async(format!("ws://{}/deny", server.addr), tcp).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
                assert_eq!(response.body().as_deref(), Some(&b"no entry"[..]));
            }
            other => panic!("expected a denial, got {other:?}"),
        }
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        match client_async(format!("ws://{}/nowhere", server.addr), tcp).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), StatusCode::FORBIDDEN),
            other => panic!("expected a 403, got {other:?}"),
        }
        server.stop().await.unwrap();
    }

    async fn invalid_handshakes_get_400_or_426() {
        let server = TestServer::start(ws_app).await;
        let no_key = raw_handshake(&server, "Sec-WebSocket-Version: 13\r\n").await;
        assert!(no_key.starts_with("HTTP/1.1 400"), "{no_key}");
        let short_key =
            raw_handshake(&server, "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n").await;
        assert!(short_key.starts_with("HTTP/1.1 400"), "{short_key}");
        let old = raw_handshake(&server, "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n").await;
        assert!(old.starts_with("HTTP/1.1 426"), "{old}");
        assert!(old.to_ascii_lowercase().contains("sec-websocket-version: 13"), "{old}");
        server.stop().await.unwrap();
    }

    async fn oversized_message_is_closed_with_1009_and_others_carry_on() {
        let mut config = test_config();
        config.websocket_max_message_size = 64 * 1024;
        let server = TestServer::start_with(config, ws_app).await;
        let mut socket = connect(&server, "/echo").await;
        let mut bystander = connect(&server, "/echo").await;
        socket.send(WsMessage::binary(vec![7u8; 100 * 1024])).await.unwrap();
        assert_eq!(close_code(&next(&mut socket).await), Some(1009));
        bystander.send(WsMessage::text("fine")).await.unwrap();
        assert_eq!(next(&mut bystander).await, WsMessage::text("fine"));
        server.stop().await.unwrap();
    }

    async fn unmasked_client_frames_are_a_protocol_error() {
        let server = TestServer::start(ws_app).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let handshake = "GET /echo HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        stream.write_all(handshake.as_bytes()).await.unwrap();
        // An unmasked text frame "hi".
        stream.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
        let mut reply = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(8), stream.read_to_end(&mut reply)).await;
        assert!(read.is_ok(), "the server closes the connection after its Close");
        let text = String::from_utf8_lossy(&reply).into_owned();
        assert!(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{text}");
        // The close frame: 0x88, length, code 1002 (0x03 0xEA).
        let at = text.find("\r\n\r\n").unwrap() + 4;
        let frame = reply[at..].to_vec();
        assert_eq!(&frame[..1], &[0x88]);
        assert_eq!(&frame[2..4], &[0x03, 0xEA], "{frame:?}");
        server.stop().await.unwrap();
    }

    async fn ping_interval_keeps_live_peers_and_closes_dead_ones() {
        let mut config = test_config();
        // Long enough that a loaded machine's pauses do not look like a dead peer.
        config.websocket_ping_interval = Some(Duration::from_millis(300));
        let server = TestServer::start_with(config, ws_app).await;
        // tungstenite answers pings while it reads: the socket survives several intervals.
        let mut live = connect(&server, "/echo").await;
        let mut pings = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(1300);
        while let Ok(message) = tokio::time::timeout_at(deadline, live.next()).await {
            if let Some(Ok(WsMessage::Ping(_))) = message {
                pings += 1;
            }
        }
        assert!(pings >= 2, "pings seen: {pings}");
        live.send(WsMessage::text("alive")).await.unwrap();
        assert_eq!(next(&mut live).await, WsMessage::text("alive"));
        // A raw client that never answers: a ping, then the close (1011) and the end.
        let mut dead = TcpStream::connect(server.addr).await.unwrap();
        let handshake = "GET /echo HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        dead.write_all(handshake.as_bytes()).await.unwrap();
        let mut reply = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), dead.read_to_end(&mut reply)).await;
        assert!(read.is_ok(), "the server ends a connection that does not answer pings");
        let at = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let frames = &reply[at..];
        assert_eq!(frames[0], 0x89, "a ping first: {frames:?}");
        let close = frames.iter().position(|&b| b == 0x88).unwrap();
        assert_eq!(&frames[close + 2..close + 4], &[0x03, 0xF3], "close 1011: {frames:?}");
        server.stop().await.unwrap();
    }

    async fn access_log_records_websocket_handshakes_with_their_headers() {
        let path = std::env::temp_dir().join(format!("milpa-ws-log-{}-{}", std::process::id(), unique()));
        let mut config = test_config();
        config.access_log = Some(path.clone());
        config.access_log_format = "%(r)s %(s)s %(a)s %(S)s".to_owned();
        let server = TestServer::start_with(config, ws_app).await;
        let handshake = raw(
            server.addr,
            b"GET /echo HTTP/1.1\r\nHost: a\r\nUser-Agent: ws-tester\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            Duration::from_millis(300),
        )
        .await;
        assert!(handshake.starts_with("HTTP/1.1 101"), "{handshake}");
        server.stop().await.unwrap();
        let log = std::fs::read_to_string(&path).unwrap();
        assert_eq!(log, "GET /echo HTTP/1.1 101 ws-tester ws\n");
    }

    async fn graceful_shutdown_closes_sockets_with_1001() {
        let mut server = TestServer::start(ws_app).await;
        let mut socket = connect(&server, "/echo").await;
        socket.send(WsMessage::text("ping")).await.unwrap();
        assert_eq!(next(&mut socket).await, WsMessage::text("ping"));
        let started = std::time::Instant::now();
        server.begin_stop();
        assert_eq!(close_code(&next(&mut socket).await), Some(1001));
        // tungstenite queues its Close reply; flushing sends it.
        socket.flush().await.ok();
        server.stop().await.unwrap();
        // Once the close handshake is done nothing is left to wait for.
        assert!(started.elapsed() < Duration::from_secs(2), "shutdown took {:?}", started.elapsed());
    }

    async fn wss_over_tls_with_tungstenite() {
        let (config, connector) = tls_setup("wss", &[b"http/1.1"]);
        let server = TestServer::start_with(config, ws_app).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let tls = connector
            .connect(rustls::pki_types::ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let (mut socket, _) = client_async("wss://localhost/protocol", tls).await.unwrap();
        assert_eq!(next(&mut socket).await, WsMessage::text("HTTP/1.1 wss"));
        socket.close(None).await.unwrap();
        server.stop().await.unwrap();
    }

    async fn websocket_and_requests_share_one_http2_connection() {
        let server = TestServer::start(ws_app).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut client = client.ready().await.unwrap();
        // A first request makes sure the server's SETTINGS arrived.
        let (response, _) = client.send_request(Request::get("http://test/hello").body(()).unwrap(), true).unwrap();
        assert_eq!(response.await.unwrap().status(), StatusCode::OK);
        assert!(client.is_extended_connect_protocol_enabled());
        let mut socket = h2_websocket(&mut client, "/echo").await;
        let mut requests = Vec::new();
        for _ in 0..20 {
            let client = client.clone();
            requests.push(tokio::spawn(async move {
                let request = Request::get("http://test/hello").body(()).unwrap();
                let (response, _) = client.ready().await.unwrap().send_request(request, true).unwrap();
                let response = response.await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                let mut body = response.into_body();
                let mut data = Vec::new();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.unwrap();
                    let _ = body.flow_control().release_capacity(chunk.len());
                    data.extend_from_slice(&chunk);
                }
                data
            }));
        }
        // Messages both ways, one larger than the stream's window, while the requests run.
        for i in 0..20 {
            socket.send(WsMessage::text(format!("message {i}"))).await.unwrap();
            assert_eq!(next(&mut socket).await, WsMessage::text(format!("message {i}")));
        }
        let big = vec![9u8; 200_000];
        socket.send(WsMessage::binary(big.clone())).await.unwrap();
        assert_eq!(next(&mut socket).await, WsMessage::binary(big));
        for request in requests {
            assert_eq!(request.await.unwrap(), b"hello");
        }
        socket.send(WsMessage::text("close-me")).await.unwrap();
        assert_eq!(close_code(&next(&mut socket).await), Some(4001));
        server.stop().await.unwrap();
    }

    async fn http2_websocket_frames_sent_before_the_answer_reach_the_application() {
        let server = TestServer::start(ws_app).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut client = client.ready().await.unwrap();
        let (response, _) = client.send_request(Request::get("http://test/hello").body(()).unwrap(), true).unwrap();
        assert_eq!(response.await.unwrap().status(), StatusCode::OK);
        let (response, mut send) = client.send_request(extended_connect("/echo"), false).unwrap();
        // A masked text frame "early", on the stream before the server answered.
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | 5];
        frame.extend_from_slice(&mask);
        frame.extend(b"early".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        send.send_data(Bytes::from(frame), false).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body();
        let mut got = Vec::new();
        while got.len() < 7 {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), body.data())
                .await
                .expect("the early message is echoed")
                .unwrap()
                .unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, b"\x81\x05early", "the early message is echoed once accepted");
        server.stop().await.unwrap();
    }

    async fn http2_websocket_scope_says_http2() {
        let server = TestServer::start(ws_app).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut client = client.ready().await.unwrap();
        let mut socket = h2_websocket(&mut client, "/protocol").await;
        assert_eq!(next(&mut socket).await, WsMessage::text("HTTP/2.0 ws"));
        server.stop().await.unwrap();
    }

    async fn http2_websocket_denial_with_a_2xx_becomes_500() {
        let server = TestServer::start(ws_app).await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut client = client.ready().await.unwrap();
        let (response, send) = client.send_request(extended_connect("/deny-with-200"), false).unwrap();
        assert_eq!(response.await.unwrap().status(), StatusCode::INTERNAL_SERVER_ERROR);
        drop((send, client));
        server.stop().await.unwrap();
    }
}

/// A TLS configuration for the server and a client trusting it.
fn tls_setup(tag: &str, alpn: &[&[u8]]) -> (milpa::Config, tokio_rustls::TlsConnector) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("milpa-ws-{tag}-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
    let mut config = test_config();
    config.certfile = Some(dir.join("cert.pem"));
    config.keyfile = Some(dir.join("key.pem"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    (config, tokio_rustls::TlsConnector::from(Arc::new(client)))
}

/// The extended CONNECT request of a WebSocket handshake over HTTP/2 (RFC 8441).
fn extended_connect(path: &str) -> Request<()> {
    let mut request = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://test{path}"))
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    request.extensions_mut().insert(h2::ext::Protocol::from_static("websocket"));
    request
}

/// Opens a WebSocket on an HTTP/2 stream with extended CONNECT and runs
/// tungstenite's client framing over it (through an in-memory pipe).
async fn h2_websocket(
    client: &mut h2::client::SendRequest<Bytes>,
    path: &str,
) -> WebSocketStream<tokio::io::DuplexStream> {
    let (response, mut send) = client.send_request(extended_connect(path), false).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut recv = response.into_body();
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (mut read_half, mut write_half) = tokio::io::split(theirs);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match read_half.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = send.send_data(Bytes::new(), true);
                    return;
                }
                Ok(n) => n,
            };
            let mut data = Bytes::copy_from_slice(&buf[..n]);
            while !data.is_empty() {
                send.reserve_capacity(data.len());
                let granted = match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                    Some(Ok(granted)) => granted,
                    _ => return,
                };
                let piece = data.split_to(granted.min(data.len()));
                if send.send_data(piece, false).is_err() {
                    return;
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some(Ok(chunk)) = recv.data().await {
            let _ = recv.flow_control().release_capacity(chunk.len());
            if write_half.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = write_half.shutdown().await;
    });
    WebSocketStream::from_raw_socket(ours, Role::Client, None).await
}
