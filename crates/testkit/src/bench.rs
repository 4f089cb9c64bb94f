//! What every benchmark binary repeats: its runtime, its sizes from the environment, and
//! the quantiles it reports.

/// Runs a benchmark's body on the two worker threads this machine has.
pub fn block_on<F: std::future::Future>(body: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(body)
}

/// A size from environment variable `name` (for quick runs), else `default`.
///
/// ```
/// assert_eq!(confide_testkit::bench::env_usize("CONFIDE_BENCH_UNSET_EXAMPLE", 7), 7);
/// ```
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `q` quantile (0 to 1) of `samples`, nearest rank; sorts them.
///
/// ```
/// let mut samples = [3.0, 1.0, 2.0, 4.0];
/// assert_eq!(confide_testkit::bench::quantile(&mut samples, 0.5), 3.0);
/// ```
///
/// # Panics
/// When `samples` is empty.
pub fn quantile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let rank = ((samples.len() as f64 * q) as usize).min(samples.len() - 1);
    samples[rank]
}

/// A comma-separated list of counts from environment variable `name` (`1,2`), empty when
/// unset: the optional runs a benchmark makes only when asked.
pub fn env_counts(name: &str) -> Vec<usize> {
    std::env::var(name)
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// `len` deterministic bytes that do not repeat (xorshift from `seed`): content whose
/// misplaced part would show, the same on every run.
///
/// ```
/// let a = confide_testkit::bench::pseudo_random(64, 1);
/// assert_eq!(a, confide_testkit::bench::pseudo_random(64, 1));
/// assert_ne!(a, confide_testkit::bench::pseudo_random(64, 2));
/// ```
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
