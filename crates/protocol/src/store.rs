//! What an uploader signs to put a file in Confide's content store: the owner, the file's
//! name and the sha256 of its bytes, so a signature cannot be reused for other content or
//! another name: `keccak256(keccak256("CONFIDE_STORE_UPLOAD") ‖ owner ‖ keccak256(name) ‖ sha256(content))`.

use alloy_primitives::{Address, B256, keccak256};

/// The 32-byte challenge `owner` signs with EIP-191 to upload the file `name` whose bytes hash
/// to `content_sha256` (the formula above).
pub fn upload_challenge(owner: Address, name: &str, content_sha256: B256) -> B256 {
    keccak256(
        [
            keccak256("CONFIDE_STORE_UPLOAD").as_slice(),
            owner.as_slice(),
            keccak256(name).as_slice(),
            content_sha256.as_slice(),
        ]
        .concat(),
    )
}
