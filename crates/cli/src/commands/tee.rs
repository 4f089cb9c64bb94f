//! The tutorial's `tee` commands, on the tutorial's folder tree.

use clap::Subcommand;
use serde_json::json;

use super::dataset::{EncryptArgs, TUTORIAL, create_folders, encrypt_folder};
use crate::context::Context;
use crate::output::CliResult;

#[derive(Subcommand, Debug)]
pub enum TeeCommand {
    /// Create tee/original-dataset, tee/encrypted-dataset, .tee-secrets/{dataset,beneficiary}.
    Init,
    /// Encrypt every file of tee/original-dataset (keys in .tee-secrets/dataset).
    EncryptDataset(EncryptArgs),
}

pub async fn run(command: TeeCommand, ctx: &Context) -> CliResult {
    match command {
        TeeCommand::Init => {
            create_folders(&TUTORIAL, true)?;
            ctx.out.done(
                "✔ created TEE folders tree structure\n├── tee\n│   ├── encrypted-dataset\n│   └── original-dataset\n└── .tee-secrets\n    ├── beneficiary\n    └── dataset",
                json!({ "folders": ["tee/original-dataset", "tee/encrypted-dataset", ".tee-secrets/dataset", ".tee-secrets/beneficiary"] }),
            );
            Ok(())
        }
        TeeCommand::EncryptDataset(args) => encrypt_folder(&args, TUTORIAL, ctx),
    }
}
