//! Orders on chain: what is consumed, signatures PoCo accepts, matching and cancelling.

use super::*;

/// What `matchOrders` produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchedDeal {
    /// The new deal's id.
    pub deal_id: B256,
    /// The number of tasks in the deal: the smallest volume left among the four orders.
    pub volume: U256,
    /// The hash of the `matchOrders` transaction.
    pub transaction: B256,
    /// The block that mined it (0 if the receipt did not say).
    pub block_number: u64,
}

impl Poco {
    /// How much of an order (by hash) has been consumed or closed.
    pub async fn consumed(&self, order_hash: B256) -> Result<U256, ChainError> {
        self.hub()
            .viewConsumed(order_hash)
            .call()
            .await
            .map_err(|e| ChainError::from_call("read consumed volume", e))
    }

    /// Checks with PoCo itself whether `signature` by `signer` over `hash` is valid.
    pub async fn verify_signature(&self, signer: Address, hash: B256, signature: &Bytes) -> Result<bool, ChainError> {
        self.hub()
            .verifySignature(signer, hash, signature.clone())
            .call()
            .await
            .map_err(|e| ChainError::from_call("verify a signature", e))
    }

    /// PoCo's own judgement (`assertDatasetDealCompatibility`, PoCo 6.1) of whether
    /// `order` may serve deal `deal_id` now: still open, signed by the dataset's owner,
    /// open to the deal's app, pool and requester, a tag the deal has. `None` when it
    /// may; PoCo's reason when it may not. A failure to ask is an error.
    pub async fn dataset_order_incompatibility(
        &self,
        order: &DatasetOrder,
        deal_id: B256,
    ) -> Result<Option<String>, ChainError> {
        let asked = self
            .hub()
            .assertDatasetDealCompatibility(order.into(), deal_id)
            .call()
            .await;
        match asked.map_err(|e| ChainError::from_call("check a dataset order against a deal", e)) {
            Ok(_) => Ok(None),
            Err(ChainError::Reverted { explanation, .. }) => Ok(Some(explanation)),
            Err(other) => Err(other),
        }
    }

    /// Runs `matchOrders` without sending it: the deal id it would create, or PoCo's reason
    /// for refusing, in plain words.
    pub async fn simulate_match(
        &self,
        app: &AppOrder,
        dataset: Option<&DatasetOrder>,
        workerpool: &WorkerpoolOrder,
        request: &RequestOrder,
    ) -> Result<B256, ChainError> {
        let dataset = dataset.cloned().unwrap_or_default();
        self.hub()
            .matchOrders(app.into(), (&dataset).into(), workerpool.into(), request.into())
            .call()
            .await
            .map_err(|e| ChainError::from_call("matching orders", e))
    }

    /// Matches the four orders on chain (the sender pays as the requester's sponsor only
    /// when it is the requester); returns the deal.
    pub async fn match_orders(
        &self,
        app: &AppOrder,
        dataset: Option<&DatasetOrder>,
        workerpool: &WorkerpoolOrder,
        request: &RequestOrder,
    ) -> Result<MatchedDeal, ChainError> {
        let dataset = dataset.cloned().unwrap_or_default();
        let hub = self.hub();
        let call = hub.matchOrders(app.into(), (&dataset).into(), workerpool.into(), request.into());
        let receipt = self.connection.send("matching orders", call).await?;
        let matched = receipt
            .inner
            .logs()
            .iter()
            .find_map(|log| log.log_decode::<IexecHub::OrdersMatched>().ok())
            .ok_or_else(|| ChainError::Rpc {
                action: "matching orders".into(),
                reason: "the transaction emitted no OrdersMatched event".into(),
            })?;
        Ok(MatchedDeal {
            deal_id: matched.inner.data.dealid,
            volume: matched.inner.data.volume,
            transaction: receipt.transaction_hash,
            block_number: receipt.block_number.unwrap_or_default(),
        })
    }

    /// Closes an order on chain (`manage*Order` with CLOSE): its remaining volume drops to
    /// zero. The sender must own the order.
    pub async fn cancel_order<O: Order + CancelOrder>(&self, order: &O) -> Result<B256, ChainError> {
        self.sender("cancel an order")?;
        let receipt = order.send_close(self).await?;
        Ok(receipt)
    }
}

/// Sends `manage*Order(CLOSE)` for one order type.
pub trait CancelOrder {
    /// Sends this order's `manage*Order` with operation CLOSE from `poco`'s wallet; returns
    /// the transaction hash.
    #[allow(async_fn_in_trait)]
    async fn send_close(&self, poco: &Poco) -> Result<B256, ChainError>;
}

macro_rules! impl_cancel {
    ($order:ty, $operation:ident, $method:ident) => {
        impl CancelOrder for $order {
            async fn send_close(&self, poco: &Poco) -> Result<B256, ChainError> {
                let operation = bindings::$operation {
                    order: self.into(),
                    operation: 1,
                    sign: Bytes::new(),
                };
                let receipt = poco
                    .connection
                    .send("cancel the order", poco.hub().$method(operation))
                    .await?;
                Ok(receipt.transaction_hash)
            }
        }
    };
}

impl_cancel!(AppOrder, AppOrderOperation, manageAppOrder);
impl_cancel!(DatasetOrder, DatasetOrderOperation, manageDatasetOrder);
impl_cancel!(WorkerpoolOrder, WorkerpoolOrderOperation, manageWorkerpoolOrder);
impl_cancel!(RequestOrder, RequestOrderOperation, manageRequestOrder);
