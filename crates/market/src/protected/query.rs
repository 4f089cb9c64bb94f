//! Finding protected data: The Graph's filter language for the `ProtectedData` entity of
//! iExec's DataProtector subgraph (`where: ProtectedData_filter`, `orderBy`,
//! `orderDirection`, `first`, `skip`), turned into one SQL query.
//!
//! The Graph's conventions kept here: `Bytes` are `0x` hex strings (compared as bytes,
//! so case does not matter), `BigInt`s decimal strings (numbers are accepted too, as
//! graph-node accepts them), `first` defaults to 100 and may not pass 1000, a list filter
//! `schema_contains` asks for every listed entry, `and`/`or` nest. Two liberties: an
//! `or` may stand beside other fields of its filter (graph-node refuses the mix; here
//! they are joined with AND), and owners compare without regard to case.
//!
//! Speed at 100,000 protected data: a query asking for schema entries in creation order
//! (iExec's SDK always does) reads the index of its rarest required entry in that order,
//! checking the rest on each row by primary key, so it reads about as many rows as the
//! rarest entry has, and stops at the page's end; one asking for ids or an owner reads
//! those rows first. The counts of each entry are kept beside the rows.

use async_graphql::{Enum, InputObject, InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// `first` when a query does not say.
pub(crate) const DEFAULT_FIRST: i32 = 100;
/// The most rows one list may return, as The Graph caps it.
pub(crate) const MAX_FIRST: i32 = 1000;
/// The most rows a list may skip: The Graph's hosted service's bound. An offset costs a
/// read of every row it skips, so this bounds the rows one query reads to 6000; iExec's
/// SDK asks `page × pageSize`, so with its largest pages (1000) it reaches page 5.
pub(crate) const MAX_SKIP: i32 = 5000;
/// Values bound in one query at most (ids in `id_in`, entries, …): a 64 KiB body could
/// otherwise carry thousands, past SQLite's limit.
const MAX_BINDS: usize = 1000;
/// How deep `and`/`or` may nest.
const MAX_NESTING: usize = 8;

/// The Graph's `Bytes`: `0x` followed by an even number of hex digits (the prefix may be
/// left out on input), shown lower-case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bytes(pub(crate) String);

impl Bytes {
    /// The bytes of `text` as lower-case `0x` hex, if it is hex.
    pub(crate) fn parse(text: &str) -> Option<Bytes> {
        let digits = text.strip_prefix("0x").unwrap_or(text);
        (digits.len().is_multiple_of(2) && digits.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Bytes(format!("0x{}", digits.to_ascii_lowercase())))
    }
}

#[Scalar(name = "Bytes")]
impl ScalarType for Bytes {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => Bytes::parse(text)
                .ok_or_else(|| InputValueError::custom(format!("`{text}` is not 0x-prefixed hex bytes"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// The Graph's `BigInt`: a decimal string (an integer number is accepted on input).
/// Values past `i64` are held at its bounds, which compare the same against any
/// timestamp or block number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BigInt(pub(crate) i64);

#[Scalar(name = "BigInt")]
impl ScalarType for BigInt {
    fn parse(value: Value) -> InputValueResult<Self> {
        let clamp = |n: i128| BigInt(n.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
        match &value {
            Value::String(text) => {
                let digits = text.strip_prefix('-').unwrap_or(text);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(InputValueError::custom(format!("`{text}` is not a decimal integer")));
                }
                // Too long for i128: as far out as the bound anyway.
                let n = text
                    .parse::<i128>()
                    .unwrap_or(if text.starts_with('-') { i128::MIN } else { i128::MAX });
                Ok(clamp(n))
            }
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(n), _) => Ok(BigInt(n)),
                (None, Some(n)) => Ok(clamp(n as i128)),
                _ => Err(InputValueError::custom(format!("{n} is not an integer"))),
            },
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// `where:` of `protectedDatas`, named as The Graph names them.
#[derive(Clone, Debug, Default, InputObject)]
#[graphql(name = "ProtectedData_filter")]
pub(crate) struct Filter {
    /// The protected data (dataset) at this address.
    pub(crate) id: Option<Bytes>,
    /// Any but this one.
    #[graphql(name = "id_not")]
    pub(crate) id_not: Option<Bytes>,
    /// Any of these.
    #[graphql(name = "id_in")]
    pub(crate) id_in: Option<Vec<Bytes>>,
    /// Owned by this address.
    pub(crate) owner: Option<String>,
    /// Owned by any of these addresses.
    #[graphql(name = "owner_in")]
    pub(crate) owner_in: Option<Vec<String>>,
    /// Named exactly this.
    pub(crate) name: Option<String>,
    /// Whose name contains this text (case matters).
    #[graphql(name = "name_contains")]
    pub(crate) name_contains: Option<String>,
    /// Created at or after this time (seconds).
    #[graphql(name = "creationTimestamp_gte")]
    pub(crate) creation_timestamp_gte: Option<BigInt>,
    /// Created at or before this time.
    #[graphql(name = "creationTimestamp_lte")]
    pub(crate) creation_timestamp_lte: Option<BigInt>,
    /// Created after this time.
    #[graphql(name = "creationTimestamp_gt")]
    pub(crate) creation_timestamp_gt: Option<BigInt>,
    /// Created before this time.
    #[graphql(name = "creationTimestamp_lt")]
    pub(crate) creation_timestamp_lt: Option<BigInt>,
    /// Whose schema has every one of these `path:type` entries.
    #[graphql(name = "schema_contains")]
    pub(crate) schema_contains: Option<Vec<String>>,
    /// Created in another transaction than this one (iExec's Web3Mail asks `"0x"`: any).
    #[graphql(name = "transactionHash_not")]
    pub(crate) transaction_hash_not: Option<Bytes>,
    /// Matching every one of these filters.
    pub(crate) and: Option<Vec<Filter>>,
    /// Matching at least one of these filters.
    pub(crate) or: Option<Vec<Filter>>,
}

/// `orderBy:` of `protectedDatas`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[graphql(name = "ProtectedData_orderBy")]
pub(crate) enum OrderBy {
    /// By address.
    #[graphql(name = "id")]
    Id,
    /// By name, then address.
    #[graphql(name = "name")]
    Name,
    /// By creation time, then address.
    #[graphql(name = "creationTimestamp")]
    CreationTimestamp,
}

/// `orderDirection:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[graphql(name = "OrderDirection")]
pub(crate) enum Direction {
    /// Smallest first.
    #[graphql(name = "asc")]
    Asc,
    /// Largest first.
    #[graphql(name = "desc")]
    Desc,
}

/// A whole list query, its bounds checked.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    pub(crate) filter: Filter,
    pub(crate) order_by: OrderBy,
    pub(crate) direction: Direction,
    pub(crate) first: i64,
    pub(crate) skip: i64,
}

impl Query {
    /// A query of `first` rows after `skip`, refused beyond The Graph's bounds with
    /// graph-node's words.
    pub(crate) fn new(
        filter: Option<Filter>,
        order_by: Option<OrderBy>,
        direction: Option<Direction>,
        first: Option<i32>,
        skip: Option<i32>,
    ) -> Result<Query, String> {
        let first = first.unwrap_or(DEFAULT_FIRST);
        if !(0..=MAX_FIRST).contains(&first) {
            return Err(format!(
                "The `first` argument must be between 0 and {MAX_FIRST}, but is {first}"
            ));
        }
        let skip = skip.unwrap_or(0);
        if !(0..=MAX_SKIP).contains(&skip) {
            return Err(format!(
                "The `skip` argument must be between 0 and {MAX_SKIP}, but is {skip}"
            ));
        }
        Ok(Query {
            filter: filter.unwrap_or_default(),
            order_by: order_by.unwrap_or(OrderBy::Id),
            direction: direction.unwrap_or(Direction::Asc),
            first: first.into(),
            skip: skip.into(),
        })
    }
}

/// A value bound to a placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// SQL text with its placeholders' values, `$1` onwards.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) binds: Vec<Bind>,
}

impl Sql {
    fn bind(&mut self, value: Bind) -> Result<String, String> {
        if self.binds.len() >= MAX_BINDS {
            return Err(format!("the filter is too large: at most {MAX_BINDS} values"));
        }
        self.binds.push(value);
        Ok(format!("${}", self.binds.len()))
    }

    fn text(&mut self, value: &str) -> Result<String, String> {
        self.bind(Bind::Text(value.to_owned()))
    }

    fn list<'a>(&mut self, values: impl Iterator<Item = &'a str>) -> Result<String, String> {
        let placeholders: Vec<String> = values.map(|v| self.text(v)).collect::<Result<_, _>>()?;
        if placeholders.is_empty() {
            return Ok("(NULL)".to_owned());
        }
        Ok(format!("({})", placeholders.join(", ")))
    }
}

/// The conditions every matching row meets, gathered from a filter and its `and`s: what
/// can drive the query.
#[derive(Debug, Default)]
pub(crate) struct Conjuncts {
    /// Schema entries every row has.
    pub(crate) entries: Vec<String>,
    /// Ids or owners named: those rows are read first.
    pub(crate) names_rows: bool,
    /// Bounds on the creation time: (operator, value).
    pub(crate) times: Vec<(&'static str, i64)>,
}

pub(crate) fn conjuncts(filter: &Filter) -> Conjuncts {
    let mut out = Conjuncts::default();
    gather(filter, &mut out, 0);
    out.entries.sort();
    out.entries.dedup();
    out
}

fn gather(filter: &Filter, out: &mut Conjuncts, depth: usize) {
    if depth > MAX_NESTING {
        return;
    }
    out.entries.extend(filter.schema_contains.iter().flatten().cloned());
    out.names_rows |=
        filter.id.is_some() || filter.id_in.is_some() || filter.owner.is_some() || filter.owner_in.is_some();
    for (op, bound) in time_bounds(filter) {
        out.times.push((op, bound));
    }
    for inner in filter.and.iter().flatten() {
        gather(inner, out, depth + 1);
    }
}

fn time_bounds(filter: &Filter) -> Vec<(&'static str, i64)> {
    [
        (">=", filter.creation_timestamp_gte),
        ("<=", filter.creation_timestamp_lte),
        (">", filter.creation_timestamp_gt),
        ("<", filter.creation_timestamp_lt),
    ]
    .into_iter()
    .filter_map(|(op, bound)| bound.map(|b| (op, b.0)))
    .collect()
}

/// The filter as an SQL condition on the row `p` (table `protected_data`).
pub(crate) fn condition(filter: &Filter, sql: &mut Sql, postgres: bool, depth: usize) -> Result<String, String> {
    condition_given(filter, sql, postgres, depth, None)
}

/// The filter as an SQL condition on the row `p`, knowing the row has the schema entry
/// `given` (the driving entry): its check is left out where every row must have it (in
/// the filter and its `and`s, not inside an `or`), sparing a read of the index per row.
fn condition_given(
    filter: &Filter,
    sql: &mut Sql,
    postgres: bool,
    depth: usize,
    given: Option<&str>,
) -> Result<String, String> {
    if depth > MAX_NESTING {
        return Err(format!("the filter nests `and`/`or` deeper than {MAX_NESTING}"));
    }
    let mut parts = Vec::new();
    if let Some(id) = &filter.id {
        parts.push(format!("p.id = {}", sql.text(&id.0)?));
    }
    if let Some(id) = &filter.id_not {
        parts.push(format!("p.id <> {}", sql.text(&id.0)?));
    }
    if let Some(ids) = &filter.id_in {
        parts.push(format!("p.id IN {}", sql.list(ids.iter().map(|b| b.0.as_str()))?));
    }
    if let Some(owner) = &filter.owner {
        parts.push(format!("p.owner = {}", sql.text(&owner.to_ascii_lowercase())?));
    }
    if let Some(owners) = &filter.owner_in {
        let lower: Vec<String> = owners.iter().map(|o| o.to_ascii_lowercase()).collect();
        parts.push(format!("p.owner IN {}", sql.list(lower.iter().map(String::as_str))?));
    }
    if let Some(name) = &filter.name {
        parts.push(format!("p.name = {}", sql.text(name)?));
    }
    if let Some(text) = &filter.name_contains {
        let p = sql.text(text)?;
        // Both find the text case-sensitively, as The Graph's `_contains` does.
        parts.push(if postgres {
            format!("strpos(p.name, {p}) > 0")
        } else {
            format!("instr(p.name, {p}) > 0")
        });
    }
    for (op, bound) in time_bounds(filter) {
        parts.push(format!("p.creation_timestamp {op} {}", sql.bind(Bind::Int(bound))?));
    }
    for entry in filter.schema_contains.iter().flatten() {
        if Some(entry.as_str()) == given {
            continue;
        }
        let p = sql.text(entry)?;
        parts.push(format!(
            "EXISTS (SELECT 1 FROM protected_data_schema s WHERE s.entry = {p} \
             AND s.creation_timestamp = p.creation_timestamp AND s.protected_data = p.id)"
        ));
    }
    if let Some(hash) = &filter.transaction_hash_not {
        parts.push(format!("p.transaction_hash <> {}", sql.text(&hash.0)?));
    }
    for inner in filter.and.iter().flatten() {
        parts.push(format!(
            "({})",
            condition_given(inner, sql, postgres, depth + 1, given)?
        ));
    }
    if let Some(any) = &filter.or {
        let alternatives: Vec<String> = any
            .iter()
            .map(|inner| condition(inner, sql, postgres, depth + 1).map(|c| format!("({c})")))
            .collect::<Result<_, _>>()?;
        // No alternative: nothing matches.
        parts.push(if alternatives.is_empty() {
            "1 = 0".to_owned()
        } else {
            format!("({})", alternatives.join(" OR "))
        });
    }
    Ok(if parts.is_empty() {
        "1 = 1".to_owned()
    } else {
        parts.join(" AND ")
    })
}

/// The columns of a protected data row, as `store::read_row` reads them.
pub(crate) const COLUMNS: &str = "p.id, p.name, p.owner, p.json_schema, p.entries, p.multiaddr, p.checksum, \
     p.creation_timestamp, p.transaction_hash, p.block_number";

/// Which of a protected data's rarely asked columns a list reads (iExec's SDK asks for
/// none of them); the others are always read. A column not read is left empty (0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fields {
    /// The schema's text.
    pub(crate) json_schema: bool,
    /// The dataset's checksum.
    pub(crate) checksum: bool,
    /// The creating transaction.
    pub(crate) transaction_hash: bool,
    /// The creating block.
    pub(crate) block_number: bool,
}

impl Fields {
    /// Every column.
    pub(crate) const ALL: Fields = Fields {
        json_schema: true,
        checksum: true,
        transaction_hash: true,
        block_number: true,
    };

    /// The page's rows (`q`, ordered by `order`) as one JSON array of arrays, in
    /// `store::read_page`'s order: one value to move out of the database instead of a
    /// thousand rows of ten.
    fn page(self, postgres: bool, order: &str) -> String {
        let text = |read: bool, column: &str| {
            if read {
                format!("q.{column}")
            } else {
                "CAST('' AS TEXT)".to_owned()
            }
        };
        let row = format!(
            "q.id, q.name, q.owner, {}, q.entries, q.multiaddr, {}, q.creation_timestamp, {}, {}",
            text(self.json_schema, "json_schema"),
            text(self.checksum, "checksum"),
            text(self.transaction_hash, "transaction_hash"),
            if self.block_number { "q.block_number" } else { "0" },
        );
        if postgres {
            format!("COALESCE(json_agg(json_build_array({row}) ORDER BY {order})::text, '[]')")
        } else {
            format!("json_group_array(json_array({row}) ORDER BY {order})")
        }
    }

    /// The columns the inner query reads.
    fn columns(self) -> String {
        let mut columns = "p.id, p.name, p.owner, p.entries, p.multiaddr, p.creation_timestamp".to_owned();
        for (read, column) in [
            (self.json_schema, ", p.json_schema"),
            (self.checksum, ", p.checksum"),
            (self.transaction_hash, ", p.transaction_hash"),
            (self.block_number, ", p.block_number"),
        ] {
            if read {
                columns.push_str(column);
            }
        }
        columns
    }
}

/// The SQL of `query`, one row of one column: the page as `Fields::page` writes it.
/// `driver` is the schema entry whose index drives it (see the module's notes), chosen by
/// the caller from the entries' counts.
pub(crate) fn select(query: &Query, driver: Option<&str>, postgres: bool, fields: Fields) -> Result<Sql, String> {
    let mut sql = Sql::default();
    let dir = match query.direction {
        Direction::Asc => "ASC",
        Direction::Desc => "DESC",
    };
    let limits = format!("LIMIT {} OFFSET {}", query.first, query.skip);
    let columns = fields.columns();
    // The aggregate orders the page's rows again as the inner query did (in the driven
    // query, `d`'s time and id are `p`'s): an aggregate's input has no order of its own.
    let page = |order: &str| fields.page(postgres, &order.replace("p.", "q."));
    if let Some(entry) = driver {
        let p = sql.text(entry)?;
        let mut on_driver = vec![format!("d.entry = {p}")];
        for (op, bound) in conjuncts(&query.filter).times {
            on_driver.push(format!("d.creation_timestamp {op} {}", sql.bind(Bind::Int(bound))?));
        }
        let rest = condition_given(&query.filter, &mut sql, postgres, 0, Some(entry))?;
        let page = page(&format!("p.creation_timestamp {dir}, p.id {dir}"));
        sql.text = format!(
            "SELECT {page} FROM (SELECT {columns} FROM protected_data_schema d \
             JOIN protected_data p ON p.id = d.protected_data AND p.creation_timestamp = d.creation_timestamp \
             WHERE {} AND {rest} ORDER BY d.creation_timestamp {dir}, d.protected_data {dir} {limits}) q",
            on_driver.join(" AND ")
        );
        return Ok(sql);
    }
    let column = match query.order_by {
        OrderBy::Id => "p.id",
        OrderBy::Name => "p.name",
        OrderBy::CreationTimestamp => "p.creation_timestamp",
    };
    let rest = condition(&query.filter, &mut sql, postgres, 0)?;
    let order = if column == "p.id" {
        format!("p.id {dir}")
    } else {
        format!("{column} {dir}, p.id {dir}")
    };
    let page = page(&order);
    sql.text =
        format!("SELECT {page} FROM (SELECT {columns} FROM protected_data p WHERE {rest} ORDER BY {order} {limits}) q");
    Ok(sql)
}

/// Whether the query may be driven by a schema entry's index: it asks for entries, in
/// creation order, and names no ids or owners (whose rows are fewer).
pub(crate) fn drivable(query: &Query) -> Option<Vec<String>> {
    let conjuncts = conjuncts(&query.filter);
    (query.order_by == OrderBy::CreationTimestamp && !conjuncts.entries.is_empty() && !conjuncts.names_rows)
        .then_some(conjuncts.entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_filter(entries: &[&str]) -> Filter {
        Filter {
            schema_contains: Some(entries.iter().map(|e| (*e).to_owned()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn bytes_and_bigints_parse_as_the_graph_reads_them() {
        assert_eq!(Bytes::parse("0xABcd").unwrap().0, "0xabcd");
        assert_eq!(Bytes::parse("abcd").unwrap().0, "0xabcd");
        assert_eq!(Bytes::parse("0x").unwrap().0, "0x");
        assert_eq!(Bytes::parse("0xabc"), None);
        assert_eq!(Bytes::parse("0xzz"), None);
        let big = |v: Value| <BigInt as ScalarType>::parse(v).ok();
        assert_eq!(big(Value::String("1700000000".into())), Some(BigInt(1_700_000_000)));
        assert_eq!(big(Value::Number(12.into())), Some(BigInt(12)));
        assert_eq!(
            big(Value::String("99999999999999999999999999999999999999999999".into())),
            Some(BigInt(i64::MAX))
        );
        assert_eq!(big(Value::String("-5".into())), Some(BigInt(-5)));
        assert_eq!(big(Value::String("1e3".into())), None);
        assert_eq!(big(Value::String("".into())), None);
    }

    #[test]
    fn the_graphs_bounds_on_first_and_skip_hold() {
        let q = |first, skip| Query::new(None, None, None, first, skip);
        assert_eq!(q(None, None).unwrap().first, 100);
        assert!(q(Some(1000), Some(5000)).is_ok());
        assert_eq!(
            q(Some(1001), None).unwrap_err(),
            "The `first` argument must be between 0 and 1000, but is 1001"
        );
        assert!(q(Some(-1), None).is_err());
        assert_eq!(
            q(None, Some(5001)).unwrap_err(),
            "The `skip` argument must be between 0 and 5000, but is 5001"
        );
    }

    #[test]
    fn schema_entries_in_creation_order_drive_the_query_unless_ids_or_owners_are_named() {
        let by_time = |filter: Filter| Query {
            filter,
            order_by: OrderBy::CreationTimestamp,
            direction: Direction::Desc,
            first: 10,
            skip: 0,
        };
        // iExec's SDK: everything inside one `and`.
        let sdk = Filter {
            and: Some(vec![entry_filter(&["email:string", "age:i128"])]),
            ..Default::default()
        };
        assert_eq!(
            drivable(&by_time(sdk.clone())),
            Some(vec!["age:i128".to_owned(), "email:string".to_owned()])
        );
        // Alternatives (`or`) cannot drive.
        let any = Filter {
            or: Some(vec![entry_filter(&["a:string"]), entry_filter(&["b:string"])]),
            ..Default::default()
        };
        assert_eq!(drivable(&by_time(any)), None);
        let with_owner = Filter {
            owner: Some("0xAB".into()),
            ..entry_filter(&["a:string"])
        };
        assert_eq!(drivable(&by_time(with_owner)), None);
        let by_id = Query {
            order_by: OrderBy::Id,
            ..by_time(entry_filter(&["a:string"]))
        };
        assert_eq!(drivable(&by_id), None);

        let sql = select(&by_time(sdk), Some("age:i128"), false, Fields::ALL).unwrap();
        assert!(sql.text.starts_with("SELECT json_group_array("), "{}", sql.text);
        assert!(sql.text.contains("FROM (SELECT p.id"), "{}", sql.text);
        // The driving entry is not checked again; the other is.
        assert_eq!(sql.text.matches("EXISTS").count(), 1, "{}", sql.text);
        assert!(
            sql.text
                .contains("ORDER BY d.creation_timestamp DESC, d.protected_data DESC LIMIT 10 OFFSET 0")
        );
        assert_eq!(sql.binds[0], Bind::Text("age:i128".into()));
    }

    #[test]
    fn filters_become_bound_conditions() {
        let filter = Filter {
            id_in: Some(vec![Bytes::parse("0xAA").unwrap()]),
            owner: Some("0xABC".into()),
            name_contains: Some("it's".into()),
            creation_timestamp_gte: Some(BigInt(5)),
            transaction_hash_not: Some(Bytes::parse("0x").unwrap()),
            or: Some(vec![]),
            ..Default::default()
        };
        let mut sql = Sql::default();
        let text = condition(&filter, &mut sql, false, 0).unwrap();
        assert_eq!(
            text,
            "p.id IN ($1) AND p.owner = $2 AND instr(p.name, $3) > 0 AND p.creation_timestamp >= $4 \
             AND p.transaction_hash <> $5 AND 1 = 0"
        );
        assert_eq!(
            sql.binds,
            vec![
                Bind::Text("0xaa".into()),
                Bind::Text("0xabc".into()),
                Bind::Text("it's".into()),
                Bind::Int(5),
                Bind::Text("0x".into())
            ]
        );
        let mut sql = Sql::default();
        assert_eq!(condition(&Filter::default(), &mut sql, true, 0).unwrap(), "1 = 1");
    }

    #[test]
    fn deep_or_wide_filters_are_refused() {
        let mut filter = Filter::default();
        for _ in 0..20 {
            filter = Filter {
                and: Some(vec![filter]),
                ..Default::default()
            };
        }
        assert!(
            condition(&filter, &mut Sql::default(), false, 0)
                .unwrap_err()
                .contains("deeper")
        );
        let wide = Filter {
            id_in: Some(vec![Bytes::parse("0x01").unwrap(); 1001]),
            ..Default::default()
        };
        assert!(
            condition(&wide, &mut Sql::default(), false, 0)
                .unwrap_err()
                .contains("too large")
        );
    }
}
