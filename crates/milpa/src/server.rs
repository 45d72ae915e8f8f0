//! Binding listeners, accepting connections, and shutting down gracefully.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::access_log::AccessLog;
use crate::app::App;
use crate::config::{Config, WorkerClass};
use crate::driver::{self, ConnContext};
use crate::lifespan::{Lifespan, LifespanError};
use crate::runtime::Runtime;
use crate::shutdown::{Latch, Tracker, race};

/// Pause after an accept error such as EMFILE, so the loop backs off instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why serving stopped with an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// Binding or another socket operation failed.
    Io(io::Error),
    /// The application's lifespan startup failed or timed out.
    Lifespan(LifespanError),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(error) => write!(f, "{error}"),
            Self::Lifespan(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ServeError {}

impl From<io::Error> for ServeError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// A server with its listeners bound, ready to serve an application.
pub struct Server<R: Runtime> {
    rt: R,
    config: Arc<Config>,
    /// Each listener with the TLS configuration it speaks, if any.
    listeners: Vec<(Bound<R>, Option<Arc<rustls::ServerConfig>>)>,
}

impl<R: Runtime> std::fmt::Debug for Server<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addrs", &self.local_addrs()).finish_non_exhaustive()
    }
}

/// A bound listener: TCP with its address, or a Unix-domain socket with its path.
enum Bound<R: Runtime> {
    Tcp(R::Listener, SocketAddr),
    Unix(R::UnixListener, std::path::PathBuf),
}

/// Binds a Unix-domain socket at `path`, replacing a stale socket file left by a
/// previous run (but never a file that is not a socket).
pub(crate) fn bind_unix(path: &std::path::Path) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(metadata) = std::fs::symlink_metadata(path)
        && metadata.file_type().is_socket()
    {
        std::fs::remove_file(path)?;
    }
    std::os::unix::net::UnixListener::bind(path)
}

/// Binds a listening socket with `SO_REUSEADDR` and the configured backlog.
pub(crate) fn bind_tcp(addr: SocketAddr, backlog: u32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

impl<R: Runtime> Server<R> {
    /// Binds every address of `config.bind` (TLS when a certificate is
    /// configured) and of `config.insecure_bind` (plain text) on runtime `rt`.
    pub fn bind(rt: R, config: Config) -> io::Result<Self> {
        let tls = crate::tls::server_config(&config).map_err(io::Error::other)?;
        // `http1_bind`: TLS listeners whose ALPN offers HTTP/1.1 only.
        let tls_h1 = tls.as_ref().map(|tls| {
            let mut h1_only = (**tls).clone();
            h1_only.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(h1_only)
        });
        if tls_h1.is_none() && !config.http1_bind.is_empty() {
            return Err(io::Error::other("http1_bind needs TLS (certfile and keyfile, or self_signed)"));
        }
        let mut listeners = Vec::new();
        let plain = config.insecure_bind_addrs()?.into_iter().map(|addr| (addr, None));
        let h1_only =
            crate::config::resolve(&config.http1_bind)?.into_iter().map(|addr| (addr, tls_h1.clone()));
        let secure = config.bind_addrs()?.into_iter().map(|addr| (addr, tls.clone()));
        for (addr, tls) in secure.chain(h1_only).chain(plain) {
            let std_listener = bind_tcp(addr, config.backlog)
                .map_err(|error| io::Error::new(error.kind(), format!("cannot bind {addr}: {error}")))?;
            let local = std_listener.local_addr()?;
            listeners.push((Bound::Tcp(rt.listener(std_listener)?, local), tls));
        }
        let unix = config.unix_paths(&config.bind).into_iter().map(|path| (path, tls.clone()));
        let plain_unix = config.unix_paths(&config.insecure_bind).into_iter().map(|path| (path, None));
        for (path, tls) in unix.chain(plain_unix) {
            let std_listener = bind_unix(&path).map_err(|error| {
                io::Error::new(error.kind(), format!("cannot bind {}: {error}", path.display()))
            })?;
            listeners.push((Bound::Unix(rt.unix_listener(std_listener)?, path), tls));
        }
        Ok(Self { rt, config: Arc::new(config), listeners })
    }

    /// The bound TCP addresses (with the real port when `:0` was asked for), TLS
    /// ones first.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(bound, _)| match bound {
                Bound::Tcp(_, addr) => Some(*addr),
                Bound::Unix(..) => None,
            })
            .collect()
    }

    /// Serves `app` until `shutdown` resolves, then shuts down gracefully: stop
    /// accepting, close idle connections, let in-flight requests finish (with
    /// `Connection: close`) for up to `graceful_timeout`, then close the rest,
    /// then run the application's lifespan shutdown.
    pub async fn serve<A, S>(self, app: A, shutdown: S) -> Result<(), ServeError>
    where
        A: App,
        S: Future<Output = ()> + Send,
    {
        let Self { rt, config, listeners } = self;
        let app: Arc<dyn App> = Arc::new(app);
        let (lifespan, state) =
            Lifespan::start(&rt, &app, config.startup_timeout).await.map_err(ServeError::Lifespan)?;
        let access_log = match &config.access_log {
            Some(path) => Some(Arc::new(AccessLog::open(path, &config.access_log_format)?)),
            None => None,
        };
        let stop = Latch::default();
        let graceful = Latch::default();
        let force = Latch::default();
        let tracker = Tracker::default();
        let accepting = Tracker::default();
        for (bound, tls) in listeners {
            let scheme = if tls.is_some() { "https" } else { "http" };
            let local = match &bound {
                Bound::Tcp(_, addr) => {
                    tracing::info!("listening on {scheme}://{addr}");
                    Some(*addr)
                }
                Bound::Unix(_, path) => {
                    tracing::info!("listening on {scheme} at unix:{}", path.display());
                    None
                }
            };
            let ctx = Arc::new(ConnContext {
                tls,
                app: app.clone(),
                config: config.clone(),
                h1: config.h1(),
                h2: config.h2(),
                state: state.clone(),
                access_log: access_log.clone(),
                scheme,
                local,
                graceful: graceful.clone(),
                force: force.clone(),
                tracker: tracker.clone(),
            });
            let token = accepting.enter();
            rt.spawn(accept_loop(rt.clone(), bound, ctx, tracker.clone(), stop.clone(), token));
        }

        shutdown.await;
        tracing::info!(connections = tracker.live(), "shutting down");
        stop.set();
        accepting.drained().await;
        graceful.set();
        let grace = rt.sleep_until(Instant::now() + config.graceful_timeout);
        race(tracker.drained(), grace).await;
        if tracker.live() > 0 {
            tracing::warn!(
                connections = tracker.live(),
                "graceful timeout: closing the remaining connections"
            );
            force.set();
            let last_call = rt.sleep_until(Instant::now() + Duration::from_secs(1));
            race(tracker.drained(), last_call).await;
        }
        lifespan.shutdown(&rt, config.shutdown_timeout).await;
        Ok(())
    }
}

async fn accept_loop<R: Runtime>(
    rt: R,
    listener: Bound<R>,
    ctx: Arc<ConnContext>,
    tracker: Tracker,
    stop: Latch,
    _accepting: crate::shutdown::Token,
) {
    let mut stop_watch = stop.watch();
    loop {
        let accepted = std::future::poll_fn(|cx| {
            if stop_watch.poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            let accepted = match &listener {
                Bound::Tcp(listener, _) => {
                    std::task::ready!(rt.poll_accept(listener, cx)).map(|(stream, peer)| {
                        let (rt, ctx) = (rt.clone(), ctx.clone());
                        Box::pin(serve_connection(rt, stream, Some(peer), ctx)) as crate::app::AppFutureUnit
                    })
                }
                Bound::Unix(listener, _) => {
                    std::task::ready!(rt.poll_accept_unix(listener, cx)).map(|stream| {
                        let (rt, ctx) = (rt.clone(), ctx.clone());
                        Box::pin(serve_connection(rt, stream, None, ctx)) as crate::app::AppFutureUnit
                    })
                }
            };
            Poll::Ready(Some(accepted))
        })
        .await;
        match accepted {
            None => return,
            Some(Ok(connection)) => {
                let token = tracker.enter();
                rt.spawn(async move {
                    connection.await;
                    drop(token);
                });
            }
            Some(Err(error)) => {
                // EMFILE, ENFILE, ENOBUFS…: wait instead of spinning on the error.
                tracing::warn!(%error, "accept failed; backing off");
                let pause = rt.sleep_until(Instant::now() + ACCEPT_BACKOFF);
                race(pause, stop.wait()).await;
            }
        }
    }
}

/// The client connection preface: a plain-text connection that starts with it
/// speaks HTTP/2 with prior knowledge.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads until the first bytes tell the protocol: the HTTP/2 preface, or
/// anything else (HTTP/1.1). Returns the bytes read and whether they are HTTP/2.
async fn sniff<S: futures_io::AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<(bytes::Bytes, bool)> {
    let mut buf = [0u8; PREFACE.len()];
    let mut filled = 0;
    while filled < PREFACE.len() && buf[..filled] == PREFACE[..filled] {
        let read =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_read(cx, &mut buf[filled..]))
                .await?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    let h2 = filled == PREFACE.len() && buf == *PREFACE;
    Ok((bytes::Bytes::copy_from_slice(&buf[..filled]), h2))
}

/// Runs the TLS handshake (under its timeout) when the listener speaks TLS, then
/// the driver of the protocol ALPN chose; on plain text, HTTP/2 when the client
/// starts with the HTTP/2 preface (prior knowledge), else HTTP/1.1.
async fn serve_connection<R, S>(rt: R, mut stream: S, peer: Option<SocketAddr>, ctx: Arc<ConnContext>)
where
    R: Runtime,
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
{
    let Some(tls) = ctx.tls.clone() else {
        // The header read timeout bounds a client that sends nothing.
        let deadline = rt.sleep_until(Instant::now() + ctx.config.header_read_timeout);
        let sniffed = race(async { Some(sniff(&mut stream).await) }, async {
            deadline.await;
            None
        })
        .await;
        return match sniffed {
            Some(Ok((initial, true))) => driver::h2::serve(rt, stream, peer, ctx, None, initial).await,
            Some(Ok((initial, false))) => driver::h1::serve(rt, stream, peer, ctx, None, initial).await,
            Some(Err(error)) => tracing::debug!(%error, ?peer, "connection failed before its first request"),
            None => tracing::debug!(?peer, "connection sent nothing"),
        };
    };
    let deadline = rt.sleep_until(Instant::now() + ctx.config.tls_handshake_timeout);
    let handshake = async { Some(crate::tls::accept(stream, tls).await) };
    let timed_out = async {
        deadline.await;
        None
    };
    match race(handshake, timed_out).await {
        Some(Ok(stream)) => {
            let info = Arc::new(stream.info());
            if info.alpn.as_deref() == Some(b"h2") {
                driver::h2::serve(rt, stream, peer, ctx, Some(info), bytes::Bytes::new()).await;
            } else {
                driver::h1::serve(rt, stream, peer, ctx, Some(info), bytes::Bytes::new()).await;
            }
        }
        Some(Err(error)) => tracing::debug!(%error, ?peer, "TLS handshake failed"),
        None => tracing::debug!(?peer, "TLS handshake timed out"),
    }
}

/// Serves `app` with `config` until SIGINT or SIGTERM, on a new runtime of the
/// kind `config.worker_class` names, with `config.threads` threads.
pub fn run<A: App>(config: Config, app: A) -> Result<(), ServeError> {
    let threads = config.threads;
    match config.worker_class {
        #[cfg(feature = "tokio")]
        WorkerClass::Tokio => milpa_tokio::block_on(threads, async move {
            let server = Server::bind(milpa_tokio::Tokio::current(), config)?;
            server.serve(app, milpa_tokio::Tokio::shutdown_signal()).await
        })?,
        #[cfg(feature = "smol")]
        WorkerClass::Smol => milpa_smol::block_on(threads, |rt| async move {
            let server = Server::bind(rt, config)?;
            server.serve(app, milpa_smol::Smol::shutdown_signal()).await
        }),
        #[cfg(feature = "async-std")]
        WorkerClass::AsyncStd => milpa_async_std::block_on(async move {
            let server = Server::bind(milpa_async_std::AsyncStd, config)?;
            server.serve(app, milpa_async_std::AsyncStd::shutdown_signal()).await
        }),
        #[allow(unreachable_patterns)]
        other => Err(ServeError::Io(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("worker class {other} is not compiled in (enable milpa's `{other}` feature)"),
        ))),
    }
}
