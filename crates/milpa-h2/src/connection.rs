//! The server side of one HTTP/2 connection: its state, its inputs and outputs, and the
//! bookkeeping shared by the receive path ([`crate::recv`]), the send path
//! ([`crate::send`]) and the application's commands ([`crate::commands`]).

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use milpa_hpack::{Decoder, Encoder};

use crate::config::Config;
use crate::error::{ErrorKind, ProtocolError};
use crate::event::Event;
use crate::flow::{DEFAULT_WINDOW, RecvWindow, SendWindow};
use crate::frame::{
    self, DEFAULT_MAX_FRAME_SIZE, Frame, FrameHeader, GoAwayFrame, MAX_MAX_FRAME_SIZE, PingFrame, Reason,
    RstStreamFrame, Settings, SettingsFrame, StreamId, StreamIdMap, WindowUpdateFrame,
};
use crate::head_memo::HeadMemo;
use crate::output::Output;
use crate::priority::Priority;
use crate::stream::{Recv, Stream};

/// Length of the client connection preface.
pub(crate) const PREFACE_LEN: usize = frame::CONNECTION_PREFACE.len();
/// Payload of the PING that follows the first GOAWAY of a graceful shutdown.
pub(crate) const SHUTDOWN_PING: [u8; 8] = *b"milpa-gs";
/// Payload of keep-alive PINGs.
pub(crate) const KEEPALIVE_PING: [u8; 8] = *b"milpa-ka";

/// Output bytes past which [`Connection::wants_read`] turns false until they are written.
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// How a stream we no longer track was closed, to answer late frames on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// We reset it: the client may have sent frames before it saw our RST_STREAM, which are
    /// processed minimally and dropped (RFC 9113 §5.1, "closed").
    Reset,
    /// Both sides ended it, or the client reset it: late DATA or HEADERS are errors.
    Done,
}

/// Graceful shutdown progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shutdown {
    /// Not shutting down.
    None,
    /// GOAWAY(2^31-1) and a PING are out; the PING's acknowledgment triggers the final GOAWAY.
    Draining,
    /// The final GOAWAY is out: streams above its last stream id are refused.
    Final,
}

/// Something we sent that the client must answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timer {
    /// Output offset just past the frame: the clock starts when it has been handed out.
    pub(crate) offset: u64,
    /// Set once the frame has been handed out.
    pub(crate) deadline: Option<Instant>,
}

impl Timer {
    pub(crate) fn new(offset: u64) -> Self {
        Self { offset, deadline: None }
    }

    fn start(&mut self, written: u64, now: Instant, timeout: std::time::Duration) {
        if self.deadline.is_none() && written >= self.offset {
            self.deadline = Some(now + timeout);
        }
    }

    fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|deadline| now >= deadline)
    }
}

/// The client's SETTINGS that shape what we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerSettings {
    pub(crate) max_frame_size: u32,
    pub(crate) initial_window_size: u32,
    pub(crate) max_concurrent_streams: Option<u32>,
    pub(crate) enable_push: bool,
}

/// A header block being assembled from HEADERS and CONTINUATION frames.
#[derive(Debug)]
pub(crate) struct PartialBlock {
    pub(crate) stream: StreamId,
    pub(crate) end_stream: bool,
    pub(crate) self_dependent: bool,
    pub(crate) fragments: BytesMut,
    pub(crate) continuations: usize,
    /// When its HEADERS frame arrived: the block must be finished by
    /// [`Config::header_block_timeout`](crate::Config::header_block_timeout) after.
    pub(crate) started: Instant,
}

/// Send queues of closed streams kept for new streams: as many as a client typically
/// has open at once.
const SPARE_QUEUES: usize = 32;

/// The server side of an HTTP/2 connection, as a sans-IO state machine.
///
/// Feed it what the socket reads ([`receive`](Self::receive),
/// [`receive_eof`](Self::receive_eof)) and the clock ([`handle_timeout`](Self::handle_timeout));
/// take what it decided ([`poll_event`](Self::poll_event),
/// [`poll_transmit`](Self::poll_transmit), [`poll_timeout`](Self::poll_timeout)); answer with
/// the commands ([`send_response`](Self::send_response), [`send_data`](Self::send_data)…).
///
/// A driver loops: hand over what was read; take every event; take every piece of output
/// and write it (writing acknowledgments may let the connection process input it held
/// back, so look at events again after writing); read again while
/// [`wants_read`](Self::wants_read); close the socket once [`is_finished`](Self::is_finished).
#[derive(Debug)]
pub struct Connection {
    pub(crate) config: Config,
    /// Bytes of the client preface matched so far.
    pub(crate) preface_read: usize,
    /// The client's first SETTINGS arrived.
    pub(crate) got_settings: bool,
    pub(crate) input: BytesMut,
    pub(crate) output: Output,
    pub(crate) events: VecDeque<Event>,
    pub(crate) decoder: Decoder,
    pub(crate) encoder: Encoder,
    /// Where header blocks are encoded before they are framed (see `encode_block`).
    pub(crate) block_buffer: BytesMut,
    /// The last response head, while it can be sent again as encoded.
    pub(crate) head_memo: HeadMemo,
    /// Send queues of closed streams, reused by new ones.
    pub(crate) spare_queues: Vec<VecDeque<Bytes>>,
    pub(crate) streams: StreamIdMap<Stream>,
    /// Streams with something to send, in round-robin order.
    pub(crate) ready: VecDeque<StreamId>,
    pub(crate) recently_closed: VecDeque<(StreamId, Closed)>,
    pub(crate) peer: PeerSettings,
    /// Connection-level credit to send.
    pub(crate) send_window: SendWindow,
    /// Connection-level credit the client has.
    pub(crate) recv_window: RecvWindow,
    /// Highest stream the client opened.
    pub(crate) last_client_stream: StreamId,
    /// Highest stream we promised.
    pub(crate) last_pushed_stream: StreamId,
    pub(crate) partial: Option<PartialBlock>,
    /// Client-initiated streams in `streams`.
    pub(crate) client_streams: usize,
    /// Pushed streams in `streams`.
    pub(crate) pushed_streams: usize,
    /// Streams the client reset before the application polled their request.
    pub(crate) pending_accept_resets: HashSet<StreamId>,
    pub(crate) local_resets: usize,
    pub(crate) empty_data_frames: u32,
    pub(crate) requests: u32,
    /// PRIORITY_UPDATE frames for streams not opened yet (RFC 9218 §7.1), bounded.
    pub(crate) early_priorities: VecDeque<(StreamId, Priority)>,
    /// Output offset past our queued SETTINGS ACK, until it is handed out.
    pub(crate) settings_ack_at: Option<u64>,
    /// Output offset past our queued PING ACK, until it is handed out.
    pub(crate) ping_ack_at: Option<u64>,
    /// Our SETTINGS, until acknowledged.
    pub(crate) settings_timer: Option<Timer>,
    /// Our keep-alive PING, until acknowledged.
    pub(crate) keepalive_timer: Option<Timer>,
    /// Our graceful-shutdown PING, until acknowledged.
    pub(crate) shutdown_timer: Option<Timer>,
    pub(crate) shutdown: Shutdown,
    /// Last stream id of the GOAWAY we sent (final or error): streams above it are refused.
    pub(crate) goaway_last: Option<StreamId>,
    /// Last stream id of the client's GOAWAY.
    pub(crate) peer_goaway: Option<StreamId>,
    /// Nothing more is read: after a connection error, EOF, or the end of a shutdown.
    pub(crate) closed: bool,
    pub(crate) eof: bool,
    pub(crate) last_read: Instant,
    /// Reused list of data pieces for one DATA frame.
    pub(crate) scratch: Vec<Bytes>,
}

impl Connection {
    /// A new connection whose socket was accepted at `now`, expecting the client preface
    /// (TLS with ALPN `h2`, or h2c with prior knowledge). Our SETTINGS and the connection
    /// WINDOW_UPDATE are queued at once: call [`poll_transmit`](Self::poll_transmit).
    #[must_use]
    pub fn new(config: Config, now: Instant) -> Self {
        let config = config.clamped();
        let decoder = Decoder::with_max_header_list_size(config.max_header_list_size as usize);
        let mut connection = Self {
            preface_read: 0,
            got_settings: false,
            input: BytesMut::new(),
            output: Output::default(),
            events: VecDeque::new(),
            decoder,
            encoder: Encoder::new(),
            block_buffer: BytesMut::new(),
            head_memo: HeadMemo::default(),
            spare_queues: Vec::new(),
            streams: StreamIdMap::default(),
            ready: VecDeque::new(),
            recently_closed: VecDeque::new(),
            peer: PeerSettings {
                max_frame_size: DEFAULT_MAX_FRAME_SIZE,
                initial_window_size: DEFAULT_WINDOW,
                max_concurrent_streams: None,
                enable_push: true,
            },
            send_window: SendWindow::new(DEFAULT_WINDOW),
            recv_window: RecvWindow::new(DEFAULT_WINDOW, config.initial_connection_window_size),
            last_client_stream: StreamId::ZERO,
            last_pushed_stream: StreamId::ZERO,
            partial: None,
            client_streams: 0,
            pushed_streams: 0,
            pending_accept_resets: HashSet::new(),
            local_resets: 0,
            empty_data_frames: 0,
            requests: 0,
            early_priorities: VecDeque::new(),
            settings_ack_at: None,
            ping_ack_at: None,
            settings_timer: None,
            keepalive_timer: None,
            shutdown_timer: None,
            shutdown: Shutdown::None,
            goaway_last: None,
            peer_goaway: None,
            closed: false,
            eof: false,
            last_read: now,
            scratch: Vec::new(),
            config,
        };
        connection.write_preface();
        connection
    }

    /// A connection taking over a socket after an HTTP/1.1 `Upgrade: h2c` (RFC 7540 §3.2).
    /// `http2_settings` is the decoded (base64url) value of the request's `HTTP2-Settings`
    /// field: the client's SETTINGS payload. Stream 1 is the upgraded request, already known
    /// to the application, half-closed (remote): answer it with
    /// [`send_response`](Self::send_response) on [`StreamId`] 1. The client preface is
    /// still expected on the socket.
    ///
    /// `Err` when the payload is not a valid SETTINGS payload: refuse the upgrade (answer
    /// over HTTP/1.1).
    pub fn from_h2c_upgrade(
        config: Config,
        now: Instant,
        http2_settings: &[u8],
    ) -> Result<Self, ProtocolError> {
        let length = u32::try_from(http2_settings.len()).unwrap_or(u32::MAX).min(MAX_MAX_FRAME_SIZE + 1);
        let header = FrameHeader::new(frame::kind::SETTINGS, 0, StreamId::ZERO, length);
        let invalid = |err: frame::FrameError| ProtocolError::new(err.reason(), ErrorKind::Frame(err.kind()));
        header.validate(MAX_MAX_FRAME_SIZE).map_err(invalid)?;
        let frame = Frame::decode(header, Bytes::copy_from_slice(http2_settings), MAX_MAX_FRAME_SIZE)
            .map_err(invalid)?;
        let Frame::Settings(settings) = frame else {
            return Err(ProtocolError::new(Reason::PROTOCOL_ERROR, ErrorKind::MissingSettings));
        };
        let mut connection = Self::new(config, now);
        if connection.apply_settings(settings.settings()).is_err() {
            return Err(ProtocolError::new(Reason::FLOW_CONTROL_ERROR, ErrorKind::WindowOverflow));
        }
        let id = StreamId::new(1);
        let mut stream = Stream::new(id, connection.peer.initial_window_size, 0);
        stream.recv = Recv::Closed;
        stream.reported = true;
        stream.accepted = true;
        connection.streams.insert(id, stream);
        connection.client_streams = 1;
        connection.last_client_stream = id;
        connection.requests = 1;
        Ok(connection)
    }

    // ----- input -----------------------------------------------------------

    /// Takes bytes read from the socket at `now` and processes every complete frame (unless
    /// an acknowledgment must be written first; see [`wants_read`](Self::wants_read)).
    /// Then call [`poll_event`](Self::poll_event) and [`poll_transmit`](Self::poll_transmit).
    /// Bytes after a connection error are dropped.
    pub fn receive(&mut self, now: Instant, data: &[u8]) {
        if self.closed || self.eof || data.is_empty() {
            return;
        }
        self.last_read = now;
        self.input.extend_from_slice(data);
        self.process();
    }

    /// The client closed the connection. Every stream still open is reported reset
    /// (CANCEL); the connection is finished once its output is flushed (or dropped).
    pub fn receive_eof(&mut self) {
        self.eof = true;
        if !self.closed {
            self.closed = true;
            self.input.clear();
            self.reset_all(Reason::CANCEL);
        }
    }

    /// Fires the deadlines `now` has passed: an unacknowledged SETTINGS closes the
    /// connection (SETTINGS_TIMEOUT), an unanswered keep-alive PING closes it, an idle one
    /// sends a keep-alive PING, an unanswered shutdown PING sends the final GOAWAY, a
    /// header block left unfinished closes the connection.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.settings_timer.is_some_and(|timer| timer.expired(now)) {
            self.connection_error(Reason::SETTINGS_TIMEOUT, ErrorKind::SettingsTimeout);
            return;
        }
        if self.keepalive_timer.is_some_and(|timer| timer.expired(now)) {
            self.connection_error(Reason::NO_ERROR, ErrorKind::KeepAliveTimeout);
            return;
        }
        if let Some(interval) = self.config.keep_alive_interval
            && self.keepalive_timer.is_none()
            && self.preface_read == PREFACE_LEN
            && now >= self.last_read + interval
        {
            PingFrame::new(KEEPALIVE_PING).encode(self.output.tail());
            self.keepalive_timer = Some(Timer::new(self.output.commit()));
        }
        if self.shutdown_timer.is_some_and(|timer| timer.expired(now)) {
            self.send_final_goaway();
        }
        if self.partial.as_ref().is_some_and(|block| now >= block.started + self.config.header_block_timeout)
        {
            // Nothing else can be read before the block's end (§6.10): the whole
            // connection waits on it.
            self.connection_error(Reason::NO_ERROR, ErrorKind::HeaderBlockTimeout);
        }
    }

    // ----- output ----------------------------------------------------------

    /// The next thing the client did, or `None` until more input arrives.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        if let Event::Request { stream, .. } = &event {
            match self.streams.get_mut(stream) {
                Some(state) => state.accepted = true,
                None => {
                    self.pending_accept_resets.remove(stream);
                }
            }
        }
        Some(event)
    }

    /// The next bytes to write to the socket, in order, or `None` when nothing can be sent
    /// now. DATA payloads come as their own pieces, without a copy; frames are cut as the
    /// flow-control windows and the client's SETTINGS_MAX_FRAME_SIZE allow, ready streams
    /// interleaved by priority. Pass the current time: timers for the frames handed out
    /// start now.
    ///
    /// Handing out a SETTINGS or PING acknowledgment may let the connection process input
    /// it held back: poll events again afterwards.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        loop {
            if let Some(piece) = self.output.pop() {
                self.written(now);
                return Some(piece);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Bytes queued and not yet handed out by [`poll_transmit`](Self::poll_transmit)
    /// (stream data waiting for window not included).
    #[must_use]
    pub fn pending_output(&self) -> usize {
        self.output.len()
    }

    /// The earliest deadline: call [`handle_timeout`](Self::handle_timeout) then.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let keepalive = match (self.keepalive_timer, self.config.keep_alive_interval) {
            (Some(timer), _) => timer.deadline,
            (None, Some(interval)) if self.preface_read == PREFACE_LEN => Some(self.last_read + interval),
            (None, _) => None,
        };
        [
            self.settings_timer.and_then(|t| t.deadline),
            keepalive,
            self.shutdown_timer.and_then(|t| t.deadline),
            self.partial.as_ref().map(|block| block.started + self.config.header_block_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether the caller should read more from the socket now. False while a SETTINGS or
    /// PING acknowledgment waits to be handed out (a flood of them then costs no memory),
    /// while a whole frame is buffered, while more than [`OUTPUT_HIGH_WATER`] bytes wait to
    /// be written (a client that does not read is not served more), after the client
    /// closed, and once the connection is ending.
    ///
    /// A caller that hands over more input anyway is not refused, but the unprocessed part
    /// is buffered until the acknowledgments are written.
    #[must_use]
    pub fn wants_read(&self) -> bool {
        !self.closed
            && !self.eof
            && self.settings_ack_at.is_none()
            && self.ping_ack_at.is_none()
            && self.output.len() <= OUTPUT_HIGH_WATER
            && self.input.len() <= self.config.max_frame_size as usize + frame::HEADER_LEN
    }

    /// Whether the connection is over: nothing more will be read or sent and the output is
    /// flushed. The caller closes the socket.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.closed && self.output.is_empty()
    }

    /// The request body bytes the client may still send on the connection as a
    /// whole before it must wait for a WINDOW_UPDATE: near 0, a client that is
    /// not sending may be held back by the connection window (other streams'
    /// unread bodies), not idle.
    #[must_use]
    pub fn connection_receive_window(&self) -> u64 {
        u64::try_from(self.recv_window.window()).unwrap_or(0)
    }

    /// Streams open (or reserved) right now, client-initiated and pushed.
    #[must_use]
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Bytes the connection holds for its own bookkeeping: unprocessed input, queued output,
    /// queued stream data and the HPACK decoder's tables. Useful to check that memory stays
    /// flat under a flood.
    #[must_use]
    pub fn buffered_bytes(&self) -> usize {
        let queued: usize = self.streams.values().map(|stream| stream.queued).sum();
        let partial = self.partial.as_ref().map_or(0, |block| block.fragments.len());
        self.input.len() + self.output.len() + queued + partial + self.decoder.heap_size()
    }

    // ----- shared bookkeeping ------------------------------------------------

    /// Queues our SETTINGS and the connection WINDOW_UPDATE: the server preface.
    fn write_preface(&mut self) {
        let config = &self.config;
        let settings = Settings {
            header_table_size: (config.header_table_size != 4096).then_some(config.header_table_size),
            max_concurrent_streams: Some(config.max_concurrent_streams),
            initial_window_size: (config.initial_stream_window_size != DEFAULT_WINDOW)
                .then_some(config.initial_stream_window_size),
            max_frame_size: (config.max_frame_size != DEFAULT_MAX_FRAME_SIZE)
                .then_some(config.max_frame_size),
            max_header_list_size: Some(config.max_header_list_size),
            enable_connect_protocol: config.enable_connect_protocol.then_some(true),
            no_rfc7540_priorities: Some(true),
            ..Settings::default()
        };
        SettingsFrame::new(settings).encode(self.output.tail());
        self.settings_timer = Some(Timer::new(self.output.commit()));
        if let Some(increment) = self.recv_window.grow_to_target() {
            WindowUpdateFrame::new(StreamId::ZERO, increment).encode(self.output.tail());
            self.output.commit();
        }
    }

    /// Bookkeeping after a piece of output was handed out at `now`.
    fn written(&mut self, now: Instant) {
        let written = self.output.written();
        let timeout = self.config.settings_ack_timeout;
        if let Some(timer) = &mut self.settings_timer {
            timer.start(written, now, timeout);
        }
        let timeout = self.config.ping_timeout;
        for timer in [&mut self.keepalive_timer, &mut self.shutdown_timer].into_iter().flatten() {
            timer.start(written, now, timeout);
        }
        let mut resume = false;
        for ack in [&mut self.settings_ack_at, &mut self.ping_ack_at] {
            if ack.is_some_and(|at| written >= at) {
                *ack = None;
                resume = true;
            }
        }
        if resume && !self.input.is_empty() {
            self.process();
        }
    }

    /// Applies the client's SETTINGS parameters. `Err` when a new initial window size
    /// overflows a stream's window (a connection FLOW_CONTROL_ERROR).
    pub(crate) fn apply_settings(&mut self, settings: &Settings) -> Result<(), ()> {
        if let Some(size) = settings.header_table_size {
            self.encoder.set_max_table_size(size as usize);
        }
        if let Some(enabled) = settings.enable_push {
            self.peer.enable_push = enabled;
        }
        if let Some(max) = settings.max_concurrent_streams {
            self.peer.max_concurrent_streams = Some(max);
        }
        if let Some(size) = settings.max_frame_size {
            self.peer.max_frame_size = size;
        }
        if let Some(size) = settings.initial_window_size {
            let delta = i64::from(size) - i64::from(self.peer.initial_window_size);
            self.peer.initial_window_size = size;
            for stream in self.streams.values_mut() {
                stream.send_window.adjust(delta).map_err(|_| ())?;
            }
        }
        Ok(())
    }

    /// Closes the connection for a client's error: GOAWAY with `reason`, an
    /// [`Event::ConnectionError`], every known stream reported reset. Nothing more is read.
    pub(crate) fn connection_error(&mut self, reason: Reason, kind: ErrorKind) {
        if self.closed {
            return;
        }
        let last = self.last_client_stream;
        GoAwayFrame::new(last, reason).encode(self.output.tail());
        self.output.commit();
        self.goaway_last = Some(last);
        self.closed = true;
        self.input.clear();
        self.partial = None;
        self.events.push_back(Event::ConnectionError(ProtocolError::new(reason, kind)));
        self.reset_all(reason);
    }

    /// Forgets every stream, reporting those the application knows as reset.
    fn reset_all(&mut self, reason: Reason) {
        let mut reported: Vec<StreamId> =
            self.streams.drain().filter(|(_, state)| state.reported).map(|(id, _)| id).collect();
        reported.sort_unstable();
        for stream in reported {
            self.events.push_back(Event::StreamReset { stream, reason, error: None });
        }
        self.ready.clear();
        self.client_streams = 0;
        self.pushed_streams = 0;
    }

    /// Resets a stream because the client broke a rule on it: RST_STREAM with `reason`, an
    /// event, and (when `counted`) one more locally caused reset against the limit.
    pub(crate) fn reset_for_error(&mut self, id: StreamId, reason: Reason, kind: ErrorKind, counted: bool) {
        if self.closed {
            return;
        }
        RstStreamFrame::new(id, reason).encode(self.output.tail());
        self.output.commit();
        let error = ProtocolError::new(reason, kind);
        self.forget_reset(id, error, counted);
    }

    /// The bookkeeping of a reset whose answer (RST_STREAM or 431) is already queued.
    pub(crate) fn forget_reset(&mut self, id: StreamId, error: ProtocolError, counted: bool) {
        let reason = error.reason();
        match self.remove_stream(id) {
            Some(stream) if stream.reported => {
                self.events.push_back(Event::StreamReset { stream: id, reason, error: Some(error) });
            }
            _ => self.events.push_back(Event::StreamError { stream: id, error }),
        }
        self.remember(id, Closed::Reset);
        if counted {
            self.local_resets += 1;
            if self.local_resets > self.config.max_local_error_reset_streams {
                self.connection_error(Reason::ENHANCE_YOUR_CALM, ErrorKind::TooManyLocalResets);
                return;
            }
        }
        self.check_done();
    }

    /// Removes a stream from every structure; the data the application had not released
    /// is credited back to the connection window.
    pub(crate) fn remove_stream(&mut self, id: StreamId) -> Option<Stream> {
        let mut stream = self.streams.remove(&id)?;
        if stream.queue.capacity() > 0 && self.spare_queues.len() < SPARE_QUEUES {
            let mut queue = std::mem::take(&mut stream.queue);
            queue.clear();
            self.spare_queues.push(queue);
        }
        if stream.pushed {
            self.pushed_streams -= 1;
        } else {
            self.client_streams -= 1;
        }
        if stream.in_ready {
            self.ready.retain(|ready| *ready != id);
        }
        if stream.unreleased > 0 {
            self.release_connection(u32::try_from(stream.unreleased).unwrap_or(u32::MAX));
        }
        Some(stream)
    }

    /// Removes a stream whose both halves are closed, or whose response is out while
    /// the client still sends a body nobody reads: that one is reset with NO_ERROR
    /// first, written after its END_STREAM (RFC 9113 §8.1).
    pub(crate) fn finish_if_closed(&mut self, id: StreamId) {
        if self.streams.get(&id).is_some_and(Stream::needs_end_reset) {
            RstStreamFrame::new(id, Reason::NO_ERROR).encode(self.output.tail());
            self.output.commit();
            self.remove_stream(id);
            self.remember(id, Closed::Reset);
            self.check_done();
            return;
        }
        if self.streams.get(&id).is_some_and(Stream::is_closed) {
            self.remove_stream(id);
            self.remember(id, Closed::Done);
            self.check_done();
        }
    }

    /// Remembers how a stream closed, for the frames that may still come on it.
    pub(crate) fn remember(&mut self, id: StreamId, how: Closed) {
        let cap = (2 * self.config.max_concurrent_streams as usize).clamp(256, 4096);
        if self.recently_closed.len() >= cap {
            self.recently_closed.pop_front();
        }
        self.recently_closed.push_back((id, how));
    }

    /// How a closed stream was closed, if it is recent enough to be remembered.
    pub(crate) fn closed_as(&self, id: StreamId) -> Option<Closed> {
        self.recently_closed.iter().rev().find(|(closed, _)| *closed == id).map(|(_, how)| *how)
    }

    /// Credits `len` received bytes back to the connection window, announcing it when worth
    /// a WINDOW_UPDATE.
    pub(crate) fn release_connection(&mut self, len: u32) {
        self.recv_window.release(len);
        if !self.closed
            && let Some(increment) = self.recv_window.take_update()
        {
            WindowUpdateFrame::new(StreamId::ZERO, increment).encode(self.output.tail());
            self.output.commit();
        }
    }

    /// Puts a stream with output in the ready list.
    pub(crate) fn make_ready(&mut self, id: StreamId) {
        if let Some(stream) = self.streams.get_mut(&id)
            && !stream.in_ready
            && stream.has_output()
        {
            stream.in_ready = true;
            self.ready.push_back(id);
        }
    }

    /// Sends the final GOAWAY of a graceful shutdown: streams up to the last one opened
    /// finish, later ones are refused.
    pub(crate) fn send_final_goaway(&mut self) {
        if self.closed || self.shutdown == Shutdown::Final {
            return;
        }
        let last = self.last_client_stream;
        GoAwayFrame::new(last, Reason::NO_ERROR).encode(self.output.tail());
        self.output.commit();
        self.goaway_last = Some(last);
        self.shutdown = Shutdown::Final;
        self.shutdown_timer = None;
        self.check_done();
    }

    /// Ends a connection that is going away once its last stream is done.
    pub(crate) fn check_done(&mut self) {
        // A block still arriving for a stream the final GOAWAY refused opens nothing.
        let opening = self
            .partial
            .as_ref()
            .is_some_and(|block| self.goaway_last.is_none_or(|last| block.stream <= last));
        if self.closed || !self.streams.is_empty() || opening {
            return;
        }
        // A client's GOAWAY only says it opens no more streams: the connection
        // stays (PINGs are still answered) until it closes or the caller's idle
        // policy shuts it down.
        if self.shutdown == Shutdown::Final {
            self.closed = true;
        }
    }
}
