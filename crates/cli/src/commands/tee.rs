//! The tutorial's `tee` commands, on the tutorial's folder tree.

use clap::Subcommand;
use serde_json::json;

use super::dataset::{EncryptArgs, TUTORIAL, create_folders, encrypt_folder};
use super::secret;
use crate::context::Context;
use crate::output::CliResult;

#[derive(Subcommand, Debug)]
pub(crate) enum TeeCommand {
    /// Create tee/original-dataset, tee/encrypted-dataset, .tee-secrets/{dataset,beneficiary}.
    Init,
    /// Encrypt every file of tee/original-dataset (keys in .tee-secrets/dataset).
    EncryptDataset(EncryptArgs),
    /// Push a dataset's key to the SMS (the tutorial's command).
    PushSecret {
        /// The dataset's address (default: deployed.json's).
        #[arg(long)]
        dataset: Option<confide_chain::Address>,
        /// The key file (default: .tee-secrets/dataset/dataset.key).
        #[arg(long)]
        secret_path: Option<std::path::PathBuf>,
    },
    /// Check whether a dataset's key is in the SMS.
    CheckSecret { dataset: Option<confide_chain::Address> },
}

pub(crate) async fn run(command: TeeCommand, ctx: &Context) -> CliResult {
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
        TeeCommand::PushSecret { dataset, secret_path } => {
            let dataset = ctx.asset(confide_chain::AssetKind::Dataset, dataset).await?;
            let path = secret_path.unwrap_or_else(|| ".tee-secrets/dataset/dataset.key".into());
            secret::push_dataset_secret(ctx, dataset, &path, false).await
        }
        TeeCommand::CheckSecret { dataset } => {
            let dataset = ctx.asset(confide_chain::AssetKind::Dataset, dataset).await?;
            secret::check_dataset_secret(ctx, dataset).await
        }
    }
}
