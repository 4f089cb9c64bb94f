//! PostgreSQL clusters made on this machine: the dev stack's ([`Cluster`], kept with the
//! stack's data between `dev up` and `dev down`; `confide-testkit` makes throwaway ones
//! for tests the same way). Both need the server binaries
//! (Debian's `postgresql` package; scripts/test.sh installs it). As root, the server runs
//! as the `postgres` user, which initdb requires.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::DevError;

/// Runs a command as `postgres` when we are root (initdb refuses root), else as ourselves.
const RUN_AS_POSTGRES: &str = "run() { if [ \"$(id -u)\" = 0 ]; then runuser -u postgres -- \"$@\"; else \"$@\"; fi; }";

/// The role every cluster made here is initialised with (trust authentication, loopback only).
pub const SUPERUSER: &str = "confide";

/// A cluster in a directory of its own, listening on 127.0.0.1 only.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Cluster {
    /// Holds `data/` (the cluster) and the server's socket; owned by `postgres` when we are root.
    pub dir: PathBuf,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

impl Cluster {
    /// `postgres://confide@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Initialises the cluster if `dir` holds none yet, then starts it.
    pub fn start(&self) -> Result<(), DevError> {
        let bin = server_binaries()?;
        let data = self.dir.join("data");
        let init = if data.join("PG_VERSION").exists() {
            String::new()
        } else {
            format!(
                "run {bin}/initdb -D {data} -A trust -U {SUPERUSER} >/dev/null;",
                bin = bin.display(),
                data = data.display()
            )
        };
        let script = format!(
            "set -e; mkdir -p {data}; chown -R postgres {root} 2>/dev/null || true; {RUN_AS_POSTGRES}; {init} \
             run {bin}/pg_ctl -D {data} -w -l {data}/log -o '-p {port} -k {root} -c listen_addresses=127.0.0.1' start >/dev/null",
            data = data.display(),
            root = self.dir.display(),
            bin = bin.display(),
            port = self.port,
        );
        let status = Command::new("sh")
            .args(["-c", &script])
            .status()
            .map_err(|e| DevError::io("sh", e))?;
        if !status.success() {
            return Err(DevError::PostgresFailed { log: data.join("log") });
        }
        Ok(())
    }

    /// Whether the server answers on its port.
    pub fn is_running(&self) -> bool {
        !crate::anvil::port_is_free(self.port)
    }

    /// Stops the server at once (its data stays for the next start).
    pub fn stop(&self) {
        let Ok(bin) = server_binaries() else { return };
        let script = format!(
            "{RUN_AS_POSTGRES}; run {}/pg_ctl -D {} -m fast stop >/dev/null 2>&1",
            bin.display(),
            self.dir.join("data").display()
        );
        let _ = Command::new("sh").args(["-c", &script]).status();
    }
}

/// The folder of `initdb` and `pg_ctl` (Debian keeps them out of PATH, by version).
pub fn server_binaries() -> Result<PathBuf, DevError> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|versions| {
            versions
                .flatten()
                .map(|v| v.path().join("bin"))
                .find(|b| b.join("initdb").exists())
        })
        .ok_or(DevError::PostgresMissing)
}

/// Creates `database` on the server at `server_url` (any database of it) unless it exists,
/// and returns its URL: the services of one stack each keep their tables in their own.
pub async fn ensure_database(server_url: &str, database: &str) -> Result<String, DevError> {
    use sqlx::ConnectOptions;
    let unreachable = |e: sqlx::Error| DevError::DatabaseUnreachable { reason: e.to_string() };
    let options: sqlx::postgres::PgConnectOptions = server_url.parse().map_err(unreachable)?;
    let mut connection = options.connect().await.map_err(unreachable)?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(database)
        .fetch_optional(&mut connection)
        .await
        .map_err(unreachable)?;
    if exists.is_none() {
        // A name cannot be bound as a parameter; ours are fixed identifiers.
        debug_assert!(database.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut connection)
            .await
            .map_err(unreachable)?;
    }
    Ok(with_database(server_url, database))
}

/// `url` naming `database` instead of the one it names (its query, if any, kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Where the dev stack keeps its cluster: in its data directory, unless we are root and
/// `postgres` could not reach it there (a home or temporary folder only root may enter),
/// then in `postgres`'s own home (`/var/lib/postgresql`, which only it and root may
/// write, so no other user can put a folder or a link there first), named after the
/// data directory.
pub fn dev_cluster_dir(data_dir: &Path) -> PathBuf {
    if !running_as_root() || reachable_by_others(&data_dir.join("postgres")) {
        return data_dir.join("postgres");
    }
    use sha2::Digest;
    let absolute = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    let digest = sha2::Sha256::digest(absolute.as_os_str().as_encoded_bytes());
    let name = confide_chain::hex::encode(&digest[..8]);
    Path::new(POSTGRES_HOME).join(format!("confide-dev-{name}"))
}

/// The `postgres` user's home on Debian, made by its package.
const POSTGRES_HOME: &str = "/var/lib/postgresql";

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            Some(line.split_whitespace().nth(1)? == "0")
        })
        .unwrap_or(false)
}

/// Whether every folder above `path` lets others through (mode o+x).
fn reachable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    absolute
        .ancestors()
        .skip(1)
        .all(|dir| std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_database_url_names_another_database_keeping_user_host_and_options() {
        assert_eq!(
            with_database("postgres://u:p@db.example:5433/app?sslmode=require", "confide_sms"),
            "postgres://u:p@db.example:5433/confide_sms?sslmode=require"
        );
        assert_eq!(
            with_database("postgres://u@h", "confide_market"),
            "postgres://u@h/confide_market"
        );
        assert_eq!(with_database("postgresql://h/", "x"), "postgresql://h/x");
    }
}
