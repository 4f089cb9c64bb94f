//! Our file CIDs against an independent implementation: Debian's `ipfs-cid` (the
//! `ipfs_cid` tool, installed by `scripts/test.sh`), which imports a file as kubo does by
//! default (256 KiB chunks, balanced DAG, UnixFS leaves) and prints its CIDv0.

use std::process::Command;

use confide_protocol::ipfs::{CidVersion, file_cid};

/// The tool's CIDv0 of `bytes`.
fn peer_cid_v0(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file");
    std::fs::write(&path, bytes).unwrap();
    let output = Command::new("ipfs_cid")
        .arg(&path)
        .output()
        .expect("Debian's ipfs-cid is missing: run scripts/test.sh (it installs it)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // It prints one JSON line, then statistics on stderr.
    let line = String::from_utf8(output.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    json["CIDv0"].as_str().unwrap().to_owned()
}

use confide_testkit::bench::pseudo_random;

#[test]
fn our_cids_are_those_an_independent_importer_derives() {
    const CHUNK: usize = 256 << 10;
    let sizes = [
        0,
        1,
        11,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        3 * CHUNK + 12345,
        174 * CHUNK,
        174 * CHUNK + 1,
        175 * CHUNK + 7,
    ];
    for (index, size) in sizes.into_iter().enumerate() {
        let bytes = pseudo_random(size, index as u64);
        assert_eq!(
            file_cid(CidVersion::V0, &bytes).to_string(),
            peer_cid_v0(&bytes),
            "{size} bytes"
        );
    }
}
