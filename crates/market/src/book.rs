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
        if let Some(address) = parse_address(&get(name), name)? {
            filter.parties.push((column, address, strict(strict_flag)));
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
