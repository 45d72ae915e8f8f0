//! The server side of one HTTP/1.1 connection: input parsing, response
//! serialization and timers, glued to the state table of [`crate::state`].

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, StatusCode, Version};

use crate::chunked::{Chunk, ChunkLimits, ChunkedDecoder};
use crate::config::Config;
use crate::error::{ErrorKind, ProtocolError, SendError};
use crate::head::{BodyLength, Headers, Request, parse_request};
use crate::output::Output;
use crate::scan::Scan;
use crate::state::{ConnectionState, EventType, Role, State, Switch};
use crate::writer::{self, BodyWriter, FieldBlock, FieldPolicy, HeadMemo};

/// The most the input buffer grows by when a read does not fit (see `receive`).
const INPUT_CHUNK: usize = 4096;

/// The least it grows by, the first time.
const INPUT_FIRST_STEP: usize = 256;

/// Something the client did, for the caller to act on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A request head arrived. Its body (if any) follows as [`Event::Data`], then
    /// [`Event::EndOfMessage`]. The caller answers with
    /// [`Connection::send_response`] at any point from here on.
    Request(Request),
    /// A piece of the request body.
    Data(Bytes),
    /// The request body is complete; a chunked body may carry trailer fields.
    EndOfMessage {
        /// Trailer fields of a chunked body, if it had any.
        trailers: Option<Headers>,
    },
    /// The client broke the protocol, went past a limit, or timed out. The answer
    /// (if one can still be sent) is queued; the caller flushes `poll_transmit`,
    /// tells the application the request is gone, and closes.
    Error(ProtocolError),
}

/// What is being read from the client.
#[derive(Debug)]
enum Reader {
    Head(Scan),
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// Facts about the request being answered that decide how the response is framed.
#[derive(Debug, Clone, Copy)]
struct Exchange {
    version: Version,
    head: bool,
    /// The client sent `Expect: 100-continue` and has not been asked for the body yet.
    continue_pending: bool,
}

/// The server side of an HTTP/1.1 connection, as a sans-IO state machine.
///
/// Feed it what the socket reads ([`receive`](Self::receive),
/// [`receive_eof`](Self::receive_eof)) and the clock ([`handle_timeout`](Self::handle_timeout));
/// take what it decided ([`poll_event`](Self::poll_event),
/// [`poll_transmit`](Self::poll_transmit), [`poll_timeout`](Self::poll_timeout));
/// answer with the `send_*` commands. When [`is_finished`](Self::is_finished)
/// turns true the caller closes the socket; when [`is_switched`](Self::is_switched)
/// does, it hands the socket and [`take_upgrade_bytes`](Self::take_upgrade_bytes) to
/// the next protocol.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    state: ConnectionState,
    input: BytesMut,
    /// What `input` grows by next when a read does not fit: doubles each time, up to
    /// [`INPUT_CHUNK`].
    input_step: usize,
    /// Lower-cased copies of header names that were not (see `Headers`), reused per request.
    names: BytesMut,
    eof: bool,
    reader: Reader,
    writer: BodyWriter,
    output: Output,
    /// The last response head, copied again when the next one is the same.
    head_memo: HeadMemo,
    exchange: Exchange,
    /// The server answered before the request body ended: read the rest and drop it.
    discarding: Option<u64>,
    /// A protocol error detected outside `poll_event`, reported by its next call.
    pending_error: Option<ProtocolError>,
    requests: u32,
    last_input: Instant,
    /// The latest time any call passed in: when the body reader starts waiting,
    /// its clock starts here.
    clock: Instant,
    /// Since when the current request head has been awaited.
    head_clock: Option<Instant>,
    /// Since when the connection has sat idle between requests.
    idle_clock: Option<Instant>,
    /// Since when the body reader has waited for the client.
    body_clock: Option<Instant>,
    /// A cycle ended; the idle clock starts when its response is handed out.
    idle_pending: bool,
    /// A `100 Continue` was queued: the body clock starts when it is handed out,
    /// since from then on the client is asked for its body.
    body_clock_pending: bool,
    /// Written into the error answers this connection composes itself.
    error_fields: FieldBlock,
}

impl Connection {
    /// A new connection whose socket was accepted at `now`.
    pub fn new(config: Config, now: Instant) -> Self {
        Self {
            config,
            state: ConnectionState::new(),
            input: BytesMut::new(),
            input_step: INPUT_FIRST_STEP,
            names: BytesMut::new(),
            eof: false,
            reader: Reader::Head(Scan::default()),
            writer: BodyWriter::Discard,
            output: Output::default(),
            head_memo: HeadMemo::default(),
            exchange: Exchange { version: Version::HTTP_11, head: false, continue_pending: false },
            discarding: None,
            pending_error: None,
            requests: 0,
            last_input: now,
            clock: now,
            head_clock: Some(now),
            idle_clock: None,
            body_clock: None,
            idle_pending: false,
            body_clock_pending: false,
            error_fields: FieldBlock::default(),
        }
    }

    // ----- input -----------------------------------------------------------

    /// Takes bytes read from the socket at `now`. Call [`poll_event`](Self::poll_event)
    /// afterwards. Bytes after a protocol error are dropped.
    pub fn receive(&mut self, now: Instant, data: &[u8]) {
        if data.is_empty() || self.state.client() == State::Error {
            return;
        }
        // Room for a few more reads at once: each head is split off the front of
        // this buffer, and topping it up by exactly one read at a time would make
        // nearly every read reclaim or reallocate it. The step starts small and
        // doubles, so a connection that trickles bytes in (slowloris) holds a few
        // hundred bytes rather than the 4 KiB a busy keep-alive one soon grows by.
        crate::rewind::rewind(&mut self.input);
        if self.input.capacity() - self.input.len() < data.len() {
            self.input.reserve(data.len().max(self.input_step));
            self.input_step = (self.input_step * 2).min(INPUT_CHUNK);
        }
        self.input.extend_from_slice(data);
        self.last_input = now;
        self.clock = now;
        self.body_clock = None;
        if self.state.client() == State::Idle {
            self.idle_clock = None;
            self.head_clock.get_or_insert(now);
        }
    }

    /// The client closed its sending side. Requests already buffered are still
    /// served; an incomplete one becomes an [`ErrorKind::IncompleteRequest`].
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// Fires every deadline that `now` has passed: an idle keep-alive connection
    /// finishes quietly; a slow head or a stalled body becomes an [`Event::Error`]
    /// (with a 408 queued when no response has started).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = now;
        if self.pending_error.is_some() {
            return;
        }
        let expired = |clock: Option<Instant>, limit: Option<std::time::Duration>| matches!((clock, limit), (Some(since), Some(limit)) if now >= since + limit);
        match self.state.client() {
            State::Idle if self.input.is_empty() => {
                let idle = expired(self.idle_clock, self.config.keep_alive_timeout);
                let silent = expired(self.head_clock, self.config.header_read_timeout);
                if idle || silent {
                    // Nothing was said: close without a word, as for any idle peer.
                    let _ = self.state.process(Role::Client, EventType::ConnectionClosed);
                }
            }
            State::Idle if expired(self.head_clock, self.config.header_read_timeout) => {
                self.pending_error = Some(self.fail(ErrorKind::HeaderTimeout));
            }
            State::SendBody
                if !self.exchange.continue_pending
                    && expired(self.body_clock, self.config.body_idle_timeout) =>
            {
                self.pending_error = Some(self.fail(ErrorKind::BodyTimeout));
            }
            _ => {}
        }
    }

    // ----- output ----------------------------------------------------------

    /// The next thing the client did, or `None` until more input arrives (or, while a
    /// response is in progress, until it ends: pipelined requests wait their turn).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(error) = self.pending_error.take() {
            return Some(Event::Error(error));
        }
        loop {
            let event = match self.state.client() {
                State::Idle if self.state.server() == State::Idle => self.read_head(),
                State::SendBody => self.read_body(),
                _ => return None,
            };
            match event {
                Ok(Some(event)) => return Some(event),
                Ok(None) if self.discarding.is_some() && self.state.client() != State::SendBody => {
                    // The discarded body just ended and a new cycle may have begun.
                    self.discarding = None;
                    self.restart_cycle();
                }
                Ok(None) => return None,
                Err(kind) => return Some(Event::Error(self.fail(kind))),
            }
        }
    }

    /// The next bytes to write to the socket, in order, or `None` when all is out.
    /// Body data is handed back without a copy. Pass the current time: the keep-alive
    /// clock starts when the last byte of a response leaves.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        self.clock = now;
        let piece = self.output.pop();
        if self.body_clock_pending {
            self.body_clock_pending = false;
            if self.state.client() == State::SendBody {
                self.body_clock.get_or_insert(now);
            }
        }
        if self.output.is_empty() && self.idle_pending {
            self.idle_pending = false;
            if self.state.client() == State::Idle && self.input.is_empty() {
                self.idle_clock = Some(now);
            } else if self.state.client() == State::Idle {
                self.head_clock.get_or_insert(now);
            }
        }
        piece
    }

    /// Bytes queued and not yet handed out by [`poll_transmit`](Self::poll_transmit).
    pub fn pending_output(&self) -> usize {
        self.output.len()
    }

    /// The earliest deadline: call [`handle_timeout`](Self::handle_timeout) then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let after = |clock: Option<Instant>, limit: Option<std::time::Duration>| Some(clock? + limit?);
        match self.state.client() {
            State::Idle => {
                let head = after(self.head_clock, self.config.header_read_timeout);
                let idle = after(self.idle_clock, self.config.keep_alive_timeout);
                match (head, idle) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            State::SendBody if !self.exchange.continue_pending => {
                after(self.body_clock, self.config.body_idle_timeout)
            }
            _ => None,
        }
    }

    /// Whether the caller should read more from the socket now. False while enough
    /// input is buffered (the client is ahead of the server), after the client
    /// closed, and once the connection is ending.
    pub fn wants_read(&self) -> bool {
        let ending = matches!(self.state.client(), State::Error | State::Closed | State::SwitchedProtocol)
            || matches!(self.state.server(), State::MustClose | State::Closed | State::Error);
        !self.eof && !ending && self.input.len() < self.read_limit()
    }

    /// Whether the connection is over: everything is written and nothing more
    /// will be read or sent. The caller closes the socket.
    pub fn is_finished(&self) -> bool {
        let (client, server) = (self.state.client(), self.state.server());
        self.output.is_empty()
            && (matches!(server, State::MustClose | State::Closed | State::Error)
                || client == State::Error
                || (client == State::Closed && matches!(server, State::Idle | State::Done)))
    }

    /// Whether a protocol switch (101 to an `Upgrade`, 2xx to `CONNECT`) was sent:
    /// after flushing [`poll_transmit`](Self::poll_transmit), the socket belongs to
    /// the new protocol.
    pub fn is_switched(&self) -> bool {
        self.state.server() == State::SwitchedProtocol
    }

    /// After a protocol switch, the bytes the client already sent past the request:
    /// the first input of the new protocol.
    pub fn take_upgrade_bytes(&mut self) -> Option<Bytes> {
        self.is_switched().then(|| self.input.split().freeze())
    }

    /// The server's state in the request/response cycle.
    pub fn server_state(&self) -> State {
        self.state.server()
    }

    /// The client's state in the request/response cycle.
    pub fn client_state(&self) -> State {
        self.state.client()
    }

    // ----- commands --------------------------------------------------------

    /// Fields for the error answers this connection writes itself (400, 408, 414,
    /// 431…), after its own: a caller with a clock passes `date` here and renews it
    /// as time goes by (RFC 9110 §6.6.1: an origin server with a clock sends Date).
    /// None by default: the state machine has no clock.
    pub fn set_error_fields(&mut self, fields: FieldBlock) {
        self.error_fields = fields;
    }

    /// The application started reading the request body: if the client waits for
    /// `100 Continue`, it is queued now (and never otherwise).
    pub fn want_body(&mut self) {
        if self.exchange.continue_pending && self.state.server() == State::SendResponse {
            self.exchange.continue_pending = false;
            self.body_clock_pending = true;
            writer::write_status_line(&mut self.output, StatusCode::CONTINUE);
            self.output.put_slice(b"\r\n");
        }
    }

    /// Sends an informational (1xx) response such as `103 Early Hints`. An HTTP/1.0
    /// client cannot receive one, so for it this does nothing and returns `Ok`.
    pub fn send_informational<I, N, V>(&mut self, status: StatusCode, fields: I) -> Result<(), SendError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        if !status.is_informational() || status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(SendError::InvalidStatus(status));
        }
        if !self.state.allows(Role::Server, EventType::InformationalResponse) {
            return Err(SendError::WrongState(self.state.server()));
        }
        if self.exchange.version == Version::HTTP_10 {
            return Ok(());
        }
        let mark = self.output.mark();
        writer::write_status_line(&mut self.output, status);
        let policy = FieldPolicy { drop_length: true, drop_transfer_encoding: true };
        if let Err(error) = writer::write_fields(&mut self.output, fields, policy) {
            self.output.truncate(mark);
            return Err(error);
        }
        self.output.put_slice(b"\r\n");
        if status == StatusCode::CONTINUE {
            self.exchange.continue_pending = false;
            self.body_clock_pending = true;
        }
        self.commit(EventType::InformationalResponse);
        Ok(())
    }

    /// Sends the response head. The body framing is chosen here: the application's
    /// own `Content-Length`, else `length` when the caller knows the whole body,
    /// else chunked (HTTP/1.1) or close-delimited (HTTP/1.0). `Connection: close`
    /// is added when the connection will not be reused. A 101 accepts a proposed
    /// `Upgrade`, a 2xx answers `CONNECT`; both switch protocols.
    ///
    /// `fields` may be walked twice, so its iterator must be `Clone` (those over arrays
    /// and slices are): a head with the same status and fields as the last one is
    /// recognised and copied instead of checked and formatted again.
    pub fn send_response<I, N, V>(
        &mut self,
        status: StatusCode,
        fields: I,
        length: Option<u64>,
    ) -> Result<(), SendError>
    where
        I: IntoIterator<Item = (N, V), IntoIter: Clone>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.send_response_with(status, fields, length, &FieldBlock::default())
    }

    /// [`send_response`](Self::send_response), with `common` written after `fields`:
    /// fields checked once for many responses (see [`FieldBlock`]).
    pub fn send_response_with<I, N, V>(
        &mut self,
        status: StatusCode,
        fields: I,
        length: Option<u64>,
        common: &FieldBlock,
    ) -> Result<(), SendError>
    where
        I: IntoIterator<Item = (N, V), IntoIter: Clone>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let event = self.response_event(status)?;
        if !self.state.allows(Role::Server, event) {
            return Err(SendError::WrongState(self.state.server()));
        }
        let exchange = self.exchange;
        let no_body = exchange.head
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || event == EventType::AcceptConnect;
        let policy = FieldPolicy {
            drop_length: status.is_informational()
                || status == StatusCode::NO_CONTENT
                || event == EventType::AcceptConnect,
            drop_transfer_encoding: no_body || exchange.version == Version::HTTP_10,
        };
        self.output.rewind();
        let mark = self.output.mark();
        let declared = match writer::write_head(
            &mut self.output,
            &mut self.head_memo,
            status,
            fields.into_iter(),
            policy,
        ) {
            Ok(declared) => declared,
            Err(error) => {
                self.output.truncate(mark);
                return Err(error);
            }
        };
        self.output.put_slice(common.as_bytes());
        // A response that answers no request (an error before one arrived) cannot
        // be matched by the client to anything: close after it.
        let unsolicited = self.state.server() == State::Idle;
        let mut keep_alive = self.state.keep_alive() && !declared.connection_close && !unsolicited;
        // Answering before the request body ended: read and drop the rest if it is
        // short, else close. Answering before asking for an expected body leaves
        // the client unsure whether to send it: close rather than guess (RFC 9110 §10.1.1).
        if self.state.client() == State::SendBody
            && (exchange.continue_pending || self.unread_body() > self.config.max_discarded_body)
        {
            keep_alive = false;
        }
        let writer = if no_body {
            // HEAD: the length a GET's body would have had; never for a status whose
            // responses have no content (RFC 9110 §8.6).
            let bodiless = status.is_informational()
                || status == StatusCode::NO_CONTENT
                || status == StatusCode::NOT_MODIFIED
                || event == EventType::AcceptConnect;
            if let (true, false, None, Some(length)) =
                (exchange.head, bodiless, declared.content_length, length)
            {
                self.put_content_length(length);
            }
            BodyWriter::Discard
        } else if let Some(length) = declared.content_length {
            BodyWriter::Length(length)
        } else if declared.chunked {
            BodyWriter::Chunked
        } else if let Some(length) = length {
            self.put_content_length(length);
            BodyWriter::Length(length)
        } else if exchange.version == Version::HTTP_11 {
            self.output.put_slice(b"transfer-encoding: chunked\r\n");
            BodyWriter::Chunked
        } else {
            keep_alive = false;
            BodyWriter::CloseDelimited
        };
        let switching = matches!(event, EventType::AcceptUpgrade | EventType::AcceptConnect);
        if !switching {
            if !keep_alive && !declared.connection_close {
                self.output.put_slice(b"connection: close\r\n");
            } else if keep_alive && exchange.version == Version::HTTP_10 && !declared.connection_field {
                self.output.put_slice(b"connection: keep-alive\r\n");
            }
        }
        self.output.put_slice(b"\r\n");
        if !keep_alive {
            self.state.disable_keep_alive();
        }
        self.writer = writer;
        self.commit(event);
        Ok(())
    }

    /// Sends a piece of the response body, without copying it (small pieces are
    /// coalesced with their framing). Errs past a declared `Content-Length`.
    pub fn send_data(&mut self, data: Bytes) -> Result<(), SendError> {
        if !self.state.allows(Role::Server, EventType::Data) {
            return Err(SendError::WrongState(self.state.server()));
        }
        match self.writer {
            BodyWriter::Length(remaining) => {
                let remaining = remaining.checked_sub(data.len() as u64).ok_or(SendError::BodyTooLong)?;
                self.writer = BodyWriter::Length(remaining);
                self.output.put_bytes(data);
            }
            BodyWriter::Chunked if data.is_empty() => {}
            BodyWriter::Chunked => {
                writer::write_chunk_size(&mut self.output, data.len());
                self.output.put_bytes(data);
                self.output.put_slice(b"\r\n");
            }
            BodyWriter::CloseDelimited => self.output.put_bytes(data),
            BodyWriter::Discard => {}
        }
        self.commit(EventType::Data);
        Ok(())
    }

    /// Ends the response. Trailer fields go out only on a chunked body; other
    /// framings cannot carry them and they are dropped. Errs, changing nothing, when
    /// fewer bytes than the declared `Content-Length` were sent: the caller must
    /// then close the connection.
    pub fn send_end<I, N, V>(&mut self, trailers: I) -> Result<(), SendError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        if !self.state.allows(Role::Server, EventType::EndOfMessage) {
            return Err(SendError::WrongState(self.state.server()));
        }
        match self.writer {
            BodyWriter::Length(missing @ 1..) => return Err(SendError::BodyTooShort { missing }),
            BodyWriter::Chunked => {
                let mark = self.output.mark();
                self.output.put_slice(b"0\r\n");
                let policy = FieldPolicy { drop_length: true, drop_transfer_encoding: true };
                if let Err(error) = writer::write_fields(&mut self.output, trailers, policy) {
                    self.output.truncate(mark);
                    return Err(error);
                }
                self.output.put_slice(b"\r\n");
            }
            _ => {}
        }
        self.commit(EventType::EndOfMessage);
        self.after_response();
        Ok(())
    }

    /// Graceful shutdown: an idle connection finishes at once; one with a request in
    /// progress answers it with `Connection: close` (if its head is not out yet) and
    /// then finishes.
    pub fn start_shutdown(&mut self) {
        self.state.disable_keep_alive();
        if self.state.client() == State::Idle && self.state.server() == State::Idle {
            let _ = self.state.process(Role::Client, EventType::ConnectionClosed);
        }
    }

    // ----- internals -------------------------------------------------------

    fn response_event(&self, status: StatusCode) -> Result<EventType, SendError> {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return match self.state.proposed_switch() {
                Some(Switch::Upgrade) => Ok(EventType::AcceptUpgrade),
                _ => Err(SendError::InvalidStatus(status)),
            };
        }
        if status.is_informational() {
            return Err(SendError::InvalidStatus(status));
        }
        if status.is_success() && self.state.proposed_switch() == Some(Switch::Connect) {
            return Ok(EventType::AcceptConnect);
        }
        Ok(EventType::Response)
    }

    fn put_content_length(&mut self, length: u64) {
        self.output.put_slice(b"content-length: ");
        writer::write_decimal(&mut self.output, length);
        self.output.put_slice(b"\r\n");
    }

    /// Applies a server event already checked with `allows`.
    fn commit(&mut self, event: EventType) {
        let applied = self.state.process(Role::Server, event);
        debug_assert!(applied.is_ok(), "checked before serializing");
    }

    /// The response is out: keep reading an unfinished request body (to discard
    /// it) or start the next cycle.
    fn after_response(&mut self) {
        if self.state.client() == State::SendBody && self.state.keep_alive() {
            self.discarding = Some(0);
        }
        self.restart_cycle();
    }

    /// Declared request body bytes not read yet (0 when unknown, as for chunked).
    fn unread_body(&self) -> u64 {
        match self.reader {
            Reader::Length(remaining) => remaining,
            _ => 0,
        }
    }

    fn restart_cycle(&mut self) {
        if self.state.start_next_cycle() {
            self.reader = Reader::Head(Scan::default());
            self.writer = BodyWriter::Discard;
            self.head_clock = None;
            self.idle_clock = None;
            self.body_clock = None;
            self.idle_pending = true;
        }
    }

    fn read_limit(&self) -> usize {
        (self.config.max_head_size + 1).max(64 * 1024)
    }

    fn read_head(&mut self) -> Result<Option<Event>, ErrorKind> {
        let Reader::Head(scan) = &mut self.reader else {
            self.reader = Reader::Head(Scan::default());
            return Ok(None);
        };
        // RFC 9112 §2.2: ignore empty lines before the request line.
        if !scan.first_line_done() {
            while self.input.starts_with(b"\r\n") {
                self.input.advance(2);
                *scan = Scan::default();
            }
            if self.input[..] == *b"\r" && !self.eof {
                return Ok(None);
            }
        }
        let limit = self.config.max_head_size;
        let end = scan.find_end(&self.input[..self.input.len().min(limit)])?;
        let Some(end) = end else {
            if self.input.len() >= limit {
                return Err(if scan.first_line_done() {
                    ErrorKind::HeadTooLarge
                } else if looks_like_request_line_start(&self.input) {
                    ErrorKind::TargetTooLong
                } else {
                    ErrorKind::BadRequestLine
                });
            }
            if self.eof {
                if self.input.is_empty() {
                    let _ = self.state.process(Role::Client, EventType::ConnectionClosed);
                    return Ok(None);
                }
                return Err(ErrorKind::IncompleteRequest);
            }
            return Ok(None);
        };
        let head = self.input.split_to(end).freeze();
        let request = parse_request(head, self.config.max_headers, &mut self.names)?;
        self.begin_request(&request);
        Ok(Some(Event::Request(request)))
    }

    fn begin_request(&mut self, request: &Request) {
        let applied = self.state.process(Role::Client, EventType::Request);
        debug_assert!(applied.is_ok(), "heads are read only in Idle");
        self.requests = self.requests.saturating_add(1);
        let version = request.version();
        let headers = request.headers();
        let keep_alive = match version {
            Version::HTTP_10 => headers.has_token(b"connection", b"keep-alive"),
            _ => !headers.has_token(b"connection", b"close"),
        };
        let max_reached = self.config.max_requests_per_connection.is_some_and(|max| self.requests >= max);
        if !keep_alive || max_reached {
            self.state.disable_keep_alive();
        }
        if *request.method() == Method::CONNECT {
            self.state.propose_switch(Switch::Connect);
        } else if version == Version::HTTP_11
            && headers.get(b"upgrade").is_some()
            && headers.has_token(b"connection", b"upgrade")
        {
            self.state.propose_switch(Switch::Upgrade);
        }
        self.exchange = Exchange {
            version,
            head: *request.method() == Method::HEAD,
            continue_pending: request.expects_continue() && request.body_length() != BodyLength::Empty,
        };
        self.reader = match request.body_length() {
            BodyLength::Known(length) => Reader::Length(length),
            BodyLength::Chunked => Reader::Chunked(ChunkedDecoder::new()),
            _ => Reader::Length(0),
        };
        self.head_clock = None;
    }

    fn read_body(&mut self) -> Result<Option<Event>, ErrorKind> {
        loop {
            let piece = match &mut self.reader {
                Reader::Length(0) => Some(Chunk::End(None)),
                Reader::Length(_) if self.input.is_empty() => None,
                Reader::Length(remaining) => {
                    let take = usize::try_from(*remaining).unwrap_or(usize::MAX).min(self.input.len());
                    *remaining -= take as u64;
                    Some(Chunk::Data(self.input.split_to(take).freeze()))
                }
                Reader::Chunked(decoder) => {
                    let limits = ChunkLimits {
                        max_extensions: self.config.max_chunk_extensions_size,
                        max_trailers: self.config.max_trailers_size,
                        max_trailer_fields: self.config.max_headers,
                    };
                    decoder.decode(&mut self.input, limits)?
                }
                Reader::Head(_) => return Ok(None),
            };
            match piece {
                Some(Chunk::Data(data)) => {
                    if let Some(discarded) = &mut self.discarding {
                        *discarded += data.len() as u64;
                        if *discarded > self.config.max_discarded_body {
                            self.state.disable_keep_alive();
                            return Ok(None);
                        }
                        continue;
                    }
                    return Ok(Some(Event::Data(data)));
                }
                Some(Chunk::End(trailers)) => {
                    let applied = self.state.process(Role::Client, EventType::EndOfMessage);
                    debug_assert!(applied.is_ok(), "bodies are read only in SendBody");
                    self.body_clock = None;
                    if self.discarding.is_some() {
                        return Ok(None);
                    }
                    return Ok(Some(Event::EndOfMessage { trailers }));
                }
                None if self.eof => return Err(ErrorKind::IncompleteRequest),
                None => {
                    // Waiting for the client starts now (not at its last byte: the
                    // application may have held that data for a while).
                    if !self.exchange.continue_pending {
                        self.body_clock.get_or_insert(self.clock);
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Records the client's error and queues the answer, if one can still be sent.
    fn fail(&mut self, kind: ErrorKind) -> ProtocolError {
        self.state.process_error(Role::Client);
        self.body_clock = None;
        self.head_clock = None;
        let can_answer =
            kind != ErrorKind::IncompleteRequest && self.state.allows(Role::Server, EventType::Response);
        if !can_answer {
            return ProtocolError::new(kind, None);
        }
        let status = kind.status();
        let body = kind.to_string();
        writer::write_status_line(&mut self.output, status);
        self.output.put_slice(b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n");
        self.output.put_slice(self.error_fields.as_bytes());
        self.output.put_slice(b"content-length: ");
        writer::write_decimal(&mut self.output, body.len() as u64 + 1);
        self.output.put_slice(b"\r\n\r\n");
        self.output.put_slice(body.as_bytes());
        self.output.put_slice(b"\n");
        self.commit(EventType::Response);
        self.commit(EventType::EndOfMessage);
        ProtocolError::new(kind, Some(status))
    }
}

/// Whether `buf` starts like `METHOD SP target`, so an overlong line is a long target.
fn looks_like_request_line_start(buf: &[u8]) -> bool {
    match buf.iter().position(|&b| b == b' ') {
        Some(space) => space > 0 && writer::is_token(&buf[..space]),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trickling_client_holds_a_small_input_buffer_and_a_busy_one_grows_it_4_kib_at_a_time() {
        let now = Instant::now();
        let mut conn = Connection::new(Config::default(), now);
        for byte in b"GET / HTTP/1.1\r\nHost: slow\r\n" {
            conn.receive(now, &[*byte]);
        }
        assert!(conn.input.capacity() <= INPUT_FIRST_STEP, "{}", conn.input.capacity());

        // Reads that do not fit make it grow by doubling steps, up to 4 KiB: a hundred
        // reads of 100 bytes make it grow a handful of times, not a hundred.
        let mut growths = 0;
        for _ in 0..100 {
            let before = conn.input.capacity();
            conn.receive(now, &[b'x'; 100]);
            growths += usize::from(conn.input.capacity() != before);
        }
        assert!(growths <= 8, "{growths} growths");
        assert_eq!(conn.input_step, INPUT_CHUNK);
    }
}
