//! The HTTP/1.1 connection driver: socket ⇄ `milpa_h1::Connection` ⇄ application.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};
use http::{Method, StatusCode, Version};
use milpa_h1::{Connection, Event, FieldBlock, Request};

use super::file::{FileEvent, FileSend, Source};
use super::h2::H2cUpgrade;
use super::scratch::{self, Received};
use super::timer::Timer;
use super::write::{Flushed, WriteQueue};
use super::{ConnContext, Detached, Response, call_app, is_bodiless, poll_app};
use crate::access_log::Record;
use crate::app::{Extensions, HeaderList, Headers, HttpScope, ReceiveEvent, Scope, SendEvent};
use crate::exchange::{Exchange, Kind};
use crate::percent::decode_path;
use crate::runtime::Runtime;
use crate::shutdown::Watch;
use crate::tls::TlsInfo;

/// Bytes read from the socket per call.
/// Past this much unwritten output, stop taking responses (and requests) until the
/// client reads: a client that never reads cannot grow the server's memory.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Rounds of work in one wake-up before yielding to other tasks, so a client that
/// keeps the socket full cannot monopolise a worker on runtimes without a budget.
const ROUNDS_PER_WAKE: usize = 32;
/// After the last response, unread input is drained for this long (and this much)
/// before closing, so the kernel does not answer it with a reset that could
/// destroy the response at the client (a "lingering close", as nginx does).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

/// Serves one HTTP/1.1 connection until it closes. `initial` holds bytes already
/// read while sniffing the protocol.
pub(crate) async fn serve<R, S>(
    rt: R,
    io: S,
    peer: Option<SocketAddr>,
    ctx: Arc<ConnContext>,
    tls: Option<Arc<TlsInfo>>,
    initial: Bytes,
) where
    R: Runtime,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Built outside this future: only the driver is kept across its awaits.
    let mut driver = Driver::new(rt, io, peer, ctx, tls, &initial);
    std::future::poll_fn(|cx| Pin::new(&mut driver).poll(cx)).await;
    if let Some(session) = driver.websocket.take().filter(|_| driver.conn.is_switched()) {
        let initial = driver.conn.take_upgrade_bytes().unwrap_or_default();
        let Driver { rt, io, peer, ctx, .. } = driver;
        Box::pin(super::ws::serve_h1(rt, io, peer, ctx, *session, initial)).await;
        return;
    }
    if let Some(upgrade) = driver.upgrade.take().filter(|_| driver.conn.is_switched()) {
        let initial = driver.conn.take_upgrade_bytes().unwrap_or_default();
        let Driver { rt, io, peer, ctx, .. } = driver;
        Box::pin(super::h2::serve_upgraded(rt, io, peer, ctx, upgrade, initial)).await;
    }
}

/// The request being served.
struct Current {
    exchange: Exchange,
    /// The application's future while it runs inside this task.
    task: Option<crate::app::AppFuture>,
    /// How the application's future ended, once it did: `Some(None)` returned,
    /// `Some(Some(why))` failed. Judged only after its queued events are applied.
    ended: Option<Option<String>>,
    held_start: Option<(StatusCode, HeaderList)>,
    /// The application announced trailers: the body's end does not end the response.
    trailers_announced: bool,
    response: Response,
    trailers: HeaderList,
    file: Option<FileSend>,
    request_done: bool,
    head: bool,
    connect: bool,
    /// A WebSocket handshake waiting for the application's answer.
    websocket: Option<Box<milpa_ws::handshake::Offer>>,
    /// What the access log will say; only kept when there is an access log.
    record: Option<Box<Record>>,
    status: Option<StatusCode>,
    started: Instant,
}

impl Current {
    /// A request whose application was just called, with nothing answered yet.
    fn new(
        exchange: Exchange,
        task: crate::app::AppFuture,
        record: Option<Box<Record>>,
        now: Instant,
    ) -> Self {
        Self {
            exchange,
            task: Some(task),
            ended: None,
            held_start: None,
            trailers_announced: false,
            response: Response::NotStarted,
            trailers: Vec::new(),
            file: None,
            request_done: false,
            head: false,
            connect: false,
            websocket: None,
            record,
            status: None,
            started: now,
        }
    }
}

/// The connection's life after serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Write side shut; draining the client's leftovers until EOF, the deadline or the byte budget.
    Lingering {
        until: Instant,
        budget: usize,
    },
}

struct Driver<R: Runtime, S> {
    /// Set once a request asked for `Upgrade: h2c` and the 101 is on its way.
    upgrade: Option<H2cUpgrade>,
    /// Set once the application accepted a WebSocket and the 101 is on its way.
    websocket: Option<Box<super::ws::Session>>,
    rt: R,
    io: S,
    peer: Option<SocketAddr>,
    ctx: Arc<ConnContext>,
    tls: Option<Arc<TlsInfo>>,
    conn: Connection,
    writes: WriteQueue,
    timer: Timer<R>,
    current: Option<Current>,
    /// The current application's events, taken from its exchange a batch at a
    /// time and applied in order.
    events: VecDeque<SendEvent>,
    /// The last request's exchange, reused when nothing else holds it.
    spare: Option<Exchange>,
    /// The `Date` value for responses sent during this wake-up.
    date: Option<Bytes>,
    /// The `date` fields, without and with `server`, and until when they are
    /// current (expired at first); see [`crate::date::h1_fields`].
    common: [(FieldBlock, Instant); 2],
    /// The time read at the start of this wake-up.
    clock: Instant,
    quiet: Watch,
    graceful: Watch,
    force: Watch,
    shutdown_seen: bool,
    eof: bool,
    /// The connection must end as soon as the queued bytes are out.
    closing: bool,
    /// Serving, or lingering after the write side was shut.
    phase: Phase,
}

impl<R: Runtime, S> Driver<R, S> {
    /// A driver for a new connection that has sent `initial` so far.
    fn new(
        rt: R,
        io: S,
        peer: Option<SocketAddr>,
        ctx: Arc<ConnContext>,
        tls: Option<Arc<TlsInfo>>,
        initial: &[u8],
    ) -> Self {
        let now = Instant::now();
        let mut conn = Connection::new(ctx.h1.clone(), now);
        // The date block the error answers carry, current from the start.
        let add_server = ctx.config.include_server_header;
        let mut common = [(FieldBlock::default(), now), (FieldBlock::default(), now)];
        common[usize::from(add_server)] = crate::date::h1_fields(add_server);
        conn.set_error_fields(common[usize::from(add_server)].0.clone());
        conn.receive(now, initial);
        Driver {
            upgrade: None,
            websocket: None,
            conn,
            quiet: ctx.quiet.watch(),
            graceful: ctx.graceful.watch(),
            force: ctx.force.watch(),
            rt,
            io,
            peer,
            writes: WriteQueue::new(ctx.metrics.clone()),
            ctx,
            tls,
            timer: Timer::new(),
            current: None,
            events: VecDeque::new(),
            spare: None,
            date: None,
            common,
            clock: now,
            shutdown_seen: false,
            eof: false,
            closing: false,
            phase: Phase::Serving,
        }
    }
}

impl<R: Runtime, S: AsyncRead + AsyncWrite + Unpin> Future for Driver<R, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let result = match this.phase {
            Phase::Serving => this.poll_serving(cx),
            Phase::Lingering { .. } => this.poll_lingering(cx),
        };
        match result {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                if let Err(error) = result {
                    tracing::debug!(%error, peer = ?this.peer, "connection ended with an error");
                }
                this.abandon_request();
                Poll::Ready(())
            }
        }
    }
}

impl<R: Runtime, S: AsyncRead + AsyncWrite + Unpin> Driver<R, S> {
    fn poll_serving(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.date = None;
        if self.force.poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        if let Some(current) = &self.current {
            current.exchange.unpark();
        }
        // One clock reading per wake-up: its rounds take microseconds, and a deadline
        // judged that much early or late changes nothing.
        let now = Instant::now();
        self.clock = now;
        self.renew_common(self.ctx.config.include_server_header);
        // Between requests, the socket is what wakes the task (a timer or a shutdown
        // otherwise): read first, so the first round serves what arrived instead of
        // finding nothing to do and reading at its end.
        if self.current.is_none() {
            self.read(cx, now)?;
        }
        for _ in 0..ROUNDS_PER_WAKE {
            // Draining quietly, a busy connection closes after its response;
            // an idle one is left to its keep-alive timeout or the graceful phase.
            if !self.shutdown_seen
                && (self.graceful.poll(cx).is_ready()
                    || self.current.is_some() && self.quiet.poll(cx).is_ready())
            {
                self.shutdown_seen = true;
                self.conn.start_shutdown();
            }
            // Everything that can happen without the socket, repeated until
            // quiet, so all pipelined requests already read are answered before
            // one vectored write sends their responses together.
            while self.step(cx, now) {}

            while let Some(piece) = self.conn.poll_transmit(now) {
                self.writes.push(piece);
            }
            // Held work (application events, file chunks, pipelined requests)
            // waits only while the output is over the high-water mark.
            let work_held = !self.output_room();
            let Flushed { all: flushed, some: wrote } = self.writes.flush(&mut self.io, cx, now)?;
            if flushed && self.conn.is_switched() && (self.upgrade.is_some() || self.websocket.is_some()) {
                // The 101 is out: the socket now belongs to HTTP/2.
                return Poll::Ready(Ok(()));
            }
            if flushed && (self.closing || self.conn.is_finished() || self.conn.is_switched()) {
                return self.start_closing(cx);
            }

            // Room made in the output lets held work proceed: go round again
            // before sleeping. The socket is read either way, so a request that
            // arrived while its predecessor's response went out is served in
            // this round.
            let mut progress = self.read(cx, now)? | (wrote && work_held);
            if !progress {
                progress = self.poll_timer(cx)?;
            }
            if !progress && self.closing {
                // The response is over: nothing the application does matters now.
                // The socket turning writable or the send timeout wakes the task.
                return Poll::Pending;
            }
            if !progress {
                // A file response takes the application's next events (trailers)
                // only after its last chunk: until then they cannot be taken.
                let take_output =
                    self.output_room() && self.current.as_ref().is_none_or(|c| c.file.is_none());
                match &self.current {
                    Some(current)
                        if !current.exchange.park(cx.waker(), take_output, !current.request_done) =>
                    {
                        continue;
                    }
                    _ => return Poll::Pending,
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn read(&mut self, cx: &mut Context<'_>, now: Instant) -> io::Result<bool> {
        if !self.may_read() {
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
                if let Some(current) = self.current.as_ref().filter(|c| c.request_done) {
                    current.exchange.peer_closed();
                }
                Ok(true)
            }
        }
    }

    fn may_read(&self) -> bool {
        !self.closing
            && !self.eof
            && self.conn.wants_read()
            && self.writes.len() < WRITE_HIGH_WATER
            && self.current.as_ref().is_none_or(|c| c.request_done || c.exchange.has_room())
    }

    fn output_room(&self) -> bool {
        self.conn.pending_output() + self.writes.len() < WRITE_HIGH_WATER
    }

    /// Everything is out: shut the write side, then linger if the client may
    /// still be sending.
    fn start_closing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Poll::Ready(Err(error)) = Pin::new(&mut self.io).poll_close(cx) {
            return Poll::Ready(Err(error));
        }
        if self.eof || self.conn.is_switched() {
            return Poll::Ready(Ok(()));
        }
        self.phase = Phase::Lingering { until: Instant::now() + LINGER_TIME, budget: LINGER_BYTES };
        self.poll_lingering(cx)
    }

    fn poll_lingering(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Phase::Lingering { until, mut budget } = self.phase else { return Poll::Ready(Ok(())) };
        // A server shutting down does not wait for lingering clients.
        if self.graceful.poll(cx).is_ready() || self.force.poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        loop {
            match scratch::poll_read(&mut self.io, cx, |_| {}) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(n)) if n >= budget => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(n)) => budget -= n,
                Poll::Pending => break,
            }
        }
        self.phase = Phase::Lingering { until, budget };
        self.timer.poll_until(&self.rt, until, cx).map(Ok)
    }

    /// The earliest deadline: the state machine's, or the send timeout while
    /// output waits for a client that does not read.
    fn deadline(&self) -> Option<Instant> {
        let stall = self.writes.stall_deadline(self.ctx.config.send_timeout);
        match (self.conn.poll_timeout(), stall) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires the timer when the earliest deadline is due (see [`Timer`]).
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let Some(deadline) = self.deadline() else {
            return Ok(false);
        };
        if self.timer.poll(&self.rt, deadline, self.clock, cx).is_pending() {
            return Ok(false);
        }
        let now = Instant::now();
        self.writes.check_stall(now, self.ctx.config.send_timeout)?;
        self.conn.handle_timeout(now);
        Ok(true)
    }

    /// One round of protocol events, application progress and application
    /// output. Returns whether anything happened.
    fn step(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        if self.closing {
            return false;
        }
        let mut progress = self.handle_events(now);
        progress |= self.poll_task(cx);
        progress |= self.apply_output(cx);
        progress |= self.settle();
        progress
    }

    fn handle_events(&mut self, now: Instant) -> bool {
        let mut progress = false;
        loop {
            let accepting = match &self.current {
                None => self.output_room(),
                Some(current) => !current.request_done && current.exchange.has_room(),
            };
            if !accepting {
                break;
            }
            let Some(event) = self.conn.poll_event() else { break };
            progress = true;
            match event {
                Event::Request(request) if self.wants_h2c(&request) => self.start_h2c(request, now),
                // RFC 9110 §7.8: an HTTP/1.0 request's Upgrade is ignored.
                Event::Request(request)
                    if request.version() == Version::HTTP_11
                        && request.headers().has_token(b"upgrade", b"websocket") =>
                {
                    self.start_websocket(request, now)
                }
                Event::EndOfMessage { .. } if self.upgrade.is_some() && self.current.is_none() => {
                    let fields = [(&b"connection"[..], &b"Upgrade"[..]), (b"upgrade", b"h2c")];
                    if self.conn.send_response(StatusCode::SWITCHING_PROTOCOLS, fields, None).is_err() {
                        self.closing = true;
                    }
                }
                Event::Request(request) => self.start_request(request, now),
                Event::Data(data) => {
                    if let Some(current) = &self.current {
                        current.exchange.push(ReceiveEvent::Request { body: data, more_body: true });
                    }
                }
                Event::EndOfMessage { .. } => {
                    if let Some(current) = &mut self.current {
                        // A WebSocket handshake has no body to end.
                        if current.websocket.is_none() {
                            current.exchange.push_body_end();
                        }
                        current.request_done = true;
                    }
                }
                Event::Error(error) => {
                    tracing::debug!(%error, peer = ?self.peer, "bad request");
                    if let Some(current) = &mut self.current {
                        current.request_done = true;
                        current.exchange.disconnect();
                        // The state machine answered (or will close); the
                        // application's response can no longer be sent.
                        self.closing = true;
                    }
                }
                _ => {}
            }
        }
        // Once the request is complete, an application asking for more body gets
        // its end from the queue: there is nothing to ask the client for.
        if let Some(current) = &self.current
            && !current.request_done
            && current.exchange.take_body_wanted()
        {
            self.conn.want_body();
        }
        progress
    }

    /// `Upgrade: h2c` (RFC 7540 §3.2) on a plain-text connection, for a request
    /// without a body, with exactly one `HTTP2-Settings`.
    fn wants_h2c(&self, request: &Request) -> bool {
        let headers = request.headers();
        self.ctx.tls.is_none()
            && self.ctx.config.h2c_upgrade
            && self.current.is_none()
            && request.version() == Version::HTTP_11
            && request.body_length() == milpa_h1::BodyLength::Empty
            && headers.has_token(b"upgrade", b"h2c")
            && headers.has_token(b"connection", b"upgrade")
            && headers.has_token(b"connection", b"http2-settings")
            && headers.get_all(b"http2-settings").count() == 1
    }

    /// Opens the HTTP/2 connection the request's HTTP2-Settings describe; if they
    /// are not valid settings, the request is served over HTTP/1.1 as if it had not
    /// asked to upgrade (RFC 7540 §3.2 lets the server decline).
    #[cold]
    fn start_h2c(&mut self, mut request: Request, now: Instant) {
        let settings = request.headers().get(b"http2-settings").and_then(base64url_decode);
        let conn = settings.ok_or(()).and_then(|settings| {
            milpa_h2::Connection::from_h2c_upgrade(self.ctx.h2.clone(), now, &settings).map_err(|error| {
                tracing::debug!(%error, peer = ?self.peer, "invalid HTTP2-Settings: not upgrading");
            })
        });
        let Ok(conn) = conn else {
            self.start_request(request, now);
            return;
        };
        let extensions = Extensions {
            response_trailers: request.headers().has_token(b"te", b"trailers"),
            early_hint: true,
            push: self.ctx.h2.enable_push,
            pathsend: true,
            websocket_http_response: false,
        };
        let (raw_path, query_string) = split_target(&request);
        let mut record = self.record(&request, &raw_path, &query_string);
        if let Some(record) = &mut record {
            // Logged as served, like its scope's `http_version` (as Hypercorn does).
            record.version = Version::HTTP_2;
        }
        let scope = self.scope(&mut request, Version::HTTP_2, extensions, raw_path, query_string);
        self.upgrade = Some(H2cUpgrade { conn: Box::new(conn), scope: Box::new(scope), record });
    }

    /// The scope of `request` (its header section is moved into it).
    fn scope(
        &self,
        request: &mut Request,
        http_version: Version,
        extensions: Extensions,
        raw_path: Bytes,
        query_string: Bytes,
    ) -> HttpScope {
        let ctx = &self.ctx;
        let headers = scope_headers(request);
        HttpScope {
            http_version,
            method: request.method().clone(),
            scheme: ctx.scheme,
            path: decode_path(&raw_path),
            raw_path,
            query_string,
            root_path: ctx.config.root_path.clone(),
            headers,
            client: self.peer,
            server: ctx.local,
            extensions,
            tls: self.tls.clone(),
            state: ctx.state.clone(),
        }
    }

    /// What the access log and the metrics will need of this request, if either is on.
    fn record(&self, request: &Request, raw_path: &Bytes, query_string: &Bytes) -> Option<Box<Record>> {
        let log = self.ctx.request_log.as_ref()?;
        Some(self.begin_record(log, request, raw_path, query_string))
    }

    // Cold: when a log is on, writing it costs far more than the call.
    #[cold]
    fn begin_record(
        &self,
        log: &crate::access_log::RequestLog,
        request: &Request,
        raw_path: &Bytes,
        query_string: &Bytes,
    ) -> Box<Record> {
        let request_headers = log.request_headers(|name| request.headers().get(name.as_bytes()));
        Record::begin(
            self.peer,
            request.method().clone(),
            self.ctx.scheme,
            raw_path.clone(),
            query_string.clone(),
            request.version(),
            request_headers,
        )
    }

    fn start_request(&mut self, mut request: Request, now: Instant) {
        let ctx = &self.ctx;
        let (raw_path, query_string) = split_target(&request);
        let extensions = Extensions {
            response_trailers: request.headers().has_token(b"te", b"trailers"),
            early_hint: request.version() == Version::HTTP_11,
            push: false,
            pathsend: true,
            websocket_http_response: false,
        };
        let record = self.record(&request, &raw_path, &query_string);
        let version = request.version();
        let scope = self.scope(&mut request, version, extensions, raw_path, query_string);
        let request_done = request.body_length() == milpa_h1::BodyLength::Empty;
        let first = request_done.then(|| ReceiveEvent::Request { body: Bytes::new(), more_body: false });
        let (exchange, receiver, sender) = match self.spare.take() {
            Some(spare) => spare.reopen(first),
            None => Exchange::new_http(ctx.config.max_app_queue_size, first),
        };
        let task = call_app(&*ctx.app, Scope::Http(scope), receiver, sender);
        self.current = Some(Current {
            request_done,
            head: *request.method() == Method::HEAD,
            connect: *request.method() == Method::CONNECT,
            ..Current::new(exchange, task, record, now)
        });
        // Draining quietly for a successor: this response is the connection's last.
        // (The check at the top of a round misses requests answered within it.)
        if !self.shutdown_seen && self.ctx.quiet.is_set() {
            self.shutdown_seen = true;
            self.conn.start_shutdown();
        }
    }

    fn poll_task(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(current) = &mut self.current else { return false };
        let Some(task) = &mut current.task else { return false };
        let Poll::Ready(end) = poll_app(task, cx) else { return false };
        current.task = None;
        let failed = end.failure();
        if let Some(why) = &failed {
            tracing::error!(error = %why, "application error");
        }
        current.ended = Some(failed);
        true
    }

    /// Judges an application that has ended, once everything it sent is applied:
    /// no response yet means a 500; half a response means closing.
    fn settle(&mut self) -> bool {
        let Some(current) = &self.current else { return false };
        let Some(failed) = &current.ended else { return false };
        if current.file.is_some() || !self.events.is_empty() || current.exchange.has_output() {
            return false;
        }
        match current.response {
            Response::NotStarted | Response::Held => {
                if failed.is_none() {
                    tracing::error!("application returned without completing its response start");
                }
                self.send_internal_error();
            }
            Response::Streaming => {
                tracing::error!("application ended before completing its response; closing the connection");
                self.closing = true;
                self.finish_response();
            }
        }
        true
    }

    #[cold]
    fn send_internal_error(&mut self) {
        let fields = [(&b"connection"[..], &b"close"[..])];
        self.send_simple(
            StatusCode::INTERNAL_SERVER_ERROR,
            &fields,
            Bytes::from_static(b"Internal Server Error\n"),
        );
    }

    /// Answers the current request (or none yet) with `status`, `fields` and a
    /// plain-text `body`, and ends the response.
    #[cold]
    fn send_simple(&mut self, status: StatusCode, fields: &[(&[u8], &[u8])], body: Bytes) {
        let date = self.date();
        let standard = [(&b"content-type"[..], &b"text/plain; charset=utf-8"[..]), (b"date", &date[..])];
        let sent = self
            .conn
            .send_response(status, standard.iter().chain(fields).copied(), Some(body.len() as u64))
            .and_then(|()| self.conn.send_data(body.clone()))
            .and_then(|()| self.conn.send_end(None::<(&[u8], &[u8])>));
        if sent.is_err() {
            self.closing = true;
        }
        if let Some(current) = &mut self.current {
            current.status = Some(status);
            if let Some(record) = &mut current.record {
                record.body_bytes = body.len() as u64;
            }
        }
        self.finish_response();
    }

    /// A request with `Upgrade: websocket`: a valid handshake goes to the
    /// application as a WebSocket scope; an invalid one is answered here (400, or
    /// 426 for an unsupported version).
    #[cold]
    fn start_websocket(&mut self, mut request: Request, now: Instant) {
        if request.body_length() != milpa_h1::BodyLength::Empty {
            let body = Bytes::from_static(b"a websocket handshake has no body\n");
            self.closing = true;
            self.send_simple(StatusCode::BAD_REQUEST, &[(b"connection", b"close")], body);
            return;
        }
        let headers = request.headers().iter().map(|field| (field.name(), field.value()));
        let offer = match milpa_ws::handshake::validate_http1(request.method(), headers) {
            Ok(offer) => offer,
            Err(rejection) => {
                tracing::debug!(reason = rejection.reason, peer = ?self.peer, "websocket handshake refused");
                let fields: Vec<(&[u8], &[u8])> =
                    rejection.headers.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())).collect();
                let body = Bytes::from(format!("{}\n", rejection.reason));
                self.send_simple(rejection.status, &fields, body);
                return;
            }
        };
        let (raw_path, query_string) = split_target(&request);
        // Before the scope takes the headers, which the access log may name.
        let mut record = self.record(&request, &raw_path, &query_string);
        if let Some(record) = &mut record {
            record.scheme = super::ws::scheme(&self.ctx);
        }
        let scope = super::ws::scope(
            &self.ctx,
            Version::HTTP_11,
            raw_path,
            query_string,
            scope_headers(&mut request),
            offer.subprotocols.clone(),
            self.peer,
            self.tls.clone(),
        );
        let (exchange, receiver, sender) = Exchange::new(self.ctx.config.max_app_queue_size, Kind::WebSocket);
        exchange.push(ReceiveEvent::WebSocketConnect);
        let task = call_app(&*self.ctx.app, Scope::WebSocket(scope), receiver, sender);
        self.current =
            Some(Current { websocket: Some(Box::new(offer)), ..Current::new(exchange, task, record, now) });
    }

    /// The application accepted the WebSocket: the 101 goes out and, once it is
    /// flushed, the connection belongs to the WebSocket.
    #[cold]
    fn accept_websocket(
        &mut self,
        subprotocol: Option<&str>,
        extra: &HeaderList,
    ) -> Result<(), milpa_h1::SendError> {
        let Some(current) = &mut self.current else { return Ok(()) };
        let Some(offer) = current.websocket.take() else { return Ok(()) };
        let accepted = offer.accept(subprotocol, self.ctx.config.websocket_compression);
        let fields = accepted
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
            .chain(extra.iter().map(|(n, v)| (&n[..], &v[..])));
        self.conn.send_response(StatusCode::SWITCHING_PROTOCOLS, fields, None)?;
        let Some(mut current) = self.current.take() else { return Ok(()) };
        // Messages the application queued right after accepting belong to the session.
        current.exchange.give_back(&mut self.events);
        if let (Some(log), Some(record)) = (&self.ctx.request_log, current.record.take()) {
            log.finish(
                record,
                Some(StatusCode::SWITCHING_PROTOCOLS),
                current.started,
                current.exchange.forwarded_client(),
            );
        }
        let ws =
            milpa_ws::Connection::new(milpa_ws::Role::Server, self.ctx.config.websocket(), accepted.deflate);
        let session = super::ws::Session::new(
            ws,
            current.exchange,
            current.task.take(),
            super::ws::end_code(current.ended.as_ref()),
            self.ctx.config.websocket_ping_interval,
            self.ctx.metrics.as_ref().map(|metrics| metrics.websocket()),
            Instant::now(),
        );
        self.websocket = Some(Box::new(session));
        Ok(())
    }

    /// Moves the application's queued events (and file chunks) into the state
    /// machine while the output stays under the high-water mark.
    fn apply_output(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while self.current.is_some() && self.output_room() {
            if self.current.as_ref().is_some_and(|c| c.file.is_some()) {
                match self.poll_file(cx) {
                    Ok(true) => {
                        progress = true;
                        continue;
                    }
                    Ok(false) => break,
                    Err(()) => return true,
                }
            }
            if self.events.is_empty() {
                let Some(current) = &self.current else { break };
                // Room given back lets a waiting application send: a change too.
                progress |= current.exchange.take_output(&mut self.events);
            }
            let Some(event) = self.events.pop_front() else { break };
            progress = true;
            if let Err(error) = self.apply(event) {
                if self.conn.server_state() == milpa_h1::State::SendResponse {
                    // The head was refused before a byte of it went out: a 500 can.
                    tracing::error!(%error, "response head rejected; answering 500");
                    if let Some(current) = &self.current {
                        current.exchange.disconnect();
                    }
                    self.send_internal_error();
                    continue;
                }
                tracing::error!(%error, "response rejected; closing the connection");
                self.closing = true;
                break;
            }
        }
        progress
    }

    fn apply(&mut self, event: SendEvent) -> Result<(), milpa_h1::SendError> {
        let Some(current) = &mut self.current else { return Ok(()) };
        match event {
            SendEvent::WebSocketAccept { subprotocol, headers } => {
                self.accept_websocket(subprotocol.as_deref(), &headers)?;
            }
            // Closing before accepting refuses the handshake (ASGI: a 403).
            SendEvent::WebSocketClose { .. } if current.websocket.is_some() => {
                self.send_simple(StatusCode::FORBIDDEN, &[], Bytes::new());
            }
            SendEvent::ResponseStart { status, .. }
                if status == StatusCode::SWITCHING_PROTOCOLS || (current.connect && status.is_success()) =>
            {
                // This connection has nothing to switch to (WebSocket and h2c
                // upgrades plug in here later): a 101 or a tunnel would strand the client.
                tracing::error!(%status, "the application tried to switch protocols; not supported here");
                current.exchange.disconnect();
                self.send_internal_error();
            }
            SendEvent::ResponseStart { status, headers, trailers } => {
                if let (Some(log), Some(record)) = (&self.ctx.request_log, &mut current.record) {
                    record.response_headers = log.response_headers(&headers);
                }
                current.held_start = Some((status, headers));
                current.trailers_announced = trailers;
                current.response = Response::Held;
                current.status = Some(status);
            }
            SendEvent::ResponseBody { body, more_body } => {
                if let Some(record) = &mut current.record {
                    record.body_bytes += body.len() as u64;
                }
                let trailers = current.trailers_announced;
                // A HEAD answer's body is empty by definition: it says nothing of the length.
                let head_probe = current.head && body.is_empty();
                let length_known = !(more_body || trailers || head_probe);
                if let Some((status, headers)) = current.held_start.take() {
                    self.send_head(status, &headers, length_known.then_some(body.len() as u64))?;
                }
                self.conn.send_data(body)?;
                if !more_body && !trailers {
                    self.conn.send_end(None::<(&[u8], &[u8])>)?;
                    self.finish_response();
                }
            }
            SendEvent::ResponseTrailers { headers, more_trailers } => {
                current.trailers.extend(headers);
                if !more_trailers {
                    let trailers = std::mem::take(&mut current.trailers);
                    self.conn.send_end(trailers.iter().map(|(n, v)| (&n[..], &v[..])))?;
                    self.finish_response();
                }
            }
            // Only before the response: afterwards there is nothing to hint.
            SendEvent::EarlyHint { links } if current.response == Response::NotStarted => {
                self.conn.send_informational(
                    StatusCode::from_u16(103).unwrap_or(StatusCode::CONTINUE),
                    links.iter().map(|link| (&b"link"[..], &link[..])),
                )?;
            }
            SendEvent::ResponseFile { path, range } => {
                current.file = Some(FileSend::open(&self.rt, Source::Path(path), range));
            }
            SendEvent::ResponseOpenFile { file, range } => {
                current.file = Some(FileSend::open(&self.rt, Source::Open(file.into_inner()), range));
            }
            // No server push over HTTP/1.1; lifespan events do not belong here.
            _ => {}
        }
        Ok(())
    }

    /// Advances a file response. `Ok(true)`: progress; `Ok(false)`: waiting;
    /// `Err(())`: the file failed and the response was ended (500 or close).
    // Cold: a file's chunks cost far more than the call; the per-request path stays compact.
    #[cold]
    fn poll_file(&mut self, cx: &mut Context<'_>) -> Result<bool, ()> {
        let Some(current) = &mut self.current else { return Ok(false) };
        let Some(file) = &mut current.file else { return Ok(false) };
        let event = match file.poll(cx) {
            Poll::Pending => return Ok(false),
            Poll::Ready(event) => event,
        };
        let trailers = current.trailers_announced;
        // A HEAD answer, a 204 or a 304 is complete with its head: the file is not read.
        let no_content = current.head || current.status.is_some_and(is_bodiless);
        let result = match event {
            Ok(FileEvent::Length(length)) => {
                if let Some(record) = &mut current.record {
                    record.body_bytes = length;
                }
                let start = current.held_start.take();
                let sent = match start {
                    Some((status, headers)) => {
                        let length = (!trailers).then_some(length);
                        self.send_head(status, &headers, length).map_err(|e| e.to_string())
                    }
                    None => Ok(()),
                };
                sent.map(|()| length == 0 || no_content)
            }
            Ok(FileEvent::Chunk { data, last }) => {
                self.conn.send_data(data).map(|()| last).map_err(|e| e.to_string())
            }
            Err(error) => Err(error.to_string()),
        };
        match result {
            Ok(false) => {
                if let Some(file) = self.current.as_mut().and_then(|c| c.file.as_mut()) {
                    file.read_next(&self.rt);
                }
                Ok(true)
            }
            Ok(true) => {
                if let Some(current) = &mut self.current {
                    current.file = None;
                }
                if !trailers {
                    if self.conn.send_end(None::<(&[u8], &[u8])>).is_err() {
                        self.closing = true;
                    }
                    self.finish_response();
                }
                Ok(true)
            }
            Err(why) => {
                tracing::error!(error = %why, "file response failed");
                let head_out = self.current.as_ref().is_some_and(|c| c.response == Response::Streaming);
                if let Some(current) = &mut self.current {
                    current.file = None;
                    current.exchange.disconnect();
                }
                if head_out {
                    self.closing = true;
                    self.finish_response();
                } else {
                    self.send_internal_error();
                }
                Err(())
            }
        }
    }

    fn send_head(
        &mut self,
        status: StatusCode,
        headers: &HeaderList,
        length: Option<u64>,
    ) -> Result<(), milpa_h1::SendError> {
        let (mut has_date, mut has_server) = (false, false);
        for (name, _) in headers {
            has_date |= name.eq_ignore_ascii_case(b"date");
            has_server |= name.eq_ignore_ascii_case(b"server");
        }
        let add_server = self.ctx.config.include_server_header && !has_server;
        let fields = headers.iter().map(|(n, v)| (&n[..], &v[..]));
        if has_date {
            let server = add_server.then_some((&b"server"[..], &b"milpa"[..]));
            self.conn.send_response(status, fields.chain(server), length)?;
        } else {
            // The usual case: `date` (and `server`) from a block checked once a second.
            self.renew_common(add_server);
            let (common, _) = &self.common[usize::from(add_server)];
            self.conn.send_response_with(status, fields, length, common)?;
        }
        if let Some(current) = &mut self.current {
            current.response = Response::Streaming;
        }
        Ok(())
    }

    /// Renews the `date` block (with `server` or not) once it is a second old. The
    /// one the configuration names also goes to the state machine, for the error
    /// answers it writes itself.
    #[inline]
    fn renew_common(&mut self, add_server: bool) {
        if self.clock >= self.common[usize::from(add_server)].1 {
            self.renew_common_now(add_server);
        }
    }

    #[cold]
    fn renew_common_now(&mut self, add_server: bool) {
        let index = usize::from(add_server);
        let (block, until) = crate::date::h1_fields(add_server);
        if add_server == self.ctx.config.include_server_header {
            self.conn.set_error_fields(block.clone());
        }
        self.common[index] = (block, until);
    }

    /// The current `Date`, read from the clock once per wake-up.
    fn date(&mut self) -> Bytes {
        self.date.get_or_insert_with(crate::date::now).clone()
    }

    /// The response is complete: log it, tell the application, and let its
    /// future run on elsewhere if it is not finished.
    fn finish_response(&mut self) {
        // Anything taken after the response's end is refused by the exchange;
        // only an error answer leaves events behind, and they are void.
        self.events.clear();
        let Some(mut current) = self.current.take() else { return };
        if let (Some(log), Some(record)) = (&self.ctx.request_log, current.record.take()) {
            log.finish(record, current.status, current.started, current.exchange.forwarded_client());
        }
        match current.task.take() {
            Some(task) => {
                current.exchange.disconnect();
                self.rt.spawn(Detached::new(task, &self.ctx.tracker));
            }
            None => self.spare = current.exchange.retire(),
        }
    }

    /// The connection is going away with a request in progress: the application
    /// hears `Disconnect` and its future runs on until it notices.
    fn abandon_request(&mut self) {
        self.events.clear();
        if let Some(mut current) = self.current.take() {
            current.exchange.disconnect();
            if let Some(task) = current.task.take() {
                self.rt.spawn(Detached::new(task, &self.ctx.tracker));
            }
        }
    }
}

/// Decodes base64url without padding (RFC 4648 §5), as `HTTP2-Settings` carries it.
fn base64url_decode(text: &[u8]) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    };
    let text = text.strip_suffix(b"==").or_else(|| text.strip_suffix(b"=")).unwrap_or(text);
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut bits = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            bits |= u32::from(value(c)?) << (18 - 6 * i);
        }
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// The request's header fields for its scope (taken out of it). RFC 9112 §3.2.2:
/// for an absolute-form target, the target's authority is the request's host
/// whatever `Host` says, so the scope's `host` field carries it.
fn scope_headers(request: &mut Request) -> Headers {
    let target = request.target();
    let origin_form = target.starts_with(b"/") || &target[..] == b"*" || *request.method() == Method::CONNECT;
    if origin_form { request.take_headers() } else { host_from_target(request) }
}

#[cold]
fn host_from_target(request: &mut Request) -> Headers {
    let headers = request.take_headers();
    let Some(authority) = request.authority() else { return headers };
    let others: Vec<_> = headers
        .iter()
        .filter(|field| field.name() != b"host")
        .map(|field| (field.name(), field.value()))
        .collect();
    Headers::from_pairs(std::iter::once((&b"host"[..], authority)).chain(others))
}

/// The raw path and query of a request, sliced from its target without copying
/// in the usual origin form.
fn split_target(request: &Request) -> (Bytes, Bytes) {
    let target = request.target();
    let query_start = target.iter().position(|&b| b == b'?');
    let query = query_start.map_or_else(Bytes::new, |at| target.slice(at + 1..));
    let path = if target.starts_with(b"/") {
        target.slice(..query_start.unwrap_or(target.len()))
    } else {
        Bytes::copy_from_slice(request.path())
    };
    (path, query)
}

#[cfg(test)]
mod tests {
    use super::base64url_decode;

    #[test]
    fn http2_settings_are_base64url_without_padding() {
        assert_eq!(base64url_decode(b"AAMAAABkAARAAAAAAAIAAAAA").map(|v| v.len()), Some(18));
        assert_eq!(base64url_decode(b"_-8").as_deref(), Some(&[0xff, 0xef][..]));
        assert_eq!(base64url_decode(b"AA=="), Some(vec![0]));
        assert_eq!(base64url_decode(b""), Some(vec![]));
        assert_eq!(base64url_decode(b"A"), None);
        assert_eq!(base64url_decode(b"A+B/"), None);
    }
}
