//! DCAP quote verification with collateral in memory (the SMS's cached case), one and two
//! threads: `cargo bench -p confide-attest --bench verify`.

use std::time::Instant;

use confide_attest::EvidenceKind;
use confide_attest::verify::verify_quote;

const PINNED: u64 = 1_751_328_000;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn main() {
    for (kind, quote, collateral) in [
        (EvidenceKind::Sgx, "sgx_quote", "sgx_quote_collateral.json"),
        (EvidenceKind::Tdx, "tdx_quote", "tdx_quote_collateral.json"),
    ] {
        let quote = fixture(quote);
        let collateral: dcap_qvl::QuoteCollateralV3 = serde_json::from_slice(&fixture(collateral)).unwrap();
        let n = 500;
        let started = Instant::now();
        for _ in 0..n {
            verify_quote(kind, &quote, &collateral, PINNED).unwrap();
        }
        let one = started.elapsed().as_secs_f64();
        let started = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..n {
                        verify_quote(kind, &quote, &collateral, PINNED).unwrap();
                    }
                });
            }
        });
        let two = started.elapsed().as_secs_f64();
        println!(
            "{}: {:.2} ms per quote, {:.0} quotes/s on 1 thread, {:.0} quotes/s on 2 threads",
            kind.name(),
            one * 1e3 / n as f64,
            n as f64 / one,
            (2 * n) as f64 / two
        );
    }
}
