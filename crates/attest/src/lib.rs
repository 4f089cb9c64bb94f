//! Attestation evidence for Confide's enclave runtime.
//!
//! Providers produce evidence whose report data the caller chose ([`provider`]); with
//! the `verify` feature, the verifier checks DCAP quotes and a policy. The enclave links
//! only the providers: it must never need the verifier, and this crate must never treat
//! simulated evidence as proof of anything.

#[cfg(feature = "verify")]
pub mod policy;
pub mod provider;
#[cfg(feature = "verify")]
pub mod verify;

pub use confide_protocol::tee::{Evidence, EvidenceKind};

/// What producing or verifying evidence can fail at; each has a stable code.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("no {kind} attestation here: {reason}")]
    NoHardware { kind: &'static str, reason: String },
    #[error("the {kind} attestation device failed: {reason}")]
    Device { kind: &'static str, reason: String },
    #[error(
        "simulated evidence refused: this verifier only accepts hardware quotes (start the SMS with --insecure-simulation for development)"
    )]
    SimulationRefused,
    #[error("the quote's signature does not verify: it was altered or not produced by a genuine platform ({0})")]
    QuoteSignature(String),
    #[error("the quote's collateral has expired at the verification time ({0})")]
    EvidenceExpired(String),
    #[error("the quote's collateral is not yet valid at the verification time ({0})")]
    EvidenceNotYetValid(String),
    #[error("the quote is malformed or unsupported: {0}")]
    QuoteInvalid(String),
    #[error("no collateral for this quote: {0}")]
    CollateralUnavailable(String),
    #[error("the enclave runs in debug mode: its memory is readable by the host")]
    DebugEnclave,
    #[error("the enclave's measurements are not in the policy: {0}")]
    MeasurementNotAllowed(String),
    #[error("the platform's TCB status {status} is not accepted by the policy")]
    TcbStatus { status: String },
    #[error("the platform is affected by advisory {id}, which the policy does not accept")]
    Advisory { id: String },
    #[error("the report data does not bind this session's nonce, enclave key and app module")]
    ReportDataMismatch,
    #[error("invalid attestation policy: {0}")]
    Policy(String),
}

impl AttestError {
    pub fn code(&self) -> &'static str {
        match self {
            AttestError::NoHardware { .. } => "NO_TEE_HARDWARE",
            AttestError::Device { .. } => "ATTESTATION_DEVICE_FAILED",
            AttestError::SimulationRefused => "SIMULATION_REFUSED",
            AttestError::QuoteSignature(_) => "QUOTE_SIGNATURE_INVALID",
            AttestError::EvidenceExpired(_) => "EVIDENCE_EXPIRED",
            AttestError::EvidenceNotYetValid(_) => "EVIDENCE_NOT_YET_VALID",
            AttestError::QuoteInvalid(_) => "QUOTE_INVALID",
            AttestError::CollateralUnavailable(_) => "COLLATERAL_UNAVAILABLE",
            AttestError::DebugEnclave => "DEBUG_ENCLAVE",
            AttestError::MeasurementNotAllowed(_) => "MEASUREMENT_NOT_ALLOWED",
            AttestError::TcbStatus { .. } => "TCB_STATUS_NOT_ACCEPTED",
            AttestError::Advisory { .. } => "ADVISORY_NOT_ACCEPTED",
            AttestError::ReportDataMismatch => "REPORT_DATA_MISMATCH",
            AttestError::Policy(_) => "INVALID_POLICY",
        }
    }
}
