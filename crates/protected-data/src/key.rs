//! Keys, dotted paths, and the order JavaScript gives an object's keys.
//!
//! The SDK (`utils/data.ts`) accepts a key when it matches `/^[a-zA-Z0-9\-_]*$/` and is not
//! empty; iExec's subgraph skips schema keys that are blank or use another character. A path
//! `a.b.c` names the leaf `c` of object `b` of object `a`, which is the zip entry `a/b/c`.
//!
//! JavaScript walks an object's keys (`for…in`, `Object.entries`, `JSON.stringify`) with the
//! integer-like ones first — canonical array indices `0` … `4294967294`, ascending — then the
//! others in insertion order (ECMA-262 §10.1.11.1 OrdinaryOwnPropertyKeys). So `"2"` and
//! `"10"` come first, `"01"` and `"-1"` do not.

use crate::{Error, MAX_DEPTH, Result};

/// Whether `key` can name a field of a protected data: non-empty, and only `a-z`, `A-Z`,
/// `0-9`, `-` and `_`.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Splits a dotted path into its keys, each checked; at most [`MAX_DEPTH`] of them.
pub(crate) fn split_path(path: &str) -> Result<Vec<&str>> {
    let keys: Vec<&str> = path.split('.').collect();
    for key in &keys {
        if !is_valid_key(key) {
            return Err(Error::InvalidKey {
                key: (*key).to_owned(),
                path: path.to_owned(),
            });
        }
    }
    if keys.len() > MAX_DEPTH {
        return Err(Error::TooDeep { path: path.to_owned() });
    }
    Ok(keys)
}

/// Joins a parent path and a key with a dot.
pub(crate) fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The array index a key stands for in JavaScript, if it is one: the canonical decimal form
/// of an integer in `0 ..= 2^32 - 2`.
fn array_index(key: &str) -> Option<u32> {
    let canonical = !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_digit())
        && (key == "0" || !key.starts_with('0'))
        && key.len() <= 10;
    if !canonical {
        return None;
    }
    let n: u64 = key.parse().ok()?;
    (n < u64::from(u32::MAX)).then_some(n as u32)
}

/// The positions of `keys` (given in insertion order) in the order JavaScript walks them.
pub(crate) fn js_order<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let mut indices: Vec<(u32, usize)> = Vec::new();
    let mut others = Vec::new();
    for (position, key) in keys.enumerate() {
        match array_index(key) {
            Some(index) => indices.push((index, position)),
            None => others.push(position),
        }
    }
    indices.sort_unstable();
    indices
        .into_iter()
        .map(|(_, position)| position)
        .chain(others)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_sdk_regex() {
        for key in [
            "a",
            "A",
            "0",
            "a-b",
            "a_b",
            "Key-with_dash-and_UNDERSCORE",
            "-",
            "_",
            "01",
        ] {
            assert!(is_valid_key(key), "{key}");
        }
        for key in ["", "a.b", "a b", "a/b", "é", "$i128", "a:b", " ", "a\0", "\u{212a}"] {
            assert!(!is_valid_key(key), "{key:?}");
        }
    }

    #[test]
    fn paths_are_split_and_checked() {
        assert_eq!(split_path("a.b-c.d_e").unwrap(), ["a", "b-c", "d_e"]);
        for bad in ["", "a..b", ".a", "a.", "a.b c", "a/b"] {
            let err = split_path(bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_KEY", "{bad:?}");
        }
        let deep = vec!["a"; MAX_DEPTH + 1].join(".");
        assert_eq!(split_path(&deep).unwrap_err().code(), "TOO_DEEP");
        assert!(split_path(&vec!["a"; MAX_DEPTH].join(".")).is_ok());
    }

    #[test]
    fn integer_like_keys_come_first_ascending() {
        let keys = ["zeta", "10", "alpha", "2", "01", "-1", "4294967294", "4294967295", "0"];
        let order: Vec<&str> = js_order(keys.iter().copied()).into_iter().map(|i| keys[i]).collect();
        assert_eq!(
            order,
            ["0", "2", "10", "4294967294", "zeta", "alpha", "01", "-1", "4294967295"]
        );
    }

    #[test]
    fn array_indices_are_canonical() {
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("4294967294"), Some(u32::MAX - 1));
        for not in ["", "00", "01", "-1", "+1", "1e3", "4294967295", "99999999999", "a"] {
            assert_eq!(array_index(not), None, "{not}");
        }
    }
}
