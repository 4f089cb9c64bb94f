//! What every `confide <service> serve` shares: its data directory, binding, and serving
//! until SIGINT or SIGTERM so in-flight requests finish.

use std::path::Path;

use crate::context::Context;
use crate::output::{CliError, CliResult};

/// Creates `data_dir` and returns `database_url`, or a SQLite file `file` inside it.
pub(crate) fn database_url(data_dir: &Path, database_url: Option<String>, file: &str) -> Result<String, CliError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| CliError::new("IO_ERROR", format!("cannot create {}: {e}", data_dir.display())))?;
    Ok(database_url.unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join(file).display())))
}

/// Serves `router` on `listen` until interrupted; `what` names the service in the log line.
pub(crate) async fn serve(ctx: &Context, what: &str, listen: &str, router: axum::Router) -> CliResult {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        CliError::new(
            "PORT_BUSY",
            format!("cannot listen on {listen}: {e} (pass --listen with a free address)"),
        )
    })?;
    let address = listener
        .local_addr()
        .map_err(|e| CliError::new("IO_ERROR", e.to_string()))?;
    ctx.out.step(&format!("{what} listening on http://{address}"));
    // The peer's address reaches handlers that limit by client (the store's IPFS add).
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| CliError::new("IO_ERROR", e.to_string()))
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// Structured logs on stderr for a service (`RUST_LOG` to filter; `info` by default).
/// Services log identifiers and outcomes, never a secret or clear-text data.
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
