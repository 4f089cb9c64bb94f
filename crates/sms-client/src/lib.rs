//! The one client of the SMS's HTTP API, used by the CLI (secret owners), the scheduler
//! (enclave challenges) and the enclave runtime (nonces and sessions), so the three speak
//! the API the same way and read its refusals the same way.
//!
//! It must never sign (callers bring signatures: a wallet, the workerpool owner, or an
//! enclave's evidence), never log or keep a secret value beyond the call that sends it, and
//! never link a service: the enclave links it, and what the enclave links is what it trusts.

use alloy_primitives::{Address, B256, Signature};
use confide_protocol::refusal::Refusal;
use confide_protocol::sms::{Secret, VERSION_HEADER};
use confide_protocol::tee::{ChallengeAnswer, NonceAnswer, SessionRequest, SessionResponse};
use reqwest::{Method, RequestBuilder, StatusCode};

/// The most of an answer read: far above any answer of the API.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// What a call to the SMS can end in besides its answer.
#[derive(Debug, thiserror::Error)]
pub enum SmsClientError {
    /// The request could not be sent or its answer not read (no SMS listening, a timeout,
    /// TLS); trying again later may pass.
    #[error("the SMS at {url} is unreachable: {reason}")]
    Unreachable {
        /// The SMS's base URL.
        url: String,
        /// reqwest's error, without the URL.
        reason: String,
    },
    /// The SMS said no, with its code and reason.
    #[error("the SMS refused: {0}")]
    Refused(Refusal),
    /// The SMS answered outside its API (a status or body it never gives): most likely the
    /// URL names another service, or an SMS of another version.
    #[error("the SMS at {url} answered what its API never does: {reason}")]
    Unexpected {
        /// The SMS's base URL.
        url: String,
        /// What was unexpected, such as an unreadable body or a status to a presence check.
        reason: String,
    },
}

impl SmsClientError {
    /// A stable code: the SMS's own for a refusal.
    pub fn code(&self) -> &str {
        match self {
            SmsClientError::Unreachable { .. } => "SMS_UNREACHABLE",
            SmsClientError::Refused(refusal) => &refusal.code,
            SmsClientError::Unexpected { .. } => "SMS_ERROR",
        }
    }
}

/// A client of one SMS.
///
/// ```
/// let sms = confide_sms_client::SmsClient::new("http://127.0.0.1:13300/", reqwest::Client::new());
/// assert_eq!(sms.url(), "http://127.0.0.1:13300");
/// ```
#[derive(Clone, Debug)]
pub struct SmsClient {
    url: String,
    http: reqwest::Client,
}

impl SmsClient {
    /// `http` carries the caller's policy (timeouts, TLS roots, redirects).
    pub fn new(url: &str, http: reqwest::Client) -> SmsClient {
        SmsClient {
            url: url.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The SMS's base URL, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the secret is there (`HEAD`; iExec's SMS answers `200` or `204`).
    pub async fn exists(&self, secret: &Secret) -> Result<bool, SmsClientError> {
        Ok(self.presence(secret).await?.is_some())
    }

    /// The secret's newest version, `None` when there is none (Confide's SMS names it in
    /// [`VERSION_HEADER`]; an SMS that does not cannot take a versioned update).
    pub async fn version(&self, secret: &Secret) -> Result<Option<u64>, SmsClientError> {
        match self.presence(secret).await? {
            None => Ok(None),
            Some(Some(version)) => Ok(Some(version)),
            Some(None) => Err(self.unexpected("a presence check named no version")),
        }
    }

    /// `None` when absent, else the version if the SMS named it.
    async fn presence(&self, secret: &Secret) -> Result<Option<Option<u64>>, SmsClientError> {
        let response = self.send(self.http.head(self.at(&secret.path()))).await?;
        match response.status() {
            StatusCode::OK | StatusCode::NO_CONTENT => Ok(Some(
                response
                    .headers()
                    .get(VERSION_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok()),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(self.unexpected(format!("{status} to a presence check"))),
        }
    }

    /// Writes a secret's first version, signed by its owner over
    /// [`Secret::push_challenge`].
    pub async fn push(&self, secret: &Secret, signature: &Signature, value: &[u8]) -> Result<(), SmsClientError> {
        let request = self
            .signed(Method::POST, &secret.path(), signature)
            .body(value.to_vec());
        self.accepted(request).await.map(drop)
    }

    /// Writes version `version` (the next one), signed over [`Secret::update_challenge`];
    /// returns the version the SMS wrote.
    pub async fn update(
        &self,
        secret: &Secret,
        version: u64,
        signature: &Signature,
        value: &[u8],
    ) -> Result<u64, SmsClientError> {
        #[derive(serde::Deserialize)]
        struct Written {
            version: u64,
        }
        let request = self
            .signed(Method::PUT, &secret.versioned_path(version), signature)
            .body(value.to_vec());
        let body = self.accepted(request).await?;
        // Written whatever the body says: an SMS that names no version wrote the one asked.
        Ok(serde_json::from_slice::<Written>(&body).map_or(version, |w| w.version))
    }

    /// The task's enclave challenge, asked by the workerpool owner (signed over
    /// [`challenge_request_hash`](confide_protocol::tee::challenge_request_hash)).
    pub async fn enclave_challenge(&self, task_id: B256, signature: &Signature) -> Result<Address, SmsClientError> {
        let request = self.signed(Method::POST, &format!("/tee/challenges/{task_id}"), signature);
        let answer: ChallengeAnswer = self.answer(request).await?;
        Ok(answer.address)
    }

    /// A fresh single-use nonce for an enclave's evidence.
    pub async fn nonce(&self) -> Result<B256, SmsClientError> {
        let answer: NonceAnswer = self.answer(self.http.get(self.at("/tee/nonce"))).await?;
        Ok(answer.nonce)
    }

    /// An enclave's session: its secrets sealed to its key, if the SMS admits it.
    pub async fn enclave_session(&self, request: &SessionRequest) -> Result<SessionResponse, SmsClientError> {
        let post = self.http.post(self.at("/tee/enclave-sessions")).json(request);
        self.answer(post).await
    }

    /// A dataset's usage ledger (its key's releases, newest first), asked by its owner
    /// with a signature of [`key_releases_challenge`](confide_protocol::sms::key_releases_challenge)
    /// for `at` (Unix seconds, within minutes of the SMS's clock).
    pub async fn key_releases(
        &self,
        dataset: Address,
        at: u64,
        signature: &Signature,
    ) -> Result<Vec<confide_protocol::sms::KeyRelease>, SmsClientError> {
        #[derive(serde::Deserialize)]
        struct Ledger {
            releases: Vec<confide_protocol::sms::KeyRelease>,
        }
        let path = confide_protocol::sms::key_releases_path(dataset, at);
        let ledger: Ledger = self.answer(self.signed(Method::GET, &path, signature)).await?;
        Ok(ledger.releases)
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn signed(&self, method: Method, path: &str, signature: &Signature) -> RequestBuilder {
        let hex = alloy_primitives::hex::encode(signature.as_bytes());
        self.http
            .request(method, self.at(path))
            .header("Authorization", format!("0x{hex}"))
    }

    async fn send(&self, request: RequestBuilder) -> Result<reqwest::Response, SmsClientError> {
        request.send().await.map_err(|e| SmsClientError::Unreachable {
            url: self.url.clone(),
            reason: e.without_url().to_string(),
        })
    }

    /// A success's body, or the SMS's refusal.
    async fn accepted(&self, request: RequestBuilder) -> Result<Vec<u8>, SmsClientError> {
        let mut response = self.send(request).await?;
        let status = response.status();
        // The enclave's SMS is named by its host: whoever answers there is read no further
        // than any answer of the API can be long (a sealed session is a few KiB).
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| SmsClientError::Unreachable {
            url: self.url.clone(),
            reason: e.without_url().to_string(),
        })? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(self.unexpected(format!("an answer over {MAX_ANSWER_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            // Only a refusal is the SMS saying no. A body that is none (a balancer's 502
            // page, an empty 500) says nothing of the request: a caller may try again.
            return Err(match Refusal::from_json(&body) {
                Some(_) => SmsClientError::Refused(Refusal::from_answer(status.as_u16(), &body, "SMS_ERROR")),
                None => self.unexpected(format!("{status} without a refusal")),
            });
        }
        Ok(body)
    }

    /// A success's JSON answer, of the API's shape only.
    async fn answer<T: serde::de::DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, SmsClientError> {
        let body = self.accepted(request).await?;
        serde_json::from_slice(&body).map_err(|e| self.unexpected(format!("an unreadable answer ({e})")))
    }

    fn unexpected(&self, reason: impl Into<String>) -> SmsClientError {
        SmsClientError::Unexpected {
            url: self.url.clone(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTP server on loopback that answers one request with `status` and `body`.
    async fn answering(status: &'static str, body: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 4096];
            let _ = stream.read(&mut request).await;
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            // A client that stops reading early closes the connection: not an error here.
            let _ = stream.write_all(answer.as_bytes()).await;
        });
        url
    }

    #[tokio::test]
    async fn a_balancers_error_page_is_no_refusal_and_may_be_retried() {
        let url = answering("502 Bad Gateway", "<html>bad gateway</html>").await;
        let error = SmsClient::new(&url, reqwest::Client::new()).nonce().await.unwrap_err();
        assert!(matches!(error, SmsClientError::Unexpected { .. }), "{error}");
        assert_eq!(error.code(), "SMS_ERROR");
    }

    #[tokio::test]
    async fn a_refusal_keeps_the_smss_code_and_reason() {
        let body = r#"{"error":{"code":"APP_MISMATCH","message":"not the registered app"}}"#;
        let url = answering("403 Forbidden", body).await;
        let error = SmsClient::new(&url, reqwest::Client::new()).nonce().await.unwrap_err();
        assert_eq!(error.code(), "APP_MISMATCH");
        assert!(error.to_string().contains("not the registered app"), "{error}");
    }

    #[tokio::test]
    async fn an_endless_answer_is_read_no_further_than_a_mebibyte() {
        let huge: &'static str = Box::leak("x".repeat(MAX_ANSWER_BYTES + 1).into_boxed_str());
        let url = answering("200 OK", huge).await;
        let error = SmsClient::new(&url, reqwest::Client::new()).nonce().await.unwrap_err();
        assert!(error.to_string().contains("an answer over"), "{error}");
    }

    #[tokio::test]
    async fn an_answer_not_of_the_apis_shape_is_refused() {
        let url = answering("200 OK", r#"{"nonce":"not hex"}"#).await;
        let error = SmsClient::new(&url, reqwest::Client::new()).nonce().await.unwrap_err();
        assert!(matches!(error, SmsClientError::Unexpected { .. }), "{error}");
    }
}
