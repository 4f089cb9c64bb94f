//! What every command gets: output, the chain and the wallet options.

use confide_chain::Poco;

use crate::config::ChainArgs;
use crate::output::{CliError, Output};
use crate::wallet::WalletArgs;

pub struct Context {
    pub out: Output,
    pub chain: ChainArgs,
    pub wallet: WalletArgs,
}

impl Context {
    /// A read-only client of the configured chain.
    pub async fn poco(&self) -> Result<Poco, CliError> {
        self.chain.resolve()?.connect(None).await
    }

    /// A client that signs with the user's wallet (unlocked first, so a wrong password is
    /// reported before any network call).
    pub async fn signed_poco(&self) -> Result<Poco, CliError> {
        let signer = self.wallet.signer()?;
        self.chain.resolve()?.connect(Some(signer)).await
    }
}
