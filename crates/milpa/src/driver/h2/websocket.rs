//! WebSockets over HTTP/2 (RFC 8441): an extended CONNECT stream whose DATA
//! frames carry the WebSocket's bytes, beside the connection's other streams and
//! under the same flow control.

use std::collections::VecDeque;
use std::task::Context;
use std::time::Instant;

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};
use http::{StatusCode, Version};
use milpa_h2::SendError;
use milpa_h2::frame::{Reason, StreamId};

use super::{Driver, HeldBytes, Outcome, Target, lowercase_names, scope_headers};
use crate::app::{HeaderList, ReceiveEvent, Scope};
use crate::driver::call_app;
use crate::driver::ws::{self, Session};
use crate::exchange::{Exchange, Kind};
use crate::runtime::Runtime;

/// A stream carrying an accepted WebSocket.
pub(super) struct Socket {
    pub(super) session: Session,
    /// DATA received while the application was behind: fed (and its window
    /// released) as it catches up. The stream's window bounds it.
    held: HeldBytes,
    /// The client ended its side (END_STREAM); reported after `held` is fed.
    held_eof: bool,
    /// WebSocket output the stream's send buffer refused, sent first when it has room.
    blocked: VecDeque<Bytes>,
    /// Scratch list for the session's output.
    out: Vec<Bytes>,
}

impl Socket {
    /// Nothing refused by the stream's send buffer waits.
    pub(super) fn blocked_is_empty(&self) -> bool {
        self.blocked.is_empty()
    }
}

impl<R: Runtime, S: AsyncRead + AsyncWrite + Unpin> Driver<R, S> {
    /// An extended CONNECT: a valid WebSocket handshake goes to the application as a
    /// WebSocket scope; anything else (a `:protocol` other than `websocket`
    /// included) is refused here with a 400.
    pub(super) fn start_websocket(
        &mut self,
        stream: StreamId,
        request: milpa_h2::Request,
        end_stream: bool,
        now: Instant,
    ) {
        let headers = request.headers().iter().map(|field| (&field.name[..], &field.value[..]));
        let offer = match milpa_ws::handshake::validate_h2(request.method(), request.protocol(), headers) {
            Ok(offer) if !end_stream => offer,
            Ok(_) => {
                self.refuse(stream, StatusCode::BAD_REQUEST, &[]);
                return;
            }
            Err(rejection) => {
                tracing::debug!(reason = rejection.reason, %stream, "websocket handshake refused");
                let fields: Vec<(&[u8], &[u8])> =
                    rejection.headers.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())).collect();
                self.refuse(stream, rejection.status, &fields);
                return;
            }
        };
        let Target { raw_path, query_string } = Target::of(&request);
        let authority = request.authority_bytes().unwrap_or_default();
        let mut record = self.record(&request, &raw_path, &query_string);
        if let Some(record) = &mut record {
            record.scheme = ws::scheme(&self.ctx);
        }
        let headers = scope_headers(&request, &authority);
        let scope = ws::scope(
            &self.ctx,
            Version::HTTP_2,
            raw_path,
            query_string,
            headers,
            offer.subprotocols.clone(),
            self.peer,
            self.tls.clone(),
        );
        let (exchange, receiver, sender) = Exchange::new(self.ctx.config.max_app_queue_size, Kind::WebSocket);
        exchange.push(ReceiveEvent::WebSocketConnect);
        // The handshake has no body: DATA before the answer is the client jumping the gun.
        self.insert_stream(stream, exchange, false, false, authority, record, now);
        let Some(task) = self.streams.get_mut(&stream) else { return };
        // Not a request body: the session's own timers watch the peer.
        task.body_deadline = None;
        task.websocket = Some(Box::new(offer));
        task.task = Some(call_app(&*self.ctx.app, Scope::WebSocket(scope), receiver, sender));
    }

    fn refuse(&mut self, stream: StreamId, status: StatusCode, fields: &[(&[u8], &[u8])]) {
        let date = self.date();
        let fields = fields.iter().copied().chain([(&b"date"[..], &date[..])]);
        if self.conn.send_response(stream, status, fields, true).is_err() {
            let _ = self.conn.reset(stream, Reason::PROTOCOL_ERROR);
        }
        self.conn.stop_receiving(stream);
    }

    /// The application accepted: a 200 without END_STREAM, and the stream now
    /// carries the WebSocket.
    pub(super) fn accept_websocket(
        &mut self,
        id: StreamId,
        subprotocol: Option<String>,
        mut extra: HeaderList,
    ) -> Outcome {
        let Some(stream) = self.streams.get_mut(&id) else { return Outcome::Finished };
        lowercase_names(&mut extra);
        let Some(offer) = stream.websocket.take() else { return Outcome::Continue };
        let accepted = offer.accept(subprotocol.as_deref(), self.ctx.config.websocket_compression);
        let fields = accepted
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
            .chain(extra.iter().map(|(n, v)| (&n[..], &v[..])));
        if let Err(error) = self.conn.send_response(id, StatusCode::OK, fields, false) {
            return self.fail(id, &error);
        }
        let Some(mut stream) = self.streams.remove(&id) else { return Outcome::Finished };
        if let (Some(log), Some(record)) = (&self.ctx.request_log, stream.record.take()) {
            log.finish(record, Some(StatusCode::OK), stream.started, stream.exchange.forwarded_client());
        }
        let ws =
            milpa_ws::Connection::new(milpa_ws::Role::Server, self.ctx.config.websocket(), accepted.deflate);
        let session = Session::new(
            ws,
            stream.exchange,
            stream.task.take(),
            crate::driver::ws::end_code(stream.ended.as_ref()),
            self.ctx.config.websocket_ping_interval,
            self.ctx.metrics.as_ref().map(|metrics| metrics.websocket()),
            Instant::now(),
        );
        let socket = Socket {
            session,
            held: std::mem::take(&mut stream.early),
            held_eof: stream.early_eof,
            blocked: VecDeque::new(),
            out: Vec::new(),
        };
        self.sockets.insert(id, socket);
        self.feed(id);
        Outcome::Finished
    }

    /// DATA (or its end) on a WebSocket stream: fed to the session when the
    /// application keeps up, else held, its window not released.
    pub(super) fn socket_data(&mut self, id: StreamId, data: Bytes, end_stream: bool) {
        let Some(socket) = self.sockets.get_mut(&id) else { return };
        if !data.is_empty() {
            socket.held.push(data);
        }
        socket.held_eof |= end_stream;
        self.feed(id);
    }

    fn feed(&mut self, id: StreamId) -> bool {
        let Some(socket) = self.sockets.get_mut(&id) else { return false };
        let mut progress = false;
        while socket.session.wants_read() {
            let Some(data) = socket.held.pop() else { break };
            socket.session.receive(&data);
            let _ = self.conn.release_capacity(id, data.len());
            progress = true;
        }
        if socket.held.is_empty() && std::mem::take(&mut socket.held_eof) {
            socket.session.receive_eof();
            progress = true;
        }
        progress
    }

    /// Moves every WebSocket stream along: input held for the application, the
    /// application's messages out as the stream's send buffer allows, and the end
    /// once the close handshake is done.
    pub(super) fn poll_sockets(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let ids: Vec<StreamId> = self.sockets.keys().copied().collect();
        let mut progress = false;
        for id in ids {
            progress |= self.feed(id);
            progress |= self.poll_socket(id, cx, now);
        }
        progress
    }

    fn poll_socket(&mut self, id: StreamId, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = false;
        loop {
            let room = self.output_room() && self.conn.send_capacity(id).is_ok_and(|room| room > 0);
            let Some(socket) = self.sockets.get_mut(&id) else { return progress };
            let stepped = socket.session.step(cx, now, room && socket.blocked.is_empty());
            // Output stays inside the WebSocket machine (which bounds its pongs)
            // until what the stream refused has gone.
            if socket.blocked.is_empty() {
                socket.session.poll_transmit(&mut socket.out);
                socket.blocked.extend(socket.out.drain(..));
            }
            let mut sent = false;
            while let Some(piece) = socket.blocked.pop_front() {
                match self.conn.send_data(id, piece.clone(), false) {
                    Ok(()) => sent = true,
                    Err(SendError::BufferFull(_)) => {
                        socket.blocked.push_front(piece);
                        break;
                    }
                    Err(error) => {
                        tracing::debug!(%error, %id, "websocket stream closed under it");
                        socket.blocked.clear();
                        break;
                    }
                }
            }
            if socket.session.timed_out() && !socket.blocked.is_empty() {
                // A peer that stopped reading and never closed: drop the stream.
                let _ = self.conn.reset(id, Reason::CANCEL);
                if let Some(socket) = self.sockets.remove(&id) {
                    socket.session.finish(&self.rt, &self.ctx.tracker);
                }
                return true;
            }
            if socket.blocked.is_empty() && socket.session.is_finished() {
                let _ = self.conn.send_data(id, Bytes::new(), true);
                // Anything more the client sends is for nobody.
                self.conn.stop_receiving(id);
                if let Some(socket) = self.sockets.remove(&id) {
                    socket.session.finish(&self.rt, &self.ctx.tracker);
                }
                return true;
            }
            if !(stepped || sent) {
                return progress;
            }
            progress = true;
        }
    }
}
