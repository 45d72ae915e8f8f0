//! Binding listeners, accepting connections, and shutting down gracefully.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::access_log::{AccessLog, RequestLog};
use crate::admission::Admission;
use crate::app::App;
use crate::config::{Config, WorkerClass};
use crate::driver::{self, ConnContext};
use crate::lifespan::{Lifespan, LifespanError};
use crate::listen::{Listener, Security};
use crate::metrics::{Metrics, Protocol};
use crate::runtime::Runtime;
use crate::shutdown::{Latch, Tracker, race};

/// Pause after an accept error such as EMFILE, so the loop backs off instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How often accepting checks again whether a connection ended, at `max_connections`.
const CAP_BACKOFF: Duration = Duration::from_millis(10);

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

impl<R: Runtime> Server<R> {
    /// Binds every address of `config.bind` (TLS when a certificate is
    /// configured), `config.http1_bind` (TLS, HTTP/1.1 only) and
    /// `config.insecure_bind` (plain text) on runtime `rt`.
    pub fn bind(rt: R, config: Config) -> io::Result<Self> {
        let listeners = crate::listen::open_all(&config)?;
        Self::from_listeners(rt, config, listeners)
    }

    /// Registers listeners already bound (or inherited) with runtime `rt`.
    pub(crate) fn from_listeners(
        rt: R,
        config: Config,
        opened: Vec<(Listener, Security)>,
    ) -> io::Result<Self> {
        let tls = crate::tls::server_config(&config).map_err(io::Error::other)?;
        // `http1_bind`: TLS listeners whose ALPN offers HTTP/1.1 only.
        let tls_h1 = tls.as_ref().map(|tls| {
            let mut h1_only = (**tls).clone();
            h1_only.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(h1_only)
        });
        let mut listeners = Vec::new();
        for (listener, security) in opened {
            let tls = match security {
                Security::Bind => tls.clone(),
                Security::Http1Only => Some(tls_h1.clone().ok_or_else(|| {
                    io::Error::other("http1_bind needs TLS (certfile and keyfile, or self_signed)")
                })?),
                Security::Insecure => None,
            };
            let bound = match listener {
                Listener::Tcp(tcp) => {
                    let local = tcp.local_addr()?;
                    Bound::Tcp(rt.listener(tcp)?, local)
                }
                Listener::Unix(unix) => {
                    let path = unix.local_addr()?.as_pathname().map(Path::to_path_buf).unwrap_or_default();
                    Bound::Unix(rt.unix_listener(unix)?, path)
                }
            };
            listeners.push((bound, tls));
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
    /// then run the application's lifespan shutdown. Dropping the future before
    /// it completes stops the server at once: no more accepting, every
    /// connection closed, no lifespan shutdown.
    pub async fn serve<A, S>(self, app: A, shutdown: S) -> Result<(), ServeError>
    where
        A: App,
        S: Future<Output = ()> + Send,
    {
        let (metrics, _endpoint) = local_metrics(&self.config)?;
        self.serve_with(Arc::new(app), shutdown, Hooks { metrics, ..Hooks::default() }).await
    }

    /// [`Server::serve`], with the supervisor's and the metrics' hooks.
    pub(crate) async fn serve_with<S>(
        self,
        app: Arc<dyn App>,
        shutdown: S,
        hooks: Hooks,
    ) -> Result<(), ServeError>
    where
        S: Future<Output = ()> + Send,
    {
        let Self { rt, config, listeners } = self;
        let Hooks { on_ready, retire_after, on_retire, metrics, quiet, announce } = hooks;
        let app: Arc<dyn App> = if Admission::needed(&config, retire_after) {
            Arc::new(Admission::new(app, &config, retire_after, on_retire))
        } else {
            app
        };
        let access_log = match &config.access_log {
            Some(path) => Some(AccessLog::open(path, &config.access_log_format).map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("cannot open the access log {}: {error}", path.display()),
                )
            })?),
            None => None,
        };
        let (lifespan, state) =
            Lifespan::start(&rt, &app, config.startup_timeout).await.map_err(ServeError::Lifespan)?;
        let request_log = (access_log.is_some() || metrics.is_some())
            .then(|| Arc::new(RequestLog { access: access_log, metrics: metrics.clone() }));
        let stop = Latch::default();
        let graceful = Latch::default();
        let force = Latch::default();
        let _stop_if_dropped = StopOnDrop([stop.clone(), graceful.clone(), force.clone()]);
        let tracker = Tracker::default();
        let accepting = Tracker::default();
        for (bound, tls) in listeners {
            let scheme = if tls.is_some() { "https" } else { "http" };
            let local = match &bound {
                Bound::Tcp(_, addr) => {
                    if announce {
                        tracing::info!("listening on {scheme}://{addr}");
                    }
                    Some(*addr)
                }
                Bound::Unix(_, path) => {
                    if announce {
                        tracing::info!("listening on {scheme} at unix:{}", path.display());
                    }
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
                request_log: request_log.clone(),
                metrics: metrics.clone(),
                scheme,
                local,
                quiet: quiet.clone(),
                graceful: graceful.clone(),
                force: force.clone(),
                tracker: tracker.clone(),
            });
            let token = accepting.enter();
            rt.spawn(accept_loop(rt.clone(), bound, ctx, tracker.clone(), stop.clone(), token));
        }
        if let Some(on_ready) = on_ready {
            on_ready();
        }
        shutdown.await;
        tracing::info!(connections = tracker.live(), "shutting down");
        stop.set();
        accepting.drained().await;
        if quiet.is_set() {
            // Draining for a successor: connections close as they finish for up
            // to a graceful timeout before the graceful phase proper.
            let quiet_period = rt.sleep_until(Instant::now() + config.graceful_timeout);
            race(tracker.drained(), quiet_period).await;
        }
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

/// Sets every shutdown latch when dropped: a `serve` future cancelled before it
/// finished (a `select!`, a timeout) stops accepting and closes its connections
/// instead of leaving them to run on the runtime.
struct StopOnDrop([Latch; 3]);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        for latch in &self.0 {
            latch.set();
        }
    }
}

/// Returns `Pending` once, after asking to be polled again.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
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
        if let Some(max) = ctx.config.max_connections {
            // At the cap, new clients wait in the listen backlog until a connection ends.
            while tracker.live() >= max && !stop.is_set() {
                let pause = rt.sleep_until(Instant::now() + CAP_BACKOFF);
                race(pause, stop.wait()).await;
            }
        }
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
                // One connection per turn: the new connection's task runs first,
                // and worker processes sharing the socket (all woken by the same
                // readiness) each get a chance at the next one instead of the
                // first awake draining the whole backlog.
                YieldNow(false).await;
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

/// Reads until the first bytes tell the protocol (see [`milpa_h2::sniff`]): the
/// HTTP/2 preface, or anything else (HTTP/1.1). Returns the bytes read and
/// whether they are HTTP/2.
async fn sniff<S: futures_io::AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<(bytes::Bytes, bool)> {
    use milpa_h2::sniff::{Sniffed, bytes_wanted};
    let mut buf = Vec::with_capacity(milpa_h2::frame::CONNECTION_PREFACE.len());
    loop {
        let wanted = bytes_wanted(&buf);
        if wanted == 0 {
            break;
        }
        let filled = buf.len();
        buf.resize(filled + wanted, 0);
        let read =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_read(cx, &mut buf[filled..]))
                .await?;
        buf.truncate(filled + read);
        if read == 0 {
            break;
        }
    }
    let h2 = milpa_h2::sniff::sniff(&buf) == Sniffed::Http2;
    Ok((bytes::Bytes::from(buf), h2))
}

/// Serves one accepted connection: over TLS when the listener speaks it (see
/// [`serve_tls`]); on plain text, HTTP/2 when the client starts with the HTTP/2
/// preface (prior knowledge), else HTTP/1.1. Each driver is boxed, so that a
/// connection waiting for its first bytes, or speaking HTTP/1.1, does not carry
/// the larger HTTP/2 driver's state (15 KiB less per slowloris socket); the TLS
/// path is boxed too, or its state (over a kilobyte of it the TLS stream) would
/// size every plain connection's future: 2.9 KiB each, now a few hundred bytes.
async fn serve_connection<R, S>(rt: R, stream: S, peer: Option<SocketAddr>, ctx: Arc<ConnContext>)
where
    R: Runtime,
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
{
    if let Some(tls) = ctx.tls.clone() {
        return Box::pin(serve_tls(rt, stream, peer, ctx, tls)).await;
    }
    serve_sniffed(rt, stream, peer, ctx, None).await;
}

/// Serves a connection whose protocol its first bytes tell: HTTP/2 when they
/// are the HTTP/2 preface (prior knowledge), else HTTP/1.1.
async fn serve_sniffed<R, S>(
    rt: R,
    mut stream: S,
    peer: Option<SocketAddr>,
    ctx: Arc<ConnContext>,
    tls: Option<Arc<crate::tls::TlsInfo>>,
) where
    R: Runtime,
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
{
    // The header read timeout bounds a client that sends nothing; a shutdown
    // closes it at once, as an idle keep-alive connection is.
    let deadline = rt.sleep_until(Instant::now() + ctx.config.header_read_timeout);
    let sniffed = race(async { Some(sniff(&mut stream).await) }, async {
        race(deadline, ctx.graceful.wait()).await;
        None
    })
    .await;
    match sniffed {
        Some(Ok((initial, true))) => {
            let _open = ctx.metrics.as_ref().map(|metrics| metrics.connection(Protocol::Http2));
            Box::pin(driver::h2::serve(rt, stream, peer, ctx, tls, initial)).await;
        }
        Some(Ok((initial, false))) => {
            let _open = ctx.metrics.as_ref().map(|metrics| metrics.connection(Protocol::Http1));
            Box::pin(driver::h1::serve(rt, stream, peer, ctx, tls, initial)).await;
        }
        Some(Err(error)) => tracing::debug!(%error, ?peer, "connection failed before its first request"),
        None => tracing::debug!(?peer, "connection sent nothing (in time, or before a shutdown)"),
    }
}

/// Runs the TLS handshake under its timeout, then the driver of the protocol
/// ALPN chose.
async fn serve_tls<R, S>(
    rt: R,
    stream: S,
    peer: Option<SocketAddr>,
    ctx: Arc<ConnContext>,
    tls: Arc<rustls::ServerConfig>,
) where
    R: Runtime,
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
{
    let deadline = rt.sleep_until(Instant::now() + ctx.config.tls_handshake_timeout);
    let handshake = async { Some(Box::pin(crate::tls::accept(stream, tls)).await) };
    // A handshake has no request in flight yet: a shutdown drops it at once.
    let timed_out = async {
        race(deadline, ctx.graceful.wait()).await;
        None
    };
    match race(handshake, timed_out).await {
        Some(Ok(stream)) => {
            let info = Arc::new(stream.info());
            match info.alpn.as_deref() {
                Some(b"h2") => {
                    let _open = ctx.metrics.as_ref().map(|metrics| metrics.connection(Protocol::Http2));
                    Box::pin(driver::h2::serve(rt, stream, peer, ctx, Some(info), bytes::Bytes::new())).await;
                }
                Some(_) => {
                    let _open = ctx.metrics.as_ref().map(|metrics| metrics.connection(Protocol::Http1));
                    Box::pin(driver::h1::serve(rt, stream, peer, ctx, Some(info), bytes::Bytes::new())).await;
                }
                // No ALPN: the first bytes tell, as on plain text (HTTP/2 with
                // prior knowledge over TLS, as Hypercorn accepts it).
                None => Box::pin(serve_sniffed(rt, stream, peer, ctx, Some(info))).await,
            }
        }
        Some(Err(error)) => tracing::debug!(%error, ?peer, "TLS handshake failed"),
        None => tracing::debug!(?peer, "TLS handshake timed out or cut short by a shutdown"),
    }
}

/// What a server embedded in a process manager is told and tells.
pub(crate) struct Hooks {
    /// Called once the lifespan startup is done and the listeners accept.
    pub(crate) on_ready: Option<Box<dyn FnOnce() + Send>>,
    /// Requests after which `on_retire` is called (a worker's `max_requests`).
    pub(crate) retire_after: Option<u64>,
    pub(crate) on_retire: crate::admission::OnRetire,
    pub(crate) metrics: Option<Arc<Metrics>>,
    /// Set before the shutdown future resolves to drain quietly (see `ConnContext::quiet`).
    pub(crate) quiet: Latch,
    /// Log each listener's address (the metrics endpoint logs its own way).
    pub(crate) announce: bool,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            on_ready: None,
            retire_after: None,
            on_retire: Box::new(|| {}),
            metrics: None,
            quiet: Latch::default(),
            announce: true,
        }
    }
}

/// Serves `app` on `listeners` on a new runtime of the kind `config.worker_class`
/// names, with `config.threads` threads, until SIGINT, SIGTERM or `stop`.
pub(crate) fn serve_listeners<A: App>(
    config: Config,
    listeners: Vec<(Listener, Security)>,
    app: A,
    stop: Latch,
    hooks: Hooks,
) -> Result<(), ServeError> {
    let threads = config.threads;
    let app: Arc<dyn App> = Arc::new(app);
    match config.worker_class {
        #[cfg(feature = "tokio")]
        WorkerClass::Tokio => milpa_tokio::block_on(threads, async move {
            let server = Server::from_listeners(milpa_tokio::Tokio::current(), config, listeners)?;
            let shutdown = race(milpa_tokio::Tokio::shutdown_signal(), stop.wait());
            server.serve_with(app, shutdown, hooks).await
        })?,
        #[cfg(feature = "smol")]
        WorkerClass::Smol => milpa_smol::block_on(threads, |rt| async move {
            let server = Server::from_listeners(rt, config, listeners)?;
            let shutdown = race(milpa_smol::Smol::shutdown_signal(), stop.wait());
            server.serve_with(app, shutdown, hooks).await
        }),
        #[cfg(feature = "async-std")]
        WorkerClass::AsyncStd => milpa_async_std::block_on(threads, async move {
            let server = Server::from_listeners(milpa_async_std::AsyncStd, config, listeners)?;
            let shutdown = race(milpa_async_std::AsyncStd::shutdown_signal(), stop.wait());
            server.serve_with(app, shutdown, hooks).await
        }),
        #[allow(unreachable_patterns)]
        other => Err(ServeError::Io(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("worker class {other} is not compiled in (enable milpa's `{other}` feature)"),
        ))),
    }
}

/// Serves `app` with `config` until SIGINT or SIGTERM, on a new runtime of the
/// kind `config.worker_class` names, with `config.threads` threads.
///
/// With `config.workers = N > 0` this process becomes a supervisor: it binds the
/// listeners and starts N workers by running this program again with the same
/// arguments and environment (plus `MILPA_WORKER`). In each, `run` serves the
/// inherited listeners, so the program must reach `run` with the same config.
/// The supervisor replaces workers one by one on SIGHUP, respawns any that die,
/// and stops them all gracefully on SIGTERM or SIGINT.
pub fn run<A: App>(config: Config, app: A) -> Result<(), ServeError> {
    if let Ok(slot) = std::env::var(crate::supervisor::WORKER_ENV) {
        let slot = slot.parse().unwrap_or(0);
        return crate::worker::run(config, app, slot);
    }
    let listeners = crate::listen::open_all(&config)?;
    // Written once the binds succeeded: a second start that cannot bind leaves
    // the running server's file alone.
    let _pid_file = PidFile::write(config.pid_file.as_deref())?;
    if config.workers > 0 {
        return crate::supervisor::run(config, listeners);
    }
    if config.max_requests > 0 {
        tracing::warn!("max_requests needs workers (a supervisor to replace the process); ignored");
    }
    let (metrics, _endpoint) = local_metrics(&config)?;
    let hooks = Hooks { metrics, ..Hooks::default() };
    serve_listeners(config, listeners, app, Latch::default(), hooks)
}

/// The metrics `config` asks for (StatsD, Prometheus) of a server without
/// workers, and its Prometheus endpoint, which stops when dropped.
fn local_metrics(
    config: &Config,
) -> io::Result<(Option<Arc<Metrics>>, Option<crate::metrics::MetricsServer>)> {
    let metrics = Metrics::wanted(config).then(|| Arc::new(Metrics::new(config)));
    let endpoint = match (&config.metrics_bind, &metrics) {
        (Some(bind), Some(metrics)) => Some(crate::metrics::serve_aggregate(
            config,
            bind,
            crate::metrics::Aggregate::local(metrics.clone()),
        )?),
        _ => None,
    };
    Ok((metrics, endpoint))
}

/// The process id in a file for as long as the server runs.
struct PidFile(Option<std::path::PathBuf>);

impl PidFile {
    fn write(path: Option<&Path>) -> io::Result<Self> {
        if let Some(path) = path {
            std::fs::write(path, format!("{}\n", std::process::id())).map_err(|error| {
                io::Error::new(error.kind(), format!("cannot write {}: {error}", path.display()))
            })?;
        }
        Ok(Self(path.map(Path::to_path_buf)))
    }
}

impl Drop for PidFile {
    /// Removes the file if it still names this process (another may have taken it over).
    fn drop(&mut self) {
        if let Some(path) = &self.0
            && std::fs::read_to_string(path).is_ok_and(|text| text.trim() == std::process::id().to_string())
        {
            let _ = std::fs::remove_file(path);
        }
    }
}
