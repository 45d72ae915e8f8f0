use super::*;

fn h<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
    pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))
}

const GOOD: &[(&str, &str)] = &[
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "keep-alive, Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Protocol", "chat, superchat"),
];

fn header<'a>(a: &'a Accepted, name: &HeaderName) -> Option<&'a str> {
    a.headers.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.to_str().ok())
}

#[test]
fn rfc6455_example_key() {
    assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn http1_accept() {
    let offer = validate_http1(&Method::GET, h(GOOD)).expect("valid");
    assert_eq!(offer.key.as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_eq!(offer.subprotocols, ["chat", "superchat"]);
    let a = offer.accept(Some("chat"), true);
    assert_eq!(header(&a, &UPGRADE), Some("websocket"));
    assert_eq!(header(&a, &CONNECTION), Some("Upgrade"));
    assert_eq!(header(&a, &SEC_WEBSOCKET_ACCEPT), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    assert_eq!(header(&a, &SEC_WEBSOCKET_PROTOCOL), Some("chat"));
    assert_eq!(header(&a, &SEC_WEBSOCKET_EXTENSIONS), None);
    assert_eq!(a.deflate, None);
}

#[test]
fn header_names_any_case_and_lists() {
    let offer = validate_http1(
        &Method::GET,
        h(&[
            ("UPGRADE", "WebSocket"),
            ("connection", "upgrade"),
            ("sec-websocket-key", " dGhlIHNhbXBsZSBub25jZQ== "),
            ("SEC-WEBSOCKET-VERSION", "13"),
            ("sec-websocket-protocol", "a"),
            ("Sec-WebSocket-Protocol", "b , c"),
        ]),
    )
    .expect("valid");
    assert_eq!(offer.subprotocols, ["a", "b", "c"]);
}

#[test]
fn http1_rejections() {
    let base: Vec<(&str, &str)> = GOOD.to_vec();
    let without =
        |name: &str| -> Vec<(&str, &str)> { base.iter().copied().filter(|(n, _)| *n != name).collect() };
    let with = |name: &'static str, value: &'static str| -> Vec<(&str, &str)> {
        let mut v = without(name);
        v.push((name, value));
        v
    };
    let status =
        |headers: &[(&str, &str)]| validate_http1(&Method::GET, h(headers)).map(|_| ()).map_err(|r| r.status);
    assert_eq!(
        validate_http1(&Method::POST, h(GOOD)).map(|_| ()).map_err(|r| r.status),
        Err(StatusCode::BAD_REQUEST)
    );
    assert_eq!(status(&without("Upgrade")), Err(StatusCode::BAD_REQUEST));
    assert_eq!(status(&with("Upgrade", "h2c")), Err(StatusCode::BAD_REQUEST));
    assert_eq!(status(&without("Connection")), Err(StatusCode::BAD_REQUEST));
    assert_eq!(status(&without("Sec-WebSocket-Key")), Err(StatusCode::BAD_REQUEST));
    assert_eq!(status(&with("Sec-WebSocket-Key", "c2hvcnQ=")), Err(StatusCode::BAD_REQUEST));
    assert_eq!(status(&with("Sec-WebSocket-Key", "not base64!!")), Err(StatusCode::BAD_REQUEST));
    let mut two_keys = base.clone();
    two_keys.push(("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="));
    assert_eq!(status(&two_keys), Err(StatusCode::BAD_REQUEST));
    assert_eq!(status(&with("Sec-WebSocket-Protocol", "a b")), Err(StatusCode::BAD_REQUEST));
    assert_eq!(
        status(&with("Sec-WebSocket-Extensions", "permessage-deflate;;")),
        Err(StatusCode::BAD_REQUEST)
    );
    let r = validate_http1(&Method::GET, h(&with("Sec-WebSocket-Version", "8"))).expect_err("wrong version");
    assert_eq!(r.status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(r.headers, vec![(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"))]);
    assert_eq!(status(&without("Sec-WebSocket-Version")), Err(StatusCode::UPGRADE_REQUIRED));
}

#[test]
fn deflate_negotiation_picks_first_acceptable() {
    let mut headers = GOOD.to_vec();
    headers.push((
        "Sec-WebSocket-Extensions",
        "permessage-deflate; server_max_window_bits=7, permessage-deflate; foo=1",
    ));
    headers.push((
        "Sec-WebSocket-Extensions",
        "x-unknown, permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate",
    ));
    let offer = validate_http1(&Method::GET, h(&headers)).expect("valid");
    assert_eq!(offer.extensions.len(), 5);
    let a = offer.accept(None, true);
    assert_eq!(header(&a, &SEC_WEBSOCKET_EXTENSIONS), Some("permessage-deflate; server_max_window_bits=10"));
    assert_eq!(header(&a, &SEC_WEBSOCKET_PROTOCOL), None);
    let d = a.deflate.expect("deflate");
    assert_eq!(d.server_max_window_bits, 10);
    assert_eq!(d.client_max_window_bits, 15);
    let a = offer.accept(None, false);
    assert!(a.deflate.is_none());
    assert_eq!(header(&a, &SEC_WEBSOCKET_EXTENSIONS), None);
}

#[test]
fn autobahn_offer_lists() {
    for (offer, response) in [
        ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
        (
            "permessage-deflate; client_no_context_takeover; client_max_window_bits",
            "permessage-deflate; client_no_context_takeover",
        ),
        (
            "permessage-deflate; server_no_context_takeover; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover",
        ),
        (
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=8",
        ),
        (
            "permessage-deflate; server_max_window_bits=15; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=15",
        ),
        (
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits, permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=9",
        ),
    ] {
        let mut headers = GOOD.to_vec();
        headers.push(("Sec-WebSocket-Extensions", offer));
        let a = validate_http1(&Method::GET, h(&headers)).expect("valid").accept(None, true);
        assert_eq!(header(&a, &SEC_WEBSOCKET_EXTENSIONS), Some(response), "{offer}");
    }
}

#[test]
fn h2_extended_connect() {
    let headers = [
        ("sec-websocket-version", "13"),
        ("sec-websocket-extensions", "permessage-deflate"),
        ("sec-websocket-protocol", "chat"),
    ];
    let offer = validate_h2(&Method::CONNECT, Some(b"websocket"), h(&headers)).expect("valid");
    assert_eq!(offer.key, None);
    let a = offer.accept(Some("chat"), true);
    assert_eq!(header(&a, &UPGRADE), None);
    assert_eq!(header(&a, &SEC_WEBSOCKET_ACCEPT), None);
    assert_eq!(header(&a, &SEC_WEBSOCKET_PROTOCOL), Some("chat"));
    assert_eq!(header(&a, &SEC_WEBSOCKET_EXTENSIONS), Some("permessage-deflate"));
    assert_eq!(a.deflate, Some(DeflateConfig::default()));

    let status = |m: &Method, p: Option<&[u8]>, hs: &[(&str, &str)]| {
        validate_h2(m, p, h(hs)).map(|_| ()).map_err(|r| r.status)
    };
    assert_eq!(status(&Method::GET, Some(b"websocket"), &headers), Err(StatusCode::BAD_REQUEST));
    assert_eq!(status(&Method::CONNECT, None, &headers), Err(StatusCode::BAD_REQUEST));
    assert_eq!(status(&Method::CONNECT, Some(b"webtransport"), &headers), Err(StatusCode::BAD_REQUEST));
    assert_eq!(
        status(&Method::CONNECT, Some(b"websocket"), &[("sec-websocket-version", "12")]),
        Err(StatusCode::UPGRADE_REQUIRED)
    );
}

fn response_pairs(a: &Accepted) -> Vec<(Vec<u8>, Vec<u8>)> {
    a.headers.iter().map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
}

#[test]
fn client_server_handshake() {
    for deflate in [false, true] {
        let client = ClientHandshake::new(&["chat", "v2"], deflate);
        let req: Vec<(Vec<u8>, Vec<u8>)> = client
            .request_headers()
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        let offer = validate_http1(&Method::GET, req.iter().map(|(n, v)| (n.as_slice(), v.as_slice())))
            .expect("our request is valid");
        assert_eq!(offer.key.as_deref(), Some(client.key()));
        let accepted = offer.accept(Some("v2"), true);
        let resp = response_pairs(&accepted);
        let done = client
            .verify_response(
                StatusCode::SWITCHING_PROTOCOLS,
                resp.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
            )
            .expect("valid answer");
        assert_eq!(done.subprotocol.as_deref(), Some("v2"));
        assert_eq!(done.deflate, accepted.deflate);
        assert_eq!(done.deflate.is_some(), deflate);
    }
}

#[test]
fn client_rejects_bad_answers() {
    let client = ClientHandshake::new(&["chat"], false);
    let accept = accept_key(client.key());
    let ok =
        vec![("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept.as_str())];
    assert!(client.verify_response(StatusCode::SWITCHING_PROTOCOLS, h(&ok)).is_ok());
    assert!(client.verify_response(StatusCode::OK, h(&ok)).is_err());
    let mut wrong = ok.clone();
    wrong[2].1 = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    assert!(client.verify_response(StatusCode::SWITCHING_PROTOCOLS, h(&wrong)).is_err());
    let mut proto = ok.clone();
    proto.push(("Sec-WebSocket-Protocol", "other"));
    assert!(client.verify_response(StatusCode::SWITCHING_PROTOCOLS, h(&proto)).is_err());
    let mut ext = ok.clone();
    ext.push(("Sec-WebSocket-Extensions", "permessage-deflate"));
    assert!(client.verify_response(StatusCode::SWITCHING_PROTOCOLS, h(&ext)).is_err());
    assert!(client.verify_response(StatusCode::SWITCHING_PROTOCOLS, h(&ok[..2])).is_err());
}
