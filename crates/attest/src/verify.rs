//! Verifying evidence: DCAP quotes (SGX and TDX) with dcap-qvl against Intel's root,
//! collateral from a file or a PCCS (cached), then the operator's [`Policy`].
//!
//! Time is always a parameter: collateral expires, and tests pin it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dcap_qvl::QuoteCollateralV3;
use dcap_qvl::quote::Report;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::policy::Policy;
use crate::{AttestError, Evidence, EvidenceKind};

/// What a piece of evidence proves once its signatures and collateral check out. Only
/// this crate makes one ([`Verifier::verify`], [`verify_quote`]): its fields are not
/// public, so holding a `Verified` means a verification ran. Simulated evidence yields
/// one only from a verifier built with [`Verifier::dangerously_accept_simulation`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    #[serde(rename = "type")]
    pub(crate) kind: EvidenceKind,
    /// True for simulated evidence: nothing is proven.
    pub(crate) simulated: bool,
    pub(crate) measurements: Measurements,
    /// Intel's TCB status of the platform (`UpToDate`, `SWHardeningNeeded`, …).
    pub(crate) tcb_status: Option<String>,
    pub(crate) advisory_ids: Vec<String>,
    pub(crate) debug: bool,
    #[serde(serialize_with = "hex_bytes")]
    pub(crate) report_data: [u8; 64],
}

impl Verified {
    /// Which TEE made the evidence, or that it is simulated.
    pub fn kind(&self) -> EvidenceKind {
        self.kind
    }

    /// True for simulated evidence: nothing is proven.
    pub fn simulated(&self) -> bool {
        self.simulated
    }

    /// The identity of the code that produced the evidence.
    pub fn measurements(&self) -> &Measurements {
        &self.measurements
    }

    /// Intel's TCB status of the platform (`UpToDate`, `SWHardeningNeeded`, …).
    pub fn tcb_status(&self) -> Option<&str> {
        self.tcb_status.as_deref()
    }

    /// Intel's security advisories (`INTEL-SA-…`) that apply to the platform; the policy
    /// must accept each. Empty for simulated evidence.
    pub fn advisory_ids(&self) -> &[String] {
        &self.advisory_ids
    }

    /// A debug enclave: its memory is readable by its host.
    pub fn debug(&self) -> bool {
        self.debug
    }

    /// The 64 bytes the enclave bound into the evidence; for Confide's runtime,
    /// `sha256(domain ‖ nonce ‖ enclave public key) ‖ sha256(app module)`.
    pub fn report_data(&self) -> &[u8; 64] {
        &self.report_data
    }
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("0x{}", hex(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The identity of the code that produced the evidence, hex-encoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", untagged)]
pub enum Measurements {
    /// An SGX enclave, from the report in its quote.
    #[serde(rename_all = "camelCase")]
    Sgx {
        /// MRENCLAVE: the hash of the enclave's initial code and data.
        mr_enclave: String,
        /// MRSIGNER: the hash of the key that signed the enclave.
        mr_signer: String,
        /// The product id the signer gave the enclave.
        isv_prod_id: u16,
        /// The enclave's security version number, raised by its signer with each security
        /// fix.
        isv_svn: u16,
    },
    /// A TDX guest, from the TD report in its quote.
    #[serde(rename_all = "camelCase")]
    Tdx {
        /// MRTD: the measurement of the TD's initial memory (its firmware).
        mr_td: String,
        /// RTMR0: the firmware's configuration.
        rtmr0: String,
        /// RTMR1: the boot loader and kernel.
        rtmr1: String,
        /// RTMR2: the kernel command line and initrd.
        rtmr2: String,
        /// RTMR3: what the guest's own software extended it with at run time.
        rtmr3: String,
    },
    /// Simulated evidence: nothing was measured.
    Simulated {},
}

impl Verified {
    /// Refuses evidence whose report data is not `expected`.
    pub fn check_report_data(&self, expected: &[u8; 64]) -> Result<(), AttestError> {
        if &self.report_data == expected {
            Ok(())
        } else {
            Err(AttestError::ReportDataMismatch)
        }
    }
}

/// Where quote collateral (TCB info, QE identity, CRLs) comes from.
pub enum CollateralSource {
    /// One collateral document for every quote (air-gapped use, tests).
    Offline(Box<QuoteCollateralV3>),
    /// A PCCS or Intel's PCS, with answers kept for `ttl` per platform certificate chain.
    Pccs {
        /// The PCCS's (or PCS's) base URL.
        url: String,
        /// How long a fetched collateral is reused.
        ttl: Duration,
        /// Collateral fetched so far, with when it was fetched, by sha256 of the quote's
        /// PCK certificate chain.
        cache: Mutex<HashMap<[u8; 32], (Instant, QuoteCollateralV3)>>,
    },
}

impl CollateralSource {
    /// Reads one collateral document (dcap-qvl's `QuoteCollateralV3` JSON) for every
    /// quote; `COLLATERAL_UNAVAILABLE` when it is unreadable or not collateral.
    pub fn offline_file(path: &std::path::Path) -> Result<CollateralSource, AttestError> {
        let bytes =
            std::fs::read(path).map_err(|e| AttestError::CollateralUnavailable(format!("{}: {e}", path.display())))?;
        let collateral: QuoteCollateralV3 = serde_json::from_slice(&bytes).map_err(|e| {
            AttestError::CollateralUnavailable(format!("{}: not quote collateral: {e}", path.display()))
        })?;
        Ok(CollateralSource::Offline(Box::new(collateral)))
    }

    /// Collateral from the PCCS or PCS at `url`, each answer kept `ttl` for its platform
    /// certificate chain.
    pub fn pccs(url: impl Into<String>, ttl: Duration) -> CollateralSource {
        CollateralSource::Pccs {
            url: url.into(),
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn collateral_for(&self, quote: &[u8]) -> Result<QuoteCollateralV3, AttestError> {
        match self {
            CollateralSource::Offline(collateral) => Ok((**collateral).clone()),
            CollateralSource::Pccs { url, ttl, cache } => {
                let parsed =
                    dcap_qvl::quote::Quote::parse(quote).map_err(|e| AttestError::QuoteInvalid(format!("{e:#}")))?;
                let chain = parsed
                    .raw_cert_chain()
                    .map_err(|e| AttestError::QuoteInvalid(format!("{e:#}")))?;
                let key: [u8; 32] = Sha256::digest(chain).into();
                if let Some((at, collateral)) = cache.lock().expect("collateral cache").get(&key)
                    && at.elapsed() < *ttl
                {
                    return Ok(collateral.clone());
                }
                let client = dcap_qvl::collateral::CollateralClient::with_default_http(url.clone())
                    .map_err(|e| AttestError::CollateralUnavailable(format!("{e:#}")))?;
                let collateral = client
                    .fetch(quote)
                    .await
                    .map_err(|e| AttestError::CollateralUnavailable(format!("{url}: {e:#}")))?;
                cache
                    .lock()
                    .expect("collateral cache")
                    .insert(key, (Instant::now(), collateral.clone()));
                Ok(collateral)
            }
        }
    }
}

/// Checks evidence and applies the policy.
pub struct Verifier {
    collateral: CollateralSource,
    policy: Policy,
    allow_simulation: bool,
}

impl Verifier {
    /// A verifier of hardware evidence: simulated evidence is refused.
    pub fn new(collateral: CollateralSource, policy: Policy) -> Verifier {
        Verifier {
            collateral,
            policy,
            allow_simulation: false,
        }
    }

    /// DANGER, development only (the SMS's `--insecure-simulation`): this verifier also
    /// accepts simulated evidence, which proves nothing; whoever can reach it gets the
    /// secrets it guards. Every `Verified` it makes of such evidence says `simulated`.
    pub fn dangerously_accept_simulation(mut self) -> Verifier {
        self.allow_simulation = true;
        self
    }

    /// Verifies `evidence` at `now` (Unix seconds) and checks it against the policy.
    pub async fn verify(&self, evidence: &Evidence, now: u64) -> Result<Verified, AttestError> {
        let verified = self.verify_evidence(evidence, now).await?;
        self.policy.check(&verified)?;
        Ok(verified)
    }

    /// Verifies `evidence` without judging it by the policy: what it proves.
    pub async fn verify_evidence(&self, evidence: &Evidence, now: u64) -> Result<Verified, AttestError> {
        match evidence.kind {
            EvidenceKind::Simulated => {
                if !self.allow_simulation {
                    return Err(AttestError::SimulationRefused);
                }
                let report_data: [u8; 64] = evidence.data.as_ref().try_into().map_err(|_| {
                    AttestError::QuoteInvalid("simulated evidence must be 64 bytes of report data".into())
                })?;
                Ok(Verified {
                    kind: EvidenceKind::Simulated,
                    simulated: true,
                    measurements: Measurements::Simulated {},
                    tcb_status: None,
                    advisory_ids: Vec::new(),
                    debug: false,
                    report_data,
                })
            }
            EvidenceKind::Sgx | EvidenceKind::Tdx => {
                let collateral = self.collateral.collateral_for(&evidence.data).await?;
                verify_quote(evidence.kind, &evidence.data, &collateral, now)
            }
        }
    }
}

/// Verifies a DCAP quote's signatures, certificate chains and collateral at `now`.
/// Debug enclaves pass here and are judged by the policy, so the refusal names them.
pub fn verify_quote(
    kind: EvidenceKind,
    quote: &[u8],
    collateral: &QuoteCollateralV3,
    now: u64,
) -> Result<Verified, AttestError> {
    let report = dcap_qvl::verify::QuoteVerifier::new_prod()
        .allow_debug(true)
        .verify(quote, collateral, now)
        .map_err(classify)?;
    let (measurements, debug, report_data, actual) = match &report.report {
        Report::SgxEnclave(r) => (
            Measurements::Sgx {
                mr_enclave: hex(&r.mr_enclave),
                mr_signer: hex(&r.mr_signer),
                isv_prod_id: r.isv_prod_id,
                isv_svn: r.isv_svn,
            },
            r.attributes[0] & 0x02 != 0,
            r.report_data,
            EvidenceKind::Sgx,
        ),
        other => {
            let td = other
                .as_td10()
                .ok_or_else(|| AttestError::QuoteInvalid("unsupported report type".into()))?;
            (
                Measurements::Tdx {
                    mr_td: hex(&td.mr_td),
                    rtmr0: hex(&td.rt_mr0),
                    rtmr1: hex(&td.rt_mr1),
                    rtmr2: hex(&td.rt_mr2),
                    rtmr3: hex(&td.rt_mr3),
                },
                td.td_attributes[0] & 0x01 != 0,
                td.report_data,
                EvidenceKind::Tdx,
            )
        }
    };
    if actual != kind {
        return Err(AttestError::QuoteInvalid(format!(
            "the evidence says {} but the quote is {}",
            kind.name(),
            actual.name()
        )));
    }
    Ok(Verified {
        kind,
        simulated: false,
        measurements,
        tcb_status: Some(report.status),
        advisory_ids: report.advisory_ids,
        debug,
        report_data,
    })
}

/// dcap-qvl reports failures as text only; these are the classes an operator acts on.
fn classify(error: anyhow::Error) -> AttestError {
    let text = format!("{error:#}");
    let lower = text.to_lowercase();
    if lower.contains("signature is invalid") || lower.contains("hash mismatch") {
        AttestError::QuoteSignature(text)
    } else if lower.contains("expired") {
        AttestError::EvidenceExpired(text)
    } else if lower.contains("in the future") || lower.contains("notvalidyet") {
        AttestError::EvidenceNotYetValid(text)
    } else if lower.contains("revoked") {
        AttestError::TcbStatus {
            status: "Revoked".into(),
        }
    } else {
        AttestError::QuoteInvalid(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// Moved from `tests/real_quotes.rs`, since only this crate can alter a `Verified`.
    /// Setting the debug bit in a real quote breaks its signature (tested there), so the
    /// policy is checked on the genuine report with the bit set afterwards.
    #[test]
    fn a_debug_enclave_is_refused_by_the_policy() {
        let quote = fixture("sgx_quote");
        let collateral = serde_json::from_slice(&fixture("sgx_quote_collateral.json")).unwrap();
        let mut verified = verify_quote(EvidenceKind::Sgx, &quote, &collateral, 1_751_328_000).unwrap();
        verified.debug = true;
        let Measurements::Sgx { mr_enclave, .. } = &verified.measurements else {
            panic!("an SGX quote");
        };
        let policy = Policy::from_json(
            format!(
                r#"{{ "sgx": [{{ "mrenclave": "{mr_enclave}" }}],
                     "acceptedTcbStatuses": ["{}"],
                     "acceptedAdvisories": {} }}"#,
                verified.tcb_status.as_deref().unwrap(),
                serde_json::to_string(&verified.advisory_ids).unwrap()
            )
            .as_bytes(),
        )
        .unwrap();
        let code = policy.check(&verified).expect_err("must be refused").code();
        assert_eq!(code, "DEBUG_ENCLAVE");
        let mut lenient = policy;
        lenient.allow_debug = true;
        lenient.check(&verified).unwrap();
    }
}
