//! The operator's attestation policy, in the spirit of MarbleRun's packages: which
//! enclaves (SGX: MRENCLAVE, or signer + product + minimum SVN; TDX: MRTD and RTMRs) may
//! receive secrets, which TCB statuses and advisories are tolerated, and whether debug
//! enclaves are (never, in production).
//!
//! ```json
//! { "sgx": [{ "mrenclave": "33d8…" }, { "mrsigner": "815f…", "productId": 0, "minSvn": 1 }],
//!   "tdx": [{ "mrtd": "91eb…", "rtmr0": "44c0…" }],
//!   "acceptedTcbStatuses": ["UpToDate", "SWHardeningNeeded"],
//!   "acceptedAdvisories": ["INTEL-SA-00615"],
//!   "allowDebug": false }
//! ```

use serde::Deserialize;

use crate::AttestError;
use crate::verify::{Measurements, Verified};

/// Which enclaves may receive secrets, and on which platforms: the JSON document of this
/// module's introduction, read with [`Policy::from_json`].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// The SGX enclaves accepted: evidence matching any one of them passes.
    #[serde(default)]
    pub sgx: Vec<SgxPackage>,
    /// The TDX guests accepted: evidence matching any one of them passes.
    #[serde(default)]
    pub tdx: Vec<TdxPackage>,
    /// Default: `UpToDate` and `SWHardeningNeeded`.
    #[serde(default = "default_statuses")]
    pub accepted_tcb_statuses: Vec<String>,
    /// Every advisory of the platform must be listed here.
    #[serde(default)]
    pub accepted_advisories: Vec<String>,
    /// Accept debug enclaves, whose memory their host can read. Default `false`; never
    /// `true` in production.
    #[serde(default)]
    pub allow_debug: bool,
}

fn default_statuses() -> Vec<String> {
    vec!["UpToDate".into(), "SWHardeningNeeded".into()]
}

/// One accepted SGX enclave, by its exact MRENCLAVE or by signer, product and minimum
/// SVN (then every build its signer releases for that product at that SVN or later).
/// Every field given must match.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SgxPackage {
    /// The enclave's measurement, hex (`0x` optional, either case).
    pub mrenclave: Option<String>,
    /// The hash of the enclave signer's key, hex; needs `productId` when there is no
    /// `mrenclave`.
    pub mrsigner: Option<String>,
    /// The ISV product id the signer gave the enclave.
    pub product_id: Option<u16>,
    /// The lowest ISV security version number accepted (default 0).
    #[serde(default)]
    pub min_svn: u16,
}

/// One accepted TDX guest: its MRTD, and each runtime measurement register given (one
/// left out is not checked). Values are hex (`0x` optional, either case).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TdxPackage {
    /// The measurement of the TD's initial memory (its firmware).
    pub mrtd: String,
    /// RTMR0: the firmware's configuration, as the firmware measured it.
    pub rtmr0: Option<String>,
    /// RTMR1: the boot loader and kernel.
    pub rtmr1: Option<String>,
    /// RTMR2: the kernel command line and initrd.
    pub rtmr2: Option<String>,
    /// RTMR3: whatever the guest's own software extends it with at run time.
    pub rtmr3: Option<String>,
}

fn same_hex(expected: &str, actual: &str) -> bool {
    expected.trim_start_matches("0x").eq_ignore_ascii_case(actual)
}

impl SgxPackage {
    fn matches(&self, mr_enclave: &str, mr_signer: &str, isv_prod_id: u16, isv_svn: u16) -> bool {
        if let Some(expected) = &self.mrenclave
            && !same_hex(expected, mr_enclave)
        {
            return false;
        }
        if let Some(expected) = &self.mrsigner
            && !same_hex(expected, mr_signer)
        {
            return false;
        }
        if let Some(product) = self.product_id
            && product != isv_prod_id
        {
            return false;
        }
        isv_svn >= self.min_svn
    }
}

impl TdxPackage {
    fn matches(&self, measured: [&str; 5]) -> bool {
        let expected = [
            Some(&self.mrtd),
            self.rtmr0.as_ref(),
            self.rtmr1.as_ref(),
            self.rtmr2.as_ref(),
            self.rtmr3.as_ref(),
        ];
        expected
            .iter()
            .zip(measured)
            .all(|(expected, actual)| expected.is_none_or(|e| same_hex(e, actual)))
    }
}

impl Policy {
    /// Reads a policy document; refuses unknown fields and an `sgx` entry that names
    /// neither `mrenclave` nor `mrsigner` with `productId` (`INVALID_POLICY`).
    pub fn from_json(bytes: &[u8]) -> Result<Policy, AttestError> {
        let policy: Policy = serde_json::from_slice(bytes).map_err(|e| AttestError::Policy(e.to_string()))?;
        for package in &policy.sgx {
            if package.mrenclave.is_none() && (package.mrsigner.is_none() || package.product_id.is_none()) {
                return Err(AttestError::Policy(
                    "an sgx entry needs mrenclave, or mrsigner with productId".into(),
                ));
            }
        }
        Ok(policy)
    }

    /// Refuses what the policy does not accept, naming the first reason.
    pub fn check(&self, verified: &Verified) -> Result<(), AttestError> {
        if verified.simulated {
            return Ok(());
        }
        if verified.debug && !self.allow_debug {
            return Err(AttestError::DebugEnclave);
        }
        let allowed = match &verified.measurements {
            Measurements::Sgx {
                mr_enclave,
                mr_signer,
                isv_prod_id,
                isv_svn,
            } => self
                .sgx
                .iter()
                .any(|p| p.matches(mr_enclave, mr_signer, *isv_prod_id, *isv_svn)),
            Measurements::Tdx {
                mr_td,
                rtmr0,
                rtmr1,
                rtmr2,
                rtmr3,
            } => self.tdx.iter().any(|p| p.matches([mr_td, rtmr0, rtmr1, rtmr2, rtmr3])),
            Measurements::Simulated {} => false,
        };
        if !allowed {
            return Err(AttestError::MeasurementNotAllowed(
                serde_json::to_string(&verified.measurements).unwrap_or_default(),
            ));
        }
        let status = verified.tcb_status.as_deref().unwrap_or("unknown");
        if !self.accepted_tcb_statuses.iter().any(|s| s == status) {
            return Err(AttestError::TcbStatus { status: status.into() });
        }
        if let Some(advisory) = verified
            .advisory_ids
            .iter()
            .find(|id| !self.accepted_advisories.contains(id))
        {
            return Err(AttestError::Advisory { id: advisory.clone() });
        }
        Ok(())
    }
}
