//! The marketplace login of iExec's market API: the server hands out a random challenge as
//! EIP-712 typed data under the domain `iExec Gateway` / `1` / chain id, with the type
//! `Challenge(string challenge)`; the client signs it and sends
//! `Authorization: <digest>_<signature>_<address>`.

use alloy_primitives::{Address, B256, Signature, U256};
use alloy_sol_types::{Eip712Domain, SolStruct};
use serde_json::{Value, json};

alloy_sol_types::sol! {
    struct Challenge { string challenge; }
}

/// The EIP-712 domain `name` of the market API's login challenge.
pub const GATEWAY_DOMAIN_NAME: &str = "iExec Gateway";
/// The EIP-712 domain `version` of the market API's login challenge.
pub const GATEWAY_DOMAIN_VERSION: &str = "1";

fn domain(chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(
        Some(GATEWAY_DOMAIN_NAME.into()),
        Some(GATEWAY_DOMAIN_VERSION.into()),
        Some(U256::from(chain_id)),
        None,
        None,
    )
}

/// The `Authorization` header of a login: `<digest>_<signature>_<address>`, the signature
/// as 0x-prefixed hex of its 65 bytes.
pub fn authorization(digest: B256, signature: &Signature, address: Address) -> String {
    format!(
        "{digest}_0x{}_{address}",
        alloy_primitives::hex::encode(signature.as_bytes())
    )
}

/// The EIP-712 digest of a challenge: what the client signs, and the first part of its
/// `Authorization` header.
pub fn challenge_digest(chain_id: u64, challenge: &str) -> B256 {
    Challenge {
        challenge: challenge.to_owned(),
    }
    .eip712_signing_hash(&domain(chain_id))
}

/// The typed data the server returns from `GET /challenge`, as iExec's market API does.
pub fn challenge_typed_data(chain_id: u64, challenge: &str) -> Value {
    json!({
        "types": {
            "EIP712Domain": [
                { "name": "name", "type": "string" },
                { "name": "version", "type": "string" },
                { "name": "chainId", "type": "uint256" },
            ],
            "Challenge": [{ "name": "challenge", "type": "string" }],
        },
        "domain": { "name": GATEWAY_DOMAIN_NAME, "version": GATEWAY_DOMAIN_VERSION, "chainId": chain_id.to_string() },
        "primaryType": "Challenge",
        "message": { "challenge": challenge },
    })
}
