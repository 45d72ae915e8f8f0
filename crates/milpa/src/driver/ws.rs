//! A WebSocket after its handshake: `milpa_ws::Connection` ⇄ the application,
//! over any transport — a whole HTTP/1.1 connection after its 101 (served here
//! by [`serve_h1`]) or one HTTP/2 stream (served by the HTTP/2 driver).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};

use super::scratch::{self, Received};
use super::timer::Timer;
use super::write::{Flushed, WriteQueue};
use super::{ConnContext, Detached, TaskEnd, poll_app};
use crate::app::{
    AppFuture, Extensions, Headers, Message, ReceiveEvent, SendError, SendEvent, WebSocketScope,
};
use crate::exchange::Exchange;
use crate::percent::decode_path;
use crate::runtime::Runtime;
use crate::shutdown::{Tracker, Watch};
use crate::tls::TlsInfo;

/// After we sent a Close, the peer has this long to answer before the transport
/// is closed anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Past this much unsent WebSocket output, the application's sends wait.
pub(crate) const OUTPUT_HIGH_WATER: usize = 256 * 1024;
/// Rounds of work in one wake-up before yielding to other tasks.
const ROUNDS_PER_WAKE: usize = 32;

/// Close codes the application hears when the server, not the peer, ended it.
/// A Close frame's payload is at most 125 bytes: the code, then the reason.
const MAX_CLOSE_REASON: usize = 123;
const NORMAL: u16 = 1000;
const GOING_AWAY: u16 = 1001;
const ABNORMAL: u16 = 1006;
const INTERNAL_ERROR: u16 = 1011;

/// The WebSocket scheme of a connection: `wss` over TLS, else `ws`.
pub(crate) fn scheme(ctx: &ConnContext) -> &'static str {
    if ctx.scheme == "https" { "wss" } else { "ws" }
}

/// The scope of a WebSocket handshake, on either transport.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scope(
    ctx: &ConnContext,
    http_version: http::Version,
    raw_path: Bytes,
    query_string: Bytes,
    headers: Headers,
    subprotocols: Vec<String>,
    client: Option<SocketAddr>,
    tls: Option<Arc<TlsInfo>>,
) -> WebSocketScope {
    WebSocketScope {
        http_version,
        scheme: scheme(ctx),
        path: decode_path(&raw_path),
        raw_path,
        query_string,
        root_path: ctx.config.root_path.clone(),
        headers,
        client,
        server: ctx.local,
        subprotocols,
        extensions: Extensions { websocket_http_response: true, ..Extensions::default() },
        tls,
        state: ctx.state.clone(),
    }
}

/// One open WebSocket and the application future serving it.
pub(crate) struct Session {
    ws: milpa_ws::Connection,
    exchange: Exchange,
    task: Option<AppFuture>,
    /// A message waiting for room in the application's queue.
    pending: Option<Message>,
    ping_interval: Option<Duration>,
    next_ping: Option<Instant>,
    awaiting_pong: bool,
    /// Once we sent a Close: when the transport closes whether or not the peer answers.
    close_deadline: Option<Instant>,
    /// The application ended: the close code to send once its last messages are out.
    end_code: Option<u16>,
    timed_out: bool,
    /// Holds the open-WebSockets gauge up while the session lives.
    _open: Option<crate::metrics::Open>,
}

/// The close code for an application that ended before its session began, from
/// how the HTTP drivers record its end (`Some(None)` returned, `Some(Some(why))`
/// failed).
pub(crate) fn end_code(ended: Option<&Option<String>>) -> Option<u16> {
    ended.map(|failed| if failed.is_some() { INTERNAL_ERROR } else { NORMAL })
}

impl Session {
    /// `task` is the application's future, or `None` if it already ended, with
    /// `end_code` (see [`end_code`]) the close to send after its last messages.
    pub(crate) fn new(
        ws: milpa_ws::Connection,
        exchange: Exchange,
        task: Option<AppFuture>,
        end_code: Option<u16>,
        ping_interval: Option<Duration>,
        open: Option<crate::metrics::Open>,
        now: Instant,
    ) -> Self {
        Self {
            ws,
            exchange,
            end_code: if task.is_some() { None } else { end_code.or(Some(NORMAL)) },
            task,
            pending: None,
            ping_interval,
            next_ping: ping_interval.map(|interval| now + interval),
            awaiting_pong: false,
            close_deadline: None,
            timed_out: false,
            _open: open,
        }
    }

    /// Bytes from the peer.
    pub(crate) fn receive(&mut self, data: &[u8]) {
        self.ws.receive(data);
    }

    /// The peer ended its side of the transport.
    pub(crate) fn receive_eof(&mut self) {
        self.ws.receive_eof();
    }

    /// Whether more input may be fed: the application keeps up with the messages,
    /// or has ended (its messages are dropped, the peer's Close still counts).
    pub(crate) fn wants_read(&self) -> bool {
        let keeping_up = self.pending.is_none() && self.exchange.has_room();
        (keeping_up || self.task.is_none()) && !self.ws.is_closed()
    }

    /// One round: the peer's messages to the application, the application's
    /// progress, its messages to the peer (while `output_room`). Returns whether
    /// anything happened.
    pub(crate) fn step(&mut self, cx: &mut Context<'_>, now: Instant, output_room: bool) -> bool {
        let mut progress = self.deliver();
        progress |= self.poll_task(cx);
        if output_room {
            progress |= self.apply_output(now);
            // Everything the application sent before it ended is out: now the Close.
            if let Some(code) = self.end_code
                && !self.exchange.has_output()
            {
                self.end_code = None;
                self.close(code, "", now);
                progress = true;
            }
        }
        // The application may have made room in its queue while it ran: deliver
        // again, or a held message would wait for a wake-up that never comes.
        progress |= self.deliver();
        progress
    }

    fn deliver(&mut self) -> bool {
        let mut progress = false;
        loop {
            if let Some(message) = self.pending.take() {
                if !self.exchange.has_room() {
                    self.pending = Some(message);
                    return progress;
                }
                self.exchange.push(ReceiveEvent::WebSocketReceive(message));
                progress = true;
            }
            let Some(event) = self.ws.poll_event() else { return progress };
            progress = true;
            // Nobody reads messages once the application has returned: drop them.
            let listening = self.task.is_some();
            match event {
                milpa_ws::Event::Text(text) if listening => self.pending = Some(Message::Text(text)),
                milpa_ws::Event::Binary(data) if listening => self.pending = Some(Message::Binary(data)),
                milpa_ws::Event::Pong(_) => self.awaiting_pong = false,
                milpa_ws::Event::Close { code, reason } => {
                    // No code in the peer's Close is reported as 1005 (RFC 6455 §7.1.5).
                    self.exchange.websocket_closed(code.unwrap_or(1005), reason);
                }
                milpa_ws::Event::Error { code, reason } => {
                    tracing::debug!(code, %reason, "websocket protocol error");
                    self.close_deadline.get_or_insert(Instant::now() + CLOSE_TIMEOUT);
                    self.exchange.websocket_closed(code, reason);
                }
                milpa_ws::Event::Eof => self.exchange.websocket_closed(ABNORMAL, String::new()),
                _ => {}
            }
        }
    }

    fn poll_task(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(task) = &mut self.task else { return false };
        let Poll::Ready(end) = poll_app(task, cx) else { return false };
        self.task = None;
        // Nobody takes held messages any more.
        self.pending = None;
        let code = match end {
            TaskEnd::Returned => NORMAL,
            // A send that failed because the socket closed is the usual end of an echo loop.
            TaskEnd::Failed(error) if error.downcast_ref::<SendError>() == Some(&SendError::Disconnected) => {
                NORMAL
            }
            TaskEnd::Failed(error) => {
                tracing::error!(%error, "websocket application error");
                INTERNAL_ERROR
            }
            TaskEnd::Panicked(message) => {
                tracing::error!(%message, "websocket application panicked");
                INTERNAL_ERROR
            }
        };
        // Whatever the application sent before it ended goes out first (`step`).
        self.end_code = Some(code);
        true
    }

    fn apply_output(&mut self, now: Instant) -> bool {
        let mut progress = false;
        while self.ws.buffered_output() < OUTPUT_HIGH_WATER {
            let Some(event) = self.exchange.pop() else { break };
            progress = true;
            let sent = match event {
                SendEvent::WebSocketSend(Message::Text(text)) => self.ws.send_text(&text),
                SendEvent::WebSocketSend(Message::Binary(data)) => self.ws.send_binary_bytes(data),
                SendEvent::WebSocketClose { code, reason } => {
                    self.close(code, &reason, now);
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(error) = sent {
                tracing::debug!(?error, "websocket message not sent");
            }
        }
        progress
    }

    /// Starts the close handshake with `code`, unless a Close already went out. As
    /// wsproto does for ASGI servers, the codes that only report a close (1005,
    /// 1006, 1015) become 1000 and a reason is cut to the 123 bytes a Close carries;
    /// any other code an endpoint may not send becomes 1011.
    fn close(&mut self, code: u16, reason: &str, now: Instant) {
        let code = if matches!(code, 1005 | 1006 | 1015) { NORMAL } else { code };
        let mut end = reason.len().min(MAX_CLOSE_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let reason = &reason[..end];
        if self.ws.close(Some(code), reason).is_err() && self.ws.close(Some(INTERNAL_ERROR), "").is_err() {
            return;
        }
        self.close_deadline.get_or_insert(now + CLOSE_TIMEOUT);
    }

    /// The server is shutting down: close with 1001.
    pub(crate) fn going_away(&mut self, now: Instant) {
        self.close(GOING_AWAY, "server shutting down", now);
    }

    /// Appends the bytes to send; returns how many.
    pub(crate) fn poll_transmit(&mut self, out: &mut Vec<Bytes>) -> usize {
        self.ws.poll_transmit(out)
    }

    /// The next moment [`handle_timeout`](Self::handle_timeout) must run.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        [
            self.next_ping.filter(|_| self.close_deadline.is_none()),
            self.close_deadline.filter(|_| !self.timed_out),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.close_deadline.is_some_and(|deadline| now >= deadline) {
            self.timed_out = true;
            return;
        }
        let (Some(interval), Some(due)) = (self.ping_interval, self.next_ping) else { return };
        if now < due {
            return;
        }
        if self.awaiting_pong {
            // The last ping went unanswered for a whole interval: the peer is gone.
            tracing::debug!("websocket peer did not answer a ping; closing");
            self.close(INTERNAL_ERROR, "ping timeout", now);
            self.close_deadline = Some(now);
            self.timed_out = true;
            return;
        }
        if self.ws.send_ping(b"milpa").is_ok() {
            self.awaiting_pong = true;
        }
        self.next_ping = Some(now + interval);
    }

    /// The WebSocket is over: the close handshake is done (or failed, or timed
    /// out); the transport may close once the queued bytes are out.
    pub(crate) fn is_finished(&self) -> bool {
        self.ws.is_closed() || self.timed_out
    }

    /// The peer did not finish the close handshake (or answer pings) in time: its
    /// transport may be dropped without flushing.
    pub(crate) fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// Registers the transport's task to be woken by the application's next move;
    /// `false` when that move already happened (see [`Exchange::park`]).
    pub(crate) fn park(&self, waker: &Waker, take_output: bool) -> bool {
        self.exchange.park(waker, take_output, false)
    }

    pub(crate) fn unpark(&self) {
        self.exchange.unpark();
    }

    /// The transport is gone: the application hears the close (1006 when none was
    /// exchanged) and its future runs on as a task of its own until it notices.
    pub(crate) fn finish<R: Runtime>(mut self, rt: &R, tracker: &Tracker) {
        // Messages read before the end still reach a listening application (the
        // queue's bound yields to memory already spent), then the close.
        if self.task.is_some() {
            if let Some(message) = self.pending.take() {
                self.exchange.push(ReceiveEvent::WebSocketReceive(message));
            }
            while let Some(event) = self.ws.poll_event() {
                match event {
                    milpa_ws::Event::Text(text) => {
                        self.exchange.push(ReceiveEvent::WebSocketReceive(Message::Text(text)))
                    }
                    milpa_ws::Event::Binary(data) => {
                        self.exchange.push(ReceiveEvent::WebSocketReceive(Message::Binary(data)))
                    }
                    milpa_ws::Event::Close { code, reason } => {
                        self.exchange.websocket_closed(code.unwrap_or(1005), reason)
                    }
                    milpa_ws::Event::Error { code, reason } => self.exchange.websocket_closed(code, reason),
                    _ => {}
                }
            }
        }
        self.exchange.websocket_closed(ABNORMAL, String::new());
        if let Some(task) = self.task.take() {
            rt.spawn(Detached::new(task, tracker));
        }
    }
}

/// Serves a WebSocket that owns a whole connection (after an HTTP/1.1 `101`);
/// `initial` holds the bytes the client sent right behind its handshake.
pub(crate) async fn serve_h1<R, S>(
    rt: R,
    io: S,
    peer: Option<SocketAddr>,
    ctx: Arc<ConnContext>,
    session: Session,
    initial: Bytes,
) where
    R: Runtime,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut transport = Transport {
        graceful: ctx.graceful.watch(),
        force: ctx.force.watch(),
        rt,
        io,
        ctx: ctx.clone(),
        session,
        writes: WriteQueue::new(ctx.metrics.clone()),
        out: Vec::new(),
        timer: Timer::new(),
        shutdown_seen: false,
        eof: false,
    };
    transport.session.receive(&initial);
    let result = std::future::poll_fn(|cx| transport.poll(cx)).await;
    if let Err(error) = result {
        tracing::debug!(%error, ?peer, "websocket connection ended with an error");
    }
    let Transport { rt, ctx, session, .. } = transport;
    session.finish(&rt, &ctx.tracker);
}

struct Transport<R: Runtime, S> {
    rt: R,
    io: S,
    ctx: Arc<ConnContext>,
    session: Session,
    writes: WriteQueue,
    out: Vec<Bytes>,
    timer: Timer<R>,
    graceful: Watch,
    force: Watch,
    shutdown_seen: bool,
    eof: bool,
}

impl<R: Runtime, S: AsyncRead + AsyncWrite + Unpin> Transport<R, S> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.force.poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        self.session.unpark();
        for _ in 0..ROUNDS_PER_WAKE {
            let now = Instant::now();
            if !self.shutdown_seen && self.graceful.poll(cx).is_ready() {
                self.shutdown_seen = true;
                self.session.going_away(now);
            }
            while self.session.step(cx, now, self.writes.len() < OUTPUT_HIGH_WATER) {}
            self.session.poll_transmit(&mut self.out);
            for piece in self.out.drain(..) {
                self.writes.push(piece);
            }
            let Flushed { all: flushed, some: wrote } = self.writes.flush(&mut self.io, cx, now)?;
            if flushed && self.session.is_finished() {
                return Pin::new(&mut self.io).poll_close(cx).map(|_| Ok(()));
            }
            let mut progress = wrote || self.read(cx)?;
            if !progress {
                progress = self.poll_timer(cx)?;
            }
            if !progress && self.session.park(cx.waker(), self.writes.len() < OUTPUT_HIGH_WATER) {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn read(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        if self.eof || !self.session.wants_read() || self.writes.len() >= OUTPUT_HIGH_WATER {
            return Ok(false);
        }
        let session = &mut self.session;
        match scratch::receive(&mut self.io, cx, self.ctx.metrics.as_deref(), |data| session.receive(data))? {
            Received::Data => Ok(true),
            Received::Nothing => Ok(false),
            Received::Eof => {
                self.eof = true;
                self.session.receive_eof();
                Ok(true)
            }
        }
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let stall = self.writes.stall_deadline(self.ctx.config.send_timeout);
        let Some(deadline) = [self.session.deadline(), stall].into_iter().flatten().min() else {
            return Ok(false);
        };
        if self.timer.poll(&self.rt, deadline, Instant::now(), cx).is_pending() {
            return Ok(false);
        }
        let now = Instant::now();
        self.writes.check_stall(now, self.ctx.config.send_timeout)?;
        self.session.handle_timeout(now);
        Ok(true)
    }
}
