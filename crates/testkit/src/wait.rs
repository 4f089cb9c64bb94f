//! Waiting for what a test started to happen, with a deadline that names what was awaited.

use std::time::{Duration, Instant};

/// Calls `done` every 100 ms until it is true.
///
/// # Panics
/// When `timeout` passes first, naming `what`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// [`wait_until`] for async conditions.
///
/// # Panics
/// When `timeout` passes first, naming `what`.
pub async fn wait_until_async<F: std::future::Future<Output = bool>>(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> F,
) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
