//! A service's refusal on the wire: one stable code and one line for a person, written and
//! read the same way by every Confide service and client.
//!
//! Two shapes exist, both iExec's: the SMS, the store and the scheduler answer
//! `{"error":{"code","message"}}` (iExec's SMS); the market answers
//! `{"ok":false,"error":"<message>","code":"<code>"}` (iExec's market API, which iExec's SDK
//! reads). [`Refusal::from_json`] reads either, so a client never indexes JSON by hand.
//!
//! ```
//! use confide_protocol::refusal::Refusal;
//!
//! let refusal = Refusal::new("NOT_FOUND", "no such secret");
//! let body = serde_json::to_vec(&refusal.to_json()).unwrap();
//! assert_eq!(Refusal::from_json(&body), Some(refusal.clone()));
//!
//! let market = serde_json::to_vec(&refusal.to_market_json()).unwrap();
//! assert_eq!(Refusal::from_json(&market), Some(refusal));
//! assert_eq!(Refusal::from_json(b"<html>bad gateway</html>"), None);
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The codes a client acts on, beyond showing them: shared so a renamed code breaks the
/// build, not a client.
pub mod codes {
    /// Market: the order is already in the book.
    pub const DUPLICATE_ORDER: &str = "DUPLICATE_ORDER";
    /// Market: the order is consumed or cancelled on chain.
    pub const NO_VOLUME_LEFT: &str = "NO_VOLUME_LEFT";
    /// Market: the order's signature is not its owner's.
    pub const INVALID_SIGNATURE: &str = "INVALID_SIGNATURE";
    /// Market and CLI: the address is no registered asset on this chain.
    pub const UNKNOWN_ASSET: &str = "UNKNOWN_ASSET";
    /// Market: no order has that hash.
    pub const ORDER_NOT_FOUND: &str = "ORDER_NOT_FOUND";
    /// SMS: the secret is not there (also a presence check's `404`).
    pub const SECRET_NOT_FOUND: &str = "NOT_FOUND";
}

/// A refusal: a code for machines, a message for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Stable, upper snake case (`WRONG_SIGNER`).
    pub code: String,
    /// One line a person understands.
    pub message: String,
}

/// The error object of the nested shape, each part optional: a peer (an older or another
/// implementation) may send one without the other.
#[derive(Deserialize)]
struct NestedError {
    code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Shape {
    Nested { error: NestedError },
    Market { error: String, code: Option<String> },
}

impl Refusal {
    /// A refusal with a stable `code` (upper snake case) and a one-line `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Refusal {
        Refusal {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The SMS, store and scheduler body: `{"error":{"code","message"}}`.
    pub fn to_json(&self) -> Value {
        json!({ "error": self })
    }

    /// The market's body: `{"ok":false,"error":"<message>","code":"<code>"}`.
    pub fn to_market_json(&self) -> Value {
        json!({ "ok": false, "error": self.message, "code": self.code })
    }

    /// Reads a refusal of either shape; `None` when the body is neither (a proxy's HTML
    /// page, an empty body): the caller then names the HTTP status instead. A part the
    /// peer left out is empty.
    pub fn from_json(body: &[u8]) -> Option<Refusal> {
        let (code, message) = match serde_json::from_slice(body).ok()? {
            Shape::Nested { error } => (error.code, error.message),
            Shape::Market { error, code } => (code, Some(error)),
        };
        if code.is_none() && message.is_none() {
            return None;
        }
        Some(Refusal::new(code.unwrap_or_default(), message.unwrap_or_default()))
    }

    /// Reads a refusal, filling what the body does not say: `fallback_code` for its code,
    /// the HTTP status for its message.
    pub fn from_answer(status: u16, body: &[u8], fallback_code: &str) -> Refusal {
        let mut refusal = Refusal::from_json(body).unwrap_or_else(|| Refusal::new("", ""));
        if refusal.code.is_empty() {
            refusal.code = fallback_code.to_owned();
        }
        if refusal.message.is_empty() {
            refusal.message = format!("status {status}");
        }
        refusal
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_upstream_services_answer() {
        // iExec's SMS and market, as their clients receive them.
        let sms = br#"{"error":{"code":"WRONG_SIGNER","message":"not the owner"}}"#;
        assert_eq!(
            Refusal::from_json(sms),
            Some(Refusal::new("WRONG_SIGNER", "not the owner"))
        );
        let market = br#"{"ok":false,"error":"order not found","code":"ORDER_NOT_FOUND"}"#;
        assert_eq!(
            Refusal::from_json(market),
            Some(Refusal::new(codes::ORDER_NOT_FOUND, "order not found"))
        );
    }

    #[test]
    fn anything_else_is_no_refusal() {
        for body in [
            &b""[..],
            b"null",
            b"{}",
            br#"{"error":{}}"#,
            br#"{"error":{"code":1}}"#,
            b"<html>",
        ] {
            assert_eq!(Refusal::from_json(body), None, "{}", String::from_utf8_lossy(body));
        }
        assert_eq!(
            Refusal::from_answer(502, b"<html>", "HTTP_ERROR"),
            Refusal::new("HTTP_ERROR", "status 502")
        );
    }

    #[test]
    fn what_a_peer_leaves_out_is_filled_not_lost() {
        // iExec's market may answer an error without a code; an error object may lack
        // its message.
        let market = br#"{"ok":false,"error":"order not found"}"#;
        assert_eq!(
            Refusal::from_answer(404, market, "MARKET_REFUSED"),
            Refusal::new("MARKET_REFUSED", "order not found")
        );
        let code_only = br#"{"error":{"code":"X"}}"#;
        assert_eq!(
            Refusal::from_answer(409, code_only, "HTTP_ERROR"),
            Refusal::new("X", "status 409")
        );
    }
}
