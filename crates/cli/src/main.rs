//! `confide`: the command line of the Confide marketplace.
//!
//! Output is for people by default and JSON with `--raw` (`{"ok":true,…}` or
//! `{"ok":false,"error":{"code","message"}}`), as iExec's CLI does. Errors are one line that
//! names the fix; the exit code is 1. Secrets are never printed.

mod commands;
mod config;
mod context;
mod output;
mod project;
mod serve;
mod wallet;

use clap::{Parser, Subcommand};

use crate::context::Context;
use crate::output::Output;

#[derive(Parser)]
#[command(
    name = "confide",
    version,
    about = "Confidential computing marketplace on iExec PoCo"
)]
struct Cli {
    /// Print JSON for scripts instead of text for people.
    #[arg(long, global = true)]
    raw: bool,
    #[command(flatten)]
    chain: config::ChainArgs,
    #[command(flatten)]
    wallet: wallet::WalletArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local stack: chain with PoCo deployed, funded dev accounts.
    #[command(subcommand)]
    Dev(commands::dev::DevCommand),
    /// Show the PoCo contracts of a chain, like `iexec info`.
    Info,
    /// Start a project here: iexec.json and chain.json, as iExec's SDK writes them.
    Init(commands::init::InitArgs),
    /// Create, import and inspect keystore wallets.
    #[command(subcommand)]
    Wallet(commands::wallet::WalletCommand),
    /// Move RLC in and out of the PoCo escrow account.
    #[command(subcommand)]
    Account(commands::account::AccountCommand),
    /// Register and inspect apps; the app developer's secret.
    #[command(subcommand)]
    App(commands::app::AppCommand),
    /// Encrypt, register and inspect datasets.
    #[command(subcommand)]
    Dataset(commands::dataset::DatasetCommand),
    /// Protect an object (JSON and files) in one step: schema, zip, encryption, upload,
    /// registration through the DataProtector contract, key to the SMS.
    Protect(commands::protected::ProtectArgs),
    /// Protected data: find, show, grant access, revoke, transfer.
    #[command(subcommand, name = "protected")]
    Protected(commands::protected::ProtectedCommand),
    /// App whitelists (ERC-734): one grant for every app version they list.
    #[command(subcommand)]
    Whitelist(commands::protected::WhitelistCommand),
    /// Run an app on a protected data and get the result back, decrypted.
    Process(commands::protected::ProcessArgs),
    /// Bulk processing: one app over many protected data, a slice of them per task.
    #[command(subcommand)]
    Bulk(commands::bulk::BulkCommand),
    /// Register and inspect workerpools; run a workerpool's scheduler.
    #[command(subcommand)]
    Workerpool(commands::workerpool::WorkerpoolCommand),
    /// Run a worker: join a scheduler and run its tasks in the enclave runtime.
    Worker(commands::worker::WorkerArgs),
    /// Deals: their tasks, and claiming what did not complete.
    #[command(subcommand)]
    Deal(commands::deal::DealCommand),
    /// Tasks: status (live with --watch), result download, claim, debug.
    #[command(subcommand)]
    Task(commands::task::TaskCommand),
    /// The tutorial's TEE commands: folder tree, dataset encryption, pushing the key.
    #[command(subcommand)]
    Tee(commands::tee::TeeCommand),
    /// Order templates, EIP-712 signing, and on-chain cancel and fill.
    #[command(subcommand)]
    Order(commands::order::OrderCommand),
    /// Browse the market's order books.
    Orderbook(commands::market::OrderbookArgs),
    /// The marketplace service.
    #[command(subcommand)]
    Market(commands::market::MarketCommand),
    /// Requester secrets in the SMS.
    #[command(subcommand)]
    Requester(commands::requester::RequesterCommand),
    /// The beneficiary's result encryption keys.
    #[command(subcommand)]
    Result(commands::result::ResultCommand),
    /// The Secret Management Service.
    #[command(subcommand)]
    Sms(commands::sms::SmsCommand),
    /// Attestation evidence: what a quote proves.
    #[command(subcommand)]
    Attest(commands::attest::AttestCommand),
    /// The content store that hosts encrypted datasets.
    #[command(subcommand)]
    Store(commands::store::StoreCommand),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let ctx = Context {
        out: Output::new(cli.raw),
        chain: cli.chain,
        wallet: cli.wallet,
    };
    let result = match cli.command {
        Command::Dev(command) => commands::dev::run(command, &ctx.out).await,
        Command::Info => commands::info::run(&ctx).await,
        Command::Init(args) => commands::init::run(args, &ctx),
        Command::Wallet(command) => commands::wallet::run(command, &ctx).await,
        Command::Account(command) => commands::account::run(command, &ctx).await,
        Command::App(command) => commands::app::run(command, &ctx).await,
        Command::Order(command) => commands::order::run(command, &ctx).await,
        Command::Orderbook(args) => commands::market::orderbook(args, &ctx).await,
        Command::Market(command) => commands::market::run(command, &ctx).await,
        Command::Requester(command) => commands::requester::run(command, &ctx).await,
        Command::Result(command) => commands::result::run(command, &ctx).await,
        Command::Dataset(command) => commands::dataset::run(command, &ctx).await,
        Command::Protect(args) => commands::protected::protect(&ctx, args).await,
        Command::Protected(command) => commands::protected::run(command, &ctx).await,
        Command::Whitelist(command) => commands::protected::whitelist(command, &ctx).await,
        Command::Process(args) => commands::protected::process(&ctx, args).await,
        Command::Bulk(command) => commands::bulk::run(command, &ctx).await,
        Command::Workerpool(command) => commands::workerpool::run(command, &ctx).await,
        Command::Worker(args) => commands::worker::serve_worker(args, &ctx).await,
        Command::Deal(command) => commands::deal::deal(command, &ctx).await,
        Command::Task(command) => commands::task::task(command, &ctx).await,
        Command::Tee(command) => commands::tee::run(command, &ctx).await,
        Command::Sms(command) => commands::sms::run(command, &ctx).await,
        Command::Attest(command) => commands::attest::run(command, &ctx).await,
        Command::Store(command) => commands::store::run(command, &ctx).await,
    };
    if let Err(error) = result {
        ctx.out.fail(&error);
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    /// Every subcommand's arguments are well formed (unique names, valid defaults): clap
    /// checks them only when a command is parsed, so a clash would otherwise surface as a
    /// panic in a user's first run of that command.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
