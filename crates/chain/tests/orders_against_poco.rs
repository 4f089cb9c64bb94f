//! Orders signed in Rust, judged by the deployed PoCo: its own EIP-712 hashing, signature
//! checks and deal id derivation decide, not our expectations.

mod common;

use common::{World, address_of};
use confide_chain::{Address, B256, Poco, U256};
use confide_devstack::DEV_ACCOUNTS;
use confide_protocol::order::{AppOrder, DatasetOrder, Order, RequestOrder, WorkerpoolOrder};
use confide_protocol::{Tag, deal_id};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Four orders that PoCo should match, before signing.
#[derive(Clone, Debug)]
struct Quad {
    app: AppOrder,
    dataset: DatasetOrder,
    workerpool: WorkerpoolOrder,
    request: RequestOrder,
}

fn tag_strategy(tee: bool) -> impl Strategy<Value = Tag> {
    let frameworks = if tee {
        prop_oneof![
            Just(Tag::TEE),
            Just(Tag::TEE_TDX),
            Just(Tag::TEE_SCONE),
            Just(Tag::TEE_GRAMINE)
        ]
        .boxed()
    } else {
        Just(Tag::NONE).boxed()
    };
    (frameworks, any::<bool>()).prop_map(|(tag, gpu)| if gpu { tag.union("gpu".parse().unwrap()) } else { tag })
}

fn restriction(allowed: Address) -> impl Strategy<Value = Address> {
    prop_oneof![Just(Address::ZERO), Just(allowed)]
}

/// Random but matchable orders: prices under the request's maxima, restrictions either
/// open or naming the right party, tags PoCo accepts, any params and salts. PoCo 6.1.0
/// keeps the dataset's framework bits in the deal tag, so the pool must cover them too.
fn quad_strategy(app: Address, dataset: Address, workerpool: Address) -> impl Strategy<Value = Quad> {
    let requester = address_of("requester");
    any::<bool>().prop_flat_map(move |tee| {
        (
            (
                tag_strategy(tee),
                tag_strategy(tee),
                prop_oneof![Just(Tag::NONE), tag_strategy(tee)],
                any::<bool>(),
            ),
            (0u64..1000, 0u64..1000, 0u64..1000, 0u64..500, 0u64..500, 0u64..500),
            (1u64..1000, 1u64..1000, 1u64..1000, 1u64..1000),
            (0u64..5, 0u64..10, 0u64..10),
            (
                restriction(dataset),
                restriction(workerpool),
                restriction(requester),
                restriction(app),
            ),
            (
                restriction(workerpool),
                restriction(requester),
                restriction(app),
                restriction(dataset),
            ),
            (restriction(requester), restriction(workerpool)),
            (
                any::<[u8; 32]>(),
                any::<[u8; 32]>(),
                any::<[u8; 32]>(),
                any::<[u8; 32]>(),
            ),
            ("\\PC{0,60}", any::<[u8; 20]>()),
        )
            .prop_map(
                move |(tags, prices, volumes, numbers, r1, r2, r3, salts, (params, beneficiary))| {
                    let (app_tag, dataset_tag, request_tag, extra_gpu) = tags;
                    let mut pool_tag = app_tag.union(dataset_tag).union(request_tag);
                    if extra_gpu {
                        pool_tag = pool_tag.union("gpu".parse().unwrap());
                    }
                    let (category, pool_trust, trust_below) = numbers;
                    Quad {
                        app: AppOrder {
                            app,
                            appprice: U256::from(prices.0),
                            volume: U256::from(volumes.0),
                            tag: app_tag,
                            datasetrestrict: r1.0,
                            workerpoolrestrict: r1.1,
                            requesterrestrict: r1.2,
                            salt: B256::from(salts.0),
                            ..Default::default()
                        },
                        dataset: DatasetOrder {
                            dataset,
                            datasetprice: U256::from(prices.1),
                            volume: U256::from(volumes.1),
                            tag: dataset_tag,
                            apprestrict: r1.3,
                            workerpoolrestrict: r2.0,
                            requesterrestrict: r2.1,
                            salt: B256::from(salts.1),
                            ..Default::default()
                        },
                        workerpool: WorkerpoolOrder {
                            workerpool,
                            workerpoolprice: U256::from(prices.2),
                            volume: U256::from(volumes.2),
                            tag: pool_tag,
                            category: U256::from(category),
                            trust: U256::from(pool_trust),
                            apprestrict: r2.2,
                            datasetrestrict: r2.3,
                            requesterrestrict: r3.0,
                            salt: B256::from(salts.2),
                            ..Default::default()
                        },
                        request: RequestOrder {
                            app,
                            appmaxprice: U256::from(prices.0 + prices.3),
                            dataset,
                            datasetmaxprice: U256::from(prices.1 + prices.4),
                            workerpool: r3.1,
                            workerpoolmaxprice: U256::from(prices.2 + prices.5),
                            requester,
                            volume: U256::from(volumes.3),
                            tag: request_tag,
                            category: U256::from(category),
                            trust: U256::from(pool_trust.min(trust_below)),
                            beneficiary: Address::from(beneficiary),
                            callback: Address::ZERO,
                            params,
                            salt: B256::from(salts.3),
                            ..Default::default()
                        },
                    }
                },
            )
    })
}

fn signer(role: &str) -> confide_chain::PrivateKeySigner {
    DEV_ACCOUNTS.iter().find(|a| a.role == role).unwrap().signer()
}

fn sign_all(quad: &mut Quad, poco: &Poco) {
    let domain = poco.domain();
    quad.app.sign(&signer("app-developer"), &domain).unwrap();
    quad.dataset.sign(&signer("dataset-owner"), &domain).unwrap();
    quad.workerpool.sign(&signer("workerpool-owner"), &domain).unwrap();
    quad.request.sign(&signer("requester"), &domain).unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn poco_accepts_every_order_signed_in_rust_and_derives_the_same_deal_id() {
    let rt = runtime();
    let world = rt.block_on(World::new());
    let requester = rt.block_on(world.client("requester"));
    let mut runner = TestRunner::new(Config {
        cases: 100,
        ..Config::default()
    });
    let strategy = quad_strategy(world.app, world.dataset, world.workerpool);
    runner
        .run(&strategy, |mut quad| {
            sign_all(&mut quad, &requester);
            let domain = requester.domain();
            rt.block_on(async {
                let simulated = requester
                    .simulate_match(&quad.app, Some(&quad.dataset), &quad.workerpool, &quad.request)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("PoCo refused valid orders: {e}")))?;
                prop_assert_eq!(simulated, deal_id(quad.request.hash(&domain), U256::ZERO));
                // PoCo's own signature check on our digest of each order.
                for (owner, hash, sign) in [
                    (address_of("app-developer"), quad.app.hash(&domain), &quad.app.sign),
                    (
                        address_of("dataset-owner"),
                        quad.dataset.hash(&domain),
                        &quad.dataset.sign,
                    ),
                    (
                        address_of("workerpool-owner"),
                        quad.workerpool.hash(&domain),
                        &quad.workerpool.sign,
                    ),
                    (address_of("requester"), quad.request.hash(&domain), &quad.request.sign),
                ] {
                    prop_assert!(requester.verify_signature(owner, hash, sign).await.unwrap());
                }
                Ok(())
            })
        })
        .unwrap();
}

/// Which order of the four a case tampers with, and how.
#[derive(Clone, Copy, Debug)]
enum Tamper {
    SaltAfterSigning(usize),
    SignedByAnother(usize),
}

#[test]
fn poco_rejects_orders_changed_after_signing_or_signed_by_someone_else() {
    let rt = runtime();
    let world = rt.block_on(World::new());
    let requester = rt.block_on(world.client("requester"));
    let mut runner = TestRunner::new(Config {
        cases: 100,
        ..Config::default()
    });
    let tamper = prop_oneof![
        (0usize..4).prop_map(Tamper::SaltAfterSigning),
        (0usize..4).prop_map(Tamper::SignedByAnother)
    ];
    let strategy = (quad_strategy(world.app, world.dataset, world.workerpool), tamper);
    runner
        .run(&strategy, |(mut quad, tamper)| {
            sign_all(&mut quad, &requester);
            let domain = requester.domain();
            let intruder = signer("spare");
            let which = match tamper {
                Tamper::SaltAfterSigning(i) | Tamper::SignedByAnother(i) => i,
            };
            let resign = matches!(tamper, Tamper::SignedByAnother(_));
            match which {
                0 if resign => quad.app.sign(&intruder, &domain).unwrap(),
                0 => quad.app.salt.0[0] ^= 1,
                1 if resign => quad.dataset.sign(&intruder, &domain).unwrap(),
                1 => quad.dataset.salt.0[0] ^= 1,
                2 if resign => quad.workerpool.sign(&intruder, &domain).unwrap(),
                2 => quad.workerpool.salt.0[0] ^= 1,
                _ if resign => quad.request.sign(&intruder, &domain).unwrap(),
                _ => quad.request.salt.0[0] ^= 1,
            }
            let expected = ["0x21", "0x31", "0x41", "0x50"][which];
            rt.block_on(async {
                let error = requester
                    .simulate_match(&quad.app, Some(&quad.dataset), &quad.workerpool, &quad.request)
                    .await
                    .expect_err("PoCo must refuse a tampered order");
                let reason = error.revert_reason().unwrap_or_default().to_owned();
                prop_assert_eq!(reason, format!("iExecV5-matchOrders-{expected}"));
                prop_assert!(error.to_string().contains("signature"), "explained in words: {}", error);
                Ok(())
            })
        })
        .unwrap();
}
