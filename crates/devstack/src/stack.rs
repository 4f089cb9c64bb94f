//! `confide dev up | status | down`: one data directory holds the chain's state, the
//! deployment, the dev wallets and the files other tools read (`chain.json`, `stack.json`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use confide_chain::{Address, Connection, DeployOutcome, Deployment, Poco, U256, deploy_or_find};
use serde::{Deserialize, Serialize};

use crate::accounts::{DEV_ACCOUNTS, DEV_PASSWORD};
use crate::anvil::{AnvilNode, AnvilOptions, DEV_CHAIN_ID, free_port, is_alive, terminate};
use crate::chain_json::{ChainEntry, ChainsFile, write_json_atomically};
use crate::postgres::{Cluster, ensure_database};
use crate::{DevError, deps};

/// RLC each dev account holds in its wallet after `dev up`: 1,000,000 RLC.
pub const DEV_RLC_PER_ACCOUNT: u64 = 1_000_000 * 1_000_000_000;
/// The name of the dev chain in `chain.json`.
pub const DEV_CHAIN_NAME: &str = "dev";

/// What `dev up` is asked to run: the options of `confide dev up`, plus the binary that
/// starts the services (none by default, so only the chain comes up).
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// Port of the local anvil node.
    pub port: u16,
    /// The chain id of a new anvil chain ([`DEV_CHAIN_ID`] when `None`); a chain that
    /// exists keeps its own, and asking for another is refused.
    pub chain_id: Option<u64>,
    /// Use this node instead of starting anvil.
    pub rpc_url: Option<String>,
    /// The `confide` binary that runs the services (SMS); none are started without it.
    pub services_binary: Option<PathBuf>,
    /// Port of the SMS.
    pub sms_port: u16,
    /// Port of the content store.
    pub store_port: u16,
    /// Port of the market.
    pub market_port: u16,
    /// Port of the dev workerpool's scheduler.
    pub scheduler_port: u16,
    /// Port of the first worker's /health (the next ones count up).
    pub worker_port: u16,
    /// Simulation-TEE workers to run (at most [`MAX_DEV_WORKERS`]).
    pub workers: usize,
    /// A task goes to another worker when its worker is silent this long.
    pub lease_seconds: u64,
    /// Let any wallet work for the dev pool, as a public pool would (default: only the
    /// dev workers' wallets, which the pool then trusts with giving a task up).
    pub any_worker: bool,
    /// Processes per service (SMS, store, market, scheduler; at most [`MAX_REPLICAS`]):
    /// more than one puts the SMS, store and market behind a front each, and the
    /// services on Postgres.
    pub replicas: usize,
    /// The Postgres server whose databases the services use (default with replicas: a
    /// cluster the stack runs itself). Never written to disk: it may hold a password.
    pub database_url: Option<String>,
}

/// The most replicas of a service `dev up` runs.
pub const MAX_REPLICAS: usize = 4;

/// The dev accounts `worker-1` … `worker-4` are the dev workers' wallets.
pub const MAX_DEV_WORKERS: usize = 4;
const DEV_WORKER_ROLES: [&str; MAX_DEV_WORKERS] = ["worker-1", "worker-2", "worker-3", "worker-4"];
/// The description the dev workerpool is registered with.
pub const DEV_WORKERPOOL_DESCRIPTION: &str = "confide dev workerpool";

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            port: 8545,
            chain_id: None,
            rpc_url: None,
            services_binary: None,
            sms_port: 13300,
            store_port: 13400,
            market_port: 13500,
            scheduler_port: 13600,
            worker_port: 13700,
            workers: 1,
            lease_seconds: 10,
            any_worker: false,
            replicas: 1,
            database_url: None,
        }
    }
}

/// A service `dev up` started: its process and URL.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServiceEntry {
    /// The process id (of the front, when the service has replicas).
    pub pid: u32,
    /// Where it answers, `http://127.0.0.1:<port>` (the front's, when it has replicas).
    pub url: String,
    /// The replicas behind this front, when the stack runs several ([`crate::front`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ServiceEntry>,
}

/// The Postgres the services of a replicated stack share.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PostgresEntry {
    /// The cluster the stack runs itself; `None` for a server given by URL (which
    /// `dev up` must be given again to start a service).
    pub cluster: Option<Cluster>,
}

/// What `dev up` started and where, saved as `stack.json` in the data directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackState {
    /// The chain id its node reports.
    pub chain_id: u64,
    /// The chain node's JSON-RPC URL: anvil's, or the `--rpc-url` given.
    pub rpc_url: String,
    /// The anvil process `dev up` started; `None` for an external node or once stopped.
    pub anvil_pid: Option<u32>,
    /// Where PoCo lives on the chain.
    pub deployment: Deployment,
    /// The ten dev accounts, with their addresses and keystores.
    pub accounts: Vec<AccountEntry>,
    /// The folder of the dev keystores, `<data>/wallets`.
    pub wallets_dir: PathBuf,
    /// The `chain.json` written for iExec's SDK, `<data>/chain.json`.
    pub chain_json: PathBuf,
    /// Processes per service.
    #[serde(default = "one")]
    pub replicas: usize,
    /// The database server of the services, when they run on Postgres.
    #[serde(default)]
    pub postgres: Option<PostgresEntry>,
    /// The Secret Management Service, when started.
    #[serde(default)]
    pub sms: Option<ServiceEntry>,
    /// The content store, when started (iExec's chain.json has no key for it).
    #[serde(default)]
    pub store: Option<ServiceEntry>,
    /// The market, when started (`iexecGateway` in chain.json).
    #[serde(default)]
    pub market: Option<ServiceEntry>,
    /// Confide's DataProtector contract (deployed by the first dev account), through which
    /// protected data are registered; `None` for a stack made before it existed until the
    /// next `up` deploys it.
    #[serde(default)]
    pub data_protector: Option<Address>,
    /// The dev workerpool (owned by the `workerpool-owner` account).
    #[serde(default)]
    pub workerpool: Option<Address>,
    /// Its scheduler, when started.
    #[serde(default)]
    pub scheduler: Option<ServiceEntry>,
    /// More schedulers of the pool on the same database: whichever holds the scheduling
    /// lease schedules, the others stand by to take over.
    #[serde(default)]
    pub standby_schedulers: Vec<ServiceEntry>,
    /// Its simulation-TEE workers.
    #[serde(default)]
    pub workers: Vec<ServiceEntry>,
    /// Whether the dev workerpool's orders were published to the market.
    #[serde(default)]
    pub workerpool_orders_published: bool,
}

fn one() -> usize {
    1
}

/// The options iExec's DataProtector SDK takes to work against this stack, exactly as
/// `new IExecDataProtectorCore(provider, options)` reads them, plus the dev workerpool
/// (to pass to `processProtectedData`) and the node's URL.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataProtectorOptions {
    /// Confide's DataProtector contract.
    pub dataprotector_contract_address: Address,
    /// The market's GraphQL endpoint shaped like iExec's DataProtector subgraph.
    pub subgraph_url: String,
    /// The store's Kubo RPC (`/api/v0/add`).
    pub ipfs_node: String,
    /// The store, as an IPFS gateway (`/ipfs/<CID>`).
    pub ipfs_gateway: String,
    /// What the SDK hands to iExec's SDK.
    pub iexec_options: IexecOptions,
    /// The dev workerpool.
    pub workerpool: Option<Address>,
    /// The chain node's JSON-RPC URL.
    pub rpc_url: String,
}

/// iExec SDK options (`IExecConfigOptions`) naming this stack's services.
#[derive(Clone, Debug, Serialize)]
pub struct IexecOptions {
    /// PoCo's diamond.
    #[serde(rename = "hubAddress")]
    pub hub_address: Address,
    /// The SMS.
    #[serde(rename = "smsURL")]
    pub sms_url: String,
    /// The market.
    #[serde(rename = "iexecGatewayURL")]
    pub iexec_gateway_url: String,
    /// The market's GraphQL endpoint shaped like iExec's PoCo subgraph.
    #[serde(rename = "pocoSubgraphURL")]
    pub poco_subgraph_url: String,
    /// The store, as an IPFS gateway.
    #[serde(rename = "ipfsGatewayURL")]
    pub ipfs_gateway_url: String,
}

/// Where the market serves its GraphQL endpoint shaped like iExec's DataProtector subgraph.
pub const DATAPROTECTOR_SUBGRAPH_PATH: &str = "/graphql/dataprotector";
/// Where the market serves its GraphQL endpoint shaped like iExec's PoCo subgraph.
pub const POCO_SUBGRAPH_PATH: &str = "/graphql/poco";

impl StackState {
    /// The options for iExec's DataProtector SDK, once the contract, the SMS, the store
    /// and the market run.
    pub fn data_protector_options(&self) -> Option<DataProtectorOptions> {
        let (sms, store, market) = (self.sms.as_ref()?, self.store.as_ref()?, self.market.as_ref()?);
        Some(DataProtectorOptions {
            dataprotector_contract_address: self.data_protector?,
            subgraph_url: format!("{}{DATAPROTECTOR_SUBGRAPH_PATH}", market.url),
            ipfs_node: store.url.clone(),
            ipfs_gateway: store.url.clone(),
            iexec_options: IexecOptions {
                hub_address: self.deployment.hub,
                sms_url: sms.url.clone(),
                iexec_gateway_url: market.url.clone(),
                poco_subgraph_url: format!("{}{POCO_SUBGRAPH_PATH}", market.url),
                ipfs_gateway_url: store.url.clone(),
            },
            workerpool: self.workerpool,
            rpc_url: self.rpc_url.clone(),
        })
    }

    /// Every scheduler of the dev pool, the first started first.
    pub fn schedulers(&self) -> Vec<ServiceEntry> {
        self.scheduler.iter().chain(&self.standby_schedulers).cloned().collect()
    }

    /// Every process of the services: replicas and their fronts, schedulers, workers.
    fn service_processes(&self) -> Vec<ServiceEntry> {
        let mut processes: Vec<ServiceEntry> = self.workers.clone();
        processes.extend(self.schedulers());
        for service in [&self.sms, &self.store, &self.market].into_iter().flatten() {
            processes.push(service.clone());
            processes.extend(service.replicas.iter().cloned());
        }
        processes
    }
}

/// A dev account as `dev up` left it: a keystore written for it in the wallets folder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountEntry {
    /// Its role, as in [`DEV_ACCOUNTS`].
    pub role: String,
    /// The account's Ethereum address.
    pub address: Address,
    /// Its keystore file (v3, password [`DEV_PASSWORD`]).
    pub wallet: PathBuf,
}

/// A dev stack rooted in one data directory.
pub struct DevStack {
    /// The folder holding all of it: the chain's state, `stack.json`, `chain.json`, the
    /// wallets, and the services' data and logs.
    pub data_dir: PathBuf,
    /// Processes the current `up` started: stopped again when it fails half-way, so a
    /// failed `up` leaves nothing running that `dev down` would not know of.
    started: std::sync::Mutex<Vec<u32>>,
    /// The Postgres cluster the current `up` started, stopped likewise.
    started_cluster: std::sync::Mutex<Option<Cluster>>,
}

/// What `dev status` reports.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackStatus {
    /// The stack's data directory.
    pub data_dir: PathBuf,
    /// Whether the chain node answered.
    pub running: bool,
    /// The chain's latest block number; `None` when its node did not answer.
    pub block_number: Option<u64>,
    /// What `stack.json` says `dev up` started.
    pub state: StackState,
}

impl DevStack {
    /// The stack kept in `data_dir`; nothing is read or started until it is asked to.
    pub fn new(data_dir: impl Into<PathBuf>) -> DevStack {
        DevStack {
            data_dir: data_dir.into(),
            started: std::sync::Mutex::new(Vec::new()),
            started_cluster: std::sync::Mutex::new(None),
        }
    }

    /// `$CONFIDE_DEV_DIR`, else `~/.confide/dev`.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("CONFIDE_DEV_DIR") {
            return PathBuf::from(dir);
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        home.join(".confide/dev")
    }

    fn state_path(&self) -> PathBuf {
        self.data_dir.join("stack.json")
    }

    /// What `stack.json` records; [`DevError::NotRunning`] when `dev up` never ran here.
    pub fn read_state(&self) -> Result<StackState, DevError> {
        let path = self.state_path();
        if !path.exists() {
            return Err(DevError::NotRunning(self.data_dir.clone()));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| DevError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| DevError::io(&path, e))
    }

    /// Brings the stack up, or checks and completes one already up. Each step is reported
    /// through `progress`.
    pub async fn up(&self, options: &UpOptions, progress: impl FnMut(&str)) -> Result<StackState, DevError> {
        self.started.lock().expect("started list").clear();
        let outcome = self.bring_up(options, progress).await;
        let started = std::mem::take(&mut *self.started.lock().expect("started list"));
        let started_cluster = self.started_cluster.lock().expect("started cluster").take();
        if outcome.is_err() {
            // Services last, the chain they use first to go would make them log errors.
            for pid in started.into_iter().rev().filter(|pid| is_alive(*pid)) {
                terminate(pid, Duration::from_secs(15));
            }
            if let Some(cluster) = started_cluster {
                cluster.stop();
            }
        }
        outcome
    }

    async fn bring_up(&self, options: &UpOptions, mut progress: impl FnMut(&str)) -> Result<StackState, DevError> {
        std::fs::create_dir_all(&self.data_dir).map_err(|e| DevError::io(&self.data_dir, e))?;
        let previous = self.read_state().ok();
        let (rpc_url, anvil_pid) = self.ensure_chain(options, previous.as_ref(), &mut progress).await?;
        let connection = Connection::connect(&rpc_url, Some(DEV_ACCOUNTS[0].signer())).await?;
        if let Some(asked) = options.chain_id.filter(|asked| *asked != connection.chain_id) {
            return Err(DevError::ChainIdChange {
                existing: connection.chain_id,
                asked,
            });
        }
        let deployment = ensure_poco(&connection, previous.as_ref(), &mut progress).await?;
        let data_protector = ensure_data_protector(&connection, &deployment, previous.as_ref(), &mut progress).await?;
        let wallets_dir = self.data_dir.join("wallets");
        let accounts = write_dev_wallets(&wallets_dir)?;
        let replicas = replica_count(options, previous.as_ref(), &mut progress);
        let (postgres, databases) = self
            .ensure_databases(options, replicas, previous.as_ref(), &mut progress)
            .await?;
        // Registered before the market starts, so the market knows its scheduler.
        let workerpool = dev_workerpool(&rpc_url, deployment.hub, &mut progress).await?;
        let plan = Plan {
            options,
            previous: previous.as_ref(),
            replicas,
            databases,
            rpc_url: rpc_url.clone(),
            hub: deployment.hub.to_string(),
            workerpool,
            data_protector,
        };

        // The store first: the SMS and the market read bulk requests through its gateway.
        let store = self.ensure_store(&plan, &mut progress).await?;
        let gateway = store.as_ref().map(|s| s.url.clone());
        let sms = self.ensure_sms(&plan, gateway.as_deref(), &mut progress).await?;
        let scheduler_ports = plan.scheduler_ports();
        let market = self
            .ensure_market(&plan, &scheduler_ports, gateway.as_deref(), &mut progress)
            .await?;

        let chain_json = self.data_dir.join("chain.json");
        let mut entry = chain_entry(&rpc_url, &deployment);
        entry.sms = sms.as_ref().map(|s| s.url.clone());
        entry.iexec_gateway = market.as_ref().map(|s| s.url.clone());
        // Results are linked on chain as `/ipfs/<CID>`; the store serves them as a gateway.
        entry.ipfs_gateway = store.as_ref().map(|s| s.url.clone());
        ChainsFile::upsert(&chain_json, DEV_CHAIN_NAME, entry)?;

        let (mut schedulers, mut workers) = (Vec::new(), Vec::new());
        if let (Some(sms), Some(store)) = (&sms, &store) {
            schedulers = self
                .ensure_schedulers(&plan, &scheduler_ports, &sms.url, &mut progress)
                .await?;
            if !schedulers.is_empty() {
                workers = self
                    .ensure_workers(&plan, &schedulers, &sms.url, &store.url, &mut progress)
                    .await?;
            }
        }
        let mut schedulers = schedulers.into_iter();
        let scheduler = schedulers.next();
        let published = previous.as_ref().is_some_and(|s| s.workerpool_orders_published)
            || (market.is_some()
                && scheduler.is_some()
                && self.publish_workerpool_orders(&plan, &mut progress).await?);

        let state = StackState {
            chain_id: connection.chain_id,
            rpc_url,
            anvil_pid,
            deployment,
            data_protector: Some(data_protector),
            accounts,
            wallets_dir,
            chain_json,
            replicas,
            postgres,
            sms,
            store,
            market,
            workerpool: Some(workerpool),
            scheduler,
            standby_schedulers: schedulers.collect(),
            workers,
            workerpool_orders_published: published,
        };
        write_json_atomically(&self.state_path(), &state)?;
        Ok(state)
    }

    /// The anvil of a previous `up` if it still runs, else a new one on its saved state
    /// (or the node given by URL). Returns its URL and the pid of the anvil we run.
    async fn ensure_chain(
        &self,
        options: &UpOptions,
        previous: Option<&StackState>,
        progress: &mut impl FnMut(&str),
    ) -> Result<(String, Option<u32>), DevError> {
        if let Some(url) = &options.rpc_url {
            return Ok((url.clone(), None));
        }
        if let Some((url, pid)) = previous.and_then(running_anvil) {
            progress(&format!("anvil already running at {url} (pid {pid})"));
            return Ok((url, Some(pid)));
        }
        let binary = deps::anvil_binary(&deps::cache_dir())?;
        let state = self.data_dir.join("chain-state.json");
        let resumed = state.exists();
        let node = AnvilNode::start(AnvilOptions {
            binary: &binary,
            // The services of a previous `up` know the chain by its URL: keep its port.
            port: previous
                .and_then(|p| p.rpc_url.rsplit(':').next()?.trim_end_matches('/').parse().ok())
                .unwrap_or(options.port),
            state: Some(&state),
            log: &self.data_dir.join("anvil.log"),
            chain_id: options.chain_id.unwrap_or(DEV_CHAIN_ID),
        })
        .await?;
        let url = node.url.clone();
        let pid = node.detach();
        self.started.lock().expect("started list").push(pid);
        let how = if resumed {
            "resumed from its saved state"
        } else {
            "new chain"
        };
        progress(&format!("anvil started at {url} (pid {pid}, {how})"));
        Ok((url, Some(pid)))
    }

    /// Postgres for the services when they run as replicas or a database was given: the
    /// given server, else the stack's own cluster (made the first time, started when
    /// stopped). Each service gets a database of its own on it.
    async fn ensure_databases(
        &self,
        options: &UpOptions,
        replicas: usize,
        previous: Option<&StackState>,
        progress: &mut impl FnMut(&str),
    ) -> Result<(Option<PostgresEntry>, Option<Databases>), DevError> {
        let previous_postgres = previous.and_then(|p| p.postgres.as_ref());
        let wanted = replicas > 1 || options.database_url.is_some() || previous_postgres.is_some();
        if !wanted {
            return Ok((None, None));
        }
        // Secrets, orders and tasks kept in SQLite would not follow the services to
        // Postgres: a stack keeps the store it started with.
        let sqlite = self.data_dir.join("sms/sms.db");
        if previous_postgres.is_none() && sqlite.exists() {
            return Err(DevError::StoreChange { sqlite });
        }
        let previous_cluster = previous_postgres.and_then(|p| p.cluster.clone());
        let (server_url, entry) = match (&options.database_url, previous_cluster) {
            (Some(url), _) => (url.clone(), PostgresEntry { cluster: None }),
            (None, Some(cluster)) => {
                self.ensure_cluster(&cluster, progress)?;
                (cluster.url("postgres"), PostgresEntry { cluster: Some(cluster) })
            }
            (None, None) if previous_postgres.is_some() => {
                // The URL is not kept: it is needed only to start a service again.
                let all_running = previous.is_some_and(|s| s.service_processes().iter().all(|p| is_alive(p.pid)));
                if !all_running {
                    return Err(DevError::DatabaseUrlNeeded);
                }
                return Ok((previous_postgres.cloned(), None));
            }
            (None, None) => {
                let cluster = Cluster {
                    dir: crate::postgres::dev_cluster_dir(&self.data_dir),
                    port: free_port(),
                };
                self.ensure_cluster(&cluster, progress)?;
                (cluster.url("postgres"), PostgresEntry { cluster: Some(cluster) })
            }
        };
        let databases = Databases {
            sms: ensure_database(&server_url, "confide_sms").await?,
            market: ensure_database(&server_url, "confide_market").await?,
            scheduler: ensure_database(&server_url, "confide_scheduler").await?,
        };
        Ok((Some(entry), Some(databases)))
    }

    fn ensure_cluster(&self, cluster: &Cluster, progress: &mut impl FnMut(&str)) -> Result<(), DevError> {
        if cluster.is_running() {
            progress(&format!("PostgreSQL already running on port {}", cluster.port));
            return Ok(());
        }
        cluster.start()?;
        *self.started_cluster.lock().expect("started cluster") = Some(cluster.clone());
        progress(&format!(
            "PostgreSQL started on port {} (data in {})",
            cluster.port,
            cluster.dir.display()
        ));
        Ok(())
    }

    async fn ensure_sms(
        &self,
        plan: &Plan<'_>,
        gateway: Option<&str>,
        progress: &mut impl FnMut(&str),
    ) -> Result<Option<ServiceEntry>, DevError> {
        let previous = plan.previous.and_then(|s| s.sms.clone());
        let database = plan.database_env("CONFIDE_SMS_DATABASE_URL", |d| &d.sms);
        // Replicas share the data directory, so its master key (made by the first).
        let args = |port: u16| {
            let mut args = vec![
                "sms".into(),
                "serve".into(),
                "--listen".into(),
                format!("127.0.0.1:{port}").into(),
                "--data-dir".into(),
                self.data_dir.join("sms").into_os_string(),
                // The dev stack has no TEE hardware: its enclaves run in simulation.
                "--insecure-simulation".into(),
            ];
            if let Some(gateway) = gateway {
                args.extend(["--ipfs-gateway".into(), gateway.into()]);
            }
            plan.with_chain(args)
        };
        let spec = ServiceSpec {
            name: "SMS",
            port_flag: "--sms-port",
            env: &database,
        };
        self.ensure_replicated(&spec, plan, previous, plan.options.sms_port, args, progress)
            .await
    }

    async fn ensure_store(
        &self,
        plan: &Plan<'_>,
        progress: &mut impl FnMut(&str),
    ) -> Result<Option<ServiceEntry>, DevError> {
        let previous = plan.previous.and_then(|s| s.store.clone());
        // Replicas share one folder, as they would share a bucket: uploads land by rename.
        let args = |port: u16| {
            plan.with_chain(vec![
                "store".into(),
                "serve".into(),
                "--listen".into(),
                format!("127.0.0.1:{port}").into(),
                "--store".into(),
                self.data_dir.join("store").into_os_string(),
                // Results are accepted only for tasks the chain says an enclave may sign.
                "--results".into(),
            ])
        };
        let spec = ServiceSpec {
            name: "content store",
            port_flag: "--store-port",
            env: &[],
        };
        self.ensure_replicated(&spec, plan, previous, plan.options.store_port, args, progress)
            .await
    }

    async fn ensure_market(
        &self,
        plan: &Plan<'_>,
        scheduler_ports: &[u16],
        gateway: Option<&str>,
        progress: &mut impl FnMut(&str),
    ) -> Result<Option<ServiceEntry>, DevError> {
        let previous = plan.previous.and_then(|s| s.market.clone());
        let database = plan.database_env("CONFIDE_MARKET_DATABASE_URL", |d| &d.market);
        let schedulers: Vec<String> = scheduler_ports
            .iter()
            .map(|port| format!("http://127.0.0.1:{port}"))
            .collect();
        let args = |port: u16| {
            let mut args = vec![
                "market".into(),
                "serve".into(),
                "--listen".into(),
                format!("127.0.0.1:{port}").into(),
                "--data-dir".into(),
                self.data_dir.join("market").into_os_string(),
                "--scheduler".into(),
                format!("{}={}", plan.workerpool, schedulers.join(",")).into(),
                "--dataprotector".into(),
                plan.data_protector.to_string().into(),
                // This machine's own tools and fronts; other addresses (127.0.0.2 and on
                // included) have the market's default rates.
                "--rate-limit-exempt".into(),
                "127.0.0.1".into(),
            ];
            if let Some(gateway) = gateway {
                args.extend(["--ipfs-gateway".into(), gateway.into()]);
            }
            plan.with_chain(args)
        };
        let spec = ServiceSpec {
            name: "market",
            port_flag: "--market-port",
            env: &database,
        };
        self.ensure_replicated(&spec, plan, previous, plan.options.market_port, args, progress)
            .await
    }

    /// The dev pool's schedulers: one, or one per replica on the shared database, where
    /// the one holding the scheduling lease schedules and the others stand by.
    async fn ensure_schedulers(
        &self,
        plan: &Plan<'_>,
        ports: &[u16],
        sms_url: &str,
        progress: &mut impl FnMut(&str),
    ) -> Result<Vec<ServiceEntry>, DevError> {
        let database = plan.database_env("CONFIDE_SCHEDULER_DATABASE_URL", |d| &d.scheduler);
        let previous = plan.previous.map(StackState::schedulers).unwrap_or_default();
        let mut schedulers = Vec::new();
        for (index, port) in ports.iter().copied().enumerate() {
            let mut args = plan.with_chain(vec![
                "workerpool".into(),
                "serve".into(),
                "--listen".into(),
                format!("127.0.0.1:{port}").into(),
                "--workerpool".into(),
                plan.workerpool.to_string().into(),
                "--data-dir".into(),
                self.data_dir.join("scheduler").into_os_string(),
                "--sms".into(),
                sms_url.into(),
                "--lease-seconds".into(),
                plan.options.lease_seconds.to_string().into(),
                // Deals made while the scheduler was down are caught up from here.
                "--from-block".into(),
                "0".into(),
            ]);
            if !plan.options.any_worker {
                for role in DEV_WORKER_ROLES {
                    let worker = crate::accounts::by_role(role).expect("the dev workers are dev accounts");
                    args.push("--allow-worker".into());
                    args.push(worker.signer().address().to_string().into());
                }
            }
            let name = match index {
                0 => "scheduler".to_owned(),
                n => format!("scheduler {}", n + 1),
            };
            let spec = ServiceSpec {
                name: &name,
                port_flag: "--scheduler-port",
                env: &database,
            };
            let previous = previous.get(index).cloned();
            let started = self
                .ensure_wallet_service(&spec, "workerpool-owner", previous, plan.options, port, args, progress)
                .await?;
            schedulers.extend(started);
        }
        Ok(schedulers)
    }

    async fn ensure_workers(
        &self,
        plan: &Plan<'_>,
        schedulers: &[ServiceEntry],
        sms_url: &str,
        store_url: &str,
        progress: &mut impl FnMut(&str),
    ) -> Result<Vec<ServiceEntry>, DevError> {
        // Fetched here, once, rather than by each worker as it starts: the workers then
        // start within their readiness wait whatever the network's speed.
        match deps::python_runtime(&deps::cache_dir()) {
            Ok(dir) => progress(&format!("Python runtime in {}", dir.display())),
            Err(error) => progress(&format!("no Python runtime, Python apps will fail: {error}")),
        }
        let scheduler_urls: Vec<&str> = schedulers.iter().map(|s| s.url.as_str()).collect();
        let previous_workers = plan.previous.map(|s| s.workers.clone()).unwrap_or_default();
        let wanted = plan.options.workers.max(previous_workers.len());
        let ports = next_free_ports(&previous_workers, plan.options.worker_port, wanted);
        let mut workers = Vec::new();
        for (index, (role, port)) in DEV_WORKER_ROLES.iter().copied().zip(ports).enumerate() {
            let args = plan.with_chain(vec![
                "worker".into(),
                "--scheduler".into(),
                scheduler_urls.join(",").into(),
                "--workerpool".into(),
                plan.workerpool.to_string().into(),
                "--listen".into(),
                format!("127.0.0.1:{port}").into(),
                "--work-dir".into(),
                self.data_dir.join(format!("worker-{}", index + 1)).into_os_string(),
                "--sms".into(),
                sms_url.into(),
                "--store".into(),
                store_url.into(),
                // `/ipfs/<CID>` multiaddrs (datasets, app code) from the dev store.
                "--ipfs-gateway".into(),
                store_url.into(),
                "--evidence".into(),
                "simulation".into(),
                // Shared by every dev worker on this machine (each entry is MAC'd and
                // checked): the Python runtime is compiled once, not per stack.
                "--module-cache".into(),
                crate::deps::cache_dir().join("module-cache/dev").into_os_string(),
            ]);
            let spec = ServiceSpec {
                name: role,
                port_flag: "--worker-port",
                env: &[],
            };
            let previous = previous_workers.get(index).cloned();
            let started = self
                .ensure_wallet_service(&spec, role, previous, plan.options, port, args, progress)
                .await?;
            workers.extend(started);
        }
        Ok(workers)
    }

    /// One service, or `plan.replicas` of it behind a [`crate::front`] on its port (a
    /// previous `up`'s, else `default_port`), the replicas on the next free ports. `args`
    /// gives a process's arguments for its port.
    async fn ensure_replicated(
        &self,
        spec: &ServiceSpec<'_>,
        plan: &Plan<'_>,
        previous: Option<ServiceEntry>,
        default_port: u16,
        args: impl Fn(u16) -> Vec<std::ffi::OsString>,
        progress: &mut impl FnMut(&str),
    ) -> Result<Option<ServiceEntry>, DevError> {
        let base_port = kept_port(previous.as_ref(), default_port);
        if plan.replicas <= 1 {
            return self
                .ensure_service(spec, previous, plan.options, base_port, args(base_port), progress)
                .await;
        }
        let previous_replicas = previous.as_ref().map(|p| p.replicas.clone()).unwrap_or_default();
        let ports = next_free_ports(&previous_replicas, base_port + 1, plan.replicas);
        let mut replicas = Vec::new();
        for (index, port) in ports.into_iter().enumerate() {
            let name = format!("{} {}", spec.name, index + 1);
            let replica_spec = ServiceSpec { name: &name, ..*spec };
            let previous = previous_replicas.get(index).cloned();
            let Some(replica) = self
                .ensure_service(&replica_spec, previous, plan.options, port, args(port), progress)
                .await?
            else {
                return Ok(None);
            };
            replicas.push(replica);
        }
        let mut front_args: Vec<std::ffi::OsString> = vec![
            "dev".into(),
            "front".into(),
            "--listen".into(),
            format!("127.0.0.1:{base_port}").into(),
        ];
        for replica in &replicas {
            front_args.push("--replica".into());
            front_args.push(replica.url.trim_start_matches("http://").into());
        }
        let name = format!("{} front", spec.name);
        let front_spec = ServiceSpec {
            name: &name,
            env: &[],
            ..*spec
        };
        let previous_front = previous.filter(|p| !p.replicas.is_empty());
        let front = self
            .ensure_service(
                &front_spec,
                previous_front,
                plan.options,
                base_port,
                front_args,
                progress,
            )
            .await?;
        Ok(front.map(|front| ServiceEntry { replicas, ..front }))
    }

    /// The service a previous `up` started if it still runs, else a new one (when a
    /// services binary is known).
    async fn ensure_service(
        &self,
        spec: &ServiceSpec<'_>,
        previous: Option<ServiceEntry>,
        options: &UpOptions,
        port: u16,
        args: Vec<std::ffi::OsString>,
        progress: &mut impl FnMut(&str),
    ) -> Result<Option<ServiceEntry>, DevError> {
        let name = spec.name;
        if let Some(running) = previous.filter(|service| is_alive(service.pid)) {
            progress(&format!(
                "{name} already running at {} (pid {})",
                running.url, running.pid
            ));
            return Ok(Some(running));
        }
        let Some(binary) = &options.services_binary else {
            return Ok(None);
        };
        let service = self.start_service(spec, binary, port, args).await?;
        progress(&format!("{name} started at {} (pid {})", service.url, service.pid));
        Ok(Some(service))
    }

    /// [`Self::ensure_service`] for a service that signs with a dev account's wallet.
    #[allow(clippy::too_many_arguments)]
    async fn ensure_wallet_service(
        &self,
        spec: &ServiceSpec<'_>,
        role: &str,
        previous: Option<ServiceEntry>,
        options: &UpOptions,
        port: u16,
        args: Vec<std::ffi::OsString>,
        progress: &mut impl FnMut(&str),
    ) -> Result<Option<ServiceEntry>, DevError> {
        let mut args = args;
        let address = dev_account(role).signer().address();
        args.extend([
            "--keystoredir".into(),
            self.data_dir.join("wallets").into_os_string(),
            "--wallet-address".into(),
            address.to_string().into(),
        ]);
        self.ensure_service(spec, previous, options, port, args, progress).await
    }

    /// Signs and publishes the dev workerpool's orders (one for TDX, one for Gramine-SGX
    /// tasks) with `confide workerpool publish`, as the pool owner; whether it did.
    async fn publish_workerpool_orders(
        &self,
        plan: &Plan<'_>,
        progress: &mut impl FnMut(&str),
    ) -> Result<bool, DevError> {
        let Some(binary) = &plan.options.services_binary else {
            return Ok(false);
        };
        let workerpool = plan.workerpool;
        for tag in ["tee,tdx", "tee,gramine"] {
            let output = tokio::process::Command::new(binary)
                .args(["workerpool", "publish", &workerpool.to_string()])
                .args(["--price", "0", "--volume", "1000000", "--category", "0", "--trust", "1"])
                .args(["--tag", tag, "--raw", "--rpc-url", &plan.rpc_url, "--hub", &plan.hub])
                .arg("--keystoredir")
                .arg(self.data_dir.join("wallets"))
                .args([
                    "--wallet-address",
                    &dev_account("workerpool-owner").signer().address().to_string(),
                ])
                .env("CONFIDE_WALLET_PASSWORD", DEV_PASSWORD)
                .env("CONFIDE_DEV_DIR", &self.data_dir)
                .env_remove("CONFIDE_CHAIN")
                .output()
                .await
                .map_err(|e| DevError::io(binary, e))?;
            if !output.status.success() {
                return Err(DevError::PublishFailed(
                    String::from_utf8_lossy(&output.stdout).trim().to_owned(),
                ));
            }
        }
        progress(&format!(
            "dev workerpool {workerpool}: orders for TDX and Gramine-SGX tasks published (free, trust 1)"
        ));
        Ok(true)
    }

    /// Starts `confide <args>` in the background, logging to `<data>/<name>.log`, and waits
    /// until it listens on `port`.
    async fn start_service(
        &self,
        spec: &ServiceSpec<'_>,
        binary: &Path,
        port: u16,
        args: Vec<std::ffi::OsString>,
    ) -> Result<ServiceEntry, DevError> {
        if !crate::anvil::port_is_free(port) {
            return Err(DevError::PortBusy {
                port,
                flag: spec.port_flag,
            });
        }
        let log_path = self.data_dir.join(format!("{}.log", spec.name.replace(' ', "-")));
        let log = std::fs::File::create(&log_path).map_err(|e| DevError::io(&log_path, e))?;
        let log_err = log.try_clone().map_err(|e| DevError::io(&log_path, e))?;
        let mut command = std::process::Command::new(binary);
        command
            .args(args)
            // A database URL may hold a password: in the environment, not on the command
            // line every user of the machine can read.
            .envs(spec.env.iter().map(|(name, value)| (name, value)))
            .env_remove("CONFIDE_CHAIN")
            .env("CONFIDE_WALLET_PASSWORD", DEV_PASSWORD)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log_err);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().map_err(|e| DevError::io(binary, e))?;
        let pid = child.id();
        self.started.lock().expect("started list").push(pid);
        let started = std::time::Instant::now();
        while crate::anvil::port_is_free(port) {
            if !is_alive(pid) || started.elapsed() > Duration::from_secs(20) {
                let last_line = last_log_line(&log_path, is_alive(pid));
                return Err(DevError::ServiceNotReady {
                    service: spec.name.to_owned(),
                    last_line,
                    log: log_path,
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(ServiceEntry {
            pid,
            url: format!("http://127.0.0.1:{port}"),
            replicas: Vec::new(),
        })
    }

    /// The recorded state and whether the chain answers now, for `dev status`.
    pub async fn status(&self) -> Result<StackStatus, DevError> {
        let state = self.read_state()?;
        let connection = Connection::connect(&state.rpc_url, None).await.ok();
        let block_number = match &connection {
            Some(connection) => connection.block_number().await.ok(),
            None => None,
        };
        Ok(StackStatus {
            data_dir: self.data_dir.clone(),
            running: block_number.is_some(),
            block_number,
            state,
        })
    }

    /// Stops the anvil `up` started; its state is dumped to disk and kept for the next `up`.
    /// Returns false when nothing was running.
    pub fn down(&self) -> Result<bool, DevError> {
        let mut state = self.read_state()?;
        let mut stopped = false;
        for service in state.service_processes() {
            if is_alive(service.pid) {
                terminate(service.pid, Duration::from_secs(15));
                stopped = true;
            }
        }
        state.workers.clear();
        state.scheduler = None;
        state.standby_schedulers.clear();
        state.sms = None;
        state.store = None;
        state.market = None;
        let cluster = state.postgres.as_ref().and_then(|p| p.cluster.as_ref());
        if let Some(cluster) = cluster.filter(|c| c.is_running()) {
            cluster.stop();
            stopped = true;
        }
        if let Some(pid) = state.anvil_pid.take().filter(|pid| is_alive(*pid)) {
            terminate(pid, Duration::from_secs(15));
            stopped = true;
        }
        write_json_atomically(&self.state_path(), &state)?;
        Ok(stopped)
    }
}

/// How a service is started and named: its name in logs and messages, the `dev up` flag
/// of its port, and environment variables it is given.
#[derive(Clone, Copy)]
struct ServiceSpec<'a> {
    name: &'a str,
    port_flag: &'static str,
    env: &'a [(&'static str, String)],
}

/// The databases of the services that run on Postgres.
struct Databases {
    sms: String,
    market: String,
    scheduler: String,
}

/// What every service of one `up` is started with.
struct Plan<'a> {
    options: &'a UpOptions,
    previous: Option<&'a StackState>,
    replicas: usize,
    databases: Option<Databases>,
    rpc_url: String,
    hub: String,
    workerpool: Address,
    data_protector: Address,
}

impl Plan<'_> {
    /// `args` followed by the chain's flags.
    fn with_chain(&self, mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
        args.extend([
            "--rpc-url".into(),
            self.rpc_url.clone().into(),
            "--hub".into(),
            self.hub.clone().into(),
        ]);
        args
    }

    /// `variable` set to a service's database URL, when the stack runs on Postgres.
    fn database_env(&self, variable: &'static str, url: impl Fn(&Databases) -> &String) -> Vec<(&'static str, String)> {
        self.databases
            .iter()
            .map(|databases| (variable, url(databases).clone()))
            .collect()
    }

    /// The schedulers' ports: the first on the scheduler port, the others on the next
    /// free ones (each kept from a previous `up`).
    fn scheduler_ports(&self) -> Vec<u16> {
        let previous = self.previous.map(StackState::schedulers).unwrap_or_default();
        let first = kept_port(previous.first(), self.options.scheduler_port);
        let mut ports = vec![first];
        if self.replicas > 1 {
            ports.extend(next_free_ports(
                previous.get(1..).unwrap_or_default(),
                first + 1,
                self.replicas - 1,
            ));
        }
        ports
    }
}

/// Replicas per service: the running stack's, else what was asked.
fn replica_count(options: &UpOptions, previous: Option<&StackState>, progress: &mut impl FnMut(&str)) -> usize {
    let running = previous.filter(|p| p.sms.as_ref().is_some_and(|s| is_alive(s.pid)));
    match running {
        Some(stack) if stack.replicas != options.replicas => {
            progress(&format!(
                "the running stack keeps its {} replica(s) per service (`confide dev down` first to change it)",
                stack.replicas
            ));
            stack.replicas
        }
        _ => options.replicas.max(1),
    }
}

/// The port of a service a previous `up` started, else `default`.
fn kept_port(entry: Option<&ServiceEntry>, default: u16) -> u16 {
    entry
        .and_then(|e| e.url.rsplit(':').next()?.parse().ok())
        .unwrap_or(default)
}

/// `count` ports: each previous entry's, else the next port from `from` that is free now.
fn next_free_ports(previous: &[ServiceEntry], from: u16, count: usize) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::with_capacity(count);
    let mut candidate = from;
    for index in 0..count {
        if let Some(port) = previous.get(index).map(|e| kept_port(Some(e), 0)).filter(|p| *p != 0) {
            ports.push(port);
            continue;
        }
        while (!crate::anvil::port_is_free(candidate) || ports.contains(&candidate))
            && candidate < from.saturating_add(100)
        {
            candidate += 1;
        }
        ports.push(candidate);
        candidate += 1;
    }
    ports
}

/// PoCo on the chain (deployed the first time) and the dev accounts funded.
async fn ensure_poco(
    connection: &Connection,
    previous: Option<&StackState>,
    progress: &mut impl FnMut(&str),
) -> Result<Deployment, DevError> {
    let package = deps::poco_package(&deps::cache_dir())?;
    let known_hub = previous.map(|s| s.deployment.hub);
    let (deployment, outcome) = deploy_or_find(connection, &package, known_hub).await?;
    match outcome {
        DeployOutcome::Deployed => progress(&format!("PoCo deployed at {}", deployment.hub)),
        DeployOutcome::Found => progress(&format!("PoCo found at {}", deployment.hub)),
    }
    let poco = Poco::new(connection.clone(), deployment.hub).await?;
    let funded = fund_dev_accounts(&poco).await?;
    if funded > 0 {
        progress(&format!("funded {funded} dev accounts with 1,000,000 RLC each"));
    }
    Ok(deployment)
}

/// Confide's DataProtector contract: the previous `up`'s while its code is there, else
/// deployed by the first dev account.
async fn ensure_data_protector(
    connection: &Connection,
    deployment: &Deployment,
    previous: Option<&StackState>,
    progress: &mut impl FnMut(&str),
) -> Result<Address, DevError> {
    let poco = Poco::new(connection.clone(), deployment.hub).await?;
    if let Some(known) = previous.and_then(|s| s.data_protector)
        && poco.is_data_protector(known).await?
    {
        return Ok(known);
    }
    let address = poco.deploy_data_protector().await?;
    progress(&format!("DataProtector deployed at {address}"));
    Ok(address)
}

fn dev_account(role: &str) -> &'static crate::accounts::DevAccount {
    DEV_ACCOUNTS
        .iter()
        .find(|a| a.role == role)
        .expect("a dev account of that role")
}

/// The dev workerpool, registered by the `workerpool-owner` account the first time.
async fn dev_workerpool(rpc_url: &str, hub: Address, progress: &mut impl FnMut(&str)) -> Result<Address, DevError> {
    let owner = dev_account("workerpool-owner").signer();
    let connection = Connection::connect(rpc_url, Some(owner.clone())).await?;
    let poco = Poco::new(connection, hub).await?;
    let predicted = poco
        .predict_workerpool(owner.address(), DEV_WORKERPOOL_DESCRIPTION)
        .await?;
    if poco.connection.has_code(predicted).await? {
        return Ok(predicted);
    }
    let address = poco.create_workerpool(DEV_WORKERPOOL_DESCRIPTION).await?;
    progress(&format!("dev workerpool registered at {address}"));
    Ok(address)
}

/// The anvil of a previous `up`, if it still runs and answers.
fn running_anvil(state: &StackState) -> Option<(String, u32)> {
    let pid = state.anvil_pid.filter(|pid| is_alive(*pid))?;
    let port: u16 = state.rpc_url.rsplit(':').next()?.trim_end_matches('/').parse().ok()?;
    (!crate::anvil::port_is_free(port)).then(|| (state.rpc_url.clone(), pid))
}

fn chain_entry(rpc_url: &str, deployment: &Deployment) -> ChainEntry {
    ChainEntry {
        id: deployment.chain_id.to_string(),
        host: Some(rpc_url.to_owned()),
        hub: Some(deployment.hub.to_string()),
        ..ChainEntry::default()
    }
}

/// Tops every dev account but the deployer up to [`DEV_RLC_PER_ACCOUNT`] from the
/// deployer, who holds the token's supply on a fresh deployment. Returns how many it sent to.
pub async fn fund_dev_accounts(poco: &Poco) -> Result<usize, DevError> {
    let target = U256::from(DEV_RLC_PER_ACCOUNT);
    let mut funded = 0;
    for account in &DEV_ACCOUNTS[1..] {
        let address = account.signer().address();
        let balance = poco.rlc_balance(address).await?;
        let account_stake = poco.account(address).await?.stake;
        if balance + account_stake >= target {
            continue;
        }
        poco.transfer_rlc(address, target - balance).await?;
        funded += 1;
    }
    Ok(funded)
}

/// Writes a keystore for each dev account that has none yet (password [`DEV_PASSWORD`]).
fn write_dev_wallets(dir: &Path) -> Result<Vec<AccountEntry>, DevError> {
    DEV_ACCOUNTS
        .iter()
        .map(|account| {
            let signer = account.signer();
            let wallet = match confide_crypto::keystore::find(dir, signer.address()) {
                Ok(path) => path,
                Err(_) => confide_crypto::keystore::write(dir, &signer, DEV_PASSWORD)?,
            };
            Ok(AccountEntry {
                role: account.role.to_owned(),
                address: signer.address(),
                wallet,
            })
        })
        .collect()
}

/// What a service's log says last: why it stopped, or what it was doing when it was given up on.
fn last_log_line(log: &Path, still_running: bool) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match text.lines().rev().find(|line| !line.trim().is_empty()) {
        Some(line) => line.trim().to_owned(),
        None if still_running => "still not listening after 20 s".to_owned(),
        None => "it exited without a word".to_owned(),
    }
}
