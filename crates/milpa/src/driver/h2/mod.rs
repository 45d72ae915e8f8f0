//! The HTTP/2 connection driver: socket ⇄ `milpa_h2::Connection` ⇄ one
//! application future per stream, all polled inside the connection's task.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};
use http::{Method, StatusCode, Version};
use milpa_h2::frame::{Reason, StreamId, StreamIdMap};
use milpa_h2::{Connection, Event, SendError};

use super::file::{FileEvent, FileSend, Source};
use super::scratch::{self, Received};
use super::timer::Timer;
use super::write::{Flushed, WriteQueue};
use super::{ConnContext, Detached, Response, call_app, is_bodiless, poll_app};
use held::HeldBytes;
use websocket::Socket;

mod held;
mod websocket;
use crate::access_log::Record;
use crate::app::{Extensions, HeaderList, Headers, HttpScope, ReceiveEvent, Scope, SendEvent};
use crate::exchange::{Exchange, KEEP_WHOLE, Kind};
use crate::percent::decode_path;
use crate::runtime::Runtime;
use crate::shutdown::Watch;
use crate::tls::TlsInfo;

/// Past this much unwritten output, stop taking application output until the client reads.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Rounds of work in one wake-up before yielding to other tasks.
const ROUNDS_PER_WAKE: usize = 32;
/// Exchanges of finished streams kept for the next requests: enough for a client's
/// usual burst of concurrent requests.
const SPARE_EXCHANGES: usize = 16;
/// Requests a connection may send into refusals in a row (see `refuse_for_resets`)
/// before it is closed with GOAWAY(ENHANCE_YOUR_CALM).
const MAX_REFUSED_STREAMS: usize = 1000;

/// Serves one HTTP/2 connection until it closes. `initial` holds bytes already
/// read (the preface, when it was sniffed). The future is the driver itself: an
/// `async fn` would also keep a slot for the state machine moved into it.
pub(crate) fn serve<R, S>(
    rt: R,
    io: S,
    peer: Option<SocketAddr>,
    ctx: Arc<ConnContext>,
    tls: Option<Arc<TlsInfo>>,
    initial: Bytes,
) -> impl Future<Output = ()> + Send
where
    R: Runtime,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let now = Instant::now();
    let mut conn = Connection::new(ctx.h2.clone(), now);
    if !initial.is_empty() {
        conn.receive(now, &initial);
    }
    Driver::new(rt, io, peer, ctx, tls, conn)
}

/// An HTTP/1.1 request accepted for `Upgrade: h2c`, to be served as stream 1.
pub(crate) struct H2cUpgrade {
    /// The connection its HTTP2-Settings opened.
    pub(crate) conn: Box<Connection>,
    pub(crate) scope: Box<HttpScope>,
    /// Its access-log record, finished when stream 1 is.
    pub(crate) record: Option<Box<Record>>,
}

/// Serves an HTTP/2 connection that began as HTTP/1.1 with `Upgrade: h2c`: the
/// 101 is out; `upgrade` the request, answered on stream 1; `initial` the bytes
/// read past the request.
pub(crate) fn serve_upgraded<R, S>(
    rt: R,
    io: S,
    peer: Option<SocketAddr>,
    ctx: Arc<ConnContext>,
    upgrade: H2cUpgrade,
    initial: Bytes,
) -> impl Future<Output = ()> + Send
where
    R: Runtime,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let H2cUpgrade { conn, scope, record } = upgrade;
    let mut conn = *conn;
    let now = Instant::now();
    conn.receive(now, &initial);
    let authority = scope.headers.get(b"host").map(Bytes::copy_from_slice).unwrap_or_default();
    let mut driver = Driver::new(rt, io, peer, ctx, None, conn);
    driver.spawn_stream(StreamId::new(1), *scope, true, authority, record, now);
    driver
}

/// Draining for a successor, an HTTP/2 connection without streams for this long
/// is closed: long enough that a client between two requests of a busy
/// connection is not mistaken for one that is done.
const QUIET_IDLE: Duration = Duration::from_millis(500);

/// Counts one application running for a reset stream out when it ends.
struct ResetRunning(Arc<AtomicUsize>);

impl Drop for ResetRunning {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request's `:path`, split at the `?`.
struct Target {
    raw_path: Bytes,
    query_string: Bytes,
}

impl Target {
    fn of(request: &milpa_h2::Request) -> Self {
        // Only a CONNECT has no `:path`: its path is empty, as over HTTP/1.1.
        let target = request.path_bytes().unwrap_or_default();
        let query_start = target.iter().position(|&b| b == b'?');
        let raw_path = target.slice(..query_start.unwrap_or(target.len()));
        let query_string = query_start.map_or_else(Bytes::new, |at| target.slice(at + 1..));
        Self { raw_path, query_string }
    }
}

/// When a request body idle since `now` is late; never when `timeout` is zero
/// (off: a zero deadline would fire without end).
fn idle_deadline(timeout: Duration, now: Instant) -> Option<Instant> {
    (!timeout.is_zero()).then(|| now + timeout)
}

/// A `content-length` value: digits only (RFC 9110 §8.6), no sign.
fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// HTTP/2 field names are lower case (RFC 9113 §8.2.1); applications may name
/// fields in any case, as they can over HTTP/1.1.
fn lowercase_names(fields: &mut HeaderList) {
    for (name, _) in fields.iter_mut() {
        // A fold without early exit: vectorised, where `any` goes byte by byte.
        if name.iter().fold(false, |upper, byte| upper | byte.is_ascii_uppercase()) {
            *name = Bytes::from(name.to_ascii_lowercase());
        }
    }
}

/// The application's fields, then those the server adds.
fn head_fields<'a>(
    headers: &'a HeaderList,
    extra: &'a [Option<(&'a [u8], &'a [u8])>],
) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone {
    headers.iter().map(|(n, v)| (&n[..], &v[..])).chain(extra.iter().flatten().copied())
}

/// A request's header fields as the application sees them: `host` carries the
/// authority unless the client sent one itself, as HTTP/1.1 applications expect.
fn scope_headers(request: &milpa_h2::Request, authority: &[u8]) -> Headers {
    let has_host = request.header("host").is_some();
    let host = (!has_host && !authority.is_empty()).then_some((&b"host"[..], authority));
    let fields = request.headers();
    Headers::from_pairs(
        host.into_iter().chain(fields.iter().map(|field| (&field.name[..], &field.value[..]))),
    )
}

/// One request stream and the application future serving it.
struct StreamTask {
    exchange: Exchange,
    task: Option<crate::app::AppFuture>,
    ended: Option<Option<String>>,
    held_start: Option<(StatusCode, HeaderList)>,
    trailers_announced: bool,
    response: Response,
    trailers: HeaderList,
    /// Body data refused with `BufferFull`, sent again on `Writable`.
    blocked: Option<(Bytes, bool)>,
    file: Option<FileSend>,
    head: bool,
    /// A CONNECT: no tunnel can be opened here, so a 2xx answer is refused.
    connect: bool,
    /// The client waits for `100 Continue` before sending its body: sent when the
    /// application first asks for the body (RFC 9110 §10.1.1).
    expects_continue: bool,
    /// A WebSocket handshake (extended CONNECT) waiting for the application's answer.
    websocket: Option<Box<milpa_ws::handshake::Offer>>,
    authority: Bytes,
    record: Option<Box<Record>>,
    status: Option<StatusCode>,
    started: Instant,
    /// Holds the open-streams gauge up while the stream lives.
    _open: Option<crate::metrics::Open>,
    /// Body bytes still due by the application's own `content-length`.
    body_left: Option<u64>,
    /// While the client may still send body: when the body is late (the body idle
    /// timeout after its last DATA, if the application is waiting for it then).
    body_deadline: Option<Instant>,
    /// DATA on a WebSocket stream before the application answered its handshake.
    early: HeldBytes,
    early_eof: bool,
}

impl StreamTask {
    /// Whether the response carries no content: a HEAD answer, a 204 or a 304.
    fn no_content(&self) -> bool {
        self.head || self.status.is_some_and(is_bodiless)
    }
}

/// What applying one stream's output decided.
enum Outcome {
    Continue,
    Wait,
    Finished,
}

struct Driver<R: Runtime, S> {
    rt: R,
    io: S,
    peer: Option<SocketAddr>,
    ctx: Arc<ConnContext>,
    tls: Option<Arc<TlsInfo>>,
    conn: Connection,
    writes: WriteQueue,
    timer: Timer<R>,
    streams: StreamIdMap<StreamTask>,
    /// Streams carrying an accepted WebSocket.
    sockets: StreamIdMap<Socket>,
    /// Exchanges of finished streams, reused for new ones.
    spare: Vec<Exchange>,
    /// The streams to poll in this round (kept to reuse its storage).
    polling: Vec<StreamId>,
    date: Option<Bytes>,
    quiet: Watch,
    graceful: Watch,
    force: Watch,
    shutdown_seen: bool,
    eof: bool,
    /// Since when no stream has been open: past the keep-alive timeout the
    /// connection is shut down gracefully.
    idle_since: Option<Instant>,
    /// Applications still running for streams the client reset.
    reset_running: Arc<AtomicUsize>,
    /// Requests refused since too many of those began to run.
    refused: usize,
}

impl<R: Runtime, S: AsyncRead + AsyncWrite + Unpin> Future for Driver<R, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match this.poll_serving(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                if let Err(error) = result {
                    tracing::debug!(%error, peer = ?this.peer, "HTTP/2 connection ended with an error");
                }
                for (_, stream) in this.streams.drain() {
                    stream.exchange.disconnect();
                    if let Some(task) = stream.task {
                        this.rt.spawn(Detached::new(task, &this.ctx.tracker));
                    }
                }
                for (_, socket) in this.sockets.drain() {
                    socket.session.finish(&this.rt, &this.ctx.tracker);
                }
                Poll::Ready(())
            }
        }
    }
}

impl<R: Runtime, S: AsyncRead + AsyncWrite + Unpin> Driver<R, S> {
    fn new(
        rt: R,
        io: S,
        peer: Option<SocketAddr>,
        ctx: Arc<ConnContext>,
        tls: Option<Arc<TlsInfo>>,
        conn: Connection,
    ) -> Self {
        Self {
            conn,
            quiet: ctx.quiet.watch(),
            graceful: ctx.graceful.watch(),
            force: ctx.force.watch(),
            rt,
            io,
            peer,
            ctx: ctx.clone(),
            tls,
            writes: WriteQueue::new(ctx.metrics.clone()),
            timer: Timer::new(),
            streams: StreamIdMap::default(),
            sockets: StreamIdMap::default(),
            spare: Vec::new(),
            polling: Vec::new(),
            date: None,
            shutdown_seen: false,
            eof: false,
            idle_since: None,
            reset_running: Arc::new(AtomicUsize::new(0)),
            refused: 0,
        }
    }

    fn poll_serving(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.date = None;
        if self.force.poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        for stream in self.streams.values() {
            stream.exchange.unpark();
        }
        for socket in self.sockets.values() {
            socket.session.unpark();
        }
        for _ in 0..ROUNDS_PER_WAKE {
            let now = Instant::now();
            // Draining quietly, the connection goes once idle for `QUIET_IDLE`
            // (the timer below); polling `quiet` wakes this task to arm it.
            let _ = self.quiet.poll(cx);
            if !self.shutdown_seen && self.graceful.poll(cx).is_ready() {
                self.shutdown_seen = true;
                self.conn.start_shutdown();
                for socket in self.sockets.values_mut() {
                    socket.session.going_away(now);
                }
            }
            while self.handle_events(now) | self.poll_streams(cx) | self.poll_sockets(cx, now) {}
            self.idle_since = match self.is_idle() {
                true => self.idle_since.or(Some(now)),
                false => None,
            };

            while let Some(piece) = self.conn.poll_transmit(now) {
                self.writes.push(piece);
            }
            let Flushed { all: flushed, some: wrote } = self.writes.flush(&mut self.io, cx, now)?;
            if flushed && self.conn.is_finished() {
                return Pin::new(&mut self.io).poll_close(cx).map(|_| Ok(()));
            }
            // Output handed out may unblock input (a pending PING or SETTINGS ack)
            // and room made may let held work proceed: go round again.
            let mut progress = wrote || self.read(cx, now)?;
            if !progress {
                progress = self.poll_timer(cx)?;
            }
            if !progress {
                let take_output = self.output_room();
                // A stream whose output waits for flow control, or for the rest of
                // its file, cannot take the application's next event: parking it
                // as if it could would spin.
                let conn = &self.conn;
                let socket_room = |id: &StreamId, socket: &Socket| {
                    socket.blocked_is_empty() && conn.send_capacity(*id).is_ok_and(|room| room > 0)
                };
                if self.streams.values().all(|s| {
                    s.exchange.park(
                        cx.waker(),
                        take_output && s.blocked.is_none() && s.file.is_none(),
                        s.expects_continue,
                    )
                }) && self
                    .sockets
                    .iter()
                    .all(|(id, s)| s.session.park(cx.waker(), take_output && socket_room(id, s)))
                {
                    return Poll::Pending;
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// The `Date` value for answers sent during this wake-up.
    fn date(&mut self) -> Bytes {
        self.date.get_or_insert_with(crate::date::now).clone()
    }

    fn output_room(&self) -> bool {
        self.conn.pending_output() + self.writes.len() < WRITE_HIGH_WATER
    }

    /// Lets the application of a stream the client reset run on as a task of its
    /// own (it hears `Disconnect`), counted in `reset_running` until it ends.
    fn detach_reset(&mut self, future: crate::app::AppFuture) {
        let running = self.reset_running.clone();
        running.fetch_add(1, Ordering::AcqRel);
        let counted = Box::pin(async move {
            let _done = ResetRunning(running);
            future.await
        });
        self.rt.spawn(Detached::new(counted, &self.ctx.tracker));
    }

    /// Whether a new request must be refused: while more applications than
    /// `max_pending_accept_reset_streams` still run for streams this client reset,
    /// new requests get RST_STREAM(REFUSED_STREAM) (never processed, safe to
    /// retry) instead of starting more work, so resetting requests cannot buy
    /// unbounded work (CVE-2023-44487). The connection's other streams go on; a
    /// client that keeps sending requests into refusals is told to calm down.
    /// milpa-h2's own rapid-reset rule catches the resets that arrive before their
    /// request was taken (both in one read); this one, those that come later.
    fn refuse_for_resets(&mut self, stream: StreamId) -> bool {
        let running = self.reset_running.load(Ordering::Acquire);
        if running <= self.ctx.h2.max_pending_accept_reset_streams {
            self.refused = 0;
            return false;
        }
        let _ = self.conn.reset(stream, Reason::REFUSED_STREAM);
        self.refused += 1;
        if self.refused > MAX_REFUSED_STREAMS {
            tracing::debug!(peer = ?self.peer, running, "requests keep coming while reset work runs");
            self.conn.abort(Reason::ENHANCE_YOUR_CALM);
        }
        true
    }

    /// How long the connection may stay without streams: the keep-alive timeout,
    /// or `QUIET_IDLE` while draining for a successor.
    fn idle_limit(&self) -> Duration {
        let keep_alive = self.ctx.config.keep_alive_timeout;
        if self.ctx.quiet.is_set() { keep_alive.min(QUIET_IDLE) } else { keep_alive }
    }

    /// No stream open, on either side.
    fn is_idle(&self) -> bool {
        self.streams.is_empty() && self.sockets.is_empty() && self.conn.open_streams() == 0
    }

    fn read(&mut self, cx: &mut Context<'_>, now: Instant) -> io::Result<bool> {
        if self.eof || !self.conn.wants_read() || self.writes.len() >= WRITE_HIGH_WATER {
            return Ok(false);
        }
        let conn = &mut self.conn;
        match scratch::receive(&mut self.io, cx, self.ctx.metrics.as_deref(), |data| conn.receive(now, data))?
        {
            Received::Data => Ok(true),
            Received::Nothing => Ok(false),
            Received::Eof => {
                self.eof = true;
                self.conn.receive_eof();
                Ok(true)
            }
        }
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let stall = self.writes.stall_deadline(self.ctx.config.send_timeout);
        let idle = self.idle_since.filter(|_| !self.shutdown_seen).map(|since| since + self.idle_limit());
        let sockets = self.sockets.values().filter_map(|socket| socket.session.deadline()).min();
        let uploads = self.streams.values().filter_map(|stream| stream.body_deadline).min();
        let Some(deadline) =
            [self.conn.poll_timeout(), stall, idle, sockets, uploads].into_iter().flatten().min()
        else {
            return Ok(false);
        };
        if self.timer.poll(&self.rt, deadline, Instant::now(), cx).is_pending() {
            return Ok(false);
        }
        let now = Instant::now();
        self.writes.check_stall(now, self.ctx.config.send_timeout)?;
        if !self.shutdown_seen && self.idle_since.is_some_and(|since| now >= since + self.idle_limit()) {
            // Idle past the keep-alive timeout: the double GOAWAY, then close.
            self.shutdown_seen = true;
            self.conn.start_shutdown();
        }
        for socket in self.sockets.values_mut() {
            socket.session.handle_timeout(now);
        }
        if uploads.is_some_and(|deadline| now >= deadline) {
            self.check_uploads(now);
        }
        self.conn.handle_timeout(now);
        Ok(true)
    }

    /// Streams whose body is late: answered `408 Request Timeout` (or reset, when
    /// the response has begun) if the application waits for that body and the
    /// client had window to send it; otherwise the clock starts again.
    fn check_uploads(&mut self, now: Instant) {
        let mut late = std::mem::take(&mut self.polling);
        late.clear();
        late.extend(
            self.streams
                .iter()
                .filter(|(_, s)| s.body_deadline.is_some_and(|at| now >= at))
                .map(|(id, _)| *id),
        );
        // Other streams' unread bodies may have used the connection window up:
        // then the client is held back, not idle.
        let held_back = self.conn.connection_receive_window() < KEEP_WHOLE as u64;
        for &id in &late {
            let Some(stream) = self.streams.get_mut(&id) else { continue };
            if held_back || !stream.exchange.waits_for_body() {
                stream.body_deadline = idle_deadline(self.ctx.config.body_idle_timeout, now);
                continue;
            }
            tracing::debug!(%id, peer = ?self.peer, "request body idle past the timeout");
            let body = Bytes::from_static(b"Request Timeout\n");
            self.answer(id, StatusCode::REQUEST_TIMEOUT, body, Reason::CANCEL);
        }
        late.clear();
        self.polling = late;
    }

    fn handle_events(&mut self, now: Instant) -> bool {
        let idle_timeout = self.ctx.config.body_idle_timeout;
        let mut progress = false;
        while let Some(event) = self.conn.poll_event() {
            progress = true;
            match event {
                Event::Request { stream, request, end_stream } => {
                    if self.refuse_for_resets(stream) {
                        continue;
                    }
                    if request.protocol().is_some() {
                        self.start_websocket(stream, request, end_stream, now);
                    } else {
                        self.start_request(stream, request, end_stream, now);
                    }
                }
                Event::Data { stream, data, end_stream } if self.sockets.contains_key(&stream) => {
                    self.socket_data(stream, data, end_stream)
                }
                Event::Trailers { stream, .. } if self.sockets.contains_key(&stream) => {
                    self.socket_data(stream, Bytes::new(), true)
                }
                Event::StreamReset { stream, reason, .. } if self.sockets.contains_key(&stream) => {
                    tracing::debug!(%stream, %reason, "websocket stream reset");
                    if let Some(socket) = self.sockets.remove(&stream) {
                        socket.session.finish(&self.rt, &self.ctx.tracker);
                    }
                }
                Event::Data { stream, data, end_stream } => match self.streams.get_mut(&stream) {
                    // WebSocket frames sent before the handshake's answer: kept (the
                    // stream's window bounds them) for the session if it is accepted.
                    Some(task) if task.websocket.is_some() => {
                        task.early.push(data);
                        task.early_eof |= end_stream;
                    }
                    Some(task) => {
                        // The body is coming anyway: no 100 needed.
                        task.expects_continue = false;
                        task.body_deadline = if end_stream { None } else { idle_deadline(idle_timeout, now) };
                        task.exchange.push_body(data, !end_stream);
                    }
                    // Nobody reads it any more: give the window back at once.
                    None => {
                        let _ = self.conn.release_capacity(stream, data.len());
                    }
                },
                Event::Trailers { stream, .. } => {
                    if let Some(task) = self.streams.get_mut(&stream) {
                        task.expects_continue = false;
                        task.body_deadline = None;
                        task.exchange.push_body_end();
                    }
                }
                Event::StreamReset { stream, reason, .. } => {
                    tracing::debug!(%stream, %reason, "stream reset");
                    if let Some(task) = self.streams.remove(&stream) {
                        task.exchange.disconnect();
                        if let Some(future) = task.task {
                            self.detach_reset(future);
                        }
                    }
                }
                Event::StreamError { stream, error } => tracing::debug!(%stream, %error, "stream refused"),
                Event::Writable { .. } => {}
                Event::ConnectionError(error) => {
                    tracing::debug!(%error, peer = ?self.peer, "HTTP/2 connection error");
                }
                _ => {}
            }
        }
        progress
    }

    /// What the access log and the metrics will need of this request, if either is on.
    fn record(
        &self,
        request: &milpa_h2::Request,
        raw_path: &Bytes,
        query_string: &Bytes,
    ) -> Option<Box<Record>> {
        let log = self.ctx.request_log.as_ref()?;
        let request_headers = log.request_headers(|name| request.header(name));
        Some(Record::begin(
            self.peer,
            request.method().clone(),
            self.ctx.scheme,
            raw_path.clone(),
            query_string.clone(),
            Version::HTTP_2,
            request_headers,
        ))
    }

    fn start_request(
        &mut self,
        stream: StreamId,
        request: milpa_h2::Request,
        end_stream: bool,
        now: Instant,
    ) {
        let ctx = &self.ctx;
        let Target { raw_path, query_string } = Target::of(&request);
        let authority = request.authority_bytes().unwrap_or_default();
        let method = request.method().clone();
        let te_trailers = request.header("te").is_some_and(|te| te.eq_ignore_ascii_case(b"trailers"));
        let expects_continue =
            !end_stream && request.header("expect").is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
        let record = self.record(&request, &raw_path, &query_string);
        let headers = scope_headers(&request, &authority);
        let scope = HttpScope {
            http_version: Version::HTTP_2,
            method: method.clone(),
            scheme: ctx.scheme,
            path: decode_path(&raw_path),
            raw_path,
            query_string,
            root_path: ctx.config.root_path.clone(),
            headers,
            client: self.peer,
            server: ctx.local,
            extensions: Extensions {
                response_trailers: te_trailers,
                early_hint: true,
                push: ctx.h2.enable_push,
                pathsend: true,
                websocket_http_response: false,
            },
            tls: self.tls.clone(),
            state: ctx.state.clone(),
        };
        self.spawn_stream(stream, scope, end_stream, authority, record, now);
        if expects_continue && let Some(task) = self.streams.get_mut(&stream) {
            task.expects_continue = true;
        }
    }

    fn spawn_stream(
        &mut self,
        stream: StreamId,
        scope: HttpScope,
        end_stream: bool,
        authority: Bytes,
        record: Option<Box<Record>>,
        now: Instant,
    ) {
        let (exchange, receiver, sender) = match self.spare.pop() {
            Some(spare) => spare.reopen(None),
            None => Exchange::new(self.ctx.config.max_app_queue_size, Kind::Http),
        };
        self.insert_stream(
            stream,
            exchange,
            end_stream,
            scope.method == Method::HEAD,
            authority,
            record,
            now,
        );
        let Some(task) = self.streams.get_mut(&stream) else { return };
        task.connect = scope.method == Method::CONNECT;
        task.task = Some(call_app(&*self.ctx.app, Scope::Http(scope), receiver, sender));
    }

    /// Registers a stream served by an application; its future is set by the caller.
    #[allow(clippy::too_many_arguments)]
    fn insert_stream(
        &mut self,
        stream: StreamId,
        exchange: Exchange,
        end_stream: bool,
        head: bool,
        authority: Bytes,
        record: Option<Box<Record>>,
        now: Instant,
    ) {
        if end_stream {
            exchange.push(ReceiveEvent::Request { body: Bytes::new(), more_body: false });
        }
        self.streams.insert(
            stream,
            StreamTask {
                exchange,
                task: None,
                ended: None,
                held_start: None,
                trailers_announced: false,
                response: Response::NotStarted,
                trailers: Vec::new(),
                blocked: None,
                file: None,
                head,
                connect: false,
                expects_continue: false,
                websocket: None,
                authority,
                record,
                status: None,
                started: now,
                _open: self.ctx.metrics.as_ref().map(|metrics| metrics.stream()),
                body_left: None,
                body_deadline: if end_stream {
                    None
                } else {
                    idle_deadline(self.ctx.config.body_idle_timeout, now)
                },
                early: HeldBytes::default(),
                early_eof: false,
            },
        );
    }

    /// Polls every stream's application and applies its output.
    fn poll_streams(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let mut ids = std::mem::take(&mut self.polling);
        ids.extend(self.streams.keys().copied());
        for id in ids.drain(..) {
            progress |= self.poll_stream(id, cx);
        }
        self.polling = ids;
        progress
    }

    fn poll_stream(&mut self, id: StreamId, cx: &mut Context<'_>) -> bool {
        let Some(stream) = self.streams.get_mut(&id) else { return false };
        let mut progress = false;
        let consumed = stream.exchange.take_consumed();
        let idle_timeout = self.ctx.config.body_idle_timeout;
        if consumed > 0 {
            let _ = self.conn.release_capacity(id, consumed);
            // Window given back: the client's wait for it ends now.
            if stream.body_deadline.is_some() {
                stream.body_deadline = idle_deadline(idle_timeout, Instant::now());
            }
        }
        if stream.expects_continue && stream.exchange.take_body_wanted() {
            stream.expects_continue = false;
            if stream.body_deadline.is_some() {
                stream.body_deadline = idle_deadline(idle_timeout, Instant::now());
            }
            // Once the answer's head is out, the client learns from that; a head
            // still held back has told it nothing yet.
            if stream.response != Response::Streaming {
                let _ = self.conn.send_informational(id, StatusCode::CONTINUE, None::<(&[u8], &[u8])>);
                progress = true;
            }
        }
        if let Some(task) = &mut stream.task
            && let Poll::Ready(end) = poll_app(task, cx)
        {
            stream.task = None;
            let failed = end.failure();
            if let Some(why) = &failed {
                tracing::error!(error = %why, %id, "application error");
            }
            stream.ended = Some(failed);
            progress = true;
        }
        loop {
            if !self.output_room() {
                break;
            }
            match self.apply_next(id, cx) {
                Outcome::Continue => progress = true,
                Outcome::Wait => break,
                Outcome::Finished => return true,
            }
        }
        progress | self.settle(id)
    }

    /// Applies the stream's next piece of output: a blocked body, a file chunk, or
    /// the application's next event.
    fn apply_next(&mut self, id: StreamId, cx: &mut Context<'_>) -> Outcome {
        let Some(stream) = self.streams.get_mut(&id) else { return Outcome::Finished };
        if let Some((data, end)) = stream.blocked.take() {
            return self.send_body(id, data, end);
        }
        if let Some(file) = &mut stream.file {
            // The next chunk is read only once the stream's send buffer has room:
            // `send_data` would refuse it, and a client reading slowly would
            // otherwise have the file read ahead of it into memory.
            if self.conn.send_capacity(id).is_ok_and(|room| room == 0) {
                return Outcome::Wait;
            }
            return match file.poll(cx) {
                Poll::Pending => Outcome::Wait,
                Poll::Ready(event) => self.file_event(id, event),
            };
        }
        let Some(event) = stream.exchange.pop() else { return Outcome::Wait };
        match event {
            SendEvent::WebSocketAccept { subprotocol, headers } => {
                self.accept_websocket(id, subprotocol, headers)
            }
            // Closing before accepting refuses the handshake (ASGI: a 403).
            SendEvent::WebSocketClose { .. } if stream.websocket.is_some() => {
                let date = self.date();
                let sent =
                    self.conn.send_response(id, StatusCode::FORBIDDEN, [(&b"date"[..], &date[..])], true);
                if let Some(stream) = self.streams.get_mut(&id) {
                    stream.status = Some(StatusCode::FORBIDDEN);
                }
                match sent {
                    Ok(()) => self.finish(id),
                    Err(error) => self.fail(id, &error),
                }
            }
            SendEvent::ResponseStart { status, .. }
                if (stream.connect || stream.websocket.is_some()) && status.is_success() =>
            {
                // A 2xx would tell the client its tunnel (or WebSocket, for a denial
                // response) is open; there is none.
                tracing::error!(%status, %id, "the application tried to open a CONNECT tunnel; not supported here");
                stream.exchange.disconnect();
                self.answer_error(id);
                Outcome::Finished
            }
            SendEvent::ResponseStart { status, headers, trailers } => {
                if let (Some(log), Some(record)) = (&self.ctx.request_log, &mut stream.record) {
                    record.response_headers = log.response_headers(&headers);
                }
                stream.held_start = Some((status, headers));
                stream.trailers_announced = trailers;
                stream.response = Response::Held;
                stream.status = Some(status);
                Outcome::Continue
            }
            SendEvent::ResponseBody { body, more_body } => {
                if let Some(record) = &mut stream.record {
                    record.body_bytes += body.len() as u64;
                }
                let (no_content, held) = (stream.no_content(), stream.held_start.is_some());
                let end = !more_body && !stream.trailers_announced;
                if held {
                    let length = (!more_body && !no_content).then_some(body.len() as u64);
                    let head_ends_stream = end && (body.is_empty() || no_content);
                    if let Err(error) = self.send_head(id, head_ends_stream, length) {
                        return self.fail(id, &error);
                    }
                    if head_ends_stream {
                        return self.finish(id);
                    }
                }
                // What the application sends as the content of such a response is dropped.
                if no_content {
                    return if end { self.end_empty(id) } else { Outcome::Continue };
                }
                if let Some(stream) = self.streams.get_mut(&id)
                    && let Some(left) = stream.body_left
                {
                    let given = body.len() as u64;
                    if given > left || (!more_body && given < left) {
                        // Ending the stream would pass a wrong length off as complete.
                        tracing::error!(%id, declared_left = left, given, more_body, "response body does not match its content-length; resetting the stream");
                        let _ = self.conn.reset(id, Reason::INTERNAL_ERROR);
                        return self.finish(id);
                    }
                    stream.body_left = Some(left - given);
                }
                self.send_body(id, body, end)
            }
            SendEvent::ResponseTrailers { headers, more_trailers } => {
                stream.trailers.extend(headers);
                if more_trailers {
                    return Outcome::Continue;
                }
                let mut trailers = std::mem::take(&mut stream.trailers);
                lowercase_names(&mut trailers);
                match self.conn.send_trailers(id, trailers.iter().map(|(n, v)| (&n[..], &v[..]))) {
                    Ok(()) => self.finish(id),
                    Err(error) => self.fail(id, &error),
                }
            }
            SendEvent::EarlyHint { links } if stream.response == Response::NotStarted => {
                let hint = StatusCode::from_u16(103).unwrap_or(StatusCode::CONTINUE);
                let _ = self.conn.send_informational(id, hint, links.iter().map(|l| (&b"link"[..], &l[..])));
                Outcome::Continue
            }
            SendEvent::Push { path, headers } => {
                self.push(id, path, headers);
                Outcome::Continue
            }
            SendEvent::ResponseFile { path, range } => {
                stream.file = Some(FileSend::open(&self.rt, Source::Path(path), range));
                Outcome::Continue
            }
            SendEvent::ResponseOpenFile { file, range } => {
                stream.file = Some(FileSend::open(&self.rt, Source::Open(file.into_inner()), range));
                Outcome::Continue
            }
            _ => Outcome::Continue,
        }
    }

    /// Ends a stream whose head went out without END_STREAM and that has no body to send.
    fn end_empty(&mut self, id: StreamId) -> Outcome {
        match self.conn.send_data(id, Bytes::new(), true) {
            Ok(()) => self.finish(id),
            Err(error) => self.fail(id, &error),
        }
    }

    fn send_head(&mut self, id: StreamId, end_stream: bool, length: Option<u64>) -> Result<(), SendError> {
        let date = self.date();
        let include_server = self.ctx.config.include_server_header;
        let Some(stream) = self.streams.get_mut(&id) else { return Ok(()) };
        let Some((status, mut headers)) = stream.held_start.take() else { return Ok(()) };
        // RFC 9110 §8.6: never a Content-Length in a 204; in a 304 only the
        // application's own (the length a 200 would have had).
        if status == StatusCode::NO_CONTENT {
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case(b"content-length"));
        }
        let (mut has_date, mut has_server, mut declared) = (false, false, None);
        for (name, value) in &headers {
            match name.len() {
                4 => has_date |= name.eq_ignore_ascii_case(b"date"),
                6 => has_server |= name.eq_ignore_ascii_case(b"server"),
                14 if name.eq_ignore_ascii_case(b"content-length") => {
                    declared = Some(parse_length(value).ok_or(SendError::InvalidHeader)?);
                }
                _ => {}
            }
        }
        let has_length = declared.is_some();
        let no_content = stream.head || is_bodiless(status);
        let mismatch = match (declared, length) {
            // The whole body is known (one piece, or a file): it must be what was declared.
            (Some(declared), Some(length)) => declared != length,
            // No body at all after a promise of one.
            (Some(declared), None) => end_stream && declared > 0,
            (None, _) => false,
        };
        if mismatch && !no_content {
            // Nothing went out yet: answered as the error it is.
            return Err(SendError::InvalidHeader);
        }
        let mut digits = itoa::Buffer::new();
        let length_text =
            length.filter(|_| !has_length && !is_bodiless(status)).map(|n| digits.format(n).as_bytes());
        let extra = [
            (!has_date).then_some((&b"date"[..], &date[..])),
            (include_server && !has_server).then_some((&b"server"[..], &b"milpa"[..])),
            length_text.map(|text| (&b"content-length"[..], text)),
        ];
        let mut sent = self.conn.send_response(id, status, head_fields(&headers, &extra), end_stream);
        if matches!(sent, Err(SendError::InvalidHeader)) {
            // Refused before anything was written: lower-case the names and try again
            // (found here rather than checked on every response).
            lowercase_names(&mut headers);
            sent = self.conn.send_response(id, status, head_fields(&headers, &extra), end_stream);
        }
        sent?;
        stream.response = Response::Streaming;
        stream.body_left = declared.filter(|_| !no_content);
        Ok(())
    }

    fn send_body(&mut self, id: StreamId, data: Bytes, end: bool) -> Outcome {
        if data.is_empty() && !end {
            return Outcome::Continue;
        }
        // With room left the data is taken whole; only a full buffer refuses it (and
        // marks the stream to be reported writable), so only then is it cloned to keep.
        let full = self.conn.send_capacity(id).is_ok_and(|room| room == 0);
        let kept = full.then(|| data.clone());
        match self.conn.send_data(id, data, end) {
            Ok(()) if end => self.finish(id),
            Ok(()) => Outcome::Continue,
            Err(SendError::BufferFull(_)) => {
                if let Some(stream) = self.streams.get_mut(&id) {
                    stream.blocked = kept.map(|data| (data, end));
                }
                Outcome::Wait
            }
            Err(error) => self.fail(id, &error),
        }
    }

    fn file_event(&mut self, id: StreamId, event: io::Result<FileEvent>) -> Outcome {
        let trailers = self.streams.get(&id).is_some_and(|s| s.trailers_announced);
        match event {
            Ok(FileEvent::Length(length)) => {
                let Some(stream) = self.streams.get_mut(&id) else { return Outcome::Finished };
                if let Some(record) = &mut stream.record {
                    record.body_bytes = length;
                }
                if stream.no_content() {
                    // The head alone (with the file's length, for HEAD): the file is not sent.
                    stream.file = None;
                    if let Err(error) = self.send_head(id, !trailers, Some(length)) {
                        return self.fail(id, &error);
                    }
                    return if trailers { Outcome::Continue } else { self.finish(id) };
                }
                let empty = length == 0;
                if let Err(error) = self.send_head(id, empty && !trailers, Some(length)) {
                    return self.fail(id, &error);
                }
                self.next_file_chunk(id, empty, trailers)
            }
            Ok(FileEvent::Chunk { data, last }) => match self.conn.send_data(id, data, last && !trailers) {
                Ok(()) => self.next_file_chunk(id, last, trailers),
                Err(error) => self.fail(id, &error),
            },
            Err(error) => {
                tracing::error!(%error, %id, "file response failed");
                if let Some(stream) = self.streams.get_mut(&id) {
                    stream.file = None;
                    stream.exchange.disconnect();
                }
                self.answer_error(id);
                Outcome::Finished
            }
        }
    }

    fn next_file_chunk(&mut self, id: StreamId, done: bool, trailers: bool) -> Outcome {
        let Some(stream) = self.streams.get_mut(&id) else { return Outcome::Finished };
        if !done {
            if let Some(file) = &mut stream.file {
                file.read_next(&self.rt);
            }
            return Outcome::Continue;
        }
        stream.file = None;
        if trailers { Outcome::Continue } else { self.finish(id) }
    }

    /// `http.response.push`: promise `path` on the stream and serve it through the
    /// application like a request. Ignored where the client refuses push.
    fn push(&mut self, id: StreamId, path: String, mut headers: HeaderList) {
        let Some(parent) = self.streams.get(&id) else { return };
        lowercase_names(&mut headers);
        let authority = parent.authority.clone();
        let scheme = self.ctx.scheme.as_bytes();
        let pseudo = [
            (&b":method"[..], &b"GET"[..]),
            (b":scheme", scheme),
            (b":authority", &authority[..]),
            (b":path", path.as_bytes()),
        ];
        let fields = pseudo.into_iter().chain(headers.iter().map(|(n, v)| (&n[..], &v[..])));
        let Ok(promised) = self.conn.push_promise(id, fields) else { return };
        let target = Bytes::from(path.into_bytes());
        let query_start = target.iter().position(|&b| b == b'?');
        let raw_path = target.slice(..query_start.unwrap_or(target.len()));
        let host = (!authority.is_empty()).then(|| (&b"host"[..], &authority[..]));
        let scope = HttpScope {
            http_version: Version::HTTP_2,
            method: Method::GET,
            scheme: self.ctx.scheme,
            path: decode_path(&raw_path),
            raw_path,
            query_string: query_start.map_or_else(Bytes::new, |at| target.slice(at + 1..)),
            root_path: self.ctx.config.root_path.clone(),
            headers: Headers::from_pairs(
                host.into_iter().chain(headers.iter().map(|(n, v)| (&n[..], &v[..]))),
            ),
            client: self.peer,
            server: self.ctx.local,
            extensions: Extensions {
                response_trailers: false,
                early_hint: false,
                push: false,
                pathsend: true,
                websocket_http_response: false,
            },
            tls: self.tls.clone(),
            state: self.ctx.state.clone(),
        };
        self.spawn_stream(promised, scope, true, authority, None, Instant::now());
    }

    /// Judges an application that ended, once everything it sent is applied.
    fn settle(&mut self, id: StreamId) -> bool {
        let Some(stream) = self.streams.get(&id) else { return false };
        if stream.ended.is_none()
            || stream.file.is_some()
            || stream.blocked.is_some()
            || stream.exchange.has_output()
        {
            return false;
        }
        if stream.response == Response::Streaming {
            tracing::error!(%id, "application ended before completing its response; resetting the stream");
            let _ = self.conn.reset(id, Reason::INTERNAL_ERROR);
            self.finish(id);
        } else {
            self.answer_error(id);
        }
        true
    }

    /// A 500 when nothing went out yet, else a reset.
    fn answer_error(&mut self, id: StreamId) {
        let body = Bytes::from_static(b"Internal Server Error\n");
        self.answer(id, StatusCode::INTERNAL_SERVER_ERROR, body, Reason::INTERNAL_ERROR);
    }

    /// Ends a stream the server gives up on: a plain-text `status` answer when
    /// nothing went out yet, else a reset with `reason`.
    fn answer(&mut self, id: StreamId, status: StatusCode, body: Bytes, reason: Reason) {
        let (started, head) =
            self.streams.get(&id).map_or((false, false), |s| (s.response == Response::Streaming, s.head));
        if started {
            let _ = self.conn.reset(id, reason);
        } else {
            let date = self.date();
            let fields = [(&b"content-type"[..], &b"text/plain; charset=utf-8"[..]), (b"date", &date[..])];
            // A HEAD answer has no content (clients expect none: a DATA frame is a
            // protocol error to them).
            let sent = if head {
                self.conn.send_response(id, status, fields, true)
            } else {
                self.conn
                    .send_response(id, status, fields, false)
                    .and_then(|()| self.conn.send_data(id, body, true))
            };
            if sent.is_err() {
                let _ = self.conn.reset(id, reason);
            }
            if let Some(stream) = self.streams.get_mut(&id) {
                stream.status = Some(status);
            }
        }
        self.finish(id);
    }

    /// The application's response broke a rule: a 500 if its head was the
    /// problem (nothing went out), else a reset.
    fn fail(&mut self, id: StreamId, error: &SendError) -> Outcome {
        tracing::error!(%error, %id, "response rejected");
        self.answer_error(id);
        Outcome::Finished
    }

    /// The response is complete (or abandoned): log it, tell the application, and
    /// let its future run on elsewhere if it is not finished.
    fn finish(&mut self, id: StreamId) -> Outcome {
        let Some(mut stream) = self.streams.remove(&id) else { return Outcome::Finished };
        stream.exchange.disconnect();
        // A client still uploading is told to stop once the response is out.
        self.conn.stop_receiving(id);
        // Body the application took or will never take goes back to the window.
        let early = stream.early.len();
        let unread = stream.exchange.take_consumed() + stream.exchange.drain_unread_body() + early;
        if unread > 0 {
            let _ = self.conn.release_capacity(id, unread);
        }
        if let (Some(log), Some(record)) = (&self.ctx.request_log, stream.record.take()) {
            log.finish(record, stream.status, stream.started, stream.exchange.forwarded_client());
        }
        match stream.task.take() {
            Some(task) => self.rt.spawn(Detached::new(task, &self.ctx.tracker)),
            None if self.spare.len() < SPARE_EXCHANGES => self.spare.push(stream.exchange),
            None => {}
        }
        Outcome::Finished
    }
}
