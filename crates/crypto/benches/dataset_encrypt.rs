//! Encrypting a large dataset file with its checksum: throughput and peak memory.
//! Run: `cargo bench -p confide-crypto --bench dataset_encrypt` (1 GiB; `CONFIDE_BENCH_MIB`
//! to change). Target (issue 3): at least 0.8 GB/s with peak RSS at most 64 MiB.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::Instant;

use confide_crypto::dataset::{DatasetKey, checksum, encrypt};

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mib: u64 = std::env::var("CONFIDE_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let dir =
        tempfile::tempdir_in(std::env::var_os("CONFIDE_BENCH_DIR").unwrap_or_else(|| ".".into())).expect("temp dir");
    let plain_path = dir.path().join("plain.bin");
    let encrypted_path = dir.path().join("plain.bin.enc");

    // Pseudo-random content (xorshift), written in 1 MiB pieces so RSS stays small.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut writer = BufWriter::new(File::create(&plain_path).unwrap());
    let mut piece = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for word in piece.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        writer.write_all(&piece).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    drop(piece);
    let rss_before = peak_rss_kib();

    let bytes = mib * (1 << 20);
    let key = DatasetKey::generate();
    let run = |target: &std::path::Path| {
        let started = Instant::now();
        let input = File::open(&plain_path).unwrap();
        let output = BufWriter::with_capacity(1 << 16, File::create(target).unwrap());
        let result = encrypt(&key, input, output, |_| {}).unwrap();
        (started.elapsed().as_secs_f64(), result)
    };
    // The cipher and checksum pipeline alone (the file is read from the page cache; the
    // ciphertext is discarded), then with the ciphertext written to disk.
    let (to_null, _) = run(std::path::Path::new("/dev/null"));
    let (to_file, result) = run(&encrypted_path);
    let rss_after = peak_rss_kib();
    assert_eq!(result.checksum, checksum(File::open(&encrypted_path).unwrap()).unwrap());
    for (target, seconds) in [("/dev/null", to_null), ("a file", to_file)] {
        println!(
            "encrypt {mib} MiB + sha256 checksum to {target}: {seconds:.2} s, {:.2} GB/s",
            bytes as f64 / seconds / 1e9
        );
    }
    println!(
        "peak RSS {} MiB (after writing the input: {} MiB)",
        rss_after / 1024,
        rss_before / 1024
    );
}
