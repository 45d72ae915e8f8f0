//! hyper 1.x baseline for milpa's end-to-end benchmark (`compare.sh`).
//!
//! Usage: `hyper-server ADDR [--threads N] [--timeouts]`. Without `--threads` it
//! runs on a tokio current-thread runtime (the benchmark pins it to one core);
//! with it, on a multi-thread runtime with N workers. Speaks HTTP/1.1 and h2c
//! (prior knowledge). Without `--timeouts` it has no timer, as `axum::serve` sets
//! hyper up: no header-read timeout, so a client that never finishes its head holds
//! the connection for good. With it, hyper gets a tokio timer, which turns on its
//! documented default of a 30 s header-read timeout: the protection milpa's
//! `--read-timeout`/`--keep-alive` timers give.
//!
//! Routes: `GET /message/{i}/` → `{"message": i}`, `GET /query?id=X` →
//! `{"text": "spam, egg, spam and spam!, X!"}`, anything else → 404.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE, HeaderName, HeaderValue, SERVER};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// Not among `http`'s standard names; a `const` so it is not parsed per response.
const TIMING_ALLOW_ORIGIN: HeaderName = HeaderName::from_static("timing-allow-origin");

const USAGE: &str = "usage: hyper-server ADDR [--threads N] [--timeouts] [--tls CERT.pem KEY.pem]";

fn json(body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    // The same header set as milpa's demo answers with, so both send alike bytes.
    // Names are constants, as a hyper user who cares about speed writes them: a
    // `&str` name is parsed and hashed on every insert.
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(TIMING_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(SERVER, HeaderValue::from_static("hyper"));
    res
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET {
        return Ok(not_found());
    }
    let uri = req.uri();
    if let Some(i) = uri
        .path()
        .strip_prefix("/message/")
        .and_then(|rest| rest.strip_suffix('/'))
        .and_then(|i| i.parse::<u64>().ok())
    {
        return Ok(json(format!(r#"{{"message": {i}}}"#)));
    }
    if uri.path() == "/query" {
        let id = uri.query().unwrap_or("").split('&').find_map(|kv| kv.strip_prefix("id=")).unwrap_or("");
        // The id is echoed raw (no percent-decoding, no JSON escaping): benchmark ids are plain.
        return Ok(json(format!(r#"{{"text": "spam, egg, spam and spam!, {id}!"}}"#)));
    }
    Ok(not_found())
}

fn not_found() -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

/// TLS like milpa's: rustls with ring, ALPN h2 then http/1.1.
fn tls_acceptor(cert: &str, key: &str) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<_> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_file(key).expect("key PEM");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate and key");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

async fn serve(
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    timeouts: bool,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(true).pipeline_flush(true);
    if timeouts {
        builder.http1().timer(TokioTimer::new());
        builder.http2().timer(TokioTimer::new());
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!("hyper-server listening on {scheme}://{addr}");
    loop {
        // A failed accept (e.g. out of fds) or setsockopt must not end the benchmark.
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("hyper-server: accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            // Errors here are per-connection (client reset, bad request): drop them.
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = builder.serve_connection(TokioIo::new(stream), service_fn(handle)).await;
                    }
                }
                None => {
                    let _ = builder.serve_connection(TokioIo::new(stream), service_fn(handle)).await;
                }
            }
        });
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = match args.next().map(|a| a.parse()) {
        Some(Ok(addr)) => addr,
        _ => exit_usage(),
    };
    let mut threads = None;
    let mut tls = None;
    let mut timeouts = false;
    let rest: Vec<String> = args.collect();
    let mut rest = rest.iter().map(String::as_str);
    while let Some(flag) = rest.next() {
        match flag {
            "--threads" => match rest.next().map(str::parse::<usize>) {
                Some(Ok(n)) if n > 0 => threads = Some(n),
                _ => exit_usage(),
            },
            "--tls" => match (rest.next(), rest.next()) {
                (Some(cert), Some(key)) => tls = Some(tls_acceptor(cert, key)),
                _ => exit_usage(),
            },
            "--timeouts" => timeouts = true,
            _ => exit_usage(),
        }
    }
    let mut builder = match threads {
        None => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
    };
    builder.enable_io();
    if timeouts {
        builder.enable_time();
    }
    let runtime = builder.build().expect("failed to build the tokio runtime");
    if let Err(e) = runtime.block_on(serve(addr, tls, timeouts)) {
        eprintln!("hyper-server: {e}");
        std::process::exit(1);
    }
}

fn exit_usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2);
}
