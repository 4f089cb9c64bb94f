//! Reading the book: one order, or a filtered, paged list in iExec's API shape.

use super::*;

pub(crate) async fn one(
    State(state): State<Arc<MarketState>>,
    Path((kind, hash)): Path<(String, String)>,
    Query(q): Query<ChainQuery>,
) -> Result<Response, MarketError> {
    let kind = kind_of(&kind)?;
    check_chain(&state, &q.chain_id)?;
    let row = state
        .db
        .get(kind.json_key(), &hash.to_lowercase())
        .await?
        .ok_or(MarketError::NotFound)?;
    let mut value = published_json(&row);
    value["ok"] = json!(true);
    Ok(axum::Json(value).into_response())
}

pub(crate) fn parse_address(value: &Option<String>, name: &str) -> Result<Option<String>, MarketError> {
    match value.as_deref() {
        None | Some("") | Some("any") => Ok(None),
        Some(text) => text
            .parse::<Address>()
            .map(|a| Some(lower(a)))
            .map_err(|_| MarketError::BadRequest(format!("{name} is not an address"))),
    }
}

pub(crate) fn parse_tag(value: &Option<String>) -> Result<Option<i64>, MarketError> {
    value
        .as_deref()
        .map(|t| {
            t.parse::<confide_protocol::Tag>()
                .map(tag_bits)
                .map_err(|e| MarketError::BadRequest(e.to_string()))
        })
        .transpose()
}

pub(crate) async fn list(
    State(state): State<Arc<MarketState>>,
    Path(kind): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, MarketError> {
    let kind = kind_of(&kind)?;
    check_chain(&state, &q.get("chainId").cloned())?;
    let get = |name: &str| q.get(name).cloned();
    let strict = |name: &str| get(name).as_deref() == Some("true");
    let number = |name: &str, default: i64| -> Result<i64, MarketError> {
        get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| MarketError::BadRequest(format!("{name} must be a number")))
            })
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let subject_name = match kind {
        OrderKind::App => "app",
        OrderKind::Dataset => "dataset",
        OrderKind::Workerpool => "workerpool",
        OrderKind::Request => "requester",
    };
    let mut filter = Filter {
        kind: kind.json_key().to_owned(),
        subject: parse_address(&get(subject_name), subject_name)?,
        min_tag: parse_tag(&get("minTag"))?.unwrap_or(0),
        max_tag: parse_tag(&get("maxTag"))?,
        category: get("category")
            .map(|c| {
                c.parse()
                    .map_err(|_| MarketError::BadRequest("category must be a number".into()))
            })
            .transpose()?,
        min_volume: number("minVolume", 0)?,
        signer: parse_address(&get(&format!("{subject_name}Owner")), "the owner")?,
        bulk_only: kind == OrderKind::Dataset && strict("bulkOnly"),
        page_size: number("pageSize", 20)?.clamp(1, 1000),
        // Bounded so that the row offset (size × index) and the next page's end cannot
        // overflow: a request controls both.
        page_index: match number("pageIndex", 0)? {
            index @ 0..=MAX_PAGE_INDEX => index,
            _ => {
                return Err(MarketError::BadRequest(format!(
                    "pageIndex must be between 0 and {MAX_PAGE_INDEX}"
                )));
            }
        },
        parties: Vec::new(),
    };
    for (name, column, strict_flag) in [
        ("app", "app", "isAppStrict"),
        ("dataset", "dataset", "isDatasetStrict"),
        ("workerpool", "workerpool", "isWorkerpoolStrict"),
        ("requester", "requester", "isRequesterStrict"),
    ] {
        if name == subject_name {
            continue;
        }
        match parse_address(&get(name), name)? {
            Some(address) => filter.parties.push((column, address, strict(strict_flag))),
            // iExec's market reads an absent restriction as "unrestricted orders only";
            // its SDK always sends the `is…Strict` flags, which Confide's own clients do
            // not: with the flag, the absent address means what it means to iExec.
            None if get(name).is_none() && get(strict_flag).is_some() => {
                filter.parties.push((column, db::ZERO.to_owned(), true));
            }
            None => {}
        }
    }
    let (rows, count) = state.db.list(&filter).await?;
    let orders: Vec<Value> = rows.iter().map(published_json).collect();
    let capped = count >= db::COUNT_CAP;
    let mut body = json!({ "ok": true, "count": count, "countIsCapped": capped, "orders": orders });
    // Past the cap the count says "at least": a full page may have more behind it.
    let full_page = rows.len() as i64 == filter.page_size;
    if (filter.page_index + 1) * filter.page_size < count || (capped && full_page) {
        body["nextPage"] = json!(filter.page_index + 1);
    }
    Ok(axum::Json(body).into_response())
}

/// iExec's `GET /deals`: the deals the follower recorded, newest first, filtered by the
/// orders they consumed (`requestorderHash`, `apporderHash`, `datasetorderHash`,
/// `workerpoolorderHash`), their parties or category, in iExec's shape
/// (`{ok, deals: [{dealid, botFirst, botSize, …}], count}`).
pub(crate) async fn deals(
    State(state): State<Arc<MarketState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, MarketError> {
    check_chain(&state, &q.get("chainId").cloned())?;
    let mut filter = db::DealFilter::default();
    for (name, column) in [
        ("apporderHash", "apporder"),
        ("datasetorderHash", "datasetorder"),
        ("workerpoolorderHash", "workerpoolorder"),
        ("requestorderHash", "requestorder"),
    ] {
        if let Some(hash) = q.get(name) {
            let hash: B256 = hash
                .parse()
                .map_err(|_| MarketError::BadRequest(format!("{name} must be 0x followed by 64 hex digits")))?;
            filter.equal.push((column, hash.to_string()));
        }
    }
    for name in ["app", "dataset", "workerpool", "requester", "beneficiary"] {
        if let Some(address) = parse_address(&q.get(name).cloned(), name)? {
            filter.equal.push((name, address));
        }
    }
    let number = |name: &str| -> Result<Option<i64>, MarketError> {
        q.get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| MarketError::BadRequest(format!("{name} must be a number")))
            })
            .transpose()
    };
    filter.category = number("category")?;
    let page_size = number("pageSize")?.unwrap_or(20);
    if !(1..=1000).contains(&page_size) {
        return Err(MarketError::BadRequest("pageSize must be between 1 and 1000".into()));
    }
    let page_index = match number("pageIndex")?.unwrap_or(0) {
        index @ 0..=MAX_PAGE_INDEX => index,
        _ => {
            return Err(MarketError::BadRequest(format!(
                "pageIndex must be between 0 and {MAX_PAGE_INDEX}"
            )));
        }
    };
    filter.limit = page_size;
    filter.offset = page_size * page_index;
    if let Some(request) = q.get("requestorderHash").and_then(|h| h.parse::<B256>().ok())
        && page_index == 0
    {
        // Deals the follower has not recorded yet are read from the chain first; what is
        // recorded of the request is read whatever the other filters, so no recorded deal
        // is taken for a missing one (and rewritten without its order hashes).
        let of_request = db::DealFilter {
            equal: vec![("requestorder", request.to_string())],
            limit: 1000,
            ..Default::default()
        };
        let (recorded, _) = state.db.deals(&of_request).await?;
        crate::follow::catch_up_request(&state, request, &recorded).await?;
    }
    let (rows, count) = state.db.deals(&filter).await?;
    let chain_id = state.chain_id();
    let deals: Vec<Value> = rows.iter().map(|deal| deal_json(deal, chain_id)).collect();
    let mut body = json!({ "ok": true, "count": count, "deals": deals });
    if (page_index + 1) * page_size < count {
        body["nextPage"] = json!(page_index + 1);
    }
    Ok(axum::Json(body).into_response())
}

/// A recorded deal in iExec's market shape; numbers as numbers (iExec's SDK counts tasks
/// with `botFirst + i` up to `botSize`).
fn deal_json(deal: &db::DealRow, chain_id: u64) -> Value {
    let mut tag = [0u8; 32];
    tag[24..].copy_from_slice(&deal.tag_bits.to_be_bytes());
    json!({
        "chainId": chain_id,
        "dealid": deal.deal_id,
        "app": { "pointer": deal.app },
        "dataset": { "pointer": deal.dataset },
        "workerpool": { "pointer": deal.workerpool },
        "requester": deal.requester,
        "beneficiary": deal.beneficiary,
        "appHash": deal.apporder,
        "datasetHash": deal.datasetorder,
        "workerpoolHash": deal.workerpoolorder,
        "requestHash": deal.requestorder,
        "category": deal.category,
        "tag": B256::from(tag),
        "botFirst": deal.bot_first,
        "botSize": deal.bot_size,
        "volume": deal.bot_size,
        "startTime": deal.start_time,
    })
}
