//! What every command gets: output, the chain and the wallet options.

use confide_chain::{Address, AssetKind, Poco};

use crate::config::ChainArgs;
use crate::output::{CliError, Output};
use crate::project::Project;
use crate::wallet::WalletArgs;

pub(crate) struct Context {
    pub out: Output,
    pub chain: ChainArgs,
    pub wallet: WalletArgs,
}

impl Context {
    /// A read-only client of the configured chain.
    pub(crate) async fn poco(&self) -> Result<Poco, CliError> {
        self.chain.resolve()?.connect(None).await
    }

    /// A client that signs with the user's wallet (unlocked first, so a wrong password is
    /// reported before any network call).
    pub(crate) async fn signed_poco(&self) -> Result<Poco, CliError> {
        let signer = self.wallet.signer()?;
        self.chain.resolve()?.connect(Some(signer)).await
    }

    /// `given`, else the project's deployed `kind` on the configured chain (which is only
    /// contacted when no address is given).
    pub(crate) async fn asset(&self, kind: AssetKind, given: Option<Address>) -> Result<Address, CliError> {
        if let Some(address) = given {
            return Ok(address);
        }
        let chain_id = self.poco().await?.connection.chain_id;
        Project::current().asset_or_deployed(kind, chain_id, None)
    }
}
