//! Protected data through the market, on a real PoCo with Confide's DataProtector: the
//! follower records what `DatasetSchema` announces, iExec's DataProtector SDK's and
//! Web3Mail's GraphQL queries (verbatim) find it, transfers move its owner, a reorg takes
//! it away; the PoCo endpoint and `GET /deals` find a deal by its request order; the
//! dataset book honours iExec's `isAppStrict`, `bulkOnly` and owner filters; limits are
//! refused as GraphQL errors. On SQLite and on Postgres.

use std::sync::Arc;
use std::time::Duration;

use confide_chain::{Address, AssetKind, B256, Connection, NewProtectedData, Poco, PrivateKeySigner, U256};
use confide_devstack::DEV_ACCOUNTS;
use confide_protocol::order::{DatasetOrder, Order};
use confide_protocol::{Tag, market};
use confide_testkit::{TempPostgres, TestChain};
use serde_json::{Value, json};

/// `getProtectedData`'s query, verbatim from @iexec/dataprotector 2.0.0-beta.27
/// (`src/lib/dataProtectorCore/getProtectedData.ts`).
const SDK_GET_PROTECTED_DATA: &str = r#"
      query ($start: Int!, $range: Int!, $where: ProtectedData_filter) {
        protectedDatas(
          where: $where
          skip: $start
          first: $range
          orderBy: creationTimestamp
          orderDirection: desc
        ) {
          id
          name
          owner {
            id
          }
          schema {
            id
          }
          creationTimestamp
          multiaddr
        }
      }
    "#;

/// `getProtectedDataInBulkByBulkRequestHash`'s query, verbatim
/// (`src/lib/dataProtectorCore/subgraph/getProtectedDataInBulkByBulkRequestHash.ts`).
const SDK_DEALS_OF_BULK_REQUEST: &str = r#"
    query ($where: Deal_filter) {
      deals(where: $where) {
        tasks {
          taskId: id
          bulkSlice {
            datasets {
              id
            }
          }
        }
      }
    }
  "#;

/// iExec Web3Mail's query for its contacts.
const WEB3MAIL_CONTACTS: &str = r#"
    query (
      $requiredSchema: [String!]!
      $id: [Bytes!]
      $start: Int!
      $range: Int!
    ) {
      protectedDatas(
        where: {
          transactionHash_not: "0x"
          schema_contains: $requiredSchema
          id_in: $id
        }
        skip: $start
        first: $range
        orderBy: creationTimestamp
        orderDirection: desc
      ) {
        id
        name
      }
    }
  "#;

const WAIT: Duration = Duration::from_secs(15);

fn signer(role: &str) -> PrivateKeySigner {
    DEV_ACCOUNTS.iter().find(|a| a.role == role).unwrap().signer()
}

fn lower(address: Address) -> String {
    address.to_string().to_lowercase()
}

struct Market {
    url: String,
    chain: TestChain,
    data_protector: Address,
    _dir: Option<tempfile::TempDir>,
}

/// A market on `database_url` following a fresh chain with a DataProtector deployed.
async fn start_on(database_url: &str, dir: Option<tempfile::TempDir>) -> Market {
    let chain = TestChain::start().await;
    let data_protector = chain
        .client("dataset-owner")
        .await
        .deploy_data_protector()
        .await
        .unwrap();
    let reader = Poco::new(Connection::connect(chain.url(), None).await.unwrap(), chain.hub())
        .await
        .unwrap();
    let db = confide_market::db::MarketDb::open(database_url).await.unwrap();
    let state =
        confide_market::MarketState::with_data_protector(confide_market::MarketState::new(db, reader), data_protector);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = confide_market::router(Arc::clone(&state));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    tokio::spawn(confide_market::follow::follow(state, Duration::from_millis(100)));
    // A new market follows from the chain's head: wait until it reads, or the first
    // protected data could be made before it starts.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info: Value = reqwest::get(format!("{url}/info")).await.unwrap().json().await.unwrap();
        if info["followedBlock"].as_u64().is_some_and(|b| b > 0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the follower never started: {info}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Market {
        url,
        chain,
        data_protector,
        _dir: dir,
    }
}

impl Market {
    /// The dev account `role` on a connection of its own (a revert takes transactions
    /// back, so a connection's remembered nonces would be ahead).
    async fn poco_as(&self, role: &str) -> Poco {
        let connection = Connection::connect(self.chain.url(), Some(signer(role))).await.unwrap();
        Poco::new(connection, self.chain.hub()).await.unwrap()
    }

    /// A protected data of the dev dataset owner.
    async fn protect(&self, name: &str, schema: &str, checksum: u8) -> Address {
        let owner = self.poco_as("dataset-owner").await;
        let data = NewProtectedData {
            owner: signer("dataset-owner").address(),
            name,
            schema,
            multiaddr: b"https://example.org/protected.zip",
            checksum: B256::repeat_byte(checksum),
        };
        owner.create_protected_data(self.data_protector, &data).await.unwrap()
    }

    async fn graphql(&self, endpoint: &str, query: &str, variables: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/graphql/{endpoint}", self.url))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_eq!(
            response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap()),
            Some("*")
        );
        (status, response.json().await.unwrap())
    }

    /// The data of a query that must succeed.
    async fn data(&self, endpoint: &str, query: &str, variables: Value) -> Value {
        let (status, answer) = self.graphql(endpoint, query, variables).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer.get("errors").is_none(), "{answer}");
        answer["data"].clone()
    }

    /// The messages of a query that must fail.
    async fn errors(&self, query: &str, variables: Value) -> String {
        let (status, answer) = self.graphql("dataprotector", query, variables).await;
        assert_eq!(status, 200, "{answer}");
        answer["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors in {answer}"))
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The SDK's query with these variables: the protected data's ids in order.
    async fn sdk_ids(&self, filters: Value) -> Vec<String> {
        let mut variables = json!({ "start": 0, "range": 1000 });
        if filters.as_array().is_some_and(|f| !f.is_empty()) {
            variables["where"] = json!({ "and": filters });
        }
        let data = self.data("dataprotector", SDK_GET_PROTECTED_DATA, variables).await;
        data["protectedDatas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits until the SDK's query with `filters` finds exactly `want` (in any order).
    async fn await_ids(&self, filters: Value, want: &[Address]) -> Vec<String> {
        let mut want: Vec<String> = want.iter().map(|a| lower(*a)).collect();
        want.sort();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let ids = self.sdk_ids(filters.clone()).await;
            let mut sorted = ids.clone();
            sorted.sort();
            if sorted == want {
                return ids;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{filters}: found {ids:?}, expected {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn anvil(&self, method: &str, params: Value) -> Value {
        let response: Value = reqwest::Client::new()
            .post(self.chain.url())
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["result"].clone()
    }

    async fn login(&self, who: &PrivateKeySigner) -> String {
        let challenge: Value = reqwest::get(format!(
            "{}/challenge?chainId=31337&address={}",
            self.url,
            who.address()
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let digest = market::challenge_digest(31337, challenge["data"]["message"]["challenge"].as_str().unwrap());
        let signature = confide_protocol::messages::sign_digest(who, digest).unwrap();
        market::authorization(digest, &signature, who.address())
    }

    async fn publish(&self, auth: &str, order: &DatasetOrder) {
        let response = reqwest::Client::new()
            .post(format!("{}/datasetorders?chainId=31337", self.url))
            .header("authorization", auth)
            .json(&json!({ "order": order }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
    }
}

#[tokio::test]
async fn on_sqlite_protected_data_are_found_as_the_sdk_finds_them_and_follow_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    protected_data(start_on(&url, Some(dir)).await).await;
}

#[tokio::test]
async fn on_postgres_protected_data_are_found_as_the_sdk_finds_them_and_follow_the_chain() {
    let postgres = TempPostgres::start("protected");
    protected_data(start_on(&postgres.url, None).await).await;
}

async fn protected_data(m: Market) {
    let owner = lower(signer("dataset-owner").address());
    let contact = m.protect("contact", r#"{"email":"string","age":"i128"}"#, 1).await;
    let picture = m
        .protect("picture", r#"{"email":"string","photo":"image/png"}"#, 2)
        .await;
    // Entries with bad keys or unknown types are skipped, as the subgraph skips them.
    let odd = m
        .protect(
            "odd <b>name</b>",
            r#"{"nested":{"deep":"bool"},"bad key":"string","x":"uint256","n":3}"#,
            3,
        )
        .await;

    // iExec's SDK: no filter (`where` left out), then each of its filters.
    let all = m.await_ids(json!([]), &[contact, picture, odd]).await;
    let emails = m
        .await_ids(json!([{ "schema_contains": ["email:string"] }]), &[contact, picture])
        .await;
    let data = m
        .data(
            "dataprotector",
            SDK_GET_PROTECTED_DATA,
            json!({ "start": 0, "range": 1000, "where": { "and": [{ "id": lower(odd) }, { "owner": owner }] } }),
        )
        .await;
    let found = &data["protectedDatas"][0];
    assert_eq!(found["name"], "odd <b>name</b>");
    assert_eq!(found["owner"]["id"], owner);
    assert_eq!(found["schema"], json!([{ "id": "nested.deep:bool" }]));
    assert_eq!(
        found["multiaddr"],
        format!("0x{}", confide_chain::hex::encode(b"https://example.org/protected.zip"))
    );
    // Newest first: the order of creation, by block timestamp then address.
    let mut times: Vec<(i64, String)> = Vec::new();
    for id in &all {
        times.push(created(&m, id).await);
    }
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert_eq!(emails.len(), 2);
    // A type among several (`or`), with a creation time bound and an owner.
    let after = times.iter().map(|(t, _)| *t).min().unwrap();
    m.await_ids(
        json!([
            { "owner": owner },
            { "creationTimestamp_gte": after },
            { "schema_contains": ["email:string"] },
            { "or": [{ "schema_contains": ["photo:image/png"] }, { "schema_contains": ["age:i128"] }] }
        ]),
        &[contact, picture],
    )
    .await;
    m.await_ids(json!([{ "creationTimestamp_gte": after + 100_000 }]), &[])
        .await;
    m.await_ids(json!([{ "schema_contains": ["email:string", "age:i128"] }]), &[contact])
        .await;
    m.await_ids(json!([{ "schema_contains": ["nowhere:string"] }]), &[])
        .await;
    // Names, case-sensitive as The Graph's `_contains`, in name order.
    let named = m
        .data(
            "dataprotector",
            "query ($not: Bytes) { protectedDatas(where: { name_contains: \"c\", id_not: $not }, orderBy: name, \
             orderDirection: desc) { name } }",
            json!({ "not": odd.to_string() }),
        )
        .await;
    assert_eq!(
        named["protectedDatas"],
        json!([{ "name": "picture" }, { "name": "contact" }])
    );
    m.await_ids(json!([{ "name_contains": "C" }]), &[]).await;

    // Web3Mail: every contact with an email, then one of them by id.
    let contacts = m
        .data(
            "dataprotector",
            WEB3MAIL_CONTACTS,
            json!({ "requiredSchema": ["email:string"], "start": 0, "range": 1000 }),
        )
        .await;
    assert_eq!(contacts["protectedDatas"].as_array().unwrap().len(), 2, "{contacts}");
    let one = m
        .data(
            "dataprotector",
            WEB3MAIL_CONTACTS,
            json!({ "requiredSchema": ["email:string"], "id": [contact.to_string()], "start": 0, "range": 10 }),
        )
        .await;
    assert_eq!(
        one["protectedDatas"],
        json!([{ "id": lower(contact), "name": "contact" }])
    );

    // The whole entity, as the chain has it.
    let full = m
        .data(
            "dataprotector",
            "query ($id: ID!) { protectedData(id: $id) { id name owner { id } schema { id path type } jsonSchema \
             multiaddr checksum creationTimestamp transactionHash blockNumber } }",
            json!({ "id": contact.to_string() }),
        )
        .await["protectedData"]
        .clone();
    assert_eq!(full["jsonSchema"], r#"{"email":"string","age":"i128"}"#);
    assert_eq!(
        full["schema"],
        json!([{ "id": "age:i128", "path": "age", "type": "i128" }, { "id": "email:string", "path": "email", "type": "string" }])
    );
    assert_eq!(full["checksum"], B256::repeat_byte(1).to_string());
    let block = m
        .anvil(
            "eth_getBlockByNumber",
            json!([
                format!("0x{:x}", full["blockNumber"].as_str().unwrap().parse::<u64>().unwrap()),
                false
            ]),
        )
        .await;
    assert_eq!(
        u64::from_str_radix(block["timestamp"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap(),
        full["creationTimestamp"].as_str().unwrap().parse::<u64>().unwrap()
    );
    assert!(
        block["transactions"]
            .as_array()
            .unwrap()
            .contains(&full["transactionHash"]),
        "{block}"
    );

    // A transfer moves the owner; the explorer's API lists by owner and entries.
    let requester = signer("requester").address();
    m.poco_as("dataset-owner")
        .await
        .transfer_asset(AssetKind::Dataset, picture, requester)
        .await
        .unwrap();
    m.await_ids(json!([{ "owner": lower(requester) }]), &[picture]).await;
    let listed = m
        .get(&format!("/protected-data?owner={owner}&schema=email:string"))
        .await;
    assert_eq!(listed["protectedData"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["protectedData"][0]["address"], lower(contact));

    // A reorg takes a protected data away, and a transfer with it.
    let snapshot = m.anvil("evm_snapshot", json!([])).await;
    let doomed = m.protect("doomed", r#"{"email":"string"}"#, 4).await;
    m.poco_as("dataset-owner")
        .await
        .transfer_asset(AssetKind::Dataset, contact, requester)
        .await
        .unwrap();
    m.await_ids(json!([{ "owner": lower(requester) }]), &[picture, contact])
        .await;
    m.await_ids(
        json!([{ "schema_contains": ["email:string"] }]),
        &[contact, picture, doomed],
    )
    .await;
    let id = snapshot.as_str().unwrap().parse().unwrap();
    assert!(confide_testkit::chain::revert(m.chain.url(), id).await.unwrap());
    m.anvil("anvil_mine", json!(["0x3"])).await;
    m.await_ids(json!([{ "schema_contains": ["email:string"] }]), &[contact, picture])
        .await;
    m.await_ids(json!([{ "owner": owner }]), &[contact, odd]).await;

    deals_and_grants(&m, contact).await;
    limits(&m).await;
}

/// The creation time and id of a protected data, for ordering checks.
async fn created(m: &Market, id: &str) -> (i64, String) {
    let data = m
        .data(
            "dataprotector",
            "query ($id: ID!) { protectedData(id: $id) { id creationTimestamp } }",
            json!({ "id": id }),
        )
        .await;
    let p = &data["protectedData"];
    (
        p["creationTimestamp"].as_str().unwrap().parse().unwrap(),
        p["id"].as_str().unwrap().to_owned(),
    )
}

/// A deal on the protected data is found by its request order, through the PoCo
/// endpoint and `GET /deals`; its dataset orders are its grants.
async fn deals_and_grants(m: &Market, data: Address) {
    let app = m
        .poco_as("app-developer")
        .await
        .create_app(
            "reader",
            "DOCKER",
            b"https://example.org/a.wasm",
            B256::repeat_byte(9),
            b"",
        )
        .await
        .unwrap();
    let pool = m
        .poco_as("workerpool-owner")
        .await
        .create_workerpool("pool")
        .await
        .unwrap();
    let spec = confide_testkit::chain::DealSpec {
        app,
        dataset: data,
        workerpool: pool,
        tag: Tag::TEE_TDX,
        volume: 2,
        trust: 1,
        params: String::new(),
    };
    let deal_id = confide_testkit::chain::matched_deal(m.chain.url(), m.chain.hub(), &spec).await;
    let mut deals = Value::Null;
    for _ in 0..150 {
        deals = m.get(&format!("/deals?chainId=31337&dataset={data}")).await;
        if deals["count"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(deals["deals"][0]["dealid"], deal_id.to_string(), "{deals}");
    let request_hash = deals["deals"][0]["requestHash"].as_str().unwrap().to_owned();
    let by_request = m
        .get(&format!(
            "/deals?chainId=31337&requestorderHash={request_hash}&pageIndex=0&pageSize=10"
        ))
        .await;
    assert_eq!(by_request["ok"], true);
    assert_eq!(by_request["count"], 1);
    assert_eq!(by_request["deals"][0]["botFirst"], 0);
    assert_eq!(by_request["deals"][0]["botSize"], 2);
    let tasks = m
        .data(
            "poco",
            SDK_DEALS_OF_BULK_REQUEST,
            json!({ "where": { "requestorder": request_hash } }),
        )
        .await;
    let first_task = confide_protocol::task_id(deal_id, U256::ZERO).to_string();
    assert_eq!(
        tasks["deals"][0]["tasks"][0],
        json!({ "taskId": first_task, "bulkSlice": null }),
        "{tasks}"
    );
    assert_eq!(tasks["deals"][0]["tasks"].as_array().unwrap().len(), 2);

    // Two grants: one for the app only, free and for bulk processing; one for anyone.
    let auth = m.login(&signer("dataset-owner")).await;
    let domain = m.poco_as("dataset-owner").await.domain();
    let mut bulk = DatasetOrder {
        dataset: data,
        datasetprice: U256::ZERO,
        volume: U256::from((1u64 << 53) - 1),
        tag: Tag::TEE,
        apprestrict: app,
        ..Default::default()
    };
    bulk.refresh_salt();
    bulk.sign(&signer("dataset-owner"), &domain).unwrap();
    let mut open = DatasetOrder {
        dataset: data,
        datasetprice: U256::from(1),
        volume: U256::from(5),
        tag: Tag::TEE,
        ..Default::default()
    };
    open.refresh_salt();
    open.sign(&signer("dataset-owner"), &domain).unwrap();
    m.publish(&auth, &bulk).await;
    m.publish(&auth, &open).await;
    let bulk_hash = bulk.hash(&domain).to_string();
    let open_hash = open.hash(&domain).to_string();
    let hashes = |answer: &Value| -> Vec<String> {
        answer["orders"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|o| o["orderHash"].as_str().unwrap().to_owned())
            .collect()
    };
    // As iExec's SDK asks (getGrantedAccess, grantAccess's duplicate check, processProtectedData).
    let sdk = |app: &str, strict: bool, bulk_only: bool| {
        format!(
            "/datasetorders?app={app}&bulkOnly={bulk_only}&chainId=31337&dataset={data}&isAppStrict={strict}\
             &isRequesterStrict=false&isWorkerpoolStrict=false&pageIndex=0&pageSize=20&requester=any"
        )
    };
    let strict = m.get(&sdk(&app.to_string(), true, false)).await;
    assert_eq!(hashes(&strict), vec![bulk_hash.clone()]);
    assert_eq!(strict["orders"][0]["remaining"], (1u64 << 53) - 1);
    assert_eq!(strict["orders"][0]["bulk"], true);
    assert_eq!(
        hashes(&m.get(&sdk(&app.to_string(), false, false)).await),
        vec![bulk_hash.clone(), open_hash.clone()]
    );
    assert_eq!(hashes(&m.get(&sdk("any", true, true)).await), vec![bulk_hash.clone()]);
    assert_eq!(hashes(&m.get(&sdk("any", true, false)).await).len(), 2);
    // An absent app with iExec's flags: unrestricted orders only.
    let unrestricted = m
        .get(&format!(
            "/datasetorders?chainId=31337&dataset={data}&isAppStrict=false&requester=any"
        ))
        .await;
    assert_eq!(hashes(&unrestricted), vec![open_hash.clone()]);
    let of_owner = m
        .get(&format!(
            "/datasetorders?chainId=31337&dataset=any&datasetOwner={}",
            signer("dataset-owner").address()
        ))
        .await;
    assert_eq!(hashes(&of_owner).len(), 2);
    let of_other = m
        .get(&format!(
            "/datasetorders?chainId=31337&dataset=any&datasetOwner={}",
            signer("requester").address()
        ))
        .await;
    assert_eq!(hashes(&of_other).len(), 0);

    // The explorer's page of the protected data.
    let page = m.get(&format!("/protected-data/{data}")).await;
    assert_eq!(
        page["protectedData"]["schemaTree"],
        json!({ "age": "i128", "email": "string" })
    );
    assert_eq!(page["grants"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["deals"][0]["dealId"], deal_id.to_string());
    assert_eq!(page["tasks"].as_array().unwrap().len(), 2);
    let status = reqwest::get(format!("{}/protected-data/0x12", m.url))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400);
}

/// Queries past the bounds are refused with GraphQL errors that say why.
async fn limits(m: &Market) {
    let first = m.errors("{ protectedDatas(first: 1001) { id } }", json!({})).await;
    assert!(
        first.contains("The `first` argument must be between 0 and 1000, but is 1001"),
        "{first}"
    );
    let skip = m.errors("{ protectedDatas(skip: 5001) { id } }", json!({})).await;
    assert!(
        skip.contains("The `skip` argument must be between 0 and 5000"),
        "{skip}"
    );
    let whole = "{ id name owner { id } schema { id path type } jsonSchema multiaddr checksum creationTimestamp \
                 transactionHash blockNumber }";
    let costly = format!("{{ a: protectedDatas(first: 1000) {whole} b: protectedDatas(first: 1000) {whole} }}");
    let too_complex = m.errors(&costly, json!({})).await;
    assert!(too_complex.to_lowercase().contains("complex"), "{too_complex}");
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }";
    let too_deep = m.errors(deep, json!({})).await;
    assert!(too_deep.to_lowercase().contains("nested too deep"), "{too_deep}");
    let unknown = m.errors("{ protectedDatas { nope } }", json!({})).await;
    assert!(unknown.contains("nope"), "{unknown}");
    let syntax = m.errors("{ protectedDatas( ", json!({})).await;
    assert!(!syntax.is_empty());
    let bad_bytes = m
        .errors("{ protectedDatas(where: { id: \"0xzz\" }) { id } }", json!({}))
        .await;
    assert!(bad_bytes.contains("hex"), "{bad_bytes}");
    // Not GraphQL at all: 400, as graph-node answers.
    let response = reqwest::Client::new()
        .post(format!("{}/graphql/dataprotector", m.url))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = reqwest::Client::new()
        .post(format!("{}/graphql/dataprotector", m.url))
        .json(&json!({ "variables": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Too large a body.
    let huge = format!("{{ protectedDatas {{ id }} }} #{}", "x".repeat(100 * 1024));
    let response = reqwest::Client::new()
        .post(format!("{}/graphql/dataprotector", m.url))
        .json(&json!({ "query": huge }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // GET works too.
    let answer: Value = reqwest::get(format!(
        "{}/graphql/dataprotector?query={}",
        m.url, "%7B%20protectedDatas(first%3A%201)%20%7B%20id%20%7D%20%7D"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        answer["data"]["protectedDatas"].as_array().unwrap().len(),
        1,
        "{answer}"
    );
}

/// The protected data pages in headless Chromium (skipped where Chromium and chromedriver
/// are missing): the list narrows as schema entries are picked, a name carrying markup
/// shows as text, a protected data's page shows its schema tree, owner and grants. With
/// `CONFIDE_SCREENSHOT_DIR` set, both pages are saved there.
#[test]
fn the_protected_data_pages_in_a_browser() {
    use confide_testkit::browser::{Browser, available};
    if !available() {
        eprintln!("skipped: no Chromium and chromedriver (install Debian's chromium and chromium-driver)");
        return;
    }
    const MARKUP: &str = r#"<img src=x onerror="window.__xss=1"><b>bold</b>"#;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let m = runtime.block_on(start_on(&url, Some(dir)));
    let (contact, _picture) = runtime.block_on(async {
        let contact = m
            .protect(
                "contact card",
                r#"{"email":"string","address":{"city":"string","zip":"i128"}}"#,
                1,
            )
            .await;
        let picture = m.protect(MARKUP, r#"{"photo":"image/png"}"#, 2).await;
        m.await_ids(json!([]), &[contact, picture]).await;
        // A grant for anyone, shown on the page.
        let auth = m.login(&signer("dataset-owner")).await;
        let domain = m.poco_as("dataset-owner").await.domain();
        let mut order = DatasetOrder {
            dataset: contact,
            datasetprice: U256::from(1_000_000_000u64),
            volume: U256::from(3),
            tag: Tag::TEE,
            ..Default::default()
        };
        order.refresh_salt();
        order.sign(&signer("dataset-owner"), &domain).unwrap();
        m.publish(&auth, &order).await;
        (contact, picture)
    });

    let browser = Browser::start(1280, 900).unwrap();
    let screenshot = |name: &str| {
        if let Ok(dir) = std::env::var("CONFIDE_SCREENSHOT_DIR") {
            browser
                .screenshot(&std::path::Path::new(&dir).join(format!("{name}.png")))
                .unwrap();
        }
    };
    let rows = |b: &Browser| -> usize {
        b.execute("return document.querySelectorAll('#protected tr.protected-data').length")
            .unwrap()
            .as_u64()
            .unwrap() as usize
    };
    let wait_rows = |want: usize| {
        browser
            .wait_for(&format!("{want} protected data listed"), WAIT, |b| {
                Ok((rows(b) == want).then_some(()))
            })
            .unwrap_or_else(|e| panic!("{e}: {} listed", rows(&browser)));
    };
    browser.goto(&format!("{}/#/protected", m.url)).unwrap();
    wait_rows(2);
    let names = browser
        .execute("return [...document.querySelectorAll('#protected .pd-name')].map(a => a.textContent)")
        .unwrap();
    assert!(names.as_array().unwrap().contains(&json!(MARKUP)), "{names}");

    // Pick `address.city:string`: only the contact card has it.
    let path = browser.find("#filter-path").unwrap().unwrap();
    browser.type_text(&path, "address.city").unwrap();
    browser
        .execute("const s = document.getElementById('filter-type'); s.value = 'string'; return s.value")
        .unwrap();
    browser.click(&browser.find("#filter-add").unwrap().unwrap()).unwrap();
    wait_rows(1);
    let chips = browser
        .execute(
            "return [...document.querySelectorAll('#filter-entries .entry')].map(c => c.getAttribute('data-entry'))",
        )
        .unwrap();
    assert_eq!(chips, json!(["address.city:string"]));
    screenshot("protected-data-list");

    // Its page: the schema as a tree, the owner, the grant.
    browser
        .click(&browser.find("#protected .pd-name").unwrap().unwrap())
        .unwrap();
    browser
        .wait_for("the protected data's page", WAIT, |b| {
            let title = b.find("#pd-title")?;
            Ok(match title {
                Some(t) => (b.text(&t)? == "contact card").then_some(()),
                None => None,
            })
        })
        .unwrap();
    let tree = browser
        .execute("return [...document.querySelectorAll('#pd-schema .schema-key')].map(k => k.textContent)")
        .unwrap();
    assert_eq!(tree, json!(["address", "city", "zip", "email"]));
    let owner = browser.text(&browser.find("#pd-owner").unwrap().unwrap()).unwrap();
    assert_eq!(owner, lower(signer("dataset-owner").address()));
    browser
        .wait_for("the grant", WAIT, |b| Ok(b.find("#grants tr.grant")?.map(|_| ())))
        .unwrap();
    assert!(
        browser
            .execute("return location.hash")
            .unwrap()
            .as_str()
            .unwrap()
            .ends_with(&lower(contact)),
        "the page's route names the protected data"
    );
    screenshot("protected-data-page");
    let injected = browser
        .execute("return [window.__xss, document.querySelectorAll('#main img, #main b').length]")
        .unwrap();
    assert_eq!(injected, json!([null, 0]), "a name's markup became elements");
    drop(browser);
    drop(m);
    drop(runtime);
}
