//! The market API over HTTP on loopback, on a real PoCo: every bad input refused with a
//! stable code and nothing stored; the book keeps serving under a flood of invalid orders.

use std::sync::Arc;

use confide_chain::{B256, Connection, Poco, PrivateKeySigner, U256};
use confide_devstack::DEV_ACCOUNTS;
use confide_protocol::order::{DatasetOrder, Order, RequestOrder};
use confide_protocol::{Tag, market};
use confide_testkit::{TempPostgres, TestChain};
use serde_json::{Value, json};

fn signer(role: &str) -> PrivateKeySigner {
    DEV_ACCOUNTS.iter().find(|a| a.role == role).unwrap().signer()
}

struct Market {
    api: Api,
    owner: Poco,
    dataset: confide_chain::Address,
    node: confide_devstack::AnvilNode,
    replica: Replica,
    _dir: Option<tempfile::TempDir>,
}

/// A market process's parts: its HTTP server and its chain follower.
struct Replica {
    url: String,
    server: tokio::task::JoinHandle<()>,
    follower: tokio::task::JoinHandle<()>,
}

impl Replica {
    /// Stops serving and following, as a killed process does.
    fn kill(&self) {
        self.server.abort();
        self.follower.abort();
    }
}

/// A market on `database_url` reading PoCo at `hub` on `node`, following every 100 ms.
async fn serve_replica(database_url: &str, node: &str, hub: confide_chain::Address) -> Replica {
    serve_configured(database_url, node, hub, |state| state).await
}

/// [`serve_replica`], its state changed by `configure` before it serves.
async fn serve_configured(
    database_url: &str,
    node: &str,
    hub: confide_chain::Address,
    configure: impl FnOnce(Arc<confide_market::MarketState>) -> Arc<confide_market::MarketState>,
) -> Replica {
    let reader = Poco::new(Connection::connect(node, None).await.unwrap(), hub)
        .await
        .unwrap();
    let db = confide_market::db::MarketDb::open(database_url).await.unwrap();
    let state = configure(confide_market::MarketState::new(db, reader));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = confide_market::router(state.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let follower = tokio::spawn(confide_market::follow::follow(
        Arc::clone(&state),
        std::time::Duration::from_millis(100),
    ));
    Replica { url, server, follower }
}

async fn start() -> Market {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    start_on(&url, Some(dir)).await
}

/// A market over the store at `database_url`, on a fresh chain with one dataset.
async fn start_on(database_url: &str, dir: Option<tempfile::TempDir>) -> Market {
    let chain = TestChain::start().await;
    let owner = chain.client("dataset-owner").await;
    let dataset = chain.dataset("d", 3).await;
    let replica = serve_replica(database_url, chain.url(), chain.hub()).await;
    let node = chain.node;
    Market {
        api: Api {
            url: replica.url.clone(),
        },
        owner,
        dataset,
        node,
        replica,
        _dir: dir,
    }
}

/// The market's HTTP API at one URL (one replica).
struct Api {
    url: String,
}

impl Api {
    async fn login(&self, who: &PrivateKeySigner) -> String {
        let digest = self.challenge(who.address()).await.unwrap();
        login_header(who, digest)
    }

    /// A login challenge's digest for `address`, or the refusal's status.
    async fn challenge(&self, address: confide_chain::Address) -> Result<B256, u16> {
        let response = reqwest::get(format!("{}/challenge?chainId=31337&address={address}", self.url))
            .await
            .unwrap();
        let status = response.status().as_u16();
        let challenge: Value = response.json().await.unwrap();
        let text = challenge["data"]["message"]["challenge"].as_str().ok_or(status)?;
        Ok(market::challenge_digest(31337, text))
    }

    async fn post(&self, path: &str, auth: Option<&str>, body: String) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, auth, body).await
    }

    async fn put(&self, path: &str, auth: Option<&str>, body: String) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, auth, body).await
    }

    async fn call(&self, method: reqwest::Method, path: &str, auth: Option<&str>, body: String) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or_default())
    }

    /// The order `hash` as the market shows it.
    async fn one(&self, hash: B256) -> Value {
        self.get(&format!("/datasetorders/{hash}?chainId=31337")).await
    }

    /// Waits up to ten seconds for order `hash` to show `status`; returns what it shows.
    async fn await_status(&self, hash: B256, status: &str) -> Value {
        let mut shown = Value::Null;
        for _ in 0..100 {
            shown = self.one(hash).await;
            if shown["status"] == status {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        shown
    }

    async fn book(&self, query: &str) -> Value {
        self.get(&format!("/datasetorders?chainId=31337{query}")).await
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl std::ops::Deref for Market {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Market {
    /// The dataset owner on a new connection: a revert takes back transactions, so the
    /// nonces a connection remembers are ahead of the chain's.
    async fn reconnected_owner(&self) -> Poco {
        let connection = Connection::connect(&self.node.url, Some(signer("dataset-owner")))
            .await
            .unwrap();
        Poco::new(connection, self.owner.deployment.hub).await.unwrap()
    }

    /// Calls one of anvil's own JSON-RPC methods (snapshots, reverts, mining).
    async fn anvil(&self, method: &str, params: Value) -> Value {
        let response: Value = reqwest::Client::new()
            .post(&self.node.url)
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["result"].clone()
    }

    /// Reverts to an `evm_snapshot` once anvil's pool is pruned (see `anvil::revert`).
    async fn revert(&self, snapshot: Value) -> bool {
        let id = snapshot.as_str().unwrap().parse().unwrap();
        confide_testkit::chain::revert(&self.node.url, id).await.unwrap()
    }

    fn order(&self, volume: u64) -> DatasetOrder {
        let mut order = DatasetOrder {
            dataset: self.dataset,
            datasetprice: U256::from(7),
            volume: U256::from(volume),
            tag: Tag::TEE,
            ..Default::default()
        };
        order.refresh_salt();
        order.sign(&signer("dataset-owner"), &self.owner.domain()).unwrap();
        order
    }
}

fn body(order: &impl serde::Serialize) -> String {
    json!({ "order": order }).to_string()
}

#[tokio::test]
async fn bad_orders_are_refused_with_codes_and_nothing_is_stored() {
    refuses_bad_orders(start().await).await;
}

#[tokio::test]
async fn on_postgres_bad_orders_are_refused_and_good_ones_follow_the_chain() {
    let postgres = TempPostgres::start("market");
    refuses_bad_orders(start_on(&postgres.url, None).await).await;
}

async fn refuses_bad_orders(m: Market) {
    let owner = signer("dataset-owner");
    let auth = m.login(&owner).await;
    let path = "/datasetorders?chainId=31337";
    let code = |(status, json): (u16, Value)| (status, json["code"].as_str().unwrap_or_default().to_owned());

    // Login: missing, forged, or replayed by someone else.
    assert_eq!(
        code(m.post(path, None, body(&m.order(1))).await),
        (401, "UNAUTHORIZED".into())
    );
    let forged = auth.replacen("_0x", "_0x00", 1);
    assert_eq!(
        code(m.post(path, Some(&forged), body(&m.order(1))).await),
        (401, "UNAUTHORIZED".into())
    );
    let stolen = format!("{}_{}", auth.rsplit_once('_').unwrap().0, signer("requester").address());
    assert_eq!(
        code(m.post(path, Some(&stolen), body(&m.order(1))).await),
        (401, "UNAUTHORIZED".into())
    );

    // Malformed JSON, wrong types, unknown body fields, wrong chain.
    assert_eq!(
        code(m.post(path, Some(&auth), "{not json".into()).await),
        (400, "BAD_REQUEST".into())
    );
    let mut wrong_type = serde_json::to_value(m.order(1)).unwrap();
    wrong_type["volume"] = json!({ "a": 1 });
    assert_eq!(
        code(
            m.post(path, Some(&auth), json!({ "order": wrong_type }).to_string())
                .await
        ),
        (400, "BAD_REQUEST".into())
    );
    assert_eq!(
        code(
            m.post(
                path,
                Some(&auth),
                json!({ "order": m.order(1), "extra": 1 }).to_string()
            )
            .await
        )
        .1,
        "BAD_REQUEST"
    );
    assert_eq!(
        code(
            m.post("/datasetorders?chainId=134", Some(&auth), body(&m.order(1)))
                .await
        ),
        (400, "WRONG_CHAIN_ID".into())
    );

    // Signature by someone else, unknown asset, zero volume, oversized params.
    let mut by_other = m.order(1);
    by_other.sign(&signer("requester"), &m.owner.domain()).unwrap();
    assert_eq!(
        code(m.post(path, Some(&auth), body(&by_other)).await),
        (400, "INVALID_SIGNATURE".into())
    );
    let mut unknown = m.order(1);
    unknown.dataset = confide_chain::Address::repeat_byte(0x42);
    assert_eq!(
        code(m.post(path, Some(&auth), body(&unknown)).await),
        (400, "UNKNOWN_ASSET".into())
    );
    let mut zero = m.order(1);
    zero.volume = U256::ZERO;
    assert_eq!(code(m.post(path, Some(&auth), body(&zero)).await).1, "BAD_REQUEST");
    let requester = signer("requester");
    let mut request = RequestOrder {
        app: m.dataset,
        requester: requester.address(),
        volume: U256::from(1),
        params: "x".repeat(5000),
        ..Default::default()
    };
    request.sign(&requester, &m.owner.domain()).unwrap();
    let request_auth = m.login(&requester).await;
    let (status, json) = m
        .post("/requestorders?chainId=31337", Some(&request_auth), body(&request))
        .await;
    assert_eq!((status, json["code"].as_str().unwrap()), (400, "BAD_REQUEST"));
    // Max prices whose sum wraps past 2^256 (it would list as nearly free): refused.
    let mut wrapping = RequestOrder {
        app: m.dataset,
        requester: requester.address(),
        volume: U256::from(1),
        appmaxprice: U256::MAX,
        workerpoolmaxprice: U256::from(2),
        ..Default::default()
    };
    wrapping.sign(&requester, &m.owner.domain()).unwrap();
    let (status, json) = m
        .post("/requestorders?chainId=31337", Some(&request_auth), body(&wrapping))
        .await;
    assert_eq!((status, json["code"].as_str().unwrap()), (400, "BAD_REQUEST"), "{json}");

    // A cancelled order is refused.
    let cancelled = m.order(3);
    m.owner.cancel_order(&cancelled).await.unwrap();
    assert_eq!(
        code(m.post(path, Some(&auth), body(&cancelled)).await),
        (400, "NO_VOLUME_LEFT".into())
    );
    assert_eq!(m.book("").await["count"], 0, "nothing was stored");

    // A good order, then its duplicate.
    let good = m.order(5);
    let (status, published) = m.post(path, Some(&auth), body(&good)).await;
    assert_eq!(status, 200);
    assert_eq!(
        published["published"]["orderHash"].as_str().unwrap(),
        good.hash(&m.owner.domain()).to_string()
    );
    assert_eq!(
        code(m.post(path, Some(&auth), body(&good)).await),
        (409, "DUPLICATE_ORDER".into())
    );
    assert_eq!(m.book("").await["count"], 1);

    // The same order published twice at once (written in one batch, or two): stored once.
    let twice = m.order(6);
    let (first, second) = tokio::join!(
        m.post(path, Some(&auth), body(&twice)),
        m.post(path, Some(&auth), body(&twice))
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{first:?} {second:?}");
    assert_eq!(m.book("").await["count"], 2);
    // Many at once, as a flood of publications arrives: each is stored, none twice.
    let many: Vec<_> = (7..27).map(|volume| m.order(volume)).collect();
    let posted = futures::future::join_all(many.iter().map(|o| m.post(path, Some(&auth), body(o)))).await;
    assert!(posted.iter().all(|(status, _)| *status == 200), "{posted:?}");
    assert_eq!(m.book("").await["count"], 22);
    for order in many.iter().chain([&twice]) {
        m.post(path, Some(&auth), body(order)).await;
    }
    assert_eq!(m.book("").await["count"], 22);
    // Unpublished again, the extra orders leave the count where the next steps expect it.
    for order in many.iter().chain([&twice]) {
        let hash = order.hash(&m.owner.domain());
        let target = json!({ "target": "unpublish_orderHash", "orderHash": hash });
        assert_eq!(m.put(path, Some(&auth), target.to_string()).await.0, 200);
    }
    assert_eq!(m.book("").await["count"], 1);

    // Cancelled on chain after publication: the market drops it by itself.
    m.owner.cancel_order(&good).await.unwrap();
    for _ in 0..100 {
        if m.book("").await["count"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(m.book("").await["count"], 0);
    assert_eq!(m.one(good.hash(&m.owner.domain())).await["status"], "canceled");
}

#[tokio::test]
async fn the_book_keeps_serving_while_a_client_floods_it_with_invalid_orders() {
    let m = start().await;
    let owner = signer("dataset-owner");
    let auth = m.login(&owner).await;
    let good = m.order(2);
    assert_eq!(
        m.post("/datasetorders?chainId=31337", Some(&auth), body(&good)).await.0,
        200
    );

    let flood = {
        let url = m.url.clone();
        let auth = auth.clone();
        let mut bad = m.order(1);
        bad.sign(&signer("spare"), &m.owner.domain()).unwrap();
        let payload = body(&bad);
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut refused = 0;
            for _ in 0..300 {
                let response = client
                    .post(format!("{url}/datasetorders?chainId=31337"))
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(payload.clone())
                    .send()
                    .await
                    .unwrap();
                if response.status().as_u16() == 400 {
                    refused += 1;
                }
            }
            refused
        })
    };
    // Meanwhile the order book answers, with the one good order.
    for _ in 0..20 {
        let book = m.book("&minTag=0x1").await;
        assert_eq!(book["count"], 1);
    }
    assert_eq!(flood.await.unwrap(), 300, "every invalid order is refused");
    assert_eq!(m.book("").await["count"], 1);
}

#[tokio::test]
async fn a_reorg_that_takes_away_a_cancellation_or_a_transfer_reopens_the_orders() {
    let m = start().await;
    let owner = signer("dataset-owner");
    let auth = m.login(&owner).await;
    let path = "/datasetorders?chainId=31337";
    let order = m.order(4);
    let hash = order.hash(&m.owner.domain());
    assert_eq!(m.post(path, Some(&auth), body(&order)).await.0, 200);

    // Cancelled in a block that a reorg then replaces: open again, with its volume.
    let before_cancel = m.anvil("evm_snapshot", json!([])).await;
    m.owner.cancel_order(&order).await.unwrap();
    assert_eq!(m.await_status(hash, "canceled").await["status"], "canceled");
    assert!(m.revert(before_cancel).await);
    m.anvil("anvil_mine", json!(["0x3"])).await;
    let shown = m.await_status(hash, "open").await;
    assert_eq!(shown["status"], "open", "{shown}");
    assert_eq!(shown["remaining"], 4);
    assert_eq!(m.book("").await["count"], 1);

    // Transferred away in a replaced block: dead, then the owner's again.
    let before_transfer = m.anvil("evm_snapshot", json!([])).await;
    m.reconnected_owner()
        .await
        .transfer_asset(
            confide_chain::AssetKind::Dataset,
            m.dataset,
            signer("requester").address(),
        )
        .await
        .unwrap();
    assert_eq!(m.await_status(hash, "dead").await["status"], "dead");
    assert!(m.revert(before_transfer).await);
    m.anvil("anvil_mine", json!(["0x2"])).await;
    assert_eq!(m.await_status(hash, "open").await["status"], "open");

    // The new chain's own events still count: cancelled for good this time.
    m.reconnected_owner().await.cancel_order(&order).await.unwrap();
    assert_eq!(m.await_status(hash, "canceled").await["status"], "canceled");
    assert_eq!(m.book("").await["count"], 0);
}

fn login_header(who: &PrivateKeySigner, digest: B256) -> String {
    let signature = confide_protocol::messages::sign_digest(who, digest).unwrap();
    market::authorization(digest, &signature, who.address())
}

#[tokio::test]
async fn a_signed_login_challenge_is_a_session_and_challenges_cost_nothing_to_hold() {
    let m = start().await;
    let owner = signer("dataset-owner");
    let path = "/datasetorders?chainId=31337";
    let order = || body(&m.order(1));

    // A challenge signed once opens a session; the header then serves many requests.
    let digest = m.challenge(owner.address()).await.unwrap();
    let header = login_header(&owner, digest);
    assert_eq!(m.post(path, Some(&header), order()).await.0, 200);
    assert_eq!(m.post(path, Some(&header), order()).await.0, 200, "the same session");

    // Someone else's signature over the owner's challenge, the owner's signature over a
    // digest that is no challenge, and a header naming another address are refused.
    let intruder = signer("requester");
    let parts: Vec<String> = login_header(&intruder, digest).split('_').map(str::to_owned).collect();
    let forged = format!("{}_{}_{}", parts[0], parts[1], owner.address());
    assert_eq!(m.post(path, Some(&forged), order()).await.0, 401);
    let not_a_challenge = login_header(&owner, B256::repeat_byte(9));
    assert_eq!(m.post(path, Some(&not_a_challenge), order()).await.0, 401);
    let parts: Vec<&str> = header.split('_').collect();
    let renamed = format!("{}_{}_{}", parts[0], parts[1], intruder.address());
    assert_eq!(m.post(path, Some(&renamed), order()).await.0, 401);

    // Challenges are derived, not stored: a flood of strangers asking for them is answered
    // and holds nothing, and the owner's own challenge still works afterwards.
    for _ in 0..500 {
        let stranger = PrivateKeySigner::random();
        assert!(m.challenge(stranger.address()).await.is_ok());
    }
    let again = m.challenge(owner.address()).await.unwrap();
    assert_eq!(again, digest, "one challenge per address and window");
    let fresh = login_header(&owner, again);
    assert_eq!(m.post(path, Some(&fresh), order()).await.0, 200);
}

/// Several markets on one Postgres, as behind a load balancer: a login made on one serves
/// on the other, a publication accepted by one is listed by all, the same order sent to
/// both at once is stored once, every replica's event stream sees every change once, and
/// one replica follows the chain at a time, relieved within seconds when it dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_on_one_postgres_share_book_logins_and_events_and_one_follows() {
    let postgres = TempPostgres::start("replicas");
    let a = start_on(&postgres.url, None).await;
    // A holds the follower lease: it started first.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let b = serve_replica(&postgres.url, &a.node.url, a.owner.deployment.hub).await;
    let owner = signer("dataset-owner");
    let path = "/datasetorders?chainId=31337";

    // B's event stream, read from now on.
    let events = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let (events, url) = (events.clone(), b.url.clone());
        tokio::spawn(async move {
            let mut response = reqwest::get(format!("{url}/events")).await.unwrap();
            while let Ok(Some(chunk)) = response.chunk().await {
                events.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk));
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // Logged in on A, publishing on B; listed by both.
    let header = a.login(&owner).await;
    let first = a.order(5);
    let hash = first.hash(&a.owner.domain());
    let on_b = Api { url: b.url.clone() };
    assert_eq!(on_b.post(path, Some(&header), body(&first)).await.0, 200);
    assert_eq!(a.one(hash).await["orderHash"], json!(hash), "listed by A");

    // One order sent to both at once: stored once, the other answered as a duplicate.
    let second = a.order(6);
    let second_hash = second.hash(&a.owner.domain());
    let (left, right) = tokio::join!(
        a.post(path, Some(&header), body(&second)),
        on_b.post(path, Some(&header), body(&second))
    );
    let mut statuses = [left.0, right.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{left:?} {right:?}");
    let book = on_b.book("").await;
    let listed = book["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["orderHash"] == json!(second_hash))
        .count();
    assert_eq!(listed, 1, "{book}");

    // A chain change, applied by the one follower: announced once on B's stream.
    a.owner.cancel_order(&first).await.unwrap();
    assert_eq!(on_b.await_status(hash, "canceled").await["status"], "canceled");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    {
        let seen = events.lock().unwrap().clone();
        let count = |needle: &str| seen.lines().filter(|l| l.contains(needle)).count();
        assert_eq!(
            count(&format!("{hash}")),
            2,
            "published (on B), then canceled, once each: {seen}"
        );
        assert_eq!(count(&format!("{second_hash}")), 1, "published once: {seen}");
    }

    // The follower's replica dies: B takes over within the lease and follows on.
    a.replica.kill();
    let third = a.order(7);
    let third_hash = third.hash(&a.owner.domain());
    assert_eq!(on_b.post(path, Some(&header), body(&third)).await.0, 200);
    a.owner.cancel_order(&third).await.unwrap();
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = on_b.one(third_hash).await;
        if shown["status"] == "canceled" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(shown["status"], "canceled", "followed by B after A died: {shown}");
    reader.abort();
}

/// Past the count's cap (1000), `count` says "at least" and a full page still points to the
/// next one: a book of 1100 orders reads to its end.
#[tokio::test]
async fn a_book_past_the_count_cap_pages_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let m = start_on(&url, None).await;
    let db = confide_market::db::MarketDb::open(&url).await.unwrap();
    let subject = m.dataset.to_string().to_lowercase();
    for i in 0..1100 {
        let row = confide_market::db::StoredOrder {
            hash: format!("0x{:064x}", i + 1),
            kind: "datasetorder".into(),
            subject: subject.clone(),
            signer: subject.clone(),
            price: i,
            tag_bits: 1,
            category: 0,
            volume: 1,
            remaining: 1,
            status: confide_market::db::OrderStatus::Open,
            app: format!("0x{:040x}", 0),
            dataset: subject.clone(),
            workerpool: format!("0x{:040x}", 0),
            requester: format!("0x{:040x}", 0),
            order_json: "{}".into(),
            published_ms: i,
        };
        assert!(db.insert(&row, 31337).await.unwrap());
    }
    let mut seen = std::collections::HashSet::new();
    let mut page = 0;
    loop {
        let book = m
            .book(&format!("&dataset={}&pageSize=500&pageIndex={page}", m.dataset))
            .await;
        assert_eq!(book["countIsCapped"], true, "{page}");
        for order in book["orders"].as_array().unwrap() {
            assert!(seen.insert(order["orderHash"].to_string()), "listed twice");
        }
        match book.get("nextPage") {
            Some(next) => page = next.as_i64().unwrap(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 1100, "every order read, past the cap");
    drop(dir);
}

#[tokio::test]
async fn page_numbers_out_of_range_are_refused_not_wrapped() {
    let m = start().await;
    for query in [
        "&pageIndex=9223372036854775807",
        "&pageIndex=-1",
        "&pageIndex=1000001&pageSize=1000",
        "&pageIndex=99999999999999999999",
    ] {
        let response = reqwest::get(format!("{}/datasetorders?chainId=31337{query}", m.url))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{query}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["code"], "BAD_REQUEST", "{query}: {answer}");
    }
    let last = m.book("&pageIndex=1000000&pageSize=1000").await;
    assert_eq!(last["count"], 0, "{last}");
    assert!(last.get("nextPage").is_none());
}

#[tokio::test]
async fn orders_are_listed_only_for_assets_of_pocos_registry_of_their_kind() {
    let m = start().await;
    let path = "/datasetorders?chainId=31337";
    let order_for = |dataset, who: &str| {
        let mut order = DatasetOrder {
            dataset,
            volume: U256::from(1),
            tag: Tag::TEE,
            ..Default::default()
        };
        order.refresh_salt();
        order.sign(&signer(who), &m.owner.domain()).unwrap();
        order
    };
    // The hub answers `owner()` with its deployer, who signs a "dataset order" for it.
    let hub = m.owner.deployment.hub;
    let deployer = m.login(&signer("deployer")).await;
    let (status, answer) = m.post(path, Some(&deployer), body(&order_for(hub, "deployer"))).await;
    assert_eq!((status, &answer["code"]), (400, &json!("UNKNOWN_ASSET")), "{answer}");
    // A registered workerpool is no dataset, even once its owner is known to the market.
    let pool_owner = Poco::new(
        Connection::connect(&m.node.url, Some(signer("workerpool-owner")))
            .await
            .unwrap(),
        hub,
    )
    .await
    .unwrap();
    let pool = pool_owner.create_workerpool("not a dataset").await.unwrap();
    let login = m.login(&signer("workerpool-owner")).await;
    let mut pool_order = confide_protocol::order::WorkerpoolOrder {
        workerpool: pool,
        volume: U256::from(1),
        ..Default::default()
    };
    pool_order.refresh_salt();
    pool_order.sign(&signer("workerpool-owner"), &m.owner.domain()).unwrap();
    let workerpool_path = "/workerpoolorders?chainId=31337";
    assert_eq!(m.post(workerpool_path, Some(&login), body(&pool_order)).await.0, 200);
    let (status, answer) = m
        .post(path, Some(&login), body(&order_for(pool, "workerpool-owner")))
        .await;
    assert_eq!((status, &answer["code"]), (400, &json!("UNKNOWN_ASSET")), "{answer}");
    assert_eq!(m.book("").await["count"], 0);
}

/// A client of PoCo as one of the dev accounts, on its own connection.
async fn poco_as(m: &Market, role: &str) -> Poco {
    let connection = Connection::connect(&m.node.url, Some(signer(role))).await.unwrap();
    Poco::new(connection, m.owner.deployment.hub).await.unwrap()
}

/// Waits up to ten seconds for `path` to answer something `done` accepts.
async fn await_answer(m: &Market, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = m.get(path).await;
        if done(&shown) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    shown
}

#[tokio::test]
async fn the_explorer_api_reads_assets_deals_and_tasks_from_the_chain_and_refuses_bad_ids() {
    explores(start().await).await;
}

#[tokio::test]
async fn on_postgres_the_explorer_api_follows_deals_and_tasks() {
    let postgres = TempPostgres::start("explorer");
    explores(start_on(&postgres.url, None).await).await;
}

async fn explores(m: Market) {
    use confide_protocol::order::{AppOrder, WorkerpoolOrder};

    // Bad identifiers are refused with codes before any chain read.
    let (status, refused) = m.call(reqwest::Method::GET, "/assets/0x12", None, String::new()).await;
    assert_eq!((status, refused["code"].as_str()), (400, Some("BAD_REQUEST")));
    for path in ["/deals/0x1234", "/tasks/not-an-id"] {
        let (status, refused) = m.call(reqwest::Method::GET, path, None, String::new()).await;
        assert_eq!((status, refused["code"].as_str()), (400, Some("BAD_REQUEST")), "{path}");
    }
    let unknown = B256::repeat_byte(0x42);
    for path in [
        format!("/deals/{unknown}"),
        format!("/tasks/{unknown}"),
        format!("/assets/{}", m.owner.deployment.token),
    ] {
        let (status, refused) = m.call(reqwest::Method::GET, &path, None, String::new()).await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (404, Some("NOT_ON_CHAIN")),
            "{path}: {refused}"
        );
    }
    let info = m.get("/info").await;
    assert_eq!(
        (info["chainId"].as_u64(), info["chain"]["reachable"].as_bool()),
        (Some(31337), Some(true))
    );

    // A dataset reads as the registry has it.
    let shown = m.get(&format!("/assets/{}", m.dataset)).await;
    assert_eq!(shown["asset"]["kind"], "dataset");
    assert_eq!(shown["asset"]["name"], "d");
    assert_eq!(shown["asset"]["multiaddr"], "https://example.org/d.enc");
    assert_eq!(shown["deals"], json!([]));

    // A free deal between an app, the dataset, a workerpool and a requester.
    let developer = poco_as(&m, "app-developer").await;
    let app = developer
        .create_app(
            "explorer-app",
            "DOCKER",
            b"https://example.org/a.wasm",
            B256::repeat_byte(5),
            b"",
        )
        .await
        .unwrap();
    let pool_owner = poco_as(&m, "workerpool-owner").await;
    let pool = pool_owner.create_workerpool("explorer pool").await.unwrap();
    let domain = m.owner.domain();
    let mut app_order = AppOrder {
        app,
        volume: U256::from(3),
        tag: Tag::TEE,
        ..Default::default()
    };
    app_order.refresh_salt();
    app_order.sign(&signer("app-developer"), &domain).unwrap();
    let mut dataset_order = m.order(3);
    dataset_order.datasetprice = U256::ZERO;
    dataset_order.refresh_salt();
    dataset_order.sign(&signer("dataset-owner"), &domain).unwrap();
    let mut pool_order = WorkerpoolOrder {
        workerpool: pool,
        volume: U256::from(3),
        tag: Tag::TEE_TDX,
        trust: U256::from(1),
        ..Default::default()
    };
    pool_order.refresh_salt();
    pool_order.sign(&signer("workerpool-owner"), &domain).unwrap();
    // The workerpool's frameworks come from its published orders.
    let auth = m.login(&signer("workerpool-owner")).await;
    assert_eq!(
        m.post("/workerpoolorders?chainId=31337", Some(&auth), body(&pool_order))
            .await
            .0,
        200
    );
    let mut request = RequestOrder {
        app,
        dataset: m.dataset,
        workerpool: pool,
        requester: signer("requester").address(),
        volume: U256::from(2),
        tag: Tag::TEE_TDX,
        trust: U256::from(1),
        params: r#"{"iexec_args":"<b>x</b>","iexec_result_encryption":true}"#.into(),
        ..Default::default()
    };
    request.refresh_salt();
    request.sign(&signer("requester"), &domain).unwrap();
    let before_deal = m.anvil("evm_snapshot", json!([])).await;
    let requester = poco_as(&m, "requester").await;
    let matched = requester
        .match_orders(&app_order, Some(&dataset_order), &pool_order, &request)
        .await
        .unwrap();

    // The deal page reads the chain: parties, the params as they were signed, its tasks.
    let deal = m.get(&format!("/deals/{}", matched.deal_id)).await;
    assert_eq!(deal["deal"]["app"]["address"], app.to_string().to_lowercase());
    assert_eq!(deal["deal"]["params"], request.params);
    assert_eq!(deal["deal"]["resultEncrypted"], true);
    assert_eq!(deal["deal"]["tagWords"], json!(["tee", "tdx"]));
    assert_eq!(deal["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(deal["tasks"][0]["status"], "UNSET");
    // The follower records the deal for the assets' pages.
    let dataset_path = format!("/assets/{}", m.dataset);
    let listed = await_answer(&m, &dataset_path, |v| {
        v["deals"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    assert_eq!(listed["deals"][0]["dealId"], matched.deal_id.to_string());
    // A task not started yet is found by its id all the same, through its deal.
    let second = confide_protocol::task_id(matched.deal_id, U256::from(1));
    let unstarted = m.get(&format!("/tasks/{second}")).await;
    assert_eq!(unstarted["task"]["status"], "UNSET", "{unstarted}");
    assert_eq!(unstarted["task"]["dealId"], matched.deal_id.to_string());
    assert_eq!(unstarted["task"]["index"], "1");

    // An initialized task shows on its page and counts as running for its workerpool.
    let task = pool_owner.initialize_task(matched.deal_id, U256::ZERO).await.unwrap();
    let shown = m.get(&format!("/tasks/{task}")).await;
    assert_eq!(shown["task"]["status"], "ACTIVE");
    assert_eq!(shown["task"]["result"], Value::Null);
    assert_eq!(
        shown["schedulerStep"],
        Value::Null,
        "no scheduler was named for this pool"
    );
    let pool_path = format!("/assets/{pool}");
    let counted = await_answer(&m, &pool_path, |v| v["workerpool"]["tasks"]["running"] == 1).await;
    let deal_path = format!("/deals/{}", matched.deal_id);
    let statuses = await_answer(&m, &deal_path, |v| v["tasks"][0]["status"] == "ACTIVE").await;
    assert_eq!(statuses["tasks"][0]["status"], "ACTIVE", "{statuses}");
    assert_eq!(statuses["tasks"][1]["status"], "UNSET");
    assert_eq!(counted["workerpool"]["frameworks"], json!(["tdx"]), "{counted}");
    assert_eq!(counted["asset"]["name"], "explorer pool");

    // A reorg that takes the deal away takes it off the assets' pages too.
    assert!(m.revert(before_deal).await);
    m.anvil("anvil_mine", json!(["0x3"])).await;
    let forgotten = await_answer(&m, &dataset_path, |v| v["deals"] == json!([])).await;
    assert_eq!(forgotten["deals"], json!([]), "{forgotten}");
    let recounted = await_answer(&m, &pool_path, |v| v["workerpool"]["tasks"]["running"] == 0).await;
    assert_eq!(recounted["workerpool"]["tasks"]["running"], 0);
    let (status, gone) = m
        .call(reqwest::Method::GET, &format!("/tasks/{second}"), None, String::new())
        .await;
    assert_eq!((status, gone["code"].as_str()), (404, Some("NOT_ON_CHAIN")), "{gone}");
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_content_security_policy() {
    let m = start().await;
    for (path, content_type) in [
        ("/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let response = reqwest::get(format!("{}{path}", m.url)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(content_type), "{path}");
        let csp = header("content-security-policy");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(header("x-content-type-options"), "nosniff");
    }
    // The page never parses data as markup: no innerHTML or its relatives in the script.
    let script = reqwest::get(format!("{}/ui/app.js", m.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!script.contains(sink), "the page's script uses {sink}");
    }
}

/// A client (here an address of the loopback range) past its rates is answered 429 at
/// once, before any work; other clients go on; an exempt address is never limited; event
/// streams are capped per client and in all.
#[tokio::test]
async fn each_client_has_its_rates_and_a_few_event_streams() {
    let chain = TestChain::start().await;
    let reader = Poco::new(Connection::connect(chain.url(), None).await.unwrap(), chain.hub())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let db = confide_market::db::MarketDb::open(&url).await.unwrap();
    let n = |n: u32| std::num::NonZeroU32::new(n).unwrap();
    let limits = confide_market::limits::ClientLimits {
        reads_per_second: n(1),
        reads_burst: n(5),
        writes_per_second: n(1),
        writes_burst: n(2),
        event_streams: 3,
        event_streams_per_client: 2,
        exempt: vec!["127.0.0.3".parse().unwrap()],
    };
    let state = confide_market::MarketState::with_client_limits(confide_market::MarketState::new(db, reader), limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = confide_market::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let status = |client: reqwest::Client, path: &str| {
        let url = format!("{base}{path}");
        async move { client.get(url).send().await.unwrap() }
    };

    let flooder = from("127.0.0.2");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            status(flooder.clone(), "/apporders?chainId=31337")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429, 429, 429],
        "a burst of 5, then refused"
    );
    let refused = status(flooder.clone(), "/info").await;
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "RATE_LIMITED", "iExec's market error shape");
    let writes = from("127.0.0.6");
    let mut write_statuses = Vec::new();
    for _ in 0..3 {
        let answer = writes
            .post(format!("{base}/apporders"))
            .body("{}")
            .send()
            .await
            .unwrap();
        write_statuses.push(answer.status().as_u16());
    }
    assert_eq!(
        write_statuses[2], 429,
        "writes have their own, smaller burst: {write_statuses:?}"
    );

    let honest = from("127.0.0.4");
    assert_eq!(status(honest.clone(), "/apporders?chainId=31337").await.status(), 200);
    let exempt = from("127.0.0.3");
    for _ in 0..12 {
        assert_eq!(status(exempt.clone(), "/health").await.status(), 200);
    }

    // Two streams a client, three in all.
    let first = status(honest.clone(), "/events").await;
    let second = status(honest.clone(), "/events").await;
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
    assert_eq!(
        status(honest.clone(), "/events").await.status(),
        429,
        "a third of one client"
    );
    let other = from("127.0.0.5");
    let third = status(other.clone(), "/events").await;
    assert_eq!(third.status(), 200);
    assert_eq!(status(other, "/events").await.status(), 429, "a fourth in all");
    drop((first, second, third));
}

/// A wallet's open orders of one kind are capped: past the cap a publish is refused, and
/// the book keeps what it had.
#[tokio::test]
async fn one_wallet_cannot_fill_the_book() {
    let m = start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("capped.db").display());
    let hub = m.owner.deployment.hub;
    let capped = serve_configured(&url, &m.node.url, hub, |state| {
        confide_market::MarketState::with_max_open_orders(state, 2)
    })
    .await;
    let api = Api {
        url: capped.url.clone(),
    };
    let owner = signer("dataset-owner");
    let login = api.login(&owner).await;
    let path = "/datasetorders?chainId=31337";
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, answer) = api.post(path, Some(&login), body(&m.order(1))).await;
        statuses.push((status, answer["code"].as_str().unwrap_or_default().to_owned()));
    }
    assert_eq!(
        statuses,
        [
            (200, String::new()),
            (200, String::new()),
            (429, "TOO_MANY_ORDERS".into())
        ]
    );
    capped.kill();
}
