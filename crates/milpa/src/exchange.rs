//! The bounded, two-way queue between a connection and the application serving
//! one scope: events in ([`Receiver`]), events out ([`Sender`]), backpressure both
//! ways, and the ASGI rules for the order of sent events.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use bytes::{Bytes, BytesMut};

use crate::app::{ReceiveEvent, SendEvent};

/// Body pieces at least this long are queued as they arrived (a slice of the
/// read, no copy); shorter ones are copied together (see [`Exchange::push_body`]).
/// HTTP/2's default largest frame: a full frame is most of the read it came in.
pub(crate) const KEEP_WHOLE: usize = 16 * 1024;

/// Why an event could not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The client is gone (or the response already ended); stop sending.
    Disconnected,
    /// The event is not allowed at this point (ASGI's order of events was broken).
    Unexpected(&'static str),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disconnected => f.write_str("the client disconnected"),
            Self::Unexpected(why) => write!(f, "unexpected event: {why}"),
        }
    }
}

impl std::error::Error for SendError {}

/// The kind of scope an exchange serves: it decides which events may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Http,
    WebSocket,
    Lifespan,
}

/// Where the application stands in sending its response (or lifespan answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Start,
    Body {
        trailers: bool,
    },
    Trailers,
    Done,
    /// A WebSocket was accepted: messages and a close may follow.
    Accepted,
}

#[derive(Debug)]
struct Shared {
    inbound: VecDeque<ReceiveEvent>,
    /// Request body that arrived in small pieces or past a full `inbound`, copied
    /// together; it follows everything in `inbound` (see [`Exchange::push_body`]).
    body_tail: BytesMut,
    /// The request body ends with `body_tail`.
    body_tail_final: bool,
    outbound: VecDeque<SendEvent>,
    capacity: usize,
    /// Events the connection took in its last batch ([`Exchange::take_output`]):
    /// until it takes the next, they count against `capacity`.
    held: usize,
    /// The application waiting in `receive`.
    recv_waker: Option<Waker>,
    /// The application waiting for room to `send`.
    send_waker: Option<Waker>,
    /// The connection task's waker, kept once registered.
    conn_waker: Option<Waker>,
    /// The connection task is asleep and must be woken by the application's next move.
    conn_parked: bool,
    /// The application asked for the request body (reported to the connection once).
    body_asked: bool,
    /// Body bytes the application took since the connection last asked (HTTP/2
    /// gives them back to the client's flow-control window).
    consumed: usize,
    disconnected: bool,
    /// The client closed its side: `receive` reports `Disconnect`, but sends still
    /// go out (a half-closed client may yet read the response).
    peer_closed: bool,
    disconnect_delivered: bool,
    body_wanted: bool,
    progress: Progress,
    kind: Kind,
    /// A WebSocket's close code and reason, given with its `WebSocketDisconnect`.
    close: Option<(u16, String)>,
    /// The client a trusted proxy forwarded for (`ProxyHeaders`), for the access log.
    forwarded_client: Option<std::net::SocketAddr>,
}

impl Shared {
    fn wake_conn(&mut self) {
        if std::mem::take(&mut self.conn_parked)
            && let Some(waker) = &self.conn_waker
        {
            waker.wake_by_ref();
        }
    }

    /// Wakes an application waker, unless it is the connection task's own waker
    /// while that task is running: it polls the application before it sleeps, and
    /// waking itself would only cost an extra turn.
    fn wake_app(&self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        let inline = !self.conn_parked && self.conn_waker.as_ref().is_some_and(|conn| conn.will_wake(&waker));
        if !inline {
            waker.wake();
        }
    }

    fn wake_receiver(&mut self) {
        let waker = self.recv_waker.take();
        self.wake_app(waker);
    }

    fn wake_sender(&mut self) {
        let waker = self.send_waker.take();
        self.wake_app(waker);
    }

    /// Checks `event` against the ASGI order and advances; changes nothing on error.
    fn advance(&mut self, event: &SendEvent) -> Result<(), SendError> {
        use SendEvent as E;
        if self.kind == Kind::WebSocket {
            return self.advance_websocket(event);
        }
        if self.kind == Kind::Lifespan {
            return match event {
                E::StartupComplete
                | E::StartupFailed { .. }
                | E::ShutdownComplete
                | E::ShutdownFailed { .. } => Ok(()),
                _ => Err(SendError::Unexpected("lifespan scopes send only lifespan events")),
            };
        }
        let next = match (self.progress, event) {
            (Progress::Start, E::ResponseStart { trailers, .. }) => Progress::Body { trailers: *trailers },
            (Progress::Start | Progress::Body { .. }, E::EarlyHint { .. } | E::Push { .. }) => self.progress,
            (Progress::Body { trailers }, E::ResponseBody { more_body, .. }) => match (more_body, trailers) {
                (true, _) => self.progress,
                (false, true) => Progress::Trailers,
                (false, false) => Progress::Done,
            },
            (Progress::Body { trailers }, E::ResponseFile { .. } | E::ResponseOpenFile { .. }) => {
                if trailers { Progress::Trailers } else { Progress::Done }
            }
            (Progress::Trailers, E::ResponseTrailers { more_trailers, .. }) => {
                if *more_trailers {
                    Progress::Trailers
                } else {
                    Progress::Done
                }
            }
            (Progress::Start, _) => return Err(SendError::Unexpected("the response has not started")),
            (Progress::Done, _) => return Err(SendError::Unexpected("the response is complete")),
            (_, E::ResponseStart { .. }) => {
                return Err(SendError::Unexpected("the response already started"));
            }
            _ => return Err(SendError::Unexpected("not allowed in an http scope now")),
        };
        self.progress = next;
        Ok(())
    }

    /// ASGI's WebSocket order: accept, close (a 403) or a denial response first;
    /// after accepting, messages until a close.
    fn advance_websocket(&mut self, event: &SendEvent) -> Result<(), SendError> {
        use SendEvent as E;
        let next = match (self.progress, event) {
            (Progress::Start, E::WebSocketAccept { .. }) => Progress::Accepted,
            (Progress::Start | Progress::Accepted, E::WebSocketClose { .. }) => Progress::Done,
            (Progress::Accepted, E::WebSocketSend(_)) => Progress::Accepted,
            (Progress::Start, E::WebSocketSend(_)) => {
                return Err(SendError::Unexpected("the websocket has not been accepted"));
            }
            (Progress::Start | Progress::Body { .. }, E::ResponseStart { .. } | E::ResponseBody { .. }) => {
                let saved = std::mem::replace(&mut self.kind, Kind::Http);
                let result = self.advance(event);
                self.kind = saved;
                return result;
            }
            (Progress::Done, _) => return Err(SendError::Unexpected("the websocket is closed")),
            _ => return Err(SendError::Unexpected("not allowed in a websocket scope now")),
        };
        self.progress = next;
        Ok(())
    }
}

/// Receives events for one scope. Cheap to move into the application's future.
#[derive(Debug)]
pub struct Receiver {
    shared: Arc<Mutex<Shared>>,
}

/// Sends events for one scope.
#[derive(Debug)]
pub struct Sender {
    shared: Arc<Mutex<Shared>>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Receiver {
    /// The next event. `Some(ReceiveEvent::Disconnect)` comes exactly once, when the
    /// client is gone or the response is complete; after it, `None`.
    pub async fn receive(&mut self) -> Option<ReceiveEvent> {
        poll_fn(|cx| {
            let mut shared = lock(&self.shared);
            if let Some(event) = shared.inbound.pop_front() {
                if let ReceiveEvent::Request { body, .. } = &event {
                    shared.consumed += body.len();
                }
                shared.wake_conn();
                return Poll::Ready(Some(event));
            }
            if !shared.body_tail.is_empty() {
                let body = shared.body_tail.split().freeze();
                shared.consumed += body.len();
                let more_body = !std::mem::take(&mut shared.body_tail_final);
                shared.wake_conn();
                return Poll::Ready(Some(ReceiveEvent::Request { body, more_body }));
            }
            if shared.disconnected || shared.peer_closed {
                if shared.disconnect_delivered {
                    return Poll::Ready(None);
                }
                shared.disconnect_delivered = true;
                if shared.kind == Kind::WebSocket {
                    let (code, reason) = shared.close.take().unwrap_or((1006, String::new()));
                    return Poll::Ready(Some(ReceiveEvent::WebSocketDisconnect { code, reason }));
                }
                return Poll::Ready(Some(ReceiveEvent::Disconnect));
            }
            if !shared.body_asked && shared.kind == Kind::Http {
                // Once per request: the connection sends `100 Continue` if needed.
                shared.body_asked = true;
                shared.body_wanted = true;
                shared.wake_conn();
            }
            shared.recv_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Sender {
    /// Tells the server which client a trusted proxy forwarded for, so that the
    /// access log names it rather than the proxy.
    pub(crate) fn report_client(&self, client: std::net::SocketAddr) {
        lock(&self.shared).forwarded_client = Some(client);
    }

    /// Sends `event`, waiting while the connection's queue for this scope is full
    /// (a slow client slows the application down instead of filling memory).
    pub async fn send(&mut self, event: SendEvent) -> Result<(), SendError> {
        self.send_together([event]).await
    }

    /// Sends a whole response: the same events as [`start`](Self::start) then
    /// [`body`](Self::body) with `more_body` false, handed over in one step
    /// (one lock, one wake-up of the connection). Waits for room for both, or
    /// for an empty queue when its capacity is below two.
    pub async fn respond(
        &mut self,
        status: http::StatusCode,
        headers: crate::HeaderList,
        body: impl Into<Bytes>,
    ) -> Result<(), SendError> {
        let start = SendEvent::ResponseStart { status, headers, trailers: false };
        let end = SendEvent::ResponseBody { body: body.into(), more_body: false };
        self.send_together([start, end]).await
    }

    /// Queues `events` under one lock once they fit (or, more than the capacity,
    /// once the queue is empty), all or none: an event out of ASGI's order
    /// refuses the lot and changes nothing.
    async fn send_together<const N: usize>(&mut self, events: [SendEvent; N]) -> Result<(), SendError> {
        let mut events = Some(events);
        poll_fn(|cx| {
            let mut shared = lock(&self.shared);
            if shared.disconnected && shared.kind != Kind::Lifespan {
                return Poll::Ready(Err(SendError::Disconnected));
            }
            let queued = shared.outbound.len() + shared.held;
            if queued > 0 && queued + N > shared.capacity {
                shared.send_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let Some(events) = events.take() else {
                return Poll::Ready(Ok(()));
            };
            let before = shared.progress;
            for event in &events {
                if let Err(error) = shared.advance(event) {
                    shared.progress = before;
                    return Poll::Ready(Err(error));
                }
            }
            shared.outbound.extend(events);
            shared.wake_conn();
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Starts the response.
    pub async fn start(
        &mut self,
        status: http::StatusCode,
        headers: crate::HeaderList,
    ) -> Result<(), SendError> {
        self.send(SendEvent::ResponseStart { status, headers, trailers: false }).await
    }

    /// Sends a piece of the body; `more_body` false ends it.
    pub async fn body(&mut self, body: impl Into<Bytes>, more_body: bool) -> Result<(), SendError> {
        self.send(SendEvent::ResponseBody { body: body.into(), more_body }).await
    }
}

/// The connection's end of one scope's queues.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    shared: Arc<Mutex<Shared>>,
}

impl Exchange {
    /// A new pair of queues holding at most `capacity` events each way.
    pub(crate) fn new(capacity: usize, kind: Kind) -> (Self, Receiver, Sender) {
        let shared = Arc::new(Mutex::new(Shared {
            inbound: VecDeque::new(),
            body_tail: BytesMut::new(),
            body_tail_final: false,
            outbound: VecDeque::new(),
            capacity: capacity.max(1),
            held: 0,
            recv_waker: None,
            send_waker: None,
            conn_waker: None,
            conn_parked: false,
            body_asked: false,
            consumed: 0,
            disconnected: false,
            peer_closed: false,
            disconnect_delivered: false,
            body_wanted: false,
            progress: Progress::Start,
            kind,
            close: None,
            forwarded_client: None,
        }));
        (Self { shared: shared.clone() }, Receiver { shared: shared.clone() }, Sender { shared })
    }

    /// A new exchange for an HTTP request, with `first` queued for the application.
    pub(crate) fn new_http(capacity: usize, first: Option<ReceiveEvent>) -> (Self, Receiver, Sender) {
        let (exchange, receiver, sender) = Self::new(capacity, Kind::Http);
        if let Some(event) = first {
            exchange.push(event);
        }
        (exchange, receiver, sender)
    }

    /// Reuses this exchange for the next request when nothing else holds it
    /// (the application's handles are gone), saving its allocations; `first` is
    /// queued for the application.
    pub(crate) fn reopen(mut self, first: Option<ReceiveEvent>) -> (Self, Receiver, Sender) {
        // Unshared, the fields are reset in place: no lock to take.
        let Some(shared) = Arc::get_mut(&mut self.shared)
            .map(|mutex| mutex.get_mut().unwrap_or_else(PoisonError::into_inner))
            .filter(|shared| shared.kind == Kind::Http)
        else {
            let capacity = lock(&self.shared).capacity;
            return Self::new_http(capacity, first);
        };
        shared.inbound.clear();
        shared.inbound.extend(first);
        shared.body_tail.clear();
        shared.body_tail_final = false;
        shared.outbound.clear();
        shared.held = 0;
        shared.recv_waker = None;
        shared.send_waker = None;
        shared.conn_parked = false;
        shared.body_asked = false;
        shared.consumed = 0;
        shared.disconnected = false;
        shared.peer_closed = false;
        shared.disconnect_delivered = false;
        shared.body_wanted = false;
        shared.progress = Progress::Start;
        shared.forwarded_client = None;
        let shared = self.shared;
        (Self { shared: shared.clone() }, Receiver { shared: shared.clone() }, Sender { shared })
    }

    /// The response is complete and the application's future has ended: returns
    /// the exchange for [`Exchange::reopen`] when nothing else holds it (nobody is
    /// left to tell, so no lock is taken); otherwise disconnects whoever kept a
    /// handle and returns `None`. A count of one is enough to know (no `Weak` of
    /// an exchange exists), and costs no atomic operation; `reopen` checks again
    /// with the ordering it needs.
    pub(crate) fn retire(self) -> Option<Self> {
        if Arc::strong_count(&self.shared) == 1 {
            return Some(self);
        }
        self.disconnect();
        None
    }

    /// The client address `ProxyHeaders` put in the scope, if it did.
    pub(crate) fn forwarded_client(&self) -> Option<std::net::SocketAddr> {
        lock(&self.shared).forwarded_client
    }

    /// Whether the application waits in `receive` for request body that has not
    /// come (nothing unread is queued for it).
    pub(crate) fn waits_for_body(&self) -> bool {
        let shared = lock(&self.shared);
        shared.recv_waker.is_some() && shared.inbound.is_empty() && shared.body_tail.is_empty()
    }

    /// Whether another inbound event fits.
    pub(crate) fn has_room(&self) -> bool {
        let shared = lock(&self.shared);
        shared.inbound.len() < shared.capacity
    }

    pub(crate) fn push(&self, event: ReceiveEvent) {
        let mut shared = lock(&self.shared);
        shared.inbound.push_back(event);
        shared.wake_receiver();
    }

    /// A piece of the request body for a connection that cannot hold the client
    /// back piece by piece (HTTP/2: the stream's window bounds the bytes, not the
    /// frames they come in). A piece of at least [`KEEP_WHOLE`] bytes is queued as
    /// it is while there is room; others are copied onto one growing tail. So a
    /// client sending its body a byte per frame costs a byte each, not a queued
    /// event each, nor the whole read buffer a slice of it would keep alive.
    pub(crate) fn push_body(&self, body: Bytes, more_body: bool) {
        let mut shared = lock(&self.shared);
        if shared.body_tail.is_empty() && body.len() >= KEEP_WHOLE && shared.inbound.len() < shared.capacity {
            shared.inbound.push_back(ReceiveEvent::Request { body, more_body });
        } else if !body.is_empty() {
            shared.body_tail.extend_from_slice(&body);
            shared.body_tail_final = !more_body;
        } else if !more_body {
            drop(shared);
            return self.push_body_end();
        }
        shared.wake_receiver();
    }

    /// The request body ended: mark the last unread piece as final, or queue an empty final piece.
    pub(crate) fn push_body_end(&self) {
        let mut shared = lock(&self.shared);
        if !shared.body_tail.is_empty() {
            shared.body_tail_final = true;
            return;
        }
        if let Some(ReceiveEvent::Request { more_body: more_body @ true, .. }) = shared.inbound.back_mut() {
            *more_body = false;
            return;
        }
        shared.inbound.push_back(ReceiveEvent::Request { body: Bytes::new(), more_body: false });
        shared.wake_receiver();
    }

    pub(crate) fn pop(&self) -> Option<SendEvent> {
        let mut shared = lock(&self.shared);
        let event = shared.outbound.pop_front();
        if event.is_some() {
            shared.wake_sender();
        }
        event
    }

    /// Moves every event the application has queued into `events`, which must be
    /// empty (the previous batch applied): one lock for a batch instead of one
    /// per event. The batch keeps counting against the queue's capacity until
    /// the next call, so taking events early does not loosen the backpressure.
    ///
    /// Returns whether anything changed: events taken, or the last batch's room
    /// given back. The caller must then poll the application again before it
    /// sleeps: an application polled inside the connection's task and waiting
    /// for that room is not woken (see `wake_app`), only polled again.
    #[must_use]
    pub(crate) fn take_output(&self, events: &mut VecDeque<SendEvent>) -> bool {
        debug_assert!(events.is_empty(), "the previous batch is applied first");
        let mut shared = lock(&self.shared);
        std::mem::swap(&mut shared.outbound, events);
        let freed = std::mem::replace(&mut shared.held, events.len());
        if freed > 0 {
            shared.wake_sender();
        }
        freed > 0 || !events.is_empty()
    }

    /// Returns the unapplied rest of a batch to the front of the queue, for
    /// whoever takes this exchange's events next (a WebSocket session).
    pub(crate) fn give_back(&self, events: &mut VecDeque<SendEvent>) {
        let mut shared = lock(&self.shared);
        while let Some(event) = events.pop_back() {
            shared.outbound.push_front(event);
        }
        shared.held = 0;
        shared.wake_sender();
    }

    /// The client is gone or the response is complete: the next `receive` after
    /// the queued events says `Disconnect`, and sends fail.
    pub(crate) fn disconnect(&self) {
        let mut shared = lock(&self.shared);
        shared.disconnected = true;
        shared.wake_receiver();
        shared.wake_sender();
    }

    /// The WebSocket ended with `code` and `reason`: after the queued messages the
    /// application receives `WebSocketDisconnect` with them, and sends fail.
    pub(crate) fn websocket_closed(&self, code: u16, reason: String) {
        let mut shared = lock(&self.shared);
        if !shared.disconnected {
            shared.close = Some((code, reason));
        }
        shared.disconnected = true;
        shared.wake_receiver();
        shared.wake_sender();
    }

    /// The client closed its side of the connection after its request: a waiting
    /// `receive` reports `Disconnect` (long-poll and streaming applications
    /// learn the client left), while sends keep working.
    pub(crate) fn peer_closed(&self) {
        let mut shared = lock(&self.shared);
        shared.peer_closed = true;
        shared.wake_receiver();
    }

    /// Body bytes the application consumed since the last call.
    pub(crate) fn take_consumed(&self) -> usize {
        std::mem::take(&mut lock(&self.shared).consumed)
    }

    /// Drops the body pieces the application never read and returns their size.
    pub(crate) fn drain_unread_body(&self) -> usize {
        let mut shared = lock(&self.shared);
        let unread = shared
            .inbound
            .iter()
            .map(|event| match event {
                ReceiveEvent::Request { body, .. } => body.len(),
                _ => 0,
            })
            .sum::<usize>()
            + shared.body_tail.len();
        shared.inbound.clear();
        shared.body_tail.clear();
        shared.body_tail_final = false;
        unread
    }

    /// Whether the application has sent events the connection has not taken yet.
    pub(crate) fn has_output(&self) -> bool {
        !lock(&self.shared).outbound.is_empty()
    }

    /// Whether the application asked for body it has not got (once).
    pub(crate) fn take_body_wanted(&self) -> bool {
        let mut shared = lock(&self.shared);
        std::mem::take(&mut shared.body_wanted)
    }

    /// The connection task is about to sleep: registers it to be woken by the
    /// application's next move. Returns `false` instead when a move it would act
    /// on already happened: events wait and `take_output` says the connection can
    /// take them, or the application asked for the body and `take_body_request`
    /// says the connection acts on that (HTTP/1.1 before the body is complete,
    /// HTTP/2 while a `100 Continue` is owed; otherwise HTTP/2's flow control needs
    /// no such signal). The caller must then go round
    /// again, not sleep. Checking and registering under one lock is what makes a
    /// send from another thread impossible to miss.
    pub(crate) fn park(&self, waker: &Waker, take_output: bool, take_body_request: bool) -> bool {
        let mut shared = lock(&self.shared);
        if (take_output && !shared.outbound.is_empty()) || (take_body_request && shared.body_wanted) {
            return false;
        }
        if !shared.conn_waker.as_ref().is_some_and(|current| current.will_wake(waker)) {
            shared.conn_waker = Some(waker.clone());
        }
        shared.conn_parked = true;
        true
    }

    /// The connection task is running (it was woken): the application's moves
    /// need not wake it until it parks again.
    pub(crate) fn unpark(&self) {
        lock(&self.shared).conn_parked = false;
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::Context;

    use http::StatusCode;

    use super::*;

    /// Polls `future` once with a waker that does nothing.
    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// What the application's next `receive` returns, if it is ready.
    fn next_event(receiver: &mut Receiver) -> Option<ReceiveEvent> {
        match poll_once(pin!(receiver.receive())) {
            Poll::Ready(event) => event,
            Poll::Pending => None,
        }
    }

    #[test]
    fn small_body_pieces_are_copied_into_one_event_after_the_queued_ones() {
        let (exchange, mut receiver, _sender) = Exchange::new(2, Kind::Http);
        let whole = Bytes::from(vec![b'w'; KEEP_WHOLE]);
        exchange.push_body(whole.clone(), true);
        for _ in 0..1000 {
            exchange.push_body(Bytes::from_static(b"x"), true);
        }
        exchange.push_body(whole.clone(), true);
        exchange.push_body(Bytes::new(), false);
        assert_eq!(next_event(&mut receiver), Some(ReceiveEvent::Request { body: whole, more_body: true }));
        let Some(ReceiveEvent::Request { body, more_body: false }) = next_event(&mut receiver) else {
            panic!("the rest comes as one final piece");
        };
        assert_eq!(body.len(), 1000 + KEEP_WHOLE);
        assert!(body.starts_with(&[b'x'; 1000]), "in the order it came");
        assert_eq!(exchange.take_consumed(), 1000 + 2 * KEEP_WHOLE);
        exchange.disconnect();
        assert_eq!(next_event(&mut receiver), Some(ReceiveEvent::Disconnect), "after the body, not before");
    }

    #[test]
    fn unread_copied_body_is_counted_and_dropped() {
        let (exchange, mut receiver, _sender) = Exchange::new(2, Kind::Http);
        exchange.push_body(Bytes::from_static(b"abc"), true);
        exchange.push_body(Bytes::from_static(b"de"), false);
        assert_eq!(exchange.drain_unread_body(), 5);
        exchange.disconnect();
        assert_eq!(next_event(&mut receiver), Some(ReceiveEvent::Disconnect));
    }

    #[test]
    fn respond_queues_the_start_and_the_whole_body_in_order() {
        let (exchange, _receiver, mut sender) = Exchange::new(1, Kind::Http);
        let sent = poll_once(pin!(sender.respond(StatusCode::CREATED, vec![], "done")));
        assert_eq!(sent, Poll::Ready(Ok(())), "a queue of one takes both events when it is empty");
        assert!(matches!(exchange.pop(), Some(SendEvent::ResponseStart { status: StatusCode::CREATED, .. })));
        assert!(matches!(exchange.pop(), Some(SendEvent::ResponseBody { more_body: false, .. })));
        assert!(exchange.pop().is_none());
        let again = poll_once(pin!(sender.respond(StatusCode::OK, vec![], "")));
        assert_eq!(again, Poll::Ready(Err(SendError::Unexpected("the response is complete"))));
    }

    #[test]
    fn respond_after_a_start_is_refused_and_changes_nothing() {
        let (exchange, _receiver, mut sender) = Exchange::new(10, Kind::Http);
        assert!(poll_once(pin!(sender.start(StatusCode::OK, vec![]))).is_ready());
        let refused = poll_once(pin!(sender.respond(StatusCode::OK, vec![], "x")));
        assert_eq!(refused, Poll::Ready(Err(SendError::Unexpected("the response already started"))));
        assert_eq!(poll_once(pin!(sender.body("rest", false))), Poll::Ready(Ok(())));
        assert!(matches!(exchange.pop(), Some(SendEvent::ResponseStart { .. })));
        assert!(matches!(exchange.pop(), Some(SendEvent::ResponseBody { more_body: false, .. })));
    }

    #[test]
    fn respond_waits_for_room_for_both_events() {
        let (exchange, _receiver, mut sender) = Exchange::new(2, Kind::Http);
        assert!(poll_once(pin!(sender.send(SendEvent::EarlyHint { links: vec![] }))).is_ready());
        let mut respond = pin!(sender.respond(StatusCode::OK, vec![], "x"));
        assert!(poll_once(respond.as_mut()).is_pending(), "one queued event and two more exceed two");
        assert!(matches!(exchange.pop(), Some(SendEvent::EarlyHint { .. })));
        assert_eq!(poll_once(respond.as_mut()), Poll::Ready(Ok(())));
    }

    #[test]
    fn a_batch_taken_by_the_connection_counts_against_the_capacity_until_the_next() {
        let (exchange, _receiver, mut sender) = Exchange::new(2, Kind::Http);
        assert!(poll_once(pin!(sender.start(StatusCode::OK, vec![]))).is_ready());
        assert!(poll_once(pin!(sender.body("a", true))).is_ready());
        let mut batch = VecDeque::new();
        assert!(exchange.take_output(&mut batch));
        assert_eq!(batch.len(), 2);
        let mut third = pin!(sender.body("b", true));
        assert!(poll_once(third.as_mut()).is_pending(), "two events held: the queue is full");
        batch.clear();
        assert!(exchange.take_output(&mut batch), "the held room given back is a change");
        assert!(batch.is_empty());
        assert!(!exchange.take_output(&mut batch), "nothing queued, nothing held: no change");
        assert_eq!(poll_once(third.as_mut()), Poll::Ready(Ok(())));
        assert!(exchange.take_output(&mut batch));
        assert!(matches!(batch.pop_front(), Some(SendEvent::ResponseBody { more_body: true, .. })));
    }

    #[test]
    fn events_given_back_come_first_and_free_the_held_room() {
        let (exchange, _receiver, mut sender) = Exchange::new(2, Kind::WebSocket);
        assert!(
            poll_once(pin!(sender.send(SendEvent::WebSocketAccept { subprotocol: None, headers: vec![] })))
                .is_ready()
        );
        let message = || SendEvent::WebSocketSend(crate::app::Message::Text("hi".into()));
        assert!(poll_once(pin!(sender.send(message()))).is_ready());
        let mut batch = VecDeque::new();
        assert!(exchange.take_output(&mut batch));
        assert!(matches!(batch.pop_front(), Some(SendEvent::WebSocketAccept { .. })));
        assert!(poll_once(pin!(sender.send(message()))).is_pending());
        exchange.give_back(&mut batch);
        assert!(batch.is_empty());
        let close = SendEvent::WebSocketClose { code: 1000, reason: String::new() };
        assert!(poll_once(pin!(sender.send(close))).is_ready(), "the applied accept no longer counts");
        assert!(poll_once(pin!(sender.send(message()))).is_pending(), "two queued: full");
        assert!(matches!(exchange.pop(), Some(SendEvent::WebSocketSend(_))), "the given-back message first");
        assert!(matches!(exchange.pop(), Some(SendEvent::WebSocketClose { .. })));
    }
}
