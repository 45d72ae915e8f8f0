//! `milpa::blocking`: synchronous handlers on a thread pool, driven by curl and
//! hyper's HTTP/1.1 client, on every runtime.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use support::*;
use tokio::net::TcpStream;

fn app(barrier: Arc<Barrier>) -> impl milpa::App {
    milpa::blocking_with_limit(1024 * 1024, move |request: Request<Bytes>| match request.uri().path() {
        "/upper" => http::Response::new(String::from_utf8_lossy(request.body()).to_uppercase()),
        // Blocks until four requests are inside at once: only a pool running
        // them side by side gets past it.
        "/together" => {
            barrier.wait();
            http::Response::new("met".to_owned())
        }
        "/panic" => panic!("the blocking handler panicked on purpose"),
        _ => {
            let mut response = http::Response::new("not found".to_owned());
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    })
}

async fn post(server: &TestServer, path: &str, body: impl Into<Bytes>) -> (StatusCode, Bytes) {
    let stream = TokioIo::new(TcpStream::connect(server.addr).await.unwrap());
    let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
    tokio::spawn(conn);
    let request = Request::post(path).header("host", "test").body(Full::new(body.into())).unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    (status, response.into_body().collect().await.unwrap().to_bytes())
}

on_every_runtime! {
    async fn blocking_handlers_get_the_whole_body_and_run_side_by_side() {
        let server = TestServer::start(app(Arc::new(Barrier::new(4)))).await;
        assert_eq!(post(&server, "/upper", "quiet words").await, (StatusCode::OK, Bytes::from("QUIET WORDS")));
        let together: Vec<_> = (0..4)
            .map(|_| {
                let addr = server.addr;
                tokio::spawn(async move {
                    let stream = TokioIo::new(TcpStream::connect(addr).await.unwrap());
                    let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
                    tokio::spawn(conn);
                    let request = Request::get("/together").header("host", "test").body(Full::new(Bytes::new())).unwrap();
                    sender.send_request(request).await.unwrap().status()
                })
            })
            .collect();
        for request in together {
            let status = tokio::time::timeout(Duration::from_secs(20), request).await.unwrap().unwrap();
            assert_eq!(status, StatusCode::OK);
        }
        server.stop().await.unwrap();
    }

    async fn oversized_bodies_get_413_and_panics_500() {
        let server = TestServer::start(app(Arc::new(Barrier::new(4)))).await;
        let (status, _) = post(&server, "/upper", vec![b'a'; 1024 * 1024 + 1]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let (status, _) = post(&server, "/panic", "").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        // The pool and the server carry on.
        assert_eq!(post(&server, "/upper", "still").await, (StatusCode::OK, Bytes::from("STILL")));
        server.stop().await.unwrap();
    }
}
