//! RLC amounts. PoCo counts in nRLC (RLC has 9 decimals); iExec's JSON writes them as
//! decimal strings, and its templates sometimes as plain numbers.

use alloy_primitives::U256;
use serde::{Deserialize, Deserializer, Serializer};

use crate::Error;

/// nRLC in one RLC.
pub const NRLC_PER_RLC: u64 = 1_000_000_000;

/// Parses `1000`, `1000 nRLC`, `1.5 RLC` or `2 rlc` into nRLC.
///
/// ```
/// use confide_protocol::amount::parse_nrlc;
/// use alloy_primitives::U256;
///
/// assert_eq!(parse_nrlc("1.5 RLC").unwrap(), U256::from(1_500_000_000u64));
/// assert_eq!(parse_nrlc("1000").unwrap(), U256::from(1000));
/// assert!(parse_nrlc("1.0000000001 RLC").is_err(), "finer than one nRLC");
/// ```
pub fn parse_nrlc(text: &str) -> Result<U256, Error> {
    let invalid = || Error::InvalidAmount(text.to_owned());
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid());
    }
    let (number, unit) = match trimmed.split_once(char::is_whitespace) {
        Some((number, unit)) => (number.trim(), unit.trim().to_ascii_lowercase()),
        None => (trimmed, "nrlc".to_owned()),
    };
    match unit.as_str() {
        "nrlc" if number.bytes().all(|b| b.is_ascii_digit()) => U256::from_str_radix(number, 10).map_err(|_| invalid()),
        "rlc" => parse_decimal(number, 9).ok_or_else(invalid),
        _ => Err(invalid()),
    }
}

/// Parses a non-negative decimal with at most `decimals` fractional digits, scaled up.
fn parse_decimal(number: &str, decimals: usize) -> Option<U256> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.len() > decimals || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let digits = format!("{whole}{fraction:0<decimals$}");
    U256::from_str_radix(&digits, 10).ok()
}

/// Formats nRLC as RLC with up to 9 decimals, trailing zeros removed: `1.5`.
pub fn format_rlc(nrlc: U256) -> String {
    let scale = U256::from(NRLC_PER_RLC);
    let whole = nrlc / scale;
    let fraction = (nrlc % scale).to::<u64>();
    if fraction == 0 {
        return whole.to_string();
    }
    let fraction = format!("{fraction:09}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// Serde for `U256` as iExec writes it: a decimal string, read from a string or a number.
pub mod decimal {
    use super::*;

    /// Writes the amount as a decimal string of nRLC (`"1000"`), as iExec does.
    pub fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    /// Reads an amount from a JSON number, a decimal string, or a `0x`-prefixed hex string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(u64),
            Text(String),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Number(n) => Ok(U256::from(n)),
            Repr::Text(text) => {
                let text = text.trim();
                let parsed = match text.strip_prefix("0x") {
                    Some(hex) => U256::from_str_radix(hex, 16),
                    None => U256::from_str_radix(text, 10),
                };
                parsed.map_err(|_| serde::de::Error::custom(format!("`{text}` is not a non-negative integer")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_with_and_without_units() {
        assert_eq!(parse_nrlc("1000").unwrap(), U256::from(1000));
        assert_eq!(parse_nrlc("7 nRLC").unwrap(), U256::from(7));
        assert_eq!(parse_nrlc("1.5 RLC").unwrap(), U256::from(1_500_000_000u64));
        assert_eq!(parse_nrlc("2 rlc").unwrap(), U256::from(2_000_000_000u64));
        assert_eq!(parse_nrlc(".5 RLC").unwrap(), U256::from(500_000_000u64));
    }

    #[test]
    fn malformed_amounts_are_refused() {
        for bad in ["", "-1", "1.5", "1.0000000001 RLC", "1 ETH", "abc", ". RLC"] {
            assert!(parse_nrlc(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn rlc_formatting_drops_trailing_zeros() {
        assert_eq!(format_rlc(U256::from(1_500_000_000u64)), "1.5");
        assert_eq!(format_rlc(U256::from(3_000_000_000u64)), "3");
        assert_eq!(format_rlc(U256::from(1u64)), "0.000000001");
    }
}
