//! `confide attest verify`: what a quote proves, for operators writing an SMS policy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use confide_attest::policy::Policy;
use confide_attest::verify::{CollateralSource, Verifier};
use confide_attest::{Evidence, EvidenceKind};
use serde_json::json;

use crate::context::Context;
use crate::output::{CliError, CliResult};

#[derive(Subcommand, Debug)]
pub(crate) enum AttestCommand {
    /// Verify an SGX or TDX DCAP quote and print what it proves and whether a policy accepts it.
    Verify {
        /// The evidence: a raw quote, its hex, or Confide's evidence JSON.
        #[arg(long)]
        evidence: PathBuf,
        /// Quote collateral (dcap-qvl JSON); default: fetched from --pccs-url.
        #[arg(long)]
        collateral: Option<PathBuf>,
        #[arg(long, env = "PCCS_URL", default_value = "https://api.trustedservices.intel.com")]
        pccs_url: String,
        /// Verify as of this time (Unix seconds) instead of now.
        #[arg(long)]
        at: Option<u64>,
        /// The SMS policy to judge the quote by.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::io(path, e))
}

fn attest_error(error: confide_attest::AttestError) -> CliError {
    CliError::new(error.code(), error.to_string())
}

/// Reads evidence in any of its forms; a bare quote's type comes from its header.
fn evidence(bytes: Vec<u8>) -> Result<Evidence, CliError> {
    if let Ok(evidence) = serde_json::from_slice::<Evidence>(&bytes) {
        return Ok(evidence);
    }
    let text = String::from_utf8_lossy(&bytes);
    let quote = match confide_chain::hex::decode(text.trim()) {
        Ok(decoded) if !text.trim().is_empty() => decoded,
        _ => bytes,
    };
    let tee_type = quote.get(4..8).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let kind = match tee_type {
        Some(0) => EvidenceKind::Sgx,
        Some(0x81) => EvidenceKind::Tdx,
        _ => {
            return Err(CliError::new(
                "QUOTE_INVALID",
                "not a DCAP quote (SGX or TDX), its hex, or evidence JSON",
            ));
        }
    };
    Ok(Evidence {
        kind,
        data: quote.into(),
    })
}

pub(crate) async fn run(command: AttestCommand, ctx: &Context) -> CliResult {
    let AttestCommand::Verify {
        evidence: evidence_path,
        collateral,
        pccs_url,
        at,
        policy,
    } = command;
    let evidence = evidence(read(&evidence_path)?)?;
    let collateral = match collateral {
        Some(path) => CollateralSource::offline_file(&path).map_err(attest_error)?,
        None => CollateralSource::pccs(pccs_url, Duration::from_secs(60)),
    };
    let now = at.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let policy_given = policy.is_some();
    let policy = match policy {
        Some(path) => Policy::from_json(&read(&path)?).map_err(attest_error)?,
        None => Policy::default(),
    };
    let verifier = Verifier::new(collateral, Policy::default());
    let verified = verifier.verify_evidence(&evidence, now).await.map_err(attest_error)?;
    let verdict = if policy_given {
        Some(policy.check(&verified))
    } else {
        None
    };
    let mut text = format!(
        "{} quote verified at {now}\n  TCB status   {}\n  advisories   {}\n  debug        {}\n  measurements {}\n  report data  0x{}",
        evidence.kind.name().to_uppercase(),
        verified.tcb_status().unwrap_or("-"),
        if verified.advisory_ids().is_empty() {
            "none".into()
        } else {
            verified.advisory_ids().join(", ")
        },
        verified.debug(),
        serde_json::to_string_pretty(verified.measurements())
            .unwrap_or_default()
            .replace('\n', "\n  "),
        confide_chain::hex::encode(verified.report_data()),
    );
    let accepted = match &verdict {
        None => None,
        Some(Ok(())) => {
            text.push_str("\n✔ the policy accepts this enclave");
            Some(json!({ "accepted": true }))
        }
        Some(Err(error)) => {
            text.push_str(&format!("\n✖ the policy refuses it ({}): {error}", error.code()));
            Some(json!({ "accepted": false, "code": error.code(), "reason": error.to_string() }))
        }
    };
    if let Some(Err(error)) = verdict {
        // Refused: say what the quote proves, then fail with the policy's reason.
        ctx.out.step(&text);
        return Err(attest_error(error));
    }
    ctx.out.done(&text, json!({ "verified": verified, "policy": accepted }));
    Ok(())
}
