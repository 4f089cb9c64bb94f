//! `confide account deposit | withdraw | show`: RLC between the wallet and PoCo's escrow.

use clap::Subcommand;
use confide_chain::Address;
use confide_protocol::amount::{format_rlc, parse_nrlc};
use serde_json::json;

use crate::context::Context;
use crate::output::{CliError, CliResult};

#[derive(Subcommand, Debug)]
pub(crate) enum AccountCommand {
    /// Move RLC from the wallet into the escrow (e.g. `10 RLC`, or nRLC as a plain number).
    Deposit { amount: String },
    /// Move unlocked RLC from the escrow back to the wallet.
    Withdraw { amount: String },
    /// Show the escrow account: stake (spendable) and locked amounts.
    Show { address: Option<Address> },
}

fn amount(text: &str) -> Result<confide_chain::U256, CliError> {
    let value = parse_nrlc(text).map_err(|e| CliError::new("INVALID_AMOUNT", e.to_string()))?;
    if value.is_zero() {
        return Err(CliError::new("INVALID_AMOUNT", "the amount must be more than zero"));
    }
    Ok(value)
}

pub(crate) async fn run(command: AccountCommand, ctx: &Context) -> CliResult {
    match command {
        AccountCommand::Deposit { amount: text } => {
            let value = amount(&text)?;
            let poco = ctx.signed_poco().await?;
            let tx = poco.deposit(value).await?;
            ctx.out.done(
                &format!("✔ deposited {} RLC to your account", format_rlc(value)),
                json!({ "amount": value.to_string(), "txHash": tx }),
            );
        }
        AccountCommand::Withdraw { amount: text } => {
            let value = amount(&text)?;
            let poco = ctx.signed_poco().await?;
            let tx = poco.withdraw(value).await?;
            ctx.out.done(
                &format!("✔ withdrew {} RLC from your account", format_rlc(value)),
                json!({ "amount": value.to_string(), "txHash": tx }),
            );
        }
        AccountCommand::Show { address } => {
            let address = match address {
                Some(address) => address,
                None => ctx.wallet.address()?,
            };
            let account = ctx.poco().await?.account(address).await?;
            ctx.out.done(
                &format!(
                    "account {address}\n  stake  {} RLC\n  locked {} RLC",
                    format_rlc(account.stake),
                    format_rlc(account.locked)
                ),
                json!({ "balance": { "stake": account.stake.to_string(), "locked": account.locked.to_string() } }),
            );
        }
    }
    Ok(())
}
