//! A throwaway PostgreSQL cluster for tests of the services' Postgres stores: made in a
//! temporary directory on a free port, stopped when dropped. Needs the server binaries
//! (Debian's `postgresql` package; scripts/test.sh installs it). As root, it runs as the
//! `postgres` user, which initdb requires.

use std::path::PathBuf;
use std::process::Command;

pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// `postgres://confide@127.0.0.1:<port>/<database>`.
    pub url: String,
}

/// Runs a command as `postgres` when we are root (initdb refuses root), else as ourselves.
const RUN_AS_POSTGRES: &str = "run() { if [ \"$(id -u)\" = 0 ]; then runuser -u postgres -- \"$@\"; else \"$@\"; fi; }";

impl TempPostgres {
    /// Starts a cluster with one empty database named `database`.
    ///
    /// # Panics
    /// When the server binaries are missing or the cluster does not start: this is for tests.
    pub fn start(database: &str) -> TempPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .flatten()
                    .map(|v| v.path().join("bin"))
                    .find(|b| b.join("initdb").exists())
            })
            .expect("PostgreSQL server not installed: run scripts/test.sh, or apt-get install postgresql");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data = dir.path().join("data");
        let port = crate::anvil::free_port();
        let script = format!(
            "set -e; mkdir -p {data}; chown -R postgres {root} 2>/dev/null || true; {RUN_AS_POSTGRES}; \
             run {bin}/initdb -D {data} -A trust -U confide >/dev/null; \
             run {bin}/pg_ctl -D {data} -w -l {data}/log -o '-p {port} -k {root} -c listen_addresses=127.0.0.1' start >/dev/null; \
             {bin}/createdb -h 127.0.0.1 -p {port} -U confide {database}",
            data = data.display(),
            root = dir.path().display(),
            bin = bin.display(),
        );
        let status = Command::new("sh").args(["-c", &script]).status().expect("sh");
        assert!(status.success(), "could not start a temporary PostgreSQL cluster");
        TempPostgres {
            url: format!("postgres://confide@127.0.0.1:{port}/{database}"),
            dir,
            bin,
        }
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let script = format!(
            "{RUN_AS_POSTGRES}; run {}/pg_ctl -D {} -m immediate stop >/dev/null",
            self.bin.display(),
            self.dir.path().join("data").display()
        );
        let _ = Command::new("sh").args(["-c", &script]).status();
    }
}
