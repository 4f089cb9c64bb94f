//! The four borsh encodings a protected data's scalar leaves use.
//!
//! From borsh's specification (<https://borsh.io>), as borsh-js 2.0.0 writes them for the SDK:
//!
//! | type     | bytes                                                    |
//! |----------|----------------------------------------------------------|
//! | `bool`   | 1 byte: `0` false, `1` true                              |
//! | `f64`    | 8 bytes, IEEE 754 binary64, little-endian                |
//! | `i128`   | 16 bytes, two's complement, little-endian                |
//! | `string` | `u32` little-endian byte length, then that many UTF-8 bytes |
//!
//! A leaf is one value alone, so reading checks the exact length. borsh-js reads more
//! loosely (trailing bytes ignored, any non-zero byte a `true`, malformed UTF-8 decoded
//! anyway); we refuse what the specification refuses.

use crate::{Error, Result};

pub(crate) fn encode_bool(v: bool) -> Vec<u8> {
    vec![u8::from(v)]
}

pub(crate) fn encode_f64(v: f64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

pub(crate) fn encode_i128(v: i128) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// Encodes a string. Callers keep strings under 4 GiB, which the length prefix can say.
pub(crate) fn encode_string(v: &str) -> Vec<u8> {
    let len = u32::try_from(v.len()).expect("invariant: protected-data strings are shorter than 4 GiB");
    let mut out = Vec::with_capacity(4 + v.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(v.as_bytes());
    out
}

fn exact<const N: usize>(bytes: &[u8], path: &str, kind: &'static str) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| Error::WrongLength {
        path: path.to_owned(),
        kind,
        expected: N as u64,
        found: bytes.len() as u64,
    })
}

pub(crate) fn decode_bool(bytes: &[u8], path: &str) -> Result<bool> {
    match exact::<1>(bytes, path, "bool")? {
        [0] => Ok(false),
        [1] => Ok(true),
        _ => Err(Error::InvalidBool { path: path.to_owned() }),
    }
}

pub(crate) fn decode_f64(bytes: &[u8], path: &str) -> Result<f64> {
    Ok(f64::from_le_bytes(exact(bytes, path, "f64")?))
}

pub(crate) fn decode_i128(bytes: &[u8], path: &str) -> Result<i128> {
    Ok(i128::from_le_bytes(exact(bytes, path, "i128")?))
}

pub(crate) fn decode_string(bytes: &[u8], path: &str) -> Result<String> {
    let wrong = |expected: u64| Error::WrongLength {
        path: path.to_owned(),
        kind: "string",
        expected,
        found: bytes.len() as u64,
    };
    let (prefix, text) = bytes.split_first_chunk::<4>().ok_or_else(|| wrong(4))?;
    let len = u64::from(u32::from_le_bytes(*prefix));
    if text.len() as u64 != len {
        return Err(wrong(4 + len));
    }
    String::from_utf8(text.to_vec()).map_err(|_| Error::BadUtf8 { path: path.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    // Expected bytes as borsh-js 2.0.0 wrote them for the SDK (tests/vectors, notes).
    #[test]
    fn known_encodings() {
        assert_eq!(hex(&encode_bool(true)), "01");
        assert_eq!(hex(&encode_bool(false)), "00");
        assert_eq!(hex(&encode_f64(0.0)), "0000000000000000");
        assert_eq!(hex(&encode_f64(-0.0)), "0000000000000080");
        assert_eq!(hex(&encode_f64(1.0)), "000000000000f03f");
        assert_eq!(hex(&encode_f64(42.5)), "0000000000404540");
        assert_eq!(hex(&encode_f64(-0.5)), "000000000000e0bf");
        assert_eq!(hex(&encode_f64(std::f64::consts::PI)), "182d4454fb210940");
        assert_eq!(hex(&encode_f64(1e300)), "9c7500883ce4377e");
        assert_eq!(hex(&encode_f64(5e-324)), "0100000000000000");
        assert_eq!(hex(&encode_i128(0)), "00".repeat(16));
        assert_eq!(hex(&encode_i128(1)), format!("01{}", "00".repeat(15)));
        assert_eq!(hex(&encode_i128(-1)), "ff".repeat(16));
        assert_eq!(hex(&encode_i128(-7)), format!("f9{}", "ff".repeat(15)));
        assert_eq!(hex(&encode_i128(i128::MIN)), format!("{}80", "00".repeat(15)));
        assert_eq!(hex(&encode_i128(i128::MAX)), format!("{}7f", "ff".repeat(15)));
        assert_eq!(
            hex(&encode_i128(12345678901234567890123)),
            "cb444271764eb6429d02000000000000"
        );
        assert_eq!(hex(&encode_string("hello")), "0500000068656c6c6f");
        assert_eq!(hex(&encode_string("")), "00000000");
        assert_eq!(hex(&encode_string("Ålice ✓")), "0a000000c3856c69636520e29c93");
    }

    #[test]
    fn decoding_inverts_encoding() {
        assert!(decode_bool(&encode_bool(true), "p").unwrap());
        assert!(!decode_bool(&encode_bool(false), "p").unwrap());
        assert_eq!(decode_f64(&encode_f64(-0.5), "p").unwrap(), -0.5);
        assert!(decode_f64(&encode_f64(-0.0), "p").unwrap().is_sign_negative());
        assert_eq!(decode_i128(&encode_i128(i128::MIN), "p").unwrap(), i128::MIN);
        assert_eq!(
            decode_string(&encode_string("h\u{e9}llo \u{1f980}"), "p").unwrap(),
            "h\u{e9}llo \u{1f980}"
        );
    }

    #[test]
    fn lengths_are_exact() {
        let e = decode_bool(&[], "a.b").unwrap_err();
        assert_eq!(e.code(), "WRONG_LENGTH");
        assert_eq!(e.to_string(), "the bool at \"a.b\" is 0 bytes long, expected 1");
        assert_eq!(decode_bool(&[1, 0], "p").unwrap_err().code(), "WRONG_LENGTH");
        assert_eq!(decode_f64(&[0; 7], "p").unwrap_err().code(), "WRONG_LENGTH");
        assert_eq!(decode_f64(&[0; 9], "p").unwrap_err().code(), "WRONG_LENGTH");
        assert_eq!(decode_i128(&[0; 15], "p").unwrap_err().code(), "WRONG_LENGTH");
        assert_eq!(decode_i128(&[0; 17], "p").unwrap_err().code(), "WRONG_LENGTH");
        assert_eq!(decode_string(&[1, 0, 0], "p").unwrap_err().code(), "WRONG_LENGTH");
        let short = decode_string(&[2, 0, 0, 0, b'a'], "s").unwrap_err();
        assert_eq!(short.to_string(), "the string at \"s\" is 5 bytes long, expected 6");
        assert_eq!(
            decode_string(&[0, 0, 0, 0, b'a'], "p").unwrap_err().code(),
            "WRONG_LENGTH"
        );
        // A length prefix near u32::MAX must not overflow anything.
        assert_eq!(
            decode_string(&[0xff, 0xff, 0xff, 0xff], "p").unwrap_err().code(),
            "WRONG_LENGTH"
        );
    }

    #[test]
    fn bool_bytes_other_than_0_and_1_are_refused() {
        assert_eq!(decode_bool(&[2], "p").unwrap_err().code(), "INVALID_BOOL");
        assert_eq!(decode_bool(&[0xff], "p").unwrap_err().code(), "INVALID_BOOL");
    }

    #[test]
    fn strings_must_be_utf8() {
        let e = decode_string(&[2, 0, 0, 0, 0xc3, 0x28], "s").unwrap_err();
        assert_eq!(e.code(), "BAD_UTF8");
        // A lone surrogate encoded as UTF-8 (CESU-style) is not UTF-8 either.
        assert_eq!(
            decode_string(&[3, 0, 0, 0, 0xed, 0xa0, 0x80], "s").unwrap_err().code(),
            "BAD_UTF8"
        );
    }
}
