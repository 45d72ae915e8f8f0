//! Encoder round trip over `raw-data`: every story is encoded with our encoder and decoded
//! with our decoder (one pair per story, so both tables evolve together), giving back the
//! same headers, with the tables in lockstep. A second pass changes the table size between
//! blocks, including twice between two blocks (min-then-final size updates).

mod common;

use bytes::BytesMut;
use milpa_hpack::{DecodeOutcome, Decoder, Encoder, HeaderField};

fn never_indexed_by_policy(name: &[u8], value: &[u8]) -> bool {
    matches!(name, b"authorization" | b"proxy-authorization" | b"set-cookie")
        || (name == b"cookie" && value.len() < 20)
}

struct Totals {
    stories: usize,
    cases: usize,
    plain: usize,
    encoded: usize,
}

/// Runs every raw-data story through encoder → decoder. `schedule(case_index)` returns the
/// SETTINGS_HEADER_TABLE_SIZE values to apply (in order) before that case.
fn run(schedule: &dyn Fn(usize) -> Vec<usize>) -> Totals {
    let dir = common::vectors_dir().join("raw-data");
    assert!(dir.is_dir(), "missing {}", dir.display());
    let files = common::story_files(&dir);
    assert!(!files.is_empty(), "no stories in {}", dir.display());
    let mut totals = Totals { stories: 0, cases: 0, plain: 0, encoded: 0 };
    for path in files {
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::with_max_header_list_size(1 << 20);
        let mut wire = BytesMut::new();
        let mut out = Vec::new();
        for (i, case) in common::load_story(&path).into_iter().enumerate() {
            let where_ = format!("{} case {i}", path.display());
            let changes = schedule(i);
            let before = encoder.table_capacity();
            for &size in &changes {
                // The decoder's setting goes first: the peer's encoder only learns it from
                // our SETTINGS frame.
                decoder.set_max_table_size(size);
                encoder.set_max_table_size(size);
            }
            let fields: Vec<HeaderField> =
                case.headers.iter().map(|(n, v)| HeaderField::new(n.clone(), v.clone())).collect();
            encoder.encode(&fields, &mut wire);
            let block = wire.split().freeze();
            if let Some(&last) = changes.last() {
                let min = changes.iter().copied().min().expect("non-empty").min(4096);
                if min < before || last.min(4096) != before {
                    // Starts with a size update (001xxxxx).
                    assert_eq!(block[0] & 0xe0, 0x20, "{where_}: expected a size update first");
                } else {
                    assert_ne!(block[0] & 0xe0, 0x20, "{where_}: needless size update");
                }
            }
            totals.plain += case.headers.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
            totals.encoded += block.len();
            out.clear();
            match decoder.decode(&block, &mut out) {
                Ok(DecodeOutcome::Complete { .. }) => {}
                other => panic!("{where_}: {other:?}"),
            }
            assert_eq!(common::pairs(&out), case.headers, "{where_}");
            for f in &out {
                assert_eq!(
                    f.sensitive,
                    never_indexed_by_policy(&f.name, &f.value),
                    "{where_}: sensitivity of {:?}",
                    f
                );
            }
            assert_eq!(
                (decoder.table_len(), decoder.table_size(), decoder.table_capacity()),
                (encoder.table_len(), encoder.table_size(), encoder.table_capacity()),
                "{where_}: tables out of step"
            );
            assert!(encoder.table_size() <= 4096);
            totals.cases += 1;
        }
        totals.stories += 1;
    }
    totals
}

#[test]
fn raw_data_round_trips() {
    let t = run(&|_| Vec::new());
    println!(
        "raw-data round trip: {} stories, {} cases; {} bytes of names+values encoded to {} bytes ({:.1}%)",
        t.stories,
        t.cases,
        t.plain,
        t.encoded,
        100.0 * t.encoded as f64 / t.plain as f64
    );
    assert!(t.stories >= 30 && t.cases >= 3000);
    // A sanity bound on compression: HPACK on these stories does far better than half.
    assert!(t.encoded * 3 < t.plain, "poor compression: {} -> {}", t.plain, t.encoded);
}

#[test]
fn raw_data_round_trips_through_table_size_changes() {
    // Every few blocks the peer changes its SETTINGS_HEADER_TABLE_SIZE, sometimes twice
    // between two blocks (down then up: the encoder must signal the minimum, then the final
    // size), sometimes above our 4 KiB cap, sometimes to 0.
    let schedule = |i: usize| match i % 11 {
        2 => vec![1024],
        4 => vec![0, 4096],
        6 => vec![65_536],
        7 => vec![100, 2000],
        8 => vec![3000, 500, 8192],
        9 => vec![0],
        10 => vec![4096],
        _ => Vec::new(),
    };
    let t = run(&schedule);
    println!(
        "raw-data round trip with table size changes: {} stories, {} cases, {} -> {} bytes",
        t.stories, t.cases, t.plain, t.encoded
    );
    assert!(t.cases >= 3000);
}

#[test]
fn double_change_emits_min_then_final() {
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    let fields = common::fields(&[(":status", "200"), ("server", "milpa")]);
    let first = common::encode_block(&mut e, &fields);
    common::decode_ok(&mut d, &first);
    assert_eq!(e.table_len(), 1);

    for size in [0, 4096] {
        d.set_max_table_size(size);
        e.set_max_table_size(size);
    }
    let second = common::encode_block(&mut e, &fields);
    // 0x20 = size update to 0; 0x3f e1 1f = size update to 4096.
    assert_eq!(&second[..4], &[0x20, 0x3f, 0xe1, 0x1f]);
    assert_eq!(common::pairs(&common::decode_ok(&mut d, &second)), common::pairs(&fields));
    // The table was flushed by the 0, then refilled.
    assert_eq!((e.table_len(), d.table_len()), (1, 1));

    // Raising above the 4 KiB cap changes nothing: no update is sent.
    e.set_max_table_size(1 << 20);
    d.set_max_table_size(1 << 20);
    let third = common::encode_block(&mut e, &fields);
    assert_eq!(third, [0x88, 0xbe]);
    common::decode_ok(&mut d, &third);

    // A single decrease: one update.
    e.set_max_table_size(100);
    d.set_max_table_size(100);
    let fourth = common::encode_block(&mut e, &fields);
    assert_eq!(&fourth[..3], &[0x3f, 0x45, 0x88]);
    common::decode_ok(&mut d, &fourth);
    assert_eq!(e.table_capacity(), 100);
}
