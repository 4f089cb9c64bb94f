//! `confide dev up | status | down`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use confide_devstack::stack::ServiceEntry;
use confide_devstack::{DevStack, StackState, UpOptions};
use serde_json::json;

use crate::output::{CliError, CliResult, Output};

#[derive(Args, Debug)]
pub(crate) struct DataDir {
    /// Where the stack keeps its chain state, wallets and chain.json.
    #[arg(long, env = "CONFIDE_DEV_DIR")]
    data_dir: Option<PathBuf>,
}

impl DataDir {
    fn stack(&self) -> DevStack {
        DevStack::new(self.data_dir.clone().unwrap_or_else(DevStack::default_dir))
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum DevCommand {
    /// Start the stack (or check the running one) and print its addresses.
    Up {
        #[command(flatten)]
        dir: DataDir,
        /// Port of the local chain node.
        #[arg(long, default_value_t = 8545)]
        port: u16,
        /// Chain id of a new chain (default 31337). iExec's DataProtector SDK starts only on
        /// Arbitrum's ids: `--chain-id 421614` runs the stack as iExec's own test stack does.
        #[arg(long)]
        chain_id: Option<u64>,
        /// Use this Ethereum node instead of starting anvil (PoCo is deployed there if missing).
        #[arg(long)]
        rpc_url: Option<String>,
        /// Port of the SMS.
        #[arg(long, env = "CONFIDE_DEV_SMS_PORT", default_value_t = 13300)]
        sms_port: u16,
        /// Port of the content store.
        #[arg(long, env = "CONFIDE_DEV_STORE_PORT", default_value_t = 13400)]
        store_port: u16,
        /// Port of the market.
        #[arg(long, env = "CONFIDE_DEV_MARKET_PORT", default_value_t = 13500)]
        market_port: u16,
        /// Port of the dev workerpool's scheduler.
        #[arg(long, env = "CONFIDE_DEV_SCHEDULER_PORT", default_value_t = 13600)]
        scheduler_port: u16,
        /// Port of the first worker's /health (the others count up from it).
        #[arg(long, env = "CONFIDE_DEV_WORKER_PORT", default_value_t = 13700)]
        worker_port: u16,
        /// Simulation-TEE workers to run (1 to 4).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
        workers: u8,
        /// A task goes to another worker when its worker is silent this long.
        #[arg(long, default_value_t = 10)]
        lease_seconds: u64,
        /// Let any wallet work for the dev pool, as a public pool would; a task then fails
        /// for good only when two distinct workers say so (default: the dev workers only).
        #[arg(long)]
        any_worker: bool,
        /// Processes per service (1 to 4). With more than one, the SMS, store and market
        /// each run behind a front on their port, the schedulers as active and standbys,
        /// all on Postgres (the stack's own cluster unless --database-url is given).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
        replicas: u8,
        /// A Postgres server for the services' state (`postgres://user:password@host/db`):
        /// each service gets a database of its own there (`confide_sms`, …). Not saved:
        /// give it again when `up` restarts a service.
        #[arg(long, env = "CONFIDE_DEV_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
    /// Show whether the stack runs, and where.
    Status {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Stop the stack; its chain state is kept for the next `up`.
    Down {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Pass TCP connections to replicas in turn, skipping those that refuse (what `up
    /// --replicas` runs in front of a service; a real load balancer does this in production).
    Front {
        /// Address to listen on.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// A replica's address (`127.0.0.1:13301`); repeat for each.
        #[arg(long = "replica", required = true)]
        replicas: Vec<std::net::SocketAddr>,
    },
}

pub(crate) async fn run(command: DevCommand, out: &Output) -> CliResult {
    match command {
        DevCommand::Up {
            dir,
            port,
            chain_id,
            rpc_url,
            sms_port,
            store_port,
            market_port,
            scheduler_port,
            worker_port,
            workers,
            lease_seconds,
            any_worker,
            replicas,
            database_url,
        } => {
            let stack = dir.stack();
            let services_binary = std::env::current_exe().ok();
            let options = UpOptions {
                port,
                chain_id,
                rpc_url,
                services_binary,
                sms_port,
                store_port,
                market_port,
                scheduler_port,
                worker_port,
                workers: workers as usize,
                lease_seconds,
                any_worker,
                replicas: replicas as usize,
                database_url,
            };
            let state = stack.up(&options, |step| out.step(step)).await?;
            let marketplace = state.market.as_ref().map(|m| marketplace_url(&m.url));
            let data_protector = state.data_protector_options();
            out.done(
                &describe(&state),
                json!({ "stack": state, "marketplace": marketplace, "dataProtector": data_protector }),
            );
        }
        DevCommand::Status { dir } => {
            let status = dir.stack().status().await?;
            let running = match status.block_number {
                Some(block) => format!("running, block {block}"),
                None => "stopped".to_owned(),
            };
            let text = format!(
                "dev stack in {}: {running}\n{}",
                status.data_dir.display(),
                describe(&status.state)
            );
            let marketplace = status.state.market.as_ref().map(|m| marketplace_url(&m.url));
            let data_protector = status.state.data_protector_options();
            out.done(
                &text,
                json!({ "status": status, "marketplace": marketplace, "dataProtector": data_protector }),
            );
        }
        DevCommand::Down { dir } => {
            let stopped = dir.stack().down()?;
            let text = if stopped {
                "dev stack stopped; its chain state is kept"
            } else {
                "dev stack was not running"
            };
            out.done(text, json!({ "stopped": stopped }));
        }
        DevCommand::Front { listen, replicas } => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| CliError::new("PORT_BUSY", format!("cannot listen on {listen}: {e}")))?;
            out.step(&format!("front on {listen} for {} replica(s)", replicas.len()));
            let front = confide_devstack::front::Front::new(replicas);
            tokio::select! {
                served = front.serve(listener) => {
                    served.map_err(|e| CliError::new("FRONT_FAILED", e.to_string()))?;
                }
                _ = crate::serve::shutdown_signal() => {}
            }
        }
    }
    Ok(())
}

fn describe(state: &StackState) -> String {
    let d = &state.deployment;
    let mut lines = vec![
        format!("chain        {} (id {})", state.rpc_url, state.chain_id),
        format!("hub (PoCo)   {}", d.hub),
        format!("RLC token    {}", d.token),
        format!("app registry {}", d.app_registry),
        format!("dataset reg. {}", d.dataset_registry),
        format!("pool reg.    {}", d.workerpool_registry),
        format!(
            "DataProtector {}",
            state
                .data_protector
                .map(|a| a.to_string())
                .unwrap_or_else(|| "none".into())
        ),
        format!("SMS          {}", service(state.sms.as_ref())),
        format!("store        {}", service(state.store.as_ref())),
        format!("market       {}", service(state.market.as_ref())),
        format!(
            "marketplace  {}",
            state
                .market
                .as_ref()
                .map(|s| marketplace_url(&s.url))
                .unwrap_or_else(|| "not started".into())
        ),
        format!(
            "workerpool   {} (scheduler {}, {} worker(s))",
            state.workerpool.map(|w| w.to_string()).unwrap_or_else(|| "none".into()),
            schedulers(state),
            state.workers.len()
        ),
        format!("chain.json   {}", state.chain_json.display()),
        format!(
            "wallets      {} (password: {})",
            state.wallets_dir.display(),
            confide_devstack::DEV_PASSWORD
        ),
        "accounts".to_owned(),
    ];
    if let Some(cluster) = state.postgres.as_ref().and_then(|p| p.cluster.as_ref()) {
        lines.insert(
            6,
            format!("postgres     {} (data in {})", cluster.url(""), cluster.dir.display()),
        );
    }
    lines.extend(state.accounts.iter().map(|a| format!("  {:<17} {}", a.role, a.address)));
    lines.join("\n")
}

/// A service's URL, and its replicas' when it runs several behind a front.
fn service(entry: Option<&ServiceEntry>) -> String {
    match entry {
        None => "not started".to_owned(),
        Some(entry) if entry.replicas.is_empty() => entry.url.clone(),
        Some(entry) => {
            let replicas: Vec<&str> = entry.replicas.iter().map(|r| r.url.as_str()).collect();
            format!("{} (front of {})", entry.url, replicas.join(", "))
        }
    }
}

fn schedulers(state: &StackState) -> String {
    let urls: Vec<String> = state.schedulers().into_iter().map(|s| s.url).collect();
    match urls.as_slice() {
        [] => "not started".to_owned(),
        [one] => one.clone(),
        [first, standbys @ ..] => format!("{first}, standbys {}", standbys.join(", ")),
    }
}

/// The web page of the market at `market_url` (served by the market itself).
pub(crate) fn marketplace_url(market_url: &str) -> String {
    format!("{}/", market_url.trim_end_matches('/'))
}
