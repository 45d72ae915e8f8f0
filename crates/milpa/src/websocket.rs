//! A WebSocket as an object: the ASGI `websocket.*` events behind `accept`,
//! `recv`, `send` and `close`, for applications that need no more control.

use bytes::Bytes;

use crate::app::{HeaderList, Message, ReceiveEvent, SendEvent};
use crate::exchange::{Receiver, SendError, Sender};

/// An accepted WebSocket. Get one with [`WebSocket::accept`] from the receiver and
/// sender of a [`Scope::WebSocket`](crate::Scope::WebSocket).
#[derive(Debug)]
pub struct WebSocket {
    receive: Receiver,
    send: Sender,
    close: Option<(u16, String)>,
}

impl WebSocket {
    /// Waits for the client's handshake and accepts it with `subprotocol` (one of the
    /// scope's `subprotocols`, or `None`). Fails with `Disconnected` if the client left.
    pub async fn accept(
        receive: Receiver,
        send: Sender,
        subprotocol: Option<String>,
    ) -> Result<Self, SendError> {
        Self::accept_with_headers(receive, send, subprotocol, Vec::new()).await
    }

    /// As [`accept`](Self::accept), adding `headers` to the handshake's response.
    pub async fn accept_with_headers(
        mut receive: Receiver,
        mut send: Sender,
        subprotocol: Option<String>,
        headers: HeaderList,
    ) -> Result<Self, SendError> {
        match receive.receive().await {
            Some(ReceiveEvent::WebSocketConnect) => {}
            _ => return Err(SendError::Disconnected),
        }
        send.send(SendEvent::WebSocketAccept { subprotocol, headers }).await?;
        Ok(Self { receive, send, close: None })
    }

    /// The next message; `None` once the WebSocket is closed (then
    /// [`close_code`](Self::close_code) says how).
    pub async fn recv(&mut self) -> Option<Message> {
        loop {
            match self.receive.receive().await? {
                ReceiveEvent::WebSocketReceive(message) => return Some(message),
                ReceiveEvent::WebSocketDisconnect { code, reason } => {
                    self.close = Some((code, reason));
                    return None;
                }
                _ => {}
            }
        }
    }

    /// Sends a message, waiting while the client is slow to read it.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), SendError> {
        self.send.send(SendEvent::WebSocketSend(message.into())).await
    }

    /// Starts the close handshake with `code` (1000 for a normal close) and `reason`.
    pub async fn close(mut self, code: u16, reason: &str) -> Result<(), SendError> {
        self.send.send(SendEvent::WebSocketClose { code, reason: reason.to_owned() }).await
    }

    /// How the WebSocket closed (code and reason), once [`recv`](Self::recv) returned `None`.
    pub fn close_code(&self) -> Option<(u16, &str)> {
        self.close.as_ref().map(|(code, reason)| (*code, reason.as_str()))
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Self {
        Self::Binary(data)
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Self::Binary(Bytes::from(data))
    }
}
