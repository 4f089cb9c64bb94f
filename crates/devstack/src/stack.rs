//! `confide dev up | status | down`: one data directory holds the chain's state, the
//! deployment, the dev wallets and the files other tools read (`chain.json`, `stack.json`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use confide_chain::{Address, Connection, DeployOutcome, Deployment, Poco, U256, deploy_or_find};
use serde::{Deserialize, Serialize};

use crate::accounts::{DEV_ACCOUNTS, DEV_PASSWORD};
use crate::anvil::{AnvilNode, AnvilOptions, DEV_CHAIN_ID, free_port, is_alive, terminate};
use crate::chain_json::{ChainEntry, ChainsFile, write_json_atomically};
use crate::{DevError, deps};

/// RLC each dev account holds in its wallet after `dev up`: 1,000,000 RLC.
pub const DEV_RLC_PER_ACCOUNT: u64 = 1_000_000 * 1_000_000_000;
/// The name of the dev chain in `chain.json`.
pub const DEV_CHAIN_NAME: &str = "dev";

#[derive(Clone, Debug)]
pub struct UpOptions {
    /// Port of the local anvil node.
    pub port: u16,
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
}

/// The dev accounts `worker-1` … `worker-4` are the dev workers' wallets.
pub const MAX_DEV_WORKERS: usize = 4;
const DEV_WORKER_ROLES: [&str; MAX_DEV_WORKERS] = ["worker-1", "worker-2", "worker-3", "worker-4"];
/// The description the dev workerpool is registered with.
pub const DEV_WORKERPOOL_DESCRIPTION: &str = "confide dev workerpool";

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            port: 8545,
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
        }
    }
}

/// A service `dev up` started: its process and URL.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServiceEntry {
    pub pid: u32,
    pub url: String,
}

/// What `dev up` started and where, saved as `stack.json` in the data directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackState {
    pub chain_id: u64,
    pub rpc_url: String,
    /// The anvil process `dev up` started; `None` for an external node or once stopped.
    pub anvil_pid: Option<u32>,
    pub deployment: Deployment,
    pub accounts: Vec<AccountEntry>,
    pub wallets_dir: PathBuf,
    pub chain_json: PathBuf,
    /// The Secret Management Service, when started.
    #[serde(default)]
    pub sms: Option<ServiceEntry>,
    /// The content store, when started (iExec's chain.json has no key for it).
    #[serde(default)]
    pub store: Option<ServiceEntry>,
    /// The market, when started (`iexecGateway` in chain.json).
    #[serde(default)]
    pub market: Option<ServiceEntry>,
    /// The dev workerpool (owned by the `workerpool-owner` account).
    #[serde(default)]
    pub workerpool: Option<Address>,
    /// Its scheduler, when started.
    #[serde(default)]
    pub scheduler: Option<ServiceEntry>,
    /// Its simulation-TEE workers.
    #[serde(default)]
    pub workers: Vec<ServiceEntry>,
    /// Whether the dev workerpool's orders were published to the market.
    #[serde(default)]
    pub workerpool_orders_published: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountEntry {
    pub role: String,
    pub address: Address,
    pub wallet: PathBuf,
}

/// A dev stack rooted in one data directory.
pub struct DevStack {
    pub data_dir: PathBuf,
    /// Processes the current `up` started: stopped again when it fails half-way, so a
    /// failed `up` leaves nothing running that `dev down` would not know of.
    started: std::sync::Mutex<Vec<u32>>,
}

/// What `dev status` reports.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackStatus {
    pub data_dir: PathBuf,
    pub running: bool,
    pub block_number: Option<u64>,
    pub state: StackState,
}

impl DevStack {
    pub fn new(data_dir: impl Into<PathBuf>) -> DevStack {
        DevStack {
            data_dir: data_dir.into(),
            started: std::sync::Mutex::new(Vec::new()),
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
        if outcome.is_err() {
            // Services last, the chain they use first to go would make them log errors.
            for pid in started.into_iter().rev().filter(|pid| is_alive(*pid)) {
                terminate(pid, Duration::from_secs(15));
            }
        }
        outcome
    }

    async fn bring_up(&self, options: &UpOptions, mut progress: impl FnMut(&str)) -> Result<StackState, DevError> {
        std::fs::create_dir_all(&self.data_dir).map_err(|e| DevError::io(&self.data_dir, e))?;
        let previous = self.read_state().ok();
        let cache = deps::cache_dir();

        let (rpc_url, anvil_pid) = match (&options.rpc_url, previous.as_ref().and_then(running_anvil)) {
            (Some(url), _) => (url.clone(), None),
            (None, Some((url, pid))) => {
                progress(&format!("anvil already running at {url} (pid {pid})"));
                (url, Some(pid))
            }
            (None, None) => {
                let binary = deps::anvil_binary(&cache)?;
                let state = self.data_dir.join("chain-state.json");
                let resumed = state.exists();
                let node = AnvilNode::start(AnvilOptions {
                    binary: &binary,
                    // The services of a previous `up` know the chain by its URL: keep its port.
                    port: previous
                        .as_ref()
                        .and_then(|p| p.rpc_url.rsplit(':').next()?.trim_end_matches('/').parse().ok())
                        .unwrap_or(options.port),
                    state: Some(&state),
                    log: &self.data_dir.join("anvil.log"),
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
                (url, Some(pid))
            }
        };

        let deployer = DEV_ACCOUNTS[0].signer();
        let connection = Connection::connect(&rpc_url, Some(deployer)).await?;
        let package = deps::poco_package(&cache)?;
        let known_hub = previous.as_ref().map(|s| s.deployment.hub);
        let (deployment, outcome) = deploy_or_find(&connection, &package, known_hub).await?;
        match outcome {
            DeployOutcome::Deployed => progress(&format!("PoCo deployed at {}", deployment.hub)),
            DeployOutcome::Found => progress(&format!("PoCo found at {}", deployment.hub)),
        }

        let poco = Poco::new(connection.clone(), deployment.hub).await?;
        let funded = fund_dev_accounts(&poco).await?;
        if funded > 0 {
            progress(&format!("funded {funded} dev accounts with 1,000,000 RLC each"));
        }
        let wallets_dir = self.data_dir.join("wallets");
        let accounts = write_dev_wallets(&wallets_dir)?;

        // A service restarted by a later `up` keeps the port it had.
        let kept = |entry: Option<&ServiceEntry>, default: u16| {
            entry
                .and_then(|e| e.url.rsplit(':').next()?.parse().ok())
                .unwrap_or(default)
        };
        let sms_port = kept(previous.as_ref().and_then(|s| s.sms.as_ref()), options.sms_port);
        let store_port = kept(previous.as_ref().and_then(|s| s.store.as_ref()), options.store_port);
        let market_port = kept(previous.as_ref().and_then(|s| s.market.as_ref()), options.market_port);
        let scheduler_port = kept(
            previous.as_ref().and_then(|s| s.scheduler.as_ref()),
            options.scheduler_port,
        );
        let sms_args = vec![
            "sms".into(),
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{sms_port}").into(),
            "--data-dir".into(),
            self.data_dir.join("sms").into_os_string(),
            // The dev stack has no TEE hardware: its enclaves run in simulation.
            "--insecure-simulation".into(),
            "--rpc-url".into(),
            rpc_url.clone().into(),
            "--hub".into(),
            deployment.hub.to_string().into(),
        ];
        let previous_sms = previous.as_ref().and_then(|s| s.sms.clone());
        let sms = self
            .ensure_service("SMS", previous_sms, options, sms_port, sms_args, &mut progress)
            .await?;
        let store_args = vec![
            "store".into(),
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{store_port}").into(),
            "--store".into(),
            self.data_dir.join("store").into_os_string(),
            // Results are accepted only for tasks the chain says an enclave may sign.
            "--results".into(),
            "--rpc-url".into(),
            rpc_url.clone().into(),
            "--hub".into(),
            deployment.hub.to_string().into(),
        ];
        let previous_store = previous.as_ref().and_then(|s| s.store.clone());
        let store = self
            .ensure_service(
                "content store",
                previous_store,
                options,
                store_port,
                store_args,
                &mut progress,
            )
            .await?;

        // Registered before the market starts, so the market knows its scheduler.
        let workerpool = dev_workerpool(&rpc_url, deployment.hub, &mut progress).await?;
        let market_args = vec![
            "market".into(),
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{market_port}").into(),
            "--data-dir".into(),
            self.data_dir.join("market").into_os_string(),
            "--scheduler".into(),
            format!("{workerpool}=http://127.0.0.1:{scheduler_port}").into(),
            "--rpc-url".into(),
            rpc_url.clone().into(),
            "--hub".into(),
            deployment.hub.to_string().into(),
        ];
        let previous_market = previous.as_ref().and_then(|s| s.market.clone());
        let market = self
            .ensure_service(
                "market",
                previous_market,
                options,
                market_port,
                market_args,
                &mut progress,
            )
            .await?;

        let chain_json = self.data_dir.join("chain.json");
        let mut entry = chain_entry(&rpc_url, &deployment);
        entry.sms = sms.as_ref().map(|s| s.url.clone());
        entry.iexec_gateway = market.as_ref().map(|s| s.url.clone());
        // Results are linked on chain as `/ipfs/<CID>`; the store serves them as a gateway.
        entry.ipfs_gateway = store.as_ref().map(|s| s.url.clone());
        ChainsFile::upsert(&chain_json, DEV_CHAIN_NAME, entry)?;

        let hub = deployment.hub.to_string();
        let chain_args = |mut args: Vec<std::ffi::OsString>| {
            args.extend([
                "--rpc-url".into(),
                rpc_url.clone().into(),
                "--hub".into(),
                hub.clone().into(),
            ]);
            args
        };
        let (mut scheduler, mut workers) = (None, Vec::new());
        if let (Some(sms), Some(store)) = (&sms, &store) {
            let scheduler_args = chain_args(vec![
                "workerpool".into(),
                "serve".into(),
                "--listen".into(),
                format!("127.0.0.1:{scheduler_port}").into(),
                "--workerpool".into(),
                workerpool.to_string().into(),
                "--data-dir".into(),
                self.data_dir.join("scheduler").into_os_string(),
                "--sms".into(),
                sms.url.clone().into(),
                "--lease-seconds".into(),
                options.lease_seconds.to_string().into(),
                // Deals made while the scheduler was down are caught up from here.
                "--from-block".into(),
                "0".into(),
            ]);
            let mut scheduler_args = scheduler_args;
            if !options.any_worker {
                for role in DEV_WORKER_ROLES {
                    let worker = crate::accounts::by_role(role).expect("the dev workers are dev accounts");
                    scheduler_args.push("--allow-worker".into());
                    scheduler_args.push(worker.signer().address().to_string().into());
                }
            }
            let previous_scheduler = previous.as_ref().and_then(|s| s.scheduler.clone());
            scheduler = self
                .ensure_wallet_service(
                    "scheduler",
                    "workerpool-owner",
                    previous_scheduler,
                    options,
                    scheduler_port,
                    scheduler_args,
                    &mut progress,
                )
                .await?;
            if let Some(scheduler) = &scheduler {
                // Fetched here, once, rather than by each worker as it starts: the workers
                // then start within their readiness wait whatever the network's speed.
                match deps::python_runtime(&deps::cache_dir()) {
                    Ok(dir) => progress(&format!("Python runtime in {}", dir.display())),
                    Err(error) => progress(&format!("no Python runtime, Python apps will fail: {error}")),
                }
                let mut port = options.worker_port;
                let previous_workers = previous.as_ref().map(|s| s.workers.clone()).unwrap_or_default();
                let wanted = options.workers.max(previous_workers.len());
                for (index, role) in DEV_WORKER_ROLES.iter().copied().enumerate().take(wanted) {
                    // A worker's port only serves /health: the next free one will do.
                    port = kept(previous_workers.get(index), port);
                    while !crate::anvil::port_is_free(port) && port < options.worker_port + 100 {
                        if previous_workers.get(index).is_some_and(|w| is_alive(w.pid)) {
                            break;
                        }
                        port += 1;
                    }
                    let worker_args = chain_args(vec![
                        "worker".into(),
                        "--scheduler".into(),
                        scheduler.url.clone().into(),
                        "--workerpool".into(),
                        workerpool.to_string().into(),
                        "--listen".into(),
                        format!("127.0.0.1:{port}").into(),
                        "--work-dir".into(),
                        self.data_dir.join(format!("worker-{}", index + 1)).into_os_string(),
                        "--sms".into(),
                        sms.url.clone().into(),
                        "--store".into(),
                        store.url.clone().into(),
                        // `/ipfs/<CID>` multiaddrs (datasets, app code) from the dev store.
                        "--ipfs-gateway".into(),
                        store.url.clone().into(),
                        "--evidence".into(),
                        "simulation".into(),
                        // Shared by every dev worker on this machine (each entry is MAC'd
                        // and checked): the Python runtime is compiled once, not per stack.
                        "--module-cache".into(),
                        crate::deps::cache_dir().join("module-cache/dev").into_os_string(),
                    ]);
                    let previous_worker = previous.as_ref().and_then(|s| s.workers.get(index).cloned());
                    let started = self
                        .ensure_wallet_service(role, role, previous_worker, options, port, worker_args, &mut progress)
                        .await?;
                    workers.extend(started);
                    port += 1;
                }
            }
        }
        let mut published = previous.as_ref().is_some_and(|s| s.workerpool_orders_published);
        if !published && market.is_some() && scheduler.is_some() {
            self.publish_workerpool_orders(options, workerpool, &rpc_url, &hub)
                .await?;
            progress(&format!(
                "dev workerpool {workerpool}: orders for TDX and Gramine-SGX tasks published (free, trust 1)"
            ));
            published = true;
        }

        let state = StackState {
            chain_id: connection.chain_id,
            rpc_url,
            anvil_pid,
            deployment,
            accounts,
            wallets_dir,
            chain_json,
            sms,
            store,
            market,
            workerpool: Some(workerpool),
            scheduler,
            workers,
            workerpool_orders_published: published,
        };
        write_json_atomically(&self.state_path(), &state)?;
        Ok(state)
    }

    /// The service a previous `up` started if it still runs, else a new one (when a
    /// services binary is known).
    async fn ensure_service(
        &self,
        name: &'static str,
        previous: Option<ServiceEntry>,
        options: &UpOptions,
        port: u16,
        args: Vec<std::ffi::OsString>,
        progress: &mut impl FnMut(&str),
    ) -> Result<Option<ServiceEntry>, DevError> {
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
        let service = self.start_service(name, binary, port, args).await?;
        progress(&format!("{name} started at {} (pid {})", service.url, service.pid));
        Ok(Some(service))
    }

    /// [`Self::ensure_service`] for a service that signs with a dev account's wallet.
    #[allow(clippy::too_many_arguments)]
    async fn ensure_wallet_service(
        &self,
        name: &'static str,
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
        self.ensure_service(name, previous, options, port, args, progress).await
    }

    /// Signs and publishes the dev workerpool's orders (one for TDX, one for Gramine-SGX
    /// tasks) with `confide workerpool publish`, as the pool owner.
    async fn publish_workerpool_orders(
        &self,
        options: &UpOptions,
        workerpool: Address,
        rpc_url: &str,
        hub: &str,
    ) -> Result<(), DevError> {
        let Some(binary) = &options.services_binary else {
            return Ok(());
        };
        for tag in ["tee,tdx", "tee,gramine"] {
            let output = tokio::process::Command::new(binary)
                .args(["workerpool", "publish", &workerpool.to_string()])
                .args(["--price", "0", "--volume", "1000000", "--category", "0", "--trust", "1"])
                .args(["--tag", tag, "--raw", "--rpc-url", rpc_url, "--hub", hub])
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
        Ok(())
    }

    /// Starts `confide <args>` in the background, logging to `<data>/<name>.log`, and waits
    /// until it listens on `port`.
    async fn start_service(
        &self,
        name: &'static str,
        binary: &Path,
        port: u16,
        args: Vec<std::ffi::OsString>,
    ) -> Result<ServiceEntry, DevError> {
        if !crate::anvil::port_is_free(port) {
            let flag = match name {
                "SMS" => "--sms-port",
                "market" => "--market-port",
                "scheduler" => "--scheduler-port",
                n if n.starts_with("worker") => "--worker-port",
                _ => "--store-port",
            };
            return Err(DevError::PortBusy { port, flag });
        }
        let log_path = self.data_dir.join(format!("{}.log", name.replace(' ', "-")));
        let log = std::fs::File::create(&log_path).map_err(|e| DevError::io(&log_path, e))?;
        let log_err = log.try_clone().map_err(|e| DevError::io(&log_path, e))?;
        let mut command = std::process::Command::new(binary);
        command
            .args(args)
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
                    service: name,
                    last_line,
                    log: log_path,
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(ServiceEntry {
            pid,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

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
        let workers: Vec<Option<ServiceEntry>> = state.workers.drain(..).map(Some).collect();
        let services = workers.into_iter().chain([
            state.scheduler.take(),
            state.sms.take(),
            state.store.take(),
            state.market.take(),
        ]);
        for service in services.flatten() {
            if is_alive(service.pid) {
                terminate(service.pid, Duration::from_secs(15));
                stopped = true;
            }
        }
        if let Some(pid) = state.anvil_pid.take().filter(|pid| is_alive(*pid)) {
            terminate(pid, Duration::from_secs(15));
            stopped = true;
        }
        write_json_atomically(&self.state_path(), &state)?;
        Ok(stopped)
    }
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
async fn fund_dev_accounts(poco: &Poco) -> Result<usize, DevError> {
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

/// A throwaway chain for tests: anvil on a free port without persisted state, PoCo
/// deployed, dev accounts funded. The node stops when the returned value is dropped.
/// Anvil on a free port, tried again on another port when the one picked was taken in
/// the meantime (by a process of another test binary, say): a test never fails for it.
async fn start_ephemeral_anvil(binary: &Path) -> Result<AnvilNode, DevError> {
    let mut attempt = 0;
    loop {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("confide-anvil-{}-{port}.log", std::process::id()));
        let options = AnvilOptions {
            binary,
            port,
            state: None,
            log: &log,
        };
        match AnvilNode::start(options).await {
            Err(DevError::PortBusy { .. } | DevError::AnvilExited { .. }) if attempt < 4 => attempt += 1,
            started => return started,
        }
    }
}

pub async fn ephemeral_chain() -> Result<(AnvilNode, Deployment), DevError> {
    let cache = deps::cache_dir();
    let binary = deps::anvil_binary(&cache)?;
    let node = start_ephemeral_anvil(&binary).await?;
    let connection = Connection::connect(&node.url, Some(DEV_ACCOUNTS[0].signer())).await?;
    connection.expect_chain_id(DEV_CHAIN_ID)?;
    let (deployment, _) = deploy_or_find(&connection, &deps::poco_package(&cache)?, None).await?;
    fund_dev_accounts(&Poco::new(connection, deployment.hub).await?).await?;
    Ok((node, deployment))
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
