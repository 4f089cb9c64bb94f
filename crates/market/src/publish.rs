//! Publishing and unpublishing orders: each checked (signature, chain, owner, sizes)
//! before it is stored, once, by its hash.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishBody {
    order: Value,
}

pub(crate) fn small(value: U256, what: &str) -> Result<i64, MarketError> {
    i64::try_from(value).map_err(|_| MarketError::BadRequest(format!("{what} is too large")))
}

/// The row for an order, after the checks every order kind shares.
pub(crate) async fn checked_row<O: Order + serde::Serialize>(
    state: &MarketState,
    order: &O,
    owner: Address,
    price: U256,
    tag: confide_protocol::Tag,
    category: U256,
    parties: [Address; 4],
) -> Result<StoredOrder, MarketError> {
    let domain = state.poco.domain();
    let hash = order.hash(&domain);
    if order.volume().is_zero() {
        return Err(MarketError::BadRequest("volume must be more than zero".into()));
    }
    if order.recover_signer(&domain) != Some(owner) {
        return Err(MarketError::BadSignature(owner.to_string()));
    }
    let consumed = state.poco.consumed(hash).await.map_err(MarketError::from)?;
    let remaining = order.volume().saturating_sub(consumed);
    if remaining.is_zero() {
        return Err(MarketError::NoVolume);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Ok(StoredOrder {
        hash: hash.to_string(),
        kind: O::KIND.json_key().to_owned(),
        subject: lower(order.subject()),
        signer: lower(owner),
        price: small(price, "the price")?,
        tag_bits: tag_bits(tag),
        category: small(category, "the category")?,
        volume: small(order.volume(), "the volume").unwrap_or(i64::MAX),
        remaining: i64::try_from(remaining).unwrap_or(i64::MAX),
        status: OrderStatus::Open,
        app: lower(parties[0]),
        dataset: lower(parties[1]),
        workerpool: lower(parties[2]),
        requester: lower(parties[3]),
        order_json: serde_json::to_string(order).expect("orders serialize"),
        published_ms: now,
    })
}

/// The asset's owner on chain, from the cache when it was read at the current head.
pub(crate) async fn asset_owner(state: &MarketState, kind: AssetKind, asset: Address) -> Result<Address, MarketError> {
    let head = state.head.load(Ordering::Relaxed);
    if head != 0
        && let Some((owner, at)) = state.owners.lock().await.get(&(kind, asset)).copied()
        && at == head
    {
        return Ok(owner);
    }
    // Only an asset of PoCo's registry for its kind: any other contract can have an
    // `owner()` its deployer answers for (the hub itself, a token, a look-alike).
    let chain_error = MarketError::from;
    if !state.poco.is_registered(kind, asset).await.map_err(chain_error)? {
        return Err(MarketError::UnknownAsset(asset));
    }
    let owner = state
        .poco
        .contract_owner(asset)
        .await
        .map_err(MarketError::from)?
        .ok_or(MarketError::UnknownAsset(asset))?;
    if head != 0 {
        let mut owners = state.owners.lock().await;
        owners.retain(|_, (_, at)| *at == head);
        owners.insert((kind, asset), (owner, head));
    }
    Ok(owner)
}

pub(crate) fn parse_order<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, MarketError> {
    serde_json::from_value(value).map_err(|e| MarketError::BadRequest(format!("invalid order: {e}")))
}

/// Builds the row for any order kind; app, dataset and workerpool orders are owned by the
/// asset's on-chain owner, request orders by their requester.
pub(crate) async fn row_for(state: &MarketState, kind: OrderKind, value: Value) -> Result<StoredOrder, MarketError> {
    match kind {
        OrderKind::App => {
            let o: AppOrder = parse_order(value)?;
            let owner = asset_owner(state, AssetKind::App, o.app).await?;
            checked_row(
                state,
                &o,
                owner,
                o.appprice,
                o.tag,
                U256::ZERO,
                [o.app, o.datasetrestrict, o.workerpoolrestrict, o.requesterrestrict],
            )
            .await
        }
        OrderKind::Dataset => {
            let o: DatasetOrder = parse_order(value)?;
            let owner = asset_owner(state, AssetKind::Dataset, o.dataset).await?;
            checked_row(
                state,
                &o,
                owner,
                o.datasetprice,
                o.tag,
                U256::ZERO,
                [o.apprestrict, o.dataset, o.workerpoolrestrict, o.requesterrestrict],
            )
            .await
        }
        OrderKind::Workerpool => {
            let o: WorkerpoolOrder = parse_order(value)?;
            let owner = asset_owner(state, AssetKind::Workerpool, o.workerpool).await?;
            checked_row(
                state,
                &o,
                owner,
                o.workerpoolprice,
                o.tag,
                o.category,
                [o.apprestrict, o.datasetrestrict, o.workerpool, o.requesterrestrict],
            )
            .await
        }
        OrderKind::Request => {
            let o: RequestOrder = parse_order(value)?;
            if o.params.len() > MAX_PARAMS_BYTES {
                return Err(MarketError::BadRequest(format!(
                    "params exceed {MAX_PARAMS_BYTES} bytes"
                )));
            }
            // Three numbers the requester chose: their sum must not wrap (a request that
            // would cost more than 2^256 nRLC is refused, not listed as nearly free).
            let price = o
                .appmaxprice
                .checked_add(o.datasetmaxprice)
                .and_then(|p| p.checked_add(o.workerpoolmaxprice))
                .ok_or_else(|| MarketError::BadRequest("the request's max prices add up past 2^256".into()))?;
            checked_row(
                state,
                &o,
                o.requester,
                price,
                o.tag,
                o.category,
                [o.app, o.dataset, o.workerpool, o.requester],
            )
            .await
        }
    }
}

pub(crate) async fn publish(
    State(state): State<Arc<MarketState>>,
    Path(kind): Path<String>,
    Query(q): Query<ChainQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, MarketError> {
    let result = async {
        let kind = kind_of(&kind)?;
        check_chain(&state, &q.chain_id)?;
        authenticate(&state, &headers).await?;
        let body: PublishBody =
            serde_json::from_slice(&body).map_err(|e| MarketError::BadRequest(format!("invalid body: {e}")))?;
        let row = row_for(&state, kind, body.order).await?;
        // A request order costs its signer nothing: without a cap one wallet fills the book.
        if state.db.open_count_of_signer(&row.kind, &row.signer).await? >= state.max_open_orders {
            return Err(MarketError::TooManyOrders);
        }
        if !state.db.insert(&row, state.chain_id()).await? {
            return Err(MarketError::Duplicate);
        }
        state.published.fetch_add(1, Ordering::Relaxed);
        state.notify("published", &row.kind, &row.hash, "open");
        Ok(axum::Json(json!({ "ok": true, "published": published_json(&row) })).into_response())
    }
    .await;
    if result.is_err() {
        state.refused.fetch_add(1, Ordering::Relaxed);
    }
    result
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UnpublishBody {
    target: String,
    order_hash: Option<B256>,
    app: Option<Address>,
    dataset: Option<Address>,
    workerpool: Option<Address>,
    requester: Option<Address>,
}

pub(crate) async fn unpublish(
    State(state): State<Arc<MarketState>>,
    Path(kind): Path<String>,
    Query(q): Query<ChainQuery>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<UnpublishBody>,
) -> Result<Response, MarketError> {
    let kind = kind_of(&kind)?;
    check_chain(&state, &q.chain_id)?;
    let caller = lower(authenticate(&state, &headers).await?);
    let key = kind.json_key();
    let rows: Vec<StoredOrder> = match body.target.as_str() {
        "unpublish_orderHash" => {
            let hash = body
                .order_hash
                .ok_or_else(|| MarketError::BadRequest("orderHash is required".into()))?;
            let row = state
                .db
                .get(key, &hash.to_string())
                .await?
                .filter(|r| r.status == OrderStatus::Open)
                .ok_or(MarketError::NotFound)?;
            vec![row]
        }
        "unpublish_last" | "unpublish_all" => {
            let subject = [body.app, body.dataset, body.workerpool, body.requester]
                .into_iter()
                .flatten()
                .next()
                .ok_or_else(|| MarketError::BadRequest("the asset (or requester) address is required".into()))?;
            let mut rows = state.db.open_of(key, &lower(subject)).await?;
            rows.retain(|r| r.signer == caller);
            if body.target == "unpublish_last" {
                rows.truncate(1);
            }
            if rows.is_empty() {
                return Err(MarketError::NotFound);
            }
            rows
        }
        other => return Err(MarketError::BadRequest(format!("unknown target `{other}`"))),
    };
    if rows.iter().any(|r| r.signer != caller) {
        return Err(MarketError::NotYours);
    }
    for row in &rows {
        state
            .db
            .set_status(&row.hash, OrderStatus::Unpublished, row.remaining)
            .await?;
        state.notify("unpublished", key, &row.hash, "unpublished");
    }
    let hashes: Vec<&str> = rows.iter().map(|r| r.hash.as_str()).collect();
    Ok(axum::Json(json!({ "ok": true, "unpublished": hashes })).into_response())
}
