//! Every `wire` case of the hpack-test-case vectors (all encoder directories except
//! `raw-data`) decodes to the listed headers, with one decoder per story so the dynamic table
//! carries over from case to case, honouring `header_table_size`.

mod common;

use std::fs;

use bytes::Bytes;
use milpa_hpack::{DecodeOutcome, Decoder};

#[test]
fn every_wire_case_decodes_to_its_headers() {
    let root = common::vectors_dir();
    let mut dirs: Vec<_> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_dir() && !p.ends_with("raw-data"))
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no encoder directories in {}", root.display());

    let (mut stories, mut cases, mut fields) = (0usize, 0usize, 0usize);
    for dir in &dirs {
        let files = common::story_files(dir);
        assert!(!files.is_empty(), "no story files in {}", dir.display());
        let (dir_stories, dir_cases) = (stories, cases);
        for path in files {
            let mut decoder = Decoder::new();
            let mut out = Vec::new();
            for (i, case) in common::load_story(&path).into_iter().enumerate() {
                let where_ = format!("{} case {} (seqno {:?})", path.display(), i, case.seqno);
                // A case's header_table_size is the SETTINGS_HEADER_TABLE_SIZE in force from
                // that case on; absent (or null) keeps the previous one (4096 at first).
                if let Some(size) = case.header_table_size {
                    decoder.set_max_table_size(size);
                }
                let wire = case.wire.unwrap_or_else(|| panic!("{where_}: no wire field"));
                out.clear();
                match decoder.decode(&Bytes::from(wire), &mut out) {
                    Ok(DecodeOutcome::Complete { size }) => {
                        let expected: usize = case.headers.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
                        assert_eq!(size, expected, "{where_}: list size");
                    }
                    other => panic!("{where_}: {other:?}"),
                }
                assert_eq!(common::pairs(&out), case.headers, "{where_}");
                assert!(decoder.table_size() <= decoder.table_capacity(), "{where_}: table over its size");
                cases += 1;
                fields += out.len();
            }
            stories += 1;
        }
        println!(
            "{}: {} stories, {} cases",
            dir.file_name().expect("dir name").to_string_lossy(),
            stories - dir_stories,
            cases - dir_cases
        );
    }
    println!(
        "hpack-test-case: checked {stories} stories, {cases} cases, {fields} header fields in {} encoder directories under {}",
        dirs.len(),
        root.display()
    );
    assert!(stories >= 200 && cases >= 20_000, "suspiciously few vectors: {stories} stories, {cases} cases");
}
