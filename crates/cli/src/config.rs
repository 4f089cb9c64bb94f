//! Which chain a command talks to: `--rpc-url`/`--hub`, else an entry of `chain.json`
//! (the project's, in the current directory, else the dev stack's).

use std::path::PathBuf;

use clap::Args;
use confide_chain::{Address, Connection, Poco, PrivateKeySigner};
use confide_devstack::DevStack;
use confide_devstack::chain_json::ChainsFile;

use crate::output::CliError;

#[derive(Args, Clone, Debug, Default)]
pub(crate) struct ChainArgs {
    /// Chain name in chain.json (default: its `default`).
    #[arg(long, env = "CONFIDE_CHAIN", global = true)]
    pub chain: Option<String>,
    /// Ethereum JSON-RPC endpoint, overriding chain.json's `host`.
    #[arg(long, env = "CONFIDE_RPC_URL", global = true)]
    pub rpc_url: Option<String>,
    /// PoCo hub address, overriding chain.json's `hub`.
    #[arg(long, env = "CONFIDE_HUB", global = true)]
    pub hub: Option<Address>,
}

/// A chain as configured, before connecting.
#[derive(Debug)]
pub(crate) struct ChainConfig {
    pub name: String,
    pub expected_id: Option<u64>,
    pub rpc_url: String,
    pub hub: Address,
    /// The SMS URL of chain.json's entry, if any.
    pub sms: Option<String>,
    /// The market URL (`iexecGateway`) of chain.json's entry, if any.
    pub iexec_gateway: Option<String>,
    /// The IPFS gateway (`ipfsGateway`) results are downloaded through, if any.
    pub ipfs_gateway: Option<String>,
}

fn chain_file() -> Option<PathBuf> {
    let local = PathBuf::from("chain.json");
    if local.exists() {
        return Some(local);
    }
    let dev = DevStack::default_dir().join("chain.json");
    dev.exists().then_some(dev)
}

impl ChainArgs {
    pub(crate) fn resolve(&self) -> Result<ChainConfig, CliError> {
        let file = chain_file()
            .map(|path| ChainsFile::read(&path).map(|f| (path, f)))
            .transpose()?;
        let entry = match &file {
            Some((path, file)) => {
                let name = self.chain.clone().unwrap_or_else(|| file.default.clone());
                let entry = file.chains.get(&name).cloned().ok_or_else(|| {
                    let known: Vec<_> = file.chains.keys().cloned().collect();
                    CliError::new(
                        "UNKNOWN_CHAIN",
                        format!("no chain `{name}` in {} (known: {})", path.display(), known.join(", ")),
                    )
                })?;
                Some((name, entry))
            }
            None => None,
        };
        let name = entry
            .as_ref()
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| "custom".into());
        let rpc_url = self
            .rpc_url
            .clone()
            .or_else(|| entry.as_ref().and_then(|(_, e)| e.host.clone()))
            .ok_or_else(|| {
                CliError::new(
                    "NO_CHAIN",
                    "no chain configured: run `confide dev up`, or pass --rpc-url and --hub",
                )
            })?;
        let hub = match self.hub {
            Some(hub) => hub,
            None => entry
                .as_ref()
                .and_then(|(_, e)| e.hub.as_deref())
                .ok_or_else(|| CliError::new("NO_HUB", format!("chain `{name}` has no hub: pass --hub")))?
                .parse()
                .map_err(|_| CliError::new("INVALID_HUB", format!("chain `{name}` has an invalid hub address")))?,
        };
        let expected_id = match entry
            .as_ref()
            .filter(|(_, e)| !e.id.is_empty())
            .map(|(_, e)| e.id.parse::<u64>())
        {
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                return Err(CliError::new(
                    "INVALID_CHAIN_ID",
                    format!("chain `{name}` has an invalid id"),
                ));
            }
            None => None,
        };
        let sms = entry.as_ref().and_then(|(_, e)| e.sms.clone());
        let iexec_gateway = entry.as_ref().and_then(|(_, e)| e.iexec_gateway.clone());
        let ipfs_gateway = entry.as_ref().and_then(|(_, e)| e.ipfs_gateway.clone());
        Ok(ChainConfig {
            name,
            expected_id,
            rpc_url,
            hub,
            sms,
            iexec_gateway,
            ipfs_gateway,
        })
    }
}

impl ChainConfig {
    /// Connects, checks the chain id and that PoCo is there.
    pub(crate) async fn connect(&self, signer: Option<PrivateKeySigner>) -> Result<Poco, CliError> {
        let connection = Connection::connect(&self.rpc_url, signer).await?;
        if let Some(expected) = self.expected_id {
            connection.expect_chain_id(expected)?;
        }
        Ok(Poco::new(connection, self.hub).await?)
    }
}
