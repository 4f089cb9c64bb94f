//! Logins as iExec's market API does them: `GET /challenge` hands out a random message to
//! sign, and `Authorization: <digest>_<signature>_<address>` proves the address signed it.
//!
//! Anyone may ask for challenges, so what they cost is bounded: each expires unsigned
//! after five minutes, an address holds at most a few (its oldest gives way), and all of
//! them together at most `max_challenges` (then new ones are refused until some expire or
//! are used). A challenge is consumed by the first login that signs it; that login's
//! header then serves as the session for an hour (a client publishes many orders with
//! one), and sessions are bounded the same way.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use confide_chain::{Address, B256};

/// How long a challenge waits to be signed.
pub const CHALLENGE_LIFETIME: Duration = Duration::from_secs(300);
/// How long a login's header stays valid.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(3600);
/// Challenges one address may hold unsigned.
const CHALLENGES_PER_ADDRESS: usize = 8;

/// Why a login or a challenge was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginRefusal {
    /// No such challenge for that address (never issued, expired, given way or used).
    UnknownChallenge,
    /// The signature is not the address's over the challenge.
    WrongSigner,
    /// Too many challenges are waiting: try again in a few minutes.
    Busy,
}

pub struct Logins {
    /// Unsigned challenges by address, oldest first.
    /// Invariant: `waiting` counts their entries; each queue is non-empty and at most
    /// `CHALLENGES_PER_ADDRESS` long.
    challenges: HashMap<Address, VecDeque<(B256, Instant)>>,
    waiting: usize,
    max_challenges: usize,
    /// Verified headers, with their signer and when the session started.
    sessions: HashMap<String, (Address, Instant)>,
    max_sessions: usize,
}

impl Logins {
    pub fn new(max_challenges: usize, max_sessions: usize) -> Logins {
        Logins {
            challenges: HashMap::new(),
            waiting: 0,
            max_challenges,
            sessions: HashMap::new(),
            max_sessions,
        }
    }

    /// Records a challenge (by its EIP-712 digest) for `address`.
    pub fn issue(&mut self, address: Address, digest: B256) -> Result<(), LoginRefusal> {
        if self.waiting >= self.max_challenges {
            self.sweep_challenges();
        }
        let queue = self.challenges.entry(address).or_default();
        if queue.len() >= CHALLENGES_PER_ADDRESS {
            queue.pop_front();
            self.waiting -= 1;
        }
        if self.waiting >= self.max_challenges {
            if queue.is_empty() {
                self.challenges.remove(&address);
            }
            return Err(LoginRefusal::Busy);
        }
        queue.push_back((digest, Instant::now()));
        self.waiting += 1;
        Ok(())
    }

    /// The signer of a session header seen before, while its session lasts.
    pub fn session(&self, header: &str) -> Option<Address> {
        self.sessions
            .get(header)
            .filter(|(_, started)| started.elapsed() < SESSION_LIFETIME)
            .map(|(address, _)| *address)
    }

    /// Consumes `address`'s challenge `digest` if `signed_by_address` holds, and opens a
    /// session for `header`. The challenge is gone after this call whatever its outcome
    /// past the look-up: a signature that fails does not leave it to be tried again.
    pub fn log_in(
        &mut self,
        header: &str,
        address: Address,
        digest: B256,
        signed_by_address: impl FnOnce() -> bool,
    ) -> Result<(), LoginRefusal> {
        let queue = self
            .challenges
            .get_mut(&address)
            .ok_or(LoginRefusal::UnknownChallenge)?;
        let position = queue
            .iter()
            .position(|(d, issued)| *d == digest && issued.elapsed() < CHALLENGE_LIFETIME)
            .ok_or(LoginRefusal::UnknownChallenge)?;
        queue.remove(position);
        self.waiting -= 1;
        if queue.is_empty() {
            self.challenges.remove(&address);
        }
        if !signed_by_address() {
            return Err(LoginRefusal::WrongSigner);
        }
        if self.sessions.len() >= self.max_sessions {
            self.sessions
                .retain(|_, (_, started)| started.elapsed() < SESSION_LIFETIME);
        }
        if self.sessions.len() >= self.max_sessions {
            // Every session is live: the oldest gives way (its client logs in again).
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, (_, started))| *started)
                .map(|(h, _)| h.clone());
            if let Some(oldest) = oldest {
                self.sessions.remove(&oldest);
            }
        }
        self.sessions.insert(header.to_owned(), (address, Instant::now()));
        Ok(())
    }

    /// Drops expired challenges.
    fn sweep_challenges(&mut self) {
        for queue in self.challenges.values_mut() {
            queue.retain(|(_, issued)| issued.elapsed() < CHALLENGE_LIFETIME);
        }
        self.challenges.retain(|_, queue| !queue.is_empty());
        self.waiting = self.challenges.values().map(VecDeque::len).sum();
    }

    /// Challenges waiting to be signed.
    pub fn waiting(&self) -> usize {
        self.waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    #[test]
    fn a_challenge_opens_one_session_and_is_gone() {
        let mut logins = Logins::new(100, 100);
        logins.issue(address(1), B256::repeat_byte(1)).unwrap();
        assert_eq!(logins.log_in("h1", address(1), B256::repeat_byte(1), || true), Ok(()));
        assert_eq!(logins.session("h1"), Some(address(1)));
        // Another header over the same challenge (another spelling, another signature).
        assert_eq!(
            logins.log_in("h2", address(1), B256::repeat_byte(1), || true),
            Err(LoginRefusal::UnknownChallenge)
        );
        assert_eq!(logins.waiting(), 0);
    }

    #[test]
    fn a_wrong_signature_uses_the_challenge_up() {
        let mut logins = Logins::new(100, 100);
        logins.issue(address(1), B256::repeat_byte(1)).unwrap();
        assert_eq!(
            logins.log_in("h", address(1), B256::repeat_byte(1), || false),
            Err(LoginRefusal::WrongSigner)
        );
        assert_eq!(
            logins.log_in("h", address(1), B256::repeat_byte(1), || true),
            Err(LoginRefusal::UnknownChallenge)
        );
        // Someone else's challenge is not this address's.
        logins.issue(address(2), B256::repeat_byte(2)).unwrap();
        assert_eq!(
            logins.log_in("h", address(1), B256::repeat_byte(2), || true),
            Err(LoginRefusal::UnknownChallenge)
        );
    }

    #[test]
    fn one_address_holds_a_few_challenges_and_all_together_are_capped() {
        let mut logins = Logins::new(20, 100);
        for n in 0..30u8 {
            logins.issue(address(1), B256::repeat_byte(n)).unwrap();
        }
        assert_eq!(logins.waiting(), CHALLENGES_PER_ADDRESS, "the oldest give way");
        assert_eq!(
            logins.log_in("h", address(1), B256::repeat_byte(0), || true),
            Err(LoginRefusal::UnknownChallenge)
        );
        for n in 2..=20u8 {
            let _ = logins.issue(address(n), B256::repeat_byte(n));
        }
        assert_eq!(logins.waiting(), 20);
        assert_eq!(
            logins.issue(address(99), B256::repeat_byte(99)),
            Err(LoginRefusal::Busy)
        );
        // Using one frees a place.
        assert_eq!(logins.log_in("h", address(2), B256::repeat_byte(2), || true), Ok(()));
        assert_eq!(logins.issue(address(99), B256::repeat_byte(99)), Ok(()));
    }

    #[test]
    fn sessions_are_capped_and_the_oldest_gives_way() {
        let mut logins = Logins::new(100, 2);
        for n in 1..=3u8 {
            logins.issue(address(n), B256::repeat_byte(n)).unwrap();
            logins
                .log_in(&format!("h{n}"), address(n), B256::repeat_byte(n), || true)
                .unwrap();
        }
        assert_eq!(logins.session("h1"), None);
        assert_eq!(logins.session("h3"), Some(address(3)));
    }
}
