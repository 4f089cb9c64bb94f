//! A connection to an Ethereum JSON-RPC node, with an optional signer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy::contract::{CallBuilder, CallDecoder};
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;

use crate::ChainError;

/// How long to wait for a node to answer its first call, and for a receipt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a transaction still without a receipt is looked up on the node.
const PRESENCE_CHECK: Duration = Duration::from_secs(2);

/// A node, the chain id it reported, and the account that signs transactions, if any.
#[derive(Clone)]
pub struct Connection {
    /// The alloy provider: signs with the wallet when there is one.
    pub provider: DynProvider,
    /// The node's JSON-RPC URL, as given to [`Connection::connect`].
    pub url: String,
    /// The chain id the node reported when connecting.
    pub chain_id: u64,
    /// The address transactions are sent from; `None` for a read-only connection.
    pub sender: Option<Address>,
    /// The sender's nonces, shared by the connection's clones.
    nonces: Arc<Nonces>,
}

/// The nonce after this connection's last accepted transaction (`None` before one and
/// after a failed submission), and how many of its transactions await their receipt.
#[derive(Default)]
struct Nonces {
    next: tokio::sync::Mutex<Option<u64>>,
    unconfirmed: AtomicUsize,
}

/// A submitted transaction whose receipt is awaited; counted in `Nonces::unconfirmed`.
struct Unconfirmed(Arc<Nonces>);

impl Drop for Unconfirmed {
    fn drop(&mut self) {
        self.0.unconfirmed.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Connection {
    /// Connects to `url`, checks the node answers, and reads its chain id.
    pub async fn connect(url: &str, signer: Option<PrivateKeySigner>) -> Result<Connection, ChainError> {
        let parsed: alloy::transports::http::reqwest::Url =
            url.parse().map_err(|_| ChainError::InvalidUrl(url.to_owned()))?;
        let sender = signer.as_ref().map(|s| s.address());
        let provider = match signer {
            Some(signer) => ProviderBuilder::new()
                .wallet(EthereumWallet::from(signer))
                .connect_http(parsed)
                .erased(),
            None => ProviderBuilder::new().connect_http(parsed).erased(),
        };
        let chain_id = tokio::time::timeout(CONNECT_TIMEOUT, provider.get_chain_id())
            .await
            .map_err(|_| ChainError::Unreachable {
                url: url.to_owned(),
                reason: "no answer within 5 s".into(),
            })?
            .map_err(|e| ChainError::Unreachable {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Connection {
            provider,
            url: url.to_owned(),
            chain_id,
            sender,
            nonces: Arc::default(),
        })
    }

    /// Fails unless the node runs `expected`.
    pub fn expect_chain_id(&self, expected: u64) -> Result<(), ChainError> {
        if self.chain_id != expected {
            return Err(ChainError::WrongChainId {
                url: self.url.clone(),
                expected,
                actual: self.chain_id,
            });
        }
        Ok(())
    }

    pub(crate) fn require_sender(&self, action: &str) -> Result<Address, ChainError> {
        self.sender.ok_or_else(|| ChainError::NoSigner {
            action: action.to_owned(),
        })
    }

    /// Whether `address` holds contract code (false for a wallet or an unused address).
    pub async fn has_code(&self, address: Address) -> Result<bool, ChainError> {
        Ok(!self.code(address).await?.is_empty())
    }

    /// The contract code at `address` (empty for a wallet or an unused address).
    pub async fn code(&self, address: Address) -> Result<Bytes, ChainError> {
        self.provider
            .get_code_at(address)
            .await
            .map_err(|e| ChainError::from_rpc("read contract code", &e))
    }

    /// The number of the node's latest block.
    pub async fn block_number(&self) -> Result<u64, ChainError> {
        self.provider
            .get_block_number()
            .await
            .map_err(|e| ChainError::from_rpc("read block number", &e))
    }

    /// The timestamp of the latest block: the clock PoCo's deadlines are measured on.
    pub async fn block_timestamp(&self) -> Result<u64, ChainError> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| ChainError::from_rpc("read the latest block", &e))?
            .ok_or_else(|| ChainError::Rpc {
                action: "read the latest block".into(),
                reason: "the node has no latest block".into(),
            })?;
        Ok(block.header.timestamp)
    }

    /// The hash of block `number` on the node's current chain; `None` when the chain is
    /// shorter (a reorg or a revert took the block away).
    pub async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(number))
            .await
            .map_err(|e| ChainError::from_rpc("read a block", &e))?;
        Ok(block.map(|b| b.header.hash))
    }

    /// How many transactions of `address` the latest block counts (pending ones not
    /// included): the nonce its next mined transaction takes.
    pub async fn nonce(&self, address: Address) -> Result<u64, ChainError> {
        self.provider
            .get_transaction_count(address)
            .await
            .map_err(|e| ChainError::from_rpc("read nonce", &e))
    }

    /// The ETH `address` holds, in wei.
    pub async fn eth_balance(&self, address: Address) -> Result<alloy::primitives::U256, ChainError> {
        self.provider
            .get_balance(address)
            .await
            .map_err(|e| ChainError::from_rpc("read ETH balance", &e))
    }

    /// Sends a contract call as a transaction and waits until it is mined successfully.
    pub(crate) async fn send<P: Provider, D: CallDecoder>(
        &self,
        action: &str,
        call: CallBuilder<P, D>,
    ) -> Result<TransactionReceipt, ChainError> {
        let sender = self.require_sender(action)?;
        let (pending, _unconfirmed) = self
            .with_nonce(sender, |nonce| async move {
                call.nonce(nonce)
                    .send()
                    .await
                    .map_err(|e| ChainError::from_call(action, e))
            })
            .await?;
        self.confirm(action, pending).await
    }

    /// Deploys creation code (constructor arguments appended) and returns the new address.
    pub async fn deploy_code(&self, name: &str, code: Bytes) -> Result<Address, ChainError> {
        let action = format!("deploy {name}");
        let sender = self.require_sender(&action)?;
        let (pending, _unconfirmed) = self
            .with_nonce(sender, |nonce| {
                let request = TransactionRequest::default().with_deploy_code(code).with_nonce(nonce);
                let action = &action;
                async move {
                    self.provider
                        .send_transaction(request)
                        .await
                        .map_err(|e| ChainError::from_rpc(action, &e))
                }
            })
            .await?;
        let receipt = self.confirm(&action, pending).await?;
        receipt.contract_address.ok_or_else(|| ChainError::Deploy {
            step: action,
            reason: "the receipt names no contract address".into(),
        })
    }

    /// Submits a transaction with the sender's next nonce. That is the node's count (which
    /// sees what other processes sent from the account, and forgets what a reorg took
    /// away), unless transactions of this connection still await their receipt: a node
    /// behind a load balancer may not count those yet, so the nonce after the last one
    /// accepted is used when larger. A nonce is kept only once the node has accepted its
    /// transaction: alloy's cached nonce filler reserves it beside the gas estimate, so a
    /// call that reverted when estimated left a gap, and every later transaction of a
    /// long-running service waited in the node's queue behind it. Submissions through one
    /// connection take turns; waiting for receipts does not.
    async fn with_nonce<F, T>(
        &self,
        sender: Address,
        submit: impl FnOnce(u64) -> F,
    ) -> Result<(T, Unconfirmed), ChainError>
    where
        F: std::future::Future<Output = Result<T, ChainError>>,
    {
        let mut next = self.nonces.next.lock().await;
        let counted = self.pending_nonce(sender).await?;
        let nonce = match *next {
            Some(kept) if self.nonces.unconfirmed.load(Ordering::SeqCst) > 0 => kept.max(counted),
            _ => counted,
        };
        match submit(nonce).await {
            Ok(submitted) => {
                *next = Some(nonce + 1);
                self.nonces.unconfirmed.fetch_add(1, Ordering::SeqCst);
                Ok((submitted, Unconfirmed(self.nonces.clone())))
            }
            Err(e) => {
                *next = None;
                Err(e)
            }
        }
    }

    /// The nonce after the sender's transactions mined or waiting in the node's pool.
    async fn pending_nonce(&self, sender: Address) -> Result<u64, ChainError> {
        self.provider
            .get_transaction_count(sender)
            .pending()
            .await
            .map_err(|e| ChainError::from_rpc("read nonce", &e))
    }

    /// Waits for a receipt by polling, quickly at first: a local node mines at once, and
    /// alloy's block watcher would add a quarter of a second to every transaction.
    ///
    /// A transaction the node forgot (evicted from its pool, or skipped as invalid once a
    /// revert took its predecessors away) would never get a receipt: it is looked up every
    /// few seconds, and its absence from two look-ups in a row (a node behind a load
    /// balancer may not have seen a transaction another accepted) fails the wait instead
    /// of two minutes later. The sender's next transaction then takes its nonce from the
    /// node again.
    async fn confirm(
        &self,
        action: &str,
        pending: PendingTransactionBuilder<alloy::network::Ethereum>,
    ) -> Result<TransactionReceipt, ChainError> {
        let hash: B256 = *pending.tx_hash();
        let deadline = tokio::time::Instant::now() + RECEIPT_TIMEOUT;
        let mut presence_check = tokio::time::Instant::now() + PRESENCE_CHECK;
        let mut missing = 0;
        let mut pause = Duration::from_millis(2);
        loop {
            let receipt = self
                .provider
                .get_transaction_receipt(hash)
                .await
                .map_err(|e| ChainError::from_rpc(action, &e))?;
            if let Some(receipt) = receipt {
                if !receipt.status() {
                    return Err(ChainError::Reverted {
                        action: action.to_owned(),
                        reason: "reverted".into(),
                        explanation: format!("transaction {hash} reverted"),
                    });
                }
                return Ok(receipt);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ChainError::Rpc {
                    action: action.to_owned(),
                    reason: format!("transaction {hash} not mined within {} s", RECEIPT_TIMEOUT.as_secs()),
                });
            }
            if tokio::time::Instant::now() > presence_check {
                presence_check = tokio::time::Instant::now() + PRESENCE_CHECK;
                // Mined between the two calls is still known: only a forgotten one fails.
                let known = self
                    .provider
                    .get_transaction_by_hash(hash)
                    .await
                    .map_err(|e| ChainError::from_rpc(action, &e))?;
                missing = if known.is_none() { missing + 1 } else { 0 };
                if missing == 2 {
                    return Err(ChainError::Dropped {
                        action: action.to_owned(),
                        hash,
                    });
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}
