//! `confide`: the command line of the Confide marketplace.
//!
//! Output is for people by default and JSON with `--raw` (`{"ok":true,…}` or
//! `{"ok":false,"error":{"code","message"}}`), as iExec's CLI does. Errors are one line that
//! names the fix; the exit code is 1. Secrets are never printed.

mod commands;
mod config;
mod output;

use clap::{Parser, Subcommand};

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local stack: chain with PoCo deployed, funded dev accounts.
    #[command(subcommand)]
    Dev(commands::dev::DevCommand),
    /// Show the PoCo contracts of a chain, like `iexec info`.
    Info(commands::info::InfoArgs),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let out = Output::new(cli.raw);
    let result = match cli.command {
        Command::Dev(command) => commands::dev::run(command, &out).await,
        Command::Info(args) => commands::info::run(args, &out).await,
    };
    if let Err(error) = result {
        out.fail(&error);
        std::process::exit(1);
    }
}
