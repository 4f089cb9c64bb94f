//! Evidence providers: where the enclave runtime gets a hardware quote over its report
//! data. One is chosen at start; a production provider that finds no hardware says so
//! and the runtime stops (it never falls back to simulation by itself).

use std::fs;
use std::path::{Path, PathBuf};

use crate::{AttestError, Evidence, EvidenceKind};

/// Produces evidence binding 64 bytes of report data.
pub trait EvidenceProvider {
    /// The kind of evidence this provider makes, as the SMS is told it.
    fn kind(&self) -> EvidenceKind;
    /// Evidence binding `report_data`: a DCAP quote, or for simulation the report data
    /// itself.
    fn evidence(&self, report_data: &[u8; 64]) -> Result<Evidence, AttestError>;
    /// A key only this enclave (same measurement, same machine) can derive, for
    /// authenticating what it leaves on the host (its compiled-module cache). `None`
    /// when the platform has no sealing key: the runtime then keeps no cache.
    fn sealing_key(&self) -> Option<[u8; 16]>;
}

/// Picks a provider by name: `sgx` (Gramine), `tdx` (configfs-tsm) or `simulation`.
pub fn by_name(name: &str) -> Result<Box<dyn EvidenceProvider>, AttestError> {
    match name {
        "sgx" | "gramine" => Ok(Box::new(GramineSgx::at("/dev/attestation")?)),
        "tdx" => Ok(Box::new(TdxConfigfs::at("/sys/kernel/config/tsm/report")?)),
        "simulation" | "simulated" => Ok(Box::new(Simulation)),
        other => Err(AttestError::NoHardware {
            kind: "requested",
            reason: format!("unknown evidence provider `{other}`: use sgx, tdx or simulation"),
        }),
    }
}

/// Gramine's `/dev/attestation` pseudo-files inside an SGX enclave: write the report
/// data to `user_report_data`, read the DCAP quote from `quote`.
pub struct GramineSgx {
    root: PathBuf,
}

impl GramineSgx {
    /// Checks that the directory is there and set up for DCAP.
    pub fn at(root: impl Into<PathBuf>) -> Result<GramineSgx, AttestError> {
        let root = root.into();
        let kind = fs::read_to_string(root.join("attestation_type")).map_err(|e| AttestError::NoHardware {
            kind: "sgx",
            reason: format!(
                "{} is not readable ({e}): run the runtime under gramine-sgx with sgx.remote_attestation = \"dcap\"",
                root.join("attestation_type").display()
            ),
        })?;
        if kind.trim() != "dcap" {
            return Err(AttestError::NoHardware {
                kind: "sgx",
                reason: format!("Gramine's attestation type is `{}`, DCAP is required", kind.trim()),
            });
        }
        Ok(GramineSgx { root })
    }
}

fn device_error(kind: &'static str, path: &Path, e: std::io::Error) -> AttestError {
    AttestError::Device {
        kind,
        reason: format!("{}: {e}", path.display()),
    }
}

impl EvidenceProvider for GramineSgx {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Sgx
    }

    fn evidence(&self, report_data: &[u8; 64]) -> Result<Evidence, AttestError> {
        let input = self.root.join("user_report_data");
        fs::write(&input, report_data).map_err(|e| device_error("sgx", &input, e))?;
        let output = self.root.join("quote");
        let quote = fs::read(&output).map_err(|e| device_error("sgx", &output, e))?;
        Ok(Evidence {
            kind: EvidenceKind::Sgx,
            data: quote.into(),
        })
    }

    fn sealing_key(&self) -> Option<[u8; 16]> {
        let key = fs::read(self.root.join("keys/_sgx_mrenclave")).ok()?;
        key.try_into().ok()
    }
}

/// The Linux configfs-tsm interface inside a TDX guest: a report entry per request,
/// `inblob` takes the report data, `outblob` gives the quote.
pub struct TdxConfigfs {
    root: PathBuf,
}

impl TdxConfigfs {
    /// Checks that the configfs-tsm report directory is there (in a TDX guest,
    /// `/sys/kernel/config/tsm/report`).
    pub fn at(root: impl Into<PathBuf>) -> Result<TdxConfigfs, AttestError> {
        let root = root.into();
        if !root.is_dir() {
            return Err(AttestError::NoHardware {
                kind: "tdx",
                reason: format!(
                    "{} does not exist: run in a TDX guest with configfs mounted (kernel 6.7+)",
                    root.display()
                ),
            });
        }
        Ok(TdxConfigfs { root })
    }
}

impl EvidenceProvider for TdxConfigfs {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Tdx
    }

    fn evidence(&self, report_data: &[u8; 64]) -> Result<Evidence, AttestError> {
        let entry = self.root.join(format!("confide-{}", std::process::id()));
        fs::create_dir(&entry).map_err(|e| device_error("tdx", &entry, e))?;
        let result = (|| {
            let provider = entry.join("provider");
            if let Ok(name) = fs::read_to_string(&provider)
                && name.trim() != "tdx_guest"
            {
                return Err(AttestError::NoHardware {
                    kind: "tdx",
                    reason: format!("the TSM provider is `{}`, not tdx_guest", name.trim()),
                });
            }
            let input = entry.join("inblob");
            fs::write(&input, report_data).map_err(|e| device_error("tdx", &input, e))?;
            let output = entry.join("outblob");
            fs::read(&output).map_err(|e| device_error("tdx", &output, e))
        })();
        let _ = fs::remove_dir(&entry);
        Ok(Evidence {
            kind: EvidenceKind::Tdx,
            data: result?.into(),
        })
    }

    /// A TD's memory and disk are inside its trust boundary; no sealing key is exposed
    /// through configfs, so the runtime keeps its cache in the TD only.
    fn sealing_key(&self) -> Option<[u8; 16]> {
        None
    }
}

/// Development without TEE hardware: the "evidence" is the report data itself. A
/// verifier refuses it unless explicitly told to accept simulation.
pub struct Simulation;

impl EvidenceProvider for Simulation {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Simulated
    }

    fn evidence(&self, report_data: &[u8; 64]) -> Result<Evidence, AttestError> {
        Ok(Evidence {
            kind: EvidenceKind::Simulated,
            data: report_data.to_vec().into(),
        })
    }

    /// Simulation has no sealing key: the runtime keeps a random one per cache folder
    /// (`confide_enclave::cache_key`), never a constant anyone could use.
    fn sealing_key(&self) -> Option<[u8; 16]> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gramine_provider_writes_report_data_and_reads_the_quote() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("attestation_type"), "dcap\n").unwrap();
        fs::write(dir.path().join("quote"), b"QUOTE").unwrap();
        let provider = GramineSgx::at(dir.path()).unwrap();
        let evidence = provider.evidence(&[7; 64]).unwrap();
        assert_eq!(evidence.kind, EvidenceKind::Sgx);
        assert_eq!(evidence.data.as_ref(), b"QUOTE");
        assert_eq!(fs::read(dir.path().join("user_report_data")).unwrap(), vec![7; 64]);
    }

    #[test]
    fn production_providers_without_hardware_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let sgx = GramineSgx::at(dir.path().join("missing")).err().unwrap();
        assert_eq!(sgx.code(), "NO_TEE_HARDWARE");
        assert!(sgx.to_string().contains("gramine-sgx"), "{sgx}");
        fs::write(dir.path().join("attestation_type"), "none").unwrap();
        assert!(
            GramineSgx::at(dir.path())
                .err()
                .unwrap()
                .to_string()
                .contains("DCAP is required")
        );
        let tdx = TdxConfigfs::at(dir.path().join("tsm")).err().unwrap();
        assert_eq!(tdx.code(), "NO_TEE_HARDWARE");
        assert!(by_name("sev").is_err());
    }

    #[test]
    fn simulated_evidence_is_the_report_data() {
        let evidence = Simulation.evidence(&[3; 64]).unwrap();
        assert_eq!(evidence.kind, EvidenceKind::Simulated);
        assert_eq!(evidence.data.as_ref(), &[3; 64]);
    }
}
