//! A scripted HTTP/2 client for driving `milpa_h2::Connection` in tests, and a small DSL
//! for the frames it sends: `frames::headers(1).request("GET", "/").eos()`,
//! `frames::reset(3).cancel()`, `frames::data(1, "hello").eos()`.
//!
//! Frames are encoded with the crate's frame layer and the client's own HPACK encoder; what
//! the server writes back is decoded with the frame layer and an HPACK decoder, header
//! blocks reassembled, into [`Out`] values that tests compare against.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::return_self_not_must_use)]

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use http::StatusCode;
use milpa_h2::frame::{
    self, CONNECTION_PREFACE, ContinuationFrame, DataFrame, Frame, FrameHeader, GoAwayFrame, HEADER_LEN,
    HeadersFrame, PingFrame, PriorityFrame, PriorityUpdateFrame, PushPromiseFrame, Reason, RstStreamFrame,
    Settings, SettingsFrame, StreamDependency, StreamId, WindowUpdateFrame,
};
use milpa_h2::{Config, Connection, Event, ProtocolError};
use milpa_hpack::{Decoder, Encoder, HeaderField};

pub fn sid(id: u32) -> StreamId {
    StreamId::new(id)
}

/// Something the client can put on the wire.
pub trait Wire {
    fn write(self, hpack: &mut Encoder, dst: &mut BytesMut);
}

impl Wire for Vec<u8> {
    fn write(self, _: &mut Encoder, dst: &mut BytesMut) {
        dst.put_slice(&self);
    }
}

impl Wire for &[u8] {
    fn write(self, _: &mut Encoder, dst: &mut BytesMut) {
        dst.put_slice(self);
    }
}

/// The frame DSL.
pub mod frames {
    use super::*;

    /// A frame given as a frame-layer value.
    pub struct Plain(pub Frame);

    impl Wire for Plain {
        fn write(self, _: &mut Encoder, dst: &mut BytesMut) {
            self.0.encode(dst);
        }
    }

    pub fn preface() -> Vec<u8> {
        CONNECTION_PREFACE.to_vec()
    }

    // ----- SETTINGS ---------------------------------------------------------

    #[derive(Default)]
    pub struct SettingsSpec {
        pub settings: Settings,
        pub ack: bool,
    }

    pub fn settings() -> SettingsSpec {
        SettingsSpec::default()
    }

    impl SettingsSpec {
        pub fn ack(mut self) -> Self {
            self.ack = true;
            self
        }
        pub fn initial_window_size(mut self, size: u32) -> Self {
            self.settings.initial_window_size = Some(size);
            self
        }
        pub fn max_frame_size(mut self, size: u32) -> Self {
            self.settings.max_frame_size = Some(size);
            self
        }
        pub fn max_concurrent_streams(mut self, n: u32) -> Self {
            self.settings.max_concurrent_streams = Some(n);
            self
        }
        pub fn enable_push(mut self, enabled: bool) -> Self {
            self.settings.enable_push = Some(enabled);
            self
        }
        pub fn header_table_size(mut self, size: u32) -> Self {
            self.settings.header_table_size = Some(size);
            self
        }
    }

    impl Wire for SettingsSpec {
        fn write(self, _: &mut Encoder, dst: &mut BytesMut) {
            if self.ack {
                SettingsFrame::ack().encode(dst);
            } else {
                SettingsFrame::new(self.settings).encode(dst);
            }
        }
    }

    // ----- HEADERS ----------------------------------------------------------

    pub struct HeadersSpec {
        pub stream: StreamId,
        pub fields: Vec<HeaderField>,
        pub end_stream: bool,
        pub end_headers: bool,
        pub continuations: usize,
        pub priority: Option<StreamDependency>,
        pub padding: Option<u8>,
        pub raw_block: Option<Bytes>,
    }

    pub fn headers(stream: u32) -> HeadersSpec {
        HeadersSpec {
            stream: sid(stream),
            fields: Vec::new(),
            end_stream: false,
            end_headers: true,
            continuations: 0,
            priority: None,
            padding: None,
            raw_block: None,
        }
    }

    impl HeadersSpec {
        /// `:method`, `:scheme https`, `:path`, `:authority example.com`.
        pub fn request(self, method: &str, path: &str) -> Self {
            self.field(":method", method)
                .field(":scheme", "https")
                .field(":path", path)
                .field(":authority", "example.com")
        }
        pub fn field(mut self, name: &str, value: &str) -> Self {
            self.fields.push(HeaderField::new(name.to_owned(), value.to_owned()));
            self
        }
        pub fn field_bytes(mut self, name: &[u8], value: &[u8]) -> Self {
            self.fields.push(HeaderField::new(Bytes::copy_from_slice(name), Bytes::copy_from_slice(value)));
            self
        }
        pub fn eos(mut self) -> Self {
            self.end_stream = true;
            self
        }
        /// Leaves END_HEADERS unset (and sends no CONTINUATION).
        pub fn no_end_headers(mut self) -> Self {
            self.end_headers = false;
            self
        }
        /// Splits the block over HEADERS and `n` CONTINUATION frames (empty ones if the
        /// block is short).
        pub fn continuations(mut self, n: usize) -> Self {
            self.continuations = n;
            self
        }
        pub fn depends_on(mut self, stream: u32) -> Self {
            self.priority = Some(StreamDependency { dependency: sid(stream), weight: 15, exclusive: false });
            self
        }
        pub fn padded(mut self, len: u8) -> Self {
            self.padding = Some(len);
            self
        }
        /// Sends these bytes as the header block instead of encoding the fields.
        pub fn raw_block(mut self, block: &[u8]) -> Self {
            self.raw_block = Some(Bytes::copy_from_slice(block));
            self
        }
    }

    impl Wire for HeadersSpec {
        fn write(self, hpack: &mut Encoder, dst: &mut BytesMut) {
            let block = match self.raw_block {
                Some(block) => block,
                None => {
                    let mut block = BytesMut::new();
                    hpack.encode(&self.fields, &mut block);
                    block.freeze()
                }
            };
            let n = self.continuations;
            let chunk = block.len().div_ceil(n + 1).max(1);
            let mut rest = block;
            let first = rest.split_to(rest.len().min(chunk));
            HeadersFrame {
                stream_id: self.stream,
                header_block: first,
                end_stream: self.end_stream,
                end_headers: self.end_headers && n == 0,
                priority: self.priority,
                padding: self.padding,
            }
            .encode(dst);
            for i in 0..n {
                let part = rest.split_to(rest.len().min(chunk));
                let last = i + 1 == n;
                ContinuationFrame::new(self.stream, part, last && self.end_headers).encode(dst);
            }
        }
    }

    pub fn continuation(stream: u32, block: &[u8], end_headers: bool) -> Plain {
        Plain(ContinuationFrame::new(sid(stream), Bytes::copy_from_slice(block), end_headers).into())
    }

    // ----- DATA -------------------------------------------------------------

    pub struct DataSpec(pub DataFrame);

    pub fn data(stream: u32, data: impl AsRef<[u8]>) -> DataSpec {
        DataSpec(DataFrame::new(sid(stream), Bytes::copy_from_slice(data.as_ref())))
    }

    impl DataSpec {
        pub fn eos(mut self) -> Self {
            self.0.end_stream = true;
            self
        }
        pub fn padded(mut self, len: u8) -> Self {
            self.0.padding = Some(len);
            self
        }
    }

    impl Wire for DataSpec {
        fn write(self, _: &mut Encoder, dst: &mut BytesMut) {
            self.0.encode(dst);
        }
    }

    // ----- RST_STREAM -------------------------------------------------------

    pub struct ResetSpec(StreamId);

    pub fn reset(stream: u32) -> ResetSpec {
        ResetSpec(sid(stream))
    }

    impl ResetSpec {
        pub fn cancel(self) -> Plain {
            self.code(Reason::CANCEL)
        }
        pub fn refused(self) -> Plain {
            self.code(Reason::REFUSED_STREAM)
        }
        pub fn code(self, reason: Reason) -> Plain {
            Plain(RstStreamFrame::new(self.0, reason).into())
        }
    }

    // ----- the rest ---------------------------------------------------------

    pub fn ping(payload: &[u8; 8]) -> Plain {
        Plain(PingFrame::new(*payload).into())
    }

    pub fn pong(payload: &[u8; 8]) -> Plain {
        Plain(PingFrame::new(*payload).pong().into())
    }

    pub fn window_update(stream: u32, increment: u32) -> Plain {
        Plain(WindowUpdateFrame::new(sid(stream), increment).into())
    }

    pub fn priority(stream: u32, depends_on: u32) -> Plain {
        let dependency = StreamDependency { dependency: sid(depends_on), weight: 15, exclusive: false };
        Plain(PriorityFrame { stream_id: sid(stream), dependency }.into())
    }

    pub fn priority_update(stream: u32, value: &str) -> Plain {
        Plain(PriorityUpdateFrame::new(sid(stream), Bytes::copy_from_slice(value.as_bytes())).into())
    }

    pub fn goaway(last: u32, reason: Reason) -> Plain {
        Plain(GoAwayFrame::new(sid(last), reason).into())
    }

    pub fn push_promise(stream: u32, promised: u32) -> Plain {
        Plain(PushPromiseFrame::new(sid(stream), sid(promised), Bytes::new()).into())
    }

    /// Any frame, byte for byte: header fields then payload.
    pub fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut dst = BytesMut::new();
        FrameHeader::new(kind, flags, sid(stream), payload.len() as u32).encode(&mut dst);
        dst.put_slice(payload);
        dst.to_vec()
    }
}

/// A frame the server wrote, header blocks decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Settings(Settings),
    SettingsAck,
    Headers { stream: u32, fields: Vec<(String, String)>, end_stream: bool },
    PushPromise { stream: u32, promised: u32, fields: Vec<(String, String)> },
    Data { stream: u32, data: Bytes, end_stream: bool },
    Reset { stream: u32, reason: Reason },
    Ping { ack: bool, payload: [u8; 8] },
    GoAway { last: u32, reason: Reason },
    WindowUpdate { stream: u32, increment: u32 },
    Other(Frame),
}

impl Out {
    pub fn status(&self) -> Option<&str> {
        match self {
            Out::Headers { fields, .. } => {
                fields.iter().find(|(n, _)| n == ":status").map(|(_, v)| v.as_str())
            }
            _ => None,
        }
    }
}

/// A client scripted against a server connection.
pub struct Client {
    pub conn: Connection,
    pub now: Instant,
    pub hpack: Encoder,
    decoder: Decoder,
    inbox: BytesMut,
    pending_block: Option<(u32, Option<u32>, bool, BytesMut)>,
    /// Every event the server reported, in order.
    pub events: Vec<Event>,
    /// Every frame the server wrote, in order.
    pub frames: Vec<Out>,
    /// Every piece `poll_transmit` returned.
    pub pieces: Vec<Bytes>,
}

impl Client {
    /// A connection with the default config; nothing sent yet.
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Self {
        let now = Instant::now();
        Self::from_connection(Connection::new(config, now), now)
    }

    pub fn from_connection(conn: Connection, now: Instant) -> Self {
        Self {
            conn,
            now,
            hpack: Encoder::new(),
            decoder: Decoder::with_max_header_list_size(1 << 20),
            inbox: BytesMut::new(),
            pending_block: None,
            events: Vec::new(),
            frames: Vec::new(),
            pieces: Vec::new(),
        }
    }

    /// Preface, empty SETTINGS, and the ACK of the server's SETTINGS; forgets the frames
    /// and events of the handshake.
    pub fn connected() -> Self {
        Self::connected_with(Config::default(), frames::settings())
    }

    pub fn connected_with(config: Config, settings: frames::SettingsSpec) -> Self {
        let mut client = Self::with_config(config);
        client.handshake(settings);
        client
    }

    pub fn handshake(&mut self, settings: frames::SettingsSpec) {
        let mut wire = BytesMut::from(&CONNECTION_PREFACE[..]);
        settings.write(&mut self.hpack, &mut wire);
        frames::settings().ack().write(&mut self.hpack, &mut wire);
        self.receive(&wire);
        let frames = self.take_frames();
        assert!(matches!(frames.first(), Some(Out::Settings(_))), "server preface: {frames:?}");
        assert!(frames.contains(&Out::SettingsAck), "{frames:?}");
        assert!(self.take_events().is_empty());
    }

    /// Sends one frame (or raw bytes) in one read, then pumps.
    pub fn send(&mut self, frame: impl Wire) -> &mut Self {
        let mut wire = BytesMut::new();
        frame.write(&mut self.hpack, &mut wire);
        self.receive(&wire);
        self
    }

    /// Encodes a frame without sending it (for batching several in one read).
    pub fn encode(&mut self, frame: impl Wire) -> Vec<u8> {
        let mut wire = BytesMut::new();
        frame.write(&mut self.hpack, &mut wire);
        wire.to_vec()
    }

    /// Hands raw bytes to the server in one read, then pumps.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.conn.receive(self.now, bytes);
        self.pump();
    }

    /// Moves every event and every byte of output out of the server until it has nothing.
    pub fn pump(&mut self) {
        loop {
            let mut progress = false;
            while let Some(event) = self.conn.poll_event() {
                self.events.push(event);
                progress = true;
            }
            while let Some(piece) = self.conn.poll_transmit(self.now) {
                self.inbox.extend_from_slice(&piece);
                self.pieces.push(piece);
                progress = true;
            }
            if !progress {
                break;
            }
        }
        self.decode_inbox();
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.conn.handle_timeout(self.now);
        self.pump();
    }

    fn decode_inbox(&mut self) {
        while self.inbox.len() >= HEADER_LEN {
            let header = frame::decode_header(self.inbox[..HEADER_LEN].try_into().unwrap());
            let total = HEADER_LEN + header.length as usize;
            if self.inbox.len() < total {
                break;
            }
            let mut bytes = self.inbox.split_to(total);
            let payload = bytes.split_off(HEADER_LEN).freeze();
            let frame = Frame::decode(header, payload, frame::MAX_MAX_FRAME_SIZE)
                .unwrap_or_else(|err| panic!("the server wrote an invalid frame: {err}"));
            self.on_frame(frame);
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        if let Some((stream, _, _, _)) = &self.pending_block {
            let Frame::Continuation(continuation) = &frame else {
                panic!("server interleaved {frame:?} in a header block");
            };
            assert_eq!(continuation.stream_id.get(), *stream);
        }
        let out = match frame {
            Frame::Settings(settings) if settings.is_ack() => Out::SettingsAck,
            Frame::Settings(settings) => Out::Settings(*settings.settings()),
            Frame::Headers(headers) => {
                let block = BytesMut::from(&headers.header_block[..]);
                self.pending_block = Some((headers.stream_id.get(), None, headers.end_stream, block));
                if !headers.end_headers {
                    return;
                }
                self.finish_block()
            }
            Frame::PushPromise(push) => {
                let block = BytesMut::from(&push.header_block[..]);
                self.pending_block = Some((push.stream_id.get(), Some(push.promised_id.get()), false, block));
                if !push.end_headers {
                    return;
                }
                self.finish_block()
            }
            Frame::Continuation(continuation) => {
                let (_, _, _, block) = self.pending_block.as_mut().expect("CONTINUATION without HEADERS");
                block.extend_from_slice(&continuation.header_block);
                if !continuation.end_headers {
                    return;
                }
                self.finish_block()
            }
            Frame::Data(data) => {
                Out::Data { stream: data.stream_id.get(), data: data.data, end_stream: data.end_stream }
            }
            Frame::RstStream(reset) => Out::Reset { stream: reset.stream_id.get(), reason: reset.reason },
            Frame::Ping(ping) => Out::Ping { ack: ping.ack, payload: ping.payload },
            Frame::GoAway(goaway) => Out::GoAway { last: goaway.last_stream_id.get(), reason: goaway.reason },
            Frame::WindowUpdate(update) => {
                Out::WindowUpdate { stream: update.stream_id.get(), increment: update.increment }
            }
            other => Out::Other(other),
        };
        self.frames.push(out);
    }

    fn finish_block(&mut self) -> Out {
        let (stream, promised, end_stream, block) = self.pending_block.take().unwrap();
        let mut fields = Vec::new();
        let _ = self.decoder.decode(&block.freeze(), &mut fields).expect("server header block decodes");
        let fields = fields
            .into_iter()
            .map(|f| {
                (String::from_utf8(f.name.to_vec()).unwrap(), String::from_utf8(f.value.to_vec()).unwrap())
            })
            .collect();
        match promised {
            Some(promised) => Out::PushPromise { stream, promised, fields },
            None => Out::Headers { stream, fields, end_stream },
        }
    }

    /// Applies a SETTINGS_HEADER_TABLE_SIZE the client sent to its own decoder, as a
    /// client does once the server acknowledges it: the server's next header block must
    /// then open with a table size update.
    pub fn apply_header_table_size(&mut self, size: usize) {
        self.decoder.set_max_table_size(size);
    }

    pub fn take_frames(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.frames)
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    // ----- application side --------------------------------------------------

    pub fn respond(&mut self, stream: u32, status: u16, end_stream: bool) {
        let status = StatusCode::from_u16(status).unwrap();
        self.conn.send_response(sid(stream), status, [("content-type", "text/plain")], end_stream).unwrap();
        self.pump();
    }

    pub fn respond_data(&mut self, stream: u32, data: &[u8], end_stream: bool) {
        self.conn.send_data(sid(stream), Bytes::copy_from_slice(data), end_stream).unwrap();
        self.pump();
    }

    // ----- assertions ----------------------------------------------------------

    /// The GOAWAY the server wrote, with the connection error it reported.
    pub fn expect_goaway(&mut self, reason: Reason) -> Option<ProtocolError> {
        let frames = self.take_frames();
        assert!(
            frames.iter().any(|f| matches!(f, Out::GoAway { reason: r, .. } if *r == reason)),
            "expected GOAWAY({reason:?}), got {frames:?}"
        );
        assert!(self.conn.is_finished(), "connection should be finished after GOAWAY");
        assert!(!self.conn.wants_read());
        self.take_events().into_iter().find_map(|e| match e {
            Event::ConnectionError(error) => Some(error),
            _ => None,
        })
    }

    /// The RST_STREAM the server wrote on `stream`; the connection stays up.
    pub fn expect_reset(&mut self, stream: u32, reason: Reason) {
        let frames = self.take_frames();
        assert!(
            frames.contains(&Out::Reset { stream, reason }),
            "expected RST_STREAM({stream}, {reason:?}), got {frames:?}"
        );
        assert!(!frames.iter().any(|f| matches!(f, Out::GoAway { .. })), "unexpected GOAWAY: {frames:?}");
        assert!(!self.conn.is_finished());
    }

    /// The connection is alive: a PING is answered.
    pub fn assert_alive(&mut self) {
        self.take_frames();
        self.send(frames::ping(b"alive?!!"));
        let frames = self.take_frames();
        assert!(frames.contains(&Out::Ping { ack: true, payload: *b"alive?!!" }), "{frames:?}");
    }

    /// The streams of the `Request` events received so far.
    pub fn requests(&self) -> Vec<u32> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Request { stream, .. } => Some(stream.get()),
                _ => None,
            })
            .collect()
    }

    pub fn data_frames(frames: &[Out], stream: u32) -> Vec<(usize, bool)> {
        frames
            .iter()
            .filter_map(|f| match f {
                Out::Data { stream: s, data, end_stream } if *s == stream => Some((data.len(), *end_stream)),
                _ => None,
            })
            .collect()
    }
}

/// The default config with some fields changed (`Config` is non-exhaustive).
pub fn config(change: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::default();
    change(&mut config);
    config
}
