//! Beneficiary key pairs for result encryption. iExec's format: RSA-4096, the public key
//! as SPKI PEM, the private key as PKCS#8 PEM (`<address>_key.pub`, `<address>_key`).

use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use zeroize::Zeroizing;

/// The size iExec's SDK generates.
pub const RSA_BITS: usize = 4096;

/// What generating a beneficiary key pair can fail at.
#[derive(Debug, thiserror::Error)]
pub enum ResultKeyError {
    /// The RSA library could not make the key pair (an unsupported size, for one) or
    /// encode it as PEM.
    #[error("RSA key generation failed: {0}")]
    Generate(String),
}

/// A fresh RSA key pair: (private PKCS#8 PEM, public SPKI PEM).
pub fn generate_rsa(bits: usize) -> Result<(Zeroizing<String>, String), ResultKeyError> {
    let private =
        rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).map_err(|e| ResultKeyError::Generate(e.to_string()))?;
    let public = private.to_public_key();
    let private_pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| ResultKeyError::Generate(e.to_string()))?;
    let public_pem = public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| ResultKeyError::Generate(e.to_string()))?;
    Ok((Zeroizing::new(private_pem.to_string()), public_pem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};

    #[test]
    fn pems_are_pkcs8_and_spki_and_match() {
        let (private_pem, public_pem) = generate_rsa(1024).unwrap();
        assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(&private_pem).unwrap();
        let public = rsa::RsaPublicKey::from_public_key_pem(&public_pem).unwrap();
        assert_eq!(private.to_public_key(), public);
    }
}
