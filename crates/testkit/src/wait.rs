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
