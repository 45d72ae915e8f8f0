//! Starting a real server on 127.0.0.1:0 and talking to it with independent clients.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use milpa::{App, AppError, Config, HeaderList, ReceiveEvent, Receiver, Scope, SendEvent, Sender, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// How the server's task ends, whatever it runs on.
enum Done {
    Tokio(tokio::task::JoinHandle<Result<(), milpa::ServeError>>),
    Thread(std::thread::JoinHandle<Result<(), milpa::ServeError>>),
}

/// A running server; dropping it does not stop it, call [`TestServer::stop`].
pub struct TestServer {
    pub addr: SocketAddr,
    /// Every bound address (TLS ones first, then `insecure_bind`).
    pub addrs: Vec<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    done: Done,
}

impl TestServer {
    pub async fn start(app: impl App) -> Self {
        Self::start_with(test_config(), app).await
    }

    /// Starts the server on the runtime of the running test (tokio outside `on_every_runtime!`).
    pub async fn start_with(config: Config, app: impl App) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let rt = RUNTIME.try_with(|rt| *rt).unwrap_or(Rt::Tokio);
        let (addrs, done) = match rt {
            Rt::Tokio => {
                let server = Server::bind(milpa::tokio::Tokio::current(), config).unwrap();
                let addrs = server.local_addrs();
                (addrs, Done::Tokio(tokio::spawn(server.serve(app, shutdown))))
            }
            #[cfg(feature = "smol")]
            Rt::Smol => on_thread(move |addrs| {
                milpa::smol::block_on(1, |rt| async move {
                    let server = Server::bind(rt, config)?;
                    let _ = addrs.send(server.local_addrs());
                    server.serve(app, shutdown).await
                })
            }),
            #[cfg(feature = "async-std")]
            Rt::AsyncStd => on_thread(move |addrs| {
                milpa::async_std::block_on(1, async move {
                    let server = Server::bind(milpa::async_std::AsyncStd, config)?;
                    let _ = addrs.send(server.local_addrs());
                    server.serve(app, shutdown).await
                })
            }),
        };
        Self { addr: addrs[0], addrs, stop: Some(stop), done }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Triggers a graceful shutdown.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn stop(mut self) -> Result<(), milpa::ServeError> {
        self.begin_stop();
        let joined = async {
            match self.done {
                Done::Tokio(handle) => handle.await.unwrap(),
                Done::Thread(handle) => {
                    tokio::task::spawn_blocking(move || handle.join().unwrap()).await.unwrap()
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), joined).await.expect("shutdown in time")
    }
}

/// Runs a server on a thread of its own (for runtimes other than the test's tokio).
#[allow(dead_code)]
fn on_thread(
    run: impl FnOnce(std::sync::mpsc::Sender<Vec<SocketAddr>>) -> Result<(), milpa::ServeError> + Send + 'static,
) -> (Vec<SocketAddr>, Done) {
    let (addrs_tx, addrs_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || run(addrs_tx));
    let addrs = addrs_rx.recv_timeout(Duration::from_secs(10)).expect("the server bound its listeners");
    (addrs, Done::Thread(handle))
}

pub fn test_config() -> Config {
    let mut config = Config::default();
    config.bind = vec!["127.0.0.1:0".to_owned()];
    config
}

/// Writes `request` on a fresh connection and reads until the server closes it
/// (or `wait` passes).
pub async fn raw(addr: SocketAddr, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_until_close(&mut stream, wait).await
}

pub async fn read_until_close(stream: &mut TcpStream, wait: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

fn header(name: &'static str, value: &'static str) -> (Bytes, Bytes) {
    (Bytes::from_static(name.as_bytes()), Bytes::from_static(value.as_bytes()))
}

async fn respond(
    send: &mut Sender,
    status: StatusCode,
    headers: HeaderList,
    body: Bytes,
) -> Result<(), AppError> {
    send.send(SendEvent::ResponseStart { status, headers, trailers: false }).await?;
    send.send(SendEvent::ResponseBody { body, more_body: false }).await?;
    Ok(())
}

/// Reads an `h2` client's response body to its end, giving the window back as it goes.
pub async fn read_h2_body(body: &mut h2::RecvStream) -> Vec<u8> {
    let mut got = Vec::new();
    while let Some(data) = body.data().await {
        let data = data.unwrap();
        let _ = body.flow_control().release_capacity(data.len());
        got.extend_from_slice(&data);
    }
    got
}

/// Reads the whole request body from the native interface.
pub async fn read_body(receive: &mut Receiver) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(ReceiveEvent::Request { body: chunk, more_body }) = receive.receive().await {
        body.extend_from_slice(&chunk);
        if !more_body {
            break;
        }
    }
    body
}

/// [`test_app`], signalling when a `/slow` request reaches it: a test that must
/// act while that request is in flight (a graceful stop) waits for the signal
/// rather than a fixed time, which a loaded machine can overrun.
pub struct SignallingSlow(pub std::sync::Arc<tokio::sync::Notify>);

impl App for SignallingSlow {
    fn call(&self, scope: Scope, receive: Receiver, send: Sender) -> milpa::AppFuture {
        if matches!(&scope, Scope::Http(http) if http.path == "/slow") {
            self.0.notify_one();
        }
        Box::pin(test_app(scope, receive, send))
    }
}

/// The routes the tests exercise, on the native interface.
pub async fn test_app(scope: Scope, mut receive: Receiver, mut send: Sender) -> Result<(), AppError> {
    let scope = match scope {
        Scope::Http(scope) => scope,
        _ => {
            while let Some(event) = receive.receive().await {
                match event {
                    ReceiveEvent::Startup => send.send(SendEvent::StartupComplete).await?,
                    ReceiveEvent::Shutdown => return Ok(send.send(SendEvent::ShutdownComplete).await?),
                    _ => {}
                }
            }
            return Ok(());
        }
    };
    let text = vec![header("content-type", "text/plain")];
    match scope.path.as_str() {
        // Answering a CONNECT as if a tunnel were open: the server must refuse that.
        "" if scope.method == http::Method::CONNECT => {
            respond(&mut send, StatusCode::OK, text, Bytes::from_static(b"no tunnel here")).await
        }
        "/hello" => respond(&mut send, StatusCode::OK, text, Bytes::from_static(b"hello")).await,
        "/echo" => {
            let body = read_body(&mut receive).await;
            respond(&mut send, StatusCode::OK, text, Bytes::from(body)).await
        }
        "/echo-after-start" => {
            // The head first (held back until the body), then the request body.
            send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers: text, trailers: false })
                .await?;
            let body = read_body(&mut receive).await;
            send.send(SendEvent::ResponseBody { body: Bytes::from(body), more_body: false }).await?;
            Ok(())
        }
        "/scope" => {
            let body = format!(
                "{} {} {} {:?} {:?} {}",
                scope.method,
                scope.path,
                String::from_utf8_lossy(&scope.query_string),
                scope.http_version,
                scope.header("x-test").map(String::from_utf8_lossy),
                scope.root_path
            );
            respond(&mut send, StatusCode::OK, text, Bytes::from(body)).await
        }
        "/stream" => {
            send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers: text, trailers: false })
                .await?;
            for i in 0..5 {
                send.send(SendEvent::ResponseBody {
                    body: Bytes::from(format!("part{i};")),
                    more_body: true,
                })
                .await?;
            }
            send.send(SendEvent::ResponseBody { body: Bytes::new(), more_body: false }).await?;
            Ok(())
        }
        "/trailers" => {
            send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers: text, trailers: true })
                .await?;
            send.send(SendEvent::ResponseBody { body: Bytes::from_static(b"data"), more_body: false })
                .await?;
            send.send(SendEvent::ResponseTrailers {
                headers: vec![header("x-checksum", "abc")],
                more_trailers: false,
            })
            .await?;
            Ok(())
        }
        "/early-hint" => {
            send.send(SendEvent::EarlyHint { links: vec![Bytes::from_static(b"</style.css>; rel=preload")] })
                .await?;
            respond(&mut send, StatusCode::OK, text, Bytes::from_static(b"hinted")).await
        }
        "/slow" => {
            // async-io's timer works whichever runtime the server runs on.
            async_io::Timer::after(Duration::from_millis(500)).await;
            respond(&mut send, StatusCode::OK, text, Bytes::from_static(b"slow done")).await
        }
        "/no-content" => {
            // A 204 with what it must not carry: a length, and content.
            let headers = vec![header("Content-Length", "5"), header("X-Mixed-Case", "yes")];
            respond(&mut send, StatusCode::NO_CONTENT, headers, Bytes::from_static(b"oops!")).await
        }
        "/file" => {
            send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers: text, trailers: false })
                .await?;
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml").into();
            send.send(SendEvent::ResponseFile { path, range: None }).await?;
            Ok(())
        }
        "/panic" => panic!("the application panicked on purpose"),
        "/error" => Err("the application failed on purpose".into()),
        "/no-response" => Ok(()),
        "/half-response" => {
            send.send(SendEvent::ResponseStart { status: StatusCode::OK, headers: text, trailers: false })
                .await?;
            send.send(SendEvent::ResponseBody { body: Bytes::from_static(b"partial"), more_body: true })
                .await?;
            Ok(())
        }
        _ => respond(&mut send, StatusCode::NOT_FOUND, text, Bytes::from_static(b"not found")).await,
    }
}

/// Waits until `check` holds, polling every 10 ms for up to 5 s (a loaded
/// machine can take long to schedule the server's task), and says whether it did.
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// A number of its own per call: the runtimes' runs of a test write their files at once.
pub fn unique() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Fails with a clear message when an external tool is missing.
pub fn require(tool: &str) {
    let found =
        std::process::Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().unwrap();
    assert!(
        found.status.success(),
        "{tool} is not installed: run the tests with scripts/test.sh, which installs it"
    );
}

/// The runtime a test's server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rt {
    Tokio,
    #[cfg(feature = "smol")]
    Smol,
    #[cfg(feature = "async-std")]
    AsyncStd,
}

tokio::task_local! {
    /// Set by `on_every_runtime!` for the test running in this task.
    pub static RUNTIME: Rt;
}

/// Runs every test given once per runtime milpa was built with: the clients
/// stay on tokio, the server runs on tokio, smol or async-std.
#[macro_export]
macro_rules! on_every_runtime {
    ($($(#[$meta:meta])* async fn $name:ident() $body:block)*) => {
        mod tokio_runtime {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    support::RUNTIME.scope(support::Rt::Tokio, async $body).await
                }
            )*
        }
        #[cfg(feature = "smol")]
        mod smol_runtime {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    support::RUNTIME.scope(support::Rt::Smol, async $body).await
                }
            )*
        }
        #[cfg(feature = "async-std")]
        mod async_std_runtime {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    support::RUNTIME.scope(support::Rt::AsyncStd, async $body).await
                }
            )*
        }
    };
}
