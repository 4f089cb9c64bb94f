//! RLC: balances, transfers, and the escrow account deposits and withdrawals go through.

use super::*;

/// An account in PoCo's escrow: spendable balance and the part locked in deals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EscrowAccount {
    /// nRLC free to pay for deals or withdraw.
    pub stake: U256,
    /// nRLC frozen by deals (a sponsor's payment, a pool's or a worker's stake) until their
    /// tasks complete or are claimed.
    pub locked: U256,
}

impl Poco {
    /// The RLC `owner`'s wallet holds outside PoCo, in nRLC (a billionth of an RLC).
    pub async fn rlc_balance(&self, owner: Address) -> Result<U256, ChainError> {
        self.rlc()
            .balanceOf(owner)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read RLC balance", e))
    }

    /// `owner`'s account in PoCo's escrow.
    pub async fn account(&self, owner: Address) -> Result<EscrowAccount, ChainError> {
        let account = self
            .hub()
            .viewAccount(owner)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read account", e))?;
        Ok(EscrowAccount {
            stake: account.stake,
            locked: account.locked,
        })
    }

    /// Sends `amount` nRLC from the wallet to `to` (a token transfer, the escrow untouched);
    /// returns the transaction hash.
    pub async fn transfer_rlc(&self, to: Address, amount: U256) -> Result<B256, ChainError> {
        let receipt = self
            .connection
            .send("send RLC", self.rlc().transfer(to, amount))
            .await?;
        Ok(receipt.transaction_hash)
    }

    /// Moves `amount` nRLC from the wallet into the PoCo escrow (approve, then deposit).
    pub async fn deposit(&self, amount: U256) -> Result<B256, ChainError> {
        let owner = self.sender("deposit")?;
        let balance = self.rlc_balance(owner).await?;
        if balance < amount {
            return Err(ChainError::InsufficientFunds {
                action: "deposit".into(),
                reason: format!("the wallet holds {balance} nRLC, {amount} nRLC asked"),
            });
        }
        self.connection
            .send("approve the deposit", self.rlc().approve(self.deployment.hub, amount))
            .await?;
        let receipt = self.connection.send("deposit", self.hub().deposit(amount)).await?;
        Ok(receipt.transaction_hash)
    }

    /// Moves `amount` nRLC from the escrow back to the wallet.
    pub async fn withdraw(&self, amount: U256) -> Result<B256, ChainError> {
        let owner = self.sender("withdraw")?;
        let account = self.account(owner).await?;
        if account.stake < amount {
            return Err(ChainError::InsufficientFunds {
                action: "withdraw".into(),
                reason: format!("the account holds {} nRLC unlocked, {amount} nRLC asked", account.stake),
            });
        }
        let receipt = self.connection.send("withdraw", self.hub().withdraw(amount)).await?;
        Ok(receipt.transaction_hash)
    }
}
