//! IPFS content identifiers of files, computed exactly as IPFS's importer (kubo's
//! `ipfs add`, boxo's balanced layout) computes them, so a result or dataset stored by
//! Confide has the CID any IPFS tool derives from the same bytes, and a gateway's bytes
//! can be checked against the CID they were asked for.
//!
//! The file is cut in chunks of 256 KiB. Each chunk is a leaf: a raw block (codec `raw`,
//! always a CIDv1) with raw leaves, else a dag-pb node holding a UnixFS `File`. kubo's
//! default (`ipfs add`) is CIDv0 with UnixFS leaves; `--cid-version=1` turns raw leaves on
//! ([`Layout::kubo`]); `--raw-leaves` sets them either way. A file of one chunk is that
//! leaf. A longer one is a balanced tree of dag-pb nodes of at most 174 links, every leaf
//! at the same depth, whose UnixFS data gives the file size and each child's size in file
//! bytes. CIDs hash with sha2-256. The DAG's cumulative size ([`FileDag::dag_size`]) is
//! the `Size` kubo answers: the encoded size of every block of the tree.
//!
//! Strings: a CIDv0 is the base58btc multihash (`Qm…`), a CIDv1 base32 lower case (`b…`).
//!
//! A dataset's on-chain multiaddr may name a CID ([`multiaddr_cid`]): iExec's SDKs write
//! `/p2p/<CID>` (and `/ipfs/<CID>`) as binary multiaddr bytes, Confide's CLI `/ipfs/<CID>`
//! as text.
//!
//! Whole-file only: a directory, inlined blocks, or other chunkers are not produced.

use sha2::{Digest, Sha256};

/// Bytes per chunk (kubo's `size-262144`).
pub const CHUNK_SIZE: usize = 256 * 1024;
/// Links per node at most (boxo's `DefaultLinksPerBlock`, 8192 / 47).
const MAX_LINKS: usize = 174;

const CODEC_RAW: u8 = 0x55;
const CODEC_DAG_PB: u8 = 0x70;
const SHA2_256: u8 = 0x12;
/// UnixFS `Data.Type` of a file.
const UNIXFS_FILE: u64 = 2;

/// Which of IPFS's two CID versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CidVersion {
    /// `Qm…`: base58 multihash of dag-pb blocks (kubo's default `ipfs add`).
    V0,
    /// `bafy…` / `bafk…`: base32, raw leaves by default (`ipfs add --cid-version=1`).
    V1,
}

/// How `ipfs add` lays a file out: the version of its dag-pb nodes' CIDs, and whether its
/// leaves are raw blocks (`--raw-leaves`). The tree's shape is the same either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// The CID version of the tree's dag-pb nodes (raw leaves are CIDv1 whatever it is).
    pub version: CidVersion,
    /// Leaves are raw blocks; otherwise dag-pb nodes holding a UnixFS `File`.
    pub raw_leaves: bool,
}

impl Layout {
    /// kubo's layout for `--cid-version` alone: raw leaves under CIDv1, UnixFS leaves
    /// under CIDv0.
    pub fn kubo(version: CidVersion) -> Layout {
        Layout {
            version,
            raw_leaves: version == CidVersion::V1,
        }
    }
}

/// A content identifier: its version, the codec of the block it names, the block's sha256.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cid {
    /// Invariant: 0 or 1, and 1 when `codec` is raw (CIDv0 names dag-pb blocks only).
    version: u8,
    codec: u8,
    digest: [u8; 32],
}

/// Why a string or multiaddr is not a CID this module reads, or a CID cannot be written
/// where it was asked for.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidError {
    /// The text is not a canonical CIDv0 (`Qm…`) or base32 CIDv1 of a raw or dag-pb block
    /// with a sha2-256 multihash, or the CID does not fit where it was asked for; the
    /// reason names the check that failed.
    #[error("not a CID: {0}")]
    Invalid(&'static str),
}

impl Cid {
    fn of_block(version: CidVersion, codec: u8, block: &[u8]) -> Cid {
        Cid {
            version: match version {
                CidVersion::V0 => 0,
                CidVersion::V1 => 1,
            },
            codec,
            digest: Sha256::digest(block).into(),
        }
    }

    /// The binary form links and CIDv1 strings carry: for v1
    /// `0x01 ‖ codec ‖ 0x12 0x20 ‖ digest`, for v0 the multihash alone.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(36);
        if self.version == 1 {
            bytes.extend([1, self.codec]);
        }
        bytes.extend(self.multihash());
        bytes
    }

    /// The multihash: `0x12 0x20 ‖ digest` (sha2-256, 32 bytes).
    pub fn multihash(&self) -> [u8; 34] {
        let mut multihash = [0u8; 34];
        multihash[..2].copy_from_slice(&[SHA2_256, 32]);
        multihash[2..].copy_from_slice(&self.digest);
        multihash
    }

    /// The sha256 of the block the CID names.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// Whether the CID names a raw block (a file of one chunk, with raw leaves).
    pub fn is_raw(&self) -> bool {
        self.codec == CODEC_RAW
    }

    /// The CID's version.
    pub fn version(&self) -> CidVersion {
        match self.version {
            0 => CidVersion::V0,
            _ => CidVersion::V1,
        }
    }

    /// The layouts `ipfs add` could have made a file whose root is this CID with: a raw
    /// root is a one-chunk file with raw leaves; a dag-pb root of either version has raw
    /// or UnixFS leaves.
    pub fn layouts(&self) -> Vec<Layout> {
        let version = self.version();
        if self.is_raw() {
            return vec![Layout {
                version,
                raw_leaves: true,
            }];
        }
        let default = Layout::kubo(version);
        let other = Layout {
            raw_leaves: !default.raw_leaves,
            ..default
        };
        vec![default, other]
    }
}

impl std::fmt::Display for Cid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            0 => f.write_str(&base58(&self.to_bytes())),
            _ => write!(f, "b{}", base32_lower(&self.to_bytes())),
        }
    }
}

impl std::str::FromStr for Cid {
    type Err = CidError;

    /// Reads the CIDs this module writes: a CIDv0 (`Qm…`, the base58btc sha2-256
    /// multihash of a dag-pb block) or a base32 CIDv1 (`b…`) of a raw or dag-pb block with
    /// a sha2-256 multihash. Only the canonical spelling of each is read.
    fn from_str(text: &str) -> Result<Cid, CidError> {
        let cid = if text.starts_with("Qm") {
            let bytes = base58_decode(text).ok_or(CidError::Invalid("bad base58"))?;
            let [SHA2_256, 32, digest @ ..] = bytes.as_slice() else {
                return Err(CidError::Invalid("not a sha2-256 CIDv0"));
            };
            let digest: [u8; 32] = digest.try_into().map_err(|_| CidError::Invalid("bad digest length"))?;
            Cid {
                version: 0,
                codec: CODEC_DAG_PB,
                digest,
            }
        } else {
            let body = text
                .strip_prefix('b')
                .ok_or(CidError::Invalid("only CIDv0 (Qm…) and base32 CIDv1 (b…) are read"))?;
            let bytes = base32_lower_decode(body).ok_or(CidError::Invalid("bad base32"))?;
            let [1, codec, SHA2_256, 32, digest @ ..] = bytes.as_slice() else {
                return Err(CidError::Invalid("not a sha2-256 CIDv1"));
            };
            if !matches!(*codec, CODEC_RAW | CODEC_DAG_PB) {
                return Err(CidError::Invalid("codec neither raw nor dag-pb"));
            }
            let digest: [u8; 32] = digest.try_into().map_err(|_| CidError::Invalid("bad digest length"))?;
            Cid {
                version: 1,
                codec: *codec,
                digest,
            }
        };
        // One spelling per CID: a CID string with trailing bits set, or base58 with
        // leading zeros, is refused.
        if cid.to_string() != text {
            return Err(CidError::Invalid("not canonical"));
        }
        Ok(cid)
    }
}

/// A node of the tree as its parent links it: its CID, its size with all it links to
/// (`Tsize`), and the file bytes under it.
#[derive(Clone, Copy, Debug)]
struct Linked {
    cid: Cid,
    tree_size: u64,
    file_size: u64,
}

/// A file's DAG as `ipfs add` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileDag {
    /// The root's CID.
    pub cid: Cid,
    /// The encoded size of every block of the DAG, summed (kubo's `Size` in the answer to
    /// `add`, `CumulativeSize` in `object stat`): the file's bytes plus the dag-pb and
    /// UnixFS framing.
    pub dag_size: u64,
}

/// Computes a file's CID from its chunks as they are read: feed bytes in any pieces with
/// [`FileCid::update`], then [`FileCid::finish`]. Memory: one chunk, and 48 bytes a chunk
/// for the leaves (1.5 MiB for an 8 GiB file).
pub struct FileCid {
    layout: Layout,
    chunk: Vec<u8>,
    leaves: Vec<Linked>,
}

impl FileCid {
    /// Starts an empty file, to be cut and hashed as `ipfs add --cid-version` does under
    /// `version` ([`Layout::kubo`]).
    pub fn new(version: CidVersion) -> FileCid {
        FileCid::with_layout(Layout::kubo(version))
    }

    /// Starts an empty file, to be cut and hashed under `layout`.
    pub fn with_layout(layout: Layout) -> FileCid {
        FileCid {
            layout,
            chunk: Vec::with_capacity(CHUNK_SIZE),
            leaves: Vec::new(),
        }
    }

    /// Feeds the file's next bytes, in pieces of any size; each full chunk is hashed at once.
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (CHUNK_SIZE - self.chunk.len()).min(bytes.len());
            self.chunk.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.chunk.len() == CHUNK_SIZE {
                self.close_chunk();
            }
        }
    }

    fn close_chunk(&mut self) {
        let leaf = leaf(self.layout, &self.chunk);
        self.leaves.push(leaf);
        self.chunk.clear();
    }

    /// Hashes the last chunk and the tree above the chunks: the CID `ipfs add` gives the file.
    pub fn finish(self) -> Cid {
        self.finish_dag().cid
    }

    /// [`FileCid::finish`], with the DAG's cumulative size.
    pub fn finish_dag(mut self) -> FileDag {
        // The last, shorter chunk; an empty file is one empty chunk.
        if !self.chunk.is_empty() || self.leaves.is_empty() {
            self.close_chunk();
        }
        let root = balanced_root(self.layout.version, &self.leaves);
        FileDag {
            cid: root.cid,
            dag_size: root.tree_size,
        }
    }
}

/// The CID `ipfs add --cid-version` gives `bytes` (see [`Layout::kubo`]).
pub fn file_cid(version: CidVersion, bytes: &[u8]) -> Cid {
    file_dag(Layout::kubo(version), bytes).cid
}

/// The DAG `ipfs add` makes of `bytes` under `layout`.
pub fn file_dag(layout: Layout, bytes: &[u8]) -> FileDag {
    let mut cid = FileCid::with_layout(layout);
    cid.update(bytes);
    cid.finish_dag()
}

/// Checks bytes, fed as they arrive, against the CID they were asked for, under every
/// layout that could have given that CID ([`Cid::layouts`]): bytes whose DAG under one of
/// them has the CID as root are the file it names (a root commits to its whole tree).
/// Memory: a [`FileCid`] per layout.
pub struct CidCheck {
    expected: Cid,
    candidates: Vec<FileCid>,
}

impl CidCheck {
    /// A check of the bytes to come against `expected`.
    pub fn new(expected: Cid) -> CidCheck {
        CidCheck::with_layouts(expected, &expected.layouts())
    }

    /// A check against `expected` under `layouts` alone (when the layout is known, one
    /// hash of the bytes instead of two).
    pub fn with_layouts(expected: Cid, layouts: &[Layout]) -> CidCheck {
        CidCheck {
            expected,
            candidates: layouts.iter().copied().map(FileCid::with_layout).collect(),
        }
    }

    /// The CID checked against.
    pub fn expected(&self) -> Cid {
        self.expected
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        for candidate in &mut self.candidates {
            candidate.update(bytes);
        }
    }

    /// Whether the bytes fed are the file the CID names.
    pub fn matches(self) -> bool {
        let expected = self.expected;
        self.candidates
            .into_iter()
            .any(|candidate| candidate.finish() == expected)
    }
}

fn leaf(layout: Layout, chunk: &[u8]) -> Linked {
    if layout.raw_leaves {
        return Linked {
            cid: Cid::of_block(CidVersion::V1, CODEC_RAW, chunk),
            tree_size: chunk.len() as u64,
            file_size: chunk.len() as u64,
        };
    }
    let block = dag_pb_node(&[], &unixfs_file(Some(chunk), chunk.len() as u64, &[]));
    Linked {
        cid: Cid::of_block(layout.version, CODEC_DAG_PB, &block),
        tree_size: block.len() as u64,
        file_size: chunk.len() as u64,
    }
}

/// boxo's balanced layout: the first leaf is the root; while leaves remain, a new root
/// links the old one and is filled with subtrees one level deeper.
fn balanced_root(version: CidVersion, leaves: &[Linked]) -> Linked {
    let mut next = 1;
    let mut root = leaves[0];
    let mut depth = 1;
    while next < leaves.len() {
        root = fill(version, vec![root], depth, leaves, &mut next);
        depth += 1;
    }
    root
}

/// Fills a node that already links `children` up to [`MAX_LINKS`] with leaves (depth 1)
/// or full subtrees of `depth - 1`, while leaves remain.
fn fill(version: CidVersion, mut children: Vec<Linked>, depth: u32, leaves: &[Linked], next: &mut usize) -> Linked {
    while children.len() < MAX_LINKS && *next < leaves.len() {
        if depth == 1 {
            children.push(leaves[*next]);
            *next += 1;
        } else {
            children.push(fill(version, Vec::new(), depth - 1, leaves, next));
        }
    }
    internal_node(version, &children)
}

fn internal_node(version: CidVersion, children: &[Linked]) -> Linked {
    let file_size = children.iter().map(|c| c.file_size).sum();
    let sizes: Vec<u64> = children.iter().map(|c| c.file_size).collect();
    let block = dag_pb_node(children, &unixfs_file(None, file_size, &sizes));
    Linked {
        cid: Cid::of_block(version, CODEC_DAG_PB, &block),
        tree_size: block.len() as u64 + children.iter().map(|c| c.tree_size).sum::<u64>(),
        file_size,
    }
}

/// A dag-pb `PBNode`: its links (field 2) first, then its data (field 1), as
/// go-codec-dagpb writes them. Each `PBLink`: hash (1), name (2, empty but present), Tsize (3).
fn dag_pb_node(links: &[Linked], data: &[u8]) -> Vec<u8> {
    let mut node = Vec::new();
    for link in links {
        let mut encoded = Vec::new();
        length_delimited(&mut encoded, 1, &link.cid.to_bytes());
        length_delimited(&mut encoded, 2, b"");
        varint_field(&mut encoded, 3, link.tree_size);
        length_delimited(&mut node, 2, &encoded);
    }
    length_delimited(&mut node, 1, data);
    node
}

/// UnixFS `Data` of a file: Type (1), the bytes of a leaf (2), filesize (3), and one
/// blocksize (4, not packed) per child.
fn unixfs_file(data: Option<&[u8]>, file_size: u64, block_sizes: &[u64]) -> Vec<u8> {
    let mut encoded = Vec::new();
    varint_field(&mut encoded, 1, UNIXFS_FILE);
    if let Some(data) = data.filter(|d| !d.is_empty()) {
        length_delimited(&mut encoded, 2, data);
    }
    varint_field(&mut encoded, 3, file_size);
    for size in block_sizes {
        varint_field(&mut encoded, 4, *size);
    }
    encoded
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u64, value: u64) {
    varint(out, field << 3);
    varint(out, value);
}

fn length_delimited(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, (field << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// RFC 4648 base32, lower case, no padding (multibase `b`).
fn base32_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn base32_lower_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = BASE32.iter().position(|b| *b == c)? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

const BASE58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Bitcoin's base58 (CIDv0).
fn base58(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = Vec::new();
    for byte in bytes {
        let mut carry = u32::from(*byte);
        for digit in digits.iter_mut() {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    std::iter::repeat_n('1', zeros)
        .chain(digits.iter().rev().map(|d| BASE58[*d as usize] as char))
        .collect()
}

/// The longest base58 text read: a CIDv0 is 46 characters (decoding is quadratic).
const BASE58_MAX: usize = 64;

fn base58_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() > BASE58_MAX {
        return None;
    }
    // Little-endian base-256 digits.
    let mut digits: Vec<u8> = Vec::new();
    for c in text.bytes() {
        let mut carry = BASE58.iter().position(|b| *b == c)? as u32;
        for digit in digits.iter_mut() {
            carry += u32::from(*digit) * 58;
            *digit = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            digits.push(carry as u8);
            carry >>= 8;
        }
    }
    let zeros = text.bytes().take_while(|b| *b == b'1').count();
    let mut bytes = vec![0u8; zeros];
    bytes.extend(digits.iter().rev());
    Some(bytes)
}

/// multiaddr's protocol code of `/p2p/`; `/ipfs/` is its older name, with the same code
/// (multiformats' `protocols.csv`: `421, V, p2p`).
const MULTIADDR_P2P: u64 = 421;
/// A multiaddr longer than this names no CID (it is a URL, or text).
const MULTIADDR_MAX: usize = 512;

/// The CID a dataset's on-chain multiaddr names, if it names one:
///
/// - the binary multiaddr of `/p2p/<CID>` or `/ipfs/<CID>`, as iExec's SDKs register it
///   (`@multiformats/multiaddr`'s `bytes`): `varint(421) ‖ varint(length) ‖ multihash`,
///   one component, nothing after. It carries the multihash alone, so it reads as the
///   CIDv0 of that multihash: what kubo's default `add`, which the SDKs call, derives;
/// - the text `/ipfs/<CID>` or `/p2p/<CID>` (UTF-8), a CIDv0 or a base32 CIDv1, as
///   Confide's CLI registers it.
///
/// A URL, a path inside a directory (`/ipfs/<CID>/file`) or anything else: `None`.
pub fn multiaddr_cid(multiaddr: &[u8]) -> Option<Cid> {
    if multiaddr.len() > MULTIADDR_MAX {
        return None;
    }
    if let Some(cid) = binary_p2p(multiaddr) {
        return Some(cid);
    }
    let text = std::str::from_utf8(multiaddr).ok()?;
    let cid = text.strip_prefix("/ipfs/").or_else(|| text.strip_prefix("/p2p/"))?;
    cid.parse().ok()
}

/// Where a dataset's on-chain multiaddr points, as the text the enclave runtime
/// downloads: `/ipfs/<CID>` when it names a CID ([`multiaddr_cid`], binary or text),
/// otherwise its UTF-8 text (a URL), invalid bytes replaced, as it was always read.
pub fn multiaddr_location(multiaddr: &[u8]) -> String {
    match multiaddr_cid(multiaddr) {
        Some(cid) => format!("/ipfs/{cid}"),
        None => String::from_utf8_lossy(multiaddr).into_owned(),
    }
}

/// The binary multiaddr `/p2p/<CID>` iExec's DataProtector registers a protected data
/// with (`varint(421) ‖ varint(34) ‖ multihash`), for a dataset registered the SDK's way.
/// Only a CIDv0 can be written: the multiaddr keeps the multihash alone, which every
/// reader takes for a CIDv0, so a CIDv1 would read back as another CID.
pub fn p2p_multiaddr(cid: &Cid) -> Result<Vec<u8>, CidError> {
    if cid.version() != CidVersion::V0 {
        return Err(CidError::Invalid(
            "a /p2p/ multiaddr keeps the multihash alone, read back as a CIDv0: add the file as a CIDv0",
        ));
    }
    let multihash = cid.multihash();
    let mut bytes = Vec::with_capacity(3 + multihash.len());
    varint(&mut bytes, MULTIADDR_P2P);
    varint(&mut bytes, multihash.len() as u64);
    bytes.extend(multihash);
    Ok(bytes)
}

/// `/p2p/<multihash>` in binary, one component: its CIDv0.
fn binary_p2p(bytes: &[u8]) -> Option<Cid> {
    let (code, rest) = read_varint(bytes)?;
    let (length, multihash) = read_varint(rest)?;
    if code != MULTIADDR_P2P || usize::try_from(length).ok()? != multihash.len() {
        return None;
    }
    let [SHA2_256, 32, digest @ ..] = multihash else {
        return None;
    };
    Some(Cid {
        version: 0,
        codec: CODEC_DAG_PB,
        digest: digest.try_into().ok()?,
    })
}

/// An unsigned LEB128 varint in its shortest form (multiformats' unsigned-varint: at most
/// 9 bytes), and what follows it.
fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (index, byte) in bytes.iter().enumerate().take(9) {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            // A last byte of zero after others pads: not the shortest form.
            if index > 0 && *byte == 0 {
                return None;
            }
            return Some((value, &bytes[index + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    //! Vectors published by IPFS: kubo's `test/sharness/t0040-add-and-cat.sh` (empty file,
    //! "Hello Mars!"), `test/cli/add_test.go` and `cid_profiles_test.go` (deterministic
    //! files across chunk and link boundaries), ipfs/specs `src/unixfs.md`.
    use super::*;

    /// kubo's `testutils.RandomDeterministic`: the ChaCha20 keystream under
    /// `sha256(seed)` and a zero nonce.
    fn deterministic(seed: &str, len: usize) -> Vec<u8> {
        use chacha20::cipher::{KeyIvInit, StreamCipher};
        let key: [u8; 32] = Sha256::digest(seed.as_bytes()).into();
        let mut cipher = chacha20::ChaCha20::new(&key.into(), &[0u8; 12].into());
        let mut bytes = vec![0u8; len];
        cipher.apply_keystream(&mut bytes);
        bytes
    }

    #[test]
    fn small_files_are_one_raw_block_under_cidv1() {
        assert_eq!(
            file_cid(CidVersion::V1, b"").to_string(),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
        assert_eq!(
            file_cid(CidVersion::V1, b"hello world").to_string(),
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
        );
        assert_eq!(
            file_cid(CidVersion::V1, b"Hello Mars!\n").to_string(),
            "bafkreibmlvvgdyihetgocpof6xk64kjjzdeq2e4c7hqs3krdheosk4tgj4"
        );
    }

    #[test]
    fn small_files_are_one_unixfs_node_under_cidv0() {
        assert_eq!(
            file_cid(CidVersion::V0, b"").to_string(),
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
        );
        assert_eq!(
            file_cid(CidVersion::V0, b"hello world").to_string(),
            "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
        );
        assert_eq!(
            file_cid(CidVersion::V0, b"Hello Worlds!\n").to_string(),
            "QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH"
        );
    }

    #[test]
    fn files_across_chunk_and_link_boundaries_match_kubos_published_cids() {
        let exactly_one_chunk = deterministic("chunk-v0-seed", CHUNK_SIZE);
        assert_eq!(
            file_cid(CidVersion::V0, &exactly_one_chunk).to_string(),
            "QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE"
        );
        let one_byte_more = deterministic("chunk-v0-seed", CHUNK_SIZE + 1);
        assert_eq!(
            file_cid(CidVersion::V0, &one_byte_more).to_string(),
            "QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ"
        );
        // 174 chunks fill one node; one byte more makes the tree two levels deep.
        let full_node = deterministic("v0-seed", MAX_LINKS * CHUNK_SIZE);
        assert_eq!(
            file_cid(CidVersion::V0, &full_node).to_string(),
            "QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2"
        );
        let deeper = deterministic("v0-seed", MAX_LINKS * CHUNK_SIZE + 1);
        assert_eq!(
            file_cid(CidVersion::V0, &deeper).to_string(),
            "QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW"
        );
        assert_eq!(
            file_cid(CidVersion::V0, &vec![0u8; 1 << 20]).to_string(),
            "QmVkbauSDEaMP4Tkq6Epm9uW75mWm136n81YH8fGtfwdHU"
        );
    }

    #[test]
    fn multi_chunk_cidv1_files_link_raw_leaves_from_dag_pb_nodes() {
        // The layout and encoding are those the CIDv0 vectors above pin; with CIDv1 only
        // the leaves (raw) and the version change. Values from an independent
        // implementation of the same rules, checked against the published vectors too.
        assert_eq!(
            file_cid(CidVersion::V1, &deterministic("chunk-v0-seed", CHUNK_SIZE)).to_string(),
            "bafkreid33n22tcydu7pk2egzkyq4phh5mjwhyf6son6zggnlnlyi3257um"
        );
        assert_eq!(
            file_cid(CidVersion::V1, &deterministic("chunk-v0-seed", CHUNK_SIZE + 1)).to_string(),
            "bafybeibyui7o3sbw3yifnewshhrbnuntcehluzvbkwgi5vmtsdobnc2c6y"
        );
        assert_eq!(
            file_cid(CidVersion::V1, &deterministic("v0-seed", MAX_LINKS * CHUNK_SIZE + 1)).to_string(),
            "bafybeifr472xiwfk53w5s7bayijk3lq2go6ocqqcfch6ygy5qwza5hkdl4"
        );
        assert_eq!(
            file_cid(CidVersion::V1, &vec![0u8; 1 << 20]).to_string(),
            "bafybeiggzq4ryi7hscq5hzvzcnk4urnxt3asp37dhgvnjilf7exskximla"
        );
    }

    #[test]
    fn streaming_in_any_pieces_gives_the_same_cid() {
        let bytes = deterministic("pieces", 3 * CHUNK_SIZE + 17);
        let whole = file_cid(CidVersion::V1, &bytes);
        for piece in [1, 1000, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1] {
            let mut cid = FileCid::new(CidVersion::V1);
            for part in bytes.chunks(piece) {
                cid.update(part);
            }
            assert_eq!(cid.finish(), whole, "pieces of {piece}");
        }
    }

    #[test]
    fn cid_strings_read_back_and_only_canonical_ones() {
        for text in [
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
            "bafybeiggzq4ryi7hscq5hzvzcnk4urnxt3asp37dhgvnjilf7exskximla",
            "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD",
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
        ] {
            assert_eq!(text.parse::<Cid>().unwrap().to_string(), text);
        }
        for bad in [
            "",
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5f",
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5",
            "BAFKREIFZJUT3TE2NHYEKKLSS27NH3K72YSCO7Y32KOAO5EEI66WOF36N5E",
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e/x",
        ] {
            assert!(bad.parse::<Cid>().is_err(), "{bad:?} read as a CID");
        }
    }

    #[test]
    fn cidv0_strings_read_back_as_dag_pb_cids_and_only_canonical_ones() {
        let cid: Cid = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o".parse().unwrap();
        assert_eq!(cid, file_cid(CidVersion::V0, b"hello world\n"));
        assert_eq!(cid.version(), CidVersion::V0);
        assert!(!cid.is_raw());
        for bad in [
            // One character short, one too many.
            "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5",
            "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5oo",
            // Characters base58 leaves out (0, O, I, l).
            "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff50",
            "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ffOo",
            "qmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
            // Base58 that begins `Qm` but is no sha2-256 multihash (`0x12 0x22 …`).
            "Qmzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "Qm",
            &format!("Qm{}", "1".repeat(200)),
        ] {
            assert!(bad.parse::<Cid>().is_err(), "{bad:?} read as a CID");
        }
    }

    /// Debian's `ipfs_cid` (the independent importer `scripts/test.sh` installs), run on
    /// these files: its CIDv0, and for one-chunk files its CIDv1 (a UnixFS leaf: what
    /// `ipfs add --cid-version=1 --raw-leaves=false` gives). For longer files the tool's
    /// "CIDv1" is its CIDv0's multihash relabelled (links stay CIDv0), not kubo's.
    #[test]
    fn cids_equal_those_of_debians_ipfs_cid() {
        let vectors: [(&[u8], &str, Option<&str>); 4] = [
            (
                b"",
                "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
                Some("bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y"),
            ),
            (
                b"x",
                "QmULKig5Fxrs2sC4qt9nNduucXfb92AFYQ6Hi3YRqDmrYC",
                Some("bafybeiczcctdlznuiia25cbxs3bmdsinqecjoqocn43kvxcy4u5fgouucu"),
            ),
            (
                &[0u8; CHUNK_SIZE],
                "QmRk1rduJvo5DfEYAaLobS2za9tDszk35hzaNSDCJ74DA7",
                Some("bafybeibsr5kjsohzzjy5qvpycm27g3npukuluduozbmvywb6bdrpocmv7a"),
            ),
            (
                &[0u8; CHUNK_SIZE + 1],
                "QmbVuw4C4vcmVKqxoWtgDVobvcHrSn51qsmQmyxjk4sB2Q",
                None,
            ),
        ];
        let unixfs_v1 = Layout {
            version: CidVersion::V1,
            raw_leaves: false,
        };
        for (bytes, v0, v1) in vectors {
            assert_eq!(file_cid(CidVersion::V0, bytes).to_string(), v0, "{} bytes", bytes.len());
            if let Some(v1) = v1 {
                assert_eq!(file_dag(unixfs_v1, bytes).cid.to_string(), v1, "{} bytes", bytes.len());
            }
        }
    }

    #[test]
    fn the_dag_size_is_kubos_size() {
        // kubo's answers: `ipfs add` of "hello world\n" (Size 20), `files stat` of a
        // 256 KiB file (CumulativeSize 262158) and of a 1720471-byte one (1720913: six
        // full leaves, a 147607-byte one and a root of 344 bytes). Under CIDv0 the framing
        // depends on the length alone, so any bytes of that length have that size.
        let v0 = Layout::kubo(CidVersion::V0);
        assert_eq!(file_dag(v0, b"hello world\n").dag_size, 20);
        assert_eq!(file_dag(v0, b"").dag_size, 6);
        assert_eq!(file_dag(v0, &deterministic("any", CHUNK_SIZE)).dag_size, 262_158);
        assert_eq!(file_dag(v0, &deterministic("any", 1_720_471)).dag_size, 1_720_913);
        // Raw leaves are the bytes themselves: one chunk is its length; a tree adds its
        // dag-pb nodes. Here a root of two links (46 and 44 bytes: a 36-byte CID, an empty
        // name, a Tsize of 3 and 1 bytes) and 14 bytes of UnixFS data (type, file size,
        // two block sizes).
        let v1 = Layout::kubo(CidVersion::V1);
        assert_eq!(file_dag(v1, b"hello world").dag_size, 11);
        assert_eq!(file_dag(v1, b"").dag_size, 0);
        let two_leaves = file_dag(v1, &vec![0u8; CHUNK_SIZE + 1]);
        assert_eq!(two_leaves.dag_size, CHUNK_SIZE as u64 + 1 + 46 + 44 + 14);
        // Streaming gives the same size as a whole.
        let bytes = deterministic("pieces", 175 * CHUNK_SIZE + 9);
        let mut streamed = FileCid::with_layout(v0);
        for part in bytes.chunks(100_000) {
            streamed.update(part);
        }
        assert_eq!(streamed.finish_dag(), file_dag(v0, &bytes));
    }

    #[test]
    fn a_cid_check_accepts_its_file_under_any_layout_and_nothing_else() {
        let bytes = deterministic("check", 2 * CHUNK_SIZE + 5);
        let layouts = [
            Layout::kubo(CidVersion::V0),
            Layout::kubo(CidVersion::V1),
            Layout {
                version: CidVersion::V0,
                raw_leaves: true,
            },
            Layout {
                version: CidVersion::V1,
                raw_leaves: false,
            },
        ];
        let check = |cid: Cid, bytes: &[u8]| {
            let mut check = CidCheck::new(cid);
            for part in bytes.chunks(70_000) {
                check.update(part);
            }
            check.matches()
        };
        for layout in layouts {
            let cid = file_dag(layout, &bytes).cid;
            assert!(check(cid, &bytes), "{layout:?}");
            let mut other = bytes.clone();
            other[CHUNK_SIZE + 3] ^= 1;
            assert!(!check(cid, &other), "{layout:?}: other bytes pass");
            assert!(!check(cid, &bytes[1..]), "{layout:?}: shorter bytes pass");
        }
        // A raw root is a single chunk.
        let small = file_cid(CidVersion::V1, b"hello world");
        assert!(check(small, b"hello world"));
        assert!(!check(small, b"hello world!"));
    }

    /// Bytes from iExec's SDKs' own multiaddr library (@multiformats/multiaddr 12.5.1,
    /// `multiaddr(text).bytes`, and `multiaddr(bytes).toString()` back).
    #[test]
    fn dataset_multiaddrs_name_cids_as_iexecs_sdks_write_them() {
        let hello = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";
        let binary = confide_hex("a50322122046d44814b9c5af141c3aaab7c05dc5e844ead5f91f12858b021eba45768b4c0e");
        let cid: Cid = hello.parse().unwrap();
        // `/p2p/<CIDv0>` and `/ipfs/<CIDv0>` are the same bytes.
        assert_eq!(multiaddr_cid(&binary), Some(cid));
        assert_eq!(p2p_multiaddr(&cid).unwrap(), binary);
        assert_eq!(multiaddr_location(&binary), format!("/ipfs/{hello}"));
        // `/p2p/<CIDv1>` keeps the multihash alone: it reads back as that multihash's
        // CIDv0 (the library's own `toString()` of these bytes).
        let from_v1 = confide_hex("a503221220b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_eq!(
            multiaddr_cid(&from_v1).unwrap().to_string(),
            "QmaozNR7DZHQK1ZcU9p7QdrshMvXqWK6gpu5rmrkPdT3L4"
        );
        let v1 = file_cid(CidVersion::V1, b"hello world");
        assert!(p2p_multiaddr(&v1).is_err(), "a CIDv1 would read back as another CID");
        // Text, as Confide's CLI registers it, and URLs as they always were.
        let text_v1 = format!("/ipfs/{v1}");
        assert_eq!(multiaddr_cid(text_v1.as_bytes()), Some(v1));
        assert_eq!(multiaddr_cid(format!("/p2p/{hello}").as_bytes()), Some(cid));
        assert_eq!(multiaddr_location(text_v1.as_bytes()), text_v1);
        let url = b"https://example.org/ipfs/QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";
        assert_eq!(multiaddr_cid(url), None);
        assert_eq!(multiaddr_location(url), String::from_utf8_lossy(url));
        for not_a_file in [
            format!("/ipfs/{hello}/data.bin").into_bytes(),
            format!("/ipfs/{hello}/").into_bytes(),
            b"/ipfs/".to_vec(),
            // A second component after the CID (`/tcp/443`), a truncated multihash, a
            // sha2-512 one, another protocol (`/dns4`), a padded varint.
            [binary.clone(), vec![0x06, 0x01, 0xbb]].concat(),
            binary[..binary.len() - 1].to_vec(),
            [vec![0xa5, 0x03, 0x42, 0x13, 0x40], vec![7; 64]].concat(),
            [vec![0x36, 0x22], binary[3..].to_vec()].concat(),
            [vec![0xa5, 0x83, 0x00, 0x22], binary[3..].to_vec()].concat(),
            Vec::new(),
        ] {
            assert_eq!(multiaddr_cid(&not_a_file), None, "{not_a_file:?}");
        }
    }

    fn confide_hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }
}
