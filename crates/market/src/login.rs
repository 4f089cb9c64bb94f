//! Logins as iExec's market API does them: `GET /challenge` hands out a message to sign,
//! and `Authorization: <digest>_<signature>_<address>` proves the address signed it; the
//! header then serves as the session for an hour (a client publishes many orders with one).
//!
//! Challenges are derived, not stored: an address's challenge for a five-minute window is
//! `sha256(domain ‖ login key ‖ chain id ‖ address ‖ window)`, under a key every replica
//! reads from the shared database. Any replica so recognizes any replica's challenge, and
//! asking for challenges costs the market nothing to hold. The key needs no secrecy to
//! keep logins sound: a challenge is worth something only with the address's signature,
//! and anyone may ask for any address's challenge anyway. A header is accepted while its
//! challenge's window is at most an hour old; verified headers are remembered (bounded) so
//! a session costs one signature recovery per replica, not one per request.

use std::collections::HashMap;

use confide_chain::{Address, B256};
use sha2::{Digest, Sha256};

/// How long a challenge is handed out before the next one (seconds).
pub const CHALLENGE_WINDOW: u64 = 300;
/// How long a login's header stays valid after its challenge's window (seconds).
pub const SESSION_LIFETIME: u64 = 3600;

/// Domain separation of the challenge derivation.
const DOMAIN: &[u8] = b"confide/market-login/v1";

/// Why a login was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Not `<digest>_<signature>_<address>`.
    Malformed,
    /// The signature is not the address's over the digest.
    WrongSigner,
    /// The digest is none of the address's challenges of the last hour.
    UnknownChallenge,
}

/// One replica's login desk: derives challenges under the shared login key and remembers
/// the headers it verified.
pub struct Logins {
    key: [u8; 32],
    chain_id: u64,
    /// Headers verified, with their signer and the second their session ends.
    verified: HashMap<String, (Address, u64)>,
    max_verified: usize,
}

impl Logins {
    /// Logins under the database's login `key` for `chain_id`, remembering at most
    /// `max_verified` verified headers.
    pub fn new(key: [u8; 32], chain_id: u64, max_verified: usize) -> Logins {
        Logins {
            key,
            chain_id,
            verified: HashMap::new(),
            max_verified,
        }
    }

    /// The challenge text `address` gets at `now` (unix seconds).
    pub fn challenge(&self, address: Address, now: u64) -> String {
        self.text(address, now / CHALLENGE_WINDOW)
    }

    fn text(&self, address: Address, window: u64) -> String {
        let derived = Sha256::new()
            .chain_update(DOMAIN)
            .chain_update(self.key)
            .chain_update(self.chain_id.to_be_bytes())
            .chain_update(address)
            .chain_update(window.to_be_bytes())
            .finalize();
        format!(
            "Sign this message to log into iExec Gateway: {}",
            confide_chain::hex::encode(&derived[..16])
        )
    }

    /// The address a header proves at `now`.
    pub fn authenticate(&mut self, header: &str, now: u64) -> Result<Address, LoginRefusal> {
        if let Some((address, until)) = self.verified.get(header)
            && now < *until
        {
            return Ok(*address);
        }
        let mut parts = header.split('_');
        let (Some(digest), Some(signature), Some(address), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LoginRefusal::Malformed);
        };
        let digest: B256 = digest.parse().map_err(|_| LoginRefusal::Malformed)?;
        let address: Address = address.parse().map_err(|_| LoginRefusal::Malformed)?;
        let signature =
            confide_protocol::messages::canonical_signature_hex(signature).ok_or(LoginRefusal::Malformed)?;
        if confide_protocol::messages::recover_prehash(&signature, &digest) != Some(address) {
            return Err(LoginRefusal::WrongSigner);
        }
        let current = now / CHALLENGE_WINDOW;
        let oldest = current.saturating_sub(SESSION_LIFETIME / CHALLENGE_WINDOW);
        let window = (oldest..=current)
            .rev()
            .find(|window| {
                confide_protocol::market::challenge_digest(self.chain_id, &self.text(address, *window)) == digest
            })
            .ok_or(LoginRefusal::UnknownChallenge)?;
        let until = (window + 1) * CHALLENGE_WINDOW + SESSION_LIFETIME;
        if self.verified.len() >= self.max_verified {
            self.verified.retain(|_, (_, ends)| now < *ends);
        }
        if self.verified.len() >= self.max_verified {
            // Every remembered session is live: forget them (they are verified again).
            self.verified.clear();
        }
        self.verified.insert(header.to_owned(), (address, until));
        Ok(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confide_chain::PrivateKeySigner;

    const NOW: u64 = 1_800_000_000;

    fn header(logins: &Logins, who: &PrivateKeySigner, at: u64) -> String {
        let text = logins.challenge(who.address(), at);
        let digest = confide_protocol::market::challenge_digest(31337, &text);
        let signature = confide_protocol::messages::sign_digest(who, digest).unwrap();
        confide_protocol::market::authorization(digest, &signature, who.address())
    }

    #[test]
    fn a_signed_challenge_is_a_session_for_an_hour_on_any_replica() {
        let key = [7u8; 32];
        let (mut a, mut b) = (Logins::new(key, 31337, 100), Logins::new(key, 31337, 100));
        let who = PrivateKeySigner::random();
        let signed = header(&a, &who, NOW);
        assert_eq!(a.authenticate(&signed, NOW), Ok(who.address()));
        assert_eq!(b.authenticate(&signed, NOW + 60), Ok(who.address()), "another replica");
        assert_eq!(b.authenticate(&signed, NOW + SESSION_LIFETIME), Ok(who.address()));
        assert_eq!(
            Logins::new(key, 31337, 100).authenticate(&signed, NOW + SESSION_LIFETIME + 2 * CHALLENGE_WINDOW),
            Err(LoginRefusal::UnknownChallenge),
            "expired"
        );
        assert_eq!(
            a.authenticate(&signed, NOW + SESSION_LIFETIME + 2 * CHALLENGE_WINDOW),
            Err(LoginRefusal::UnknownChallenge),
            "expired where it was remembered too"
        );
    }

    #[test]
    fn only_the_address_over_its_own_challenge_under_the_shared_key() {
        let mut logins = Logins::new([7u8; 32], 31337, 100);
        let who = PrivateKeySigner::random();
        let other = PrivateKeySigner::random();
        // Someone else's signature over this address's challenge.
        let text = logins.challenge(who.address(), NOW);
        let digest = confide_protocol::market::challenge_digest(31337, &text);
        let forged = confide_protocol::messages::sign_digest(&other, digest).unwrap();
        let forged = confide_protocol::market::authorization(digest, &forged, who.address());
        assert_eq!(logins.authenticate(&forged, NOW), Err(LoginRefusal::WrongSigner));
        // The address's signature over a digest that is no challenge of ours.
        let mut stranger = Logins::new([8u8; 32], 31337, 100);
        let elsewhere = header(&stranger, &who, NOW);
        assert_eq!(
            logins.authenticate(&elsewhere, NOW),
            Err(LoginRefusal::UnknownChallenge)
        );
        assert_eq!(stranger.authenticate(&elsewhere, NOW), Ok(who.address()));
        // A future window's challenge is not accepted early.
        let ahead = header(&logins, &who, NOW + 2 * CHALLENGE_WINDOW);
        assert_eq!(logins.authenticate(&ahead, NOW), Err(LoginRefusal::UnknownChallenge));
        for malformed in ["", "a_b", "0x12_0x34_0x56", &format!("{forged}_extra")] {
            assert_eq!(
                logins.authenticate(malformed, NOW),
                Err(LoginRefusal::Malformed),
                "{malformed}"
            );
        }
    }

    #[test]
    fn remembered_sessions_are_bounded() {
        let mut logins = Logins::new([7u8; 32], 31337, 3);
        for _ in 0..10 {
            let who = PrivateKeySigner::random();
            let signed = header(&logins, &who, NOW);
            assert_eq!(logins.authenticate(&signed, NOW), Ok(who.address()));
            assert!(logins.verified.len() <= 3);
        }
    }
}
