//! The protocol machine: bytes in, events out; commands in, bytes out.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::close::{self, INVALID_PAYLOAD, MAX_CLOSE_REASON, MESSAGE_TOO_BIG, PROTOCOL_ERROR};
use crate::config::{Config, DeflateConfig, Role};
use crate::deflate::{Deflater, Inflater, reserve_bounded};
use crate::event::{Event, SendError, State};
use crate::frame::{FrameHeader, OpCode, header_len, parse_header, write_header};
use crate::mask::{MaskSource, apply_mask};
use crate::utf8::Utf8Check;

/// Largest control frame payload (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// Compressed payload is unmasked into a scratch buffer this many bytes at a time.
const SCRATCH_CHUNK: usize = 16 * 1024;

/// Where the reader is inside the frame stream.
#[derive(Debug, Clone, Copy)]
enum Recv {
    /// Collecting a frame header into `inbuf`.
    Header,
    /// Collecting a control frame's payload into `inbuf`.
    Control(FrameHeader),
    /// Streaming a data frame's payload into the message.
    Data {
        header: FrameHeader,
        remaining: u64,
        /// Payload bytes already read: the masking offset.
        offset: usize,
        /// Discard the payload: we sent a Close and ignore data.
        skip: bool,
    },
}

/// The data message being reassembled.
#[derive(Debug)]
struct Message {
    text: bool,
    compressed: bool,
    buf: Vec<u8>,
    utf8: Utf8Check,
}

/// Unsent Pongs kept at most; a peer pinging faster than it reads loses the oldest answers.
pub const MAX_PENDING_PONGS: usize = 16;

/// One WebSocket connection, either [`Role`], after the opening handshake.
///
/// Feed it what the transport read ([`receive`](Self::receive),
/// [`receive_eof`](Self::receive_eof)), then drain [`poll_event`](Self::poll_event)
/// and write out what [`poll_transmit`](Self::poll_transmit) returns. Commands
/// (`send_*`, [`close`](Self::close)) queue frames; a refused command returns an
/// `Err` and changes nothing. Once [`is_closed`](Self::is_closed) is true, flush
/// and close the transport.
///
/// Memory is bounded: the input buffer holds at most one frame header and one
/// control payload (≤ 139 bytes); the message being reassembled is at most
/// [`Config::max_message_size`] bytes, allocated as data arrives (never on the
/// strength of a length field alone beyond doubling); compressed payload is
/// unmasked 16 KiB at a time. Events queue up only for the input of one
/// `receive` call — drain them after each call. Outgoing bytes queue until
/// `poll_transmit`; watch [`buffered_output`](Self::buffered_output) for
/// backpressure. Every Ping is answered; past [`MAX_PENDING_PONGS`] unsent Pongs
/// the oldest are dropped (RFC 6455 §5.5.3 lets an endpoint answer only the latest).
///
/// There is no clock: time out a close handshake the peer never finishes in the
/// driver.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,

    inbuf: Vec<u8>,
    recv: Recv,
    message: Option<Message>,
    inflater: Option<Inflater>,
    scratch: Vec<u8>,
    events: VecDeque<Event>,

    deflater: Option<Deflater>,
    masks: MaskSource,
    queue: VecDeque<Bytes>,
    queued_bytes: usize,
    /// Pongs not yet handed out; they go ahead of queued messages.
    pending_pongs: VecDeque<Bytes>,

    close_queued: bool,
    close_sent: bool,
    peer_closed: bool,
    failed: bool,
    eof: bool,
}

impl Connection {
    /// A connection in the Open state. `deflate` is the permessage-deflate
    /// agreement from the handshake, `None` if it was not negotiated.
    #[must_use]
    pub fn new(role: Role, config: Config, deflate: Option<DeflateConfig>) -> Connection {
        let (inflater, deflater) = match deflate {
            None => (None, None),
            Some(d) => {
                let (ours_nct, ours_bits, peer_nct) = match role {
                    Role::Server => {
                        (d.server_no_context_takeover, d.server_max_window_bits, d.client_no_context_takeover)
                    }
                    Role::Client => {
                        (d.client_no_context_takeover, d.client_max_window_bits, d.server_no_context_takeover)
                    }
                };
                (
                    Some(Inflater::new(peer_nct)),
                    Some(Deflater::new(
                        ours_nct,
                        ours_bits.clamp(8, 15),
                        config.compression_level,
                        config.compress_min_size,
                    )),
                )
            }
        };
        Connection {
            role,
            config,
            inbuf: Vec::new(),
            recv: Recv::Header,
            message: None,
            inflater,
            scratch: Vec::new(),
            events: VecDeque::new(),
            deflater,
            masks: MaskSource::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            pending_pongs: VecDeque::new(),
            close_queued: false,
            close_sent: false,
            peer_closed: false,
            failed: false,
            eof: false,
        }
    }

    /// This connection's role.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// Feeds bytes read from the peer, split anywhere. Never panics: a protocol
    /// error becomes [`Event::Error`] plus a queued Close. Then drain
    /// [`poll_event`](Self::poll_event) and [`poll_transmit`](Self::poll_transmit).
    /// Bytes after the peer's Close, after an error, or after EOF are ignored.
    pub fn receive(&mut self, data: &[u8]) {
        let mut input = data;
        loop {
            if self.reading_done() {
                return;
            }
            match self.recv {
                Recv::Header => {
                    if !self.gather(&mut input, 2) {
                        return;
                    }
                    let need = header_len(self.inbuf[1]);
                    if !self.gather(&mut input, need) {
                        return;
                    }
                    let parsed = parse_header(&self.inbuf);
                    self.inbuf.clear();
                    match parsed {
                        Ok(Some(header)) => self.on_header(header),
                        Ok(None) => self.fail(PROTOCOL_ERROR, "incomplete frame header"),
                        Err(e) => self.fail(
                            PROTOCOL_ERROR,
                            match e {
                                crate::frame::HeaderError::ReservedBits => "reserved bits set",
                                crate::frame::HeaderError::ReservedOpcode => "reserved opcode",
                                crate::frame::HeaderError::LengthOverflow => {
                                    "frame length has its most significant bit set"
                                }
                            },
                        ),
                    }
                }
                Recv::Control(header) => {
                    // A control header's length is ≤ 125, checked in on_header.
                    if !self.gather(&mut input, header.len as usize) {
                        return;
                    }
                    let mut payload = std::mem::take(&mut self.inbuf);
                    if let Some(key) = header.mask {
                        apply_mask(&mut payload, key, 0);
                    }
                    self.recv = Recv::Header;
                    self.on_control(header.opcode, &payload);
                    payload.clear();
                    self.inbuf = payload;
                }
                Recv::Data { header, remaining, offset, skip } => {
                    if remaining == 0 {
                        self.recv = Recv::Header;
                        if !skip {
                            self.end_frame(header);
                        }
                        continue;
                    }
                    if input.is_empty() {
                        return;
                    }
                    let n = usize::try_from(remaining).unwrap_or(usize::MAX).min(input.len());
                    let (chunk, rest) = input.split_at(n);
                    input = rest;
                    self.recv =
                        Recv::Data { header, remaining: remaining - n as u64, offset: offset + n, skip };
                    if !skip {
                        self.on_payload(header.mask, offset, chunk);
                    }
                }
            }
        }
    }

    /// The peer closed the transport (TCP EOF, HTTP/2 END_STREAM). Reports
    /// [`Event::Eof`] unless the peer's Close arrived first or the connection had
    /// already failed; [`is_closed`](Self::is_closed) is then true.
    pub fn receive_eof(&mut self) {
        if self.eof {
            return;
        }
        self.eof = true;
        self.message = None;
        if !self.peer_closed && !self.failed {
            self.events.push_back(Event::Eof);
        }
    }

    /// The next event, in the order the peer caused them. Call until `None`
    /// after every [`receive`](Self::receive).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Queues a text message (compressed if deflate was negotiated and it is at
    /// least [`Config::compress_min_size`] bytes). `Err(Closed)` once we sent Close.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_message(OpCode::Text, text.as_bytes())
    }

    /// Queues a binary message, copying `data` (see
    /// [`send_binary_bytes`](Self::send_binary_bytes) to avoid the copy).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_message(OpCode::Binary, data)
    }

    /// Queues a binary message. A server sending it uncompressed passes `data`
    /// through to [`poll_transmit`](Self::poll_transmit) without copying.
    pub fn send_binary_bytes(&mut self, data: Bytes) -> Result<(), SendError> {
        self.check_open()?;
        if self.role == Role::Server
            && self.deflater.as_ref().is_none_or(|_| data.len() < self.config.compress_min_size)
        {
            let mut head = Vec::with_capacity(10);
            write_header(&mut head, true, false, OpCode::Binary, None, data.len());
            self.push(Bytes::from(head));
            self.push(data);
            return Ok(());
        }
        self.send_message(OpCode::Binary, &data)
    }

    /// Queues a Ping. Its payload must be at most 125 bytes.
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited Pong (or answers a Ping when `auto_pong` is off).
    /// Its payload must be at most 125 bytes.
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    /// Starts the close handshake: queues a Close frame. `code` `None` sends an
    /// empty body (then `reason` must be empty). Sendable codes are 1000–1003,
    /// 1007–1014 and 3000–4999; `reason` is at most 123 bytes. Answering the
    /// peer's Close needs no call: the echo is queued when it arrives.
    ///
    /// Afterwards nothing more may be sent, and data the peer still sends is
    /// dropped until its Close arrives; then [`is_closed`](Self::is_closed).
    pub fn close(&mut self, code: Option<u16>, reason: &str) -> Result<(), SendError> {
        self.check_open()?;
        match code {
            None if !reason.is_empty() => return Err(SendError::ReasonWithoutCode),
            Some(code) if !close::is_valid_send_code(code) => {
                return Err(SendError::InvalidCloseCode);
            }
            _ => {}
        }
        if reason.len() > MAX_CLOSE_REASON {
            return Err(SendError::ReasonTooLong);
        }
        self.queue_close(code, reason);
        Ok(())
    }

    /// Appends the bytes to write, in order, to `out` (one `Bytes` per frame part,
    /// ready for a vectored write) and returns how many bytes were appended. Write
    /// them all before the next call.
    pub fn poll_transmit(&mut self, out: &mut Vec<Bytes>) -> usize {
        let mut n = 0;
        for pong in self.pending_pongs.drain(..) {
            n += pong.len();
            out.push(pong);
        }
        n += self.queued_bytes;
        out.extend(self.queue.drain(..));
        self.queued_bytes = 0;
        if self.close_queued {
            self.close_sent = true;
        }
        n
    }

    /// Bytes queued and not yet handed out by [`poll_transmit`](Self::poll_transmit).
    /// Stop producing messages while this is high.
    #[must_use]
    pub fn buffered_output(&self) -> usize {
        self.queued_bytes + self.pending_pongs.iter().map(Bytes::len).sum::<usize>()
    }

    /// Bytes held for input: the partial header or control frame, the message
    /// being reassembled (its capacity) and the unmasking scratch buffer. Bounded
    /// by about [`Config::max_message_size`] + 16 KiB.
    #[must_use]
    pub fn buffered_input(&self) -> usize {
        self.inbuf.capacity()
            + self.scratch.capacity()
            + self.message.as_ref().map_or(0, |m| m.buf.capacity())
    }

    /// Where the connection is in its lifecycle.
    #[must_use]
    pub fn state(&self) -> State {
        if self.is_closed() {
            State::Closed
        } else if self.close_queued || self.peer_closed {
            State::Closing { we_sent_close: self.close_queued, peer_sent_close: self.peer_closed }
        } else {
            State::Open
        }
    }

    /// True once the close handshake completed (our Close was handed out by
    /// `poll_transmit` and the peer's arrived), or the connection failed and its
    /// error Close was handed out, or the transport reached EOF. Flush, then close
    /// the transport.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.eof || (self.close_sent && (self.peer_closed || self.failed))
    }

    fn reading_done(&self) -> bool {
        self.failed || self.peer_closed || self.eof
    }

    fn check_open(&self) -> Result<(), SendError> {
        if self.close_queued || self.failed || self.eof { Err(SendError::Closed) } else { Ok(()) }
    }

    /// Moves bytes from `input` into `inbuf` until it holds `want`; true if it does.
    fn gather(&mut self, input: &mut &[u8], want: usize) -> bool {
        let missing = want.saturating_sub(self.inbuf.len());
        let take = missing.min(input.len());
        let (head, rest) = input.split_at(take);
        self.inbuf.extend_from_slice(head);
        *input = rest;
        self.inbuf.len() >= want
    }

    fn on_header(&mut self, h: FrameHeader) {
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return self.fail(PROTOCOL_ERROR, "unmasked client frame"),
            (Role::Client, true) => return self.fail(PROTOCOL_ERROR, "masked server frame"),
            _ => {}
        }
        if h.opcode.is_control() {
            if !h.fin {
                return self.fail(PROTOCOL_ERROR, "fragmented control frame");
            }
            if h.len > MAX_CONTROL_PAYLOAD as u64 {
                return self.fail(PROTOCOL_ERROR, "control frame longer than 125 bytes");
            }
            if h.rsv1 {
                return self.fail(PROTOCOL_ERROR, "RSV1 on a control frame");
            }
            self.recv = Recv::Control(h);
            return;
        }
        if h.len > self.config.max_frame_size as u64 {
            return self.fail(MESSAGE_TOO_BIG, "frame too big");
        }
        let data = |skip| Recv::Data { header: h, remaining: h.len, offset: 0, skip };
        if self.close_queued {
            self.recv = data(true);
            return;
        }
        match (h.opcode, &self.message) {
            (OpCode::Continuation, None) => {
                return self.fail(PROTOCOL_ERROR, "continuation frame without a message");
            }
            (OpCode::Continuation, Some(_)) if h.rsv1 => {
                return self.fail(PROTOCOL_ERROR, "RSV1 on a continuation frame");
            }
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return self.fail(PROTOCOL_ERROR, "new message before the last one ended");
            }
            (OpCode::Text | OpCode::Binary, None) => {
                if h.rsv1 && self.inflater.is_none() {
                    return self.fail(PROTOCOL_ERROR, "RSV1 set without permessage-deflate");
                }
                self.message = Some(Message {
                    text: h.opcode == OpCode::Text,
                    compressed: h.rsv1,
                    buf: Vec::new(),
                    utf8: Utf8Check::default(),
                });
            }
            _ => {}
        }
        if let Some(m) = &self.message
            && !m.compressed
            && m.buf.len() as u64 + h.len > self.config.max_message_size as u64
        {
            return self.fail(MESSAGE_TOO_BIG, "message too big");
        }
        self.recv = data(false);
    }

    fn on_payload(&mut self, mask: Option<[u8; 4]>, offset: usize, chunk: &[u8]) {
        let limit = self.config.max_message_size;
        let Some(m) = self.message.as_mut() else {
            return;
        };
        let checked_from = m.buf.len();
        if m.compressed {
            let Some(inflater) = self.inflater.as_mut() else {
                return;
            };
            let mut pos = offset;
            for piece in chunk.chunks(SCRATCH_CHUNK) {
                self.scratch.clear();
                self.scratch.extend_from_slice(piece);
                if let Some(key) = mask {
                    apply_mask(&mut self.scratch, key, pos);
                }
                pos += piece.len();
                let result = inflater.inflate(&self.scratch, &mut m.buf, limit);
                // Check what was inflated before reporting an inflation error, so
                // the error does not depend on how the input was split.
                let inflated = &m.buf[..m.buf.len().min(limit)];
                if m.text && m.utf8.advance(inflated).is_err() {
                    return self.fail(INVALID_PAYLOAD, "invalid UTF-8 in a text message");
                }
                if let Err((code, reason)) = result {
                    return self.fail(code, reason);
                }
            }
        } else {
            reserve_bounded(&mut m.buf, chunk.len(), limit);
            m.buf.extend_from_slice(chunk);
            if let Some(key) = mask {
                apply_mask(&mut m.buf[checked_from..], key, offset);
            }
            if m.text && m.utf8.advance(&m.buf).is_err() {
                self.fail(INVALID_PAYLOAD, "invalid UTF-8 in a text message");
            }
        }
    }

    fn end_frame(&mut self, h: FrameHeader) {
        if !h.fin {
            return;
        }
        let Some(mut m) = self.message.take() else {
            return;
        };
        if m.compressed
            && let Some(inflater) = self.inflater.as_mut()
        {
            let limit = self.config.max_message_size;
            let result = inflater.finish(&mut m.buf, limit);
            let inflated = &m.buf[..m.buf.len().min(limit)];
            if m.text && m.utf8.advance(inflated).is_err() {
                return self.fail(INVALID_PAYLOAD, "invalid UTF-8 in a text message");
            }
            if let Err((code, reason)) = result {
                return self.fail(code, reason);
            }
        }
        if m.text {
            if !m.utf8.is_complete(&m.buf) {
                return self.fail(INVALID_PAYLOAD, "text message ends inside a UTF-8 sequence");
            }
            match String::from_utf8(m.buf) {
                Ok(text) => self.events.push_back(Event::Text(text)),
                Err(_) => self.fail(INVALID_PAYLOAD, "invalid UTF-8 in a text message"),
            }
        } else {
            self.events.push_back(Event::Binary(Bytes::from(m.buf)));
        }
    }

    fn on_control(&mut self, opcode: OpCode, payload: &[u8]) {
        match opcode {
            OpCode::Ping => {
                if self.config.auto_pong && !self.close_queued {
                    if self.pending_pongs.len() == MAX_PENDING_PONGS {
                        self.pending_pongs.pop_front();
                    }
                    let pong = self.encode_frame(OpCode::Pong, false, payload);
                    self.pending_pongs.push_back(pong);
                }
                self.events.push_back(Event::Ping(Bytes::copy_from_slice(payload)));
            }
            OpCode::Pong => self.events.push_back(Event::Pong(Bytes::copy_from_slice(payload))),
            OpCode::Close => match close::parse_close(payload) {
                Err((code, reason)) => self.fail(code, reason),
                Ok((code, reason)) => {
                    self.peer_closed = true;
                    self.message = None;
                    if !self.close_queued {
                        self.queue_close(code, "");
                    }
                    self.events.push_back(Event::Close { code, reason });
                }
            },
            OpCode::Continuation | OpCode::Text | OpCode::Binary => {}
        }
    }

    /// The peer broke a rule: report it, queue the Close, stop reading.
    fn fail(&mut self, code: u16, reason: &'static str) {
        self.events.push_back(Event::Error { code, reason: reason.to_owned() });
        self.failed = true;
        self.message = None;
        self.inbuf = Vec::new();
        self.scratch = Vec::new();
        if let Some(inflater) = self.inflater.as_mut() {
            inflater.reset();
        }
        if !self.close_queued {
            self.queue_close(Some(code), reason);
        }
    }

    fn queue_close(&mut self, code: Option<u16>, reason: &str) {
        let body = close::close_body(code, reason);
        let frame = self.encode_frame(OpCode::Close, false, &body);
        self.push(frame);
        self.close_queued = true;
        self.message = None;
        if let Recv::Data { skip, .. } = &mut self.recv {
            *skip = true;
        }
    }

    fn send_message(&mut self, opcode: OpCode, data: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        let compressed = self.deflater.as_mut().and_then(|d| d.compress(data));
        let frame = match compressed {
            Some(c) => self.encode_frame(opcode, true, &c),
            None => self.encode_frame(opcode, false, data),
        };
        self.push(frame);
        Ok(())
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::PayloadTooLong);
        }
        let frame = self.encode_frame(opcode, false, payload);
        self.push(frame);
        Ok(())
    }

    /// One whole frame (FIN set), masked in the client role.
    fn encode_frame(&mut self, opcode: OpCode, rsv1: bool, payload: &[u8]) -> Bytes {
        let mask = match self.role {
            Role::Client => Some(self.masks.next_key()),
            Role::Server => None,
        };
        let mut out = Vec::with_capacity(14 + payload.len());
        write_header(&mut out, true, rsv1, opcode, mask, payload.len());
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut out[start..], key, 0);
        }
        Bytes::from(out)
    }

    fn push(&mut self, bytes: Bytes) {
        self.queued_bytes += bytes.len();
        self.queue.push_back(bytes);
    }
}
