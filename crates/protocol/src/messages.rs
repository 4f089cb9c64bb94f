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

/// The address that produced `signature` over `hash` with [`sign_personal`].
pub fn recover_personal(hash: B256, signature: &Signature) -> Option<Address> {
    signature.recover_address_from_prehash(&personal_digest(hash)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_signer_local::PrivateKeySigner;

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
