//! Helpers shared by the integration tests: locating and parsing the hpack-test-case vectors.
#![allow(dead_code, unreachable_pub)]

use std::fs;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use milpa_hpack::{DecodeOutcome, Decoder, HeaderField};

/// `shared/testdata/hpack-test-case`, found by walking up from the crate's manifest directory
/// (the crate may live in a draft folder, in `crates/` of the workspace, or in a CI clone
/// with `shared/` beside it). Panics, naming every path tried, when it is missing.
pub fn vectors_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut tried = Vec::new();
    for ancestor in manifest.ancestors() {
        let candidate = ancestor.join("shared").join("testdata").join("hpack-test-case");
        if candidate.is_dir() {
            return candidate;
        }
        tried.push(candidate.display().to_string());
    }
    panic!(
        "HPACK test vectors not found: no shared/testdata/hpack-test-case above {}; tried:\n  {}",
        manifest.display(),
        tried.join("\n  ")
    );
}

/// One case of a story.
pub struct Case {
    pub seqno: Option<u64>,
    pub header_table_size: Option<usize>,
    pub wire: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The story files of one encoder directory, sorted by name.
pub fn story_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("story_"))
        })
        .collect();
    files.sort();
    files
}

/// Parses a story file.
pub fn load_story(path: &Path) -> Vec<Case> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let cases = json["cases"].as_array().unwrap_or_else(|| panic!("{}: no \"cases\" array", path.display()));
    cases
        .iter()
        .map(|case| Case {
            seqno: case["seqno"].as_u64(),
            header_table_size: case["header_table_size"]
                .as_u64()
                .map(|n| usize::try_from(n).expect("table size fits usize")),
            wire: case["wire"]
                .as_str()
                .map(|w| hex(w).unwrap_or_else(|| panic!("{}: bad hex", path.display()))),
            headers: case["headers"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: case without headers", path.display()))
                .iter()
                .map(|h| {
                    let obj = h.as_object().expect("header is an object");
                    assert_eq!(obj.len(), 1, "{}: header object with {} keys", path.display(), obj.len());
                    let (name, value) = obj.iter().next().expect("one key");
                    let value = value.as_str().expect("header value is a string");
                    (name.as_bytes().to_vec(), value.as_bytes().to_vec())
                })
                .collect(),
        })
        .collect()
}

/// Decodes a hex string (whitespace ignored).
pub fn hex(s: &str) -> Option<Vec<u8>> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()).collect()
}

/// `HeaderField`s from string pairs.
pub fn fields(pairs: &[(&str, &str)]) -> Vec<HeaderField> {
    pairs.iter().map(|&(n, v)| HeaderField::new(n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
}

/// Decodes a block that must decode completely.
pub fn decode_ok(decoder: &mut Decoder, block: &[u8]) -> Vec<HeaderField> {
    let mut out = Vec::new();
    match decoder.decode_slice(block, &mut out) {
        Ok(DecodeOutcome::Complete { .. }) => out,
        other => panic!("expected a complete decode, got {other:?}"),
    }
}

/// Encodes one block with `encoder` and returns its bytes.
pub fn encode_block(encoder: &mut milpa_hpack::Encoder, fields: &[HeaderField]) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encoder.encode(fields, &mut dst);
    dst.to_vec()
}

/// `(name, value)` byte pairs of decoded fields.
pub fn pairs(fields: &[HeaderField]) -> Vec<(Vec<u8>, Vec<u8>)> {
    fields.iter().map(|f| (f.name.to_vec(), f.value.to_vec())).collect()
}
