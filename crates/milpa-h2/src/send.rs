//! The send path: header blocks (HPACK-encoded in wire order) and the scheduler that cuts
//! DATA frames from the streams' queues as flow control allows, by RFC 9218 priority and
//! round robin.

use bytes::Bytes;

use crate::connection::Connection;
use crate::event::Event;
use crate::frame::{ContinuationFrame, FrameHeader, HeadersFrame, PushPromiseFrame, StreamId, flags, kind};
use crate::headers;
use crate::stream::Send;

/// `poll_transmit` fills the output with up to this many bytes of stream frames at a time.
const FILL_BUDGET: usize = 64 * 1024;

/// Length of the promised stream identifier in front of a PUSH_PROMISE block.
const PROMISED_ID_LEN: usize = 4;

impl Connection {
    /// Encodes a header block: `:status` when given, then `fields` (already checked; the
    /// connection-specific ones are left out). Encode only what goes into the output right
    /// away: HPACK blocks must reach the wire in the order they were encoded.
    pub(crate) fn encode_block<N, V>(
        &mut self,
        status: &[u8],
        fields: impl IntoIterator<Item = (N, V)>,
    ) -> Bytes
    where
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        // One buffer serves every block: each is copied into the output and dropped
        // before the next, so the buffer's storage is reused rather than reallocated.
        let mut dst = std::mem::take(&mut self.block_buffer);
        {
            let mut block = self.encoder.block(&mut dst);
            if !status.is_empty() {
                block.field(b":status", status);
            }
            for (name, value) in fields {
                let name = name.as_ref();
                if !headers::is_connection_specific(name) {
                    block.field(name, value.as_ref());
                }
            }
        }
        let block = dst.split().freeze();
        self.block_buffer = dst;
        block
    }

    /// Queues a header block as HEADERS (or PUSH_PROMISE when `promised`) plus as many
    /// CONTINUATION frames as the client's SETTINGS_MAX_FRAME_SIZE requires, back to back.
    pub(crate) fn write_header_block(
        &mut self,
        stream_id: StreamId,
        mut block: Bytes,
        end_stream: bool,
        promised: Option<StreamId>,
    ) {
        let max = self.peer.max_frame_size as usize;
        let room = if promised.is_some() { max - PROMISED_ID_LEN } else { max };
        let first = block.split_to(block.len().min(room));
        let end_headers = block.is_empty();
        let dst = self.output.tail();
        match promised {
            None => HeadersFrame {
                stream_id,
                header_block: first,
                end_stream,
                end_headers,
                priority: None,
                padding: None,
            }
            .encode(dst),
            Some(promised_id) => {
                PushPromiseFrame { stream_id, promised_id, header_block: first, end_headers, padding: None }
                    .encode(dst);
            }
        }
        while !block.is_empty() {
            let chunk = block.split_to(block.len().min(max));
            ContinuationFrame::new(stream_id, chunk, block.is_empty()).encode(dst);
        }
        self.output.commit();
    }

    /// Cuts stream frames into the output, up to a budget. `false` when nothing could be
    /// sent (nothing queued, or every queued stream waits for window).
    pub(crate) fn fill(&mut self) -> bool {
        if self.closed {
            return false;
        }
        let start = self.output.len();
        while self.output.len() - start < FILL_BUDGET {
            let Some(position) = self.pick() else { break };
            self.emit(position);
        }
        self.output.len() > start
    }

    /// The position in the ready list of the stream to serve next: the lowest
    /// [`sort_key`](crate::stream::Stream::sort_key) among the streams that can send now.
    fn pick(&self) -> Option<usize> {
        let window = self.send_window.available();
        let mut best: Option<((u8, u8, u64), usize)> = None;
        for (position, id) in self.ready.iter().enumerate() {
            let Some(stream) = self.streams.get(id) else { continue };
            if !stream.can_send(window) {
                continue;
            }
            let key = stream.sort_key(position);
            if best.is_none_or(|(best, _)| key < best) {
                best = Some((key, position));
            }
        }
        best.map(|(_, position)| position)
    }

    /// Writes one frame of the stream at `position` in the ready list: DATA, trailers, or a
    /// bare END_STREAM. The stream goes to the back of the list if it has more.
    fn emit(&mut self, position: usize) {
        let Some(id) = self.ready.remove(position) else { return };
        let connection_window = self.send_window.available();
        let max_frame = self.peer.max_frame_size as usize;
        let cap = self.config.max_send_buffer_size;
        let mut pieces = std::mem::take(&mut self.scratch);
        let Some(stream) = self.streams.get_mut(&id) else { return };
        stream.in_ready = false;
        let mut trailers = None;
        if stream.queued > 0 {
            let max = connection_window.min(stream.send_window.available()).min(max_frame);
            let len = stream.take_data(max, &mut pieces);
            stream.send_window.consume(len);
            let end = stream.queued == 0 && stream.send == Send::Done && stream.trailers.is_none();
            stream.end_sent |= end;
            let bits = if end { flags::END_STREAM } else { 0 };
            FrameHeader::new(kind::DATA, bits, id, len as u32).encode(self.output.tail());
            self.output.commit();
            for piece in pieces.drain(..) {
                self.output.put_bytes(piece);
            }
            self.send_window.consume(len);
        } else if let Some(fields) = stream.trailers.take() {
            stream.end_sent = true;
            trailers = Some(fields);
        } else {
            stream.end_sent = true;
            FrameHeader::new(kind::DATA, flags::END_STREAM, id, 0).encode(self.output.tail());
            self.output.commit();
        }
        self.scratch = pieces;
        if let Some(fields) = trailers {
            let block = self.encode_block(b"", fields.iter().map(|(n, v)| (n, v)));
            self.write_header_block(id, block, true, None);
        }
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if stream.blocked && stream.queued < cap {
            stream.blocked = false;
            self.events.push_back(Event::Writable { stream: id });
        }
        self.make_ready(id);
        self.finish_if_closed(id);
    }
}
