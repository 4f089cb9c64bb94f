//! Order tags: a bytes32 bit field of requirements. Bit 0 (the LSB of byte 31) asks for a
//! TEE; bits 1..=3 name the TEE framework; bit 8 asks for a GPU.

use std::fmt;
use std::str::FromStr;

use alloy_primitives::B256;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// The TEE frameworks a tag can name. Off chain, the framework is the exact value of the
/// tag's low nibble; PoCo itself only checks bit 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TeeFramework {
    /// SCONE on Intel SGX (bit 1). Confide does not run it.
    Scone,
    /// Gramine on Intel SGX (bit 2).
    Gramine,
    /// An Intel TDX confidential VM (bit 3).
    Tdx,
}

impl TeeFramework {
    /// Its name in tags and in iExec's SDK: `scone`, `gramine` or `tdx`.
    pub fn name(self) -> &'static str {
        match self {
            TeeFramework::Scone => "scone",
            TeeFramework::Gramine => "gramine",
            TeeFramework::Tdx => "tdx",
        }
    }
}

/// A tag, as it appears in orders and deals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tag(pub B256);

const NAMED_BITS: [(&str, u32); 5] = [("tee", 0), ("scone", 1), ("gramine", 2), ("tdx", 3), ("gpu", 8)];
const FRAMEWORK_BITS: u64 = 0b1110;

impl Tag {
    /// No requirement: a standard task, run on any worker.
    pub const NONE: Tag = Tag(B256::ZERO);
    /// `tee` alone (`0x…01`, the tutorial's tag): a TEE, no framework named.
    pub const TEE: Tag = Tag::from_low_bits(0b0001);
    /// `tee,scone` (`0x…03`): a TEE task under SCONE, which Confide does not run.
    pub const TEE_SCONE: Tag = Tag::from_low_bits(0b0011);
    /// `tee,gramine` (`0x…05`): a TEE task under Gramine on Intel SGX.
    pub const TEE_GRAMINE: Tag = Tag::from_low_bits(0b0101);
    /// `tee,tdx` (`0x…09`): a TEE task in an Intel TDX confidential VM.
    pub const TEE_TDX: Tag = Tag::from_low_bits(0b1001);

    const fn from_low_bits(bits: u64) -> Tag {
        let mut bytes = [0u8; 32];
        let be = bits.to_be_bytes();
        let mut i = 0;
        while i < 8 {
            bytes[24 + i] = be[i];
            i += 1;
        }
        Tag(B256::new(bytes))
    }

    fn low_bits(self) -> u64 {
        u64::from_be_bytes(self.0[24..].try_into().expect("8 bytes"))
    }

    fn has_bit(self, bit: u32) -> bool {
        let byte = 31 - (bit / 8) as usize;
        self.0[byte] & (1 << (bit % 8)) != 0
    }

    /// Whether bit 0 asks for a TEE (the only bit PoCo itself checks).
    pub fn is_tee(self) -> bool {
        self.has_bit(0)
    }

    /// Whether bit 8 asks for a GPU.
    pub fn is_gpu(self) -> bool {
        self.has_bit(8)
    }

    /// The framework this tag names, by exact match of the low nibble as iExec's
    /// off-chain services read it. The tutorial's bare `0x…01` names none.
    pub fn tee_framework(self) -> Option<TeeFramework> {
        match self.low_bits() & 0xF {
            0b0011 => Some(TeeFramework::Scone),
            0b0101 => Some(TeeFramework::Gramine),
            0b1001 => Some(TeeFramework::Tdx),
            _ => None,
        }
    }

    /// Combines requirements. PoCo 6.1.0 computes a deal's tag as
    /// `app.tag | dataset.tag | request.tag` (framework bits included) and requires the
    /// workerpool order's tag to cover it.
    pub fn union(self, other: Tag) -> Tag {
        Tag(self.0 | other.0)
    }

    /// True when every bit of `self` is also set in `other`.
    pub fn is_subset_of(self, other: Tag) -> bool {
        (self.0 & !other.0) == B256::ZERO
    }

    /// The names of the bits this tag sets; unnamed bits are left out.
    pub fn names(self) -> Vec<&'static str> {
        NAMED_BITS
            .iter()
            .filter(|(_, bit)| self.has_bit(*bit))
            .map(|(name, _)| *name)
            .collect()
    }

    /// Builds a tag from names such as `tee,tdx`. A framework needs `tee`, and at most one
    /// framework can be named, as iExec's SDK requires.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Tag, Error> {
        let mut bits = 0u64;
        let mut text = Vec::new();
        for raw in names {
            let name = raw.trim().to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            let (_, bit) = NAMED_BITS
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| Error::UnknownTag(raw.trim().to_owned()))?;
            bits |= 1 << bit;
            text.push(name);
        }
        let tag = Tag::from_low_bits(bits);
        let frameworks = (bits & FRAMEWORK_BITS).count_ones();
        if frameworks > 1 {
            return Err(Error::SeveralFrameworks(text.join(",")));
        }
        if frameworks == 1 && !tag.is_tee() {
            return Err(Error::FrameworkWithoutTee(text.join(",")));
        }
        Ok(tag)
    }
}

impl FromStr for Tag {
    type Err = Error;

    /// Reads `0x…` hex (up to 32 bytes, left-padded) or comma-separated names.
    ///
    /// ```
    /// use confide_protocol::Tag;
    ///
    /// let tdx: Tag = "tee,tdx".parse().unwrap();
    /// assert!(tdx.is_tee());
    /// assert_eq!(tdx, "0x0000000000000000000000000000000000000000000000000000000000000009".parse().unwrap());
    /// assert!("tdx".parse::<Tag>().is_err(), "a framework needs the tee bit");
    /// ```
    fn from_str(text: &str) -> Result<Tag, Error> {
        let trimmed = text.trim();
        let Some(hex) = trimmed.strip_prefix("0x").or_else(|| trimmed.strip_prefix("0X")) else {
            return Tag::from_names(trimmed.split(','));
        };
        let invalid = || Error::InvalidTagHex(trimmed.to_owned());
        if hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let padded = format!("{hex:0>64}");
        let bytes: [u8; 32] = (0..32)
            .map(|i| u8::from_str_radix(&padded[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid())?
            .try_into()
            .map_err(|_| invalid())?;
        Ok(Tag(B256::new(bytes)))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<B256> for Tag {
    fn from(value: B256) -> Tag {
        Tag(value)
    }
}

impl Serialize for Tag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Tag {
    /// iExec's templates write tags as hex, as `"tee,scone"`, or as `["tee","scone"]`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Tag, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Names(Vec<String>),
        }
        let parsed = match Repr::deserialize(deserializer)? {
            Repr::Text(text) => text.parse(),
            Repr::Names(names) => Tag::from_names(names.iter().map(String::as_str)),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_the_bits_iexec_uses() {
        assert_eq!("tee,tdx".parse::<Tag>().unwrap(), Tag::TEE_TDX);
        assert_eq!("tee,scone".parse::<Tag>().unwrap(), Tag::TEE_SCONE);
        assert_eq!("TEE, Gramine".parse::<Tag>().unwrap(), Tag::TEE_GRAMINE);
        assert_eq!(
            "gpu".parse::<Tag>().unwrap().to_string(),
            "0x0000000000000000000000000000000000000000000000000000000000000100"
        );
        assert_eq!("".parse::<Tag>().unwrap(), Tag::NONE);
    }

    #[test]
    fn hex_is_read_left_padded() {
        assert_eq!("0x9".parse::<Tag>().unwrap(), Tag::TEE_TDX);
        let tutorial = "0x0000000000000000000000000000000000000000000000000000000000000001";
        let tag: Tag = tutorial.parse().unwrap();
        assert!(tag.is_tee());
        assert_eq!(
            tag.tee_framework(),
            None,
            "the tutorial's bare TEE tag names no framework"
        );
        assert_eq!(tag.to_string(), tutorial);
    }

    #[test]
    fn inconsistent_names_are_refused() {
        assert!(matches!("tdx".parse::<Tag>(), Err(Error::FrameworkWithoutTee(_))));
        assert!(matches!(
            "tee,tdx,scone".parse::<Tag>(),
            Err(Error::SeveralFrameworks(_))
        ));
        assert!(matches!("tee,sgx".parse::<Tag>(), Err(Error::UnknownTag(_))));
        assert!(matches!("0xzz".parse::<Tag>(), Err(Error::InvalidTagHex(_))));
    }

    #[test]
    fn frameworks_are_read_by_exact_low_nibble() {
        assert_eq!(Tag::TEE_TDX.tee_framework(), Some(TeeFramework::Tdx));
        assert_eq!(Tag::TEE_GRAMINE.tee_framework(), Some(TeeFramework::Gramine));
        assert_eq!(Tag::TEE_SCONE.union(Tag::TEE_TDX).tee_framework(), None);
        assert_eq!(Tag::TEE_TDX.names(), vec!["tee", "tdx"]);
    }

    #[test]
    fn serde_accepts_every_iexec_spelling() {
        let from_list: Tag = serde_json::from_str(r#"["tee","tdx"]"#).unwrap();
        let from_text: Tag = serde_json::from_str(r#""tee,tdx""#).unwrap();
        assert_eq!(from_list, Tag::TEE_TDX);
        assert_eq!(from_text, Tag::TEE_TDX);
        assert_eq!(
            serde_json::to_string(&Tag::TEE_TDX).unwrap(),
            r#""0x0000000000000000000000000000000000000000000000000000000000000009""#
        );
    }
}
