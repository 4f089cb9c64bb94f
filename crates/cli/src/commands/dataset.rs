//! `confide dataset …`: folders, encryption, decryption, and the asset commands.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use confide_chain::{Address, AssetKind};
use confide_crypto::dataset::{DatasetKey, decrypt, encrypt};
use serde_json::json;

use super::asset::{self, AssetCommand};
use super::secret;
use crate::context::Context;
use crate::output::{CliError, CliResult, Output};
use crate::project::Project;

/// Where plaintext, ciphertext and keys live.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub original: &'static str,
    pub encrypted: &'static str,
    pub secrets: &'static str,
}

/// iExec's current tree (`iexec dataset init --encrypted`).
pub(crate) const CURRENT: Layout = Layout {
    original: "datasets/original",
    encrypted: "datasets/encrypted",
    secrets: ".secrets/datasets",
};
/// The tutorial's tree (`iexec tee init`), with the beneficiary keys' folder.
pub(crate) const TUTORIAL: Layout = Layout {
    original: "tee/original-dataset",
    encrypted: "tee/encrypted-dataset",
    secrets: ".tee-secrets/dataset",
};

#[derive(Subcommand, Debug)]
pub(crate) enum DatasetCommand {
    /// Add the dataset template to iexec.json (`--encrypted`: also the folders).
    Init {
        /// Create datasets/original, datasets/encrypted and .secrets/datasets.
        #[arg(long, alias = "tee")]
        encrypted: bool,
    },
    /// Encrypt every file of the original folder, one fresh key per file.
    Encrypt(EncryptArgs),
    /// Decrypt an encrypted file to check it round-trips (owner only: needs the key).
    Decrypt {
        file: PathBuf,
        /// Key file (base64); default: the key `encrypt` wrote for this file.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Where to write the plaintext; default: the file name without `.enc` + `.decrypted`.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Sign a dataset order from options and publish it to the market.
    Publish(super::order::QuickOrder),
    /// Remove the dataset's last order (or all of them) from the market.
    Unpublish {
        address: Option<Address>,
        #[arg(long)]
        all: bool,
    },
    /// Upload an encrypted file to the content store; prints the URL to use as multiaddr.
    Upload {
        file: PathBuf,
        /// Name in the store (default: the file's name).
        #[arg(long)]
        name: Option<String>,
        /// Use the file's IPFS address as multiaddr (`/ipfs/<CID>`, as the tutorial
        /// suggests): the store serves it as a gateway, and so does any IPFS node once the
        /// file is pinned there; the runtime checks the CID of what it downloads.
        #[arg(long)]
        ipfs: bool,
    },
    /// Register the dataset of iexec.json on chain.
    Deploy,
    /// Push the dataset's key to the SMS (write-once; `--rotate` replaces it by a new version).
    PushSecret {
        /// The dataset's address (default: deployed.json's).
        address: Option<Address>,
        /// The key file (default: .secrets/datasets/dataset.key).
        #[arg(long)]
        secret_path: Option<PathBuf>,
        /// Replace the key already in the SMS, keeping the old version.
        #[arg(long)]
        rotate: bool,
    },
    /// Check whether the dataset's key is in the SMS.
    CheckSecret { address: Option<Address> },
    /// Show a dataset.
    Show {
        address_or_index: Option<String>,
        #[arg(long)]
        user: Option<Address>,
    },
    /// Count a user's datasets.
    Count {
        #[arg(long)]
        user: Option<Address>,
    },
    /// Hand a dataset to another owner.
    Transfer {
        address: Address,
        #[arg(long)]
        to: Address,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Algorithm {
    #[value(name = "aes-256-cbc")]
    Aes256Cbc,
    /// The tutorial's SCONE file-system shield: proprietary, replaced by aes-256-cbc.
    Scone,
}

#[derive(Args, Debug)]
pub(crate) struct EncryptArgs {
    #[arg(long, value_enum, default_value = "aes-256-cbc")]
    pub algorithm: Algorithm,
    /// Folder of files to encrypt.
    #[arg(long)]
    pub original_dataset_dir: Option<PathBuf>,
    /// Folder for the encrypted files.
    #[arg(long)]
    pub encrypted_dataset_dir: Option<PathBuf>,
    /// Folder for the keys.
    #[arg(long)]
    pub dataset_keystoredir: Option<PathBuf>,
    /// Overwrite existing encrypted files and keys.
    #[arg(long)]
    pub force: bool,
}

pub(crate) async fn run(command: DatasetCommand, ctx: &Context) -> CliResult {
    let kind = AssetKind::Dataset;
    match command {
        DatasetCommand::Init { encrypted } => {
            let folders = move || {
                if encrypted {
                    create_folders(&CURRENT, false)?;
                }
                fill_checksum_from_encrypted(ctx)
            };
            asset::init(kind, ctx, Some(&folders))
        }
        DatasetCommand::Encrypt(args) => encrypt_folder(&args, CURRENT, ctx),
        DatasetCommand::Decrypt { file, key, output } => decrypt_file(&file, key, output, ctx),
        DatasetCommand::Upload { file, name, ipfs } => super::store::upload_dataset(ctx, &file, name, ipfs).await,
        DatasetCommand::Deploy => asset::run(kind, AssetCommand::Deploy, ctx).await,
        DatasetCommand::Publish(options) => super::order::quick_publish(ctx, kind, options).await,
        DatasetCommand::Unpublish { address, all } => super::order::quick_unpublish(ctx, kind, address, all).await,
        DatasetCommand::PushSecret {
            address,
            secret_path,
            rotate,
        } => {
            let dataset = ctx.asset(AssetKind::Dataset, address).await?;
            let path = secret_path.unwrap_or_else(secret::default_dataset_key);
            secret::push_dataset_secret(ctx, dataset, &path, rotate).await
        }
        DatasetCommand::CheckSecret { address } => {
            let dataset = ctx.asset(AssetKind::Dataset, address).await?;
            secret::check_dataset_secret(ctx, dataset).await
        }
        DatasetCommand::Show { address_or_index, user } => {
            asset::run(kind, AssetCommand::Show { address_or_index, user }, ctx).await
        }
        DatasetCommand::Count { user } => asset::run(kind, AssetCommand::Count { user }, ctx).await,
        DatasetCommand::Transfer { address, to } => asset::run(kind, AssetCommand::Transfer { address, to }, ctx).await,
    }
}

/// Creates a layout's folders; the secrets folders are private to the user (0700).
pub(crate) fn create_folders(layout: &Layout, with_beneficiary: bool) -> Result<(), CliError> {
    let mut dirs = vec![
        (layout.original, false),
        (layout.encrypted, false),
        (layout.secrets, true),
    ];
    if with_beneficiary {
        dirs.push((".tee-secrets/beneficiary", true));
    }
    for (dir, private) in dirs {
        std::fs::create_dir_all(dir).map_err(|e| CliError::new("IO_ERROR", format!("cannot create {dir}: {e}")))?;
        if private {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    Ok(())
}

/// Writes a secret file readable by its owner only; never leaves a partial file.
pub(crate) fn write_private(path: &Path, content: &[u8]) -> Result<(), CliError> {
    let temporary = path.with_extension("partial");
    let result = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| file.write_all(content).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = result {
        let _ = std::fs::remove_file(&temporary);
        return Err(CliError::io(path, error));
    }
    Ok(())
}

/// A progress bar on stderr for files worth waiting for, when a person is watching.
pub(crate) fn progress_bar(out: &Output, total: u64, label: &str) -> Option<indicatif::ProgressBar> {
    if out.is_raw() || total < 16 << 20 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    Some(bar)
}

/// Encrypts every regular file of the original folder. Each ciphertext is written to a
/// `.partial` file renamed only once complete, so a failure (disk full, unreadable file)
/// never leaves a truncated file that looks finished. No plaintext is written anywhere.
pub(crate) fn encrypt_folder(args: &EncryptArgs, layout: Layout, ctx: &Context) -> CliResult {
    if matches!(args.algorithm, Algorithm::Scone) {
        ctx.out.step(
            "SCONE's file-system shield is proprietary and not produced: encrypting with aes-256-cbc (IV ‖ AES-256-CBC, iExec's current format) instead",
        );
    }
    let original = args
        .original_dataset_dir
        .clone()
        .unwrap_or_else(|| layout.original.into());
    let encrypted_dir = args
        .encrypted_dataset_dir
        .clone()
        .unwrap_or_else(|| layout.encrypted.into());
    let secrets = args
        .dataset_keystoredir
        .clone()
        .unwrap_or_else(|| layout.secrets.into());
    let files = files_to_encrypt(&original)?;
    for dir in [&encrypted_dir, &secrets] {
        std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
    }
    let mut results = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .expect("a file has a name")
            .to_string_lossy()
            .into_owned();
        let target = encrypted_dir.join(format!("{name}.enc"));
        let key_path = secrets.join(format!("{name}.key"));
        if !args.force && (target.exists() || key_path.exists()) {
            return Err(CliError::new(
                "ALREADY_ENCRYPTED",
                format!(
                    "{} already exists: pass --force to encrypt again with a new key",
                    target.display()
                ),
            ));
        }
        let checksum = encrypt_one(file, &target, &key_path, &secrets, &ctx.out)?;
        ctx.out.step(&format!(
            "encrypted {} → {} (checksum {checksum})",
            file.display(),
            target.display()
        ));
        results.push(json!({ "original": file, "encrypted": target, "key": key_path, "checksum": checksum }));
    }
    let last = results.last().expect("at least one file");
    let checksum = last["checksum"].as_str().expect("checksum is text").to_owned();
    let project = Project::current();
    if project.has_iexec_json() && project.section("dataset").is_ok() {
        project.update_iexec_json(|json| {
            if let Some(dataset) = json.get_mut("dataset").and_then(|d| d.as_object_mut()) {
                dataset.insert("checksum".into(), json!(checksum));
            }
        })?;
        ctx.out.step(&format!(
            "iexec.json: dataset.checksum set to {checksum} (of {})",
            last["encrypted"].as_str().unwrap_or("")
        ));
    }
    ctx.out.done(
        &format!(
            "✔ encrypted {} file(s); keys in {} (never share them; push with `confide dataset push-secret`)",
            results.len(),
            secrets.display()
        ),
        json!({ "encryptedFiles": results, "checksum": checksum }),
    );
    Ok(())
}

/// When a dataset was encrypted before `dataset init` (the tutorial's order), the newest
/// encrypted file's checksum goes into the new template, so the user only sets the URL.
fn fill_checksum_from_encrypted(ctx: &Context) -> Result<(), CliError> {
    let newest = asset::ENCRYPTED_DIRS
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "enc") && path.is_file())
        .max_by_key(|path| path.metadata().and_then(|m| m.modified()).ok());
    let Some(path) = newest else { return Ok(()) };
    let file = File::open(&path).map_err(|e| CliError::io(&path, e))?;
    let checksum = confide_crypto::dataset::checksum(BufReader::new(file))
        .map_err(|e| CliError::new("UNREADABLE_FILE", format!("{}: {e}", path.display())))?
        .to_string();
    Project::current().update_iexec_json(|json| {
        if let Some(dataset) = json.get_mut("dataset").and_then(|d| d.as_object_mut()) {
            dataset.insert("checksum".into(), json!(checksum));
        }
    })?;
    ctx.out.step(&format!(
        "dataset.checksum set to {checksum}, the sha256 of {}",
        path.display()
    ));
    Ok(())
}

fn files_to_encrypt(original: &Path) -> Result<Vec<PathBuf>, CliError> {
    let entries = std::fs::read_dir(original).map_err(|_| {
        CliError::new(
            "NO_ORIGINAL_DATASET",
            format!(
                "folder {} does not exist: create it and copy your dataset in",
                original.display()
            ),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CliError::new(
            "NO_ORIGINAL_DATASET",
            format!("no file to encrypt in {}: copy your dataset there", original.display()),
        ));
    }
    Ok(files)
}

fn encrypt_one(file: &Path, target: &Path, key_path: &Path, secrets: &Path, out: &Output) -> Result<String, CliError> {
    let input = File::open(file)
        .map_err(|e| CliError::new("UNREADABLE_FILE", format!("cannot read {}: {e}", file.display())))?;
    let total = input.metadata().map(|m| m.len()).unwrap_or(0);
    let key = DatasetKey::generate();
    let partial = target.with_extension("enc.partial");
    let output = File::create(&partial).map_err(|e| CliError::io(&partial, e))?;
    let bar = progress_bar(out, total, &file.display().to_string());
    let result = encrypt(
        &key,
        BufReader::with_capacity(1 << 16, input),
        BufWriter::with_capacity(1 << 16, output),
        |done| {
            if let Some(bar) = &bar {
                bar.set_position(done);
            }
        },
    );
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let finish = result
        .map_err(|e| CliError::new("ENCRYPTION_FAILED", format!("{}: {e}", file.display())))
        .and_then(|encrypted| {
            write_private(key_path, key.to_base64().as_bytes())?;
            write_private(&secrets.join("dataset.key"), key.to_base64().as_bytes())?;
            std::fs::rename(&partial, target).map_err(|e| CliError::io(target, e))?;
            Ok(encrypted.checksum.to_string())
        });
    if finish.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    finish
}

fn default_key_path(file: &Path) -> Option<PathBuf> {
    let name = file.file_name()?.to_string_lossy();
    let stem = name.strip_suffix(".enc").unwrap_or(&name);
    [CURRENT.secrets, TUTORIAL.secrets]
        .iter()
        .flat_map(|dir| {
            [
                Path::new(dir).join(format!("{stem}.key")),
                Path::new(dir).join(format!("{stem}.secret")),
            ]
        })
        .find(|p| p.exists())
}

fn decrypt_file(file: &Path, key: Option<PathBuf>, output: Option<PathBuf>, ctx: &Context) -> CliResult {
    let key_path = key.or_else(|| default_key_path(file)).ok_or_else(|| {
        CliError::new(
            "NO_DATASET_KEY",
            format!("no key found for {}: pass --key", file.display()),
        )
    })?;
    let key_text = zeroize::Zeroizing::new(
        std::fs::read_to_string(&key_path)
            .map_err(|e| CliError::new("UNREADABLE_FILE", format!("cannot read {}: {e}", key_path.display())))?,
    );
    let output = output.unwrap_or_else(|| {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        file.with_file_name(format!("{}.decrypted", name.strip_suffix(".enc").unwrap_or(&name)))
    });
    let input = File::open(file)
        .map_err(|e| CliError::new("UNREADABLE_FILE", format!("cannot read {}: {e}", file.display())))?;
    let total = input.metadata().map(|m| m.len()).unwrap_or(0);
    let partial = output.with_extension("partial");
    let writer = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| CliError::io(&partial, e))?;
    let bar = progress_bar(&ctx.out, total, &file.display().to_string());
    let result = decrypt(&key_text, BufReader::new(input), BufWriter::new(writer), |done| {
        if let Some(bar) = &bar {
            bar.set_position(done);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(length) => {
            std::fs::rename(&partial, &output).map_err(|e| CliError::io(&output, e))?;
            ctx.out.done(
                &format!("✔ decrypted {} → {} ({length} bytes)", file.display(), output.display()),
                json!({ "output": output, "size": length }),
            );
            Ok(())
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(CliError::new(
                "DECRYPTION_FAILED",
                format!("{}: {error}", file.display()),
            ))
        }
    }
}
