//! `confide wallet create | import | show`.

use clap::Subcommand;
use confide_chain::{Address, PrivateKeySigner};
use confide_protocol::amount::format_rlc;
use serde_json::json;

use crate::context::Context;
use crate::output::{CliError, CliResult};

#[derive(Subcommand, Debug)]
pub(crate) enum WalletCommand {
    /// Create a new wallet: a keystore file in the keystore directory.
    Create,
    /// Import a private key (hex) as a keystore file.
    Import {
        /// The private key, 0x-prefixed hex; read from the CONFIDE_PRIVATE_KEY variable if absent.
        #[arg(env = "CONFIDE_PRIVATE_KEY", hide_env_values = true)]
        private_key: String,
    },
    /// Show an address and its ETH and RLC balances (the wallet's address by default).
    Show { address: Option<Address> },
}

pub(crate) async fn run(command: WalletCommand, ctx: &Context) -> CliResult {
    match command {
        WalletCommand::Create => save(ctx, PrivateKeySigner::random(), "created"),
        WalletCommand::Import { private_key } => {
            let signer: PrivateKeySigner = private_key
                .trim()
                .parse()
                .map_err(|_| CliError::new("INVALID_PRIVATE_KEY", "the private key must be 32 bytes of hex"))?;
            save(ctx, signer, "imported")
        }
        WalletCommand::Show { address } => show(ctx, address).await,
    }
}

fn save(ctx: &Context, signer: PrivateKeySigner, verb: &str) -> CliResult {
    let dir = ctx.wallet.keystore_dir();
    if confide_crypto::keystore::find(&dir, signer.address()).is_ok() {
        return Err(CliError::new(
            "WALLET_EXISTS",
            format!("a wallet for {} is already in {}", signer.address(), dir.display()),
        ));
    }
    let password = ctx.wallet.password("encrypt the new wallet")?;
    if password.is_empty() {
        return Err(CliError::new("EMPTY_PASSWORD", "refusing an empty wallet password"));
    }
    let path = confide_crypto::keystore::write(&dir, &signer, &password)?;
    ctx.out.done(
        &format!("✔ wallet {verb}: {}\n  address {}", path.display(), signer.address()),
        json!({ "address": signer.address(), "fileName": path }),
    );
    Ok(())
}

async fn show(ctx: &Context, address: Option<Address>) -> CliResult {
    let address = match address {
        Some(address) => address,
        None => ctx.wallet.address()?,
    };
    let poco = ctx.poco().await?;
    let eth = poco.connection.eth_balance(address).await?;
    let rlc = poco.rlc_balance(address).await?;
    let eth_text = alloy_format_ether(eth);
    ctx.out.done(
        &format!("address {address}\n  ETH  {eth_text}\n  RLC  {}", format_rlc(rlc)),
        json!({ "address": address, "balance": { "ETH": eth.to_string(), "nRLC": rlc.to_string() } }),
    );
    Ok(())
}

/// Wei as ether with up to 6 decimals.
fn alloy_format_ether(wei: confide_chain::U256) -> String {
    let scale = confide_chain::U256::from(10u64).pow(confide_chain::U256::from(12));
    let micro = (wei / scale).to::<u128>();
    let text = format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}
