//! The messages workers, schedulers and enclaves sign, byte for byte as PoCo checks them
//! in `contribute`, `contributeAndFinalize` and `reveal`.

use alloy_primitives::{Address, B256, Signature, eip191_hash_message, keccak256};
use alloy_signer::SignerSync;

use crate::Error;

fn keccak_concat(parts: &[&[u8]]) -> B256 {
    keccak256(parts.concat())
}

/// What the workerpool owner signs to let `worker` contribute to `task_id` with the given
/// enclave challenge (zero for standard tasks): `keccak256(worker ‖ taskId ‖ enclave)`.
pub fn authorization_hash(worker: Address, task_id: B256, enclave_challenge: Address) -> B256 {
    keccak_concat(&[worker.as_slice(), task_id.as_slice(), enclave_challenge.as_slice()])
}

/// `keccak256(taskId ‖ resultDigest)`: the contribution everyone agreeing shares.
pub fn result_hash(task_id: B256, result_digest: B256) -> B256 {
    keccak_concat(&[task_id.as_slice(), result_digest.as_slice()])
}

/// `keccak256(worker ‖ taskId ‖ resultDigest)`: binds a contribution to its worker.
pub fn result_seal(worker: Address, task_id: B256, result_digest: B256) -> B256 {
    keccak_concat(&[worker.as_slice(), task_id.as_slice(), result_digest.as_slice()])
}

/// What the enclave challenge key signs: `keccak256(resultHash ‖ resultSeal)`.
pub fn enclave_message(result_hash: B256, result_seal: B256) -> B256 {
    keccak_concat(&[result_hash.as_slice(), result_seal.as_slice()])
}

/// The EIP-191 digest of a 32-byte hash, signed as binary (`personal_sign` of the bytes).
pub fn personal_digest(hash: B256) -> B256 {
    eip191_hash_message(hash.as_slice())
}

/// Signs `hash` the way PoCo and iExec's services verify it: EIP-191 over the raw bytes,
/// 65-byte `r ‖ s ‖ v` with `v` in {27, 28}.
pub fn sign_personal(signer: &impl SignerSync, hash: B256) -> Result<Signature, Error> {
    Ok(signer.sign_message_sync(hash.as_slice())?)
}

/// Signs a digest as is (no prefix): for EIP-712 digests computed elsewhere.
pub fn sign_digest(signer: &impl SignerSync, digest: B256) -> Result<Signature, Error> {
    Ok(signer.sign_hash_sync(&digest)?)
}

/// A 65-byte `r ‖ s ‖ v` signature in its one canonical encoding, or `None`.
///
/// PoCo checks signatures with OpenZeppelin's ECDSA, which refuses `v` other than 27 or 28
/// and `s` in the upper half of the curve order; so does every Confide service. Each
/// signature then has exactly one accepted encoding: a malleable twin (`n - s`, the other
/// `v`) or another spelling of `v` (0/1, EIP-155) recovers to the same signer, and would
/// pass a check that remembers used signatures by their bytes.
pub fn canonical_signature(bytes: &[u8]) -> Option<Signature> {
    if bytes.len() != 65 || !matches!(bytes[64], 27 | 28) || bytes[32..64] > HALF_CURVE_ORDER[..] {
        return None;
    }
    Signature::try_from(bytes).ok()
}

/// A signature sent as hex text (`0x` optional, spaces around trimmed), canonical only
/// (see [`canonical_signature`]).
pub fn canonical_signature_hex(text: &str) -> Option<Signature> {
    canonical_signature(&alloy_primitives::hex::decode(text.trim()).ok()?)
}

/// secp256k1's curve order divided by two, big-endian: the largest `s` accepted.
const HALF_CURVE_ORDER: [u8; 32] =
    alloy_primitives::hex!("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");

/// The address that produced `signature` over `hash` with [`sign_personal`].
pub fn recover_personal(hash: B256, signature: &Signature) -> Option<Address> {
    recover_prehash(signature, &personal_digest(hash))
}

/// The address whose key signed `digest` as is (no prefix), `None` when no key did.
///
/// Through libsecp256k1 rather than k256 (which alloy's `Signature` uses): 56 µs against
/// 370 µs on the project's machine, and the market recovers one signature per published
/// order, the SMS one or two per session.
pub fn recover_prehash(signature: &Signature, digest: &B256) -> Option<Address> {
    static CONTEXT: std::sync::LazyLock<secp256k1::Secp256k1<secp256k1::VerifyOnly>> =
        std::sync::LazyLock::new(secp256k1::Secp256k1::verification_only);
    let id = secp256k1::ecdsa::RecoveryId::try_from(i32::from(signature.v())).ok()?;
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&signature.r().to_be_bytes::<32>());
    compact[32..].copy_from_slice(&signature.s().to_be_bytes::<32>());
    let recoverable = secp256k1::ecdsa::RecoverableSignature::from_compact(&compact, id).ok()?;
    let key = CONTEXT
        .recover_ecdsa(secp256k1::Message::from_digest(digest.0), &recoverable)
        .ok()?;
    Some(Address::from_raw_public_key(&key.serialize_uncompressed()[1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_signer_local::PrivateKeySigner;

    #[test]
    fn libsecp256k1_recovers_what_k256_recovers() {
        for round in 0u8..32 {
            let signer = PrivateKeySigner::random();
            let digest = keccak256([round]);
            let signature = sign_digest(&signer, digest).unwrap();
            assert_eq!(recover_prehash(&signature, &digest), Some(signer.address()));
            assert_eq!(
                recover_prehash(&signature, &digest),
                signature.recover_address_from_prehash(&digest).ok()
            );
            let other = keccak256([round, 1]);
            assert_eq!(
                recover_prehash(&signature, &other),
                signature.recover_address_from_prehash(&other).ok(),
                "a signature over another digest recovers another key, the same in both"
            );
        }
    }

    #[test]
    fn personal_signatures_round_trip() {
        let signer = PrivateKeySigner::random();
        let hash = keccak256(b"task");
        let signature = sign_personal(&signer, hash).unwrap();
        assert_eq!(recover_personal(hash, &signature), Some(signer.address()));
        assert_ne!(
            recover_personal(keccak256(b"other"), &signature),
            Some(signer.address())
        );
    }
}
