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
    /// The provider asked for cannot work here: an unknown provider name, Gramine without
    /// DCAP attestation, or no TDX guest's configfs-tsm. The runtime stops; it never falls
    /// back to simulation.
    #[error("no {kind} attestation here: {reason}")]
    NoHardware {
        /// The TEE asked for (`sgx`, `tdx`), or `requested` for an unknown provider name.
        kind: &'static str,
        /// What is missing, and how to set it up.
        reason: String,
    },
    /// The attestation device is there, but writing the report data or reading the quote
    /// failed.
    #[error("the {kind} attestation device failed: {reason}")]
    Device {
        /// The TEE whose device failed (`sgx` or `tdx`).
        kind: &'static str,
        /// The pseudo-file involved and the operating system's error.
        reason: String,
    },
    /// Simulated evidence reached a verifier not built with
    /// `Verifier::dangerously_accept_simulation`.
    #[error(
        "simulated evidence refused: this verifier only accepts hardware quotes (start the SMS with --insecure-simulation for development)"
    )]
    SimulationRefused,
    /// A signature or hash in the quote or its certificate chain does not check out: the
    /// quote was altered, or no genuine platform made it. The text is dcap-qvl's.
    #[error("the quote's signature does not verify: it was altered or not produced by a genuine platform ({0})")]
    QuoteSignature(String),
    /// Part of the collateral (TCB info, QE identity, a CRL or certificate) had expired at
    /// the verification time. The text is dcap-qvl's.
    #[error("the quote's collateral has expired at the verification time ({0})")]
    EvidenceExpired(String),
    /// Part of the collateral only becomes valid after the verification time (a clock
    /// running late, or a pinned time too early). The text is dcap-qvl's.
    #[error("the quote's collateral is not yet valid at the verification time ({0})")]
    EvidenceNotYetValid(String),
    /// The evidence does not read as a supported quote, simulated evidence is not 64 bytes,
    /// or the quote is of another TEE than its label says; also any dcap-qvl failure not
    /// classified above.
    #[error("the quote is malformed or unsupported: {0}")]
    QuoteInvalid(String),
    /// No collateral could be had for the quote: the collateral file is unreadable or not
    /// collateral, or the PCCS did not answer.
    #[error("no collateral for this quote: {0}")]
    CollateralUnavailable(String),
    /// The quote is of a debug enclave or TD, and the policy does not set `allowDebug`.
    #[error("the enclave runs in debug mode: its memory is readable by the host")]
    DebugEnclave,
    /// The enclave's measurements match no `sgx` or `tdx` package of the policy. The text
    /// is the measurements, as JSON.
    #[error("the enclave's measurements are not in the policy: {0}")]
    MeasurementNotAllowed(String),
    /// The platform's TCB status is not in the policy's `acceptedTcbStatuses`, or one of
    /// its certificates is revoked.
    #[error("the platform's TCB status {status} is not accepted by the policy")]
    TcbStatus {
        /// Intel's status for the platform (`OutOfDate`, `Revoked`, …), or `unknown`.
        status: String,
    },
    /// The platform is affected by an Intel security advisory that the policy's
    /// `acceptedAdvisories` does not list.
    #[error("the platform is affected by advisory {id}, which the policy does not accept")]
    Advisory {
        /// The first advisory not accepted (`INTEL-SA-…`).
        id: String,
    },
    /// The evidence's report data is not the one this session expects: it was made for
    /// another nonce, enclave key or app module (a replay, or evidence relayed from
    /// another enclave).
    #[error("the report data does not bind this session's nonce, enclave key and app module")]
    ReportDataMismatch,
    /// The policy document is not JSON of the policy's shape (an unknown field, a wrong
    /// type), or an `sgx` entry names neither `mrenclave` nor `mrsigner` with `productId`.
    #[error("invalid attestation policy: {0}")]
    Policy(String),
}

impl AttestError {
    /// The error's stable code (`NO_TEE_HARDWARE`, `QUOTE_INVALID`, …): what services
    /// report and tests compare, whatever the message says.
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
