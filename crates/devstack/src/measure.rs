//! Helpers for the benchmarks' figures. Benchmark support only.

/// The `q` quantile (0 to 1) of `samples`, nearest rank; sorts them.
///
/// # Panics
/// When `samples` is empty.
pub fn quantile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let rank = ((samples.len() as f64 * q) as usize).min(samples.len() - 1);
    samples[rank]
}
