//! A real anvil with the real PoCo, and the dev accounts' clients.

#![allow(dead_code)]

use confide_chain::{Address, B256, Connection, Deployment, Poco, U256};
use confide_devstack::{AnvilNode, DEV_ACCOUNTS};

pub(crate) struct World {
    pub node: AnvilNode,
    pub deployment: Deployment,
    pub app: Address,
    pub dataset: Address,
    pub workerpool: Address,
}

pub(crate) async fn client(world_url: &str, hub: Address, role: &str) -> Poco {
    let account = DEV_ACCOUNTS.iter().find(|a| a.role == role).expect("known role");
    let connection = Connection::connect(world_url, Some(account.signer()))
        .await
        .expect("connect");
    Poco::new(connection, hub).await.expect("PoCo is deployed")
}

pub(crate) fn address_of(role: &str) -> Address {
    DEV_ACCOUNTS
        .iter()
        .find(|a| a.role == role)
        .expect("known role")
        .signer()
        .address()
}

impl World {
    /// A fresh chain with one app, one dataset and one workerpool registered, and RLC in
    /// the escrow of the requester and the workerpool owner.
    pub(crate) async fn new() -> World {
        let (node, deployment) = confide_testkit::ephemeral_chain().await.expect("dev chain");
        let hub = deployment.hub;
        let checksum = B256::repeat_byte(0x11);
        let app = client(&node.url, hub, "app-developer")
            .await
            .create_app("echo", "DOCKER", b"https://example.org/app.wasm", checksum, b"")
            .await
            .expect("app");
        let dataset = client(&node.url, hub, "dataset-owner")
            .await
            .create_dataset("data", b"https://example.org/data.enc", checksum)
            .await
            .expect("dataset");
        let pool_owner = client(&node.url, hub, "workerpool-owner").await;
        let workerpool = pool_owner.create_workerpool("test pool").await.expect("workerpool");
        let escrow = U256::from(100_000u64) * U256::from(1_000_000_000u64);
        pool_owner.deposit(escrow).await.expect("pool owner deposit");
        client(&node.url, hub, "requester")
            .await
            .deposit(escrow)
            .await
            .expect("requester deposit");
        World {
            node,
            deployment,
            app,
            dataset,
            workerpool,
        }
    }

    pub(crate) async fn client(&self, role: &str) -> Poco {
        client(&self.node.url, self.deployment.hub, role).await
    }
}
