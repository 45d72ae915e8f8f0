//! Cross-check against an independent implementation (tungstenite, no deflate).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use bytes::Bytes;
use common::*;
use milpa_ws::{Config, Connection, Event, Role};
use tungstenite::Message;
use tungstenite::protocol::{CloseFrame, Role as TRole, WebSocket, frame::coding::CloseCode};

#[derive(Default)]
struct Pipe {
    input: VecDeque<u8>,
    output: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.input.read(buf)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn messages(sizes: &[usize]) -> Vec<(String, Vec<u8>)> {
    sizes
        .iter()
        .map(|&n| {
            let text: String = "héllo wörld 𝄞 ".chars().cycle().take(n).collect();
            let bin: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
            (text, bin)
        })
        .collect()
}

const SIZES: &[usize] = &[0, 1, 125, 126, 1000, 65535, 65536, 200_000];

#[test]
fn tungstenite_client_to_our_server() {
    let mut ws = WebSocket::from_raw_socket(Pipe::default(), TRole::Client, None);
    let mut server = Connection::new(Role::Server, Config::default(), None);
    let msgs = messages(SIZES);
    for (text, bin) in &msgs {
        ws.send(Message::Text(text.as_str().into())).unwrap();
        ws.send(Message::Binary(Bytes::from(bin.clone()))).unwrap();
    }
    ws.send(Message::Ping(Bytes::from_static(b"are you there"))).unwrap();
    let wire = std::mem::take(&mut ws.get_mut().output);
    for chunk in wire.chunks(1000) {
        server.receive(chunk);
    }
    let got = events(&mut server);
    let mut expected = Vec::new();
    for (text, bin) in &msgs {
        expected.push(Event::Text(text.clone()));
        expected.push(Event::Binary(Bytes::from(bin.clone())));
    }
    expected.push(Event::Ping(Bytes::from_static(b"are you there")));
    assert_eq!(got, expected);

    // Our answers, read by tungstenite.
    for (text, bin) in &msgs {
        server.send_text(text).unwrap();
        server.send_binary(bin).unwrap();
    }
    server.close(Some(1001), "bye").unwrap();
    let wire = transmit(&mut server);
    ws.get_mut().input.extend(wire);
    assert_eq!(ws.read().unwrap(), Message::Pong(Bytes::from_static(b"are you there")));
    for (text, bin) in &msgs {
        assert_eq!(ws.read().unwrap(), Message::Text(text.as_str().into()));
        assert_eq!(ws.read().unwrap(), Message::Binary(Bytes::from(bin.clone())));
    }
    match ws.read().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Away);
            assert_eq!(frame.reason.as_str(), "bye");
        }
        other => panic!("{other:?}"),
    }
    // tungstenite queued its echo; flush it to us.
    let _ = ws.flush();
    let wire = std::mem::take(&mut ws.get_mut().output);
    server.receive(&wire);
    assert_eq!(events(&mut server), vec![Event::Close { code: Some(1001), reason: "bye".into() }]);
    assert!(server.is_closed());
}

#[test]
fn our_client_to_tungstenite_server() {
    let mut ws = WebSocket::from_raw_socket(Pipe::default(), TRole::Server, None);
    let mut client = Connection::new(Role::Client, Config::default(), None);
    let msgs = messages(SIZES);
    for (text, bin) in &msgs {
        client.send_text(text).unwrap();
        client.send_binary(bin).unwrap();
    }
    client.close(Some(3000), "done").unwrap();
    ws.get_mut().input.extend(transmit(&mut client));
    for (text, bin) in &msgs {
        assert_eq!(ws.read().unwrap(), Message::Text(text.as_str().into()));
        assert_eq!(ws.read().unwrap(), Message::Binary(Bytes::from(bin.clone())));
    }
    assert!(matches!(ws.read().unwrap(), Message::Close(Some(_))));
    let _ = ws.flush();
    client.receive(&std::mem::take(&mut ws.get_mut().output));
    assert_eq!(events(&mut client), vec![Event::Close { code: Some(3000), reason: "done".into() }]);
    assert!(client.is_closed());
}

#[test]
fn tungstenite_close_frame_with_reason() {
    let mut ws = WebSocket::from_raw_socket(Pipe::default(), TRole::Client, None);
    ws.close(Some(CloseFrame { code: CloseCode::Normal, reason: "finished".into() })).unwrap();
    let _ = ws.flush();
    let mut server = Connection::new(Role::Server, Config::default(), None);
    server.receive(&std::mem::take(&mut ws.get_mut().output));
    assert_eq!(events(&mut server), vec![Event::Close { code: Some(1000), reason: "finished".into() }]);
    assert_eq!(transmit(&mut server), [0x88, 2, 0x03, 0xe8]);
}
