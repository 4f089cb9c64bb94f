//! Bounded fuzzing of live services, shared by the SMS and store tests (included with
//! `#[path]`): one server for all cases, the same cases on every run.

/// Draws `count` values of `strategy`, the same ones on every run.
pub(crate) fn samples<T>(strategy: impl proptest::strategy::Strategy<Value = T>, count: usize) -> Vec<T> {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Percent-encodes every byte but letters and digits, so any text fits in a URL.
pub(crate) fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
