//! The receive path: the client preface, then frame after frame, each checked against the
//! connection and stream state (RFC 9113 §3.4, §4–§6, §8) and the security limits.

use bytes::{Buf, Bytes, BytesMut};
use milpa_hpack::{DecodeOutcome, HeaderField};

use crate::connection::{Closed, Connection, KEEPALIVE_PING, PREFACE_LEN, PartialBlock, SHUTDOWN_PING};
use crate::error::{ErrorKind, Malformed, ProtocolError};
use crate::event::Event;
use crate::frame::{
    self, CONNECTION_PREFACE, ContinuationFrame, DataFrame, ErrorScope, Frame, FrameError, FrameHeader,
    GoAwayFrame, HEADER_LEN, HeadersFrame, PingFrame, PriorityUpdateFrame, Reason, RstStreamFrame,
    SettingsFrame, StreamId, WindowUpdateFrame, flags, kind,
};
use crate::headers;
use crate::priority::Priority;
use crate::stream::{Recv, Send, Stream};

/// Where a stream identifier stands for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// In the stream map.
    Active,
    /// Never opened: above the last identifier of its initiator.
    Idle,
    /// Opened (or skipped) and closed since; how, when remembered.
    Closed(Option<Closed>),
}

/// What a decoded header block turned out to be, beyond its fields.
struct BlockMeta {
    stream: StreamId,
    end_stream: bool,
    self_dependent: bool,
    too_large: Option<usize>,
}

impl Connection {
    /// Processes buffered input until it runs out, an acknowledgment must be written first,
    /// or the connection closes.
    pub(crate) fn process(&mut self) {
        while !self.closed {
            if self.preface_read < PREFACE_LEN {
                if !self.read_preface() {
                    return;
                }
                continue;
            }
            let Some(head) =
                self.input.get(..HEADER_LEN).and_then(|head| <&[u8; HEADER_LEN]>::try_from(head).ok())
            else {
                return;
            };
            let header = frame::decode_header(head);
            if !self.admit(&header) {
                return;
            }
            let total = HEADER_LEN + header.length as usize;
            if self.input.len() < total {
                return;
            }
            let payload = if header.kind == kind::HEADERS {
                // A header block's fields outlive the frame (a request's path stays in
                // its scope while the stream runs): copied out, they keep a buffer of
                // the block's size alive, not the whole read it arrived in.
                let payload = Bytes::copy_from_slice(&self.input[HEADER_LEN..total]);
                self.input.advance(total);
                payload
            } else {
                let mut bytes = self.input.split_to(total);
                bytes.split_off(HEADER_LEN).freeze()
            };
            match Frame::decode(header, payload, self.config.max_frame_size) {
                Ok(frame) => self.on_frame(frame),
                Err(err) => self.on_frame_error(err),
            }
        }
    }

    /// Matches the client preface as its bytes arrive; `true` once it is complete.
    fn read_preface(&mut self) -> bool {
        let n = (PREFACE_LEN - self.preface_read).min(self.input.len());
        if n == 0 {
            return false;
        }
        if self.input[..n] != CONNECTION_PREFACE[self.preface_read..self.preface_read + n] {
            self.connection_error(Reason::PROTOCOL_ERROR, ErrorKind::InvalidPreface);
            return false;
        }
        self.input.advance(n);
        self.preface_read += n;
        self.preface_read == PREFACE_LEN
    }

    /// The checks made on a frame header before its payload is buffered. `false` stops
    /// processing: a connection error, or an acknowledgment that must be written before
    /// another PING or SETTINGS is taken (one pending acknowledgment each).
    fn admit(&mut self, header: &FrameHeader) -> bool {
        if let Err(err) = header.validate(self.config.max_frame_size) {
            self.connection_error(err.reason(), ErrorKind::Frame(err.kind()));
            return false;
        }
        if let Some(partial) = &self.partial
            && (header.kind != kind::CONTINUATION || header.stream_id != partial.stream)
        {
            self.connection_error(Reason::PROTOCOL_ERROR, ErrorKind::ExpectedContinuation);
            return false;
        }
        let ack = header.has_flag(flags::ACK);
        if !self.got_settings && (header.kind != kind::SETTINGS || ack) {
            self.connection_error(Reason::PROTOCOL_ERROR, ErrorKind::MissingSettings);
            return false;
        }
        let blocked = match header.kind {
            kind::PING => !ack && self.ping_ack_at.is_some(),
            kind::SETTINGS => !ack && self.settings_ack_at.is_some(),
            _ => false,
        };
        !blocked
    }

    fn on_frame(&mut self, frame: Frame) {
        match frame {
            Frame::Data(data) => self.on_data(data),
            Frame::Headers(headers) => self.on_headers(headers),
            Frame::Continuation(continuation) => self.on_continuation(continuation),
            Frame::RstStream(reset) => self.on_reset(reset),
            Frame::Settings(settings) => self.on_settings(settings),
            Frame::Ping(ping) => self.on_ping(ping),
            Frame::GoAway(goaway) => self.on_goaway(goaway),
            Frame::WindowUpdate(update) => self.on_window_update(update),
            Frame::PriorityUpdate(update) => self.on_priority_update(update),
            Frame::PushPromise(_) => self.connection_error(Reason::PROTOCOL_ERROR, ErrorKind::PushPromise),
            // RFC 9218 replaces RFC 7540 priorities (we announce SETTINGS_NO_RFC7540_PRIORITIES):
            // PRIORITY frames are dropped at constant cost, without creating any state.
            // Unknown frame types are ignored (RFC 9113 §5.5).
            _ => {}
        }
    }

    fn on_frame_error(&mut self, err: FrameError) {
        let ErrorScope::Stream(id) = err.scope() else {
            self.connection_error(err.reason(), ErrorKind::Frame(err.kind()));
            return;
        };
        if err.kind() == frame::ErrorKind::ZeroWindowIncrement {
            match self.known(id) {
                Known::Idle => {
                    return self.connection_error(Reason::PROTOCOL_ERROR, ErrorKind::IdleStream);
                }
                Known::Closed(_) => return,
                Known::Active => {}
            }
        }
        // PRIORITY with a bad length or a self-dependency, WINDOW_UPDATE of 0: RST_STREAM,
        // counted against the locally caused resets ("MadeYouReset").
        self.reset_for_error(id, err.reason(), ErrorKind::Frame(err.kind()), true);
    }

    fn known(&self, id: StreamId) -> Known {
        if self.streams.contains_key(&id) {
            return Known::Active;
        }
        let last = if id.is_client_initiated() { self.last_client_stream } else { self.last_pushed_stream };
        if id > last { Known::Idle } else { Known::Closed(self.closed_as(id)) }
    }

    // ----- connection frames -------------------------------------------------

    fn on_settings(&mut self, frame: SettingsFrame) {
        if frame.is_ack() {
            if self.settings_timer.take().is_some() {
                self.decoder.set_max_table_size(self.config.header_table_size as usize);
            }
            return;
        }
        self.got_settings = true;
        if self.apply_settings(frame.settings()).is_err() {
            self.connection_error(Reason::FLOW_CONTROL_ERROR, ErrorKind::WindowOverflow);
            return;
        }
        SettingsFrame::ack().encode(self.output.tail());
        self.settings_ack_at = Some(self.output.commit());
    }

    fn on_ping(&mut self, ping: PingFrame) {
        if ping.ack {
            match ping.payload {
                KEEPALIVE_PING => self.keepalive_timer = None,
                SHUTDOWN_PING if self.shutdown_timer.is_some() => self.send_final_goaway(),
                _ => {}
            }
            return;
        }
        ping.pong().encode(self.output.tail());
        self.ping_ack_at = Some(self.output.commit());
    }

    fn on_goaway(&mut self, goaway: GoAwayFrame) {
        if self.peer_goaway.is_some_and(|last| goaway.last_stream_id >= last) {
            return;
        }
        let last = goaway.last_stream_id;
        self.peer_goaway = Some(last);
        self.events.push_back(Event::GoAway {
            last_stream_id: last,
            reason: goaway.reason,
            debug_data: goaway.debug_data,
        });
        let mut refused: Vec<StreamId> =
            self.streams.keys().copied().filter(|id| *id > last && id.is_server_initiated()).collect();
        refused.sort_unstable();
        for id in refused {
            if let Some(stream) = self.remove_stream(id) {
                self.remember(id, Closed::Done);
                if stream.reported {
                    let reason = Reason::REFUSED_STREAM;
                    self.events.push_back(Event::StreamReset { stream: id, reason, error: None });
                }
            }
        }
        self.check_done();
    }

    fn on_window_update(&mut self, update: WindowUpdateFrame) {
        let id = update.stream_id;
        if id.is_zero() {
            if self.send_window.increase(update.increment).is_err() {
                self.connection_error(Reason::FLOW_CONTROL_ERROR, ErrorKind::WindowOverflow);
            }
            return;
        }
        match self.known(id) {
            Known::Idle => self.connection_error(Reason::PROTOCOL_ERROR, ErrorKind::IdleStream),
            Known::Closed(_) => {}
            Known::Active => {
                let overflow = self
                    .streams
                    .get_mut(&id)
                    .is_some_and(|s| s.send_window.increase(update.increment).is_err());
                if overflow {
                    self.reset_for_error(id, Reason::FLOW_CONTROL_ERROR, ErrorKind::WindowOverflow, true);
                }
            }
        }
    }

    fn on_reset(&mut self, reset: RstStreamFrame) {
        let id = reset.stream_id;
        match self.known(id) {
            Known::Idle => self.connection_error(Reason::PROTOCOL_ERROR, ErrorKind::IdleStream),
            Known::Closed(_) => {}
            Known::Active => {
                let Some(stream) = self.remove_stream(id) else { return };
                self.remember(id, Closed::Done);
                if stream.reported {
                    self.events.push_back(Event::StreamReset {
                        stream: id,
                        reason: reset.reason,
                        error: None,
                    });
                    if !stream.accepted {
                        self.pending_accept_resets.insert(id);
                        if self.pending_accept_resets.len() > self.config.max_pending_accept_reset_streams {
                            let kind = ErrorKind::TooManyPendingResets;
                            return self.connection_error(Reason::ENHANCE_YOUR_CALM, kind);
                        }
                    }
                }
                self.check_done();
            }
        }
    }

    fn on_priority_update(&mut self, update: PriorityUpdateFrame) {
        let id = update.prioritized_id;
        let Some(priority) = Priority::parse(&update.field_value) else { return };
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.priority = Some(priority);
            return;
        }
        match self.known(id) {
            // RFC 9218 §7.1: a push stream that was never promised.
            Known::Idle if id.is_server_initiated() => {
                self.connection_error(Reason::PROTOCOL_ERROR, ErrorKind::InvalidStreamId);
            }
            Known::Idle => {
                let cap = (self.config.max_concurrent_streams as usize).clamp(1, 1024);
                self.early_priorities.retain(|(early, _)| *early != id);
                if self.early_priorities.len() >= cap {
                    self.early_priorities.pop_front();
                }
                self.early_priorities.push_back((id, priority));
            }
            Known::Active | Known::Closed(_) => {}
        }
    }

    // ----- header blocks -------------------------------------------------------

    fn on_headers(&mut self, headers: HeadersFrame) {
        let id = headers.stream_id;
        match self.known(id) {
            Known::Idle if id.is_server_initiated() => {
                return self.connection_error(Reason::PROTOCOL_ERROR, ErrorKind::InvalidStreamId);
            }
            // A lower identifier than one already used, never opened: §5.1.1.
            Known::Closed(None) if id.is_client_initiated() => {
                return self.connection_error(Reason::PROTOCOL_ERROR, ErrorKind::InvalidStreamId);
            }
            _ => {}
        }
        let block = PartialBlock {
            stream: id,
            end_stream: headers.end_stream,
            self_dependent: headers.depends_on_itself(),
            fragments: BytesMut::new(),
            continuations: 0,
            started: self.last_read,
        };
        if headers.end_headers {
            self.on_header_block(block, headers.header_block);
        } else {
            let mut block = block;
            block.fragments.extend_from_slice(&headers.header_block);
            self.partial = Some(block);
        }
    }

    fn on_continuation(&mut self, continuation: ContinuationFrame) {
        let cap = self.config.continuation_cap();
        let Some(partial) = &mut self.partial else {
            return self.connection_error(Reason::PROTOCOL_ERROR, ErrorKind::UnexpectedContinuation);
        };
        partial.continuations += 1;
        if partial.continuations > cap {
            return self.connection_error(Reason::ENHANCE_YOUR_CALM, ErrorKind::TooManyContinuations);
        }
        partial.fragments.extend_from_slice(&continuation.header_block);
        if continuation.end_headers
            && let Some(mut partial) = self.partial.take()
        {
            let block = partial.fragments.split().freeze();
            self.on_header_block(partial, block);
        }
    }

    /// A complete header block: decode it (always, to keep HPACK in sync), then act on it
    /// according to the stream's state.
    fn on_header_block(&mut self, block: PartialBlock, fragment: Bytes) {
        // Room for a typical request's fields, so the list is allocated once; and no
        // more than fits the allocator's per-thread cache (at 72 bytes a field, 14 make
        // 1 008 bytes, under glibc's 1 032): a list allocated per request must not take
        // malloc's slow path.
        let mut fields = Vec::with_capacity(14);
        let too_large = match self.decoder.decode(&fragment, &mut fields) {
            Ok(DecodeOutcome::Complete { .. }) => None,
            Ok(DecodeOutcome::HeaderListTooLarge { size }) => Some(size),
            Ok(_) => Some(0),
            Err(err) => {
                let reason = Reason::new(err.http2_error_code());
                return self.connection_error(reason, ErrorKind::Compression(err));
            }
        };
        let meta = BlockMeta {
            stream: block.stream,
            end_stream: block.end_stream,
            self_dependent: block.self_dependent,
            too_large,
        };
        match self.known(meta.stream) {
            Known::Active => self.on_trailers(meta, fields),
            Known::Idle => self.on_request(meta, fields),
            // Our RST_STREAM may still be on its way: the client is not at fault.
            Known::Closed(Some(Closed::Reset)) => {}
            // A new header block on a stream both sides finished reuses an identifier:
            // RFC 9113 §5.1 lets us (and h2spec expects us to) end the connection.
            Known::Closed(_) => self.connection_error(Reason::STREAM_CLOSED, ErrorKind::StreamClosed),
        }
    }

    /// HEADERS opening a new stream.
    fn on_request(&mut self, meta: BlockMeta, fields: Vec<HeaderField>) {
        let id = meta.stream;
        self.last_client_stream = id;
        let early = self.early_priorities.iter().position(|(early, _)| *early == id);
        let early = early.and_then(|at| self.early_priorities.remove(at)).map(|(_, priority)| priority);
        if self.goaway_last.is_some_and(|last| id > last) {
            // Counted too: a client that keeps opening streams after our GOAWAY is flooding.
            return self.reset_for_error(id, Reason::REFUSED_STREAM, ErrorKind::GoingAway, true);
        }
        if let Some(size) = meta.too_large {
            return self.answer_431(id, meta.end_stream, size);
        }
        if meta.self_dependent {
            let kind = ErrorKind::Frame(frame::ErrorKind::SelfDependency);
            return self.reset_for_error(id, Reason::PROTOCOL_ERROR, kind, true);
        }
        let signalled = fields.iter().any(|field| field.name == "priority");
        let request = match headers::request(fields, self.config.enable_connect_protocol) {
            Ok(request) => request,
            Err(why) => {
                return self.reset_for_error(id, Reason::PROTOCOL_ERROR, ErrorKind::Malformed(why), true);
            }
        };
        if meta.end_stream && request.content_length.is_some_and(|length| length != 0) {
            let kind = ErrorKind::Malformed(Malformed::ContentLengthMismatch);
            return self.reset_for_error(id, Reason::PROTOCOL_ERROR, kind, true);
        }
        if self.client_streams >= self.config.max_concurrent_streams as usize {
            return self.reset_for_error(id, Reason::REFUSED_STREAM, ErrorKind::TooManyStreams, true);
        }
        let mut stream =
            Stream::new(id, self.peer.initial_window_size, self.config.initial_stream_window_size);
        stream.queue = self.spare_queues.pop().unwrap_or_default();
        stream.reported = true;
        stream.content_length = request.content_length;
        stream.priority = early.or(signalled.then_some(request.priority));
        if meta.end_stream {
            stream.recv = Recv::Closed;
        }
        self.streams.insert(id, stream);
        self.client_streams += 1;
        self.events.push_back(Event::Request { stream: id, request, end_stream: meta.end_stream });
        self.requests = self.requests.saturating_add(1);
        if self.config.max_requests_per_connection.is_some_and(|max| self.requests >= max) {
            self.start_shutdown();
        }
    }

    /// A header list over SETTINGS_MAX_HEADER_LIST_SIZE: answer 431 and close the stream
    /// (with RST_STREAM(NO_ERROR) if the client is still sending).
    fn answer_431(&mut self, id: StreamId, end_stream: bool, size: usize) {
        let block = self.encode_block(b"431", std::iter::empty::<(&[u8], &[u8])>());
        self.write_header_block(id, block, true, None);
        if !end_stream {
            RstStreamFrame::new(id, Reason::NO_ERROR).encode(self.output.tail());
            self.output.commit();
        }
        let reason = Reason::NO_ERROR;
        let error = ProtocolError::new(reason, ErrorKind::HeaderListTooLarge { size });
        self.forget_reset(id, error, true);
    }

    /// HEADERS on an open stream: trailers.
    fn on_trailers(&mut self, meta: BlockMeta, fields: Vec<HeaderField>) {
        let id = meta.stream;
        let Some(stream) = self.streams.get(&id) else { return };
        if stream.recv == Recv::Closed {
            return self.reset_for_error(id, Reason::STREAM_CLOSED, ErrorKind::StreamClosed, true);
        }
        if let Some(size) = meta.too_large {
            if stream.send == Send::Idle && meta.end_stream {
                return self.answer_431(id, true, size);
            }
            return self.reset_for_error(id, Reason::CANCEL, ErrorKind::HeaderListTooLarge { size }, true);
        }
        let malformed = |why| ErrorKind::Malformed(why);
        if !meta.end_stream {
            let kind = malformed(Malformed::TrailersWithoutEndStream);
            return self.reset_for_error(id, Reason::PROTOCOL_ERROR, kind, true);
        }
        if meta.self_dependent {
            let kind = ErrorKind::Frame(frame::ErrorKind::SelfDependency);
            return self.reset_for_error(id, Reason::PROTOCOL_ERROR, kind, true);
        }
        if stream.content_length.is_some_and(|length| length != stream.received) {
            let kind = malformed(Malformed::ContentLengthMismatch);
            return self.reset_for_error(id, Reason::PROTOCOL_ERROR, kind, true);
        }
        let trailers = match headers::trailers(fields) {
            Ok(trailers) => trailers,
            Err(why) => return self.reset_for_error(id, Reason::PROTOCOL_ERROR, malformed(why), true),
        };
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.recv = Recv::Closed;
        }
        self.events.push_back(Event::Trailers { stream: id, trailers });
        self.finish_if_closed(id);
    }

    // ----- data ------------------------------------------------------------------

    fn on_data(&mut self, data: DataFrame) {
        let id = data.stream_id;
        let len = data.flow_controlled_len();
        if self.recv_window.receive(len).is_err() {
            return self.connection_error(Reason::FLOW_CONTROL_ERROR, ErrorKind::FlowControl);
        }
        if data.data.is_empty() && !data.end_stream {
            self.empty_data_frames += 1;
            if self.empty_data_frames > self.config.max_empty_data_frames {
                return self.connection_error(Reason::ENHANCE_YOUR_CALM, ErrorKind::TooManyEmptyDataFrames);
            }
        } else if !data.data.is_empty() {
            self.empty_data_frames = 0;
        }
        match self.known(id) {
            Known::Idle => return self.connection_error(Reason::PROTOCOL_ERROR, ErrorKind::IdleStream),
            Known::Closed(how) => {
                self.release_connection(len);
                if how != Some(Closed::Reset) {
                    self.reset_for_error(id, Reason::STREAM_CLOSED, ErrorKind::StreamClosed, true);
                }
                return;
            }
            Known::Active => {}
        }
        let Some(stream) = self.streams.get_mut(&id) else { return };
        let error = if stream.recv == Recv::Closed {
            Some((Reason::STREAM_CLOSED, ErrorKind::StreamClosed))
        } else if stream.recv_window.receive(len).is_err() {
            Some((Reason::FLOW_CONTROL_ERROR, ErrorKind::FlowControl))
        } else {
            stream.received += data.data.len() as u64;
            let too_long = stream.content_length.is_some_and(|length| {
                stream.received > length || (data.end_stream && stream.received != length)
            });
            too_long
                .then_some((Reason::PROTOCOL_ERROR, ErrorKind::Malformed(Malformed::ContentLengthMismatch)))
        };
        if let Some((reason, kind)) = error {
            self.release_connection(len);
            return self.reset_for_error(id, reason, kind, true);
        }
        let payload = data.data.len() as u32;
        let padding = len - payload;
        stream.unreleased += u64::from(payload);
        if data.end_stream {
            stream.recv = Recv::Closed;
        } else if padding > 0 {
            stream.recv_window.release(padding);
        }
        if padding > 0 {
            self.release_connection(padding);
        }
        self.events.push_back(Event::Data { stream: id, data: data.data, end_stream: data.end_stream });
        if data.end_stream {
            self.finish_if_closed(id);
        }
    }
}
