//! Sealing a task's secrets to an enclave: HPKE (RFC 9180) in base mode with
//! X25519-HKDF-SHA256, HKDF-SHA256 and ChaCha20-Poly1305. The enclave makes a fresh key
//! pair per task and binds its public key into its attestation evidence, so only that
//! enclave can open what the SMS seals.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

type Kem = X25519HkdfSha256;

/// What sealing a session to an enclave, or opening it there, can fail at.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The enclave's public key, as its session request carries it, is not 32 bytes.
    #[error("the enclave public key is not a 32-byte X25519 key")]
    InvalidPublicKey,
    /// The encapsulated key sent with a sealed session is not 32 bytes.
    #[error("the encapsulated key is malformed")]
    InvalidEncapsulatedKey,
    /// HPKE would not seal to that key: an X25519 key of low order gives an all-zero
    /// shared secret, which RFC 9180 refuses.
    #[error("sealing failed")]
    Seal,
    /// The session does not open with this key pair: it was sealed to another key, with
    /// another `info` (task) or `aad` (nonce), or altered on the way.
    #[error(
        "the sealed session does not open with this enclave's key: it was sealed for another key, task or nonce, or altered"
    )]
    Open,
}

/// An enclave's ephemeral key pair; the private half never leaves the process.
pub struct EnclaveKeyPair {
    private: <Kem as hpke::Kem>::PrivateKey,
    public: <Kem as hpke::Kem>::PublicKey,
}

impl EnclaveKeyPair {
    /// A fresh key pair from the operating system's random generator, made once per task.
    pub fn generate() -> EnclaveKeyPair {
        let (private, public) = Kem::gen_keypair(&mut rand::rngs::OsRng);
        EnclaveKeyPair { private, public }
    }

    /// The 32-byte public key that goes into the report data and the session request.
    pub fn public_key(&self) -> [u8; 32] {
        self.public.to_bytes().into()
    }

    /// Opens what [`seal`] produced for this key with the same `info` and `aad`.
    pub fn open(
        &self,
        encapsulated_key: &[u8],
        sealed: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(encapsulated_key)
            .map_err(|_| SealError::InvalidEncapsulatedKey)?;
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &self.private,
            &encapped,
            info,
            sealed,
            aad,
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::Open)
    }
}

/// Seals `plaintext` to `enclave_public_key`: returns (encapsulated key, ciphertext).
pub fn seal(
    enclave_public_key: &[u8],
    plaintext: &[u8],
    info: &[u8],
    aad: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), SealError> {
    let public =
        <Kem as hpke::Kem>::PublicKey::from_bytes(enclave_public_key).map_err(|_| SealError::InvalidPublicKey)?;
    let (encapped, sealed) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &public,
        info,
        plaintext,
        aad,
        &mut rand::rngs::OsRng,
    )
    .map_err(|_| SealError::Seal)?;
    Ok((encapped.to_bytes().to_vec(), sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_enclave_key_with_the_same_context_opens() {
        let enclave = EnclaveKeyPair::generate();
        let (enc, sealed) = seal(&enclave.public_key(), b"dataset key", b"task 1", b"nonce").unwrap();
        assert_eq!(
            enclave.open(&enc, &sealed, b"task 1", b"nonce").unwrap().as_slice(),
            b"dataset key"
        );
        let other = EnclaveKeyPair::generate();
        assert!(matches!(
            other.open(&enc, &sealed, b"task 1", b"nonce"),
            Err(SealError::Open)
        ));
        assert!(matches!(
            enclave.open(&enc, &sealed, b"task 2", b"nonce"),
            Err(SealError::Open)
        ));
        assert!(matches!(
            enclave.open(&enc, &sealed, b"task 1", b"other"),
            Err(SealError::Open)
        ));
        let mut tampered = sealed.clone();
        tampered[0] ^= 1;
        assert!(matches!(
            enclave.open(&enc, &tampered, b"task 1", b"nonce"),
            Err(SealError::Open)
        ));
        assert!(matches!(
            seal(&[1; 5], b"x", b"", b""),
            Err(SealError::InvalidPublicKey)
        ));
    }
}
