//! `confide sms serve`: the Secret Management Service.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use std::time::Duration;

use confide_attest::policy::Policy;
use confide_attest::verify::{CollateralSource, Verifier};
use confide_sms::store::MasterKeySource;
use confide_sms::{AppState, Gate, SecretStore, router};

use crate::context::Context;
use crate::output::{CliError, CliResult};
use crate::serve;

#[derive(Subcommand, Debug)]
pub(crate) enum SmsCommand {
    /// Serve the SMS API until interrupted (SIGINT or SIGTERM).
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CONFIDE_SMS_LISTEN", default_value = "127.0.0.1:13300")]
    listen: String,
    /// Where the master key and the SQLite database live.
    #[arg(long, env = "CONFIDE_SMS_DATA_DIR", default_value = ".confide-sms")]
    data_dir: PathBuf,
    /// The master key file (32 bytes; created if missing): every replica on one database
    /// must have the same. Default: `<data dir>/master.key`. The `CONFIDE_SMS_MASTER_KEY`
    /// variable (64 hex digits) gives the key itself instead.
    #[arg(long, env = "CONFIDE_SMS_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// `postgres://…` to store secrets in Postgres instead of SQLite.
    #[arg(long, env = "CONFIDE_SMS_DATABASE_URL")]
    database_url: Option<String>,
    /// The attestation policy (JSON: accepted enclaves, TCB statuses, advisories). Without
    /// one, no hardware enclave is accepted.
    #[arg(long, env = "CONFIDE_SMS_POLICY")]
    policy: Option<PathBuf>,
    /// Quote collateral from this file (air-gapped use) instead of a PCCS.
    #[arg(long, env = "CONFIDE_SMS_COLLATERAL", conflicts_with = "pccs_url")]
    collateral: Option<PathBuf>,
    /// The PCCS (or Intel PCS) collateral is fetched from.
    #[arg(long, env = "PCCS_URL", default_value = "https://api.trustedservices.intel.com")]
    pccs_url: String,
    /// How long fetched collateral is reused, seconds.
    #[arg(long, env = "CONFIDE_SMS_COLLATERAL_TTL", default_value_t = 3600)]
    collateral_ttl: u64,
    /// DEVELOPMENT ONLY: accept simulated evidence, which proves nothing. Every session
    /// answer then says `simulated: true`.
    #[arg(long, env = "CONFIDE_SMS_INSECURE_SIMULATION")]
    insecure_simulation: bool,
    /// IPFS gateways (base URLs, comma-separated) bulk requests' roots and slices are read
    /// from, in order; every answer is checked against its CID.
    #[arg(long = "ipfs-gateway", env = "CONFIDE_IPFS_GATEWAYS", value_delimiter = ',')]
    ipfs_gateways: Vec<String>,
}

pub(crate) async fn run(command: SmsCommand, ctx: &Context) -> CliResult {
    let SmsCommand::Serve(args) = command;
    // Warnings and errors (an audit write that failed, the SMS's insecure mode) go to
    // stderr, as docs/DEPLOYMENT.md says.
    serve::init_logging();
    let poco = ctx.poco().await?;
    let database_url = serve::database_url(&args.data_dir, args.database_url.clone(), "sms.db")?;
    let sms_error = |e: confide_sms::SmsError| CliError::new(e.code(), e.to_string());
    let key_file = args
        .master_key_file
        .clone()
        .unwrap_or_else(|| args.data_dir.join("master.key"));
    let source = match std::env::var("CONFIDE_SMS_MASTER_KEY") {
        Ok(hex) => MasterKeySource::from_hex(&hex).map_err(sms_error)?,
        Err(_) => MasterKeySource::File(&key_file),
    };
    let store = SecretStore::open_with(&database_url, source).await.map_err(sms_error)?;
    let gate = gate(&args)?;
    if args.insecure_simulation {
        tracing::warn!("INSECURE: simulated enclave evidence is accepted; never run this SMS with real secrets");
        ctx.out
            .step("⚠ INSECURE: simulated enclave evidence is accepted (development only)");
    }
    let state = Arc::new(AppState {
        store,
        poco,
        metrics: Default::default(),
        assets: Default::default(),
        gate,
        gateways: confide_gateway::Gateways::new(args.ipfs_gateways.clone()),
    });
    tokio::spawn(confide_sms::gate::sweep_challenges(
        state.clone(),
        Duration::from_secs(60),
    ));
    serve::serve(ctx, "SMS", &args.listen, router(state)).await
}

fn gate(args: &ServeArgs) -> Result<Gate, CliError> {
    let attest = |e: confide_attest::AttestError| CliError::new(e.code(), e.to_string());
    let policy = match &args.policy {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| CliError::io(path, e))?;
            Policy::from_json(&bytes).map_err(attest)?
        }
        None => Policy::default(),
    };
    let collateral = match &args.collateral {
        Some(path) => CollateralSource::offline_file(path).map_err(attest)?,
        None => CollateralSource::pccs(args.pccs_url.clone(), Duration::from_secs(args.collateral_ttl)),
    };
    let verifier = Verifier::new(collateral, policy);
    let verifier = if args.insecure_simulation {
        verifier.dangerously_accept_simulation()
    } else {
        verifier
    };
    Ok(Gate { verifier, now: None })
}
