//! The application's commands: responses, bodies, trailers, push, resets, flow-control
//! credit and graceful shutdown. A refused command is an `Err` and changes nothing (except
//! that [`SendError::BufferFull`] asks for an [`Event::Writable`](crate::Event::Writable)).

use bytes::Bytes;
use http::{Method, StatusCode};
use milpa_hpack::HeaderField;

use crate::connection::{Closed, Connection, PREFACE_LEN, SHUTDOWN_PING, Shutdown, Timer};
use crate::error::{ErrorKind, SendError};
use crate::frame::{GoAwayFrame, PingFrame, Reason, RstStreamFrame, StreamId, WindowUpdateFrame};
use crate::headers;
use crate::stream::{Recv, Send, Stream};

/// Checks every field the application wants to send, before any is encoded: HPACK
/// encoding changes the dynamic table, so a block cannot be abandoned halfway.
fn check_outgoing<N, V>(fields: impl Iterator<Item = (N, V)>) -> Result<(), SendError>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    for (name, value) in fields {
        headers::outgoing(name.as_ref(), value.as_ref()).map_err(|()| SendError::InvalidHeader)?;
    }
    Ok(())
}

impl Connection {
    fn open_stream(&mut self, id: StreamId) -> Result<&mut Stream, SendError> {
        if self.closed {
            return Err(SendError::ConnectionClosed);
        }
        self.streams.get_mut(&id).ok_or(SendError::StreamClosed(id))
    }

    /// Sends the response head (a final status, 200–599) on `stream`, with END_STREAM when
    /// `end_stream` (no body). Connection-specific fields (`connection`, `transfer-encoding`…)
    /// are dropped, as HTTP/2 cannot carry them. `fields` is walked more than once — every
    /// field is checked before any is encoded, and compared with the last head's — so its
    /// iterator must be `Clone` (those over arrays and slices are). Next:
    /// [`send_data`](Self::send_data), [`send_trailers`](Self::send_trailers), or nothing
    /// if `end_stream`.
    pub fn send_response<I, N, V>(
        &mut self,
        stream: StreamId,
        status: StatusCode,
        fields: I,
        end_stream: bool,
    ) -> Result<(), SendError>
    where
        I: IntoIterator<Item = (N, V), IntoIter: Clone>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        if status.is_informational() {
            return Err(SendError::InvalidStatus(status));
        }
        if self.open_stream(stream)?.send != Send::Idle {
            return Err(SendError::WrongState(stream));
        }
        let fields = fields.into_iter();
        let generation = self.encoder.generation();
        let block = match self.head_memo.block_for(status, fields.clone(), generation) {
            // The same head as the last, checked then, and the same bytes now.
            Some(block) => block.clone(),
            None => {
                check_outgoing(fields.clone())?;
                let block = self.encode_block(status.as_str().as_bytes(), fields.clone());
                let generations = (generation, self.encoder.generation());
                self.head_memo.remember(status, fields, &block, generations);
                block
            }
        };
        self.write_header_block(stream, block, end_stream, None);
        if let Some(state) = self.streams.get_mut(&stream) {
            if end_stream {
                state.send = Send::Done;
                state.end_sent = true;
            } else {
                state.send = Send::Open;
            }
        }
        self.finish_if_closed(stream);
        Ok(())
    }

    /// Sends an informational (1xx) response such as `103 Early Hints` before the final
    /// response. 101 does not exist in HTTP/2.
    pub fn send_informational<I, N, V>(
        &mut self,
        stream: StreamId,
        status: StatusCode,
        fields: I,
    ) -> Result<(), SendError>
    where
        I: IntoIterator<Item = (N, V), IntoIter: Clone>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        if !status.is_informational() || status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(SendError::InvalidStatus(status));
        }
        if self.open_stream(stream)?.send != Send::Idle {
            return Err(SendError::WrongState(stream));
        }
        let fields = fields.into_iter();
        check_outgoing(fields.clone())?;
        let block = self.encode_block(status.as_str().as_bytes(), fields);
        self.write_header_block(stream, block, false, None);
        Ok(())
    }

    /// Queues a piece of the response body (passed to the socket without a copy), and ends
    /// the response when `end_stream`. Frames are cut by
    /// [`poll_transmit`](Self::poll_transmit) as the client's windows allow.
    ///
    /// While the stream already holds [`Config::max_send_buffer_size`](crate::Config) bytes,
    /// non-empty data is refused with [`SendError::BufferFull`]: wait for
    /// [`Event::Writable`](crate::Event::Writable) and send it again.
    pub fn send_data(&mut self, stream: StreamId, data: Bytes, end_stream: bool) -> Result<(), SendError> {
        let cap = self.config.max_send_buffer_size;
        let state = self.open_stream(stream)?;
        if state.send != Send::Open {
            return Err(SendError::WrongState(stream));
        }
        if !data.is_empty() {
            if state.queued >= cap {
                state.blocked = true;
                return Err(SendError::BufferFull(stream));
            }
            state.queued += data.len();
            state.queue.push_back(data);
        }
        if end_stream {
            state.send = Send::Done;
        }
        self.make_ready(stream);
        Ok(())
    }

    /// Bytes [`send_data`](Self::send_data) would still take on `stream` before refusing
    /// with [`SendError::BufferFull`] (one piece of any size is taken while this is not 0).
    pub fn send_capacity(&self, stream: StreamId) -> Result<usize, SendError> {
        let state = self.streams.get(&stream).ok_or(SendError::StreamClosed(stream))?;
        Ok(self.config.max_send_buffer_size.saturating_sub(state.queued))
    }

    /// Ends the response with trailer fields, sent after the queued body (HEADERS with
    /// END_STREAM).
    pub fn send_trailers<I, N, V>(&mut self, stream: StreamId, fields: I) -> Result<(), SendError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        if self.open_stream(stream)?.send != Send::Open {
            return Err(SendError::WrongState(stream));
        }
        let mut kept = Vec::new();
        for (name, value) in fields {
            let (name, value) = (name.as_ref(), value.as_ref());
            headers::outgoing(name, value).map_err(|()| SendError::InvalidHeader)?;
            if !headers::is_connection_specific(name) {
                kept.push((Bytes::copy_from_slice(name), Bytes::copy_from_slice(value)));
            }
        }
        let fields = kept;
        if let Some(state) = self.streams.get_mut(&stream) {
            state.trailers = Some(fields);
            state.send = Send::Done;
        }
        self.make_ready(stream);
        Ok(())
    }

    /// Promises a pushed response on the client's `stream` (RFC 9113 §8.4): `fields` is the
    /// promised request, pseudo-headers first (`:method` GET or HEAD, `:scheme`,
    /// `:authority`, `:path`). Returns the new stream: answer it with
    /// [`send_response`](Self::send_response) like any request.
    ///
    /// Refused when push is off ([`SendError::PushDisabled`], e.g. the client sent
    /// SETTINGS_ENABLE_PUSH=0), when the client's SETTINGS_MAX_CONCURRENT_STREAMS (or ours)
    /// pushed streams are open ([`SendError::PushLimit`]), after the response on `stream`
    /// ended, and once the connection is shutting down.
    pub fn push_promise<I, N, V>(&mut self, stream: StreamId, fields: I) -> Result<StreamId, SendError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        if self.peer_goaway.is_some() || self.shutdown != Shutdown::None {
            return Err(SendError::ConnectionClosed);
        }
        let parent = self.open_stream(stream)?;
        if parent.pushed || parent.send == Send::Done {
            return Err(SendError::WrongState(stream));
        }
        if !self.config.enable_push || !self.peer.enable_push {
            return Err(SendError::PushDisabled);
        }
        let limit =
            self.peer.max_concurrent_streams.unwrap_or(u32::MAX).min(self.config.max_concurrent_streams);
        if self.pushed_streams >= limit as usize {
            return Err(SendError::PushLimit);
        }
        let next = u64::from(self.last_pushed_stream.get()) + 2;
        if next > u64::from(StreamId::MAX.get()) {
            return Err(SendError::StreamIdsExhausted);
        }
        let fields: Vec<HeaderField> = fields
            .into_iter()
            .map(|(n, v)| {
                HeaderField::new(Bytes::copy_from_slice(n.as_ref()), Bytes::copy_from_slice(v.as_ref()))
            })
            .collect();
        let request = headers::request(fields.clone(), false).map_err(|_| SendError::InvalidPushRequest)?;
        let safe = *request.method() == Method::GET || *request.method() == Method::HEAD;
        if !safe || request.content_length().is_some_and(|length| length > 0) {
            return Err(SendError::InvalidPushRequest);
        }
        let promised = StreamId::new(next as u32);
        let block = self.encode_block(b"", fields.iter().map(|f| (&f.name, &f.value)));
        self.write_header_block(stream, block, false, Some(promised));
        let mut pushed = Stream::new(promised, self.peer.initial_window_size, 0);
        pushed.recv = Recv::Closed;
        pushed.pushed = true;
        pushed.reported = true;
        pushed.accepted = true;
        self.streams.insert(promised, pushed);
        self.pushed_streams += 1;
        self.last_pushed_stream = promised;
        Ok(promised)
    }

    /// Resets `stream` with `reason` (RST_STREAM): the application gives up on it, e.g.
    /// `CANCEL`, or `NO_ERROR` after a complete response to stop an unwanted request body.
    pub fn reset(&mut self, stream: StreamId, reason: Reason) -> Result<(), SendError> {
        self.open_stream(stream)?;
        RstStreamFrame::new(stream, reason).encode(self.output.tail());
        self.output.commit();
        self.remove_stream(stream);
        self.remember(stream, Closed::Reset);
        self.check_done();
        Ok(())
    }

    /// The application consumed `len` bytes of [`Event::Data`](crate::Event::Data) on
    /// `stream`: the client may send that much more (on the connection only, after
    /// [`stop_receiving`](Self::stop_receiving)). WINDOW_UPDATE frames go out once half a
    /// window has been consumed. On a stream that is already gone this does nothing (its
    /// unconsumed bytes were credited back when it closed). `Err` when `len` is more than
    /// was received and not yet released.
    pub fn release_capacity(&mut self, stream: StreamId, len: usize) -> Result<(), SendError> {
        if self.closed {
            return Ok(());
        }
        let Some(state) = self.streams.get_mut(&stream) else { return Ok(()) };
        let len = u32::try_from(len).map_err(|_| SendError::WrongState(stream))?;
        if u64::from(len) > state.unreleased {
            return Err(SendError::WrongState(stream));
        }
        state.unreleased -= u64::from(len);
        if state.recv == Recv::Open && !state.body_unwanted {
            state.recv_window.release(len);
            if let Some(increment) = state.recv_window.take_update() {
                WindowUpdateFrame::new(stream, increment).encode(self.output.tail());
                self.output.commit();
            }
        }
        self.release_connection(len);
        Ok(())
    }

    /// The caller reads no more of `stream`'s request body (its response is complete
    /// or abandoned). If the client is still sending, the stream is reset with
    /// RST_STREAM(NO_ERROR) once the response's END_STREAM has been written (RFC 9113
    /// §8.1): a complete response lets the client stop uploading. Until then the
    /// client's DATA is credited to the connection window only, as it is released.
    /// Does nothing for a stream whose client side has ended or that is gone.
    pub fn stop_receiving(&mut self, stream: StreamId) {
        let Some(state) = self.streams.get_mut(&stream) else { return };
        if state.recv == Recv::Open {
            state.body_unwanted = true;
            self.finish_if_closed(stream);
        }
    }

    /// Starts a graceful shutdown (RFC 9113 §6.8): GOAWAY with the largest stream id and a
    /// PING now; when the PING is acknowledged (or [`Config::ping_timeout`](crate::Config)
    /// passes), GOAWAY with the last stream opened. Streams up to it finish; later ones are
    /// refused; the connection finishes when the last stream closes. Does nothing when
    /// already shutting down or closed.
    pub fn start_shutdown(&mut self) {
        if self.closed || self.shutdown != Shutdown::None {
            return;
        }
        if self.preface_read < PREFACE_LEN || !self.got_settings {
            // The client never got to open a stream: one GOAWAY is enough.
            self.send_final_goaway();
            return;
        }
        GoAwayFrame::new(StreamId::MAX, Reason::NO_ERROR).encode(self.output.tail());
        PingFrame::new(SHUTDOWN_PING).encode(self.output.tail());
        self.shutdown_timer = Some(Timer::new(self.output.commit()));
        self.shutdown = Shutdown::Draining;
    }

    /// Closes the connection now with GOAWAY(`reason`), as a connection error
    /// would: for limits the caller enforces itself (say, applications still
    /// running for streams the client reset — rapid reset where requests are
    /// accepted at once). Every open stream is reported reset; write what
    /// [`poll_transmit`](Self::poll_transmit) returns, then close the transport.
    pub fn abort(&mut self, reason: Reason) {
        self.connection_error(reason, ErrorKind::Aborted);
    }

    /// Whether a graceful shutdown has started.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown != Shutdown::None
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::Config;

    const PUSHED: [(&str, &str); 3] = [(":method", "GET"), (":scheme", "https"), (":path", "/a")];

    #[test]
    fn push_stream_ids_run_out() {
        let mut conn = Connection::from_h2c_upgrade(Config::default(), Instant::now(), &[]).unwrap();
        conn.last_pushed_stream = StreamId::new(StreamId::MAX.get() - 3);
        assert_eq!(conn.push_promise(StreamId::new(1), PUSHED), Ok(StreamId::new(StreamId::MAX.get() - 1)));
        assert_eq!(conn.push_promise(StreamId::new(1), PUSHED), Err(SendError::StreamIdsExhausted));
    }
}
