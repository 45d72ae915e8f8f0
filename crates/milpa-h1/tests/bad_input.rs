//! Every malformed or hostile request gets its exact answer, with `Connection: close`,
//! and nothing after it is parsed.

mod common;

use common::*;
use milpa_h1::ErrorKind as K;

#[test]
fn content_length_with_transfer_encoding_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        K::ConflictingFraming,
        400,
    );
}

#[test]
fn transfer_encoding_before_content_length_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        K::ConflictingFraming,
        400,
    );
}

#[test]
fn duplicate_content_length_with_different_values_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        K::InvalidContentLength,
        400,
    );
}

#[test]
fn duplicate_content_length_with_equal_values_is_accepted() {
    let t =
        run_both_ways(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(t.error(), None);
    assert_eq!(t.body(), b"hello");
}

#[test]
fn content_length_forms_that_are_not_plain_decimal_are_400() {
    for value in ["+5", "0x5", "5,6", "-1", "18446744073709551616", "5 5", "", "five", "5.0"] {
        let input = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\nhello");
        let t = run_both_ways(input.as_bytes());
        assert_eq!(t.error(), Some((K::InvalidContentLength, Some(400))), "Content-Length: {value:?}");
    }
}

#[test]
fn transfer_encoding_not_ending_in_chunked_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        K::InvalidTransferEncoding,
        400,
    );
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        K::InvalidTransferEncoding,
        400,
    );
}

#[test]
fn chunked_twice_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        K::InvalidTransferEncoding,
        400,
    );
}

#[test]
fn unknown_coding_before_chunked_is_501() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        K::UnsupportedTransferEncoding,
        501,
    );
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x-custom, chunked\r\n\r\n",
        K::UnsupportedTransferEncoding,
        501,
    );
}

#[test]
fn transfer_encoding_on_http_1_0_is_400() {
    assert_rejected(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        K::InvalidTransferEncoding,
        400,
    );
}

#[test]
fn empty_transfer_encoding_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n",
        K::InvalidTransferEncoding,
        400,
    );
}

#[test]
fn chunk_size_overflow_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
        K::InvalidChunk,
        400,
    );
}

#[test]
fn chunk_size_of_sixteen_hex_digits_is_accepted_as_a_size() {
    let t = run_both_ways(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n000000000000000A\r\n0123456789\r\n0\r\n\r\n");
    assert_eq!(t.error(), None, "{:?}", t.events);
    assert_eq!(t.body(), b"0123456789");
}

#[test]
fn non_hex_chunk_size_is_400() {
    for size in ["g", "-1", "+1", "0x5", " 5", ""] {
        let input = format!(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nhello\r\n0\r\n\r\n"
        );
        let t = run_both_ways(input.as_bytes());
        assert_eq!(t.error(), Some((K::InvalidChunk, Some(400))), "size {size:?}");
    }
}

#[test]
fn chunk_without_crlf_after_data_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        K::InvalidChunk,
        400,
    );
}

#[test]
fn runaway_chunk_longer_than_its_size_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
        K::InvalidChunk,
        400,
    );
}

#[test]
fn chunk_size_line_with_bare_cr_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n",
        K::InvalidChunk,
        400,
    );
}

#[test]
fn chunk_size_line_with_bare_lf_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        K::BareLineFeed,
        400,
    );
}

#[test]
fn chunk_data_ending_in_bare_lf_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
        K::BareLineFeed,
        400,
    );
}

#[test]
fn obs_fold_is_400() {
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n", K::InvalidHeader, 400);
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n", K::InvalidHeader, 400);
}

#[test]
fn whitespace_before_colon_is_400() {
    assert_rejected(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", K::InvalidHeader, 400);
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 0\r\n\r\n", K::InvalidHeader, 400);
}

#[test]
fn bare_cr_in_a_header_value_is_400() {
    let t = run_both_ways(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n");
    assert_eq!(t.error().map(|e| e.1), Some(Some(400)));
}

#[test]
fn nul_and_control_bytes_in_values_are_400() {
    for byte in [0u8, 1, 0x0b, 0x0c, 0x1f, 0x7f] {
        let mut input = b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a".to_vec();
        input.push(byte);
        input.extend_from_slice(b"b\r\n\r\n");
        let t = run_both_ways(&input);
        assert_eq!(t.error(), Some((K::InvalidHeader, Some(400))), "byte {byte:#x}");
    }
}

#[test]
fn tab_and_obs_text_in_values_are_accepted() {
    let t = run_both_ways(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\tb \xe2\x82\xac\r\n\r\n");
    assert_eq!(t.error(), None, "{:?}", t.events);
}

#[test]
fn control_bytes_and_separators_in_names_are_400() {
    for name in [&b"X\x00A"[..], b"X A", b"X(A)", b"X\"A", b"X/A", b"", b"X@A"] {
        let mut input = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        input.extend_from_slice(name);
        input.extend_from_slice(b": v\r\n\r\n");
        let t = run_both_ways(&input);
        assert_eq!(t.error().map(|e| e.1), Some(Some(400)), "name {:?}", String::from_utf8_lossy(name));
    }
}

#[test]
fn bare_lf_in_the_head_is_400_everywhere() {
    assert_rejected(b"GET / HTTP/1.1\nHost: a\r\n\r\n", K::BareLineFeed, 400);
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\n\r\n", K::BareLineFeed, 400);
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\n\n", K::BareLineFeed, 400);
}

#[test]
fn bare_lf_in_trailers_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\r\n",
        K::BareLineFeed,
        400,
    );
}

#[test]
fn missing_host_on_http_1_1_is_400() {
    assert_rejected(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", K::InvalidHost, 400);
}

#[test]
fn missing_host_on_http_1_0_is_accepted() {
    let t = run_both_ways(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(t.error(), None);
    assert_eq!(t.requests(), 1);
}

#[test]
fn duplicated_host_is_400() {
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", K::InvalidHost, 400);
    assert_rejected(b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", K::InvalidHost, 400);
}

#[test]
fn request_line_garbage_is_400() {
    for line in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / FOO/1.1\r\nHost: a\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ] {
        let t = run_both_ways(line);
        assert_eq!(t.error().map(|e| e.1), Some(Some(400)), "line {:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn unknown_http_versions_are_505() {
    for version in ["HTTP/1.2", "HTTP/2.0", "HTTP/3.0", "HTTP/0.9"] {
        let input = format!("GET / {version}\r\nHost: a\r\n\r\n");
        let t = run_both_ways(input.as_bytes());
        assert_eq!(t.error(), Some((K::UnsupportedVersion, Some(505))), "{version}");
    }
}

#[test]
fn http2_preface_over_http1_is_505() {
    assert_rejected(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", K::UnsupportedVersion, 505);
}

#[test]
fn invalid_targets_are_400() {
    for request in [
        &b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECT /path HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http:// HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let t = run_both_ways(request);
        assert_eq!(t.error(), Some((K::InvalidTarget, Some(400))), "{:?}", String::from_utf8_lossy(request));
    }
}

#[test]
fn smuggled_request_in_a_rejected_body_is_never_parsed() {
    let t = run_both_ways(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(t.requests(), 0);
    assert_eq!(t.error(), Some((K::ConflictingFraming, Some(400))));
    assert!(!t.wire_str().contains("200 OK"));
}

#[test]
fn nothing_is_parsed_after_a_chunked_framing_error() {
    let t = run_both_ways(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(t.requests(), 1);
    assert_eq!(t.error(), Some((K::InvalidChunk, Some(400))));
}

#[test]
fn bytes_after_an_error_are_dropped() {
    let t = run_chunks(
        milpa_h1::Config::default(),
        &[b"GET / HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"],
        false,
    );
    assert_eq!(t.requests(), 0);
    assert_eq!(t.events.len(), 1);
}

#[test]
fn eof_in_the_middle_of_a_head_is_an_incomplete_request_without_answer() {
    let t = run_chunks(milpa_h1::Config::default(), &[b"GET / HTTP/1.1\r\nHo"], true);
    assert_eq!(t.error(), Some((K::IncompleteRequest, None)));
    assert!(t.wire.is_empty());
    assert!(t.finished);
}

#[test]
fn eof_in_the_middle_of_a_body_is_an_incomplete_request() {
    let t = run_chunks(
        milpa_h1::Config::default(),
        &[b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello"],
        true,
    );
    assert_eq!(t.error(), Some((K::IncompleteRequest, None)));
    assert_eq!(t.body(), b"hello");
}

#[test]
fn error_response_has_a_body_naming_the_problem() {
    let t = run(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n");
    let wire = t.wire_str();
    assert!(wire.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{wire}");
    assert!(wire.ends_with("\r\n\r\ninvalid Content-Length\n"), "{wire}");
    assert!(wire.contains("content-length: 23\r\n"), "{wire}");
}

#[test]
fn bare_cr_anywhere_in_a_head_is_400_at_once() {
    for input in [
        &b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n"[..],
        b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX\r: b\r\n\r\n",
    ] {
        let t = run_both_ways(input);
        assert_eq!(t.error().map(|e| e.1), Some(Some(400)), "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn fragment_in_the_target_is_400() {
    assert_rejected(b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", K::InvalidTarget, 400);
}

#[test]
fn host_that_is_not_a_host_is_400() {
    for host in ["a b", "a/b", "user@a", "a?b"] {
        let input = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let t = run_both_ways(input.as_bytes());
        assert_eq!(t.error(), Some((K::InvalidHost, Some(400))), "Host: {host}");
    }
    for host in ["example.com", "example.com:8080", "[::1]:80", "127.0.0.1", "xn--bcher-kva.example"] {
        let input = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(run(input.as_bytes()).error(), None, "Host: {host}");
    }
}
